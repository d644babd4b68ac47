//! Reference layers in the window: a layer added by a job off the UI thread, its overlay in the
//! form with hints and the values it gives (a suggestion applied through the store), the legend's
//! switch and L, a feature's attributes on a click outside the patches, the queue's filter.

use super::*;

use tuban_app::map::last_transform;
use tuban_app::state::merc01;
use tuban_model::reference::{OverlayFilter, ReferenceKind};

fn add_layer(h: &mut Harness<'_, TubanApp>, file: &str, kind: ReferenceKind, fields: &[&str]) {
    let path = common::fixture(&format!("reference/{file}"));
    let fields = fields.iter().map(|s| s.to_string()).collect();
    h.state_mut().send(tuban_app::commands::AppCommand::AddReference { path, kind, fields });
    h.run_steps(2);
    wait_for_job(h);
    h.run_steps(3);
}

#[test]
fn a_layer_added_by_a_job_shows_its_overlay_hints_and_suggestions() {
    let (_dir, path) = sample_project(false);
    let mut h = harness(&path, Lang::Zh);
    add_layer(&mut h, "dltb_gk.shp", ReferenceKind::Landuse, &["DLMC"]);
    let result = h.state().job_result().unwrap_or_default().to_string();
    assert!(result.contains("380") && result.contains("dltb_gk"), "{result}");
    add_layer(&mut h, "spxm.kml", ReferenceKind::Approval, &["SPWH"]);
    add_layer(&mut h, "jbcy.gpkg", ReferenceKind::BasicGrassland, &[]);
    assert_eq!(current_key(&h), "150999SJBG2025000001");
    // The overlay table, the hint and the filled mark of 前地类.
    h.get_by_label("天然牧草地");
    h.get_by_label_contains("位于审批项目 示林审〔2024〕12号");
    h.get_by_label_contains("由参考图层计算： dltb_gk");
    // The suggested approval number is applied through the store.
    // The first suggestion is the approval number (SPWH), then its area (SPMJ).
    h.get_all_by_label("采用").next().unwrap().click();
    h.run_steps(3);
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    let fid = p.find_patch("150999SJBG2025000001").unwrap().unwrap();
    let spwh = p.patch(fid).unwrap().unwrap().value(p.template(), "SPWH").cloned();
    assert_eq!(spwh, Some(Value::Text("示林审〔2024〕12号".into())));
    assert!(p.audit_log(Some(fid)).unwrap().iter().any(|e| e.action == "reference:dltb_gk"));
    drop(p);
    // The queue filter: in basic grassland and no approval.
    let ws = h.state_mut().ws.as_mut().unwrap();
    let all = ws.queue.len();
    ws.filter.overlay =
        OverlayFilter { with: vec![ReferenceKind::BasicGrassland], without: vec![ReferenceKind::Approval] };
    ws.refilter();
    let filtered = ws.queue.len();
    assert!(filtered > 0 && filtered < all, "{filtered} of {all}");
    assert!(ws.queue.iter().all(|&i| ws.records[i].key != "150999SJBG2025000001"), "patch 1 has an approval");
    h.run_steps(2);
}

#[test]
fn l_hides_the_layers_and_a_click_outside_the_patches_shows_a_feature() {
    let (_dir, path) = sample_project(false);
    {
        let mut p = Project::open(&path, Access::ReadWrite).unwrap();
        let layer = tuban_core::reference::NewLayer {
            kind: ReferenceKind::Landuse,
            name: None,
            label: "三调".into(),
            dated: None,
            read: tuban_core::reference::ReadOptions { class_fields: vec!["DLMC".into()], ..Default::default() },
        };
        let progress = tuban_model::progress::Progress::new();
        tuban_core::ops::reference::add(&mut p, &common::fixture("reference/dltb_gk.shp"), &layer, &progress).unwrap();
    }
    let mut h = harness(&path, Lang::Zh);
    h.run_steps(3);
    h.get_by_label_contains("■ 三调");
    h.key_press(Key::L);
    h.run_steps(1);
    assert!(h.state().ws.as_ref().unwrap().reference.all_off);
    h.key_press(Key::L);
    h.run_steps(2);
    // A point south-west of every patch but inside the parcels: 538100 E, 4607300 N in EPSG:4546.
    let c = tuban_core::ops::geometry::to_lonlat(&[(538_100.0, 4_607_300.0)], Some("EPSG:4546")).unwrap()[0];
    let (lon, lat) = (c.x, c.y);
    h.key_press(Key::F);
    h.run_steps(2);
    let ws = h.state().ws.as_ref().unwrap();
    let fid = ws.records[ws.current.unwrap()].fid;
    let started = std::time::Instant::now();
    h.state_mut().ws.as_mut().unwrap().reference.select(&Project::open(&path, Access::ReadOnly).unwrap(), Some(fid));
    assert!(started.elapsed().as_millis() < 200, "the overlay of the current patch is read in {:?}", started.elapsed());
    h.state_mut().send(tuban_app::Command::PickReference(lon, lat));
    h.run_steps(3);
    let picked = h.state().ws.as_ref().unwrap().reference.picked.clone();
    let (title, f) = picked.expect("a parcel under the point");
    assert_eq!(title, "三调");
    assert!(f.feature.attrs.contains_key("DLBM"));
    h.get_by_label_contains("参考要素 · 三调");
    let _ = last_transform(&h.ctx).map(|t| t.to_screen(merc01(lon, lat)));
}

#[test]
fn a_layer_is_removed_from_the_legend_after_a_second_click() {
    let (_dir, path) = sample_project(false);
    let mut h = harness(&path, Lang::Zh);
    add_layer(&mut h, "jbcy.gpkg", ReferenceKind::BasicGrassland, &[]);
    add_layer(&mut h, "spxm.kml", ReferenceKind::Approval, &["SPWH"]);
    h.run_steps(2);
    assert_eq!(h.state().ws.as_ref().unwrap().reference.layers.len(), 2);
    // The first click only asks; cancel leaves the layer.
    h.get_all_by_label("移除").next().unwrap().click();
    h.run_steps(2);
    h.get_by_label("取消").click();
    h.run_steps(2);
    assert_eq!(Project::open(&path, Access::ReadOnly).unwrap().references().unwrap().len(), 2);
    h.get_all_by_label("移除").next().unwrap().click();
    h.run_steps(2);
    h.get_by_label("确认移除").click();
    h.run_steps(3);
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    let left: Vec<String> = p.references().unwrap().into_iter().map(|l| l.name).collect();
    assert_eq!(left.len(), 1, "{left:?}");
    drop(p);
    assert_eq!(h.state().ws.as_ref().unwrap().reference.layers.len(), 1, "the legend follows the store");
}
