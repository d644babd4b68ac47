//! The case / problem ledger (案件台账 / 问题台账): cases linking illegal patches, their workflow
//! steps 问题发现 → 移交查处 → 督促整改 → 移送上报 → 销号, investigation and rectification status,
//! the rates of DOMAIN §5 per township, and the patterns the ledger must make visible: overdue
//! cases, cases that reach the criminal threshold, and split penalties (拆分处罚).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use geo::{Distance, Euclidean};
use rusqlite::{params, OptionalExtension};

use super::{now_utc, Project, Result, StoreError};
use tuban_model::units::M2_PER_MU;
use tuban_model::Value;

/// Workflow steps, in order.
pub const STEPS: [&str; 5] = ["问题发现", "移交查处", "督促整改", "移送上报", "销号"];
/// Investigation statuses (查处).
pub const INVESTIGATION: [&str; 5] = ["未立案", "已立案未结案", "已结案", "非立案处理", "移送司法"];
/// Rectification statuses (整改).
pub const RECTIFICATION: [&str; 3] = ["未整改", "整改中", "已整改到位"];
/// Illegal area from which a case is suspected of a crime (法释〔2012〕15号: 20 亩).
pub const CRIMINAL_THRESHOLD_M2: f64 = 20.0 * M2_PER_MU;
/// The threshold when the party was penalised for the same conduct within three years: 10 亩.
pub const CRIMINAL_THRESHOLD_REPEAT_M2: f64 = 10.0 * M2_PER_MU;
/// Kinds of case attachments.
pub const ATTACHMENT_KINDS: [&str; 7] =
    ["立案决定书", "行政处罚决定书", "整改通知书", "现场勘验笔录", "整改照片", "移送函", "其他"];
/// Largest attachment kept in the project (a scanned document, a photo).
pub const ATTACHMENT_MAX_BYTES: usize = 100 << 20;
/// Cases of one party whose patches lie closer than this are checked for split penalties.
pub const SPLIT_DISTANCE_M: f64 = 500.0;

/// One case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Row id.
    pub id: i64,
    /// Case number.
    pub number: String,
    /// Party (当事人 / 用地单位).
    pub party: String,
    /// Lead department (牵头部门).
    pub department: String,
    /// Current workflow step.
    pub step: String,
    /// Investigation status.
    pub investigation: String,
    /// Rectification status.
    pub rectification: String,
    /// Measures taken.
    pub measures: String,
    /// Penalty document number.
    pub penalty_doc: String,
    /// Fine in yuan.
    pub fine_yuan: Option<f64>,
    /// Rectification deadline.
    pub deadline: Option<NaiveDate>,
    /// Date of closure (销号).
    pub closed_on: Option<NaiveDate>,
    /// An earlier penalty of the party for the same conduct (document number), recorded by hand
    /// when it lies outside this project; empty when none is known.
    pub prior_penalty: String,
    /// Linked patches (row ids).
    pub patch_fids: Vec<i64>,
}

/// A document or photo attached to a case, kept inside the project.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    /// Row id.
    pub id: i64,
    /// Original file name.
    pub file_name: String,
    /// Kind (one of [`ATTACHMENT_KINDS`]).
    pub kind: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// When and by whom it was added.
    pub added_at: String,
    /// Who added it.
    pub added_by: String,
}

/// A case at the criminal threshold and not yet referred.
#[derive(Debug, Clone, PartialEq)]
pub struct CriminalFlag {
    /// Case number.
    pub number: String,
    /// Illegal area in m².
    pub area_m2: f64,
    /// The penalty within three years that lowered the threshold to 10 亩 (document or case number).
    pub prior_penalty: Option<String>,
}

/// A recorded workflow step.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseStep {
    /// Step name.
    pub step: String,
    /// Date of the step.
    pub date: Option<NaiveDate>,
    /// Who.
    pub who: String,
    /// Note.
    pub note: String,
}

/// Counts and rates of one township (or the total).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rates {
    /// 违法宗数: cases.
    pub cases: usize,
    /// 违法面积 in m².
    pub illegal_area_m2: f64,
    /// 立案 (filed: 已立案未结案, 已结案, 移送司法).
    pub filed: usize,
    /// 已结案.
    pub concluded: usize,
    /// 非立案处理.
    pub handled_without_filing: usize,
    /// 已整改到位.
    pub rectified: usize,
}

