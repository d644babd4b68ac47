//! Delivered patch files → a project: Shapefile (also zipped), GeoPackage, GeoJSON, KML and CSV
//! with longitude/latitude columns, read through GDAL.
//!
//! A reader thread owns the GDAL dataset (architecture invariant 3) and sends plain patches
//! (geo geometries and values) to the caller's thread, which writes them through the store in one
//! transaction: an import is all or nothing, and cancel leaves the project unchanged.
//! Non-fatal problems (invalid rings, empty geometries, values that do not fit, duplicate ids) are
//! collected into the report; only what makes the whole file unusable is an error.

pub mod encoding;
pub(crate) mod fields;
pub(crate) mod prepare;
pub(crate) mod reader;

use crate::crs::take_gdal_messages;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};

use gdal::vector::LayerAccess;

use crate::store::{ImportSummary, NewBatch, Project, SourceCrs, StoreError};
pub use encoding::{EncodingChoice, EncodingHow};
use prepare::{open_dataset, prepare};
use reader::{read_source, Msg};
use tuban_model::progress::Progress;

/// What the user chose for an import.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOptions {
    /// Layer to read when the source has several.
    pub layer: Option<String>,
    /// Text encoding, overriding declaration and detection.
    pub encoding: Option<String>,
    /// CRS of the coordinates, overriding (or standing in for) the declared one.
    pub crs: Option<String>,
    /// Monitoring year of the batch.
    pub year: Option<i32>,
    /// Clue source of the batch (遥感, 绿盾, 信访, 举报, 媒体, 督察).
    pub clue_source: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport {
    /// Counts and per-feature problems.
    pub summary: ImportSummary,
    /// Layer read.
    pub layer: String,
    /// Encoding used, and how it was chosen.
    pub encoding: EncodingChoice,
    /// The delivered CRS.
    pub crs: SourceCrs,
    /// Warnings about the batch as a whole.
    pub warnings: Vec<String>,
}

/// A layer of a source, for choosing one.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerInfo {
    /// Layer name.
    pub name: String,
    /// Number of features.
    pub feature_count: u64,
    /// Geometry type name.
    pub geometry: String,
}

/// Why a source could not be imported. Nothing was written in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// No such file.
    #[error("{path}: 文件不存在 / file not found")]
    NotFound { path: String },
    /// GDAL cannot read it.
    #[error("{path}: 无法读取（{detail}）；支持 Shapefile（含 .zip）、GeoPackage、GeoJSON、KML、CSV / cannot read ({detail}); tuban reads Shapefile (also zipped), GeoPackage, GeoJSON, KML and CSV")]
    CannotOpen { path: String, detail: String },
    /// A shapefile without its companion files.
    #[error("{path}: 缺少配套文件 {missing}；请把同名的 .shp .shx .dbf .prj .cpg 放在同一文件夹 / missing {missing}: keep the .shp, .shx, .dbf, .prj and .cpg of a shapefile together")]
    MissingSidecar { path: String, missing: String },
    /// Several layers and none chosen.
    #[error("{path}: 有多个图层，请用 --layer 选择：{layers} / several layers; choose one with --layer")]
    SeveralLayers { path: String, layers: String },
    /// The chosen layer does not exist.
    #[error("{path}: 没有图层 “{layer}”；可选：{layers} / no layer “{layer}”; available: {layers}")]
    NoSuchLayer { path: String, layer: String, layers: String },
    /// A table without geometry.
    #[error("{path}: 没有几何（CSV 需要“经度/纬度”或 lon/lat 列） / no geometry (a CSV needs longitude/latitude columns, e.g. 经度/纬度 or lon/lat)")]
    NoGeometry { path: String },
    /// No CRS and not degrees.
    #[error("{path}: 缺少 .prj 坐标系文件，坐标也不是经纬度；请用 --crs EPSG:nnnn 指定。{hint} / no .prj and the coordinates are not degrees: pass --crs EPSG:nnnn")]
    UnknownCrs { path: String, hint: String },
    /// `--crs` not understood.
    #[error("坐标系 “{crs}” 无法识别（{detail}）；请写成 EPSG:4546 这样的形式 / CRS “{crs}” not understood ({detail}); write it like EPSG:4546")]
    BadCrs { crs: String, detail: String },
    /// `--encoding` not understood.
    #[error("编码 “{0}” 无法识别；可用 GBK、UTF-8、LATIN1 / encoding “{0}” not understood; use GBK, UTF-8 or LATIN1")]
    BadEncoding(String),
    /// Every feature was skipped.
    #[error(
        "{path}: 没有可导入的图斑（{reason}），项目未改变 / nothing to import ({reason}); the project is unchanged"
    )]
    NothingToImport { path: String, reason: String },
    /// A zip archive without a patch file.
    #[error("{path}: 压缩包无法读取或其中没有图斑文件（{detail}） / the zip cannot be read or holds no patch file ({detail})")]
    BadZip { path: String, detail: String },
    /// Reading the file failed.
    #[error("{path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    /// Writing to the project failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Cancelled; nothing written.
    #[error("已取消，项目未改变 / cancelled; the project is unchanged")]
    Cancelled,
}

