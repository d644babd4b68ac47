//! The use cases, written once, that both front ends call: the command line (`src/cli/`) and
//! the window's jobs (`tuban-app`). Each takes an open [`Project`](crate::store::Project) (the
//! caller decides read-only or read-write, and on which thread), does the whole use case, and
//! returns a typed outcome the front end only has to show. Policies that used to differ between
//! the front ends are parameters here ([`Overwrite`]), so the same call behaves the same way.

pub mod clues;
pub mod deliver;
pub mod evidence;
pub mod geometry;
pub mod imagery;
pub mod package;
pub mod reference;
pub mod seal;

use std::path::Path;

use crate::store::StoreError;

pub use crate::atomic::Overwrite;

/// Why a use case failed: the error of the layer that failed, with its file and remedy.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The project store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The PDF report.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// An export.
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    /// An imagery source.
    #[error(transparent)]
    Imagery(#[from] crate::imagery::ImageryError),
    /// A map image.
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    /// A seal receipt or a signing key.
    #[error(transparent)]
    Receipt(#[from] crate::receipt::ReceiptError),
    /// An output file could not be written, or exists.
    #[error(transparent)]
    Write(#[from] crate::atomic::AtomicError),
    /// A file could not be read or written.
    #[error("{path}: {cause}{}", crate::store::advice_io(cause))]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        cause: std::io::Error,
    },
    /// Input the use case cannot take (a date, a coordinate), with what to write instead.
    #[error("{0}")]
    Invalid(String),
}

/// An I/O error naming `path`.
pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> OpsError + '_ {
    move |cause| OpsError::Io { path: path.display().to_string(), cause }
}
