//! The audit log: every change to a project, with time, user, field, old and new value.

use rusqlite::{params, OptionalExtension};

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

/// One user action: the fields one call changed on one patch.
#[derive(Debug, Clone, PartialEq)]
struct EditGroup {
    fid: i64,
    /// (field, old, new) as text, computed fields left out (they follow their inputs).
    changes: Vec<(String, Option<String>, Option<String>)>,
}

impl Project {
    /// Undo and redo stacks of the current user, rebuilt from the audit log: an `edit` pushes an
    /// undo step and clears redo; an `undo` moves a step to redo; a `redo` moves it back.
    /// Rebuilding from the log makes undo survive a restart.
    fn undo_stacks(&self) -> Result<(Vec<EditGroup>, Vec<EditGroup>)> {
        let mut st = self
            .conn
            .prepare("SELECT time, patch_fid, field, old_value, new_value, action FROM tuban_audit WHERE user = ?1 AND patch_fid IS NOT NULL AND action IN ('edit', 'undo', 'redo') ORDER BY id")
            .map_err(self.sq())?;
        let rows = st
            .query_map([self.user()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .map_err(self.sq())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.sq())?;
        let mut undo: Vec<EditGroup> = Vec::new();
        let mut redo: Vec<EditGroup> = Vec::new();
        let mut i = 0;
        while i < rows.len() {
            let (time, fid, action) = (&rows[i].0, rows[i].1, &rows[i].5);
            let mut changes = Vec::new();
            let mut j = i;
            while j < rows.len() && &rows[j].0 == time && rows[j].1 == fid && &rows[j].5 == action {
                changes.push((rows[j].2.clone(), rows[j].3.clone(), rows[j].4.clone()));
                j += 1;
            }
            let group = EditGroup { fid, changes };
            match action.as_str() {
                "edit" => {
                    undo.push(group);
                    redo.clear();
                }
                "undo" => {
                    if let Some(g) = undo.pop() {
                        redo.push(g);
                    }
                }
                _ => {
                    if let Some(g) = redo.pop() {
                        undo.push(g);
                    }
                }
            }
            i = j;
        }
        Ok((undo, redo))
    }

    fn apply_group(&mut self, group: &EditGroup, backwards: bool) -> Result<(i64, super::EditOutcome)> {
        if group.changes.iter().any(|(f, _, _)| super::geometry::is_structural(f)) {
            return Ok((group.fid, self.replay_structural(group.fid, &group.changes, backwards)?));
        }
        let template = self.template().clone();
        let mut edits = Vec::new();
        for (field, old, new) in &group.changes {
            let Some(f) = template.field(field) else { continue };
            // Changed since by someone else (a merged package, the hub): undoing would silently
            // overwrite their value, so it is refused.
            let expected = if backwards { new } else { old };
            if template.field(field).is_some_and(|f| f.compute.is_none())
                && self.current_text(group.fid, field)?.flatten() != *expected
            {
                let key = self.patch(group.fid)?.map(|r| r.key).unwrap_or_default();
                return Err(super::StoreError::Subpatch {
                    detail: format!("{key} 的 {field} 已被合并或同步改过，不能撤销；请直接修改 / {field} of {key} was changed since by a merge or the hub: not undone; edit it instead"),
                });
            }
            let text = if backwards { old } else { new };
            let value = match text {
                Some(t) => tuban_model::Value::parse_for(f, t)
                    .map_err(|cause| super::StoreError::InvalidValue { name: f.name.clone(), cause })?,
                None => tuban_model::Value::Null,
            };
            edits.push((f.name.clone(), value));
        }
        let source = if backwards { super::EditSource::Undo } else { super::EditSource::Redo };
        let outcome = self.set_values(group.fid, &edits, source)?;
        Ok((group.fid, outcome))
    }

    /// The patch the current user edited last, other than `fid` (the source of the reuse key).
    pub fn last_edited_other_than(&self, fid: i64) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT a.patch_fid FROM tuban_audit a JOIN patches p ON p.fid = a.patch_fid \
                 WHERE a.user = ?1 AND a.action = 'edit' AND a.patch_fid != ?2 AND p.split_state IS NULL ORDER BY a.id DESC LIMIT 1",
                params![self.user(), fid],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sq())
    }

    /// Undoes the current user's last edit; returns the patch and what changed, or `None`.
    pub fn undo(&mut self) -> Result<Option<(i64, super::EditOutcome)>> {
        self.require_write()?;
        let (undo, _) = self.undo_stacks()?;
        match undo.last() {
            Some(g) => self.apply_group(g, true).map(Some),
            None => Ok(None),
        }
    }

    /// Redoes the current user's last undone edit; returns the patch and what changed, or `None`.
    pub fn redo(&mut self) -> Result<Option<(i64, super::EditOutcome)>> {
        self.require_write()?;
        let (_, redo) = self.undo_stacks()?;
        match redo.last() {
            Some(g) => self.apply_group(g, false).map(Some),
            None => Ok(None),
        }
    }
}
