//! Workstation benchmark (not a test): a project of 100,000 patches (the import benchmark's data):
//! time to open, CPU frame time at 1920×1080 (UI + tessellation) at full extent and at patch zoom
//! while panning, time from a key press to the next patch drawn, time from releasing a dragged
//! vertex to the saved, re-tessellated patch drawn, the full-extent frame over the county's
//! imagery painted end to end (egui_glow, the window's renderer, and egui-wgpu, its fallback, on
//! this machine's software renderer, with what one full-screen rectangle costs each) beside QGIS's
//! map renderer on the same patches in the same run, and resident memory.
//!
//! Run: `cargo bench --bench workstation [-- N_PATCHES] [--painted-only]`; `TUBAN_DRAWS=1` prints
//! every draw of the OpenGL frames (texture, clip rectangle, triangles, area) on stderr.

#[path = "../../../benches/common/mod.rs"]
mod common;

use std::time::Instant;

use egui::{Event, Key, Pos2, RawInput, Rect};
use egui_wgpu::wgpu;
use tuban_app::{Prefs, TubanApp};

fn frame(ctx: &egui::Context, app: &mut TubanApp, events: Vec<Event>) -> f64 {
    let raw = RawInput {
        screen_rect: Some(Rect::from_min_size(Pos2::ZERO, egui::vec2(1920.0, 1080.0))),
        events,
        ..Default::default()
    };
    let t = Instant::now();
    let out = ctx.run_ui(raw, |ui| app.frame_ui(ui));
    let prims = ctx.tessellate(out.shapes, out.pixels_per_point);
    std::hint::black_box(prims);
    t.elapsed().as_secs_f64() * 1000.0
}

/// What a painted frame shows.
#[derive(Clone, Copy)]
enum Scene {
    /// The window on the project.
    App,
    /// One opaque rectangle over the whole frame: what the renderer's fill rate alone costs.
    FullScreenRect,
    /// Nothing but the clear: what a frame costs the renderer before it draws anything.
    Clear,
}

impl Scene {
    fn run(self, ctx: &egui::Context, app: &mut TubanApp, size_px: [u32; 2]) -> egui::FullOutput {
        let raw = RawInput {
            screen_rect: Some(Rect::from_min_size(Pos2::ZERO, egui::vec2(size_px[0] as f32, size_px[1] as f32))),
            ..Default::default()
        };
        match self {
            Scene::App => ctx.run_ui(raw, |ui| app.frame_ui(ui)),
            Scene::FullScreenRect => ctx.run_ui(raw, |ui| {
                ui.painter().rect_filled(ui.max_rect(), 0.0, egui::Color32::from_rgb(40, 100, 100));
            }),
            Scene::Clear => ctx.run_ui(raw, |_| {}),
        }
    }
}

/// The window's clear colour for wgpu (egui's colours are gamma-space, as the target is).
fn clear_wgpu(ctx: &egui::Context) -> wgpu::Color {
    let [r, g, b, a] = TubanApp::clear_color(&ctx.global_style().visuals).map(f64::from);
    wgpu::Color { r, g, b, a }
}

/// Paints egui frames with egui-wgpu, as eframe does, into a persistent 1920×1080 target on the
/// machine's software adapter, and copies each frame into a mapped buffer (what presenting a
/// frame to a window costs at least). Times each stage.
struct FramePainter {
    rs: egui_wgpu::RenderState,
    target: wgpu::Texture,
    view: wgpu::TextureView,
    readback: wgpu::Buffer,
    size_px: [u32; 2],
}

/// Milliseconds of one painted frame by stage: UI, tessellation, upload + render + wait, read back.
#[derive(Default, Clone, Copy)]
struct Stages {
    ui: f64,
    tessellate: f64,
    render: f64,
    read_back: f64,
}

impl Stages {
    fn total(self) -> f64 {
        self.ui + self.tessellate + self.render + self.read_back
    }
}

