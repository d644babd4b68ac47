//! Imagery: local rasters rendered into Web-Mercator map tiles through GDAL, on worker threads.
//!
//! Architecture invariant 3: each worker thread opens its own GDAL datasets; other threads
//! receive RGBA pixels, never a dataset. A broken source yields an error for its tiles and the
//! rest keeps working.

pub mod online;
pub mod paths;
mod pyramid;
pub mod services;
pub mod source;
mod tile;
mod tiles;
mod warp;

use std::path::{Path, PathBuf};

use gdal::raster::Buffer;
use gdal::spatial_ref::SpatialRef;
use gdal::{Dataset, DriverManager};

pub use source::{RasterStyle, SourceSpec};
pub use tiles::{TileKey, TileResult, TileService};
pub use warp::recycle as recycle_pixels;

/// Side of a map tile in pixels.
pub const TILE_PX: usize = 256;
/// Half the width of the Web-Mercator world in metres.
pub const MERC_HALF_M: f64 = 20_037_508.342_789_244;

/// Why imagery could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageryError {
    /// The file is not where the catalogue says, nor anywhere tuban looked for it.
    #[error("{path}: 影像文件不存在；请运行 tuban imagery relink 项目.gpkg 旧目录 新目录，或在窗口中点“定位…”重新链接 / imagery file not found; relink it with `tuban imagery relink PROJECT OLD_FOLDER NEW_FOLDER` or Locate… in the window")]
    Missing { path: String },
    /// GDAL cannot open the file.
    #[error("{path}: 影像无法打开（{detail}） / imagery cannot be opened ({detail})")]
    Open { path: String, detail: String },
    /// The raster has no usable georeferencing.
    #[error("{path}: 影像没有坐标系或地理参考 / imagery has no CRS or georeferencing")]
    NotGeoreferenced { path: String },
    /// Reading pixels failed (a damaged file).
    #[error("{path}: 读取影像失败（{detail}），文件可能已损坏 / reading failed ({detail}); the file may be damaged")]
    Read { path: String, detail: String },
    /// This view of a large raster without overviews would read too many pixels.
    #[error("{path}: 影像很大且没有金字塔，这个比例尺需要读取 {mpx:.0} 百万像素；请放大，或运行 tuban imagery add --build-overviews 建金字塔 / a large raster without overviews: this view would read {mpx:.0} megapixels; zoom in, or build overviews (tuban imagery add --build-overviews)")]
    NeedsOverviews { path: String, mpx: f64 },
}

/// The most source pixels one view may read at the overview GDAL will use (64 Mpx, ~200 MB of
/// RGB): a county-wide view of a huge raster without overviews would otherwise read gigabytes
/// and stall its worker.
const MAX_SOURCE_PX: f64 = 64e6;

/// A raster (or a mosaic of rasters) open on the current thread, prepared for display: chosen
/// bands, 16-bit data stretched to 8 bits, with its extent in Web Mercator.
pub struct RasterSource {
    path: PathBuf,
    // Field order: the prepared view is dropped before the datasets it reads.
    dataset: Dataset,
    _sources: Vec<Dataset>,
    extent_merc: [f64; 4],
    bands: usize,
    ramp: bool,
    /// EPSG:3857 as WKT, looked up once (a lookup per tile reads PROJ's database).
    merc_wkt: String,
    /// Reduction factors of the overviews (2, 4, 8…), ascending.
    overview_factors: Vec<f64>,
    /// The transformation and overviews for resampling views without gdalwarp (`None`: the
    /// raster's georeferencing cannot be inverted; every view goes through GDAL's warper).
    warper: Option<warp::Warper>,
    /// The colour ramp of a single band shown in colour, by value.
    ramp_lut: Option<[[u8; 3]; 256]>,
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
    /// Opens one raster with the default style.
    pub fn open(path: &Path) -> Result<RasterSource, ImageryError> {
        RasterSource::open_styled(&[path.to_path_buf()], &RasterStyle::default())
    }

