//! Merging a work package back into its master, field by field, from the package's audit log.
//!
//! A change is what the package's audit rows after its high-water mark say about one row (by
//! `uid`) and one field: the value before the first of them and after the last. It applies when
//! the master still holds the value before; it is already there when the master holds the value
//! after; otherwise it is a conflict, kept with base, ours and theirs until someone chooses
//! (`conflicts.rs`), never last-wins. Splits and merges of 细斑 are replayed in order as whole
//! operations with the same precondition. Photos travel by content hash, comments, cases, steps
//! and attachments by uid, each once. One transaction: a merge killed half-way leaves the master
//! as it was, and the receipt (`tuban_merges`, an audit row) records the package's high-water
//! mark, so the same changes merged twice change nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde_json::Value as Json;

use super::geometry::{blob, GEOM_FIELD, ROWS_FIELD, SPLIT_FIELD};
use super::package::{read_info, PackageInfo};
use super::patches::{audit_text, EditSource};
use super::{now_utc, Project, Result, StoreError};
use tuban_model::geometry::edit;

/// One change that met another: the field's value when the package was written (base), in the
/// master (ours) and in the package (theirs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Row id in `tuban_conflicts`.
    pub id: i64,
    /// Patch key.
    pub key: String,
    /// Field (a template field, `verified_geom` or `subpatches`).
    pub field: String,
    /// Before both changes.
    pub base: Option<String>,
    /// In the project merged into.
    pub ours: Option<String>,
    /// In the package.
    pub theirs: Option<String>,
    /// Who changed it in the package, and when.
    pub theirs_by: String,
    /// When (UTC).
    pub theirs_at: String,
    /// The package's label.
    pub source: String,
    /// The imagery on screen when our verdict was set (for a verdict conflict).
    pub ours_imagery: Option<String>,
    /// The imagery on screen when their verdict was set in the package.
    pub theirs_imagery: Option<String>,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MergeReceipt {
    /// The package.
    pub package_id: String,
    /// Its label.
    pub label: String,
    /// Field changes applied.
    pub applied: usize,
    /// Field changes the master already held.
    pub already: usize,
    /// Changes to rows the master does not have (a 细斑 merged away here), not applied.
    pub missing: usize,
    /// 细斑 splits and merges applied.
    pub structural: usize,
    /// New conflicts.
    pub conflicts: Vec<Conflict>,
    /// Photos, comments, cases, steps and attachments added.
    pub rows_added: usize,
    /// The package's audit high-water mark now merged.
    pub audit_hwm: i64,
}

/// One net change of one field of one row (a patch or a case, by uid), from the package's
/// audit log.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub uid: String,
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub user: String,
    pub time: String,
}

/// A package's audit row.
type AuditRow = (i64, String, String, i64, String, Option<String>, Option<String>);

fn open_package(path: &Path) -> Result<Connection> {
    let p = path.display().to_string();
    if !path.exists() {
        return Err(StoreError::NotFound { path: p });
    }
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|cause| StoreError::Sqlite { path: p.clone(), cause })?;
    Ok(c)
}

fn not_package(path: &str, why: &str) -> StoreError {
    StoreError::Subpatch { detail: format!("{path}: {why}") }
}

/// Reads and checks the package: a tuban project, schema 5 or later, of this project.
fn check_package(c: &Connection, path: &str, master_uid: &str, master: &str) -> Result<PackageInfo> {
    let version: Option<String> = c
        .query_row("SELECT value FROM tuban_meta WHERE key = 'schema_version'", [], |r| r.get(0))
        .optional()
        .map_err(|_| not_package(path, "不是 tuban 项目文件 / not a tuban project"))?;
    let version: i64 = version.and_then(|v| v.parse().ok()).unwrap_or(0);
    if version > super::SCHEMA_VERSION {
        return Err(StoreError::TooNew { path: path.to_string(), version });
    }
    if version < 5 {
        return Err(not_package(path, &format!("由旧版 tuban 写出（结构版本 {version}），不是工作包；请用 `tuban package create` 重新生成 / written by an older tuban (schema {version}): not a work package; make it again with `tuban package create`")));
    }
    let info =
        read_info(c).map_err(|cause| StoreError::Sqlite { path: path.to_string(), cause })?.ok_or_else(|| {
            not_package(
                path,
                "不是工作包（没有 package_id），是一个完整项目 / not a work package (no package_id): a whole project",
            )
        })?;
    if info.project_uid != master_uid {
        return Err(not_package(path, &format!("工作包“{}”来自另一个项目 {}，不能合并到 {master} / package “{}” belongs to another project ({}), not {master}", info.label, info.source, info.label, info.source)));
    }
    Ok(info)
}

