//! The geometry tools on the map: the issued outline dashed beside the verified extent, the
//! sketch being drawn (split line, split polygon, redraw, measure) with the measurement read-out,
//! the reshape handles (drag a vertex, click an edge's midpoint to insert one, right-click a
//! vertex to delete it), snapping to neighbouring outlines within a few pixels (Alt held: off),
//! and the message of a refused geometry. Clicks become commands; nothing here saves.

use egui::{Color32, Pos2, Shape, Stroke, Ui};
use geo::{Coord, Geometry};
use tuban_model::geometry::area_m2;
use tuban_model::geometry::edit::{self, SnapKind, VertexRef};
use tuban_model::units::{m2_to_ha, m2_to_mu};

use super::commands::{Command, Commands};
use super::edit::{Tool, ToolKind, VertexEdit};
use super::i18n::{tr, Lang};
use super::map::ScreenTransform;
use super::state::{lonlat_of_merc01, merc01, PatchShape, Workstation};
use super::theme;

/// Snapping reaches this far, in screen points.
pub const SNAP_PX: f64 = 8.0;
/// At most this many vertex handles are drawn (a larger extent is redrawn instead).
const MAX_HANDLES: usize = 3000;

/// The issued outline of the current patch, dashed (a redrawn extent, or a 细斑's patch).
pub fn paint_issued(painter: &egui::Painter, ws: &Workstation, t: ScreenTransform) {
    let Some(shape) = ws.outline.as_ref().and_then(|o| o.issued.as_ref()) else { return };
    let stroke = Stroke::new(2.0, theme::ISSUED_DASH);
    for ring in &shape.rings {
        let mut pts: Vec<Pos2> =
            shape.verts[ring.start as usize..ring.end as usize].iter().map(|v| t.to_screen(*v)).collect();
        if let Some(first) = pts.first().copied() {
            pts.push(first);
        }
        painter.extend(Shape::dashed_line(&pts, stroke, 8.0, 5.0));
    }
}

/// The rings other outlines offer for snapping near `p` (normalised Mercator): every patch in
/// reach but the current one, and the current patch's issued outline.
fn snap_target(ws: &Workstation, p: [f64; 2], reach: f64) -> Option<([f64; 2], SnapKind)> {
    let near = |s: &PatchShape| {
        s.bbox[0] - reach <= p[0] && p[0] <= s.bbox[2] + reach && s.bbox[1] - reach <= p[1] && p[1] <= s.bbox[3] + reach
    };
    let mut rings: Vec<&[[f64; 2]]> = Vec::new();
    for (i, s) in ws.shapes.iter().enumerate() {
        if Some(i) != ws.current && !s.is_point && near(s) {
            rings.extend(s.rings.iter().map(|r| &s.verts[r.start as usize..r.end as usize]));
        }
    }
    if let Some(s) = ws.outline.as_ref().and_then(|o| o.issued.as_ref()) {
        rings.extend(s.rings.iter().map(|r| &s.verts[r.start as usize..r.end as usize]));
    }
    edit::snap(p, rings, reach)
}

/// Where a pointer at `pos` puts a vertex: snapped to a neighbour unless Alt is held.
fn placed(ui: &Ui, ws: &Workstation, t: ScreenTransform, pos: Pos2) -> ([f64; 2], Option<SnapKind>) {
    let m = t.to_merc(pos);
    if ui.input(|i| i.modifiers.alt) {
        return (m, None);
    }
    match snap_target(ws, m, SNAP_PX / t.scale()) {
        Some((q, kind)) => (q, Some(kind)),
        None => (m, None),
    }
}

fn lonlat(m: [f64; 2]) -> (f64, f64) {
    lonlat_of_merc01(m)
}

