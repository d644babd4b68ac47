//! Texts of the report that the analyst writes (section 2 method, section 6 problems and
//! suggestions), kept in the project (`tuban_meta`) so every later report uses them; and the
//! fields the analyst chose once to reuse from the last patch (沿用上一图斑).

use rusqlite::{params, OptionalExtension};

use super::{now_utc, Project, Result, StoreError};

/// A text of the report the analyst can edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportText {
    /// Section 2: organisation, staff, dates and method.
    Method,
    /// Section 6: problems and suggestions.
    Problems,
}

impl ReportText {
    /// Both texts.
    pub const ALL: [ReportText; 2] = [ReportText::Method, ReportText::Problems];

    fn key(self) -> &'static str {
        match self {
            ReportText::Method => "report_method",
            ReportText::Problems => "report_problems",
        }
    }

    /// Parses `method` or `problems`.
    pub fn parse(s: &str) -> Option<ReportText> {
        match s {
            "method" => Some(ReportText::Method),
            "problems" => Some(ReportText::Problems),
            _ => None,
        }
    }
}

impl Project {
    /// The stored text, `None` when the analyst has not written one.
    pub fn report_text(&self, which: ReportText) -> Result<Option<String>> {
        let v: Option<String> = self
            .conn
            .query_row("SELECT value FROM tuban_meta WHERE key = ?1", [which.key()], |r| r.get(0))
            .optional()
            .map_err(self.sq())?;
        Ok(v.filter(|s| !s.trim().is_empty()))
    }

    /// Stores a text (empty: back to the generated default); audited, refused when sealed.
    /// Returns false when the text was already so (nothing written).
    pub fn set_report_text(&mut self, which: ReportText, text: &str) -> Result<bool> {
        let old = self.report_text(which)?;
        if old.as_deref().unwrap_or("") == text.trim_end() {
            return Ok(false);
        }
        self.require_unsealed()?;
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.unchecked_transaction().map_err(sq)?;
        tx.execute(
            "INSERT INTO tuban_meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![which.key(), text.trim_end()],
        )
        .map_err(sq)?;
        tx.execute(
            "INSERT INTO tuban_audit(time, user, patch_fid, patch_key, field, old_value, new_value, action) VALUES (?1, ?2, NULL, '报告', ?3, ?4, ?5, 'report_text')",
            params![now_utc(), self.user(), which.key(), old, text.trim_end()],
        )
        .map_err(sq)?;
        tx.commit().map_err(sq)?;
        Ok(true)
    }

    /// The fields the reuse key copies from the last patch: the analyst's choice, else the
    /// survey fields every template has by convention (surveyor, date, unit, method) that this
    /// template has.
    pub fn reuse_fields(&self) -> Result<Vec<String>> {
        let v: Option<String> = self
            .conn
            .query_row("SELECT value FROM tuban_meta WHERE key = 'reuse_fields'", [], |r| r.get(0))
            .optional()
            .map_err(self.sq())?;
        let t = self.template();
        let chosen: Option<Vec<String>> = v.and_then(|s| serde_json::from_str(&s).ok());
        let names = chosen.unwrap_or_else(|| ["DCRY", "DCRQ", "DCDW", "HCFS"].map(String::from).to_vec());
        Ok(names.into_iter().filter(|n| t.field(n).is_some_and(|f| !f.is_read_only())).collect())
    }

    /// Chooses the fields the reuse key copies (unknown, issued and computed fields refused).
    pub fn set_reuse_fields(&mut self, fields: &[String]) -> Result<()> {
        self.require_write()?;
        for name in fields {
            let f = self.template().field(name).ok_or_else(|| StoreError::NoSuchField { name: name.clone() })?;
            if f.is_read_only() {
                return Err(StoreError::FieldReadOnly { name: f.name.clone() });
            }
        }
        let text = serde_json::to_string(fields).unwrap_or_else(|_| "[]".into());
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.unchecked_transaction().map_err(sq)?;
        tx.execute(
            "INSERT INTO tuban_meta(key, value) VALUES ('reuse_fields', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [&text],
        )
        .map_err(sq)?;
        tx.execute(
            "INSERT INTO tuban_audit(time, user, patch_fid, patch_key, field, old_value, new_value, action) VALUES (?1, ?2, NULL, NULL, 'reuse_fields', NULL, ?3, 'settings')",
            params![now_utc(), self.user(), text],
        )
        .map_err(sq)?;
        tx.commit().map_err(sq)
    }

    /// Starts a read transaction: every later query sees the project as it is now, while another
    /// connection keeps writing (a report or export reads one consistent state).
    pub fn begin_snapshot(&self) -> Result<()> {
        self.conn.execute_batch("BEGIN DEFERRED; SELECT count(*) FROM tuban_meta;").map_err(self.sq())
    }
}
