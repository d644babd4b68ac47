//! The start screen (recent projects, new project from a patch file, open a project) and the
//! import job that runs off the UI thread with progress and cancel.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use egui::Ui;

use super::i18n::{tr, Lang};
use tuban_core::import::{self, ImportOptions, ImportReport};
use tuban_core::store::{Access, Project, ProjectMeta};
use tuban_model::progress::Progress;
use tuban_model::Template;

/// What the start screen asks the app to do.
#[derive(Debug, Clone, PartialEq)]
pub enum StartAction {
    /// Open this project.
    Open(PathBuf),
    /// Create a project from a patch file and import it.
    Create { patches: PathBuf, project: PathBuf, template: String, county: String, year: i32 },
}

/// Fields of the start screen.
pub struct StartState {
    /// Typed path of a project to open.
    pub open_path: String,
    /// Typed path of a patch file.
    pub patch_path: String,
    /// Template id.
    pub template: String,
    /// County code.
    pub county: String,
    /// Monitoring year.
    pub year: i32,
}

impl Default for StartState {
    fn default() -> Self {
        use chrono::Datelike;
        StartState {
            open_path: String::new(),
            patch_path: String::new(),
            template: "grassland".into(),
            county: String::new(),
            year: chrono::Local::now().year() - 1,
        }
    }
}

/// Where a new project for a patch file goes: beside it, named after it.
pub fn project_path_for(patches: &Path) -> PathBuf {
    let stem = patches.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "项目".into());
    let dir = patches.parent().unwrap_or(Path::new("."));
    let mut candidate = dir.join(format!("{stem}_核查.gpkg"));
    let mut n = 2;
    while candidate.exists() {
        candidate = dir.join(format!("{stem}_核查_{n}.gpkg"));
        n += 1;
    }
    candidate
}

/// Draws the start screen.
pub fn start_ui(ui: &mut Ui, state: &mut StartState, recent: &[PathBuf], lang: Lang) -> Option<StartAction> {
    let mut action = None;
    ui.vertical_centered(|ui| {
        ui.add_space(30.0);
        ui.heading(egui::RichText::new(tr(lang, "start_title")).size(28.0));
        ui.label(tr(lang, "start_subtitle"));
        ui.add_space(20.0);
    });
    ui.columns(2, |cols| {
        let ui = &mut cols[0];
        ui.heading(tr(lang, "recent"));
        if recent.is_empty() {
            ui.label(tr(lang, "no_recent"));
        }
        for p in recent {
            if ui.link(p.display().to_string()).clicked() {
                action = Some(StartAction::Open(p.clone()));
            }
        }
        ui.add_space(16.0);
        ui.heading(tr(lang, "open_project"));
        let label = ui.label(tr(lang, "project_file")).id;
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut state.open_path).desired_width(360.0)).labelled_by(label);
            if ui.button(tr(lang, "browse")).clicked() {
                if let Some(p) = rfd::FileDialog::new().add_filter("GeoPackage", &["gpkg"]).pick_file() {
                    state.open_path = p.display().to_string();
                }
            }
            if ui.button(tr(lang, "open")).clicked() && !state.open_path.trim().is_empty() {
                action = Some(StartAction::Open(PathBuf::from(state.open_path.trim())));
            }
        });
        let ui = &mut cols[1];
        ui.heading(tr(lang, "new_project"));
        let label = ui.label(tr(lang, "patch_file")).id;
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut state.patch_path).desired_width(360.0)).labelled_by(label);
            if ui.button(tr(lang, "browse")).clicked() {
                if let Some(p) = rfd::FileDialog::new()
                    .add_filter("patches", &["shp", "zip", "gpkg", "geojson", "json", "kml", "csv"])
                    .pick_file()
                {
                    state.patch_path = p.display().to_string();
                }
            }
        });
        egui::Grid::new("new_project").num_columns(2).show(ui, |ui| {
            let label = ui.label(tr(lang, "template")).id;
            let r = egui::ComboBox::from_id_salt("template").selected_text(template_name(&state.template)).show_ui(
                ui,
                |ui| {
                    for (id, _) in tuban_model::template::BUILTIN {
                        ui.selectable_value(&mut state.template, id.to_string(), template_name(id));
                    }
                },
            );
            r.response.labelled_by(label);
            ui.end_row();
            let label = ui.label(tr(lang, "county_code")).id;
            ui.add(egui::TextEdit::singleline(&mut state.county).desired_width(100.0)).labelled_by(label);
            ui.end_row();
            let label = ui.label(tr(lang, "year")).id;
            ui.add(egui::DragValue::new(&mut state.year).range(2000..=2100)).labelled_by(label);
            ui.end_row();
        });
        if ui.button(tr(lang, "create_and_import")).clicked() && !state.patch_path.trim().is_empty() {
            let patches = PathBuf::from(state.patch_path.trim());
            action = Some(StartAction::Create {
                project: project_path_for(&patches),
                patches,
                template: state.template.clone(),
                county: state.county.clone(),
                year: state.year,
            });
        }
    });
    ui.add_space(20.0);
    ui.vertical_centered(|ui| ui.label(egui::RichText::new(tr(lang, "drop_hint")).weak()));
    action
}

