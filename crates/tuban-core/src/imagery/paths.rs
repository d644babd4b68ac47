//! Where an imagery file of a project is now: the catalogue keeps each path relative to the
//! project and absolute, and a file is looked for relative first, then absolute, then by its
//! name under the project's folder (two levels deep), so a project folder copied to a USB stick
//! or a colleague's disk keeps its imagery, and a project copied without it says what is missing.

use std::path::{Component, Path, PathBuf};

/// How deep under the project's folder a file is looked for by name.
const SEARCH_DEPTH: usize = 2;
/// Entries read per folder while searching (a folder of tiles is not walked).
const SEARCH_ENTRIES_MAX: usize = 2_000;

/// Where a stored file was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// At its path relative to the project.
    Relative(PathBuf),
    /// At its absolute path as registered.
    Absolute(PathBuf),
    /// Elsewhere under the project's folder, by its file name.
    Searched(PathBuf),
    /// Nowhere.
    Missing,
}

/// One file of a source: where it was last known and where it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatus {
    /// Where it was last known: the absolute path as registered, else the relative one joined
    /// to the project's folder.
    pub known: PathBuf,
    /// Where it is now.
    pub resolution: Resolution,
}

impl FileStatus {
    /// The file as found, or `None` when it is missing.
    pub fn found(&self) -> Option<&Path> {
        match &self.resolution {
            Resolution::Relative(p) | Resolution::Absolute(p) | Resolution::Searched(p) => Some(p),
            Resolution::Missing => None,
        }
    }

    /// The path to open: where it was found, else where it was last known.
    pub fn path(&self) -> &Path {
        self.found().unwrap_or(&self.known)
    }

    /// Where it was found, in words (Chinese / English), for `tuban imagery list`.
    pub fn describe(&self) -> String {
        match &self.resolution {
            Resolution::Relative(p) => format!("相对路径找到 / found relative: {}", p.display()),
            Resolution::Absolute(p) => format!("绝对路径找到 / found absolute: {}", p.display()),
            Resolution::Searched(p) => format!("按文件名在项目文件夹中找到 / found by name: {}", p.display()),
            Resolution::Missing => format!("缺失 / missing: {}", self.known.display()),
        }
    }
}

/// `path` made absolute against the current folder, `.` and `..` removed without touching the
/// disk (a missing file cannot be canonicalised).
pub fn absolute(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `path` relative to `base` when that is possible; otherwise absolute.
pub fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| absolute(path));
    let base = std::fs::canonicalize(base).unwrap_or_else(|_| absolute(base));
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

/// Looks for a stored file: `stored` (relative to `project_dir`, or absolute in older
/// catalogues), then `recorded_abs`, then a file of the same name under `project_dir`.
pub fn resolve(stored: &Path, recorded_abs: Option<&Path>, project_dir: &Path) -> FileStatus {
    let joined = if stored.is_absolute() { stored.to_path_buf() } else { absolute(&project_dir.join(stored)) };
    let known = recorded_abs.map(Path::to_path_buf).unwrap_or_else(|| joined.clone());
    let resolution = if joined.exists() {
        if stored.is_absolute() {
            Resolution::Absolute(joined)
        } else {
            Resolution::Relative(joined)
        }
    } else if let Some(abs) = recorded_abs.filter(|a| a.exists()) {
        Resolution::Absolute(abs.to_path_buf())
    } else {
        match stored.file_name().and_then(|name| find_by_name(project_dir, name, SEARCH_DEPTH)) {
            Some(p) => Resolution::Searched(p),
            None => Resolution::Missing,
        }
    };
    FileStatus { known, resolution }
}

/// The first entry called `name` in `dir` or in its folders down to `depth` levels (sorted, so
/// the same file wins every time).
fn find_by_name(dir: &Path, name: &std::ffi::OsStr, depth: usize) -> Option<PathBuf> {
    let direct = dir.join(name);
    if direct.exists() {
        return Some(direct);
    }
    if depth == 0 {
        return None;
    }
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .take(SEARCH_ENTRIES_MAX)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    subdirs.into_iter().find_map(|d| find_by_name(&d, name, depth - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_absolute_and_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("影像 2025");
        std::fs::create_dir_all(img.join("深")).unwrap();
        std::fs::write(img.join("深").join("a.tif"), b"x").unwrap();
        let found = resolve(Path::new("elsewhere/a.tif"), None, dir.path());
        assert_eq!(found.resolution, Resolution::Searched(img.join("深").join("a.tif")));
        let abs = img.join("深").join("a.tif");
        let by_abs = resolve(Path::new("gone/b.tif"), Some(&abs), dir.path());
        assert_eq!(by_abs.resolution, Resolution::Absolute(abs.clone()));
        let rel = resolve(Path::new("影像 2025/深/a.tif"), None, dir.path());
        assert_eq!(rel.resolution, Resolution::Relative(abs));
        let gone = resolve(Path::new("gone/c.tif"), Some(Path::new("/nowhere/c.tif")), dir.path());
        assert_eq!(gone.resolution, Resolution::Missing);
        assert_eq!(gone.path(), Path::new("/nowhere/c.tif"));
    }

    #[test]
    fn absolute_removes_dots() {
        assert_eq!(absolute(Path::new("/a/b/../c/./d")), PathBuf::from("/a/c/d"));
    }
}
