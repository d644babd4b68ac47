//! The audit log: every change to a project, with time, user, field, old and new value.

use super::{Project, Result};

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// UTC timestamp (ISO 8601).
    pub time: String,
    /// User name.
    pub user: String,
    /// Row id of the patch (none for project-wide entries).
    pub patch_fid: Option<i64>,
    /// Patch key at the time of the change.
    pub patch_key: Option<String>,
    /// Field name.
    pub field: Option<String>,
    /// Value before.
    pub old_value: Option<String>,
    /// Value after.
    pub new_value: Option<String>,
    /// edit, undo, redo, computed, import, template.
    pub action: String,
}

impl Project {
    /// The audit log, oldest first; only one patch's entries when `patch_fid` is given.
    pub fn audit_log(&self, patch_fid: Option<i64>) -> Result<Vec<AuditEntry>> {
        let sql = "SELECT id, time, user, patch_fid, patch_key, field, old_value, new_value, action FROM tuban_audit WHERE (?1 IS NULL OR patch_fid = ?1) ORDER BY id";
        let mut st = self.conn.prepare(sql).map_err(self.sq())?;
        let rows = st
            .query_map([patch_fid], |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    time: r.get(1)?,
                    user: r.get(2)?,
                    patch_fid: r.get(3)?,
                    patch_key: r.get(4)?,
                    field: r.get(5)?,
                    old_value: r.get(6)?,
                    new_value: r.get(7)?,
                    action: r.get(8)?,
                })
            })
            .map_err(self.sq())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sq())
    }
}
