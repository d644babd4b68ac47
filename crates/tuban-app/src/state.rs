//! The open project as the window sees it: its patches prepared for drawing, the queue and its
//! filters, the current patch and the map's period. Panels read it; only
//! [`Workstation::apply`](crate::Workstation::apply) (in `apply.rs`) changes it.

use std::collections::{HashMap, HashSet};

use geo::TriangulateEarcut;

use tuban_core::store::{ImagerySource, PatchRecord, Project, StoreError};
use tuban_model::{ReviewStatus, Value};

pub use tuban_core::store::Period;

/// How the map compares the two periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ViewMode {
    /// One map; B / A (or Space) switch the period.
    #[default]
    Single,
    /// Before | after, side by side, moving together.
    SideBySide,
    /// After with the before imagery left of a divider the analyst drags.
    Swipe,
}

/// A clue being drawn on the map (eco programme: 手工添加线索).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClueDraft {
    /// A polygon (else a point).
    pub polygon: bool,
    /// Vertices so far, CGCS2000 lon/lat.
    pub vertices: Vec<(f64, f64)>,
    /// Drawing is over: the form for address and source is shown.
    pub finished: bool,
}

impl ClueDraft {
    /// The geometry drawn: a point, or a closed polygon of three vertices at least.
    pub fn geometry(&self) -> Option<geo::Geometry> {
        if !self.polygon {
            return self.vertices.first().map(|&(x, y)| geo::Geometry::Point(geo::Point::new(x, y)));
        }
        if self.vertices.len() < 3 {
            return None;
        }
        let ring: Vec<geo::Coord> = self.vertices.iter().map(|&(x, y)| geo::Coord { x, y }).collect();
        Some(geo::Geometry::Polygon(geo::Polygon::new(geo::LineString::new(ring), vec![])))
    }
}

/// Sort order of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum SortBy {
    /// Patch id.
    #[default]
    Id,
    /// Township, then id.
    Township,
    /// Status, then id.
    Status,
    /// Largest first.
    Area,
}

/// Filters of the queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueFilter {
    /// Only this status.
    pub status: Option<ReviewStatus>,
    /// Only this township.
    pub township: Option<String>,
    /// Only this verdict ("" = not set).
    pub verdict: Option<String>,
    /// Only patches with validation problems or import issues.
    pub only_problems: bool,
    /// Text in id, township or village.
    pub text: String,
    /// What the patch's overlay with the reference layers must show.
    pub overlay: tuban_model::reference::OverlayFilter,
    /// Sort order.
    pub sort: SortBy,
}

/// A patch prepared for drawing: vertices in normalised Web Mercator (0..1), triangles, rings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatchShape {
    /// Bounding box in normalised Mercator (min_x, min_y, max_x, max_y); y grows southwards.
    pub bbox: [f64; 4],
    /// Vertices of all rings.
    pub verts: Vec<[f64; 2]>,
    /// Triangles (indices into `verts`) covering the polygons, holes left out.
    pub triangles: Vec<u32>,
    /// Rings as ranges of `verts`.
    pub rings: Vec<std::ops::Range<u32>>,
    /// Point clue (no area).
    pub is_point: bool,
}

/// Normalised Web-Mercator coordinates (0..1, y southwards) of a lon/lat point.
pub fn merc01(lon: f64, lat: f64) -> [f64; 2] {
    let lat = lat.clamp(-85.051_128, 85.051_128).to_radians();
    let x = (lon + 180.0) / 360.0;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0;
    [x, y]
}

/// Lon/lat of normalised Web-Mercator coordinates.
pub fn lonlat_of_merc01(m: [f64; 2]) -> (f64, f64) {
    let lon = m[0] * 360.0 - 180.0;
    let n = std::f64::consts::PI * (1.0 - 2.0 * m[1]);
    (lon, n.sinh().atan().to_degrees())
}

