//! The geometry tools of the window and how their commands are applied: split the current patch
//! along a line or by a polygon, redraw or reshape its verified extent, measure, merge 细斑 back,
//! and reuse the last patch's values. The rules are the model's (`geometry::edit`); the saving
//! is the store's, through the use cases the command line calls (`ops::geometry`).
//! After a split, merge, undo or redo the rows under review are compared with the store's, and
//! only the rows that changed are prepared again (no reload of the whole project).

use std::collections::HashSet;

use geo::{Coord, Geometry, LineString, Polygon};
use tuban_core::ops::geometry::{self as edit_ops, Cut};
use tuban_core::ops::OpsError;
use tuban_core::store::StoreError;
use tuban_model::geometry::edit::{self, VertexRef};

use super::i18n::{tr, Lang};
use super::state::{Message, PatchShape, Workstation};

/// Which tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolKind {
    /// Draw a line across the patch; Enter splits it.
    SplitLine,
    /// Draw a polygon over part of the patch; Enter splits off what is inside.
    SplitPolygon,
    /// Draw the verified extent anew.
    Redraw,
    /// Drag, insert and delete vertices of the verified extent.
    Reshape,
    /// Measure distances and areas.
    Measure,
}

impl ToolKind {
    /// The tool draws a sketch of vertices (every tool but reshape).
    pub fn sketches(self) -> bool {
        self != ToolKind::Reshape
    }

    /// The sketch closes into a polygon.
    pub fn closes(self) -> bool {
        matches!(self, ToolKind::SplitPolygon | ToolKind::Redraw | ToolKind::Measure)
    }
}

/// A tool in use and what it has drawn so far (CGCS2000 lon/lat).
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// The tool.
    pub kind: ToolKind,
    /// Vertices clicked so far.
    pub vertices: Vec<(f64, f64)>,
    /// The measurement is complete (measure only): it stays on the map until Esc.
    pub finished: bool,
}

/// The current patch's extent (lon/lat) and the issued outline drawn dashed beside it: its own
/// issued geometry when the extent was redrawn, the issued patch's for a 细斑.
#[derive(Debug, Clone, PartialEq)]
pub struct Outline {
    /// The extent in force.
    pub extent: Geometry,
    /// The issued outline to draw dashed, when it differs from the extent.
    pub issued: Option<PatchShape>,
    /// Ellipsoidal area of the extent in force, m².
    pub extent_m2: f64,
    /// The extent was redrawn (it differs from the geometry issued or split off).
    pub redrawn: bool,
    /// The key of the patch a 细斑 was split from.
    pub parent_key: Option<String>,
    /// What the 细斑 rules say about the 细斑 of that patch (overlaps, area in none).
    pub subpatch_problems: Vec<String>,
}

fn coords(v: &[(f64, f64)]) -> Vec<Coord> {
    v.iter().map(|&(x, y)| Coord { x, y }).collect()
}

fn ring(v: &[(f64, f64)]) -> Polygon {
    Polygon::new(LineString::new(coords(v)), vec![])
}

impl Workstation {
    /// Reads the current patch's extent and issued outline.
    pub(crate) fn load_outline(&mut self) {
        self.outline = self.current_fid().and_then(|fid| self.outline_of(fid).ok().flatten());
    }

    fn outline_of(&self, fid: i64) -> Result<Option<Outline>, StoreError> {
        let Some(extent) = self.project.extent(fid)? else { return Ok(None) };
        let Some(record) = self.project.patch(fid)? else { return Ok(None) };
        // A 细斑's dashed outline is the issued patch at the top of its line.
        let root = match record.parent_fid {
            Some(_) => Some(self.project.issued_record(&record)?),
            None => None,
        };
        let issued = match (&extent.verified, &root) {
            (Some(_), _) => Some(PatchShape::new(&extent.issued)),
            (None, Some(r)) => self.project.extent(r.fid)?.map(|e| PatchShape::new(&e.issued)),
            (None, None) => None,
        };
        let (parent_key, subpatch_problems) = match record.parent_fid {
            Some(p) => (self.project.patch(p)?.map(|r| r.key), self.project.subpatch_problems(p)?),
            None => (None, Vec::new()),
        };
        Ok(Some(Outline {
            extent_m2: tuban_model::geometry::area_m2(extent.current()),
            redrawn: extent.verified.is_some(),
            extent: extent.current().clone(),
            issued,
            parent_key,
            subpatch_problems,
        }))
    }

    /// Starts a tool on the current patch (measure needs none).
    pub(crate) fn start_tool(&mut self, kind: ToolKind, lang: Lang) {
        self.geometry_error = None;
        let polygon = self.outline.as_ref().is_some_and(|o| edit::polygons(&o.extent).is_ok());
        if kind != ToolKind::Measure && !polygon {
            self.geometry_error = Some(tr(lang, "tool_needs_polygon").into());
            return;
        }
        self.tool = Some(Tool { kind, vertices: Vec::new(), finished: false });
    }

