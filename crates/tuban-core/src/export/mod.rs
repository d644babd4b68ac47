//! What the county hands in: the upload shapefile (GBK DBF with .cpg, delivered CRS, template
//! field names and widths), a GeoPackage of the same, the ledger spreadsheet (.xlsx through
//! rust_xlsxwriter: maintained, no system dependencies, writes formats and frozen panes) and CSV,
//! and the photo folder named 乡镇_村_图斑号_序号.jpg.
//!
//! Files are written under a temporary folder and renamed into place at the end, so a failure
//! never leaves half a file; existing files are only replaced with `force`.

mod qgz;
mod sheets;
mod tables;

use std::path::{Path, PathBuf};

use gdal::spatial_ref::{CoordTransform, SpatialRef};
use gdal::vector::{FieldDefn, LayerOptions, OGRFieldType, OGRwkbGeometryType, ToGdal};
use gdal::DriverManager;

use crate::atomic::{AtomicError, Overwrite, PartDir};
use crate::store::{PatchRecord, Project, StoreError};
use tuban_model::progress::Progress;
use tuban_model::{FieldKind, Value};

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// ESRI Shapefile (upload).
    Shp,
    /// GeoPackage.
    Gpkg,
    /// Excel ledger.
    Xlsx,
    /// CSV tables.
    Csv,
    /// Photo folder.
    Photos,
    /// QGIS project of the review (the styled patches layer over the imagery).
    Qgz,
}

impl Format {
    /// Parses `shp`, `gpkg`, `xlsx`, `csv`, `photos`, `qgz`.
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s.to_ascii_lowercase().as_str() {
            "shp" | "shapefile" => Format::Shp,
            "gpkg" | "geopackage" => Format::Gpkg,
            "xlsx" | "excel" => Format::Xlsx,
            "csv" => Format::Csv,
            "photos" | "photo" => Format::Photos,
            "qgz" | "qgis" => Format::Qgz,
            _ => return None,
        })
    }
}

/// Options of an export.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportOptions {
    /// Output CRS (`EPSG:4546`); default: the CRS the patches were delivered in.
    pub crs: Option<String>,
    /// Replace existing files.
    pub force: bool,
}

/// Why an export failed; nothing was left half-written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the project failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file exists and `--force` was not given.
    #[error("{path}: 文件已存在；加 --force 覆盖 / file exists; add --force to overwrite")]
    Exists { path: String },
    /// Writing failed.
    #[error("{path}: 写出失败 / cannot write: {detail}")]
    Write { path: String, detail: String },
    /// The CRS is not understood.
    #[error("坐标系 “{crs}” 无法识别 / CRS not understood: {detail}")]
    BadCrs { crs: String, detail: String },
    /// Cancelled.
    #[error("已取消，没有写出文件 / cancelled; no file written")]
    Cancelled,
}

fn werr(path: &Path, detail: impl ToString) -> ExportError {
    ExportError::Write { path: path.display().to_string(), detail: detail.to_string() }
}

/// A file-system error, with what to do about it (a full disk, a read-only place).
fn werr_io(path: &Path, e: std::io::Error) -> ExportError {
    werr(path, format!("{e}{}", crate::store::advice_io(&e)))
}

/// The stem of the output files: `{county}_{year}_图斑核查`.
fn stem(p: &Project) -> String {
    let m = p.meta();
    let code = if m.county_code.is_empty() { "tuban".to_string() } else { m.county_code.clone() };
    format!("{code}_{}_图斑核查", m.year)
}

/// Writes `files` (built under a temporary folder by `build`) into `out_dir`.
fn write_atomically(
    out_dir: &Path,
    force: bool,
    build: impl FnOnce(&Path) -> Result<Vec<PathBuf>, ExportError>,
) -> Result<Vec<PathBuf>, ExportError> {
    let dir = PartDir::new(out_dir)?;
    let files = build(dir.path())?;
    Ok(dir.commit(files, Overwrite::from_force(force))?)
}

impl From<AtomicError> for ExportError {
    fn from(e: AtomicError) -> ExportError {
        match e {
            AtomicError::Exists { path } => ExportError::Exists { path },
            AtomicError::Io { path, cause } => {
                ExportError::Write { detail: format!("{cause}{}", crate::store::advice_io(&cause)), path }
            }
        }
    }
}

