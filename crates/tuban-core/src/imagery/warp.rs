//! A raster resampled into a Web-Mercator extent in Rust, without a gdalwarp run per view: the
//! transformation to the raster's CRS is made once per source (no PROJ lookup per view), the
//! view is mapped to source pixels at a coarse grid of control points and interpolated between
//! them (checked against exact points at every cell's centre, as gdalwarp's approximate
//! transformer does), the source window is read once at the overview that fits, and the pixels
//! are sampled bilinearly in fixed point.
//! A view the grid cannot follow (a world-wide tile, a point outside the projection) is left to
//! GDAL's warper ([`Warper::render`] returns `Ok(None)`).

use gdal::raster::RasterBand;
use gdal::Dataset;

use super::{ImageryError, MAX_SOURCE_PX};

/// Output pixels between control points.
const STEP_PX: usize = 128;
/// Largest error of the interpolated mapping, in output pixels (gdalwarp's default).
const MAX_ERROR_PX: f64 = 0.125;
/// One in fixed point (16 fractional bits).
const ONE_FX: f64 = 65_536.0;

/// What a raster source keeps to resample views itself.
pub(super) struct Warper {
    /// Web Mercator → the raster's CRS (traditional GIS order).
    to_src: crate::crs::Transform,
    /// The raster's CRS → its full-resolution pixel coordinates.
    inv_gt: [f64; 6],
    /// Full-resolution size in pixels.
    size_px: (usize, usize),
    /// Overviews as (reduction factor, index), ascending.
    overviews: Vec<(f64, usize)>,
}

/// A view's output pixels mapped to full-resolution source pixels at the control points.
struct Grid {
    xs: Vec<usize>,
    ys: Vec<usize>,
    /// (u, v) per node, row by row.
    uv: Vec<(f64, f64)>,
}

impl Grid {
    fn node(&self, k: usize, l: usize) -> (f64, f64) {
        self.uv[l * self.xs.len() + k]
    }
}

/// A source window read into memory: 4 bytes per pixel (colour, then alpha or 255), one pixel
/// of padding all round (the edge repeated) so bilinear taps never leave it.
struct Window {
    px: Vec<u32>,
    /// Width of a row including the padding.
    stride: usize,
    rows: usize,
    /// The window's first column and row in the overview's pixels.
    x0: usize,
    y0: usize,
    /// Size of the overview read, in its pixels.
    level_px: (usize, usize),
    /// Overview pixels per full-resolution pixel.
    scale: (f64, f64),
}

/// Splits 0..n into runs of at most [`STEP_PX`]: the positions of the control points.
fn nodes(n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).step_by(STEP_PX).collect();
    v.push(n);
    v
}

impl Warper {
    /// Prepares the resampling of `ds` (whose CRS is `src`): `None` when the raster's
    /// geotransform cannot be inverted or the transformation cannot be made.
    pub(super) fn new(
        ds: &Dataset,
        merc: &gdal::spatial_ref::SpatialRef,
        src: &gdal::spatial_ref::SpatialRef,
    ) -> Option<Warper> {
        let gt = ds.geo_transform().ok()?;
        let det = gt[1] * gt[5] - gt[2] * gt[4];
        if det.abs() < f64::MIN_POSITIVE {
            return None;
        }
        // Inverse of x = gt0 + u gt1 + v gt2, y = gt3 + u gt4 + v gt5.
        let inv_gt = [
            (gt[2] * gt[3] - gt[0] * gt[5]) / det,
            gt[5] / det,
            -gt[2] / det,
            (gt[0] * gt[4] - gt[1] * gt[3]) / det,
            -gt[4] / det,
            gt[1] / det,
        ];
        let to_src = crate::crs::Transform::new(merc, src).ok()?;
        let size_px = ds.raster_size();
        let mut overviews: Vec<(f64, usize)> = match ds.rasterband(1) {
            Ok(b) => (0..b.overview_count().unwrap_or(0).max(0) as usize)
                .filter_map(|i| b.overview(i).ok().map(|o| (size_px.0 as f64 / o.size().0.max(1) as f64, i)))
                .collect(),
            Err(_) => Vec::new(),
        };
        overviews.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(Warper { to_src, inv_gt, size_px, overviews })
    }

