//! Independent truths: expected values that come from outside tuban — bytes written by GDAL in
//! a known encoding, a Cohen's kappa worked out by hand, geometry that touches or does not — so
//! a test fails when tuban's own reading is wrong, not only when it changes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use gdal::spatial_ref::{AxisMappingStrategy, SpatialRef};
use gdal::vector::{FieldDefn, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType};
use tuban_core::import::encoding::EncodingHow;
use tuban_core::store::{CaseUpdate, Project};

use crate::common;

/// Copies the sample's shapefile (GBK DBF, no .cpg) into `dir` and returns the new .shp.
fn copy_sample(dir: &Path) -> PathBuf {
    let src = common::sample_shp();
    for ext in ["shp", "shx", "dbf", "prj"] {
        std::fs::copy(src.with_extension(ext), dir.join("变化图斑").with_extension(ext)).unwrap();
    }
    dir.join("变化图斑.shp")
}

/// Writes a one-point shapefile in EPSG:4490 whose XZMC and TBBH are `town` and `id`, encoded by
/// GDAL as `encoding`; then removes the .cpg and zeroes the DBF's code-page byte, so only the
/// bytes tell the encoding.
fn one_point_shapefile(dir: &Path, encoding: &str, id: &str, town: &str) -> PathBuf {
    let path = dir.join(format!("one_{encoding}.shp"));
    let drv = gdal::DriverManager::get_driver_by_name("ESRI Shapefile").unwrap();
    {
        let mut ds = drv.create_vector_only(&path).unwrap();
        let mut srs = SpatialRef::from_epsg(4490).unwrap();
        srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
        let opt = format!("ENCODING={encoding}");
        let layer = ds
            .create_layer(LayerOptions {
                name: "one",
                srs: Some(&srs),
                ty: OGRwkbGeometryType::wkbPoint,
                options: Some(&[opt.as_str()]),
            })
            .unwrap();
        for name in ["TBBH", "XZMC"] {
            let f = FieldDefn::new(name, OGRFieldType::OFTString).unwrap();
            f.set_width(30);
            f.add_to_layer(&layer).unwrap();
        }
        let layer = ds.layer(0).unwrap();
        let defn = gdal::vector::Defn::from_layer(&layer);
        let mut f = gdal::vector::Feature::new(&defn).unwrap();
        f.set_field_string(0, id).unwrap();
        f.set_field_string(1, town).unwrap();
        f.set_geometry(gdal::vector::Geometry::from_wkt("POINT (111.5 41.6)").unwrap()).unwrap();
        f.create(&layer).unwrap();
    }
    let _ = std::fs::remove_file(path.with_extension("cpg"));
    let dbf = path.with_extension("dbf");
    let mut bytes = std::fs::read(&dbf).unwrap();
    bytes[29] = 0;
    std::fs::write(&dbf, bytes).unwrap();
    path
}

fn town_of(p: &Project, key: &str) -> String {
    let fid = p.require_patch(key).unwrap();
    p.patch(fid).unwrap().unwrap().value(p.template(), "XZMC").unwrap().to_string()
}

#[test]
fn a_dbf_code_page_byte_0x4d_without_cpg_reads_as_gbk() {
    let dir = tempfile::tempdir().unwrap();
    let shp = copy_sample(dir.path());
    // DBF header byte 29 is the language driver id; 0x4D is "Chinese GBK (PRC)" (CP936).
    let dbf = shp.with_extension("dbf");
    let mut bytes = std::fs::read(&dbf).unwrap();
    bytes[29] = 0x4D;
    std::fs::write(&dbf, bytes).unwrap();
    let (_d, mut p) = common::new_project("grassland");
    let r = common::import(&mut p, &shp).unwrap();
    assert_eq!((r.encoding.name.as_str(), r.encoding.how), ("CP936", EncodingHow::CodePageByte(0x4D)));
    // GDAL told the encoding reads the same text: every patch's township matches.
    // (The sample repeats one id on purpose; those two are left out.)
    let gdal_towns = towns_by_gdal(&shp, "CP936");
    let once: Vec<_> =
        gdal_towns.iter().filter(|(id, _)| gdal_towns.iter().filter(|(i, _)| i == id).count() == 1).collect();
    assert_eq!(once.len(), 28, "{gdal_towns:?}");
    for (id, town) in &once {
        assert_eq!(&town_of(&p, id), town, "{id}");
    }
    assert!(once.iter().any(|(_, t)| t == "乌兰花镇"), "{gdal_towns:?}");
}

