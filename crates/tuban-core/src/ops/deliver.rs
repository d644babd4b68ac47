//! Deliverables: the PDF report and the exports, each from one consistent read snapshot of the
//! project so a window that keeps editing does not tear them.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tuban_model::progress::Progress;

use super::{OpsError, Overwrite};
use crate::export::{ExportOptions, Format};
use crate::report::ReportOptions;
use crate::store::Project;

/// A file written by a use case.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// Where.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// How long it took, in seconds.
    pub seconds: f64,
    /// Imagery files that were missing (a report with `allow_missing_imagery`: their chips are
    /// marked 无影像); empty otherwise.
    pub missing_imagery: Vec<PathBuf>,
}

/// Writes the PDF report of `p` to `out` from one read snapshot.
pub fn report(
    p: &Project,
    out: &Path,
    opts: &ReportOptions,
    overwrite: Overwrite,
    progress: &Progress,
) -> Result<Written, OpsError> {
    p.begin_snapshot()?;
    let started = Instant::now();
    let summary = crate::report::write(p, out, opts, overwrite == Overwrite::Replace, progress)?;
    let size_bytes = std::fs::metadata(out).map_err(super::io_error(out))?.len();
    let seconds = started.elapsed().as_secs_f64();
    Ok(Written { path: out.to_path_buf(), size_bytes, seconds, missing_imagery: summary.missing_imagery })
}

/// Exports `p` in one format into the folder `out` from one read snapshot; returns the files.
pub fn export(
    p: &Project,
    format: Format,
    out: &Path,
    opts: &ExportOptions,
    progress: &Progress,
) -> Result<Vec<PathBuf>, OpsError> {
    p.begin_snapshot()?;
    Ok(crate::export::export(p, format, out, opts, progress)?)
}

/// Which imagery a map image of a patch shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChipSource {
    /// The source nearest to the patch's before date.
    Before,
    /// The source nearest to the patch's after date.
    After,
    /// A source of the catalogue by name.
    Named(String),
}

impl ChipSource {
    /// `before`, `after`, or a catalogue name.
    pub fn parse(text: &str) -> ChipSource {
        match text {
            "before" => ChipSource::Before,
            "after" => ChipSource::After,
            name => ChipSource::Named(name.to_string()),
        }
    }
}

/// Renders a map image of patch `key` (imagery, yellow outline, scale bar, north arrow, the
/// source's title and date as caption) of `size_px` pixels and writes it as PNG to `out`.
pub fn render_patch(
    p: &Project,
    key: &str,
    source: &ChipSource,
    size_px: (u32, u32),
    out: &Path,
    overwrite: Overwrite,
) -> Result<Written, OpsError> {
    let started = Instant::now();
    let fid = p.require_patch(key)?;
    let record = p.patch(fid)?.ok_or_else(|| OpsError::Invalid(format!("{key}: 没有图斑 / no patch")))?;
    let geom = p.patch_geometry(fid)?.ok_or_else(|| OpsError::Invalid(format!("{key}: 没有几何 / no geometry")))?;
    let sources = p.imagery()?;
    let index = match source {
        ChipSource::Before => p.imagery_for(&record, &sources, crate::store::Period::Before),
        ChipSource::After => p.imagery_for(&record, &sources, crate::store::Period::After),
        ChipSource::Named(name) => Some(
            sources
                .iter()
                .position(|s| &s.name == name)
                .ok_or_else(|| OpsError::Invalid(format!("{name}: 没有这个影像 / no such imagery")))?,
        ),
    };
    let chosen = index.and_then(|i| sources.get(i));
    let caption = chosen.map(|s| format!("{}  {}", s.title(), s.acquired.map(|d| d.to_string()).unwrap_or_default()));
    let opts = crate::render::RenderOptions { size_px, caption, ..Default::default() };
    let overlay = crate::render::Overlay {
        geom,
        rgba: [255, 255, 0, 255],
        label: record.key.clone(),
        line: crate::render::Line::Solid,
    };
    let img = crate::render::render(chosen.map(|s| &s.spec), &[overlay], &opts)?;
    crate::render::save(&img, out, overwrite)?;
    let size_bytes = std::fs::metadata(out).map_err(super::io_error(out))?.len();
    let seconds = started.elapsed().as_secs_f64();
    Ok(Written { path: out.to_path_buf(), size_bytes, seconds, missing_imagery: Vec::new() })
}
