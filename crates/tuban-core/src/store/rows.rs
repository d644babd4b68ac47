//! Rows of `patches` as a split, a merge and their replay write them: a new 细斑 copied from its
//! issued record, a whole row as a JSON snapshot (blobs as hex) and back under the same row id,
//! a row removed with its photos and comments handed on, and one structural audit field replayed.

use geo::Geometry;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Map, Value as Json};

use super::geometry::{blob, GEOM_FIELD, SPLIT_FIELD};
use tuban_model::geometry::{area_m2, centre, edit};
use tuban_model::Value;

/// A new 细斑 before it is written.
pub(crate) struct ChildRow {
    pub key: String,
    pub geom: Geometry,
    pub values: Vec<Value>,
    pub columns: Vec<String>,
}

/// Inserts a 细斑 of `parent` (its tuban columns copied, its own geometry, area, centre and
/// values); returns its row id.
pub(crate) fn insert_child(conn: &Connection, parent: i64, child: &ChildRow, now: &str) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO patches(geom, review_status, batch_id, extra_attrs, updated_at, parent_fid) \
         SELECT ?1, 'unreviewed', batch_id, extra_attrs, ?2, fid FROM patches WHERE fid = ?3",
        params![blob(&child.geom), now, parent],
    )?;
    let fid = conn.last_insert_rowid();
    let a = area_m2(&child.geom);
    let c = centre(&child.geom);
    conn.execute(
        "UPDATE patches SET area_m2 = ?1, area_mu = ?2, area_ha = ?3, center_lon = ?4, center_lat = ?5 WHERE fid = ?6",
        params![
            a,
            tuban_model::units::m2_to_mu(a),
            tuban_model::units::m2_to_ha(a),
            c.map(|p| p.x()),
            c.map(|p| p.y()),
            fid
        ],
    )?;
    for (col, v) in child.columns.iter().zip(&child.values) {
        if !v.is_empty() {
            conn.execute(
                &format!("UPDATE patches SET \"{col}\" = ?1 WHERE fid = ?2"),
                params![super::patches::to_sql(v), fid],
            )?;
        }
    }
    Ok(fid)
}

