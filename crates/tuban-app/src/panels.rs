//! The workflow panels: evidence, comments, flags, case and history of the current patch (below
//! the form); the case ledger and spot-check windows. They read through the store and send
//! commands; nothing here writes.

use std::collections::HashMap;

use egui::{RichText, Ui};

use super::commands::{AppCommand, Command, Commands};
use super::i18n::{tr, Lang};
use super::state::Workstation;
use super::theme;
use tuban_core::store::{AuditEntry, Case, PhotoRecord, REVIEW_FLAGS};

/// What the side panels show of the current patch, reloaded when it changes.
#[derive(Default)]
pub struct SideCache {
    key: (u64, u64),
    photos: Vec<(PhotoRecord, Vec<String>)>,
    unassigned: Vec<PhotoRecord>,
    comments: Vec<tuban_core::store::Comment>,
    flags: Vec<String>,
    confidence: Option<u8>,
    case: Option<Case>,
    attachments: Vec<tuban_core::store::Attachment>,
    criminal: Option<tuban_core::store::CriminalFlag>,
    attach_kind: String,
    prior_penalty: String,
    history: Vec<AuditEntry>,
    rebound: Vec<String>,
    thumbs: HashMap<i64, egui::TextureHandle>,
    comment_text: String,
    captions: HashMap<i64, String>,
}

impl SideCache {
    fn reload(&mut self, ws: &mut Workstation) {
        let key = (ws.selection_serial, ws.side_serial);
        if self.key == key {
            return;
        }
        self.key = key;
        self.captions.clear();
        let Some(fid) = ws.current.and_then(|i| ws.records.get(i)).map(|r| r.fid) else { return };
        let p = &ws.project;
        self.photos = p
            .photos(Some(fid))
            .unwrap_or_default()
            .into_iter()
            .map(|ph| {
                let w = p.photo_warnings(&ph, 100.0).unwrap_or_default();
                (ph, w)
            })
            .collect();
        self.unassigned = p.photos(None).unwrap_or_default().into_iter().filter(|ph| ph.patch_fid.is_none()).collect();
        self.comments = p.comments(fid).unwrap_or_default();
        (self.flags, self.confidence) = p.review_aids(fid).unwrap_or_default();
        self.case = p.case_of_patch(fid).ok().flatten().and_then(|n| p.case(&n).ok().flatten());
        self.attachments = self.case.as_ref().and_then(|c| p.case_attachments(&c.number).ok()).unwrap_or_default();
        self.prior_penalty = self.case.as_ref().map(|c| c.prior_penalty.clone()).unwrap_or_default();
        self.criminal = self.case.as_ref().and_then(|c| p.criminal_flag_of(&c.number).ok().flatten());
        self.history = p.audit_log(Some(fid)).unwrap_or_default();
        self.rebound = p
            .rebounds_of(fid)
            .unwrap_or_default()
            .into_iter()
            .map(|r| format!("{} ({})", r.old_key, r.case_number))
            .collect();
        ws.photo_marks =
            self.photos.iter().filter_map(|(ph, _)| ph.lonlat.map(|(x, y)| (x, y, ph.bearing_deg))).collect();
    }

    fn thumb(&mut self, ctx: &egui::Context, ws: &Workstation, id: i64) -> Option<egui::TextureHandle> {
        if let Some(t) = self.thumbs.get(&id) {
            return Some(t.clone());
        }
        let bytes = ws.project.photo_thumbnail(id).ok().flatten()?;
        let img = image::load_from_memory(&bytes).ok()?.to_rgba8();
        let ci = egui::ColorImage::from_rgba_unmultiplied([img.width() as usize, img.height() as usize], img.as_raw());
        let t = ctx.load_texture(format!("photo-{id}"), ci, egui::TextureOptions::LINEAR);
        self.thumbs.insert(id, t.clone());
        Some(t)
    }
}