/// The layers of a source, for choosing one.
pub fn list_layers(source: &Path) -> Result<Vec<LayerInfo>, ImportError> {
    let display = source.display().to_string();
    let prepared = prepare(source, &ImportOptions::default())?;
    let ds = open_dataset(&prepared, &display)?;
    Ok(ds
        .layers()
        .map(|l| LayerInfo {
            name: l.name(),
            feature_count: l.feature_count(),
            geometry: gdal::vector::geometry_type_to_name(l.defn().geometry_type()),
        })
        .collect())
}

/// Imports a delivered patch file into `project` as one batch (one transaction).
pub fn import(
    project: &mut Project,
    source: &Path,
    opts: &ImportOptions,
    progress: &Progress,
) -> Result<ImportReport, ImportError> {
    let display = source.display().to_string();
    progress.stage("读取 / reading", 0);
    let prepared = prepare(source, opts)?;
    let encoding = prepared.encoding.clone();
    let template = project.template().clone();
    let (tx, rx) = sync_channel::<Msg>(8);
    let reader_opts = opts.clone();
    let reader_display = display.clone();
    let reader = std::thread::Builder::new()
        .name("import-reader".into())
        .spawn(move || read_source(prepared, &reader_display, &reader_opts, &template, &tx))
        .map_err(|source| ImportError::Io { path: display.clone(), cause: source })?;
    let result = write_batch(project, &display, opts, &encoding, &rx, progress);
    drop(rx); // unblocks the reader if we stopped early
    let _ = reader.join();
    take_gdal_messages();
    result
}

fn write_batch(
    project: &mut Project,
    display: &str,
    opts: &ImportOptions,
    encoding: &EncodingChoice,
    rx: &Receiver<Msg>,
    progress: &Progress,
) -> Result<ImportReport, ImportError> {
    let (layer, total, crs, warnings) = match rx.recv() {
        Ok(Msg::Header { layer, total, crs, warnings }) => (layer, total, crs, warnings),
        Ok(Msg::Fatal(e)) => return Err(e),
        _ => return Err(ImportError::CannotOpen { path: display.to_string(), detail: "reader stopped".into() }),
    };
    progress.stage("导入 / importing", total);
    let batch = NewBatch {
        source_path: display.to_string(),
        layer: layer.clone(),
        encoding: encoding.name.clone(),
        encoding_how: encoding.how.describe(),
        source_crs: crs.clone(),
        year: opts.year,
        clue_source: opts.clue_source.clone(),
    };
    let mut session = project.begin_import(batch)?;
    let mut n = 0u64;
    for msg in rx.iter() {
        match msg {
            Msg::Patches(batch) => {
                for p in batch {
                    session.add(p)?;
                    n += 1;
                }
            }
            Msg::Skip(reason) => {
                session.skip(reason);
                n += 1;
            }
            Msg::Problem(p) => session.problem(p),
            Msg::Fatal(e) => return Err(e),
            Msg::Header { .. } => {}
        }
        if progress.set(n).is_err() {
            return Err(ImportError::Cancelled);
        }
    }
    if progress.is_cancelled() {
        return Err(ImportError::Cancelled);
    }
    let s = session.summary_so_far();
    if s.added + s.updated + s.unchanged == 0 {
        let reason = if s.skipped == 0 {
            "图层没有要素 / the layer has no features".to_string()
        } else {
            let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
            for p in &s.problems {
                let r = p.split_once(": ").map_or(p.as_str(), |(_, r)| r).to_string();
                *reasons.entry(r).or_default() += 1;
            }
            reasons.into_iter().map(|(r, c)| format!("{c} × {r}")).collect::<Vec<_>>().join("; ")
        };
        return Err(ImportError::NothingToImport { path: display.to_string(), reason });
    }
    let summary = session.finish()?;
    Ok(ImportReport { summary, layer, encoding: encoding.clone(), crs, warnings })
}
