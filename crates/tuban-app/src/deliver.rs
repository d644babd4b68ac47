//! The deliverables dialog (成果输出): the PDF report with its options and the analyst's texts,
//! and the exports (shp, gpkg, xlsx, csv, photos). The work itself runs as a job off the UI thread.

use std::path::PathBuf;

use egui::Ui;

use super::commands::{AppCommand, Command, Commands};
use super::i18n::{tr, Lang};
use super::state::Workstation;
use tuban_core::export::Format;
use tuban_core::report::{ChipLayout, ReportOptions, Sheets, SubpatchSheets};
use tuban_core::store::ReportText;

/// The dialog's fields (kept while it is open).
pub struct DeliverDialog {
    sheets: Sheets,
    filter: String,
    dpi: u32,
    chips: ChipLayout,
    subpatches: SubpatchSheets,
    unit: String,
    method: String,
    problems: String,
    texts_loaded: bool,
    /// When each text was last typed in and not yet saved.
    typed_at: [Option<f64>; 2],
    report_out: String,
    export_dir: String,
    format: Format,
    force: bool,
    allow_missing_imagery: bool,
}

impl DeliverDialog {
    /// Defaults next to the project: `{county}{year}自查报告.pdf` and a `成果` folder.
    pub fn new(ws: &Workstation) -> DeliverDialog {
        let path = ws.project.path();
        let dir = path.parent().map(PathBuf::from).unwrap_or_default();
        let meta = ws.project.meta();
        let county = if meta.county_name.is_empty() { meta.county_code.clone() } else { meta.county_name.clone() };
        DeliverDialog {
            sheets: Sheets::All,
            filter: String::new(),
            dpi: 150,
            chips: ChipLayout::Standard,
            subpatches: SubpatchSheets::Each,
            unit: meta.unit.clone(),
            method: String::new(),
            problems: String::new(),
            texts_loaded: false,
            typed_at: [None, None],
            report_out: dir.join(format!("{county}{}年度自查报告.pdf", meta.year)).display().to_string(),
            export_dir: dir.join("成果").display().to_string(),
            format: Format::Shp,
            force: false,
            allow_missing_imagery: false,
        }
    }
}

const FORMATS: [(Format, &str); 6] = [
    (Format::Shp, "Shapefile (GBK)"),
    (Format::Gpkg, "GeoPackage"),
    (Format::Xlsx, "Excel 台账 / ledger"),
    (Format::Csv, "CSV"),
    (Format::Photos, "照片 / photos"),
    (Format::Qgz, "QGIS 工程 / QGIS project"),
];

/// Draws the dialog; `open` turns false when closed. Text edits become commands (stored at once);
/// the report and the exports are sent as [`AppCommand`]s (jobs).
pub fn deliver_ui(
    ctx: &egui::Context,
    ws: &Workstation,
    dlg: &mut DeliverDialog,
    open: &mut bool,
    lang: Lang,
    cmds: &mut Commands,
) {
    if !dlg.texts_loaded {
        dlg.method = ws.project.report_text(ReportText::Method).ok().flatten().unwrap_or_default();
        dlg.problems = ws.project.report_text(ReportText::Problems).ok().flatten().unwrap_or_default();
        dlg.texts_loaded = true;
    }
    egui::Window::new(tr(lang, "deliverables_title")).open(open).default_width(560.0).show(ctx, |ui| {
        ui.heading(tr(lang, "report_pdf"));
        report_options_ui(ui, dlg, lang);
        report_texts_ui(ui, dlg, lang, cmds);
        ui.checkbox(&mut dlg.allow_missing_imagery, tr(lang, "allow_missing_imagery"));
        ui.checkbox(&mut dlg.force, tr(lang, "overwrite"));
        if ui.button(tr(lang, "make_report")).clicked() && !dlg.report_out.trim().is_empty() {
            cmds.push(Command::SetReportText { which: ReportText::Method, text: dlg.method.clone() });
            cmds.push(Command::SetReportText { which: ReportText::Problems, text: dlg.problems.clone() });
            let unit = Some(dlg.unit.trim().to_string()).filter(|u| !u.is_empty());
            // The texts go along as they are on screen (the commands above store them too).
            let text = |t: &String| Some(t.trim_end().to_string()).filter(|t| !t.trim().is_empty());
            let opts = ReportOptions {
                sheets: dlg.sheets.clone(),
                dpi: dlg.dpi,
                chips: dlg.chips,
                unit,
                method_text: text(&dlg.method),
                problems_text: text(&dlg.problems),
                allow_missing_imagery: dlg.allow_missing_imagery,
                subpatches: dlg.subpatches,
            };
            cmds.push(AppCommand::Report { out: PathBuf::from(dlg.report_out.trim()), opts, force: dlg.force });
        }
        ui.separator();
        ui.heading(tr(lang, "export_files"));
        export_ui(ui, dlg, lang, cmds);
    });
}