/// The package's audit rows after `hwm` that carry changes to rows, oldest first.
fn package_rows(c: &Connection, hwm: i64) -> rusqlite::Result<Vec<AuditRow>> {
    let mut st = c.prepare(
        "SELECT id, time, user, patch_fid, field, old_value, new_value FROM tuban_audit \
         WHERE id > ?1 AND patch_fid IS NOT NULL AND field IS NOT NULL AND action IN ('edit', 'undo', 'redo', 'merge', 'resolve') ORDER BY id",
    )?;
    let rows =
        st.query_map([hwm], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))?;
    rows.collect()
}

/// Package row id → uid, for rows that exist and for rows its log shows removed.
fn package_uids(c: &Connection, rows: &[AuditRow]) -> rusqlite::Result<HashMap<i64, String>> {
    let mut map: HashMap<i64, String> = HashMap::new();
    let mut st = c.prepare("SELECT fid, uid FROM patches")?;
    for r in st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?)))? {
        let (fid, uid) = r?;
        if let Some(uid) = uid {
            map.insert(fid, uid);
        }
    }
    for (_, _, _, _, field, old, new) in rows {
        if field == ROWS_FIELD {
            for snap in
                [old, new].into_iter().flatten().flat_map(|t| serde_json::from_str::<Vec<Json>>(t).unwrap_or_default())
            {
                if let (Some(fid), Some(uid)) =
                    (snap.get("fid").and_then(Json::as_i64), snap.pointer("/cols/uid").and_then(Json::as_str))
                {
                    map.entry(fid).or_insert_with(|| uid.to_string());
                }
            }
        }
    }
    Ok(map)
}

/// Net field changes (first before, last after) in the order first seen; structural rows apart.
fn net_changes(rows: &[AuditRow], uids: &HashMap<i64, String>) -> (Vec<Change>, Vec<(String, AuditRow)>) {
    let mut fields = Vec::new();
    let mut structural = Vec::new();
    for row in rows {
        let (_, time, user, fid, field, old, new) = row;
        let Some(uid) = uids.get(fid) else { continue };
        if field == ROWS_FIELD {
            structural.push((uid.clone(), row.clone()));
        } else if field != SPLIT_FIELD {
            // (The split mark is implied by the 细斑 rows of the same step.)
            fields.push(Change {
                uid: uid.clone(),
                field: field.clone(),
                before: old.clone(),
                after: new.clone(),
                user: user.clone(),
                time: time.clone(),
            });
        }
    }
    (net(fields), structural)
}

/// One change per row and field of `changes` (audit rows, oldest first), in the order first
/// seen: the value before the first and after the last, who and when of the last; none where the
/// two are the same.
pub(crate) fn net(changes: impl IntoIterator<Item = Change>) -> Vec<Change> {
    let mut order: Vec<(String, String)> = Vec::new();
    let mut net: HashMap<(String, String), Change> = HashMap::new();
    for c in changes {
        let k = (c.uid.clone(), c.field.clone());
        match net.get_mut(&k) {
            Some(n) => {
                n.after = c.after;
                n.user = c.user;
                n.time = c.time;
            }
            None => {
                order.push(k.clone());
                net.insert(k, c);
            }
        }
    }
    order.into_iter().filter_map(|k| net.remove(&k)).filter(|c| c.before != c.after).collect()
}

