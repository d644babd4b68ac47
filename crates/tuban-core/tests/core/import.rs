//! Import of delivered patch files: encodings, coordinate systems, formats, broken inputs and later
//! batches, each on a real file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{fixture, import, import_with, new_project, sample_shp};
use tuban_core::import::{EncodingHow, ImportError, ImportOptions};
use tuban_core::store::Project;
use tuban_model::progress::Progress;
use tuban_model::{ReviewStatus, Value};

fn text(p: &Project, key: &str, field: &str) -> String {
    let fid = p.find_patch(key).unwrap().unwrap();
    let rec = p.patch(fid).unwrap().unwrap();
    rec.value(p.template(), field).map(|v| v.to_string()).unwrap_or_default()
}

#[test]
fn sample_gbk_shapefile_is_detected_and_chinese_survives() {
    let (_d, mut p) = new_project("grassland");
    let r = import(&mut p, &sample_shp()).unwrap();
    assert_eq!(r.encoding.name, "CP936");
    assert_eq!(r.encoding.how, EncodingHow::Detected);
    assert_eq!(r.crs.code, 4546, "{:?}", r.crs);
    assert_eq!(r.summary.added, 30);
    assert!(r.summary.problems.is_empty(), "{:?}", r.summary.problems);
    assert_eq!(p.patch_count().unwrap(), 30);
    let towns: std::collections::BTreeSet<String> =
        p.patches().unwrap().iter().map(|r| r.value(p.template(), "XZMC").unwrap().to_string()).collect();
    assert!(towns.contains("乌兰花镇") && towns.contains("查干补力格苏木"), "{towns:?}");
    // Sub-patches are keyed by id + sub id.
    assert_eq!(text(&p, "150999SJBG2025000012-2", "XBH"), "2");
    // Unmapped source fields are kept as extra attributes.
    let rec = p.patch(p.find_patch("150999SJBG2025000001").unwrap().unwrap()).unwrap().unwrap();
    assert_eq!(rec.extra.get("SJLY").map(String::as_str), Some("国家下发"));
    assert_eq!(rec.status, ReviewStatus::Unreviewed);
}

#[test]
fn ellipsoidal_area_matches_gauss_kruger_within_a_hundredth_of_a_percent() {
    let (_d, mut p) = new_project("grassland");
    import(&mut p, &sample_shp()).unwrap();
    for rec in p.patches().unwrap() {
        // JCMJ was delivered as the planar area in the Gauss-Krüger zone.
        let Value::Real(gk) = rec.value(p.template(), "JCMJ").unwrap().clone() else { panic!("JCMJ") };
        let rel = (rec.area_m2 - gk).abs() / gk;
        assert!(rel < 1e-4, "{}: {} vs {gk}", rec.key, rec.area_m2);
        let (lon, lat) = rec.center_lonlat.unwrap();
        assert!((111.0..112.0).contains(&lon) && (41.0..42.0).contains(&lat), "lon on x: {lon}, {lat}");
    }
}

