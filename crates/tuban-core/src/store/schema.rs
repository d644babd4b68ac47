//! Tables of a project file and their migrations.
//!
//! Schema version 1 (first release): GeoPackage core tables, the `patches` feature table,
//! `tuban_meta`, `tuban_template`, `tuban_session`, `tuban_batches`, `tuban_source_geom`,
//! `tuban_audit`, `tuban_imagery`, `tuban_seals`, `tuban_seal_items`, `tuban_photos`, `tuban_cases`,
//! `tuban_case_patches`, `tuban_case_steps`, `tuban_comments`, `tuban_spotchecks`, `tuban_spotcheck_items`.
//! Schema version 2: `tuban_case_attachments` (scanned documents and photos of a case) and
//! `tuban_cases.prior_penalty` (an earlier penalty of the party for the same conduct, for the
//! 10 亩 criminal threshold).
//! Schema version 3: the GeoPackage R-tree spatial index (`rtree_patches_geom`, its triggers and
//! the `gpkg_rtree_index` extension row) on every registered geometry column, and the default
//! QGIS style of `patches` in `layer_styles` (see `rtree.rs` and `style.rs`).
//! Schema version 4: the verified extent and 细斑 made in tuban: `patches.verified_geom` (the
//! extent as verified, a GeoPackage blob in CGCS2000; NULL while it equals the issued one),
//! `patches.parent_fid` (the record a 细斑 was split from) and `patches.split_state` ('split' on
//! an issued record whose 细斑 stand in its place); see `geometry.rs`.
//! Schema version 5: team work (see `package.rs`, `merge.rs`): a globally unique `uid` on patches,
//! comments, cases, case steps and attachments (filled by insert triggers, so no insert path can
//! forget it), `tuban_meta.project_uid`, `tuban_checkouts` (patches checked out to a work
//! package), `tuban_merges` (one row per merge, with the package's audit high-water mark) and
//! `tuban_conflicts` (base, ours and theirs of each change that met another, until resolved).
//! Schema version 6: the reference layers beside the imagery: `tuban_reference` (the catalogue),
//! their features in `tuban_reference_features` with the R-tree `tuban_reference_rtree`, each
//! patch's overlay in `tuban_overlay` with `tuban_overlay_state` (which extent it was computed
//! for), and `tuban_reference_fills` (values a layer filled, to mark them in the form); see
//! `reference.rs`.
//! Schema version 7: the link of a copy to the team hub (see `hub.rs`).
//! Schema version 8: the reference features' spatial index as one row of packed boxes per layer
//! (`tuban_reference_index`, see `reference_index.rs`) in place of the R-tree
//! `tuban_reference_rtree`, which the upgrade turns into it and drops.
//! Schema version 9: the delivered geometry kept compact, with the display blob it was made
//! against (`tuban_source_geom.base_geom`, kept by a trigger on `patches.geom`), and a partial
//! `patches_parent` index (see `source_geom.rs`).
//!
//! A new project is created at version 1 and taken through every step in the same transaction,
//! so new and upgraded projects have the same tables. Opening an older project for writing
//! upgrades it after copying the file to `NAME.gpkg.bak-vN`; opening it read-only leaves the file
//! alone and lays temporary (connection-only) tables and views over it that look like the new
//! schema.

use std::path::Path;

use rusqlite::{params, Connection};

use super::{now_utc, ProjectMeta};
use tuban_model::{FieldKind, Programme, Template};

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 9;

/// GeoPackage `application_id` ('GPKG').
const GPKG_APPLICATION_ID: i32 = 0x4750_4B47;
/// GeoPackage 1.3 `user_version`.
const GPKG_USER_VERSION: i32 = 10300;

/// WKT of CGCS2000 geographic (EPSG:4490), as GDAL writes it.
pub const WKT_4490: &str = r#"GEOGCS["China Geodetic Coordinate System 2000",DATUM["China_2000",SPHEROID["CGCS2000",6378137,298.257222101,AUTHORITY["EPSG","1024"]],AUTHORITY["EPSG","1043"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4490"]]"#;
const WKT_4326: &str = r#"GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]"#;

/// SRS id of the display geometry (CGCS2000 lon/lat).
pub const DISPLAY_SRS_ID: i32 = 4490;

/// The GeoPackage column type of a template field.
pub fn column_type(kind: &FieldKind) -> &'static str {
    match kind {
        FieldKind::Text { .. } | FieldKind::Code { .. } => "TEXT",
        FieldKind::Integer => "INTEGER",
        FieldKind::Decimal { .. } => "DOUBLE",
        FieldKind::Date => "DATE",
        FieldKind::Boolean => "BOOLEAN",
    }
}