    /// Opens one raster, or several as one mosaic (a VRT), and prepares it for display.
    pub fn open_styled(paths: &[PathBuf], style: &RasterStyle) -> Result<RasterSource, ImageryError> {
        crate::crs::init_gdal();
        let first = paths.first().ok_or_else(|| ImageryError::Open {
            path: "-".into(),
            detail: "文件夹中没有影像文件 / no raster files in the folder".into(),
        })?;
        let p = if paths.len() == 1 {
            first.display().to_string()
        } else {
            format!("{} (+{})", first.display(), paths.len() - 1)
        };
        let open_err = |detail: String| ImageryError::Open { path: p.clone(), detail };
        let mut sources = Vec::with_capacity(paths.len());
        for path in paths {
            if !path.exists() {
                return Err(ImageryError::Missing { path: path.display().to_string() });
            }
            sources.push(
                Dataset::open(path)
                    .map_err(|e| ImageryError::Open { path: path.display().to_string(), detail: e.to_string() })?,
            );
        }
        let base = if sources.len() == 1 {
            None
        } else {
            let opts = gdal::programs::raster::BuildVRTOptions::new(["-resolution", "highest"])
                .map_err(|e| open_err(e.to_string()))?;
            Some(gdal::programs::raster::build_vrt(None, &sources, Some(opts)).map_err(|e| {
                open_err(format!("影像不能拼接（坐标系或波段不一致？）/ cannot mosaic (different CRS or bands?): {e}"))
            })?)
        };
        let ds = base.as_ref().unwrap_or(&sources[0]);
        let (args, bands, ramp) = display_args(ds, style).map_err(open_err)?;
        let prepared = match args {
            Some(args) => Some(translate_vrt(ds, &args).map_err(open_err)?),
            None => None,
        };
        let dataset = match (prepared, base) {
            (Some(p), Some(b)) => {
                sources.push(b);
                p
            }
            (Some(p), None) => p,
            (None, Some(b)) => b,
            (None, None) => sources.remove(0),
        };
        let srs = dataset.spatial_ref().map_err(|_| ImageryError::NotGeoreferenced { path: p.clone() })?;
        let gt = dataset.geo_transform().map_err(|_| ImageryError::NotGeoreferenced { path: p.clone() })?;
        if gt == [0.0, 1.0, 0.0, 0.0, 0.0, 1.0] {
            return Err(ImageryError::NotGeoreferenced { path: p });
        }
        let (w, h) = dataset.raster_size();
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for i in 0..=8 {
            for j in 0..=8 {
                let (px, py) = (w as f64 * f64::from(i) / 8.0, h as f64 * f64::from(j) / 8.0);
                xs.push(gt[0] + px * gt[1] + py * gt[2]);
                ys.push(gt[3] + px * gt[4] + py * gt[5]);
            }
        }
        let mut merc =
            SpatialRef::from_epsg(3857).map_err(|e| ImageryError::Open { path: p.clone(), detail: e.to_string() })?;
        merc.set_axis_mapping_strategy(gdal::spatial_ref::AxisMappingStrategy::TraditionalGisOrder);
        let src = crate::crs::srs_xy(srs);
        let ct = crate::crs::Transform::new(&src, &merc)
            .map_err(|e| ImageryError::Open { path: p.clone(), detail: e.to_string() })?;
        ct.transform_coords(&mut xs, &mut ys)
            .map_err(|e| ImageryError::Open { path: p.clone(), detail: e.to_string() })?;
        let extent_merc = [
            xs.iter().copied().fold(f64::INFINITY, f64::min),
            ys.iter().copied().fold(f64::INFINITY, f64::min),
            xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            ys.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ];
        let warper = warp::Warper::new(&dataset, &merc, &src);
        let merc_wkt = merc.to_wkt().map_err(|e| ImageryError::Open { path: p.clone(), detail: e.to_string() })?;
        let mut overview_factors: Vec<f64> = match dataset.rasterband(1) {
            Ok(b) => (0..b.overview_count().unwrap_or(0))
                .filter_map(|i| b.overview(i as usize).ok())
                .map(|o| w as f64 / o.size().0.max(1) as f64)
                .collect(),
            Err(_) => Vec::new(),
        };
        overview_factors.sort_by(f64::total_cmp);
        Ok(RasterSource {
            path: first.clone(),
            dataset,
            _sources: sources,
            extent_merc,
            bands,
            ramp,
            merc_wkt,
            overview_factors,
            warper,
            ramp_lut: ramp.then(|| std::array::from_fn(|v| self::ramp(v as u8))),
        })
    }