/// (TBBH, XZMC) of each feature of a shapefile as GDAL reads it when told its encoding.
fn towns_by_gdal(shp: &Path, encoding: &str) -> Vec<(String, String)> {
    let opt = format!("ENCODING={encoding}");
    let opts = gdal::DatasetOptions { open_options: Some(&[opt.as_str()]), ..Default::default() };
    let ds = gdal::Dataset::open_ex(shp, opts).unwrap();
    let mut layer = ds.layer(0).unwrap();
    layer
        .features()
        .map(|f| {
            let text = |name: &str| f.field_as_string(f.field_index(name).unwrap()).unwrap().unwrap();
            (text("TBBH"), text("XZMC"))
        })
        .collect()
}

#[test]
fn a_short_gbk_sample_and_utf8_without_cpg_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    // Four characters: eight GBK bytes are all the detector gets.
    let gbk = one_point_shapefile(dir.path(), "CP936", "150999SJBG2025900001", "白音敖包镇");
    let (_d, mut p) = common::new_project("grassland");
    let r = common::import(&mut p, &gbk).unwrap();
    assert_eq!((r.encoding.name.as_str(), r.encoding.how), ("CP936", EncodingHow::Detected));
    assert_eq!(town_of(&p, "150999SJBG2025900001"), "白音敖包镇");
    let utf8 = one_point_shapefile(dir.path(), "UTF-8", "150999SJBG2025900002", "查干补力格苏木");
    let (_d, mut p) = common::new_project("grassland");
    let r = common::import(&mut p, &utf8).unwrap();
    assert_eq!((r.encoding.name.as_str(), r.encoding.how), ("UTF-8", EncodingHow::Detected));
    assert_eq!(town_of(&p, "150999SJBG2025900002"), "查干补力格苏木");
}