/// The GeoPackage core tables (spatial reference systems, contents, geometry columns).
const GPKG_CORE_TABLES: &str = r#"
CREATE TABLE gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
"#;

/// tuban's own tables at schema version 1 (later versions add theirs through [`STEPS`]).
const TUBAN_TABLES: &str = r#"
CREATE TABLE tuban_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
CREATE TABLE tuban_template (id INTEGER PRIMARY KEY AUTOINCREMENT, toml TEXT NOT NULL, installed_at TEXT NOT NULL, installed_by TEXT);
CREATE TABLE tuban_session (id INTEGER PRIMARY KEY CHECK (id = 1), user TEXT, host TEXT, pid INTEGER, since TEXT);
CREATE TABLE tuban_batches (
  id INTEGER PRIMARY KEY AUTOINCREMENT, imported_at DATETIME NOT NULL, user TEXT NOT NULL,
  source_path TEXT NOT NULL, layer TEXT, encoding TEXT, encoding_how TEXT, source_crs TEXT,
  year INTEGER, clue_source TEXT, added INTEGER NOT NULL DEFAULT 0, updated INTEGER NOT NULL DEFAULT 0,
  unchanged INTEGER NOT NULL DEFAULT 0, skipped INTEGER NOT NULL DEFAULT 0, problems TEXT);
CREATE TABLE tuban_source_geom (fid INTEGER PRIMARY KEY, srs_id INTEGER NOT NULL, geom BLOB NOT NULL);
CREATE TABLE tuban_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT, time DATETIME NOT NULL, user TEXT NOT NULL,
  patch_fid INTEGER, patch_key TEXT, field TEXT, old_value TEXT, new_value TEXT, action TEXT NOT NULL);
CREATE INDEX tuban_audit_patch ON tuban_audit(patch_fid);
CREATE TABLE tuban_imagery (
  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, spec TEXT NOT NULL,
  acquired DATE, label TEXT NOT NULL DEFAULT '', added_at DATETIME NOT NULL);
CREATE TABLE tuban_seals (
  id INTEGER PRIMARY KEY AUTOINCREMENT, sealed_at DATETIME NOT NULL, user TEXT NOT NULL, digest TEXT NOT NULL,
  unsealed_at DATETIME, unsealed_by TEXT, unseal_reason TEXT);
CREATE TABLE tuban_seal_items (
  seal_id INTEGER NOT NULL, kind TEXT NOT NULL, item TEXT NOT NULL, content TEXT NOT NULL, PRIMARY KEY (seal_id, kind, item));
CREATE TABLE tuban_photos (
  id INTEGER PRIMARY KEY AUTOINCREMENT, patch_fid INTEGER, file_name TEXT NOT NULL, sha256 BLOB NOT NULL UNIQUE,
  taken_at TEXT, lon DOUBLE, lat DOUBLE, altitude_m DOUBLE, bearing_deg DOUBLE, orientation INTEGER,
  kind TEXT NOT NULL DEFAULT '其他', caption TEXT NOT NULL DEFAULT '', distance_m DOUBLE, width INTEGER, height INTEGER,
  data BLOB NOT NULL, thumbnail BLOB, added_at DATETIME NOT NULL, added_by TEXT);
CREATE INDEX tuban_photos_patch ON tuban_photos(patch_fid);
CREATE TABLE tuban_cases (
  id INTEGER PRIMARY KEY AUTOINCREMENT, number TEXT NOT NULL UNIQUE, party TEXT NOT NULL DEFAULT '', department TEXT NOT NULL DEFAULT '',
  step TEXT NOT NULL DEFAULT '问题发现', investigation TEXT NOT NULL DEFAULT '未立案', rectification TEXT NOT NULL DEFAULT '未整改',
  measures TEXT NOT NULL DEFAULT '', penalty_doc TEXT NOT NULL DEFAULT '', fine_yuan DOUBLE, deadline DATE, closed_on DATE,
  referral TEXT, created_at DATETIME NOT NULL);
CREATE TABLE tuban_case_patches (case_id INTEGER NOT NULL, patch_fid INTEGER NOT NULL UNIQUE, PRIMARY KEY (case_id, patch_fid));
CREATE TABLE tuban_case_steps (
  id INTEGER PRIMARY KEY AUTOINCREMENT, case_id INTEGER NOT NULL, step TEXT NOT NULL, date DATE, who TEXT, note TEXT, recorded_at DATETIME NOT NULL);