/// Photos, comments and flags, case and history of the current patch.
pub fn evidence_ui(ui: &mut Ui, ws: &mut Workstation, cache: &mut SideCache, lang: Lang, cmds: &mut Commands) {
    cache.reload(ws);
    if ws.current.is_none() {
        return;
    }
    ui.separator();
    photos_ui(ui, ws, cache, lang, cmds);
    notes_ui(ui, cache, lang, cmds);
    case_ui(ui, ws, cache, lang, cmds);
    for r in &cache.rebound {
        ui.colored_label(theme::ERROR_TEXT, format!("{}: {r}", tr(lang, "rebound")));
    }
    egui::CollapsingHeader::new(RichText::new(tr(lang, "history_of_patch")).strong()).default_open(false).show(
        ui,
        |ui| {
            for e in cache.history.iter().rev().take(50) {
                ui.label(
                    RichText::new(format!(
                        "{} {} {} {}: {} → {}",
                        &e.time[..19.min(e.time.len())],
                        e.user,
                        e.action,
                        e.field.clone().unwrap_or_default(),
                        e.old_value.clone().unwrap_or_default(),
                        e.new_value.clone().unwrap_or_default()
                    ))
                    .small(),
                );
            }
        },
    );
}

/// Photos of the current patch (kind, caption, warnings) and photos not yet assigned.
fn photos_ui(ui: &mut Ui, ws: &mut Workstation, cache: &mut SideCache, lang: Lang, cmds: &mut Commands) {
    egui::CollapsingHeader::new(RichText::new(format!("{} ({})", tr(lang, "photos"), cache.photos.len())).strong())
        .default_open(true)
        .show(ui, |ui| {
            if cache.photos.is_empty() {
                ui.label(RichText::new(tr(lang, "no_photos")).weak());
            }
            if ui.button(tr(lang, "add_photos")).clicked() {
                if let Some(files) = rfd::FileDialog::new().add_filter("JPEG", &["jpg", "jpeg"]).pick_files() {
                    cmds.push(AppCommand::AddPhotos(files));
                }
            }
            let photos = cache.photos.clone();
            for (ph, warnings) in photos {
                ui.horizontal(|ui| {
                    if let Some(t) = cache.thumb(ui.ctx(), ws, ph.id) {
                        ui.add(egui::Image::new(&t).max_size(egui::vec2(120.0, 90.0)));
                    }
                    ui.vertical(|ui| {
                        ui.label(RichText::new(&ph.file_name).small());
                        ui.label(
                            RichText::new(format!(
                                "{} {}",
                                ph.taken_at.clone().unwrap_or_default(),
                                ph.bearing_deg.map(|b| format!("↑{b:.0}°")).unwrap_or_default()
                            ))
                            .small()
                            .weak(),
                        );
                        ui.horizontal(|ui| {
                            for kind in tuban_core::store::PHOTO_KINDS {
                                if ui.selectable_label(ph.kind == kind, kind).clicked() && ph.kind != kind {
                                    cmds.push(Command::DescribePhoto {
                                        id: ph.id,
                                        kind: kind.to_string(),
                                        caption: ph.caption.clone(),
                                    });
                                }
                            }
                        });
                        let caption = cache.captions.entry(ph.id).or_insert_with(|| ph.caption.clone());
                        let r = ui
                            .add(egui::TextEdit::singleline(caption).hint_text("说明 / caption").desired_width(180.0));
                        if r.lost_focus() && *caption != ph.caption {
                            cmds.push(Command::DescribePhoto {
                                id: ph.id,
                                kind: ph.kind.clone(),
                                caption: caption.clone(),
                            });
                        }
                        for w in &warnings {
                            ui.label(RichText::new(w).color(theme::WARNING_TEXT).small());
                        }
                    });
                });
            }
            if !cache.unassigned.is_empty() {
                ui.label(RichText::new(tr(lang, "unassigned_photos")).strong());
                for ph in cache.unassigned.clone() {
                    ui.horizontal(|ui| {
                        ui.label(RichText::new(&ph.file_name).small());
                        if ui.small_button(tr(lang, "assign_here")).clicked() {
                            cmds.push(Command::AssignPhoto(ph.id));
                        }
                    });
                }
            }
        });
}

