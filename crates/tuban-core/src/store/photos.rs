//! Field photos stored inside the project (original bytes and a thumbnail), so the project stays
//! one file; each with its EXIF facts, a kind (远景/近景/其他) and a caption.

use rusqlite::{params, OptionalExtension};

use super::{now_utc, Project, Result, StoreError};
use tuban_model::photo::PhotoInfo;

/// Kinds of photo.
pub const PHOTO_KINDS: [&str; 3] = ["远景", "近景", "其他"];

/// A stored photo (without its bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoRecord {
    /// Row id.
    pub id: i64,
    /// The patch it documents (none: not yet assigned).
    pub patch_fid: Option<i64>,
    /// File name as added.
    pub file_name: String,
    /// EXIF time.
    pub taken_at: Option<String>,
    /// GPS (lon, lat).
    pub lonlat: Option<(f64, f64)>,
    /// GPS altitude, m.
    pub altitude_m: Option<f64>,
    /// Camera bearing, degrees.
    pub bearing_deg: Option<f64>,
    /// 远景 / 近景 / 其他.
    pub kind: String,
    /// Caption.
    pub caption: String,
    /// Distance from its patch when matched, m.
    pub distance_m: Option<f64>,
}

impl Project {
    /// Stores a photo (refused when the same file is already in the project).
    pub fn add_photo(
        &mut self,
        patch_fid: Option<i64>,
        file_name: &str,
        bytes: &[u8],
        info: &PhotoInfo,
        distance_m: Option<f64>,
    ) -> Result<i64> {
        self.require_unsealed()?;
        let exists: Option<String> = self
            .conn
            .query_row("SELECT file_name FROM tuban_photos WHERE sha256 = ?1", [&info.sha256], |r| r.get(0))
            .optional()
            .map_err(self.sq())?;
        if let Some(other) = exists {
            return Err(StoreError::InvalidCase {
                detail: format!(
                    "{file_name}: 照片已在项目中（{other}） / the photo is already in the project ({other})"
                ),
            });
        }
        let (lon, lat) = info.lonlat.unzip();
        let now = now_utc();
        let user = self.user().to_string();
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.unchecked_transaction().map_err(sq)?;
        tx.execute(
            "INSERT INTO tuban_photos(patch_fid, file_name, sha256, taken_at, lon, lat, altitude_m, bearing_deg, orientation, distance_m, width, height, data, thumbnail, added_at, added_by) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            params![patch_fid, file_name, info.sha256, info.taken_at, lon, lat, info.altitude_m, info.bearing_deg, info.orientation, distance_m, info.size_px.0, info.size_px.1, bytes, info.thumbnail_jpeg, now, user],
        )
        .map_err(sq)?;
        let id = tx.last_insert_rowid();
        tx.execute("INSERT INTO tuban_audit(time, user, patch_fid, field, new_value, action) VALUES (?1, ?2, ?3, 'photo', ?4, 'photo')", params![now, user, patch_fid, file_name]).map_err(sq)?;
        tx.commit().map_err(sq)?;
        Ok(id)
    }

