//! The dialogs and windows over the workstation: seal and unseal, the keyboard shortcuts, the
//! form of a drawn clue, the job's progress and result, and the ledger, spot-check and
//! deliverables windows. They send commands; the words for a job's outcome are made here.

use egui::Key;

use super::commands::{AppCommand, Command, Commands, Dialog};
use super::deliver::{self, DeliverDialog};
use super::i18n::{tr, Lang};
use super::jobs::{AttachResult, JobOutcome, JobSlot};
use super::panels;
use super::state::Workstation;
use super::theme;

/// The seal and unseal dialogs.
enum SealDialog {
    Confirm,
    Unseal(String),
}

/// Which dialogs are open, and what they keep while open.
pub struct Dialogs {
    /// The keyboard shortcuts are shown.
    pub help: bool,
    ledger: bool,
    spot: bool,
    spot_share: f64,
    seal: Option<SealDialog>,
    deliver: Option<DeliverDialog>,
    clue_form: ClueForm,
    ledger_cache: Option<(u64, tuban_core::store::Ledger)>,
    spot_cache: Option<panels::SpotView>,
}

impl Default for Dialogs {
    fn default() -> Self {
        Dialogs {
            help: false,
            ledger: false,
            spot: false,
            spot_share: 0.1,
            seal: None,
            deliver: None,
            clue_form: ClueForm::default(),
            ledger_cache: None,
            spot_cache: None,
        }
    }
}

impl Dialogs {
    /// Opens a dialog (the deliverables dialog takes its defaults from the open project).
    pub fn show(&mut self, dialog: Dialog, ws: Option<&Workstation>) {
        match dialog {
            Dialog::Help => self.help = true,
            Dialog::Ledger => self.ledger = true,
            Dialog::SpotCheck => self.spot = true,
            Dialog::Deliverables => self.deliver = ws.map(DeliverDialog::new),
            Dialog::Seal => self.seal = Some(SealDialog::Confirm),
            Dialog::Unseal => self.seal = Some(SealDialog::Unseal(String::new())),
        }
    }

    /// The windows over the open project: ledger, clue form, deliverables, spot check, seal.
    pub fn windows_ui(&mut self, ctx: &egui::Context, ws: &Workstation, lang: Lang, cmds: &mut Commands) {
        if self.ledger {
            panels::ledger_ui(ctx, ws, &mut self.ledger_cache, &mut self.ledger, lang, cmds);
        }
        if ws.drawing.as_ref().is_some_and(|d| d.finished) {
            clue_form_ui(ctx, ws, &mut self.clue_form, lang, cmds);
        }
        if let Some(dlg) = &mut self.deliver {
            let mut open = true;
            deliver::deliver_ui(ctx, ws, dlg, &mut open, lang, cmds);
            if !open {
                self.deliver = None;
            }
        }
        if self.spot {
            panels::spot_check_ui(ctx, ws, &mut self.spot_cache, &mut self.spot, &mut self.spot_share, lang, cmds);
        }
        self.seal_ui(ctx, lang, cmds);
    }

    fn seal_ui(&mut self, ctx: &egui::Context, lang: Lang, cmds: &mut Commands) {
        let Some(dialog) = &mut self.seal else { return };
        let mut close = false;
        egui::Modal::new(egui::Id::unique("seal_dialog")).show(ctx, |ui| match dialog {
            SealDialog::Confirm => {
                ui.label(tr(lang, "seal_confirm"));
                ui.horizontal(|ui| {
                    if ui.button(tr(lang, "confirm")).clicked() {
                        cmds.push(AppCommand::Seal);
                        close = true;
                    }
                    if ui.button(tr(lang, "cancel")).clicked() {
                        close = true;
                    }
                });
            }
            SealDialog::Unseal(reason) => {
                let label = ui.label(tr(lang, "reason")).id;
                ui.add(egui::TextEdit::multiline(reason).desired_rows(2)).labelled_by(label);
                ui.horizontal(|ui| {
                    if ui.button(tr(lang, "confirm")).clicked() {
                        cmds.push(Command::Unseal(reason.clone()));
                        close = true;
                    }
                    if ui.button(tr(lang, "cancel")).clicked() {
                        close = true;
                    }
                });
            }
        });
        if close {
            self.seal = None;
        }
    }

    /// The keyboard shortcuts, with the verdict options of the open project.
    pub fn help_ui(&mut self, ctx: &egui::Context, ws: Option<&Workstation>, lang: Lang) {
        if !self.help {
            return;
        }
        let mut open = true;
        egui::Window::new(tr(lang, "help_title"))
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
            .show(ctx, |ui| {
                egui::Grid::new("keys").num_columns(2).striped(true).show(ui, |ui| {
                    for (keys, what) in HELP_KEYS {
                        ui.monospace(keys);
                        ui.label(tr(lang, what));
                        ui.end_row();
                    }
                });
                if let Some(ws) = ws {
                    let t = ws.project.template();
                    if let Some(f) = t.field(&t.roles().verdict) {
                        ui.separator();
                        for (n, c) in f.codes().iter().enumerate().take(9) {
                            ui.label(format!("{} → {}", n + 1, c.display()));
                        }
                    }
                }
            });
        if !open || ctx.input(|i| i.key_pressed(Key::Escape)) {
            self.help = false;
        }
    }
}