CREATE TABLE tuban_comments (id INTEGER PRIMARY KEY AUTOINCREMENT, patch_fid INTEGER NOT NULL, time DATETIME NOT NULL, user TEXT NOT NULL, text TEXT NOT NULL);
CREATE TABLE tuban_spotchecks (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at DATETIME NOT NULL, user TEXT NOT NULL, seed INTEGER NOT NULL, share DOUBLE NOT NULL);
CREATE TABLE tuban_spotcheck_items (
  spotcheck_id INTEGER NOT NULL, patch_fid INTEGER NOT NULL, first_verdict TEXT NOT NULL, second_verdict TEXT, reviewer TEXT, reviewed_at DATETIME,
  PRIMARY KEY (spotcheck_id, patch_fid));
"#;

/// The GeoPackage schema extension: column descriptions and their constraints (code lists).
const GPKG_SCHEMA_EXTENSION: &str = r#"
CREATE TABLE gpkg_extensions (
  table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL, scope TEXT NOT NULL,
  CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
CREATE TABLE gpkg_data_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, name TEXT, title TEXT, description TEXT, mime_type TEXT, constraint_name TEXT,
  CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name), CONSTRAINT gdc_tn UNIQUE (table_name, name));
CREATE TABLE gpkg_data_column_constraints (
  constraint_name TEXT NOT NULL, constraint_type TEXT NOT NULL, value TEXT, min NUMERIC, min_is_inclusive BOOLEAN,
  max NUMERIC, max_is_inclusive BOOLEAN, description TEXT, CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value));
INSERT INTO gpkg_extensions VALUES ('gpkg_data_columns', NULL, 'gpkg_schema', 'http://www.geopackage.org/spec/#extension_schema', 'read-write');
INSERT INTO gpkg_extensions VALUES ('gpkg_data_column_constraints', NULL, 'gpkg_schema', 'http://www.geopackage.org/spec/#extension_schema', 'read-write');
"#;

/// Creates every table of a new project in one transaction.
pub fn create(conn: &Connection, template: &Template, meta: &ProjectMeta, user: &str) -> rusqlite::Result<()> {
    conn.pragma_update(None, "application_id", GPKG_APPLICATION_ID)?;
    conn.pragma_update(None, "user_version", GPKG_USER_VERSION)?;
    conn.execute_batch("BEGIN")?;
    conn.execute_batch(GPKG_CORE_TABLES)?;
    conn.execute_batch(TUBAN_TABLES)?;
    conn.execute_batch(GPKG_SCHEMA_EXTENSION)?;
    insert_srs(conn)?;
    create_patches(conn, template, meta)?;
    write_data_columns(conn, template)?;
    insert_meta(conn, template, meta, user)?;
    for step in STEPS {
        (step.upgrade)(conn)?;
    }
    conn.execute_batch("COMMIT")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    Ok(())
}

/// The spatial reference systems a GeoPackage must have, and CGCS2000 (the display geometry's).
fn insert_srs(conn: &Connection) -> rusqlite::Result<()> {
    let srs = [
        ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate reference system"),
        ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate reference system"),
        (
            "WGS 84 geodetic",
            4326,
            "EPSG",
            4326,
            WKT_4326,
            "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid",
        ),
        (
            "China Geodetic Coordinate System 2000",
            4490,
            "EPSG",
            4490,
            WKT_4490,
            "CGCS2000 longitude/latitude (display geometry of tuban)",
        ),
    ];
    for (name, id, org, code, def, desc) in srs {
        conn.execute(
            "INSERT INTO gpkg_spatial_ref_sys VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![name, id, org, code, def, desc],
        )?;
    }
    Ok(())
}