fn template_name(id: &str) -> String {
    Template::builtin(id).map(|t| t.spec.name).unwrap_or_else(|_| id.to_string())
}

/// What a finished job reports.
pub enum JobReport {
    /// A patch import (the app opens the project again).
    Import(ImportReport),
    /// Photos or attachments added, as text (the app opens the project again).
    Changed(String),
    /// A report or export, as text; the project stayed open.
    Written(String),
}

/// Long work (import, photos, report, export) running on its own thread.
pub struct Job {
    /// Progress and cancel.
    pub progress: Arc<Progress>,
    /// Title of the progress dialog (an i18n key).
    pub title: &'static str,
    handle: Option<JoinHandle<Result<(PathBuf, JobReport), String>>>,
}

impl Job {
    /// Runs `work` on a named thread with a fresh progress; asks for a repaint when done.
    fn run(
        name: &'static str,
        ctx: egui::Context,
        work: impl FnOnce(&Progress) -> Result<(PathBuf, JobReport), String> + Send + 'static,
    ) -> Job {
        let progress = Progress::new();
        let p = Arc::clone(&progress);
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let result = work(&p);
                ctx.request_repaint();
                result
            })
            .ok();
        let title = match name {
            "report" => "making_report",
            "export" | "extract" => "exporting",
            _ => "importing",
        };
        Job { progress, title, handle }
    }

    /// Creates the project (when `create` is given) and imports `patches` into `project`.
    pub fn spawn(
        project: PathBuf,
        patches: PathBuf,
        create: Option<(Template, ProjectMeta)>,
        ctx: egui::Context,
    ) -> Job {
        Job::run("import", ctx, move |p| {
            let mut proj = match &create {
                Some((t, meta)) => Project::create(&project, t, meta).map_err(|e| e.to_string())?,
                None => Project::open(&project, Access::ReadWrite).map_err(|e| e.to_string())?,
            };
            match import::import(&mut proj, &patches, &ImportOptions::default(), p) {
                Ok(r) => Ok((project.clone(), JobReport::Import(r))),
                Err(e) => {
                    drop(proj);
                    if create.is_some() {
                        // A project that never received its patches is not worth keeping.
                        let _ = std::fs::remove_file(&project);
                    }
                    Err(e.to_string())
                }
            }
        })
    }

    /// Adds photos to a project (EXIF, thumbnails, matching) off the UI thread.
    pub fn spawn_photos(project: PathBuf, paths: Vec<PathBuf>, ctx: egui::Context) -> Job {
        Job::run("photos", ctx, move |p| {
            let mut proj = Project::open(&project, Access::ReadWrite).map_err(|e| e.to_string())?;
            let r =
                tuban_core::evidence::import_photos(&mut proj, &paths, None, 100.0, p).map_err(|e| e.to_string())?;
            let mut text = format!(
                "匹配 / matched {}  未匹配 / unmatched {}  出错 / errors {}",
                r.matched.len(),
                r.unmatched.len(),
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
            Ok((project.clone(), JobReport::Changed(text)))
        })
    }

    /// Reads files (scanned documents, photos) and attaches them to a case; a file that cannot be
    /// read or is refused is named in the result and the others are still attached.
    pub fn spawn_attach(
        project: PathBuf,
        number: String,
        paths: Vec<PathBuf>,
        kind: String,
        ctx: egui::Context,
    ) -> Job {
        Job::run("attach", ctx, move |p| {
            let mut proj = Project::open(&project, Access::ReadWrite).map_err(|e| e.to_string())?;
            p.stage("附件 / attachments", paths.len() as u64);
            let mut lines = Vec::new();
            for (i, path) in paths.iter().enumerate() {
                if p.set(i as u64).is_err() {
                    lines.push("已取消 / cancelled".to_string());
                    break;
                }
                let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                let result = std::fs::read(path)
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| proj.attach_to_case(&number, &name, &kind, &bytes).map_err(|e| e.to_string()));
                lines.push(match result {
                    Ok(id) => format!("{number}: #{id} {kind} {name}"),
                    Err(e) => format!("{}: {e}", path.display()),
                });
            }
            Ok((project.clone(), JobReport::Changed(lines.join("\n"))))
        })
    }

    /// Writes an attachment to a file, from a read-only connection.
    pub fn spawn_extract(project: PathBuf, id: i64, out: PathBuf, ctx: egui::Context) -> Job {
        Job::run("extract", ctx, move |_| {
            let proj = Project::open(&project, Access::ReadOnly).map_err(|e| e.to_string())?;
            let (_, bytes) = proj
                .attachment_data(id)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("#{id}: 没有附件 / no attachment"))?;
            std::fs::write(&out, bytes)
                .map_err(|e| format!("{}: {e}{}", out.display(), tuban_core::store::advice_io(&e)))?;
            Ok((project.clone(), JobReport::Written(out.display().to_string())))
        })
    }

    /// Writes the PDF report from a read-only connection (one consistent snapshot) while the
    /// window keeps the project open.
    pub fn spawn_report(
        project: PathBuf,
        out: PathBuf,
        opts: tuban_core::report::ReportOptions,
        force: bool,
        ctx: egui::Context,
    ) -> Job {
        Job::run("report", ctx, move |p| {
            let proj = Project::open(&project, Access::ReadOnly).map_err(|e| e.to_string())?;
            proj.begin_snapshot().map_err(|e| e.to_string())?;
            let t = std::time::Instant::now();
            tuban_core::report::write(&proj, &out, &opts, force, p).map_err(|e| e.to_string())?;
            let mb = std::fs::metadata(&out).map(|m| m.len() as f64 / 1e6).unwrap_or(0.0);
            Ok((
                project.clone(),
                JobReport::Written(format!("{}\n{mb:.1} MB, {:.1} s", out.display(), t.elapsed().as_secs_f64())),
            ))
        })
    }

    /// Exports one format into a folder from a read-only connection.
    pub fn spawn_export(
        project: PathBuf,
        out: PathBuf,
        format: tuban_core::export::Format,
        force: bool,
        ctx: egui::Context,
    ) -> Job {
        Job::run("export", ctx, move |p| {
            let proj = Project::open(&project, Access::ReadOnly).map_err(|e| e.to_string())?;
            proj.begin_snapshot().map_err(|e| e.to_string())?;
            let files = tuban_core::export::export(
                &proj,
                format,
                &out,
                &tuban_core::export::ExportOptions { crs: None, force },
                p,
            )
            .map_err(|e| e.to_string())?;
            let list: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            Ok((project.clone(), JobReport::Written(list.join("\n"))))
        })
    }

    /// The result once the thread has finished.
    pub fn try_finish(&mut self) -> Option<Result<(PathBuf, JobReport), String>> {
        if self.handle.as_ref().is_some_and(|h| h.is_finished()) {
            let h = self.handle.take()?;
            return Some(h.join().unwrap_or_else(|_| Err("job thread panicked".into())));
        }
        if self.handle.is_none() {
            return Some(Err("job thread could not start".into()));
        }
        None
    }
}
