//! The conflict queue: changes from a package (or the hub) that met another change of the same
//! field here. Each stays open with base, ours and theirs until someone chooses ours, theirs or a
//! value of their own; the choice is written like an edit and kept in the audit log.

use rusqlite::params;

use super::geometry::{GEOM_FIELD, ROWS_FIELD};
use super::merge::Conflict;
use super::patches::EditSource;
use super::{now_utc, Project, Result, StoreError};
use tuban_model::geometry::edit;

/// What to keep of a conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Take {
    /// The value of the project merged into.
    Ours,
    /// The incoming value (package or hub).
    Theirs,
    /// A value typed by the one who resolves.
    Value(String),
}

impl Take {
    /// Parses `ours`, `theirs` or any other text as a value.
    pub fn parse(text: &str) -> Take {
        match text.trim() {
            "ours" | "本方" => Take::Ours,
            "theirs" | "对方" => Take::Theirs,
            other => Take::Value(other.to_string()),
        }
    }
}

/// A conflict as read, in [`Conflict`]'s order.
type ConflictRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

impl Project {
    /// Open conflicts, oldest first.
    pub fn conflicts(&self) -> Result<Vec<Conflict>> {
        let mut st = self
            .conn
            .prepare("SELECT c.id, c.label, c.field, c.base, c.ours, c.theirs, c.theirs_user, c.theirs_time, c.source, p.verdict_imagery, c.theirs_imagery \
                 FROM tuban_conflicts c LEFT JOIN patches p ON p.uid = c.item_uid WHERE c.resolved_at IS NULL ORDER BY c.id")
            .map_err(self.sq())?;
        let rows: Vec<ConflictRow> = st
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                ))
            })
            .map_err(self.sq())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.sq())?;
        let verdict = self.template().roles().verdict.clone();
        Ok(rows
            .into_iter()
            .map(|(id, key, field, base, ours, theirs, by, at, source, ours_imagery, theirs_imagery)| {
                let key_is_verdict = field == verdict;
                Conflict {
                    id,
                    key,
                    field,
                    base,
                    ours,
                    theirs,
                    theirs_by: by.unwrap_or_default(),
                    theirs_at: at.unwrap_or_default(),
                    source,
                    ours_imagery: ours_imagery.filter(|_| theirs_imagery.is_some() || key_is_verdict),
                    theirs_imagery,
                }
            })
            .collect())
    }

    /// Resolves the open conflicts of `key` (a patch, or a case as `案件 NUMBER` or its number) and
    /// `field` (all of them, oldest first, when one field met several packages); returns how many.
    pub fn resolve(&mut self, key: &str, field: &str, take: &Take) -> Result<usize> {
        self.require_unsealed()?;
        let case_label = match key.trim().strip_prefix("案件 ") {
            Some(n) => Some(super::merge_cases::case_key(n.trim())),
            None => self.case(key.trim())?.map(|c| super::merge_cases::case_key(&c.number)),
        };
        let fid = match &case_label {
            Some(_) => None,
            None => Some(self.require_patch(key)?),
        };
        let open: Vec<Conflict> = self
            .conflicts()?
            .into_iter()
            .filter(|c| c.field.eq_ignore_ascii_case(field))
            .filter(|c| match (&case_label, fid) {
                (Some(label), _) => &c.key == label,
                (None, fid) => self.find_patch(&c.key).ok().flatten() == fid,
            })
            .collect();
        if open.is_empty() {
            return Err(StoreError::Subpatch {
                detail: format!(
                    "{}: {key} 的 {field} 没有待解决的冲突 / no open conflict on {field} of {key}",
                    self.path_str()
                ),
            });
        }
        let Some(last) = open.last() else { return Ok(0) };
        let value = match take {
            Take::Ours => None,
            Take::Theirs => Some(last.theirs.clone()),
            Take::Value(v) => Some(Some(v.clone()).filter(|v| !v.is_empty())),
        };
        match (&value, fid) {
            (Some(v), Some(fid)) => self.write_resolution(fid, &last.field, v.as_deref())?,
            (Some(v), None) => self.write_case_resolution(&last.key, &last.field, v.as_deref())?,
            (None, _) => {}
        }
        let resolution = match take {
            Take::Ours => "ours".to_string(),
            Take::Theirs => "theirs".to_string(),
            Take::Value(v) => format!("value: {v}"),
        };
        let now = now_utc();
        for c in &open {
            self.conn
                .execute(
                    "UPDATE tuban_conflicts SET resolved_at = ?1, resolved_by = ?2, resolution = ?3 WHERE id = ?4",
                    params![now, self.user(), resolution, c.id],
                )
                .map_err(self.sq())?;
            self.conn
                .execute(
                    "INSERT INTO tuban_audit(time, user, patch_fid, patch_key, field, old_value, new_value, action) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'resolved')",
                    params![now, self.user(), fid, c.key, c.field, c.ours, format!("{resolution} ({})", c.source)],
                )
                .map_err(self.sq())?;
        }
        Ok(open.len())
    }

    /// Writes the chosen value of a field (a template field through the edit path, the extent
    /// as a column); 细斑 conflicts cannot take theirs here.
    fn write_resolution(&mut self, fid: i64, field: &str, value: Option<&str>) -> Result<()> {
        let key = self.patch(fid)?.map(|r| r.key).unwrap_or_default();
        match field {
            ROWS_FIELD => Err(StoreError::Subpatch {
                detail: format!("{key}: 细斑冲突只能保留本方；要采用对方的拆分，请先合并本项目的细斑，再重新合并工作包 / a sub-patch conflict can only keep ours; to take theirs, merge the sub-patches here and merge the package again"),
            }),
            GEOM_FIELD => {
                let g = value.map(edit::from_wkt).transpose().map_err(|cause| StoreError::InvalidGeometry { key: key.clone(), cause })?;
                match g {
                    Some(g) => self.set_extent(fid, &g).map(|_| ()),
                    None => {
                        let issued = self.extent(fid)?.map(|e| e.issued);
                        match issued {
                            Some(g) => self.set_extent(fid, &g).map(|_| ()),
                            None => Ok(()),
                        }
                    }
                }
            }
            name => {
                let f = self.template().field(name).ok_or_else(|| StoreError::NoSuchField { name: name.to_string() })?;
                let v = match value {
                    Some(t) => tuban_model::Value::parse_for(f, t).map_err(|cause| StoreError::InvalidValue { name: f.name.clone(), cause })?,
                    None => tuban_model::Value::Null,
                };
                let name = f.name.clone();
                self.set_values(fid, &[(name, v)], EditSource::Resolve).map(|_| ())
            }
        }
    }
}
