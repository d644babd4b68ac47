//! The import's reader thread: it owns the GDAL dataset (architecture invariant 3), chooses the
//! layer, settles the source CRS, maps the fields, and sends each feature as a plain patch
//! (geo geometries in the source CRS and in CGCS2000 lon/lat, template values) over a channel.

use gdal::spatial_ref::{CoordTransform, SpatialRef};
use gdal::vector::{Layer, LayerAccess, OGRwkbGeometryType};
use gdal::Dataset;
use geo::Validation;
use std::sync::mpsc::SyncSender;

use super::fields::FieldMap;
use super::prepare::{open_dataset, Prepared};
use super::{ImportError, ImportOptions};
use crate::crs;
use crate::store::{NewPatch, SourceCrs};
use tuban_model::Template;

/// What the reader sends: a header first, then one message per feature; `Fatal` ends it.
pub(super) enum Msg {
    /// The layer read, its feature count, the delivered CRS and whole-batch warnings.
    Header { layer: String, total: u64, crs: SourceCrs, warnings: Vec<String> },
    /// The next patches to add (a batch at a time: a channel hand-over per feature costs more in
    /// thread wake-ups than reading it).
    Patches(Vec<NewPatch>),
    /// A feature skipped, and why.
    Skip(String),
    /// A problem to report (the import goes on).
    Problem(String),
    /// The source cannot be read.
    Fatal(ImportError),
}

/// Reader thread: owns the GDAL dataset, sends plain patches.
pub(super) fn read_source(
    prepared: Prepared,
    display: &str,
    opts: &ImportOptions,
    template: &Template,
    tx: &SyncSender<Msg>,
) {
    if let Err(e) = read_source_inner(&prepared, display, opts, template, tx) {
        let _ = tx.send(Msg::Fatal(e));
    }
}

/// The caller stopped listening (cancel or a write error): the reader just ends.
struct Stopped;

fn read_source_inner(
    prepared: &Prepared,
    display: &str,
    opts: &ImportOptions,
    template: &Template,
    tx: &SyncSender<Msg>,
) -> Result<(), ImportError> {
    let ds = open_dataset(prepared, display)?;
    let (mut layer, layer_name) = choose_layer(&ds, prepared, display, opts)?;
    if layer.defn().geom_fields().count() == 0 {
        return Err(ImportError::NoGeometry { path: display.to_string() });
    }
    let mut warnings = Vec::new();
    let target = crs::cgcs2000().map_err(|e| ImportError::BadCrs { crs: "EPSG:4490".into(), detail: e.to_string() })?;
    let source_srs = source_srs(&layer, display, opts, &target, &mut warnings)?;
    let source_crs = crs::describe(&source_srs);
    let transform = CoordTransform::new(&source_srs, &target)
        .map_err(|e| ImportError::BadCrs { crs: source_crs.name.clone(), detail: e.to_string() })?;
    let fields = FieldMap::new(template, layer.defn().fields().map(|f| f.name()).collect(), &mut warnings);
    let total = layer.feature_count();
    if tx.send(Msg::Header { layer: layer_name, total, crs: source_crs, warnings }).is_err() {
        return Ok(());
    }
    let mut features =
        FeatureReader { template, fields: &fields, transform: &transform, tx, zm_warned: false, batch: Vec::new() };
    let (read, outside_china) = match features.send_all(&mut layer) {
        Ok(counts) => counts,
        Err(Stopped) => return Ok(()),
    };
    if read < total {
        let _ = tx.send(Msg::Problem(format!("只读到 {read} / {total} 个要素，文件可能已损坏 / only {read} of {total} features could be read; the file may be damaged")));
    }
    if outside_china > 0 {
        let _ = tx.send(Msg::Problem(format!("{outside_china} 个图斑中心不在中国范围内，请检查坐标系 / {outside_china} patch centres lie outside China: check the CRS")));
    }
    Ok(())
}