    /// Full-resolution source pixel coordinates of Web-Mercator points (in place).
    fn to_pixels(&self, xs: &mut [f64], ys: &mut [f64]) -> Option<()> {
        self.to_src.transform_coords(xs, ys).ok()?;
        let g = &self.inv_gt;
        for (x, y) in xs.iter_mut().zip(ys.iter_mut()) {
            if !x.is_finite() || !y.is_finite() {
                return None;
            }
            let (u, v) = (g[0] + *x * g[1] + *y * g[2], g[3] + *x * g[4] + *y * g[5]);
            (*x, *y) = (u, v);
        }
        Some(())
    }

    /// The control grid of a view, or `None` when interpolating it would be off by more than
    /// [`MAX_ERROR_PX`] somewhere (or a point does not transform).
    fn grid(&self, t: [f64; 4], (w, h): (usize, usize)) -> Option<Grid> {
        let (xs, ys) = (nodes(w), nodes(h));
        let (px_x, px_y) = ((t[2] - t[0]) / w as f64, (t[3] - t[1]) / h as f64);
        let merc = |x: f64, y: f64| (t[0] + x * px_x, t[3] - y * px_y);
        let (mut gx, mut gy) = (Vec::new(), Vec::new());
        for &y in &ys {
            for &x in &xs {
                let (mx, my) = merc(x as f64, y as f64);
                gx.push(mx);
                gy.push(my);
            }
        }
        // Cell centres, to check the interpolation against.
        let (mut cx, mut cy) = (Vec::new(), Vec::new());
        for l in 0..ys.len() - 1 {
            for k in 0..xs.len() - 1 {
                let (mx, my) = merc((xs[k] + xs[k + 1]) as f64 / 2.0, (ys[l] + ys[l + 1]) as f64 / 2.0);
                cx.push(mx);
                cy.push(my);
            }
        }
        self.to_pixels(&mut gx, &mut gy)?;
        self.to_pixels(&mut cx, &mut cy)?;
        let grid = Grid { uv: gx.into_iter().zip(gy).collect(), xs, ys };
        // Source pixels per output pixel, from the view's diagonal.
        let (a, b) = (grid.node(0, 0), grid.node(grid.xs.len() - 1, grid.ys.len() - 1));
        let per_px = ((a.0 - b.0).hypot(a.1 - b.1) / (w as f64).hypot(h as f64)).max(1e-9);
        let cells = grid.xs.len() - 1;
        for (i, (ex, ey)) in cx.into_iter().zip(cy).enumerate() {
            let (k, l) = (i % cells, i / cells);
            let corners = [grid.node(k, l), grid.node(k + 1, l), grid.node(k, l + 1), grid.node(k + 1, l + 1)];
            let (iu, iv) =
                (corners.iter().map(|c| c.0).sum::<f64>() / 4.0, corners.iter().map(|c| c.1).sum::<f64>() / 4.0);
            if (iu - ex).hypot(iv - ey) / per_px > MAX_ERROR_PX {
                return None;
            }
        }
        Some(grid)
    }