/// The tool's interaction and drawing for this frame; returns true when it took the clicks.
pub fn tool_ui(
    ui: &mut Ui,
    ws: &Workstation,
    response: &egui::Response,
    painter: &egui::Painter,
    t: ScreenTransform,
    lang: Lang,
    cmds: &mut Commands,
) -> bool {
    let Some(tool) = ws.tool.as_ref() else { return false };
    if tool.kind == ToolKind::Reshape {
        reshape_ui(ui, ws, painter, t, cmds);
        return true;
    }
    let hover = response.hover_pos().map(|p| placed(ui, ws, t, p));
    if let Some((m, Some(_))) = hover {
        painter.circle_stroke(t.to_screen(m), 7.0, Stroke::new(2.0, theme::SNAP_MARK));
    }
    paint_sketch(painter, tool, t, hover.map(|h| h.0).filter(|_| !tool.finished));
    if tool.kind == ToolKind::Measure {
        paint_measure(painter, tool, hover.map(|h| lonlat(h.0)).filter(|_| !tool.finished), painter.clip_rect(), lang);
    }
    if response.double_clicked() {
        cmds.push(Command::FinishTool);
    } else if response.clicked() {
        if let Some(p) = response.interact_pointer_pos() {
            let (m, _) = placed(ui, ws, t, p);
            let (lon, lat) = lonlat(m);
            cmds.push(Command::ToolVertex(lon, lat));
        }
    }
    true
}

fn paint_sketch(painter: &egui::Painter, tool: &Tool, t: ScreenTransform, hover: Option<[f64; 2]>) {
    let pts: Vec<Pos2> = tool.vertices.iter().map(|(lon, lat)| t.to_screen(merc01(*lon, *lat))).collect();
    let pen = Stroke::new(2.5, theme::SKETCH_STROKE);
    for w in pts.windows(2) {
        painter.line_segment([w[0], w[1]], pen);
    }
    if let (Some(last), Some(h)) = (pts.last(), hover) {
        let h = t.to_screen(h);
        painter.line_segment([*last, h], Stroke::new(1.5, theme::SKETCH_STROKE));
        if let Some(first) = pts.first().filter(|_| tool.kind.closes() && pts.len() >= 2) {
            painter.extend(Shape::dashed_line(&[h, *first], Stroke::new(1.0, theme::SKETCH_STROKE), 6.0, 4.0));
        }
    }
    if tool.finished && tool.kind.closes() && pts.len() >= 3 {
        painter.line_segment([pts[pts.len() - 1], pts[0]], pen);
    }
    for p in &pts {
        painter.circle(*p, 4.5, theme::SKETCH_STROKE, Stroke::new(1.5, Color32::BLACK));
    }
}

/// Length along the vertices (and to the pointer) and, from three vertices on, the enclosed
/// area, on the ellipsoid.
pub fn measure_text(vertices: &[(f64, f64)], hover: Option<(f64, f64)>, lang: Lang) -> Option<String> {
    let mut pts: Vec<Coord> = vertices.iter().map(|&(x, y)| Coord { x, y }).collect();
    if let Some((x, y)) = hover {
        pts.push(Coord { x, y });
    }
    if pts.len() < 2 {
        return None;
    }
    let length_m = edit::length_m(&pts);
    let mut text = format!("{} {length_m:.1} m", tr(lang, "measure_length"));
    if pts.len() >= 3 {
        let mut ring = pts.clone();
        ring.push(pts[0]);
        text.push_str(&format!("  {} {:.1} m", tr(lang, "measure_perimeter"), edit::length_m(&ring)));
        let a = area_m2(&Geometry::Polygon(geo::Polygon::new(geo::LineString::new(ring), vec![])));
        text.push_str(&format!(
            "\n{} {a:.1} m² · {:.3} 亩 · {:.4} ha",
            tr(lang, "measure_area"),
            m2_to_mu(a),
            m2_to_ha(a)
        ));
    }
    Some(text)
}

fn paint_measure(painter: &egui::Painter, tool: &Tool, hover: Option<(f64, f64)>, rect: egui::Rect, lang: Lang) {
    let Some(text) = measure_text(&tool.vertices, hover, lang) else { return };
    let galley = painter.layout_no_wrap(text, egui::FontId::proportional(14.0), Color32::WHITE);
    // Below the caption, top left: always inside the visible map.
    let pos = rect.left_top() + egui::vec2(12.0, 48.0);
    painter.rect_filled(egui::Rect::from_min_size(pos, galley.size()).expand(6.0), 4.0, Color32::from_black_alpha(190));
    painter.galley(pos, galley, Color32::WHITE);
}

