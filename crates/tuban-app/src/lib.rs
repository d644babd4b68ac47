//! The desktop app (eframe): the only crate that uses egui, eframe, walkers and rfd.
//!
//! This file is the app shell: [`TubanApp`] with its [`Prefs`], the frame, the `eframe::App`
//! impl and [`run`]. Each frame: keys and dropped files become commands, the panels draw from the
//! [`Workstation`] and push more commands, and at the end of the frame the commands are applied
//! in one place each: a [`Command`] by [`Workstation::apply`], an [`AppCommand`] by the shell
//! (`logic.rs`). Every edit goes through the store at once; there is no save button.
//!
//! Code map: `keys` (keyboard), `menus` (menu and status bars), `views` (the map area), `dialogs`
//! (seal, help, clue form, job progress and result, windows), `logic` (app commands, jobs),
//! `commands` (both command kinds), `apply` (project commands), `jobs` (the job slot), `state`
//! (the open project), and the panels `queue`, `form`, `panels`, `deliver`, `start`, `map`.

mod apply;
pub mod commands;
pub mod conflicts;
pub mod deliver;
pub mod dialogs;
pub mod edit;
pub mod edit_map;
pub mod form;
pub mod hub;
pub mod i18n;
pub mod jobs;
mod keys;
mod logic;
pub mod map;
mod menus;
pub mod panels;
pub mod queue;
pub mod reference;
pub mod start;
pub mod state;
pub mod theme;
pub mod tiles;
pub mod views;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use commands::{AnyCommand, AppCommand, Command, Commands, Dialog};
use i18n::{tr, Lang};
pub use state::{Period, ViewMode, Workstation};
use tuban_core::store::{Access, Project};
use tuban_model::Programme;

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

/// The whole app: start screen or workstation, the dialogs, and the one job slot.
pub struct TubanApp {
    /// Preferences.
    pub prefs: Prefs,
    /// The open project, if any.
    pub ws: Option<Workstation>,
    start: start::StartState,
    jobs: jobs::JobSlot,
    /// Why a second job was not started (shown in the progress dialog).
    job_notice: Option<String>,
    /// The patch shown when a writing job took the project (shown again when it is back).
    resume_fid: Option<i64>,
    /// The words of the last finished job (its result window).
    report: Option<String>,
    /// An error shown on the start screen.
    error: Option<String>,
    map: views::MapState,
    form: form::FormBuffers,
    side: panels::SideCache,
    dialogs: dialogs::Dialogs,
    cmds: Commands,
    focus_search: bool,
    styled: bool,
    /// The painter clears each frame to the panels' colour, so the panels leave their
    /// background to it (see [`TubanApp::set_clear_is_panel_fill`]).
    clear_is_panel_fill: bool,
}

impl TubanApp {
    /// A new app; opens `project` when given (errors are shown on the start screen). Fonts and
    /// style are installed on the first frame, so tests and eframe share this constructor.
    pub fn new(prefs: Prefs, project: Option<PathBuf>) -> TubanApp {
        let mut app = TubanApp {
            prefs,
            ws: None,
            start: start::StartState::default(),
            jobs: jobs::JobSlot::default(),
            job_notice: None,
            resume_fid: None,
            report: None,
            error: None,
            map: views::MapState::default(),
            form: form::FormBuffers::default(),
            side: panels::SideCache::default(),
            dialogs: dialogs::Dialogs::default(),
            cmds: Commands::default(),
            focus_search: false,
            styled: false,
            clear_is_panel_fill: false,
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
        self.map.tiles = None;
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
        &mut self.map.memory
    }

    /// Imagery tiles still rendering (tests wait for 0 before a snapshot).
    pub fn tiles_pending(&self) -> usize {
        self.map.tiles.as_ref().map_or(0, |t| t.pending())
    }

    /// True while a job (import, photos, attachments, report, export, seal, verify) runs.
    pub fn job_running(&self) -> bool {
        self.jobs.is_running()
    }

    /// The title (an i18n key) of the running job.
    pub fn job_title(&self) -> Option<&'static str> {
        self.jobs.running().map(|j| j.title)
    }

