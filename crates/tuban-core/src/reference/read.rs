//! Reading a reference layer with GDAL on its own thread (architecture invariant 3): the same
//! preparation as an import (zip, shapefile sidecars, encoding from `--encoding`, `.cpg`, the
//! DBF code-page byte or detection; CRS from `--crs`, the file, or degrees), then each feature's
//! polygons repaired with GEOS's make-valid when invalid, reprojected to CGCS2000 lon/lat and
//! sent as plain [`RefFeature`]s, a batch at a time, over a bounded channel.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::SyncSender;

use gdal::cpl::CslStringList;
use gdal::spatial_ref::CoordTransform;
use gdal::vector::{Feature, LayerAccess, OGRwkbGeometryType};

use super::ReferenceError;
use crate::crs;
use crate::import::fields::field_text;
use crate::import::prepare::{open_dataset, prepare};
use crate::import::reader::{choose_layer, normalise, source_srs};
use crate::import::{ImportError, ImportOptions};
use crate::store::{encode_feature, EncodedFeature, RefFeature};

/// What the reader sends: a header, the features, then the counts; `Fatal` ends it.
pub(super) enum Msg {
    /// The layer read, its feature count, CRS and encoding (described), its fields, its extent
    /// in lon/lat.
    Header { layer: String, total: u64, crs: String, encoding: String, fields: Vec<String>, extent: Option<[f64; 4]> },
    /// The next features, encoded for the store on this thread (sent a batch at a time: one
    /// channel hand-over per feature cost more in thread wake-ups than reading it).
    Features(Vec<(RefFeature, EncodedFeature)>),
    /// The end: features repaired and skipped, and why some were skipped (first few).
    Done { repaired: u64, skipped: u64, reasons: Vec<String> },
    /// The file cannot be read.
    Fatal(ReferenceError),
}

/// How to read the layer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOptions {
    /// Layer of a multi-layer file.
    pub layer: Option<String>,
    /// Text encoding, overriding declaration and detection.
    pub encoding: Option<String>,
    /// CRS, overriding (or standing in for) the declared one.
    pub crs: Option<String>,
    /// The fields whose values make a feature's class (joined by ` · `).
    pub class_fields: Vec<String>,
    /// The field shown as a label on the map.
    pub label_field: Option<String>,
}

/// Reads `path` and sends its features to `tx` (runs on the reader thread).
pub(super) fn read(path: &Path, opts: &ReadOptions, fallback_class: &str, tx: &SyncSender<Msg>) {
    if let Err(e) = read_inner(path, opts, fallback_class, tx) {
        let _ = tx.send(Msg::Fatal(e));
    }
}

fn read_inner(
    path: &Path,
    opts: &ReadOptions,
    fallback_class: &str,
    tx: &SyncSender<Msg>,
) -> Result<(), ReferenceError> {
    let display = path.display().to_string();
    let iopts = ImportOptions {
        layer: opts.layer.clone(),
        encoding: opts.encoding.clone(),
        crs: opts.crs.clone(),
        ..Default::default()
    };
    let prepared = prepare(path, &iopts)?;
    let ds = open_dataset(&prepared, &display)?;
    let (mut layer, layer_name) = choose_layer(&ds, &prepared, &display, &iopts)?;
    if layer.defn().geom_fields().count() == 0 {
        return Err(ImportError::NoGeometry { path: display }.into());
    }
    let fields: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    for wanted in opts.class_fields.iter().chain(opts.label_field.iter()) {
        if !fields.iter().any(|f| f.eq_ignore_ascii_case(wanted)) {
            return Err(ReferenceError::NoSuchField {
                path: display,
                field: wanted.clone(),
                fields: fields.join(", "),
            });
        }
    }
    let target = crs::cgcs2000().map_err(|e| ImportError::BadCrs { crs: "EPSG:4490".into(), detail: e.to_string() })?;
    let mut warnings = Vec::new();
    let srs = source_srs(&layer, &display, &iopts, &target, &mut warnings)?;
    let described = crs::describe(&srs);
    let transform = CoordTransform::new(&srs, &target)
        .map_err(|e| ImportError::BadCrs { crs: described.name.clone(), detail: e.to_string() })?;
    let crs_text = if described.code > 0 {
        format!("{} (EPSG:{})", described.name, described.code)
    } else {
        described.name.clone()
    };
    let header = Msg::Header {
        layer: layer_name,
        total: layer.feature_count(),
        crs: crs_text,
        encoding: format!("{} ({})", prepared.encoding.name, prepared.encoding.how.describe()),
        fields: fields.clone(),
        extent: layer
            .get_extent()
            .ok()
            .and_then(|e| transform.transform_bounds(&[e.MinX, e.MinY, e.MaxX, e.MaxY], 21).ok()),
    };
    if tx.send(header).is_err() {
        return Ok(());
    }
    send_features(&mut layer, &fields, opts, fallback_class, &transform, tx);
    Ok(())
}

