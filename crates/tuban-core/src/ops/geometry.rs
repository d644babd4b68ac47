//! Editing a patch's extent from either front end: split into 细斑 by a line or a polygon,
//! reshape from a drawn or filed geometry, merge 细斑 back, reuse the last patch's values.
//! The window passes CGCS2000 lon/lat; the command line may give coordinates in another CRS
//! (`--crs EPSG:4546`) or a vector file, which GDAL reads and transforms here.

use std::path::Path;

use gdal::spatial_ref::CoordTransform;
use gdal::vector::LayerAccess;
use geo::{Coord, Geometry, Polygon};

use super::OpsError;
use crate::store::{EditOutcome, EditSource, Project, SplitOutcome, StoreError};
use tuban_model::geometry::edit;

/// How a split is drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum Cut {
    /// A line across the patch (lon/lat vertices).
    Line(Vec<Coord>),
    /// A polygon inside (or over part of) the patch.
    Polygon(Polygon),
}

fn geometry_error(key: &str) -> impl Fn(edit::GeometryError) -> OpsError + '_ {
    move |cause| OpsError::Store(StoreError::InvalidGeometry { key: key.to_string(), cause })
}

/// Splits the patch `key` along `cut` (its extent in force, verified or issued) into 细斑.
pub fn split(p: &mut Project, key: &str, cut: &Cut) -> Result<SplitOutcome, OpsError> {
    let fid = p.require_patch(key)?;
    let extent = p.extent(fid)?.ok_or_else(|| geometry_error(key)(edit::GeometryError::NotAPolygon))?;
    let parts = match cut {
        Cut::Line(line) => edit::split_by_line(extent.current(), line),
        Cut::Polygon(poly) => edit::split_by_polygon(extent.current(), poly),
    }
    .map_err(geometry_error(key))?;
    Ok(p.split(fid, &parts)?)
}

/// Sets the verified extent of `key` to `g` (lon/lat).
pub fn reshape(p: &mut Project, key: &str, g: &Geometry) -> Result<EditOutcome, OpsError> {
    let fid = p.require_patch(key)?;
    Ok(p.set_extent(fid, g)?)
}

/// Merges the 细斑 of `key` (the patch or one of its 细斑) back into the patch.
pub fn merge(p: &mut Project, key: &str) -> Result<EditOutcome, OpsError> {
    let fid = p.require_patch(key)?;
    Ok(p.merge_subpatches(fid)?)
}

/// Copies the values of `fields` from patch `from` into patch `to`: one edit, one undo step.
/// Fields that are issued, computed or empty on `from` are left alone.
pub fn reuse_values(p: &mut Project, from: i64, to: i64, fields: &[String]) -> Result<EditOutcome, OpsError> {
    let source = p
        .patch(from)?
        .ok_or_else(|| StoreError::NoSuchPatch { path: p.path().display().to_string(), key: format!("#{from}") })?;
    let t = p.template().clone();
    let edits: Vec<(String, tuban_model::Value)> = fields
        .iter()
        .filter_map(|name| t.field(name))
        .filter(|f| !f.is_read_only())
        .filter_map(|f| source.value(&t, &f.name).filter(|v| !v.is_empty()).map(|v| (f.name.clone(), v.clone())))
        .collect();
    if edits.is_empty() {
        return Err(OpsError::Invalid(format!(
            "{}：所选字段都没有可沿用的值 / none of the chosen fields has a value to reuse",
            source.key
        )));
    }
    Ok(p.set_values(to, &edits, EditSource::User)?)
}

/// Points given in `crs` (X/Y, or lon/lat for a geographic CRS) as CGCS2000 lon/lat.
pub fn to_lonlat(points: &[(f64, f64)], crs: Option<&str>) -> Result<Vec<Coord>, OpsError> {
    let Some(crs) = crs else { return Ok(points.iter().map(|&(x, y)| Coord { x, y }).collect()) };
    crate::crs::init_gdal();
    let bad = |detail: String| OpsError::Invalid(format!("--crs {crs}: {detail}"));
    let from = crate::crs::parse_user_crs(crs).map_err(|e| bad(e.to_string()))?;
    let to = crate::crs::cgcs2000().map_err(|e| bad(e.to_string()))?;
    let t = CoordTransform::new(&from, &to).map_err(|e| bad(e.to_string()))?;
    let mut xs: Vec<f64> = points.iter().map(|p| p.0).collect();
    let mut ys: Vec<f64> = points.iter().map(|p| p.1).collect();
    let mut zs = vec![0.0; points.len()];
    t.transform_coords(&mut xs, &mut ys, &mut zs).map_err(|e| bad(e.to_string()))?;
    Ok(xs.into_iter().zip(ys).map(|(x, y)| Coord { x, y }).collect())
}

/// The first polygon of a vector file (GeoJSON, shapefile, GeoPackage…) as CGCS2000 lon/lat.
pub fn read_polygon_file(path: &Path) -> Result<Geometry, OpsError> {
    crate::crs::init_gdal();
    let name = path.display().to_string();
    let bad = |detail: String| {
        OpsError::Invalid(format!(
            "{name}: {detail}；请给出含一个面的 GeoJSON 或矢量文件 / give a GeoJSON or vector file holding one polygon"
        ))
    };
    if !path.exists() {
        return Err(OpsError::Io { path: name, cause: std::io::Error::from(std::io::ErrorKind::NotFound) });
    }
    let ds = gdal::Dataset::open(path).map_err(|e| bad(e.to_string()))?;
    let mut layer = ds.layer(0).map_err(|e| bad(e.to_string()))?;
    let srs = layer.spatial_ref().map(crate::crs::srs_xy);
    let feature = layer.features().next().ok_or_else(|| bad("文件中没有要素 / no feature in the file".into()))?;
    let geom = feature.geometry().ok_or_else(|| bad("要素没有几何 / the feature has no geometry".into()))?;
    let mut geom = geom.clone();
    if let Some(srs) = srs {
        let to = crate::crs::cgcs2000().map_err(|e| bad(e.to_string()))?;
        let t = CoordTransform::new(&srs, &to).map_err(|e| bad(e.to_string()))?;
        geom = geom.transform(&t).map_err(|e| bad(e.to_string()))?;
    }
    let g = geom.to_geo().map_err(|e| bad(e.to_string()))?;
    match g {
        Geometry::Polygon(_) | Geometry::MultiPolygon(_) => Ok(g),
        _ => Err(bad("几何不是面 / the geometry is not a polygon".into())),
    }
}
