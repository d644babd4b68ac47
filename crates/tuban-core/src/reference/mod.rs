//! Reference layers: reading any vector file tuban can import (or an earlier tuban project)
//! into the project's own spatial index, once, and the overlay of every patch with them.
//!
//! A reader thread owns the GDAL dataset and sends plain features; the caller's thread writes
//! them through the store in one transaction, so a broken file, a cancel or a layer outside the
//! patches leaves no half-added layer. The overlay (`overlay.rs`) asks the R-tree per patch and
//! never re-reads the file.

mod earlier;
pub mod overlay;
mod read;

use std::path::Path;
use std::sync::mpsc::sync_channel;

use chrono::NaiveDate;

use crate::import::ImportError;
use crate::store::{FeatureFeed, NewReference, Project, ReferenceLayer, StoreError};
use read::Msg;
pub use read::ReadOptions;
use tuban_model::progress::Progress;
use tuban_model::reference::ReferenceKind;

/// Why a reference layer could not be added; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// The file cannot be read (missing, broken, unknown CRS …): the import's own message.
    #[error(transparent)]
    Read(#[from] ImportError),
    /// The project store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A class or label field the layer does not have.
    #[error("{path}: 没有字段 “{field}”；可选：{fields} / no field “{field}”; available: {fields}")]
    NoSuchField { path: String, field: String, fields: String },
    /// No polygon could be read.
    #[error("{path}: 没有可用的面要素（{reasons}），未添加 / no usable polygon features ({reasons}); nothing added")]
    Empty { path: String, reasons: String },
    /// The layer does not overlap any patch.
    #[error("{path}: 图层范围 {layer} 与图斑范围 {patches} 不相交，可能选错了文件或坐标系（可用 --crs 指定）；未添加 / the layer's extent does not meet the patches' extent: wrong file or CRS (pass --crs)? Nothing added")]
    Outside { path: String, layer: String, patches: String },
    /// The name is taken.
    #[error("{name}: 已有同名参考图层；请用 --name 另取名称，或先 `tuban reference remove` / a reference layer of this name exists: choose another --name or remove it first")]
    Exists { name: String },
    /// Cancelled; nothing written.
    #[error("已取消，项目未改变 / cancelled; the project is unchanged")]
    Cancelled,
}

/// A layer to add: what it is and how to read it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLayer {
    /// Kind.
    pub kind: ReferenceKind,
    /// Short unique name (default: the file's stem).
    pub name: Option<String>,
    /// Label shown.
    pub label: String,
    /// Date of the data.
    pub dated: Option<NaiveDate>,
    /// Reading options (layer, encoding, CRS, class and label fields).
    pub read: ReadOptions,
}

/// What adding a layer did.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The layer as stored.
    pub layer: ReferenceLayer,
    /// Why features were skipped (the first few).
    pub skipped_reasons: Vec<String>,
    /// The fields of the source, for choosing a class field.
    pub fields: Vec<String>,
}

fn bbox_text(b: [f64; 4]) -> String {
    format!("({:.4}, {:.4})-({:.4}, {:.4})", b[0], b[1], b[2], b[3])
}

/// Reads `path` into the project as a reference layer (one transaction), after checking that
/// its extent meets the patches'.
pub fn load(p: &mut Project, path: &Path, layer: &NewLayer, progress: &Progress) -> Result<Loaded, ReferenceError> {
    load_keeping(p, path, layer, progress).map(|(loaded, _)| loaded)
}

