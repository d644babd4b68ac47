//! The imagery catalogue of a project: raster sources with their acquisition date, stored with
//! paths relative to the project file so a project folder can move as a whole.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rusqlite::params;

use super::{now_utc, Project, Result, StoreError};

/// One registered imagery source.
#[derive(Debug, Clone, PartialEq)]
pub struct ImagerySource {
    /// Unique short name.
    pub name: String,
    /// Absolute path (resolved against the project's folder).
    pub path: PathBuf,
    /// Acquisition date.
    pub acquired: Option<NaiveDate>,
    /// Label shown to the analyst (e.g. 2021 GF-2 mosaic).
    pub label: String,
}

/// `path` relative to `base` when it lies below it; otherwise as given.
fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
    // Walk up from base until abs starts with it, adding "..".
    let mut up = PathBuf::new();
    let mut b = base.as_path();
    loop {
        if let Ok(rest) = abs.strip_prefix(b) {
            return up.join(rest);
        }
        match b.parent() {
            Some(parent) => {
                up.push("..");
                b = parent;
            }
            None => return abs,
        }
    }
}

impl Project {
    fn project_dir(&self) -> PathBuf {
        self.path().parent().map(Path::to_path_buf).unwrap_or_default()
    }

    /// Registers an imagery source (path stored relative to the project).
    pub fn add_imagery(&mut self, name: &str, path: &Path, acquired: Option<NaiveDate>, label: &str) -> Result<()> {
        self.require_write()?;
        let rel = relative_to(path, &self.project_dir());
        let now = now_utc();
        let user = self.user().to_string();
        let sq = self.sq();
        self.conn
            .execute(
                "INSERT INTO tuban_imagery(name, path, acquired, label, added_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, rel.to_string_lossy(), acquired.map(|d| d.format("%Y-%m-%d").to_string()), label, now],
            )
            .map_err(&sq)?;
        self.conn
            .execute(
                "INSERT INTO tuban_audit(time, user, patch_fid, patch_key, field, old_value, new_value, action) VALUES (?1, ?2, NULL, NULL, 'imagery', NULL, ?3, 'imagery')",
                params![now, user, format!("{name}: {}", rel.display())],
            )
            .map_err(&sq)?;
        Ok(())
    }

    /// Removes an imagery source by name.
    pub fn remove_imagery(&mut self, name: &str) -> Result<()> {
        self.require_write()?;
        let n = self.conn.execute("DELETE FROM tuban_imagery WHERE name = ?1", [name]).map_err(self.sq())?;
        if n == 0 {
            return Err(StoreError::NoSuchPatch { key: format!("imagery {name}") });
        }
        self.conn
            .execute(
                "INSERT INTO tuban_audit(time, user, patch_fid, patch_key, field, old_value, new_value, action) VALUES (?1, ?2, NULL, NULL, 'imagery', ?3, NULL, 'imagery')",
                params![now_utc(), self.user(), name],
            )
            .map_err(self.sq())?;
        Ok(())
    }

    /// The registered imagery, oldest acquisition first.
    pub fn imagery(&self) -> Result<Vec<ImagerySource>> {
        let dir = self.project_dir();
        let mut st = self.conn.prepare("SELECT name, path, acquired, label FROM tuban_imagery ORDER BY acquired, id").map_err(self.sq())?;
        let rows = st
            .query_map([], |r| {
                let rel: String = r.get(1)?;
                let acquired: Option<String> = r.get(2)?;
                Ok(ImagerySource { name: r.get(0)?, path: dir.join(rel), acquired: acquired.and_then(|d| crate::model::value::parse_date(&d)), label: r.get(3)? })
            })
            .map_err(self.sq())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sq())
    }
}

/// The source whose date is nearest to `date` (ties: the earlier one); sources without a date last.
pub fn nearest(sources: &[ImagerySource], date: Option<NaiveDate>) -> Option<usize> {
    let date = date?;
    sources.iter().enumerate().filter_map(|(i, s)| s.acquired.map(|a| (i, (a - date).num_days().abs()))).min_by_key(|(_, d)| *d).map(|(i, _)| i)
}