/// The shortcuts the help window lists: (keys, i18n key of what they do).
const HELP_KEYS: [(&str, &str); 17] = [
    ("→ / J", "key_next"),
    ("← / K", "key_prev"),
    ("N", "key_next_unreviewed"),
    ("1 … 9", "key_verdict"),
    ("Shift + 1 … 9", "key_verdict_next"),
    ("Enter", "key_confirm"),
    ("Ctrl + Z", "key_undo"),
    ("Ctrl + Shift + Z", "key_redo"),
    ("F", "key_fit"),
    ("/", "key_search"),
    ("B / A / Space", "key_before_after"),
    ("V", "key_view"),
    ("Enter / Backspace / Esc", "key_clue"),
    ("S / Shift+S / E / Shift+E / M", "key_tools"),
    ("Enter / Backspace / Esc ", "key_tool_keys"),
    ("R", "key_reuse"),
    ("?", "key_help"),
];

/// The progress of the running job, modal, with cancel; `notice` says why a second job was
/// refused.
pub fn job_ui(ctx: &egui::Context, jobs: &JobSlot, notice: Option<&str>, lang: Lang) {
    let Some(job) = jobs.running() else { return };
    let (stage, done, total) = job.progress.snapshot();
    egui::Modal::new(egui::Id::unique("job_progress")).show(ctx, |ui| {
        ui.heading(tr(lang, job.title));
        ui.label(stage);
        let frac = if total > 0 { done as f32 / total as f32 } else { 0.0 };
        ui.add(egui::ProgressBar::new(frac).text(format!("{done} / {total}")).desired_width(360.0));
        if let Some(text) = notice {
            ui.colored_label(theme::WARNING_TEXT, text);
        }
        if ui.button(tr(lang, "cancel")).clicked() {
            job.progress.cancel();
        }
    });
    ctx.request_repaint_after(std::time::Duration::from_millis(100));
}

/// The result window of the last job; `text` is cleared when it is closed.
pub fn job_result_ui(ctx: &egui::Context, text: &mut Option<String>, lang: Lang) {
    let Some(shown) = text.as_deref() else { return };
    let mut open = true;
    egui::Window::new(tr(lang, "job_result")).open(&mut open).collapsible(false).show(ctx, |ui| {
        ui.label(shown);
    });
    if !open {
        *text = None;
    }
}

/// The first 16 hex digits of a digest (enough to compare by eye).
pub fn short_digest(digest: &str) -> &str {
    digest.get(..16).unwrap_or(digest)
}

/// A job's outcome in words, for the result window or the status line.
pub fn outcome_text(lang: Lang, outcome: &JobOutcome) -> String {
    match outcome {
        JobOutcome::Imported(report) => import_text(lang, report),
        JobOutcome::PhotosAdded(r) => {
            let mut text = format!(
                "{} {}  {} {}  {} {}",
                tr(lang, "photos_matched"),
                r.matched.len(),
                tr(lang, "photos_unmatched"),
                r.unmatched.len(),
                tr(lang, "photos_errors"),
                r.errors.len()
            );
            for (f, k, d) in &r.matched {
                text.push_str(&format!("\n{f} → {k} ({d:.0} m)"));
            }
            for f in &r.unmatched {
                text.push_str(&format!("\n{f} → ?"));
            }
            for e in &r.errors {
                text.push_str(&format!("\n{e}"));
            }
            text
        }
        JobOutcome::Attached { case, kind, files } => attach_text(lang, case, kind, files),
        JobOutcome::Written { path, size_bytes, seconds } => {
            format!("{}\n{}\n{:.1} MB, {seconds:.1} s", tr(lang, "written"), path.display(), *size_bytes as f64 / 1e6)
        }
        JobOutcome::Exported(files) => {
            let list: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            format!("{}\n{}", tr(lang, "written"), list.join("\n"))
        }
        JobOutcome::Sealed(s, receipt) => {
            format!("{} {}\n{} {}", tr(lang, "sealed"), short_digest(&s.digest), tr(lang, "receipt"), receipt.display())
        }
        JobOutcome::Verified(r) if r.seal.is_none() => tr(lang, "never_sealed").to_string(),
        JobOutcome::Verified(r) if r.differences.is_empty() => {
            format!("{} {}", tr(lang, "seal_ok"), short_digest(&r.digest_now))
        }
        JobOutcome::Verified(r) => r.differences.join("; "),
        JobOutcome::Merged(r) => format!(
            "{} {}: {} {}, {} {}, {} {}, {} {}",
            tr(lang, "merged_package"),
            r.label,
            tr(lang, "merge_applied"),
            r.applied + r.structural + r.rows_added,
            tr(lang, "merge_already"),
            r.already,
            tr(lang, "merge_missing"),
            r.missing,
            tr(lang, "conflicts"),
            r.conflicts.len()
        ),
        JobOutcome::ReferenceAdded(a) => {
            let l = &a.loaded.layer;
            format!(
                "{} {} ({}): {} {}, {} {}\n{} {}, {} {}",
                tr(lang, "ref_added"),
                l.title(),
                if lang == Lang::En { l.kind.label_en() } else { l.kind.label() },
                l.features,
                tr(lang, "ref_features"),
                l.repaired,
                tr(lang, "ref_repaired"),
                tr(lang, "ref_overlaid"),
                a.overlay.patches,
                tr(lang, "ref_filled"),
                a.filled
            )
        }
        JobOutcome::OverlayRefreshed { patches, filled } => {
            format!("{} {patches}, {} {filled}", tr(lang, "ref_overlaid"), tr(lang, "ref_filled"))
        }
    }
}