#[test]
fn every_delivered_crs_lands_in_the_same_place() {
    let (_d, mut base) = new_project("grassland");
    import(&mut base, &sample_shp()).unwrap();
    let reference: Vec<(f64, (f64, f64))> =
        base.patches().unwrap().iter().map(|r| (r.area_m2, r.center_lonlat.unwrap())).collect();
    for (file, epsg) in [
        ("derived/gk_zone37_4525.shp", 4525),
        ("derived/cgcs2000_4490.shp", 4490),
        ("derived/xian80_2382.shp", 2382),
        ("derived/beijing54_2434.shp", 2434),
        ("derived/utm49n_32649.shp", 32649),
        ("derived/wgs84.geojson", 4326),
        ("derived/patches.kml", 4326),
    ] {
        let (_d, mut p) = new_project("grassland");
        let r = import(&mut p, &fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(r.crs.code, epsg, "{file}: {:?}", r.crs);
        assert_eq!(r.summary.added, 30, "{file}");
        for (rec, (area, (lon, lat))) in p.patches().unwrap().iter().zip(&reference) {
            assert!((rec.area_m2 - area).abs() / area < 1e-4, "{file} {}: area {} vs {area}", rec.key, rec.area_m2);
            let (x, y) = rec.center_lonlat.unwrap();
            assert!(
                (x - lon).abs() < 1e-5 && (y - lat).abs() < 1e-5,
                "{file} {}: ({x}, {y}) vs ({lon}, {lat})",
                rec.key
            );
        }
    }
}

#[test]
fn z_values_are_dropped_with_a_warning() {
    let (_d, mut p) = new_project("grassland");
    let r = import(&mut p, &fixture("derived/with_z.shp")).unwrap();
    assert!(r.summary.problems.iter().any(|m| m.contains("Z/M")), "{:?}", r.summary.problems);
    assert_eq!(r.summary.added, 30);
}

#[test]
fn missing_prj_degrees_are_cgcs2000_metres_are_refused_with_a_hint() {
    let (_d, mut p) = new_project("grassland");
    let r = import(&mut p, &fixture("derived/degrees_no_prj.shp")).unwrap();
    assert_eq!(r.crs.code, 4490);
    assert!(r.warnings.iter().any(|w| w.contains("EPSG:4490")), "{:?}", r.warnings);

    let (_d, mut p) = new_project("grassland");
    let e = import(&mut p, &fixture("derived/gk_no_prj.shp")).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ImportError::UnknownCrs { .. }), "{msg}");
    assert!(msg.contains("gk_no_prj.shp") && msg.contains("--crs") && msg.contains("EPSG:4546"), "{msg}");
    assert_eq!(p.patch_count().unwrap(), 0);
    let r = import_with(
        &mut p,
        &fixture("derived/gk_no_prj.shp"),
        ImportOptions { crs: Some("EPSG:4546".into()), ..Default::default() },
    )
    .unwrap();
    assert_eq!(r.summary.added, 30);
}

#[test]
fn encoding_override_and_declared_cpg() {
    let (_d, mut p) = new_project("grassland");
    let r = import(&mut p, &fixture("derived/cgcs2000_4490.shp")).unwrap();
    assert_eq!((r.encoding.name.as_str(), r.encoding.how), ("CP936", EncodingHow::Cpg));
    // Forcing the wrong encoding is honoured (and visibly wrong), not silently ignored.
    let (_d, mut p) = new_project("grassland");
    let r = import_with(&mut p, &sample_shp(), ImportOptions { encoding: Some("latin1".into()), ..Default::default() })
        .unwrap();
    assert_eq!((r.encoding.name.as_str(), r.encoding.how), ("ISO-8859-1", EncodingHow::Override));
    assert!(!p.patches().unwrap().iter().any(|r| r.value(p.template(), "XZMC").unwrap().to_string() == "乌兰花镇"));
    let (_d, mut p) = new_project("grassland");
    let e =
        import_with(&mut p, &sample_shp(), ImportOptions { encoding: Some("klingon".into()), ..Default::default() })
            .unwrap_err();
    assert!(matches!(e, ImportError::BadEncoding(_)), "{e}");
}

#[test]
fn latin1_dbf_without_declaration_is_detected() {
    let (_d, mut p) = new_project("eco");
    let r = import(&mut p, &fixture("tricky/encoding/mbostock_latin1/latin1-property.shp")).unwrap();
    assert_eq!(r.encoding.name, "ISO-8859-1");
    let rec = &p.patches().unwrap()[0];
    assert_eq!(rec.extra.get("name").map(String::as_str), Some("México"));
}

#[test]
fn zipped_shapefile_with_chinese_names() {
    let (_d, mut p) = new_project("grassland");
    let r = import(&mut p, &fixture("derived/变化图斑.zip")).unwrap();
    assert_eq!(r.layer, "变化图斑");
    assert_eq!(r.summary.added, 30);
    assert_eq!(text(&p, "150999SJBG2025000001", "XZMC"), "白音敖包镇");
}

#[test]
fn gbk_csv_with_longitude_latitude_columns_gives_point_clues() {
    let (_d, mut p) = new_project("eco");
    let r = import(&mut p, &fixture("derived/clues_gbk.csv")).unwrap();
    assert_eq!(r.encoding.name, "CP936");
    assert_eq!(r.layer, "clues_gbk");
    assert_eq!(r.summary.added, 8);
    let rec = &p.patches().unwrap()[0];
    assert_eq!(rec.area_m2, 0.0);
    assert_eq!(rec.value(p.template(), "XSLY"), Some(&Value::Text("遥感".into())));
    assert_eq!(rec.value(p.template(), "XZMC"), Some(&Value::Text("白音敖包镇".into())));
    assert!(matches!(p.patch_geometry(rec.fid).unwrap(), Some(geo::Geometry::Point(_))));
}

