//! The interface every opened imagery source implements, and the tile helpers the sources share
//! (decoding delivered tile bytes, cutting deeper zoom levels out of a parent tile).
//! It depends on no kind of source; `source`, `online` and `pyramid` depend on it.

use super::{ImageryError, TILE_PX};

/// A source opened on the current thread.
pub trait TileSource {
    /// Tile `z/x/y` as 256×256 RGBA; `None` where the source has nothing.
    fn render(&mut self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, ImageryError>;

    /// A Web-Mercator extent (metres) straight at `size` pixels, for sources that can resample
    /// in one step (rasters); [`ViewRender::Tiles`] tells the caller to compose tiles instead.
    fn render_view(&mut self, _extent_merc: [f64; 4], _size: (usize, usize)) -> Result<ViewRender, ImageryError> {
        Ok(ViewRender::Tiles)
    }
}

/// The answer of [`TileSource::render_view`].
#[derive(Debug, Clone, PartialEq)]
pub enum ViewRender {
    /// RGBA pixels of the requested size.
    Image(Vec<u8>),
    /// Nothing there (outside the source or transparent).
    Empty,
    /// Not supported by this source: compose its tiles.
    Tiles,
}

/// Decodes PNG/JPEG/WebP bytes into 256×256 RGBA.
pub fn decode_tile(bytes: &[u8], what: &str) -> Result<Vec<u8>, ImageryError> {
    let img = image::load_from_memory(bytes)
        .map_err(|e| ImageryError::Read { path: what.to_string(), detail: e.to_string() })?
        .to_rgba8();
    let img = if img.width() as usize != TILE_PX || img.height() as usize != TILE_PX {
        image::imageops::resize(&img, TILE_PX as u32, TILE_PX as u32, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    Ok(img.into_raw())
}

/// Cuts tile `z/x/y` out of its ancestor at zoom `from_z` (already decoded), scaled up.
pub fn overzoom(parent_rgba: &[u8], from_z: u8, z: u8, x: u32, y: u32) -> Option<Vec<u8>> {
    let d = 1u32 << (z - from_z);
    let size = TILE_PX as u32 / d;
    if size == 0 {
        return None;
    }
    let img = image::RgbaImage::from_raw(TILE_PX as u32, TILE_PX as u32, parent_rgba.to_vec())?;
    let sub = image::imageops::crop_imm(&img, (x % d) * size, (y % d) * size, size, size).to_image();
    Some(
        image::imageops::resize(&sub, TILE_PX as u32, TILE_PX as u32, image::imageops::FilterType::Triangle).into_raw(),
    )
}
