//! Reading patches and editing their fields; every edit is one transaction with audit rows.

use std::collections::BTreeMap;

use geo::Geometry;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{params_from_iter, OptionalExtension};

use super::{now_utc, Project, Result, StoreError};
use tuban_model::geometry::gpkg;
use tuban_model::value::parse_date;
use tuban_model::{Field, FieldKind, Problem, ReviewStatus, Template, Value};

/// One patch as stored: identity, derived figures and the values of every template field.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRecord {
    /// Row id in `patches`.
    pub fid: i64,
    /// Patch id, with `-sub` when a sub-patch id is set (e.g. `150999SJBG2025000001-1`).
    pub key: String,
    /// Review status.
    pub status: ReviewStatus,
    /// Ellipsoidal area in m².
    pub area_m2: f64,
    /// Centre (lon, lat) in CGCS2000.
    pub center_lonlat: Option<(f64, f64)>,
    /// The import batch that delivered it.
    pub batch_id: Option<i64>,
    /// Problems found at import (invalid ring, duplicate id, ...).
    pub import_issues: Vec<String>,
    /// Source attributes with no template field, kept read-only.
    pub extra: BTreeMap<String, String>,
    /// Values aligned with [`Template::fields`].
    pub values: Vec<Value>,
    /// The patch this 细斑 was split from (its issued record), for 细斑 made in tuban.
    pub parent_fid: Option<i64>,
    /// This record was split into 细斑: it stays as the issued record and the 细斑 are delivered
    /// in its place. [`Project::patches`] leaves such records out.
    pub split: bool,
}

impl PatchRecord {
    /// The value of a field by name.
    pub fn value<'a>(&'a self, template: &Template, name: &str) -> Option<&'a Value> {
        template.fields().iter().position(|f| f.name == name).and_then(|i| self.values.get(i))
    }
}

/// Who or what made an edit; recorded in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditSource {
    /// The analyst (form, key press, `tuban set`).
    User,
    /// Undo of an earlier edit.
    Undo,
    /// Redo of an undone edit.
    Redo,
    /// A change brought in from a work package (not an undo step of this project's user).
    Merge,
    /// A conflict resolved by choosing a value.
    Resolve,
    /// A change another client made, pulled from the team hub (never pushed back).
    Hub,
    /// A value filled from reference layers (their names); not on the analyst's undo stack.
    Reference(String),
}

impl EditSource {
    pub(crate) fn action(&self) -> std::borrow::Cow<'static, str> {
        match self {
            EditSource::User => "edit".into(),
            EditSource::Undo => "undo".into(),
            EditSource::Redo => "redo".into(),
            EditSource::Merge => "merge".into(),
            EditSource::Resolve => "resolve".into(),
            EditSource::Hub => "hub".into(),
            EditSource::Reference(layers) => format!("reference:{layers}").into(),
        }
    }
}

/// What an edit changed.
#[derive(Debug, Clone, PartialEq)]
pub struct EditOutcome {
    /// (field, old, new) for every field that changed, computed fields included.
    pub changed: Vec<(String, Value, Value)>,
    /// The status after the edit.
    pub status: ReviewStatus,
    /// The problems after the edit.
    pub problems: Vec<Problem>,
}

/// The changes one edit makes to one patch, before they are written.
#[derive(Debug, Clone)]
pub(crate) struct ValuePlan {
    pub fid: i64,
    pub key: String,
    /// (field index, old, new).
    pub changed: Vec<(usize, Value, Value)>,
    pub status: ReviewStatus,
    pub problems: Vec<Problem>,
}

impl ValuePlan {
    pub(crate) fn outcome(self, template: &Template) -> EditOutcome {
        EditOutcome {
            changed: self.changed.into_iter().map(|(i, o, n)| (template.fields()[i].name.clone(), o, n)).collect(),
            status: self.status,
            problems: self.problems,
        }
    }
}

/// Writes planned values and their audit rows inside a caller's transaction.
pub(crate) struct AuditWriter {
    pub now: String,
    pub user: String,
    context: Option<String>,
    template: Template,
}

