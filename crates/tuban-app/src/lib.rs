//! The desktop app (eframe): the only module that uses egui, eframe, walkers and rfd.
//!
//! Each frame: keys and dropped files become [`Command`]s, the panels draw from the
//! [`Workstation`] and push more commands, and the commands are applied in one place at the end
//! of the frame. Every edit goes through the store at once; there is no save button.

pub mod deliver;
pub mod form;
pub mod i18n;
pub mod map;
pub mod panels;
pub mod queue;
pub mod start;
pub mod state;
pub mod theme;
pub mod tiles;

use std::path::{Path, PathBuf};

use egui::{Key, Modifiers, RichText};
use serde::{Deserialize, Serialize};

use i18n::{tr, Lang};
pub use state::{Command, Period, ViewMode, Workstation};
use tuban_core::store::{Access, Project, ProjectMeta};
use tuban_model::{Programme, Template};

/// Preferences kept in eframe's storage (never project data).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Prefs {
    /// Interface language.
    pub lang: Lang,
    /// Recently opened projects, newest first.
    pub recent: Vec<PathBuf>,
    /// How the map compares periods.
    pub view: ViewMode,
    /// Offline: no request leaves the machine, online imagery only from the cache.
    pub offline: bool,
}

const PREFS_KEY: &str = "tuban_prefs";

/// The whole app: start screen or workstation, plus the running import.
pub struct TubanApp {
    /// Preferences.
    pub prefs: Prefs,
    /// The open project, if any.
    pub ws: Option<Workstation>,
    start: start::StartState,
    job: Option<start::Job>,
    report: Option<String>,
    error: Option<String>,
    map_memory: walkers::MapMemory,
    tiles: Option<tiles::ImageryTiles>,
    form: form::FormBuffers,
    cmds: Vec<Command>,
    show_help: bool,
    focus_search: bool,
    gk: tuban_core::gk::GkProjector,
    styled: bool,
    swipe: f32,
    prefetched: u64,
    map_size: egui::Vec2,
    side: panels::SideCache,
    show_ledger: bool,
    show_spot: bool,
    spot_share: f64,
    seal_dialog: Option<SealDialog>,
    ledger_cache: Option<(u64, tuban_core::store::Ledger)>,
    spot_cache: Option<panels::SpotView>,
    deliver: Option<deliver::DeliverDialog>,
    clue_form: ClueForm,
}

/// The seal and unseal dialogs.
enum SealDialog {
    Confirm,
    Unseal(String),
}

impl TubanApp {
    /// A new app; opens `project` when given (errors are shown on the start screen). Fonts and
    /// style are installed on the first frame, so tests and eframe share this constructor.
    pub fn new(prefs: Prefs, project: Option<PathBuf>) -> TubanApp {
        let mut app = TubanApp {
            styled: false,
            prefs,
            ws: None,
            start: start::StartState::default(),
            job: None,
            report: None,
            error: None,
            map_memory: walkers::MapMemory::default(),
            tiles: None,
            form: form::FormBuffers::default(),
            cmds: Vec::new(),
            show_help: false,
            focus_search: false,
            gk: Default::default(),
            swipe: 0.5,
            prefetched: u64::MAX,
            map_size: egui::vec2(1000.0, 800.0),
            side: panels::SideCache::default(),
            show_ledger: false,
            show_spot: false,
            spot_share: 0.1,
            seal_dialog: None,
            ledger_cache: None,
            spot_cache: None,
            deliver: None,
            clue_form: ClueForm::default(),
        };
        if let Some(p) = project {
            app.open_project(&p);
        }
        app
    }

    /// The interface language.
    pub fn lang(&self) -> Lang {
        self.prefs.lang
    }

