//! The case / problem ledger (案件台账 / 问题台账) as stored: cases linking illegal patches, their
//! workflow steps, investigation and rectification status. The rules (rates, closure, the
//! criminal threshold, split penalties) are `tuban_model::ledger`'s; this module reads and writes
//! the rows and audits each change.

use chrono::NaiveDate;
use rusqlite::{params, OptionalExtension};
use tuban_model::ledger::{self, CloseRefusal, Investigation, Rectification, Step, UnknownLabel};

use super::{now_utc, Project, Result, StoreError};

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
    pub step: Step,
    /// Investigation status.
    pub investigation: Investigation,
    /// Rectification status.
    pub rectification: Rectification,
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

/// A recorded workflow step.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseStep {
    /// Step.
    pub step: Step,
    /// Date of the step.
    pub date: Option<NaiveDate>,
    /// Who.
    pub who: String,
    /// Note.
    pub note: String,
}

/// What a case update may change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseUpdate {
    /// Party.
    pub party: Option<String>,
    /// Lead department.
    pub department: Option<String>,
    /// Investigation status.
    pub investigation: Option<Investigation>,
    /// Rectification status.
    pub rectification: Option<Rectification>,
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

/// A value outside a code list (an attachment kind, for instance).
pub(crate) fn bad(what: &str, value: &str, allowed: &[&str]) -> StoreError {
    StoreError::InvalidCase {
        detail: format!("{what} “{value}” 无效，可选：{} / invalid; choose one of the list", allowed.join("、")),
    }
}

/// A label read back from the file, as its typed value (a label no tuban writes means the file
/// was changed by another program: reported as a conversion failure naming the label).
fn label<T: std::str::FromStr<Err = UnknownLabel>>(column: usize, text: String) -> rusqlite::Result<T> {
    text.parse().map_err(|e: UnknownLabel| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(e))
    })
}

impl Project {
    fn case_from_row(&self, r: &rusqlite::Row<'_>) -> rusqlite::Result<Case> {
        let date = |s: Option<String>| s.and_then(|d| tuban_model::value::parse_date(&d));
        Ok(Case {
            id: r.get(0)?,
            number: r.get(1)?,
            party: r.get(2)?,
            department: r.get(3)?,
            step: label(4, r.get(4)?)?,
            investigation: label(5, r.get(5)?)?,
            rectification: label(6, r.get(6)?)?,
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
                    step: label(0, r.get(0)?)?,
                    date: r.get::<_, Option<String>>(1)?.and_then(|d| tuban_model::value::parse_date(&d)),
                    who: r.get(2)?,
                    note: r.get(3)?,
                })
            })
            .map_err(self.sq())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sq())
    }

    pub(super) fn audit_case(
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
                return Err(StoreError::NoSuchPatch { path: self.path_str(), key: format!("#{fid}") });
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
            "INSERT INTO tuban_cases(number, party, department, created_at, step, investigation, rectification)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                number,
                party,
                department,
                now,
                Step::Found.label(),
                Investigation::NotFiled.label(),
                Rectification::NotStarted.label()
            ],
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
        tx.execute(
            "INSERT INTO tuban_case_steps(case_id, step, date, who, note, recorded_at) VALUES (?1, ?2, ?3, ?4, '', ?5)",
            params![id, Step::Found.label(), today, user, now],
        )
        .map_err(sq)?;
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
        let changes: Vec<(&str, String, Option<String>)> = [
            ("party", case.party.clone(), u.party.clone()),
            ("department", case.department.clone(), u.department.clone()),
            ("investigation", case.investigation.to_string(), u.investigation.map(|v| v.to_string())),
            ("rectification", case.rectification.to_string(), u.rectification.map(|v| v.to_string())),
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
    pub fn record_step(&mut self, number: &str, step: Step, date: Option<NaiveDate>, note: &str) -> Result<()> {
        self.require_unsealed()?;
        let case = self
            .case(number)?
            .ok_or_else(|| StoreError::InvalidCase { detail: format!("没有案件 {number} / no case {number}") })?;
        let date = date.unwrap_or_else(|| chrono::Local::now().date_naive());
        if step == Step::Closed {
            let evidence = self.closure_evidence(case.id)?;
            ledger::may_close(case.rectification, evidence).map_err(|refusal| StoreError::InvalidCase {
                detail: match refusal {
                    CloseRefusal::NotRectified(r) => {
                        format!("案件 {number} 尚未整改到位（{r}），不能销号 / not rectified, cannot be closed")
                    }
                    CloseRefusal::NoEvidence => format!("案件 {number} 没有整改照片或附件等证据，不能销号 / no evidence (photos, attachments) of rectification: cannot be closed"),
                },
            })?;
        }
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.unchecked_transaction().map_err(sq)?;
        tx.execute(
            "INSERT INTO tuban_case_steps(case_id, step, date, who, note, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![case.id, step.label(), date.to_string(), self.user(), note, now_utc()],
        )
        .map_err(sq)?;
        tx.execute("UPDATE tuban_cases SET step = ?1 WHERE id = ?2", params![step.label(), case.id]).map_err(sq)?;
        if step == Step::Closed {
            tx.execute("UPDATE tuban_cases SET closed_on = ?1 WHERE id = ?2", params![date.to_string(), case.id])
                .map_err(sq)?;
        }
        self.audit_case(
            &tx,
            number,
            "step",
            Some(case.step.to_string()),
            Some(format!("{step} {date} {note}").trim().to_string()),
        )
        .map_err(sq)?;
        tx.commit().map_err(sq)
    }

    /// Pieces of evidence of a case's rectification: photos of its patches and its attachments.
    fn closure_evidence(&self, case_id: i64) -> Result<usize> {
        let n: i64 = self
            .conn
            .query_row(
                "SELECT (SELECT count(*) FROM tuban_photos WHERE patch_fid IN (SELECT patch_fid FROM tuban_case_patches WHERE case_id = ?1))
                      + (SELECT count(*) FROM tuban_case_attachments WHERE case_id = ?1)",
                [case_id],
                |r| r.get(0),
            )
            .map_err(self.sq())?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}