fn import_text(lang: Lang, report: &tuban_core::import::ImportReport) -> String {
    let s = &report.summary;
    let mut text = format!(
        "{}: {} {}  {} {}  {} {}  {} {}  {} {}\n{}: {} ({})",
        tr(lang, "import_done"),
        tr(lang, "added"),
        s.added,
        tr(lang, "updated"),
        s.updated,
        tr(lang, "unchanged"),
        s.unchanged,
        tr(lang, "skipped"),
        s.skipped,
        tr(lang, "problems"),
        s.problems.len(),
        report.layer,
        report.encoding.name,
        report.crs.name
    );
    for w in report.warnings.iter().chain(s.problems.iter()).take(20) {
        text.push_str(&format!("\n· {w}"));
    }
    text
}

fn attach_text(lang: Lang, case: &str, kind: &str, files: &[(std::path::PathBuf, AttachResult)]) -> String {
    let mut lines = Vec::new();
    for (path, result) in files {
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        match result {
            AttachResult::Stored(id) => lines.push(format!("{case}: #{id} {kind} {name}")),
            AttachResult::Failed(e) => lines.push(format!("{}: {e}", path.display())),
            AttachResult::Cancelled => {
                lines.push(tr(lang, "cancelled").to_string());
                break;
            }
        }
    }
    lines.join("\n")
}

/// Address, source and year of a clue drawn on the map.
#[derive(Default)]
struct ClueForm {
    address: String,
    source: String,
    year: Option<i32>,
}

/// Sources of clues (DOMAIN §1, ecological-damage screening).
const CLUE_SOURCES: [&str; 6] = ["遥感", "绿盾", "信访", "举报", "媒体", "督察"];

/// The form shown when a clue has been drawn: address, source, year; save or discard.
fn clue_form_ui(ctx: &egui::Context, ws: &Workstation, form: &mut ClueForm, lang: Lang, cmds: &mut Commands) {
    let Some(draft) = &ws.drawing else { return };
    let year = form.year.get_or_insert(ws.project.meta().year);
    if form.source.is_empty() {
        form.source = "信访".into();
    }
    egui::Window::new(tr(lang, "new_clue"))
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::RIGHT_TOP, [-(theme::FORM_WIDTH + 24.0), 64.0])
        .show(ctx, |ui| {
            if let Some(g) = draft.geometry() {
                let area = tuban_model::geometry::area_m2(&g);
                if let Some(c) = tuban_model::geometry::centre(&g) {
                    ui.label(format!("{:.6}°E {:.6}°N", c.x(), c.y()));
                }
                if draft.polygon {
                    ui.label(format!("{:.1} m² · {:.3} 亩", area, tuban_model::units::m2_to_mu(area)));
                }
            }
            egui::Grid::new("clue_form").num_columns(2).show(ui, |ui| {
                let l = ui.label(tr(lang, "address"));
                ui.text_edit_singleline(&mut form.address).labelled_by(l.id);
                ui.end_row();
                let l = ui.label(tr(lang, "clue_source"));
                egui::ComboBox::from_id_salt("clue_source")
                    .selected_text(&form.source)
                    .show_ui(ui, |ui| {
                        for s in CLUE_SOURCES {
                            ui.selectable_value(&mut form.source, s.to_string(), s);
                        }
                    })
                    .response
                    .labelled_by(l.id);
                ui.end_row();
                let l = ui.label(tr(lang, "year"));
                ui.add(egui::DragValue::new(year).range(2000..=2100)).labelled_by(l.id);
                ui.end_row();
            });
            ui.horizontal(|ui| {
                if ui.button(tr(lang, "save_clue")).clicked() {
                    cmds.push(Command::SaveClue {
                        address: std::mem::take(&mut form.address),
                        source: form.source.clone(),
                        year: *year,
                    });
                }
                if ui.button(tr(lang, "cancel")).clicked() {
                    cmds.push(Command::CancelClue);
                }
            });
        });
}
