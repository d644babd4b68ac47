//! Review aids and quality control: per-patch comments, flags and confidence; manual clues;
//! rebound checks (反弹); reproducible stratified spot-checks (抽查复核) reviewed blind, with the
//! agreement table and Cohen's kappa.

use std::collections::BTreeMap;

use geo::{BoundingRect, Geometry, Intersects};
use rusqlite::{params, OptionalExtension};

use super::{now_utc, NewBatch, NewPatch, Project, Result, SourceCrs, StoreError};
use tuban_model::Value;

/// Flags an analyst can set on a patch.
pub const REVIEW_FLAGS: [&str; 2] = ["需外业核实", "影像不清"];

/// A comment on a patch.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// When (UTC).
    pub time: String,
    /// Who.
    pub user: String,
    /// Text.
    pub text: String,
}

/// A new patch overlapping a problem already closed or rectified.
#[derive(Debug, Clone, PartialEq)]
pub struct Rebound {
    /// The new patch.
    pub new_key: String,
    /// The earlier patch it overlaps.
    pub old_key: String,
    /// The earlier patch's case.
    pub case_number: String,
}

/// A drawn spot-check sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SpotCheck {
    /// Row id.
    pub id: i64,
    /// Seed of the draw (the same seed draws the same sample).
    pub seed: u64,
    /// Sampled patches: (row id, key).
    pub patches: Vec<(i64, String)>,
}

/// The outcome of a spot-check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpotCheckResult {
    /// Patches reviewed a second time.
    pub reviewed: usize,
    /// Patches in the sample.
    pub sampled: usize,
    /// Same verdict twice.
    pub agreed: usize,
    /// Cohen's kappa (None when undefined).
    pub kappa: Option<f64>,
    /// (first verdict, second verdict) → count.
    pub table: BTreeMap<(String, String), usize>,
    /// (key, first, second) where they differ.
    pub disagreements: Vec<(String, String, String)>,
}

/// Cohen's kappa of an agreement table.
pub fn cohen_kappa(table: &BTreeMap<(String, String), usize>) -> Option<f64> {
    let n: usize = table.values().sum();
    if n == 0 {
        return None;
    }
    let mut rows: BTreeMap<&str, usize> = BTreeMap::new();
    let mut cols: BTreeMap<&str, usize> = BTreeMap::new();
    let mut agreed = 0;
    for ((a, b), c) in table {
        *rows.entry(a).or_default() += c;
        *cols.entry(b).or_default() += c;
        if a == b {
            agreed += c;
        }
    }
    let n = n as f64;
    let po = agreed as f64 / n;
    let pe: f64 = rows.iter().map(|(k, r)| (*r as f64 / n) * (cols.get(k).copied().unwrap_or(0) as f64 / n)).sum();
    if (1.0 - pe).abs() < 1e-12 {
        return if po == 1.0 { Some(1.0) } else { None };
    }
    Some((po - pe) / (1.0 - pe))
}

impl Project {
    fn verdict_text(&self, r: &super::PatchRecord) -> String {
        r.value(self.template(), &self.template().roles().verdict).map(|v| v.to_string()).unwrap_or_default()
    }

    /// Adds a comment to a patch (allowed while sealed? no: comments are review data).
    pub fn add_comment(&mut self, fid: i64, text: &str) -> Result<()> {
        self.require_unsealed()?;
        let key = self
            .patch(fid)?
            .ok_or_else(|| StoreError::NoSuchPatch { path: self.path_str(), key: format!("#{fid}") })?
            .key;
        let now = now_utc();
        self.conn
            .execute(
                "INSERT INTO tuban_comments(patch_fid, time, user, text) VALUES (?1, ?2, ?3, ?4)",
                params![fid, now, self.user(), text],
            )
            .map_err(self.sq())?;
        self.conn
            .execute("INSERT INTO tuban_audit(time, user, patch_fid, patch_key, field, new_value, action) VALUES (?1, ?2, ?3, ?4, 'comment', ?5, 'comment')", params![now, self.user(), fid, key, text])
            .map_err(self.sq())?;
        Ok(())
    }

