//! Work packages and the field-level merge: a round trip with edits on both sides whose expected
//! outcome is computed here from the scripted edits, 细斑 and photos made in a package, merging
//! twice, refusals by name, and resolving conflicts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::common;
use crate::common::{field_text as text, set_field as set};

use geo::{BoundingRect, Coord};
use tuban_core::ops::geometry::{self as edit_ops, Cut};
use tuban_core::ops::package::{self, GroupBy};
use tuban_core::store::{Access, Project, StoreError, Take};
use tuban_model::progress::Progress;

const TOWN: &str = "乌兰花镇";
const P3: &str = "150999SJBG2025000003";
const P4: &str = "150999SJBG2025000004";
const P5: &str = "150999SJBG2025000005";
const P13: &str = "150999SJBG2025000013";

/// Master and the township package of 乌兰花镇 (patches 3, 4, 5 and 13).
fn master_and_package() -> (tempfile::TempDir, Project, PathBuf) {
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let out = dir.path().join("包");
    let written = package::create(&mut p, &GroupBy::Township, &out, &Progress::new()).unwrap();
    let w = written.iter().find(|w| w.label == TOWN).unwrap();
    assert_eq!(w.patches, 4);
    (dir, p, w.path.clone())
}

/// The scripted edits: (key, field, value) on each side.
const THEIRS: [(&str, &str, &str); 5] =
    [(P4, "DSR", "某公司"), (P5, "BZ", "包内备注"), (P13, "BZ", "同一句"), (P3, "HCJG", "伪变化"), (P3, "BZ", "先写")];
const OURS: [(&str, &str, &str); 3] = [(P5, "BZ", "县里备注"), (P13, "BZ", "同一句"), (P3, "DCRY", "王五")];

/// What a field-level merge must do, from the scripts alone: a field only they changed is
/// applied; both to the same value, already there; both to different values, a conflict.
/// (patch key, field) pairs.
type Fields = BTreeSet<(String, String)>;

fn expected() -> (Fields, Fields, Fields) {
    let last = |list: &[(&str, &str, &str)]| -> BTreeMap<(String, String), String> {
        list.iter().map(|(k, f, v)| ((k.to_string(), f.to_string()), v.to_string())).collect()
    };
    let (theirs, ours) = (last(&THEIRS), last(&OURS));
    let (mut applied, mut already, mut conflicts) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for (k, v) in &theirs {
        match ours.get(k) {
            None => applied.insert(k.clone()),
            Some(o) if o == v => already.insert(k.clone()),
            Some(_) => conflicts.insert(k.clone()),
        };
    }
    (applied, already, conflicts)
}

fn package_edits(path: &Path) {
    let mut pkg = Project::open(path, Access::ReadWrite).unwrap();
    pkg.set_user("乡镇核查员");
    for (k, f, v) in THEIRS {
        set(&mut pkg, k, f, v);
    }
    // A 细斑 split in the field, and a verdict on one of them.
    let fid = pkg.require_patch(P4).unwrap();
    let b = pkg.extent(fid).unwrap().unwrap().issued.bounding_rect().unwrap();
    let x = (b.min().x + b.max().x) / 2.0;
    let line = vec![Coord { x, y: b.min().y - 0.001 }, Coord { x, y: b.max().y + 0.001 }];
    edit_ops::split(&mut pkg, P4, &Cut::Line(line)).unwrap();
    set(&mut pkg, &format!("{P4}-2"), "HCJG", "违法");
    // The verified extent of patch 13 redrawn to its southern half.
    let p13 = pkg.require_patch(P13).unwrap();
    let issued = pkg.extent(p13).unwrap().unwrap().issued;
    let b = issued.bounding_rect().unwrap();
    let y = (b.min().y + b.max().y) / 2.0;
    let cut = vec![Coord { x: b.min().x - 0.001, y }, Coord { x: b.max().x + 0.001, y }];
    let half = tuban_model::geometry::edit::split_by_line(&issued, &cut).unwrap().remove(0);
    pkg.set_extent(p13, &geo::Geometry::Polygon(half)).unwrap();
    // A field photo and a comment.
    let photo = common::sample("photos").join("巴音花乡_新地村_150999SJBG2025000002_1.jpg");
    let p5 = pkg.require_patch(P5).unwrap();
    tuban_core::ops::evidence::add_photos(&mut pkg, &[photo], Some(p5), 1e9, &Progress::new()).unwrap();
    pkg.add_comment(p5, "现场有推土痕迹").unwrap();
}

