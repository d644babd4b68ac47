//! The menu bar (file, work, view, language, help) and the status bar under the workstation.
//! Menu items send commands; file pickers run here because rfd returns at once.

use egui::RichText;

use super::commands::{AppCommand, Commands, Dialog};
use super::i18n::{tr, Lang};
use super::theme;
use super::{map, TubanApp};
use tuban_core::store::Access;

/// Extensions of patch files the import reads.
pub const PATCH_EXTENSIONS: [&str; 7] = ["shp", "zip", "gpkg", "geojson", "json", "kml", "csv"];

impl TubanApp {
    /// The menu bar.
    pub(crate) fn menu_ui(&mut self, ctx: &egui::Context, ui: &mut egui::Ui) {
        let lang = self.lang();
        let open = self.ws.is_some();
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button(tr(lang, "menu_file"), |ui| file_menu_ui(ctx, ui, open, lang, &mut self.cmds));
            if open {
                ui.menu_button(tr(lang, "menu_work"), |ui| work_menu_ui(ui, lang, &mut self.cmds));
            }
            ui.menu_button(tr(lang, "menu_view"), |ui| {
                ui.checkbox(&mut self.prefs.offline, tr(lang, "offline"));
            });
            ui.menu_button(tr(lang, "menu_language"), |ui| {
                ui.radio_value(&mut self.prefs.lang, Lang::Zh, tr(lang, "language_zh"));
                ui.radio_value(&mut self.prefs.lang, Lang::En, tr(lang, "language_en"));
            });
            ui.menu_button(tr(lang, "menu_help"), |ui| {
                if ui.button(tr(lang, "keys_help")).clicked() {
                    self.cmds.push(AppCommand::Show(Dialog::Help));
                }
            });
        });
    }

    /// The status bar: file, position, reviewed count, saved time or read-only, messages, cursor.
    pub(crate) fn status_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang();
        let cursor = map::cursor_text(ui.ctx(), &mut self.map.gk);
        let Some(ws) = &self.ws else { return };
        ui.horizontal(|ui| {
            ui.label(ws.project.path().file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default());
            ui.separator();
            match ws.queue_position() {
                Some(p) => {
                    ui.label(format!("{} {} {} {}", tr(lang, "position"), p + 1, tr(lang, "of"), ws.queue.len()))
                }
                None => ui.label("—"),
            };
            ui.separator();
            ui.label(format!("{} {} / {}", tr(lang, "reviewed"), ws.reviewed_count(), ws.live_count()));
            ui.separator();
            if ws.project.access() == Access::ReadOnly {
                ui.label(RichText::new(tr(lang, "read_only_badge")).color(theme::ERROR_TEXT).strong());
            } else {
                match &ws.last_saved {
                    Some(t) => ui.label(format!("{} {t}", tr(lang, "saved_at"))),
                    None => ui.label(tr(lang, "not_saved_yet")),
                };
            }
            if let Some(h) = &ws.hub {
                ui.separator();
                crate::hub::status_ui(ui, h, lang);
            }
            if let Some(t) = &self.map.tiles {
                if let Some(e) = t.errors.get(&t.source) {
                    ui.separator();
                    ui.label(RichText::new(format!("{}: {e}", tr(lang, "imagery_error"))).color(theme::ERROR_TEXT));
                }
            }
            if let Some(m) = &ws.message {
                ui.separator();
                let color = if m.is_error { theme::ERROR_TEXT } else { ui.visuals().text_color() };
                ui.label(RichText::new(&m.text).color(color));
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if let Some(c) = cursor {
                    ui.monospace(c);
                }
            });
        });
    }
}

fn file_menu_ui(ctx: &egui::Context, ui: &mut egui::Ui, project_open: bool, lang: Lang, cmds: &mut Commands) {
    if ui.button(tr(lang, "open_project")).clicked() {
        if let Some(p) = rfd::FileDialog::new().add_filter("GeoPackage", &["gpkg"]).pick_file() {
            cmds.push(AppCommand::OpenProject(p));
        }
    }
    if project_open && ui.button(tr(lang, "import_batch")).clicked() {
        if let Some(p) = rfd::FileDialog::new().add_filter("patches", &PATCH_EXTENSIONS).pick_file() {
            cmds.push(AppCommand::ImportBatch(p));
        }
    }
    if project_open && ui.button(tr(lang, "merge_package")).clicked() {
        if let Some(p) = rfd::FileDialog::new().add_filter("GeoPackage", &["gpkg"]).pick_file() {
            cmds.push(AppCommand::MergePackage(p));
        }
    }
    if project_open && ui.button(tr(lang, "ref_add_menu")).clicked() {
        cmds.push(AppCommand::ShowAddReference);
    }
    if project_open && ui.button(tr(lang, "close_project")).clicked() {
        cmds.push(AppCommand::CloseProject);
    }
    if ui.button(tr(lang, "quit")).clicked() {
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }
}

fn work_menu_ui(ui: &mut egui::Ui, lang: Lang, cmds: &mut Commands) {
    for (key, dialog) in
        [("ledger", Dialog::Ledger), ("spot_check", Dialog::SpotCheck), ("deliverables", Dialog::Deliverables)]
    {
        if ui.button(tr(lang, key)).clicked() {
            cmds.push(AppCommand::Show(dialog));
        }
    }
    ui.separator();
    if ui.button(tr(lang, "seal")).clicked() {
        cmds.push(AppCommand::Show(Dialog::Seal));
    }
    if ui.button(tr(lang, "unseal")).clicked() {
        cmds.push(AppCommand::Show(Dialog::Unseal));
    }
    if ui.button(tr(lang, "verify")).clicked() {
        cmds.push(AppCommand::Verify);
    }
}