/// The `patches` feature table (tuban's columns, then one per template field), its key index,
/// and its entries (and those of the audit log and batches) in the GeoPackage contents.
fn create_patches(conn: &Connection, template: &Template, meta: &ProjectMeta) -> rusqlite::Result<()> {
    let mut cols = String::from(
        "fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, geom GEOMETRY, review_status TEXT NOT NULL DEFAULT 'unreviewed', \
         area_m2 DOUBLE, area_mu DOUBLE, area_ha DOUBLE, center_lon DOUBLE, center_lat DOUBLE, batch_id INTEGER, \
         import_issues TEXT, extra_attrs TEXT, updated_at DATETIME, verdict_imagery TEXT, review_flags TEXT, confidence INTEGER",
    );
    for f in template.fields() {
        cols.push_str(&format!(", \"{}\" {}", f.name, column_type(&f.kind)));
    }
    conn.execute_batch(&format!("CREATE TABLE patches ({cols});"))?;
    let id = &template.roles().id;
    match &template.roles().sub_id {
        Some(sub) => conn.execute_batch(&format!("CREATE INDEX patches_key ON patches(\"{id}\", \"{sub}\");"))?,
        None => conn.execute_batch(&format!("CREATE INDEX patches_key ON patches(\"{id}\");"))?,
    }
    let desc = format!("{}图斑（{}）", meta.programme.label(), template.spec.name);
    conn.execute(
        "INSERT INTO gpkg_contents(table_name, data_type, identifier, description, last_change, srs_id) VALUES ('patches', 'features', 'patches', ?1, ?2, ?3)",
        params![desc, now_utc(), DISPLAY_SRS_ID],
    )?;
    conn.execute(
        "INSERT INTO gpkg_geometry_columns VALUES ('patches', 'geom', 'GEOMETRY', ?1, 0, 0)",
        params![DISPLAY_SRS_ID],
    )?;
    for (table, desc) in
        [("tuban_audit", "tuban 修改记录 / audit log"), ("tuban_batches", "tuban 导入批次 / import batches")]
    {
        conn.execute(
            "INSERT INTO gpkg_contents(table_name, data_type, identifier, description, last_change) VALUES (?1, 'attributes', ?1, ?2, ?3)",
            params![table, desc, now_utc()],
        )?;
    }
    Ok(())
}

/// The project's metadata and its template.
fn insert_meta(conn: &Connection, template: &Template, meta: &ProjectMeta, user: &str) -> rusqlite::Result<()> {
    let programme =
        serde_json::to_value(meta.programme).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    for (k, v) in [
        ("schema_version", SCHEMA_VERSION.to_string()),
        ("programme", programme),
        ("county_code", meta.county_code.clone()),
        ("county_name", meta.county_name.clone()),
        ("year", meta.year.to_string()),
        ("unit", meta.unit.clone()),
        ("created_at", now_utc()),
        ("created_by", user.to_string()),
        ("app_version", env!("CARGO_PKG_VERSION").to_string()),
    ] {
        conn.execute("INSERT INTO tuban_meta(key, value) VALUES (?1, ?2)", params![k, v])?;
    }
    conn.execute(
        "INSERT INTO tuban_template(toml, installed_at, installed_by) VALUES (?1, ?2, ?3)",
        params![template.to_toml(), now_utc(), user],
    )?;
    Ok(())
}

/// Describes the template's columns in the GeoPackage schema extension: Chinese labels as column
/// names for QGIS and GDAL, code lists as enum constraints (GDAL field domains, QGIS value maps).
pub fn write_data_columns(conn: &Connection, template: &Template) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM gpkg_data_columns WHERE table_name = 'patches'", [])?;
    conn.execute("DELETE FROM gpkg_data_column_constraints WHERE constraint_name LIKE 'tuban_%'", [])?;
    let mut used_names = std::collections::HashSet::new();
    for f in template.fields() {
        let constraint = match &f.kind {
            FieldKind::Code { codes, .. } => {
                let name = format!("tuban_{}", f.name);
                for c in codes {
                    conn.execute(
                        "INSERT OR IGNORE INTO gpkg_data_column_constraints(constraint_name, constraint_type, value, description) VALUES (?1, 'enum', ?2, ?3)",
                        params![name, c.code, c.label],
                    )?;
                }
                Some(name)
            }
            _ => None,
        };
        // `name` must be unique per table: fall back to the column name on a repeated label.
        let name = if used_names.insert(f.label.clone()) { f.label.clone() } else { f.name.clone() };
        let title = if f.label_en.is_empty() { f.label.clone() } else { format!("{} / {}", f.label, f.label_en) };
        let mime = None::<String>;
        conn.execute(
            "INSERT INTO gpkg_data_columns(table_name, column_name, name, title, description, mime_type, constraint_name) VALUES ('patches', ?1, ?2, ?3, ?4, ?5, ?6)",
            params![f.name, name, title, f.help, mime, constraint],
        )?;
    }
    Ok(())
}

