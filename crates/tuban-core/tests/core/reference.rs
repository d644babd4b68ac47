//! Reference layers and the overlay: expected areas come from GDAL/GEOS, computed here from the
//! same files in the Gauss-Krüger zone (planar and ellipsoidal areas agree to 0.01 % there),
//! never from tuban. The layers are the generated files of `tests/fixtures/reference/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::vector::{Geometry as GGeom, LayerAccess};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};

use crate::common;
use tuban_core::ops;
use tuban_core::reference::overlay::Scope;
use tuban_core::reference::{NewLayer, ReadOptions};
use tuban_core::store::{Access, Project};
use tuban_model::progress::Progress;
use tuban_model::reference::{Hint, ReferenceKind};
use tuban_model::Value;

fn layer(kind: ReferenceKind, fields: &[&str]) -> NewLayer {
    NewLayer {
        kind,
        name: None,
        label: String::new(),
        dated: None,
        read: ReadOptions { class_fields: fields.iter().map(|s| s.to_string()).collect(), ..Default::default() },
    }
}

fn project() -> (tempfile::TempDir, Project) {
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    (dir, p)
}

fn add(p: &mut Project, file: &str, l: &NewLayer) -> ops::reference::Added {
    ops::reference::add(p, &common::fixture(&format!("reference/{file}")), l, &Progress::new()).unwrap()
}

fn open(path: &Path) -> Dataset {
    let opts = ["ENCODING=CP936"];
    Dataset::open_ex(
        path,
        DatasetOptions { open_flags: GdalOpenFlags::GDAL_OF_VECTOR, open_options: Some(&opts), ..Default::default() },
    )
    .unwrap()
}

fn gk() -> SpatialRef {
    let mut s = SpatialRef::from_epsg(4546).unwrap();
    s.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    s
}

/// Every feature of a layer in EPSG:4546, made valid, with the value of `field` (joined by ` · `).
fn features_gk(path: &Path, fields: &[&str]) -> Vec<(String, GGeom)> {
    let ds = open(path);
    let mut layer = ds.layer(0).unwrap();
    let mut src = layer.spatial_ref().unwrap();
    src.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let to_gk = CoordTransform::new(&src, &gk()).unwrap();
    layer
        .features()
        .map(|f| {
            let class: Vec<String> = fields
                .iter()
                .map(|n| f.field_as_string(f.field_index(n).unwrap()).unwrap().unwrap_or_default())
                .collect();
            let g = f.geometry().unwrap().make_valid(&gdal::cpl::CslStringList::new()).unwrap();
            if src.is_geographic() {
                // Edges of a lon/lat file are straight in degrees: keep them so in the GK zone.
                unsafe { gdal_sys::OGR_G_Segmentize(g.c_geometry(), 1e-5) };
            }
            (class.join(" · "), g.transform(&to_gk).unwrap())
        })
        .collect()
}

/// Expected overlay per patch key: class → area m², by GEOS in the GK zone.
fn expected(layer_path: &Path, fields: &[&str]) -> BTreeMap<String, BTreeMap<String, f64>> {
    let patches = features_gk(&common::sample_shp(), &["TBBH", "XBH"]);
    let parcels = features_gk(layer_path, fields);
    let mut out = BTreeMap::new();
    for (key, pg) in &patches {
        let key = key.trim_end_matches(" · ").replace(" · ", "-");
        let mut classes: BTreeMap<String, f64> = BTreeMap::new();
        for (class, g) in &parcels {
            if let Some(i) = pg.intersection(g) {
                let a = i.area();
                if a > 0.01 {
                    *classes.entry(class.clone()).or_default() += a;
                }
            }
        }
        out.insert(key, classes);
    }
    out
}

fn assert_matches(p: &Project, layer_id: i64, want: &BTreeMap<String, BTreeMap<String, f64>>, at_least: usize) {
    let mut checked = 0;
    for r in p.patches().unwrap() {
        let got: BTreeMap<String, f64> = p
            .overlay(r.fid)
            .unwrap()
            .into_iter()
            .filter(|o| o.layer_id == layer_id)
            .map(|o| (o.class, o.area_m2))
            .collect();
        let exp = want.get(&r.key).unwrap_or_else(|| panic!("no expectation for {}", r.key));
        let exp: BTreeMap<&String, &f64> = exp.iter().filter(|(_, a)| **a > 0.05).collect();
        let got_big: BTreeMap<&String, &f64> = got.iter().filter(|(_, a)| **a > 0.05).collect();
        assert_eq!(got_big.keys().collect::<Vec<_>>(), exp.keys().collect::<Vec<_>>(), "{}", r.key);
        for (class, a) in exp {
            let g = got[class];
            assert!((g - a).abs() <= a * 5e-4 + 0.5, "{} {class}: tuban {g} m², GEOS {a} m²", r.key);
            checked += 1;
        }
        let share: f64 = got.values().sum::<f64>() / r.area_m2 * 100.0;
        assert!(share <= 100.01, "{}: shares add to {share} %", r.key);
    }
    assert!(checked >= at_least, "only {checked} classes compared");
}

