//! Writing an import batch: one transaction for the whole batch, streamed patch by patch.
//!
//! A later batch (补充下发) adds new patches and updates the *issued* fields and geometry of known
//! ones; verdicts and every field the analyst fills are never touched.

use std::collections::{BTreeMap, HashMap};

use geo::{Geometry, Point};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Transaction};

use super::patches::{audit_text, make_key, to_sql};
use super::schema::DISPLAY_SRS_ID;
use super::source_geom;
use super::{now_utc, Project, ProjectMeta, Result, StoreError};
use crate::crs::SourceCrs;
use tuban_model::geometry::delivered::Predictor;
use tuban_model::geometry::gpkg;
use tuban_model::template::Fill;
use tuban_model::units::{self, Unit};
use tuban_model::{Template, Value};

/// What is known about a batch before its patches are read.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBatch {
    /// Source file as given.
    pub source_path: String,
    /// Layer name.
    pub layer: String,
    /// Encoding used for text.
    pub encoding: String,
    /// How the encoding was chosen (declared in .cpg, detected, ...).
    pub encoding_how: String,
    /// CRS of the delivered geometry.
    pub source_crs: SourceCrs,
    /// Monitoring year of the batch (ecological programme: several years per project).
    pub year: Option<i32>,
    /// Clue source (遥感, 绿盾, 信访, ...).
    pub clue_source: Option<String>,
}

/// One delivered patch, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPatch {
    /// Values aligned with the template fields; `None` where the source has no such field.
    pub values: Vec<Option<Value>>,
    /// Geometry in CGCS2000 lon/lat.
    pub geom_lonlat: Geometry,
    /// Geometry as delivered.
    pub geom_source: Geometry,
    /// Ellipsoidal area in m².
    pub area_m2: f64,
    /// Centre point (lon/lat).
    pub centre: Option<Point>,
    /// Source attributes with no template field.
    pub extra: BTreeMap<String, String>,
    /// Geometry and value problems found while reading.
    pub issues: Vec<String>,
}

/// The result of an import.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportSummary {
    /// The batch's row id.
    pub batch_id: i64,
    /// New patches.
    pub added: usize,
    /// Known patches whose issued fields or geometry changed.
    pub updated: usize,
    /// Known patches with nothing new.
    pub unchanged: usize,
    /// Features not imported (empty or null geometry, ...).
    pub skipped: usize,
    /// Problems, one line each, naming the feature.
    pub problems: Vec<String>,
}

/// An import in progress: nothing is visible to others until [`ImportSession::finish`]; dropping
/// the session rolls everything back.
pub struct ImportSession<'a> {
    tx: Transaction<'a>,
    path: String,
    template: Template,
    meta: ProjectMeta,
    user: String,
    batch_id: i64,
    source_srs_id: i32,
    /// What the delivered coordinates are kept against (from the SRS's stored definition).
    predictor: Option<Predictor>,
    known: HashMap<String, i64>,
    seen_in_batch: HashMap<String, i64>,
    envelope: Option<[f64; 4]>,
    summary: ImportSummary,
    now: String,
    /// The last row id before the import, while the spatial index waits for [`Self::finish`].
    index_from: Option<i64>,
    /// The box of each patch added, for that index (the display blobs carry none).
    boxes: Vec<(i64, [f64; 4])>,
    /// The INSERT of a new patch (the same for every row: built once).
    insert_sql: String,
}

/// The INSERT of a new patch, its uid made in it (the insert trigger would rewrite the row):
/// 96 random bits as 24 hex digits, 8 bytes fewer in the row and in the unique index than a
/// 128-bit one; ten million rows meet with odds below 1e-15 (n²/2⁹⁷).
fn insert_sql(template: &Template) -> String {
    let names: String = template.fields().iter().map(|f| format!(", \"{}\"", f.name)).collect();
    let marks: String = (0..template.fields().len()).map(|i| format!(", ?{}", 12 + i)).collect();
    format!("INSERT INTO patches (geom, review_status, area_m2, area_mu, area_ha, center_lon, center_lat, batch_id, import_issues, extra_attrs, updated_at, uid{names}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, lower(hex(randomblob(12))){marks})")
}