    pub(crate) fn tool_vertex(&mut self, lon: f64, lat: f64) {
        if let Some(t) = self.tool.as_mut().filter(|t| t.kind.sketches()) {
            if t.finished {
                t.vertices.clear();
                t.finished = false;
            }
            t.vertices.push((lon, lat));
        }
    }

    pub(crate) fn tool_undo_vertex(&mut self) {
        if let Some(t) = self.tool.as_mut() {
            t.vertices.pop();
            t.finished = false;
        }
    }

    pub(crate) fn cancel_tool(&mut self) {
        self.tool = None;
        self.geometry_error = None;
    }

    /// Enter or a double click: splits, redraws or completes the measurement.
    pub(crate) fn finish_tool(&mut self, lang: Lang) -> Result<(), StoreError> {
        let Some(tool) = self.tool.clone() else { return Ok(()) };
        let Some(key) = self.current.map(|i| self.records[i].key.clone()) else { return Ok(()) };
        let v = &tool.vertices;
        let needed = if tool.kind.closes() { 3 } else { 2 };
        if tool.kind.sketches() && v.len() < needed {
            self.geometry_error =
                Some(tr(lang, if needed == 3 { "tool_three_vertices" } else { "tool_two_vertices" }).into());
            return Ok(());
        }
        let done = match tool.kind {
            ToolKind::Measure => {
                if let Some(t) = self.tool.as_mut() {
                    t.finished = true;
                }
                return Ok(());
            }
            ToolKind::Reshape => return Ok(()),
            ToolKind::SplitLine => edit_ops::split(&mut self.project, &key, &Cut::Line(coords(v))).map(|o| {
                let first = o.subpatches.first().map(|s| s.0);
                (format!("{} {} → {}", tr(lang, "split_done"), o.parent_key, o.subpatches.len()), first)
            }),
            ToolKind::SplitPolygon => edit_ops::split(&mut self.project, &key, &Cut::Polygon(ring(v))).map(|o| {
                let first = o.subpatches.first().map(|s| s.0);
                (format!("{} {} → {}", tr(lang, "split_done"), o.parent_key, o.subpatches.len()), first)
            }),
            ToolKind::Redraw => edit_ops::reshape(&mut self.project, &key, &Geometry::Polygon(ring(v)))
                .map(|_| (format!("{} {key}", tr(lang, "extent_saved")), None)),
        };
        match done {
            Ok((text, select_fid)) => {
                self.tool = None;
                self.after_structure_change(select_fid)?;
                self.inform(text);
            }
            Err(e) => self.refused(e)?,
        }
        Ok(())
    }

    /// A refused geometry is shown on the map and nothing is saved; other failures go up.
    fn refused(&mut self, e: OpsError) -> Result<(), StoreError> {
        match e {
            OpsError::Store(StoreError::InvalidGeometry { key, cause }) => {
                self.show_refusal(format!("{key}: {cause}"));
                Ok(())
            }
            OpsError::Store(other) => Err(other),
            other => {
                self.show_refusal(other.to_string());
                Ok(())
            }
        }
    }

    /// A refused geometry: across the map and in the status line; nothing was saved.
    fn show_refusal(&mut self, text: String) {
        self.geometry_error = Some(text.clone());
        self.message = Some(Message { text, is_error: true });
    }

    /// Applies a vertex edit of the reshape tool to the current extent and saves it.
    pub(crate) fn edit_vertex(&mut self, edit_fn: VertexEdit, lang: Lang) -> Result<(), StoreError> {
        let (Some(outline), Some(key)) = (self.outline.as_ref(), self.current.map(|i| self.records[i].key.clone()))
        else {
            return Ok(());
        };
        let changed = match edit_fn {
            VertexEdit::Move(v, (x, y)) => edit::move_vertex(&outline.extent, v, Coord { x, y }),
            VertexEdit::Insert(v, (x, y)) => edit::insert_vertex(&outline.extent, v, Coord { x, y }),
            VertexEdit::Delete(v) => edit::delete_vertex(&outline.extent, v),
        };
        let g = match changed {
            Ok(g) => g,
            Err(cause) => {
                self.show_refusal(format!("{key}: {cause}"));
                return Ok(());
            }
        };
        match edit_ops::reshape(&mut self.project, &key, &g) {
            Ok(_) => {
                self.geometry_error = None;
                self.after_extent_change()?;
                self.inform(format!("{} {key}", tr(lang, "extent_saved")));
            }
            Err(e) => self.refused(e)?,
        }
        Ok(())
    }