/// Thirty patches, all in the sample; first and second verdicts give this table:
///
/// |            | 2nd 违法 | 2nd 合法 |
/// |------------|---------|---------|
/// | 1st 违法    | 12      | 3       |
/// | 1st 合法    | 3       | 12      |
///
/// p_o = 24/30 = 0.8; p_e = 0.5·0.5 + 0.5·0.5 = 0.5; κ = (0.8 − 0.5)/(1 − 0.5) = 0.6.
#[test]
fn kappa_end_to_end_matches_a_table_worked_out_by_hand() {
    let (_d, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let recs = p.patches().unwrap();
    assert_eq!(recs.len(), 30);
    for (i, r) in recs.iter().enumerate() {
        p.set_text(r.fid, &[("HCJG", if i < 15 { "违法" } else { "合法" })]).unwrap();
    }
    let s = p.draw_spot_check(None, Some(30), 1).unwrap();
    assert_eq!(s.patches.len(), 30, "the whole project is the sample");
    for (fid, _) in &s.patches {
        let i = recs.iter().position(|r| r.fid == *fid).unwrap();
        // Patches 0-2 and 15-17 are the disagreements.
        let first_illegal = i < 15;
        let disagree = i % 15 < 3;
        let second = if first_illegal != disagree { "违法" } else { "合法" };
        p.record_second_verdict(s.id, *fid, second).unwrap();
    }
    let r = p.spot_check_result(s.id).unwrap();
    assert_eq!((r.reviewed, r.agreed, r.disagreements.len()), (30, 24, 6));
    let k = r.kappa.unwrap();
    assert!((k - 0.6).abs() < 1e-12, "κ = {k}");
}

/// A closed problem of an earlier batch and a new patch: a rebound only when the new patch
/// touches the old one and the old case is settled (closed or rectified); the
/// window's per-patch check agrees with the whole-project one.
#[test]
fn rebounds_need_contact_a_settled_case_and_a_later_batch() {
    let (_d, mut p) = common::new_project("eco");
    let opts = tuban_core::import::ImportOptions { year: Some(2024), ..Default::default() };
    common::import_with(&mut p, &common::sample_shp(), opts).unwrap();
    let old = p.require_patch("150999SJBG2025000005").unwrap();
    let other = p.require_patch("150999SJBG2025000006").unwrap();
    let n_old = p.create_case(None, &[old], "某养殖场", "").unwrap();
    let n_other = p.create_case(None, &[other], "某矿", "").unwrap();
    let done = CaseUpdate { rectification: Some("已整改到位".parse().unwrap()), ..Default::default() };
    p.update_case(&n_old, &done).unwrap();
    // Before any later patch there is nothing to rebound, and a settled patch is not its own rebound.
    assert!(p.rebounds().unwrap().is_empty());
    assert!(p.rebounds_of(old).unwrap().is_empty());
    let g = p.patch_geometry(old).unwrap().unwrap();
    let bbox = geo::BoundingRect::bounding_rect(&g).unwrap();
    let clue = |p: &mut Project, lon: f64, lat: f64| {
        p.add_manual_clue(geo::Geometry::Point(geo::Point::new(lon, lat)), &[], Some(2025), Some("信访")).unwrap()
    };
    // 10 m east of the old patch's bounding box: adjacent, not touching.
    let east_deg = 10.0 / (111_320.0 * bbox.max().y.to_radians().cos());
    let near = clue(&mut p, bbox.max().x + east_deg, (bbox.min().y + bbox.max().y) / 2.0);
    // Inside the other case's patch, which is not rectified.
    let c6 = p.patch(other).unwrap().unwrap().center_lonlat.unwrap();
    let on_open_case = clue(&mut p, c6.0, c6.1);
    let rebounds = p.rebounds().unwrap();
    assert!(rebounds.is_empty(), "{rebounds:?}");
    // Inside the settled patch: a rebound.
    let c5 = tuban_model::geometry::centre(&g).unwrap();
    let inside = clue(&mut p, c5.x(), c5.y());
    let rebounds = p.rebounds().unwrap();
    assert_eq!(rebounds.len(), 1, "{rebounds:?}");
    assert_eq!((rebounds[0].new_key.as_str(), rebounds[0].case_number.as_str()), (inside.as_str(), n_old.as_str()));
    // Settling the other case makes the clue on it a rebound too.
    p.update_case(&n_other, &done).unwrap();
    assert_eq!(p.rebounds().unwrap().len(), 2);
    // Per patch (the window's check) agrees with the whole project, patch by patch.
    let all = p.rebounds().unwrap();
    for r in p.patches().unwrap() {
        let mine = p.rebounds_of(r.fid).unwrap();
        let expected: Vec<_> = all.iter().filter(|x| x.new_key == r.key).cloned().collect();
        assert_eq!(mine, expected, "{}", r.key);
    }
    assert!(p.rebounds_of(p.require_patch(&near).unwrap()).unwrap().is_empty());
    assert_eq!(p.rebounds_of(p.require_patch(&on_open_case).unwrap()).unwrap().len(), 1);
}

/// The transverse Mercator worked example of Snyder, *Map Projections — A Working Manual*
/// (USGS Professional Paper 1395, 1987, p. 269): on the Clarke 1866 ellipsoid, central meridian
/// 75°W, k0 = 0.9996, the point x = 127,106.5 m, y = 4,484,124.4 m is 40°30'N, 73°30'W.
/// Read back through tuban's typed-coordinate path (`gk::to_lonlat`, as `tuban clue --gk` uses).
#[test]
fn a_published_transverse_mercator_example_reads_back_through_tubans_coordinate_path() {
    let crs = "+proj=tmerc +lat_0=0 +lon_0=-75 +k=0.9996 +x_0=0 +y_0=0 +ellps=clrk66 +units=m +no_defs";
    let (lon, lat) = tuban_core::gk::to_lonlat(crs, 127_106.5, 4_484_124.4).unwrap();
    // 0.1 m of the published rounding is about 1.3e-6° of longitude here.
    assert!((lon - (-73.5)).abs() < 2e-6 && (lat - 40.5).abs() < 2e-6, "{lon}, {lat}");
}

/// Either side of 112.5°E, the border of zones 37 (CM 111°E, EPSG:4546) and 38 (CM 114°E,
/// EPSG:4547): the read-out changes zone, and the two points, 1.5° from their central
/// meridians, lie symmetrically about them (transverse Mercator is symmetric about its CM).
#[test]
fn the_zone_border_at_112_5_degrees_changes_zone_symmetrically() {
    let mut gk = tuban_core::gk::GkProjector::default();
    let (west_epsg, west_x, west_y) = gk.project(112.5 - 1e-9, 41.6).unwrap();
    let (east_epsg, east_x, east_y) = gk.project(112.5 + 1e-9, 41.6).unwrap();
    assert_eq!((west_epsg, east_epsg), (4546, 4547));
    assert!(west_x > 600_000.0 && east_x < 400_000.0, "{west_x} {east_x}");
    assert!(((west_x - 500_000.0) - (500_000.0 - east_x)).abs() < 0.01, "{west_x} {east_x}");
    assert!((west_y - east_y).abs() < 0.01, "{west_y} {east_y}");
    for (epsg, x, y) in [(west_epsg, west_x, west_y), (east_epsg, east_x, east_y)] {
        let (lon, lat) = tuban_core::gk::to_lonlat(&format!("EPSG:{epsg}"), x, y).unwrap();
        assert!((lon - 112.5).abs() < 1e-7 && (lat - 41.6).abs() < 1e-7, "{epsg}: {lon} {lat}");
    }
}
