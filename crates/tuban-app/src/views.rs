//! The map area: the toolbar above it (view mode, clue drawing, source switcher, time slider) and
//! one or two maps by view mode, with the state the map widgets borrow each frame.

use super::commands::{Command, Commands};
use super::i18n::{tr, Lang};
use super::map;
use super::state::{Period, ViewMode, Workstation};
use super::theme;
use super::tiles::ImageryTiles;

/// What the maps keep between frames (owned by the app, borrowed by the widgets).
pub struct MapState {
    /// Zoom and centre, shared by both maps of the side-by-side view.
    pub memory: walkers::MapMemory,
    /// Imagery tiles of the open project (none without imagery or while a job holds the project).
    pub tiles: Option<ImageryTiles>,
    /// Position of the swipe divider, a share of the map's width.
    pub swipe: f32,
    /// The selection serial whose neighbours' tiles were last prefetched.
    pub prefetched: u64,
    /// The size of one map in points (for prefetching at the fitted zoom).
    pub size: egui::Vec2,
    /// Projects the cursor into the Gauss-Krüger zone for the status bar.
    pub gk: tuban_core::gk::GkProjector,
    /// The catalogue serial the tiles were opened for (a relink reopens them).
    pub imagery_serial: u64,
    /// The new location typed in the missing-imagery banner.
    pub relink_text: String,
    /// The reference layer being typed into the legend's add form.
    pub ref_draft: crate::reference::LayerDraft,
}

impl Default for MapState {
    fn default() -> Self {
        MapState {
            memory: walkers::MapMemory::default(),
            tiles: None,
            swipe: 0.5,
            prefetched: u64::MAX,
            size: egui::vec2(1000.0, 800.0),
            gk: Default::default(),
            imagery_serial: 0,
            relink_text: String::new(),
            ref_draft: Default::default(),
        }
    }
}

impl MapState {
    /// Creates the tiles of the open project's imagery when there are none yet; polls them and
    /// prefetches the imagery of the next patches in the queue, both periods.
    pub fn update(&mut self, ctx: &egui::Context, ws: &mut Workstation, view: ViewMode) {
        if self.imagery_serial != ws.imagery_serial {
            self.imagery_serial = ws.imagery_serial;
            self.tiles = None;
        }
        if self.tiles.is_none() {
            let sources: Vec<tuban_core::imagery::SourceSpec> = ws.imagery.iter().map(|s| s.spec.clone()).collect();
            if !sources.is_empty() {
                self.tiles = Some(ImageryTiles::new(ctx, sources));
            }
        }
        let Some(t) = &mut self.tiles else { return };
        t.poll();
        t.source = ws.single_source().unwrap_or(0);
        let description = ws.imagery_description(view);
        ws.project.set_imagery_context(description);
        if self.prefetched == ws.selection_serial {
            return;
        }
        self.prefetched = ws.selection_serial;
        let Some(pos) = ws.queue_position() else { return };
        for &next in ws.queue.iter().skip(pos + 1).take(2) {
            let Some(record) = ws.records.get(next) else { continue };
            for period in [Period::Before, Period::After] {
                if let Some(source) = ws.project.imagery_for(record, &ws.imagery, period) {
                    map::prefetch(t, source, ws.shapes[next].bbox, self.size);
                }
            }
        }
    }
}

/// The caption of a map: period and source.
fn caption(ws: &Workstation, lang: Lang, period: Period, index: Option<usize>) -> String {
    let name = match period {
        Period::Before => tr(lang, "before"),
        Period::After => tr(lang, "after"),
    };
    if ws.imagery.is_empty() {
        tr(lang, "no_imagery").to_string()
    } else {
        format!("{name}  {}", ws.source_caption(index))
    }
}

/// The toolbar and the maps of the view mode.
pub fn map_area_ui(
    ui: &mut egui::Ui,
    ws: &mut Workstation,
    state: &mut MapState,
    view: &mut ViewMode,
    lang: Lang,
    cmds: &mut Commands,
) {
    missing_imagery_ui(ui, ws, &mut state.relink_text, lang, cmds);
    view_toolbar_ui(ui, ws, view, lang, cmds);
    state.size = ui.available_size();
    let before = ws.imagery_for(Period::Before);
    let after = ws.imagery_for(Period::After);
    let ws = &*ws;
    match *view {
        ViewMode::Single => {
            let source = ws.single_source();
            let period = match ws.source_override {
                Some(_) if source == before => Period::Before,
                Some(_) => Period::After,
                None => ws.period,
            };
            let text = caption(ws, lang, period, source);
            one_map_ui(ui, ws, state, map::MapSources::Single(source), text, lang, cmds);
        }
        ViewMode::SideBySide => {
            state.size = egui::vec2(state.size.x / 2.0, state.size.y);
            ui.columns(2, |cols| {
                let text = caption(ws, lang, Period::Before, before);
                one_map_ui(&mut cols[0], ws, state, map::MapSources::Single(before), text, lang, cmds);
                let text = caption(ws, lang, Period::After, after);
                one_map_ui(&mut cols[1], ws, state, map::MapSources::Single(after), text, lang, cmds);
            });
        }
        ViewMode::Swipe => {
            let text = format!(
                "{}  |  {}",
                caption(ws, lang, Period::Before, before),
                caption(ws, lang, Period::After, after)
            );
            let sources = map::MapSources::Swipe { left: before, right: after, frac: state.swipe };
            one_map_ui(ui, ws, state, sources, text, lang, cmds);
        }
    }
}

