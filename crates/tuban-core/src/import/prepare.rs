//! Getting a delivered file ready for GDAL: a zip extracted (entry names in UTF-8 or GBK), the
//! shapefile's companion files checked, the text encoding decided, a CSV in another encoding
//! recoded into memory; then the dataset opened with the right open options.

use std::path::{Path, PathBuf};

use gdal::{Dataset, DatasetOptions, GdalOpenFlags};

use super::encoding::{self, EncodingChoice, EncodingHow};
use super::{ImportError, ImportOptions};
use crate::crs::{init_gdal, take_gdal_messages};

/// A source ready for GDAL: zip extracted, encoding decided, CSV recoded.
pub(crate) struct Prepared {
    gdal_path: PathBuf,
    open_options: Vec<String>,
    pub(crate) encoding: EncodingChoice,
    /// Layer to use when the source is a zip of several files.
    pub(crate) layer_hint: Option<String>,
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

/// Makes `source` ready for GDAL: a zip extracted to a temporary folder (and its patch file
/// chosen), the text encoding decided, a CSV in another encoding recoded in memory.
pub(crate) fn prepare(source: &Path, opts: &ImportOptions) -> Result<Prepared, ImportError> {
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
                None => encoding::detect(&bytes[..bytes.len().min(1 << 20)]),
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

/// Opens the prepared source with GDAL, read-only, as a vector dataset.
pub(crate) fn open_dataset(p: &Prepared, display: &str) -> Result<Dataset, ImportError> {
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
