//! The reference layers of a project (land survey, basic grassland, protected areas, the red
//! line, approvals, earlier years): the catalogue `tuban_reference`, and every feature read once
//! into `tuban_reference_features` (CGCS2000 lon/lat GeoPackage blobs, the class, the attributes
//! as JSON) with its spatial index (`reference_index.rs`; schemas 6 and 7 had an SQLite R-tree
//! `tuban_reference_rtree`), so the overlay of each patch asks the index and never re-reads the
//! delivered file.
//!
//! The features table is not a GeoPackage layer (as `tuban_source_geom` is not): GDAL and QGIS
//! keep seeing one `patches` layer. The source file is stored relative to the project and
//! absolute, like imagery, and resolved on read.
//!
//! Schema step "v6" (implemented here as version 5; see `schema.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;
use geo::Geometry;
use rusqlite::{params, Connection, OptionalExtension};

use super::{now_utc, Project, Result, StoreError};
use crate::imagery::paths::{self, FileStatus};
use tuban_model::geometry::gpkg;
use tuban_model::progress::Progress;
use tuban_model::reference::ReferenceKind;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS tuban_reference (
  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, label TEXT NOT NULL DEFAULT '',
  dated DATE, source TEXT NOT NULL, class_fields TEXT NOT NULL DEFAULT '', label_field TEXT,
  features INTEGER NOT NULL DEFAULT 0, repaired INTEGER NOT NULL DEFAULT 0, skipped INTEGER NOT NULL DEFAULT 0,
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, added_at DATETIME NOT NULL, added_by TEXT);
CREATE TABLE IF NOT EXISTS tuban_reference_features (
  fid INTEGER PRIMARY KEY AUTOINCREMENT, layer_id INTEGER NOT NULL, class TEXT NOT NULL, label TEXT,
  attrs TEXT NOT NULL DEFAULT '{}', geom BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS tuban_reference_features_layer ON tuban_reference_features(layer_id);
CREATE VIRTUAL TABLE IF NOT EXISTS tuban_reference_rtree USING rtree(id, minx, maxx, miny, maxy);
CREATE TABLE IF NOT EXISTS tuban_overlay (
  patch_fid INTEGER NOT NULL, layer_id INTEGER NOT NULL, class TEXT NOT NULL, area_m2 DOUBLE NOT NULL,
  share_pct DOUBLE NOT NULL, features INTEGER NOT NULL, top_fid INTEGER, PRIMARY KEY (patch_fid, layer_id, class));
CREATE INDEX IF NOT EXISTS tuban_overlay_layer ON tuban_overlay(layer_id);
CREATE TABLE IF NOT EXISTS tuban_overlay_state (
  patch_fid INTEGER NOT NULL, layer_id INTEGER NOT NULL, geom_sig TEXT NOT NULL, computed_at DATETIME NOT NULL,
  PRIMARY KEY (patch_fid, layer_id));
CREATE TABLE IF NOT EXISTS tuban_reference_fills (
  patch_fid INTEGER NOT NULL, field TEXT NOT NULL, layer_id INTEGER NOT NULL, value TEXT NOT NULL,
  filled_at DATETIME NOT NULL, PRIMARY KEY (patch_fid, field));
";

/// Schema step: the reference tables (self-contained; no older table changes).
pub(super) fn schema_upgrade(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(TABLES)
}

/// An older file has no reference layers: empty temporary tables stand in for them.
pub(super) fn schema_read_only(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        &TABLES
            .replace("CREATE TABLE IF NOT EXISTS ", "CREATE TEMP TABLE IF NOT EXISTS ")
            .replace(
                "CREATE INDEX IF NOT EXISTS tuban_reference_features_layer ON tuban_reference_features(layer_id);",
                "",
            )
            .replace("CREATE INDEX IF NOT EXISTS tuban_overlay_layer ON tuban_overlay(layer_id);", "")
            .replace(
                "CREATE VIRTUAL TABLE IF NOT EXISTS tuban_reference_rtree",
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.tuban_reference_rtree",
            ),
    )
}

/// Where a reference layer came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceSource {
    /// The file, where it is now (or last known).
    pub file: FileStatus,
    /// The layer read, when the file has several.
    pub layer: Option<String>,
    /// The text encoding used, and how it was chosen.
    pub encoding: String,
    /// The CRS the file declared (or was given).
    pub crs: String,
}