#[test]
fn land_survey_overlay_matches_geos_in_the_gauss_kruger_zone() {
    let (_dir, mut p) = project();
    let added = add(&mut p, "dltb_gk.shp", &layer(ReferenceKind::Landuse, &["DLMC"]));
    let l = &added.loaded.layer;
    assert_eq!((l.features, l.repaired), (380, 1), "the bow-tie parcel is repaired, not dropped");
    assert!(l.source.encoding.contains("GBK") || l.source.encoding.contains("936"), "{}", l.source.encoding);
    assert!(l.source.crs.contains("4546"), "{}", l.source.crs);
    assert_eq!(added.overlay.patches, p.patches().unwrap().len());
    assert_matches(&p, l.id, &expected(&common::fixture("reference/dltb_gk.shp"), &["DLMC"]), 40);
}

#[test]
fn basic_grassland_with_a_hole_and_protected_zones_match_geos() {
    let (_dir, mut p) = project();
    let jb = add(&mut p, "jbcy.gpkg", &layer(ReferenceKind::BasicGrassland, &[])).loaded.layer;
    let mut want = expected(&common::fixture("reference/jbcy.gpkg"), &[]);
    for classes in want.values_mut() {
        let total: f64 = classes.values().sum();
        *classes = if total > 0.0 { BTreeMap::from([("jbcy".to_string(), total)]) } else { BTreeMap::new() };
    }
    assert_matches(&p, jb.id, &want, 15);
    let bhq = add(&mut p, "bhq.geojson", &layer(ReferenceKind::ProtectedArea, &["BHQMC", "GNFQ"])).loaded.layer;
    assert_matches(&p, bhq.id, &expected(&common::fixture("reference/bhq.geojson"), &["BHQMC", "GNFQ"]), 8);
}

#[test]
fn fills_are_marked_audited_and_never_overwrite_the_analyst() {
    let (_dir, mut p) = project();
    add(&mut p, "dltb_gk.shp", &layer(ReferenceKind::Landuse, &["DLMC"]));
    let fid = p.require_patch("150999SJBG2025000001").unwrap();
    let qdl = |p: &Project| p.patch(fid).unwrap().unwrap().value(p.template(), "QDL").cloned();
    assert_eq!(qdl(&p), Some(Value::Text("天然牧草地".into())));
    let log = p.audit_log(Some(fid)).unwrap();
    assert!(log.iter().any(|e| e.field.as_deref() == Some("QDL") && e.action == "reference:dltb_gk"), "{log:?}");
    let ov = ops::reference::of_patch(&p, fid).unwrap();
    assert_eq!(ov.fills.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(), ["QDL"]);
    // A filled value is no review work: every patch is still unreviewed.
    let statuses: std::collections::BTreeSet<_> = p.patches().unwrap().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [tuban_model::ReviewStatus::Unreviewed].into_iter().collect(),
        "fills made patches in progress"
    );
    // The analyst overrides; a second layer added later does not put it back.
    p.set_text(fid, &[("QDL", "耕地")]).unwrap();
    add(&mut p, "jbcy.gpkg", &layer(ReferenceKind::BasicGrassland, &[]));
    ops::reference::refresh(&mut p, &Scope::All, &Progress::new()).unwrap();
    assert_eq!(qdl(&p), Some(Value::Text("耕地".into())));
    let sfjbcy = p.patch(fid).unwrap().unwrap().value(p.template(), "SFJBCY").cloned();
    assert_eq!(sfjbcy, Some(Value::Bool(true)));
    // Approvals are only suggested, and the hint names the approval.
    add(&mut p, "spxm.kml", &layer(ReferenceKind::Approval, &["SPWH"]));
    let ov = ops::reference::of_patch(&p, fid).unwrap();
    let spwh = ov.suggestions.iter().find(|s| s.field == "SPWH").unwrap();
    assert_eq!(spwh.text, "示林审〔2024〕12号");
    assert_eq!(p.patch(fid).unwrap().unwrap().value(p.template(), "SPWH"), Some(&Value::Null));
    assert!(matches!(&ov.hints[0], Hint::Approval { share_pct, .. } if *share_pct > 99.9), "{:?}", ov.hints);
}

