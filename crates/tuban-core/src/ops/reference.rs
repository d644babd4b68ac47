//! Reference layers as use cases: add a layer (read it once into the project, compute every
//! patch's overlay with it, fill the fields its kind fills), remove it, bring stale overlays up
//! to date (after an import or an edited extent), and one patch's overlay with its hints and the
//! values the template's `[[reference]]` rules give. Both front ends call these.

use std::path::Path;

use super::OpsError;
use crate::reference::overlay::{self, Engine, OverlaySummary, Scope};
use crate::reference::{self, Loaded, NewLayer, ReferenceError};
use crate::store::{Access, Fill, FillMark, PatchRecord, Project, StoreError};
use tuban_model::progress::Progress;
use tuban_model::reference::{hints, Hint, OverlayRow};
use tuban_model::reference_rules::{suggestions, FillMode, ReferenceRule, Suggestion};
use tuban_model::Value;

impl From<ReferenceError> for OpsError {
    fn from(e: ReferenceError) -> Self {
        match e {
            ReferenceError::Store(s) => OpsError::Store(s),
            other => OpsError::Invalid(other.to_string()),
        }
    }
}

/// What adding a layer did.
#[derive(Debug, Clone, PartialEq)]
pub struct Added {
    /// The layer as read and stored.
    pub loaded: Loaded,
    /// The overlay computed with it.
    pub overlay: OverlaySummary,
    /// Fields filled (patches × fields); 0 while sealed.
    pub filled: usize,
    /// Why nothing was filled, when something stopped it (the seal).
    pub fill_refused: Option<String>,
}

/// Adds a reference layer, computes every patch's overlay with it and fills what it fills.
pub fn add(p: &mut Project, path: &Path, layer: &NewLayer, progress: &Progress) -> Result<Added, OpsError> {
    let (loaded, kept) = reference::load_keeping(p, path, layer, progress)?;
    let overlay = overlay::compute_with(p, &Scope::All, &[loaded.layer.id], Engine::Geo, kept.as_ref(), progress)
        .map_err(cancelled)?;
    drop(kept);
    let (filled, fill_refused) = fill_after(p, &overlay.fids, progress)?;
    Ok(Added { loaded, overlay, filled, fill_refused })
}

fn cancelled(e: StoreError) -> OpsError {
    match e {
        StoreError::Cancelled => OpsError::Invalid(ReferenceError::Cancelled.to_string()),
        other => OpsError::Store(other),
    }
}

/// Fills after a computation; the seal refuses it without failing the computation.
fn fill_after(p: &mut Project, fids: &[i64], progress: &Progress) -> Result<(usize, Option<String>), OpsError> {
    match fill(p, fids, progress) {
        Ok(n) => Ok((n, None)),
        Err(OpsError::Store(e @ StoreError::Sealed { .. })) => Ok((0, Some(e.to_string()))),
        Err(e) => Err(e),
    }
}

/// Removes a reference layer (its overlay and fill marks go; values it filled stay).
pub fn remove(p: &mut Project, name: &str) -> Result<(), OpsError> {
    Ok(p.remove_reference(name)?)
}

/// Computes the overlays that are missing or out of date (after an import, a reshape, a split)
/// and fills what they fill; `scope` narrows it.
pub fn refresh(p: &mut Project, scope: &Scope, progress: &Progress) -> Result<(OverlaySummary, usize), OpsError> {
    let summary = overlay::compute(p, scope, &[], Engine::Geo, progress).map_err(cancelled)?;
    let (filled, _) = fill_after(p, &summary.fids, progress)?;
    Ok((summary, filled))
}

/// One patch's overlay as the form, the report and `tuban overlay` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOverlay {
    /// Rows, by layer, largest share first.
    pub rows: Vec<OverlayRow>,
    /// Hints (never verdicts).
    pub hints: Vec<Hint>,
    /// Values the template's rules give (filled and suggested).
    pub suggestions: Vec<Suggestion>,
    /// Values layers filled.
    pub fills: Vec<FillMark>,
    /// Layers whose overlay is missing or was computed for another extent.
    pub stale_layers: Vec<String>,
}

/// The overlay of one patch, read from the store (no geometry is computed).
pub fn of_patch(p: &Project, fid: i64) -> Result<PatchOverlay, OpsError> {
    let rows = p.overlay(fid)?;
    let layers = p.references()?;
    let sigs = p.patch_overlay_signatures(fid)?;
    let current = p.extent(fid)?.map(|e| crate::store::extent_signature(e.current()));
    let stale_layers = layers
        .iter()
        .filter(|l| sigs.iter().find(|(id, _)| *id == l.id).map(|(_, s)| s) != current.as_ref())
        .map(|l| l.title().to_string())
        .collect();
    let known: Vec<_> = layers.iter().map(|l| (l.id, l.kind, l.title().to_string())).collect();
    let t = p.template();
    Ok(PatchOverlay {
        hints: hints(&rows),
        suggestions: suggestions(t.reference_rules(), t.fields(), &rows, &known),
        fills: p.reference_fills(fid)?,
        rows,
        stale_layers,
    })
}

/// Patches planned and written at a time by [`fill`].
const FILL_CHUNK: usize = 1024;