impl Project {
    /// Merges the changes a work package made since it was written (or last merged) into this
    /// project; see the module documentation for the rules.
    pub fn merge_package(&mut self, package: &Path) -> Result<MergeReceipt> {
        self.require_unsealed()?;
        let ppath = package.display().to_string();
        let pc = open_package(package)?;
        let info = check_package(&pc, &ppath, &self.project_uid()?, &self.path_str())?;
        let psq = |cause| StoreError::Sqlite { path: ppath.clone(), cause };
        let merged: Option<i64> = self
            .conn
            .query_row("SELECT max(audit_hwm) FROM tuban_merges WHERE package_id = ?1", [&info.package_id], |r| {
                r.get(0)
            })
            .map_err(self.sq())?;
        let hwm = merged.unwrap_or(info.base_audit).max(info.base_audit);
        let rows = package_rows(&pc, hwm).map_err(psq)?;
        let top: i64 = pc.query_row("SELECT coalesce(max(id), 0) FROM tuban_audit", [], |r| r.get(0)).map_err(psq)?;
        let uids = package_uids(&pc, &rows).map_err(psq)?;
        let (changes, structural) = net_changes(&rows, &uids);
        let case_changes = super::merge_cases::package_case_changes(&pc, hwm).map_err(psq)?;
        let mut receipt = MergeReceipt {
            package_id: info.package_id.clone(),
            label: info.label.clone(),
            audit_hwm: top.max(hwm),
            ..Default::default()
        };
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        // Attached outside the transaction (SQLite refuses otherwise), detached whatever happens.
        self.conn.execute("ATTACH DATABASE ?1 AS pkg", [&ppath]).map_err(sq)?;
        let outcome = self.merge_in_transaction(&info, &ppath, (&changes, &case_changes), &structural, &mut receipt);
        let _ = self.conn.execute_batch("DETACH DATABASE pkg");
        outcome.map(|()| receipt)
    }

    fn merge_in_transaction(
        &mut self,
        info: &PackageInfo,
        ppath: &str,
        (changes, case_changes): (&[Change], &[Change]),
        structural: &[(String, AuditRow)],
        receipt: &mut MergeReceipt,
    ) -> Result<()> {
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.unchecked_transaction().map_err(sq)?;
        for (parent_uid, row) in structural {
            self.merge_structural(parent_uid, row, info, receipt)?;
        }
        super::failpoint::hit("merge.after_structural", &self.conn);
        self.merge_fields(changes, &info.label, &EditSource::Merge, receipt)?;
        super::failpoint::hit("merge.after_fields", &self.conn);
        receipt.rows_added += super::merge_rows::merge_rows(&self.conn).map_err(sq)?;
        self.merge_case_fields(case_changes, info, receipt)?;
        self.record_merge(info, ppath, receipt).map_err(sq)?;
        super::failpoint::hit("merge.before_commit", &self.conn);
        tx.commit().map_err(sq)
    }

    /// The row id of the patch with this uid, if this copy has it.
    pub fn fid_of_uid(&self, uid: &str) -> Result<Option<i64>> {
        self.conn.query_row("SELECT fid FROM patches WHERE uid = ?1", [uid], |r| r.get(0)).optional().map_err(self.sq())
    }

    /// The master's current text of a field of a row, as the audit log writes it.
    pub(crate) fn current_text(&self, fid: i64, field: &str) -> Result<Option<Option<String>>> {
        if field == GEOM_FIELD {
            return Ok(self.extent(fid)?.map(|e| e.verified.as_ref().map(edit::to_wkt)));
        }
        if field == "review_flags" {
            let v: Option<Option<String>> = self
                .conn
                .query_row("SELECT review_flags FROM patches WHERE fid = ?1", [fid], |r| r.get(0))
                .optional()
                .map_err(self.sq())?;
            return Ok(v.map(|t| t.filter(|s| !s.is_empty())));
        }
        let Some(r) = self.patch(fid)? else { return Ok(None) };
        Ok(r.value(self.template(), field)
            .map(audit_text)
            .or(Some(None))
            .filter(|_| self.template().field(field).is_some()))
    }

    /// Applies each change whose row still holds the value it started from (audited as `source`),
    /// counts those already there and records the others as conflicts from `label`.
    pub(crate) fn merge_fields(
        &self,
        changes: &[Change],
        label: &str,
        source: &EditSource,
        receipt: &mut MergeReceipt,
    ) -> Result<()> {
        let mut by_fid: BTreeMap<i64, Vec<&Change>> = BTreeMap::new();
        for c in changes {
            let Some(fid) = self.fid_of_uid(&c.uid)? else {
                receipt.missing += 1;
                continue;
            };
            let Some(ours) = self.current_text(fid, &c.field)? else {
                receipt.missing += 1;
                continue;
            };
            if ours == c.after {
                receipt.already += 1;
            } else if ours == c.before {
                by_fid.entry(fid).or_default().push(c);
            } else {
                let conflict = self.record_conflict(fid, c, ours, (label, *source == EditSource::Merge))?;
                receipt.conflicts.extend(conflict);
            }
        }
        for (fid, list) in by_fid {
            receipt.applied += list.len();
            self.apply_changes(fid, &list, source)?;
        }
        Ok(())
    }

