//! The geometry tools driven with real pointer events: split a patch into 细斑, drag a vertex,
//! a self-intersecting redraw refused, reuse the last values, measure.

use super::*;

use geo::{BoundingRect, Geometry};
use tuban_app::map::last_transform;
use tuban_app::state::merc01;
use tuban_model::geometry::area_m2;

const KEY: &str = "150999SJBG2025000004";

/// The screen point of a lon/lat point on the map as last drawn.
fn screen(h: &Harness<'_, TubanApp>, lon: f64, lat: f64) -> egui::Pos2 {
    let t = last_transform(&h.ctx).expect("the map was drawn");
    t.to_screen(merc01(lon, lat))
}

/// Opens the sample and goes to patch 4 (a plain quadrilateral).
fn at_patch_4() -> (tempfile::TempDir, std::path::PathBuf, Harness<'static, TubanApp>, Geometry) {
    let (dir, path) = sample_project(false);
    let mut h = harness(&path, Lang::Zh);
    for _ in 0..3 {
        h.key_press(Key::ArrowRight);
        h.run_steps(2);
    }
    assert_eq!(current_key(&h), KEY);
    h.run_steps(3);
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    let issued = p.extent(p.require_patch(KEY).unwrap()).unwrap().unwrap().issued;
    drop(p);
    (dir, path, h, issued)
}

/// S, then a click above and below the patch on its middle meridian: the split line, not yet finished.
fn split_across(h: &mut Harness<'_, TubanApp>, issued: &Geometry) {
    let b = issued.bounding_rect().unwrap();
    let x = (b.min().x + b.max().x) / 2.0;
    let pad = b.height() * 0.3;
    h.key_press(Key::S);
    h.run_steps(2);
    let (top, bottom) = (screen(h, x, b.max().y + pad), screen(h, x, b.min().y - pad));
    click_at(h, top);
    click_at(h, bottom);
}

/// Presses at `from` and moves to `to` in six steps, the button still down.
fn drag_to(h: &mut Harness<'_, TubanApp>, from: egui::Pos2, to: egui::Pos2) {
    h.event(egui::Event::PointerMoved(from));
    h.run_steps(1);
    h.drag_at(from);
    h.run_steps(1);
    for k in 1..=6 {
        h.event(egui::Event::PointerMoved(from + (to - from) * (k as f32 / 6.0)));
        h.run_steps(1);
    }
}

fn drag(h: &mut Harness<'_, TubanApp>, from: egui::Pos2, to: egui::Pos2) {
    drag_to(h, from, to);
    h.drop_at(to);
    h.run_steps(2);
}

#[test]
fn a_line_drawn_across_splits_the_patch_and_undo_makes_it_one_again() {
    let (_dir, path, mut h, issued) = at_patch_4();
    split_across(&mut h, &issued);
    assert_eq!(h.state().ws.as_ref().unwrap().tool.as_ref().unwrap().vertices.len(), 2);
    h.key_press(Key::Enter);
    h.run_steps(3);
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    let parent = p.patch(p.require_patch(KEY).unwrap()).unwrap().unwrap();
    assert!(parent.split, "the issued record stays, split");
    let subs = p.subpatches_of(parent.fid).unwrap();
    assert_eq!(subs.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), [format!("{KEY}-1"), format!("{KEY}-2")]);
    let sum: f64 = subs.iter().map(|r| r.area_m2).sum();
    assert!((sum - parent.area_m2).abs() / parent.area_m2 < 0.001, "{sum} vs {}", parent.area_m2);
    drop(p);
    assert_eq!(current_key(&h), format!("{KEY}-1"), "the first 细斑 is shown");
    assert!(h.query_by_label_contains(&format!("{KEY}-2")).is_some(), "the queue lists both 细斑");
    // Undo: one patch again, in the store and in the queue.
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(3);
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    assert!(!p.patch(p.require_patch(KEY).unwrap()).unwrap().unwrap().split);
    assert_eq!(p.patch_count().unwrap(), 30);
    drop(p);
    assert_eq!(current_key(&h), KEY);
    assert!(h.query_by_label_contains(&format!("{KEY}-2")).is_none());
}