    /// Photos of a patch, or all photos; `unassigned` lists those without a patch.
    pub fn photos(&self, patch_fid: Option<i64>) -> Result<Vec<PhotoRecord>> {
        let mut st = self
            .conn
            .prepare("SELECT id, patch_fid, file_name, taken_at, lon, lat, altitude_m, bearing_deg, kind, caption, distance_m FROM tuban_photos WHERE ?1 IS NULL OR patch_fid = ?1 ORDER BY patch_fid, taken_at, id")
            .map_err(self.sq())?;
        let rows = st
            .query_map([patch_fid], |r| {
                let lon: Option<f64> = r.get(4)?;
                let lat: Option<f64> = r.get(5)?;
                Ok(PhotoRecord {
                    id: r.get(0)?,
                    patch_fid: r.get(1)?,
                    file_name: r.get(2)?,
                    taken_at: r.get(3)?,
                    lonlat: lon.zip(lat),
                    altitude_m: r.get(6)?,
                    bearing_deg: r.get(7)?,
                    kind: r.get(8)?,
                    caption: r.get(9)?,
                    distance_m: r.get(10)?,
                })
            })
            .map_err(self.sq())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sq())
    }

    /// The original bytes of a photo.
    pub fn photo_bytes(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT data FROM tuban_photos WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(self.sq())
    }

    /// The upright thumbnail (JPEG) of a photo.
    pub fn photo_thumbnail(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT thumbnail FROM tuban_photos WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(self.sq())
            .map(Option::flatten)
    }

    /// Assigns a photo to a patch (manual assignment of an unmatched photo).
    pub fn assign_photo(&mut self, id: i64, patch_fid: i64) -> Result<()> {
        self.require_unsealed()?;
        let n = self
            .conn
            .execute("UPDATE tuban_photos SET patch_fid = ?1, distance_m = NULL WHERE id = ?2", params![patch_fid, id])
            .map_err(self.sq())?;
        if n == 0 {
            return Err(StoreError::NoSuchPatch { path: self.path_str(), key: format!("photo #{id}") });
        }
        self.conn
            .execute("INSERT INTO tuban_audit(time, user, patch_fid, field, new_value, action) VALUES (?1, ?2, ?3, 'photo', ?4, 'photo')", params![now_utc(), self.user(), patch_fid, format!("#{id}")])
            .map_err(self.sq())?;
        Ok(())
    }

    /// Sets the kind and caption of a photo.
    pub fn describe_photo(&mut self, id: i64, kind: &str, caption: &str) -> Result<()> {
        self.require_unsealed()?;
        if !PHOTO_KINDS.contains(&kind) {
            return Err(StoreError::InvalidCase {
                detail: format!("照片类别“{kind}”无效，可选：远景、近景、其他 / invalid kind"),
            });
        }
        self.conn
            .execute("UPDATE tuban_photos SET kind = ?1, caption = ?2 WHERE id = ?3", params![kind, caption, id])
            .map_err(self.sq())?;
        self.conn
            .execute(
                "INSERT INTO tuban_audit(time, user, field, new_value, action) VALUES (?1, ?2, 'photo', ?3, 'photo')",
                params![now_utc(), self.user(), format!("#{id} {kind} {caption}")],
            )
            .map_err(self.sq())?;
        Ok(())
    }

    /// Warnings about a photo as evidence: no GPS, far from its patch, taken before the after date.
    pub fn photo_warnings(&self, photo: &PhotoRecord, max_m: f64) -> Result<Vec<String>> {
        let mut w = Vec::new();
        if photo.lonlat.is_none() {
            w.push("照片没有 GPS 位置 / no GPS position".to_string());
        }
        let Some(fid) = photo.patch_fid else {
            w.push("尚未指定图斑 / not assigned to a patch".to_string());
            return Ok(w);
        };
        if let (Some(ll), Some(g)) = (photo.lonlat, self.patch_geometry(fid)?) {
            let d = tuban_model::geometry::distance_m(ll, &g);
            if d > max_m {
                w.push(format!("拍摄点距图斑 {d:.0} m（超过 {max_m:.0} m） / taken {d:.0} m from the patch"));
            }
        }
        let t = self.template();
        if let (Some(taken), Some(after_field)) = (&photo.taken_at, t.roles().after_date.clone()) {
            let after = self.patch(fid)?.and_then(|r| r.value(t, &after_field).cloned());
            if let (Some(tuban_model::Value::Date(hsx)), Some(day)) = (after, tuban_model::value::parse_date(taken)) {
                if day < hsx {
                    w.push(format!("拍摄日期 {day} 早于后时相 {hsx} / taken before the after date"));
                }
            }
        }
        Ok(w)
    }
}
