//! The conflict queue beside the patch queue: changes from a work package that met a change here.
//! Each shows base, ours and theirs side by side (with the imagery each verdict was set on, one
//! click away on the map); taking ours, theirs or a typed value is a command the store applies.

use egui::{RichText, Ui};
use tuban_core::store::{Conflict, StoreError, Take};

use super::commands::{Command, Commands};
use super::i18n::{tr, Lang};
use super::state::Workstation;
use super::theme;

fn shown(v: &Option<String>) -> String {
    let s = v.clone().unwrap_or_else(|| "∅".into());
    if s.chars().count() > 90 {
        format!("{}…", s.chars().take(90).collect::<String>())
    } else {
        s
    }
}

/// The open conflicts (nothing when there are none) and the one chosen.
pub fn conflict_queue_ui(ui: &mut Ui, ws: &mut Workstation, lang: Lang, cmds: &mut Commands) {
    if ws.conflicts.is_empty() {
        return;
    }
    let title = RichText::new(format!("{} ({})", tr(lang, "conflicts"), ws.conflicts.len()))
        .color(theme::WARNING_TEXT)
        .strong();
    egui::CollapsingHeader::new(title).id_salt("conflict_queue").default_open(true).show(ui, |ui| {
        egui::ScrollArea::vertical().id_salt("conflict_list").max_height(120.0).show(ui, |ui| {
            for c in &ws.conflicts {
                let text = format!("{} · {} · {}", c.key, c.field, c.source);
                if ui.selectable_label(ws.shown_conflict == Some(c.id), text).clicked() {
                    cmds.push(Command::ShowConflict(c.id));
                }
            }
        });
        let chosen = ws.shown_conflict.and_then(|id| ws.conflicts.iter().find(|c| c.id == id)).cloned();
        if let Some(c) = chosen {
            conflict_ui(ui, ws, &c, lang, cmds);
        }
    });
    ui.separator();
}

fn conflict_ui(ui: &mut Ui, ws: &mut Workstation, c: &Conflict, lang: Lang, cmds: &mut Commands) {
    egui::Grid::new("conflict_grid").num_columns(3).spacing([12.0, 4.0]).show(ui, |ui| {
        ui.label(RichText::new(tr(lang, "conflict_base")).strong());
        ui.label(RichText::new(tr(lang, "conflict_ours")).strong());
        ui.label(RichText::new(format!("{} ({})", tr(lang, "conflict_theirs"), c.source)).strong());
        ui.end_row();
        ui.label(shown(&c.base));
        ui.label(shown(&c.ours));
        ui.label(shown(&c.theirs));
        ui.end_row();
        ui.label("");
        imagery_button_ui(ui, ws, &c.ours_imagery, lang);
        imagery_button_ui(ui, ws, &c.theirs_imagery, lang);
        ui.end_row();
    });
    ui.label(RichText::new(format!("{} {}", c.theirs_by, c.theirs_at)).small().color(theme::READ_ONLY_TEXT));
    ui.horizontal(|ui| {
        if ui.button(tr(lang, "take_ours")).clicked() {
            cmds.push(Command::ResolveConflict { id: c.id, take: Take::Ours });
        }
        if ui.button(tr(lang, "take_theirs")).clicked() {
            cmds.push(Command::ResolveConflict { id: c.id, take: Take::Theirs });
        }
    });
    ui.horizontal(|ui| {
        let id = egui::Id::unique("conflict_value").with(c.id);
        let mut text: String = ui.data(|d| d.get_temp(id)).unwrap_or_default();
        let label = ui.label(tr(lang, "take_value")).id;
        ui.add(egui::TextEdit::singleline(&mut text).desired_width(140.0)).labelled_by(label);
        if ui.button(tr(lang, "take_value_apply")).clicked() && !text.trim().is_empty() {
            cmds.push(Command::ResolveConflict { id: c.id, take: Take::Value(text.trim().to_string()) });
        }
        ui.data_mut(|d| d.insert_temp(id, text));
    });
}

/// Shows on the map the imagery a verdict was set on (the source whose caption the record names).
fn imagery_button_ui(ui: &mut Ui, ws: &mut Workstation, imagery: &Option<String>, lang: Lang) {
    let Some(text) = imagery else {
        ui.label("");
        return;
    };
    let source = (0..ws.imagery.len()).find(|&i| {
        let caption = ws.source_caption(Some(i));
        !caption.is_empty() && text.contains(&caption)
    });
    match source {
        Some(i) => {
            if ui.small_button(tr(lang, "conflict_show_imagery")).on_hover_text(text).clicked() {
                ws.source_override = Some(i);
            }
        }
        None => {
            ui.label(RichText::new(text).small());
        }
    }
}

impl Workstation {
    /// Reads the open conflicts again.
    pub(crate) fn reload_conflicts(&mut self) -> Result<(), StoreError> {
        self.conflicts = self.project.conflicts()?;
        if self.shown_conflict.is_some_and(|id| !self.conflicts.iter().any(|c| c.id == id)) {
            self.shown_conflict = None;
        }
        Ok(())
    }

    pub(crate) fn show_conflict(&mut self, id: i64) -> Result<(), StoreError> {
        self.shown_conflict = Some(id);
        let key = self.conflicts.iter().find(|c| c.id == id).map(|c| c.key.clone());
        if let Some(fid) = key.and_then(|k| self.project.find_patch(&k).ok().flatten()) {
            if let Some(&i) = self.index_of_fid.get(&fid).filter(|i| !self.gone.contains(i)) {
                self.select(i);
            }
        }
        Ok(())
    }

    pub(crate) fn resolve_conflict(&mut self, id: i64, take: &Take, lang: Lang) -> Result<(), StoreError> {
        let Some(c) = self.conflicts.iter().find(|c| c.id == id).cloned() else { return Ok(()) };
        self.project.resolve(&c.key, &c.field, take)?;
        let fid = self.project.find_patch(&c.key)?;
        self.after_structure_change(fid)?;
        self.reload_conflicts()?;
        self.inform(format!("{} {} {}", tr(lang, "resolved"), c.key, c.field));
        Ok(())
    }
}