    /// Comments of a patch, oldest first.
    pub fn comments(&self, fid: i64) -> Result<Vec<Comment>> {
        let mut st = self
            .conn
            .prepare("SELECT time, user, text FROM tuban_comments WHERE patch_fid = ?1 ORDER BY id")
            .map_err(self.sq())?;
        let rows = st
            .query_map([fid], |r| Ok(Comment { time: r.get(0)?, user: r.get(1)?, text: r.get(2)? }))
            .map_err(self.sq())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sq())
    }

    /// Sets the review flags (from [`REVIEW_FLAGS`]) and the confidence (1-5) of a patch; audited.
    pub fn set_review_aids(&mut self, fid: i64, flags: &[&str], confidence: Option<u8>) -> Result<()> {
        self.require_unsealed()?;
        for f in flags {
            if !REVIEW_FLAGS.contains(f) {
                return Err(StoreError::InvalidCase {
                    detail: format!("标记“{f}”无效，可选：{} / invalid flag", REVIEW_FLAGS.join("、")),
                });
            }
        }
        if confidence.is_some_and(|c| !(1..=5).contains(&c)) {
            return Err(StoreError::InvalidCase { detail: "把握程度应为 1-5 / confidence must be 1-5".into() });
        }
        let key = self
            .patch(fid)?
            .ok_or_else(|| StoreError::NoSuchPatch { path: self.path_str(), key: format!("#{fid}") })?
            .key;
        let (old_flags, old_conf): (Option<String>, Option<i64>) = self
            .conn
            .query_row("SELECT review_flags, confidence FROM patches WHERE fid = ?1", [fid], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(self.sq())?;
        let new_flags = flags.join(";");
        let now = now_utc();
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.unchecked_transaction().map_err(sq)?;
        tx.execute(
            "UPDATE patches SET review_flags = ?1, confidence = ?2 WHERE fid = ?3",
            params![Some(new_flags.clone()).filter(|s| !s.is_empty()), confidence, fid],
        )
        .map_err(sq)?;
        tx.execute(
            "INSERT INTO tuban_audit(time, user, patch_fid, patch_key, field, old_value, new_value, action) VALUES (?1, ?2, ?3, ?4, 'review_flags', ?5, ?6, 'edit')",
            params![now, self.user(), fid, key, format!("{} {}", old_flags.unwrap_or_default(), old_conf.map(|c| c.to_string()).unwrap_or_default()).trim().to_string(), format!("{new_flags} {}", confidence.map(|c| c.to_string()).unwrap_or_default()).trim().to_string()],
        )
        .map_err(sq)?;
        tx.commit().map_err(sq)
    }

    /// Flags and confidence of a patch.
    pub fn review_aids(&self, fid: i64) -> Result<(Vec<String>, Option<u8>)> {
        let (flags, conf): (Option<String>, Option<i64>) = self
            .conn
            .query_row("SELECT review_flags, confidence FROM patches WHERE fid = ?1", [fid], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(self.sq())?;
        Ok((
            flags.map(|f| f.split(';').filter(|s| !s.is_empty()).map(str::to_string).collect()).unwrap_or_default(),
            conf.and_then(|c| u8::try_from(c).ok()),
        ))
    }

    /// Adds a clue by hand (a point or polygon in lon/lat, e.g. from a petition with an address),
    /// with field values as typed; recorded as its own batch with its clue source.
    pub fn add_manual_clue(
        &mut self,
        geom_lonlat: Geometry,
        fields: &[(&str, &str)],
        year: Option<i32>,
        clue_source: Option<&str>,
    ) -> Result<String> {
        let template = self.template().clone();
        let mut values = vec![None; template.fields().len()];
        for (name, text) in fields {
            let i = template
                .fields()
                .iter()
                .position(|f| f.name.eq_ignore_ascii_case(name))
                .ok_or_else(|| StoreError::NoSuchField { name: name.to_string() })?;
            let f = &template.fields()[i];
            values[i] = Some(
                Value::parse_for(f, text).map_err(|cause| StoreError::InvalidValue { name: f.name.clone(), cause })?,
            );
        }
        let id_index = template.fields().iter().position(|f| f.name == template.roles().id);
        if let Some(i) = id_index {
            if values[i].as_ref().is_none_or(Value::is_empty) {
                let n = self.patch_count()? + 1;
                values[i] = Some(Value::Text(format!(
                    "{}SG{}{n:04}",
                    self.meta().county_code,
                    year.unwrap_or(self.meta().year)
                )));
            }
        }
        let key = id_index.and_then(|i| values[i].as_ref()).map(|v| v.to_string()).unwrap_or_default();
        let area_m2 = tuban_model::geometry::area_m2(&geom_lonlat);
        let centre = tuban_model::geometry::centre(&geom_lonlat);
        let batch = NewBatch {
            source_path: "手工添加 / added by hand".into(),
            layer: String::new(),
            encoding: String::new(),
            encoding_how: String::new(),
            source_crs: SourceCrs {
                name: "China Geodetic Coordinate System 2000".into(),
                organization: "EPSG".into(),
                code: 4490,
                wkt: super::schema::WKT_4490.into(),
            },
            year,
            clue_source: clue_source.map(str::to_string),
        };
        let mut session = self.begin_import(batch)?;
        session.add(NewPatch {
            values,
            geom_lonlat: geom_lonlat.clone(),
            geom_source: geom_lonlat,
            area_m2,
            centre,
            extra: BTreeMap::new(),
            issues: vec![],
        })?;
        session.finish()?;
        Ok(key)
    }

    /// The patches of settled cases (closed or rectified, `ledger::is_settled`) with their case
    /// numbers: where a new patch would be a rebound.
    fn settled_case_patches(&self) -> Result<Vec<(i64, String)>> {
        let cases = self.cases()?;
        let settled = cases.into_iter().filter(|c| tuban_model::ledger::is_settled(c.step, c.rectification));
        Ok(settled.flat_map(|c| c.patch_fids.iter().map(|f| (*f, c.number.clone())).collect::<Vec<_>>()).collect())
    }

    /// The rebounds of one patch (cheap: for the window, on each selection).
    pub fn rebounds_of(&self, fid: i64) -> Result<Vec<Rebound>> {
        let Some(r) = self.patch(fid)? else { return Ok(vec![]) };
        let Some(g) = self.patch_geometry(fid)? else { return Ok(vec![]) };
        let closed: Vec<(i64, String)> = self.settled_case_patches()?.into_iter().filter(|(f, _)| *f != fid).collect();
        let mut out = Vec::new();
        for (ofid, number) in closed {
            let Some(old) = self.patch(ofid)? else { continue };
            if old.batch_id.unwrap_or(0) >= r.batch_id.unwrap_or(0) {
                continue;
            }
            if self.patch_geometry(ofid)?.is_some_and(|og| og.intersects(&g)) {
                out.push(Rebound { new_key: r.key.clone(), old_key: old.key, case_number: number });
            }
        }
        Ok(out)
    }

    /// New patches that overlap a patch of an earlier batch whose case is closed (销号) or
    /// rectified (已整改到位): the problem came back.
    pub fn rebounds(&self) -> Result<Vec<Rebound>> {
        let closed = self.settled_case_patches()?;
        if closed.is_empty() {
            return Ok(vec![]);
        }
        let records = self.patches()?;
        let batch_of: BTreeMap<i64, i64> = records.iter().map(|r| (r.fid, r.batch_id.unwrap_or(0))).collect();
        let key_of: BTreeMap<i64, String> = records.iter().map(|r| (r.fid, r.key.clone())).collect();
        let mut old = Vec::new();
        for (fid, number) in closed {
            if let Some(g) = self.patch_geometry(fid)? {
                old.push((fid, number, g));
            }
        }
        let mut out = Vec::new();
        for r in &records {
            let Some(g) = self.patch_geometry(r.fid)? else { continue };
            let Some(bb) = g.bounding_rect() else { continue };
            for (ofid, number, og) in &old {
                if *ofid == r.fid || batch_of.get(ofid).copied().unwrap_or(0) >= r.batch_id.unwrap_or(0) {
                    continue;
                }
                if og.bounding_rect().is_some_and(|ob| ob.intersects(&bb)) && og.intersects(&g) {
                    out.push(Rebound {
                        new_key: r.key.clone(),
                        old_key: key_of.get(ofid).cloned().unwrap_or_default(),
                        case_number: number.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Draws a reproducible stratified sample (by township and verdict) of reviewed patches:
    /// `share` of each stratum (at least one), or `count` overall spread the same way.
    pub fn draw_spot_check(&mut self, share: Option<f64>, count: Option<usize>, seed: u64) -> Result<SpotCheck> {
        self.require_write()?;
        let t = self.template().clone();
        let town = t.roles().township.clone();
        let reviewed: Vec<super::PatchRecord> =
            self.patches()?.into_iter().filter(|r| !self.verdict_text(r).is_empty()).collect();
        if reviewed.is_empty() {
            return Err(StoreError::InvalidCase {
                detail: "还没有已下结论的图斑可抽查 / no patch has a verdict yet".into(),
            });
        }
        let share = match (share, count) {
            (Some(s), _) if s > 0.0 && s <= 1.0 => s,
            (_, Some(c)) if c > 0 => (c as f64 / reviewed.len() as f64).min(1.0),
            _ => {
                return Err(StoreError::InvalidCase {
                    detail: "抽查比例应在 0-1 之间，或给出数量 / give a share in (0, 1] or a count".into(),
                })
            }
        };
        let mut strata: BTreeMap<(String, String), Vec<&super::PatchRecord>> = BTreeMap::new();
        for r in &reviewed {
            let tw = town.as_deref().and_then(|f| r.value(&t, f)).map(|v| v.to_string()).unwrap_or_default();
            strata.entry((tw, self.verdict_text(r))).or_default().push(r);
        }
        let mut rng = tuban_model::random::SplitMix64(seed);
        let mut picked = Vec::new();
        for members in strata.values_mut() {
            members.sort_by_key(|r| r.fid);
            let n = ((members.len() as f64 * share).round() as usize).clamp(1, members.len());
            for i in (1..members.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                members.swap(i, j);
            }
            picked.extend(members[..n].iter().map(|r| (r.fid, r.key.clone(), self.verdict_text(r))));
        }
        picked.sort();
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let now = now_utc();
        let tx = self.conn.unchecked_transaction().map_err(sq)?;
        tx.execute(
            "INSERT INTO tuban_spotchecks(created_at, user, seed, share) VALUES (?1, ?2, ?3, ?4)",
            params![now, self.user(), seed as i64, share],
        )
        .map_err(sq)?;
        let id = tx.last_insert_rowid();
        for (fid, _, verdict) in &picked {
            tx.execute(
                "INSERT INTO tuban_spotcheck_items(spotcheck_id, patch_fid, first_verdict) VALUES (?1, ?2, ?3)",
                params![id, fid, verdict],
            )
            .map_err(sq)?;
        }
        tx.execute("INSERT INTO tuban_audit(time, user, field, new_value, action) VALUES (?1, ?2, 'spotcheck', ?3, 'spotcheck')", params![now, self.user(), format!("#{id} seed {seed} share {share:.3} n {}", picked.len())]).map_err(sq)?;
        tx.commit().map_err(sq)?;
        Ok(SpotCheck { id, seed, patches: picked.into_iter().map(|(f, k, _)| (f, k)).collect() })
    }

    /// The sample as the second reviewer sees it: keys only, never the first verdict.
    pub fn spot_check_blind(&self, id: i64) -> Result<Vec<(i64, String, Option<String>)>> {
        let mut st = self.conn.prepare("SELECT i.patch_fid, i.second_verdict FROM tuban_spotcheck_items i WHERE i.spotcheck_id = ?1 ORDER BY i.patch_fid").map_err(self.sq())?;
        let rows: Vec<(i64, Option<String>)> = st
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.sq())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.sq())?;
        let mut out = Vec::new();
        for (fid, second) in rows {
            out.push((fid, self.patch(fid)?.map(|r| r.key).unwrap_or_default(), second));
        }
        Ok(out)
    }

    /// Records the second reviewer's verdict for a sampled patch (a code of the verdict list).
    pub fn record_second_verdict(&mut self, id: i64, fid: i64, verdict: &str) -> Result<()> {
        self.require_write()?;
        let t = self.template();
        let codes = t
            .field(&t.roles().verdict)
            .map(|f| f.codes().iter().map(|c| c.code.clone()).collect::<Vec<_>>())
            .unwrap_or_default();
        if !codes.iter().any(|c| c == verdict) {
            return Err(StoreError::InvalidCase {
                detail: format!(
                    "“{verdict}”不在核查结论代码表中（{}） / not a verdict of the template",
                    codes.join("、")
                ),
            });
        }
        let n = self
            .conn
            .execute("UPDATE tuban_spotcheck_items SET second_verdict = ?1, reviewer = ?2, reviewed_at = ?3 WHERE spotcheck_id = ?4 AND patch_fid = ?5", params![verdict, self.user(), now_utc(), id, fid])
            .map_err(self.sq())?;
        if n == 0 {
            return Err(StoreError::InvalidCase {
                detail: format!("图斑 #{fid} 不在抽查 #{id} 的样本中 / not in the sample"),
            });
        }
        Ok(())
    }

    /// The latest spot-check's id.
    pub fn latest_spot_check(&self) -> Result<Option<i64>> {
        self.conn
            .query_row("SELECT max(id) FROM tuban_spotchecks", [], |r| r.get(0))
            .optional()
            .map_err(self.sq())
            .map(Option::flatten)
    }

    /// Agreement table, kappa and disagreements of a spot-check.
    pub fn spot_check_result(&self, id: i64) -> Result<SpotCheckResult> {
        let mut st = self.conn.prepare("SELECT patch_fid, first_verdict, second_verdict FROM tuban_spotcheck_items WHERE spotcheck_id = ?1 ORDER BY patch_fid").map_err(self.sq())?;
        let rows: Vec<(i64, String, Option<String>)> = st
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(self.sq())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.sq())?;
        let mut res = SpotCheckResult { sampled: rows.len(), ..Default::default() };
        for (fid, first, second) in rows {
            let Some(second) = second else { continue };
            res.reviewed += 1;
            if first == second {
                res.agreed += 1;
            } else {
                res.disagreements.push((
                    self.patch(fid)?.map(|r| r.key).unwrap_or_default(),
                    first.clone(),
                    second.clone(),
                ));
            }
            *res.table.entry((first, second)).or_default() += 1;
        }
        res.kappa = cohen_kappa(&res.table);
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kappa_of_a_textbook_table() {
        // 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 → po 0.7, pe 0.5, kappa 0.4.
        let mut t = BTreeMap::new();
        t.insert(("yes".to_string(), "yes".to_string()), 20);
        t.insert(("yes".to_string(), "no".to_string()), 5);
        t.insert(("no".to_string(), "yes".to_string()), 10);
        t.insert(("no".to_string(), "no".to_string()), 15);
        assert!((cohen_kappa(&t).unwrap() - 0.4).abs() < 1e-9);
    }
}
