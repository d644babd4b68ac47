//! The default QGIS style of the `patches` layer in the GeoPackage `layer_styles` table, the
//! table QGIS itself writes when a style is saved "in the database" and reads when it opens a
//! layer. The style (QML) comes from [`crate::qgis_style::qml`]; it is written when a project is
//! created or upgraded and rewritten when its template changes.

use rusqlite::{params, Connection};

use super::now_utc;
use tuban_model::Template;

/// The name of the style tuban writes (and replaces); styles saved by the user keep theirs.
pub const STYLE_NAME: &str = "tuban";

/// `layer_styles` as QGIS 3.22 creates it through GDAL (an attributes table of the GeoPackage).
const LAYER_STYLES: &str = "CREATE TABLE IF NOT EXISTS layer_styles (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, f_table_catalog TEXT(256), f_table_schema TEXT(256),
  f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT,
  useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30),
  update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))";

/// Writes (or replaces) tuban's default style of `patches` for `template`; a default style the
/// user saved in QGIS under another name stops being the default.
pub fn write_default(conn: &Connection, template: &Template) -> rusqlite::Result<()> {
    conn.execute_batch(LAYER_STYLES)?;
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_contents(table_name, data_type, identifier, description, last_change) VALUES ('layer_styles', 'attributes', 'layer_styles', 'QGIS 图层样式 / QGIS layer styles', ?1)",
        [now_utc()],
    )?;
    conn.execute("DELETE FROM layer_styles WHERE f_table_name = 'patches' AND styleName = ?1", [STYLE_NAME])?;
    conn.execute("UPDATE layer_styles SET useAsDefault = 0 WHERE f_table_name = 'patches'", [])?;
    let description = format!("tuban：{} v{}", template.spec.name, template.spec.version);
    conn.execute(
        "INSERT INTO layer_styles(f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, owner, ui, update_time)
         VALUES ('', '', 'patches', 'geom', ?1, ?2, '', 1, ?3, '', NULL, ?4)",
        params![STYLE_NAME, crate::qgis_style::qml(template), description, now_utc()],
    )?;
    Ok(())
}

/// Writes the default style for the project's current template (the last row of
/// `tuban_template`), for the migration step that adds the style to an older project.
pub fn write_default_for_stored_template(conn: &Connection) -> rusqlite::Result<()> {
    let toml: String = conn.query_row("SELECT toml FROM tuban_template ORDER BY id DESC LIMIT 1", [], |r| r.get(0))?;
    let template =
        Template::from_toml(&toml, "tuban_template").map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?;
    write_default(conn, &template)
}
