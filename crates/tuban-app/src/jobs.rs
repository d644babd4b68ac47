//! The one job slot: long work (import, photos, attachments, report, export, seal, verify) on
//! its own thread with progress and cancel, and a typed outcome the app shell turns into words.
//!
//! A [`JobSpec`] says what to do; [`JobSlot::start`] runs it unless a job is already running
//! (then it is refused, and the app says so); [`JobSlot::poll`] hands back a [`JobDone`] once.
//! Each job body below is one small function over the core, so it can call `tuban_core::ops`.
//!
//! Architecture invariant: a job that writes the project ([`JobSpec::writes`]) runs while the
//! window holds no connection to it; the app shell lets go before the start and opens the
//! project again when the job is done.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use tuban_core::evidence::PhotoImport;
use tuban_core::export::{ExportOptions, Format};
use tuban_core::import::{ImportOptions, ImportReport};
use tuban_core::ops::{self, Overwrite};
use tuban_core::report::ReportOptions;
use tuban_core::store::{Access, Project, ProjectMeta, SealInfo, VerifyReport};
use tuban_model::progress::Progress;
use tuban_model::Template;

/// What to run, with everything it needs (the project by path: the job opens its own connection).
pub enum JobSpec {
    /// Create the project (when `create` is given) and import `patches` into it.
    Import { project: PathBuf, patches: PathBuf, create: Option<Box<(Template, ProjectMeta)>> },
    /// Add photo files (EXIF, thumbnails, matching).
    Photos { project: PathBuf, paths: Vec<PathBuf> },
    /// Read files and attach them to case `number`.
    Attach { project: PathBuf, number: String, paths: Vec<PathBuf>, kind: String },
    /// Write attachment `id` to `out`.
    Extract { project: PathBuf, id: i64, out: PathBuf },
    /// Write the PDF report.
    Report { project: PathBuf, out: PathBuf, opts: ReportOptions, force: bool },
    /// Export one format into a folder.
    Export { project: PathBuf, out: PathBuf, format: Format, force: bool },
    /// Seal the project (hashes every item).
    Seal { project: PathBuf },
    /// Check the data against the seal.
    Verify { project: PathBuf },
    /// Merge a work package's changes back.
    MergePackage { project: PathBuf, package: PathBuf },
    /// Add a reference layer; compute every patch's overlay with it and fill what it fills.
    AddReference { project: PathBuf, path: PathBuf, layer: Box<tuban_core::reference::NewLayer> },
    /// Compute the overlays that are missing or out of date.
    Overlay { project: PathBuf },
}

