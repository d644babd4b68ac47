//! Reference layers in the window: their outlines on the map in their kind's colour (labels at
//! close zoom), the legend with a switch per layer (L: all), a feature's attributes on click,
//! the current patch's overlay in the form with its hints and the values it fills or suggests,
//! and the queue's overlay filter. Everything is read from the store (the overlay was computed
//! by a job); the map reads the features in view from the R-tree when the view moves.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use egui::{Color32, RichText, Shape, Stroke, Ui};

use super::commands::{AppCommand, Command, Commands};
use super::i18n::{tr, Lang};
use super::map::ScreenTransform;
use super::state::{lonlat_of_merc01, PatchShape, Workstation};
use tuban_core::ops::reference::PatchOverlay;
use tuban_core::store::{Project, ReferenceLayer, StoredFeature};
use tuban_model::reference::{OverlayFilter, OverlayRow, ReferenceKind};
use tuban_model::reference_rules::FillMode;

/// Above this many features in view the map asks to zoom in instead of drawing them.
const MAX_DRAWN: usize = 6000;
/// Labels of a layer's label field from this zoom level on.
const LABEL_ZOOM: f64 = 16.0;

/// Features of the visible layers in the last view: (kind, shape, label).
#[derive(Default)]
struct DrawCache {
    key: Option<([i64; 4], u64)>,
    shapes: Vec<(ReferenceKind, PatchShape, Option<String>)>,
    too_many: bool,
}

/// What the window knows of the reference layers.
#[derive(Default)]
pub struct ReferenceView {
    /// The layers of the project.
    pub layers: Vec<ReferenceLayer>,
    /// Layers switched off.
    pub hidden: HashSet<i64>,
    /// Every layer switched off (L).
    pub all_off: bool,
    /// The stored overlay of every patch (for the queue filter).
    pub overlays: HashMap<i64, Vec<OverlayRow>>,
    /// The current patch's overlay, hints and values.
    pub current: Option<(i64, PatchOverlay)>,
    /// The feature clicked on the map, with its layer's title.
    pub picked: Option<(String, StoredFeature)>,
    /// Bumped when layers or switches change (the map reloads its features).
    serial: u64,
    cache: RefCell<DrawCache>,
}

impl ReferenceView {
    /// Reads the layers and the stored overlays.
    pub fn load(project: &Project) -> ReferenceView {
        ReferenceView {
            layers: project.references().unwrap_or_default(),
            overlays: project.overlays().unwrap_or_default(),
            ..Default::default()
        }
    }

    /// Reads the current patch's overlay (a few rows from the store: well under 20 ms).
    pub fn select(&mut self, project: &Project, fid: Option<i64>) {
        self.current = fid.and_then(|f| tuban_core::ops::reference::of_patch(project, f).ok().map(|o| (f, o)));
    }

    /// The visible layers.
    fn visible(&self) -> Vec<i64> {
        if self.all_off {
            return Vec::new();
        }
        self.layers.iter().map(|l| l.id).filter(|id| !self.hidden.contains(id)).collect()
    }

    /// Switches one layer, or all of them (`None`).
    pub fn toggle(&mut self, layer: Option<i64>) {
        match layer {
            None => self.all_off = !self.all_off,
            Some(id) => {
                if !self.hidden.remove(&id) {
                    self.hidden.insert(id);
                }
            }
        }
        self.serial += 1;
    }

    /// The feature of a visible layer under a lon/lat point (the topmost: last added).
    pub fn pick(&mut self, project: &Project, lon: f64, lat: f64) {
        use geo::Contains;
        let layers = self.visible();
        self.picked = None;
        if layers.is_empty() {
            return;
        }
        let pt = geo::Point::new(lon, lat);
        let hits = project.reference_features_in(&layers, [lon, lat, lon, lat]).unwrap_or_default();
        if let Some(f) = hits.into_iter().rev().find(|f| f.feature.geom.contains(&pt)) {
            let title =
                self.layers.iter().find(|l| l.id == f.layer_id).map(|l| l.title().to_string()).unwrap_or_default();
            self.picked = Some((title, f));
        }
    }

