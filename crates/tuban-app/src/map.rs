//! The map: imagery tiles, patches filled and outlined by status, the current patch highlighted,
//! labels at close zoom, click to select, scale bar and cursor coordinates.

use egui::{Color32, Mesh, Pos2, Shape, Stroke, Ui};
use walkers::{lon_lat, Map, MapMemory, Projector};

use super::commands::{Command, Commands};
use super::state::{lonlat_of_merc01, merc01, ClueDraft, Workstation};
use super::theme;
use super::tiles::ImageryTiles;

/// Linear map from normalised Mercator to screen points for the current frame.
#[derive(Debug, Clone, Copy)]
pub struct ScreenTransform {
    scale: f64,
    origin: [f64; 2],
}

impl ScreenTransform {
    fn from_projector(p: &Projector) -> ScreenTransform {
        let center = p.clip_rect().center();
        let pos = p.unproject(center.to_vec2());
        let m = merc01(pos.x(), pos.y());
        let scale = 256.0 * 2f64.powf(p.zoom());
        ScreenTransform { scale, origin: [f64::from(center.x) - m[0] * scale, f64::from(center.y) - m[1] * scale] }
    }

    /// Screen points per normalised Mercator unit.
    pub fn scale(self) -> f64 {
        self.scale
    }

    /// A normalised Mercator point on the screen.
    pub fn to_screen(self, m: [f64; 2]) -> Pos2 {
        Pos2::new((self.origin[0] + m[0] * self.scale) as f32, (self.origin[1] + m[1] * self.scale) as f32)
    }

    /// The normalised Mercator point under a screen point.
    pub fn to_merc(self, p: Pos2) -> [f64; 2] {
        [(f64::from(p.x) - self.origin[0]) / self.scale, (f64::from(p.y) - self.origin[1]) / self.scale]
    }
}

/// The transform of the map drawn first in the last frame (the single map, or the left one):
/// lets a tool or a test place a lon/lat point on the screen.
pub fn last_transform(ctx: &egui::Context) -> Option<ScreenTransform> {
    ctx.data(|d| d.get_temp(egui::Id::unique("tuban_map_transform")))
}

/// Zoom level and centre that show `bbox` (normalised Mercator) in a view of `size` points.
pub fn fit_zoom(bbox: [f64; 4], size: egui::Vec2) -> (f64, [f64; 2]) {
    let w = (bbox[2] - bbox[0]).max(1e-9) * (1.0 + 2.0 * theme::FIT_MARGIN);
    let h = (bbox[3] - bbox[1]).max(1e-9) * (1.0 + 2.0 * theme::FIT_MARGIN);
    let zx = (f64::from(size.x.max(50.0)) / (256.0 * w)).log2();
    let zy = (f64::from(size.y.max(50.0)) / (256.0 * h)).log2();
    (zx.min(zy).clamp(2.0, 20.0), [(bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0])
}

/// What one map widget shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MapSources {
    /// One source over the whole map (or none).
    Single(Option<usize>),
    /// `left` left of the divider at `frac` of the width, `right` elsewhere.
    Swipe { left: Option<usize>, right: Option<usize>, frac: f32 },
}

/// Draws the tiles of `source` covering the view, clipped to `clip`.
fn paint_tiles(
    painter: &egui::Painter,
    tiles: &mut ImageryTiles,
    source: usize,
    t: ScreenTransform,
    zoom: f64,
    clip: egui::Rect,
) {
    let z = zoom.round().clamp(0.0, 24.0) as u8;
    let n = f64::from(1u32 << z);
    let a = t.to_merc(clip.min);
    let b = t.to_merc(clip.max);
    let (x0, y0) = ((a[0] * n).floor().max(0.0) as u32, (a[1] * n).floor().max(0.0) as u32);
    let (x1, y1) = (((b[0] * n).floor() as u32).min((1u32 << z) - 1), ((b[1] * n).floor() as u32).min((1u32 << z) - 1));
    if x1 < x0 || y1 < y0 || (x1 - x0 + 1) * (y1 - y0 + 1) > 600 {
        return;
    }
    let painter = painter.with_clip_rect(clip);
    for y in y0..=y1 {
        for x in x0..=x1 {
            let id = walkers::TileId { x, y, zoom: z };
            if let Some((tex, uv)) = tiles.texture(source, id) {
                let min = t.to_screen([f64::from(x) / n, f64::from(y) / n]);
                let max = t.to_screen([f64::from(x + 1) / n, f64::from(y + 1) / n]);
                painter.image(tex, egui::Rect::from_min_max(min, max), uv, Color32::WHITE);
            }
        }
    }
}

