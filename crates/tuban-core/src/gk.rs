//! CGCS2000 3-degree Gauss-Krüger coordinates of a lon/lat point (the zone chosen by longitude,
//! EPSG:4534-4554 without zone prefix), for the cursor read-out and typed coordinates.

use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};

/// EPSG code of the 3-degree CGCS2000 Gauss-Krüger zone (no prefix) containing `lon`.
pub fn zone_epsg(lon: f64) -> u32 {
    let zone = (lon / 3.0).round() as i64;
    (4534 + (zone - 25)).clamp(4534, 4554) as u32
}

/// Converts lon/lat to Gauss-Krüger, keeping the transform of the last zone used.
#[derive(Default)]
pub struct GkProjector {
    current: Option<(u32, CoordTransform)>,
}

impl GkProjector {
    /// (EPSG, easting, northing) of a CGCS2000 lon/lat point.
    pub fn project(&mut self, lon: f64, lat: f64) -> Option<(u32, f64, f64)> {
        let epsg = zone_epsg(lon);
        if self.current.as_ref().is_none_or(|(e, _)| *e != epsg) {
            let from = crate::crs::cgcs2000().ok()?;
            let mut to = SpatialRef::from_epsg(epsg).ok()?;
            to.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
            self.current = Some((epsg, CoordTransform::new(&from, &to).ok()?));
        }
        let (epsg, ct) = self.current.as_ref()?;
        let (mut x, mut y, mut z) = ([lon], [lat], [0.0]);
        ct.transform_coords(&mut x, &mut y, &mut z).ok()?;
        Some((*epsg, x[0], y[0]))
    }
}

/// CGCS2000 lon/lat of Gauss-Krüger (or any projected) coordinates in `crs` (e.g. `EPSG:4546`).
pub fn to_lonlat(crs: &str, x: f64, y: f64) -> Option<(f64, f64)> {
    let from = crate::crs::parse_user_crs(crs).ok()?;
    let to = crate::crs::cgcs2000().ok()?;
    let ct = CoordTransform::new(&from, &to).ok()?;
    let (mut xs, mut ys, mut zs) = ([x], [y], [0.0]);
    ct.transform_coords(&mut xs, &mut ys, &mut zs).ok()?;
    Some((xs[0], ys[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn central_meridian_111() {
        assert_eq!(zone_epsg(111.4), 4546);
        let (epsg, x, y) = GkProjector::default().project(111.0, 41.0).unwrap();
        assert_eq!(epsg, 4546);
        assert!((x - 500_000.0).abs() < 0.01, "{x}");
        assert!((y - 4_540_000.0).abs() < 10_000.0, "{y}");
    }
}
