//! Geometry math of the model: GeoPackage blobs, ellipsoidal area and the centre point of a
//! patch. Inputs are lon/lat in CGCS2000 (EPSG:4490, longitude on x).
//!
//! # Units
//! Areas in m² on the ellipsoid (GRS 80 and WGS 84 differ from CGCS2000 by less than 1e-9 in
//! flattening, far below survey precision); coordinates in degrees.

pub mod edit;
pub mod gpkg;

use geo::orient::{Direction, Orient};
use geo::{Centroid, Contains, Distance, Euclidean, GeodesicArea, Geometry, InteriorPoint, Point};

/// Ellipsoidal area of a lon/lat geometry in m²; 0 for points and lines.
///
/// Rings are oriented first (exterior counter-clockwise): a shapefile's clockwise exterior would
/// otherwise measure the rest of the Earth.
pub fn area_m2(geom_lonlat: &Geometry) -> f64 {
    match geom_lonlat {
        Geometry::Polygon(p) => polygon_m2(p),
        Geometry::MultiPolygon(mp) => mp.0.iter().map(polygon_m2).sum(),
        Geometry::GeometryCollection(gc) => gc.0.iter().map(area_m2).sum(),
        Geometry::Rect(r) => r.to_polygon().geodesic_area_unsigned(),
        Geometry::Triangle(t) => t.to_polygon().geodesic_area_unsigned(),
        _ => 0.0,
    }
}

/// Ellipsoidal area of one polygon, m². A ring without planar area (a sliver left by an overlay,
/// all its vertices on one line) has no orientation to correct, and measured as it comes would
/// be the rest of the Earth: it counts as 0, and so does what is left of a near-sliver.
fn polygon_m2(p: &geo::Polygon) -> f64 {
    let ring = &p.exterior().0;
    let Some(o) = ring.first() else { return 0.0 };
    // Shoelace around the first vertex (products of ~111° lose the area of a small patch).
    let twice: f64 = ring.windows(2).map(|w| (w[0].x - o.x) * (w[1].y - o.y) - (w[1].x - o.x) * (w[0].y - o.y)).sum();
    // 1e-16 square degrees is about 1e-6 m².
    if ring.len() < 4 || twice.abs() / 2.0 < 1e-16 {
        return 0.0;
    }
    let a = p.orient(Direction::Default).geodesic_area_unsigned();
    // A near-degenerate sliver can still come out turned the wrong way on the geodesic
    // (measured as the rest of the Earth); no patch is larger than half of it.
    if a > EARTH_M2 / 2.0 {
        (EARTH_M2 - a).abs()
    } else {
        a
    }
}

/// The area of the WGS 84 / GRS 80 ellipsoid, m² (what the geodesic area of the rest of the Earth
/// adds up to).
const EARTH_M2: f64 = 510_065_621_724_088.44;

/// The centre of a patch: its centroid when that lies inside it, otherwise a point surely inside
/// (so that a field team sent to the "centre" of a crescent lands on the patch).
pub fn centre(geom: &Geometry) -> Option<Point> {
    let c = geom.centroid()?;
    match geom {
        Geometry::Polygon(_) | Geometry::MultiPolygon(_) if !geom.contains(&c) => geom.interior_point().or(Some(c)),
        _ => Some(c),
    }
}

/// Local metres of a lon/lat point around a reference latitude (good to 0.1 % over a few km).
pub fn local_m(lon: f64, lat: f64, ref_lat: f64) -> Point {
    Point::new(lon * 111_320.0 * ref_lat.to_radians().cos(), lat * 110_574.0)
}

/// A lon/lat geometry in local metres around `ref_lat` (see [`local_m`]).
pub fn to_local(g: &Geometry, ref_lat: f64) -> Geometry {
    use geo::MapCoords;
    g.map_coords(|c| {
        let p = local_m(c.x, c.y, ref_lat);
        geo::Coord { x: p.x(), y: p.y() }
    })
}

/// Distance in metres from a lon/lat point to a lon/lat geometry (0 inside).
pub fn distance_m(lonlat: (f64, f64), geom: &Geometry) -> f64 {
    let p = local_m(lonlat.0, lonlat.1, lonlat.1);
    let g = to_local(geom, lonlat.1);
    if g.contains(&p) {
        0.0
    } else {
        Euclidean.distance(&g, &p)
    }
}

/// The patch a photo belongs to: the one containing its position, else the nearest within
/// `max_m` metres. Returns (index into `patches`, distance in m).
pub fn match_patch(lonlat: (f64, f64), patches: &[(i64, Geometry)], max_m: f64) -> Option<(i64, f64)> {
    patches
        .iter()
        .map(|(fid, g)| (*fid, distance_m(lonlat, g)))
        .filter(|(_, d)| *d <= max_m)
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    #[test]
    fn one_hectare_square_near_41n() {
        // 100 m × 100 m at 41°N, 111°E: 0.001° lat ≈ 111.04 m; 0.001° lon ≈ 84.0 m.
        let dlat = 100.0 / 111_040.0;
        let dlon = 100.0 / (111_320.0 * 41f64.to_radians().cos());
        let p = polygon![(x: 111.0, y: 41.0), (x: 111.0 + dlon, y: 41.0), (x: 111.0 + dlon, y: 41.0 + dlat), (x: 111.0, y: 41.0 + dlat), (x: 111.0, y: 41.0)];
        let a = area_m2(&Geometry::Polygon(p));
        assert!((a - 10_000.0).abs() < 60.0, "{a}");
    }

    #[test]
    fn clockwise_rings_measure_the_patch_not_the_earth() {
        let cw = polygon![(x: 111.0, y: 41.0), (x: 111.0, y: 41.001), (x: 111.001, y: 41.001), (x: 111.001, y: 41.0), (x: 111.0, y: 41.0)];
        let a = area_m2(&Geometry::Polygon(cw));
        assert!(a > 9_000.0 && a < 9_500.0, "{a}");
    }

    #[test]
    fn centre_of_a_crescent_is_inside() {
        let c = polygon![(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0), (x: 0.0, y: 10.0), (x: 0.0, y: 9.0), (x: 9.0, y: 9.0), (x: 9.0, y: 1.0), (x: 0.0, y: 1.0), (x: 0.0, y: 0.0)];
        let g = Geometry::Polygon(c);
        let p = centre(&g).unwrap();
        assert!(g.contains(&p));
    }
}
