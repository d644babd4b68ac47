//! Delivered patch files → a project: Shapefile (also zipped), GeoPackage, GeoJSON, KML and CSV
//! with longitude/latitude columns, read through GDAL.
//!
//! A reader thread owns the GDAL dataset (architecture invariant 3) and sends plain patches
//! (geo geometries and values) to the caller's thread, which writes them through the store in one
//! transaction: an import is all or nothing, and cancel leaves the project unchanged.
//! Non-fatal problems (invalid rings, empty geometries, values that do not fit, duplicate ids) are
//! collected into the report; only what makes the whole file unusable is an error.

pub mod crs;
pub mod encoding;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Mutex, Once};

use gdal::spatial_ref::{CoordTransform, SpatialRef};
use gdal::vector::{FieldValue, LayerAccess, OGRwkbGeometryType};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};
use geo::Validation;

use crate::store::{ImportSummary, NewBatch, NewPatch, Project, SourceCrs, StoreError};
pub use encoding::{EncodingChoice, EncodingHow};
use tuban_model::progress::Progress;
use tuban_model::{FieldKind, Template, Value};

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

/// GDAL messages collected by our error handler (instead of GDAL printing them to stderr).
static GDAL_MESSAGES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Routes GDAL's messages into tuban's reports (once per process).
pub fn init_gdal() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        gdal::config::set_error_handler(|_class, _no, msg| {
            if let Ok(mut v) = GDAL_MESSAGES.lock() {
                if v.len() < 200 {
                    v.push(msg.to_string());
                }
            }
        });
    });
}

fn take_gdal_messages() -> Vec<String> {
    GDAL_MESSAGES.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default()
}

/// A source ready for GDAL: zip extracted, encoding decided, CSV recoded.
struct Prepared {
    gdal_path: PathBuf,
    open_options: Vec<String>,
    encoding: EncodingChoice,
    /// Layer to use when the source is a zip of several files.
    layer_hint: Option<String>,
    _tmp: Option<tempfile::TempDir>,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if self.gdal_path.starts_with("/vsimem") {
            let _ = gdal::vsi::unlink_mem_file(&self.gdal_path);
        }
    }
}

fn ext_of(p: &Path) -> String {
    p.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase()
}

const PATCH_EXTS: &[&str] = &["shp", "gpkg", "geojson", "json", "kml", "kmz", "csv"];

fn prepare(source: &Path, opts: &ImportOptions) -> Result<Prepared, ImportError> {
    let display = source.display().to_string();
    if !source.exists() {
        return Err(ImportError::NotFound { path: display });
    }
    let forced = match &opts.encoding {
        Some(e) => Some(encoding::normalise(e).ok_or_else(|| ImportError::BadEncoding(e.clone()))?),
        None => None,
    };
    let ext = ext_of(source);
    if ext == "zip" {
        let tmp = tempfile::tempdir().map_err(|source| ImportError::Io { path: display.clone(), cause: source })?;
        let file =
            std::fs::File::open(source).map_err(|source| ImportError::Io { path: display.clone(), cause: source })?;
        let mut zip = zip::ZipArchive::new(file)
            .map_err(|e| ImportError::BadZip { path: display.clone(), detail: e.to_string() })?;
        extract_zip(&mut zip, tmp.path())
            .map_err(|e| ImportError::BadZip { path: display.clone(), detail: e.to_string() })?;
        let mut inner: Vec<PathBuf> = walk(tmp.path())
            .into_iter()
            .filter(|p| PATCH_EXTS.contains(&ext_of(p).as_str()) && !p.to_string_lossy().contains("__MACOSX"))
            .collect();
        inner.sort();
        let chosen = match (inner.len(), &opts.layer) {
            (0, _) => {
                return Err(ImportError::BadZip {
                    path: display,
                    detail: "没有 .shp/.gpkg/.geojson/.kml/.csv / no .shp, .gpkg, .geojson, .kml or .csv inside".into(),
                })
            }
            (1, _) => inner.remove(0),
            (_, Some(l)) => match inner.iter().position(|p| p.file_stem().and_then(|s| s.to_str()) == Some(l.as_str()))
            {
                Some(i) => inner.remove(i),
                // A layer of a multi-layer file inside the zip: let GDAL pick it.
                None if inner.len() == 1 => inner.remove(0),
                None => {
                    let layers = inner
                        .iter()
                        .filter_map(|p| p.file_stem()?.to_str().map(str::to_string))
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(ImportError::NoSuchLayer { path: display, layer: l.clone(), layers });
                }
            },
            (_, None) => {
                let layers = inner
                    .iter()
                    .filter_map(|p| p.file_stem()?.to_str().map(str::to_string))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ImportError::SeveralLayers { path: display, layers });
            }
        };
        let mut p = prepare_file(&chosen, &display, forced)?;
        p.layer_hint = chosen.file_stem().and_then(|s| s.to_str()).map(str::to_string);
        p._tmp = Some(tmp);
        return Ok(p);
    }
    prepare_file(source, &display, forced)
}

