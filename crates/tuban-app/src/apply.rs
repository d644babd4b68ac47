//! The one place that applies a [`Command`] to the open project: [`Workstation::apply`] sends
//! each command to a small method of its group (navigation, edits, history, view, evidence,
//! cases, clues, spot checks, project texts). Store errors go to the status line, never a panic.

use tuban_core::ops::clues::{Clue, ClueAt};
use tuban_core::ops::{self, OpsError};
use tuban_core::store::{CaseUpdate, ReportText, StoreError};
use tuban_model::{ReviewStatus, Value};

use super::commands::Command;
use super::i18n::{tr, Lang};
use super::state::{ClueDraft, Message, PatchShape, Period, Workstation};

type Applied = Result<(), StoreError>;

impl Workstation {
    /// Removes a reference layer through the use case and reloads the legend and map layers.
    fn remove_reference(&mut self, name: &str) -> Result<(), tuban_core::store::StoreError> {
        tuban_core::ops::reference::remove(&mut self.project, name).map_err(|e| match e {
            tuban_core::ops::OpsError::Store(s) => s,
            other => tuban_core::store::StoreError::Subpatch { detail: other.to_string() },
        })?;
        self.reference = crate::reference::ReferenceView::load(&self.project);
        self.saved();
        Ok(())
    }

    /// Applies one command; errors go to the status line, never a panic.
    pub fn apply(&mut self, cmd: Command, lang: Lang) {
        let result = match cmd {
            // Navigation.
            Command::Select(i) => self.go_to(i),
            Command::Next | Command::ConfirmNext => self.go(1),
            Command::Prev => self.go(-1),
            Command::NextUnreviewed => self.next_unreviewed(),
            // Edits of the current patch.
            Command::SetText { field, text } => self.set_text(&field, &text),
            Command::SetValue { field, value } => self.edit(vec![(field, value)]),
            Command::Verdict { n, advance } => self.set_verdict(n, advance),
            // History.
            Command::Undo => self.undo_redo(History::Undo, lang),
            Command::Redo => self.undo_redo(History::Redo, lang),
            // The map and the queue.
            Command::Fit => self.fit(),
            Command::Show(p) => self.show_period(p),
            Command::TogglePeriod => self.toggle_period(),
            Command::Refilter => self.rebuild_queue(),
            // Reference layers.
            Command::ToggleReference(layer) => {
                self.reference.toggle(layer);
                Ok(())
            }
            Command::RemoveReference(name) => self.remove_reference(&name),
            Command::PickReference(lon, lat) => {
                self.reference.pick(&self.project, lon, lat);
                Ok(())
            }
            Command::ClosePickedReference => {
                self.reference.picked = None;
                Ok(())
            }
            // Evidence.
            Command::AddComment(text) => self.add_comment(&text),
            Command::SetAids { flags, confidence } => self.set_aids(&flags, confidence),
            Command::DescribePhoto { id, kind, caption } => {
                self.project.describe_photo(id, &kind, &caption).map(|_| self.saved())
            }
            Command::AssignPhoto(id) => self.assign_photo(id),
            // Cases.
            Command::CreateCase => self.create_case(lang),
            Command::ProposeCases => self.propose_cases(lang),
            Command::CaseStep { number, step } => {
                self.project.record_step(&number, step, None, "").map(|_| self.saved())
            }
            Command::CaseStatus { number, investigation, rectification } => {
                self.update_case(&number, CaseUpdate { investigation, rectification, ..Default::default() })
            }
            Command::CasePriorPenalty { number, text } => {
                self.update_case(&number, CaseUpdate { prior_penalty: Some(text), ..Default::default() })
            }
            // Clues drawn on the map.
            Command::StartClue { polygon } => self.start_clue(polygon),
            Command::ClueVertex(lon, lat) => self.clue_vertex(lon, lat),
            Command::ClueUndoVertex => self.clue_undo_vertex(),
            Command::FinishClue => self.finish_clue(lang),
            Command::CancelClue => self.cancel_clue(),
            Command::SaveClue { address, source, year } => self.save_clue(&address, &source, year, lang),
            // Spot checks.
            Command::DrawSpotCheck(share) => self.draw_spot_check(share, lang),
            Command::SecondVerdict { fid, verdict } => self.second_verdict(fid, &verdict),
            // The project as a whole.
            Command::Unseal(reason) => self.unseal(&reason, lang),
            Command::SetReportText { which, text } => self.set_report_text(which, &text),
            Command::RelinkImagery { old_dir, new_dir } => self.relink_imagery(&old_dir, &new_dir, lang),
            // The extent and 细斑 (edit.rs).
            Command::StartTool(kind) => {
                self.start_tool(kind, lang);
                Ok(())
            }
            Command::ToolVertex(lon, lat) => {
                self.tool_vertex(lon, lat);
                Ok(())
            }
            Command::ToolUndoVertex => {
                self.tool_undo_vertex();
                Ok(())
            }
            Command::FinishTool => self.finish_tool(lang),
            Command::CancelTool => {
                self.cancel_tool();
                Ok(())
            }
            Command::EditVertex(e) => self.edit_vertex(e, lang),
            Command::MergeSubpatches => self.merge_subpatches(lang),
            Command::ReuseLast => self.reuse_last(lang),
            Command::ShowConflict(id) => self.show_conflict(id),
            Command::ResolveConflict { id, take } => self.resolve_conflict(id, &take, lang),
            Command::SetReuseFields(fields) => self.project.set_reuse_fields(&fields).map(|_| self.saved()),
        };
        if let Err(e) = result {
            self.message = Some(Message { text: e.to_string(), is_error: true });
        }
    }

