//! The verification form, built from the project's template: one widget per field type, problems
//! shown inline, read-only fields greyed. Text is committed on Enter or when the field loses focus.

use std::collections::HashMap;

use egui::{RichText, Ui};

use super::commands::{Command, Commands};
use super::i18n::{tr, Lang};
use super::state::Workstation;
use super::theme;
use tuban_model::units::{m2_to_ha, m2_to_mu};
use tuban_model::{Field, FieldKind, Severity, Value};

/// Text being typed into fields of the current patch, not yet committed.
#[derive(Default)]
pub struct FormBuffers {
    serial: u64,
    text: HashMap<String, String>,
    filter: HashMap<String, String>,
    /// When each field was last typed in (egui input time, seconds).
    typed_at: HashMap<String, f64>,
    /// The text last saved while the field kept the focus.
    autosaved: HashMap<String, String>,
}

impl FormBuffers {
    /// When the analyst last typed in the form (egui input time, seconds), if at all since the
    /// patch was chosen.
    pub fn last_typed(&self) -> Option<f64> {
        self.typed_at.values().copied().reduce(f64::max)
    }
}

/// A valid value typed in a field that keeps the focus is saved after this pause, so killing the
/// program loses at most the last second of typing.
pub const AUTOSAVE_AFTER_S: f64 = 0.8;

fn to_jiff(d: chrono::NaiveDate) -> Option<jiff::civil::Date> {
    use chrono::Datelike;
    jiff::civil::Date::new(i16::try_from(d.year()).ok()?, i8::try_from(d.month()).ok()?, i8::try_from(d.day()).ok()?)
        .ok()
}

fn from_jiff(d: jiff::civil::Date) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::from_ymd_opt(i32::from(d.year()), u32::try_from(d.month()).ok()?, u32::try_from(d.day()).ok()?)
}

/// Draws the form of the current patch.
pub fn form_ui(ui: &mut Ui, ws: &Workstation, buffers: &mut FormBuffers, lang: Lang, cmds: &mut Commands) {
    let Some(index) = ws.current else {
        ui.label(tr(lang, "no_patch"));
        return;
    };
    if buffers.serial != ws.selection_serial {
        buffers.serial = ws.selection_serial;
        buffers.text.clear();
        buffers.filter.clear();
        buffers.typed_at.clear();
        buffers.autosaved.clear();
    }
    let record = &ws.records[index];
    let template = ws.project.template();
    ui.horizontal(|ui| {
        ui.heading(&record.key);
        let status = match record.status {
            tuban_model::ReviewStatus::Unreviewed => "st_unreviewed",
            tuban_model::ReviewStatus::InProgress => "st_in_progress",
            tuban_model::ReviewStatus::Done => "st_done",
            tuban_model::ReviewStatus::Problem => "st_problem",
        };
        ui.label(RichText::new(tr(lang, status)).color(theme::status_stroke(record.status)).strong());
    });
    crate::hub::lease_ui(ui, ws, &record.key, lang);
    ui.label(format!(
        "{}: {:.2} m² · {:.3} 亩 · {:.4} ha",
        tr(lang, "area"),
        record.area_m2,
        m2_to_mu(record.area_m2),
        m2_to_ha(record.area_m2)
    ));
    super::edit_map::extent_info_ui(ui, ws, lang, cmds);
    super::reference::overlay_ui(ui, ws, lang, cmds);
    ui.horizontal(|ui| {
        if ui.button(tr(lang, "confirm_next")).clicked() {
            cmds.push(Command::ConfirmNext);
        }
        if ui.button(tr(lang, "fit")).clicked() {
            cmds.push(Command::Fit);
        }
    });
    ui.separator();
    let problems = &ws.problems[index];
    {
        egui::Grid::new("form_grid").num_columns(2).spacing([10.0, 6.0]).striped(true).show(ui, |ui| {
            for (i, field) in template.fields().iter().enumerate() {
                let value = record.values.get(i).cloned().unwrap_or(Value::Null);
                let label = match lang {
                    Lang::Zh => field.label.clone(),
                    Lang::En if !field.label_en.is_empty() => field.label_en.clone(),
                    Lang::En => field.label.clone(),
                };
                let mut label_text = RichText::new(format!("{label}  {}", field.name));
                if field.required && !field.is_read_only() {
                    label_text = label_text.strong();
                }
                let label_id = ui.label(label_text).on_hover_text(&field.help).id;
                ui.vertical(|ui| {
                    field_ui(ui, field, &value, &mut FieldCx { buffers, cmds, lang, label_id });
                    if let Some(layer) = ws.reference.filled_from(&field.name, &value) {
                        let text = format!("{} {layer}", tr(lang, "ref_filled_from"));
                        ui.label(RichText::new(text).color(theme::READ_ONLY_TEXT).small());
                    }
                    for p in problems.iter().filter(|p| p.field == field.name) {
                        let color = if p.severity == Severity::Error { theme::ERROR_TEXT } else { theme::WARNING_TEXT };
                        let text = if lang == Lang::En { &p.message_en } else { &p.message };
                        ui.label(RichText::new(text).color(color).small());
                    }
                });
                ui.end_row();
            }
        });
        if !record.import_issues.is_empty() {
            ui.separator();
            ui.label(RichText::new(tr(lang, "import_issues")).strong());
            for issue in &record.import_issues {
                ui.label(RichText::new(issue).color(theme::WARNING_TEXT));
            }
        }
        if !record.extra.is_empty() {
            ui.separator();
            ui.collapsing(tr(lang, "extra_attrs"), |ui| {
                for (k, v) in &record.extra {
                    ui.label(RichText::new(format!("{k}: {v}")).color(theme::READ_ONLY_TEXT));
                }
            });
        }
    }
}