/// Asks for the tiles a patch will need when it is fitted in a view of `size` (prefetch).
pub fn prefetch(tiles: &mut ImageryTiles, source: usize, bbox: [f64; 4], size: egui::Vec2) {
    let (zoom, c) = fit_zoom(bbox, size);
    let z = zoom.round().clamp(0.0, 24.0) as u8;
    let n = f64::from(1u32 << z);
    let scale = 256.0 * 2f64.powf(zoom);
    let (hw, hh) = (f64::from(size.x) / 2.0 / scale, f64::from(size.y) / 2.0 / scale);
    let (x0, y0) = (((c[0] - hw) * n).floor().max(0.0) as u32, ((c[1] - hh) * n).floor().max(0.0) as u32);
    let (x1, y1) = (((c[0] + hw) * n).floor() as u32, ((c[1] + hh) * n).floor() as u32);
    if (x1.saturating_sub(x0) + 1) * (y1.saturating_sub(y0) + 1) > 64 {
        return;
    }
    for y in y0..=y1 {
        for x in x0..=x1 {
            tiles.prefetch(source, walkers::TileId { x, y, zoom: z });
        }
    }
}

/// Draws one map widget: imagery, patches, labels, scale bar, caption; `swipe` is updated when
/// the analyst drags the divider.
#[allow(clippy::too_many_arguments)]
pub fn map_ui(
    ui: &mut Ui,
    ws: &Workstation,
    tiles: Option<&mut ImageryTiles>,
    memory: &mut MapMemory,
    sources: MapSources,
    caption: String,
    swipe: &mut f32,
    lang: crate::i18n::Lang,
    cmds: &mut Commands,
) {
    if ws.fit_requested {
        fit_to_current(ws, memory, ui.available_size());
    }
    let start = ws.current.and_then(|i| ws.records[i].center_lonlat).unwrap_or((111.0, 35.0));
    let mut hover_lonlat = None;
    let drawing = ws.drawing.as_ref().is_some_and(|d| !d.finished);
    let sketching = ws.tool.as_ref().is_some_and(|t| t.kind.sketches());
    Map::new(None, memory, lon_lat(start.0, start.1)).double_click_to_zoom(!drawing && !sketching).show(
        ui,
        |ui, response, projector, _memory| {
            let t = ScreenTransform::from_projector(projector);
            let clip = projector.clip_rect();
            let pass = ui.ctx().cumulative_pass_nr();
            ui.ctx().data_mut(|d| {
                let id = egui::Id::unique("tuban_map_transform");
                // The first map of the frame wins (side by side: the left one).
                if d.get_temp::<u64>(id.with("pass")) != Some(pass) {
                    d.insert_temp(id.with("pass"), pass);
                    d.insert_temp(id, t);
                }
            });
            let painter = ui.painter().with_clip_rect(clip);
            if let Some(tiles) = tiles {
                paint_imagery(&painter, tiles, sources, t, projector.zoom(), clip);
            }
            super::reference::paint(&painter, ws, t, clip, projector.zoom(), lang);
            let labels = paint_patches(&painter, ws, t, clip);
            super::edit_map::paint_issued(&painter, ws, t);
            paint_photo_marks(&painter, &ws.photo_marks, t);
            paint_labels(&painter, labels);
            if let MapSources::Swipe { frac, .. } = sources {
                swipe_divider_ui(ui, &painter, clip, frac, swipe);
            }
            if let Some(d) = ws.drawing.as_ref() {
                paint_clue(&painter, d, t, response.hover_pos());
            }
            let tool_took = !drawing && super::edit_map::tool_ui(ui, ws, response, &painter, t, lang, cmds);
            if drawing {
                clue_clicks(response, t, cmds);
            } else if !tool_took {
                select_click(ws, response, t, cmds);
            }
            super::edit_map::paint_geometry_error(&painter, ws, clip);
            if let Some(p) = response.hover_pos() {
                hover_lonlat = Some(lonlat_of_merc01(t.to_merc(p)));
            }
            paint_scale_bar(&painter, projector, clip);
            paint_caption(&painter, clip, caption);
        },
    );
    if let Some((lon, lat)) = hover_lonlat {
        ui.ctx().data_mut(|d| d.insert_temp(egui::Id::unique("cursor_lonlat"), (lon, lat)));
    }
}

