//! The geometry of each patch as delivered (`tuban_source_geom`), kept compact: residuals against
//! the display geometry projected forward (see `tuban_model::geometry::delivered`), about one
//! byte per coordinate where the plain blob takes eight. Rebuilt byte for byte on every read.
//!
//! Schema version 9: `tuban_source_geom.base_geom`, the display blob a compact delivered
//! geometry was made against, kept by the trigger `patches_geom_keeps_delivered` when anything
//! (tuban, QGIS, GDAL) rewrites `patches.geom`, so the delivered geometry survives the change; and
//! `patches_parent` indexes only the 细斑 (most rows have no parent).

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use tuban_model::geometry::delivered::{self, DeliveredError, Predictor};
use tuban_model::geometry::gpkg;

use super::{Project, Result, StoreError};
use crate::crs::SourceCrs;

pub(super) fn schema_upgrade(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "ALTER TABLE tuban_source_geom ADD COLUMN base_geom BLOB;
         CREATE TRIGGER patches_geom_keeps_delivered BEFORE UPDATE OF geom ON patches
           WHEN OLD.geom IS NOT NEW.geom
           BEGIN UPDATE tuban_source_geom SET base_geom = OLD.geom
             WHERE fid = OLD.fid AND base_geom IS NULL AND substr(geom, 1, 2) = x'5452'; END;
         DROP INDEX IF EXISTS patches_parent;
         CREATE INDEX patches_parent ON patches(parent_fid) WHERE parent_fid IS NOT NULL;",
    )
}

/// An older file holds only plain delivered blobs: the base column reads as NULL.
pub(super) fn schema_read_only(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("CREATE TEMP VIEW tuban_source_geom AS SELECT *, NULL AS base_geom FROM main.tuban_source_geom;")
}

pub(super) fn register_srs(tx: &Transaction<'_>, crs: &SourceCrs) -> rusqlite::Result<i32> {
    if crs.organization.eq_ignore_ascii_case("EPSG") && crs.code > 0 {
        let exists: Option<i32> = tx
            .query_row(
                "SELECT srs_id FROM gpkg_spatial_ref_sys WHERE organization = 'EPSG' AND organization_coordsys_id = ?1",
                [crs.code],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = exists {
            return Ok(id);
        }
        tx.execute(
            "INSERT INTO gpkg_spatial_ref_sys VALUES (?1, ?2, 'EPSG', ?2, ?3, NULL)",
            params![crs.name, crs.code, crs.wkt],
        )?;
        return Ok(crs.code);
    }
    let exists: Option<i32> = tx
        .query_row("SELECT srs_id FROM gpkg_spatial_ref_sys WHERE definition = ?1", [&crs.wkt], |r| r.get(0))
        .optional()?;
    if let Some(id) = exists {
        return Ok(id);
    }
    let id: i32 =
        tx.query_row("SELECT max(100000, coalesce(max(srs_id), 0) + 1) FROM gpkg_spatial_ref_sys", [], |r| r.get(0))?;
    tx.execute(
        "INSERT INTO gpkg_spatial_ref_sys VALUES (?1, ?2, 'NONE', ?2, ?3, NULL)",
        params![crs.name, id, crs.wkt],
    )?;
    Ok(id)
}

/// The blob to store for `source_blob` (a delivered GeoPackage geometry) beside the display
/// blob `display_blob`: compact when `predictor` makes it round-trip and smaller, else as it is.
pub(super) fn stored_blob(source_blob: Vec<u8>, display_blob: &[u8], predictor: Option<&Predictor>) -> Vec<u8> {
    predictor.and_then(|p| delivered::compact(&source_blob, display_blob, p)).unwrap_or(source_blob)
}

/// Rows of `tuban_source_geom` with what rebuilds them: fid, srs id, stored blob, the display
/// blob it was made against, the CRS definition.
const SELECT: &str = "SELECT s.fid, s.srs_id, s.geom, coalesce(s.base_geom, p.geom), r.definition
   FROM tuban_source_geom s LEFT JOIN patches p ON p.fid = s.fid
   LEFT JOIN gpkg_spatial_ref_sys r ON r.srs_id = s.srs_id";

type Row = (i64, i32, Vec<u8>, Option<Vec<u8>>, Option<String>);

/// A delivered geometry by fid: its SRS id and its blob as rebuilt, or why it cannot be.
pub(super) type Delivered = (i64, i32, Result<Vec<u8>>);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, bytes(r, 2)?.unwrap_or_default(), bytes(r, 3)?, r.get(4)?))
}