/// Flags, confidence and comments.
fn notes_ui(ui: &mut Ui, cache: &mut SideCache, lang: Lang, cmds: &mut Commands) {
    egui::CollapsingHeader::new(RichText::new(tr(lang, "notes")).strong()).default_open(true).show(ui, |ui| {
        let mut flags = cache.flags.clone();
        let mut changed = false;
        ui.horizontal(|ui| {
            for f in REVIEW_FLAGS {
                let mut on = flags.iter().any(|x| x == f);
                if ui.checkbox(&mut on, f).changed() {
                    changed = true;
                    if on {
                        flags.push(f.to_string())
                    } else {
                        flags.retain(|x| x != f)
                    }
                }
            }
        });
        let mut conf = cache.confidence.unwrap_or(0);
        ui.horizontal(|ui| {
            let label = ui.label(tr(lang, "confidence")).id;
            if ui
                .add(egui::Slider::new(&mut conf, 0..=5).custom_formatter(|v, _| {
                    if v == 0.0 {
                        "—".into()
                    } else {
                        format!("{v:.0}/5")
                    }
                }))
                .labelled_by(label)
                .changed()
            {
                changed = true;
            }
        });
        if changed {
            cmds.push(Command::SetAids { flags, confidence: (conf > 0).then_some(conf) });
        }
        for c in &cache.comments {
            ui.label(RichText::new(format!("{} {}: {}", &c.time[..16.min(c.time.len())], c.user, c.text)).small());
        }
        ui.horizontal(|ui| {
            let label = ui.label(tr(lang, "add_comment")).id;
            let r = ui.add(egui::TextEdit::singleline(&mut cache.comment_text).desired_width(200.0)).labelled_by(label);
            if (r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter))) || ui.small_button("+").clicked() {
                cmds.push(Command::AddComment(std::mem::take(&mut cache.comment_text)));
            }
        });
    });
}

/// The case of the current patch, or a button to open one.
fn case_ui(ui: &mut Ui, ws: &Workstation, cache: &mut SideCache, lang: Lang, cmds: &mut Commands) {
    // A copy: the case is shown while the buffers of the cache are edited.
    let case = cache.case.clone();
    egui::CollapsingHeader::new(RichText::new(tr(lang, "case")).strong()).default_open(true).show(
        ui,
        |ui| match &case {
            Some(c) => {
                case_status_ui(ui, c, cache, lang, cmds);
                case_files_ui(ui, c, cache, lang, cmds);
            }
            None => {
                ui.horizontal(|ui| {
                    ui.label(tr(lang, "no_case"));
                    let illegal = ws
                        .current
                        .map(|i| ws.verdict(i))
                        .is_some_and(|v| ws.project.template().roles().illegal_verdicts.contains(&v));
                    if illegal && ui.button(tr(lang, "open_case")).clicked() {
                        cmds.push(Command::CreateCase);
                    }
                });
            }
        },
    );
}

/// Number and party, investigation, rectification, step and the criminal threshold of a case.
fn case_status_ui(ui: &mut Ui, c: &Case, cache: &SideCache, lang: Lang, cmds: &mut Commands) {
    ui.label(format!("{}  {}", c.number, c.party));
    ui.horizontal(|ui| {
        let label = ui.label(tr(lang, "investigation")).id;
        let r = egui::ComboBox::from_id_salt("case_inv").selected_text(c.investigation.label()).show_ui(ui, |ui| {
            for &v in tuban_model::ledger::Investigation::ALL {
                if ui.selectable_label(c.investigation == v, v.label()).clicked() && c.investigation != v {
                    cmds.push(Command::CaseStatus {
                        number: c.number.clone(),
                        investigation: Some(v),
                        rectification: None,
                    });
                }
            }
        });
        r.response.labelled_by(label);
    });
    ui.horizontal(|ui| {
        let label = ui.label(tr(lang, "rectification")).id;
        let r = egui::ComboBox::from_id_salt("case_rect").selected_text(c.rectification.label()).show_ui(ui, |ui| {
            for &v in tuban_model::ledger::Rectification::ALL {
                if ui.selectable_label(c.rectification == v, v.label()).clicked() && c.rectification != v {
                    cmds.push(Command::CaseStatus {
                        number: c.number.clone(),
                        investigation: None,
                        rectification: Some(v),
                    });
                }
            }
        });
        r.response.labelled_by(label);
    });
    ui.horizontal(|ui| {
        ui.label(format!("{}: {}", tr(lang, "step"), c.step));
        if let Some(next) = c.step.next() {
            if ui.button(format!("→ {next}")).clicked() {
                cmds.push(Command::CaseStep { number: c.number.clone(), step: next });
            }
        }
    });
    if let Some(flag) = &cache.criminal {
        let basis =
            flag.prior_penalty.as_ref().map(|d| format!("（{} {d}）", tr(lang, "prior_penalty"))).unwrap_or_default();
        let text =
            format!("{} {:.2} 亩{basis}", tr(lang, "criminal_reached"), tuban_model::units::m2_to_mu(flag.area_m2));
        ui.colored_label(theme::ERROR_TEXT, text);
    }
}