/// [`load`], also handing back the features as stored (within [`overlay::MAX_KEPT_VERTICES`]),
/// so the layer's first overlay needs no R-tree query.
pub fn load_keeping(
    p: &mut Project,
    path: &Path,
    layer: &NewLayer,
    progress: &Progress,
) -> Result<(Loaded, Option<overlay::Kept>), ReferenceError> {
    p.require_write()?;
    let display = path.display().to_string();
    // The file's name; with a layer chosen from a multi-layer file (a geodatabase's DLTB), the
    // file's and the layer's, so two layers of one file can both be added.
    let stem = path.file_stem().and_then(|s| s.to_str()).map(str::to_string);
    let name = layer
        .name
        .clone()
        .or_else(|| match (&stem, &layer.read.layer) {
            (Some(s), Some(l)) => Some(format!("{s} {l}")),
            (s, _) => s.clone(),
        })
        .unwrap_or_else(|| layer.kind.code().to_string());
    if p.reference(&name)?.is_some() {
        return Err(ReferenceError::Exists { name });
    }
    if let Some(loaded) = earlier::load_if_project(p, path, &name, layer, progress)? {
        return Ok((loaded, None));
    }
    let fallback = if layer.label.is_empty() { name.clone() } else { layer.label.clone() };
    let (tx, rx) = sync_channel::<Msg>(8);
    let (path_buf, opts) = (path.to_path_buf(), layer.read.clone());
    let reader = std::thread::Builder::new()
        .name("tuban-reference-reader".into())
        .spawn(move || read::read(&path_buf, &opts, &fallback, &tx))
        .map_err(|cause| ImportError::Io { path: display.clone(), cause })?;
    let header =
        rx.recv().map_err(|_| ImportError::CannotOpen { path: display.clone(), detail: "reader stopped".into() })?;
    let (layer_name, total, crs, encoding, fields, extent) = match header {
        Msg::Header { layer, total, crs, encoding, fields, extent } => (layer, total, crs, encoding, fields, extent),
        Msg::Fatal(e) => return Err(e),
        _ => return Err(ImportError::CannotOpen { path: display, detail: "no header".into() }.into()),
    };
    if let (Some(l), Some(patches)) = (extent, p.patches_extent()?) {
        if l[2] < patches[0] || l[0] > patches[2] || l[3] < patches[1] || l[1] > patches[3] {
            drop(rx); // unblocks the reader
            let _ = reader.join();
            return Err(ReferenceError::Outside { path: display, layer: bbox_text(l), patches: bbox_text(patches) });
        }
    }
    progress.stage(&format!("读取参考图层 / reading {name}"), total);
    let mut failed: Option<ReferenceError> = None;
    let mut reasons = Vec::new();
    let mut batch = Vec::new().into_iter();
    let feed = std::iter::from_fn(|| loop {
        if let Some((f, e)) = batch.next() {
            return Some(FeatureFeed::Feature(f, e));
        }
        match rx.recv() {
            Ok(Msg::Features(v)) => batch = v.into_iter(),
            Ok(Msg::Done { repaired, skipped, reasons: why }) => {
                reasons = why;
                return Some(FeatureFeed::End { repaired, skipped });
            }
            Ok(Msg::Fatal(e)) => {
                failed = Some(e);
                return None;
            }
            Ok(Msg::Header { .. }) | Err(_) => return None,
        }
    });
    let meta = NewReference {
        name: name.clone(),
        kind: layer.kind,
        label: layer.label.clone(),
        dated: layer.dated,
        class_fields: layer.read.class_fields.clone(),
        label_field: layer.read.label_field.clone(),
        path: path.to_path_buf(),
        layer: Some(layer_name),
        encoding,
        crs,
    };
    let mut keeper = overlay::Keeper::default();
    let stored = p.add_reference(&meta, feed, progress, |fid, f| keeper.keep(fid, f.class, f.geom));
    let _ = reader.join();
    if let Some(e) = failed {
        return Err(e);
    }
    match stored {
        Ok(Some(layer)) => {
            let kept = keeper.finish(layer.id);
            Ok((Loaded { layer, skipped_reasons: reasons, fields }, kept))
        }
        Ok(None) if progress.is_cancelled() => Err(ReferenceError::Cancelled),
        Ok(None) => {
            let reasons = if reasons.is_empty() { "0 个要素 / no features".to_string() } else { reasons.join("; ") };
            Err(ReferenceError::Empty { path: display, reasons })
        }
        Err(StoreError::Cancelled) => Err(ReferenceError::Cancelled),
        Err(e) => Err(e.into()),
    }
}
