//! The verified extent and 细斑: split, reshape, merge, undo and redo, refusals, seal, export.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use geo::{polygon, BoundingRect, Coord, Geometry};
use tuban_core::ops::geometry::{self as edit_ops, Cut};
use tuban_core::store::{Project, StoreError};
use tuban_model::geometry::{area_m2, edit};
use tuban_model::Value;

const KEY: &str = "150999SJBG2025000004";

fn project() -> (tempfile::TempDir, Project) {
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    (dir, p)
}

/// A north–south line through the middle of the patch's bounding box, overshooting it.
fn middle_line(g: &Geometry) -> Vec<Coord> {
    let b = g.bounding_rect().unwrap();
    let x = (b.min().x + b.max().x) / 2.0;
    let pad = (b.max().y - b.min().y) * 0.2;
    vec![Coord { x, y: b.min().y - pad }, Coord { x, y: b.max().y + pad }]
}

fn hsmj(p: &Project, key: &str) -> Option<f64> {
    let r = p.patch(p.require_patch(key).unwrap()).unwrap().unwrap();
    match r.value(p.template(), "HSMJ") {
        Some(Value::Real(v)) => Some(*v),
        _ => None,
    }
}

#[test]
fn a_split_makes_two_subpatches_that_undo_and_redo_take_back_and_forth() {
    let (_dir, mut p) = project();
    let before = p.patch_count().unwrap();
    let fid = p.require_patch(KEY).unwrap();
    let issued = p.extent(fid).unwrap().unwrap().issued;
    p.set_text(fid, &[("DCRY", "张三")]).unwrap();
    let out = edit_ops::split(&mut p, KEY, &Cut::Line(middle_line(&issued))).unwrap();
    let keys: Vec<&str> = out.subpatches.iter().map(|s| s.1.as_str()).collect();
    assert_eq!(keys, [format!("{KEY}-1"), format!("{KEY}-2")]);
    // The issued record stays but is no longer under review; the 细斑 are.
    assert_eq!(p.patch_count().unwrap(), before + 1);
    assert!(p.patches().unwrap().iter().all(|r| r.fid != fid));
    let parent = p.patch(fid).unwrap().unwrap();
    assert!(parent.split);
    let sum: f64 = out.subpatches.iter().map(|s| s.2).sum();
    assert!((sum - parent.area_m2).abs() / parent.area_m2 < 0.001, "{sum} vs {}", parent.area_m2);
    for (child_fid, key, area) in &out.subpatches {
        let c = p.patch(*child_fid).unwrap().unwrap();
        assert_eq!(c.parent_fid, Some(fid));
        assert_eq!(c.value(p.template(), "TBBH"), parent.value(p.template(), "TBBH"), "issued fields are inherited");
        assert_eq!(c.value(p.template(), "DCRY"), Some(&Value::Null), "the review starts afresh");
        assert_eq!(hsmj(&p, key), Some((area * 100.0).round() / 100.0), "HSMJ is the part's ellipsoidal area");
        assert!((c.area_m2 - area).abs() < 1e-6);
    }
    assert!(p.subpatch_problems(fid).unwrap().is_empty());
    // Editing the issued record is refused, naming the 细斑.
    let e = p.set_text(fid, &[("BZ", "x")]).unwrap_err();
    assert!(matches!(e, StoreError::SplitRecord { .. }) && e.to_string().contains(&format!("{KEY}-2")), "{e}");
    // Undo: one patch again; redo: the same two 细斑 with the same row ids.
    p.undo().unwrap().unwrap();
    assert_eq!(p.patch_count().unwrap(), before);
    assert!(!p.patch(fid).unwrap().unwrap().split);
    assert!(p.patch(out.subpatches[0].0).unwrap().is_none());
    p.redo().unwrap().unwrap();
    assert_eq!(p.patch_count().unwrap(), before + 1);
    assert_eq!(p.find_patch(&format!("{KEY}-2")).unwrap(), Some(out.subpatches[1].0));
    // Undo survives a restart: it is rebuilt from the audit log.
    let path = p.path().to_path_buf();
    drop(p);
    let mut p = Project::open(&path, tuban_core::store::Access::ReadWrite).unwrap();
    p.set_user("tester");
    p.undo().unwrap().unwrap();
    assert_eq!(p.patch_count().unwrap(), before);
    assert_eq!(p.patch(fid).unwrap().unwrap().value(p.template(), "DCRY"), Some(&Value::Text("张三".into())));
}

