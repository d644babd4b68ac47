//! Imagery: local rasters rendered into Web-Mercator map tiles through GDAL, on worker threads.
//!
//! Architecture invariant 3: each worker thread opens its own GDAL datasets; other threads
//! receive RGBA pixels, never a dataset. A broken source yields an error for its tiles and the
//! rest keeps working.

mod tiles;

use std::path::{Path, PathBuf};

use gdal::raster::Buffer;
use gdal::spatial_ref::{CoordTransform, SpatialRef};
use gdal::{Dataset, DriverManager};

pub use tiles::{TileKey, TileResult, TileService};

/// Side of a map tile in pixels.
pub const TILE_PX: usize = 256;
/// Half the width of the Web-Mercator world in metres.
const MERC_HALF_M: f64 = 20_037_508.342_789_244;

/// Why imagery could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageryError {
    /// GDAL cannot open the file.
    #[error("{path}: 影像无法打开（{detail}） / imagery cannot be opened ({detail})")]
    Open { path: String, detail: String },
    /// The raster has no usable georeferencing.
    #[error("{path}: 影像没有坐标系或地理参考 / imagery has no CRS or georeferencing")]
    NotGeoreferenced { path: String },
    /// Reading pixels failed (a damaged file).
    #[error("{path}: 读取影像失败（{detail}），文件可能已损坏 / reading failed ({detail}); the file may be damaged")]
    Read { path: String, detail: String },
}

/// A raster file open on the current thread, with its extent in Web Mercator.
pub struct RasterSource {
    path: PathBuf,
    dataset: Dataset,
    extent_merc: [f64; 4],
    bands: usize,
}

/// The Web-Mercator extent (min_x, min_y, max_x, max_y) of tile `z/x/y`.
pub fn tile_extent_merc(z: u8, x: u32, y: u32) -> [f64; 4] {
    let n = f64::from(1u32 << z);
    let size = 2.0 * MERC_HALF_M / n;
    let min_x = -MERC_HALF_M + f64::from(x) * size;
    let max_y = MERC_HALF_M - f64::from(y) * size;
    [min_x, max_y - size, min_x + size, max_y]
}

/// Web-Mercator metres of a lon/lat point.
pub fn lonlat_to_merc(lon: f64, lat: f64) -> (f64, f64) {
    let x = lon.to_radians() * 6_378_137.0;
    let lat = lat.clamp(-85.051_128_78, 85.051_128_78).to_radians();
    let y = (std::f64::consts::FRAC_PI_4 + lat / 2.0).tan().ln() * 6_378_137.0;
    (x, y)
}

impl RasterSource {
    /// Opens a raster and computes its extent in Web Mercator.
    pub fn open(path: &Path) -> Result<RasterSource, ImageryError> {
        crate::import::init_gdal();
        let p = path.display().to_string();
        let dataset = Dataset::open(path).map_err(|e| ImageryError::Open { path: p.clone(), detail: e.to_string() })?;
        let srs = dataset.spatial_ref().map_err(|_| ImageryError::NotGeoreferenced { path: p.clone() })?;
        let gt = dataset.geo_transform().map_err(|_| ImageryError::NotGeoreferenced { path: p.clone() })?;
        let (w, h) = dataset.raster_size();
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for (px, py) in [(0.0, 0.0), (w as f64, 0.0), (0.0, h as f64), (w as f64, h as f64), (w as f64 / 2.0, 0.0), (w as f64 / 2.0, h as f64), (0.0, h as f64 / 2.0), (w as f64, h as f64 / 2.0)] {
            xs.push(gt[0] + px * gt[1] + py * gt[2]);
            ys.push(gt[3] + px * gt[4] + py * gt[5]);
        }
        let mut merc = SpatialRef::from_epsg(3857).map_err(|e| ImageryError::Open { path: p.clone(), detail: e.to_string() })?;
        merc.set_axis_mapping_strategy(gdal::spatial_ref::AxisMappingStrategy::TraditionalGisOrder);
        let src = crate::import::crs::srs_xy(srs);
        let ct = CoordTransform::new(&src, &merc).map_err(|e| ImageryError::Open { path: p.clone(), detail: e.to_string() })?;
        let mut zs = vec![0.0; xs.len()];
        ct.transform_coords(&mut xs, &mut ys, &mut zs).map_err(|e| ImageryError::Open { path: p.clone(), detail: e.to_string() })?;
        let extent_merc = [
            xs.iter().copied().fold(f64::INFINITY, f64::min),
            ys.iter().copied().fold(f64::INFINITY, f64::min),
            xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            ys.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ];
        let bands = dataset.raster_count();
        Ok(RasterSource { path: path.to_path_buf(), dataset, extent_merc, bands })
    }

    /// The extent in Web-Mercator metres.
    pub fn extent_merc(&self) -> [f64; 4] {
        self.extent_merc
    }