    /// Whether a patch passes the queue's overlay filter.
    pub fn passes(&self, filter: &OverlayFilter, fid: i64) -> bool {
        filter.is_empty() || filter.matches(self.overlays.get(&fid).map_or(&[][..], Vec::as_slice))
    }

    /// The layer a value of `field` of the current patch was filled from, while it still holds.
    pub fn filled_from(&self, field: &str, value: &tuban_model::Value) -> Option<&str> {
        let (_, ov) = self.current.as_ref()?;
        let mark = ov.fills.iter().find(|m| m.field == field && m.value == value.to_string())?;
        self.layers.iter().find(|l| l.id == mark.layer_id).map(ReferenceLayer::title)
    }

    /// Reloads the features in view when the view or the switches changed.
    fn features_in_view(&self, project: &Project, bbox_lonlat: [f64; 4]) -> std::cell::Ref<'_, DrawCache> {
        let key = (bbox_lonlat.map(|v| (v * 2000.0).round() as i64), self.serial);
        if self.cache.borrow().key != Some(key) {
            let layers = self.visible();
            let mut cache = DrawCache { key: Some(key), ..Default::default() };
            if !layers.is_empty() {
                // Counted from the index first: a zoomed-out view of a county's survey is not
                // read feature by feature only to be left undrawn.
                cache.too_many = project.reference_count_in(&layers, bbox_lonlat).unwrap_or(0) > MAX_DRAWN;
                if !cache.too_many {
                    let found = project.reference_features_in(&layers, bbox_lonlat).unwrap_or_default();
                    let kind =
                        |id: i64| self.layers.iter().find(|l| l.id == id).map_or(ReferenceKind::Other, |l| l.kind);
                    cache.shapes = found
                        .iter()
                        .map(|f| (kind(f.layer_id), PatchShape::new(&f.feature.geom), f.feature.label.clone()))
                        .collect();
                }
            }
            *self.cache.borrow_mut() = cache;
        }
        self.cache.borrow()
    }
}

/// Where the attributes window opens: over the map, right of the queue.
fn theme_x() -> f32 {
    super::theme::QUEUE_WIDTH + 40.0
}

fn color(kind: ReferenceKind) -> Color32 {
    let [r, g, b] = kind.rgb();
    Color32::from_rgb(r, g, b)
}