/// Every column of a row as JSON (blobs as `{"hex": …}`), with the photos and comments it holds.
pub(crate) fn row_snapshot(conn: &Connection, fid: i64) -> rusqlite::Result<Json> {
    let mut st = conn.prepare("SELECT * FROM patches WHERE fid = ?1")?;
    let names: Vec<String> = st.column_names().map(str::to_string).collect();
    let cols = st.query_row([fid], |r| {
        let mut m = Map::new();
        for (i, n) in names.iter().enumerate() {
            let v = match r.get_ref(i)? {
                ValueRef::Null => Json::Null,
                ValueRef::Integer(x) => json!(x),
                ValueRef::Real(x) => json!(x),
                ValueRef::Text(t) => Json::String(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => json!({ "hex": super::snapshot::hex(b) }),
            };
            m.insert(n.clone(), v);
        }
        Ok(m)
    })?;
    let ids =
        |sql: &str| -> rusqlite::Result<Vec<i64>> { conn.prepare(sql)?.query_map([fid], |r| r.get(0))?.collect() };
    let photos = ids("SELECT id FROM tuban_photos WHERE patch_fid = ?1 ORDER BY id")?;
    let comments = ids("SELECT id FROM tuban_comments WHERE patch_fid = ?1 ORDER BY id")?;
    Ok(json!({ "fid": fid, "cols": cols, "photos": photos, "comments": comments }))
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

/// The SQL value of one snapshot column.
pub(crate) fn sql_of_json(v: &Json) -> SqlValue {
    match v {
        Json::Null => SqlValue::Null,
        Json::Number(n) => n.as_i64().map(SqlValue::Integer).unwrap_or(SqlValue::Real(n.as_f64().unwrap_or(0.0))),
        Json::String(s) => SqlValue::Text(s.clone()),
        Json::Object(o) => SqlValue::Blob(o.get("hex").and_then(Json::as_str).map(unhex).unwrap_or_default()),
        other => SqlValue::Text(other.to_string()),
    }
}

/// Writes a row back from its snapshot (same row id), with its photos and comments.
fn insert_snapshot(conn: &Connection, snap: &Json) -> rusqlite::Result<()> {
    let Some(cols) = snap.get("cols").and_then(Json::as_object) else { return Ok(()) };
    let names: Vec<String> = cols.keys().map(|k| format!("\"{k}\"")).collect();
    let values: Vec<SqlValue> = cols.values().map(sql_of_json).collect();
    let marks: Vec<String> = (1..=values.len()).map(|i| format!("?{i}")).collect();
    conn.execute(
        &format!("INSERT INTO patches({}) VALUES ({})", names.join(", "), marks.join(", ")),
        rusqlite::params_from_iter(values),
    )?;
    let fid = snap.get("fid").and_then(Json::as_i64).unwrap_or_default();
    for (table, key) in [("tuban_photos", "photos"), ("tuban_comments", "comments")] {
        for id in snap.get(key).and_then(Json::as_array).into_iter().flatten().filter_map(Json::as_i64) {
            conn.execute(&format!("UPDATE {table} SET patch_fid = ?1 WHERE id = ?2"), params![fid, id])?;
        }
    }
    Ok(())
}

/// Removes a row; its photos and comments move to `heir`.
pub(crate) fn delete_row(conn: &Connection, fid: i64, heir: i64) -> rusqlite::Result<()> {
    for table in ["tuban_photos", "tuban_comments"] {
        conn.execute(&format!("UPDATE {table} SET patch_fid = ?1 WHERE patch_fid = ?2"), params![heir, fid])?;
    }
    conn.execute("DELETE FROM tuban_source_geom WHERE fid = ?1", [fid])?;
    conn.execute("DELETE FROM patches WHERE fid = ?1", [fid])?;
    Ok(())
}

pub(crate) enum Replay {
    Sql(rusqlite::Error),
    Changed(String),
}

impl From<rusqlite::Error> for Replay {
    fn from(e: rusqlite::Error) -> Self {
        Replay::Sql(e)
    }
}

/// The snapshot without what changes by itself (the time of the last change).
fn comparable(snap: &Json) -> Json {
    let mut s = snap.clone();
    if let Some(cols) = s.get_mut("cols").and_then(Json::as_object_mut) {
        cols.remove("updated_at");
        cols.remove("verdict_imagery");
    }
    if let Some(o) = s.as_object_mut() {
        o.remove("photos");
        o.remove("comments");
    }
    s
}

/// One structural audit field taken from `from` to `to` on row `fid`.
pub(crate) fn replay_one(
    conn: &Connection,
    fid: i64,
    field: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(), Replay> {
    match field {
        GEOM_FIELD => {
            let g = to.map(edit::from_wkt).transpose().map_err(|e| Replay::Changed(e.to_string()))?;
            conn.execute("UPDATE patches SET verified_geom = ?1 WHERE fid = ?2", params![g.as_ref().map(blob), fid])?;
        }
        SPLIT_FIELD => {
            conn.execute("UPDATE patches SET split_state = ?1 WHERE fid = ?2", params![to, fid])?;
        }
        _ => {
            let rows = |t: Option<&str>| -> Vec<Json> {
                t.and_then(|t| serde_json::from_str::<Vec<Json>>(t).ok()).unwrap_or_default()
            };
            for snap in rows(from) {
                let child = snap.get("fid").and_then(Json::as_i64).unwrap_or_default();
                let now = row_snapshot(conn, child).optional()?;
                if now.as_ref().map(comparable) != Some(comparable(&snap)) {
                    return Err(Replay::Changed(format!("#{child}")));
                }
                delete_row(conn, child, fid)?;
            }
            for snap in rows(to) {
                insert_snapshot(conn, &snap)?;
            }
        }
    }
    Ok(())
}
