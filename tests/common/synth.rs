//! Synthetic delivered patches (a GBK shapefile in EPSG:4546, as counties receive them) for the
//! benchmarks and the tests that need many patches; shared with `#[path]`.
#![allow(dead_code)]

use std::path::Path;

use gdal::spatial_ref::{AxisMappingStrategy, SpatialRef};
use gdal::vector::{Feature, FieldDefn, Geometry, LayerOptions, OGRFieldType, OGRwkbGeometryType};
use gdal::DriverManager;

/// The townships the patches are shared among (in turn).
pub const TOWNS: [&str; 8] =
    ["乌兰花镇", "查干补力格苏木", "白音敖包镇", "吉生太镇", "巴音花乡", "红格尔苏木", "江岸苏木", "脑木更苏木"];

/// Writes `n` random patches of a ~60 km county around CM 111°E as a GBK shapefile in EPSG:4546.
pub fn generate(path: &Path, n: usize) -> Result<(), gdal::errors::GdalError> {
    generate_in(path, n, (470_000.0, 4_580_000.0), 60_000.0)
}

/// Writes `n` random patches with centres in the square of side `side_m` at `origin` (GK metres,
/// lower left), as a GBK shapefile in EPSG:4546.
pub fn generate_in(path: &Path, n: usize, origin: (f64, f64), side_m: f64) -> Result<(), gdal::errors::GdalError> {
    let drv = DriverManager::get_driver_by_name("ESRI Shapefile")?;
    let mut ds = drv.create_vector_only(path)?;
    let mut srs = SpatialRef::from_epsg(4546)?;
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let layer = ds.create_layer(LayerOptions {
        name: "patches",
        srs: Some(&srs),
        ty: OGRwkbGeometryType::wkbPolygon,
        options: Some(&["ENCODING=CP936"]),
    })?;
    for (name, ty, w) in [
        ("TBBH", OGRFieldType::OFTString, 30),
        ("XZMC", OGRFieldType::OFTString, 40),
        ("CMC", OGRFieldType::OFTString, 40),
        ("QSX", OGRFieldType::OFTDate, 8),
        ("HSX", OGRFieldType::OFTDate, 8),
        ("JCMJ", OGRFieldType::OFTReal, 14),
        ("PDBHLX", OGRFieldType::OFTString, 40),
    ] {
        let f = FieldDefn::new(name, ty)?;
        f.set_width(w);
        f.add_to_layer(&layer)?;
    }
    let layer = ds.layer(0)?;
    let defn = gdal::vector::Defn::from_layer(&layer);
    let mut seed: u64 = 42;
    let mut rnd = || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    {
        for i in 0..n {
            // A county of ~60 km × 60 km around CM 111°E; patches of 10 vertices, 20-150 m across.
            let cx = origin.0 + side_m * rnd();
            let cy = origin.1 + side_m * rnd();
            let r = 10.0 + 65.0 * rnd();
            let mut ring = Geometry::empty(OGRwkbGeometryType::wkbLinearRing)?;
            for k in 0..10 {
                let a = std::f64::consts::TAU * k as f64 / 10.0;
                let rr = r * (0.7 + 0.3 * rnd());
                ring.add_point_2d((cx + rr * a.cos(), cy - rr * a.sin()));
            }
            let first = ring.get_point(0);
            ring.add_point_2d((first.0, first.1));
            let mut poly = Geometry::empty(OGRwkbGeometryType::wkbPolygon)?;
            poly.add_geometry(ring)?;
            let mut f = Feature::new(&defn)?;
            f.set_field_string(0, &format!("150999SJBG2025{:06}", i + 1))?;
            f.set_field_string(1, TOWNS[i % TOWNS.len()])?;
            f.set_field_string(2, &format!("第{}村", i % 97))?;
            f.set_field_string(3, "2024-08-02")?;
            f.set_field_string(4, "2025-08-09")?;
            f.set_field_double(5, (poly.area() * 100.0).round() / 100.0)?;
            f.set_field_string(6, "草地→建设用地")?;
            f.set_geometry(poly)?;
            f.create(&layer)?;
        }
    }

    drop(ds);
    let _ = std::fs::remove_file(path.with_extension("cpg")); // as delivered: GBK, undeclared
    Ok(())
}