    /// Shows `text` in the status line as information.
    pub fn inform(&mut self, text: String) {
        self.message = Some(Message { text, is_error: false });
    }
}

/// Which way through the edit history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum History {
    Undo,
    Redo,
}

// Navigation and view: they cannot fail, and return `Ok` like every command method.
impl Workstation {
    fn go_to(&mut self, index: usize) -> Applied {
        self.select(index);
        Ok(())
    }

    fn go(&mut self, delta: isize) -> Applied {
        self.step(delta);
        Ok(())
    }

    fn fit(&mut self) -> Applied {
        self.fit_requested = true;
        Ok(())
    }

    fn rebuild_queue(&mut self) -> Applied {
        self.refilter();
        Ok(())
    }

    fn next_unreviewed(&mut self) -> Applied {
        let start = self.queue_position().map_or(0, |p| p + 1);
        let n = self.queue.len();
        let found = (0..n)
            .map(|k| self.queue[(start + k) % n.max(1)])
            .find(|&i| self.records[i].status == ReviewStatus::Unreviewed);
        if let Some(i) = found {
            self.select(i);
        }
        Ok(())
    }

    fn show_period(&mut self, period: Period) -> Applied {
        self.period = period;
        self.source_override = None;
        Ok(())
    }

    fn toggle_period(&mut self) -> Applied {
        self.source_override = None;
        self.period = match self.period {
            Period::Before => Period::After,
            Period::After => Period::Before,
        };
        Ok(())
    }
}

// Edits and history.
impl Workstation {
    fn set_text(&mut self, field: &str, text: &str) -> Applied {
        match self.project.template().field(field) {
            Some(f) => match Value::parse_for(f, text) {
                Ok(v) => self.edit(vec![(f.name.clone(), v)]),
                Err(cause) => Err(StoreError::InvalidValue { name: f.name.clone(), cause }),
            },
            None => Err(StoreError::NoSuchField { name: field.to_string() }),
        }
    }

    fn set_verdict(&mut self, n: usize, advance: bool) -> Applied {
        let t = self.project.template();
        let verdict = t.roles().verdict.clone();
        let code = t.field(&verdict).and_then(|f| f.codes().get(n.wrapping_sub(1))).map(|c| c.code.clone());
        let Some(code) = code else { return Ok(()) };
        let r = self.edit(vec![(verdict, Value::Text(code))]);
        if r.is_ok() && advance {
            self.step(1);
        }
        r
    }

    fn undo_redo(&mut self, way: History, lang: Lang) -> Applied {
        let undo = way == History::Undo;
        let changed = if undo { self.project.undo() } else { self.project.redo() }?;
        let Some((fid, _)) = changed else {
            self.inform(tr(lang, if undo { "undo_nothing" } else { "redo_nothing" }).into());
            return Ok(());
        };
        // A split or merge undone adds and removes rows; any undo may change an extent.
        self.after_structure_change(Some(fid))?;
        if let Some(key) = self.project.patch(fid)?.map(|r| r.key) {
            self.inform(format!("{} {key}", tr(lang, if undo { "undone" } else { "redone" })));
        }
        Ok(())
    }
}

// Evidence: comments, flags, photos.
impl Workstation {
    fn add_comment(&mut self, text: &str) -> Applied {
        match self.current_fid() {
            Some(fid) if !text.trim().is_empty() => self.project.add_comment(fid, text.trim()).map(|_| self.saved()),
            _ => Ok(()),
        }
    }

    fn set_aids(&mut self, flags: &[String], confidence: Option<u8>) -> Applied {
        let Some(fid) = self.current_fid() else { return Ok(()) };
        let f: Vec<&str> = flags.iter().map(String::as_str).collect();
        self.project.set_review_aids(fid, &f, confidence).map(|_| self.saved())
    }

    fn assign_photo(&mut self, id: i64) -> Applied {
        let Some(fid) = self.current_fid() else { return Ok(()) };
        self.project.assign_photo(id, fid).map(|_| self.saved())
    }
}

// Cases.
impl Workstation {
    fn create_case(&mut self, lang: Lang) -> Applied {
        let Some(fid) = self.current_fid() else { return Ok(()) };
        let party = self
            .current
            .and_then(|i| self.records[i].value(self.project.template(), "DSR"))
            .map(|v| v.to_string())
            .unwrap_or_default();
        let n = self.project.create_case(None, &[fid], &party, "")?;
        self.inform(format!("{} {n}", tr(lang, "case_opened")));
        self.saved();
        Ok(())
    }