/// Extracts a zip, decoding entry names as UTF-8 or, as Chinese Windows writes them, GBK
/// (the zip crate would read such names as CP437). Names that escape the folder are skipped.
fn extract_zip(zip: &mut zip::ZipArchive<std::fs::File>, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        if entry.is_dir() {
            continue;
        }
        let raw = entry.name_raw().to_vec();
        let name = match std::str::from_utf8(&raw) {
            Ok(s) => s.to_string(),
            Err(_) => encoding_rs::GBK.decode(&raw).0.into_owned(),
        };
        let rel = Path::new(&name);
        if rel.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
            continue;
        }
        let target = dir.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out = std::fs::File::create(&target)?;
        std::io::copy(&mut entry, &mut out)?;
    }
    Ok(())
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p))
            } else {
                out.push(p)
            }
        }
    }
    out
}

fn prepare_file(path: &Path, display: &str, forced: Option<String>) -> Result<Prepared, ImportError> {
    let ext = ext_of(path);
    let io = |source| ImportError::Io { path: display.to_string(), cause: source };
    let mut open_options = Vec::new();
    let mut gdal_path = path.to_path_buf();
    let encoding = match ext.as_str() {
        "shp" => {
            let has = |e: &str| path.with_extension(e).exists() || path.with_extension(e.to_ascii_uppercase()).exists();
            let missing: Vec<&str> = ["shx", "dbf"]
                .into_iter()
                .filter(|e| !has(e))
                .map(|e| if e == "shx" { ".shx" } else { ".dbf" })
                .collect();
            if !missing.is_empty() {
                return Err(ImportError::MissingSidecar { path: display.to_string(), missing: missing.join(", ") });
            }
            let enc = match forced {
                Some(name) => EncodingChoice { name, how: EncodingHow::Override },
                None => encoding::for_shapefile(path).map_err(io)?,
            };
            open_options.push(format!("ENCODING={}", enc.name));
            enc
        }
        "csv" | "txt" => {
            let bytes = std::fs::read(path).map_err(io)?;
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes).to_vec();
            let enc = match forced {
                Some(name) => EncodingChoice { name, how: EncodingHow::Override },
                None => encoding::detect(&bytes[..bytes.len().min(4 << 20)]),
            };
            if enc.name != "UTF-8" {
                let label = if enc.name == "CP936" { "GBK" } else { enc.name.as_str() };
                let coder = encoding_rs::Encoding::for_label(label.as_bytes()).unwrap_or(encoding_rs::GBK);
                let (text, _, _) = coder.decode(&bytes);
                let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("patches");
                static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mem = PathBuf::from(format!("/vsimem/tuban_{n}_{stem}.csv"));
                gdal::vsi::create_mem_file(&mem, text.into_owned().into_bytes())
                    .map_err(|e| ImportError::CannotOpen { path: display.to_string(), detail: e.to_string() })?;
                gdal_path = mem;
            }
            open_options.extend(
                [
                    "X_POSSIBLE_NAMES=经度,中心经度,中心点经度,lon*,lng,longitude,x,ZXJD,JD",
                    "Y_POSSIBLE_NAMES=纬度,中心纬度,中心点纬度,lat*,latitude,y,ZXWD,WD",
                    "KEEP_GEOM_COLUMNS=YES",
                    "AUTODETECT_TYPE=NO",
                ]
                .map(str::to_string),
            );
            enc
        }
        _ => EncodingChoice { name: "UTF-8".into(), how: EncodingHow::Format },
    };
    // A recoded CSV lives under a temporary name: keep the file's own name for the layer.
    let layer_hint =
        (gdal_path != path).then(|| path.file_stem().and_then(|s| s.to_str()).map(str::to_string)).flatten();
    Ok(Prepared { gdal_path, open_options, encoding, layer_hint, _tmp: None })
}

fn open_dataset(p: &Prepared, display: &str) -> Result<Dataset, ImportError> {
    init_gdal();
    let opts: Vec<&str> = p.open_options.iter().map(String::as_str).collect();
    let ds = Dataset::open_ex(
        &p.gdal_path,
        DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_READONLY,
            open_options: Some(&opts),
            ..Default::default()
        },
    );
    match ds {
        Ok(ds) => Ok(ds),
        Err(e) => {
            let msgs = take_gdal_messages();
            let detail = msgs.last().cloned().unwrap_or_else(|| e.to_string());
            Err(ImportError::CannotOpen { path: display.to_string(), detail })
        }
    }
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

