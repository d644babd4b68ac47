//! The verified extent of a patch and its 细斑: reshaping the extent, splitting a patch into
//! 细斑, merging them back, and replaying these for undo and redo.
//!
//! The issued geometry (`geom`) is never changed after an import: the verified extent is stored
//! beside it (`verified_geom`, NULL while it equals the issued one). A split keeps the issued
//! record (`split_state = 'split'`, left out of [`Project::patches`]) and adds one row per part
//! with `parent_fid` pointing at it, the issued fields copied, a 细斑号 of its own and a fresh
//! review. Each change is one transaction with its audit rows: `verified_geom` (WKT before and
//! after), `split_state`, and `subpatches` (the rows removed and the rows added, each as a full
//! snapshot), so undo and redo replay them from the log like field edits.

use geo::{Geometry, Polygon};
use rusqlite::{params, OptionalExtension};
use serde_json::Value as Json;

use super::rows::{delete_row, insert_child, replay_one, row_snapshot, ChildRow, Replay};

use super::patches::{EditOutcome, EditSource, PatchRecord};
use super::{now_utc, Project, Result, StoreError};
use tuban_model::geometry::edit::{self, GeometryError, SubpatchProblem, SUBPATCH_TOLERANCE_M2};
use tuban_model::geometry::{area_m2, gpkg};
use tuban_model::{FieldKind, Value};

/// Audit field of the verified extent (WKT before and after).
pub(crate) const GEOM_FIELD: &str = "verified_geom";
/// Audit field of a split or merge: row snapshots removed (old) and added (new), JSON.
pub(crate) const ROWS_FIELD: &str = "subpatches";
/// Audit field of the split mark of an issued record.
pub(crate) const SPLIT_FIELD: &str = "split_state";
const SPLIT: &str = "split";

/// True for the audit fields this module replays.
pub(crate) fn is_structural(field: &str) -> bool {
    matches!(field, GEOM_FIELD | ROWS_FIELD | SPLIT_FIELD)
}

/// A patch's issued geometry and its verified extent, when one was drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct Extent {
    /// As issued (or, for a 细斑, as split off).
    pub issued: Geometry,
    /// As verified; `None` while it equals the issued geometry.
    pub verified: Option<Geometry>,
}

impl Extent {
    /// The extent in force: the verified one, else the issued one.
    pub fn current(&self) -> &Geometry {
        self.verified.as_ref().unwrap_or(&self.issued)
    }
}

/// What a split made.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitOutcome {
    /// Key of the record split.
    pub parent_key: String,
    /// The 细斑: row id, key and ellipsoidal area in m², in the order of the parts given.
    pub subpatches: Vec<(i64, String, f64)>,
}

/// A nullable geometry blob as read from SQLite.
type Blob = Option<Vec<u8>>;

pub(crate) fn blob(g: &Geometry) -> Vec<u8> {
    gpkg::encode(g, super::schema::DISPLAY_SRS_ID)
}

fn geometry_error(key: &str) -> impl Fn(GeometryError) -> StoreError + '_ {
    move |cause| StoreError::InvalidGeometry { key: key.to_string(), cause }
}

