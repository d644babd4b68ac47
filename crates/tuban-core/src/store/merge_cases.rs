//! Case fields changed in a work package, merged by the same rule as patch fields: the change
//! applies where the master's case (found by uid) still holds the value it started from, is
//! already there where it holds the value after, and is a conflict otherwise.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension};

use super::merge::{net, Change, Conflict, MergeReceipt};
use super::package::PackageInfo;
use super::{now_utc, Project, Result, StoreError};

/// The case columns whose edits are audited field by field (`Project::update_case`).
const CASE_FIELDS: [&str; 9] = [
    "party",
    "department",
    "investigation",
    "rectification",
    "measures",
    "penalty_doc",
    "fine_yuan",
    "deadline",
    "prior_penalty",
];

/// The audit key of a case (`案件 NUMBER`).
pub(crate) fn case_key(number: &str) -> String {
    format!("案件 {number}")
}

/// A case column as the audit log writes it (numbers as Rust prints them, empty as none).
fn column_text(v: SqlValue) -> Option<String> {
    match v {
        SqlValue::Null => None,
        SqlValue::Integer(i) => Some(i.to_string()),
        SqlValue::Real(f) => Some(f.to_string()),
        SqlValue::Text(s) => Some(s).filter(|s| !s.is_empty()),
        SqlValue::Blob(_) => None,
    }
}

/// The net case-field changes a package made after `hwm`, each keyed by its case's uid.
pub(crate) fn package_case_changes(pc: &Connection, hwm: i64) -> rusqlite::Result<Vec<Change>> {
    let marks = CASE_FIELDS.iter().map(|f| format!("'{f}'")).collect::<Vec<_>>().join(", ");
    let mut st = pc.prepare(&format!(
        "SELECT a.time, a.user, c.uid, a.field, a.old_value, a.new_value FROM tuban_audit a \
         JOIN tuban_cases c ON a.patch_key = '案件 ' || c.number \
         WHERE a.id > ?1 AND a.action = 'case' AND a.field IN ({marks}) ORDER BY a.id"
    ))?;
    let rows = st.query_map([hwm], |r| {
        Ok(Change {
            time: r.get(0)?,
            user: r.get(1)?,
            uid: r.get(2)?,
            field: r.get(3)?,
            before: r.get(4)?,
            after: r.get(5)?,
        })
    })?;
    Ok(net(rows.collect::<rusqlite::Result<Vec<_>>>()?))
}

impl Project {
    /// Merges the case fields a package changed (after the cases it opened were copied over).
    pub(crate) fn merge_case_fields(
        &self,
        changes: &[Change],
        info: &PackageInfo,
        receipt: &mut MergeReceipt,
    ) -> Result<()> {
        for c in changes {
            let Change { uid, field, before, after, user, time } = c.clone();
            let here: Option<(i64, String, SqlValue)> = self
                .conn
                .query_row(&format!("SELECT id, number, \"{field}\" FROM tuban_cases WHERE uid = ?1"), [&uid], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
                .map_err(self.sq())?;
            let Some((id, here_number, value)) = here else {
                receipt.missing += 1;
                continue;
            };
            let ours = column_text(value);
            if ours == after {
                receipt.already += 1;
            } else if ours == before {
                self.conn
                    .execute(&format!("UPDATE tuban_cases SET \"{field}\" = ?1 WHERE id = ?2"), params![after, id])
                    .map_err(self.sq())?;
                self.conn
                    .execute(
                        "INSERT INTO tuban_audit(time, user, patch_fid, patch_key, field, old_value, new_value, action) VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6, 'merge')",
                        params![now_utc(), self.user(), case_key(&here_number), field, before, after],
                    )
                    .map_err(self.sq())?;
                receipt.applied += 1;
            } else {
                let label = case_key(&here_number);
                let open: Option<i64> = self
                    .conn
                    .query_row(
                        "SELECT id FROM tuban_conflicts WHERE item_uid = ?1 AND field = ?2 AND theirs IS ?3 AND resolved_at IS NULL",
                        params![uid, field, after],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(self.sq())?;
                if open.is_some() {
                    continue;
                }
                self.conn
                    .execute(
                        "INSERT INTO tuban_conflicts(item_kind, item_uid, label, field, base, ours, theirs, theirs_user, theirs_time, source, created_at) \
                         VALUES ('case', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                        params![uid, label, field, before, ours, after, user, time, info.label, now_utc()],
                    )
                    .map_err(self.sq())?;
                receipt.conflicts.push(Conflict {
                    id: self.conn.last_insert_rowid(),
                    key: label,
                    field,
                    base: before,
                    ours,
                    theirs: after,
                    theirs_by: user,
                    theirs_at: time,
                    source: info.label.clone(),
                    ours_imagery: None,
                    theirs_imagery: None,
                });
            }
        }
        Ok(())
    }

    /// Writes the chosen value of a case field (a conflict's resolution), audited.
    pub(crate) fn write_case_resolution(&self, label: &str, field: &str, value: Option<&str>) -> Result<()> {
        if !CASE_FIELDS.contains(&field) {
            return Err(StoreError::NoSuchField { name: field.to_string() });
        }
        let number = label.strip_prefix("案件 ").unwrap_or(label);
        self.conn
            .execute(&format!("UPDATE tuban_cases SET \"{field}\" = ?1 WHERE number = ?2"), params![value, number])
            .map_err(self.sq())?;
        Ok(())
    }
}
