//! The app shell's logic: the one handler of [`AppCommand`]s, the one place a job is started
//! (refused while one runs; a writing job gets the project to itself), and what is done with a
//! finished job. Project [`Command`](crate::Command)s go to
//! [`Workstation::apply`](crate::Workstation::apply) instead.

use std::path::{Path, PathBuf};

use tuban_core::store::{Access, Project, ProjectMeta};
use tuban_model::Template;

use super::commands::AppCommand;
use super::dialogs;
use super::i18n::tr;
use super::jobs::{JobOutcome, JobSpec};
use super::state::{Message, ViewMode};
use super::TubanApp;

impl TubanApp {
    /// Applies the commands of this frame: project commands first, then app commands.
    pub(crate) fn drain_commands(&mut self, ctx: &egui::Context) {
        let (project, app) = self.cmds.take();
        let lang = self.lang();
        if let Some(ws) = &mut self.ws {
            for c in project {
                ws.apply(c, lang);
            }
        }
        for c in app {
            self.handle(ctx, c);
        }
    }

    /// The one handler of app commands.
    pub(crate) fn handle(&mut self, ctx: &egui::Context, cmd: AppCommand) {
        match cmd {
            AppCommand::OpenProject(path) => self.open_unless_busy(&path),
            AppCommand::CreateProject { patches, project, template, county, year } => {
                self.create_project(ctx, patches, project, &template, county, year)
            }
            AppCommand::ImportBatch(patches) => {
                self.project_job(ctx, |project| JobSpec::Import { project, patches, create: None })
            }
            AppCommand::MergePackage(package) => {
                self.project_job(ctx, |project| JobSpec::MergePackage { project, package })
            }
            AppCommand::CloseProject => self.release_project(),
            AppCommand::Dropped(path) => self.dropped(ctx, path),
            AppCommand::AddPhotos(paths) => self.project_job(ctx, |project| JobSpec::Photos { project, paths }),
            AppCommand::AttachToCase { number, paths, kind } => {
                self.project_job(ctx, |project| JobSpec::Attach { project, number, paths, kind })
            }
            AppCommand::ExtractAttachment { id, out } => {
                self.project_job(ctx, |project| JobSpec::Extract { project, id, out })
            }
            AppCommand::Report { out, opts, force } => {
                self.project_job(ctx, |project| JobSpec::Report { project, out, opts, force })
            }
            AppCommand::Export { out, format, force } => {
                self.project_job(ctx, |project| JobSpec::Export { project, out, format, force })
            }
            AppCommand::Seal => self.project_job(ctx, |project| JobSpec::Seal { project }),
            AppCommand::Verify => self.project_job(ctx, |project| JobSpec::Verify { project }),
            AppCommand::Show(dialog) => self.dialogs.show(dialog, self.ws.as_ref()),
            AppCommand::ToggleHelp => self.dialogs.help = !self.dialogs.help,
            AppCommand::CycleView => {
                self.prefs.view = match self.prefs.view {
                    ViewMode::Single => ViewMode::SideBySide,
                    ViewMode::SideBySide => ViewMode::Swipe,
                    ViewMode::Swipe => ViewMode::Single,
                }
            }
            AppCommand::FocusSearch => self.focus_search = true,
            AppCommand::AddReference { path, kind, fields } => self.project_job(ctx, |project| JobSpec::AddReference {
                project,
                path,
                layer: Box::new(tuban_core::reference::NewLayer {
                    kind,
                    name: None,
                    label: String::new(),
                    dated: None,
                    read: tuban_core::reference::ReadOptions { class_fields: fields, ..Default::default() },
                }),
            }),
            AppCommand::RefreshOverlay => self.project_job(ctx, |project| JobSpec::Overlay { project }),
            AppCommand::ShowAddReference => self.map.ref_draft.open = true,
        }
    }

    /// Lets go of the open project (its connection and imagery tiles).
    fn release_project(&mut self) {
        self.resume_fid = self.ws.as_ref().and_then(|ws| ws.current.and_then(|i| ws.records.get(i)).map(|r| r.fid));
        self.ws = None;
        self.map.tiles = None;
    }

