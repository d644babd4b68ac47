//! walkers' tile interface over the core's [`TileService`]: tiles render on worker threads, the
//! UI thread only uploads finished pixels as textures; while a tile renders, its parent (already
//! on screen) is shown scaled up.

use std::collections::{HashMap, VecDeque};

use egui::{ColorImage, Rect, TextureHandle, TextureOptions};
use walkers::sources::Attribution;
use walkers::{Tile, TileId, TilePiece, Tiles};

use tuban_core::imagery::{SourceSpec, TileKey, TileService, TILE_PX};

/// Textures kept in memory (256 px RGBA: 256 KiB each, ~128 MiB).
const MAX_TEXTURES: usize = 512;

/// Imagery tiles of the project's registered sources.
pub struct ImageryTiles {
    service: TileService,
    ctx: egui::Context,
    textures: HashMap<TileKey, Option<TextureHandle>>,
    order: VecDeque<TileKey>,
    /// The source drawn now.
    pub source: usize,
    /// Errors per source (shown in the status line; the rest keeps working).
    pub errors: HashMap<usize, String>,
}

impl ImageryTiles {
    /// Starts rendering workers for `sources`.
    pub fn new(ctx: &egui::Context, sources: Vec<SourceSpec>) -> ImageryTiles {
        let wake_ctx = ctx.clone();
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 4);
        let service = TileService::new(sources, threads, move || wake_ctx.request_repaint());
        ImageryTiles {
            service,
            ctx: ctx.clone(),
            textures: HashMap::new(),
            order: VecDeque::new(),
            source: 0,
            errors: HashMap::new(),
        }
    }

    /// The sources, in index order.
    pub fn sources(&self) -> &[SourceSpec] {
        self.service.sources()
    }

    /// Uploads finished tiles; call once per frame before drawing the map.
    pub fn poll(&mut self) {
        for (key, result) in self.service.poll() {
            let texture = match result {
                Ok(Some(rgba)) => {
                    let image = ColorImage::from_rgba_unmultiplied([TILE_PX, TILE_PX], &rgba);
                    Some(self.ctx.load_texture(
                        format!("tile-{}-{}-{}-{}", key.source, key.z, key.x, key.y),
                        image,
                        TextureOptions::LINEAR,
                    ))
                }
                Ok(None) => None,
                Err(e) => {
                    // Logged once per source on stderr; the status line shows it too.
                    if !self.errors.contains_key(&key.source) {
                        eprintln!("tuban: imagery error: {e}");
                    }
                    self.errors.insert(key.source, e.to_string());
                    None
                }
            };
            self.textures.insert(key, texture);
            self.order.push_back(key);
            while self.order.len() > MAX_TEXTURES {
                if let Some(old) = self.order.pop_front() {
                    self.textures.remove(&old);
                }
            }
        }
    }

    /// Number of tiles still rendering.
    pub fn pending(&self) -> usize {
        self.service.pending_count()
    }

    /// Asks for a tile ahead of time (prefetch of the next patch).
    pub fn prefetch(&mut self, source: usize, id: TileId) {
        let key = TileKey { source, z: id.zoom, x: id.x, y: id.y };
        if !self.textures.contains_key(&key) {
            self.service.request(key);
        }
    }
}

impl ImageryTiles {
    /// The tile of `source` at `id`, or its nearest parent at hand (scaled up) while it renders.
    pub fn tile(&mut self, source: usize, id: TileId) -> Option<TilePiece> {
        let key = TileKey { source, z: id.zoom, x: id.x, y: id.y };
        match self.textures.get(&key) {
            Some(Some(t)) => {
                return Some(TilePiece::new(
                    Tile::Raster(t.clone()),
                    Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                ))
            }
            Some(None) => return None,
            None => {
                self.service.request(key);
            }
        }
        for up in 1..=6u8 {
            let Some(z) = id.zoom.checked_sub(up) else { break };
            let d = 1u32 << up;
            let parent = TileKey { source, z, x: id.x / d, y: id.y / d };
            if let Some(Some(t)) = self.textures.get(&parent) {
                let (fx, fy) = ((id.x % d) as f32 / d as f32, (id.y % d) as f32 / d as f32);
                let s = 1.0 / d as f32;
                let uv = Rect::from_min_max(egui::pos2(fx, fy), egui::pos2(fx + s, fy + s));
                return Some(TilePiece::new(Tile::Raster(t.clone()), uv));
            }
        }
        None
    }

    /// Texture and UV of a tile, for painting a second source by hand (the swipe view).
    pub fn texture(&mut self, source: usize, id: TileId) -> Option<(egui::TextureId, Rect)> {
        let piece = self.tile(source, id)?;
        match piece.tile {
            Tile::Raster(t) => Some((t.id(), piece.uv)),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// True when the tile of `source` at `id` is on screen-ready (rendered, or known empty).
    pub fn is_ready(&self, source: usize, id: TileId) -> bool {
        self.textures.contains_key(&TileKey { source, z: id.zoom, x: id.x, y: id.y })
    }
}

/// One source of the shared tile cache, as walkers' tile layer.
pub struct SourceView<'a> {
    /// The cache.
    pub tiles: &'a mut ImageryTiles,
    /// The source drawn.
    pub source: usize,
}

impl Tiles for SourceView<'_> {
    fn at(&mut self, id: TileId) -> Option<TilePiece> {
        self.tiles.tile(self.source, id)
    }

    fn attribution(&self) -> Attribution {
        Attribution { text: "", url: "", logo_light: None, logo_dark: None }
    }

    fn tile_size(&self) -> u32 {
        TILE_PX as u32
    }
}

impl Tiles for ImageryTiles {
    fn at(&mut self, id: TileId) -> Option<TilePiece> {
        self.tile(self.source, id)
    }

    fn attribution(&self) -> Attribution {
        Attribution { text: "", url: "", logo_light: None, logo_dark: None }
    }

    fn tile_size(&self) -> u32 {
        TILE_PX as u32
    }
}