    /// Opens a project for writing (closing the current one); errors are shown, not returned.
    pub fn open_project(&mut self, path: &Path) {
        self.ws = None;
        self.tiles = None;
        // Held by another analyst or on a read-only medium: open it for viewing, and say so.
        let opened = match Project::open(path, Access::ReadWrite) {
            Err(
                e @ (tuban_core::store::StoreError::Locked { .. }
                | tuban_core::store::StoreError::ReadOnlyMedium { .. }),
            ) => Project::open(path, Access::ReadOnly).map(|p| (p, Some(e.to_string()))),
            other => other.map(|p| (p, None)),
        };
        match opened.and_then(|(p, why)| Workstation::new(p).map(|ws| (ws, why))) {
            Ok((mut ws, why)) => {
                tuban_core::crash::set_report_dir(path.parent().map(Path::to_path_buf));
                if let Some(why) = why {
                    ws.message = Some(state::Message {
                        text: format!("{}：{why}", tr(self.lang(), "opened_read_only")),
                        is_error: true,
                    });
                }
                self.ws = Some(ws);
                self.error = None;
                let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
                self.prefs.recent.retain(|p| p != &abs);
                self.prefs.recent.insert(0, abs);
                self.prefs.recent.truncate(8);
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    /// The map's zoom and centre (benchmarks and tests move the view).
    pub fn map_memory_mut(&mut self) -> &mut walkers::MapMemory {
        &mut self.map_memory
    }

    /// Imagery tiles still rendering (tests wait for 0 before a snapshot).
    pub fn tiles_pending(&self) -> usize {
        self.tiles.as_ref().map_or(0, |t| t.pending())
    }

    /// True while an import, report or export runs.
    pub fn job_running(&self) -> bool {
        self.job.is_some()
    }

    /// The message of the last finished job (its result window), if still shown.
    pub fn job_result(&self) -> Option<&str> {
        self.report.as_deref()
    }

    /// Queues a command (as a panel would).
    pub fn send(&mut self, cmd: Command) {
        self.cmds.push(cmd);
    }

    fn keys(&mut self, ctx: &egui::Context) {
        let typing = ctx.egui_wants_keyboard_input();
        let verdict_count = self.ws.as_ref().map_or(0, |ws| {
            let t = ws.project.template();
            t.field(&t.roles().verdict).map_or(0, |f| f.codes().len())
        });
        let drawing = self.ws.as_ref().is_some_and(|ws| ws.drawing.as_ref().is_some_and(|d| !d.finished));
        let cmds = &mut self.cmds;
        let mut toggle_help = false;
        let mut focus_search = false;
        let mut cycle_view = false;
        ctx.input_mut(|i| {
            if i.consume_key(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z) {
                cmds.push(Command::Redo);
            }
            if i.consume_key(Modifiers::COMMAND, Key::Z) {
                cmds.push(Command::Undo);
            }
            if typing {
                return;
            }
            if drawing {
                for (key, cmd) in [
                    (Key::Enter, Command::FinishClue),
                    (Key::Backspace, Command::ClueUndoVertex),
                    (Key::Escape, Command::CancelClue),
                ] {
                    if i.consume_key(Modifiers::NONE, key) {
                        cmds.push(cmd);
                    }
                }
            }
            if i.consume_key(Modifiers::NONE, Key::V) {
                cycle_view = true;
            }
            for (key, cmd) in [
                (Key::ArrowRight, Command::Next),
                (Key::J, Command::Next),
                (Key::ArrowLeft, Command::Prev),
                (Key::K, Command::Prev),
                (Key::N, Command::NextUnreviewed),
                (Key::Enter, Command::ConfirmNext),
                (Key::F, Command::Fit),
                (Key::B, Command::Show(Period::Before)),
                (Key::A, Command::Show(Period::After)),
                (Key::Space, Command::TogglePeriod),
            ] {
                if i.consume_key(Modifiers::NONE, key) {
                    cmds.push(cmd);
                }
            }
            let digits =
                [Key::Num1, Key::Num2, Key::Num3, Key::Num4, Key::Num5, Key::Num6, Key::Num7, Key::Num8, Key::Num9];
            for (n, key) in digits.iter().enumerate().take(verdict_count) {
                // Shift first: a plain-key match ignores Shift.
                if i.consume_key(Modifiers::SHIFT, *key) {
                    cmds.push(Command::Verdict { n: n + 1, advance: true });
                } else if i.consume_key(Modifiers::NONE, *key) {
                    cmds.push(Command::Verdict { n: n + 1, advance: false });
                }
            }
            if i.consume_key(Modifiers::SHIFT, Key::Slash)
                || i.consume_key(Modifiers::SHIFT, Key::Questionmark)
                || i.consume_key(Modifiers::NONE, Key::Questionmark)
            {
                toggle_help = true;
            } else if i.consume_key(Modifiers::NONE, Key::Slash) {
                focus_search = true;
            }
        });
        if toggle_help {
            self.show_help = !self.show_help;
        }
        if cycle_view {
            self.prefs.view = match self.prefs.view {
                ViewMode::Single => ViewMode::SideBySide,
                ViewMode::SideBySide => ViewMode::Swipe,
                ViewMode::Swipe => ViewMode::Single,
            };
        }
        if focus_search {
            self.focus_search = true;
        }
    }

    fn dropped_files(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).filter(|p| !p.as_os_str().is_empty()).collect()
        });
        for path in dropped {
            let is_project = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gpkg"))
                && Project::open(&path, Access::ReadOnly).is_ok();
            let is_photo = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["jpg", "jpeg", "heic"].contains(&e.to_ascii_lowercase().as_str()));
            if is_photo && self.ws.is_some() {
                if let Some(ws) = self.ws.take() {
                    let project = ws.project.path().to_path_buf();
                    drop(ws);
                    self.tiles = None;
                    self.job = Some(start::Job::spawn_photos(project, vec![path], ctx.clone()));
                }
            } else if is_project {
                self.open_project(&path);
            } else if let Some(ws) = &self.ws {
                // A patch file dropped on an open project: a later batch.
                let project = ws.project.path().to_path_buf();
                self.ws = None;
                self.tiles = None;
                self.job = Some(start::Job::spawn(project, path, None, ctx.clone()));
            } else {
                self.start.patch_path = path.display().to_string();
            }
        }
    }

    fn start_action(&mut self, ctx: &egui::Context, action: start::StartAction) {
        match action {
            start::StartAction::Open(p) => self.open_project(&p),
            start::StartAction::Create { patches, project, template, county, year } => {
                match Template::builtin(&template) {
                    Ok(t) => {
                        let meta = ProjectMeta {
                            programme: t.spec.programme,
                            county_code: county,
                            county_name: String::new(),
                            year,
                            unit: String::new(),
                        };
                        self.job = Some(start::Job::spawn(project, patches, Some((t, meta)), ctx.clone()));
                    }
                    Err(e) => self.error = Some(e.to_string()),
                }
            }
        }
    }

    fn job_ui(&mut self, ctx: &egui::Context, ui: &mut egui::Ui) {
        let lang = self.lang();
        let Some(job) = &mut self.job else { return };
        if let Some(result) = job.try_finish() {
            self.job = None;
            match result {
                Ok((_, start::JobReport::Written(text))) => {
                    self.report = Some(format!("{}\n{text}", tr(lang, "written")));
                }
                Ok((path, start::JobReport::Changed(text))) => {
                    self.report = Some(text);
                    self.open_project(&path);
                }
                Ok((path, start::JobReport::Import(report))) => {
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
                    self.report = Some(text);
                    self.open_project(&path);
                }
                Err(e) => self.error = Some(e),
            }
            return;
        }
        let (stage, done, total) = job.progress.snapshot();
        egui::Modal::new(egui::Id::unique("import_job")).show(ui.ctx(), |ui| {
            ui.heading(tr(lang, job.title));
            ui.label(stage);
            let frac = if total > 0 { done as f32 / total as f32 } else { 0.0 };
            ui.add(egui::ProgressBar::new(frac).text(format!("{done} / {total}")).desired_width(360.0));
            if ui.button(tr(lang, "cancel")).clicked() {
                job.progress.cancel();
            }
        });
        ctx.request_repaint_after(std::time::Duration::from_millis(100));
    }

    fn menu_ui(&mut self, ctx: &egui::Context, ui: &mut egui::Ui) {
        let lang = self.lang();
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button(tr(lang, "menu_file"), |ui| {
                if ui.button(tr(lang, "open_project")).clicked() {
                    if let Some(p) = rfd::FileDialog::new().add_filter("GeoPackage", &["gpkg"]).pick_file() {
                        self.open_project(&p);
                    }
                }
                if self.ws.is_some() && ui.button(tr(lang, "import_batch")).clicked() {
                    if let Some(p) = rfd::FileDialog::new()
                        .add_filter("patches", &["shp", "zip", "gpkg", "geojson", "json", "kml", "csv"])
                        .pick_file()
                    {
                        if let Some(ws) = self.ws.take() {
                            let project = ws.project.path().to_path_buf();
                            drop(ws);
                            self.tiles = None;
                            self.job = Some(start::Job::spawn(project, p, None, ctx.clone()));
                        }
                    }
                }
                if self.ws.is_some() && ui.button(tr(lang, "close_project")).clicked() {
                    self.ws = None;
                    self.tiles = None;
                }
                if ui.button(tr(lang, "quit")).clicked() {
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            if self.ws.is_some() {
                ui.menu_button(tr(lang, "menu_work"), |ui| {
                    if ui.button(tr(lang, "ledger")).clicked() {
                        self.show_ledger = true;
                    }
                    if ui.button(tr(lang, "spot_check")).clicked() {
                        self.show_spot = true;
                    }
                    if ui.button(tr(lang, "deliverables")).clicked() {
                        self.deliver = self.ws.as_ref().map(deliver::DeliverDialog::new);
                    }
                    ui.separator();
                    if ui.button(tr(lang, "seal")).clicked() {
                        self.seal_dialog = Some(SealDialog::Confirm);
                    }
                    if ui.button(tr(lang, "unseal")).clicked() {
                        self.seal_dialog = Some(SealDialog::Unseal(String::new()));
                    }
                    if ui.button(tr(lang, "verify")).clicked() {
                        if let Some(ws) = &mut self.ws {
                            let text = match ws.project.verify() {
                                Ok(r) if r.seal.is_none() => "—".to_string(),
                                Ok(r) if r.differences.is_empty() => {
                                    format!("{} {}", tr(lang, "seal_ok"), &r.digest_now[..16])
                                }
                                Ok(r) => r.differences.join("; "),
                                Err(e) => e.to_string(),
                            };
                            ws.message = Some(state::Message { text, is_error: false });
                        }
                    }
                });
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
                    self.show_help = true;
                }
            });
        });
    }

    fn status_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang();
        let cursor = map::cursor_text(ui.ctx(), &mut self.gk);
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
            ui.label(format!("{} {} / {}", tr(lang, "reviewed"), ws.reviewed_count(), ws.records.len()));
            ui.separator();
            if ws.project.access() == Access::ReadOnly {
                ui.label(RichText::new(tr(lang, "read_only_badge")).color(theme::ERROR_TEXT).strong());
            } else {
                match &ws.last_saved {
                    Some(t) => ui.label(format!("{} {t}", tr(lang, "saved_at"))),
                    None => ui.label(tr(lang, "not_saved_yet")),
                };
            }
            if let Some(t) = &self.tiles {
                if let Some(e) = t.errors.get(&t.source) {
                    ui.separator();
                    ui.label(RichText::new(format!("{}: {e}", tr(lang, "imagery_error"))).color(theme::ERROR_TEXT));
                }
            }
            if let Some(m) = &ws.message {
                ui.separator();
                ui.label(RichText::new(&m.text).color(if m.is_error {
                    theme::ERROR_TEXT
                } else {
                    ui.visuals().text_color()
                }));
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if let Some(c) = cursor {
                    ui.monospace(c);
                }
            });
        });
    }

    fn seal_ui(&mut self, ctx: &egui::Context) {
        let lang = self.lang();
        let Some(dialog) = &mut self.seal_dialog else { return };
        let mut close = false;
        egui::Modal::new(egui::Id::unique("seal_dialog")).show(ctx, |ui| match dialog {
            SealDialog::Confirm => {
                ui.label(tr(lang, "seal_confirm"));
                ui.horizontal(|ui| {
                    if ui.button(tr(lang, "confirm")).clicked() {
                        self.cmds.push(Command::Seal);
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
                        self.cmds.push(Command::Unseal(reason.clone()));
                        close = true;
                    }
                    if ui.button(tr(lang, "cancel")).clicked() {
                        close = true;
                    }
                });
            }
        });
        if close {
            self.seal_dialog = None;
        }
    }

    fn help_ui(&mut self, ctx: &egui::Context) {
        if !self.show_help {
            return;
        }
        let lang = self.lang();
        let mut open = true;
        egui::Window::new(tr(lang, "help_title"))
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
            .show(ctx, |ui| {
                egui::Grid::new("keys").num_columns(2).striped(true).show(ui, |ui| {
                    for (keys, what) in [
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
                        ("?", "key_help"),
                    ] {
                        ui.monospace(keys);
                        ui.label(tr(lang, what));
                        ui.end_row();
                    }
                });
                if let Some(ws) = &self.ws {
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
            self.show_help = false;
        }
    }

    /// One frame: input, panels, then the commands they sent. Used by eframe and by the tests.
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        if !self.styled {
            theme::apply(&ctx);
            self.styled = true;
        }
        if let (Some(ws), None) = (&self.ws, &self.tiles) {
            let sources: Vec<tuban_core::imagery::SourceSpec> = ws.imagery.iter().map(|s| s.spec.clone()).collect();
            if !sources.is_empty() {
                self.tiles = Some(tiles::ImageryTiles::new(&ctx, sources));
            }
        }
        let lang = self.lang();
        self.dropped_files(&ctx);
        if self.ws.is_some() && self.job.is_none() {
            self.keys(&ctx);
        }
        egui::Panel::top("menu").show(ui, |ui| self.menu_ui(&ctx, ui));
        if self.ws.is_some() {
            egui::Panel::bottom("status").show(ui, |ui| self.status_ui(ui));
        }
        tuban_core::imagery::online::set_offline(self.prefs.offline);
        if let (Some(ws), Some(t)) = (&mut self.ws, &mut self.tiles) {
            t.poll();
            t.source = ws.single_source().unwrap_or(0);
            let description = ws.imagery_description(self.prefs.view);
            ws.project.set_imagery_context(description);
            // Prefetch the imagery of the next patches in the queue, both periods.
            if self.prefetched != ws.selection_serial {
                self.prefetched = ws.selection_serial;
                if let Some(pos) = ws.queue_position() {
                    for &next in ws.queue.iter().skip(pos + 1).take(2) {
                        let Some(record) = ws.records.get(next) else { continue };
                        for period in [Period::Before, Period::After] {
                            if let Some(source) = ws.project.imagery_for(record, &ws.imagery, period) {
                                map::prefetch(t, source, ws.shapes[next].bbox, self.map_size);
                            }
                        }
                    }
                }
            }
        }
        match &mut self.ws {
            Some(ws) => {
                let focus = std::mem::take(&mut self.focus_search);
                egui::Panel::left("queue")
                    .default_size(theme::QUEUE_WIDTH)
                    .resizable(true)
                    .show(ui, |ui| queue::queue_ui(ui, ws, lang, focus, &mut self.cmds));
                egui::Panel::right("form").default_size(theme::FORM_WIDTH).resizable(true).show(ui, |ui| {
                    egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
                        form::form_ui(ui, ws, &mut self.form, lang, &mut self.cmds);
                        panels::evidence_ui(ui, ws, &mut self.side, lang, &mut self.cmds);
                    });
                });
                egui::CentralPanel::default().frame(egui::Frame::NONE).show(ui, |ui| {
                    view_toolbar_ui(ui, ws, &mut self.prefs.view, lang, &mut self.cmds);
                    self.map_size = ui.available_size();
                    let before = ws.imagery_for(Period::Before);
                    let after = ws.imagery_for(Period::After);
                    let caption = |period: Period, index: Option<usize>| {
                        let name = match period {
                            Period::Before => tr(lang, "before"),
                            Period::After => tr(lang, "after"),
                        };
                        if ws.imagery.is_empty() {
                            tr(lang, "no_imagery").to_string()
                        } else {
                            format!("{name}  {}", ws.source_caption(index))
                        }
                    };
                    match self.prefs.view {
                        ViewMode::Single => {
                            let source = ws.single_source();
                            let period = if ws.source_override.is_some() {
                                if source == before {
                                    Period::Before
                                } else {
                                    Period::After
                                }
                            } else {
                                ws.period
                            };
                            map::map_ui(
                                ui,
                                ws,
                                self.tiles.as_mut(),
                                &mut self.map_memory,
                                map::MapSources::Single(source),
                                caption(period, source),
                                &mut self.swipe,
                                &mut self.cmds,
                            );
                        }
                        ViewMode::SideBySide => {
                            self.map_size = egui::vec2(self.map_size.x / 2.0, self.map_size.y);
                            ui.columns(2, |cols| {
                                map::map_ui(
                                    &mut cols[0],
                                    ws,
                                    self.tiles.as_mut(),
                                    &mut self.map_memory,
                                    map::MapSources::Single(before),
                                    caption(Period::Before, before),
                                    &mut self.swipe,
                                    &mut self.cmds,
                                );
                                map::map_ui(
                                    &mut cols[1],
                                    ws,
                                    self.tiles.as_mut(),
                                    &mut self.map_memory,
                                    map::MapSources::Single(after),
                                    caption(Period::After, after),
                                    &mut self.swipe,
                                    &mut self.cmds,
                                );
                            });
                        }
                        ViewMode::Swipe => {
                            let text =
                                format!("{}  |  {}", caption(Period::Before, before), caption(Period::After, after));
                            map::map_ui(
                                ui,
                                ws,
                                self.tiles.as_mut(),
                                &mut self.map_memory,
                                map::MapSources::Swipe { left: before, right: after, frac: self.swipe },
                                text,
                                &mut self.swipe,
                                &mut self.cmds,
                            );
                        }
                    }
                });
                ws.fit_requested = false;
            }
            None => {
                egui::CentralPanel::default().show(ui, |ui| {
                    if let Some(e) = &self.error {
                        ui.colored_label(theme::ERROR_TEXT, format!("{}: {e}", tr(lang, "error")));
                    }
                    if let Some(action) = start::start_ui(ui, &mut self.start, &self.prefs.recent, lang) {
                        self.start_action(&ctx, action);
                    }
                });
            }
        }
        self.job_ui(&ctx, ui);
        if let Some(text) = self.report.clone() {
            let mut open = true;
            egui::Window::new(tr(lang, "job_result")).open(&mut open).collapsible(false).show(&ctx, |ui| {
                ui.label(text);
            });
            if !open {
                self.report = None;
            }
        }
        self.help_ui(&ctx);
        if let Some(ws) = &self.ws {
            if self.show_ledger {
                panels::ledger_window(&ctx, ws, &mut self.ledger_cache, &mut self.show_ledger, lang, &mut self.cmds);
            }
            if ws.drawing.as_ref().is_some_and(|d| d.finished) {
                clue_form_ui(&ctx, ws, &mut self.clue_form, lang, &mut self.cmds);
            }
            if let Some(dlg) = &mut self.deliver {
                let mut open = true;
                let action = deliver::deliver_window(&ctx, ws, dlg, &mut open, lang, &mut self.cmds);
                if !open {
                    self.deliver = None;
                }
                let project = ws.project.path().to_path_buf();
                match action {
                    Some(deliver::DeliverAction::Report { out, opts, force }) => {
                        self.job = Some(start::Job::spawn_report(project, out, opts, force, ctx.clone()))
                    }
                    Some(deliver::DeliverAction::Export { out, format, force }) => {
                        self.job = Some(start::Job::spawn_export(project, out, format, force, ctx.clone()))
                    }
                    None => {}
                }
            }
            if self.show_spot {
                panels::spotcheck_window(
                    &ctx,
                    ws,
                    &mut self.spot_cache,
                    &mut self.show_spot,
                    &mut self.spot_share,
                    lang,
                    &mut self.cmds,
                );
            }
        }
        self.seal_ui(&ctx);
        let cmds = std::mem::take(&mut self.cmds);
        for c in cmds {
            match c {
                // Reading photos and documents must not block the window: jobs, as for imports.
                // They write the project, so the window lets go of it until they are done.
                Command::AddPhotos(_) | Command::AttachToCase { .. } => {
                    if let Some(ws) = self.ws.take() {
                        let project = ws.project.path().to_path_buf();
                        drop(ws);
                        self.tiles = None;
                        self.job = Some(match c {
                            Command::AttachToCase { number, paths, kind } => {
                                start::Job::spawn_attach(project, number, paths, kind, ctx.clone())
                            }
                            Command::AddPhotos(files) => start::Job::spawn_photos(project, files, ctx.clone()),
                            _ => continue,
                        });
                    }
                }
                Command::ExtractAttachment { id, out } => {
                    if let Some(ws) = &self.ws {
                        self.job =
                            Some(start::Job::spawn_extract(ws.project.path().to_path_buf(), id, out, ctx.clone()));
                    }
                }
                c => {
                    if let Some(ws) = &mut self.ws {
                        ws.apply(c, lang);
                    }
                }
            }
        }
    }
}