    /// The message of the last finished job (its result window), if still shown.
    pub fn job_result(&self) -> Option<&str> {
        self.report.as_deref()
    }

    /// Queues a command of either kind (as a panel would); applied at the end of the next frame.
    pub fn send(&mut self, cmd: impl Into<AnyCommand>) {
        self.cmds.push(cmd);
    }

    /// Tells the app that its painter clears every frame to [`TubanApp::clear_color`]: the side,
    /// top and bottom panels then paint no background of their own. On a software renderer
    /// (Mesa llvmpipe) each blended pixel costs, and the panels are a million of the 2 million
    /// pixels of a 1920×1080 frame; a clear costs next to nothing. Off by default, for painters
    /// that clear to transparent (egui_kittest's snapshots).
    pub fn set_clear_is_panel_fill(&mut self, on: bool) {
        self.clear_is_panel_fill = on;
    }

    /// The colour the window's painter clears to: the panels' background (gamma-space RGBA).
    pub fn clear_color(visuals: &egui::Visuals) -> [f32; 4] {
        visuals.panel_fill.to_normalized_gamma_f32()
    }

    /// A panel's frame: egui's, without its fill when the painter's clear provides it.
    fn panel_frame(&self, ui: &egui::Ui) -> egui::Frame {
        let frame = egui::Frame::side_top_panel(ui.style());
        if self.clear_is_panel_fill {
            frame.fill(egui::Color32::TRANSPARENT)
        } else {
            frame
        }
    }

    /// One frame: input, panels, dialogs, then the commands they sent. Used by eframe and by the
    /// tests.
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        if !self.styled {
            theme::apply(&ctx);
            self.styled = true;
        }
        let lang = self.lang();
        self.dropped_files(&ctx);
        if let (Some(ws), false) = (&self.ws, self.jobs.is_running()) {
            keys::keys(&ctx, ws, &mut self.cmds);
        }
        if let Some(ws) = &mut self.ws {
            // Typing not yet saved holds pulled changes back until it is (then the pull meets it
            // as a local edit: a conflict, not an overwrite).
            let now = ctx.input(|i| i.time);
            let typing = self.form.last_typed().is_some_and(|t| now - t < form::AUTOSAVE_AFTER_S + 0.7);
            hub::tick(ws, &ctx, typing);
        }
        egui::Panel::top("menu").frame(self.panel_frame(ui)).show(ui, |ui| self.menu_ui(&ctx, ui));
        if self.ws.is_some() {
            egui::Panel::bottom("status").frame(self.panel_frame(ui)).show(ui, |ui| self.status_ui(ui));
        }
        tuban_core::imagery::online::set_offline(self.prefs.offline);
        if let Some(ws) = &mut self.ws {
            self.map.update(&ctx, ws, self.prefs.view);
        }
        if self.ws.is_some() {
            self.workstation_ui(ui);
        } else {
            self.start_screen_ui(ui);
        }
        self.finish_job();
        dialogs::job_ui(&ctx, &self.jobs, self.job_notice.as_deref(), lang);
        dialogs::job_result_ui(&ctx, &mut self.report, lang);
        self.dialogs.help_ui(&ctx, self.ws.as_ref(), lang);
        if let Some(ws) = &self.ws {
            self.dialogs.windows_ui(&ctx, ws, lang, &mut self.cmds);
        }
        self.drain_commands(&ctx);
    }

    /// Files dropped on the window, as commands.
    fn dropped_files(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).filter(|p| !p.as_os_str().is_empty()).collect()
        });
        for path in dropped {
            self.cmds.push(AppCommand::Dropped(path));
        }
    }

    /// Queue, form and evidence panels, and the map area.
    fn workstation_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang();
        let panel_frame = self.panel_frame(ui);
        let Some(ws) = &mut self.ws else { return };
        let focus = std::mem::take(&mut self.focus_search);
        egui::Panel::left("queue")
            .frame(panel_frame)
            .default_size(theme::QUEUE_WIDTH)
            .resizable(true)
            .show(ui, |ui| queue::queue_ui(ui, ws, lang, focus, &mut self.cmds));
        egui::Panel::right("form").frame(panel_frame).default_size(theme::FORM_WIDTH).resizable(true).show(ui, |ui| {
            egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
                form::form_ui(ui, ws, &mut self.form, lang, &mut self.cmds);
                panels::evidence_ui(ui, ws, &mut self.side, lang, &mut self.cmds);
            });
        });
        egui::CentralPanel::default().frame(egui::Frame::NONE).show(ui, |ui| {
            views::map_area_ui(ui, ws, &mut self.map, &mut self.prefs.view, lang, &mut self.cmds);
        });
        if !ws.reference.layers.is_empty() || self.map.ref_draft.open {
            egui::Window::new(tr(lang, "ref_layers"))
                .id(egui::Id::unique("reference_legend"))
                .default_pos(egui::pos2(theme::QUEUE_WIDTH + 40.0, 130.0))
                .resizable(false)
                .collapsible(true)
                .show(ui.ctx(), |ui| reference::legend_ui(ui, ws, lang, &mut self.map.ref_draft, &mut self.cmds));
        }
        reference::picked_ui(ui.ctx(), ws, lang, &mut self.cmds);
        ws.fit_requested = false;
    }

    fn start_screen_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang();
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(e) = &self.error {
                ui.colored_label(theme::ERROR_TEXT, format!("{}: {e}", tr(lang, "error")));
            }
            start::start_ui(ui, &mut self.start, &self.prefs.recent, lang, &mut self.cmds);
        });
    }
}

