//! Reference layers as use cases: add a layer (read it once into the project, compute every
//! patch's overlay with it, fill the fields its kind fills), remove it, bring stale overlays up
//! to date (after an import or an edited extent), and one patch's overlay with its hints and the
//! values the template's `[[reference]]` rules give. Both front ends call these.

use std::path::Path;

use super::OpsError;
use crate::reference::overlay::{self, Engine, OverlaySummary, Scope};
use crate::reference::{self, Loaded, NewLayer, ReferenceError};
use crate::store::{FillMark, Project, StoreError};
use tuban_model::progress::Progress;
use tuban_model::reference::{hints, Hint, OverlayRow};
use tuban_model::reference_rules::{suggestions, FillMode, Suggestion};
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
    let loaded = reference::load(p, path, layer, progress)?;
    let overlay = overlay::compute(p, &Scope::All, &[loaded.layer.id], Engine::Geo, progress).map_err(cancelled)?;
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

/// Writes the fill-mode values of the template's rules into the patches `fids`: into an empty
/// field, or over a value a layer filled before and the analyst has not changed since; a value
/// the analyst typed is never touched. Returns how many fields were written.
pub fn fill(p: &mut Project, fids: &[i64], progress: &Progress) -> Result<usize, OpsError> {
    if p.references()?.is_empty() || p.template().reference_rules().iter().all(|r| r.mode != FillMode::Fill) {
        return Ok(0);
    }
    progress.stage("填写参考值 / filling values", fids.len() as u64);
    let mut written = 0;
    for (i, fid) in fids.iter().enumerate() {
        let Some(record) = p.patch(*fid)? else { continue };
        if record.split {
            continue;
        }
        let ov = of_patch(p, *fid)?;
        let t = p.template().clone();
        let mut fills = Vec::new();
        for s in ov.suggestions.iter().filter(|s| s.mode == FillMode::Fill) {
            let Some(field) = t.field(&s.field) else { continue };
            let Ok(value) = Value::parse_for(field, &s.text) else { continue };
            let current = record.value(&t, &field.name).cloned().unwrap_or(Value::Null);
            let mark = ov.fills.iter().find(|m| m.field == field.name);
            let untouched =
                mark.is_some_and(|m| current.to_string() == m.value || m.value.is_empty() && current.is_empty());
            if current == value || !(current.is_empty() || untouched) {
                continue;
            }
            fills.push((field.name.clone(), value, s.layer_id, s.layer.clone()));
        }
        if !fills.is_empty() {
            written += fills.len();
            p.apply_reference_fills(*fid, &fills)?;
        }
        if progress.set(i as u64 + 1).is_err() {
            break;
        }
    }
    Ok(written)
}
