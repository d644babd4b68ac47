//! The ledger as the project sees it: the facts of every case read from the store (township,
//! illegal area from the template's `illegal_area` role, when it was found, patch centres), handed
//! to the rules of `tuban_model::ledger`; the criminal flag as delivered; cases proposed for
//! illegal patches.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use tuban_model::ledger::{self, CaseFacts, CriminalFlag, Ledger, Step};
use tuban_model::units::{self, Unit};
use tuban_model::{FieldKind, Value};

use super::{Case, PatchRecord, Project, Result};

impl Project {
    /// Illegal area of a patch in m²: the template's illegal-area field when filled, else its area.
    fn illegal_area_m2(&self, r: &PatchRecord) -> f64 {
        let t = self.template();
        let field = t.roles().illegal_area.as_deref().and_then(|n| t.field(n));
        if let Some(f) = field {
            if let Some(Value::Real(v)) = r.value(t, &f.name) {
                return units::convert(*v, f.unit().unwrap_or(Unit::M2), Unit::M2).unwrap_or(*v);
            }
        }
        r.area_m2
    }

    /// When each case was found (its 问题发现 step, else its first step), by case row id.
    fn found_dates(&self) -> Result<HashMap<i64, NaiveDate>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT case_id, coalesce(min(CASE WHEN step = ?1 THEN date END), min(date)) FROM tuban_case_steps GROUP BY case_id",
            )
            .map_err(self.sq())?;
        let rows = st
            .query_map([Step::Found.label()], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?)))
            .map_err(self.sq())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.sq())?;
        Ok(rows.into_iter().filter_map(|(id, d)| Some((id, tuban_model::value::parse_date(&d?)?))).collect())
    }

    /// The facts of each case the ledger rules need, in case-number order.
    fn case_facts(&self, cases: &[Case], records: &BTreeMap<i64, PatchRecord>) -> Result<Vec<CaseFacts>> {
        let found = self.found_dates()?;
        let t = self.template();
        let township = t.roles().township.as_deref();
        let facts = cases
            .iter()
            .map(|c| {
                let patches: Vec<&PatchRecord> = c.patch_fids.iter().filter_map(|f| records.get(f)).collect();
                CaseFacts {
                    number: c.number.clone(),
                    party: c.party.clone(),
                    township: patches
                        .first()
                        .and_then(|r| township.and_then(|tf| r.value(t, tf)))
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                    step: c.step,
                    investigation: c.investigation,
                    rectification: c.rectification,
                    penalty_doc: c.penalty_doc.clone(),
                    fine_yuan: c.fine_yuan,
                    deadline: c.deadline,
                    found_on: found.get(&c.id).copied(),
                    prior_penalty: c.prior_penalty.clone(),
                    illegal_area_m2: patches.iter().map(|r| self.illegal_area_m2(r)).sum(),
                    centres_lonlat: patches.iter().filter_map(|r| r.center_lonlat).collect(),
                }
            })
            .collect();
        Ok(facts)
    }

    fn records_by_fid(&self) -> Result<BTreeMap<i64, PatchRecord>> {
        Ok(self.patches()?.into_iter().map(|r| (r.fid, r)).collect())
    }

    /// The ledger: rates per township and in total, overdue cases, criminal threshold, split
    /// penalties and illegal patches without a case.
    pub fn ledger(&self) -> Result<Ledger> {
        let cases = self.cases()?;
        let records = self.records_by_fid()?;
        let facts = self.case_facts(&cases, &records)?;
        let mut l = ledger::ledger(&facts, chrono::Local::now().date_naive());
        let t = self.template();
        let illegal = &t.roles().illegal_verdicts;
        let in_case: HashSet<i64> = cases.iter().flat_map(|c| c.patch_fids.iter().copied()).collect();
        for r in records.values().filter(|r| !in_case.contains(&r.fid)) {
            let verdict = r.value(t, &t.roles().verdict).map(|v| v.to_string()).unwrap_or_default();
            if illegal.contains(&verdict) {
                l.illegal_without_case.push(r.key.clone());
            }
        }
        Ok(l)
    }

    /// The criminal threshold check of one case (for the window; the ledger checks them all).
    pub fn criminal_flag_of(&self, number: &str) -> Result<Option<CriminalFlag>> {
        let cases = self.cases()?;
        let facts = self.case_facts(&cases, &self.records_by_fid()?)?;
        Ok(facts.iter().find(|c| c.number == number).and_then(|c| ledger::criminal_flag(c, &facts)))
    }

    /// Every patch as delivered: the template's criminal flag (涉嫌刑事, role `criminal_flag`),
    /// which a patch computes from its own illegal area (≥ 20 亩), is also set on the patches of a
    /// case that reaches the threshold through an earlier penalty (≥ 10 亩) — referred or not.
    pub fn patches_delivered(&self) -> Result<Vec<PatchRecord>> {
        let records = self.records_by_fid()?;
        let t = self.template();
        let flag_field = t.roles().criminal_flag.as_deref();
        let Some(i) =
            t.fields().iter().position(|f| Some(f.name.as_str()) == flag_field && f.kind == FieldKind::Boolean)
        else {
            return Ok(records.into_values().collect());
        };
        let cases = self.cases()?;
        let facts = self.case_facts(&cases, &records)?;
        let flagged: HashSet<i64> = cases
            .iter()
            .zip(&facts)
            .filter(|(_, f)| ledger::criminal_flag(f, &facts).is_some())
            .flat_map(|(c, _)| c.patch_fids.iter().copied())
            .collect();
        let mut out: Vec<PatchRecord> = records.into_values().collect();
        for r in out.iter_mut().filter(|r| flagged.contains(&r.fid)) {
            if let Some(v) = r.values.get_mut(i) {
                *v = Value::Bool(true);
            }
        }
        Ok(out)
    }

    /// Opens one case per illegal patch that has none (party from the template's `party` role).
    pub fn propose_cases(&mut self) -> Result<Vec<String>> {
        let ledger = self.ledger()?;
        let party_field = self.template().roles().party.clone();
        let mut created = Vec::new();
        for key in ledger.illegal_without_case {
            let Some(fid) = self.find_patch(&key)? else { continue };
            let party = match (&party_field, self.patch(fid)?) {
                (Some(f), Some(r)) => r.value(self.template(), f).map(|v| v.to_string()).unwrap_or_default(),
                _ => String::new(),
            };
            created.push(self.create_case(None, &[fid], &party, "")?);
        }
        Ok(created)
    }
}
