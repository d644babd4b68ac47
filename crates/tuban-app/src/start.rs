//! The start screen: recent projects, open a project, a new project from a patch file (the
//! import itself is a job, `jobs.rs`).

use std::path::{Path, PathBuf};

use egui::Ui;

use super::commands::{AppCommand, Commands};
use super::i18n::{tr, Lang};
use tuban_model::Template;

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

/// Draws the start screen; opening or creating a project is sent as an [`AppCommand`].
pub fn start_ui(ui: &mut Ui, state: &mut StartState, recent: &[PathBuf], lang: Lang, cmds: &mut Commands) {
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
                cmds.push(AppCommand::OpenProject(p.clone()));
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
                cmds.push(AppCommand::OpenProject(PathBuf::from(state.open_path.trim())));
            }
        });
        let ui = &mut cols[1];
        ui.heading(tr(lang, "new_project"));
        let label = ui.label(tr(lang, "patch_file")).id;
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut state.patch_path).desired_width(360.0)).labelled_by(label);
            if ui.button(tr(lang, "browse")).clicked() {
                if let Some(p) =
                    rfd::FileDialog::new().add_filter("patches", &super::menus::PATCH_EXTENSIONS).pick_file()
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
            cmds.push(AppCommand::CreateProject {
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
}

fn template_name(id: &str) -> String {
    Template::builtin(id).map(|t| t.spec.name).unwrap_or_else(|_| id.to_string())
}