/// One reference layer of the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceLayer {
    /// Row id.
    pub id: i64,
    /// Unique short name.
    pub name: String,
    /// What it is.
    pub kind: ReferenceKind,
    /// Label shown (e.g. 2023 年度变更调查).
    pub label: String,
    /// Date of the data.
    pub dated: Option<NaiveDate>,
    /// The fields whose values make a feature's class (joined by ` · `).
    pub class_fields: Vec<String>,
    /// The field shown as a label on the map at close zoom.
    pub label_field: Option<String>,
    /// Features stored.
    pub features: u64,
    /// Invalid polygons repaired with GEOS's make-valid when read.
    pub repaired: u64,
    /// Features skipped (no polygon).
    pub skipped: u64,
    /// Extent (min lon, min lat, max lon, max lat).
    pub extent: Option<[f64; 4]>,
    /// Where it came from.
    pub source: ReferenceSource,
}

impl ReferenceLayer {
    /// The label, or the name when there is none.
    pub fn title(&self) -> &str {
        if self.label.is_empty() {
            &self.name
        } else {
            &self.label
        }
    }
}

/// A layer about to be added.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReference {
    /// Unique short name.
    pub name: String,
    /// Kind.
    pub kind: ReferenceKind,
    /// Label.
    pub label: String,
    /// Date of the data.
    pub dated: Option<NaiveDate>,
    /// Class fields.
    pub class_fields: Vec<String>,
    /// Map label field.
    pub label_field: Option<String>,
    /// The file read.
    pub path: PathBuf,
    /// The layer read.
    pub layer: Option<String>,
    /// The encoding used, described.
    pub encoding: String,
    /// The declared CRS, described.
    pub crs: String,
}

/// One feature of a reference layer, in CGCS2000 lon/lat.
#[derive(Debug, Clone, PartialEq)]
pub struct RefFeature {
    /// Its class (see [`ReferenceLayer::class_fields`]).
    pub class: String,
    /// Its map label.
    pub label: Option<String>,
    /// Every attribute, as text.
    pub attrs: BTreeMap<String, String>,
    /// The polygon(s).
    pub geom: Geometry,
}

/// What the store writes of a feature (its GeoPackage blob, attributes as JSON, box), made by
/// [`encode_feature`] where the feature was read, so the writer's thread only writes.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedFeature {
    blob: Vec<u8>,
    attrs_json: String,
    envelope: [f64; 4],
}

/// Encodes a feature for the store; `None` for an empty geometry (not stored).
pub fn encode_feature(f: &RefFeature) -> Option<EncodedFeature> {
    Some(EncodedFeature {
        envelope: gpkg::envelope(&f.geom)?,
        attrs_json: serde_json::to_string(&f.attrs).unwrap_or_else(|_| "{}".into()),
        blob: super::geometry::blob(&f.geom),
    })
}

/// What a reader hands [`Project::add_reference`]: features, then the end with its counts.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureFeed {
    /// One feature, with what [`encode_feature`] made of it (on the reader's thread).
    Feature(RefFeature, EncodedFeature),
    /// All features were read: how many were repaired and skipped.
    End {
        /// Polygons repaired with make-valid.
        repaired: u64,
        /// Features skipped.
        skipped: u64,
    },
}

/// A stored feature: its row id, layer and content.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFeature {
    /// Row id in `tuban_reference_features`.
    pub fid: i64,
    /// Its layer.
    pub layer_id: i64,
    /// Class, label, attributes, geometry.
    pub feature: RefFeature,
}

/// A feature row as read: layer, class, label, attributes JSON, geometry blob.
type FeatureRow = (i64, String, Option<String>, String, Vec<u8>);

fn kind_of(code: &str) -> ReferenceKind {
    ReferenceKind::parse(code).unwrap_or(ReferenceKind::Other)
}