#[test]
fn a_resplit_subpatch_and_a_merge_back() {
    let (_dir, mut p) = project();
    let fid = p.require_patch(KEY).unwrap();
    let issued = p.extent(fid).unwrap().unwrap().issued;
    edit_ops::split(&mut p, KEY, &Cut::Line(middle_line(&issued))).unwrap();
    let one = format!("{KEY}-1");
    let g1 = p.extent(p.require_patch(&one).unwrap()).unwrap().unwrap().issued;
    // Split 细斑 1 again, by a polygon over its middle.
    let b = g1.bounding_rect().unwrap();
    let (w, h) = (b.width() / 4.0, b.height() / 4.0);
    let c = b.center();
    let square = polygon![(x: c.x - w, y: c.y - h), (x: c.x + w, y: c.y - h), (x: c.x + w, y: c.y + h), (x: c.x - w, y: c.y + h), (x: c.x - w, y: c.y - h)];
    let out = edit_ops::split(&mut p, &one, &Cut::Polygon(square)).unwrap();
    let keys: Vec<String> = out.subpatches.iter().map(|s| s.1.clone()).collect();
    assert_eq!(keys, [format!("{KEY}-1-1"), format!("{KEY}-1-2")]);
    assert_eq!(p.find_patch(&format!("{KEY}-1-2")).unwrap(), Some(out.subpatches[1].0));
    // 细斑 1 (the second split) and the patch stay as records; three 细斑 are under review.
    let live: Vec<String> =
        p.patches().unwrap().into_iter().filter(|r| r.key.starts_with(KEY)).map(|r| r.key).collect();
    assert_eq!(live, [format!("{KEY}-2"), format!("{KEY}-1-1"), format!("{KEY}-1-2")]);
    assert!(p.subpatch_problems(fid).unwrap().is_empty());
    // Merging from any 细斑 merges the whole patch back.
    edit_ops::merge(&mut p, &format!("{KEY}-2")).unwrap();
    let live: Vec<String> =
        p.patches().unwrap().into_iter().filter(|r| r.key.starts_with(KEY)).map(|r| r.key).collect();
    assert_eq!(live, [KEY.to_string()]);
    let e = p.extent(fid).unwrap().unwrap();
    assert!(e.verified.is_none(), "the 细斑 cover the patch: its extent is the issued one again");
    // Undo the merge: the three 细斑 come back.
    p.undo().unwrap().unwrap();
    assert_eq!(p.patches().unwrap().iter().filter(|r| r.key.starts_with(KEY)).count(), 3);
}

#[test]
fn a_reshape_sets_the_verified_area_unless_it_was_typed() {
    let (_dir, mut p) = project();
    let fid = p.require_patch(KEY).unwrap();
    let issued = p.extent(fid).unwrap().unwrap().issued;
    let half = Geometry::Polygon(edit::split_by_line(&issued, &middle_line(&issued)).unwrap().remove(0));
    p.set_extent(fid, &half).unwrap();
    let want = (area_m2(&half) * 100.0).round() / 100.0;
    assert_eq!(hsmj(&p, KEY), Some(want));
    let e = p.extent(fid).unwrap().unwrap();
    assert_eq!(e.issued, issued, "the issued geometry never changes");
    assert_eq!(e.verified.as_ref(), Some(&half));
    let log = p.audit_log(Some(fid)).unwrap();
    let row = log.iter().rev().find(|e| e.field.as_deref() == Some("verified_geom")).unwrap();
    assert!(row.old_value.is_none() && row.new_value.as_deref().unwrap().starts_with("POLYGON"), "{row:?}");
    // Undo restores both the extent and HSMJ in one step.
    p.undo().unwrap().unwrap();
    assert_eq!(p.extent(fid).unwrap().unwrap().verified, None);
    assert_eq!(hsmj(&p, KEY), None);
    // A typed verified area stays when the extent is redrawn.
    p.set_text(fid, &[("HSMJ", "1234.5")]).unwrap();
    p.set_extent(fid, &half).unwrap();
    assert_eq!(hsmj(&p, KEY), Some(1234.5));
}