impl Project {
    /// Starts an import batch (one transaction).
    pub fn begin_import(&mut self, batch: NewBatch) -> Result<ImportSession<'_>> {
        self.require_unsealed()?;
        let path = self.path_str();
        let template = self.template().clone();
        let meta = self.meta().clone();
        let user = self.user().to_string();
        // (With the records split into 细斑: a later batch updates the issued record, it does not
        // add it again.)
        let known: HashMap<String, i64> = self.patches_with_split()?.into_iter().map(|p| (p.key, p.fid)).collect();
        let sq = |source| StoreError::Sqlite { path: path.clone(), cause: source };
        let tx = self.conn.transaction().map_err(sq)?;
        let source_srs_id = source_geom::register_srs(&tx, &batch.source_crs).map_err(sq)?;
        let definition: Option<String> = tx
            .query_row("SELECT definition FROM gpkg_spatial_ref_sys WHERE srs_id = ?1", [source_srs_id], |r| r.get(0))
            .map_err(sq)?;
        let now = now_utc();
        tx.execute(
            "INSERT INTO tuban_batches(imported_at, user, source_path, layer, encoding, encoding_how, source_crs, year, clue_source) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![now, user, batch.source_path, batch.layer, batch.encoding, batch.encoding_how, batch.source_crs.name, batch.year, batch.clue_source],
        )
        .map_err(sq)?;
        let batch_id = tx.last_insert_rowid();
        let index_from = super::rtree::suspend_patch_inserts(&tx).map_err(sq)?;
        Ok(ImportSession {
            tx,
            path,
            insert_sql: insert_sql(&template),
            template,
            meta,
            user,
            batch_id,
            source_srs_id,
            predictor: definition.as_deref().and_then(Predictor::from_wkt),
            known,
            seen_in_batch: HashMap::new(),
            envelope: None,
            summary: ImportSummary { batch_id, ..Default::default() },
            now,
            index_from,
            boxes: Vec::new(),
        })
    }
}