impl Project {
    /// Adds a reference layer and its features in one transaction, committed when the feed
    /// ends with [`FeatureFeed::End`] and at least one feature: an abort, a feed that stops
    /// early, a cancel or a layer without features leave the project as it was (`Ok(None)`).
    /// `stored` is handed each feature with its row id once it is written (what the overlay
    /// of a layer just read keeps in memory instead of asking the R-tree again).
    pub fn add_reference(
        &mut self,
        meta: &NewReference,
        feed: impl Iterator<Item = FeatureFeed>,
        progress: &Progress,
        mut stored: impl FnMut(i64, RefFeature),
    ) -> Result<Option<ReferenceLayer>> {
        self.require_write()?;
        let dir = self.project_dir();
        let source = serde_json::json!({
            "path": paths::relative_to(&meta.path, &dir),
            "absolute": std::fs::canonicalize(&meta.path).unwrap_or_else(|_| paths::absolute(&meta.path)),
            "layer": meta.layer, "encoding": meta.encoding, "crs": meta.crs,
        })
        .to_string();
        let (now, user) = (now_utc(), self.user().to_string());
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.transaction().map_err(sq)?;
        tx.execute(
            "INSERT INTO tuban_reference(name, kind, label, dated, source, class_fields, label_field, added_at, added_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![meta.name, meta.kind.code(), meta.label, meta.dated.map(|d| d.to_string()), source, meta.class_fields.join(","), meta.label_field, now, user],
        )
        .map_err(sq)?;
        let id = tx.last_insert_rowid();
        let mut extent: Option<[f64; 4]> = None;
        let mut count = 0u64;
        let mut ended = None;
        let mut boxes: Vec<(i64, [f64; 4])> = Vec::new();
        {
            let mut ins = tx.prepare_cached("INSERT INTO tuban_reference_features(layer_id, class, label, attrs, geom) VALUES (?1, ?2, ?3, ?4, ?5)").map_err(sq)?;
            for item in feed {
                let (f, EncodedFeature { blob, attrs_json, envelope: env }) = match item {
                    FeatureFeed::Feature(f, e) => (f, e),
                    FeatureFeed::End { repaired, skipped } => {
                        ended = Some((repaired, skipped));
                        break;
                    }
                };
                ins.execute(params![id, f.class, f.label, attrs_json, blob]).map_err(sq)?;
                let fid = tx.last_insert_rowid();
                boxes.push((fid, env));
                extent = Some(match extent {
                    None => env,
                    Some(e) => [e[0].min(env[0]), e[1].min(env[1]), e[2].max(env[2]), e[3].max(env[3])],
                });
                stored(fid, f);
                count += 1;
                if count.is_multiple_of(1000) && progress.set(count).is_err() {
                    return Err(StoreError::Cancelled);
                }
            }
        }
        let (Some((repaired, skipped)), Some(e)) = (ended, extent) else { return Ok(None) };
        tx.execute(
            "INSERT INTO tuban_reference_index(layer_id, boxes) VALUES (?1, ?2)",
            params![id, super::reference_index::encode(&boxes)],
        )
        .map_err(sq)?;
        tx.execute(
            "UPDATE tuban_reference SET features = ?1, repaired = ?2, skipped = ?3, min_x = ?4, min_y = ?5, max_x = ?6, max_y = ?7 WHERE id = ?8",
            params![count as i64, repaired as i64, skipped as i64, e[0], e[1], e[2], e[3], id],
        )
        .map_err(sq)?;
        tx.execute("INSERT INTO tuban_audit(time, user, patch_fid, patch_key, field, old_value, new_value, action) VALUES (?1, ?2, NULL, NULL, 'reference', NULL, ?3, 'reference')", params![now, user, meta.name]).map_err(sq)?;
        progress.check().map_err(|_| StoreError::Cancelled)?;
        tx.commit().map_err(sq)?;
        self.reference(&meta.name)
    }

    /// Removes a reference layer, its features, its overlay rows and its fill marks (the values
    /// it filled stay: they are the analyst's now).
    pub fn remove_reference(&mut self, name: &str) -> Result<()> {
        self.require_write()?;
        let id = self
            .reference(name)?
            .ok_or_else(|| StoreError::NoSuchPatch { path: self.path_str(), key: format!("reference {name}") })?
            .id;
        let (now, user) = (now_utc(), self.user().to_string());
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.transaction().map_err(sq)?;
        tx.execute("DELETE FROM tuban_reference_index WHERE layer_id = ?1", [id]).map_err(sq)?;
        for table in ["tuban_reference_features", "tuban_overlay", "tuban_overlay_state", "tuban_reference_fills"] {
            tx.execute(&format!("DELETE FROM {table} WHERE layer_id = ?1"), [id]).map_err(sq)?;
        }
        tx.execute("DELETE FROM tuban_reference WHERE id = ?1", [id]).map_err(sq)?;
        tx.execute("INSERT INTO tuban_audit(time, user, patch_fid, patch_key, field, old_value, new_value, action) VALUES (?1, ?2, NULL, NULL, 'reference', ?3, NULL, 'reference')", params![now, user, name]).map_err(sq)?;
        tx.commit().map_err(sq)?;
        self.forget_reference_tree(id);
        Ok(())
    }

    /// The reference layers, in the order they were added.
    pub fn references(&self) -> Result<Vec<ReferenceLayer>> {
        self.references_where("1 = 1", params![])
    }

    /// One reference layer by name.
    pub fn reference(&self, name: &str) -> Result<Option<ReferenceLayer>> {
        Ok(self.references_where("name = ?1", params![name])?.into_iter().next())
    }

