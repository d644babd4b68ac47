//! The imagery catalogue of a project: sources with their acquisition date and label. Each file
//! path is stored relative to the project file (the spec's own path) and absolute (an
//! `"absolute"` list beside it in the same JSON, which older readers ignore), so a project folder
//! can move as a whole and a project copied alone still finds imagery left where it was.
//! Reading resolves every file ([`crate::imagery::paths`]); relinking moves a folder's sources.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rusqlite::params;

use super::{now_utc, Project, Result, StoreError};
use crate::imagery::paths::{self, FileStatus};
use crate::imagery::SourceSpec;

/// One registered imagery source.
#[derive(Debug, Clone, PartialEq)]
pub struct ImagerySource {
    /// Unique short name.
    pub name: String,
    /// The source, each file path where it was found (or last known, when missing).
    pub spec: SourceSpec,
    /// Each file of the source (in [`SourceSpec::files`] order): where it is now.
    pub files: Vec<FileStatus>,
    /// Acquisition date.
    pub acquired: Option<NaiveDate>,
    /// Label shown to the analyst (e.g. 2021 GF-2 mosaic).
    pub label: String,
}

impl ImagerySource {
    /// The files of this source that were found nowhere (where they were last known).
    pub fn missing(&self) -> Vec<&Path> {
        self.files.iter().filter(|f| f.found().is_none()).map(|f| f.known.as_path()).collect()
    }

    /// The label, or the name when there is none.
    pub fn title(&self) -> &str {
        if self.label.is_empty() {
            &self.name
        } else {
            &self.label
        }
    }
}

/// Applies `f` to every file path of a source.
fn map_paths(spec: &SourceSpec, mut f: impl FnMut(&Path) -> PathBuf) -> SourceSpec {
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

/// [`map_paths`] for the package writer.
pub(crate) fn map_spec_paths(spec: &SourceSpec, f: impl FnMut(&Path) -> PathBuf) -> SourceSpec {
    map_paths(spec, f)
}

impl Project {
    /// [`Self::stored_json`] for the package writer.
    pub(crate) fn imagery_json(&self, spec: &SourceSpec) -> String {
        self.stored_json(spec)
    }

    /// The folder of the project file (`.` for a bare file name).
    pub(super) fn project_dir(&self) -> PathBuf {
        let dir = self.path().parent().map(Path::to_path_buf).unwrap_or_default();
        if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        }
    }

    /// The JSON stored for `spec`: its file paths relative to the project, and an `"absolute"`
    /// list of the same files.
    fn stored_json(&self, spec: &SourceSpec) -> String {
        let dir = self.project_dir();
        let stored = map_paths(spec, |p| paths::relative_to(p, &dir));
        let mut value = serde_json::to_value(&stored).unwrap_or_default();
        let absolute: Vec<String> = spec
            .files()
            .iter()
            .map(|f| std::fs::canonicalize(f).unwrap_or_else(|_| paths::absolute(f)).display().to_string())
            .collect();
        if let (Some(obj), false) = (value.as_object_mut(), absolute.is_empty()) {
            obj.insert("absolute".into(), serde_json::json!(absolute));
        }
        value.to_string()
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
        let json = self.stored_json(spec);
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
            let Some((spec, files)) = decode(&json, &dir) else { continue };
            out.push(ImagerySource {
                name,
                spec,
                files,
                acquired: acquired.and_then(|d| tuban_model::value::parse_date(&d)),
                label,
            });
        }
        Ok(out)
    }
}