/// Sheets, resolution, unit and output file of the report.
fn report_options_ui(ui: &mut Ui, dlg: &mut DeliverDialog, lang: Lang) {
    egui::Grid::new("report_opts").num_columns(2).show(ui, |ui| {
        ui.label(tr(lang, "report_sheets"));
        ui.horizontal(|ui| {
            ui.radio_value(&mut dlg.sheets, Sheets::All, tr(lang, "sheets_all"));
            ui.radio_value(&mut dlg.sheets, Sheets::Illegal, tr(lang, "sheets_illegal"));
            ui.radio_value(&mut dlg.sheets, Sheets::None, tr(lang, "sheets_none"));
            let filtering = matches!(dlg.sheets, Sheets::Filter(_));
            if ui.radio(filtering, tr(lang, "sheets_filter")).clicked() && !filtering {
                dlg.sheets = Sheets::Filter(dlg.filter.clone());
            }
        });
        ui.end_row();
        if let Sheets::Filter(text) = &mut dlg.sheets {
            let l = ui.label(tr(lang, "sheets_condition"));
            if ui
                .add(egui::TextEdit::singleline(text).hint_text("XZMC = 乌兰花镇 and HCJG = 违法").desired_width(360.0))
                .labelled_by(l.id)
                .changed()
            {
                dlg.filter = text.clone();
            }
            ui.end_row();
        }
        ui.end_row();
        ui.label(tr(lang, "report_dpi"));
        ui.horizontal(|ui| {
            ui.radio_value(&mut dlg.dpi, 150, "150 dpi");
            ui.radio_value(&mut dlg.dpi, 300, "300 dpi");
        });
        ui.end_row();
        ui.label(tr(lang, "report_chip_size"));
        let name = |c: ChipLayout| tr(lang, if c == ChipLayout::Standard { "chips_standard" } else { "chips_atlas" });
        egui::ComboBox::from_id_salt("report_chip_size").selected_text(name(dlg.chips)).show_ui(ui, |ui| {
            for c in [ChipLayout::Standard, ChipLayout::ATLAS] {
                ui.selectable_value(&mut dlg.chips, c, name(c));
            }
        });
        ui.end_row();
        ui.label(tr(lang, "report_subpatches"));
        ui.horizontal(|ui| {
            ui.radio_value(&mut dlg.subpatches, SubpatchSheets::Each, tr(lang, "subpatch_sheets_each"));
            ui.radio_value(&mut dlg.subpatches, SubpatchSheets::WithPatch, tr(lang, "subpatch_sheets_patch"));
        });
        ui.end_row();
        let l = ui.label(tr(lang, "report_unit"));
        ui.text_edit_singleline(&mut dlg.unit).labelled_by(l.id);
        ui.end_row();
        let l = ui.label(tr(lang, "output_file"));
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut dlg.report_out).desired_width(360.0)).labelled_by(l.id);
            if ui.button(tr(lang, "browse")).clicked() {
                if let Some(p) =
                    rfd::FileDialog::new().add_filter("PDF", &["pdf"]).set_file_name("report.pdf").save_file()
                {
                    dlg.report_out = p.display().to_string();
                }
            }
        });
        ui.end_row();
    });
}

/// The analyst's texts of the report, saved after a short pause in typing (as the form's fields).
fn report_texts_ui(ui: &mut Ui, dlg: &mut DeliverDialog, lang: Lang, cmds: &mut Commands) {
    let now = ui.input(|i| i.time);
    for (k, (which, label, text)) in [
        (ReportText::Method, "report_method", &mut dlg.method),
        (ReportText::Problems, "report_problems", &mut dlg.problems),
    ]
    .into_iter()
    .enumerate()
    {
        let l = ui.label(tr(lang, label));
        let r = ui
            .add(
                egui::TextEdit::multiline(text)
                    .desired_rows(4)
                    .desired_width(f32::INFINITY)
                    .hint_text(tr(lang, "report_text_hint")),
            )
            .labelled_by(l.id);
        if r.changed() {
            dlg.typed_at[k] = Some(now);
        }
        if let Some(t) = dlg.typed_at[k] {
            if r.lost_focus() || now - t >= super::form::AUTOSAVE_AFTER_S {
                cmds.push(Command::SetReportText { which, text: text.clone() });
                dlg.typed_at[k] = None;
            } else {
                ui.ctx().request_repaint_after(std::time::Duration::from_secs_f64(
                    super::form::AUTOSAVE_AFTER_S - (now - t),
                ));
            }
        }
    }
}

fn export_ui(ui: &mut Ui, dlg: &mut DeliverDialog, lang: Lang, cmds: &mut Commands) {
    ui.horizontal_wrapped(|ui| {
        for (f, label) in FORMATS {
            ui.radio_value(&mut dlg.format, f, label);
        }
    });
    ui.horizontal(|ui| {
        let l = ui.label(tr(lang, "output_folder"));
        ui.add(egui::TextEdit::singleline(&mut dlg.export_dir).desired_width(360.0)).labelled_by(l.id);
        if ui.button(tr(lang, "browse")).clicked() {
            if let Some(p) = rfd::FileDialog::new().pick_folder() {
                dlg.export_dir = p.display().to_string();
            }
        }
    });
    if ui.button(tr(lang, "export")).clicked() && !dlg.export_dir.trim().is_empty() {
        cmds.push(AppCommand::Export {
            out: PathBuf::from(dlg.export_dir.trim()),
            format: dlg.format,
            force: dlg.force,
        });
    }
}