/// Vertex handles of the current extent (drag to move, right-click to delete) and midpoint
/// handles (click to insert).
fn reshape_ui(ui: &mut Ui, ws: &Workstation, painter: &egui::Painter, t: ScreenTransform, cmds: &mut Commands) {
    let Some(outline) = ws.outline.as_ref() else { return };
    let Ok(polys) = edit::polygons(&outline.extent) else { return };
    let mut count = 0;
    for (pi, poly) in polys.iter().enumerate() {
        for (ri, ring) in std::iter::once(poly.exterior()).chain(poly.interiors()).enumerate() {
            let mut pts: Vec<[f64; 2]> = ring.0.iter().map(|c| merc01(c.x, c.y)).collect();
            if pts.len() > 1 && pts.first() == pts.last() {
                pts.pop();
            }
            for k in 0..pts.len() {
                count += 1;
                if count > MAX_HANDLES {
                    return;
                }
                let v = VertexRef { polygon: pi, ring: ri, index: k };
                let (a, b) = (t.to_screen(pts[k]), t.to_screen(pts[(k + 1) % pts.len()]));
                let mid =
                    [(pts[k][0] + pts[(k + 1) % pts.len()][0]) / 2.0, (pts[k][1] + pts[(k + 1) % pts.len()][1]) / 2.0];
                midpoint_handle(ui, painter, v, (a, b), lonlat_of_merc01(mid), cmds);
                vertex_handle(ui, ws, painter, t, v, a, cmds);
            }
        }
    }
}

fn midpoint_handle(
    ui: &mut Ui,
    painter: &egui::Painter,
    v: VertexRef,
    (a, b): (Pos2, Pos2),
    mid_lonlat: (f64, f64),
    cmds: &mut Commands,
) {
    if a.distance(b) < 24.0 {
        return;
    }
    let mid = a + (b - a) / 2.0;
    let id = ui.scope_id().with(("mid", v.polygon, v.ring, v.index));
    let r = ui.interact(egui::Rect::from_center_size(mid, egui::vec2(12.0, 12.0)), id, egui::Sense::click());
    let fill = if r.hovered() { theme::SKETCH_STROKE } else { Color32::from_white_alpha(160) };
    painter.circle(mid, 4.0, fill, Stroke::new(1.0, Color32::BLACK));
    if r.clicked() {
        cmds.push(Command::EditVertex(VertexEdit::Insert(v, mid_lonlat)));
    }
}

fn vertex_handle(
    ui: &mut Ui,
    ws: &Workstation,
    painter: &egui::Painter,
    t: ScreenTransform,
    v: VertexRef,
    at: Pos2,
    cmds: &mut Commands,
) {
    let id = ui.scope_id().with(("vertex", v.polygon, v.ring, v.index));
    let r = ui.interact(egui::Rect::from_center_size(at, egui::vec2(14.0, 14.0)), id, egui::Sense::click_and_drag());
    let mut shown = at;
    let pointer = ui.input(|i| i.pointer.interact_pos());
    if r.dragged() || r.drag_stopped() {
        if let Some(p) = pointer {
            let (m, snapped) = placed(ui, ws, t, p);
            shown = t.to_screen(m);
            if snapped.is_some() {
                painter.circle_stroke(shown, 8.0, Stroke::new(2.0, theme::SNAP_MARK));
            }
            painter.line_segment([at, shown], Stroke::new(1.0, theme::SKETCH_STROKE));
            if r.drag_stopped() {
                cmds.push(Command::EditVertex(VertexEdit::Move(v, lonlat_of_merc01(m))));
            }
        }
    }
    if r.secondary_clicked() {
        cmds.push(Command::EditVertex(VertexEdit::Delete(v)));
    }
    let fill = if r.hovered() || r.dragged() { theme::SKETCH_STROKE } else { Color32::WHITE };
    painter.rect(
        egui::Rect::from_center_size(shown, egui::vec2(9.0, 9.0)),
        1.0,
        fill,
        Stroke::new(1.5, Color32::BLACK),
        egui::StrokeKind::Middle,
    );
}

/// A refused geometry: the reason across the top of the map, in red.
pub fn paint_geometry_error(painter: &egui::Painter, ws: &Workstation, clip: egui::Rect) {
    let Some(text) = ws.geometry_error.as_ref() else { return };
    let galley = painter.layout(text.clone(), egui::FontId::proportional(15.0), Color32::WHITE, clip.width() - 60.0);
    let pos = egui::pos2(clip.center().x - galley.size().x / 2.0, clip.top() + 44.0);
    painter.rect_filled(egui::Rect::from_min_size(pos, galley.size()).expand(8.0), 5.0, theme::ERROR_TEXT);
    painter.galley(pos, galley, Color32::WHITE);
}

