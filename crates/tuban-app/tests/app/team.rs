//! The conflict queue driven as an analyst would: a merged package's conflict listed beside the
//! queue, chosen, resolved by taking theirs; the store holds their value and the queue empties.

use super::*;

use tuban_core::ops::package::{self, GroupBy};
use tuban_model::progress::Progress;

const P5: &str = "150999SJBG2025000005";

#[test]
fn a_conflict_from_a_package_is_resolved_in_the_window() {
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let written = package::create(&mut p, &GroupBy::Township, &dir.path().join("包"), &Progress::new()).unwrap();
    let pkg = written.iter().find(|w| w.label == "乌兰花镇").unwrap().path.clone();
    {
        let mut k = Project::open(&pkg, Access::ReadWrite).unwrap();
        let fid = k.require_patch(P5).unwrap();
        k.set_text(fid, &[("BZ", "包内：已复耕")]).unwrap();
    }
    let fid = p.require_patch(P5).unwrap();
    p.set_text(fid, &[("BZ", "县里：待核")]).unwrap();
    let r = package::merge(&mut p, &pkg).unwrap();
    assert_eq!(r.conflicts.len(), 1);
    let path = p.path().to_path_buf();
    drop(p);
    let mut h = harness(&path, Lang::Zh);
    assert!(h.query_by_label_contains("待解决冲突 (1)").is_some(), "the queue shows the conflict");
    h.get_by_label_contains(&format!("{P5} · BZ")).click();
    h.run_steps(2);
    assert_eq!(current_key(&h), P5, "choosing the conflict shows its patch");
    assert!(h.query_by_label_contains("县里：待核").is_some() && h.query_by_label_contains("包内：已复耕").is_some());
    h.get_by_label("取工作包的值").click();
    h.run_steps(3);
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    let r = p.patch(p.require_patch(P5).unwrap()).unwrap().unwrap();
    assert_eq!(r.value(p.template(), "BZ"), Some(&Value::Text("包内：已复耕".into())));
    assert!(p.conflicts().unwrap().is_empty());
    drop(p);
    assert!(h.query_by_label_contains("待解决冲突").is_none(), "the queue is empty");
}
