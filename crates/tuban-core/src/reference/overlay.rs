//! The overlay of each patch (its verified extent when there is one) with the reference layers:
//! for every layer, the area and share of the patch in each class, computed from the R-tree's
//! candidates with geo's boolean operations (or GEOS through GDAL, [`Engine::Geos`], kept for
//! the benchmark) and the ellipsoidal area, and stored with the signature of the extent.
//!
//! The store is read and written on the caller's thread; the geometry runs on worker threads
//! (one per core) over plain geo values, a chunk of patches at a time, so progress and cancel are
//! seen between chunks and a cancel keeps the chunks already stored (derived data: what is left
//! stays out of date and is computed next time).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use geo::{BooleanOps, BoundingRect, Contains, CoordsIter, Geometry, MultiPolygon};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use crate::store::{extent_signature, LayerOverlay, Project, StoreError};
use tuban_model::geometry::order::hilbert_key;
use tuban_model::geometry::{area_m2, gpkg};
use tuban_model::progress::Progress;

/// Which patches to compute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every patch under review.
    All,
    /// Patches whose stored overlay is missing or was computed for another extent.
    Stale,
    /// These patches.
    Patches(Vec<i64>),
}

/// The geometry library that intersects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// geo's BooleanOps (i_overlay), in process.
    #[default]
    Geo,
    /// GEOS through GDAL's OGR geometry.
    Geos,
}

/// What a computation did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OverlaySummary {
    /// Patches computed.
    pub patches: usize,
    /// (patch, layer) pairs computed.
    pub pairs: usize,
    /// Classes stored.
    pub rows: usize,
    /// Pairs left alone because they were up to date.
    pub up_to_date: usize,
    /// The patches computed (row ids).
    pub fids: Vec<i64>,
}

const CHUNK: usize = 512;

/// A feature the overlay intersects: row id, layer, class, polygons.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    fid: i64,
    layer_id: i64,
    class: String,
    polygons: MultiPolygon,
}

/// A patch and its candidate features, ready for the workers.
struct Work {
    fid: i64,
    geom: Geometry,
    sig: String,
    layers: Vec<i64>,
    candidates: Vec<Arc<Candidate>>,
}

/// Vertices of a layer just read that are kept in memory for its overlay (16 bytes each, about
/// 256 MB); a larger layer is not kept and its overlay asks the store's R-tree per patch.
pub const MAX_KEPT_VERTICES: usize = 16_000_000;

/// Collects the features of a layer as the store writes them (see [`Kept`]).
#[derive(Debug)]
pub struct Keeper {
    features: Vec<(i64, String, MultiPolygon)>,
    vertices: usize,
    max_vertices: usize,
    over_budget: bool,
}

impl Default for Keeper {
    fn default() -> Self {
        Keeper::new(MAX_KEPT_VERTICES)
    }
}

impl Keeper {
    /// A keeper that gives up past `max_vertices`.
    pub fn new(max_vertices: usize) -> Self {
        Keeper { features: Vec::new(), vertices: 0, max_vertices, over_budget: false }
    }

    /// Keeps one stored feature (row id, class, polygons) while the budget allows.
    pub fn keep(&mut self, fid: i64, class: String, geom: Geometry) {
        if self.over_budget {
            return;
        }
        let Some(polygons) = polygons_owned(geom) else { return };
        self.vertices += polygons.coords_count();
        if self.vertices > self.max_vertices {
            self.over_budget = true;
            self.features = Vec::new();
            return;
        }
        self.features.push((fid, class, polygons));
    }

    /// The kept features of layer `layer_id` with their index; `None` over the budget.
    pub fn finish(self, layer_id: i64) -> Option<Kept> {
        if self.over_budget {
            return None;
        }
        let mut boxes = Vec::with_capacity(self.features.len());
        let mut items = Vec::with_capacity(self.features.len());
        for (fid, class, polygons) in self.features {
            let Some(r) = polygons.bounding_rect() else { continue };
            boxes.push(GeomWithData::new(
                Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                items.len(),
            ));
            items.push(Arc::new(Candidate { fid, layer_id, class, polygons }));
        }
        Some(Kept { layer_id, tree: RTree::bulk_load(boxes), items })
    }
}