/// A stored spec with every file resolved against `dir`, and where each was found.
fn decode(json: &str, dir: &Path) -> Option<(SourceSpec, Vec<FileStatus>)> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let absolute: Vec<PathBuf> = value
        .get("absolute")
        .and_then(|a| a.as_array())
        .map(|a| a.iter().filter_map(|p| p.as_str()).map(PathBuf::from).collect())
        .unwrap_or_default();
    let spec: SourceSpec = serde_json::from_value(value).ok()?;
    let files: Vec<FileStatus> = spec
        .files()
        .iter()
        .enumerate()
        .map(|(i, f)| paths::resolve(f, absolute.get(i).map(PathBuf::as_path), dir))
        .collect();
    let mut k = 0;
    let resolved = map_paths(&spec, |_| {
        let p = files.get(k).map(|f| f.path().to_path_buf()).unwrap_or_default();
        k += 1;
        p
    });
    Some((resolved, files))
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

/// One source moved by [`Project::relink_imagery`].
#[derive(Debug, Clone, PartialEq)]
pub struct Relinked {
    /// The source's name.
    pub name: String,
    /// Its files, where they are now.
    pub files: Vec<FileStatus>,
}

impl Project {
    /// Points every file that lay under `old_dir` (as registered, or relative to the project)
    /// under `new_dir` instead (a file still found where it is moves only if it is at the new
    /// place too), in one transaction with one audit row per source; returns the
    /// sources moved (none when nothing lay under `old_dir`).
    pub fn relink_imagery(&mut self, old_dir: &Path, new_dir: &Path) -> Result<Vec<Relinked>> {
        self.require_write()?;
        let dir = self.project_dir();
        let (old_dir, new_dir) = (paths::absolute(old_dir), paths::absolute(new_dir));
        let old_real = std::fs::canonicalize(&old_dir).ok();
        let sq = self.sq();
        let rows = {
            let mut st = self.conn.prepare("SELECT id, name, spec FROM tuban_imagery ORDER BY id").map_err(&sq)?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
                .map_err(&sq)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(&sq)?;
            rows
        };
        let mut changes = Vec::new();
        for (id, name, json) in rows {
            let Some((spec, files)) = decode(&json, &dir) else { continue };
            let stored: Vec<PathBuf> = serde_json::from_str::<SourceSpec>(&json)
                .map(|s| s.files().iter().map(|f| paths::absolute(&dir.join(f))).collect())
                .unwrap_or_default();
            let moved: Vec<Option<PathBuf>> = files
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let candidates = [Some(f.known.clone()), stored.get(i).cloned(), f.found().map(Path::to_path_buf)];
                    candidates
                        .into_iter()
                        .flatten()
                        .find_map(|c| {
                            let rest =
                                c.strip_prefix(&old_dir).ok().or_else(|| c.strip_prefix(old_real.as_ref()?).ok())?;
                            Some(new_dir.join(rest))
                        })
                        // A file found where it is stays unless it is also at the new place.
                        .filter(|target| f.found().is_none() || target.exists())
                })
                .collect();
            if moved.iter().all(Option::is_none) {
                continue;
            }
            let mut k = 0;
            let new_spec = map_paths(&spec, |p| {
                let q = moved.get(k).cloned().flatten().unwrap_or_else(|| p.to_path_buf());
                k += 1;
                q
            });
            changes.push((id, name, json, self.stored_json(&new_spec)));
        }
        let tx = self.conn.unchecked_transaction().map_err(&sq)?;
        let (now, user) = (now_utc(), self.user().to_string());
        let mut out = Vec::new();
        for (id, name, old_json, new_json) in changes {
            tx.execute("UPDATE tuban_imagery SET spec = ?1 WHERE id = ?2", params![new_json, id]).map_err(&sq)?;
            tx.execute(
                "INSERT INTO tuban_audit(time, user, patch_fid, patch_key, field, old_value, new_value, action) VALUES (?1, ?2, NULL, NULL, 'imagery', ?3, ?4, 'imagery_relink')",
                params![now, user, format!("{name}: {old_json}"), format!("{name}: {new_json}")],
            )
            .map_err(&sq)?;
            let files = decode(&new_json, &dir).map(|(_, f)| f).unwrap_or_default();
            out.push(Relinked { name, files });
        }
        tx.commit().map_err(&sq)?;
        Ok(out)
    }
}