enum Msg {
    Header { layer: String, total: u64, crs: SourceCrs, warnings: Vec<String> },
    Patch(Box<NewPatch>),
    Skip(String),
    Problem(String),
    Fatal(ImportError),
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
    let (tx, rx) = sync_channel::<Msg>(512);
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
            Msg::Patch(p) => session.add(*p)?,
            Msg::Skip(reason) => session.skip(reason),
            Msg::Problem(p) => session.problem(p),
            Msg::Fatal(e) => return Err(e),
            Msg::Header { .. } => {}
        }
        n += 1;
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

/// Reader thread: owns the GDAL dataset, sends plain patches.
fn read_source(prepared: Prepared, display: &str, opts: &ImportOptions, template: &Template, tx: &SyncSender<Msg>) {
    if let Err(e) = read_source_inner(&prepared, display, opts, template, tx) {
        let _ = tx.send(Msg::Fatal(e));
    }
}

fn read_source_inner(
    prepared: &Prepared,
    display: &str,
    opts: &ImportOptions,
    template: &Template,
    tx: &SyncSender<Msg>,
) -> Result<(), ImportError> {
    let ds = open_dataset(prepared, display)?;
    let names: Vec<String> = ds.layers().map(|l| l.name()).collect();
    let wanted = opts.layer.clone().filter(|_| prepared.layer_hint.is_none() || names.len() > 1);
    let mut layer = match (&wanted, names.len()) {
        (_, 0) => return Err(ImportError::NoGeometry { path: display.to_string() }),
        (None, 1) => {
            ds.layer(0).map_err(|e| ImportError::CannotOpen { path: display.to_string(), detail: e.to_string() })?
        }
        (None, _) => {
            let infos: Vec<String> = ds.layers().map(|l| format!("{} ({})", l.name(), l.feature_count())).collect();
            return Err(ImportError::SeveralLayers { path: display.to_string(), layers: infos.join(", ") });
        }
        (Some(name), _) => ds.layer_by_name(name).map_err(|_| ImportError::NoSuchLayer {
            path: display.to_string(),
            layer: name.clone(),
            layers: names.join(", "),
        })?,
    };
    let layer_name = prepared.layer_hint.clone().filter(|_| names.len() == 1).unwrap_or_else(|| layer.name());
    if layer.defn().geom_fields().count() == 0 {
        return Err(ImportError::NoGeometry { path: display.to_string() });
    }
    let mut warnings = Vec::new();
    let target = crs::cgcs2000().map_err(|e| ImportError::BadCrs { crs: "EPSG:4490".into(), detail: e.to_string() })?;
    let source_srs: SpatialRef = match &opts.crs {
        Some(text) => {
            crs::parse_user_crs(text).map_err(|e| ImportError::BadCrs { crs: text.clone(), detail: e.to_string() })?
        }
        None => match layer.spatial_ref() {
            Some(srs) => crs::srs_xy(srs),
            None => {
                let extent = layer.try_get_extent().ok().flatten().or_else(|| layer.get_extent().ok());
                match extent {
                    Some(e) if crs::looks_like_degrees([e.MinX, e.MinY, e.MaxX, e.MaxY]) => {
                        warnings.push("未声明坐标系，坐标为经纬度，按 CGCS2000（EPSG:4490）读取 / no CRS declared; coordinates are degrees, read as CGCS2000 (EPSG:4490)".to_string());
                        target.clone()
                    }
                    Some(e) => {
                        return Err(ImportError::UnknownCrs {
                            path: display.to_string(),
                            hint: crs::guess_hint([e.MinX, e.MinY, e.MaxX, e.MaxY]),
                        })
                    }
                    None => target.clone(),
                }
            }
        },
    };
    let source_crs = crs::describe(&source_srs);
    let transform = CoordTransform::new(&source_srs, &target)
        .map_err(|e| ImportError::BadCrs { crs: source_crs.name.clone(), detail: e.to_string() })?;

    // Map source fields to template fields: exact names first, then labels and aliases.
    let source_fields: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    let mut mapping: Vec<Option<usize>> = vec![None; source_fields.len()];
    let mut taken = vec![false; template.fields().len()];
    for pass in 0..2 {
        for (si, name) in source_fields.iter().enumerate() {
            if mapping[si].is_some() {
                continue;
            }
            let hit = if pass == 0 {
                template.fields().iter().position(|f| f.name.eq_ignore_ascii_case(name.trim()))
            } else {
                template.map_source_field(name).and_then(|f| template.fields().iter().position(|g| g.name == f.name))
            };
            if let Some(ti) = hit {
                if !taken[ti] {
                    taken[ti] = true;
                    mapping[si] = Some(ti);
                }
            }
        }
    }
    let unmapped: Vec<&str> =
        source_fields.iter().zip(&mapping).filter(|(_, m)| m.is_none()).map(|(n, _)| n.as_str()).collect();
    if !unmapped.is_empty() {
        warnings.push(format!(
            "以下字段不在模板中，作为只读附加属性保留 / kept as read-only extra attributes: {}",
            unmapped.join(", ")
        ));
    }
    let id_index = template.fields().iter().position(|f| f.name == template.roles().id);
    if id_index.is_some_and(|i| !taken[i]) {
        warnings.push(format!(
            "未找到图斑编号字段（{}）；图斑将没有编号 / no patch id field ({}) found",
            template.roles().id,
            template.roles().id
        ));
    }

    let total = layer.feature_count();
    if tx.send(Msg::Header { layer: layer_name, total, crs: source_crs, warnings }).is_err() {
        return Ok(());
    }
    let mut zm_warned = false;
    let mut read = 0u64;
    let mut outside_china = 0usize;
    for feature in layer.features() {
        read += 1;
        let fid = feature.fid().map_or_else(|| read.to_string(), |f| f.to_string());
        let mut values: Vec<Option<Value>> = vec![None; template.fields().len()];
        let mut extra = BTreeMap::new();
        let mut issues = Vec::new();
        for (si, target_index) in mapping.iter().enumerate() {
            let raw = match feature.field(si) {
                Ok(v) => v,
                Err(e) => {
                    issues.push(format!("字段 {} 无法读取 / field unreadable: {e}", source_fields[si]));
                    continue;
                }
            };
            let Some(raw) = raw else { continue };
            match target_index {
                None => {
                    let text = field_text(&raw);
                    if !text.is_empty() {
                        extra.insert(source_fields[si].clone(), text);
                    }
                }
                Some(ti) => {
                    let field = &template.fields()[*ti];
                    let parsed = match (&raw, &field.kind) {
                        (FieldValue::DateValue(d), FieldKind::Date) => Ok(Value::Date(*d)),
                        (FieldValue::DateTimeValue(d), FieldKind::Date) => Ok(Value::Date(d.date_naive())),
                        _ => Value::parse_for(field, &field_text(&raw)),
                    };
                    match parsed {
                        Ok(v) => values[*ti] = Some(v),
                        Err(e) => {
                            let text = field_text(&raw);
                            issues.push(format!("字段 {} 的值“{text}”不合规（{e}），原值保留在附加属性 / value of {} does not fit; kept as extra attribute", field.name, field.name));
                            extra.insert(format!("{}_原值", field.name), text);
                        }
                    }
                }
            }
        }
        let label = id_index
            .and_then(|i| values[i].as_ref())
            .map(|v| format!("{v}"))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("要素 / feature {fid}"));
        let Some(geom) = feature.geometry() else {
            if tx.send(Msg::Skip(format!("{label}: 几何为空，已跳过 / null geometry, skipped"))).is_err() {
                return Ok(());
            }
            continue;
        };
        let converted = convert_geometry(geom, &transform);
        let msg = match converted {
            Err(reason) => Msg::Skip(format!("{label}: {reason}")),
            Ok(c) => {
                if c.had_zm && !zm_warned {
                    zm_warned = true;
                    if tx.send(Msg::Problem("几何含 Z/M 值，已去掉 / Z/M values dropped".into())).is_err() {
                        return Ok(());
                    }
                }
                if let Some(reason) = c.invalid {
                    issues.push(format!("几何无效 / invalid geometry: {reason}"));
                    if tx
                        .send(Msg::Problem(format!(
                            "{label}: 几何无效（已导入并标记） / invalid geometry (imported, flagged): {reason}"
                        )))
                        .is_err()
                    {
                        return Ok(());
                    }
                }
                let area_m2 = tuban_model::geometry::area_m2(&c.lonlat);
                let centre = tuban_model::geometry::centre(&c.lonlat);
                if let Some(p) = centre {
                    if !(73.0..=136.0).contains(&p.x()) || !(3.0..=54.0).contains(&p.y()) {
                        outside_china += 1;
                    }
                }
                Msg::Patch(Box::new(NewPatch {
                    values,
                    geom_lonlat: c.lonlat,
                    geom_source: c.source,
                    area_m2,
                    centre,
                    extra,
                    issues,
                }))
            }
        };
        if tx.send(msg).is_err() {
            return Ok(());
        }
    }
    if read < total {
        let _ = tx.send(Msg::Problem(format!("只读到 {read} / {total} 个要素，文件可能已损坏 / only {read} of {total} features could be read; the file may be damaged")));
    }
    if outside_china > 0 {
        let _ = tx.send(Msg::Problem(format!("{outside_china} 个图斑中心不在中国范围内，请检查坐标系 / {outside_china} patch centres lie outside China: check the CRS")));
    }
    Ok(())
}