/// The layer to read and the name it is recorded under: the only one, or the one asked for.
pub(crate) fn choose_layer<'d>(
    ds: &'d Dataset,
    prepared: &Prepared,
    display: &str,
    opts: &ImportOptions,
) -> Result<(Layer<'d>, String), ImportError> {
    let names: Vec<String> = ds.layers().map(|l| l.name()).collect();
    let wanted = opts.layer.clone().filter(|_| prepared.layer_hint.is_none() || names.len() > 1);
    let layer = match (&wanted, names.len()) {
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
    Ok((layer, layer_name))
}

/// The CRS of the coordinates: `--crs`, else the declared one, else CGCS2000 when they are degrees.
pub(crate) fn source_srs(
    layer: &Layer<'_>,
    display: &str,
    opts: &ImportOptions,
    target: &SpatialRef,
    warnings: &mut Vec<String>,
) -> Result<SpatialRef, ImportError> {
    if let Some(text) = &opts.crs {
        return crs::parse_user_crs(text).map_err(|e| ImportError::BadCrs { crs: text.clone(), detail: e.to_string() });
    }
    if let Some(srs) = layer.spatial_ref() {
        return Ok(crs::srs_xy(srs));
    }
    let extent = layer.try_get_extent().ok().flatten().or_else(|| layer.get_extent().ok());
    match extent {
        Some(e) if crs::looks_like_degrees([e.MinX, e.MinY, e.MaxX, e.MaxY]) => {
            warnings.push("未声明坐标系，坐标为经纬度，按 CGCS2000（EPSG:4490）读取 / no CRS declared; coordinates are degrees, read as CGCS2000 (EPSG:4490)".to_string());
            Ok(target.clone())
        }
        Some(e) => Err(ImportError::UnknownCrs {
            path: display.to_string(),
            hint: crs::guess_hint([e.MinX, e.MinY, e.MaxX, e.MaxY]),
        }),
        None => Ok(target.clone()),
    }
}

/// Turns features into messages and sends them.
struct FeatureReader<'a> {
    template: &'a Template,
    fields: &'a FieldMap,
    transform: &'a CoordTransform,
    tx: &'a SyncSender<Msg>,
    zm_warned: bool,
    /// Patches read and not yet sent.
    batch: Vec<NewPatch>,
}

/// Patches per message.
const BATCH: usize = 256;

impl FeatureReader<'_> {
    /// Sends a message after the patches read before it (the order of the report is kept).
    fn send(&mut self, msg: Msg) -> Result<(), Stopped> {
        self.flush()?;
        self.tx.send(msg).map_err(|_| Stopped)
    }

    fn flush(&mut self) -> Result<(), Stopped> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.tx.send(Msg::Patches(batch)).map_err(|_| Stopped)
    }

    /// Sends every feature of `layer`; returns how many were read and how many lie outside China.
    fn send_all(&mut self, layer: &mut Layer<'_>) -> Result<(u64, usize), Stopped> {
        let mut read = 0u64;
        let mut outside_china = 0usize;
        for feature in layer.features() {
            read += 1;
            let fid = feature.fid().map_or_else(|| read.to_string(), |f| f.to_string());
            let fv = self.fields.read(self.template, &feature);
            let label = self
                .fields
                .id_index
                .and_then(|i| fv.values[i].as_ref())
                .map(|v| format!("{v}"))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| format!("要素 / feature {fid}"));
            let Some(geom) = feature.geometry() else {
                self.send(Msg::Skip(format!("{label}: 几何为空，已跳过 / null geometry, skipped")))?;
                continue;
            };
            match convert_geometry(geom, self.transform) {
                Err(reason) => self.send(Msg::Skip(format!("{label}: {reason}")))?,
                Ok(c) => {
                    let patch = self.patch(c, fv, &label)?;
                    if let Some(p) = patch.centre {
                        if !(73.0..=136.0).contains(&p.x()) || !(3.0..=54.0).contains(&p.y()) {
                            outside_china += 1;
                        }
                    }
                    self.batch.push(patch);
                    if self.batch.len() >= BATCH {
                        self.flush()?;
                    }
                }
            }
        }
        self.flush()?;
        Ok((read, outside_china))
    }

    /// A converted feature as a patch, reporting Z/M values (once) and an invalid geometry.
    fn patch(&mut self, c: Converted, fv: super::fields::FeatureValues, label: &str) -> Result<NewPatch, Stopped> {
        let mut issues = fv.issues;
        if c.had_zm && !self.zm_warned {
            self.zm_warned = true;
            self.send(Msg::Problem("几何含 Z/M 值，已去掉 / Z/M values dropped".into()))?;
        }
        if let Some(reason) = c.invalid {
            issues.push(format!("几何无效 / invalid geometry: {reason}"));
            self.send(Msg::Problem(format!(
                "{label}: 几何无效（已导入并标记） / invalid geometry (imported, flagged): {reason}"
            )))?;
        }
        let area_m2 = tuban_model::geometry::area_m2(&c.lonlat);
        let centre = tuban_model::geometry::centre(&c.lonlat);
        Ok(NewPatch {
            values: fv.values,
            geom_lonlat: c.lonlat,
            geom_source: c.source,
            area_m2,
            centre,
            extra: fv.extra,
            issues,
        })
    }
}

/// A delivered geometry checked and converted.
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
pub(crate) fn normalise(g: geo::Geometry) -> Result<geo::Geometry, String> {
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
