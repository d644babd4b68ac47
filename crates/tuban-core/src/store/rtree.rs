//! The GeoPackage spatial index (`gpkg_rtree_index`, GeoPackage 1.3 §F.3) on every geometry
//! column of a project, so QGIS and GDAL answer small-area queries from an R-tree.
//!
//! Each indexed column gets the `rtree_<table>_<column>` virtual table, the spec's seven triggers
//! (the same text GDAL 3.6 writes for `SPATIAL_INDEX=YES`) and its `gpkg_extensions` row.
//! The triggers call `ST_MinX`, `ST_MaxX`, `ST_MinY`, `ST_MaxY` and `ST_IsEmpty`, which SQLite
//! does not have: [`register_functions`] adds them to a connection, and every connection that
//! changes `patches` must have them (GDAL and QGIS bring their own).

use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::Connection;

use tuban_model::geometry::gpkg;

/// Adds the GeoPackage SQL functions the R-tree triggers call (`ST_MinX`, `ST_MaxX`, `ST_MinY`,
/// `ST_MaxY`, `ST_IsEmpty`) to `conn`; a tool that changes a project's geometries with its own
/// SQLite connection must call it first.
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    for (name, index) in [("ST_MinX", 0), ("ST_MinY", 1), ("ST_MaxX", 2), ("ST_MaxY", 3)] {
        conn.create_scalar_function(name, 1, flags, move |ctx| {
            Ok(match ctx.get_raw(0) {
                ValueRef::Blob(blob) => blob_envelope(blob).map(|env| env[index]),
                _ => None,
            })
        })?;
    }
    conn.create_scalar_function("ST_IsEmpty", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Blob(blob) => blob_is_empty(blob).map(i64::from),
            _ => None,
        })
    })?;
    Ok(())
}

/// Whether a GeoPackage geometry blob is empty (flag bit 4, or no coordinates); `None` when the
/// blob is not a GeoPackage geometry.
fn blob_is_empty(blob: &[u8]) -> Option<bool> {
    if blob.len() < 8 || &blob[0..2] != b"GP" {
        return None;
    }
    if blob[3] & 0b0001_0000 != 0 {
        return Some(true);
    }
    Some(blob_envelope(blob).is_none())
}

/// The XY envelope (min_x, min_y, max_x, max_y) of a GeoPackage geometry blob: read from its
/// header when it carries one, else computed from the geometry.
fn blob_envelope(blob: &[u8]) -> Option<[f64; 4]> {
    if blob.len() < 8 || &blob[0..2] != b"GP" {
        return None;
    }
    let flags = blob[3];
    let little = flags & 1 == 1;
    let envelope_code = (flags >> 1) & 0b111;
    if flags & 0b0001_0000 == 0 && envelope_code != 0 && blob.len() >= 40 {
        let read = |at: usize| -> Option<f64> {
            let bytes: [u8; 8] = blob.get(at..at + 8)?.try_into().ok()?;
            Some(if little { f64::from_le_bytes(bytes) } else { f64::from_be_bytes(bytes) })
        };
        // The header stores min_x, max_x, min_y, max_y.
        let (min_x, max_x, min_y, max_y) = (read(8)?, read(16)?, read(24)?, read(32)?);
        if [min_x, max_x, min_y, max_y].iter().all(|v| v.is_finite()) {
            return Some([min_x, min_y, max_x, max_y]);
        }
    }
    let (_, geom) = gpkg::decode(blob).ok()?;
    gpkg::envelope(&geom)
}

/// The spec's insert trigger (a macro, so [`TRIGGERS`] can be written with it at compile time).
macro_rules! insert_trigger {
    () => {
        r#"CREATE TRIGGER "{i}_insert" AFTER INSERT ON "{t}" WHEN (new."{c}" NOT NULL AND NOT ST_IsEmpty(NEW."{c}")) BEGIN INSERT OR REPLACE INTO "{i}" VALUES (NEW."{pk}",ST_MinX(NEW."{c}"), ST_MaxX(NEW."{c}"),ST_MinY(NEW."{c}"), ST_MaxY(NEW."{c}")); END;"#
    };
}