fn field_text(v: &FieldValue) -> String {
    match v {
        FieldValue::StringValue(s) => s.trim().to_string(),
        FieldValue::IntegerValue(i) => i.to_string(),
        FieldValue::Integer64Value(i) => i.to_string(),
        FieldValue::RealValue(r) => tuban_model::value::format_decimal(*r),
        FieldValue::DateValue(d) => d.format("%Y-%m-%d").to_string(),
        FieldValue::DateTimeValue(d) => d.format("%Y-%m-%d %H:%M:%S").to_string(),
        FieldValue::StringListValue(l) => l.join(";"),
        FieldValue::IntegerListValue(l) => l.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(";"),
        FieldValue::Integer64ListValue(l) => l.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(";"),
        FieldValue::RealListValue(l) => l.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(";"),
    }
}

struct Converted {
    source: geo::Geometry,
    lonlat: geo::Geometry,
    had_zm: bool,
    invalid: Option<String>,
}

/// Checks and converts one delivered geometry: 2D, polygon or point, transformed to lon/lat.
fn convert_geometry(geom: &gdal::vector::Geometry, transform: &CoordTransform) -> Result<Converted, String> {
    if geom.is_empty() {
        return Err("几何为空，已跳过 / empty geometry, skipped".into());
    }
    let ty = geom.geometry_type();
    let had_zm = gdal::vector::geometry_type_has_z(ty) || gdal::vector::geometry_type_has_m(ty);
    let mut g = geom.clone();
    if had_zm {
        g.flatten_to_2d();
    }
    let flat = gdal::vector::geometry_type_flatten(ty);
    match flat {
        OGRwkbGeometryType::wkbPolygon
        | OGRwkbGeometryType::wkbMultiPolygon
        | OGRwkbGeometryType::wkbPoint
        | OGRwkbGeometryType::wkbMultiPoint
        | OGRwkbGeometryType::wkbGeometryCollection => {}
        OGRwkbGeometryType::wkbLineString | OGRwkbGeometryType::wkbMultiLineString => {
            return Err("线要素，不是图斑，已跳过 / a line, not a patch; skipped".into())
        }
        other => {
            return Err(format!(
                "几何类型 {} 不支持，已跳过 / geometry type not supported; skipped",
                gdal::vector::geometry_type_to_name(other)
            ))
        }
    }
    let source = normalise(g.to_geo().map_err(|e| format!("几何无法读取 / unreadable geometry: {e}"))?)?;
    let projected =
        g.transform(transform).map_err(|e| format!("坐标无法转换到 CGCS2000 / cannot transform to CGCS2000: {e}"))?;
    let lonlat = normalise(projected.to_geo().map_err(|e| format!("几何无法读取 / unreadable geometry: {e}"))?)?;
    let invalid = lonlat.check_validation().err().map(|e| e.to_string());
    Ok(Converted { source, lonlat, had_zm, invalid })
}

/// Keeps polygons and points; a single-point multipoint becomes a point; collections keep their polygons.
fn normalise(g: geo::Geometry) -> Result<geo::Geometry, String> {
    use geo::Geometry as G;
    match g {
        G::MultiPoint(mp) if mp.0.len() == 1 => Ok(G::Point(mp.0[0])),
        G::GeometryCollection(gc) => {
            let polys: Vec<geo::Polygon> =
                gc.0.into_iter()
                    .flat_map(|g| match g {
                        G::Polygon(p) => vec![p],
                        G::MultiPolygon(mp) => mp.0,
                        _ => vec![],
                    })
                    .collect();
            match polys.len() {
                0 => Err("几何集合中没有面，已跳过 / a collection without polygons; skipped".into()),
                1 => Ok(G::Polygon(polys.into_iter().next().ok_or("empty")?)),
                _ => Ok(G::MultiPolygon(geo::MultiPolygon(polys))),
            }
        }
        other => Ok(other),
    }
}