impl JobSpec {
    /// True when the job writes the project: the window must not hold it meanwhile.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            JobSpec::Import { .. }
                | JobSpec::Photos { .. }
                | JobSpec::Attach { .. }
                | JobSpec::Seal { .. }
                | JobSpec::MergePackage { .. }
                | JobSpec::AddReference { .. }
                | JobSpec::Overlay { .. }
        )
    }

    /// The project the job works on.
    pub fn project(&self) -> &std::path::Path {
        match self {
            JobSpec::Import { project, .. }
            | JobSpec::Photos { project, .. }
            | JobSpec::Attach { project, .. }
            | JobSpec::Extract { project, .. }
            | JobSpec::Report { project, .. }
            | JobSpec::Export { project, .. }
            | JobSpec::Seal { project }
            | JobSpec::Verify { project }
            | JobSpec::MergePackage { project, .. } => project,
            JobSpec::AddReference { project, .. } | JobSpec::Overlay { project } => project,
        }
    }

    /// The title of the progress dialog (an i18n key).
    pub fn title(&self) -> &'static str {
        match self {
            JobSpec::Import { .. } | JobSpec::Photos { .. } | JobSpec::Attach { .. } => "importing",
            JobSpec::Extract { .. } | JobSpec::Export { .. } => "exporting",
            JobSpec::Report { .. } => "making_report",
            JobSpec::Seal { .. } => "sealing",
            JobSpec::Verify { .. } => "verifying",
            JobSpec::MergePackage { .. } => "merging",
            JobSpec::AddReference { .. } | JobSpec::Overlay { .. } => "overlaying",
        }
    }

    fn run(self, p: &Progress) -> Result<JobOutcome, JobError> {
        match self {
            JobSpec::Import { project, patches, create } => import(&project, &patches, create, p),
            JobSpec::Photos { project, paths } => add_photos(&project, &paths, p),
            JobSpec::Attach { project, number, paths, kind } => attach(&project, number, &paths, kind, p),
            JobSpec::Extract { project, id, out } => extract(&project, id, out),
            JobSpec::Report { project, out, opts, force } => report(&project, out, &opts, force, p),
            JobSpec::Export { project, out, format, force } => export(&project, &out, format, force, p),
            JobSpec::Seal { project } => seal(&project),
            JobSpec::Verify { project } => verify(&project),
            JobSpec::MergePackage { project, package } => {
                let mut proj = open_rw(&project)?;
                ops::package::merge(&mut proj, &package).map(JobOutcome::Merged).map_err(JobError::from)
            }
            JobSpec::AddReference { project, path, layer } => {
                let mut proj = open_rw(&project)?;
                ops::reference::add(&mut proj, &path, &layer, p)
                    .map(|a| JobOutcome::ReferenceAdded(Box::new(a)))
                    .map_err(JobError::from)
            }
            JobSpec::Overlay { project } => {
                let mut proj = open_rw(&project)?;
                let scope = tuban_core::reference::overlay::Scope::Stale;
                let (summary, filled) = ops::reference::refresh(&mut proj, &scope, p).map_err(JobError::from)?;
                Ok(JobOutcome::OverlayRefreshed { patches: summary.patches, filled })
            }
        }
    }
}

/// What a finished job did.
pub enum JobOutcome {
    /// Patches imported.
    Imported(ImportReport),
    /// Photos added and matched.
    PhotosAdded(PhotoImport),
    /// Files attached to a case, each with its result.
    Attached { case: String, kind: String, files: Vec<(PathBuf, AttachResult)> },
    /// One file written (report, extracted attachment).
    Written { path: PathBuf, size_bytes: u64, seconds: f64 },
    /// Files exported.
    Exported(Vec<PathBuf>),
    /// The project was sealed; the receipt written beside it.
    Sealed(SealInfo, PathBuf),
    /// The data was checked against the seal.
    Verified(VerifyReport),
    /// A work package was merged.
    Merged(tuban_core::store::MergeReceipt),
    /// A reference layer was added and overlaid.
    ReferenceAdded(Box<ops::reference::Added>),
    /// Stale overlays were computed: patches, fields filled.
    OverlayRefreshed { patches: usize, filled: usize },
}

/// What became of one file to attach.
pub enum AttachResult {
    /// Stored as attachment `id`.
    Stored(i64),
    /// Not readable or refused, with the reason.
    Failed(String),
    /// Not tried: the job was cancelled.
    Cancelled,
}

/// A job that failed, with the message of the error (it names the file and what to do).
#[derive(Debug, Clone, PartialEq)]
pub struct JobError {
    /// The message, shown as it is.
    pub message: String,
}

impl JobError {
    fn from(e: impl std::fmt::Display) -> JobError {
        JobError { message: e.to_string() }
    }
}