impl AuditWriter {
    /// One audit row.
    pub fn audit(
        &self,
        tx: &rusqlite::Connection,
        (fid, key): (i64, &str),
        field: &str,
        (old, new): (Option<&str>, Option<&str>),
        action: &str,
    ) -> rusqlite::Result<()> {
        tx.prepare_cached("INSERT INTO tuban_audit(time, user, patch_fid, patch_key, field, old_value, new_value, action) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?
            .execute(rusqlite::params![self.now, self.user, fid, key, field, old, new, action])?;
        Ok(())
    }

    /// The values, status and time of `plan`, with one audit row per changed field.
    pub fn write_values(
        &self,
        tx: &rusqlite::Connection,
        plan: &ValuePlan,
        source: &EditSource,
    ) -> rusqlite::Result<()> {
        let template = &self.template;
        let mut sets = vec!["review_status = ?1".to_string(), "updated_at = ?2".to_string()];
        let mut params: Vec<SqlValue> =
            vec![SqlValue::Text(plan.status.as_str().into()), SqlValue::Text(self.now.clone())];
        for (i, _, new) in &plan.changed {
            params.push(to_sql(new));
            sets.push(format!("\"{}\" = ?{}", template.fields()[*i].name, params.len()));
        }
        let verdict_changed =
            plan.changed.iter().any(|(i, _, _)| template.fields()[*i].name == template.roles().verdict);
        if let (true, Some(context)) = (verdict_changed, &self.context) {
            params.push(SqlValue::Text(context.to_string()));
            sets.push(format!("verdict_imagery = ?{}", params.len()));
        }
        params.push(SqlValue::Integer(plan.fid));
        // Cached: a batch of fills or a merge writes the same columns row after row.
        let sql = format!("UPDATE patches SET {} WHERE fid = ?{}", sets.join(", "), params.len());
        tx.prepare_cached(&sql)?.execute(params_from_iter(params))?;
        super::failpoint::hit("edit.after_values", tx);
        for (i, old, new) in &plan.changed {
            let f = &template.fields()[*i];
            let action = if f.compute.is_some() { "computed".into() } else { source.action() };
            let (old, new) = (audit_text(old), audit_text(new));
            self.audit(tx, (plan.fid, &plan.key), &f.name, (old.as_deref(), new.as_deref()), &action)?;
        }
        Ok(())
    }
}

/// Converts a stored SQL value into a field value of `field`.
pub(crate) fn from_sql(field: &Field, v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => match field.kind {
            FieldKind::Boolean => Value::Bool(i != 0),
            FieldKind::Decimal { .. } => Value::Real(i as f64),
            FieldKind::Text { .. } | FieldKind::Code { .. } | FieldKind::Date => Value::Text(i.to_string()),
            FieldKind::Integer => Value::Int(i),
        },
        ValueRef::Real(r) => match field.kind {
            FieldKind::Integer if r.fract() == 0.0 => Value::Int(r as i64),
            FieldKind::Text { .. } | FieldKind::Code { .. } => Value::Text(tuban_model::value::format_decimal(r)),
            _ => Value::Real(r),
        },
        ValueRef::Text(t) => {
            let s = String::from_utf8_lossy(t).to_string();
            match field.kind {
                FieldKind::Date => parse_date(&s).map(Value::Date).unwrap_or(Value::Text(s)),
                FieldKind::Boolean => tuban_model::value::parse_bool(&s).map(Value::Bool).unwrap_or(Value::Text(s)),
                FieldKind::Decimal { .. } | FieldKind::Integer => Value::parse_for(field, &s).unwrap_or(Value::Text(s)),
                _ if s.is_empty() => Value::Null,
                _ => Value::Text(s),
            }
        }
        ValueRef::Blob(_) => Value::Null,
    }
}

/// Converts a field value into its SQL form.
pub(crate) fn to_sql(v: &Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Text(s) => SqlValue::Text(s.clone()),
        Value::Int(i) => SqlValue::Integer(*i),
        Value::Real(r) => SqlValue::Real(*r),
        Value::Date(d) => SqlValue::Text(d.format("%Y-%m-%d").to_string()),
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
    }
}

/// The audit-log text of a value (NULL when empty).
pub(crate) fn audit_text(v: &Value) -> Option<String> {
    if v.is_empty() {
        None
    } else {
        Some(v.to_string())
    }
}

/// Index of the first template field in [`Project::select_columns`].
const FIRST_FIELD_COLUMN: usize = 10;

/// `id` or `id-sub`.
pub(crate) fn make_key(id: &str, sub: &str) -> String {
    if sub.trim().is_empty() {
        id.to_string()
    } else {
        format!("{id}-{sub}")
    }
}

impl Project {
    fn select_columns(&self) -> String {
        let mut s = String::from(
            "fid, review_status, area_m2, center_lon, center_lat, batch_id, import_issues, extra_attrs, parent_fid, split_state",
        );
        for c in &self.field_columns {
            s.push_str(&format!(", \"{c}\""));
        }
        s
    }