/// The schema version recorded in the project.
pub fn stored_version(conn: &Connection) -> rusqlite::Result<i64> {
    let v: String = conn.query_row("SELECT value FROM tuban_meta WHERE key = 'schema_version'", [], |r| r.get(0))?;
    Ok(v.trim().parse().unwrap_or(0))
}

/// Reads project metadata.
pub fn read_meta(conn: &Connection) -> rusqlite::Result<ProjectMeta> {
    let get = |k: &str| -> rusqlite::Result<String> {
        conn.query_row("SELECT value FROM tuban_meta WHERE key = ?1", [k], |r| r.get(0)).or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(String::new()),
            e => Err(e),
        })
    };
    let programme =
        serde_json::from_value(serde_json::Value::String(get("programme")?)).unwrap_or(Programme::Grassland);
    Ok(ProjectMeta {
        programme,
        county_code: get("county_code")?,
        county_name: get("county_name")?,
        year: get("year")?.parse().unwrap_or(0),
        unit: get("unit")?,
    })
}

/// One migration step from `version` to `version + 1`: the upgrade, and the read-only view of an
/// old file (temporary tables and views on this connection only).
struct Step {
    upgrade: fn(&Connection) -> rusqlite::Result<()>,
    read_only: fn(&Connection) -> rusqlite::Result<()>,
}

/// Migration steps; index 0 upgrades version 1 to 2, and so on.
const STEPS: &[Step] = &[
    Step { upgrade: v2_upgrade, read_only: v2_read_only },
    Step { upgrade: v3_upgrade, read_only: v3_read_only },
    Step { upgrade: v4_upgrade, read_only: v4_read_only },
    Step { upgrade: v5_upgrade, read_only: v5_read_only },
    Step { upgrade: super::reference::schema_upgrade, read_only: super::reference::schema_read_only },
    Step { upgrade: super::hub::schema_upgrade, read_only: super::hub::schema_read_only },
    Step { upgrade: super::reference_index::schema_upgrade, read_only: super::reference_index::schema_read_only },
    Step { upgrade: super::source_geom::schema_upgrade, read_only: super::source_geom::schema_read_only },
];

/// Tables of tuban's own that schema 5 adds (also laid over an older file opened read-only).
const V5_TABLES: &str = "
  tuban_checkouts (patch_uid TEXT PRIMARY KEY NOT NULL, package_id TEXT NOT NULL, label TEXT NOT NULL, path TEXT,
    at DATETIME NOT NULL, user TEXT NOT NULL);
CREATE {temp} TABLE tuban_merges (id INTEGER PRIMARY KEY AUTOINCREMENT, package_id TEXT NOT NULL, label TEXT NOT NULL,
    source_path TEXT, merged_at DATETIME NOT NULL, user TEXT NOT NULL, audit_hwm INTEGER NOT NULL,
    applied INTEGER NOT NULL, skipped INTEGER NOT NULL, conflicts INTEGER NOT NULL);
CREATE {temp} TABLE tuban_conflicts (id INTEGER PRIMARY KEY AUTOINCREMENT, item_kind TEXT NOT NULL, item_uid TEXT NOT NULL,
    label TEXT NOT NULL, field TEXT NOT NULL, base TEXT, ours TEXT, theirs TEXT, theirs_user TEXT, theirs_time TEXT, theirs_imagery TEXT,
    source TEXT NOT NULL, created_at DATETIME NOT NULL, resolved_at DATETIME, resolved_by TEXT, resolution TEXT);";

/// The SQL of a new uid (128 random bits from SQLite, as 32 hex digits): the insert triggers
/// and a package's id make them this way (an import makes its own, see `import.rs`; uids are
/// opaque text, so both lengths live side by side).
pub(crate) const NEW_UID: &str = "lower(hex(randomblob(16)))";

/// Tables whose rows get a `uid` (row id column, table).
const UID_TABLES: [(&str, &str); 5] = [
    ("fid", "patches"),
    ("id", "tuban_comments"),
    ("id", "tuban_cases"),
    ("id", "tuban_case_steps"),
    ("id", "tuban_case_attachments"),
];

const V2_ATTACHMENTS: &str = "(
  id INTEGER PRIMARY KEY AUTOINCREMENT, case_id INTEGER NOT NULL, file_name TEXT NOT NULL, kind TEXT NOT NULL DEFAULT '其他',
  sha256 BLOB NOT NULL, data BLOB NOT NULL, added_at DATETIME NOT NULL, added_by TEXT)";