    /// Renders the view `t` (Web-Mercator metres) at `size` pixels from the `bands` colour bands of
    /// `ds` as RGBA (straight alpha, 0 outside the raster); `lut` turns a single band into colour.
    /// `Ok(None)`: the grid cannot follow this view, warp it with GDAL instead.
    pub(super) fn render(
        &self,
        ds: &Dataset,
        bands: usize,
        lut: Option<&[[u8; 3]; 256]>,
        t: [f64; 4],
        size: (usize, usize),
        path: &str,
    ) -> Result<Option<Vec<u8>>, ImageryError> {
        let Some(grid) = self.grid(t, size) else { return Ok(None) };
        let (a, b) = (grid.node(0, 0), grid.node(grid.xs.len() - 1, grid.ys.len() - 1));
        let per_px = (a.0 - b.0).hypot(a.1 - b.1) / (size.0 as f64).hypot(size.1 as f64);
        // The coarsest overview no coarser than the view needs (as the tile budget assumes).
        let level = self.overviews.iter().copied().rfind(|(f, _)| *f <= per_px * 1.2);
        let Some(win) = self.read_window(ds, bands, lut, &grid, level, path)? else {
            return Ok(Some(vec![0; size.0 * size.1 * 4]));
        };
        Ok(Some(sample(&grid, &win, size)))
    }

    /// Reads the part of the raster the grid covers, at overview `level` (full resolution when
    /// `None`); `None` when the view misses the raster.
    fn read_window(
        &self,
        ds: &Dataset,
        bands: usize,
        lut: Option<&[[u8; 3]; 256]>,
        grid: &Grid,
        level: Option<(f64, usize)>,
        path: &str,
    ) -> Result<Option<Window>, ImageryError> {
        let read_err =
            |e: gdal::errors::GdalError| ImageryError::Read { path: path.to_string(), detail: e.to_string() };
        let band_at = |b: usize| -> Result<RasterBand<'_>, ImageryError> {
            let band = ds.rasterband(b).map_err(read_err)?;
            match level {
                Some((_, i)) => band.overview(i).map_err(read_err),
                None => Ok(band),
            }
        };
        let first = band_at(1)?;
        let level_px = first.size();
        let scale = (level_px.0 as f64 / self.size_px.0 as f64, level_px.1 as f64 / self.size_px.1 as f64);
        let (mut lo, mut hi) = ((f64::INFINITY, f64::INFINITY), (f64::NEG_INFINITY, f64::NEG_INFINITY));
        for (u, v) in &grid.uv {
            let (x, y) = (u * scale.0, v * scale.1);
            lo = (lo.0.min(x), lo.1.min(y));
            hi = (hi.0.max(x), hi.1.max(y));
        }
        let clamp = |v: f64, n: usize| v.clamp(0.0, n as f64) as usize;
        let (x0, y0) = (clamp((lo.0 - 1.0).floor(), level_px.0), clamp((lo.1 - 1.0).floor(), level_px.1));
        let (x1, y1) = (clamp((hi.0 + 1.0).ceil(), level_px.0), clamp((hi.1 + 1.0).ceil(), level_px.1));
        if x1 <= x0 || y1 <= y0 {
            return Ok(None);
        }
        let (ww, wh) = (x1 - x0, y1 - y0);
        if (ww * wh) as f64 > MAX_SOURCE_PX {
            return Err(ImageryError::NeedsOverviews { path: path.to_string(), mpx: (ww * wh) as f64 / 1e6 });
        }
        let read = |band: &RasterBand<'_>| -> Result<Vec<u8>, ImageryError> {
            let mut buf = vec![0u8; ww * wh];
            band.read_into_slice((x0 as isize, y0 as isize), (ww, wh), (ww, wh), &mut buf, None).map_err(read_err)?;
            Ok(buf)
        };
        let mut planes = Vec::with_capacity(bands);
        for b in 0..bands {
            planes.push(read(&band_at(b + 1)?)?);
        }
        let flags = first.mask_flags().map_err(read_err)?;
        let mask = if flags.is_all_valid() { None } else { Some(read(&first.open_mask_band().map_err(read_err)?)?) };
        let (stride, rows) = (ww + 2, wh + 2);
        let mut px = vec![0u32; stride * rows];
        for r in 0..rows {
            let sr = r.saturating_sub(1).min(wh - 1);
            for c in 0..stride {
                let i = sr * ww + c.saturating_sub(1).min(ww - 1);
                let rgb = match (planes.as_slice(), lut) {
                    ([grey], Some(lut)) => lut[usize::from(grey[i])],
                    ([grey], None) => [grey[i]; 3],
                    ([r, g, b, ..], _) => [r[i], g[i], b[i]],
                    _ => [0; 3],
                };
                let m = mask.as_ref().map_or(255, |m| m[i]);
                // Premultiplied, so masked pixels do not bleed into their neighbours.
                let pre = |v: u8| ((u32::from(v) * u32::from(m) + 127) / 255) as u8;
                px[r * stride + c] = u32::from_le_bytes([pre(rgb[0]), pre(rgb[1]), pre(rgb[2]), m]);
            }
        }
        Ok(Some(Window { px, stride, rows, x0, y0, level_px, scale }))
    }
}

