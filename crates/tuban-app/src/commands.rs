//! The two kinds of command the panels and keys send, and the queue they are sent through.
//!
//! A [`Command`] asks something of the open project (a verdict, a field edit, a case update, the
//! queue or the map view); the workstation applies it through the store
//! ([`Workstation::apply`](crate::Workstation::apply)).
//! An [`AppCommand`] asks something of the window itself (open or close a project, show a
//! dialog, start a job); the app shell handles it (`logic.rs`).
//! Panels push both into one [`Commands`] queue, drained once per frame: project commands
//! first, then app commands, so a job started in a frame sees that frame's edits.
//!
//! Architecture invariant: each command kind has exactly one handler; nothing intercepts a
//! [`Command`] before [`Workstation::apply`](crate::Workstation::apply), and `apply` has no arm
//! for window work.

use std::path::PathBuf;

use tuban_core::export::Format;
use tuban_core::report::ReportOptions;
use tuban_model::Value;

use super::state::Period;

/// What a panel or key asks of the open project; applied once per frame by
/// [`Workstation::apply`](crate::Workstation::apply)
/// (through the store when it changes data).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Make record `index` the current patch.
    Select(usize),
    /// Point every imagery file that lay under `old_dir` under `new_dir` (the missing-imagery
    /// banner's Locate… or typed path).
    RelinkImagery { old_dir: PathBuf, new_dir: PathBuf },
    /// Switch one reference layer on or off, or all of them (`None`, key L).
    ToggleReference(Option<i64>),
    /// Remove a reference layer by name (its overlay and fill marks go; values it filled stay).
    RemoveReference(String),
    /// Show the attributes of the reference feature under this lon/lat point.
    PickReference(f64, f64),
    /// Close the attributes of the picked reference feature.
    ClosePickedReference,
    /// Next patch in the queue.
    Next,
    /// Previous patch in the queue.
    Prev,
    /// Next unreviewed patch in the queue (wrapping).
    NextUnreviewed,
    /// Set a field of the current patch from typed text.
    SetText { field: String, text: String },
    /// Set a field of the current patch to a value.
    SetValue { field: String, value: Value },
    /// Set the verdict to option `n` (1-based) of the template's verdict field; then advance or not.
    Verdict { n: usize, advance: bool },
    /// Confirm the current patch and go to the next.
    ConfirmNext,
    /// Undo the last edit.
    Undo,
    /// Redo the last undone edit.
    Redo,
    /// Zoom the map to the current patch.
    Fit,
    /// Show the before or after imagery.
    Show(Period),
    /// Switch between before and after.
    TogglePeriod,
    /// Rebuild the queue after a filter or sort change.
    Refilter,
    /// Add a comment to the current patch.
    AddComment(String),
    /// Set flags and confidence of the current patch.
    SetAids { flags: Vec<String>, confidence: Option<u8> },
    /// Open a case for the current patch.
    CreateCase,
    /// Open a case for every illegal patch without one.
    ProposeCases,
    /// Set kind and caption of a photo.
    DescribePhoto { id: i64, kind: String, caption: String },
    /// Assign a photo to the current patch.
    AssignPhoto(i64),
    /// Unseal with a reason.
    Unseal(String),
    /// Draw a spot-check sample of this share.
    DrawSpotCheck(f64),
    /// Record a second verdict in the latest spot-check.
    SecondVerdict { fid: i64, verdict: String },
    /// Record a workflow step of a case (today).
    CaseStep { number: String, step: tuban_model::ledger::Step },
    /// Change the investigation or rectification status of a case.
    CaseStatus {
        number: String,
        investigation: Option<tuban_model::ledger::Investigation>,
        rectification: Option<tuban_model::ledger::Rectification>,
    },
    /// Record an earlier penalty of the party (document number) on a case.
    CasePriorPenalty { number: String, text: String },
    /// Start drawing a clue on the map (a point, or a polygon).
    StartClue { polygon: bool },
    /// Add a vertex (lon, lat) to the clue being drawn; a point clue is then complete.
    ClueVertex(f64, f64),
    /// Remove the last vertex of the clue being drawn.
    ClueUndoVertex,
    /// Close the polygon being drawn (three vertices at least); the clue form opens.
    FinishClue,
    /// Stop drawing; nothing is saved.
    CancelClue,
    /// Save the drawn clue as a new patch with an address, a source and a year.
    SaveClue { address: String, source: String, year: i32 },
    /// Start a geometry tool (split, redraw, reshape, measure) on the current patch.
    StartTool(crate::edit::ToolKind),
    /// Add a vertex (lon, lat) to the tool's sketch.
    ToolVertex(f64, f64),
    /// Remove the sketch's last vertex.
    ToolUndoVertex,
    /// Split, redraw or complete the measurement with the sketch.
    FinishTool,
    /// Put the tool away; nothing is saved.
    CancelTool,
    /// Move, insert or delete a vertex of the current extent (saved at once).
    EditVertex(crate::edit::VertexEdit),
    /// Merge the 细斑 of the current patch's patch back into it.
    MergeSubpatches,
    /// Copy the chosen fields from the patch edited last into the current patch.
    ReuseLast,
    /// Choose the fields the reuse key copies.
    SetReuseFields(Vec<String>),
    /// Show a conflict beside the queue (and its patch on the map).
    ShowConflict(i64),
    /// Resolve a conflict: ours, theirs or a value.
    ResolveConflict { id: i64, take: tuban_core::store::Take },
    /// Store a text of the report (method, problems and suggestions).
    SetReportText { which: tuban_core::store::ReportText, text: String },
}