impl Rates {
    fn ratio(a: usize, b: usize) -> Option<f64> {
        (b > 0).then(|| a as f64 / b as f64)
    }
    /// 查处到位率 = (已结案 + 非立案处理) ÷ 违法宗数.
    pub fn investigation_rate(&self) -> Option<f64> {
        Self::ratio(self.concluded + self.handled_without_filing, self.cases)
    }
    /// 整改到位率 = (已整改到位 + 非立案处理) ÷ 违法宗数 (a case counted once).
    pub fn rectification_rate(&self) -> Option<f64> {
        Self::ratio(self.rectified, self.cases)
    }
    /// 立案率 = 立案 ÷ 违法宗数.
    pub fn filing_rate(&self) -> Option<f64> {
        Self::ratio(self.filed, self.cases)
    }
    /// 结案率 = 结案 ÷ 立案.
    pub fn conclusion_rate(&self) -> Option<f64> {
        Self::ratio(self.concluded, self.filed)
    }
}

/// The ledger: rates per township and in total, and the cases needing attention.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    /// Per township.
    pub by_township: BTreeMap<String, Rates>,
    /// All cases.
    pub total: Rates,
    /// Past the deadline and not closed: (case number, deadline).
    pub overdue: Vec<(String, NaiveDate)>,
    /// At or above the criminal threshold (20 亩, or 10 亩 after a penalty for the same within
    /// three years) and not referred.
    pub criminal: Vec<CriminalFlag>,
    /// Groups of cases of one party on neighbouring patches (possible split penalties).
    pub split_penalties: Vec<Vec<String>>,
    /// Illegal patches not yet in any case.
    pub illegal_without_case: Vec<String>,
}

/// What a case update may change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseUpdate {
    /// Party.
    pub party: Option<String>,
    /// Lead department.
    pub department: Option<String>,
    /// Investigation status.
    pub investigation: Option<String>,
    /// Rectification status.
    pub rectification: Option<String>,
    /// Measures.
    pub measures: Option<String>,
    /// Penalty document.
    pub penalty_doc: Option<String>,
    /// Fine.
    pub fine_yuan: Option<f64>,
    /// Deadline.
    pub deadline: Option<NaiveDate>,
    /// Earlier penalty for the same conduct (document number).
    pub prior_penalty: Option<String>,
}

fn bad(what: &str, value: &str, allowed: &[&str]) -> StoreError {
    StoreError::InvalidCase {
        detail: format!("{what} “{value}” 无效，可选：{} / invalid; choose one of the list", allowed.join("、")),
    }
}

impl Project {
    fn case_from_row(&self, r: &rusqlite::Row<'_>) -> rusqlite::Result<Case> {
        let date = |s: Option<String>| s.and_then(|d| tuban_model::value::parse_date(&d));
        Ok(Case {
            id: r.get(0)?,
            number: r.get(1)?,
            party: r.get(2)?,
            department: r.get(3)?,
            step: r.get(4)?,
            investigation: r.get(5)?,
            rectification: r.get(6)?,
            measures: r.get(7)?,
            penalty_doc: r.get(8)?,
            fine_yuan: r.get(9)?,
            deadline: date(r.get(10)?),
            closed_on: date(r.get(11)?),
            prior_penalty: r.get(12)?,
            patch_fids: Vec::new(),
        })
    }