impl ImportSession<'_> {
    fn sq(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite { path: self.path.clone(), cause: source }
    }

    /// Counts and problems so far.
    pub fn summary_so_far(&self) -> &ImportSummary {
        &self.summary
    }

    /// Records a feature that was not imported, with the reason.
    pub fn skip(&mut self, reason: String) {
        self.summary.skipped += 1;
        self.summary.problems.push(reason);
    }

    /// Records a problem of the batch as a whole (or of one feature that was still imported).
    pub fn problem(&mut self, message: String) {
        self.summary.problems.push(message);
    }

    /// Fills values the source does not carry (area, centre, county code, year).
    fn filled_values(&self, p: &NewPatch) -> Vec<Option<Value>> {
        let mut values = p.values.clone();
        for (i, f) in self.template.fields().iter().enumerate() {
            let Some(fill) = f.fill else { continue };
            if values.get(i).and_then(|v| v.as_ref()).is_some_and(|v| !v.is_empty()) {
                continue;
            }
            let v = match fill {
                Fill::Area => {
                    let unit = f.unit().unwrap_or(Unit::M2);
                    units::convert(p.area_m2, Unit::M2, unit)
                        .filter(|_| p.area_m2 > 0.0)
                        .map(|a| Value::Real(round_to(a, 4)))
                }
                Fill::CenterLon => p.centre.map(|c| Value::Real(round_to(c.x(), 7))),
                Fill::CenterLat => p.centre.map(|c| Value::Real(round_to(c.y(), 7))),
                Fill::CountyCode => Some(Value::Text(self.meta.county_code.clone())).filter(|v| !v.is_empty()),
                Fill::Year => Some(Value::Int(i64::from(self.meta.year))).filter(|_| self.meta.year > 0),
            };
            if let (Some(slot), Some(v)) = (values.get_mut(i), v) {
                *slot = Some(v);
            }
        }
        values
    }

    fn key_of(&self, values: &[Option<Value>]) -> String {
        let roles = self.template.roles();
        let get = |name: &str| -> String {
            self.template
                .fields()
                .iter()
                .position(|f| f.name == name)
                .and_then(|i| values.get(i))
                .and_then(|v| v.as_ref())
                .map(|v| v.to_string())
                .unwrap_or_default()
        };
        make_key(&get(&roles.id), &roles.sub_id.as_deref().map(get).unwrap_or_default())
    }

    /// Adds one delivered patch (or updates the issued fields of a known one).
    pub fn add(&mut self, p: NewPatch) -> Result<()> {
        self.add_row(p)?;
        super::failpoint::hit("import.row", &self.tx);
        Ok(())
    }

    fn add_row(&mut self, p: NewPatch) -> Result<()> {
        let values = self.filled_values(&p);
        let key = self.key_of(&values);
        if let Some(env) = gpkg::envelope(&p.geom_lonlat) {
            self.envelope = Some(match self.envelope {
                None => env,
                Some(e) => [e[0].min(env[0]), e[1].min(env[1]), e[2].max(env[2]), e[3].max(env[3])],
            });
        }
        let mut issues = p.issues.clone();
        if key.is_empty() {
            issues.push("缺少图斑编号 / no patch id".into());
        } else if let Some(&first) = self.seen_in_batch.get(&key) {
            issues.push(format!("图斑编号重复 / duplicate patch id {key}"));
            self.summary.problems.push(format!("{key}: 本批次中图斑编号重复，两个图斑都已导入并标记 / duplicate id in this batch; both imported and flagged"));
            self.append_issue(first, &format!("图斑编号重复 / duplicate patch id {key}"))?;
        } else if let Some(&fid) = self.known.get(&key) {
            self.seen_in_batch.insert(key.clone(), fid);
            return self.update_known(fid, &key, &p, &values, &p.values);
        }
        let fid = self.insert(&p, &values, &issues)?;
        if !key.is_empty() {
            self.seen_in_batch.entry(key).or_insert(fid);
        }
        self.summary.added += 1;
        Ok(())
    }

    fn append_issue(&mut self, fid: i64, issue: &str) -> Result<()> {
        self.tx
            .execute("UPDATE patches SET import_issues = CASE WHEN import_issues IS NULL OR import_issues = '' THEN ?1 ELSE import_issues || char(10) || ?1 END WHERE fid = ?2", params![issue, fid])
            .map_err(self.sq())?;
        Ok(())
    }

    fn insert(&mut self, p: &NewPatch, values: &[Option<Value>], issues: &[String]) -> Result<i64> {
        let mut vals: Vec<Value> = values.iter().map(|v| v.clone().unwrap_or(Value::Null)).collect();
        self.template.apply_computed(&mut vals);
        let problems = self.template.validate(&vals);
        let status = self.template.review_status(&vals, &problems);
        let centre = p.centre;
        let display = gpkg::encode_bare(&p.geom_lonlat, DISPLAY_SRS_ID);
        let mut params: Vec<SqlValue> = vec![
            SqlValue::Blob(display.clone()),
            SqlValue::Text(status.as_str().into()),
            SqlValue::Real(p.area_m2),
            SqlValue::Real(round_to(units::m2_to_mu(p.area_m2), 4)),
            SqlValue::Real(round_to(units::m2_to_ha(p.area_m2), 6)),
            centre.map_or(SqlValue::Null, |c| SqlValue::Real(c.x())),
            centre.map_or(SqlValue::Null, |c| SqlValue::Real(c.y())),
            SqlValue::Integer(self.batch_id),
            if issues.is_empty() { SqlValue::Null } else { SqlValue::Text(issues.join("\n")) },
            if p.extra.is_empty() {
                SqlValue::Null
            } else {
                SqlValue::Text(serde_json::to_string(&p.extra).unwrap_or_default())
            },
            // updated_at: empty until the patch is first changed (its batch says when it came).
            SqlValue::Null,
        ];
        params.extend(vals.iter().map(to_sql));
        let sq = |source| StoreError::Sqlite { path: self.path.clone(), cause: source };
        self.tx.prepare_cached(&self.insert_sql).map_err(sq)?.execute(params_from_iter(params)).map_err(sq)?;
        let fid = self.tx.last_insert_rowid();
        if let Some(env) = gpkg::envelope(&p.geom_lonlat) {
            self.boxes.push((fid, env));
        }
        let source = gpkg::encode(&p.geom_source, self.source_srs_id);
        source_geom::put(&self.tx, fid, self.source_srs_id, source, &display, self.predictor.as_ref()).map_err(sq)?;
        Ok(fid)
    }

    /// `values` are the delivered values plus filled ones; `delivered` only what the source carries:
    /// a filled value (area, centre, ...) only fills a field that is still empty.
    fn update_known(
        &mut self,
        fid: i64,
        key: &str,
        p: &NewPatch,
        values: &[Option<Value>],
        delivered: &[Option<Value>],
    ) -> Result<()> {
        let fields = self.template.fields().to_vec();
        let (old_geom, mut current) = self.stored(fid, &fields)?;
        let before = current.clone();
        let changed_fields = merge_issued(&fields, values, delivered, &mut current);
        // (Compared as geometry: an earlier build wrote the same geometry with an envelope.)
        let new_geom = gpkg::encode_bare(&p.geom_lonlat, DISPLAY_SRS_ID);
        let old = old_geom.as_deref().and_then(|b| gpkg::decode(b).ok()).map(|(_, g)| g);
        let geom_changed = old.as_ref() != Some(&p.geom_lonlat);
        if changed_fields.is_empty() && !geom_changed {
            self.summary.unchanged += 1;
            return Ok(());
        }
        let computed = self.template.apply_computed(&mut current);
        let problems = self.template.validate(&current);
        let status = self.template.review_status(&current, &problems);
        let changed: Vec<usize> = changed_fields.iter().chain(&computed).copied().collect();
        let mut sets =
            vec!["review_status = ?1".to_string(), "updated_at = ?2".to_string(), "batch_id = ?3".to_string()];
        let mut params: Vec<SqlValue> = vec![
            SqlValue::Text(status.as_str().into()),
            SqlValue::Text(self.now.clone()),
            SqlValue::Integer(self.batch_id),
        ];
        for &i in &changed {
            params.push(to_sql(&current[i]));
            sets.push(format!("\"{}\" = ?{}", fields[i].name, params.len()));
        }
        let new_geom = geom_changed.then_some(new_geom);
        self.update_row(fid, p, sets, params, new_geom.clone())?;
        let rows: Vec<AuditRow<'_>> = changed
            .iter()
            .map(|&i| (fields[i].name.as_str(), audit_text(&before[i]), audit_text(&current[i]), computed.contains(&i)))
            .collect();
        self.audit_update(fid, key, &rows, geom_changed)?;
        self.summary.updated += 1;
        Ok(())
    }

    /// The stored geometry and template values of patch `fid`.
    fn stored(&self, fid: i64, fields: &[tuban_model::Field]) -> Result<(Option<Vec<u8>>, Vec<Value>)> {
        let sq = |source| StoreError::Sqlite { path: self.path.clone(), cause: source };
        let mut select = String::from("SELECT geom");
        for f in fields {
            select.push_str(&format!(", \"{}\"", f.name));
        }
        select.push_str(" FROM patches WHERE fid = ?1");
        self.tx
            .query_row(&select, [fid], |r| {
                let g: Option<Vec<u8>> = r.get(0)?;
                let mut vals = Vec::with_capacity(fields.len());
                for (i, f) in fields.iter().enumerate() {
                    vals.push(super::patches::from_sql(f, r.get_ref(1 + i)?));
                }
                Ok((g, vals))
            })
            .map_err(sq)
    }

    /// Writes the changed columns (`sets` with their `params`) and, when the geometry changed
    /// (`new_geom`), the geometry, areas, centre and source geometry.
    fn update_row(
        &self,
        fid: i64,
        p: &NewPatch,
        mut sets: Vec<String>,
        mut params: Vec<SqlValue>,
        new_geom: Option<Vec<u8>>,
    ) -> Result<()> {
        let sq = |source| StoreError::Sqlite { path: self.path.clone(), cause: source };
        if let Some(new_geom) = &new_geom {
            let centre = p.centre;
            for (col, v) in [
                ("geom", SqlValue::Blob(new_geom.clone())),
                ("area_m2", SqlValue::Real(p.area_m2)),
                ("area_mu", SqlValue::Real(round_to(units::m2_to_mu(p.area_m2), 4))),
                ("area_ha", SqlValue::Real(round_to(units::m2_to_ha(p.area_m2), 6))),
                ("center_lon", centre.map_or(SqlValue::Null, |c| SqlValue::Real(c.x()))),
                ("center_lat", centre.map_or(SqlValue::Null, |c| SqlValue::Real(c.y()))),
            ] {
                params.push(v);
                sets.push(format!("{col} = ?{}", params.len()));
            }
        }
        params.push(SqlValue::Integer(fid));
        self.tx
            .execute(
                &format!("UPDATE patches SET {} WHERE fid = ?{}", sets.join(", "), params.len()),
                params_from_iter(params),
            )
            .map_err(sq)?;
        if let Some(new_geom) = &new_geom {
            let source = gpkg::encode(&p.geom_source, self.source_srs_id);
            source_geom::put(&self.tx, fid, self.source_srs_id, source, new_geom, self.predictor.as_ref())
                .map_err(sq)?;
        }
        Ok(())
    }

    /// Audit rows of an update: one per changed field (`name, old, new, computed`), one for a new geometry.
    fn audit_update(&self, fid: i64, key: &str, rows: &[AuditRow<'_>], geom_changed: bool) -> Result<()> {
        let sq = |source| StoreError::Sqlite { path: self.path.clone(), cause: source };
        let action = format!("import:{}", self.batch_id);
        let mut audit = self
            .tx
            .prepare_cached("INSERT INTO tuban_audit(time, user, patch_fid, patch_key, field, old_value, new_value, action) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
            .map_err(sq)?;
        for (name, old, new, computed) in rows {
            let a = if *computed { "computed".to_string() } else { action.clone() };
            audit.execute(params![self.now, self.user, fid, key, name, old, new, a]).map_err(sq)?;
        }
        if geom_changed {
            audit
                .execute(params![
                    self.now,
                    self.user,
                    fid,
                    key,
                    "geom",
                    Option::<String>::None,
                    Some("新几何 / new geometry"),
                    action
                ])
                .map_err(sq)?;
        }
        Ok(())
    }

    /// Commits the batch and returns its summary.
    pub fn finish(self) -> Result<ImportSummary> {
        let path = self.path.clone();
        let sq = |source| StoreError::Sqlite { path: path.clone(), cause: source };
        let s = &self.summary;
        self.tx
            .execute(
                "UPDATE tuban_batches SET added = ?1, updated = ?2, unchanged = ?3, skipped = ?4, problems = ?5 WHERE id = ?6",
                params![s.added as i64, s.updated as i64, s.unchanged as i64, s.skipped as i64, s.problems.join("\n"), self.batch_id],
            )
            .map_err(sq)?;
        if let Some(e) = self.envelope {
            self.tx
                .execute(
                    "UPDATE gpkg_contents SET min_x = min(coalesce(min_x, ?1), ?1), min_y = min(coalesce(min_y, ?2), ?2), max_x = max(coalesce(max_x, ?3), ?3), max_y = max(coalesce(max_y, ?4), ?4), last_change = ?5 WHERE table_name = 'patches'",
                    params![e[0], e[1], e[2], e[3], self.now],
                )
                .map_err(sq)?;
        }
        self.tx
            .execute(
                "INSERT INTO tuban_audit(time, user, patch_fid, patch_key, field, old_value, new_value, action) VALUES (?1, ?2, NULL, NULL, NULL, NULL, ?3, ?4)",
                params![self.now, self.user, format!("added {} updated {} unchanged {} skipped {}", s.added, s.updated, s.unchanged, s.skipped), format!("import:{}", self.batch_id)],
            )
            .map_err(sq)?;
        if let Some(since) = self.index_from {
            super::rtree::resume_patch_inserts(&self.tx, since, &self.boxes).map_err(sq)?;
        }
        let summary = self.summary.clone();
        self.tx.commit().map_err(sq)?;
        Ok(summary)
    }
}

fn round_to(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

/// One import batch as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRecord {
    /// Row id.
    pub id: i64,
    /// When (UTC).
    pub imported_at: String,
    /// Who.
    pub user: String,
    /// Source file as given.
    pub source_path: String,
    /// Layer read.
    pub layer: String,
    /// Encoding used.
    pub encoding: String,
    /// How the encoding was chosen.
    pub encoding_how: String,
    /// Delivered CRS.
    pub source_crs: String,
    /// Monitoring year.
    pub year: Option<i32>,
    /// Clue source.
    pub clue_source: Option<String>,
    /// (added, updated, unchanged, skipped).
    pub counts: [i64; 4],
}

/// A field changed by an import: its name, old and new audit text, and whether it was computed.
type AuditRow<'f> = (&'f str, Option<String>, Option<String>, bool);

