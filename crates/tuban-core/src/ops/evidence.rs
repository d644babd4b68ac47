//! Evidence: field photos matched to patches, documents attached to cases and saved out again.

use std::path::{Path, PathBuf};

use tuban_model::progress::Progress;

use super::{io_error, OpsError, Overwrite};
use crate::evidence::PhotoImport;
use crate::store::Project;

/// How far outside a patch a photo's GPS position may lie and still be matched to it, in metres
/// (the default of both front ends; photos farther away are warned about).
pub const MAX_DISTANCE_M: f64 = 100.0;

/// Adds photo files or folders to `p`, each matched to the patch containing its GPS position or
/// the nearest within `max_distance_m` (or to `patch`, a row id, when given).
pub fn add_photos(
    p: &mut Project,
    paths: &[PathBuf],
    patch: Option<i64>,
    max_distance_m: f64,
    progress: &Progress,
) -> Result<PhotoImport, OpsError> {
    Ok(crate::evidence::import_photos(p, paths, patch, max_distance_m, progress)?)
}

/// What became of one file given to [`attach`].
#[derive(Debug)]
pub struct Attached {
    /// The file.
    pub path: PathBuf,
    /// Its attachment id, or why it was not attached (the message names the file).
    pub result: Result<i64, OpsError>,
}

/// The outcome of [`attach`]: one entry per file tried, and whether the user stopped it.
#[derive(Debug, Default)]
pub struct AttachReport {
    /// Per file, in order.
    pub files: Vec<Attached>,
    /// Cancelled before every file was tried.
    pub cancelled: bool,
}

impl AttachReport {
    /// How many files could not be attached.
    pub fn failed(&self) -> usize {
        self.files.iter().filter(|f| f.result.is_err()).count()
    }
}

/// Reads each file and attaches it to case `number` as `kind`. A file that cannot be read or is
/// refused (empty, too large, unknown kind, sealed) is reported and the others are still
/// attached; each attachment is its own transaction.
pub fn attach(p: &mut Project, number: &str, paths: &[PathBuf], kind: &str, progress: &Progress) -> AttachReport {
    progress.stage("附件 / attachments", paths.len() as u64);
    let mut report = AttachReport::default();
    for (i, path) in paths.iter().enumerate() {
        if progress.set(i as u64).is_err() {
            report.cancelled = true;
            break;
        }
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let result = std::fs::read(path)
            .map_err(io_error(path))
            .and_then(|bytes| p.attach_to_case(number, &name, kind, &bytes).map_err(OpsError::from));
        report.files.push(Attached { path: path.clone(), result });
    }
    report
}

/// Writes attachment `id` to `out` (through the atomic writer) and returns its original file
/// name. An existing `out` is replaced only with [`Overwrite::Replace`].
pub fn extract(p: &Project, id: i64, out: &Path, overwrite: Overwrite) -> Result<String, OpsError> {
    let (name, bytes) =
        p.attachment_data(id)?.ok_or_else(|| OpsError::Invalid(format!("#{id}: 没有这个附件 / no such attachment")))?;
    crate::atomic::write_file(out, &bytes, overwrite)?;
    Ok(name)
}