/// The four bytes of `p` in the four 16-bit lanes of a u64.
#[inline]
fn spread(p: u32) -> u64 {
    let p = u64::from(p);
    (p & 0xff) | ((p & 0xff00) << 8) | ((p & 0xff_0000) << 16) | ((p & 0xff00_0000) << 24)
}

/// The inverse of [`spread`] (lanes at most 255).
#[inline]
fn pack(q: u64) -> u32 {
    ((q & 0xff) | ((q >> 8) & 0xff00) | ((q >> 16) & 0xff_0000) | ((q >> 24) & 0xff00_0000)) as u32
}

const LANES: u64 = 0x00ff_00ff_00ff_00ff;
const HALF: u64 = 0x0080_0080_0080_0080;

/// Bilinear mix of four spread pixels, four channels at once; weights `fx`, `fy` in 0..=256.
#[inline]
fn bilinear(a: u64, b: u64, c: u64, d: u64, fx: u64, fy: u64) -> u32 {
    let top = (((a * (256 - fx) + b * fx) + HALF) >> 8) & LANES;
    let bottom = (((c * (256 - fx) + d * fx) + HALF) >> 8) & LANES;
    pack((((top * (256 - fy) + bottom * fy) + HALF) >> 8) & LANES)
}

/// The indices `i` in `0..n` with `lo <= start + i * step < hi` (an interval, the values being
/// linear in `i`).
fn inside(start: i64, step: i64, (lo, hi): (i64, i64), n: usize) -> (usize, usize) {
    let at = |i: usize| start + i as i64 * step;
    let ok = |i: usize| (lo..hi).contains(&at(i));
    let n_f = n as f64;
    let (a, b) = if step == 0 {
        if (lo..hi).contains(&start) {
            (0.0, n_f)
        } else {
            (0.0, 0.0)
        }
    } else {
        let (t_lo, t_hi) = ((lo - start) as f64 / step as f64, (hi - start) as f64 / step as f64);
        (t_lo.min(t_hi).ceil().clamp(0.0, n_f), t_lo.max(t_hi).ceil().clamp(0.0, n_f))
    };
    let (mut i0, mut i1) = (a as usize, b as usize);
    // Exact at the ends, whatever the rounding above.
    while i0 > 0 && ok(i0 - 1) {
        i0 -= 1;
    }
    while i0 < i1 && !ok(i0) {
        i0 += 1;
    }
    while i1 < n && ok(i1) {
        i1 += 1;
    }
    while i1 > i0 && !ok(i1 - 1) {
        i1 -= 1;
    }
    (i0, i1)
}