    /// Every case with its patches, by number.
    pub fn cases(&self) -> Result<Vec<Case>> {
        let mut st = self
            .conn
            .prepare("SELECT id, number, party, department, step, investigation, rectification, measures, penalty_doc, fine_yuan, deadline, closed_on, prior_penalty FROM tuban_cases ORDER BY number")
            .map_err(self.sq())?;
        let mut cases = st
            .query_map([], |r| self.case_from_row(r))
            .map_err(self.sq())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.sq())?;
        let mut st = self
            .conn
            .prepare("SELECT case_id, patch_fid FROM tuban_case_patches ORDER BY patch_fid")
            .map_err(self.sq())?;
        let links = st
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .map_err(self.sq())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.sq())?;
        for c in &mut cases {
            c.patch_fids = links.iter().filter(|(cid, _)| *cid == c.id).map(|(_, f)| *f).collect();
        }
        Ok(cases)
    }

    /// A case by number.
    pub fn case(&self, number: &str) -> Result<Option<Case>> {
        Ok(self.cases()?.into_iter().find(|c| c.number == number))
    }

    /// The case a patch belongs to.
    pub fn case_of_patch(&self, fid: i64) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT c.number FROM tuban_cases c JOIN tuban_case_patches l ON l.case_id = c.id WHERE l.patch_fid = ?1", [fid], |r| r.get(0))
            .optional()
            .map_err(self.sq())
    }

    /// The workflow steps recorded for a case, oldest first.
    pub fn case_steps(&self, number: &str) -> Result<Vec<CaseStep>> {
        let mut st = self
            .conn
            .prepare("SELECT s.step, s.date, coalesce(s.who, ''), coalesce(s.note, '') FROM tuban_case_steps s JOIN tuban_cases c ON c.id = s.case_id WHERE c.number = ?1 ORDER BY s.id")
            .map_err(self.sq())?;
        let rows = st
            .query_map([number], |r| {
                Ok(CaseStep {
                    step: r.get(0)?,
                    date: r.get::<_, Option<String>>(1)?.and_then(|d| tuban_model::value::parse_date(&d)),
                    who: r.get(2)?,
                    note: r.get(3)?,
                })
            })
            .map_err(self.sq())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sq())
    }

    fn audit_case(
        &self,
        tx: &rusqlite::Transaction<'_>,
        number: &str,
        field: &str,
        old: Option<String>,
        new: Option<String>,
    ) -> rusqlite::Result<usize> {
        tx.execute(
            "INSERT INTO tuban_audit(time, user, patch_fid, patch_key, field, old_value, new_value, action) VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6, 'case')",
            params![now_utc(), self.user(), format!("案件 {number}"), field, old, new],
        )
    }

    /// Opens a case for patches (a patch belongs to at most one case); number generated when
    /// not given (`{county}-{year}-AJ{seq:03}`). The first step, 问题发现, is recorded.
    pub fn create_case(
        &mut self,
        number: Option<&str>,
        patch_fids: &[i64],
        party: &str,
        department: &str,
    ) -> Result<String> {
        self.require_unsealed()?;
        if patch_fids.is_empty() {
            return Err(StoreError::InvalidCase {
                detail: "案件至少要关联一个图斑 / a case needs at least one patch".into(),
            });
        }
        for fid in patch_fids {
            if self.patch(*fid)?.is_none() {
                return Err(StoreError::NoSuchPatch { key: format!("#{fid}") });
            }
            if let Some(other) = self.case_of_patch(*fid)? {
                let key = self.patch(*fid)?.map(|r| r.key).unwrap_or_default();
                return Err(StoreError::InvalidCase {
                    detail: format!("图斑 {key} 已属于案件 {other} / patch already belongs to case {other}"),
                });
            }
        }
        let number = match number {
            Some(n) if !n.trim().is_empty() => n.trim().to_string(),
            _ => {
                let n: i64 =
                    self.conn.query_row("SELECT count(*) FROM tuban_cases", [], |r| r.get(0)).map_err(self.sq())?;
                format!("{}-{}-AJ{:03}", self.meta().county_code, self.meta().year, n + 1)
            }
        };
        let now = now_utc();
        let today = chrono::Local::now().date_naive().to_string();
        let user = self.user().to_string();
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.unchecked_transaction().map_err(sq)?;
        tx.execute(
            "INSERT INTO tuban_cases(number, party, department, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![number, party, department, now],
        )
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => {
                StoreError::InvalidCase { detail: format!("案件编号 {number} 已存在 / case number exists") }
            }
            _ => sq(e),
        })?;
        let id = tx.last_insert_rowid();
        for fid in patch_fids {
            tx.execute("INSERT INTO tuban_case_patches(case_id, patch_fid) VALUES (?1, ?2)", params![id, fid])
                .map_err(sq)?;
        }
        tx.execute("INSERT INTO tuban_case_steps(case_id, step, date, who, note, recorded_at) VALUES (?1, '问题发现', ?2, ?3, '', ?4)", params![id, today, user, now]).map_err(sq)?;
        self.audit_case(&tx, &number, "case", None, Some(format!("patches {patch_fids:?} party {party}")))
            .map_err(sq)?;
        tx.commit().map_err(sq)?;
        Ok(number)
    }

    /// Changes fields of a case; each change is audited.
    pub fn update_case(&mut self, number: &str, u: &CaseUpdate) -> Result<()> {
        self.require_unsealed()?;
        let case = self
            .case(number)?
            .ok_or_else(|| StoreError::InvalidCase { detail: format!("没有案件 {number} / no case {number}") })?;
        if let Some(v) = &u.investigation {
            if !INVESTIGATION.contains(&v.as_str()) {
                return Err(bad("查处状态 / investigation", v, &INVESTIGATION));
            }
        }
        if let Some(v) = &u.rectification {
            if !RECTIFICATION.contains(&v.as_str()) {
                return Err(bad("整改状态 / rectification", v, &RECTIFICATION));
            }
        }
        let changes: Vec<(&str, String, Option<String>)> = [
            ("party", case.party.clone(), u.party.clone()),
            ("department", case.department.clone(), u.department.clone()),
            ("investigation", case.investigation.clone(), u.investigation.clone()),
            ("rectification", case.rectification.clone(), u.rectification.clone()),
            ("measures", case.measures.clone(), u.measures.clone()),
            ("penalty_doc", case.penalty_doc.clone(), u.penalty_doc.clone()),
            (
                "fine_yuan",
                case.fine_yuan.map(|f| f.to_string()).unwrap_or_default(),
                u.fine_yuan.map(|f| f.to_string()),
            ),
            ("deadline", case.deadline.map(|d| d.to_string()).unwrap_or_default(), u.deadline.map(|d| d.to_string())),
            ("prior_penalty", case.prior_penalty.clone(), u.prior_penalty.clone()),
        ]
        .into_iter()
        .filter_map(|(f, old, new)| new.filter(|n| *n != old).map(|n| (f, old, Some(n))))
        .collect();
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.unchecked_transaction().map_err(sq)?;
        for (field, old, new) in &changes {
            tx.execute(&format!("UPDATE tuban_cases SET {field} = ?1 WHERE id = ?2"), params![new, case.id])
                .map_err(sq)?;
            self.audit_case(&tx, number, field, Some(old.clone()).filter(|o| !o.is_empty()), new.clone())
                .map_err(sq)?;
        }
        tx.commit().map_err(sq)
    }

    /// Records a workflow step with its date, who and a note. 销号 (closure) only after
    /// 已整改到位 and with evidence: at least one photo of the case's patches.
    pub fn record_step(&mut self, number: &str, step: &str, date: Option<NaiveDate>, note: &str) -> Result<()> {
        self.require_unsealed()?;
        if !STEPS.contains(&step) {
            return Err(bad("步骤 / step", step, &STEPS));
        }
        let case = self
            .case(number)?
            .ok_or_else(|| StoreError::InvalidCase { detail: format!("没有案件 {number} / no case {number}") })?;
        let date = date.unwrap_or_else(|| chrono::Local::now().date_naive());
        if step == "销号" {
            if case.rectification != "已整改到位" {
                return Err(StoreError::InvalidCase {
                    detail: format!(
                        "案件 {number} 尚未整改到位（{}），不能销号 / not rectified, cannot be closed",
                        case.rectification
                    ),
                });
            }
            let evidence: i64 = self
                .conn
                .query_row(
                    "SELECT (SELECT count(*) FROM tuban_photos WHERE patch_fid IN (SELECT patch_fid FROM tuban_case_patches WHERE case_id = ?1))
                          + (SELECT count(*) FROM tuban_case_attachments WHERE case_id = ?1)",
                    [case.id],
                    |r| r.get(0),
                )
                .map_err(self.sq())?;
            if evidence == 0 {
                return Err(StoreError::InvalidCase { detail: format!("案件 {number} 没有整改照片或附件等证据，不能销号 / no evidence (photos, attachments) of rectification: cannot be closed") });
            }
        }
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.unchecked_transaction().map_err(sq)?;
        tx.execute(
            "INSERT INTO tuban_case_steps(case_id, step, date, who, note, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![case.id, step, date.to_string(), self.user(), note, now_utc()],
        )
        .map_err(sq)?;
        tx.execute("UPDATE tuban_cases SET step = ?1 WHERE id = ?2", params![step, case.id]).map_err(sq)?;
        if step == "销号" {
            tx.execute("UPDATE tuban_cases SET closed_on = ?1 WHERE id = ?2", params![date.to_string(), case.id])
                .map_err(sq)?;
        }
        self.audit_case(
            &tx,
            number,
            "step",
            Some(case.step.clone()),
            Some(format!("{step} {date} {note}").trim().to_string()),
        )
        .map_err(sq)?;
        tx.commit().map_err(sq)
    }

    /// Illegal area of a patch in m²: the template's WFMJ-like field when filled, else its area.
    fn illegal_area_m2(&self, fid: i64) -> Result<f64> {
        let Some(r) = self.patch(fid)? else { return Ok(0.0) };
        let t = self.template();
        let field = t.fields().iter().find(|f| f.name == "WFMJ");
        if let Some(f) = field {
            if let Some(Value::Real(v)) = r.value(t, &f.name) {
                let unit = f.unit().unwrap_or(tuban_model::units::Unit::M2);
                return Ok(tuban_model::units::convert(*v, unit, tuban_model::units::Unit::M2).unwrap_or(*v));
            }
        }
        Ok(r.area_m2)
    }

    /// Illegal area of a case in m²: the sum over its patches.
    fn case_area_m2(&self, c: &Case) -> Result<f64> {
        c.patch_fids.iter().map(|f| self.illegal_area_m2(*f)).sum()
    }

    /// The ledger: rates per township and in total, overdue cases, criminal threshold, split
    /// penalties and illegal patches without a case.
    pub fn ledger(&self) -> Result<Ledger> {
        let cases = self.cases()?;
        let records: BTreeMap<i64, super::PatchRecord> = self.patches()?.into_iter().map(|r| (r.fid, r)).collect();
        let t = self.template();
        let township_field = t.roles().township.clone();
        let today = chrono::Local::now().date_naive();
        let mut ledger = Ledger::default();
        for c in &cases {
            let town = c
                .patch_fids
                .first()
                .and_then(|f| records.get(f))
                .and_then(|r| township_field.as_deref().and_then(|tf| r.value(t, tf)))
                .map(|v| v.to_string())
                .unwrap_or_default();
            let area = self.case_area_m2(c)?;
            for rates in [ledger.by_township.entry(town).or_default(), &mut ledger.total] {
                rates.cases += 1;
                rates.illegal_area_m2 += area;
                if matches!(c.investigation.as_str(), "已立案未结案" | "已结案" | "移送司法") {
                    rates.filed += 1;
                }
                if c.investigation == "已结案" {
                    rates.concluded += 1;
                }
                if c.investigation == "非立案处理" {
                    rates.handled_without_filing += 1;
                }
                if c.rectification == "已整改到位" || c.investigation == "非立案处理" {
                    rates.rectified += 1;
                }
            }
            if let Some(d) = c.deadline {
                if d < today && c.step != "销号" {
                    ledger.overdue.push((c.number.clone(), d));
                }
            }
            if c.investigation != "移送司法" {
                if let Some(flag) = self.criminal_flag(c, area, &cases)? {
                    ledger.criminal.push(flag);
                }
            }
        }
        // Split penalties: cases of the same party whose patches are neighbours.
        let centre_m = |fid: &i64| {
            records
                .get(fid)
                .and_then(|r| r.center_lonlat)
                .map(|(lon, lat)| geo::Point::new(lon * 111_320.0 * lat.to_radians().cos(), lat * 110_574.0))
        };
        let mut by_party: BTreeMap<String, Vec<&Case>> = BTreeMap::new();
        for c in &cases {
            let party = c.party.trim().to_string();
            if !party.is_empty() {
                by_party.entry(party).or_default().push(c);
            }
        }
        for group in by_party.values().filter(|g| g.len() > 1) {
            let mut linked: Vec<String> = Vec::new();
            for (i, a) in group.iter().enumerate() {
                for b in &group[i + 1..] {
                    let near = a.patch_fids.iter().filter_map(centre_m).any(|pa| {
                        b.patch_fids.iter().filter_map(centre_m).any(|pb| Euclidean.distance(pa, pb) < SPLIT_DISTANCE_M)
                    });
                    if near {
                        for n in [&a.number, &b.number] {
                            if !linked.contains(n) {
                                linked.push(n.clone());
                            }
                        }
                    }
                }
            }
            if linked.len() > 1 {
                ledger.split_penalties.push(linked);
            }
        }
        let illegal = &t.roles().illegal_verdicts;
        let in_case: std::collections::HashSet<i64> = cases.iter().flat_map(|c| c.patch_fids.iter().copied()).collect();
        for r in records.values() {
            let verdict = r.value(t, &t.roles().verdict).map(|v| v.to_string()).unwrap_or_default();
            if illegal.contains(&verdict) && !in_case.contains(&r.fid) {
                ledger.illegal_without_case.push(r.key.clone());
            }
        }
        Ok(ledger)
    }

    /// The criminal threshold check of one case with its illegal area: 20 亩, or 10 亩 after a
    /// penalty for the same within three years.
    fn criminal_flag(&self, c: &Case, area_m2: f64, cases: &[Case]) -> Result<Option<CriminalFlag>> {
        if area_m2 < CRIMINAL_THRESHOLD_REPEAT_M2 {
            return Ok(None);
        }
        let prior = self.prior_penalty_of(c, cases)?;
        let reached = area_m2 >= CRIMINAL_THRESHOLD_M2 || prior.is_some();
        Ok(reached.then(|| CriminalFlag { number: c.number.clone(), area_m2, prior_penalty: prior }))
    }

    /// The criminal threshold check of one case (for the window; the ledger checks them all).
    pub fn criminal_flag_of(&self, number: &str) -> Result<Option<CriminalFlag>> {
        let cases = self.cases()?;
        let Some(c) = cases.iter().find(|c| c.number == number) else { return Ok(None) };
        self.criminal_flag(c, self.case_area_m2(c)?, &cases)
    }

    /// Every patch as delivered: the template's SFSX (涉嫌刑事), which a patch computes from its
    /// own WFMJ (≥ 20 亩), is also set on the patches of a case that reaches the threshold
    /// through an earlier penalty (≥ 10 亩) — referred or not.
    pub fn patches_delivered(&self) -> Result<Vec<super::PatchRecord>> {
        let mut records = self.patches()?;
        let t = self.template();
        let Some(i) =
            t.fields().iter().position(|f| f.name == "SFSX" && matches!(f.kind, tuban_model::FieldKind::Boolean))
        else {
            return Ok(records);
        };
        let cases = self.cases()?;
        let mut flagged = std::collections::HashSet::new();
        for c in &cases {
            if self.criminal_flag(c, self.case_area_m2(c)?, &cases)?.is_some() {
                flagged.extend(c.patch_fids.iter().copied());
            }
        }
        for r in records.iter_mut().filter(|r| flagged.contains(&r.fid)) {
            if let Some(v) = r.values.get_mut(i) {
                *v = Value::Bool(true);
            }
        }
        Ok(records)
    }

    /// The date a case was found (its 问题发现 step), else when it was recorded.
    fn found_on(&self, case_id: i64) -> Result<Option<NaiveDate>> {
        let d: Option<String> = self
            .conn
            .query_row("SELECT coalesce(min(CASE WHEN step = '问题发现' THEN date END), min(date)) FROM tuban_case_steps WHERE case_id = ?1", [case_id], |r| r.get(0))
            .map_err(self.sq())?;
        Ok(d.and_then(|d| tuban_model::value::parse_date(&d)))
    }

    /// A penalty of the same party for the same conduct within the three years before this case
    /// was found: the one recorded by hand on the case, else another case of the party in this
    /// project with a penalty document or a fine, found up to three years earlier.
    fn prior_penalty_of(&self, c: &Case, cases: &[Case]) -> Result<Option<String>> {
        if !c.prior_penalty.trim().is_empty() {
            return Ok(Some(c.prior_penalty.trim().to_string()));
        }
        let party = c.party.trim();
        if party.is_empty() {
            return Ok(None);
        }
        let Some(found) = self.found_on(c.id)? else { return Ok(None) };
        for other in cases.iter().filter(|o| o.id != c.id && o.party.trim() == party) {
            let penalised = !other.penalty_doc.trim().is_empty() || other.fine_yuan.is_some_and(|f| f > 0.0);
            if !penalised {
                continue;
            }
            let Some(then) = self.found_on(other.id)? else { continue };
            let three_years_before = found.with_year(found.year() - 3).unwrap_or(found);
            if then < found && then >= three_years_before {
                let doc = if other.penalty_doc.trim().is_empty() {
                    other.number.clone()
                } else {
                    format!("{}（{}）", other.penalty_doc.trim(), other.number)
                };
                return Ok(Some(doc));
            }
        }
        Ok(None)
    }

    /// Attaches a document or photo (its bytes) to a case; audited, refused when sealed.
    pub fn attach_to_case(&mut self, number: &str, file_name: &str, kind: &str, bytes: &[u8]) -> Result<i64> {
        self.require_unsealed()?;
        if !ATTACHMENT_KINDS.contains(&kind) {
            return Err(bad("附件类型 / attachment kind", kind, &ATTACHMENT_KINDS));
        }
        if bytes.is_empty() {
            return Err(StoreError::InvalidCase { detail: format!("{file_name}: 文件为空 / the file is empty") });
        }
        if bytes.len() > ATTACHMENT_MAX_BYTES {
            return Err(StoreError::InvalidCase {
                detail: format!(
                    "{file_name}: 文件超过 {} MB，请压缩或拆分后再附上 / larger than {} MB: compress or split it",
                    ATTACHMENT_MAX_BYTES >> 20,
                    ATTACHMENT_MAX_BYTES >> 20
                ),
            });
        }
        let case = self
            .case(number)?
            .ok_or_else(|| StoreError::InvalidCase { detail: format!("没有案件 {number} / no case {number}") })?;
        let sha = {
            use sha2::Digest;
            sha2::Sha256::digest(bytes).to_vec()
        };
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.unchecked_transaction().map_err(sq)?;
        tx.execute(
            "INSERT INTO tuban_case_attachments(case_id, file_name, kind, sha256, data, added_at, added_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![case.id, file_name, kind, sha, bytes, now_utc(), self.user()],
        )
        .map_err(sq)?;
        let id = tx.last_insert_rowid();
        self.audit_case(&tx, number, "attachment", None, Some(format!("{kind} {file_name} ({} bytes)", bytes.len())))
            .map_err(sq)?;
        tx.commit().map_err(sq)?;
        Ok(id)
    }

    /// The attachments of a case, oldest first.
    pub fn case_attachments(&self, number: &str) -> Result<Vec<Attachment>> {
        let mut st = self
            .conn
            .prepare("SELECT a.id, a.file_name, a.kind, length(a.data), a.added_at, coalesce(a.added_by, '') FROM tuban_case_attachments a JOIN tuban_cases c ON c.id = a.case_id WHERE c.number = ?1 ORDER BY a.id")
            .map_err(self.sq())?;
        let rows = st
            .query_map([number], |r| {
                Ok(Attachment {
                    id: r.get(0)?,
                    file_name: r.get(1)?,
                    kind: r.get(2)?,
                    size_bytes: r.get(3)?,
                    added_at: r.get(4)?,
                    added_by: r.get(5)?,
                })
            })
            .map_err(self.sq())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sq())
    }

    /// The file name and bytes of an attachment.
    pub fn attachment_data(&self, id: i64) -> Result<Option<(String, Vec<u8>)>> {
        self.conn
            .query_row("SELECT file_name, data FROM tuban_case_attachments WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(self.sq())
    }

    /// Removes an attachment; audited, refused when sealed.
    pub fn remove_attachment(&mut self, id: i64) -> Result<()> {
        self.require_unsealed()?;
        let row: Option<(String, String)> = self
            .conn
            .query_row("SELECT c.number, a.file_name FROM tuban_case_attachments a JOIN tuban_cases c ON c.id = a.case_id WHERE a.id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(self.sq())?;
        let Some((number, name)) = row else { return Ok(()) };
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.unchecked_transaction().map_err(sq)?;
        tx.execute("DELETE FROM tuban_case_attachments WHERE id = ?1", [id]).map_err(sq)?;
        self.audit_case(&tx, &number, "attachment", Some(name), None).map_err(sq)?;
        tx.commit().map_err(sq)
    }

    /// Opens one case per illegal patch that has none (party from the template's DSR field).
    pub fn propose_cases(&mut self) -> Result<Vec<String>> {
        let ledger = self.ledger()?;
        let mut created = Vec::new();
        for key in ledger.illegal_without_case {
            let Some(fid) = self.find_patch(&key)? else { continue };
            let party = self
                .patch(fid)?
                .and_then(|r| r.value(self.template(), "DSR").map(|v| v.to_string()))
                .unwrap_or_default();
            created.push(self.create_case(None, &[fid], &party, "")?);
        }
        Ok(created)
    }
}