#[test]
fn a_package_round_trip_merges_field_by_field_and_twice_changes_nothing() {
    let (_dir, mut master, pkg_path) = master_and_package();
    let info = Project::open(&pkg_path, Access::ReadOnly).unwrap().package_info().unwrap().unwrap();
    assert_eq!(info.label, TOWN);
    assert_eq!(Project::open(&pkg_path, Access::ReadOnly).unwrap().patch_count().unwrap(), 4);
    // Every patch went out in one township package; four of them in this one.
    let out = master.checkouts().unwrap();
    assert_eq!((out.len(), out.iter().filter(|c| c.label == TOWN).count()), (30, 4));
    package_edits(&pkg_path);
    for (k, f, v) in OURS {
        set(&mut master, k, f, v);
    }
    let r = package::merge(&mut master, &pkg_path).unwrap();
    let (applied, already, conflicts) = expected();
    let got: BTreeSet<(String, String)> = r.conflicts.iter().map(|c| (c.key.clone(), c.field.clone())).collect();
    assert_eq!(got, conflicts, "{r:?}");
    // Applied: the script's fields, the 细斑 verdict (a field of a new row), and patch 13's
    // extent with the verified area it implies; the split itself is a step of its own.
    assert_eq!(r.applied, applied.len() + 3, "{r:?}");
    assert_eq!(r.already, already.len(), "{r:?}");
    assert_eq!(r.structural, 1);
    for (k, f) in &applied {
        let want = THEIRS.iter().rev().find(|(kk, ff, _)| kk == k && ff == f).unwrap().2;
        assert_eq!(text(&master, k, f).as_deref(), Some(want), "{k} {f}");
    }
    for (k, f) in &conflicts {
        let ours = OURS.iter().find(|(kk, ff, _)| kk == k && ff == f).unwrap().2;
        assert_eq!(text(&master, k, f).as_deref(), Some(ours), "a conflict keeps ours until resolved");
    }
    assert_eq!(text(&master, P3, "DCRY").as_deref(), Some("王五"), "our own edit stays");
    // The 细斑 arrived with their lineage and the verdict made on one of them.
    let p4 = master.require_patch(P4).unwrap();
    assert_eq!(master.subpatches_of(p4).unwrap().len(), 2);
    assert_eq!(text(&master, &format!("{P4}-2"), "HCJG").as_deref(), Some("违法"));
    // The redrawn extent arrived, and with it the verified area it implies.
    let p13 = master.require_patch(P13).unwrap();
    let verified = master.extent(p13).unwrap().unwrap().verified.expect("the package's extent");
    let hsmj: f64 = text(&master, P13, "HSMJ").unwrap().parse().unwrap();
    assert!((hsmj - tuban_model::geometry::area_m2(&verified)).abs() < 0.01, "{hsmj}");
    // The photo and comment arrived once.
    let p5 = master.require_patch(P5).unwrap();
    assert_eq!(master.photos(Some(p5)).unwrap().len(), 1);
    assert_eq!(master.comments(p5).unwrap().len(), 1);
    // Merging the same package again changes nothing and adds no conflict.
    let digest = master.seal_snapshot().unwrap().digest();
    let again = package::merge(&mut master, &pkg_path).unwrap();
    assert_eq!((again.applied, again.structural, again.rows_added, again.conflicts.len()), (0, 0, 0, 0), "{again:?}");
    assert_eq!(master.seal_snapshot().unwrap().digest(), digest);
    assert_eq!(master.conflicts().unwrap().len(), conflicts.len());
    // Resolve: theirs for the remark; the queue empties; the audit log says so.
    master.resolve(P5, "BZ", &Take::Theirs).unwrap();
    assert_eq!(text(&master, P5, "BZ").as_deref(), Some("包内备注"));
    assert!(master.conflicts().unwrap().is_empty());
    assert!(master.audit_log(Some(p5)).unwrap().iter().any(|e| e.action == "resolve"));
}

