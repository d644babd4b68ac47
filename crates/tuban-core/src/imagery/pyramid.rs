//! Tile pyramids on disk: MBTiles files (TMS rows) and folders of `z/x/y` tiles. Zoom levels
//! beyond the deepest one are cut from the parent tile.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::tile::{decode_tile, overzoom, TileSource};
use super::ImageryError;

/// An MBTiles file opened read-only on this thread.
pub struct MbTiles {
    path: String,
    conn: Connection,
    min_zoom: u8,
    max_zoom: u8,
    /// Decoded tiles at the deepest zoom, for over-zoomed children.
    parents: HashMap<(u32, u32), Option<Vec<u8>>>,
}

impl MbTiles {
    /// Opens and checks the file (a damaged SQLite file is refused here, not per tile).
    pub fn open(path: &Path) -> Result<MbTiles, ImageryError> {
        let p = path.display().to_string();
        let err = |detail: String| ImageryError::Open { path: p.clone(), detail };
        if !path.exists() {
            return Err(err("文件不存在 / file not found".into()));
        }
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(|e| err(e.to_string()))?;
        let zooms: (Option<i64>, Option<i64>) = conn
            .query_row("SELECT min(zoom_level), max(zoom_level) FROM tiles", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| err(format!("不是有效的 MBTiles / not a valid MBTiles: {e}")))?;
        let (Some(min_zoom), Some(max_zoom)) = zooms else {
            return Err(err("没有瓦片 / no tiles".into()));
        };
        Ok(MbTiles {
            path: p,
            conn,
            min_zoom: min_zoom.clamp(0, 30) as u8,
            max_zoom: max_zoom.clamp(0, 30) as u8,
            parents: HashMap::new(),
        })
    }

    fn fetch(&self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, ImageryError> {
        let tms_y = (1u32 << z) - 1 - y;
        let bytes: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT tile_data FROM tiles WHERE zoom_level = ?1 AND tile_column = ?2 AND tile_row = ?3",
                rusqlite::params![z, x, tms_y],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| ImageryError::Read { path: self.path.clone(), detail: e.to_string() })?;
        match bytes {
            Some(b) if !b.is_empty() => decode_tile(&b, &self.path).map(Some),
            _ => Ok(None),
        }
    }
}

impl TileSource for MbTiles {
    fn render(&mut self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, ImageryError> {
        if z < self.min_zoom || x >= (1u32 << z) || y >= (1u32 << z) {
            return Ok(None);
        }
        if z <= self.max_zoom {
            return self.fetch(z, x, y);
        }
        let d = 1u32 << (z - self.max_zoom);
        let key = (x / d, y / d);
        if !self.parents.contains_key(&key) {
            let parent = self.fetch(self.max_zoom, key.0, key.1)?;
            if self.parents.len() > 64 {
                self.parents.clear();
            }
            self.parents.insert(key, parent);
        }
        Ok(self.parents.get(&key).and_then(|p| p.as_ref()).and_then(|p| overzoom(p, self.max_zoom, z, x, y)))
    }
}

/// A folder of `z/x/y.(png|jpg|jpeg|webp)` tiles.
pub struct TileDir {
    root: PathBuf,
    tms: bool,
    max_zoom: u8,
}

impl TileDir {
    /// Opens a tile folder; its deepest numeric sub-folder is the maximum zoom.
    pub fn open(root: &Path, tms: bool) -> Result<TileDir, ImageryError> {
        let p = root.display().to_string();
        let rd = std::fs::read_dir(root).map_err(|e| ImageryError::Open { path: p.clone(), detail: e.to_string() })?;
        let max_zoom =
            rd.flatten().filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u8>().ok())).max().ok_or_else(
                || ImageryError::Open { path: p, detail: "没有 z/x/y 瓦片目录 / no z/x/y tile folders".into() },
            )?;
        Ok(TileDir { root: root.to_path_buf(), tms, max_zoom })
    }

    fn fetch(&self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, ImageryError> {
        let row = if self.tms { (1u32 << z) - 1 - y } else { y };
        for ext in ["png", "jpg", "jpeg", "webp"] {
            let f = self.root.join(z.to_string()).join(x.to_string()).join(format!("{row}.{ext}"));
            if let Ok(bytes) = std::fs::read(&f) {
                return decode_tile(&bytes, &f.display().to_string()).map(Some);
            }
        }
        Ok(None)
    }
}

impl TileSource for TileDir {
    fn render(&mut self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, ImageryError> {
        if z <= self.max_zoom {
            return self.fetch(z, x, y);
        }
        let d = 1u32 << (z - self.max_zoom);
        Ok(self.fetch(self.max_zoom, x / d, y / d)?.and_then(|p| overzoom(&p, self.max_zoom, z, x, y)))
    }
}