/// Zooms the map memory to the current patch (a point clue to a fixed close zoom).
fn fit_to_current(ws: &Workstation, memory: &mut MapMemory, size: egui::Vec2) {
    let Some(shape) = ws.current.and_then(|i| ws.shapes.get(i)) else { return };
    let (zoom, centre) = fit_zoom(shape.bbox, size);
    let (lon, lat) = lonlat_of_merc01(centre);
    let zoom = if shape.is_point { 17.0 } else { zoom };
    let _ = memory.set_zoom(zoom);
    memory.center_at(lon_lat(lon, lat));
}

/// The imagery of one source, or two either side of the swipe divider.
fn paint_imagery(
    painter: &egui::Painter,
    tiles: &mut ImageryTiles,
    sources: MapSources,
    t: ScreenTransform,
    zoom: f64,
    clip: egui::Rect,
) {
    match sources {
        MapSources::Single(Some(s)) => paint_tiles(painter, tiles, s, t, zoom, clip),
        MapSources::Single(None) => {}
        MapSources::Swipe { left, right, frac } => {
            let x = clip.left() + clip.width() * frac;
            if let Some(r) = right {
                paint_tiles(painter, tiles, r, t, zoom, egui::Rect::from_min_max(egui::pos2(x, clip.top()), clip.max));
            }
            if let Some(l) = left {
                paint_tiles(
                    painter,
                    tiles,
                    l,
                    t,
                    zoom,
                    egui::Rect::from_min_max(clip.min, egui::pos2(x, clip.bottom())),
                );
            }
        }
    }
}

/// A label to draw over the patches: position, text, current patch.
type Label = (Pos2, String, bool);