/// Exports a project.
pub fn export(
    p: &Project,
    format: Format,
    out_dir: &Path,
    opts: &ExportOptions,
    progress: &Progress,
) -> Result<Vec<PathBuf>, ExportError> {
    match format {
        Format::Shp => write_atomically(out_dir, opts.force, |tmp| {
            let mut files = vector(p, format, tmp, opts, progress)?;
            files.extend(seal_receipt(p, tmp)?);
            Ok(files)
        }),
        Format::Gpkg => write_atomically(out_dir, opts.force, |tmp| vector(p, format, tmp, opts, progress)),
        Format::Xlsx => write_atomically(out_dir, opts.force, |tmp| sheets::xlsx(p, tmp)),
        Format::Csv => write_atomically(out_dir, opts.force, |tmp| sheets::csv(p, tmp)),
        Format::Photos => write_atomically(out_dir, opts.force, |tmp| photos(p, tmp, progress)),
        Format::Qgz => write_atomically(out_dir, opts.force, |tmp| qgz::qgz(p, tmp, out_dir)),
    }
}

/// The upload package of a sealed project carries its receipt: the one beside the project, or,
/// when that was not kept there, one made again from the data if the data still matches the seal
/// (unsigned). Nothing when the project is not sealed or no longer matches its seal.
fn seal_receipt(p: &Project, tmp: &Path) -> Result<Option<PathBuf>, ExportError> {
    let Some(seal) = p.seal_in_force()? else { return Ok(None) };
    let stamp = seal.sealed_at.replace([':', '-'], "").replace('T', "-");
    let (name, bytes) = match crate::receipt::find_beside(p.path(), &seal) {
        Some(found) => {
            let bytes = std::fs::read(&found)
                .map_err(|e| ExportError::Write { path: found.display().to_string(), detail: e.to_string() })?;
            (found, bytes)
        }
        None => {
            let snap = p.seal_snapshot()?;
            if seal.digest_version != crate::store::DIGEST_VERSION || snap.digest() != seal.digest {
                return Ok(None);
            }
            let r = crate::receipt::Receipt::new(p.path(), p.meta(), &seal, &snap);
            (crate::receipt::file_name(p.path(), &stamp), r.to_json())
        }
    };
    let path = tmp.join(name.file_name().unwrap_or_default());
    std::fs::write(&path, bytes)
        .map_err(|e| ExportError::Write { path: path.display().to_string(), detail: e.to_string() })?;
    Ok(Some(path))
}

fn target_srs(p: &Project, opts: &ExportOptions) -> Result<SpatialRef, ExportError> {
    crate::crs::init_gdal();
    if let Some(c) = &opts.crs {
        return crate::crs::parse_user_crs(c)
            .map_err(|e| ExportError::BadCrs { crs: c.clone(), detail: e.to_string() });
    }
    let first = p.patches()?.first().map(|r| r.fid);
    if let Some(fid) = first {
        if let Some((srs_id, _)) = p.source_geometry(fid)? {
            if let Some(wkt) = p.srs_wkt(srs_id)? {
                if let Ok(s) = SpatialRef::from_wkt(&wkt) {
                    return Ok(crate::crs::srs_xy(s));
                }
            }
        }
    }
    crate::crs::cgcs2000().map_err(|e| ExportError::BadCrs { crs: "EPSG:4490".into(), detail: e.to_string() })
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Bool(b) => {
            if *b {
                "是".into()
            } else {
                "否".into()
            }
        }
        other => other.to_string(),
    }
}

/// The records of one output layer and its geometry type.
type Group<'r> = (&'static str, Vec<&'r PatchRecord>, OGRwkbGeometryType::Type);

/// The output layers: for a shapefile (which holds one geometry kind) polygons and, with the
/// suffix `_点`, points; for a GeoPackage one layer of everything.
fn groups(format: Format, records: &[PatchRecord]) -> Vec<Group<'_>> {
    let (points, polys): (Vec<&PatchRecord>, Vec<&PatchRecord>) = records.iter().partition(|r| r.area_m2 == 0.0);
    let mut groups: Vec<Group<'_>> = Vec::new();
    match format {
        Format::Shp => {
            if !polys.is_empty() {
                groups.push(("", polys, OGRwkbGeometryType::wkbMultiPolygon));
            }
            if !points.is_empty() {
                groups.push(("_点", points, OGRwkbGeometryType::wkbPoint));
            }
        }
        _ => groups.push(("", records.iter().collect(), OGRwkbGeometryType::wkbUnknown)),
    }
    groups
}

