//! Map images without a window (the model is galileo's headless renderer): imagery tiles of an
//! extent composited and resampled to a pixel size, patch outlines drawn with tiny-skia, labels,
//! a scale bar and a north arrow drawn with the bundled CJK font. The report's image chips and
//! thumbnails use it; `tuban render` exposes it.

use std::path::Path;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use geo::Geometry;
use image::RgbaImage;
use tiny_skia::{FillRule, Paint, PathBuilder, Pixmap, Stroke, Transform};

use crate::atomic::{self, AtomicError, Overwrite};
use crate::imagery::source::{self, SourceSpec, TileSource, ViewRender};
use crate::imagery::{ImageryError, TILE_PX};

/// The bundled CJK font (Noto Sans CJK SC subset; licence in assets/fonts/OFL.txt).
pub const CJK_FONT: &[u8] = include_bytes!("../../../../assets/fonts/NotoSansSC-tuban.otf");

/// How a patch outline is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outline {
    /// 3 px, for chips.
    Thick,
    /// 1.5 px, for overviews with many patches.
    Thin,
}

/// What to draw besides the imagery.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderOptions {
    /// Output width and height in pixels.
    pub size_px: (u32, u32),
    /// Margin around the extent, as a share of its size.
    pub margin: f64,
    /// Outline style.
    pub outline: Outline,
    /// Draw the label of each shape.
    pub labels: bool,
    /// Scale bar at the bottom left.
    pub scale_bar: bool,
    /// North arrow at the top right.
    pub north_arrow: bool,
    /// A caption at the top left (e.g. imagery date).
    pub caption: Option<String>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            size_px: (800, 600),
            margin: 0.35,
            outline: Outline::Thick,
            labels: true,
            scale_bar: true,
            north_arrow: true,
            caption: None,
        }
    }
}

/// How an overlay's outline is stroked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Line {
    /// A solid line (the extent in force).
    #[default]
    Solid,
    /// A dashed line (the issued outline beside a verified one).
    Dashed,
}

/// A shape to draw: lon/lat geometry, RGBA colour, label.
#[derive(Debug, Clone, PartialEq)]
pub struct Overlay {
    /// Geometry in CGCS2000 lon/lat.
    pub geom: Geometry,
    /// Outline colour.
    pub rgba: [u8; 4],
    /// Label drawn above it.
    pub label: String,
    /// Solid or dashed.
    pub line: Line,
}