/// The features of a layer just read, in memory with their own index, so its overlay asks no
/// R-tree query of the store (the same rows the store holds, with the same row ids).
#[derive(Debug)]
pub struct Kept {
    layer_id: i64,
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
    items: Vec<Arc<Candidate>>,
}

impl Kept {
    fn candidates(&self, bbox: [f64; 4]) -> Vec<Arc<Candidate>> {
        let envelope = AABB::from_corners([bbox[0], bbox[1]], [bbox[2], bbox[3]]);
        self.tree.locate_in_envelope_intersecting(&envelope).map(|g| Arc::clone(&self.items[g.data])).collect()
    }
}

/// Computes and stores the overlay of the patches in `scope` with `layers` (every layer when
/// empty). Cancel stops between chunks (what was stored stays).
pub fn compute(
    p: &mut Project,
    scope: &Scope,
    layers: &[i64],
    engine: Engine,
    progress: &Progress,
) -> Result<OverlaySummary, StoreError> {
    compute_with(p, scope, layers, engine, None, progress)
}

/// [`compute`], with the candidates of `kept`'s layer taken from memory when it is the only
/// layer wanted.
pub fn compute_with(
    p: &mut Project,
    scope: &Scope,
    layers: &[i64],
    engine: Engine,
    kept: Option<&Kept>,
    progress: &Progress,
) -> Result<OverlaySummary, StoreError> {
    let all_layers: Vec<i64> =
        p.references()?.into_iter().map(|l| l.id).filter(|id| layers.is_empty() || layers.contains(id)).collect();
    let mut summary = OverlaySummary::default();
    if all_layers.is_empty() {
        return Ok(summary);
    }
    let mut extents = p.current_extents()?;
    if let Scope::Patches(fids) = scope {
        extents.retain(|(fid, _)| fids.contains(fid));
    }
    let stored = if *scope == Scope::Stale { p.overlay_signatures()? } else { HashMap::new() };
    let mut todo = Vec::new();
    for (fid, geom) in extents {
        let sig = extent_signature(&geom);
        let wanted: Vec<i64> = all_layers.iter().copied().filter(|l| stored.get(&(fid, *l)) != Some(&sig)).collect();
        summary.up_to_date += all_layers.len() - wanted.len();
        if !wanted.is_empty() {
            todo.push((fid, geom, sig, wanted));
        }
    }
    spatial_order(&mut todo);
    let kept = kept.filter(|k| all_layers == [k.layer_id]);
    // The kept features are of a layer just added (layer ids are never reused): nothing is
    // stored for it yet.
    let fresh = kept.is_some();
    progress.stage("叠加分析 / overlay", todo.len() as u64);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let mut done = 0u64;
    let chunks: Vec<&[Pending]> = todo.chunks(CHUNK).collect();
    let mut next = match chunks.first() {
        Some(c) => fetch(p, kept, c)?,
        None => Vec::new(),
    };
    // Results wait until a few chunks are together (one transaction, one sync for them) and are
    // written while the workers compute the next chunk.
    let mut unstored: Vec<LayerOverlay> = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let work = std::mem::take(&mut next);
        let to_store = if unstored.len() >= STORE_EVERY { std::mem::take(&mut unstored) } else { Vec::new() };
        // The workers overlay this chunk while this thread reads the next one's candidates and
        // stores what the last chunks gave.
        let (results, fetched, stored) = std::thread::scope(|s| {
            let workers = s.spawn(|| run_workers(&work, threads, engine));
            let fetched = chunks.get(i + 1).map(|c| fetch(p, kept, c));
            let stored = if to_store.is_empty() { Ok(()) } else { p.store_overlays(&to_store, fresh) };
            (workers.join().unwrap_or_default(), fetched, stored)
        });
        stored?;
        summary.pairs += results.len();
        summary.rows += results.iter().map(|r| r.classes.len()).sum::<usize>();
        summary.patches += work.len();
        summary.fids.extend(work.iter().map(|w| w.fid));
        unstored.extend(results);
        done += chunk.len() as u64;
        if progress.set(done).is_err() {
            p.store_overlays(&unstored, fresh)?;
            return Err(StoreError::Cancelled);
        }
        if let Some(f) = fetched {
            next = f?;
        }
    }
    if !unstored.is_empty() {
        p.store_overlays(&unstored, fresh)?;
    }
    Ok(summary)
}