/// A dialog or window of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialog {
    /// The keyboard shortcuts.
    Help,
    /// The case ledger.
    Ledger,
    /// The spot-check window.
    SpotCheck,
    /// Report and exports.
    Deliverables,
    /// "Seal now?"
    Seal,
    /// Unseal, with a reason.
    Unseal,
}

/// What a panel, key or menu asks of the window; handled by the app shell, never by the
/// workstation. Work that reads or writes files becomes a job (one at a time).
#[derive(Debug, Clone, PartialEq)]
pub enum AppCommand {
    /// Open a project (closing the current one).
    OpenProject(PathBuf),
    /// Create a project from a patch file and import it (a job).
    CreateProject { patches: PathBuf, project: PathBuf, template: String, county: String, year: i32 },
    /// Import a later batch of patches into the open project (a job).
    ImportBatch(PathBuf),
    /// Merge a work package into the open project (a job).
    MergePackage(PathBuf),
    /// Close the open project.
    CloseProject,
    /// A file dropped on the window: a project, photos or a patch file.
    Dropped(PathBuf),
    /// Add photo files (a job: EXIF, thumbnails, matching).
    AddPhotos(Vec<PathBuf>),
    /// Attach files (scanned documents, photos) to a case (a job).
    AttachToCase { number: String, paths: Vec<PathBuf>, kind: String },
    /// Write an attachment to a file (a job).
    ExtractAttachment { id: i64, out: PathBuf },
    /// Write the PDF report to `out` (a job).
    Report { out: PathBuf, opts: ReportOptions, force: bool },
    /// Export `format` into the folder `out` (a job).
    Export { out: PathBuf, format: Format, force: bool },
    /// Seal the project (a job: hashes every photo and attachment).
    Seal,
    /// Check the data against the seal (a job).
    Verify,
    /// Show a dialog.
    Show(Dialog),
    /// Show or hide the keyboard shortcuts.
    ToggleHelp,
    /// Single → side by side → swipe → single.
    CycleView,
    /// Put the keyboard focus in the queue's search box.
    FocusSearch,
    /// Add a reference layer and compute every patch's overlay with it (a job).
    AddReference { path: PathBuf, kind: tuban_model::reference::ReferenceKind, fields: Vec<String> },
    /// Compute the overlays that are missing or out of date (a job).
    RefreshOverlay,
    /// Show the legend's form to add a reference layer.
    ShowAddReference,
}

/// Either kind of command, so one queue takes both.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyCommand {
    /// For the workstation.
    Project(Command),
    /// For the app shell.
    App(AppCommand),
}

impl From<Command> for AnyCommand {
    fn from(c: Command) -> Self {
        AnyCommand::Project(c)
    }
}

impl From<AppCommand> for AnyCommand {
    fn from(c: AppCommand) -> Self {
        AnyCommand::App(c)
    }
}

/// The commands sent during a frame, in the order sent within each kind.
#[derive(Debug, Default)]
pub struct Commands {
    project: Vec<Command>,
    app: Vec<AppCommand>,
}

impl Commands {
    /// Queues a command of either kind.
    pub fn push(&mut self, cmd: impl Into<AnyCommand>) {
        match cmd.into() {
            AnyCommand::Project(c) => self.project.push(c),
            AnyCommand::App(c) => self.app.push(c),
        }
    }

    /// Takes everything queued: project commands, then app commands.
    pub fn take(&mut self) -> (Vec<Command>, Vec<AppCommand>) {
        (std::mem::take(&mut self.project), std::mem::take(&mut self.app))
    }

    /// The project commands queued so far (tests and benchmarks).
    pub fn project(&self) -> &[Command] {
        &self.project
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_queue_takes_both_kinds_and_keeps_their_order() {
        let mut cmds = Commands::default();
        cmds.push(AppCommand::Seal);
        cmds.push(Command::Next);
        cmds.push(AppCommand::Verify);
        cmds.push(Command::Undo);
        let (project, app) = cmds.take();
        assert_eq!(project, vec![Command::Next, Command::Undo]);
        assert_eq!(app, vec![AppCommand::Seal, AppCommand::Verify]);
        assert!(cmds.project().is_empty());
    }
}
