//! The rows a merge brings over whole, with the package attached as `pkg` on the master's
//! connection: photos by content hash, comments, cases, case steps and attachments by uid, each
//! once, their patches found by uid; and the 细斑 of one patch replaced by a package's.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value as Json;

/// Photo columns copied (all but the row id and the patch, which is mapped).
const PHOTO_COLUMNS: &str =
    "file_name, sha256, taken_at, lon, lat, altitude_m, bearing_deg, orientation, kind, caption, \
     distance_m, width, height, data, thumbnail, added_at, added_by";

/// Brings over what the package added; returns how many rows.
pub(crate) fn merge_rows(c: &Connection) -> rusqlite::Result<usize> {
    let mut n = c.execute(
        &format!(
            "INSERT INTO main.tuban_photos(patch_fid, {PHOTO_COLUMNS}) \
             SELECT mp.fid, {} FROM pkg.tuban_photos p \
             LEFT JOIN pkg.patches pp ON pp.fid = p.patch_fid LEFT JOIN main.patches mp ON mp.uid = pp.uid \
             WHERE p.sha256 NOT IN (SELECT sha256 FROM main.tuban_photos)",
            PHOTO_COLUMNS.split(", ").map(|c| format!("p.{c}")).collect::<Vec<_>>().join(", ")
        ),
        [],
    )?;
    n += c.execute(
        "INSERT INTO main.tuban_comments(patch_fid, time, user, text, uid) \
         SELECT mp.fid, k.time, k.user, k.text, k.uid FROM pkg.tuban_comments k \
         JOIN pkg.patches pp ON pp.fid = k.patch_fid JOIN main.patches mp ON mp.uid = pp.uid \
         WHERE k.uid NOT IN (SELECT uid FROM main.tuban_comments WHERE uid IS NOT NULL)",
        [],
    )?;
    n += merge_cases(c)?;
    n += c.execute(
        "INSERT INTO main.tuban_case_steps(case_id, step, date, who, note, recorded_at, uid) \
         SELECT mc.id, s.step, s.date, s.who, s.note, s.recorded_at, s.uid FROM pkg.tuban_case_steps s \
         JOIN pkg.tuban_cases pc ON pc.id = s.case_id JOIN main.tuban_cases mc ON mc.uid = pc.uid \
         WHERE s.uid NOT IN (SELECT uid FROM main.tuban_case_steps WHERE uid IS NOT NULL)",
        [],
    )?;
    n += c.execute(
        "INSERT INTO main.tuban_case_attachments(case_id, file_name, kind, sha256, data, added_at, added_by, uid) \
         SELECT mc.id, a.file_name, a.kind, a.sha256, a.data, a.added_at, a.added_by, a.uid FROM pkg.tuban_case_attachments a \
         JOIN pkg.tuban_cases pc ON pc.id = a.case_id JOIN main.tuban_cases mc ON mc.uid = pc.uid \
         WHERE a.uid NOT IN (SELECT uid FROM main.tuban_case_attachments WHERE uid IS NOT NULL)",
        [],
    )?;
    Ok(n)
}

/// Cases opened in the package: copied with their patches (by uid); a number the master has
/// already given to another case gets a suffix (`…-2`), so two cases never share one.
fn merge_cases(c: &Connection) -> rusqlite::Result<usize> {
    let new: Vec<(i64, String, String)> = c
        .prepare("SELECT id, uid, number FROM pkg.tuban_cases WHERE uid NOT IN (SELECT uid FROM main.tuban_cases WHERE uid IS NOT NULL) ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let columns: Vec<String> = c
        .prepare("SELECT name FROM pragma_table_info('tuban_cases') WHERE name NOT IN ('id', 'number')")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let cols = columns.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
    for (id, _uid, number) in &new {
        let mut free = number.clone();
        let mut k = 2;
        while c.query_row("SELECT 1 FROM main.tuban_cases WHERE number = ?1", [&free], |_| Ok(())).optional()?.is_some()
        {
            free = format!("{number}-{k}");
            k += 1;
        }
        c.execute(
            &format!(
                "INSERT INTO main.tuban_cases(number, {cols}) SELECT ?1, {cols} FROM pkg.tuban_cases WHERE id = ?2"
            ),
            params![free, id],
        )?;
        let case_id = c.last_insert_rowid();
        c.execute(
            "INSERT OR IGNORE INTO main.tuban_case_patches(case_id, patch_fid) \
             SELECT ?1, mp.fid FROM pkg.tuban_case_patches cp JOIN pkg.patches pp ON pp.fid = cp.patch_fid \
             JOIN main.patches mp ON mp.uid = pp.uid WHERE cp.case_id = ?2",
            params![case_id, id],
        )?;
    }
    Ok(new.len())
}

/// Replaces the 细斑 `removed` of `parent` (by uid) with the snapshots `added`, written under new
/// row ids with `parent` as their parent; photos and comments of a removed 细斑 go to `parent`.
pub(crate) fn replace_children(c: &Connection, parent: i64, removed: &[Json], added: &[Json]) -> rusqlite::Result<()> {
    for snap in removed {
        let Some(uid) = snap.pointer("/cols/uid").and_then(Json::as_str) else { continue };
        let Some(fid) =
            c.query_row("SELECT fid FROM patches WHERE uid = ?1", [uid], |r| r.get::<_, i64>(0)).optional()?
        else {
            continue;
        };
        super::rows::delete_row(c, fid, parent)?;
    }
    for snap in added {
        let Some(cols) = snap.get("cols").and_then(Json::as_object) else { continue };
        let uid = cols.get("uid").and_then(Json::as_str).unwrap_or_default();
        if c.query_row("SELECT 1 FROM patches WHERE uid = ?1", [uid], |_| Ok(())).optional()?.is_some() {
            continue;
        }
        let mut cols = cols.clone();
        cols.remove("fid");
        cols.insert("parent_fid".into(), Json::from(parent));
        let names: Vec<String> = cols.keys().map(|k| format!("\"{k}\"")).collect();
        let values: Vec<SqlValue> = cols.values().map(super::rows::sql_of_json).collect();
        let marks: Vec<String> = (1..=values.len()).map(|i| format!("?{i}")).collect();
        c.execute(
            &format!("INSERT INTO patches({}) VALUES ({})", names.join(", "), marks.join(", ")),
            rusqlite::params_from_iter(values),
        )?;
    }
    Ok(())
}
