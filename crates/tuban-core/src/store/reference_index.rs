//! The spatial index of the reference features (schema 8): per layer one row of
//! `tuban_reference_index` holding every feature's row id and box, written once when the layer
//! is added and read into an rstar tree the first time a session asks (cached in the
//! [`Project`]). It replaces the SQLite R-tree `tuban_reference_rtree` of schemas 6 and 7:
//! its ~300,000 inserts were the largest single cost of adding a county's land survey (1.45 s of
//! 7.4 s on the benchmark), where the packed boxes take one write and an rstar bulk load.
//!
//! A record is 40 bytes, little-endian: row id (i64), min lon, min lat, max lon, max lat (f64).

use std::collections::BTreeMap;
use std::sync::Arc;

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};
use rusqlite::{params, Connection, OptionalExtension};

use super::{Project, Result};

const TABLE: &str =
    "CREATE TABLE IF NOT EXISTS tuban_reference_index (layer_id INTEGER PRIMARY KEY, boxes BLOB NOT NULL);";

const RECORD_BYTES: usize = 40;

/// A layer's features by box: the data is the feature's row id.
pub(crate) type LayerTree = RTree<GeomWithData<Rectangle<[f64; 2]>, i64>>;

/// The records of `boxes` ((row id, [min lon, min lat, max lon, max lat])).
pub(super) fn encode(boxes: &[(i64, [f64; 4])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(boxes.len() * RECORD_BYTES);
    for (fid, b) in boxes {
        out.extend_from_slice(&fid.to_le_bytes());
        for v in b {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

fn tree(blob: &[u8]) -> LayerTree {
    let f64_at = |r: &[u8], i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&r[i..i + 8]);
        b
    };
    let items = blob
        .chunks_exact(RECORD_BYTES)
        .map(|r| {
            let fid = i64::from_le_bytes(f64_at(r, 0));
            let v = |k: usize| f64::from_le_bytes(f64_at(r, 8 + 8 * k));
            GeomWithData::new(Rectangle::from_corners([v(0), v(1)], [v(2), v(3)]), fid)
        })
        .collect();
    RTree::bulk_load(items)
}

/// Schema step 8: the index table, and the R-tree of an older file turned into it and dropped.
pub(super) fn schema_upgrade(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(TABLE)?;
    convert(conn)?;
    conn.execute_batch("DROP TABLE IF EXISTS tuban_reference_rtree;")
}

/// An older file opened read-only: a temporary index made from its R-tree (empty before 6).
pub(super) fn schema_read_only(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(&TABLE.replace("CREATE TABLE IF NOT EXISTS ", "CREATE TEMP TABLE IF NOT EXISTS "))?;
    convert(conn)
}

/// Writes one index row per layer from the R-tree `tuban_reference_rtree` (the unqualified
/// names: the file's own tables, or the temporary ones an older file is read through).
fn convert(conn: &Connection) -> rusqlite::Result<()> {
    let has_rtree: i64 = conn.query_row(
        "SELECT count(*) FROM (SELECT name FROM sqlite_master UNION ALL SELECT name FROM sqlite_temp_master) WHERE name = 'tuban_reference_rtree'",
        [],
        |r| r.get(0),
    )?;
    if has_rtree == 0 {
        return Ok(());
    }
    let mut by_layer: BTreeMap<i64, Vec<(i64, [f64; 4])>> = BTreeMap::new();
    {
        let mut st = conn.prepare(
            "SELECT f.layer_id, r.id, r.minx, r.miny, r.maxx, r.maxy FROM tuban_reference_rtree r JOIN tuban_reference_features f ON f.fid = r.id ORDER BY r.id",
        )?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?]))
        })?;
        for row in rows {
            let (layer, fid, b) = row?;
            by_layer.entry(layer).or_default().push((fid, b));
        }
    }
    for (layer, boxes) in by_layer {
        conn.execute(
            "INSERT OR REPLACE INTO tuban_reference_index(layer_id, boxes) VALUES (?1, ?2)",
            params![layer, encode(&boxes)],
        )?;
    }
    Ok(())
}

impl Project {
    /// The row ids of the features of `layers` (every layer when empty) whose boxes meet `bbox`
    /// (min lon, min lat, max lon, max lat), ascending.
    pub(crate) fn reference_fids_in(&self, layers: &[i64], bbox: [f64; 4]) -> Result<Vec<i64>> {
        let ids: Vec<i64> = if layers.is_empty() {
            let mut st = self.conn.prepare_cached("SELECT id FROM tuban_reference ORDER BY id").map_err(self.sq())?;
            let rows = st.query_map([], |r| r.get(0)).map_err(self.sq())?;
            rows.collect::<rusqlite::Result<_>>().map_err(self.sq())?
        } else {
            layers.to_vec()
        };
        let envelope = AABB::from_corners([bbox[0], bbox[1]], [bbox[2], bbox[3]]);
        let mut out = Vec::new();
        for id in ids {
            if let Some(tree) = self.reference_tree(id)? {
                out.extend(tree.locate_in_envelope_intersecting(&envelope).map(|g| g.data));
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// How many features of `layers` (every layer when empty) have boxes meeting `bbox`, from
    /// the index alone (the window asks before reading features it would not draw).
    pub fn reference_count_in(&self, layers: &[i64], bbox: [f64; 4]) -> Result<usize> {
        Ok(self.reference_fids_in(layers, bbox)?.len())
    }

    /// A layer's index, read once per session; `None` for a layer without one.
    fn reference_tree(&self, layer_id: i64) -> Result<Option<Arc<LayerTree>>> {
        let mut cache = self.reference_trees.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(t) = cache.get(&layer_id) {
            return Ok(Some(Arc::clone(t)));
        }
        let blob: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT boxes FROM tuban_reference_index WHERE layer_id = ?1", [layer_id], |r| r.get(0))
            .optional()
            .map_err(self.sq())?;
        Ok(blob.map(|b| {
            let t = Arc::new(tree(&b));
            cache.insert(layer_id, Arc::clone(&t));
            t
        }))
    }

    /// Forgets a layer's cached index (after it was removed).
    pub(super) fn forget_reference_tree(&self, layer_id: i64) {
        self.reference_trees.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&layer_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_are_found_by_box() {
        let boxes =
            vec![(7, [111.0, 41.0, 111.1, 41.1]), (9, [111.2, 41.0, 111.3, 41.1]), (12, [-1.5, -2.5, 3.25, 4.0])];
        let blob = encode(&boxes);
        assert_eq!(blob.len(), 3 * RECORD_BYTES);
        let t = tree(&blob);
        let found = |b: [f64; 4]| -> Vec<i64> {
            let mut v: Vec<i64> = t
                .locate_in_envelope_intersecting(&AABB::from_corners([b[0], b[1]], [b[2], b[3]]))
                .map(|g| g.data)
                .collect();
            v.sort_unstable();
            v
        };
        assert_eq!(found([111.05, 41.05, 111.25, 41.06]), vec![7, 9]);
        assert_eq!(found([111.11, 41.0, 111.19, 41.1]), Vec::<i64>::new(), "between the two boxes");
        assert_eq!(found([3.0, 3.9, 3.2, 5.0]), vec![12], "negative and fractional corners survive");
    }
}
