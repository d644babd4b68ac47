//! The queue panel: every patch with id, township, status and verdict; filters, sort, counts.

use egui::{RichText, Ui};

use super::i18n::{tr, Lang};
use super::state::{Command, SortBy, Workstation};
use super::theme;
use crate::model::ReviewStatus;

fn status_key(s: ReviewStatus) -> &'static str {
    match s {
        ReviewStatus::Unreviewed => "st_unreviewed",
        ReviewStatus::InProgress => "st_in_progress",
        ReviewStatus::Done => "st_done",
        ReviewStatus::Problem => "st_problem",
    }
}

/// Draws the queue panel; `search_focus` asks to focus the search box (the `/` key).
pub fn queue_ui(ui: &mut Ui, ws: &mut Workstation, lang: Lang, search_focus: bool, cmds: &mut Vec<Command>) {
    let total = ws.records.len();
    ui.horizontal(|ui| {
        ui.heading(tr(lang, "queue"));
        ui.label(format!("{} {} / {}", tr(lang, "reviewed"), ws.reviewed_count(), total));
    });
    let mut changed = false;
    let r = ui.add(egui::TextEdit::singleline(&mut ws.filter.text).hint_text(tr(lang, "search")).desired_width(f32::INFINITY).id_salt("queue_search"));
    if search_focus {
        r.request_focus();
    }
    changed |= r.changed();
    ui.horizontal(|ui| {
        let shown = ws.filter.status.map_or(tr(lang, "all"), |s| tr(lang, status_key(s)));
        egui::ComboBox::from_id_salt("filter_status").selected_text(format!("{}: {shown}", tr(lang, "status"))).show_ui(ui, |ui| {
            changed |= ui.selectable_value(&mut ws.filter.status, None, tr(lang, "all")).changed();
            for s in ReviewStatus::ALL {
                changed |= ui.selectable_value(&mut ws.filter.status, Some(s), tr(lang, status_key(s))).changed();
            }
        });
        let mut towns: Vec<String> = (0..ws.records.len()).map(|i| ws.township(i)).collect();
        towns.sort();
        towns.dedup();
        let shown = ws.filter.township.clone().unwrap_or_else(|| tr(lang, "all").into());
        egui::ComboBox::from_id_salt("filter_town").selected_text(format!("{}: {shown}", tr(lang, "township"))).show_ui(ui, |ui| {
            changed |= ui.selectable_value(&mut ws.filter.township, None, tr(lang, "all")).changed();
            for t in towns {
                let label = if t.is_empty() { tr(lang, "not_set").to_string() } else { t.clone() };
                changed |= ui.selectable_value(&mut ws.filter.township, Some(t), label).changed();
            }
        });
    });
    ui.horizontal(|ui| {
        let verdict_field = ws.project.template().roles().verdict.clone();
        let codes: Vec<String> = ws.project.template().field(&verdict_field).map(|f| f.codes().iter().map(|c| c.code.clone()).collect()).unwrap_or_default();
        let shown = match &ws.filter.verdict {
            None => tr(lang, "all").to_string(),
            Some(v) if v.is_empty() => tr(lang, "not_set").to_string(),
            Some(v) => v.clone(),
        };
        egui::ComboBox::from_id_salt("filter_verdict").selected_text(format!("{}: {shown}", tr(lang, "verdict"))).show_ui(ui, |ui| {
            changed |= ui.selectable_value(&mut ws.filter.verdict, None, tr(lang, "all")).changed();
            changed |= ui.selectable_value(&mut ws.filter.verdict, Some(String::new()), tr(lang, "not_set")).changed();
            for c in codes {
                changed |= ui.selectable_value(&mut ws.filter.verdict, Some(c.clone()), c).changed();
            }
        });
        let sort_label = |s: SortBy| match s {
            SortBy::Id => tr(lang, "sort_id"),
            SortBy::Township => tr(lang, "sort_township"),
            SortBy::Status => tr(lang, "sort_status"),
            SortBy::Area => tr(lang, "sort_area"),
        };
        egui::ComboBox::from_id_salt("sort").selected_text(sort_label(ws.filter.sort)).show_ui(ui, |ui| {
            for s in [SortBy::Id, SortBy::Township, SortBy::Status, SortBy::Area] {
                changed |= ui.selectable_value(&mut ws.filter.sort, s, sort_label(s)).changed();
            }
        });
    });
    changed |= ui.checkbox(&mut ws.filter.only_problems, tr(lang, "only_problems")).changed();
    if changed {
        cmds.push(Command::Refilter);
    }
    ui.separator();
    let row_h = 22.0;
    let current = ws.current;
    let scroll_to = ws.fit_requested.then(|| ws.queue_position()).flatten();
    egui_extras::TableBuilder::new(ui)
        .striped(true)
        .sense(egui::Sense::click())
        .column(egui_extras::Column::auto().at_least(175.0))
        .column(egui_extras::Column::auto().at_least(70.0))
        .column(egui_extras::Column::auto().at_least(50.0))
        .column(egui_extras::Column::remainder())
        .scroll_to_row(scroll_to.unwrap_or(0), scroll_to.map(|_| egui::Align::Center))
        .header(row_h, |mut h| {
            for key in ["id", "township", "status", "verdict"] {
                h.col(|ui| {
                    ui.strong(tr(lang, key));
                });
            }
        })
        .body(|body| {
            body.rows(row_h, ws.queue.len(), |mut row| {
                let i = ws.queue[row.index()];
                let r = &ws.records[i];
                row.set_selected(current == Some(i));
                row.col(|ui| {
                    ui.add(egui::Label::new(&r.key).wrap_mode(egui::TextWrapMode::Extend));
                });
                row.col(|ui| {
                    ui.label(ws.township(i));
                });
                row.col(|ui| {
                    ui.label(RichText::new(tr(lang, status_key(r.status))).color(theme::status_stroke(r.status)));
                });
                row.col(|ui| {
                    ui.label(ws.verdict(i));
                });
                if row.response().clicked() {
                    cmds.push(Command::Select(i));
                }
            });
        });
}