impl From<ops::OpsError> for JobError {
    fn from(e: ops::OpsError) -> JobError {
        JobError { message: e.to_string() }
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A finished job, handed back once by [`JobSlot::poll`].
pub struct JobDone {
    /// The project it worked on.
    pub project: PathBuf,
    /// It wrote the project: the window opens it again.
    pub wrote: bool,
    /// What it did, or why it failed.
    pub outcome: Result<JobOutcome, JobError>,
}

/// A running job.
pub struct Job {
    /// Progress and cancel.
    pub progress: Arc<Progress>,
    /// Title of the progress dialog (an i18n key).
    pub title: &'static str,
    project: PathBuf,
    wrote: bool,
    handle: Option<JoinHandle<Result<JobOutcome, JobError>>>,
}

/// Starting a job while one runs is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobBusy;

/// At most one job at a time.
#[derive(Default)]
pub struct JobSlot {
    job: Option<Job>,
}

impl JobSlot {
    /// True while a job runs (or has finished and not been polled yet).
    pub fn is_running(&self) -> bool {
        self.job.is_some()
    }

    /// The running job, for the progress dialog.
    pub fn running(&self) -> Option<&Job> {
        self.job.as_ref()
    }

    /// Runs `spec` on a named thread with a fresh progress; `wake` is called when it is done
    /// (the window repaints). Refused, and nothing started, while another job runs.
    pub fn start(&mut self, spec: JobSpec, wake: impl FnOnce() + Send + 'static) -> Result<(), JobBusy> {
        if self.job.is_some() {
            return Err(JobBusy);
        }
        let progress = Progress::new();
        let p = Arc::clone(&progress);
        let (title, project, wrote) = (spec.title(), spec.project().to_path_buf(), spec.writes());
        let handle = std::thread::Builder::new()
            .name(format!("job-{title}"))
            .spawn(move || {
                let result = spec.run(&p);
                wake();
                result
            })
            .ok();
        self.job = Some(Job { progress, title, project, wrote, handle });
        Ok(())
    }

    /// The finished job, once; `None` while it runs or when there is none.
    pub fn poll(&mut self) -> Option<JobDone> {
        let job = self.job.as_mut()?;
        let outcome = match job.handle.take() {
            Some(h) if h.is_finished() => {
                h.join().unwrap_or_else(|_| Err(JobError::from("任务线程崩溃 / job thread panicked")))
            }
            Some(h) => {
                job.handle = Some(h);
                return None;
            }
            None => Err(JobError::from("任务线程无法启动 / job thread could not start")),
        };
        let job = self.job.take()?;
        Some(JobDone { project: job.project, wrote: job.wrote, outcome })
    }
}

// The job bodies: each a thin call into the core.

fn open_rw(project: &std::path::Path) -> Result<Project, JobError> {
    Project::open(project, Access::ReadWrite).map_err(JobError::from)
}

/// A read-only connection on one consistent snapshot (the window may keep writing).
fn open_snapshot(project: &std::path::Path) -> Result<Project, JobError> {
    let proj = Project::open(project, Access::ReadOnly).map_err(JobError::from)?;
    proj.begin_snapshot().map_err(JobError::from)?;
    Ok(proj)
}

fn import(
    project: &std::path::Path,
    patches: &std::path::Path,
    create: Option<Box<(Template, ProjectMeta)>>,
    p: &Progress,
) -> Result<JobOutcome, JobError> {
    let mut proj = match create.as_deref() {
        Some((t, meta)) => Project::create(project, t, meta).map_err(JobError::from)?,
        None => open_rw(project)?,
    };
    match tuban_core::import::import(&mut proj, patches, &ImportOptions::default(), p) {
        Ok(r) => {
            // New or re-issued patches get their overlay with the project's reference layers.
            if !proj.references().map_err(JobError::from)?.is_empty() {
                let scope = tuban_core::reference::overlay::Scope::Stale;
                ops::reference::refresh(&mut proj, &scope, p).map_err(JobError::from)?;
            }
            Ok(JobOutcome::Imported(r))
        }
        Err(e) => {
            drop(proj);
            if create.is_some() {
                // A project that never received its patches is not worth keeping.
                let _ = std::fs::remove_file(project);
            }
            Err(JobError::from(e))
        }
    }
}

fn add_photos(project: &std::path::Path, paths: &[PathBuf], p: &Progress) -> Result<JobOutcome, JobError> {
    let mut proj = open_rw(project)?;
    let r = ops::evidence::add_photos(&mut proj, paths, None, ops::evidence::MAX_DISTANCE_M, p)?;
    Ok(JobOutcome::PhotosAdded(r))
}

/// A file that cannot be read or is refused is named in the outcome; the others are attached.
fn attach(
    project: &std::path::Path,
    case: String,
    paths: &[PathBuf],
    kind: String,
    p: &Progress,
) -> Result<JobOutcome, JobError> {
    let mut proj = open_rw(project)?;
    let report = ops::evidence::attach(&mut proj, &case, paths, &kind, p);
    let mut files: Vec<(PathBuf, AttachResult)> = report
        .files
        .into_iter()
        .map(|f| (f.path, f.result.map_or_else(|e| AttachResult::Failed(e.to_string()), AttachResult::Stored)))
        .collect();
    files.extend(paths[files.len()..].iter().map(|f| (f.clone(), AttachResult::Cancelled)));
    Ok(JobOutcome::Attached { case, kind, files })
}

/// The save dialog has already asked about an existing file, so it is replaced.
fn extract(project: &std::path::Path, id: i64, out: PathBuf) -> Result<JobOutcome, JobError> {
    let t = Instant::now();
    let proj = Project::open(project, Access::ReadOnly).map_err(JobError::from)?;
    ops::evidence::extract(&proj, id, &out, Overwrite::Replace)?;
    let size_bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    Ok(JobOutcome::Written { path: out, size_bytes, seconds: t.elapsed().as_secs_f64() })
}

fn report(
    project: &std::path::Path,
    out: PathBuf,
    opts: &ReportOptions,
    force: bool,
    p: &Progress,
) -> Result<JobOutcome, JobError> {
    let proj = Project::open(project, Access::ReadOnly).map_err(JobError::from)?;
    let w = ops::deliver::report(&proj, &out, opts, Overwrite::from_force(force), p)?;
    Ok(JobOutcome::Written { path: w.path, size_bytes: w.size_bytes, seconds: w.seconds })
}

fn export(
    project: &std::path::Path,
    out: &std::path::Path,
    format: Format,
    force: bool,
    p: &Progress,
) -> Result<JobOutcome, JobError> {
    let proj = Project::open(project, Access::ReadOnly).map_err(JobError::from)?;
    let files = ops::deliver::export(&proj, format, out, &ExportOptions { crs: None, force }, p)?;
    Ok(JobOutcome::Exported(files))
}

fn seal(project: &std::path::Path) -> Result<JobOutcome, JobError> {
    let mut proj = open_rw(project)?;
    ops::seal::seal(&mut proj, &Default::default())
        .map(|s| JobOutcome::Sealed(s.seal, s.receipt_path))
        .map_err(JobError::from)
}

fn verify(project: &std::path::Path) -> Result<JobOutcome, JobError> {
    let proj = open_snapshot(project)?;
    proj.verify().map(JobOutcome::Verified).map_err(JobError::from)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_second_job_is_refused_until_the_first_is_polled() {
        let mut slot = JobSlot::default();
        let missing = std::env::temp_dir().join("tuban-no-such-project.gpkg");
        assert!(slot.start(JobSpec::Verify { project: missing.clone() }, || {}).is_ok());
        assert_eq!(slot.running().map(|j| j.title), Some("verifying"));
        // Even once its thread has ended, the slot is taken until the outcome is handed back.
        let second = slot.start(JobSpec::Seal { project: missing.clone() }, || {});
        assert_eq!(second, Err(JobBusy));
        assert_eq!(slot.running().map(|j| j.title), Some("verifying"), "the first job keeps the slot");
        let done = loop {
            if let Some(done) = slot.poll() {
                break done;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        assert!(!done.wrote && done.project == missing);
        let Err(e) = done.outcome else { panic!("a missing project cannot be verified") };
        assert!(!e.message.is_empty());
        assert!(!slot.is_running() && slot.poll().is_none());
        assert!(slot.start(JobSpec::Verify { project: missing }, || {}).is_ok(), "free again");
    }

    #[test]
    fn writing_jobs_are_the_ones_that_need_the_project_to_themselves() {
        let p = PathBuf::from("p.gpkg");
        assert!(JobSpec::Seal { project: p.clone() }.writes());
        assert!(JobSpec::Photos { project: p.clone(), paths: vec![] }.writes());
        assert!(!JobSpec::Verify { project: p.clone() }.writes());
        assert!(!JobSpec::Extract { project: p, id: 1, out: PathBuf::from("x") }.writes());
    }
}