/// Why a map image could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The imagery failed.
    #[error(transparent)]
    Imagery(#[from] ImageryError),
    /// Nothing to frame.
    #[error("没有可绘制的范围 / nothing to frame")]
    EmptyExtent,
    /// Bad output size.
    #[error("图片尺寸无效 / invalid image size {0}×{1}")]
    BadSize(u32, u32),
    /// The file name's extension is not an image format we write (`.png`, `.jpg`, `.tif`, ...).
    #[error("{path}: 无法按此格式保存图片（请用 .png 或 .jpg） / cannot save an image in this format (use .png or .jpg): {detail}")]
    Encode { path: String, detail: String },
    /// Writing the file failed (exists and not forced, full disk, ...); nothing was left behind.
    #[error(transparent)]
    Write(#[from] AtomicError),
}

fn merc01(lon: f64, lat: f64) -> (f64, f64) {
    let lat = lat.clamp(-85.051_128, 85.051_128).to_radians();
    ((lon + 180.0) / 360.0, (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0)
}

fn for_each_coord(g: &Geometry, f: &mut impl FnMut(f64, f64)) {
    use geo::CoordsIter;
    for c in g.coords_iter() {
        f(c.x, c.y);
    }
}

/// Saves a rendered image to `path` in the format its extension names (`.png`, `.jpg`), under
/// a temporary name renamed into place: a failure leaves no partial image, and an existing file
/// is replaced only with [`Overwrite::Replace`].
pub fn save(img: &RgbaImage, path: &Path, overwrite: Overwrite) -> Result<(), RenderError> {
    let encode_error = |detail: String| RenderError::Encode { path: path.display().to_string(), detail };
    let format = image::ImageFormat::from_path(path).map_err(|e| encode_error(e.to_string()))?;
    let mut bytes = std::io::Cursor::new(Vec::new());
    // JPEG has no alpha channel.
    let encoded = if format == image::ImageFormat::Jpeg {
        image::DynamicImage::ImageRgba8(img.clone()).to_rgb8().write_to(&mut bytes, format)
    } else {
        img.write_to(&mut bytes, format)
    };
    encoded.map_err(|e| encode_error(e.to_string()))?;
    Ok(atomic::write_file(path, bytes.get_ref(), overwrite)?)
}

/// Renders `overlays` over `source` (or a grey background), framed on the overlays' extent.
pub fn render(
    source: Option<&SourceSpec>,
    overlays: &[Overlay],
    opts: &RenderOptions,
) -> Result<RgbaImage, RenderError> {
    let mut opened = match source {
        Some(spec) => Some(source::open(spec)?),
        None => None,
    };
    render_from(opened.as_deref_mut(), overlays, opts)
}

/// Like [`render`], with a source already open on this thread (a report renders hundreds of
/// chips from the same two sources).
pub fn render_from(
    source: Option<&mut (dyn TileSource + 'static)>,
    overlays: &[Overlay],
    opts: &RenderOptions,
) -> Result<RgbaImage, RenderError> {
    let (w, h) = opts.size_px;
    if w == 0 || h == 0 || w > 10_000 || h > 10_000 {
        return Err(RenderError::BadSize(w, h));
    }
    let (view, cy) = frame(overlays, opts)?;
    let img = match source {
        Some(src) => draw_imagery(src, view, (w, h))?,
        None => background(w, h),
    };
    // The pixels move into the pixmap and back (no copies of a 3-megapixel chip).
    let mut pixmap = to_pixmap(img).ok_or(RenderError::BadSize(w, h))?;
    let labels = draw_overlays(&mut pixmap, overlays, opts, view);
    let lat_c = {
        let n = std::f64::consts::PI * (1.0 - 2.0 * cy);
        n.sinh().atan()
    };
    let metres_per_px = (view[2] - view[0]) * 40_075_016.686 * lat_c.cos() / f64::from(w);
    if opts.scale_bar {
        draw_scale_bar(&mut pixmap, metres_per_px);
    }
    if opts.north_arrow {
        draw_north_arrow(&mut pixmap);
    }
    let mut img = from_pixmap(pixmap);
    draw_texts(&mut img, labels, opts, metres_per_px);
    Ok(img)
}

/// The view (normalised Mercator `[x0, y0, x1, y1]`) framing the overlays, and its centre's y:
/// at least ~50 m across so a point clue gets a view; then the margin; then the aspect ratio.
fn frame(overlays: &[Overlay], opts: &RenderOptions) -> Result<([f64; 4], f64), RenderError> {
    let (w, h) = opts.size_px;
    let mut bb = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    for o in overlays {
        for_each_coord(&o.geom, &mut |lon, lat| {
            let (x, y) = merc01(lon, lat);
            bb = [bb[0].min(x), bb[1].min(y), bb[2].max(x), bb[3].max(y)];
        });
    }
    if !bb[0].is_finite() {
        return Err(RenderError::EmptyExtent);
    }
    let min_size = 50.0 / 40_075_016.686;
    let (cx, cy) = ((bb[0] + bb[2]) / 2.0, (bb[1] + bb[3]) / 2.0);
    let mut half_w = ((bb[2] - bb[0]).max(min_size) / 2.0) * (1.0 + 2.0 * opts.margin);
    let mut half_h = ((bb[3] - bb[1]).max(min_size) / 2.0) * (1.0 + 2.0 * opts.margin);
    let aspect = f64::from(w) / f64::from(h);
    if half_w / half_h < aspect {
        half_w = half_h * aspect
    } else {
        half_h = half_w / aspect
    }
    Ok(([cx - half_w, cy - half_h, cx + half_w, cy + half_h], cy))
}

/// Strokes each overlay's outline (with a dark halo) and returns the labels to draw: text and
/// the pixel position above the shape's top.
fn draw_overlays(
    pixmap: &mut Pixmap,
    overlays: &[Overlay],
    opts: &RenderOptions,
    view: [f64; 4],
) -> Vec<(String, f32, f32)> {
    let (w, h) = opts.size_px;
    let to_px = |lon: f64, lat: f64| {
        let (x, y) = merc01(lon, lat);
        (
            ((x - view[0]) / (view[2] - view[0]) * f64::from(w)) as f32,
            ((y - view[1]) / (view[3] - view[1]) * f64::from(h)) as f32,
        )
    };
    let width = match opts.outline {
        Outline::Thick => 3.0,
        Outline::Thin => 1.5,
    };
    let mut labels = Vec::new();
    for o in overlays {
        let mut paint = Paint::default();
        paint.set_color_rgba8(o.rgba[0], o.rgba[1], o.rgba[2], o.rgba[3]);
        paint.anti_alias = true;
        let mut pb = PathBuilder::new();
        let mut top = (f32::INFINITY, 0.0f32);
        let rings: Vec<&geo::LineString> = match &o.geom {
            Geometry::Polygon(p) => std::iter::once(p.exterior()).chain(p.interiors()).collect(),
            Geometry::MultiPolygon(mp) => {
                mp.0.iter().flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors())).collect()
            }
            _ => vec![],
        };
        for ring in rings {
            for (i, c) in ring.0.iter().enumerate() {
                let (x, y) = to_px(c.x, c.y);
                if y < top.0 {
                    top = (y, x);
                }
                if i == 0 {
                    pb.move_to(x, y)
                } else {
                    pb.line_to(x, y)
                }
            }
            pb.close();
        }
        if let Geometry::Point(p) = &o.geom {
            let (x, y) = to_px(p.x(), p.y());
            pb.push_circle(x, y, 8.0);
            top = (y - 8.0, x);
        }
        if let Some(path) = pb.finish() {
            let halo = Stroke { width: width + 2.0, ..Default::default() };
            let mut dark = Paint::default();
            dark.set_color_rgba8(0, 0, 0, 140);
            dark.anti_alias = true;
            let dash = match o.line {
                Line::Solid => None,
                Line::Dashed => tiny_skia::StrokeDash::new(vec![width * 4.0, width * 3.0], 0.0),
            };
            let halo = Stroke { dash: dash.clone(), ..halo };
            pixmap.stroke_path(&path, &dark, &halo, Transform::identity(), None);
            pixmap.stroke_path(
                &path,
                &paint,
                &Stroke { width, dash, ..Default::default() },
                Transform::identity(),
                None,
            );
        }
        if opts.labels && !o.label.is_empty() && top.0.is_finite() {
            labels.push((o.label.clone(), top.1, top.0 - 8.0));
        }
    }
    labels
}

/// Draws the labels, the scale bar's length, the north arrow's N and the caption with the
/// bundled font.
fn draw_texts(img: &mut RgbaImage, labels: Vec<(String, f32, f32)>, opts: &RenderOptions, metres_per_px: f64) {
    let (w, h) = opts.size_px;
    let Ok(font) = FontRef::try_from_slice(CJK_FONT) else { return };
    let font = &font;
    for (text, x, y) in labels {
        let size = 16.0;
        let tw = text_width(font, &text, size);
        draw_text(img, font, &text, (x - tw / 2.0).max(2.0), y.max(size + 2.0), size, [255, 255, 0, 255]);
    }
    if opts.scale_bar {
        let (len_m, len_px) = nice_scale(metres_per_px);
        let label = if len_m >= 1000.0 { format!("{} km", len_m / 1000.0) } else { format!("{len_m} m") };
        draw_text(img, font, &label, 20.0 + len_px + 8.0, h as f32 - 14.0, 15.0, [255, 255, 255, 255]);
    }
    if opts.north_arrow {
        draw_text(img, font, "N", w as f32 - 31.0, 22.0, 16.0, [255, 255, 255, 255]);
    }
    if let Some(c) = &opts.caption {
        draw_text(img, font, c, 12.0, 24.0, 17.0, [255, 255, 255, 255]);
    }
}

/// The map's background where there is no imagery.
fn background(w: u32, h: u32) -> RgbaImage {
    RgbaImage::from_pixel(w, h, image::Rgba(BACKGROUND))
}

/// The background colour (opaque).
const BACKGROUND: [u8; 4] = [58, 58, 58, 255];

/// Composites straight-alpha RGBA over the background, in place.
fn over_background(rgba: &mut [u8]) {
    for p in rgba.chunks_exact_mut(4) {
        match p[3] {
            255 => {}
            0 => p.copy_from_slice(&BACKGROUND),
            a => {
                let a = u32::from(a);
                for c in 0..3 {
                    p[c] = ((u32::from(p[c]) * a + u32::from(BACKGROUND[c]) * (255 - a)) / 255) as u8;
                }
                p[3] = 255;
            }
        }
    }
}

/// The source's imagery covering `view` (normalised Mercator) at `w` × `h` over the background.
fn draw_imagery(
    src: &mut (dyn TileSource + 'static),
    view: [f64; 4],
    (w, h): (u32, u32),
) -> Result<RgbaImage, RenderError> {
    // Sources that resample in one step (rasters) render the view directly.
    let span = 2.0 * crate::imagery::MERC_HALF_M;
    let extent_m = [
        view[0] * span - span / 2.0,
        span / 2.0 - view[3] * span,
        view[2] * span - span / 2.0,
        span / 2.0 - view[1] * span,
    ];
    match src.render_view(extent_m, (w as usize, h as usize))? {
        ViewRender::Image(mut rgba) => {
            over_background(&mut rgba);
            return Ok(RgbaImage::from_raw(w, h, rgba).unwrap_or_else(|| background(w, h)));
        }
        ViewRender::Empty => return Ok(background(w, h)),
        ViewRender::Tiles => {}
    }
    let mut img = background(w, h);
    let z = ((f64::from(w) / ((view[2] - view[0]) * TILE_PX as f64)).log2().ceil()).clamp(0.0, 22.0) as u8;
    let n = f64::from(1u32 << z);
    let (tx0, ty0) = ((view[0] * n).floor().max(0.0) as u32, (view[1] * n).floor().max(0.0) as u32);
    let (tx1, ty1) =
        (((view[2] * n).ceil() as u32).min((1u32 << z) - 1), ((view[3] * n).ceil() as u32).min((1u32 << z) - 1));
    if (tx1 - tx0 + 1) * (ty1 - ty0 + 1) > 400 {
        return Ok(img);
    }
    let cw = (tx1 - tx0 + 1) * TILE_PX as u32;
    let ch = (ty1 - ty0 + 1) * TILE_PX as u32;
    let mut canvas = RgbaImage::new(cw, ch);
    let mut any = false;
    for ty in ty0..=ty1 {
        for tx in tx0..=tx1 {
            if let Some(rgba) = src.render(z, tx, ty)? {
                if let Some(tile) = RgbaImage::from_raw(TILE_PX as u32, TILE_PX as u32, rgba) {
                    image::imageops::overlay(
                        &mut canvas,
                        &tile,
                        i64::from((tx - tx0) * TILE_PX as u32),
                        i64::from((ty - ty0) * TILE_PX as u32),
                    );
                    any = true;
                }
            }
        }
    }
    if !any {
        return Ok(img);
    }
    // The view inside the canvas, in canvas pixels.
    let x0 = (view[0] * n - f64::from(tx0)) * TILE_PX as f64;
    let y0 = (view[1] * n - f64::from(ty0)) * TILE_PX as f64;
    let sx = (view[2] - view[0]) * n * TILE_PX as f64 / f64::from(w);
    let sy = (view[3] - view[1]) * n * TILE_PX as f64 / f64::from(h);
    for (px, py, out) in img.enumerate_pixels_mut() {
        let cx = x0 + (f64::from(px) + 0.5) * sx;
        let cy = y0 + (f64::from(py) + 0.5) * sy;
        if let Some(p) = sample(&canvas, cx, cy) {
            let a = u32::from(p[3]);
            for c in 0..3 {
                out[c] = ((u32::from(p[c]) * a + u32::from(out[c]) * (255 - a)) / 255) as u8;
            }
        }
    }
    Ok(img)
}

/// Bilinear sample of the canvas at (x, y) in pixel units.
fn sample(img: &RgbaImage, x: f64, y: f64) -> Option<[u8; 4]> {
    let (w, h) = img.dimensions();
    let (fx, fy) = (x - 0.5, y - 0.5);
    if fx < -0.5 || fy < -0.5 || fx > f64::from(w) - 0.5 || fy > f64::from(h) - 0.5 {
        return None;
    }
    let (x0, y0) = (fx.floor().max(0.0) as u32, fy.floor().max(0.0) as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (ax, ay) = ((fx - f64::from(x0)).clamp(0.0, 1.0), (fy - f64::from(y0)).clamp(0.0, 1.0));
    let p = |x, y| img.get_pixel(x, y).0;
    let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
    let mut out = [0u8; 4];
    for i in 0..4 {
        let top = f64::from(a[i]) * (1.0 - ax) + f64::from(b[i]) * ax;
        let bottom = f64::from(c[i]) * (1.0 - ax) + f64::from(d[i]) * ax;
        out[i] = (top * (1.0 - ay) + bottom * ay).round() as u8;
    }
    Some(out)
}

fn to_pixmap(img: RgbaImage) -> Option<Pixmap> {
    let (w, h) = img.dimensions();
    // The image is opaque here, so straight and premultiplied alpha agree.
    tiny_skia::IntSize::from_wh(w, h).and_then(|size| Pixmap::from_vec(img.into_raw(), size))
}

fn from_pixmap(p: Pixmap) -> RgbaImage {
    let (w, h) = (p.width(), p.height());
    RgbaImage::from_raw(w, h, p.take()).unwrap_or_default()
}

/// A round scale length near a quarter of 400 px: (metres, pixels).
fn nice_scale(metres_per_px: f64) -> (f64, f32) {
    let target = metres_per_px * 120.0;
    let pow = 10f64.powf(target.log10().floor());
    let len = [1.0, 2.0, 5.0, 10.0].into_iter().map(|k| k * pow).rfind(|v| *v <= target).unwrap_or(pow);
    (len, (len / metres_per_px) as f32)
}

fn draw_scale_bar(p: &mut Pixmap, metres_per_px: f64) {
    if !metres_per_px.is_finite() || metres_per_px <= 0.0 {
        return;
    }
    let (_, len_px) = nice_scale(metres_per_px);
    let h = p.height() as f32;
    let mut bg = Paint::default();
    bg.set_color_rgba8(0, 0, 0, 150);
    if let Some(r) = tiny_skia::Rect::from_xywh(10.0, h - 36.0, len_px + 80.0, 28.0) {
        p.fill_rect(r, &bg, Transform::identity(), None);
    }
    let mut white = Paint::default();
    white.set_color_rgba8(255, 255, 255, 255);
    for (x, y, w, hh) in
        [(20.0, h - 18.0, len_px, 3.0), (20.0, h - 25.0, 2.0, 10.0), (20.0 + len_px - 2.0, h - 25.0, 2.0, 10.0)]
    {
        if let Some(r) = tiny_skia::Rect::from_xywh(x, y, w, hh) {
            p.fill_rect(r, &white, Transform::identity(), None);
        }
    }
}

fn draw_north_arrow(p: &mut Pixmap) {
    let x = p.width() as f32 - 26.0;
    let mut pb = PathBuilder::new();
    pb.move_to(x, 28.0);
    pb.line_to(x + 10.0, 58.0);
    pb.line_to(x, 51.0);
    pb.line_to(x - 10.0, 58.0);
    pb.close();
    if let Some(path) = pb.finish() {
        let mut white = Paint::default();
        white.set_color_rgba8(255, 255, 255, 255);
        white.anti_alias = true;
        let mut dark = Paint::default();
        dark.set_color_rgba8(0, 0, 0, 180);
        dark.anti_alias = true;
        p.stroke_path(&path, &dark, &Stroke { width: 3.0, ..Default::default() }, Transform::identity(), None);
        p.fill_path(&path, &white, FillRule::Winding, Transform::identity(), None);
    }
}

fn text_width(font: &FontRef<'_>, text: &str, size: f32) -> f32 {
    let scaled = font.as_scaled(PxScale::from(size));
    text.chars().map(|c| scaled.h_advance(font.glyph_id(c))).sum()
}

/// Draws text with a dark halo; `y` is the baseline. The glyphs are rasterised once and their
/// coverage blended five times (the halo's four offsets, then the colour).
pub fn draw_text(img: &mut RgbaImage, font: &FontRef<'_>, text: &str, x: f32, y: f32, size: f32, rgba: [u8; 4]) {
    const HALO: [u8; 4] = [0, 0, 0, 200];
    let scale = PxScale::from(size);
    let scaled = font.as_scaled(scale);
    let mut pen = x;
    let mut coverage: Vec<(i32, i32, f32)> = Vec::new();
    for c in text.chars() {
        let id = font.glyph_id(c);
        let glyph = id.with_scale_and_position(scale, ab_glyph::point(pen, y));
        if let Some(outlined) = font.outline_glyph(glyph) {
            let b = outlined.px_bounds();
            outlined.draw(|gx, gy, cov| {
                if cov > 0.0 {
                    coverage.push((b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32, cov));
                }
            });
        }
        pen += scaled.h_advance(id);
    }
    let (w, h) = img.dimensions();
    for (dx, dy, color) in [(-1, 0, HALO), (1, 0, HALO), (0, -1, HALO), (0, 1, HALO), (0, 0, rgba)] {
        for &(gx, gy, cov) in &coverage {
            let (px, py) = (gx + dx, gy + dy);
            if px >= 0 && py >= 0 && (px as u32) < w && (py as u32) < h {
                let p = img.get_pixel_mut(px as u32, py as u32);
                let a = cov * f32::from(color[3]) / 255.0;
                for (dst, src) in p.0.iter_mut().zip(color).take(3) {
                    *dst = (f32::from(src) * a + f32::from(*dst) * (1.0 - a)) as u8;
                }
            }
        }
    }
}