impl PatchShape {
    /// Prepares a lon/lat geometry: projection and triangulation happen once, not per frame.
    pub fn new(geom: &geo::Geometry) -> PatchShape {
        let mut s = PatchShape::default();
        let polys: Vec<&geo::Polygon> = match geom {
            geo::Geometry::Polygon(p) => vec![p],
            geo::Geometry::MultiPolygon(mp) => mp.0.iter().collect(),
            geo::Geometry::Point(p) => {
                s.is_point = true;
                s.verts.push(merc01(p.x(), p.y()));
                let v = s.verts[0];
                s.bbox = [v[0], v[1], v[0], v[1]];
                return s;
            }
            _ => vec![],
        };
        let mut bbox = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        for poly in polys {
            let base = s.verts.len() as u32;
            for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                let start = s.verts.len() as u32;
                let coords = &ring.0;
                let n =
                    if coords.len() > 1 && coords.first() == coords.last() { coords.len() - 1 } else { coords.len() };
                for c in &coords[..n] {
                    let m = merc01(c.x, c.y);
                    bbox = [bbox[0].min(m[0]), bbox[1].min(m[1]), bbox[2].max(m[0]), bbox[3].max(m[1])];
                    s.verts.push(m);
                }
                s.rings.push(start..s.verts.len() as u32);
            }
            // Earcut on the polygon in lon/lat (ring order as above, closing points dropped).
            let raw = poly.earcut_triangles_raw();
            let mut map = Vec::with_capacity(raw.vertices.len() / 2);
            for v in &raw.vertices {
                map.push(merc01(v[0], v[1]));
            }
            // earcut's vertices are the ring vertices without closing points, in the same order.
            if map.len() as u32 == s.verts.len() as u32 - base {
                s.triangles.extend(raw.triangle_indices.iter().map(|&i| base + i as u32));
            } else {
                let offset = s.verts.len() as u32;
                s.verts.extend(map);
                s.triangles.extend(raw.triangle_indices.iter().map(|&i| offset + i as u32));
            }
        }
        s.bbox = bbox;
        s
    }

    /// True when the normalised Mercator point lies inside the patch (even-odd over all rings).
    pub fn contains(&self, p: [f64; 2]) -> bool {
        if self.is_point || p[0] < self.bbox[0] || p[0] > self.bbox[2] || p[1] < self.bbox[1] || p[1] > self.bbox[3] {
            return false;
        }
        let mut inside = false;
        for ring in &self.rings {
            let pts = &self.verts[ring.start as usize..ring.end as usize];
            let mut j = pts.len().wrapping_sub(1);
            for i in 0..pts.len() {
                let (a, b) = (pts[i], pts[j]);
                if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0] {
                    inside = !inside;
                }
                j = i;
            }
        }
        inside
    }
}

/// A message for the status line.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Text.
    pub text: String,
    /// An error (red) or information.
    pub is_error: bool,
}

/// The open project and everything the window shows of it.
pub struct Workstation {
    /// The project (opened for writing).
    pub project: Project,
    /// Every patch, in row order. Code that changes it calls [`Workstation::records_changed`]
    /// after.
    pub records: Vec<PatchRecord>,
    /// Drawing shapes, aligned with `records`.
    pub shapes: Vec<PatchShape>,
    /// Validation problems, aligned with `records`.
    pub problems: Vec<Vec<tuban_model::Problem>>,
    /// Record index by row id.
    pub index_of_fid: HashMap<i64, usize>,
    /// Filtered and sorted record indices.
    pub queue: Vec<usize>,
    /// The current patch (record index).
    pub current: Option<usize>,
    /// Queue filters.
    pub filter: QueueFilter,
    /// Local time of the last save, shown in the status bar.
    pub last_saved: Option<String>,
    /// Status-line message.
    pub message: Option<Message>,
    /// Registered imagery, oldest first.
    pub imagery: Vec<ImagerySource>,
    /// Which period the map shows.
    pub period: Period,
    /// The map should zoom to the current patch on the next frame.
    pub fit_requested: bool,
    /// Bumped on every selection change (lets the form reset its buffers).
    pub selection_serial: u64,
    /// Distinct township names, sorted (issued data: computed once).
    pub townships: Vec<String>,
    /// A source chosen by hand (source switcher, time slider) instead of the date rule.
    pub source_override: Option<usize>,
    /// Bumped whenever photos, comments, cases or flags change (panels reload them).
    pub side_serial: u64,
    /// Photos of the current patch on the map: (lon, lat, bearing).
    pub photo_marks: Vec<(f64, f64, Option<f64>)>,
    /// A clue being drawn on the map.
    pub drawing: Option<ClueDraft>,
    /// Bumped when the imagery catalogue changes (a relink): the map reopens its sources.
    pub imagery_serial: u64,
    /// The geometry tool in use (split, redraw, reshape, measure).
    pub tool: Option<crate::edit::Tool>,
    /// The current patch's extent and the issued outline drawn dashed beside it.
    pub outline: Option<crate::edit::Outline>,
    /// Why the last geometry edit was refused; shown on the map until the next edit or patch.
    pub geometry_error: Option<String>,
    /// Open conflicts from merged work packages.
    pub conflicts: Vec<tuban_core::store::Conflict>,
    /// The conflict shown beside the queue.
    pub shown_conflict: Option<i64>,
    /// Row id → the work package a patch is checked out to.
    pub checked_out: HashMap<i64, String>,
    /// Records no longer under review (split into 细斑, or 细斑 merged back or undone): kept in
    /// place so indices stay valid, never drawn or queued.
    pub gone: HashSet<usize>,
    /// The reference layers: switches, the features in view, the current patch's overlay.
    pub reference: crate::reference::ReferenceView,
    /// The hub thread of a linked project, and whether it was tried.
    pub hub: Option<crate::hub::HubSession>,
    pub hub_tried: bool,
    /// [`Workstation::statuses`] since the records last changed (empty: to be read again).
    status_memo: std::cell::RefCell<Vec<ReviewStatus>>,
}