#[test]
fn invalid_outside_and_sealed_extents_are_refused_and_nothing_is_written() {
    let (_dir, mut p) = project();
    let fid = p.require_patch(KEY).unwrap();
    let issued = p.extent(fid).unwrap().unwrap().issued;
    let b = issued.bounding_rect().unwrap();
    let (x0, y0, x1, y1) = (b.min().x, b.min().y, b.max().x, b.max().y);
    let audit = p.audit_log(None).unwrap().len();
    let bow =
        Geometry::Polygon(polygon![(x: x0, y: y0), (x: x1, y: y1), (x: x1, y: y0), (x: x0, y: y1), (x: x0, y: y0)]);
    let e = p.set_extent(fid, &bow).unwrap_err();
    assert!(e.to_string().contains("自相交") && e.to_string().contains(KEY), "{e}");
    let w = x1 - x0;
    let shifted = Geometry::Polygon(
        polygon![(x: x0 + w, y: y0), (x: x1 + w, y: y0), (x: x1 + w, y: y1), (x: x0 + w, y: y1), (x: x0 + w, y: y0)],
    );
    let e = p.set_extent(fid, &shifted).unwrap_err();
    assert!(e.to_string().contains("超出下发图斑"), "{e}");
    let e = edit_ops::split(&mut p, KEY, &Cut::Line(vec![Coord { x: x1 + w, y: y0 }, Coord { x: x1 + w, y: y1 }]))
        .unwrap_err();
    assert!(e.to_string().contains("分割线"), "{e}");
    assert_eq!(p.audit_log(None).unwrap().len(), audit, "a refused geometry writes nothing");
    assert_eq!(p.extent(fid).unwrap().unwrap().verified, None);
    p.seal().unwrap();
    let e = edit_ops::split(&mut p, KEY, &Cut::Line(middle_line(&issued))).unwrap_err();
    assert!(e.to_string().contains("封库"), "{e}");
    assert!(p.set_extent(fid, &issued).is_err());
}