/// The triggers of the `gpkg_rtree_index` extension for `t.c` (GeoPackage 1.3 §F.3, as GDAL
/// writes them); `{t}`, `{c}`, `{i}` (the rtree) and `{pk}` are replaced.
const TRIGGERS: &str = concat!(
    insert_trigger!(),
    r#"
CREATE TRIGGER "{i}_update1" AFTER UPDATE OF "{c}" ON "{t}" WHEN OLD."{pk}" = NEW."{pk}" AND (NEW."{c}" NOTNULL AND NOT ST_IsEmpty(NEW."{c}")) BEGIN INSERT OR REPLACE INTO "{i}" VALUES (NEW."{pk}",ST_MinX(NEW."{c}"), ST_MaxX(NEW."{c}"),ST_MinY(NEW."{c}"), ST_MaxY(NEW."{c}")); END;
CREATE TRIGGER "{i}_update2" AFTER UPDATE OF "{c}" ON "{t}" WHEN OLD."{pk}" = NEW."{pk}" AND (NEW."{c}" ISNULL OR ST_IsEmpty(NEW."{c}")) BEGIN DELETE FROM "{i}" WHERE id = OLD."{pk}"; END;
CREATE TRIGGER "{i}_update3" AFTER UPDATE ON "{t}" WHEN OLD."{pk}" != NEW."{pk}" AND (NEW."{c}" NOTNULL AND NOT ST_IsEmpty(NEW."{c}")) BEGIN DELETE FROM "{i}" WHERE id = OLD."{pk}"; INSERT OR REPLACE INTO "{i}" VALUES (NEW."{pk}",ST_MinX(NEW."{c}"), ST_MaxX(NEW."{c}"),ST_MinY(NEW."{c}"), ST_MaxY(NEW."{c}")); END;
CREATE TRIGGER "{i}_update4" AFTER UPDATE ON "{t}" WHEN OLD."{pk}" != NEW."{pk}" AND (NEW."{c}" ISNULL OR ST_IsEmpty(NEW."{c}")) BEGIN DELETE FROM "{i}" WHERE id IN (OLD."{pk}", NEW."{pk}"); END;
CREATE TRIGGER "{i}_delete" AFTER DELETE ON "{t}" WHEN old."{c}" NOT NULL BEGIN DELETE FROM "{i}" WHERE id = OLD."{pk}"; END;
"#
);

/// The insert trigger of [`TRIGGERS`] alone (an import takes it off and puts it back).
const INSERT_TRIGGER: &str = insert_trigger!();

/// The name of the R-tree of `table.column`.
pub fn index_name(table: &str, column: &str) -> String {
    format!("rtree_{table}_{column}")
}

/// Creates the spatial index of `table.column` (whose integer primary key is `pk`) if it is
/// missing, fills it from the rows already there and registers the extension.
pub fn create_index(conn: &Connection, table: &str, column: &str, pk: &str) -> rusqlite::Result<()> {
    let rtree = index_name(table, column);
    let exists: i64 = conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = ?1", [&rtree], |r| r.get(0))?;
    if exists > 0 {
        return Ok(());
    }
    let triggers = TRIGGERS.replace("{i}", &rtree).replace("{t}", table).replace("{c}", column).replace("{pk}", pk);
    conn.execute_batch(&format!(
        "CREATE VIRTUAL TABLE \"{rtree}\" USING rtree(id, minx, maxx, miny, maxy);
         INSERT INTO \"{rtree}\" SELECT \"{pk}\", ST_MinX(\"{column}\"), ST_MaxX(\"{column}\"), ST_MinY(\"{column}\"), ST_MaxY(\"{column}\")
           FROM \"{table}\" WHERE \"{column}\" NOT NULL AND NOT ST_IsEmpty(\"{column}\");
         {triggers}"
    ))?;
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_extensions(table_name, column_name, extension_name, definition, scope) VALUES (?1, ?2, 'gpkg_rtree_index', 'http://www.geopackage.org/spec/#extension_rtree', 'write-only')",
        [table, column],
    )?;
    Ok(())
}