/// Draws the outlines of the visible layers' features in view (under the patches).
pub fn paint(painter: &egui::Painter, ws: &Workstation, t: ScreenTransform, clip: egui::Rect, zoom: f64, lang: Lang) {
    let view = &ws.reference;
    if view.layers.is_empty() || view.all_off {
        return;
    }
    let (lon0, lat1) = lonlat_of_merc01(t.to_merc(clip.min));
    let (lon1, lat0) = lonlat_of_merc01(t.to_merc(clip.max));
    let cache = view.features_in_view(&ws.project, [lon0, lat0, lon1, lat1]);
    if cache.too_many {
        let text = tr(lang, "ref_zoom_in");
        painter.text(
            clip.center_top() + egui::vec2(0.0, 40.0),
            egui::Align2::CENTER_TOP,
            text,
            egui::FontId::proportional(13.0),
            Color32::WHITE,
        );
        return;
    }
    for (kind, shape, label) in &cache.shapes {
        let stroke = Stroke::new(1.6, color(*kind));
        for ring in &shape.rings {
            let pts: Vec<egui::Pos2> =
                shape.verts[ring.start as usize..ring.end as usize].iter().map(|v| t.to_screen(*v)).collect();
            painter.add(Shape::closed_line(pts, stroke));
        }
        if let (Some(text), true) = (label, zoom >= LABEL_ZOOM) {
            let b = shape.bbox;
            let at = t.to_screen([(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0]);
            painter.text(at, egui::Align2::CENTER_CENTER, text, egui::FontId::proportional(11.0), color(*kind));
        }
    }
}

/// The legend over the map: one switch per layer in its colour, the add and recompute buttons.
pub fn legend_ui(ui: &mut Ui, ws: &Workstation, lang: Lang, draft: &mut LayerDraft, cmds: &mut Commands) {
    ui.label(RichText::new(tr(lang, "ref_layers")).strong()).on_hover_text(tr(lang, "ref_toggle_key"));
    for l in &ws.reference.layers {
        let mut on = !ws.reference.hidden.contains(&l.id) && !ws.reference.all_off;
        let kind = if lang == Lang::En { l.kind.label_en() } else { l.kind.label() };
        let text = RichText::new(format!("■ {} ({kind}, {})", l.title(), l.features)).color(color(l.kind));
        ui.horizontal(|ui| {
            if ui.checkbox(&mut on, text).changed() {
                cmds.push(Command::ToggleReference(Some(l.id)));
            }
            // Two clicks: the overlay and fill marks go with the layer (filled values stay).
            if draft.confirm_remove == Some(l.id) {
                if ui.small_button(tr(lang, "ref_remove_confirm")).clicked() {
                    cmds.push(Command::RemoveReference(l.name.clone()));
                    draft.confirm_remove = None;
                }
                if ui.small_button(tr(lang, "cancel")).clicked() {
                    draft.confirm_remove = None;
                }
            } else if ui.small_button(tr(lang, "ref_remove")).on_hover_text(tr(lang, "ref_remove_hint")).clicked() {
                draft.confirm_remove = Some(l.id);
            }
        });
    }
    ui.collapsing(tr(lang, "ref_add"), |ui| {
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut draft.path).hint_text(tr(lang, "path")).desired_width(180.0));
            if ui.button(tr(lang, "browse")).clicked() {
                if let Some(p) = rfd::FileDialog::new().pick_file() {
                    draft.path = p.display().to_string();
                }
            }
        });
        ui.horizontal(|ui| {
            let label = ui.label(tr(lang, "ref_kind")).id;
            let r = egui::ComboBox::from_id_salt("ref_kind").selected_text(kind_label(draft.kind, lang)).show_ui(
                ui,
                |ui| {
                    for k in tuban_model::reference::REFERENCE_KINDS {
                        ui.selectable_value(&mut draft.kind, k, kind_label(k, lang));
                    }
                },
            );
            r.response.labelled_by(label);
        });
        ui.add(egui::TextEdit::singleline(&mut draft.fields).hint_text(tr(lang, "ref_fields")));
        if ui.add_enabled(!draft.path.trim().is_empty(), egui::Button::new(tr(lang, "ref_add_button"))).clicked() {
            let fields =
                draft.fields.split([',', '，']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
            cmds.push(AppCommand::AddReference { path: draft.path.trim().into(), kind: draft.kind, fields });
        }
    });
    if !ws.reference.layers.is_empty() && ui.button(tr(lang, "ref_recompute")).clicked() {
        cmds.push(AppCommand::RefreshOverlay);
    }
}

fn kind_label(k: ReferenceKind, lang: Lang) -> &'static str {
    if lang == Lang::En {
        k.label_en()
    } else {
        k.label()
    }
}

/// The layer being typed into the legend's add form.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerDraft {
    /// Shown without layers (View menu: add a reference layer).
    pub open: bool,
    /// The file.
    pub path: String,
    /// Its kind.
    pub kind: ReferenceKind,
    /// Class fields, comma-separated.
    pub fields: String,
    /// The layer whose removal waits for a second click.
    pub confirm_remove: Option<i64>,
}

impl Default for LayerDraft {
    fn default() -> Self {
        LayerDraft {
            open: false,
            path: String::new(),
            kind: ReferenceKind::Landuse,
            fields: String::new(),
            confirm_remove: None,
        }
    }
}