impl Workstation {
    /// Loads every patch of an open project.
    pub fn new(project: Project) -> Result<Workstation, StoreError> {
        let records = project.patches()?;
        let mut shapes = Vec::with_capacity(records.len());
        for r in &records {
            let g = project.extent(r.fid)?;
            shapes.push(g.map(|e| PatchShape::new(e.current())).unwrap_or_default());
        }
        let problems = records.iter().map(|r| project.problems(r)).collect();
        let index_of_fid = records.iter().enumerate().map(|(i, r)| (r.fid, i)).collect();
        let imagery = project.imagery()?;
        let reference = crate::reference::ReferenceView::load(&project);
        let mut ws = Workstation {
            project,
            records,
            shapes,
            problems,
            index_of_fid,
            queue: Vec::new(),
            current: None,
            filter: QueueFilter::default(),
            last_saved: None,
            message: None,
            imagery,
            period: Period::After,
            fit_requested: false,
            selection_serial: 0,
            townships: Vec::new(),
            source_override: None,
            side_serial: 0,
            photo_marks: Vec::new(),
            drawing: None,
            imagery_serial: 0,
            tool: None,
            outline: None,
            geometry_error: None,
            gone: HashSet::new(),
            conflicts: Vec::new(),
            shown_conflict: None,
            checked_out: HashMap::new(),
            reference,
            hub: None,
            status_memo: std::cell::RefCell::new(Vec::new()),
            hub_tried: false,
        };
        ws.checked_out = ws.project.checked_out()?;
        ws.reload_conflicts()?;
        let mut towns: Vec<String> = (0..ws.records.len()).map(|i| ws.township(i)).collect();
        towns.sort();
        towns.dedup();
        ws.townships = towns;
        ws.refilter();
        if let Some(&first) = ws.queue.first() {
            ws.select(first);
        }
        Ok(ws)
    }

    /// The text of a role field (township, village, verdict) of a record.
    pub fn role_text(&self, index: usize, field: Option<&str>) -> String {
        let Some(field) = field else { return String::new() };
        self.records
            .get(index)
            .and_then(|r| r.value(self.project.template(), field))
            .map(|v| v.to_string())
            .unwrap_or_default()
    }

    /// Township of a record.
    pub fn township(&self, index: usize) -> String {
        self.role_text(index, self.project.template().roles().township.as_deref())
    }

    /// Verdict of a record.
    pub fn verdict(&self, index: usize) -> String {
        let v = self.project.template().roles().verdict.clone();
        self.role_text(index, Some(&v))
    }

    /// True when a record has errors, warnings or import issues.
    pub fn has_problems(&self, index: usize) -> bool {
        !self.problems[index].is_empty() || !self.records[index].import_issues.is_empty()
    }

    /// Rebuilds the queue from the filters.
    pub fn refilter(&mut self) {
        let f = self.filter.clone();
        let needle = f.text.trim().to_lowercase();
        let village = self.project.template().roles().village.clone();
        let mut q: Vec<usize> = (0..self.records.len())
            .filter(|i| !self.gone.contains(i))
            .filter(|&i| {
                let r = &self.records[i];
                f.status.is_none_or(|s| r.status == s)
                    && f.township.as_ref().is_none_or(|t| &self.township(i) == t)
                    && f.verdict.as_ref().is_none_or(|v| &self.verdict(i) == v)
                    && (!f.only_problems || self.has_problems(i))
                    && self.reference.passes(&f.overlay, r.fid)
                    && (needle.is_empty()
                        || r.key.to_lowercase().contains(&needle)
                        || self.township(i).contains(&needle)
                        || self.role_text(i, village.as_deref()).contains(&needle))
            })
            .collect();
        match f.sort {
            SortBy::Id => q.sort_by(|&a, &b| self.records[a].key.cmp(&self.records[b].key)),
            SortBy::Township => q.sort_by(|&a, &b| {
                self.township(a).cmp(&self.township(b)).then(self.records[a].key.cmp(&self.records[b].key))
            }),
            SortBy::Status => q.sort_by(|&a, &b| {
                self.records[a].status.cmp(&self.records[b].status).then(self.records[a].key.cmp(&self.records[b].key))
            }),
            SortBy::Area => q.sort_by(|&a, &b| self.records[b].area_m2.total_cmp(&self.records[a].area_m2)),
        }
        self.queue = q;
    }