/// Features per message.
const BATCH: usize = 512;

/// Sends every feature of `layer`, then the counts; stops when the caller stops listening.
fn send_features(
    layer: &mut gdal::vector::Layer<'_>,
    fields: &[String],
    opts: &ReadOptions,
    fallback_class: &str,
    transform: &CoordTransform,
    tx: &SyncSender<Msg>,
) {
    let pick = |f: &Feature<'_>, name: &str| -> String {
        fields
            .iter()
            .position(|x| x.eq_ignore_ascii_case(name))
            .and_then(|i| f.field(i).ok().flatten())
            .map(|v| field_text(&v))
            .unwrap_or_default()
    };
    let (mut repaired, mut skipped, mut reasons) = (0u64, 0u64, Vec::new());
    let mut batch = Vec::with_capacity(BATCH);
    for feature in layer.features() {
        let converted = feature
            .geometry()
            .ok_or_else(|| "几何为空 / null geometry".to_string())
            .and_then(|g| convert(g, transform));
        let (geom, was_repaired) = match converted {
            Ok(c) => c,
            Err(reason) => {
                skipped += 1;
                if reasons.len() < 5 {
                    reasons.push(format!("{} {}: {reason}", "要素 / feature", feature.fid().unwrap_or(0)));
                }
                continue;
            }
        };
        repaired += u64::from(was_repaired);
        let mut attrs = BTreeMap::new();
        for (i, name) in fields.iter().enumerate() {
            if let Ok(Some(v)) = feature.field(i) {
                let text = field_text(&v);
                if !text.is_empty() {
                    attrs.insert(name.clone(), text);
                }
            }
        }
        let parts: Vec<String> = opts.class_fields.iter().map(|c| pick(&feature, c)).collect();
        let class = if parts.is_empty() || parts.iter().all(String::is_empty) {
            fallback_class.to_string()
        } else {
            parts.join(" · ")
        };
        let label = opts.label_field.as_deref().map(|l| pick(&feature, l)).filter(|s| !s.is_empty());
        let feature = RefFeature { class, label, attrs, geom };
        if let Some(encoded) = encode_feature(&feature) {
            batch.push((feature, encoded));
        }
        if batch.len() == BATCH
            && tx.send(Msg::Features(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))).is_err()
        {
            return;
        }
    }
    if !batch.is_empty() && tx.send(Msg::Features(batch)).is_err() {
        return;
    }
    let _ = tx.send(Msg::Done { repaired, skipped, reasons });
}

/// A feature's geometry as CGCS2000 lon/lat polygons, repaired when invalid (and whether it was).
fn convert(g: &gdal::vector::Geometry, transform: &CoordTransform) -> Result<(geo::Geometry, bool), String> {
    if g.is_empty() {
        return Err("几何为空 / empty geometry".into());
    }
    let ty = g.geometry_type();
    // Copied only to drop Z or M (the transform below copies anyway).
    let flat;
    let g = if gdal::vector::geometry_type_has_z(ty) || gdal::vector::geometry_type_has_m(ty) {
        let mut c = g.clone();
        c.flatten_to_2d();
        flat = c;
        &flat
    } else {
        g
    };
    match gdal::vector::geometry_type_flatten(ty) {
        OGRwkbGeometryType::wkbPolygon
        | OGRwkbGeometryType::wkbMultiPolygon
        | OGRwkbGeometryType::wkbGeometryCollection => {}
        other => {
            return Err(format!(
                "{} 不是面，已跳过 / not a polygon; skipped",
                gdal::vector::geometry_type_to_name(other)
            ))
        }
    }
    // geo's check on the converted polygons is cheap; GEOS's make-valid runs only on the few
    // invalid ones (then the repaired geometry is converted again).
    let to_lonlat = |g: &gdal::vector::Geometry| -> Result<geo::Geometry, String> {
        let projected = g
            .transform(transform)
            .map_err(|e| format!("坐标无法转换到 CGCS2000 / cannot transform to CGCS2000: {e}"))?;
        let geo = projected.to_geo().map_err(|e| format!("几何无法读取 / unreadable geometry: {e}"))?;
        match normalise(geo)? {
            p @ (geo::Geometry::Polygon(_) | geo::Geometry::MultiPolygon(_)) => Ok(p),
            _ => Err("修复后没有面 / no polygon left after repair".into()),
        }
    };
    let first = to_lonlat(g)?;
    if geo::Validation::is_valid(&first) {
        return Ok((first, false));
    }
    let fixed = g
        .make_valid(&CslStringList::new())
        .map_err(|e| format!("几何无效且无法修复 / invalid and not repairable: {e}"))?;
    let polys = to_lonlat(&fixed)?;
    let repaired = true;
    Ok((polys, repaired))
}