thread_local! {
    /// An image buffer handed back by [`recycle`], for this thread's next view.
    static SPARE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Hands back the buffer of an image made from a view once it is used (a report encodes a chip,
/// then renders the next one): the next view on this thread writes into memory already mapped,
/// instead of faulting in megabytes of fresh zeroed pages per chip.
pub fn recycle(buf: Vec<u8>) {
    SPARE.with(|spare| {
        let mut spare = spare.borrow_mut();
        if buf.capacity() > spare.capacity() {
            *spare = buf;
        }
    });
}

/// `n` zero bytes, in the recycled buffer when there is one.
fn zeroed(n: usize) -> Vec<u8> {
    let mut v = SPARE.with(|spare| std::mem::take(&mut *spare.borrow_mut()));
    v.clear();
    v.resize(n, 0);
    v
}

/// Samples the window at every output pixel's centre: RGBA, straight alpha.
fn sample(grid: &Grid, win: &Window, (w, h): (usize, usize)) -> Vec<u8> {
    let mut out = zeroed(w * h * 4);
    let px: Vec<u64> = win.px.iter().map(|p| spread(*p)).collect();
    let masked = win.px.iter().any(|p| p >> 24 != 255);
    // Window coordinates (padded) of a full-resolution position, in fixed point; the raster's
    // bounds in the same coordinates.
    let off = (win.x0 as f64 - 0.5 + 1.0, win.y0 as f64 - 0.5 + 1.0);
    let to_fx = |u: f64, v: f64| ((u * win.scale.0 - off.0) * ONE_FX, (v * win.scale.1 - off.1) * ONE_FX);
    let bounds_x = ((-off.0 * ONE_FX) as i64, ((win.level_px.0 as f64 - off.0) * ONE_FX) as i64);
    let bounds_y = ((-off.1 * ONE_FX) as i64, ((win.level_px.1 as f64 - off.1) * ONE_FX) as i64);
    let (max_x, max_y) = ((win.stride - 2) as i64, (win.rows - 2) as i64);
    let stride = win.stride;
    let lerp = |a: (f64, f64), b: (f64, f64), f: f64| (a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f);
    let mut l = 0;
    for (j, row) in out.chunks_exact_mut(w * 4).enumerate() {
        let yc = j as f64 + 0.5;
        while l + 2 < grid.ys.len() && grid.ys[l + 1] as f64 <= yc {
            l += 1;
        }
        let fy = (yc - grid.ys[l] as f64) / (grid.ys[l + 1] - grid.ys[l]) as f64;
        for k in 0..grid.xs.len() - 1 {
            let (x_a, x_b) = (grid.xs[k], grid.xs[k + 1]);
            let left = lerp(grid.node(k, l), grid.node(k, l + 1), fy);
            let right = lerp(grid.node(k + 1, l), grid.node(k + 1, l + 1), fy);
            let n = x_b - x_a;
            let (u0, v0) =
                to_fx(left.0 + (right.0 - left.0) * 0.5 / n as f64, left.1 + (right.1 - left.1) * 0.5 / n as f64);
            let du = ((right.0 - left.0) * win.scale.0 * ONE_FX / n as f64) as i64;
            let dv = ((right.1 - left.1) * win.scale.1 * ONE_FX / n as f64) as i64;
            let (u0, v0) = (u0 as i64, v0 as i64);
            let (i0, i1) = inside(u0, du, bounds_x, n);
            let (i0, i1) = {
                let (a, b) = inside(v0, dv, bounds_y, n);
                (i0.max(a), i1.min(b).max(i0.max(a)))
            };
            let (u, v) = (u0 + i0 as i64 * du, v0 + i0 as i64 * dv);
            let run = &mut row[(x_a + i0) * 4..(x_a + i1) * 4];
            let taps = Taps { px: &win.px, spread: &px, stride, max: (max_x, max_y) };
            if du.abs() + dv.abs() < MAGNIFIED_STEP {
                taps.magnified(run, (u, v), (du, dv));
            } else {
                taps.direct(run, (u, v), (du, dv));
            }
        }
    }
    if masked {
        unpremultiply(&mut out);
    }
    out
}

/// Steps (in fixed point) below which a view is magnified enough for [`Taps::magnified`]: runs of
/// about four or more output pixels between two source pixels.
const MAGNIFIED_STEP: i64 = 1 << 14;

/// The padded window as the sampling loops read it.
struct Taps<'a> {
    px: &'a [u32],
    spread: &'a [u64],
    stride: usize,
    /// The largest tap column and row.
    max: (i64, i64),
}

impl Taps<'_> {
    /// Index of the top-left tap of fixed-point position (u, v).
    #[inline]
    fn index(&self, u: i64, v: i64) -> usize {
        (v >> 16).clamp(0, self.max.1) as usize * self.stride + (u >> 16).clamp(0, self.max.0) as usize
    }

    /// Bilinear samples, one by one, into `out` (4 bytes a pixel) from (u, v) by (du, dv).
    fn direct(&self, out: &mut [u8], (mut u, mut v): (i64, i64), (du, dv): (i64, i64)) {
        let stride = self.stride;
        for out_px in out.chunks_exact_mut(4) {
            let i = self.index(u, v);
            let (fx, fy) = (((u >> 8) & 255) as u64, ((v >> 8) & 255) as u64);
            let (top, bottom) = (&self.spread[i..i + 2], &self.spread[i + stride..i + stride + 2]);
            out_px.copy_from_slice(&bilinear(top[0], top[1], bottom[0], bottom[1], fx, fy).to_le_bytes());
            u += du;
            v += dv;
        }
    }

    /// The same samples for a magnified view: while consecutive pixels fall between the same four
    /// source pixels, the bilinear value is a quadratic in the pixel's index, evaluated by forward
    /// differences (two additions a channel instead of the mix).
    fn magnified(&self, out: &mut [u8], (mut u, mut v): (i64, i64), (du, dv): (i64, i64)) {
        let n = out.len() / 4;
        let stride = self.stride;
        let mut k = 0;
        while k < n {
            // The pixels that fall between the same four source pixels (a scan: no division).
            let cell = (u >> 16, v >> 16);
            let (mut m, mut next_u, mut next_v) = (1, u + du, v + dv);
            while k + m < n && (next_u >> 16, next_v >> 16) == cell {
                m += 1;
                next_u += du;
                next_v += dv;
            }
            let i = self.index(u, v);
            let ch = |p: u32| p.to_le_bytes().map(f32::from);
            let (a, b) = (ch(self.px[i]), ch(self.px[i + 1]));
            let (c, d) = (ch(self.px[i + stride]), ch(self.px[i + stride + 1]));
            let (fx, fy) = ((u & 0xffff) as f32 / 65_536.0, (v & 0xffff) as f32 / 65_536.0);
            let (dfx, dfy) = (du as f32 / 65_536.0, dv as f32 / 65_536.0);
            let (mut f, mut d1, mut d2) = ([0f32; 4], [0f32; 4], [0f32; 4]);
            for q in 0..4 {
                let (alpha, beta, gamma) = (b[q] - a[q], c[q] - a[q], a[q] - b[q] - c[q] + d[q]);
                let r = gamma * dfx * dfy;
                f[q] = a[q] + alpha * fx + beta * fy + gamma * fx * fy + 0.5;
                d1[q] = alpha * dfx + beta * dfy + gamma * (fx * dfy + fy * dfx) + r;
                d2[q] = 2.0 * r;
            }
            quadratic_run(&mut out[k * 4..(k + m) * 4], f, d1, d2);
            k += m;
            (u, v) = (next_u, next_v);
        }
    }
}