/// Writes the fill-mode values of the template's rules into the patches `fids`: into an empty
/// field, or over a value a layer filled before and the analyst has not changed since; a value
/// the analyst typed is never touched. One transaction; returns how many fields were written.
///
/// The patches, their overlays and fill marks are read and planned a chunk at a time; beyond
/// one chunk on a planner thread with its own read-only connection (what is read is committed:
/// the overlays are stored before this runs), while this thread writes the chunk before.
pub fn fill(p: &mut Project, fids: &[i64], progress: &Progress) -> Result<usize, OpsError> {
    let layers = p.references()?;
    let t = p.template().clone();
    let rules: Vec<ReferenceRule> = t.reference_rules().iter().filter(|r| r.mode == FillMode::Fill).cloned().collect();
    if layers.is_empty() || rules.is_empty() {
        return Ok(0);
    }
    progress.stage("填写参考值 / filling values", fids.len() as u64);
    // Only the layers of a kind some rule fills from are read, and a feature's attributes only
    // where a rule reads one.
    let of_kind = |attr: bool| -> Vec<i64> {
        layers
            .iter()
            .filter(|l| rules.iter().any(|r| r.kind == l.kind && (!attr || r.attr.is_some())))
            .map(|l| l.id)
            .collect()
    };
    let (wanted, with_attrs) = (of_kind(false), of_kind(true));
    let known: Vec<_> = layers.iter().map(|l| (l.id, l.kind, l.title().to_string())).collect();
    let mut sorted = fids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let plan = |p: &Project, part: &[i64]| -> Planned {
        let range = (part[0], part[part.len() - 1]);
        let overlays = p.overlays_between(range, &wanted, &with_attrs)?;
        let marks = p.reference_fills_between(range)?;
        let mut items = Vec::new();
        for record in p.patches_between(range)?.into_iter().filter(|r| part.binary_search(&r.fid).is_ok()) {
            let rows = overlays.get(&record.fid).map_or(&[][..], Vec::as_slice);
            let marks = marks.get(&record.fid).map_or(&[][..], Vec::as_slice);
            let mut fills: Vec<Fill> = Vec::new();
            for s in suggestions(&rules, t.fields(), rows, &known) {
                let Some(field) = t.field(&s.field) else { continue };
                let Ok(value) = Value::parse_for(field, &s.text) else { continue };
                let current = record.value(&t, &field.name).cloned().unwrap_or(Value::Null);
                let untouched = marks.iter().any(|m| m.field == field.name && m.value == current.to_string());
                if current == value || !(current.is_empty() || untouched) {
                    continue;
                }
                fills.push((field.name.clone(), value, s.layer_id, s.layer.clone()));
            }
            if !fills.is_empty() {
                items.push((record, fills));
            }
        }
        Ok(items)
    };
    let written = if sorted.len() <= FILL_CHUNK {
        // One chunk (a refresh after an edit): planned here, no second connection.
        let part = if sorted.is_empty() { Ok(Vec::new()) } else { plan(p, &sorted) };
        p.apply_reference_fills(std::iter::once(part), progress)
    } else {
        fill_planned_beside(p, &sorted, &plan, progress)
    };
    match written {
        Ok(written) => Ok(written),
        Err(StoreError::Cancelled) => Err(OpsError::Invalid(ReferenceError::Cancelled.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// The patches of one fill chunk, as read, with their fills.
type Planned = Result<Vec<(PatchRecord, Vec<Fill>)>, StoreError>;

/// Writes fills chunk by chunk while a planner thread with its own read-only connection reads
/// and plans the next chunk.
fn fill_planned_beside(
    p: &mut Project,
    sorted: &[i64],
    plan: &(dyn Fn(&Project, &[i64]) -> Planned + Sync),
    progress: &Progress,
) -> Result<usize, StoreError> {
    let path = p.path().to_path_buf();
    let (tx, rx) = std::sync::mpsc::sync_channel(2);
    let chunks = sorted.chunks(FILL_CHUNK).count();
    std::thread::scope(|s| {
        // `move`: the sender goes with the planner, so its end ends the channel.
        s.spawn(move || {
            let reader = match Project::open(&path, Access::ReadOnly) {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send((0, Err(e)));
                    return;
                }
            };
            for part in sorted.chunks(FILL_CHUNK) {
                let planned = plan(&reader, part);
                let failed = planned.is_err();
                if tx.send((part.len(), planned)).is_err() || failed || progress.is_cancelled() {
                    return;
                }
            }
        });
        let (mut done, mut received) = (0u64, 0usize);
        // A planner that stopped early (cancelled, or a bug) must not let a part be committed.
        // `move`: the receiver goes with the writer, so a writer that stops (sealed, an error)
        // ends the channel and the planner's next send returns instead of waiting for ever.
        let all = std::iter::from_fn(move || match rx.recv() {
            Ok((n, part)) => {
                done += n as u64;
                received += 1;
                let _ = progress.set(done);
                Some(part)
            }
            Err(_) if received < chunks => Some(Err(StoreError::Cancelled)),
            Err(_) => None,
        });
        p.apply_reference_fills(all, progress)
    })
}
