//! Writing files so that a failure never leaves half of one: everything is written under a
//! temporary name in the same folder and renamed into place only when complete.
//! [`write_file`] does it for bytes already in memory; [`PartFile`] gives a streaming writer (the
//! PDF report, an image) a temporary path that is removed on drop unless committed; [`PartDir`]
//! does the same for a set of files built together (an export).
//! Errors name the file and say what to do, in Chinese and English (a full disk, a read-only place).

use std::path::{Path, PathBuf};

/// What to do when the target file exists already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Fail with [`AtomicError::Exists`] and leave the existing file as it is.
    Refuse,
    /// Replace it (the old file stays whole until the rename).
    Replace,
}

impl Overwrite {
    /// `Replace` when `force` (a `--force` flag), else `Refuse`.
    pub fn from_force(force: bool) -> Overwrite {
        if force {
            Overwrite::Replace
        } else {
            Overwrite::Refuse
        }
    }
}

/// Why a file could not be written; the temporary file has been removed.
#[derive(Debug, thiserror::Error)]
pub enum AtomicError {
    /// The target exists and [`Overwrite::Refuse`] was asked.
    #[error("{path}: 文件已存在；加 --force 覆盖 / file exists; add --force to overwrite")]
    Exists {
        /// The target, as shown to the user.
        path: String,
    },
    /// The file system refused (full disk, read-only medium, no permission, ...).
    #[error("{path}: 写出失败 / cannot write: {cause}{}", advice_io(cause))]
    Io {
        /// The file that could not be written (the temporary one or the target).
        path: String,
        /// What the system said.
        cause: std::io::Error,
    },
}

impl AtomicError {
    /// An I/O error about `path`.
    pub fn io(path: &Path, cause: std::io::Error) -> AtomicError {
        AtomicError::Io { path: path.display().to_string(), cause }
    }

    /// The path the error is about, as shown to the user.
    pub fn path(&self) -> &str {
        match self {
            AtomicError::Exists { path } | AtomicError::Io { path, .. } => path,
        }
    }
}

/// Writes `bytes` to `path` under a temporary name (`path` + `.part`), then renames it into place.
/// On failure nothing is left behind and an existing file is untouched.
///
/// # Example
/// ```no_run
/// use tuban_core::atomic::{write_file, Overwrite};
/// write_file(std::path::Path::new("out/台账.csv"), b"a,b\r\n", Overwrite::Refuse)?;
/// # Ok::<(), tuban_core::atomic::AtomicError>(())
/// ```
pub fn write_file(path: &Path, bytes: &[u8], overwrite: Overwrite) -> Result<(), AtomicError> {
    let part = PartFile::new(path, overwrite)?;
    std::fs::write(part.path(), bytes).map_err(|e| AtomicError::io(part.path(), e))?;
    part.commit()
}

/// The temporary name of `target` in the same folder: `报告.pdf` → `报告.pdf.part`.
fn part_name(target: &Path) -> PathBuf {
    let mut name = target.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".part");
    target.with_file_name(name)
}

/// A file being written under a temporary name beside its target (`报告.pdf.part` for `报告.pdf`).
/// Write to [`PartFile::path`], then [`PartFile::commit`]; dropped without a commit (an error, a
/// cancel, a panic), the temporary file is removed.
///
/// # Example
/// ```no_run
/// use tuban_core::atomic::{Overwrite, PartFile};
/// let part = PartFile::new(std::path::Path::new("报告.pdf"), Overwrite::Refuse)?;
/// std::fs::write(part.path(), b"%PDF-1.7 ...").map_err(|e| tuban_core::atomic::AtomicError::io(part.path(), e))?;
/// part.commit()?;
/// # Ok::<(), tuban_core::atomic::AtomicError>(())
/// ```
#[derive(Debug)]
pub struct PartFile {
    target: PathBuf,
    part: PathBuf,
    overwrite: Overwrite,
    committed: bool,
}

impl PartFile {
    /// Starts writing `target`: refuses at once if it exists and `overwrite` is `Refuse`, and
    /// removes a stale temporary file of an earlier run.
    pub fn new(target: &Path, overwrite: Overwrite) -> Result<PartFile, AtomicError> {
        if overwrite == Overwrite::Refuse && target.exists() {
            return Err(AtomicError::Exists { path: target.display().to_string() });
        }
        let part = part_name(target);
        let _ = std::fs::remove_file(&part);
        Ok(PartFile { target: target.to_path_buf(), part, overwrite, committed: false })
    }

    /// The temporary path to write to (its extension is `part`: tell an image encoder the format).
    pub fn path(&self) -> &Path {
        &self.part
    }

    /// The file this will become.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the finished temporary file into place. With `Refuse`, a target that appeared
    /// meanwhile is still not replaced (a hard link refuses it; where the file system has no hard
    /// links, the check is repeated just before the rename).
    pub fn commit(mut self) -> Result<(), AtomicError> {
        let result = self.rename();
        if result.is_ok() {
            self.committed = true;
        }
        result
    }

    fn rename(&self) -> Result<(), AtomicError> {
        if self.overwrite == Overwrite::Refuse {
            let exists = || AtomicError::Exists { path: self.target.display().to_string() };
            match std::fs::hard_link(&self.part, &self.target) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&self.part);
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists()),
                // FAT32 memory sticks have no hard links: check, then rename.
                Err(_) if self.target.exists() => return Err(exists()),
                Err(_) => {}
            }
        }
        std::fs::rename(&self.part, &self.target).map_err(|e| AtomicError::io(&self.target, e))
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.part);
        }
    }
}