impl FramePainter {
    fn new(size_px: [u32; 2]) -> anyhow::Result<FramePainter> {
        let rs = std::panic::catch_unwind(|| {
            egui_kittest::wgpu::create_render_state(
                egui_kittest::wgpu::default_wgpu_setup(),
                egui_wgpu::RendererOptions { dithering: false, ..Default::default() },
            )
        })
        .map_err(|_| anyhow::anyhow!("no wgpu adapter to paint with (is mesa-vulkan-drivers installed?)"))?;
        let info = rs.adapter.get_info();
        println!("painting with: {} ({:?}, {:?})", info.name, info.device_type, info.backend);
        let target = rs.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("frame"),
            size: wgpu::Extent3d { width: size_px[0], height: size_px[1], depth_or_array_layers: 1 },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: rs.target_format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let view = target.create_view(&wgpu::TextureViewDescriptor::default());
        let readback = rs.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("frame read back"),
            size: u64::from(size_px[0] * 4) * u64::from(size_px[1]),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(FramePainter { rs, target, view, readback, size_px })
    }

    /// One frame: the app's UI, its shapes tessellated, textures and buffers uploaded, the render
    /// pass drawn and waited for, the frame copied out; returns the stages and a checksum of the
    /// pixels (so nothing is optimised away, and a blank frame is seen).
    fn frame(&mut self, ctx: &egui::Context, app: &mut TubanApp, scene: Scene) -> anyhow::Result<(Stages, u64)> {
        let mut st = Stages::default();
        let t = Instant::now();
        let out = scene.run(ctx, app, self.size_px);
        st.ui = ms(t);
        let t = Instant::now();
        let prims = ctx.tessellate(out.shapes, out.pixels_per_point);
        st.tessellate = ms(t);
        let t = Instant::now();
        let (device, queue) = (&self.rs.device, &self.rs.queue);
        let screen =
            egui_wgpu::ScreenDescriptor { size_in_pixels: self.size_px, pixels_per_point: out.pixels_per_point };
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("frame") });
        {
            let mut renderer = self.rs.renderer.write();
            for (id, deltas) in &out.textures_delta.set {
                for delta in deltas {
                    renderer.update_texture(device, queue, *id, delta);
                }
            }
            let user = renderer.update_buffers(device, queue, &mut encoder, &prims, &screen);
            {
                let mut pass = encoder
                    .begin_render_pass(&wgpu::RenderPassDescriptor {
                        label: Some("egui"),
                        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                            view: &self.view,
                            resolve_target: None,
                            ops: wgpu::Operations {
                                load: wgpu::LoadOp::Clear(clear_wgpu(ctx)),
                                store: wgpu::StoreOp::Store,
                            },
                            depth_slice: None,
                        })],
                        ..Default::default()
                    })
                    .forget_lifetime();
                renderer.render(&mut pass, &prims, &screen);
            }
            queue.submit(user.into_iter().chain(std::iter::once(encoder.finish())));
            for id in &out.textures_delta.free {
                renderer.free_texture(id);
            }
        }
        device
            .poll(wgpu::PollType::Wait { submission_index: None, timeout: Some(std::time::Duration::from_secs(10)) })
            .map_err(|e| anyhow::anyhow!("painting did not finish: {e}"))?;
        st.render = ms(t);
        let t = Instant::now();
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("copy") });
        encoder.copy_texture_to_buffer(
            self.target.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &self.readback,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(self.size_px[0] * 4),
                    rows_per_image: None,
                },
            },
            wgpu::Extent3d { width: self.size_px[0], height: self.size_px[1], depth_or_array_layers: 1 },
        );
        queue.submit(std::iter::once(encoder.finish()));
        let slice = self.readback.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| drop(tx.send(r)));
        device
            .poll(wgpu::PollType::Wait { submission_index: None, timeout: Some(std::time::Duration::from_secs(10)) })
            .map_err(|e| anyhow::anyhow!("read back did not finish: {e}"))?;
        rx.recv_timeout(std::time::Duration::from_secs(10))??;
        let sum = {
            let data = slice.get_mapped_range().map_err(|e| anyhow::anyhow!("read back: {e:?}"))?;
            data.chunks_exact(8)
                .fold(0u64, |a, c| a.wrapping_add(u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])))
        };
        self.readback.unmap();
        st.read_back = ms(t);
        Ok((st, sum))
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Opens the project in a fresh window state and measures 20 painted full-extent frames with
/// `frame`; prints the figures and returns the p50.
fn painted_with(
    project: &std::path::Path,
    name: &str,
    mut frame: impl FnMut(&egui::Context, &mut TubanApp, Scene) -> anyhow::Result<(Stages, u64)>,
) -> anyhow::Result<f64> {
    let mut app = TubanApp::new(Prefs::default(), Some(project.to_path_buf()));
    // As the window: the painter clears to the panels' colour.
    app.set_clear_is_panel_fill(true);
    let ctx = egui::Context::default();
    // The first frames fit the map to the current patch; then the whole county.
    for _ in 0..3 {
        frame(&ctx, &mut app, Scene::App)?;
    }
    let _ = app.map_memory_mut().set_zoom(10.5);
    app.map_memory_mut().center_at(walkers::lon_lat(111.0, 41.6));
    // Warm-up until the imagery tiles have arrived: the same pixels five frames running
    // (at most 10 s).
    let (mut last, mut same) = (0u64, 0);
    let warm = Instant::now();
    while same < 5 && warm.elapsed().as_secs() < 10 {
        let sum = frame(&ctx, &mut app, Scene::App)?.1;
        same = if sum == last { same + 1 } else { 0 };
        last = sum;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut sums = std::collections::HashSet::new();
    let mut stages = Vec::new();
    for _ in 0..20 {
        let (st, sum) = frame(&ctx, &mut app, Scene::App)?;
        sums.insert(sum);
        stages.push(st);
    }
    let pick = |f: fn(&Stages) -> f64| stats(stages.iter().map(f).collect());
    let (p50, p95) = pick(|s| s.total());
    println!("frame at full extent, painted ({name}): p50 {p50:.1} ms  p95 {p95:.1} ms   (target <= 16 ms; software renderer, 1920x1080, read back)");
    println!(
        "  of which (p50): UI {:.1} ms, tessellation {:.1} ms, upload + render {:.1} ms, read back {:.1} ms",
        pick(|s| s.ui).0,
        pick(|s| s.tessellate).0,
        pick(|s| s.render).0,
        pick(|s| s.read_back).0
    );
    anyhow::ensure!(!sums.contains(&0), "a painted frame was all zero");
    let rect: Vec<f64> = (0..10)
        .map(|_| frame(&ctx, &mut app, Scene::FullScreenRect).map(|(st, _)| st.render))
        .collect::<anyhow::Result<_>>()?;
    let clear: Vec<f64> =
        (0..10).map(|_| frame(&ctx, &mut app, Scene::Clear).map(|(st, _)| st.render)).collect::<anyhow::Result<_>>()?;
    println!(
        "  one opaque rectangle over the whole frame ({name}): upload + render p50 {:.1} ms (the fill rate alone); the clear alone {:.1} ms",
        stats(rect).0,
        stats(clear).0
    );
    Ok(p50)
}

/// The full-extent frame painted end to end (UI, tessellation, egui-wgpu on this machine's
/// software adapter, read back), beside QGIS's map renderer drawing the same patches into a
/// 1920×1080 image in the same run (`../shared/peers/qgis_atlas.py render`).
fn painted(project: &std::path::Path, shp: &std::path::Path) -> anyhow::Result<()> {
    // The window's renderer first (OpenGL), then wgpu, its fallback, for comparison.
    let glow = match GlowPainter::new([1920, 1080]) {
        Ok(mut g) => Some(painted_with(project, "egui_glow", |ctx, app, scene| g.frame(ctx, app, scene))?),
        Err(e) => {
            println!("egui_glow: no OpenGL context ({e})");
            None
        }
    };
    let mut wgpu_painter = FramePainter::new([1920, 1080])?;
    let wgpu = painted_with(project, "egui-wgpu", |ctx, app, scene| wgpu_painter.frame(ctx, app, scene))?;
    let p50 = glow.unwrap_or(wgpu);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/peers/qgis_atlas.py");
    let peer = std::process::Command::new("/usr/bin/python3")
        .arg(&script)
        .args(["render"])
        .arg(shp)
        .args(["--runs", "3", "--mode", "parallel", "--out", "/tmp/tuban_bench_qgis_render.png"])
        .env("QT_QPA_PLATFORM", "offscreen")
        .env("GDAL_PAM_ENABLED", "NO")
        .output();
    let text = peer.map(|o| String::from_utf8_lossy(&o.stdout).to_string()).unwrap_or_default();
    let median_s = text
        .lines()
        .find(|l| l.starts_with("RESULT task=qgis_render_all"))
        .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("median_s=")))
        .and_then(|v| v.parse::<f64>().ok());
    match median_s {
        Some(s) => println!(
            "QGIS map renderer, same patches (no imagery), same run: {:.1} ms (parallel job, median of 3); ratio QGIS/tuban painted {:.1}",
            s * 1000.0,
            s * 1000.0 / p50
        ),
        None => println!("QGIS map renderer: not run (PyQGIS or {} missing)", script.display()),
    }
    Ok(())
}

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[(v.len() * 95 / 100).min(v.len() - 1)])
}