/// Writes the pixels of a run whose four channels start at `f` (0.5 added for rounding) and
/// change by the forward differences `d1` (first) and `d2` (second, constant).
#[cfg(target_arch = "x86_64")]
fn quadratic_run(out: &mut [u8], f: [f32; 4], d1: [f32; 4], d2: [f32; 4]) {
    use std::arch::x86_64::{
        _mm_add_ps, _mm_cvtsi128_si32, _mm_cvttps_epi32, _mm_loadu_ps, _mm_packs_epi32, _mm_packus_epi16,
    };
    // SAFETY: SSE2 is part of every x86-64 CPU (the target's baseline); the loads read the three
    // arrays of four f32 on the stack, and no memory is written through a pointer.
    unsafe {
        let (mut f, mut d1, d2) = (_mm_loadu_ps(f.as_ptr()), _mm_loadu_ps(d1.as_ptr()), _mm_loadu_ps(d2.as_ptr()));
        for out_px in out.chunks_exact_mut(4) {
            let i = _mm_cvttps_epi32(f);
            let bytes = _mm_packus_epi16(_mm_packs_epi32(i, i), _mm_packs_epi32(i, i));
            out_px.copy_from_slice(&_mm_cvtsi128_si32(bytes).to_le_bytes());
            f = _mm_add_ps(f, d1);
            d1 = _mm_add_ps(d1, d2);
        }
    }
}