    /// True when the raster is large and has no overviews (zoomed-out views will be slow).
    pub fn needs_overviews(&self) -> bool {
        let (w, h) = self.dataset.raster_size();
        w.max(h) > 4096 && self.dataset.rasterband(1).ok().and_then(|b| b.overview_count().ok()).unwrap_or(0) == 0
    }

    /// The extent in Web-Mercator metres.
    pub fn extent_merc(&self) -> [f64; 4] {
        self.extent_merc
    }

    /// Refuses a view that would read more than [`MAX_SOURCE_PX`] source pixels at the overview
    /// GDAL picks (the finest one no finer than the view needs).
    fn check_read_size(&self, t: [f64; 4], w: usize) -> Result<(), ImageryError> {
        let e = self.extent_merc;
        let (rw, rh) = self.dataset.raster_size();
        let (native_x, native_y) = ((e[2] - e[0]) / rw.max(1) as f64, (e[3] - e[1]) / rh.max(1) as f64);
        let wanted = ((t[2] - t[0]) / w.max(1) as f64) / native_x;
        let factor = self.overview_factors.iter().copied().filter(|f| *f <= wanted * 1.2).fold(1.0, f64::max);
        let (cw, ch) = ((t[2].min(e[2]) - t[0].max(e[0])).max(0.0), (t[3].min(e[3]) - t[1].max(e[1])).max(0.0));
        let px = (cw / native_x / factor) * (ch / native_y / factor);
        if px > MAX_SOURCE_PX {
            return Err(ImageryError::NeedsOverviews { path: self.path.display().to_string(), mpx: px / 1e6 });
        }
        Ok(())
    }