/// The prior penalty and the attachments of a case.
fn case_files_ui(ui: &mut Ui, c: &Case, cache: &mut SideCache, lang: Lang, cmds: &mut Commands) {
    ui.horizontal(|ui| {
        let label = ui.label(tr(lang, "prior_penalty_doc")).id;
        let r = ui
            .add(
                egui::TextEdit::singleline(&mut cache.prior_penalty)
                    .desired_width(180.0)
                    .hint_text(tr(lang, "prior_penalty_hint")),
            )
            .labelled_by(label);
        if r.lost_focus() && cache.prior_penalty.trim() != c.prior_penalty {
            cmds.push(Command::CasePriorPenalty {
                number: c.number.clone(),
                text: cache.prior_penalty.trim().to_string(),
            });
        }
    });
    ui.label(RichText::new(format!("{} ({})", tr(lang, "attachments"), cache.attachments.len())).strong());
    for a in &cache.attachments {
        ui.horizontal(|ui| {
            ui.label(
                RichText::new(format!("{} {} ({:.0} KB)", a.kind, a.file_name, a.size_bytes as f64 / 1024.0)).small(),
            );
            if ui.small_button(tr(lang, "save_as")).clicked() {
                if let Some(out) = rfd::FileDialog::new().set_file_name(&a.file_name).save_file() {
                    cmds.push(AppCommand::ExtractAttachment { id: a.id, out });
                }
            }
        });
    }
    ui.horizontal(|ui| {
        if cache.attach_kind.is_empty() {
            cache.attach_kind = "其他".into();
        }
        let label = ui.label(tr(lang, "attachment_kind")).id;
        egui::ComboBox::from_id_salt("attach_kind")
            .selected_text(&cache.attach_kind)
            .show_ui(ui, |ui| {
                for k in tuban_core::store::ATTACHMENT_KINDS {
                    ui.selectable_value(&mut cache.attach_kind, k.to_string(), k);
                }
            })
            .response
            .labelled_by(label);
        if ui.button(tr(lang, "attach_files")).clicked() {
            if let Some(paths) = rfd::FileDialog::new()
                .add_filter(tr(lang, "documents"), &["pdf", "jpg", "jpeg", "png", "tif", "tiff", "doc", "docx", "ofd"])
                .pick_files()
            {
                cmds.push(AppCommand::AttachToCase {
                    number: c.number.clone(),
                    paths,
                    kind: cache.attach_kind.clone(),
                });
            }
        }
    });
}

