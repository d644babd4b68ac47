//! Each patch's overlay with the reference layers, as computed (`crate::reference::overlay`)
//! and stored: one row per patch, layer and class (`tuban_overlay`), and for each patch and
//! layer the signature of the extent it was computed for (`tuban_overlay_state`), so a patch
//! reshaped, split or re-issued later shows as out of date instead of showing a stale overlay.
//! Values a layer filled are written like an edit (action `reference:<layer>` in the audit log)
//! and marked in `tuban_reference_fills`.

use std::collections::{BTreeMap, HashMap};

use geo::Geometry;
use rusqlite::params;

use super::patches::audit_text;
use super::{now_utc, EditSource, PatchRecord, Project, Result, StoreError};
use tuban_model::geometry::gpkg;
use tuban_model::progress::Progress;
use tuban_model::reference::OverlayRow;
use tuban_model::Value;

/// The overlay of one patch with one layer, as computed.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerOverlay {
    /// The patch.
    pub patch_fid: i64,
    /// The layer.
    pub layer_id: i64,
    /// The signature of the extent it was computed for ([`extent_signature`]).
    pub geom_sig: String,
    /// (class, area m², share %, features, the feature with the largest overlap).
    pub classes: Vec<(String, f64, f64, u32, i64)>,
}

/// A fill to write: field, value, layer id, layer title.
pub type Fill = (String, Value, i64, String);

/// A value filled from a layer, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct FillMark {
    /// The field.
    pub field: String,
    /// The layer.
    pub layer_id: i64,
    /// The value written, as text.
    pub value: String,
}