    fn propose_cases(&mut self, lang: Lang) -> Applied {
        let opened = self.project.propose_cases()?;
        self.inform(format!("{} {}", tr(lang, "case_opened"), opened.len()));
        self.saved();
        Ok(())
    }

    fn update_case(&mut self, number: &str, update: CaseUpdate) -> Applied {
        self.project.update_case(number, &update).map(|_| self.saved())
    }
}

// Clues drawn on the map.
impl Workstation {
    fn start_clue(&mut self, polygon: bool) -> Applied {
        self.drawing = Some(ClueDraft { polygon, ..Default::default() });
        Ok(())
    }

    fn cancel_clue(&mut self) -> Applied {
        self.drawing = None;
        Ok(())
    }

    fn clue_vertex(&mut self, lon: f64, lat: f64) -> Applied {
        if let Some(d) = self.drawing.as_mut().filter(|d| !d.finished) {
            d.vertices.push((lon, lat));
            d.finished = !d.polygon;
        }
        Ok(())
    }

    fn clue_undo_vertex(&mut self) -> Applied {
        if let Some(d) = self.drawing.as_mut().filter(|d| !d.finished) {
            d.vertices.pop();
        }
        Ok(())
    }

    fn finish_clue(&mut self, lang: Lang) -> Applied {
        let Some(d) = self.drawing.as_mut() else { return Ok(()) };
        if d.geometry().is_some() {
            d.finished = true;
        } else {
            self.message = Some(Message { text: tr(lang, "clue_needs_three").into(), is_error: true });
        }
        Ok(())
    }

    /// Saves the drawn clue as a new patch of its own batch, then shows it.
    fn save_clue(&mut self, address: &str, source: &str, year: i32, lang: Lang) -> Result<(), StoreError> {
        let Some(geom) = self.drawing.as_ref().and_then(ClueDraft::geometry) else { return Ok(()) };
        let clue = Clue {
            at: ClueAt::Geometry(geom),
            address: address.to_string(),
            source: source.to_string(),
            year: Some(year),
            fields: Vec::new(),
        };
        let key = match ops::clues::add(&mut self.project, &clue) {
            Ok(key) => key,
            Err(OpsError::Store(e)) => return Err(e),
            Err(e) => {
                // Outside China, say: the drawing stays so it can be corrected.
                self.message = Some(Message { text: e.to_string(), is_error: true });
                return Ok(());
            }
        };
        self.drawing = None;
        if let Some(fid) = self.project.find_patch(&key)? {
            if let Some(r) = self.project.patch(fid)? {
                let shape = self.project.patch_geometry(fid)?.map(|g| PatchShape::new(&g)).unwrap_or_default();
                self.problems.push(self.project.problems(&r));
                self.index_of_fid.insert(r.fid, self.records.len());
                self.records.push(r);
                self.records_changed();
                self.shapes.push(shape);
                self.refilter();
                let i = self.records.len() - 1;
                self.select(i);
            }
        }
        self.message = Some(Message { text: format!("{} {key}", tr(lang, "clue_added")), is_error: false });
        self.saved();
        Ok(())
    }
}

// Spot checks and the project as a whole.
impl Workstation {
    fn draw_spot_check(&mut self, share: f64, lang: Lang) -> Applied {
        let s = self.project.draw_spot_check(Some(share), None, chrono::Local::now().timestamp() as u64)?;
        self.inform(format!("{} #{} ({})", tr(lang, "spot_drawn"), s.id, s.patches.len()));
        self.side_serial += 1;
        Ok(())
    }

    fn second_verdict(&mut self, fid: i64, verdict: &str) -> Applied {
        let Some(id) = self.project.latest_spot_check()? else { return Ok(()) };
        self.project.record_second_verdict(id, fid, verdict).map(|_| self.side_serial += 1)
    }

    fn unseal(&mut self, reason: &str, lang: Lang) -> Applied {
        self.project.unseal(reason)?;
        self.inform(tr(lang, "unsealed").into());
        Ok(())
    }

    /// Relinks through the use case the command line calls, then reloads the catalogue so the
    /// banner and the map see the files where they are now.
    fn relink_imagery(&mut self, old_dir: &std::path::Path, new_dir: &std::path::Path, lang: Lang) -> Applied {
        match ops::imagery::relink(&mut self.project, old_dir, new_dir) {
            Ok(moved) => {
                self.imagery = self.project.imagery()?;
                self.imagery_serial += 1;
                let still = self.imagery.iter().filter(|s| !s.missing().is_empty()).count();
                let names = moved.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
                self.inform(format!("{} {names} ({still} {})", tr(lang, "relinked"), tr(lang, "still_missing")));
            }
            Err(e) => self.message = Some(Message { text: e.to_string(), is_error: true }),
        }
        Ok(())
    }

    fn set_report_text(&mut self, which: ReportText, text: &str) -> Applied {
        if self.project.set_report_text(which, text)? {
            self.saved();
        }
        Ok(())
    }
}