#[test]
fn geopackage_with_several_layers_lists_them() {
    let (_d, mut p) = new_project("grassland");
    let e = import(&mut p, &fixture("derived/two_layers.gpkg")).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("第一批") && msg.contains("第二批") && msg.contains("--layer"), "{msg}");
    let r = import_with(
        &mut p,
        &fixture("derived/two_layers.gpkg"),
        ImportOptions { layer: Some("第二批".into()), ..Default::default() },
    )
    .unwrap();
    assert_eq!(r.summary.added, 4);
    let e = import_with(
        &mut p,
        &fixture("derived/two_layers.gpkg"),
        ImportOptions { layer: Some("第三批".into()), ..Default::default() },
    )
    .unwrap_err();
    assert!(e.to_string().contains("第三批"), "{e}");
}

#[test]
fn polygons_with_holes_survive() {
    let (_d, mut p) = new_project("eco");
    let r = import_with(
        &mut p,
        &fixture("tricky/gpkg_multilayer/multipleholes.gpkg"),
        ImportOptions { layer: Some("multipolywithholes".into()), ..Default::default() },
    )
    .unwrap();
    assert_eq!(r.summary.added, 1);
    let g = p.patch_geometry(p.patches().unwrap()[0].fid).unwrap().unwrap();
    let holes: usize = match g {
        geo::Geometry::MultiPolygon(mp) => mp.0.iter().map(|p| p.interiors().len()).sum(),
        geo::Geometry::Polygon(p) => p.interiors().len(),
        other => panic!("{other:?}"),
    };
    assert!(holes >= 2, "{holes}");
}

/// Every broken input gives a clear error naming the file, or imports with a warning; none
/// panics and none leaves anything behind after an error.
#[test]
fn tricky_inputs_fail_cleanly_or_warn() {
    let errors = [
        ("tricky/missing_sidecars/mbostock_shp_only/polygonm.shp", ".shx"),
        ("tricky/missing_sidecars/mbostock_shp_only/pointm.shp", ".dbf"),
        ("tricky/empty/mbostock_empty/empty.shp", "没有可导入"),
        ("tricky/corrupt/pyshp_corrupt_too_long/corrupt_too_long.shp", "line"),
        ("tricky/zips/badzip.zip", "zip"),
        ("tricky/gpkg_multilayer/multipleholes.gpkg", "--layer"),
        ("tricky/raster/corrupt.tif", "cannot read"),
        ("no/such/file.shp", "not found"),
    ];
    for (file, needle) in errors {
        let (_d, mut p) = new_project("grassland");
        let path = fixture(file);
        let e = import(&mut p, &path).expect_err(file);
        let msg = e.to_string();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(msg.contains(&name), "{file}: message does not name the file: {msg}");
        assert!(msg.contains(needle), "{file}: {msg}");
        assert_eq!(p.patch_count().unwrap(), 0, "{file}");
        assert!(p.batches().unwrap().is_empty(), "{file}: a failed import left a batch");
        assert!(p.audit_log(None).unwrap().is_empty(), "{file}");
    }
    // A self-intersecting ring is imported and flagged with the reason.
    let (_d, mut p) = new_project("grassland");
    let r = import(&mut p, &fixture("tricky/self_intersection/senate_ma/senate.shp")).unwrap();
    assert_eq!(r.summary.added, 40);
    assert!(r.summary.problems.iter().any(|m| m.contains("self-intersection")), "{:?}", r.summary.problems);
    assert!(r.summary.problems.iter().any(|m| m.contains("outside China")), "{:?}", r.summary.problems);
    let flagged: Vec<_> = p
        .patches()
        .unwrap()
        .into_iter()
        .filter(|r| r.import_issues.iter().any(|i| i.contains("self-intersection")))
        .collect();
    assert_eq!(flagged.len(), 1);
}

