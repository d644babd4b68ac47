//! Editing a patch's verified extent, without I/O: the checks a geometry must pass before it is
//! saved, splitting into 细斑 by a line across the patch or a polygon drawn inside it, merging
//! them back, moving, inserting and deleting vertices, snapping to neighbouring outlines, the
//! rules over the 细斑 of one patch, and the WKT text the audit log keeps.
//! Coordinates are CGCS2000 lon/lat (longitude on x) unless a function says otherwise.
//!
//! # Units
//! Areas in m² on the ellipsoid ([`super::area_m2`]); tolerances in m²; lengths in metres along
//! the geodesic.

use geo::{BooleanOps, Coord, Geodesic, Geometry, Length, LineString, MultiPolygon, Polygon, Validation};
use i_overlay::core::fill_rule::FillRule;
use i_overlay::float::slice::FloatSlice;
use wkt::{ToWkt, TryFromWkt};

use super::area_m2;
use crate::units::M2_PER_MU;

/// The tolerance of the 细斑 rules: 0.01 亩 (about 6.67 m²).
pub const SUBPATCH_TOLERANCE_M2: f64 = 0.01 * M2_PER_MU;

/// Parts of a split smaller than this are slivers of the drawing, not 细斑 (m²).
pub const MIN_PART_M2: f64 = 0.5;

/// Why a geometry cannot be saved; shown on the map, never saved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeometryError {
    /// A ring with fewer than three distinct vertices.
    #[error("范围少于三个顶点 / the extent has fewer than three vertices")]
    TooFewVertices,
    /// Edges of the extent cross.
    #[error("范围自相交：请移动顶点使边不交叉 / the extent intersects itself: move a vertex so that no edges cross")]
    SelfIntersection,
    /// Another reason GEOS-style validation gives (holes outside, rings touching along a line).
    #[error("范围无效：{0} / invalid extent: {0}")]
    Invalid(String),
    /// Part of the extent lies outside the issued patch and the template forbids it.
    #[error("范围有 {outside_m2:.1} 平方米超出下发图斑，模板不允许 / {outside_m2:.1} m² of the extent lie outside the issued patch, which the template forbids")]
    OutsideParent {
        /// Area outside, m².
        outside_m2: f64,
    },
    /// The split line does not cut the patch into two parts or more.
    #[error("分割线未把图斑分成两块以上：请从图斑外画线穿过图斑到图斑外 / the line does not cut the patch into two or more parts: draw it from outside, across the patch, to outside")]
    LineMissesPatch,
    /// The polygon drawn for a split lies wholly outside or covers the whole patch.
    #[error("分割面须有一部分在图斑内、一部分在图斑外或在图斑内 / the polygon drawn must lie partly inside the patch")]
    PolygonMissesPatch,
    /// Only polygons have an extent to edit.
    #[error("只有面状图斑可以编辑范围 / only polygon patches have an extent to edit")]
    NotAPolygon,
    /// The extent has no area.
    #[error("范围面积为零 / the extent has no area")]
    Empty,
    /// A vertex reference that does not exist.
    #[error("没有这个顶点 / no such vertex")]
    NoSuchVertex,
    /// Unreadable WKT.
    #[error("WKT 无法读取：{0} / unreadable WKT: {0}")]
    Wkt(String),
}

/// The polygons of a polygon or multipolygon geometry.
pub fn polygons(g: &Geometry) -> Result<Vec<Polygon>, GeometryError> {
    match g {
        Geometry::Polygon(p) => Ok(vec![p.clone()]),
        Geometry::MultiPolygon(mp) => Ok(mp.0.clone()),
        Geometry::Rect(r) => Ok(vec![r.to_polygon()]),
        _ => Err(GeometryError::NotAPolygon),
    }
}

/// One polygon, or a multipolygon when there are several.
pub fn from_polygons(mut parts: Vec<Polygon>) -> Geometry {
    if parts.len() == 1 {
        Geometry::Polygon(parts.remove(0))
    } else {
        Geometry::MultiPolygon(MultiPolygon::new(parts))
    }
}