/// Registers a GeoTIFF over the whole county (the patches' 60 km square, 8 m pixels, JPEG, tiled,
/// with overviews) as the project's imagery unless it has some: the full-extent frame paints
/// imagery under the patches, as an analyst's does.
fn with_county_imagery(project: &std::path::Path) -> anyhow::Result<()> {
    let mut p = tuban_core::store::Project::open(project, tuban_core::store::Access::ReadWrite)?;
    if !p.imagery()?.is_empty() {
        return Ok(());
    }
    let tif = project.with_file_name("workstation_county_8m.tif");
    if !tif.exists() {
        let t = Instant::now();
        common::generate_raster_over(&tif, 0, (469_800.0, 4_640_200.0), 8.0, 7_600)?;
        println!("generated {} in {:.1} s", tif.display(), t.elapsed().as_secs_f64());
    }
    let spec = tuban_core::imagery::SourceSpec::Raster { path: tif, style: Default::default() };
    p.add_imagery("county", &spec, None, "")?;
    Ok(())
}

fn key(k: Key) -> Event {
    Event::Key { key: k, physical_key: None, pressed: true, repeat: false, modifiers: egui::Modifiers::NONE }
}

fn main() -> anyhow::Result<()> {
    let n: usize =
        std::env::args().skip(1).find(|a| !a.starts_with('-')).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let shp = common::shapefile(n)?;
    let project = shp.with_file_name(format!("workstation_{n}.gpkg"));
    if !project.exists() {
        common::project_of(&project, &shp)?;
    }
    with_county_imagery(&project)?;
    if std::env::args().any(|a| a == "--painted-only") {
        return painted(&project, &shp);
    }
    let t = Instant::now();
    let mut app = TubanApp::new(Prefs::default(), Some(project.clone()));
    app.set_clear_is_panel_fill(true);
    let open_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(app.ws.is_some(), "project did not open");
    let ctx = egui::Context::default();
    // Warm-up: fonts, first layout.
    for _ in 0..3 {
        frame(&ctx, &mut app, vec![]);
    }
    // Full extent: the whole county (~60 km) in view.
    let _ = app.map_memory_mut().set_zoom(10.5);
    app.map_memory_mut().center_at(walkers::lon_lat(111.0, 41.6));
    let full: Vec<f64> = (0..40).map(|_| frame(&ctx, &mut app, vec![])).collect();
    // Township zoom (~8 km across): thousands of patches drawn as polygons.
    let _ = app.map_memory_mut().set_zoom(13.5);
    let mid: Vec<f64> = (0..40).map(|_| frame(&ctx, &mut app, vec![])).collect();
    // Patch zoom, panning a little every frame.
    frame(&ctx, &mut app, vec![key(Key::F)]);
    frame(&ctx, &mut app, vec![]);
    let mut pan = Vec::new();
    for i in 0..60 {
        let ws = app
            .ws
            .as_ref()
            .and_then(|w| w.current.map(|c| w.records[c].center_lonlat))
            .flatten()
            .unwrap_or((111.0, 41.6));
        app.map_memory_mut().center_at(walkers::lon_lat(ws.0 + f64::from(i) * 0.00005, ws.1));
        pan.push(frame(&ctx, &mut app, vec![]));
    }
    // Key press to the next patch drawn: the frame that applies the key and the frame that draws it.
    let mut next = Vec::new();
    for _ in 0..30 {
        let a = frame(&ctx, &mut app, vec![key(Key::ArrowRight)]);
        let b = frame(&ctx, &mut app, vec![]);
        next.push(a + b);
    }
    // Releasing a dragged vertex to the saved, re-tessellated patch drawn: the command applied
    // (model check, store transaction with fsync, audit rows, the patch prepared again) and the
    // next frame. The vertex goes a tenth of the way towards the centre and back.
    frame(&ctx, &mut app, vec![key(Key::E)]);
    let mut release = Vec::new();
    let start = app.ws.as_ref().and_then(|ws| ws.outline.clone()).and_then(|o| {
        let polys = tuban_model::geometry::edit::polygons(&o.extent).ok()?;
        Some((*polys.first()?.exterior().0.first()?, tuban_model::geometry::centre(&o.extent)?))
    });
    let Some((v0, c)) = start else { anyhow::bail!("no polygon patch to reshape") };
    let inward = (v0.x + (c.x() - v0.x) * 0.1, v0.y + (c.y() - v0.y) * 0.1);
    for i in 0..30 {
        let Some(ws) = app.ws.as_mut() else { break };
        let to = if i % 2 == 0 { inward } else { (v0.x, v0.y) };
        let v = tuban_model::geometry::edit::VertexRef { polygon: 0, ring: 0, index: 0 };
        let t = Instant::now();
        ws.apply(
            tuban_app::commands::Command::EditVertex(tuban_app::edit::VertexEdit::Move(v, to)),
            Default::default(),
        );
        let applied = t.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(ws.geometry_error.is_none(), "vertex move refused: {:?}", ws.geometry_error);
        release.push(applied + frame(&ctx, &mut app, vec![]));
    }
    let (hwm, rss) = common::rss_mb();
    let (f50, f95) = stats(full);
    let (p50, p95) = stats(pan);
    let (m50, m95) = stats(mid);
    let (n50, n95) = stats(next);
    println!("patches: {n}");
    println!("open (read + triangulate):        {open_s:.2} s   (target <= 1 s)");
    println!(
        "frame at full extent (CPU):       p50 {f50:.1} ms  p95 {f95:.1} ms   (target <= 16 ms; CPU only, no painting)"
    );
    println!("frame at township zoom (13.5):    p50 {m50:.1} ms  p95 {m95:.1} ms");
    println!("frame at patch zoom, panning:     p50 {p50:.1} ms  p95 {p95:.1} ms");
    println!("key press -> next patch drawn:    p50 {n50:.1} ms  p95 {n95:.1} ms   (target <= 50 ms)");
    if !release.is_empty() {
        let (r50, r95) = stats(release);
        println!("vertex released -> saved, drawn:  p50 {r50:.1} ms  p95 {r95:.1} ms   (target <= 16 ms)");
    }
    painted(&project, &shp)?;
    println!("memory: peak {hwm:.0} MB, now {rss:.0} MB   (target <= 500 MB)");
    Ok(())
}