    /// Merges the 细斑 of the current patch's patch back into it.
    pub(crate) fn merge_subpatches(&mut self, lang: Lang) -> Result<(), StoreError> {
        let Some(i) = self.current else { return Ok(()) };
        let parent = self.records[i].parent_fid;
        match edit_ops::merge(&mut self.project, &self.records[i].key.clone()) {
            Ok(_) => {
                self.after_structure_change(parent)?;
                self.inform(tr(lang, "merged").into());
            }
            Err(OpsError::Store(e @ StoreError::Subpatch { .. })) => {
                self.message = Some(Message { text: e.to_string(), is_error: true })
            }
            Err(OpsError::Store(e)) => return Err(e),
            Err(e) => self.message = Some(Message { text: e.to_string(), is_error: true }),
        }
        Ok(())
    }

    /// Copies the chosen fields from the patch edited last into the current one (one undo step).
    pub(crate) fn reuse_last(&mut self, lang: Lang) -> Result<(), StoreError> {
        let Some(fid) = self.current_fid() else { return Ok(()) };
        let Some(from) = self.project.last_edited_other_than(fid)? else {
            self.inform(tr(lang, "reuse_nothing").into());
            return Ok(());
        };
        let fields = self.project.reuse_fields()?;
        match edit_ops::reuse_values(&mut self.project, from, fid, &fields) {
            Ok(out) => {
                self.refresh(fid)?;
                let from_key = self.project.patch(from)?.map(|r| r.key).unwrap_or_default();
                self.inform(format!("{} {from_key} ({})", tr(lang, "reused"), out.changed.len()));
            }
            Err(OpsError::Store(e)) => return Err(e),
            Err(e) => self.inform(e.to_string()),
        }
        Ok(())
    }

    /// After a reshape: the current patch's shape and outline again.
    fn after_extent_change(&mut self) -> Result<(), StoreError> {
        let Some(i) = self.current else { return Ok(()) };
        let fid = self.records[i].fid;
        self.refresh(fid)?;
        if let Some(e) = self.project.extent(fid)? {
            self.shapes[i] = PatchShape::new(e.current());
        }
        self.load_outline();
        Ok(())
    }

    /// After a split, merge, undo or redo: rows that left review are retired in place, new and
    /// returning rows prepared, the row changed read again; `select` (or the current row, if still
    /// live) is shown.
    pub(crate) fn after_structure_change(&mut self, select: Option<i64>) -> Result<(), StoreError> {
        let live: HashSet<i64> = self.project.live_fids()?.into_iter().collect();
        let known: Vec<(i64, usize)> =
            self.index_of_fid.iter().filter(|(_, i)| !self.gone.contains(i)).map(|(f, i)| (*f, *i)).collect();
        for (fid, i) in &known {
            if !live.contains(fid) {
                self.gone.insert(*i);
                self.shapes[*i] = PatchShape::default();
            }
        }
        let mut added: Vec<i64> = live.iter().filter(|f| !known.iter().any(|(k, _)| k == *f)).copied().collect();
        added.sort_unstable();
        for fid in added {
            if let Some(&i) = self.index_of_fid.get(&fid) {
                // A row that comes back (a split undone and redone, a merge undone).
                self.gone.remove(&i);
                self.reload_row(fid, i)?;
            } else if let Some(r) = self.project.patch(fid)? {
                self.problems.push(self.project.problems(&r));
                self.index_of_fid.insert(fid, self.records.len());
                self.records.push(r);
                self.shapes.push(PatchShape::default());
                self.reload_row(fid, self.records.len() - 1)?;
            }
        }
        // The row the change was made on (an undone reshape, a merged patch) is read again.
        for fid in select.into_iter().chain(self.current_fid()) {
            if let Some(&i) = self.index_of_fid.get(&fid).filter(|i| !self.gone.contains(i)) {
                self.reload_row(fid, i)?;
            }
        }
        self.refilter();
        let target = select
            .and_then(|f| self.index_of_fid.get(&f).copied())
            .filter(|i| !self.gone.contains(i))
            .or(self.current.filter(|i| !self.gone.contains(i)))
            .or(self.queue.first().copied());
        match target {
            Some(i) if Some(i) == self.current => self.load_outline(),
            Some(i) => self.select(i),
            None => {}
        }
        self.saved();
        Ok(())
    }

    fn reload_row(&mut self, fid: i64, i: usize) -> Result<(), StoreError> {
        if let Some(r) = self.project.patch(fid)? {
            self.problems[i] = self.project.problems(&r);
            self.records[i] = r;
            self.records_changed();
        }
        if let Some(e) = self.project.extent(fid)? {
            self.shapes[i] = PatchShape::new(e.current());
        }
        Ok(())
    }
}

/// A vertex edit of the reshape tool (lon/lat).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VertexEdit {
    /// Move a vertex to a point.
    Move(VertexRef, (f64, f64)),
    /// Insert a vertex on the edge after a vertex.
    Insert(VertexRef, (f64, f64)),
    /// Delete a vertex.
    Delete(VertexRef),
}
