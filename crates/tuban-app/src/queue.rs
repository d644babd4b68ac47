//! The queue panel: every patch with id, township, status and verdict; filters, sort, counts.

use egui::{RichText, Ui};

use super::commands::{Command, Commands};
use super::i18n::{tr, Lang};
use super::state::{SortBy, Workstation};
use super::theme;
use tuban_model::ReviewStatus;

fn status_key(s: ReviewStatus) -> &'static str {
    match s {
        ReviewStatus::Unreviewed => "st_unreviewed",
        ReviewStatus::InProgress => "st_in_progress",
        ReviewStatus::Done => "st_done",
        ReviewStatus::Problem => "st_problem",
    }
}

/// Draws the queue panel; `search_focus` asks to focus the search box (the `/` key).
pub fn queue_ui(ui: &mut Ui, ws: &mut Workstation, lang: Lang, search_focus: bool, cmds: &mut Commands) {
    let total = ws.live_count();
    ui.horizontal(|ui| {
        ui.heading(tr(lang, "queue"));
        ui.label(format!("{} {} / {}", tr(lang, "reviewed"), ws.reviewed_count(), total));
    });
    super::conflicts::conflict_queue_ui(ui, ws, lang, cmds);
    let mut changed = false;
    ui.horizontal(|ui| {
        let label = ui.label(tr(lang, "key_search")).id;
        let r = ui
            .add(
                egui::TextEdit::singleline(&mut ws.filter.text)
                    .hint_text(tr(lang, "search"))
                    .desired_width(f32::INFINITY)
                    .id_salt("queue_search"),
            )
            .labelled_by(label);
        if search_focus {
            r.request_focus();
        }
        changed |= r.changed();
    });
    changed |= queue_filters_ui(ui, ws, lang);
    changed |= super::reference::queue_filter_ui(ui, ws, lang);
    changed |= ui.checkbox(&mut ws.filter.only_problems, tr(lang, "only_problems")).changed();
    if changed {
        cmds.push(Command::Refilter);
    }
    ui.separator();
    queue_table_ui(ui, ws, lang, cmds);
}

/// Status, township, verdict and sort; true when one changed.
fn queue_filters_ui(ui: &mut Ui, ws: &mut Workstation, lang: Lang) -> bool {
    let mut changed = false;
    let towns = ws.townships.clone();
    let verdict_field = ws.project.template().roles().verdict.clone();
    let codes: Vec<String> = ws
        .project
        .template()
        .field(&verdict_field)
        .map(|f| f.codes().iter().map(|c| c.code.clone()).collect())
        .unwrap_or_default();
    let sort_label = |s: SortBy| match s {
        SortBy::Id => tr(lang, "sort_id"),
        SortBy::Township => tr(lang, "sort_township"),
        SortBy::Status => tr(lang, "sort_status"),
        SortBy::Area => tr(lang, "sort_area"),
    };
    egui::Grid::new("queue_filters").num_columns(4).spacing([6.0, 4.0]).show(ui, |ui| {
        let label = ui.label(tr(lang, "status")).id;
        let shown = ws.filter.status.map_or(tr(lang, "all"), |s| tr(lang, status_key(s)));
        let r = egui::ComboBox::from_id_salt("filter_status").selected_text(shown).width(90.0).show_ui(ui, |ui| {
            changed |= ui.selectable_value(&mut ws.filter.status, None, tr(lang, "all")).changed();
            for s in ReviewStatus::ALL {
                changed |= ui.selectable_value(&mut ws.filter.status, Some(s), tr(lang, status_key(s))).changed();
            }
        });
        r.response.labelled_by(label);
        let label = ui.label(tr(lang, "township")).id;
        let shown = ws.filter.township.clone().unwrap_or_else(|| tr(lang, "all").into());
        let r = egui::ComboBox::from_id_salt("filter_town").selected_text(shown).width(110.0).show_ui(ui, |ui| {
            changed |= ui.selectable_value(&mut ws.filter.township, None, tr(lang, "all")).changed();
            for t in &towns {
                let label = if t.is_empty() { tr(lang, "not_set").to_string() } else { t.clone() };
                changed |= ui.selectable_value(&mut ws.filter.township, Some(t.clone()), label).changed();
            }
        });
        r.response.labelled_by(label);
        ui.end_row();
        let label = ui.label(tr(lang, "verdict")).id;
        let shown = match &ws.filter.verdict {
            None => tr(lang, "all").to_string(),
            Some(v) if v.is_empty() => tr(lang, "not_set").to_string(),
            Some(v) => v.clone(),
        };
        let r = egui::ComboBox::from_id_salt("filter_verdict").selected_text(shown).width(90.0).show_ui(ui, |ui| {
            changed |= ui.selectable_value(&mut ws.filter.verdict, None, tr(lang, "all")).changed();
            changed |= ui.selectable_value(&mut ws.filter.verdict, Some(String::new()), tr(lang, "not_set")).changed();
            for c in &codes {
                changed |= ui.selectable_value(&mut ws.filter.verdict, Some(c.clone()), c.as_str()).changed();
            }
        });
        r.response.labelled_by(label);
        let label = ui.label(tr(lang, "sort")).id;
        let r = egui::ComboBox::from_id_salt("sort").selected_text(sort_label(ws.filter.sort)).width(110.0).show_ui(
            ui,
            |ui| {
                for s in [SortBy::Id, SortBy::Township, SortBy::Status, SortBy::Area] {
                    changed |= ui.selectable_value(&mut ws.filter.sort, s, sort_label(s)).changed();
                }
            },
        );
        r.response.labelled_by(label);
        ui.end_row();
    });
    changed
}

/// The queue as a table of rows; a click selects the patch.
fn queue_table_ui(ui: &mut Ui, ws: &Workstation, lang: Lang, cmds: &mut Commands) {
    let row_h = 22.0;
    let current = ws.current;
    let scroll_to = ws.fit_requested.then(|| ws.queue_position()).flatten();
    // Cells truncate their text (…) instead of clipping it: a clipped cell is a draw call of its
    // own (150 of the frame's 216 on a full queue), and each costs on a software renderer.
    let cell = |text: egui::WidgetText| egui::Label::new(text).truncate().selectable(false);
    egui_extras::TableBuilder::new(ui)
        .striped(true)
        .sense(egui::Sense::click())
        .column(egui_extras::Column::initial(178.0))
        .column(egui_extras::Column::initial(96.0))
        .column(egui_extras::Column::initial(62.0))
        .column(egui_extras::Column::remainder().at_least(40.0))
        .scroll_to_row(scroll_to.unwrap_or(0), scroll_to.map(|_| egui::Align::Center))
        .header(row_h, |mut h| {
            for key in ["id", "township", "status", "verdict"] {
                h.col(|ui| {
                    ui.add(cell(RichText::new(tr(lang, key)).strong().into()));
                });
            }
        })
        .body(|body| {
            body.rows(row_h, ws.queue.len(), |mut row| {
                let i = ws.queue[row.index()];
                let r = &ws.records[i];
                row.set_selected(current == Some(i));
                row.col(|ui| {
                    ui.add(cell(r.key.as_str().into()));
                });
                row.col(|ui| {
                    ui.add(cell(ws.township(i).into()));
                });
                row.col(|ui| {
                    let status = RichText::new(tr(lang, status_key(r.status))).color(theme::status_stroke(r.status));
                    ui.add(cell(status.into()));
                });
                row.col(|ui| {
                    ui.add(cell(ws.verdict(i).into()));
                });
                if row.response().clicked() {
                    cmds.push(Command::Select(i));
                }
            });
        });
}