#[test]
fn later_edits_in_a_package_merge_on_top_of_the_first_merge() {
    let (_dir, mut master, pkg_path) = master_and_package();
    let mut pkg = Project::open(&pkg_path, Access::ReadWrite).unwrap();
    set(&mut pkg, P4, "BZ", "第一次");
    drop(pkg);
    assert_eq!(package::merge(&mut master, &pkg_path).unwrap().applied, 1);
    let mut pkg = Project::open(&pkg_path, Access::ReadWrite).unwrap();
    set(&mut pkg, P4, "BZ", "第二次");
    drop(pkg);
    let r = package::merge(&mut master, &pkg_path).unwrap();
    assert_eq!((r.applied, r.conflicts.len()), (1, 0), "the second change starts from the first: {r:?}");
    assert_eq!(text(&master, P4, "BZ").as_deref(), Some("第二次"));
}

#[test]
fn a_package_of_another_project_a_whole_project_and_an_older_file_are_refused_by_name() {
    let (dir, mut master, pkg_path) = master_and_package();
    let (_other_dir, mut other) = common::new_project("grassland");
    common::import(&mut other, &common::sample_shp()).unwrap();
    let e = package::merge(&mut other, &pkg_path).unwrap_err();
    assert!(e.to_string().contains("来自另一个项目") && e.to_string().contains(TOWN), "{e}");
    let whole = other.path().to_path_buf();
    drop(other);
    let e = package::merge(&mut master, &whole).unwrap_err();
    assert!(e.to_string().contains("不是工作包"), "{e}");
    let old = dir.path().join("旧包.gpkg");
    std::fs::copy(&pkg_path, &old).unwrap();
    let c = rusqlite::Connection::open(&old).unwrap();
    c.execute("UPDATE tuban_meta SET value = '4' WHERE key = 'schema_version'", []).unwrap();
    drop(c);
    let e = package::merge(&mut master, &old).unwrap_err();
    assert!(e.to_string().contains("结构版本 4"), "{e}");
    let e = package::merge(&mut master, &dir.path().join("没有.gpkg")).unwrap_err();
    assert!(matches!(e, tuban_core::ops::OpsError::Store(StoreError::NotFound { .. })), "{e}");
    // Nothing was merged by any of these.
    assert!(master.conflicts().unwrap().is_empty());
}

#[test]
fn case_fields_merge_by_the_same_rule_and_a_case_opened_in_the_package_arrives() {
    use tuban_core::store::CaseUpdate;
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let p3 = p.require_patch(P3).unwrap();
    let number = p.create_case(None, &[p3], "某光伏公司", "").unwrap();
    let written = package::create(&mut p, &GroupBy::Township, &dir.path().join("包"), &Progress::new()).unwrap();
    let pkg_path = written.iter().find(|w| w.label == TOWN).unwrap().path.clone();
    {
        let mut k = Project::open(&pkg_path, Access::ReadWrite).unwrap();
        let upd = |d: &str, m: &str| CaseUpdate {
            department: Some(d.into()),
            measures: Some(m.into()),
            ..Default::default()
        };
        k.update_case(&number, &upd("乡镇林业站", "包内：责令恢复")).unwrap();
        let p4 = k.require_patch(P4).unwrap();
        k.create_case(None, &[p4], "某牧业公司", "").unwrap();
    }
    p.update_case(&number, &CaseUpdate { measures: Some("县里：罚款".into()), ..Default::default() }).unwrap();
    let r = package::merge(&mut p, &pkg_path).unwrap();
    // department: only they changed it → applied; measures: both, differently → a conflict.
    let c = p.case(&number).unwrap().unwrap();
    assert_eq!((c.department.as_str(), c.measures.as_str()), ("乡镇林业站", "县里：罚款"), "{r:?}");
    let conflicts: Vec<(String, String)> = r.conflicts.iter().map(|c| (c.key.clone(), c.field.clone())).collect();
    assert_eq!(conflicts, [(format!("案件 {number}"), "measures".to_string())]);
    // The case opened in the package arrived under a number of its own, linked to patch 4.
    let p4 = p.require_patch(P4).unwrap();
    let other = p.case_of_patch(p4).unwrap().expect("the package's case");
    assert_ne!(other, number);
    // Resolve the case conflict by taking theirs, named by the case number.
    p.resolve(&number, "measures", &Take::Theirs).unwrap();
    assert_eq!(p.case(&number).unwrap().unwrap().measures, "包内：责令恢复");
    assert!(p.conflicts().unwrap().is_empty());
}