    /// Writes applied changes of one row: template fields through the value plan (status and
    /// computed fields follow), the extent and flags as columns; audit action `merge`.
    fn apply_changes(&self, fid: i64, list: &[&Change], source: &EditSource) -> Result<()> {
        let Some(record) = self.patch(fid)? else { return Ok(()) };
        let template = self.template().clone();
        let mut edits = Vec::new();
        let writer = self.audit_writer(now_utc());
        let key = (fid, record.key.as_str());
        for c in list {
            match c.field.as_str() {
                GEOM_FIELD => {
                    let g = c
                        .after
                        .as_deref()
                        .map(edit::from_wkt)
                        .transpose()
                        .map_err(|cause| StoreError::InvalidGeometry { key: record.key.clone(), cause })?;
                    self.conn
                        .execute(
                            "UPDATE patches SET verified_geom = ?1 WHERE fid = ?2",
                            params![g.as_ref().map(blob), fid],
                        )
                        .map_err(self.sq())?;
                }
                "review_flags" => {
                    self.conn
                        .execute("UPDATE patches SET review_flags = ?1 WHERE fid = ?2", params![c.after, fid])
                        .map_err(self.sq())?;
                }
                name => {
                    let Some(f) = template.field(name) else { continue };
                    let v = match &c.after {
                        Some(t) => tuban_model::Value::parse_for(f, t)
                            .map_err(|cause| StoreError::InvalidValue { name: f.name.clone(), cause })?,
                        None => tuban_model::Value::Null,
                    };
                    edits.push((f.name.clone(), v));
                    continue;
                }
            }
            writer
                .audit(&self.conn, key, &c.field, (c.before.as_deref(), c.after.as_deref()), &source.action())
                .map_err(self.sq())?;
        }
        if !edits.is_empty() {
            let plan = self.plan_values(&record, &edits, source);
            writer.write_values(&self.conn, &plan, source).map_err(self.sq())?;
        }
        Ok(())
    }