impl eframe::App for TubanApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, PREFS_KEY, &self.prefs);
    }
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
fn clue_form_ui(ctx: &egui::Context, ws: &Workstation, form: &mut ClueForm, lang: Lang, cmds: &mut Vec<Command>) {
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

/// The bar above the map: view mode, source switcher and, with more than two dates, a time slider.
fn view_toolbar_ui(ui: &mut egui::Ui, ws: &mut Workstation, view: &mut ViewMode, lang: Lang, cmds: &mut Vec<Command>) {
    egui::Frame::NONE.inner_margin(egui::Margin::symmetric(8, 4)).show(ui, |ui| {
        ui.horizontal(|ui| {
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

/// Opens the window (on `project` when given) and runs until it closes.
pub fn run(project: Option<PathBuf>) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("图斑核查 tuban")
            .with_inner_size([1600.0, 960.0])
            .with_drag_and_drop(true),
        persist_window: true,
        ..Default::default()
    };
    eframe::run_native(
        "tuban",
        options,
        Box::new(move |cc| {
            let prefs: Prefs = cc.storage.and_then(|s| eframe::get_value(s, PREFS_KEY)).unwrap_or_default();
            Ok(Box::new(TubanApp::new(prefs, project)))
        }),
    )
    .map_err(|e| anyhow::anyhow!("无法打开窗口 / cannot open the window: {e}"))
}

/// The programme label in the current language (menu titles, reports).
pub fn programme_label(p: Programme, lang: Lang) -> &'static str {
    match (p, lang) {
        (p, Lang::Zh) => p.label(),
        (Programme::Grassland, Lang::En) => "Grassland change-patch verification",
        (Programme::Forest, Lang::En) => "Forest supervision",
        (Programme::Eco, Lang::En) => "Ecological-damage screening",
    }
}