#[test]
fn dragging_a_vertex_saves_the_extent_and_its_area() {
    let (_dir, path, mut h, issued) = at_patch_4();
    let Geometry::Polygon(poly) = &issued else { panic!("patch 4 is a polygon") };
    let v = poly.exterior().0[0];
    let c = issued.bounding_rect().unwrap().center();
    h.key_press(Key::E);
    h.run_steps(2);
    let from = screen(&h, v.x, v.y);
    let towards = screen(&h, c.x, c.y);
    // A quarter of the way towards the centre; Alt held so nothing snaps.
    let to = from + (towards - from) * 0.25;
    h.event(egui::Event::ModifiersChanged(Modifiers::ALT));
    drag(&mut h, from, to);
    h.event(egui::Event::ModifiersChanged(Modifiers::NONE));
    h.run_steps(2);
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    let fid = p.require_patch(KEY).unwrap();
    let e = p.extent(fid).unwrap().unwrap();
    let verified = e.verified.expect("the dragged extent is saved");
    assert_eq!(e.issued, issued, "the issued geometry is never changed");
    assert!(area_m2(&verified) < area_m2(&issued), "a corner pulled inwards makes the patch smaller");
    let hsmj = match p.patch(fid).unwrap().unwrap().value(p.template(), "HSMJ") {
        Some(Value::Real(v)) => *v,
        other => panic!("HSMJ {other:?}"),
    };
    // HSMJ is the ellipsoidal area of the stored extent (geo's geodesic area, computed here on
    // the ring turned counter-clockwise: the sample's shapefile rings run clockwise).
    use geo::orient::{Direction, Orient};
    use geo::GeodesicArea;
    let Geometry::Polygon(vp) = &verified else { panic!() };
    let want = vp.orient(Direction::Default).geodesic_area_unsigned();
    assert!((hsmj - want).abs() < 0.01, "HSMJ {hsmj} vs {want}");
}

#[test]
fn a_self_intersecting_redraw_is_refused_with_the_reason_on_screen() {
    let (_dir, path, mut h, issued) = at_patch_4();
    let b = issued.bounding_rect().unwrap();
    let (cx, cy) = (b.center().x, b.center().y);
    let (dx, dy) = (b.width() / 6.0, b.height() / 6.0);
    h.key_press_modifiers(Modifiers::SHIFT, Key::E);
    h.run_steps(2);
    // A bow tie inside the patch: the edges cross.
    for (x, y) in [(cx - dx, cy - dy), (cx + dx, cy + dy), (cx + dx, cy - dy), (cx - dx, cy + dy)] {
        let at = screen(&h, x, y);
        click_at(&mut h, at);
    }
    h.key_press(Key::Enter);
    h.run_steps(3);
    let ws = h.state().ws.as_ref().unwrap();
    assert!(ws.geometry_error.as_deref().unwrap_or("").contains("自相交"), "{:?}", ws.geometry_error);
    assert!(h.query_by_label_contains("自相交").is_some(), "the reason is in the status line");
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    assert_eq!(p.extent(p.require_patch(KEY).unwrap()).unwrap().unwrap().verified, None, "nothing saved");
}

#[test]
fn the_reuse_key_copies_the_last_patchs_survey_fields_in_one_undo_step() {
    let (_dir, path) = sample_project(false);
    let mut h = harness(&path, Lang::Zh);
    // Patch 1 filled in through the form's commands (the window holds the project).
    let ws = h.state_mut().ws.as_mut().unwrap();
    for (field, text) in [("DCRY", "李四"), ("DCDW", "示范旗林草局")] {
        ws.apply(tuban_app::commands::Command::SetText { field: field.into(), text: text.into() }, Lang::Zh);
    }
    h.run_steps(2);
    h.key_press(Key::ArrowRight);
    h.run_steps(2);
    h.key_press(Key::R);
    h.run_steps(2);
    let dcry = |path: &std::path::Path| {
        let p = Project::open(path, Access::ReadOnly).unwrap();
        let r = p.patch(p.require_patch("150999SJBG2025000002").unwrap()).unwrap().unwrap();
        (r.value(p.template(), "DCRY").cloned(), r.value(p.template(), "DCDW").cloned())
    };
    assert_eq!(dcry(&path), (Some(Value::Text("李四".into())), Some(Value::Text("示范旗林草局".into()))));
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(2);
    assert_eq!(dcry(&path), (Some(Value::Null), Some(Value::Null)), "one undo takes both back");
}