    /// A new conflict (none when the same one is already open: a package merged twice); with
    /// `from_package` the package attached as `pkg` tells the imagery their verdict was set on.
    pub(crate) fn record_conflict(
        &self,
        fid: i64,
        c: &Change,
        ours: Option<String>,
        (label, from_package): (&str, bool),
    ) -> Result<Option<Conflict>> {
        let open: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM tuban_conflicts WHERE item_uid = ?1 AND field = ?2 AND theirs IS ?3 AND resolved_at IS NULL",
                params![c.uid, c.field, c.after],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sq())?;
        if open.is_some() {
            return Ok(None);
        }
        let key = self.patch(fid)?.map(|r| r.key).unwrap_or_else(|| format!("#{fid}"));
        let imagery = |schema: &str| -> Result<Option<String>> {
            if c.field != self.template().roles().verdict || (schema == "pkg" && !from_package) {
                return Ok(None);
            }
            let sql = format!("SELECT verdict_imagery FROM {schema}.patches WHERE uid = ?1");
            let v: Option<Option<String>> =
                self.conn.query_row(&sql, [&c.uid], |r| r.get(0)).optional().map_err(self.sq())?;
            Ok(v.flatten())
        };
        let (ours_imagery, theirs_imagery) = (imagery("main")?, imagery("pkg")?);
        self.conn
            .execute(
                "INSERT INTO tuban_conflicts(item_kind, item_uid, label, field, base, ours, theirs, theirs_user, theirs_time, theirs_imagery, source, created_at) \
                 VALUES ('patch', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![c.uid, key, c.field, c.before, ours, c.after, c.user, c.time, theirs_imagery, label, now_utc()],
            )
            .map_err(self.sq())?;
        Ok(Some(Conflict {
            id: self.conn.last_insert_rowid(),
            key,
            field: c.field.clone(),
            base: c.before.clone(),
            ours,
            theirs: c.after.clone(),
            theirs_by: c.user.clone(),
            theirs_at: c.time.clone(),
            source: label.to_string(),
            ours_imagery,
            theirs_imagery,
        }))
    }

    /// A split or merge of 细斑 made in the package, replayed when the master's 细斑 of that patch
    /// are as they were before it; already there, or a conflict, otherwise.
    fn merge_structural(
        &self,
        parent_uid: &str,
        row: &AuditRow,
        info: &PackageInfo,
        receipt: &mut MergeReceipt,
    ) -> Result<()> {
        let (_, time, user, _, _, old, new) = row;
        let snaps = |t: &Option<String>| {
            t.as_deref().and_then(|t| serde_json::from_str::<Vec<Json>>(t).ok()).unwrap_or_default()
        };
        let (removed, added) = (snaps(old), snaps(new));
        let uid_of = |s: &Json| s.pointer("/cols/uid").and_then(Json::as_str).map(str::to_string);
        let Some(parent) = self.fid_of_uid(parent_uid)? else {
            receipt.missing += 1;
            return Ok(());
        };
        let children: HashSet<String> =
            self.subpatches_of(parent)?.iter().filter_map(|r| self.uid_of_fid(r.fid).ok().flatten()).collect();
        let removed_uids: HashSet<String> = removed.iter().filter_map(uid_of).collect();
        let added_uids: HashSet<String> = added.iter().filter_map(uid_of).collect();
        if children == added_uids && (!added_uids.is_empty() || removed_uids.iter().all(|u| !children.contains(u))) {
            receipt.already += 1;
            return Ok(());
        }
        if children != removed_uids {
            let describe = |set: &HashSet<String>| format!("{} 个细斑 / {} sub-patches", set.len(), set.len());
            let c = Change {
                uid: parent_uid.to_string(),
                field: ROWS_FIELD.into(),
                before: Some(describe(&removed_uids)),
                after: Some(describe(&added_uids)),
                user: user.clone(),
                time: time.clone(),
            };
            receipt.conflicts.extend(self.record_conflict(
                parent,
                &c,
                Some(describe(&children)),
                (&info.label, true),
            )?);
            return Ok(());
        }
        super::merge_rows::replace_children(&self.conn, parent, &removed, &added).map_err(self.sq())?;
        let key = self.patch(parent)?.map(|r| r.key).unwrap_or_default();
        let state = (!added.is_empty()).then_some("split");
        self.conn
            .execute("UPDATE patches SET split_state = ?1 WHERE fid = ?2", params![state, parent])
            .map_err(self.sq())?;
        let writer = self.audit_writer(now_utc());
        writer
            .audit(
                &self.conn,
                (parent, &key),
                ROWS_FIELD,
                (Some(&format!("{} removed", removed.len())), Some(&format!("{} added", added.len()))),
                "merge",
            )
            .map_err(self.sq())?;
        receipt.structural += 1;
        Ok(())
    }

    fn uid_of_fid(&self, fid: i64) -> Result<Option<String>> {
        self.conn.query_row("SELECT uid FROM patches WHERE fid = ?1", [fid], |r| r.get(0)).optional().map_err(self.sq())
    }

    fn record_merge(&self, info: &PackageInfo, source: &str, r: &MergeReceipt) -> rusqlite::Result<()> {
        let now = now_utc();
        self.conn.execute(
            "INSERT INTO tuban_merges(package_id, label, source_path, merged_at, user, audit_hwm, applied, skipped, conflicts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![info.package_id, info.label, source, now, self.user(), r.audit_hwm, (r.applied + r.structural + r.rows_added) as i64, r.already as i64, r.conflicts.len() as i64],
        )?;
        let text = format!(
            "{} {}: 应用 {} 项、细斑 {} 项、新增记录 {}，已存在 {}，缺行 {}，冲突 {} / applied {}, sub-patch steps {}, rows added {}, already there {}, missing {}, conflicts {}",
            info.label, info.package_id, r.applied, r.structural, r.rows_added, r.already, r.missing, r.conflicts.len(),
            r.applied, r.structural, r.rows_added, r.already, r.missing, r.conflicts.len()
        );
        self.conn.execute(
            "INSERT INTO tuban_audit(time, user, field, new_value, action) VALUES (?1, ?2, 'receipt', ?3, 'merge')",
            params![now, self.user(), text],
        )?;
        Ok(())
    }
}