#[test]
fn a_later_batch_updates_issued_fields_and_never_touches_the_review() {
    let (_d, mut p) = new_project("grassland");
    import(&mut p, &sample_shp()).unwrap();
    let fid = p.find_patch("150999SJBG2025000003").unwrap().unwrap();
    p.set_text(fid, &[("HCJG", "违法"), ("BZ", "已外业核实")]).unwrap();
    // 修改时间 stays empty until a patch is first changed (its batch says when it came).
    let c = rusqlite::Connection::open(p.path()).unwrap();
    let changed: Vec<i64> = c
        .prepare("SELECT fid FROM patches WHERE updated_at IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(changed, [fid]);
    let r = import(&mut p, &fixture("derived/batch2.shp")).unwrap();
    assert_eq!((r.summary.added, r.summary.updated, r.summary.unchanged), (1, 1, 29), "{:?}", r.summary);
    assert_eq!(text(&p, "150999SJBG2025000003", "PDBHLX"), "草地→建设用地（厂房）");
    assert_eq!(text(&p, "150999SJBG2025000003", "HCJG"), "违法");
    assert_eq!(text(&p, "150999SJBG2025000003", "BZ"), "已外业核实");
    assert!(p.find_patch("150999SJBG2025000031").unwrap().is_some());
    let log = p.audit_log(Some(fid)).unwrap();
    assert!(log.iter().any(|e| e.field.as_deref() == Some("PDBHLX") && e.action == "import:2"), "{log:?}");
    // The same batch again changes nothing.
    let r = import(&mut p, &fixture("derived/batch2.shp")).unwrap();
    assert_eq!((r.summary.added, r.summary.updated, r.summary.unchanged), (0, 0, 31));
}

/// A record split into 细斑 is still the issued one: a later batch finds it (once a batch added
/// the issued patch a second time beside its 细斑).
#[test]
fn a_later_batch_finds_a_patch_split_into_subpatches() {
    let (_d, mut p) = new_project("grassland");
    import(&mut p, &sample_shp()).unwrap();
    crate::common::split_sample_patch_4(&mut p);
    let r = import(&mut p, &fixture("derived/batch2.shp")).unwrap();
    assert_eq!((r.summary.added, r.summary.updated, r.summary.unchanged), (1, 1, 29), "{:?}", r.summary);
    let c = rusqlite::Connection::open(p.path()).unwrap();
    let rows: i64 = c
        .query_row("SELECT count(*) FROM patches WHERE TBBH = '150999SJBG2025000004' AND XBH IS NULL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1, "the issued record of patch 4 once, beside its two 细斑");
    assert_eq!(p.subpatches_of(p.require_patch("150999SJBG2025000004").unwrap()).unwrap().len(), 2);
}

#[test]
fn duplicate_ids_are_flagged_not_dropped() {
    // The eco template has no sub-patch id: the two sub-patches of patch 12 share one key.
    let (_d, mut p) = new_project("eco");
    let r = import(&mut p, &sample_shp()).unwrap();
    assert_eq!(r.summary.added, 30);
    assert!(r.summary.problems.iter().any(|m| m.contains("150999SJBG2025000012")), "{:?}", r.summary.problems);
    let flagged =
        p.patches().unwrap().into_iter().filter(|r| r.import_issues.iter().any(|i| i.contains("duplicate"))).count();
    assert_eq!(flagged, 2);
}

#[test]
fn cancel_leaves_the_project_unchanged() {
    let (_d, mut p) = new_project("grassland");
    let progress = Progress::new();
    progress.cancel();
    let e = tuban_core::import::import(&mut p, &sample_shp(), &ImportOptions::default(), &progress).unwrap_err();
    assert!(matches!(e, ImportError::Cancelled), "{e}");
    assert_eq!(p.patch_count().unwrap(), 0);
    assert!(p.batches().unwrap().is_empty());
}

#[test]
fn layers_are_listed() {
    let layers = tuban_core::import::list_layers(&fixture("derived/two_layers.gpkg")).unwrap();
    let names: Vec<_> = layers.iter().map(|l| (l.name.as_str(), l.feature_count)).collect();
    assert_eq!(names, vec![("第一批", 30), ("第二批", 4)]);
}
