//! Workstation benchmark (not a test): a project of 100,000 patches (the import benchmark's data):
//! time to open, CPU frame time at 1920×1080 (UI + tessellation) at full extent and at patch zoom
//! while panning, time from a key press to the next patch drawn, time from releasing a dragged
//! vertex to the saved, re-tessellated patch drawn, the full-extent frame painted end to end
//! (wgpu, software adapter) beside QGIS's map renderer on the same patches in the same run, and
//! resident memory.
//!
//! Run: `cargo bench --bench workstation [-- N_PATCHES]`.

#[path = "../../../benches/common/mod.rs"]
mod common;

use std::time::Instant;

use egui::{Event, Key, Pos2, RawInput, Rect};
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

/// The full-extent frame painted end to end (UI, tessellation, wgpu on this machine's software
/// adapter, read back), beside QGIS's map renderer drawing the same patches into a 1920×1080
/// image in the same run (`../shared/peers/qgis_atlas.py render`).
fn painted(project: &std::path::Path, shp: &std::path::Path) -> anyhow::Result<()> {
    let app = TubanApp::new(Prefs::default(), Some(project.to_path_buf()));
    let mut h = egui_kittest::Harness::builder()
        .with_size(egui::vec2(1920.0, 1080.0))
        .build_ui_state(|ui, app: &mut TubanApp| app.frame_ui(ui), app);
    let _ = h.state_mut().map_memory_mut().set_zoom(10.5);
    h.state_mut().map_memory_mut().center_at(walkers::lon_lat(111.0, 41.6));
    h.run_steps(3);
    h.render().map_err(|e| anyhow::anyhow!("no wgpu adapter to paint with: {e}"))?;
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        h.run_steps(1);
        let img = h.render().map_err(|e| anyhow::anyhow!("painting failed: {e}"))?;
        std::hint::black_box(img);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (p50, p95) = stats(times);
    println!("frame at full extent, painted:    p50 {p50:.1} ms  p95 {p95:.1} ms   (target <= 16 ms; wgpu software adapter, 1920x1080, read back)");
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
            "QGIS map renderer, same patches, same run: {:.1} ms (parallel job, median of 3); ratio QGIS/tuban painted {:.1}",
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
    let t = Instant::now();
    let mut app = TubanApp::new(Prefs::default(), Some(project.clone()));
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