/// Paints egui frames with egui_glow (eframe's other renderer) on an OpenGL 3.3 context of the
/// machine's EGL (surfaceless: Mesa's llvmpipe here) into a 1920×1080 framebuffer, and reads each
/// frame back.
struct GlowPainter {
    gl: std::sync::Arc<glow::Context>,
    painter: egui_glow::Painter,
    size_px: [u32; 2],
    _egl: khronos_egl::DynamicInstance<khronos_egl::EGL1_5>,
}

impl GlowPainter {
    fn new(size_px: [u32; 2]) -> anyhow::Result<GlowPainter> {
        use glow::HasContext;
        use khronos_egl as egl;
        const PLATFORM_SURFACELESS_MESA: egl::Enum = 0x31DD;
        // SAFETY: loads the system's libEGL; its functions are called as EGL 1.5 specifies.
        let egl = unsafe { egl::DynamicInstance::<egl::EGL1_5>::load_required() }
            .map_err(|e| anyhow::anyhow!("no libEGL: {e}"))?;
        // SAFETY: the default display pointer for the surfaceless platform.
        let display =
            unsafe { egl.get_platform_display(PLATFORM_SURFACELESS_MESA, egl::DEFAULT_DISPLAY, &[egl::ATTRIB_NONE]) }
                .map_err(|e| anyhow::anyhow!("no surfaceless EGL display: {e}"))?;
        egl.initialize(display)?;
        egl.bind_api(egl::OPENGL_API)?;
        let config = egl
            .choose_first_config(
                display,
                &[egl::RENDERABLE_TYPE, egl::OPENGL_BIT, egl::SURFACE_TYPE, egl::PBUFFER_BIT, egl::NONE],
            )?
            .ok_or_else(|| anyhow::anyhow!("no OpenGL EGL config"))?;
        let context = egl.create_context(
            display,
            config,
            None,
            &[
                egl::CONTEXT_MAJOR_VERSION,
                3,
                egl::CONTEXT_MINOR_VERSION,
                3,
                egl::CONTEXT_OPENGL_PROFILE_MASK,
                egl::CONTEXT_OPENGL_CORE_PROFILE_BIT,
                egl::NONE,
            ],
        )?;
        egl.make_current(display, None, None, Some(context))?;
        // SAFETY: the context is current on this thread; names are looked up through EGL.
        let gl = unsafe {
            glow::Context::from_loader_function(|name| {
                egl.get_proc_address(name).map_or(std::ptr::null(), |f| f as *const std::ffi::c_void)
            })
        };
        // SAFETY: plain GL object creation on the current context.
        unsafe {
            let renderer = gl.get_parameter_string(glow::RENDERER);
            println!("painting with: {renderer} (egui_glow, OpenGL)");
            let tex = gl.create_texture().map_err(anyhow::Error::msg)?;
            gl.bind_texture(glow::TEXTURE_2D, Some(tex));
            gl.tex_storage_2d(glow::TEXTURE_2D, 1, glow::RGBA8, size_px[0] as i32, size_px[1] as i32);
            let fbo = gl.create_framebuffer().map_err(anyhow::Error::msg)?;
            gl.bind_framebuffer(glow::FRAMEBUFFER, Some(fbo));
            gl.framebuffer_texture_2d(glow::FRAMEBUFFER, glow::COLOR_ATTACHMENT0, glow::TEXTURE_2D, Some(tex), 0);
            anyhow::ensure!(
                gl.check_framebuffer_status(glow::FRAMEBUFFER) == glow::FRAMEBUFFER_COMPLETE,
                "framebuffer incomplete"
            );
        }
        let gl = std::sync::Arc::new(gl);
        let painter = egui_glow::Painter::new(gl.clone(), "", None, false).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(GlowPainter { gl, painter, size_px, _egl: egl })
    }

