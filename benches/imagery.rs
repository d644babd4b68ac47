//! Imagery benchmark (not a test): an 8000×8000 Gauss-Krüger GeoTIFF with overviews; tile
//! latency p50/p95 at patch zoom and at county zoom, next to one `gdalwarp -t_srs EPSG:3857 -ts
//! 256 256` call on the same tile; and the time until the next patch's imagery is complete after
//! the key press, with and without prefetch.
//!
//! Run: `cargo bench --bench imagery`.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tuban_core::imagery::{tile_extent_merc, RasterSource, SourceSpec, TileKey, TileService};

fn tiles_in(src: &RasterSource, z: u8, limit: usize) -> Vec<(u32, u32)> {
    let e = src.extent_merc();
    let half = 20_037_508.342_789_244;
    let n = f64::from(1u32 << z);
    let tx = |x: f64| ((x + half) / (2.0 * half) * n) as u32;
    let ty = |y: f64| ((half - y) / (2.0 * half) * n) as u32;
    let mut out = Vec::new();
    let (x0, x1, y0, y1) = (tx(e[0]) + 1, tx(e[2]).saturating_sub(1), ty(e[3]) + 1, ty(e[1]).saturating_sub(1));
    let (x0, x1, y0, y1) = if x1 < x0 || y1 < y0 { (tx(e[0]), tx(e[2]), ty(e[3]), ty(e[1])) } else { (x0, x1, y0, y1) };
    let mut seed = 7u64;
    while out.len() < limit {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let x = x0 + ((seed >> 33) as u32) % (x1 - x0 + 1);
        let y = y0 + ((seed >> 13) as u32 & 0xFFFF) % (y1 - y0 + 1);
        out.push((x, y));
    }
    out
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[(v.len() * 95 / 100).min(v.len() - 1)])
}

fn main() -> anyhow::Result<()> {
    let tif = common::raster("bench-imagery", "gk_8000.tif", 0)?;
    let dir = tif.parent().map(Path::to_path_buf).unwrap_or_default();
    let src = RasterSource::open(&tif)?;
    let mut report = Vec::new();
    for (name, z) in [("patch zoom (z17)", 17u8), ("county zoom (z12)", 12u8)] {
        let tiles = tiles_in(&src, z, 100);
        let mut ms = Vec::new();
        for (x, y) in &tiles {
            let t = Instant::now();
            std::hint::black_box(src.render_tile(z, *x, *y)?);
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let (p50, p95) = percentiles(ms);
        report.push(format!("tile latency at {name}: p50 {p50:.1} ms, p95 {p95:.1} ms (in-process, one thread)"));
    }
    // One gdalwarp call for one patch-zoom tile, as a separate process.
    let (x, y) = tiles_in(&src, 17, 1)[0];
    let e = tile_extent_merc(17, x, y);
    let mut warp_ms = Vec::new();
    for _ in 0..5 {
        let out = dir.join("warp.tif");
        let _ = std::fs::remove_file(&out);
        let t = Instant::now();
        let status = Command::new("gdalwarp")
            .args(["-q", "-t_srs", "EPSG:3857", "-ts", "256", "256", "-r", "bilinear", "-te"])
            .args(e.iter().map(|v| v.to_string()))
            .arg(&tif)
            .arg(&out)
            .status()?;
        anyhow::ensure!(status.success(), "gdalwarp failed");
        warp_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (w50, _) = percentiles(warp_ms);
    report.push(format!("one gdalwarp -t_srs EPSG:3857 -ts 256 256 call: {w50:.0} ms (median of 5)"));
    // Next patch: the tiles of a 1000×800 view at patch zoom, 2 workers.
    let spec = SourceSpec::detect(&tif.to_string_lossy());
    let views: Vec<Vec<(u32, u32)>> = (0..10)
        .map(|i| {
            let (cx, cy) = tiles_in(&src, 17, 10 + i)[i];
            let mut v = Vec::new();
            for dx in 0..4 {
                for dy in 0..4 {
                    v.push((cx + dx, cy + dy));
                }
            }
            v
        })
        .collect();
    let cold = {
        let mut service = TileService::new(vec![spec.clone()], 2, || {});
        let mut ms = Vec::new();
        for v in &views[..5] {
            let t = Instant::now();
            for (x, y) in v {
                service.request(TileKey { source: 0, z: 17, x: *x, y: *y });
            }
            service.wait_all();
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        percentiles(ms)
    };
    let warm = {
        let mut service = TileService::new(vec![spec], 2, || {});
        let mut ms = Vec::new();
        let mut done = std::collections::HashSet::new();
        for pair in views[5..].windows(2) {
            // The analyst looks at this patch while the next one is prefetched.
            for (x, y) in &pair[1] {
                service.request(TileKey { source: 0, z: 17, x: *x, y: *y });
            }
            std::thread::sleep(Duration::from_millis(400));
            for (k, _) in service.poll() {
                done.insert((k.x, k.y));
            }
            // Key press: time until every tile of the next view is there.
            let t = Instant::now();
            while !pair[1].iter().all(|xy| done.contains(xy)) {
                for (k, _) in service.poll() {
                    done.insert((k.x, k.y));
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        percentiles(ms)
    };
    report.push(format!("next patch imagery complete (16 tiles): without prefetch p50 {:.0} ms p95 {:.0} ms; with prefetch p50 {:.1} ms p95 {:.1} ms", cold.0, cold.1, warm.0, warm.1));
    let (hwm, _) = common::rss_mb();
    report.push(format!("peak memory {hwm:.0} MB"));
    for line in report {
        println!("{line}");
    }
    Ok(())
}