#[test]
fn the_seal_covers_the_extent_and_the_export_carries_the_subpatches() {
    let (dir, mut p) = project();
    let fid = p.require_patch(KEY).unwrap();
    let issued = p.extent(fid).unwrap().unwrap().issued;
    let d0 = p.seal_snapshot().unwrap().digest();
    edit_ops::split(&mut p, KEY, &Cut::Line(middle_line(&issued))).unwrap();
    assert_ne!(p.seal_snapshot().unwrap().digest(), d0);
    let two = p.require_patch(&format!("{KEY}-2")).unwrap();
    p.set_text(two, &[("HCJG", "伪变化")]).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let files = tuban_core::export::export(
        &p,
        tuban_core::export::Format::Gpkg,
        &out,
        &Default::default(),
        &Default::default(),
    )
    .unwrap();
    let gpkg = files.iter().find(|f| f.extension().is_some_and(|e| e == "gpkg")).unwrap();
    // Read back with GDAL: two features for the patch, TBBH + XBH, their own areas and verdicts.
    let ds = gdal::Dataset::open(gpkg).unwrap();
    use gdal::vector::LayerAccess;
    let mut layer = ds.layer(0).unwrap();
    let defn = layer.defn();
    let idx = |name: &str| defn.field_index(name).unwrap();
    let (tbbh, xbh, hcjg, area) = (idx("TBBH"), idx("XBH"), idx("HCJG"), idx("HSMJ"));
    let mut found = Vec::new();
    for f in layer.features() {
        if f.field_as_string(tbbh).unwrap().as_deref() == Some(KEY) {
            found.push((
                f.field_as_string(xbh).unwrap().unwrap_or_default(),
                f.field_as_string(hcjg).unwrap().unwrap_or_default(),
                f.field_as_double(area).unwrap().unwrap_or_default(),
            ));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!((found[0].0.as_str(), found[1].0.as_str(), found[1].1.as_str()), ("1", "2", "伪变化"));
    let parent_area = p.patch(fid).unwrap().unwrap().area_m2;
    assert!(((found[0].2 + found[1].2) - parent_area).abs() / parent_area < 0.001);
}

#[test]
fn a_multipolygon_patch_splits_into_its_parts_and_the_rules_find_nothing_wrong() {
    let (_dir, mut p) = project();
    // Patch 3 is two solar arrays (a multipolygon); a line across the first splits it in two.
    let key = "150999SJBG2025000003";
    let fid = p.require_patch(key).unwrap();
    let issued = p.extent(fid).unwrap().unwrap().issued;
    let Geometry::MultiPolygon(mp) = &issued else { panic!("patch 3 is a multipolygon") };
    let first = Geometry::Polygon(mp.0[0].clone());
    let out = edit_ops::split(&mut p, key, &Cut::Line(middle_line(&first))).unwrap();
    assert_eq!(out.subpatches.len(), 3, "two halves of the first array and the second array");
    assert_eq!(p.subpatch_problems(fid).unwrap(), Vec::<String>::new());
    let sum: f64 = out.subpatches.iter().map(|s| s.2).sum();
    assert!((sum - area_m2(&issued)).abs() / area_m2(&issued) < 0.001);
}

/// The report's text (pdftotext, not tuban).
fn report_text(p: &Project, out: &std::path::Path, subpatches: tuban_core::report::SubpatchSheets) -> String {
    let opts = tuban_core::report::ReportOptions { subpatches, ..Default::default() };
    tuban_core::report::write(p, out, &opts, true, &tuban_model::progress::Progress::new()).unwrap();
    let o = std::process::Command::new("pdftotext").arg(out).arg("-").output().expect("pdftotext (poppler-utils)");
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn the_report_gives_each_subpatch_a_sheet_or_lists_them_on_their_patchs() {
    use tuban_core::report::SubpatchSheets;
    let (dir, mut p) = project();
    let fid = p.require_patch(KEY).unwrap();
    let issued = p.extent(fid).unwrap().unwrap().issued;
    edit_ops::split(&mut p, KEY, &Cut::Line(middle_line(&issued))).unwrap();
    for (sub, verdict) in [("1", "违法"), ("2", "伪变化")] {
        let f = p.require_patch(&format!("{KEY}-{sub}")).unwrap();
        p.set_text(f, &[("HCJG", verdict)]).unwrap();
    }
    let out = dir.path().join("报告.pdf");
    // The key in each sheet's heading “图斑核查表  KEY”, as pdftotext reads it.
    let headings = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.split("图斑核查表").nth(1))
            .map(|k| k.trim().to_string())
            .filter(|k| k.starts_with(KEY))
            .collect()
    };
    let each = report_text(&p, &out, SubpatchSheets::Each);
    let h = headings(&each);
    assert!(
        h.contains(&format!("{KEY}-1")) && h.contains(&format!("{KEY}-2")) && !h.contains(&KEY.to_string()),
        "{h:?}"
    );
    let with_patch = report_text(&p, &out, SubpatchSheets::WithPatch);
    let h = headings(&with_patch);
    assert_eq!(h, [KEY.to_string()], "one sheet, of the patch itself");
    assert!(
        with_patch.contains(&format!("{KEY}-1")) && with_patch.contains("伪变化"),
        "the 细斑 are listed with their verdicts"
    );
}