/// [`quadratic_run`] without SIMD.
#[cfg(not(target_arch = "x86_64"))]
fn quadratic_run(out: &mut [u8], mut f: [f32; 4], mut d1: [f32; 4], d2: [f32; 4]) {
    for out_px in out.chunks_exact_mut(4) {
        for q in 0..4 {
            out_px[q] = f[q] as u8;
            f[q] += d1[q];
            d1[q] += d2[q];
        }
    }
}

/// Straight alpha from premultiplied, where a pixel is partly transparent.
fn unpremultiply(rgba: &mut [u8]) {
    for p in rgba.chunks_exact_mut(4) {
        let alpha = u32::from(p[3]);
        if alpha != 255 && alpha != 0 {
            for ch in &mut p[..3] {
                *ch = ((u32::from(*ch) * 255 + alpha / 2) / alpha).min(255) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_mixes_each_channel() {
        let (a, b) = (u32::from_le_bytes([0, 100, 200, 255]), u32::from_le_bytes([100, 200, 0, 255]));
        let (sa, sb) = (spread(a), spread(b));
        assert_eq!(bilinear(sa, sb, sa, sb, 0, 0), a);
        assert_eq!(bilinear(sa, sb, sa, sb, 256, 256), b);
        assert_eq!(bilinear(sa, sb, sa, sb, 128, 77).to_le_bytes(), [50, 150, 100, 255]);
    }

    #[test]
    fn forward_differences_match_the_direct_mix() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as u32
        };
        let (stride, rows) = (40, 30);
        let px: Vec<u32> = (0..stride * rows).map(|_| next() | 0xff00_0000).collect();
        let spread: Vec<u64> = px.iter().map(|p| spread(*p)).collect();
        let taps = Taps { px: &px, spread: &spread, stride, max: (stride as i64 - 2, rows as i64 - 2) };
        for (u, v, du, dv) in [(65_536 * 3 + 100, 65_536 * 5, 5_000, 300), (65_536 * 30, 65_536 * 20, -4_000, -900)] {
            let (mut a, mut b) = (vec![0u8; 200 * 4], vec![0u8; 200 * 4]);
            taps.direct(&mut a, (u, v), (du, dv));
            taps.magnified(&mut b, (u, v), (du, dv));
            let worst = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y)).max();
            assert!(worst <= Some(2), "off by {worst:?}");
        }
    }

    #[test]
    fn inside_finds_the_interval() {
        let brute = |start: i64, step: i64, lo: i64, hi: i64, n: usize| {
            let v: Vec<usize> = (0..n).filter(|i| (lo..hi).contains(&(start + *i as i64 * step))).collect();
            v.first().map_or((0, 0), |a| (*a, v[v.len() - 1] + 1))
        };
        for (start, step) in [(-50, 7), (300, -9), (10, 0), (-10, 0), (5, 3), (1000, 1)] {
            let got = inside(start, step, (0, 200), 64);
            let want = brute(start, step, 0, 200, 64);
            assert!(got == want || (got.0 == got.1 && want.0 == want.1), "{start} {step}: {got:?} {want:?}");
        }
    }

    #[test]
    fn nodes_cover_the_axis() {
        assert_eq!(nodes(STEP_PX * 2 + 2), vec![0, STEP_PX, STEP_PX * 2, STEP_PX * 2 + 2]);
        assert_eq!(nodes(STEP_PX), vec![0, STEP_PX]);
    }
}