    /// Renders tile `z/x/y` as RGBA (256×256); `None` when the tile lies outside the raster or
    /// every pixel is transparent.
    pub fn render_tile(&self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, ImageryError> {
        self.render_extent(tile_extent_merc(z, x, y), (TILE_PX, TILE_PX))
    }

    /// Renders a Web-Mercator extent (min_x, min_y, max_x, max_y in metres) as `size` RGBA pixels
    /// in one warp (a report chip costs one call instead of one per tile); `None` when the extent
    /// lies outside the raster or every pixel is transparent.
    pub fn render_extent(&self, t: [f64; 4], size: (usize, usize)) -> Result<Option<Vec<u8>>, ImageryError> {
        let e = self.extent_merc;
        if t[2] <= e[0] || t[0] >= e[2] || t[3] <= e[1] || t[1] >= e[3] || size.0 == 0 || size.1 == 0 {
            return Ok(None);
        }
        let p = self.path.display().to_string();
        if let Some(warper) = &self.warper {
            if let Some(rgba) = warper.render(&self.dataset, self.bands, self.ramp_lut.as_ref(), t, size, &p)? {
                return Ok(rgba.chunks_exact(4).any(|px| px[3] != 0).then_some(rgba));
            }
        }
        self.render_extent_gdal(t, size, &p)
    }

    /// [`RasterSource::render_extent`] through GDAL's warper (views the control grid cannot
    /// follow).
    fn render_extent_gdal(&self, t: [f64; 4], size: (usize, usize), p: &str) -> Result<Option<Vec<u8>>, ImageryError> {
        let (w, h) = size;
        self.check_read_size(t, w)?;
        let read_err = |detail: String| ImageryError::Read { path: p.to_string(), detail };
        let mem = DriverManager::get_driver_by_name("MEM").map_err(|e| read_err(e.to_string()))?;
        let mut dst =
            mem.create_with_band_type::<u8, _>("", w, h, self.bands + 1).map_err(|e| read_err(e.to_string()))?;
        let (px_x, px_y) = ((t[2] - t[0]) / w as f64, (t[3] - t[1]) / h as f64);
        dst.set_geo_transform(&[t[0], px_x, 0.0, t[3], 0.0, -px_y]).map_err(|e| read_err(e.to_string()))?;
        dst.set_projection(&self.merc_wkt).map_err(|e| read_err(e.to_string()))?;
        warp_into(&self.dataset, &dst, &["-r", "bilinear", "-dstalpha", "-q"]).map_err(read_err)?;
        let n = self.bands + 1;
        let mut planes = Vec::with_capacity(n);
        for b in 0..n {
            let band = dst.rasterband(b + 1).map_err(|e| read_err(e.to_string()))?;
            let buf: Buffer<u8> = band.read_as((0, 0), (w, h), (w, h), None).map_err(|e| read_err(e.to_string()))?;
            planes.push(buf.into_shape_and_vec().1);
        }
        let mut rgba = vec![0u8; w * h * 4];
        for (i, px) in rgba.chunks_exact_mut(4).enumerate() {
            if self.bands == 1 {
                let v = planes[0][i];
                let c = if self.ramp { ramp(v) } else { [v, v, v] };
                px[..3].copy_from_slice(&c);
            } else {
                for c in 0..3 {
                    px[c] = planes[c][i];
                }
            }
            px[3] = planes[n - 1][i];
        }
        if rgba.chunks_exact(4).all(|p| p[3] == 0) {
            return Ok(None);
        }
        Ok(Some(rgba))
    }
}

/// A colour ramp for single-band data (low blue → green → yellow → high red).
fn ramp(v: u8) -> [u8; 3] {
    const STOPS: [(f32, [f32; 3]); 5] = [
        (0.0, [43.0, 131.0, 186.0]),
        (0.25, [171.0, 221.0, 164.0]),
        (0.5, [255.0, 255.0, 191.0]),
        (0.75, [253.0, 174.0, 97.0]),
        (1.0, [215.0, 25.0, 28.0]),
    ];
    let t = f32::from(v) / 255.0;
    for w in STOPS.windows(2) {
        let ((t0, c0), (t1, c1)) = (w[0], w[1]);
        if t <= t1 {
            let f = (t - t0) / (t1 - t0);
            return [
                (c0[0] + (c1[0] - c0[0]) * f) as u8,
                (c0[1] + (c1[1] - c0[1]) * f) as u8,
                (c0[2] + (c1[2] - c0[2]) * f) as u8,
            ];
        }
    }
    [215, 25, 28]
}

/// The `gdal_translate` arguments that prepare a raster for display (None: use it as it is),
/// with the number of colour bands and whether a colour ramp applies.
fn display_args(ds: &Dataset, style: &RasterStyle) -> Result<(Option<Vec<String>>, usize, bool), String> {
    let count = ds.raster_count();
    if count == 0 {
        return Err("没有波段 / no bands".into());
    }
    let band = ds.rasterband(1).map_err(|e| e.to_string())?;
    let byte = band.band_type() == gdal::raster::GdalDataType::UInt8;
    let alpha4 = count == 4
        && ds
            .rasterband(4)
            .map(|b| b.color_interpretation() == gdal::raster::ColorInterpretation::AlphaBand)
            .unwrap_or(false);
    let bands: Vec<u32> = match (style.bands, count) {
        (Some(b), _) => b.to_vec(),
        (None, 1 | 2) => vec![1],
        (None, _) => vec![1, 2, 3],
    };
    for b in &bands {
        if *b as usize > count || *b == 0 {
            return Err(format!("没有第 {b} 波段（共 {count} 个） / no band {b} (the raster has {count})"));
        }
    }
    let plain = byte && style.stretch.is_none() && bands == [1, 2, 3] && (count == 3 || alpha4);
    if plain {
        return Ok((None, 3, false));
    }
    let mut args: Vec<String> = vec!["-of".into(), "VRT".into(), "-ot".into(), "Byte".into()];
    for b in &bands {
        args.push("-b".into());
        args.push(b.to_string());
    }
    if alpha4 && bands.len() == 3 {
        args.extend(["-b".into(), "4".into()]);
    }
    if !byte || style.stretch.is_some() {
        let (lo, hi) = style.stretch.unwrap_or((2.0, 98.0));
        for (i, b) in bands.iter().enumerate() {
            let (min, max) = percentiles(ds, *b as usize, lo, hi)?;
            args.extend([format!("-scale_{}", i + 1), min.to_string(), max.to_string(), "1".into(), "255".into()]);
        }
    }
    let ramp = bands.len() == 1 && !byte;
    Ok((Some(args), bands.len(), ramp))
}

/// The `lo` and `hi` percentiles of a band (approximate: from overviews when present).
fn percentiles(ds: &Dataset, band: usize, lo: f64, hi: f64) -> Result<(f64, f64), String> {
    let b = ds.rasterband(band).map_err(|e| e.to_string())?;
    let mm = b.compute_raster_min_max(true).map_err(|e| e.to_string())?;
    if mm.max.partial_cmp(&mm.min) != Some(std::cmp::Ordering::Greater) {
        return Ok((mm.min, mm.min + 1.0));
    }
    let h = b.histogram(mm.min, mm.max, 1024, false, true).map_err(|e| e.to_string())?;
    let counts = h.counts();
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return Ok((mm.min, mm.max));
    }
    let at = |q: f64| {
        let target = (total as f64 * q / 100.0) as u64;
        let mut acc = 0;
        for (i, c) in counts.iter().enumerate() {
            acc += c;
            if acc >= target {
                return mm.min + (i as f64 + 0.5) * h.bucket_size();
            }
        }
        mm.max
    };
    let (a, z) = (at(lo), at(hi));
    Ok(if z > a { (a, z) } else { (mm.min, mm.max) })
}