    fn open_unless_busy(&mut self, path: &Path) {
        if self.jobs.is_running() {
            // The job may open its own project when it is done.
            self.refuse_job();
        } else {
            self.open_project(path);
        }
    }

    fn create_project(
        &mut self,
        ctx: &egui::Context,
        patches: PathBuf,
        project: PathBuf,
        template: &str,
        county: String,
        year: i32,
    ) {
        match Template::builtin(template) {
            Ok(t) => {
                let meta = ProjectMeta {
                    programme: t.spec.programme,
                    county_code: county,
                    county_name: String::new(),
                    year,
                    unit: String::new(),
                };
                self.start_job(ctx, JobSpec::Import { project, patches, create: Some(Box::new((t, meta))) });
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    /// A file dropped on the window: photos for the open project, a project to open, a later
    /// batch for the open project, or the patch file of a new project.
    fn dropped(&mut self, ctx: &egui::Context, path: PathBuf) {
        if self.jobs.is_running() {
            self.refuse_job();
            return;
        }
        let is_project = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gpkg"))
            && Project::open(&path, Access::ReadOnly).is_ok();
        let is_photo = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ["jpg", "jpeg", "heic"].contains(&e.to_ascii_lowercase().as_str()));
        if is_photo && self.ws.is_some() {
            self.project_job(ctx, |project| JobSpec::Photos { project, paths: vec![path] });
        } else if is_project {
            self.open_project(&path);
        } else if self.ws.is_some() {
            self.project_job(ctx, |project| JobSpec::Import { project, patches: path, create: None });
        } else {
            self.start.patch_path = path.display().to_string();
        }
    }

    /// Starts a job on the open project (none open: nothing to do).
    fn project_job(&mut self, ctx: &egui::Context, spec: impl FnOnce(PathBuf) -> JobSpec) {
        let Some(project) = self.ws.as_ref().map(|ws| ws.project.path().to_path_buf()) else { return };
        self.start_job(ctx, spec(project));
    }

    /// The one place a job starts: refused while another runs; a job that writes the project
    /// gets it to itself (the window lets go now and opens it again when the job is done).
    fn start_job(&mut self, ctx: &egui::Context, spec: JobSpec) {
        if self.jobs.is_running() {
            self.refuse_job();
            return;
        }
        if spec.writes() {
            self.release_project();
        }
        let wake = ctx.clone();
        if self.jobs.start(spec, move || wake.request_repaint()).is_err() {
            self.refuse_job();
        }
    }

    /// Says that a job runs and the new one was not started: in the status line, or in the
    /// progress dialog while the job holds the project.
    fn refuse_job(&mut self) {
        let text = tr(self.lang(), "job_busy").to_string();
        match &mut self.ws {
            Some(ws) => ws.message = Some(Message { text, is_error: true }),
            None => self.job_notice = Some(text),
        }
    }

    /// Takes a finished job: opens the project again after a job that wrote it, then shows the
    /// outcome (seal and verify in the status line, the rest in the result window) or the error.
    pub(crate) fn finish_job(&mut self) {
        let Some(done) = self.jobs.poll() else { return };
        self.job_notice = None;
        let lang = self.lang();
        if done.wrote && done.project.exists() {
            self.open_project(&done.project);
            // Back on the patch the analyst was looking at when the job started.
            let resume = self.resume_fid.take();
            if let Some(ws) = &mut self.ws {
                if let Some(&i) = resume.and_then(|fid| ws.index_of_fid.get(&fid)) {
                    ws.select(i);
                }
            }
        }
        match done.outcome {
            Ok(outcome @ (JobOutcome::Sealed(..) | JobOutcome::Verified(_))) => {
                let text = dialogs::outcome_text(lang, &outcome);
                match &mut self.ws {
                    Some(ws) => ws.inform(text),
                    None => self.report = Some(text),
                }
            }
            Ok(outcome) => self.report = Some(dialogs::outcome_text(lang, &outcome)),
            Err(e) => match &mut self.ws {
                Some(ws) => ws.message = Some(Message { text: e.message, is_error: true }),
                None => self.error = Some(e.message),
            },
        }
    }
}