fn distinct_vertices(ring: &LineString) -> usize {
    let mut pts: Vec<Coord> = ring.0.clone();
    if pts.len() > 1 && pts.first() == pts.last() {
        pts.pop();
    }
    pts.dedup();
    pts.len()
}

/// Checks that `g` can be saved as an extent: polygons only, three distinct vertices per ring at
/// least, no self-intersection, a positive area.
pub fn check(g: &Geometry) -> Result<(), GeometryError> {
    let polys = polygons(g)?;
    if polys.is_empty() {
        return Err(GeometryError::Empty);
    }
    for p in &polys {
        if std::iter::once(p.exterior()).chain(p.interiors()).any(|r| distinct_vertices(r) < 3) {
            return Err(GeometryError::TooFewVertices);
        }
        if let Some(e) = p.validation_errors().into_iter().next() {
            use geo::algorithm::validation::InvalidPolygon as I;
            return Err(match e {
                I::TooFewPointsInRing(_) => GeometryError::TooFewVertices,
                I::SelfIntersection(_) => GeometryError::SelfIntersection,
                other => GeometryError::Invalid(other.to_string()),
            });
        }
    }
    let mp = MultiPolygon::new(polys);
    if let Some(e) = mp.validation_errors().into_iter().next() {
        return Err(GeometryError::Invalid(e.to_string()));
    }
    if area_m2(g) <= 0.0 {
        return Err(GeometryError::Empty);
    }
    Ok(())
}

fn multi(g: &Geometry) -> Result<MultiPolygon, GeometryError> {
    polygons(g).map(MultiPolygon::new)
}

/// Area of `g` outside `parent`, m².
pub fn outside_m2(g: &Geometry, parent: &Geometry) -> Result<f64, GeometryError> {
    let diff = multi(g)?.difference(&multi(parent)?);
    Ok(area_m2(&Geometry::MultiPolygon(diff)))
}

/// Checks that no more than `tolerance_m2` of `g` lies outside `parent`.
pub fn check_within(g: &Geometry, parent: &Geometry, tolerance_m2: f64) -> Result<(), GeometryError> {
    let outside = outside_m2(g, parent)?;
    if outside > tolerance_m2 {
        return Err(GeometryError::OutsideParent { outside_m2: outside });
    }
    Ok(())
}

fn open_ring(r: &LineString) -> Vec<[f64; 2]> {
    let mut pts: Vec<[f64; 2]> = r.0.iter().map(|c| [c.x, c.y]).collect();
    if pts.len() > 1 && pts.first() == pts.last() {
        pts.pop();
    }
    pts
}

fn closed_ring(pts: &[[f64; 2]]) -> LineString {
    let mut coords: Vec<Coord> = pts.iter().map(|p| Coord { x: p[0], y: p[1] }).collect();
    if let Some(first) = coords.first().copied() {
        coords.push(first);
    }
    LineString::new(coords)
}

/// Parts with an area of at least [`MIN_PART_M2`], largest first.
fn real_parts(parts: Vec<Polygon>) -> Vec<Polygon> {
    let mut parts: Vec<(f64, Polygon)> = parts
        .into_iter()
        .map(|p| (area_m2(&Geometry::Polygon(p.clone())), p))
        .filter(|(a, _)| *a >= MIN_PART_M2)
        .collect();
    parts.sort_by(|a, b| b.0.total_cmp(&a.0));
    parts.into_iter().map(|(_, p)| p).collect()
}

/// Splits `g` by a line drawn across it (lon/lat vertices); the parts, largest first.
/// The line must cut the patch into two parts or more: drawn from outside, across, to outside.
pub fn split_by_line(g: &Geometry, line: &[Coord]) -> Result<Vec<Polygon>, GeometryError> {
    if line.len() < 2 {
        return Err(GeometryError::LineMissesPatch);
    }
    let path: Vec<[f64; 2]> = line.iter().map(|c| [c.x, c.y]).collect();
    let mut out = Vec::new();
    for p in polygons(g)? {
        let shape: Vec<Vec<[f64; 2]>> = std::iter::once(p.exterior()).chain(p.interiors()).map(open_ring).collect();
        for contours in shape.slice_by(&path, FillRule::NonZero) {
            let mut rings = contours.iter().map(|c| closed_ring(c));
            if let Some(exterior) = rings.next() {
                out.push(Polygon::new(exterior, rings.collect()));
            }
        }
    }
    let parts = real_parts(out);
    if parts.len() < 2 {
        return Err(GeometryError::LineMissesPatch);
    }
    Ok(parts)
}