/// Overlays (patch × layer) written in one transaction.
const STORE_EVERY: usize = 2048;

/// A patch waiting for its overlay: row id, extent, its signature, the layers wanted.
type Pending = (i64, Geometry, String, Vec<i64>);

/// Orders the patches along a Hilbert curve of their centres, so neighbours follow each other
/// and the index's pages (or the kept index) stay in the cache from one patch to the next.
fn spatial_order(todo: &mut [Pending]) {
    let centre = |g: &Geometry| gpkg::envelope(g).map(|b| ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0));
    let extent = todo.iter().filter_map(|t| centre(&t.1)).fold(None, |e: Option<[f64; 4]>, (x, y)| {
        Some(e.map_or([x, y, x, y], |e| [e[0].min(x), e[1].min(y), e[2].max(x), e[3].max(y)]))
    });
    let Some(extent) = extent else { return };
    todo.sort_by_cached_key(|t| centre(&t.1).map_or(0, |(x, y)| hilbert_key(x, y, extent)));
}

/// The candidates of each patch of a chunk, from the kept features or the layers' R-tree.
fn fetch(p: &Project, kept: Option<&Kept>, chunk: &[Pending]) -> Result<Vec<Work>, StoreError> {
    let mut work = Vec::with_capacity(chunk.len());
    for (fid, geom, sig, wanted) in chunk {
        let candidates = match (gpkg::envelope(geom), kept) {
            (Some(bbox), Some(k)) => k.candidates(bbox),
            (Some(bbox), None) => p
                .reference_geometries_in(wanted, bbox)?
                .into_iter()
                .filter_map(|(fid, layer_id, class, g)| {
                    polygons_owned(g).map(|polygons| Arc::new(Candidate { fid, layer_id, class, polygons }))
                })
                .collect(),
            (None, _) => Vec::new(),
        };
        work.push(Work { fid: *fid, geom: geom.clone(), sig: sig.clone(), layers: wanted.clone(), candidates });
    }
    Ok(work)
}