/// Shapefile (one per geometry kind: a shapefile holds one) or GeoPackage.
fn vector(
    p: &Project,
    format: Format,
    tmp: &Path,
    opts: &ExportOptions,
    progress: &Progress,
) -> Result<Vec<PathBuf>, ExportError> {
    let srs = target_srs(p, opts)?;
    let display =
        crate::crs::cgcs2000().map_err(|e| ExportError::BadCrs { crs: "EPSG:4490".into(), detail: e.to_string() })?;
    let to_target = CoordTransform::new(&display, &srs)
        .map_err(|e| ExportError::BadCrs { crs: "target".into(), detail: e.to_string() })?;
    let target_code = crate::crs::epsg_code(&srs);
    let records = p.patches_delivered()?;
    let base = stem(p);
    let mut written = Vec::new();
    progress.stage("导出 / exporting", records.len() as u64);
    let mut done = 0u64;
    let (driver, ext) = match format {
        Format::Shp => ("ESRI Shapefile", "shp"),
        _ => ("GPKG", "gpkg"),
    };
    let drv = DriverManager::get_driver_by_name(driver).map_err(|e| werr(tmp, e))?;
    let gpkg_path = tmp.join(format!("{base}.{ext}"));
    let mut gpkg_ds = if format == Format::Gpkg {
        Some(drv.create_vector_only(&gpkg_path).map_err(|e| werr(&gpkg_path, e))?)
    } else {
        None
    };
    let geometry = TargetGeometry { p, to_target: &to_target, target_code };
    for (suffix, recs, gtype) in groups(format, &records) {
        let path = tmp.join(format!("{base}{suffix}.{ext}"));
        let mut shp_ds =
            if format == Format::Shp { Some(drv.create_vector_only(&path).map_err(|e| werr(&path, e))?) } else { None };
        let Some(ds) = shp_ds.as_mut().or(gpkg_ds.as_mut()) else { continue };
        let layer_options: &[&str] = if format == Format::Shp { &["ENCODING=CP936"] } else { &[] };
        let layer_name = if format == Format::Shp { format!("{base}{suffix}") } else { "patches".to_string() };
        let layer = ds
            .create_layer(LayerOptions { name: &layer_name, srs: Some(&srs), ty: gtype, options: Some(layer_options) })
            .map_err(|e| werr(&path, e))?;
        add_fields(p, &layer, &path)?;
        let defn = gdal::vector::Defn::from_layer(&layer);
        for r in recs {
            done += 1;
            if progress.set(done).is_err() {
                return Err(ExportError::Cancelled);
            }
            let Some(geom) = geometry.of(r, gtype, &path)? else { continue };
            let mut feature = gdal::vector::Feature::new(&defn).map_err(|e| werr(&path, e))?;
            set_values(p, &mut feature, r, &path)?;
            feature.set_geometry(geom).map_err(|e| werr(&path, e))?;
            feature.create(&layer).map_err(|e| werr(&path, e))?;
        }
        drop(shp_ds);
        if format == Format::Shp {
            for e in ["shp", "shx", "dbf", "prj", "cpg"] {
                let f = path.with_extension(e);
                if f.exists() {
                    written.push(f);
                }
            }
        }
    }
    if let Some(ds) = gpkg_ds {
        drop(ds);
        written.push(gpkg_path);
    }
    Ok(written)
}

/// The template's fields as layer fields, with the template's widths (a shapefile's DBF needs them).
fn add_fields(p: &Project, layer: &gdal::vector::Layer<'_>, path: &Path) -> Result<(), ExportError> {
    for f in p.template().fields() {
        let (ty, width, precision) = match &f.kind {
            FieldKind::Text { length } => (OGRFieldType::OFTString, length.unwrap_or(254).min(254) as i32, 0),
            FieldKind::Code { codes, multiple } => {
                let w = if *multiple {
                    254
                } else {
                    codes.iter().map(|c| tuban_model::value::gbk_len(&c.code)).max().unwrap_or(10).max(2)
                };
                (OGRFieldType::OFTString, w as i32, 0)
            }
            FieldKind::Integer => (OGRFieldType::OFTInteger64, 18, 0),
            FieldKind::Decimal { decimals, .. } => (OGRFieldType::OFTReal, 18, i32::from(*decimals)),
            FieldKind::Date => (OGRFieldType::OFTDate, 8, 0),
            FieldKind::Boolean => (OGRFieldType::OFTString, 2, 0),
        };
        let defn = FieldDefn::new(&f.name, ty).map_err(|e| werr(path, e))?;
        defn.set_width(width);
        defn.set_precision(precision);
        defn.add_to_layer(layer).map_err(|e| werr(path, e))?;
    }
    Ok(())
}