#[test]
fn measuring_shows_ellipsoidal_length_and_area() {
    // One degree of latitude at 41.5°N (published meridian series) and a 0.001° square.
    let phi = 41.5f64.to_radians();
    let degree = 111_132.954 - 559.822 * (2.0 * phi).cos() + 1.175 * (4.0 * phi).cos();
    let text = tuban_app::edit_map::measure_text(&[(111.0, 41.0), (111.0, 42.0)], None, Lang::Zh).unwrap();
    let shown: f64 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((shown - degree).abs() < 2.0, "{text} vs {degree}");
    let square = [(111.0, 41.0), (111.001, 41.0), (111.001, 41.001), (111.0, 41.001)];
    let text = tuban_app::edit_map::measure_text(&square, None, Lang::En).unwrap();
    assert!(text.contains("Area") && text.contains("亩") && text.contains("ha"), "{text}");
    // 84.0 m × 111.0 m ≈ 9,330 m² (0.001° of longitude at 41°N is 84.0 m).
    let area: f64 = text.split("Area ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!((area - 9_330.0).abs() < 30.0, "{text}");
}

/// What the analyst sees after a split (the issued outline dashed around the 细斑) and while a
/// dragged vertex snaps to a vertex of the neighbouring 细斑 (the snap ring), as snapshots.
#[test]
fn snapshots_of_a_split_and_of_a_vertex_snapping_to_its_neighbour() {
    let (_dir, path, mut h, issued) = at_patch_4();
    split_across(&mut h, &issued);
    h.key_press(Key::Enter);
    h.run_steps(4);
    h.remove_cursor();
    h.run_steps(2);
    // The status bar holds the clock of the last save: masked.
    h.mask(egui::Rect::from_min_max(egui::pos2(0.0, 930.0), egui::pos2(1600.0, 960.0)));
    h.snapshot("edit_split");
    // 细斑 1 is current; drag its north-east corner to 3 px from the northern end of the cut, a
    // vertex of 细斑 2 in view.
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    let one = p.extent(p.require_patch(&format!("{KEY}-1")).unwrap()).unwrap().unwrap().issued;
    let two = p.extent(p.require_patch(&format!("{KEY}-2")).unwrap()).unwrap().unwrap().issued;
    drop(p);
    let (Geometry::Polygon(one), Geometry::Polygon(two)) = (one, two) else { panic!("polygons") };
    let target = two
        .exterior()
        .0
        .iter()
        .filter(|c| one.exterior().0.contains(c))
        .max_by(|a, b| a.y.total_cmp(&b.y))
        .copied()
        .unwrap();
    let v = one.exterior().0.iter().max_by(|a, b| (a.x + a.y).total_cmp(&(b.x + b.y))).copied().unwrap();
    h.key_press(Key::E);
    h.run_steps(2);
    let from = screen(&h, v.x, v.y);
    let near = screen(&h, target.x, target.y) + egui::vec2(3.0, -2.0);
    drag_to(&mut h, from, near);
    h.run_steps(2);
    h.mask(egui::Rect::from_min_max(egui::pos2(0.0, 930.0), egui::pos2(1600.0, 960.0)));
    h.snapshot("edit_snap_drag");
    h.drop_at(near);
    h.run_steps(3);
    // Released on the snap: the vertex is exactly the neighbour's.
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    let e = p.extent(p.require_patch(&format!("{KEY}-1")).unwrap()).unwrap().unwrap();
    let Some(Geometry::Polygon(moved)) = e.verified else { panic!("the drag was saved") };
    assert!(moved.exterior().0.contains(&target), "snapped onto the neighbour's vertex");
}