/// What every field widget needs besides its field and value.
struct FieldCx<'a> {
    buffers: &'a mut FormBuffers,
    cmds: &'a mut Commands,
    lang: Lang,
    label_id: egui::Id,
}

/// One field of the form: a read-only label, or the widget of its kind.
fn field_ui(ui: &mut Ui, field: &Field, value: &Value, cx: &mut FieldCx<'_>) {
    if field.is_read_only() {
        let text = match (value, field.unit()) {
            (Value::Null, _) => "—".to_string(),
            (v, Some(u)) => format!("{v} {}", u.symbol()),
            (v, None) => v.to_string(),
        };
        ui.label(RichText::new(text).color(theme::READ_ONLY_TEXT)).on_hover_text(tr(cx.lang, "read_only"));
        return;
    }
    let name = field.name.clone();
    match &field.kind {
        FieldKind::Code { codes, multiple: false } => code_ui(ui, codes, &name, value, cx),
        FieldKind::Code { codes, multiple: true } => codes_ui(ui, codes, &name, value, cx),
        FieldKind::Boolean => {
            let current = match value {
                Value::Bool(true) => Some(true),
                Value::Bool(false) => Some(false),
                _ => None,
            };
            ui.horizontal(|ui| {
                for (v, key) in [(Some(true), "yes"), (Some(false), "no"), (None, "not_set")] {
                    if ui.selectable_label(current == v, tr(cx.lang, key)).labelled_by(cx.label_id).clicked()
                        && current != v
                    {
                        cx.cmds
                            .push(Command::SetValue { field: name.clone(), value: v.map_or(Value::Null, Value::Bool) });
                    }
                }
            });
        }
        FieldKind::Date => date_ui(ui, field, value, cx),
        FieldKind::Decimal { unit, .. } => {
            ui.horizontal(|ui| {
                text_field(ui, field, value, cx, 140.0);
                if let Some(u) = unit {
                    ui.label(u.symbol());
                    if let (Some(m2), Value::Real(v)) = (u.m2_factor(), value) {
                        ui.label(
                            RichText::new(format!("= {:.2} 亩", m2_to_mu(v * m2))).color(theme::READ_ONLY_TEXT).small(),
                        );
                    }
                }
            });
        }
        FieldKind::Text { .. } | FieldKind::Integer => {
            text_field(ui, field, value, cx, 240.0);
        }
    }
}

/// A text box whose content is committed on Enter or when it loses focus.
fn text_field(ui: &mut Ui, field: &Field, value: &Value, cx: &mut FieldCx<'_>, width: f32) {
    let stored = match value {
        Value::Real(r) => tuban_model::value::format_decimal(*r),
        v => v.to_string(),
    };
    let buffer = cx.buffers.text.entry(field.name.clone()).or_insert_with(|| stored.clone());
    let r = ui
        .add(egui::TextEdit::singleline(buffer).desired_width(width).id_salt(("field", &field.name)))
        .labelled_by(cx.label_id);
    let now = ui.input(|i| i.time);
    if r.changed() {
        cx.buffers.typed_at.insert(field.name.clone(), now);
    }
    if r.has_focus() && *buffer != stored {
        // Checked as the analyst types; rules that involve other fields follow on commit.
        match Value::parse_for(field, buffer) {
            Err(e) => {
                ui.label(RichText::new(e.to_string()).color(theme::ERROR_TEXT).small());
            }
            Ok(_) if cx.buffers.autosaved.get(&field.name) != Some(buffer) => {
                // A valid value is saved after a short pause even while the field keeps the focus.
                let since = cx.buffers.typed_at.get(&field.name).map_or(f64::INFINITY, |t| now - t);
                if since >= AUTOSAVE_AFTER_S {
                    cx.cmds.push(Command::SetText { field: field.name.clone(), text: buffer.clone() });
                    cx.buffers.autosaved.insert(field.name.clone(), buffer.clone());
                } else {
                    ui.ctx().request_repaint_after(std::time::Duration::from_secs_f64(AUTOSAVE_AFTER_S - since));
                }
            }
            Ok(_) => {}
        }
    }
    if r.lost_focus() {
        let autosaved = cx.buffers.autosaved.remove(&field.name);
        if *buffer != stored && autosaved.as_ref() != Some(buffer) {
            cx.cmds.push(Command::SetText { field: field.name.clone(), text: buffer.clone() });
        }
        // Show the stored form (e.g. 20亩 → 13333.33) once committed.
        cx.buffers.text.remove(&field.name);
    } else if !r.has_focus() && *buffer != stored {
        *buffer = stored;
    }
}