/// A blob column's bytes, also when a damaged or hand-edited file holds text there (SQL's `||`
/// makes text of blobs): it then fails to rebuild with a reason instead of failing the query.
fn bytes(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<Vec<u8>>> {
    Ok(match r.get_ref(i)? {
        rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => Some(b.to_vec()),
        _ => None,
    })
}

/// The predictors of the CRSs met so far, by SRS id.
#[derive(Default)]
pub(super) struct Predictors(HashMap<i32, Option<Predictor>>);

impl Predictors {
    fn get(&mut self, srs_id: i32, definition: Option<&str>) -> Option<&Predictor> {
        self.0.entry(srs_id).or_insert_with(|| definition.and_then(Predictor::from_wkt)).as_ref()
    }
}

impl Project {
    /// The WKT of an SRS registered in `gpkg_spatial_ref_sys`.
    pub fn srs_wkt(&self, srs_id: i32) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT definition FROM gpkg_spatial_ref_sys WHERE srs_id = ?1", [srs_id], |r| r.get(0))
            .optional()
            .map_err(self.sq())
    }

    /// The EPSG code of an SRS registered in `gpkg_spatial_ref_sys`, if it has one.
    pub fn srs_code(&self, srs_id: i32) -> Result<Option<i32>> {
        let row: Option<(String, i32)> = self
            .conn
            .query_row(
                "SELECT organization, organization_coordsys_id FROM gpkg_spatial_ref_sys WHERE srs_id = ?1",
                [srs_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.sq())?;
        Ok(row.filter(|(o, _)| o.eq_ignore_ascii_case("EPSG")).map(|(_, c)| c))
    }

    fn rebuild(&self, (fid, srs_id, stored, base, definition): Row, cache: &mut Predictors) -> Result<(i32, Vec<u8>)> {
        let fail = |cause| StoreError::Delivered { path: self.path_str(), fid, cause };
        if !delivered::is_compact(&stored) {
            gpkg::decode(&stored).map_err(|e| fail(DeliveredError::Blob(e)))?;
            return Ok((srs_id, stored));
        }
        let base = base.ok_or_else(|| fail(DeliveredError::Stale))?;
        let blob = delivered::expand(&stored, &base, cache.get(srs_id, definition.as_deref()), srs_id).map_err(fail)?;
        Ok((srs_id, blob.into_owned()))
    }

    /// The delivered GeoPackage blob of a patch and its SRS id; `None` when the patch has no
    /// delivered geometry, an error naming the patch when it cannot be rebuilt.
    pub fn source_blob(&self, fid: i64) -> Result<Option<(i32, Vec<u8>)>> {
        let found =
            self.conn.query_row(&format!("{SELECT} WHERE s.fid = ?1"), [fid], row).optional().map_err(self.sq())?;
        found.map(|r| self.rebuild(r, &mut Predictors::default())).transpose()
    }

    /// Every delivered blob by fid, each rebuilt or the reason it cannot be (for the seal's
    /// digest, which shows a damaged one as changed).
    pub(super) fn source_blobs(&self) -> Result<Vec<Delivered>> {
        let mut st = self.conn.prepare(&format!("{SELECT} ORDER BY s.fid")).map_err(self.sq())?;
        let rows = st.query_map([], row).map_err(self.sq())?;
        let mut cache = Predictors::default();
        let mut out = Vec::new();
        for r in rows {
            let r = r.map_err(self.sq())?;
            let (fid, srs_id) = (r.0, r.1);
            out.push((fid, srs_id, self.rebuild(r, &mut cache).map(|(_, blob)| blob)));
        }
        Ok(out)
    }
}

/// Writes the delivered geometry of `fid` (replacing any earlier one).
pub(super) fn put(
    conn: &Connection,
    fid: i64,
    srs_id: i32,
    source_blob: Vec<u8>,
    display_blob: &[u8],
    predictor: Option<&Predictor>,
) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO tuban_source_geom(fid, srs_id, geom) VALUES (?1, ?2, ?3)")?
        .execute(params![fid, srs_id, stored_blob(source_blob, display_blob, predictor)])?;
    Ok(())
}