/// Fills and outlines the patches in view by status, the current one outlined only; returns
/// the labels to draw on top.
fn paint_patches(painter: &egui::Painter, ws: &Workstation, t: ScreenTransform, clip: egui::Rect) -> Vec<Label> {
    let view_min = t.to_merc(clip.min);
    let view_max = t.to_merc(clip.max);
    let mut fill = Mesh::default();
    let mut dots = DotList::new(clip, painter.pixels_per_point());
    let mut outlines: Vec<Shape> = Vec::new();
    let mut labels = Vec::new();
    let statuses = ws.statuses();
    for (i, shape) in ws.shapes.iter().enumerate() {
        let b = shape.bbox;
        if b[2] < view_min[0]
            || b[0] > view_max[0]
            || b[3] < view_min[1]
            || b[1] > view_max[1]
            || shape.verts.is_empty()
        {
            continue;
        }
        let status = statuses[i];
        let current = ws.current == Some(i);
        let size_px = ((b[2] - b[0]).max(b[3] - b[1]) * t.scale) as f32;
        if shape.is_point || size_px < 3.0 {
            let p = t.to_screen([(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0]);
            if current {
                outlines.push(Shape::circle_stroke(p, 10.0, Stroke::new(theme::CURRENT_WIDTH, theme::CURRENT_STROKE)));
            }
            if shape.is_point {
                outlines.push(Shape::circle_filled(p, 6.0, theme::status_stroke(status)));
            } else {
                dots.push(p, theme::status_stroke(status));
            }
            continue;
        }
        // The current patch is outlined only: the analyst must see the imagery inside it.
        let base = fill.vertices.len() as u32;
        let color = if current { Color32::TRANSPARENT } else { theme::status_fill(status) };
        for v in &shape.verts {
            fill.colored_vertex(t.to_screen(*v), color);
        }
        fill.indices.extend(shape.triangles.iter().map(|&k| base + k));
        let stroke = if current {
            Stroke::new(theme::CURRENT_WIDTH, theme::CURRENT_STROKE)
        } else {
            Stroke::new(theme::OUTLINE_WIDTH, theme::status_stroke(status))
        };
        for ring in &shape.rings {
            let pts: Vec<Pos2> =
                shape.verts[ring.start as usize..ring.end as usize].iter().map(|v| t.to_screen(*v)).collect();
            outlines.push(Shape::closed_line(pts, stroke));
        }
        if size_px > 40.0 || current {
            labels.push((t.to_screen([(b[0] + b[2]) / 2.0, b[1]]), ws.records[i].key.clone(), current));
        }
    }
    painter.add(Shape::mesh(fill));
    dots.paint(painter);
    painter.extend(outlines);
    labels
}

/// Patches smaller than a few pixels, each a 3-point square, drawn into one image over the
/// squares' extent and painted as one textured rectangle: at county zoom 100,000 patches are
/// tens of thousands of squares, which a mesh makes twice as many triangles for the rasteriser
/// (55 ms a frame on a software renderer) while the image costs one upload when a square moves or
/// changes colour and nothing when the view stands still.
struct DotList {
    clip: egui::Rect,
    pixels_per_point: f32,
    size_px: [usize; 2],
    /// Top-left pixel of each square and its colour.
    dots: Vec<(u32, u32, Color32)>,
}

/// The image of the last [`DotList`] a map painted, kept in egui's memory with what it shows.
#[derive(Clone)]
struct DotTexture {
    texture: egui::TextureHandle,
    key: u64,
}

impl DotList {
    fn new(clip: egui::Rect, pixels_per_point: f32) -> DotList {
        let size = clip.size() * pixels_per_point;
        DotList {
            clip,
            pixels_per_point,
            size_px: [size.x.ceil().max(1.0) as usize, size.y.ceil().max(1.0) as usize],
            dots: Vec::new(),
        }
    }

    /// Side of a square in pixels.
    fn side_px(&self) -> u32 {
        (3.0 * self.pixels_per_point).round().max(1.0) as u32
    }

    /// A square centred on `p` (screen points); outside the map it is left out.
    fn push(&mut self, p: Pos2, color: Color32) {
        let half = 1.5 * self.pixels_per_point;
        let x = ((p.x - self.clip.min.x) * self.pixels_per_point - half).round();
        let y = ((p.y - self.clip.min.y) * self.pixels_per_point - half).round();
        let side = self.side_px() as f32;
        if x <= -side || y <= -side || x >= self.size_px[0] as f32 || y >= self.size_px[1] as f32 {
            return;
        }
        // A square reaching over the left or top edge starts at the edge, one pixel smaller.
        self.dots.push((x.max(0.0) as u32, y.max(0.0) as u32, color));
    }

    /// What the image shows: its size and every square with its colour (FxHash's mixing step:
    /// a frame's 50,000 squares in a tenth of a millisecond, where SipHash took a millisecond).
    fn key(&self) -> u64 {
        let mix = |h: u64, v: u64| (h.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
        let head = mix(mix(self.size_px[0] as u64, self.size_px[1] as u64), u64::from(self.side_px()));
        self.dots.iter().fold(head, |h, (x, y, c)| {
            mix(h, u64::from(*x) | u64::from(*y) << 16 | u64::from(u32::from_le_bytes(c.to_array())) << 32)
        })
    }

    /// The pixel box the squares cover: `[x0, y0, x1, y1)`, within the map.
    fn extent_px(&self) -> [usize; 4] {
        let side = self.side_px() as usize;
        let [w, h] = self.size_px;
        self.dots.iter().fold([w, h, 0, 0], |[x0, y0, x1, y1], &(x, y, _)| {
            let (x, y) = (x as usize, y as usize);
            [x0.min(x), y0.min(y), x1.max((x + side).min(w)), y1.max((y + side).min(h))]
        })
    }

    /// The image of the squares over `extent` ([`DotList::extent_px`]; no larger: every pixel
    /// of it is blended on each frame).
    fn image(&self, [x0, y0, x1, y1]: [usize; 4]) -> egui::ColorImage {
        let (w, h) = (x1 - x0, y1 - y0);
        let mut img = egui::ColorImage::filled([w, h], Color32::TRANSPARENT);
        let side = self.side_px() as usize;
        for &(x, y, c) in &self.dots {
            let (x, y) = (x as usize - x0, y as usize - y0);
            for row in y..(y + side).min(h) {
                img.pixels[row * w + x..row * w + (x + side).min(w)].fill(c);
            }
        }
        img
    }

    /// Paints the squares: the image of the last frame when nothing moved, else a new one.
    fn paint(self, painter: &egui::Painter) {
        if self.dots.is_empty() {
            return;
        }
        let ctx = painter.ctx();
        let id = egui::Id::unique("tuban_map_dots").with(painter.layer_id()).with(self.clip.min.x as i32);
        let key = self.key();
        let extent = self.extent_px();
        let texture = match ctx.data(|d| d.get_temp::<DotTexture>(id)) {
            Some(cached) if cached.key == key => cached.texture,
            Some(mut cached) => {
                cached.texture.set(self.image(extent), egui::TextureOptions::NEAREST);
                let texture = cached.texture.clone();
                ctx.data_mut(|d| d.insert_temp(id, DotTexture { key, ..cached }));
                texture
            }
            None => {
                let texture = ctx.load_texture("map dots", self.image(extent), egui::TextureOptions::NEAREST);
                ctx.data_mut(|d| d.insert_temp(id, DotTexture { texture: texture.clone(), key }));
                texture
            }
        };
        let [x0, y0, x1, y1] = extent.map(|v| v as f32 / self.pixels_per_point);
        let rect = egui::Rect::from_min_max(self.clip.min + egui::vec2(x0, y0), self.clip.min + egui::vec2(x1, y1));
        let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
        painter.image(texture.id(), rect, uv, Color32::WHITE);
    }
}

/// Field photos of the current patch: a marker with the direction the camera looked.
fn paint_photo_marks(painter: &egui::Painter, marks: &[(f64, f64, Option<f64>)], t: ScreenTransform) {
    for (lon, lat, bearing) in marks {
        let p = t.to_screen(merc01(*lon, *lat));
        if let Some(b) = bearing {
            let a = (*b as f32).to_radians();
            let tip = p + egui::vec2(a.sin(), -a.cos()) * 22.0;
            painter.line_segment([p, tip], Stroke::new(3.0, Color32::from_rgb(255, 140, 0)));
        }
        painter.circle(p, 6.0, Color32::from_rgb(255, 140, 0), Stroke::new(2.0, Color32::WHITE));
    }
}

fn paint_labels(painter: &egui::Painter, labels: Vec<Label>) {
    for (pos, text, current) in labels {
        let font = egui::FontId::proportional(if current { 14.0 } else { 12.0 });
        let color = if current { theme::CURRENT_STROKE } else { Color32::WHITE };
        let galley = painter.layout_no_wrap(text, font, color);
        let rect = egui::Rect::from_center_size(pos - egui::vec2(0.0, galley.size().y), galley.size()).expand(2.0);
        painter.rect_filled(rect, 3.0, Color32::from_black_alpha(150));
        painter.galley(rect.min + egui::vec2(2.0, 2.0), galley, color);
    }
}

/// The swipe divider at `frac` of the width; dragging it updates `swipe`.
fn swipe_divider_ui(ui: &mut Ui, painter: &egui::Painter, clip: egui::Rect, frac: f32, swipe: &mut f32) {
    let x = clip.left() + clip.width() * frac;
    let handle = egui::Rect::from_center_size(egui::pos2(x, clip.center().y), egui::vec2(16.0, clip.height()));
    let r = ui.interact(handle, ui.scope_id().with("swipe_divider"), egui::Sense::drag());
    if r.dragged() {
        if let Some(p) = r.interact_pointer_pos() {
            *swipe = ((p.x - clip.left()) / clip.width()).clamp(0.02, 0.98);
        }
    }
    painter.line_segment([egui::pos2(x, clip.top()), egui::pos2(x, clip.bottom())], Stroke::new(3.0, Color32::WHITE));
    painter.circle_filled(egui::pos2(x, clip.center().y), 10.0, Color32::WHITE);
    painter.text(
        egui::pos2(x, clip.center().y),
        egui::Align2::CENTER_CENTER,
        "⇔",
        egui::FontId::proportional(14.0),
        Color32::BLACK,
    );
}

/// A clue being drawn: its vertices, edges and the edge to the cursor.
fn paint_clue(painter: &egui::Painter, d: &ClueDraft, t: ScreenTransform, hover: Option<Pos2>) {
    let pts: Vec<Pos2> = d.vertices.iter().map(|(lon, lat)| t.to_screen(merc01(*lon, *lat))).collect();
    let pen = Stroke::new(2.5, theme::CLUE_STROKE);
    for w in pts.windows(2) {
        painter.line_segment([w[0], w[1]], pen);
    }
    if let (Some(last), Some(hover)) = (pts.last(), hover.filter(|_| !d.finished && d.polygon)) {
        painter.line_segment([*last, hover], Stroke::new(1.5, theme::CLUE_STROKE));
        if let Some(first) = pts.first().filter(|_| pts.len() >= 2) {
            painter.add(Shape::dashed_line(&[hover, *first], Stroke::new(1.0, theme::CLUE_STROKE), 6.0, 4.0));
        }
    }
    if d.finished && d.polygon && pts.len() >= 3 {
        painter.line_segment([pts[pts.len() - 1], pts[0]], pen);
    }
    for p in &pts {
        painter.circle(*p, 5.0, theme::CLUE_STROKE, Stroke::new(1.5, Color32::BLACK));
    }
}

/// While drawing a clue: a click adds a vertex, a double click finishes.
fn clue_clicks(response: &egui::Response, t: ScreenTransform, cmds: &mut Commands) {
    if response.double_clicked() {
        cmds.push(Command::FinishClue);
    } else if response.clicked() {
        if let Some(p) = response.interact_pointer_pos() {
            let (lon, lat) = lonlat_of_merc01(t.to_merc(p));
            cmds.push(Command::ClueVertex(lon, lat));
        }
    }
}

/// A click selects the patch under the cursor, or the nearest point or tiny patch within 10 px.
fn select_click(ws: &Workstation, response: &egui::Response, t: ScreenTransform, cmds: &mut Commands) {
    if !response.clicked() {
        return;
    }
    let Some(p) = response.interact_pointer_pos() else { return };
    let m = t.to_merc(p);
    let hit = ws.shapes.iter().position(|s| s.contains(m)).or_else(|| {
        ws.shapes
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_point || ((s.bbox[2] - s.bbox[0]) * t.scale) < 3.0)
            .map(|(i, s)| (i, t.to_screen([(s.bbox[0] + s.bbox[2]) / 2.0, (s.bbox[1] + s.bbox[3]) / 2.0]).distance(p)))
            .filter(|(_, d)| *d < 10.0)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    });
    match hit {
        Some(i) => cmds.push(Command::Select(i)),
        None => {
            // Outside every patch: the attributes of a reference feature there, if any.
            let (lon, lat) = lonlat_of_merc01(m);
            cmds.push(Command::PickReference(lon, lat));
        }
    }
}

/// Scale bar: a round length near 100 points wide, bottom left.
fn paint_scale_bar(painter: &egui::Painter, projector: &Projector, clip: egui::Rect) {
    let centre = projector.unproject(clip.center().to_vec2());
    let px_per_m = projector.scale_pixel_per_meter(centre);
    if px_per_m <= 0.0 {
        return;
    }
    let target_m = 100.0 / px_per_m;
    let pow = 10f32.powf(target_m.log10().floor());
    let nice = [1.0, 2.0, 5.0, 10.0].into_iter().map(|k: f32| k * pow).rfind(|v| *v <= target_m).unwrap_or(pow);
    let label = if nice >= 1000.0 { format!("{} km", nice / 1000.0) } else { format!("{nice} m") };
    let w = nice * px_per_m;
    let bar_origin = clip.left_bottom() + egui::vec2(12.0, -14.0);
    painter.rect_filled(
        egui::Rect::from_min_size(bar_origin - egui::vec2(4.0, 22.0), egui::vec2(w + 60.0, 30.0)),
        3.0,
        Color32::from_black_alpha(140),
    );
    painter.line_segment([bar_origin, bar_origin + egui::vec2(w, 0.0)], Stroke::new(3.0, Color32::WHITE));
    for x in [0.0, w] {
        painter.line_segment(
            [bar_origin + egui::vec2(x, -6.0), bar_origin + egui::vec2(x, 0.0)],
            Stroke::new(2.0, Color32::WHITE),
        );
    }
    painter.text(
        bar_origin + egui::vec2(w + 6.0, 0.0),
        egui::Align2::LEFT_BOTTOM,
        label,
        egui::FontId::proportional(12.0),
        Color32::WHITE,
    );
}

/// The caption, top left.
fn paint_caption(painter: &egui::Painter, clip: egui::Rect, caption: String) {
    let pos = clip.left_top() + egui::vec2(10.0, 10.0);
    let galley = painter.layout_no_wrap(caption, egui::FontId::proportional(15.0), Color32::WHITE);
    painter.rect_filled(egui::Rect::from_min_size(pos, galley.size()).expand(5.0), 4.0, Color32::from_black_alpha(160));
    painter.galley(pos, galley, Color32::WHITE);
}

/// The cursor position text for the status bar: CGCS2000 lon/lat and the 3-degree GK zone.
pub fn cursor_text(ctx: &egui::Context, gk: &mut tuban_core::gk::GkProjector) -> Option<String> {
    let (lon, lat): (f64, f64) = ctx.data(|d| d.get_temp(egui::Id::unique("cursor_lonlat")))?;
    let mut text = format!("{lon:.6}°E {lat:.6}°N");
    if let Some((epsg, x, y)) = gk.project(lon, lat) {
        text.push_str(&format!("  EPSG:{epsg} X={x:.1} Y={y:.1}"));
    }
    Some(text)
}