/// One code from a list, with a filter box (Enter picks the only match).
fn code_ui(ui: &mut Ui, codes: &[tuban_model::template::Code], name: &str, value: &Value, cx: &mut FieldCx<'_>) {
    let name = name.to_string();
    let current = value.to_string();
    let shown = codes.iter().find(|c| c.code == current).map(|c| c.display()).unwrap_or_else(|| {
        if current.is_empty() {
            tr(cx.lang, "not_set").to_string()
        } else {
            current.clone()
        }
    });
    let combo = egui::ComboBox::from_id_salt(("code", &name)).selected_text(shown).width(220.0).show_ui(ui, |ui| {
        let filter = cx.buffers.filter.entry(name.clone()).or_default();
        let r = ui
            .add(egui::TextEdit::singleline(filter).hint_text(tr(cx.lang, "filter")).desired_width(200.0))
            .labelled_by(cx.label_id);
        r.request_focus();
        let needle = filter.trim().to_lowercase();
        if ui.selectable_label(current.is_empty(), tr(cx.lang, "not_set")).clicked() {
            cx.cmds.push(Command::SetValue { field: name.clone(), value: Value::Null });
        }
        let matching: Vec<_> =
            codes.iter().filter(|c| needle.is_empty() || c.display().to_lowercase().contains(&needle)).collect();
        for c in &matching {
            if ui.selectable_label(c.code == current, c.display()).clicked() {
                cx.cmds.push(Command::SetValue { field: name.clone(), value: Value::Text(c.code.clone()) });
            }
        }
        if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) && matching.len() == 1 {
            cx.cmds.push(Command::SetValue { field: name.clone(), value: Value::Text(matching[0].code.clone()) });
            ui.close();
        }
    });
    combo.response.labelled_by(cx.label_id);
}

/// Several codes from a list, as check boxes.
fn codes_ui(ui: &mut Ui, codes: &[tuban_model::template::Code], name: &str, value: &Value, cx: &mut FieldCx<'_>) {
    let name = name.to_string();
    let current = value.to_string();
    let selected: Vec<&str> = current.split(tuban_model::value::MULTI_SEPARATOR).filter(|s| !s.is_empty()).collect();
    ui.horizontal_wrapped(|ui| {
        for c in codes {
            let mut on = selected.contains(&c.code.as_str());
            if ui.checkbox(&mut on, c.display()).labelled_by(cx.label_id).changed() {
                let mut next: Vec<&str> = codes
                    .iter()
                    .map(|k| k.code.as_str())
                    .filter(|k| if *k == c.code { on } else { selected.contains(k) })
                    .collect();
                next.dedup();
                cx.cmds.push(Command::SetText { field: name.clone(), text: next.join(";") });
            }
        }
    });
}

/// A date: a picker once set, else a text box and "today".
fn date_ui(ui: &mut Ui, field: &Field, value: &Value, cx: &mut FieldCx<'_>) {
    let name = field.name.clone();
    ui.horizontal(|ui| match value {
        Value::Date(d) => {
            if let Some(mut jd) = to_jiff(*d) {
                let before = jd;
                ui.add(egui_extras::DatePickerButton::new(&mut jd).id_salt(&name).format("%Y-%m-%d"))
                    .labelled_by(cx.label_id);
                if jd != before {
                    if let Some(nd) = from_jiff(jd) {
                        cx.cmds.push(Command::SetValue { field: name.clone(), value: Value::Date(nd) });
                    }
                }
            }
            if ui.small_button("×").on_hover_text(tr(cx.lang, "clear")).clicked() {
                cx.cmds.push(Command::SetValue { field: name.clone(), value: Value::Null });
            }
        }
        _ => {
            text_field(ui, field, value, cx, 110.0);
            if ui.button(tr(cx.lang, "set_date")).clicked() {
                cx.cmds.push(Command::SetValue {
                    field: name.clone(),
                    value: Value::Date(chrono::Local::now().date_naive()),
                });
            }
        }
    });
}