/// `gdal_translate` into an in-memory VRT.
fn translate_vrt(src: &Dataset, args: &[String]) -> Result<Dataset, String> {
    let mut list = gdal::cpl::CslStringList::new();
    for a in args {
        list.add_string(a).map_err(|e| e.to_string())?;
    }
    // SAFETY: `list` outlives the options; the returned handle is a new dataset we now own.
    unsafe {
        let opts = gdal_sys::GDALTranslateOptionsNew(list.as_ptr(), std::ptr::null_mut());
        if opts.is_null() {
            return Err("invalid translate options".into());
        }
        let mut usage_error: std::ffi::c_int = 0;
        let out = gdal_sys::GDALTranslate(c"".as_ptr(), src.c_dataset(), opts, &mut usage_error);
        gdal_sys::GDALTranslateOptionsFree(opts);
        if out.is_null() {
            let msg = std::ffi::CStr::from_ptr(gdal_sys::CPLGetLastErrorMsg()).to_string_lossy().to_string();
            return Err(if msg.is_empty() { "translate failed".into() } else { msg });
        }
        Ok(Dataset::from_c_dataset(out))
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
    crate::crs::init_gdal();
    let ds = Dataset::open(path).ok()?;
    for key in ["ACQUISITION_DATE", "IMAGE_DATE", "DATE", "TIFFTAG_DATETIME"] {
        if let Some(v) = ds.metadata_item(key, "") {
            let v = v.replace(':', "-");
            if let Some(d) = tuban_model::value::parse_date(v.get(..10).unwrap_or(&v)) {
                return Some(d);
            }
        }
    }
    None
}

/// Builds overviews (pyramids) of a raster in place, with progress and cancel.
pub fn build_overviews(path: &Path, progress: &tuban_model::progress::Progress) -> Result<(), ImageryError> {
    crate::crs::init_gdal();
    let p = path.display().to_string();
    let mut ds = Dataset::open_ex(
        path,
        gdal::DatasetOptions {
            open_flags: gdal::GdalOpenFlags::GDAL_OF_RASTER | gdal::GdalOpenFlags::GDAL_OF_UPDATE,
            ..Default::default()
        },
    )
    .or_else(|_| Dataset::open(path))
    .map_err(|e| ImageryError::Open { path: p.clone(), detail: e.to_string() })?;
    let (w, h) = ds.raster_size();
    let mut levels = Vec::new();
    let mut f = 2;
    while w.max(h) / f >= 256 {
        levels.push(f as i32);
        f *= 2;
    }
    progress.stage("建立金字塔 / building overviews", 100);
    if progress.check().is_err() {
        return Err(ImageryError::Read { path: p, detail: "cancelled".into() });
    }
    ds.build_overviews("AVERAGE", &levels, &[])
        .map_err(|e| ImageryError::Read { path: p.clone(), detail: e.to_string() })?;
    let _ = progress.set(100);
    Ok(())
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