/// The banner above the map while imagery files are missing: it names them; Locate… opens a file
/// dialog for the first one, and a typed path does the same where rfd has no portal. Either
/// relinks every source whose files lay in that file's old folder.
fn missing_imagery_ui(ui: &mut egui::Ui, ws: &Workstation, typed: &mut String, lang: Lang, cmds: &mut Commands) {
    let missing: Vec<&std::path::Path> = ws.imagery.iter().flat_map(|s| s.missing()).collect();
    let Some(first) = missing.first().copied() else { return };
    let sources = ws.imagery.iter().filter(|s| !s.missing().is_empty()).count();
    let names = missing.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join("、");
    let fill = ui.visuals().widgets.inactive.bg_fill;
    egui::Frame::group(ui.style()).fill(fill).stroke(egui::Stroke::new(1.5, theme::WARNING_TEXT)).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.add(
            egui::Label::new(
                egui::RichText::new(format!("{sources}{}{names}", tr(lang, "imagery_missing")))
                    .color(theme::WARNING_TEXT),
            )
            .wrap(),
        );
        ui.horizontal(|ui| {
            if ui.button(tr(lang, "locate")).clicked() {
                let name = first.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                if let Some(found) = rfd::FileDialog::new().set_file_name(name).pick_file() {
                    cmds.push(relink_command(first, &found));
                }
            }
            let label = ui.label(tr(lang, "relink_path")).id;
            ui.add(egui::TextEdit::singleline(typed).desired_width(320.0)).labelled_by(label);
            if ui.button(tr(lang, "relink")).clicked() && !typed.trim().is_empty() {
                cmds.push(relink_command(first, std::path::Path::new(typed.trim())));
            }
        });
    });
}

/// The relink that moves the folder of `missing` to where `found` is (a file, or its folder).
pub fn relink_command(missing: &std::path::Path, found: &std::path::Path) -> Command {
    let folder = |p: &std::path::Path| p.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    let new_dir = if found.is_dir() { found.to_path_buf() } else { folder(found) };
    Command::RelinkImagery { old_dir: folder(missing), new_dir }
}

fn one_map_ui(
    ui: &mut egui::Ui,
    ws: &Workstation,
    state: &mut MapState,
    sources: map::MapSources,
    caption: String,
    lang: Lang,
    cmds: &mut Commands,
) {
    map::map_ui(ui, ws, state.tiles.as_mut(), &mut state.memory, sources, caption, &mut state.swipe, lang, cmds);
}

/// The bar above the map: view mode, source switcher and, with more than two dates, a time slider.
fn view_toolbar_ui(ui: &mut egui::Ui, ws: &mut Workstation, view: &mut ViewMode, lang: Lang, cmds: &mut Commands) {
    egui::Frame::NONE.inner_margin(egui::Margin::symmetric(8, 4)).show(ui, |ui| {
        ui.horizontal_wrapped(|ui| {
            for (mode, key) in [
                (ViewMode::Single, "view_single"),
                (ViewMode::SideBySide, "view_side"),
                (ViewMode::Swipe, "view_swipe"),
            ] {
                ui.selectable_value(view, mode, tr(lang, key));
            }
            ui.separator();
            match &ws.drawing {
                None => {
                    if ui.button(tr(lang, "draw_point_clue")).on_hover_text(tr(lang, "draw_clue_help")).clicked() {
                        cmds.push(Command::StartClue { polygon: false });
                    }
                    if ui.button(tr(lang, "draw_polygon_clue")).on_hover_text(tr(lang, "draw_clue_help")).clicked() {
                        cmds.push(Command::StartClue { polygon: true });
                    }
                }
                Some(d) if !d.finished => {
                    ui.colored_label(
                        theme::WARNING_TEXT,
                        format!(
                            "{} ({})",
                            tr(lang, if d.polygon { "drawing_polygon" } else { "drawing_point" }),
                            d.vertices.len()
                        ),
                    );
                    if d.polygon && ui.button(tr(lang, "finish_clue")).clicked() {
                        cmds.push(Command::FinishClue);
                    }
                    if d.polygon && !d.vertices.is_empty() && ui.button(tr(lang, "undo_vertex")).clicked() {
                        cmds.push(Command::ClueUndoVertex);
                    }
                    if ui.button(tr(lang, "cancel_clue")).clicked() {
                        cmds.push(Command::CancelClue);
                    }
                }
                Some(_) => {}
            }
            ui.separator();
            if ws.drawing.is_none() {
                super::edit_map::toolbar_ui(ui, ws, lang, cmds);
                ui.separator();
            }
            if *view == ViewMode::Single && !ws.imagery.is_empty() {
                let label = ui.label(tr(lang, "imagery")).id;
                let shown = match ws.source_override {
                    None => tr(lang, "auto").to_string(),
                    Some(i) => ws.source_caption(Some(i)),
                };
                let r =
                    egui::ComboBox::from_id_salt("source_switch").selected_text(shown).width(220.0).show_ui(ui, |ui| {
                        ui.selectable_value(&mut ws.source_override, None, tr(lang, "auto"));
                        for i in 0..ws.imagery.len() {
                            let caption = ws.source_caption(Some(i));
                            ui.selectable_value(&mut ws.source_override, Some(i), caption);
                        }
                    });
                r.response.labelled_by(label);
                if ws.imagery.len() > 2 {
                    let mut i = ws.single_source().unwrap_or(0);
                    let label = ui.label(tr(lang, "time")).id;
                    let date = ws.imagery.get(i).and_then(|s| s.acquired).map(|d| d.to_string()).unwrap_or_default();
                    if ui
                        .add(egui::Slider::new(&mut i, 0..=ws.imagery.len() - 1).show_value(false).text(date))
                        .labelled_by(label)
                        .changed()
                    {
                        ws.source_override = Some(i);
                    }
                }
            }
        });
    });
}