impl Project {
    /// The issued geometry and the verified extent of a patch.
    pub fn extent(&self, fid: i64) -> Result<Option<Extent>> {
        // Cached: opening the window reads every patch's extent (100,000 patches opened in
        // 1.15 s with the statement prepared anew each time, 0.70 s cached).
        let row: Option<(Blob, Blob)> = self
            .conn
            .prepare_cached("SELECT geom, verified_geom FROM patches WHERE fid = ?1")
            .and_then(|mut st| st.query_row([fid], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(self.sq())?;
        let decode = |b: Option<Vec<u8>>| b.and_then(|b| gpkg::decode(&b).ok()).map(|(_, g)| g);
        Ok(row.and_then(|(g, v)| decode(g).map(|issued| Extent { issued, verified: decode(v) })))
    }

    /// The issued record at the top of a 细斑's line (the record itself when it has no parent).
    pub fn issued_record(&self, record: &PatchRecord) -> Result<PatchRecord> {
        let mut r = record.clone();
        while let Some(parent) = r.parent_fid {
            match self.patch(parent)? {
                Some(p) => r = p,
                None => break,
            }
        }
        Ok(r)
    }

    /// Checks an extent for `record` (valid; within the issued patch where the template says so).
    fn check_extent(&self, record: &PatchRecord, g: &Geometry) -> Result<()> {
        edit::check(g).map_err(geometry_error(&record.key))?;
        if self.template().spec.geometry.verified_within_issued {
            let root = self.issued_record(record)?;
            if let Some(issued) = self.extent(root.fid)?.map(|e| e.issued) {
                edit::check_within(g, &issued, SUBPATCH_TOLERANCE_M2).map_err(geometry_error(&record.key))?;
            }
        }
        Ok(())
    }

    /// The verified-area edit that follows a new extent: the template's verified area takes the
    /// new ellipsoidal area unless the analyst typed a value other than the old extent's area.
    fn verified_area_edit(&self, record: &PatchRecord, old_m2: f64, new_m2: f64) -> Option<(String, Value)> {
        let t = self.template();
        let name = t.roles().verified_area.as_deref()?;
        let field = t.field(name)?;
        let FieldKind::Decimal { unit: Some(unit), decimals } = &field.kind else { return None };
        let factor = unit.m2_factor()?;
        let scale = 10f64.powi(i32::from(*decimals));
        let round = |m2: f64| (m2 / factor * scale).round() / scale;
        let typed = match record.value(t, name) {
            Some(Value::Real(v)) => (v - round(old_m2)).abs() > 0.5 / scale + 1e-9,
            Some(Value::Int(v)) => (*v as f64 - round(old_m2)).abs() > 0.5 / scale + 1e-9,
            _ => false,
        };
        (!typed).then(|| (field.name.clone(), Value::Real(round(new_m2))))
    }

    /// Sets the verified extent of a patch (reshaped or redrawn); an extent equal to the issued
    /// geometry clears it. Refused while sealed and for an invalid geometry, with the reason.
    pub fn set_extent(&mut self, fid: i64, g: &Geometry) -> Result<EditOutcome> {
        self.require_unsealed()?;
        let record = self.require_live(fid)?;
        self.check_extent(&record, g)?;
        let extent = self.extent(fid)?.ok_or_else(|| StoreError::InvalidGeometry {
            key: record.key.clone(),
            cause: GeometryError::NotAPolygon,
        })?;
        let new = (g != &extent.issued).then(|| g.clone());
        if new == extent.verified {
            return Ok(EditOutcome { changed: vec![], status: record.status, problems: self.problems(&record) });
        }
        let area_edit = self.verified_area_edit(&record, area_m2(extent.current()), area_m2(g));
        let plan = self.plan_values(&record, &area_edit.into_iter().collect::<Vec<_>>(), &EditSource::User);
        let writer = self.audit_writer(now_utc());
        let (old_wkt, new_wkt) = (extent.verified.as_ref().map(edit::to_wkt), new.as_ref().map(edit::to_wkt));
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.transaction().map_err(sq)?;
        tx.execute("UPDATE patches SET verified_geom = ?1 WHERE fid = ?2", params![new.as_ref().map(blob), fid])
            .map_err(sq)?;
        writer
            .audit(&tx, (fid, &record.key), GEOM_FIELD, (old_wkt.as_deref(), new_wkt.as_deref()), "edit")
            .map_err(sq)?;
        writer.write_values(&tx, &plan, &EditSource::User).map_err(sq)?;
        super::failpoint::hit("extent.before_commit", &tx);
        tx.commit().map_err(sq)?;
        Ok(self.outcome_of(fid, plan.changed))
    }

    fn outcome_of(&self, fid: i64, changed: Vec<(usize, Value, Value)>) -> EditOutcome {
        let t = self.template();
        let record = self.patch(fid).ok().flatten();
        EditOutcome {
            changed: changed.into_iter().map(|(i, o, n)| (t.fields()[i].name.clone(), o, n)).collect(),
            status: record.as_ref().map_or(tuban_model::ReviewStatus::Unreviewed, |r| r.status),
            problems: record.map(|r| self.problems(&r)).unwrap_or_default(),
        }
    }

    /// The 细斑号 of the `n` new parts of `record`: `1`, `2`… (or `X-1`, `X-2`… under a 细斑 `X`),
    /// skipping numbers another row of the same patch id already uses.
    fn next_sub_ids(&self, record: &PatchRecord, n: usize) -> Result<Vec<String>> {
        let t = self.template();
        let roles = t.roles();
        let Some(sub_field) = roles.sub_id.as_deref() else {
            return Err(StoreError::Subpatch {
                detail: format!("{}: 模板没有细斑号字段（roles.sub_id），不能拆分 / the template has no sub-patch id field (roles.sub_id): cannot split", record.key),
            });
        };
        let id = record.value(t, &roles.id).map(|v| v.to_string()).unwrap_or_default();
        let own = record.value(t, sub_field).map(|v| v.to_string()).unwrap_or_default();
        let mut st = self
            .conn
            .prepare(&format!("SELECT \"{sub_field}\" FROM patches WHERE \"{}\" = ?1", roles.id))
            .map_err(self.sq())?;
        let used: std::collections::HashSet<String> = st
            .query_map([&id], |r| r.get::<_, Option<String>>(0))
            .map_err(self.sq())?
            .filter_map(|r| r.ok().flatten())
            .collect();
        let prefix = if own.trim().is_empty() { String::new() } else { format!("{}-", own.trim()) };
        Ok((1..).map(|k| format!("{prefix}{k}")).filter(|s| !used.contains(s)).take(n).collect())
    }

    /// Splits a patch into 细斑, one per part (each checked like an extent). The record stays as
    /// the issued record; each 细斑 copies its issued fields, gets its own 细斑号, area and a fresh
    /// review, its verified area set from its part. One transaction, one undo step.
    pub fn split(&mut self, fid: i64, parts: &[Polygon]) -> Result<SplitOutcome> {
        self.require_unsealed()?;
        let record = self.require_live(fid)?;
        if parts.len() < 2 {
            return Err(StoreError::InvalidGeometry { key: record.key, cause: GeometryError::LineMissesPatch });
        }
        for p in parts {
            self.check_extent(&record, &Geometry::Polygon(p.clone()))?;
        }
        let subs = self.next_sub_ids(&record, parts.len())?;
        let children: Vec<ChildRow> = parts
            .iter()
            .zip(&subs)
            .map(|(p, sub)| self.child_row(&record, Geometry::Polygon(p.clone()), sub))
            .collect();
        let writer = self.audit_writer(now_utc());
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.transaction().map_err(sq)?;
        let mut made = Vec::new();
        let mut snapshots = Vec::new();
        for child in &children {
            let child_fid = insert_child(&tx, fid, child, &writer.now).map_err(sq)?;
            snapshots.push(row_snapshot(&tx, child_fid).map_err(sq)?);
            writer.audit(&tx, (child_fid, &child.key), "split_from", (None, Some(&record.key)), "split").map_err(sq)?;
            made.push((child_fid, child.key.clone(), area_m2(&child.geom)));
        }
        tx.execute(
            "UPDATE patches SET split_state = ?1, updated_at = ?2 WHERE fid = ?3",
            params![SPLIT, writer.now, fid],
        )
        .map_err(sq)?;
        let key = (fid, record.key.as_str());
        writer.audit(&tx, key, SPLIT_FIELD, (None, Some(SPLIT)), "edit").map_err(sq)?;
        let added = Json::Array(snapshots).to_string();
        writer.audit(&tx, key, ROWS_FIELD, (Some("[]"), Some(&added)), "edit").map_err(sq)?;
        super::failpoint::hit("split.before_commit", &tx);
        tx.commit().map_err(sq)?;
        Ok(SplitOutcome { parent_key: record.key, subpatches: made })
    }

    /// The values of a new 细斑 of `record`: issued fields copied, the rest empty but for the
    /// 细斑号, the verified area and computed fields.
    fn child_row(&self, record: &PatchRecord, geom: Geometry, sub: &str) -> ChildRow {
        let t = self.template();
        let roles = t.roles();
        let mut values: Vec<Value> = t
            .fields()
            .iter()
            .zip(&record.values)
            .map(|(f, v)| if f.issued { v.clone() } else { Value::Null })
            .collect();
        let set = |values: &mut Vec<Value>, name: Option<&str>, v: Value| {
            if let Some(i) = name.and_then(|n| t.fields().iter().position(|f| f.name == n)) {
                values[i] = v;
            }
        };
        set(&mut values, roles.sub_id.as_deref(), Value::Text(sub.to_string()));
        if let Some((name, v)) =
            self.verified_area_edit(&PatchRecord { values: values.clone(), ..record.clone() }, 0.0, area_m2(&geom))
        {
            set(&mut values, Some(&name), v);
        }
        t.apply_computed(&mut values);
        let id = record.value(t, &roles.id).map(|v| v.to_string()).unwrap_or_default();
        ChildRow { key: super::patches::make_key(&id, sub), geom, values, columns: self.field_columns.clone() }
    }

    /// Merges the 细斑 of a patch back into it (given the patch or one of its 细斑): the 细斑 are
    /// removed (kept in the audit log), their photos and comments move to the patch, and its
    /// verified extent becomes their union. Refused while a 细斑 belongs to a case.
    pub fn merge_subpatches(&mut self, fid: i64) -> Result<EditOutcome> {
        self.require_unsealed()?;
        let mut record = self
            .patch(fid)?
            .ok_or_else(|| StoreError::NoSuchPatch { path: self.path_str(), key: format!("#{fid}") })?;
        if !record.split {
            match record.parent_fid.and_then(|p| self.patch(p).ok().flatten()) {
                Some(parent) => record = parent,
                None => {
                    return Err(StoreError::Subpatch {
                        detail: format!(
                            "{}: 没有在 tuban 中拆分出的细斑，无需合并 / has no sub-patches split in tuban to merge",
                            record.key
                        ),
                    })
                }
            }
        }
        let fid = record.fid;
        let descendants = self.descendants(fid)?;
        if let Some((key, case)) = self.case_of_any(&descendants)? {
            return Err(StoreError::Subpatch {
                detail: format!("细斑 {key} 属于案件 {case}，请先将其移出案件再合并 / sub-patch {key} belongs to case {case}: take it out of the case before merging"),
            });
        }
        let leaves: Vec<Geometry> = descendants
            .iter()
            .filter(|r| !r.split)
            .filter_map(|r| self.extent(r.fid).ok().flatten().map(|e| e.current().clone()))
            .collect();
        let extent = self.extent(fid)?.ok_or_else(|| StoreError::InvalidGeometry {
            key: record.key.clone(),
            cause: GeometryError::NotAPolygon,
        })?;
        let union = edit::union(&leaves).map_err(geometry_error(&record.key))?;
        let same = edit::outside_m2(&union, &extent.issued).unwrap_or(f64::MAX) <= SUBPATCH_TOLERANCE_M2
            && edit::outside_m2(&extent.issued, &union).unwrap_or(f64::MAX) <= SUBPATCH_TOLERANCE_M2;
        let new_verified = (!same).then_some(union);
        let area_edit = self.verified_area_edit(
            &record,
            area_m2(extent.current()),
            area_m2(new_verified.as_ref().unwrap_or(&extent.issued)),
        );
        let plan = self.plan_values(&record, &area_edit.into_iter().collect::<Vec<_>>(), &EditSource::User);
        let writer = self.audit_writer(now_utc());
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.transaction().map_err(sq)?;
        let mut removed = Vec::new();
        for d in &descendants {
            removed.push(row_snapshot(&tx, d.fid).map_err(sq)?);
            delete_row(&tx, d.fid, fid).map_err(sq)?;
        }
        tx.execute(
            "UPDATE patches SET split_state = NULL, verified_geom = ?1 WHERE fid = ?2",
            params![new_verified.as_ref().map(blob), fid],
        )
        .map_err(sq)?;
        let key = (fid, record.key.as_str());
        writer.audit(&tx, key, SPLIT_FIELD, (Some(SPLIT), None), "edit").map_err(sq)?;
        let removed = Json::Array(removed).to_string();
        writer.audit(&tx, key, ROWS_FIELD, (Some(&removed), Some("[]")), "edit").map_err(sq)?;
        if new_verified != extent.verified {
            let (o, n) = (extent.verified.as_ref().map(edit::to_wkt), new_verified.as_ref().map(edit::to_wkt));
            writer.audit(&tx, key, GEOM_FIELD, (o.as_deref(), n.as_deref()), "edit").map_err(sq)?;
        }
        writer.write_values(&tx, &plan, &EditSource::User).map_err(sq)?;
        super::failpoint::hit("merge_subpatches.before_commit", &tx);
        tx.commit().map_err(sq)?;
        Ok(self.outcome_of(fid, plan.changed))
    }

    /// Every row split from `fid`, at any depth, children before their own children.
    fn descendants(&self, fid: i64) -> Result<Vec<PatchRecord>> {
        let mut out = Vec::new();
        let mut frontier = vec![fid];
        while let Some(f) = frontier.pop() {
            let mut st =
                self.conn.prepare("SELECT fid FROM patches WHERE parent_fid = ?1 ORDER BY fid").map_err(self.sq())?;
            let kids: Vec<i64> = st
                .query_map([f], |r| r.get(0))
                .map_err(self.sq())?
                .collect::<rusqlite::Result<_>>()
                .map_err(self.sq())?;
            for k in kids {
                if let Some(r) = self.patch(k)? {
                    out.push(r);
                    frontier.push(k);
                }
            }
        }
        Ok(out)
    }

    fn case_of_any(&self, records: &[PatchRecord]) -> Result<Option<(String, String)>> {
        for r in records {
            let case: Option<String> = self
                .conn
                .query_row(
                    "SELECT c.number FROM tuban_case_patches cp JOIN tuban_cases c ON c.id = cp.case_id WHERE cp.patch_fid = ?1",
                    [r.fid],
                    |row| row.get(0),
                )
                .optional()
                .map_err(self.sq())?;
            if let Some(c) = case {
                return Ok(Some((r.key.clone(), c)));
            }
        }
        Ok(None)
    }

    /// What is wrong with the 细斑 of a split patch: overlaps between them and area of the patch
    /// in none, beyond 0.01 亩.
    pub fn subpatch_problems(&self, fid: i64) -> Result<Vec<String>> {
        let Some(extent) = self.extent(fid)? else { return Ok(vec![]) };
        let leaves: Vec<(String, Geometry)> = self
            .descendants(fid)?
            .into_iter()
            .filter(|r| !r.split)
            .filter_map(|r| self.extent(r.fid).ok().flatten().map(|e| (r.key, e.current().clone())))
            .collect();
        if leaves.is_empty() {
            return Ok(vec![]);
        }
        let geoms: Vec<Geometry> = leaves.iter().map(|(_, g)| g.clone()).collect();
        let problems = edit::subpatch_problems(extent.current(), &geoms, SUBPATCH_TOLERANCE_M2).unwrap_or_default();
        Ok(problems
            .into_iter()
            .map(|p| match p {
                SubpatchProblem::Overlap { a, b, area_m2 } => format!(
                    "细斑 {} 与 {} 重叠 {:.2} 平方米 / sub-patches {} and {} overlap by {:.2} m²",
                    leaves[a].0, leaves[b].0, area_m2, leaves[a].0, leaves[b].0, area_m2
                ),
                SubpatchProblem::Uncovered { area_m2 } => format!(
                    "{} 有 {:.2} 平方米不在任何细斑内 / {:.2} m² of the patch lie in no sub-patch",
                    self.patch(fid).ok().flatten().map(|r| r.key).unwrap_or_default(),
                    area_m2,
                    area_m2
                ),
            })
            .collect())
    }

    /// Replays a split, merge or extent change from the audit log (undo: `backwards`).
    pub(crate) fn replay_structural(
        &mut self,
        fid: i64,
        changes: &[(String, Option<String>, Option<String>)],
        backwards: bool,
    ) -> Result<EditOutcome> {
        self.require_unsealed()?;
        let record = self
            .patch(fid)?
            .ok_or_else(|| StoreError::NoSuchPatch { path: self.path_str(), key: format!("#{fid}") })?;
        let source = if backwards { EditSource::Undo } else { EditSource::Redo };
        let template = self.template().clone();
        let mut edits = Vec::new();
        for (field, old, new) in changes.iter().filter(|(f, _, _)| !is_structural(f)) {
            let Some(f) = template.field(field) else { continue };
            let text = if backwards { old } else { new };
            let value = match text {
                Some(t) => {
                    Value::parse_for(f, t).map_err(|cause| StoreError::InvalidValue { name: f.name.clone(), cause })?
                }
                None => Value::Null,
            };
            edits.push((f.name.clone(), value));
        }
        let plan = self.plan_values(&record, &edits, &source);
        let writer = self.audit_writer(now_utc());
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.transaction().map_err(sq)?;
        for (field, old, new) in changes.iter().filter(|(f, _, _)| is_structural(f)) {
            let (from, to) = if backwards { (new, old) } else { (old, new) };
            replay_one(&tx, fid, field, from.as_deref(), to.as_deref()).map_err(|e| match e {
                Replay::Sql(cause) => StoreError::Sqlite { path: path.clone(), cause },
                Replay::Changed(key) => StoreError::Subpatch {
                    detail: format!("细斑 {key} 拆分后又被修改，不能撤销；请用“合并细斑” / sub-patch {key} was changed after the split and cannot be undone: merge the sub-patches instead"),
                },
            })?;
            writer
                .audit(&tx, (fid, &record.key), field, (from.as_deref(), to.as_deref()), &source.action())
                .map_err(sq)?;
        }
        writer.write_values(&tx, &plan, &source).map_err(sq)?;
        tx.commit().map_err(sq)?;
        Ok(self.outcome_of(fid, plan.changed))
    }
}