/// The attributes of the feature clicked on the map.
pub fn picked_ui(ctx: &egui::Context, ws: &Workstation, lang: Lang, cmds: &mut Commands) {
    let Some((title, f)) = &ws.reference.picked else { return };
    let mut open = true;
    egui::Window::new(format!("{} · {}", tr(lang, "ref_feature"), title))
        .open(&mut open)
        .default_width(280.0)
        .default_pos(egui::pos2(theme_x(), 420.0))
        .show(ctx, |ui| {
            ui.label(RichText::new(&f.feature.class).strong());
            egui::Grid::new("ref_attrs").striped(true).show(ui, |ui| {
                for (k, v) in &f.feature.attrs {
                    ui.label(k);
                    ui.label(v);
                    ui.end_row();
                }
            });
        });
    if !open {
        cmds.push(Command::ClosePickedReference);
    }
}

/// The current patch's overlay: the table, the hints and the values the layers give.
pub fn overlay_ui(ui: &mut Ui, ws: &Workstation, lang: Lang, cmds: &mut Commands) {
    let Some((_, ov)) = &ws.reference.current else { return };
    if ws.reference.layers.is_empty() {
        return;
    }
    ui.separator();
    ui.label(RichText::new(tr(lang, "ref_overlay")).strong());
    if !ov.stale_layers.is_empty() {
        ui.label(
            RichText::new(format!("{}: {}", tr(lang, "ref_stale"), ov.stale_layers.join("、")))
                .color(super::theme::WARNING_TEXT),
        );
    }
    egui::Grid::new("overlay_grid").num_columns(4).striped(true).show(ui, |ui| {
        for r in ov.rows.iter().filter(|r| r.share_pct >= tuban_model::reference::SLIVER_SHARE_PCT) {
            ui.label(RichText::new(&r.layer).color(color(r.kind)));
            ui.label(&r.class);
            ui.label(format!("{:.1} m² · {:.2} 亩", r.area_m2, r.area_mu()));
            ui.label(format!("{:.1} %", r.share_pct));
            ui.end_row();
        }
    });
    if ov.rows.is_empty() {
        ui.label(tr(lang, "ref_none"));
    }
    for h in &ov.hints {
        let c = if h.is_warning() { super::theme::WARNING_TEXT } else { Color32::from_rgb(90, 170, 255) };
        ui.label(RichText::new(format!("{} {}", tr(lang, "ref_hint"), h.text(lang == Lang::En))).color(c));
    }
    for s in ov.suggestions.iter().filter(|s| s.mode == FillMode::Suggest) {
        ui.horizontal(|ui| {
            ui.label(format!(
                "{} {} = {} ({} {:.0} %)",
                tr(lang, "ref_suggests"),
                s.field,
                s.text,
                s.layer,
                s.share_pct
            ));
            if ui.small_button(tr(lang, "ref_apply")).clicked() {
                cmds.push(Command::SetText { field: s.field.clone(), text: s.text.clone() });
            }
        });
    }
}

/// The queue's overlay filter: a few common questions.
pub fn queue_filter_ui(ui: &mut Ui, ws: &mut Workstation, lang: Lang) -> bool {
    if ws.reference.layers.is_empty() {
        return false;
    }
    use ReferenceKind as K;
    let presets: [(&str, OverlayFilter); 5] = [
        ("ref_filter_any", OverlayFilter::default()),
        ("ref_filter_grass_no_approval", OverlayFilter { with: vec![K::BasicGrassland], without: vec![K::Approval] }),
        ("ref_filter_protected", OverlayFilter { with: vec![K::ProtectedArea], without: vec![] }),
        ("ref_filter_red_line", OverlayFilter { with: vec![K::RedLine], without: vec![] }),
        ("ref_filter_approval", OverlayFilter { with: vec![K::Approval], without: vec![] }),
    ];
    let selected = presets.iter().find(|(_, f)| *f == ws.filter.overlay).map_or("ref_filter_any", |(k, _)| k);
    let mut changed = false;
    ui.horizontal(|ui| {
        let label = ui.label(tr(lang, "ref_filter")).id;
        let r = egui::ComboBox::from_id_salt("overlay_filter").selected_text(tr(lang, selected)).show_ui(ui, |ui| {
            for (key, f) in presets {
                changed |= ui.selectable_value(&mut ws.filter.overlay, f, tr(lang, key)).changed();
            }
        });
        r.response.labelled_by(label);
    });
    changed
}