    fn record_from_row(&self, row: &rusqlite::Row<'_>) -> rusqlite::Result<PatchRecord> {
        let fields = self.template().fields();
        let mut values = Vec::with_capacity(fields.len());
        for (i, f) in fields.iter().enumerate() {
            values.push(from_sql(f, row.get_ref(FIRST_FIELD_COLUMN + i)?));
        }
        let roles = self.template().roles();
        let id_idx = fields.iter().position(|f| f.name == roles.id);
        let sub_idx = roles.sub_id.as_ref().and_then(|s| fields.iter().position(|f| &f.name == s));
        let id = id_idx.and_then(|i| values.get(i)).map(|v| v.to_string()).unwrap_or_default();
        let sub = sub_idx.and_then(|i| values.get(i)).map(|v| v.to_string()).unwrap_or_default();
        let fid: i64 = row.get(0)?;
        let key = if id.is_empty() { format!("#{fid}") } else { make_key(&id, &sub) };
        let lon: Option<f64> = row.get(3)?;
        let lat: Option<f64> = row.get(4)?;
        let issues: Option<String> = row.get(6)?;
        let extra: Option<String> = row.get(7)?;
        Ok(PatchRecord {
            fid,
            key,
            status: ReviewStatus::parse(&row.get::<_, String>(1)?).unwrap_or(ReviewStatus::Unreviewed),
            area_m2: row.get::<_, Option<f64>>(2)?.unwrap_or(0.0),
            center_lonlat: lon.zip(lat),
            batch_id: row.get(5)?,
            import_issues: issues
                .map(|s| s.split('\n').filter(|l| !l.is_empty()).map(str::to_string).collect())
                .unwrap_or_default(),
            extra: extra.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default(),
            values,
            parent_fid: row.get(8)?,
            split: row.get::<_, Option<String>>(9)?.is_some(),
        })
    }

    /// Every patch under review in row order: the issued patches and their 细斑, without the
    /// issued records that were split (their 细斑 stand in their place).
    pub fn patches(&self) -> Result<Vec<PatchRecord>> {
        self.patches_where("split_state IS NULL")
    }

