//! The imagery catalogue of a project: sources with their acquisition date and label. File paths
//! are stored relative to the project file, so a project folder can move as a whole.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rusqlite::params;

use super::{now_utc, Project, Result, StoreError};
use crate::imagery::SourceSpec;

/// One registered imagery source.
#[derive(Debug, Clone, PartialEq)]
pub struct ImagerySource {
    /// Unique short name.
    pub name: String,
    /// The source, file paths resolved against the project's folder.
    pub spec: SourceSpec,
    /// Acquisition date.
    pub acquired: Option<NaiveDate>,
    /// Label shown to the analyst (e.g. 2021 GF-2 mosaic).
    pub label: String,
}

impl ImagerySource {
    /// The label, or the name when there is none.
    pub fn title(&self) -> &str {
        if self.label.is_empty() {
            &self.name
        } else {
            &self.label
        }
    }
}

/// `path` relative to `base` when that is possible; otherwise absolute.
fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
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

/// Applies `f` to every file path of a source.
fn map_paths(spec: &SourceSpec, f: impl Fn(&Path) -> PathBuf) -> SourceSpec {
    let mut s = spec.clone();
    match &mut s {
        SourceSpec::Raster { path, .. } | SourceSpec::MbTiles { path } | SourceSpec::TileDir { path, .. } => {
            *path = f(path)
        }
        SourceSpec::Mosaic { paths, .. } => {
            for p in paths.iter_mut() {
                *p = f(p);
            }
        }
        SourceSpec::Online(_) => {}
    }
    s
}

impl Project {
    fn project_dir(&self) -> PathBuf {
        let dir = self.path().parent().map(Path::to_path_buf).unwrap_or_default();
        if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        }
    }

    /// Registers an imagery source (file paths stored relative to the project).
    pub fn add_imagery(
        &mut self,
        name: &str,
        spec: &SourceSpec,
        acquired: Option<NaiveDate>,
        label: &str,
    ) -> Result<()> {
        self.require_write()?;
        let dir = self.project_dir();
        let stored = map_paths(spec, |p| relative_to(p, &dir));
        let json = serde_json::to_string(&stored).unwrap_or_default();
        let now = now_utc();
        let user = self.user().to_string();
        let sq = self.sq();
        self.conn
            .execute(
                "INSERT INTO tuban_imagery(name, spec, acquired, label, added_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, json, acquired.map(|d| d.format("%Y-%m-%d").to_string()), label, now],
            )
            .map_err(&sq)?;
        self.conn
            .execute("INSERT INTO tuban_audit(time, user, patch_fid, patch_key, field, old_value, new_value, action) VALUES (?1, ?2, NULL, NULL, 'imagery', NULL, ?3, 'imagery')", params![now, user, name])
            .map_err(&sq)?;
        Ok(())
    }

    /// Removes an imagery source by name.
    pub fn remove_imagery(&mut self, name: &str) -> Result<()> {
        self.require_write()?;
        let n = self.conn.execute("DELETE FROM tuban_imagery WHERE name = ?1", [name]).map_err(self.sq())?;
        if n == 0 {
            return Err(StoreError::NoSuchPatch { path: self.path_str(), key: format!("imagery {name}") });
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
        let mut st = self
            .conn
            .prepare("SELECT name, spec, acquired, label FROM tuban_imagery ORDER BY acquired, id")
            .map_err(self.sq())?;
        let rows = st
            .query_map([], |r| {
                let json: String = r.get(1)?;
                let acquired: Option<String> = r.get(2)?;
                Ok((r.get::<_, String>(0)?, json, acquired, r.get::<_, String>(3)?))
            })
            .map_err(self.sq())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.sq())?;
        let mut out = Vec::new();
        for (name, json, acquired, label) in rows {
            let Ok(spec) = serde_json::from_str::<SourceSpec>(&json) else { continue };
            let spec = map_paths(&spec, |p| if p.is_absolute() { p.to_path_buf() } else { dir.join(p) });
            out.push(ImagerySource {
                name,
                spec,
                acquired: acquired.and_then(|d| tuban_model::value::parse_date(&d)),
                label,
            });
        }
        Ok(out)
    }
}

/// The source whose date is nearest to `date`; sources without a date are not chosen.
pub fn nearest(sources: &[ImagerySource], date: Option<NaiveDate>) -> Option<usize> {
    let date = date?;
    sources
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.acquired.map(|a| (i, (a - date).num_days().abs())))
        .min_by_key(|(_, d)| *d)
        .map(|(i, _)| i)
}

/// Which date of a patch imagery is chosen for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Period {
    /// 前时相 (QSX).
    Before,
    /// 后时相 (HSX).
    #[default]
    After,
}

impl Project {
    /// The source nearest to a patch's before or after date (the earliest / latest source when
    /// the patch has no date).
    pub fn imagery_for(&self, record: &super::PatchRecord, sources: &[ImagerySource], period: Period) -> Option<usize> {
        if sources.is_empty() {
            return None;
        }
        let roles = self.template().roles();
        let field = match period {
            Period::Before => roles.before_date.as_deref(),
            Period::After => roles.after_date.as_deref(),
        };
        let date = field.and_then(|f| record.value(self.template(), f)).and_then(|v| match v {
            tuban_model::Value::Date(d) => Some(*d),
            _ => None,
        });
        nearest(sources, date).or(Some(match period {
            Period::Before => 0,
            Period::After => sources.len() - 1,
        }))
    }
}