#[test]
fn a_reshaped_patch_shows_a_stale_overlay_until_refreshed() {
    let (_dir, mut p) = project();
    add(&mut p, "dltb_gk.shp", &layer(ReferenceKind::Landuse, &["DLMC"]));
    let fid = p.require_patch("150999SJBG2025000003").unwrap();
    let issued = p.extent(fid).unwrap().unwrap().issued;
    let half = tuban_model::geometry::edit::split_by_line(&issued, &{
        use geo::BoundingRect;
        let b = issued.bounding_rect().unwrap();
        let x = (b.min().x + b.max().x) / 2.0;
        vec![geo::Coord { x, y: b.min().y - 0.01 }, geo::Coord { x, y: b.max().y + 0.01 }]
    })
    .unwrap();
    p.set_extent(fid, &geo::Geometry::Polygon(half[0].clone())).unwrap();
    assert_eq!(ops::reference::of_patch(&p, fid).unwrap().stale_layers, ["dltb_gk"]);
    let (summary, _) = ops::reference::refresh(&mut p, &Scope::Stale, &Progress::new()).unwrap();
    assert_eq!(summary.patches, 1, "only the reshaped patch is computed again");
    let ov = ops::reference::of_patch(&p, fid).unwrap();
    assert!(ov.stale_layers.is_empty());
    let total: f64 = ov.rows.iter().map(|r| r.area_m2).sum();
    let verified = tuban_model::geometry::area_m2(&geo::Geometry::Polygon(half[0].clone()));
    assert!((total - verified).abs() < verified * 1e-3, "the overlay is of the verified extent: {total} vs {verified}");
}

#[test]
fn bad_layers_are_refused_with_the_file_named_and_nothing_added() {
    let (dir, mut p) = project();
    let try_add = |p: &mut Project, path: &Path, l: &NewLayer| {
        ops::reference::add(p, path, l, &Progress::new()).unwrap_err().to_string()
    };
    let other = layer(ReferenceKind::Other, &[]);
    let outside = common::fixture("reference/outside.shp");
    let msg = try_add(&mut p, &outside, &other);
    assert!(msg.contains("outside.shp") && msg.contains("不相交"), "{msg}");
    let missing = common::fixture("tricky/missing_sidecars/mbostock_shp_only/polygonm.shp");
    assert!(try_add(&mut p, &missing, &other).contains(".shx"));
    let lines = common::fixture("tricky/corrupt/pyshp_corrupt_too_long/corrupt_too_long.shp");
    let msg = try_add(&mut p, &lines, &other);
    assert!(msg.contains("corrupt_too_long.shp"), "{msg}");
    let msg = try_add(&mut p, &common::fixture("reference/dltb_gk.shp"), &layer(ReferenceKind::Landuse, &["NOPE"]));
    assert!(msg.contains("NOPE") && msg.contains("DLMC"), "{msg}");
    // No .prj and metres: refused with the zone hint.
    for ext in ["shp", "shx", "dbf"] {
        std::fs::copy(common::fixture(&format!("reference/dltb_gk.{ext}")), dir.path().join(format!("noprj.{ext}")))
            .unwrap();
    }
    let msg = try_add(&mut p, &dir.path().join("noprj.shp"), &other);
    assert!(msg.contains("noprj.shp") && msg.contains("--crs"), "{msg}");
    assert!(p.references().unwrap().is_empty());
    assert!(p.reference_features_in(&[], [-180.0, -90.0, 180.0, 90.0]).unwrap().is_empty(), "no half-added layer");
    // The same file again under the same name.
    add(&mut p, "jbcy.gpkg", &layer(ReferenceKind::BasicGrassland, &[]));
    assert!(try_add(&mut p, &common::fixture("reference/jbcy.gpkg"), &other).contains("--name"));
}

#[test]
fn an_earlier_project_hints_a_rebound_over_a_settled_case() {
    let (dir, mut earlier) = project();
    let fid = earlier.require_patch("150999SJBG2025000005").unwrap();
    earlier.set_text(fid, &[("HCJG", "违法"), ("WFLX", "非法占用草原"), ("WFMJ", "5亩"), ("DSR", "某公司")]).unwrap();
    let number = earlier.create_case(None, &[fid], "某公司", "").unwrap();
    let done = tuban_core::store::CaseUpdate {
        rectification: Some(tuban_model::ledger::Rectification::Done),
        ..Default::default()
    };
    earlier.update_case(&number, &done).unwrap();
    let path = earlier.path().to_path_buf();
    drop(earlier);
    let (_d2, mut p) = project();
    let added = ops::reference::add(&mut p, &path, &layer(ReferenceKind::Earlier, &[]), &Progress::new()).unwrap();
    assert_eq!(added.loaded.layer.features as usize, p.patches().unwrap().len());
    let now = p.require_patch("150999SJBG2025000005").unwrap();
    let ov = ops::reference::of_patch(&p, now).unwrap();
    let rebound = ov.hints.iter().find(|h| h.is_warning()).unwrap_or_else(|| panic!("{:?}", ov.hints));
    assert!(rebound.text(false).contains("是否反弹"), "{}", rebound.text(false));
    drop(dir);
    // The project still opens read-only with its layer listed.
    let ro = Project::open(p.path(), Access::ReadOnly).unwrap();
    assert_eq!(ro.references().unwrap().len(), 1);
}

