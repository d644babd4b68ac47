//! Imagery registration: a source is opened once before it enters the catalogue, so a broken
//! file is refused with its reason instead of failing later on the map.

use tuban_model::progress::Progress;

use super::OpsError;
use crate::imagery::{RasterSource, SourceSpec};
use crate::store::Project;

/// How to register a source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registration {
    /// Name in the catalogue; the file stem (or `online-N`) when not given.
    pub name: Option<String>,
    /// Label shown with it (e.g. "2025 GF-2").
    pub label: String,
    /// Acquisition date; read from the file's metadata when not given.
    pub date: Option<chrono::NaiveDate>,
    /// Build overviews when a large raster has none.
    pub build_overviews: bool,
}

/// What became of a registration.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    /// Its name in the catalogue.
    pub name: String,
    /// Its acquisition date, if known.
    pub acquired: Option<chrono::NaiveDate>,
    /// A large raster without overviews that were not built: slow when zoomed out.
    pub lacks_overviews: bool,
}

/// Opens `spec` once, builds overviews when asked and needed, and adds it to the catalogue.
pub fn register(
    p: &mut Project,
    spec: &SourceSpec,
    how: &Registration,
    progress: &Progress,
) -> Result<Registered, OpsError> {
    if !spec.is_online() {
        crate::imagery::source::open(spec)?;
    }
    let mut lacks_overviews = false;
    if let SourceSpec::Raster { path, .. } = spec {
        let needs = RasterSource::open(path)?.needs_overviews();
        if needs && how.build_overviews {
            crate::imagery::build_overviews(path, progress)?;
        }
        lacks_overviews = needs && !how.build_overviews;
    }
    let acquired = how.date.or_else(|| spec.files().first().and_then(|f| crate::imagery::acquisition_date(f)));
    let name = how.name.clone().unwrap_or_else(|| match spec.files().first() {
        Some(f) => f.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default(),
        None => format!("online-{}", p.imagery().map(|v| v.len() + 1).unwrap_or(1)),
    });
    p.add_imagery(&name, spec, acquired, &how.label)?;
    Ok(Registered { name, acquired, lacks_overviews })
}

/// Points every source whose files lay under `old_dir` under `new_dir` (through the store, with
/// an audit row per source); refused when no source lay under `old_dir`.
pub fn relink(
    p: &mut Project,
    old_dir: &std::path::Path,
    new_dir: &std::path::Path,
) -> Result<Vec<crate::store::Relinked>, OpsError> {
    let moved = p.relink_imagery(old_dir, new_dir)?;
    if moved.is_empty() {
        return Err(OpsError::Invalid(format!(
            "{}: 没有影像位于这个文件夹；用 tuban imagery list 查看登记的路径 / no imagery lies under this folder; see the registered paths with `tuban imagery list`",
            old_dir.display()
        )));
    }
    Ok(moved)
}

/// Every file of the catalogue that is missing, with its source's name.
pub fn missing(p: &Project) -> Result<Vec<(String, std::path::PathBuf)>, OpsError> {
    Ok(p.imagery()?
        .iter()
        .flat_map(|s| s.missing().into_iter().map(|f| (s.name.clone(), f.to_path_buf())).collect::<Vec<_>>())
        .collect())
}