/// The case ledger window: rates per township and what needs attention (computed again only
/// after a change, not every frame).
pub fn ledger_ui(
    ctx: &egui::Context,
    ws: &Workstation,
    cache: &mut Option<(u64, tuban_core::store::Ledger)>,
    open: &mut bool,
    lang: Lang,
    cmds: &mut Commands,
) {
    if cache.as_ref().is_none_or(|(serial, _)| *serial != ws.side_serial) {
        *cache = ws.project.ledger().ok().map(|l| (ws.side_serial, l));
    }
    let Some((_, l)) = cache.as_ref() else { return };
    egui::Window::new(tr(lang, "ledger")).open(open).default_width(760.0).show(ctx, |ui| {
        let pct = |r: Option<f64>| r.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "—".into());
        egui::Grid::new("ledger_grid").striped(true).num_columns(7).show(ui, |ui| {
            for h in
                ["township_col", "cases_col", "area_mu_col", "inv_rate", "rect_rate", "filing_rate", "conclusion_rate"]
            {
                ui.strong(tr(lang, h));
            }
            ui.end_row();
            for (town, r) in l.rows() {
                ui.label(town.unwrap_or(tr(lang, "total")));
                ui.label(r.cases.to_string());
                ui.label(format!("{:.2}", tuban_model::units::m2_to_mu(r.illegal_area_m2)));
                ui.label(pct(r.investigation_rate()));
                ui.label(pct(r.rectification_rate()));
                ui.label(pct(r.filing_rate()));
                ui.label(pct(r.conclusion_rate()));
                ui.end_row();
            }
        });
        ui.separator();
        for (n, d) in &l.overdue {
            ui.colored_label(theme::ERROR_TEXT, format!("{}: {n} ({d})", tr(lang, "overdue")));
        }
        for c in &l.criminal {
            let prior =
                c.prior_penalty.as_ref().map(|d| format!("; {} {d}", tr(lang, "prior_penalty"))).unwrap_or_default();
            ui.colored_label(
                theme::ERROR_TEXT,
                format!(
                    "{}: {} ({:.2} 亩{prior})",
                    tr(lang, "criminal"),
                    c.number,
                    tuban_model::units::m2_to_mu(c.area_m2)
                ),
            );
        }
        for g in &l.split_penalties {
            ui.colored_label(theme::WARNING_TEXT, format!("{}: {}", tr(lang, "split"), g.join(", ")));
        }
        if !l.illegal_without_case.is_empty() {
            ui.label(format!("{}: {}", tr(lang, "without_case"), l.illegal_without_case.len()));
            if ui.button(tr(lang, "propose_cases")).clicked() {
                cmds.push(Command::ProposeCases);
            }
        }
    });
}

/// What the spot-check window shows, read again only after a change.
pub struct SpotView {
    serial: u64,
    id: i64,
    blind: Vec<(i64, String, Option<String>)>,
    result: Option<tuban_core::store::SpotCheckResult>,
}

/// The spot-check window: draw a sample, review it blind, see the agreement.
pub fn spot_check_ui(
    ctx: &egui::Context,
    ws: &Workstation,
    cache: &mut Option<SpotView>,
    open: &mut bool,
    share: &mut f64,
    lang: Lang,
    cmds: &mut Commands,
) {
    if cache.as_ref().is_none_or(|c| c.serial != ws.side_serial) {
        *cache = match ws.project.latest_spot_check() {
            Ok(Some(id)) => Some(SpotView {
                serial: ws.side_serial,
                id,
                blind: ws.project.spot_check_blind(id).unwrap_or_default(),
                result: ws.project.spot_check_result(id).ok(),
            }),
            _ => None,
        };
    }
    egui::Window::new(tr(lang, "spot_check")).open(open).default_width(460.0).show(ctx, |ui| {
        ui.horizontal(|ui| {
            let label = ui.label(tr(lang, "share")).id;
            ui.add(egui::Slider::new(share, 0.05..=0.5).fixed_decimals(2)).labelled_by(label);
            if ui.button(tr(lang, "draw")).clicked() {
                cmds.push(Command::DrawSpotCheck(*share));
            }
        });
        let Some(view) = cache.as_ref() else { return };
        let id = view.id;
        let codes: Vec<String> = {
            let t = ws.project.template();
            t.field(&t.roles().verdict).map(|f| f.codes().iter().map(|c| c.code.clone()).collect()).unwrap_or_default()
        };
        egui::ScrollArea::vertical().max_height(360.0).show(ui, |ui| {
            for (fid, key, second) in &view.blind {
                let (fid, second) = (*fid, second.clone());
                ui.horizontal(|ui| {
                    if ui.link(key).clicked() {
                        if let Some(&i) = ws.index_of_fid.get(&fid) {
                            cmds.push(Command::Select(i));
                        }
                    }
                    for c in &codes {
                        if ui.selectable_label(second.as_deref() == Some(c), c).clicked() {
                            cmds.push(Command::SecondVerdict { fid, verdict: c.clone() });
                        }
                    }
                });
            }
        });
        if let Some(r) = &view.result {
            ui.separator();
            ui.label(format!(
                "#{id}: {} / {} · {} {} · {} {}",
                r.reviewed,
                r.sampled,
                tr(lang, "kappa"),
                r.kappa.map(|k| format!("{k:.3}")).unwrap_or_else(|| "—".into()),
                "≠",
                r.disagreements.len()
            ));
            for (k, a, b) in &r.disagreements {
                ui.colored_label(theme::WARNING_TEXT, format!("{k}: {a} ≠ {b}"));
            }
        }
    });
}