#[test]
fn the_ledger_workbook_and_the_report_carry_the_overlay() {
    use calamine::Reader;
    let (dir, mut p) = project();
    add(&mut p, "bhq.geojson", &layer(ReferenceKind::ProtectedArea, &["BHQMC", "GNFQ"]));
    let out = dir.path().join("out");
    let progress = Progress::new();
    let opts = tuban_core::export::ExportOptions::default();
    let files = ops::deliver::export(&p, tuban_core::export::Format::Xlsx, &out, &opts, &progress).unwrap();
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&files[0]).unwrap();
    let sheet = book.worksheet_range("图斑").unwrap();
    let header: Vec<String> = sheet.rows().next().unwrap().iter().map(|c| c.to_string()).collect();
    let col = header.iter().position(|h| h == "bhq：类别与占比").unwrap_or_else(|| panic!("{header:?}"));
    let zoned: Vec<String> = sheet.rows().skip(1).map(|r| r[col].to_string()).filter(|s| !s.is_empty()).collect();
    assert!(zoned.iter().any(|s| s.contains("核心区")), "{zoned:?}");
}

/// A county's 三调 often comes as an Esri file geodatabase: a folder with several layers. The
/// layer is chosen by name (refused with the layers listed otherwise) and its overlay matches
/// GEOS on the same parcels (the fixture's DLTB was written from dltb_gk.shp by GDAL).
#[test]
fn a_file_geodatabase_layer_is_read_and_matches_geos() {
    let (_dir, mut p) = project();
    let gdb = common::fixture("reference/sandiao.gdb");
    let e = ops::reference::add(&mut p, &gdb, &layer(ReferenceKind::Landuse, &["DLMC"]), &Progress::new()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("sandiao.gdb") && msg.contains("DLTB (380)") && msg.contains("JBCY (2)"), "{msg}");
    assert!(p.references().unwrap().is_empty(), "nothing half-added");
    let mut l = layer(ReferenceKind::Landuse, &["DLMC"]);
    l.read.layer = Some("DLTB".into());
    let added = ops::reference::add(&mut p, &gdb, &l, &Progress::new()).unwrap();
    assert_eq!((added.loaded.layer.features, added.loaded.layer.repaired), (380, 1));
    assert_matches(&p, added.loaded.layer.id, &expected(&common::fixture("reference/dltb_gk.shp"), &["DLMC"]), 40);
    let mut j = layer(ReferenceKind::BasicGrassland, &[]);
    j.read.layer = Some("JBCY".into());
    let added = ops::reference::add(&mut p, &gdb, &j, &Progress::new()).unwrap();
    assert_eq!(added.loaded.layer.features, 2);
}

/// More patches than the fill's planner sends ahead (chunks of 1,024, two in flight): every
/// patch is filled across the chunks, and on a sealed copy the refused fill returns (the
/// planner is not left waiting) and writes nothing. Each patch is its own basic grassland
/// (the delivered file added as the layer), so the expected value is 是 everywhere.
#[test]
fn fills_span_many_chunks_and_a_sealed_project_returns() {
    let dir = tempfile::tempdir().unwrap();
    let shp = dir.path().join("patches.shp");
    crate::synth::generate(&shp, 3_000).unwrap();
    let run = |sealed: bool| {
        let (tmp, mut p) = common::new_project("grassland");
        common::import(&mut p, &shp).unwrap();
        if sealed {
            p.seal().unwrap();
        }
        let shp = shp.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let added = ops::reference::add(&mut p, &shp, &layer(ReferenceKind::BasicGrassland, &[]), &Progress::new())
                .map(|a| (a.filled, a.fill_refused));
            let yes = p
                .patches()
                .unwrap()
                .iter()
                .filter(|r| r.value(p.template(), "SFJBCY") == Some(&Value::Bool(true)))
                .count();
            let _ = tx.send((added, yes, tmp));
        });
        rx.recv_timeout(std::time::Duration::from_secs(120)).expect("adding the layer returned within 120 s")
    };
    let ((added, yes, _tmp), (sealed_added, sealed_yes, _tmp2)) = (run(false), run(true));
    let (filled, refused) = added.unwrap();
    assert_eq!((filled, refused, yes), (3_000, None, 3_000));
    let (filled, refused) = sealed_added.unwrap();
    assert_eq!((filled, sealed_yes), (0, 0));
    assert!(refused.is_some_and(|r| r.contains("封库")), "the seal is named");
}