fn v2_upgrade(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE tuban_case_attachments {V2_ATTACHMENTS};
         CREATE INDEX tuban_case_attachments_case ON tuban_case_attachments(case_id);
         ALTER TABLE tuban_cases ADD COLUMN prior_penalty TEXT NOT NULL DEFAULT '';"
    ))
}

fn v2_read_only(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "CREATE TEMP TABLE tuban_case_attachments {V2_ATTACHMENTS};
         CREATE TEMP VIEW tuban_cases AS SELECT *, '' AS prior_penalty FROM main.tuban_cases;"
    ))
}

/// The spatial index of every geometry column (filled from the patches already there) and the
/// default QGIS style for the current template.
fn v3_upgrade(conn: &Connection) -> rusqlite::Result<()> {
    super::rtree::index_all(conn)?;
    super::style::write_default_for_stored_template(conn)
}

/// Nothing to lay over an older file: tuban never reads the spatial index or the style.
fn v3_read_only(_conn: &Connection) -> rusqlite::Result<()> {
    Ok(())
}

/// The verified extent and the 细斑 lineage of each patch.
fn v4_upgrade(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "ALTER TABLE patches ADD COLUMN verified_geom BLOB;
         ALTER TABLE patches ADD COLUMN parent_fid INTEGER;
         ALTER TABLE patches ADD COLUMN split_state TEXT;
         CREATE INDEX patches_parent ON patches(parent_fid);",
    )?;
    // The style's table columns name the new ones.
    super::style::write_default_for_stored_template(conn)
}

/// An older file has no extents and no 细斑 made in tuban: the columns read as NULL.
fn v4_read_only(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TEMP VIEW patches AS SELECT *, NULL AS verified_geom, NULL AS parent_fid, NULL AS split_state FROM main.patches;",
    )
}

/// Globally unique row keys, the project's own uid, checkouts, merges and conflicts.
fn v5_upgrade(conn: &Connection) -> rusqlite::Result<()> {
    for (id, table) in UID_TABLES {
        conn.execute_batch(&format!(
            "ALTER TABLE {table} ADD COLUMN uid TEXT;
             UPDATE {table} SET uid = {NEW_UID};
             CREATE UNIQUE INDEX {table}_uid ON {table}(uid);
             CREATE TRIGGER {table}_uid_insert AFTER INSERT ON {table} WHEN NEW.uid IS NULL
               BEGIN UPDATE {table} SET uid = {NEW_UID} WHERE {id} = NEW.{id}; END;"
        ))?;
    }
    conn.execute_batch(&format!("CREATE TABLE {}", V5_TABLES.replace("{temp} ", "")))?;
    conn.execute(&format!("INSERT OR IGNORE INTO tuban_meta(key, value) VALUES ('project_uid', {NEW_UID})"), [])?;
    super::style::write_default_for_stored_template(conn)
}

/// An older file has no merges or conflicts: empty tables on this connection only.
fn v5_read_only(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(&format!("CREATE TEMP TABLE {}", V5_TABLES.replace("{temp}", "TEMP")))
}

/// Upgrades an older project to [`SCHEMA_VERSION`], after copying it to `NAME.gpkg.bak-vN`
/// (`NAME.gpkg.bak-vN.2`, `.3` … when that exists: a backup is never overwritten).
pub fn migrate(conn: &Connection, path: &Path, from: i64) -> rusqlite::Result<()> {
    let mut backup = path.with_extension(format!("gpkg.bak-v{from}"));
    for n in 2.. {
        if !backup.exists() {
            break;
        }
        backup = path.with_extension(format!("gpkg.bak-v{from}.{n}"));
    }
    conn.execute("VACUUM INTO ?1", [backup.display().to_string()])?;
    for version in from..SCHEMA_VERSION {
        let Some(step) = usize::try_from(version - 1).ok().and_then(|i| STEPS.get(i)) else { break };
        conn.execute_batch("BEGIN")?;
        (step.upgrade)(conn)?;
        conn.execute("UPDATE tuban_meta SET value = ?1 WHERE key = 'schema_version'", [(version + 1).to_string()])?;
        conn.execute_batch("COMMIT")?;
    }
    Ok(())
}

/// Makes an older project readable as the current schema without changing the file.
pub fn read_only_view(conn: &Connection, from: i64) -> rusqlite::Result<()> {
    for version in from..SCHEMA_VERSION {
        if let Some(step) = usize::try_from(version - 1).ok().and_then(|i| STEPS.get(i)) {
            (step.read_only)(conn)?;
        }
    }
    Ok(())
}