/// Takes the insert trigger of the patches' index off for an import (its rows are indexed in one
/// pass by [`resume_patch_inserts`], in the same transaction, as GDAL does); returns the last
/// row id before the import, or `None` when the project has no such trigger.
pub(crate) fn suspend_patch_inserts(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let trigger = format!("{}_insert", index_name("patches", "geom"));
    let exists: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = ?1", [&trigger], |r| {
            r.get(0)
        })?;
    if exists == 0 {
        return Ok(None);
    }
    let last: i64 = conn.query_row("SELECT coalesce(max(fid), 0) FROM patches", [], |r| r.get(0))?;
    conn.execute_batch(&format!("DROP TRIGGER \"{trigger}\";"))?;
    Ok(Some(last))
}

/// Indexes the patches added after row `since`, whose boxes are `boxes` (row id, [min x, min y,
/// max x, max y], the non-empty ones), and puts the insert trigger back.
/// An empty index (a first import) is packed in one pass (`rtree_bulk.rs`); one that holds
/// earlier batches gets the new rows through the virtual table.
pub(crate) fn resume_patch_inserts(conn: &Connection, since: i64, boxes: &[(i64, [f64; 4])]) -> rusqlite::Result<()> {
    let rtree = index_name("patches", "geom");
    let empty: bool =
        conn.query_row(&format!("SELECT NOT EXISTS (SELECT 1 FROM \"{rtree}_rowid\")"), [], |r| r.get(0))?;
    let packed = empty && super::rtree_bulk::fill_empty(conn, &rtree, boxes)?;
    if !packed {
        conn.execute(
            &format!("INSERT OR REPLACE INTO \"{rtree}\" SELECT fid, ST_MinX(geom), ST_MaxX(geom), ST_MinY(geom), ST_MaxY(geom) FROM patches WHERE fid > ?1 AND geom NOT NULL AND NOT ST_IsEmpty(geom)"),
            [since],
        )?;
    }
    conn.execute_batch(
        &INSERT_TRIGGER.replace("{i}", &rtree).replace("{t}", "patches").replace("{c}", "geom").replace("{pk}", "fid"),
    )
}

/// Indexes every geometry column registered in `gpkg_geometry_columns` (each table's integer
/// primary key is its `fid`, as in every table tuban creates).
pub fn index_all(conn: &Connection) -> rusqlite::Result<()> {
    let columns: Vec<(String, String)> = {
        let mut st = conn.prepare("SELECT table_name, column_name FROM gpkg_geometry_columns ORDER BY table_name")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (table, column) in columns {
        create_index(conn, &table, &column, "fid")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use geo::{polygon, Geometry};

    #[test]
    fn envelope_comes_from_the_header_or_the_geometry() {
        let square: Geometry =
            polygon![(x: 110.0, y: 40.0), (x: 111.0, y: 40.0), (x: 111.0, y: 41.5), (x: 110.0, y: 40.0)].into();
        let blob = gpkg::encode(&square, 4490);
        assert_eq!(blob_envelope(&blob), Some([110.0, 40.0, 111.0, 41.5]));
        assert_eq!(blob_is_empty(&blob), Some(false));
        // The same geometry without an envelope in its header (flags: little endian only).
        let mut bare = blob[..8].to_vec();
        bare[3] = 1;
        bare.extend_from_slice(&blob[40..]);
        assert_eq!(blob_envelope(&bare), Some([110.0, 40.0, 111.0, 41.5]));
        assert_eq!(blob_is_empty(b"not a geometry"), None);
    }
}