/// A short signature of an extent (FNV-1a of its GeoPackage blob), to see when it changed.
pub fn extent_signature(g: &Geometry) -> String {
    let blob = super::geometry::blob(g);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in blob.get(8..).unwrap_or(&[]) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Project {
    /// The extent in force of every patch under review (verified, else issued): (fid, extent).
    pub fn current_extents(&self) -> Result<Vec<(i64, Geometry)>> {
        let mut st = self
            .conn
            .prepare("SELECT fid, coalesce(verified_geom, geom) FROM patches WHERE split_state IS NULL AND geom IS NOT NULL ORDER BY fid")
            .map_err(self.sq())?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))).map_err(self.sq())?;
        let mut out = Vec::new();
        for row in rows {
            let (fid, blob) = row.map_err(self.sq())?;
            if let Ok((_, g)) = gpkg::decode(&blob) {
                out.push((fid, g));
            }
        }
        Ok(out)
    }

    /// The signatures the stored overlay of each (patch, layer) was computed for.
    pub fn overlay_signatures(&self) -> Result<HashMap<(i64, i64), String>> {
        let mut st =
            self.conn.prepare("SELECT patch_fid, layer_id, geom_sig FROM tuban_overlay_state").map_err(self.sq())?;
        let rows = st.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?))).map_err(self.sq())?;
        rows.collect::<rusqlite::Result<HashMap<_, _>>>().map_err(self.sq())
    }

    /// (layer, signature) of each layer's stored overlay of one patch.
    pub fn patch_overlay_signatures(&self, fid: i64) -> Result<Vec<(i64, String)>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT layer_id, geom_sig FROM tuban_overlay_state WHERE patch_fid = ?1")
            .map_err(self.sq())?;
        let rows = st.query_map([fid], |r| Ok((r.get(0)?, r.get(1)?))).map_err(self.sq())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sq())
    }

    /// Stores computed overlays in one transaction, each replacing what was stored for its
    /// patch and layer (`fresh`: the caller knows nothing is stored for them, a layer just
    /// added). Derived data: allowed while sealed (it changes no review value).
    pub fn store_overlays(&mut self, overlays: &[LayerOverlay], fresh: bool) -> Result<()> {
        self.require_write()?;
        let now = now_utc();
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.transaction().map_err(sq)?;
        {
            let mut del =
                tx.prepare_cached("DELETE FROM tuban_overlay WHERE patch_fid = ?1 AND layer_id = ?2").map_err(sq)?;
            let mut ins = tx.prepare_cached("INSERT OR REPLACE INTO tuban_overlay(patch_fid, layer_id, class, area_m2, share_pct, features, top_fid) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)").map_err(sq)?;
            let mut state = tx.prepare_cached("INSERT OR REPLACE INTO tuban_overlay_state(patch_fid, layer_id, geom_sig, computed_at) VALUES (?1, ?2, ?3, ?4)").map_err(sq)?;
            for o in overlays {
                if !fresh {
                    del.execute(params![o.patch_fid, o.layer_id]).map_err(sq)?;
                }
                for (class, area_m2, share_pct, features, top) in &o.classes {
                    ins.execute(params![o.patch_fid, o.layer_id, class, area_m2, share_pct, features, top])
                        .map_err(sq)?;
                }
                state.execute(params![o.patch_fid, o.layer_id, o.geom_sig, now]).map_err(sq)?;
            }
        }
        tx.commit().map_err(sq)
    }

    /// The stored overlay of every patch (largest share first), with the layer's kind and label
    /// and the attributes of each class's largest feature.
    pub fn overlays(&self) -> Result<HashMap<i64, Vec<OverlayRow>>> {
        self.overlay_rows("1 = 1", "1 = 1", params![])
    }

    /// The stored overlay of one patch (largest share first).
    pub fn overlay(&self, fid: i64) -> Result<Vec<OverlayRow>> {
        Ok(self.overlay_rows("o.patch_fid = ?1", "1 = 1", params![fid])?.remove(&fid).unwrap_or_default())
    }

    /// The stored overlays of the patches with row ids `lo..=hi` with the layers `layers`, the
    /// largest feature's attributes read only for the layers in `attrs_of` (what filling needs).
    pub fn overlays_between(
        &self,
        (lo, hi): (i64, i64),
        layers: &[i64],
        attrs_of: &[i64],
    ) -> Result<HashMap<i64, Vec<OverlayRow>>> {
        let list = |ids: &[i64]| ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        // `+layer_id`: the range of the primary key, not the layer's index (which holds every
        // patch of a layer), answers this.
        let cond = format!("o.patch_fid BETWEEN ?1 AND ?2 AND +o.layer_id IN ({})", list(layers));
        self.overlay_rows(&cond, &format!("o.layer_id IN ({})", list(attrs_of)), params![lo, hi])
    }

    fn overlay_rows(
        &self,
        cond: &str,
        with_attrs: &str,
        p: &[&dyn rusqlite::ToSql],
    ) -> Result<HashMap<i64, Vec<OverlayRow>>> {
        let sql = format!(
            "SELECT o.patch_fid, o.layer_id, l.kind, CASE WHEN l.label = '' THEN l.name ELSE l.label END, o.class, o.area_m2, o.share_pct, o.features, f.attrs \
             FROM tuban_overlay o JOIN tuban_reference l ON l.id = o.layer_id LEFT JOIN tuban_reference_features f ON f.fid = CASE WHEN {with_attrs} THEN o.top_fid END \
             WHERE {cond} ORDER BY o.patch_fid, o.layer_id, o.share_pct DESC"
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(self.sq())?;
        let rows = st
            .query_map(p, |r| {
                let attrs: Option<String> = r.get(8)?;
                let kind: String = r.get(2)?;
                Ok((
                    r.get::<_, i64>(0)?,
                    OverlayRow {
                        layer_id: r.get(1)?,
                        kind: tuban_model::reference::ReferenceKind::parse(&kind)
                            .unwrap_or(tuban_model::reference::ReferenceKind::Other),
                        layer: r.get(3)?,
                        class: r.get(4)?,
                        area_m2: r.get(5)?,
                        share_pct: r.get(6)?,
                        features: r.get::<_, i64>(7)?.clamp(0, i64::from(u32::MAX)) as u32,
                        attrs: attrs
                            .and_then(|a| serde_json::from_str::<BTreeMap<String, String>>(&a).ok())
                            .unwrap_or_default(),
                    },
                ))
            })
            .map_err(self.sq())?;
        let mut out: HashMap<i64, Vec<OverlayRow>> = HashMap::new();
        for row in rows {
            let (fid, r) = row.map_err(self.sq())?;
            out.entry(fid).or_default().push(r);
        }
        Ok(out)
    }

    /// Writes values reference layers give patches, all in one transaction, like edits but
    /// recorded as `reference:<layer>` in the audit log (not on the analyst's undo stack), and
    /// marks them. `planned` hands over the patches by chunks (as read, with their fills: field,
    /// value, layer id, layer title), so what is read and planned stays small and can be read
    /// on another thread while this one writes. Refused while sealed; a cancel or an error of
    /// the planner writes nothing. Returns the fields written.
    pub fn apply_reference_fills(
        &mut self,
        planned: impl Iterator<Item = Result<Vec<(PatchRecord, Vec<Fill>)>>>,
        progress: &Progress,
    ) -> Result<usize> {
        self.require_unsealed()?;
        let now = now_utc();
        let writer = self.audit_writer(now.clone());
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.unchecked_transaction().map_err(sq)?;
        let mut written = 0;
        for part in planned {
            let part = part?;
            for (record, fills) in part.iter().filter(|(r, _)| !r.split) {
                let edits: Vec<(String, Value)> = fills.iter().map(|(f, v, _, _)| (f.clone(), v.clone())).collect();
                let layers: Vec<&str> = fills.iter().map(|f| f.3.as_str()).collect();
                let source = EditSource::Reference(layers.join(","));
                let plan = self.plan_values(record, &edits, &source);
                if !plan.changed.is_empty() {
                    writer.write_values(&tx, &plan, &source).map_err(sq)?;
                }
                let mut mark = tx
                    .prepare_cached("INSERT OR REPLACE INTO tuban_reference_fills(patch_fid, field, layer_id, value, filled_at) VALUES (?1, ?2, ?3, ?4, ?5)")
                    .map_err(sq)?;
                for (field, value, layer_id, _) in fills {
                    let text = audit_text(value).unwrap_or_default();
                    mark.execute(params![record.fid, field, layer_id, text, now]).map_err(sq)?;
                }
                written += fills.len();
            }
            progress.check().map_err(|_| StoreError::Cancelled)?;
        }
        tx.commit().map_err(sq)?;
        Ok(written)
    }

    /// The patches under review with row ids `lo..=hi`.
    pub fn patches_between(&self, (lo, hi): (i64, i64)) -> Result<Vec<PatchRecord>> {
        self.patches_where(&format!("split_state IS NULL AND fid BETWEEN {lo} AND {hi}"))
    }

    /// The fill marks of the patches with row ids `lo..=hi`.
    pub fn reference_fills_between(&self, (lo, hi): (i64, i64)) -> Result<HashMap<i64, Vec<FillMark>>> {
        self.fill_marks("patch_fid BETWEEN ?1 AND ?2", params![lo, hi])
    }

    /// The values layers filled, of every patch.
    pub fn all_reference_fills(&self) -> Result<HashMap<i64, Vec<FillMark>>> {
        self.fill_marks("1 = 1", params![])
    }

    fn fill_marks(&self, cond: &str, p: &[&dyn rusqlite::ToSql]) -> Result<HashMap<i64, Vec<FillMark>>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT patch_fid, field, layer_id, value FROM tuban_reference_fills WHERE {cond} ORDER BY patch_fid, field"
            ))
            .map_err(self.sq())?;
        let rows = st
            .query_map(p, |r| {
                Ok((r.get::<_, i64>(0)?, FillMark { field: r.get(1)?, layer_id: r.get(2)?, value: r.get(3)? }))
            })
            .map_err(self.sq())?;
        let mut out: HashMap<i64, Vec<FillMark>> = HashMap::new();
        for row in rows {
            let (fid, m) = row.map_err(self.sq())?;
            out.entry(fid).or_default().push(m);
        }
        Ok(out)
    }

    /// The values layers filled on a patch (the form marks them; a value the analyst changed
    /// since no longer equals the mark's).
    pub fn reference_fills(&self, fid: i64) -> Result<Vec<FillMark>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT field, layer_id, value FROM tuban_reference_fills WHERE patch_fid = ?1 ORDER BY field",
            )
            .map_err(self.sq())?;
        let rows = st
            .query_map([fid], |r| Ok(FillMark { field: r.get(0)?, layer_id: r.get(1)?, value: r.get(2)? }))
            .map_err(self.sq())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sq())
    }
}