    /// Number of reviewed patches (done or with problems after a verdict). Counted from
    /// [`Workstation::statuses`]: the queue header and the status bar ask every frame, and
    /// counting 100,000 records took a millisecond each time.
    pub fn reviewed_count(&self) -> usize {
        let statuses = self.statuses();
        let reviewed = statuses.iter().enumerate().filter(|(_, s)| s.is_reviewed());
        if self.gone.is_empty() {
            reviewed.count()
        } else {
            reviewed.filter(|(i, _)| !self.gone.contains(i)).count()
        }
    }

    /// To be called whenever `records` change: what is read from them is read again.
    pub fn records_changed(&self) {
        self.status_memo.borrow_mut().clear();
    }

    /// The review status of every record, aligned with `records`: the map reads it for every
    /// patch in view each frame, one byte apiece instead of a record each (at county zoom,
    /// 100,000 records' worth of cache misses).
    pub fn statuses(&self) -> std::cell::Ref<'_, Vec<ReviewStatus>> {
        if self.status_memo.borrow().len() != self.records.len() {
            *self.status_memo.borrow_mut() = self.records.iter().map(|r| r.status).collect();
        }
        self.status_memo.borrow()
    }

    /// Number of patches under review.
    pub fn live_count(&self) -> usize {
        self.records.len() - self.gone.len()
    }

    /// Position of the current patch in the queue.
    pub fn queue_position(&self) -> Option<usize> {
        let c = self.current?;
        self.queue.iter().position(|&i| i == c)
    }

    pub(crate) fn select(&mut self, index: usize) {
        if index < self.records.len() {
            self.current = Some(index);
            self.fit_requested = true;
            self.selection_serial += 1;
            self.geometry_error = None;
            if self.tool.as_ref().is_some_and(|t| t.kind != crate::edit::ToolKind::Measure) {
                self.tool = None;
            }
            self.load_outline();
            self.reference.select(&self.project, Some(self.records[index].fid));
        }
    }

    /// The imagery source for a period of the current patch: nearest to its before/after date.
    pub fn imagery_for(&self, period: Period) -> Option<usize> {
        let record = self.current.and_then(|i| self.records.get(i))?;
        self.project.imagery_for(record, &self.imagery, period)
    }

    /// The source of the single map view: the one chosen by hand, else by the period's date.
    pub fn single_source(&self) -> Option<usize> {
        self.source_override.filter(|&i| i < self.imagery.len()).or_else(|| self.imagery_for(self.period))
    }

    /// Title and date of a source, for captions and the verdict record.
    pub fn source_caption(&self, index: Option<usize>) -> String {
        match index.and_then(|i| self.imagery.get(i)) {
            Some(s) => {
                format!("{} {}", s.title(), s.acquired.map(|d| d.to_string()).unwrap_or_default()).trim().to_string()
            }
            None => String::new(),
        }
    }

    /// What is on screen, in words: stored with a verdict.
    pub fn imagery_description(&self, mode: ViewMode) -> Option<String> {
        if self.imagery.is_empty() {
            return None;
        }
        let before = self.source_caption(self.imagery_for(Period::Before));
        let after = self.source_caption(self.imagery_for(Period::After));
        Some(match mode {
            ViewMode::Single => format!("单视图 / single: {}", self.source_caption(self.single_source())),
            ViewMode::SideBySide => format!("并排 / side by side: 前 {before} | 后 {after}"),
            ViewMode::Swipe => format!("卷帘 / swipe: 前 {before} | 后 {after}"),
        })
    }

    pub(crate) fn refresh(&mut self, fid: i64) -> Result<(), StoreError> {
        let Some(&i) = self.index_of_fid.get(&fid) else { return Ok(()) };
        if let Some(r) = self.project.patch(fid)? {
            self.problems[i] = self.project.problems(&r);
            self.records[i] = r;
            self.records_changed();
        }
        self.last_saved = Some(chrono::Local::now().format("%H:%M:%S").to_string());
        self.side_serial += 1;
        Ok(())
    }

    pub(crate) fn current_fid(&self) -> Option<i64> {
        self.current.and_then(|i| self.records.get(i)).map(|r| r.fid)
    }

    pub(crate) fn saved(&mut self) {
        self.last_saved = Some(chrono::Local::now().format("%H:%M:%S").to_string());
        self.side_serial += 1;
    }

    pub(crate) fn edit(&mut self, edits: Vec<(String, Value)>) -> Result<(), StoreError> {
        let Some(i) = self.current else { return Ok(()) };
        let fid = self.records[i].fid;
        self.project.set_values(fid, &edits, tuban_core::store::EditSource::User)?;
        self.refresh(fid)
    }

    pub(crate) fn step(&mut self, delta: isize) {
        let pos = self.queue_position();
        let next = match pos {
            Some(p) => p as isize + delta,
            None => 0,
        };
        if next >= 0 && (next as usize) < self.queue.len() {
            self.select(self.queue[next as usize]);
        }
    }
}