/// Splits `g` by a polygon drawn over it: the part inside the polygon and the rest; the parts,
/// largest first.
pub fn split_by_polygon(g: &Geometry, cut: &Polygon) -> Result<Vec<Polygon>, GeometryError> {
    check(&Geometry::Polygon(cut.clone()))?;
    let whole = multi(g)?;
    let cut = MultiPolygon::new(vec![cut.clone()]);
    let inside = whole.intersection(&cut);
    let outside = whole.difference(&cut);
    let parts = real_parts(inside.0.into_iter().chain(outside.0).collect());
    if parts.len() < 2 {
        return Err(GeometryError::PolygonMissesPatch);
    }
    Ok(parts)
}

/// The union of several extents (merging 细斑 back into one).
pub fn union(parts: &[Geometry]) -> Result<Geometry, GeometryError> {
    let mut acc = MultiPolygon::new(vec![]);
    for g in parts {
        acc = acc.union(&multi(g)?);
    }
    Ok(from_polygons(acc.0))
}

/// What is wrong with the 细斑 of one patch, beyond [`SUBPATCH_TOLERANCE_M2`].
#[derive(Debug, Clone, PartialEq)]
pub enum SubpatchProblem {
    /// Two 细斑 (indices into the list given) overlap by this area.
    Overlap {
        /// First 细斑.
        a: usize,
        /// Second 细斑.
        b: usize,
        /// Shared area, m².
        area_m2: f64,
    },
    /// Part of the issued patch is in no 细斑.
    Uncovered {
        /// Area left out, m².
        area_m2: f64,
    },
}

/// Checks the 细斑 of one patch against each other and the patch: no two overlap and together
/// they cover it, each within `tolerance_m2`.
pub fn subpatch_problems(
    parent: &Geometry,
    parts: &[Geometry],
    tolerance_m2: f64,
) -> Result<Vec<SubpatchProblem>, GeometryError> {
    let multis: Vec<MultiPolygon> = parts.iter().map(multi).collect::<Result<_, _>>()?;
    let mut problems = Vec::new();
    for a in 0..multis.len() {
        for b in a + 1..multis.len() {
            let shared = area_m2(&Geometry::MultiPolygon(multis[a].intersection(&multis[b])));
            if shared > tolerance_m2 {
                problems.push(SubpatchProblem::Overlap { a, b, area_m2: shared });
            }
        }
    }
    let all = multis.iter().fold(MultiPolygon::new(vec![]), |acc, m| acc.union(m));
    let uncovered = area_m2(&Geometry::MultiPolygon(multi(parent)?.difference(&all)));
    if uncovered > tolerance_m2 {
        problems.push(SubpatchProblem::Uncovered { area_m2: uncovered });
    }
    Ok(problems)
}

/// The WKT text of a geometry (the audit log's before and after).
pub fn to_wkt(g: &Geometry) -> String {
    g.wkt_string()
}

/// Reads WKT written by [`to_wkt`] (or any WKT of a polygon or multipolygon).
pub fn from_wkt(text: &str) -> Result<Geometry, GeometryError> {
    Geometry::try_from_wkt_str(text).map_err(|e| GeometryError::Wkt(e.to_string()))
}

/// A vertex of a polygon or multipolygon: the polygon, the ring (0 = exterior, then the holes)
/// and its index in the ring (the closing point is not a vertex of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VertexRef {
    /// Polygon of a multipolygon (0 for a polygon).
    pub polygon: usize,
    /// Ring: 0 the exterior, 1… the holes.
    pub ring: usize,
    /// Vertex in the ring.
    pub index: usize,
}