/// Splits the work among `threads` scoped workers and gathers their results in order.
fn run_workers(work: &[Work], threads: usize, engine: Engine) -> Vec<LayerOverlay> {
    if threads <= 1 || work.len() < 8 {
        return work.iter().flat_map(|w| overlay_one(w, engine)).collect();
    }
    let per = work.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = work
            .chunks(per)
            .map(|part| s.spawn(move || part.iter().flat_map(|w| overlay_one(w, engine)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

/// Classes below this area are nothing but shared borders (m²).
const MIN_AREA_M2: f64 = 0.005;

/// One class's sum: area m², features, (largest area, its feature).
type ClassSum = (f64, u32, (f64, i64));

/// The overlay of one patch with each of its layers.
fn overlay_one(w: &Work, engine: Engine) -> Vec<LayerOverlay> {
    let patch_m2 = area_m2(&w.geom);
    let point = match &w.geom {
        Geometry::Point(pt) => Some(*pt),
        _ => None,
    };
    let patch_mp = polygons(&w.geom);
    // (layer, class) → (area, features, (top area, top fid))
    let mut acc: BTreeMap<(i64, String), ClassSum> = BTreeMap::new();
    for c in &w.candidates {
        let (fid, layer_id, class) = (&c.fid, &c.layer_id, &c.class);
        let area = match (point, &patch_mp) {
            (Some(pt), _) => {
                if c.polygons.contains(&pt) {
                    0.0
                } else {
                    continue;
                }
            }
            (None, Some(mp)) => match intersection_m2(mp, &c.polygons, engine) {
                Some(a) if a >= MIN_AREA_M2 => a,
                _ => continue,
            },
            (None, None) => continue,
        };
        let e = acc.entry((*layer_id, class.clone())).or_insert((0.0, 0, (f64::MIN, *fid)));
        e.0 += area;
        e.1 += 1;
        if area > e.2 .0 {
            e.2 = (area, *fid);
        }
    }
    w.layers
        .iter()
        .map(|layer| {
            let classes = acc
                .range((*layer, String::new())..)
                .take_while(|((l, _), _)| l == layer)
                .map(|((_, class), (area, n, (_, top)))| {
                    let share = if point.is_some() {
                        100.0
                    } else if patch_m2 > 0.0 {
                        (area / patch_m2 * 100.0).min(100.0)
                    } else {
                        0.0
                    };
                    (class.clone(), *area, share, *n, *top)
                })
                .collect();
            LayerOverlay { patch_fid: w.fid, layer_id: *layer, geom_sig: w.sig.clone(), classes }
        })
        .collect()
}

/// The polygons of a geometry, if it has any.
fn polygons(g: &Geometry) -> Option<MultiPolygon> {
    match g {
        Geometry::Polygon(p) => Some(MultiPolygon(vec![p.clone()])),
        Geometry::MultiPolygon(mp) => Some(mp.clone()),
        _ => None,
    }
}

/// The polygons of a geometry, taken without copying, if it has any.
fn polygons_owned(g: Geometry) -> Option<MultiPolygon> {
    match g {
        Geometry::Polygon(p) => Some(MultiPolygon(vec![p])),
        Geometry::MultiPolygon(mp) => Some(mp),
        _ => None,
    }
}

/// The ellipsoidal area (m²) of the intersection of a patch with a feature.
pub fn intersection_m2(patch: &MultiPolygon, feature: &MultiPolygon, engine: Engine) -> Option<f64> {
    match engine {
        Engine::Geo => {
            let inter = patch.intersection(feature);
            Some(area_m2(&Geometry::MultiPolygon(inter)))
        }
        Engine::Geos => {
            use gdal::vector::ToGdal;
            let a = patch.to_gdal().ok()?;
            let b = feature.to_gdal().ok()?;
            let inter = a.intersection(&b)?;
            let g = inter.to_geo().ok()?;
            let polys = match g {
                Geometry::GeometryCollection(gc) => {
                    MultiPolygon(gc.0.into_iter().filter_map(|g| polygons(&g)).flat_map(|mp| mp.0).collect())
                }
                other => polygons(&other)?,
            };
            Some(area_m2(&Geometry::MultiPolygon(polys)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    fn square(x: f64) -> Geometry {
        Geometry::Polygon(
            polygon![(x: x, y: 0.0), (x: x + 1.0, y: 0.0), (x: x + 1.0, y: 1.0), (x: x, y: 1.0), (x: x, y: 0.0)],
        )
    }

    #[test]
    fn kept_features_are_found_by_box_and_a_layer_over_the_budget_is_not_kept() {
        let mut k = Keeper::new(100);
        for i in 0..10 {
            k.keep(i, format!("c{i}"), square(i as f64 * 2.0));
        }
        let kept = k.finish(7).expect("within the budget");
        let mut found: Vec<i64> = kept.candidates([3.5, 0.2, 6.5, 0.8]).iter().map(|c| c.fid).collect();
        found.sort_unstable();
        assert_eq!(found, vec![2, 3], "boxes [4,5] and [6,7] meet x 3.5..6.5");
        assert!(kept.candidates([1.1, 0.0, 1.9, 1.0]).is_empty(), "the gap between two squares");
        assert!(kept.items.iter().all(|c| c.layer_id == 7));
        let mut small = Keeper::new(20);
        for i in 0..10 {
            small.keep(i, String::new(), square(i as f64 * 2.0));
        }
        assert!(small.finish(7).is_none(), "50 vertices over a budget of 20");
    }

    #[test]
    fn patches_are_ordered_along_the_curve() {
        let at = |x: f64, y: f64| -> Pending { (0, Geometry::Point(geo::Point::new(x, y)), String::new(), vec![]) };
        let mut todo = vec![at(10.0, 10.0), at(0.0, 0.0), at(10.0, 0.0), at(0.0, 10.0), at(0.1, 0.1)];
        spatial_order(&mut todo);
        let xy: Vec<(f64, f64)> = todo
            .iter()
            .map(|t| match t.1 {
                Geometry::Point(p) => (p.x(), p.y()),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(xy[..2], [(0.0, 0.0), (0.1, 0.1)], "neighbours follow each other: {xy:?}");
        assert_eq!(xy[4], (10.0, 0.0), "the curve ends in the lower right corner: {xy:?}");
    }
}