impl eframe::App for TubanApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }

    fn clear_color(&self, visuals: &egui::Visuals) -> [f32; 4] {
        TubanApp::clear_color(visuals)
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, PREFS_KEY, &self.prefs);
    }
}

/// Opens the window (on `project` when given) and runs until it closes.
///
/// It paints with OpenGL (egui_glow) and, where no OpenGL 3 context can be made (Windows without
/// a graphics driver offers only OpenGL 1.1), with wgpu (DirectX 12, Vulkan or Metal, or their
/// software fallbacks); `TUBAN_RENDERER=wgpu` chooses wgpu from the start. OpenGL is the default
/// because on a software renderer (a virtual machine, a remote desktop, a PC without a graphics
/// driver) it paints a full 1920×1080 layer in 9 ms where wgpu takes 54 ms (Mesa llvmpipe, the
/// workstation benchmark); on a graphics card both take well under a millisecond.
pub fn run(project: Option<PathBuf>) -> anyhow::Result<()> {
    let wgpu_first = std::env::var("TUBAN_RENDERER").is_ok_and(|v| v.eq_ignore_ascii_case("wgpu"));
    if !wgpu_first {
        match run_with(eframe::Renderer::Glow, project.clone()) {
            // Only a missing or unusable OpenGL falls back; any other error is the window's.
            Err(e @ (eframe::Error::Glutin(_) | eframe::Error::NoGlutinConfigs(..) | eframe::Error::OpenGL(_))) => {
                eprintln!("OpenGL 不可用，改用 wgpu 绘制 / OpenGL unavailable ({e}); painting with wgpu");
            }
            other => return other.map_err(|e| anyhow::anyhow!("无法打开窗口 / cannot open the window: {e}")),
        }
    }
    run_with(eframe::Renderer::Wgpu, project).map_err(|e| anyhow::anyhow!("无法打开窗口 / cannot open the window: {e}"))
}

fn run_with(renderer: eframe::Renderer, project: Option<PathBuf>) -> Result<(), eframe::Error> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("图斑核查 tuban")
            .with_inner_size([1600.0, 960.0])
            .with_drag_and_drop(true),
        persist_window: true,
        renderer,
        // Dithering only smooths gradients of translucent colour, which the window has none of;
        // it costs a fifth of the fill rate on a software renderer (8.6 → 6.4 ms a full 1920×1080
        // layer, llvmpipe, the workstation benchmark).
        dithering: false,
        ..Default::default()
    };
    eframe::run_native(
        "tuban",
        options,
        Box::new(move |cc| {
            let prefs: Prefs = cc.storage.and_then(|s| eframe::get_value(s, PREFS_KEY)).unwrap_or_default();
            let mut app = TubanApp::new(prefs, project);
            app.set_clear_is_panel_fill(true);
            Ok(Box::new(app))
        }),
    )
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