/// Rebuilds `g` with ring `v.ring` of polygon `v.polygon` changed by `edit` (open ring).
fn edit_ring(
    g: &Geometry,
    v: VertexRef,
    edit: impl FnOnce(&mut Vec<[f64; 2]>) -> Result<(), GeometryError>,
) -> Result<Geometry, GeometryError> {
    let mut polys = polygons(g)?;
    let p = polys.get_mut(v.polygon).ok_or(GeometryError::NoSuchVertex)?;
    let mut rings: Vec<Vec<[f64; 2]>> = std::iter::once(p.exterior()).chain(p.interiors()).map(open_ring).collect();
    let ring = rings.get_mut(v.ring).ok_or(GeometryError::NoSuchVertex)?;
    edit(ring)?;
    let mut closed = rings.iter().map(|r| closed_ring(r));
    let exterior = closed.next().ok_or(GeometryError::NoSuchVertex)?;
    *p = Polygon::new(exterior, closed.collect());
    Ok(from_polygons(polys))
}

/// `g` with vertex `v` moved to `to`.
pub fn move_vertex(g: &Geometry, v: VertexRef, to: Coord) -> Result<Geometry, GeometryError> {
    edit_ring(g, v, |ring| {
        let p = ring.get_mut(v.index).ok_or(GeometryError::NoSuchVertex)?;
        *p = [to.x, to.y];
        Ok(())
    })
}

/// `g` with a new vertex at `at` on the edge from vertex `v` to the next one.
pub fn insert_vertex(g: &Geometry, v: VertexRef, at: Coord) -> Result<Geometry, GeometryError> {
    edit_ring(g, v, |ring| {
        if v.index >= ring.len() {
            return Err(GeometryError::NoSuchVertex);
        }
        ring.insert(v.index + 1, [at.x, at.y]);
        Ok(())
    })
}

/// `g` without vertex `v`; refused when the ring would keep fewer than three vertices.
pub fn delete_vertex(g: &Geometry, v: VertexRef) -> Result<Geometry, GeometryError> {
    edit_ring(g, v, |ring| {
        if v.index >= ring.len() {
            return Err(GeometryError::NoSuchVertex);
        }
        if ring.len() <= 3 {
            return Err(GeometryError::TooFewVertices);
        }
        ring.remove(v.index);
        Ok(())
    })
}

/// Geodesic length of a lon/lat line, m.
pub fn length_m(line: &[Coord]) -> f64 {
    Geodesic.length(&LineString::new(line.to_vec()))
}

/// What a point snapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapKind {
    /// A vertex of a neighbouring outline.
    Vertex,
    /// The nearest point of an edge.
    Edge,
}

/// Snaps `p` to the nearest vertex within `tolerance` of any of `rings` (closed rings given as
/// open vertex lists), or else to the nearest point on an edge within `tolerance`.
/// Coordinates are planar (the window passes screen pixels or Mercator units).
pub fn snap<'a>(
    p: [f64; 2],
    rings: impl IntoIterator<Item = &'a [[f64; 2]]> + Clone,
    tolerance: f64,
) -> Option<([f64; 2], SnapKind)> {
    let d2 = |a: [f64; 2], b: [f64; 2]| (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2);
    let tol2 = tolerance * tolerance;
    let vertex = rings
        .clone()
        .into_iter()
        .flat_map(|r| r.iter().copied())
        .map(|v| (d2(v, p), v))
        .filter(|(d, _)| *d <= tol2)
        .min_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((_, v)) = vertex {
        return Some((v, SnapKind::Vertex));
    }
    let mut best: Option<(f64, [f64; 2])> = None;
    for r in rings {
        for i in 0..r.len() {
            let (a, b) = (r[i], r[(i + 1) % r.len()]);
            let q = nearest_on_segment(p, a, b);
            let d = d2(q, p);
            if d <= tol2 && best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, q));
            }
        }
    }
    best.map(|(_, q)| (q, SnapKind::Edge))
}

/// The point of segment `a`–`b` nearest to `p` (planar).
pub fn nearest_on_segment(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> [f64; 2] {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    if len2 == 0.0 {
        return a;
    }
    let t = (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0);
    [a[0] + t * dx, a[1] + t * dy]
}

#[cfg(test)]
#[path = "edit_tests.rs"]
mod tests;