/// The tools in the bar above the map: buttons to start each, or, while one is in use, what to
/// do next with Finish and Done.
pub fn toolbar_ui(ui: &mut Ui, ws: &Workstation, lang: Lang, cmds: &mut Commands) {
    let Some(tool) = ws.tool.as_ref() else {
        let buttons = [
            (ToolKind::SplitLine, "tool_split", "S", "tool_split_help"),
            (ToolKind::SplitPolygon, "tool_split_polygon", "Shift+S", "tool_split_help"),
            (ToolKind::Reshape, "tool_reshape", "E", "tool_reshape_help"),
            (ToolKind::Redraw, "tool_redraw", "Shift+E", "tool_reshape_help"),
            (ToolKind::Measure, "tool_measure", "M", "tool_active_measure"),
        ];
        for (kind, label, key, help) in buttons {
            if ui.button(tr(lang, label)).on_hover_text(format!("{key}: {}", tr(lang, help))).clicked() {
                cmds.push(Command::StartTool(kind));
            }
        }
        let is_sub = ws.current.and_then(|i| ws.records.get(i)).is_some_and(|r| r.parent_fid.is_some());
        if is_sub && ui.button(tr(lang, "tool_merge")).clicked() {
            cmds.push(Command::MergeSubpatches);
        }
        return;
    };
    let what = match tool.kind {
        ToolKind::SplitLine => "tool_active_split",
        ToolKind::SplitPolygon => "tool_active_split_polygon",
        ToolKind::Redraw => "tool_active_redraw",
        ToolKind::Reshape => "tool_active_reshape",
        ToolKind::Measure => "tool_active_measure",
    };
    ui.colored_label(theme::SKETCH_STROKE, format!("{} ({})", tr(lang, what), tool.vertices.len()));
    if tool.kind.sketches() && !tool.finished && ui.button(tr(lang, "tool_finish")).clicked() {
        cmds.push(Command::FinishTool);
    }
    if !tool.vertices.is_empty() && ui.button(tr(lang, "undo_vertex")).clicked() {
        cmds.push(Command::ToolUndoVertex);
    }
    if ui.button(tr(lang, "tool_cancel")).clicked() {
        cmds.push(Command::CancelTool);
    }
}

/// Under the patch's area in the form: the verified extent, the patch a 细斑 came from, the 细斑
/// rules, and the reuse key with its choice of fields.
pub fn extent_info_ui(ui: &mut Ui, ws: &Workstation, lang: Lang, cmds: &mut Commands) {
    if let Some(label) = ws.current_fid().and_then(|fid| ws.checked_out.get(&fid)) {
        ui.label(egui::RichText::new(format!("{} {label}", tr(lang, "checked_out_to"))).color(theme::WARNING_TEXT));
    }
    if let Some(o) = ws.outline.as_ref() {
        if o.redrawn {
            ui.label(format!(
                "{}: {:.2} m² · {:.3} 亩 · {:.4} ha",
                tr(lang, "verified_extent"),
                o.extent_m2,
                m2_to_mu(o.extent_m2),
                m2_to_ha(o.extent_m2)
            ));
        }
        if let Some(parent) = &o.parent_key {
            ui.horizontal(|ui| {
                ui.label(format!("{} {parent}", tr(lang, "subpatch_of")));
                if ui.small_button(tr(lang, "tool_merge")).clicked() {
                    cmds.push(Command::MergeSubpatches);
                }
            });
        }
        for p in &o.subpatch_problems {
            ui.label(egui::RichText::new(p).color(theme::WARNING_TEXT).small());
        }
    }
    ui.horizontal(|ui| {
        if ui.button(tr(lang, "tool_reuse")).on_hover_text("R").clicked() {
            cmds.push(Command::ReuseLast);
        }
        ui.menu_button(tr(lang, "tool_reuse_fields"), |ui| {
            let mut chosen = ws.project.reuse_fields().unwrap_or_default();
            let mut changed = false;
            for f in ws.project.template().fields().iter().filter(|f| !f.is_read_only()) {
                let mut on = chosen.contains(&f.name);
                let label = if lang == Lang::En && !f.label_en.is_empty() { &f.label_en } else { &f.label };
                if ui.checkbox(&mut on, format!("{label} {}", f.name)).changed() {
                    changed = true;
                    if on {
                        chosen.push(f.name.clone());
                    } else {
                        chosen.retain(|n| n != &f.name);
                    }
                }
            }
            if changed {
                cmds.push(Command::SetReuseFields(chosen));
            }
        });
    });
}