    fn frame(&mut self, ctx: &egui::Context, app: &mut TubanApp, scene: Scene) -> anyhow::Result<(Stages, u64)> {
        use glow::HasContext;
        let mut st = Stages::default();
        let t = Instant::now();
        let mut out = scene.run(ctx, app, self.size_px);
        st.ui = ms(t);
        let t = Instant::now();
        let prims = ctx.tessellate(std::mem::take(&mut out.shapes), out.pixels_per_point);
        if std::env::var_os("TUBAN_DRAWS").is_some() {
            for p in &prims {
                if let egui::epaint::Primitive::Mesh(m) = &p.primitive {
                    let mut area = 0.0f32;
                    for t in m.indices.chunks(3) {
                        let [a, b, c] = [t[0], t[1], t[2]].map(|i| m.vertices[i as usize].pos);
                        area += ((b - a).x * (c - a).y - (b - a).y * (c - a).x).abs() / 2.0;
                    }
                    let tris = m.indices.len() / 3;
                    eprintln!("DRAW tex={:?} clip={:?} tris={tris} area={area:.0}", m.texture_id, p.clip_rect);
                }
            }
            let uploaded: usize =
                out.textures_delta.set.values().flatten().map(|d| d.image.width() * d.image.height()).sum();
            eprintln!("DRAWS {} uploads {} px", prims.len(), uploaded);
        }
        st.tessellate = ms(t);
        let t = Instant::now();
        self.painter.clear(self.size_px, TubanApp::clear_color(&ctx.global_style().visuals));
        self.painter.paint_and_update_textures(self.size_px, out.pixels_per_point, &prims, &mut out.textures_delta);
        // SAFETY: waits for the context's commands.
        unsafe { self.gl.finish() };
        st.render = ms(t);
        let t = Instant::now();
        let img = self.painter.read_screen_rgba(self.size_px);
        let sum = img.pixels.iter().fold(0u64, |a, p| a.wrapping_add(u64::from(u32::from_le_bytes(p.to_array()))));
        st.read_back = ms(t);
        Ok((st, sum))
    }
}
