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

use geo::{BooleanOps, Contains, Geometry, MultiPolygon};

use crate::store::{extent_signature, LayerOverlay, Project, StoreError};
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

/// A patch and its candidate features, ready for the workers.
struct Work {
    fid: i64,
    geom: Geometry,
    sig: String,
    layers: Vec<i64>,
    /// (row id, layer, class, geometry).
    candidates: Vec<(i64, i64, String, Geometry)>,
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
    progress.stage("叠加分析 / overlay", todo.len() as u64);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let mut done = 0u64;
    let chunks: Vec<&[Pending]> = todo.chunks(CHUNK).collect();
    let mut next = match chunks.first() {
        Some(c) => fetch(p, c)?,
        None => Vec::new(),
    };
    for (i, chunk) in chunks.iter().enumerate() {
        let work = std::mem::take(&mut next);
        // The workers overlay this chunk while this thread reads the next one's candidates.
        let (results, fetched) = std::thread::scope(|s| {
            let workers = s.spawn(|| run_workers(&work, threads, engine));
            let fetched = chunks.get(i + 1).map(|c| fetch(p, c));
            (workers.join().unwrap_or_default(), fetched)
        });
        summary.pairs += results.len();
        summary.rows += results.iter().map(|r| r.classes.len()).sum::<usize>();
        summary.patches += work.len();
        summary.fids.extend(work.iter().map(|w| w.fid));
        p.store_overlays(&results)?;
        done += chunk.len() as u64;
        if progress.set(done).is_err() {
            return Err(StoreError::Cancelled);
        }
        if let Some(f) = fetched {
            next = f?;
        }
    }
    Ok(summary)
}

/// A patch waiting for its overlay: row id, extent, its signature, the layers wanted.
type Pending = (i64, Geometry, String, Vec<i64>);

/// The candidates of each patch of a chunk, read from the layers' R-tree.
fn fetch(p: &Project, chunk: &[Pending]) -> Result<Vec<Work>, StoreError> {
    let mut work = Vec::with_capacity(chunk.len());
    for (fid, geom, sig, wanted) in chunk {
        let candidates = match gpkg::envelope(geom) {
            Some(bbox) => p.reference_geometries_in(wanted, bbox)?,
            None => Vec::new(),
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
    for (fid, layer_id, class, geom) in &w.candidates {
        let area = match (point, &patch_mp) {
            (Some(pt), _) => {
                if polygons(geom).is_some_and(|mp| mp.contains(&pt)) {
                    0.0
                } else {
                    continue;
                }
            }
            (None, Some(mp)) => match intersection_m2(mp, geom, engine) {
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

/// The ellipsoidal area (m²) of the intersection of a patch with a feature.
pub fn intersection_m2(patch: &MultiPolygon, feature: &Geometry, engine: Engine) -> Option<f64> {
    match engine {
        Engine::Geo => {
            let f = polygons(feature)?;
            let inter = patch.intersection(&f);
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