    fn references_where(&self, cond: &str, p: &[&dyn rusqlite::ToSql]) -> Result<Vec<ReferenceLayer>> {
        let dir = self.project_dir();
        let sql = format!("SELECT id, name, kind, label, dated, source, class_fields, label_field, features, repaired, skipped, min_x, min_y, max_x, max_y FROM tuban_reference WHERE {cond} ORDER BY id");
        let mut st = self.conn.prepare(&sql).map_err(self.sq())?;
        let rows = st
            .query_map(p, |r| {
                let source: String = r.get(5)?;
                let v: serde_json::Value = serde_json::from_str(&source).unwrap_or_default();
                let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
                let stored = PathBuf::from(text("path").unwrap_or_default());
                let absolute = text("absolute").map(PathBuf::from);
                let class_fields: String = r.get(6)?;
                let extent = match (r.get::<_, Option<f64>>(11)?, r.get(12)?, r.get(13)?, r.get(14)?) {
                    (Some(a), Some(b), Some(c), Some(d)) => Some([a, b, c, d]),
                    _ => None,
                };
                Ok(ReferenceLayer {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    kind: kind_of(&r.get::<_, String>(2)?),
                    label: r.get(3)?,
                    dated: r.get::<_, Option<String>>(4)?.and_then(|d| tuban_model::value::parse_date(&d)),
                    class_fields: class_fields.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
                    label_field: r.get(7)?,
                    features: r.get::<_, i64>(8)?.max(0) as u64,
                    repaired: r.get::<_, i64>(9)?.max(0) as u64,
                    skipped: r.get::<_, i64>(10)?.max(0) as u64,
                    extent,
                    source: ReferenceSource {
                        file: paths::resolve(&stored, absolute.as_deref(), &dir),
                        layer: text("layer"),
                        encoding: text("encoding").unwrap_or_default(),
                        crs: text("crs").unwrap_or_default(),
                    },
                })
            })
            .map_err(self.sq())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sq())
    }

    /// The features of the given layers (all when `layers` is empty) whose boxes meet `bbox`
    /// (min lon, min lat, max lon, max lat), from the layers' index.
    pub fn reference_features_in(&self, layers: &[i64], bbox: [f64; 4]) -> Result<Vec<StoredFeature>> {
        let mut out = Vec::new();
        for fid in self.reference_fids_in(layers, bbox)? {
            if let Some(f) = self.reference_feature(fid)? {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// Like [`Self::reference_features_in`] without attributes and labels (what the overlay
    /// needs): (row id, layer, class, geometry).
    pub fn reference_geometries_in(&self, layers: &[i64], bbox: [f64; 4]) -> Result<Vec<(i64, i64, String, Geometry)>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT layer_id, class, geom FROM tuban_reference_features WHERE fid = ?1")
            .map_err(self.sq())?;
        let mut out = Vec::new();
        for fid in self.reference_fids_in(layers, bbox)? {
            let row: Option<(i64, String, Vec<u8>)> =
                st.query_row([fid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional().map_err(self.sq())?;
            if let Some((layer_id, class, blob)) = row {
                if let Ok((_, geom)) = gpkg::decode(&blob) {
                    out.push((fid, layer_id, class, geom));
                }
            }
        }
        Ok(out)
    }

    /// One stored feature by row id.
    pub fn reference_feature(&self, fid: i64) -> Result<Option<StoredFeature>> {
        let row: Option<FeatureRow> = self
            .conn
            .prepare_cached("SELECT layer_id, class, label, attrs, geom FROM tuban_reference_features WHERE fid = ?1")
            .and_then(|mut st| {
                st.query_row([fid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))).optional()
            })
            .map_err(self.sq())?;
        Ok(row.and_then(|(layer_id, class, label, attrs, blob)| {
            let (_, geom) = gpkg::decode(&blob).ok()?;
            let attrs = serde_json::from_str(&attrs).unwrap_or_default();
            Some(StoredFeature { fid, layer_id, feature: RefFeature { class, label, attrs, geom } })
        }))
    }

    /// The extent of the patches under review (min lon, min lat, max lon, max lat), if any.
    pub fn patches_extent(&self) -> Result<Option<[f64; 4]>> {
        let row: (Option<f64>, Option<f64>, Option<f64>, Option<f64>) = self
            .conn
            .query_row("SELECT min(minx), min(miny), max(maxx), max(maxy) FROM rtree_patches_geom", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(self.sq())?;
        Ok(match row {
            (Some(a), Some(b), Some(c), Some(d)) => Some([a, b, c, d]),
            _ => None,
        })
    }
}