/// A set of files built together under a hidden temporary folder inside `out_dir`
/// (`.tuban-export-<pid>`), moved into `out_dir` by [`PartDir::commit`] only when all are done.
/// Dropped (committed or not), the temporary folder is removed; without a commit, so is `out_dir`
/// if this made it and it is empty.
#[derive(Debug)]
pub struct PartDir {
    out_dir: PathBuf,
    tmp: PathBuf,
    created_out_dir: bool,
    committed: bool,
}

impl PartDir {
    /// Creates `out_dir` (if needed) and an empty temporary folder inside it.
    pub fn new(out_dir: &Path) -> Result<PartDir, AtomicError> {
        let created_out_dir = !out_dir.exists();
        std::fs::create_dir_all(out_dir).map_err(|e| AtomicError::io(out_dir, e))?;
        let tmp = out_dir.join(format!(".tuban-export-{}", std::process::id()));
        // Made before the folder, so that a failure below removes what was created.
        let dir = PartDir { out_dir: out_dir.to_path_buf(), tmp, created_out_dir, committed: false };
        let _ = std::fs::remove_dir_all(&dir.tmp);
        std::fs::create_dir_all(&dir.tmp).map_err(|e| AtomicError::io(&dir.tmp, e))?;
        Ok(dir)
    }

    /// The temporary folder to build the files in.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Moves `files` (paths under [`PartDir::path`]) to the same relative paths under `out_dir`
    /// and returns their new paths. With `Refuse`, every target is checked before any is moved.
    pub fn commit(mut self, files: Vec<PathBuf>, overwrite: Overwrite) -> Result<Vec<PathBuf>, AtomicError> {
        let target = |f: &Path| self.out_dir.join(f.strip_prefix(&self.tmp).unwrap_or(f));
        if overwrite == Overwrite::Refuse {
            if let Some(t) = files.iter().map(|f| target(f)).find(|t| t.exists()) {
                return Err(AtomicError::Exists { path: t.display().to_string() });
            }
        }
        let mut out = Vec::with_capacity(files.len());
        for f in files {
            let to = target(&f);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(|e| AtomicError::io(parent, e))?;
            }
            std::fs::rename(&f, &to).map_err(|e| AtomicError::io(&to, e))?;
            out.push(to);
        }
        self.committed = true;
        Ok(out)
    }
}

impl Drop for PartDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.tmp);
        if !self.committed && self.created_out_dir {
            // Only removed when empty: a folder we made for nothing.
            let _ = std::fs::remove_dir(&self.out_dir);
        }
    }
}

/// What to do about a file-system error, when there is something to say (every writer of files
/// says it: the store, the exports, the report).
pub fn advice_io(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::StorageFull => {
            "。磁盘已满：请腾出空间后重试 / the disk is full: free some space and try again"
        }
        std::io::ErrorKind::ReadOnlyFilesystem => {
            "。位置只读：请换一个可写的位置 / read-only location: choose a writable one"
        }
        std::io::ErrorKind::PermissionDenied => {
            "。没有权限：请换一个位置或检查文件权限 / permission denied: choose another place or check the permissions"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_written_whole_and_refused_over_an_existing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("报告.pdf");
        write_file(&path, b"one", Overwrite::Refuse).unwrap();
        let e = write_file(&path, b"two", Overwrite::Refuse).unwrap_err();
        assert!(matches!(e, AtomicError::Exists { .. }) && e.to_string().contains("--force"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        write_file(&path, b"three", Overwrite::Replace).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        assert!(!dir.path().join("报告.pdf.part").exists());
    }

    #[test]
    fn a_part_file_dropped_without_commit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("图.png");
        let part = PartFile::new(&path, Overwrite::Refuse).unwrap();
        assert_eq!(part.path(), dir.path().join("图.png.part"));
        std::fs::write(part.path(), b"half").unwrap();
        drop(part);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // A target that appears while writing is not replaced.
        let part = PartFile::new(&path, Overwrite::Refuse).unwrap();
        std::fs::write(part.path(), b"mine").unwrap();
        std::fs::write(&path, b"theirs").unwrap();
        assert!(matches!(part.commit(), Err(AtomicError::Exists { .. })));
        assert_eq!(std::fs::read(&path).unwrap(), b"theirs");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_part_dir_moves_its_files_or_removes_the_folder_it_made() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("导出");
        drop(PartDir::new(&out).unwrap());
        assert!(!out.exists());
        let part = PartDir::new(&out).unwrap();
        std::fs::create_dir(part.path().join("照片")).unwrap();
        let files = vec![part.path().join("a.csv"), part.path().join("照片").join("1.jpg")];
        for f in &files {
            std::fs::write(f, b"x").unwrap();
        }
        let moved = part.commit(files, Overwrite::Refuse).unwrap();
        assert_eq!(moved, vec![out.join("a.csv"), out.join("照片").join("1.jpg")]);
        // Refused: nothing is moved and the temporary folder goes.
        let part = PartDir::new(&out).unwrap();
        std::fs::write(part.path().join("a.csv"), b"y").unwrap();
        let again = vec![part.path().join("a.csv")];
        assert!(matches!(part.commit(again, Overwrite::Refuse), Err(AtomicError::Exists { .. })));
        assert_eq!(std::fs::read(out.join("a.csv")).unwrap(), b"x");
        let names: Vec<String> =
            std::fs::read_dir(&out).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        assert!(!names.iter().any(|n| n.starts_with(".tuban-export-")), "{names:?}");
    }
}