/// Sets a feature's fields from a record's filled values.
fn set_values(
    p: &Project,
    feature: &mut gdal::vector::Feature<'_>,
    r: &PatchRecord,
    path: &Path,
) -> Result<(), ExportError> {
    for (i, (f, v)) in p.template().fields().iter().zip(&r.values).enumerate() {
        if v.is_empty() {
            continue;
        }
        let res = match (v, &f.kind) {
            (Value::Int(x), _) => feature.set_field_integer64(i, *x),
            (Value::Real(x), _) => feature.set_field_double(i, *x),
            (Value::Date(d), _) => feature.set_field_string(i, &d.format("%Y-%m-%d").to_string()),
            (other, _) => feature.set_field_string(i, &text_of(other)),
        };
        res.map_err(|e| werr(path, e))?;
    }
    Ok(())
}

/// A patch's geometry in the output CRS: its verified extent when one was drawn (transformed),
/// else the delivered geometry as it was when the output CRS is the delivered one, else the
/// lon/lat geometry transformed (细斑 split in tuban have no delivered geometry of their own).
struct TargetGeometry<'a> {
    p: &'a Project,
    to_target: &'a CoordTransform,
    target_code: Option<i32>,
}

impl TargetGeometry<'_> {
    /// The geometry of `r` for a layer of `gtype` (a polygon becomes a multipolygon where the
    /// layer holds multipolygons); `None` when the patch has none.
    fn of(
        &self,
        r: &PatchRecord,
        gtype: OGRwkbGeometryType::Type,
        path: &Path,
    ) -> Result<Option<gdal::vector::Geometry>, ExportError> {
        let p = self.p;
        let verified = p.extent(r.fid)?.and_then(|e| e.verified);
        let geom = match p.source_geometry(r.fid)? {
            // A redrawn extent is delivered as verified, in the output CRS.
            _ if verified.is_some() => {
                let Some(g) = verified else { return Ok(None) };
                g.to_gdal().map_err(|e| werr(path, e))?.transform(self.to_target).map_err(|e| werr(path, e))?
            }
            Some((srs_id, g)) if self.target_code.is_some() && p.srs_code(srs_id)? == self.target_code => {
                g.to_gdal().map_err(|e| werr(path, e))?
            }
            _ => {
                let Some(g) = p.patch_geometry(r.fid)? else { return Ok(None) };
                g.to_gdal().map_err(|e| werr(path, e))?.transform(self.to_target).map_err(|e| werr(path, e))?
            }
        };
        if gtype == OGRwkbGeometryType::wkbMultiPolygon && geom.geometry_type() == OGRwkbGeometryType::wkbPolygon {
            let mut m =
                gdal::vector::Geometry::empty(OGRwkbGeometryType::wkbMultiPolygon).map_err(|e| werr(path, e))?;
            m.add_geometry(geom).map_err(|e| werr(path, e))?;
            return Ok(Some(m));
        }
        Ok(Some(geom))
    }
}

fn safe(s: &str) -> String {
    s.chars().map(|c| if "/\\:*?\"<>|".contains(c) { '_' } else { c }).collect()
}

fn photos(p: &Project, tmp: &Path, progress: &Progress) -> Result<Vec<PathBuf>, ExportError> {
    let t = p.template();
    let roles = t.roles();
    let dir = tmp.join(format!("{}_照片", stem(p)));
    std::fs::create_dir_all(&dir).map_err(|e| werr(&dir, e))?;
    let all = p.photos(None)?;
    progress.stage("照片 / photos", all.len() as u64);
    let mut out = Vec::new();
    let mut seq: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    for (i, ph) in all.iter().enumerate() {
        if progress.set(i as u64).is_err() {
            return Err(ExportError::Cancelled);
        }
        let Some(fid) = ph.patch_fid else { continue };
        let Some(r) = p.patch(fid)? else { continue };
        let get = |f: Option<&String>| f.and_then(|f| r.value(t, f)).map(|v| v.to_string()).unwrap_or_default();
        let n = seq.entry(fid).or_insert(0);
        *n += 1;
        let ext = Path::new(&ph.file_name).extension().and_then(|e| e.to_str()).unwrap_or("jpg").to_ascii_lowercase();
        let name = format!(
            "{}_{}_{}_{n}.{ext}",
            safe(&get(roles.township.as_ref())),
            safe(&get(roles.village.as_ref())),
            safe(&r.key)
        );
        let path = dir.join(name);
        let bytes = p.photo_bytes(ph.id)?.unwrap_or_default();
        std::fs::write(&path, bytes).map_err(|e| werr_io(&path, e))?;
        out.push(path);
    }
    Ok(out)
}