/// Takes the issued fields of `values` into `current` where the source delivered them, or where
/// `current` is still empty (a filled value never overwrites one); returns the changed indices.
fn merge_issued(
    fields: &[tuban_model::Field],
    values: &[Option<Value>],
    delivered: &[Option<Value>],
    current: &mut [Value],
) -> Vec<usize> {
    let mut changed = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        if !f.issued {
            continue;
        }
        let from_source = delivered.get(i).is_some_and(|v| v.as_ref().is_some_and(|v| !v.is_empty()));
        if !from_source && !current[i].is_empty() {
            continue;
        }
        if let Some(Some(new)) = values.get(i) {
            if !new.is_empty() && *new != current[i] {
                current[i] = new.clone();
                changed.push(i);
            }
        }
    }
    changed
}
impl Project {
    /// Import batches, oldest first.
    pub fn batches(&self) -> Result<Vec<BatchRecord>> {
        let mut st = self
            .conn
            .prepare("SELECT id, imported_at, user, source_path, coalesce(layer, ''), coalesce(encoding, ''), coalesce(encoding_how, ''), coalesce(source_crs, ''), year, clue_source, added, updated, unchanged, skipped FROM tuban_batches ORDER BY id")
            .map_err(self.sq())?;
        let rows = st
            .query_map([], |r| {
                Ok(BatchRecord {
                    id: r.get(0)?,
                    imported_at: r.get(1)?,
                    user: r.get(2)?,
                    source_path: r.get(3)?,
                    layer: r.get(4)?,
                    encoding: r.get(5)?,
                    encoding_how: r.get(6)?,
                    source_crs: r.get(7)?,
                    year: r.get(8)?,
                    clue_source: r.get(9)?,
                    counts: [r.get(10)?, r.get(11)?, r.get(12)?, r.get(13)?],
                })
            })
            .map_err(self.sq())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sq())
    }
}
