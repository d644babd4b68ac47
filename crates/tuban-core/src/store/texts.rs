//! Texts of the report that the analyst writes (section 2 method, section 6 problems and
//! suggestions), kept in the project (`tuban_meta`) so every later report uses them.

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

    /// Starts a read transaction: every later query sees the project as it is now, while another
    /// connection keeps writing (a report or export reads one consistent state).
    pub fn begin_snapshot(&self) -> Result<()> {
        self.conn.execute_batch("BEGIN DEFERRED; SELECT count(*) FROM tuban_meta;").map_err(self.sq())
    }
}
