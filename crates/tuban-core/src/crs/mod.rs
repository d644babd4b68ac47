//! Coordinate systems as GDAL reads them, and GDAL itself: what a file declares, what `--crs` says, and what to do
//! when nothing is declared (degrees → CGCS2000 with a warning; metres → refuse with a hint).

use std::sync::{Mutex, Once};

mod transform;
pub use transform::Transform;

use gdal::spatial_ref::{AxisMappingStrategy, SpatialRef};

/// A spatial reference with longitude (or easting) on x, as every tuban geometry has.
pub fn srs_xy(mut srs: SpatialRef) -> SpatialRef {
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    srs
}

/// CGCS2000 geographic (EPSG:4490), longitude on x.
pub fn cgcs2000() -> Result<SpatialRef, gdal::errors::GdalError> {
    SpatialRef::from_epsg(4490).map(srs_xy)
}

/// Parses `EPSG:4546`, a bare `4546`, WKT or a PROJ string.
pub fn parse_user_crs(text: &str) -> Result<SpatialRef, gdal::errors::GdalError> {
    let t = text.trim();
    let def = if t.chars().all(|c| c.is_ascii_digit()) { format!("EPSG:{t}") } else { t.to_string() };
    SpatialRef::from_definition(&def).map(srs_xy)
}

/// How a spatial reference is registered in the project's `gpkg_spatial_ref_sys`.
pub fn describe(srs: &SpatialRef) -> SourceCrs {
    let name = srs.name().unwrap_or_else(|| "unnamed".into());
    let wkt = srs.to_wkt().unwrap_or_default();
    let epsg = epsg_code(srs);
    match epsg {
        Some(code) => SourceCrs { name, organization: "EPSG".into(), code, wkt },
        None => SourceCrs { name, organization: "NONE".into(), code: 0, wkt },
    }
}

/// The EPSG code of a spatial reference, identifying ESRI `.prj` definitions when needed.
pub fn epsg_code(srs: &SpatialRef) -> Option<i32> {
    if srs.auth_name().as_deref() == Some("EPSG") {
        if let Ok(code) = srs.auth_code() {
            return Some(code);
        }
    }
    let mut copy = srs.clone();
    copy.auto_identify_epsg().ok()?;
    (copy.auth_name().as_deref() == Some("EPSG")).then(|| copy.auth_code().ok()).flatten()
}

/// True when an extent (min_x, min_y, max_x, max_y) is plainly longitude/latitude degrees.
pub fn looks_like_degrees(extent: [f64; 4]) -> bool {
    let [x0, y0, x1, y1] = extent;
    (-180.0..=180.0).contains(&x0)
        && (-180.0..=180.0).contains(&x1)
        && (-90.0..=90.0).contains(&y0)
        && (-90.0..=90.0).contains(&y1)
}

/// A suggestion of CRS for projected coordinates without a `.prj`, from the easting.
pub fn guess_hint(extent: [f64; 4]) -> String {
    let x = (extent[0] + extent[2]) / 2.0;
    let zone = (x / 1_000_000.0).floor() as i64;
    if (25..=45).contains(&zone) {
        let epsg = 4513 + (zone - 25);
        return format!("东坐标带号 {zone}，可能是 CGCS2000 3 度带（中央经线 {}°E）：--crs EPSG:{epsg} / easting carries zone {zone}: probably --crs EPSG:{epsg}", zone * 3);
    }
    if (13..=23).contains(&zone) {
        let epsg = 4491 + (zone - 13);
        return format!("东坐标带号 {zone}，可能是 CGCS2000 6 度带：--crs EPSG:{epsg} / easting carries 6-degree zone {zone}: probably --crs EPSG:{epsg}");
    }
    if (100_000.0..1_000_000.0).contains(&x) {
        return "东坐标不带带号，可能是 CGCS2000 3 度带 EPSG:4534-4554（按中央经线选择，如 111°E 为 EPSG:4546） / easting without zone: CGCS2000 3-degree zone EPSG:4534-4554 by central meridian (111°E = EPSG:4546)".into();
    }
    "请向数据提供方确认坐标系 / ask the data provider which CRS it is".into()
}

/// The CRS of delivered data, registered in `gpkg_spatial_ref_sys`.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceCrs {
    /// Human name (e.g. `CGCS2000 / 3-degree Gauss-Kruger CM 111E`).
    pub name: String,
    /// `EPSG` or `NONE`.
    pub organization: String,
    /// EPSG code, or 0 when the CRS has none.
    pub code: i32,
    /// WKT definition.
    pub wkt: String,
}

/// GDAL messages collected by our error handler (instead of GDAL printing them to stderr).
static GDAL_MESSAGES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Routes GDAL's messages into tuban's reports (once per process).
pub fn init_gdal() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // GDAL's raster block cache defaults to 5 % of the memory (1.2 GB on a 24 GB machine),
        // which the imagery of a whole county fills while the map is panned; 64 MB holds the
        // blocks of every tile of a full screen many times over. `GDAL_CACHEMAX` still rules.
        if std::env::var_os("GDAL_CACHEMAX").is_none() {
            let _ = gdal::config::set_config_option("GDAL_CACHEMAX", "64");
        }
        gdal::config::set_error_handler(|_class, _no, msg| {
            if let Ok(mut v) = GDAL_MESSAGES.lock() {
                if v.len() < 200 {
                    v.push(msg.to_string());
                }
            }
        });
    });
}

pub(crate) fn take_gdal_messages() -> Vec<String> {
    GDAL_MESSAGES.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_the_zone() {
        assert!(guess_hint([37_480_000.0, 4_500_000.0, 37_520_000.0, 4_520_000.0]).contains("EPSG:4525"));
        assert!(guess_hint([480_000.0, 4_500_000.0, 520_000.0, 4_520_000.0]).contains("4546"));
        assert!(looks_like_degrees([111.0, 41.0, 112.0, 42.0]));
        assert!(!looks_like_degrees([480_000.0, 4_500_000.0, 520_000.0, 4_520_000.0]));
    }
}