    /// Renders tile `z/x/y` as RGBA (256×256); `None` when the tile lies outside the raster or
    /// every pixel is transparent.
    pub fn render_tile(&self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, ImageryError> {
        let t = tile_extent_merc(z, x, y);
        let e = self.extent_merc;
        if t[2] <= e[0] || t[0] >= e[2] || t[3] <= e[1] || t[1] >= e[3] {
            return Ok(None);
        }
        let p = self.path.display().to_string();
        let read_err = |detail: String| ImageryError::Read { path: p.clone(), detail };
        let mem = DriverManager::get_driver_by_name("MEM").map_err(|e| read_err(e.to_string()))?;
        let mut dst = mem.create_with_band_type::<u8, _>("", TILE_PX, TILE_PX, 4).map_err(|e| read_err(e.to_string()))?;
        let px = (t[2] - t[0]) / TILE_PX as f64;
        dst.set_geo_transform(&[t[0], px, 0.0, t[3], 0.0, -px]).map_err(|e| read_err(e.to_string()))?;
        let merc = SpatialRef::from_epsg(3857).map_err(|e| read_err(e.to_string()))?;
        dst.set_spatial_ref(&merc).map_err(|e| read_err(e.to_string()))?;
        let mut args: Vec<&str> = vec!["-r", "bilinear", "-dstalpha", "-q"];
        if self.bands == 1 {
            // Grey: the same band three times comes with the imagery issue's colour ramps.
            args.clear();
            args.extend(["-r", "bilinear", "-q"]);
        }
        warp_into(&self.dataset, &dst, &args).map_err(read_err)?;
        let mut rgba = vec![0u8; TILE_PX * TILE_PX * 4];
        for b in 0..4 {
            let band = dst.rasterband(b + 1).map_err(|e| read_err(e.to_string()))?;
            let buf: Buffer<u8> = band.read_as((0, 0), (TILE_PX, TILE_PX), (TILE_PX, TILE_PX), None).map_err(|e| read_err(e.to_string()))?;
            for (i, v) in buf.data().iter().enumerate() {
                rgba[i * 4 + b] = *v;
            }
        }
        if self.bands == 1 {
            for px in rgba.chunks_exact_mut(4) {
                px[1] = px[0];
                px[2] = px[0];
                px[3] = 255;
            }
        }
        if rgba.chunks_exact(4).all(|p| p[3] == 0) {
            return Ok(None);
        }
        Ok(Some(rgba))
    }
}

/// `gdalwarp` into an existing dataset (uses overviews of the source automatically).
fn warp_into(src: &Dataset, dst: &Dataset, args: &[&str]) -> Result<(), String> {
    let mut list = gdal::cpl::CslStringList::new();
    for a in args {
        list.add_string(a).map_err(|e| e.to_string())?;
    }
    // SAFETY: `list` outlives the options; GDALWarp borrows both datasets for the call only and
    // returns `dst`'s own handle, which stays owned by `dst` (not closed here).
    unsafe {
        let opts = gdal_sys::GDALWarpAppOptionsNew(list.as_ptr(), std::ptr::null_mut());
        if opts.is_null() {
            return Err("invalid warp options".into());
        }
        let mut srcs = [src.c_dataset()];
        let mut usage_error: std::ffi::c_int = 0;
        let out = gdal_sys::GDALWarp(std::ptr::null(), dst.c_dataset(), 1, srcs.as_mut_ptr(), opts, &mut usage_error);
        gdal_sys::GDALWarpAppOptionsFree(opts);
        if out.is_null() {
            let msg = std::ffi::CStr::from_ptr(gdal_sys::CPLGetLastErrorMsg()).to_string_lossy().to_string();
            return Err(if msg.is_empty() { "warp failed".into() } else { msg });
        }
    }
    Ok(())
}

/// The acquisition date recorded in a raster's metadata (`ACQUISITION_DATE`, `TIFFTAG_DATETIME`,
/// `IMAGE_DATE`), if any.
pub fn acquisition_date(path: &Path) -> Option<chrono::NaiveDate> {
    use gdal::Metadata;
    crate::import::init_gdal();
    let ds = Dataset::open(path).ok()?;
    for key in ["ACQUISITION_DATE", "IMAGE_DATE", "DATE", "TIFFTAG_DATETIME"] {
        if let Some(v) = ds.metadata_item(key, "") {
            let v = v.replace(':', "-");
            if let Some(d) = crate::model::value::parse_date(v.get(..10).unwrap_or(&v)) {
                return Some(d);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_zero_covers_the_world() {
        let e = tile_extent_merc(0, 0, 0);
        assert!((e[0] + MERC_HALF_M).abs() < 1e-6 && (e[3] - MERC_HALF_M).abs() < 1e-6);
        let (x, y) = lonlat_to_merc(0.0, 0.0);
        assert!(x.abs() < 1e-9 && y.abs() < 1e-9);
    }
}
