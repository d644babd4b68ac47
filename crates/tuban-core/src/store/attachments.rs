//! Documents and photos attached to a case (立案决定书, 处罚决定书, 整改照片 …), kept inside the
//! project with their SHA-256; each addition and removal is audited and refused when sealed.

use rusqlite::{params, OptionalExtension};

use super::cases::bad;
use super::{now_utc, Project, Result, StoreError};

/// Kinds of case attachments.
pub const ATTACHMENT_KINDS: [&str; 7] =
    ["立案决定书", "行政处罚决定书", "整改通知书", "现场勘验笔录", "整改照片", "移送函", "其他"];
/// Largest attachment kept in the project (a scanned document, a photo).
pub const ATTACHMENT_MAX_BYTES: usize = 100 << 20;

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

impl Project {
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
        super::failpoint::hit("attach.after_insert", &tx);
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
}