    /// Row ids of the patches under review, ascending (as [`Self::patches`] lists them): a cheap
    /// check of which rows a split, merge, undo or redo added or removed.
    pub fn live_fids(&self) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT fid FROM patches WHERE split_state IS NULL ORDER BY fid")
            .map_err(self.sq())?;
        let rows = st.query_map([], |r| r.get(0)).map_err(self.sq())?;
        rows.collect::<rusqlite::Result<Vec<i64>>>().map_err(self.sq())
    }

    /// Every record, the split issued records included (what a seal covers).
    pub(crate) fn patches_with_split(&self) -> Result<Vec<PatchRecord>> {
        self.patches_where("1 = 1")
    }

    /// The 细斑 split from `fid` (its children, not their children), in row order.
    pub fn subpatches_of(&self, fid: i64) -> Result<Vec<PatchRecord>> {
        self.patches_where(&format!("parent_fid = {fid}"))
    }

    pub(crate) fn patches_where(&self, condition: &str) -> Result<Vec<PatchRecord>> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {} FROM patches WHERE {condition} ORDER BY fid", self.select_columns()))
            .map_err(self.sq())?;
        let rows = st.query_map([], |r| self.record_from_row(r)).map_err(self.sq())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sq())
    }

    /// One patch by row id.
    pub fn patch(&self, fid: i64) -> Result<Option<PatchRecord>> {
        self.conn
            .query_row(&format!("SELECT {} FROM patches WHERE fid = ?1", self.select_columns()), [fid], |r| {
                self.record_from_row(r)
            })
            .optional()
            .map_err(self.sq())
    }

    /// Number of patches under review (split issued records left out, as in [`Self::patches`]).
    pub fn patch_count(&self) -> Result<usize> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM patches WHERE split_state IS NULL", [], |r| r.get(0))
            .map_err(self.sq())?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// The row id of the patch with this key (as [`find_patch`](Self::find_patch) reads it), or
    /// [`StoreError::NoSuchPatch`] naming the project and the key.
    pub fn require_patch(&self, key: &str) -> Result<i64> {
        self.find_patch(key)?
            .ok_or_else(|| StoreError::NoSuchPatch { path: self.path_str(), key: key.trim().to_string() })
    }

    /// Finds a patch by key: `ID`, `ID-SUB`, or `#FID`.
    pub fn find_patch(&self, key: &str) -> Result<Option<i64>> {
        let key = key.trim();
        if let Some(fid) = key.strip_prefix('#').and_then(|n| n.parse::<i64>().ok()) {
            return Ok(self.patch(fid)?.map(|p| p.fid));
        }
        let roles = self.template().roles();
        let id = &roles.id;
        let found = |id_value: &str, sub: Option<&str>| -> Result<Option<i64>> {
            let (sql, params): (String, Vec<String>) = match (sub, &roles.sub_id) {
                (Some(sub), Some(sub_col)) => (format!("SELECT fid FROM patches WHERE \"{id}\" = ?1 AND \"{sub_col}\" = ?2 ORDER BY fid LIMIT 1"), vec![id_value.into(), sub.into()]),
                (None, Some(sub_col)) => (format!("SELECT fid FROM patches WHERE \"{id}\" = ?1 ORDER BY (\"{sub_col}\" IS NOT NULL AND \"{sub_col}\" != ''), fid LIMIT 1"), vec![id_value.into()]),
                _ => (format!("SELECT fid FROM patches WHERE \"{id}\" = ?1 ORDER BY fid LIMIT 1"), vec![id_value.into()]),
            };
            self.conn.query_row(&sql, params_from_iter(params), |r| r.get(0)).optional().map_err(self.sq())
        };
        if let Some(fid) = found(key, None)? {
            return Ok(Some(fid));
        }
        // `ID-SUB`: a 细斑 split again has a 细斑号 with a dash of its own (`ID-2-1`).
        for (id_value, sub) in key.split_once('-').into_iter().chain(key.rsplit_once('-')) {
            if let Some(fid) = found(id_value, Some(sub))? {
                return Ok(Some(fid));
            }
        }
        Ok(None)
    }

    /// The display geometry (CGCS2000 lon/lat) of a patch.
    pub fn patch_geometry(&self, fid: i64) -> Result<Option<Geometry>> {
        let blob: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT geom FROM patches WHERE fid = ?1", [fid], |r| r.get(0))
            .optional()
            .map_err(self.sq())?
            .flatten();
        Ok(blob.and_then(|b| gpkg::decode(&b).ok()).map(|(_, g)| g))
    }

    /// The geometry as delivered, with the SRS id of its CRS in `gpkg_spatial_ref_sys`.
    /// An error names the patch when the stored geometry cannot be rebuilt.
    pub fn source_geometry(&self, fid: i64) -> Result<Option<(i32, Geometry)>> {
        let Some((srs_id, blob)) = self.source_blob(fid)? else { return Ok(None) };
        let (_, g) = gpkg::decode(&blob).map_err(|e| StoreError::Delivered {
            path: self.path_str(),
            fid,
            cause: tuban_model::geometry::delivered::DeliveredError::Blob(e),
        })?;
        Ok(Some((srs_id, g)))
    }

    /// Problems of a patch (template rules plus import issues are separate: see [`PatchRecord::import_issues`]).
    pub fn problems(&self, record: &PatchRecord) -> Vec<Problem> {
        self.template().validate(&record.values)
    }

    /// Sets fields of one patch from typed text, as the analyst does; one transaction.
    pub fn set_text(&mut self, fid: i64, edits: &[(&str, &str)]) -> Result<EditOutcome> {
        let mut parsed = Vec::with_capacity(edits.len());
        for (name, text) in edits {
            let field =
                self.template().field(name).ok_or_else(|| StoreError::NoSuchField { name: name.to_string() })?;
            let value = Value::parse_for(field, text)
                .map_err(|source| StoreError::InvalidValue { name: field.name.clone(), cause: source })?;
            parsed.push((field.name.clone(), value));
        }
        self.set_values(fid, &parsed, EditSource::User)
    }

    /// Sets fields of one patch; refuses issued and computed fields. One transaction: the values,
    /// recomputed fields, the new status and one audit row per changed field.
    pub fn set_values(&mut self, fid: i64, edits: &[(String, Value)], source: EditSource) -> Result<EditOutcome> {
        self.require_unsealed()?;
        for (name, _) in edits {
            let field = self.template().field(name).ok_or_else(|| StoreError::NoSuchField { name: name.clone() })?;
            if field.is_read_only() {
                return Err(StoreError::FieldReadOnly { name: field.name.clone() });
            }
        }
        let record = self.require_live(fid)?;
        let plan = self.plan_values(&record, edits, &source);
        if plan.changed.is_empty() && plan.status == record.status {
            return Ok(plan.outcome(self.template()));
        }
        let now = now_utc();
        let writer = self.audit_writer(now);
        let path = self.path_str();
        let sq = |source| StoreError::Sqlite { path: path.clone(), cause: source };
        let tx = self.conn.transaction().map_err(sq)?;
        writer.write_values(&tx, &plan, &source).map_err(sq)?;
        super::failpoint::hit("edit.before_commit", &tx);
        tx.commit().map_err(sq)?;
        Ok(plan.outcome(self.template()))
    }

    /// The record of `fid`, refused when it does not exist or was split into 细斑 (edit those).
    pub(crate) fn require_live(&self, fid: i64) -> Result<PatchRecord> {
        let record = self
            .patch(fid)?
            .ok_or_else(|| StoreError::NoSuchPatch { path: self.path_str(), key: format!("#{fid}") })?;
        if record.split {
            let subs: Vec<String> = self.subpatches_of(fid)?.into_iter().map(|r| r.key).collect();
            return Err(StoreError::SplitRecord { key: record.key, subpatches: subs.join("、") });
        }
        Ok(record)
    }

    /// What setting `edits` on `record` changes: values, computed fields, status and problems.
    pub(crate) fn plan_values(
        &self,
        record: &PatchRecord,
        edits: &[(String, Value)],
        source: &EditSource,
    ) -> ValuePlan {
        let template = self.template();
        let mut values = record.values.clone();
        for (name, value) in edits {
            if let Some(i) = template.fields().iter().position(|f| f.name.eq_ignore_ascii_case(name)) {
                values[i] = value.clone();
            }
        }
        template.apply_computed(&mut values);
        let problems = template.validate(&values);
        let mut status = template.review_status(&values, &problems);
        let changed: Vec<(usize, Value, Value)> = record
            .values
            .iter()
            .zip(&values)
            .enumerate()
            .filter(|(_, (old, new))| old != new)
            .map(|(i, (old, new))| (i, old.clone(), new.clone()))
            .collect();
        if *source == EditSource::User
            && status == ReviewStatus::Unreviewed
            && (record.status != ReviewStatus::Unreviewed || !changed.is_empty())
        {
            // The analyst has started on this patch, even if only a remark was typed.
            status = ReviewStatus::InProgress;
        }
        if matches!(source, EditSource::Reference(_))
            && record.status == ReviewStatus::Unreviewed
            && status == ReviewStatus::InProgress
        {
            // Values a reference layer filled are no review work: the patch stays in the
            // unreviewed queue (N still finds it).
            status = ReviewStatus::Unreviewed;
        }
        ValuePlan { fid: record.fid, key: record.key.clone(), changed, status, problems }
    }

    /// Who and when, for the audit rows of one transaction.
    pub(crate) fn audit_writer(&self, now: String) -> AuditWriter {
        AuditWriter {
            now,
            user: self.user().to_string(),
            context: self.imagery_context().map(str::to_string),
            template: self.template().clone(),
        }
    }

    /// Recomputes computed fields and statuses of every patch (after a template change); audited.
    pub(crate) fn recompute_all(&mut self) -> Result<()> {
        let records = self.patches()?;
        let template = self.template().clone();
        let now = now_utc();
        let user = self.user().to_string();
        let path = self.path_str();
        let sq = |source| StoreError::Sqlite { path: path.clone(), cause: source };
        let tx = self.conn.transaction().map_err(sq)?;
        for r in records {
            let mut values = r.values.clone();
            let changed = template.apply_computed(&mut values);
            let problems = template.validate(&values);
            let status = template.review_status(&values, &problems);
            for i in &changed {
                let f = &template.fields()[*i];
                tx.execute(
                    &format!("UPDATE patches SET \"{}\" = ?1 WHERE fid = ?2", f.name),
                    rusqlite::params![to_sql(&values[*i]), r.fid],
                )
                .map_err(sq)?;
                tx.execute(
                    "INSERT INTO tuban_audit(time, user, patch_fid, patch_key, field, old_value, new_value, action) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'computed')",
                    rusqlite::params![now, user, r.fid, r.key, f.name, audit_text(&r.values[*i]), audit_text(&values[*i])],
                )
                .map_err(sq)?;
            }
            if status != r.status {
                tx.execute(
                    "UPDATE patches SET review_status = ?1 WHERE fid = ?2",
                    rusqlite::params![status.as_str(), r.fid],
                )
                .map_err(sq)?;
            }
        }
        tx.commit().map_err(sq)
    }
}
