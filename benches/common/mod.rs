//! Shared by the benchmarks: the GBK patch shapefiles and the Gauss-Krüger GeoTIFFs of the
//! benchmark data.
#![allow(dead_code)]

use std::path::Path;

use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::spatial_ref::SpatialRef;
use gdal::DriverManager;

#[path = "../../tests/common/synth.rs"]
mod synth;
#[allow(unused_imports)]
pub use synth::{generate, generate_in, TOWNS};

/// The workspace's target folder (benchmarks of every crate share it): `CARGO_TARGET_DIR` when
/// set, else `target/` at the workspace's root.
pub fn target_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return std::path::PathBuf::from(dir);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().find(|d| d.join("Cargo.lock").is_file()).unwrap_or(here).join("target")
}

/// The benchmark shapefile with `n` patches under target/, generated once.
pub fn shapefile(n: usize) -> anyhow::Result<std::path::PathBuf> {
    let dir = target_dir().join("bench-import");
    std::fs::create_dir_all(&dir)?;
    let shp = dir.join(format!("patches_{n}.shp"));
    if !shp.exists() {
        let t = std::time::Instant::now();
        generate(&shp, n)?;
        println!("generated {} ({n} patches) in {:.1} s", shp.display(), t.elapsed().as_secs_f64());
    }
    Ok(shp)
}

/// Peak and current resident memory of this process, in MB.
pub fn rss_mb() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (get("VmHWM:"), get("VmRSS:"))
}

/// Side of the benchmark rasters in pixels (1 m each).
pub const RASTER_PX: usize = 8000;
/// Upper-left corner of the benchmark rasters (EPSG:4546 metres).
pub const RASTER_ORIGIN: (f64, f64) = (530_000.0, 4_615_000.0);

/// Writes an 8000×8000 JPEG-compressed, tiled RGB GeoTIFF in EPSG:4546 (1 m pixels) with
/// overviews; `variant` changes the pattern (a "before" and an "after" image).
pub fn generate_raster(path: &Path, variant: usize) -> anyhow::Result<()> {
    generate_raster_over(path, variant, RASTER_ORIGIN, 1.0, RASTER_PX)
}

/// As [`generate_raster`], `size` pixels square of `pixel_m` metres from the upper-left corner
/// `origin` (EPSG:4546 metres).
pub fn generate_raster_over(
    path: &Path,
    variant: usize,
    origin: (f64, f64),
    pixel_m: f64,
    size: usize,
) -> anyhow::Result<()> {
    let drv = DriverManager::get_driver_by_name("GTiff")?;
    let mut opts = RasterCreationOptions::new();
    for (k, v) in [("COMPRESS", "JPEG"), ("PHOTOMETRIC", "YCBCR"), ("TILED", "YES"), ("BIGTIFF", "IF_SAFER")] {
        opts.set_name_value(k, v)?;
    }
    let mut ds = drv.create_with_band_type_with_options::<u8, _>(path, size, size, 3, &opts)?;
    ds.set_geo_transform(&[origin.0, pixel_m, 0.0, origin.1, 0.0, -pixel_m])?;
    ds.set_spatial_ref(&SpatialRef::from_epsg(4546)?)?;
    let rows = 500;
    for b in 0..3 {
        for r0 in (0..size).step_by(rows) {
            // The last strip holds what is left.
            let rows = rows.min(size - r0);
            let data: Vec<u8> = (0..rows * size)
                .map(|i| {
                    let (x, y) = (i % size, r0 + i / size);
                    (((x / (37 + variant) + y / 53) * (b + 3 + variant) + (x ^ y) % 29) % 200 + 30) as u8
                })
                .collect();
            ds.rasterband(b + 1)?.write((0, r0 as isize), (size, rows), &mut Buffer::new((size, rows), data))?;
        }
    }
    ds.build_overviews("AVERAGE", &[2, 4, 8, 16, 32], &[])?;
    Ok(())
}

/// A benchmark raster under `target/DIR/NAME`, generated once.
pub fn raster(dir: &str, name: &str, variant: usize) -> anyhow::Result<std::path::PathBuf> {
    let dir = target_dir().join(dir);
    std::fs::create_dir_all(&dir)?;
    let tif = dir.join(name);
    if !tif.exists() {
        let t = std::time::Instant::now();
        generate_raster(&tif, variant)?;
        println!("generated {} in {:.1} s", tif.display(), t.elapsed().as_secs_f64());
    }
    Ok(tif)
}

/// CPU seconds (user + system) this process has used.
pub fn cpu_s() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th there.
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// A new grassland project at `path` holding the patches of `shp`.
pub fn project_of(path: &Path, shp: &Path) -> anyhow::Result<tuban_core::store::Project> {
    let t = tuban_model::Template::builtin("grassland")?;
    let meta = tuban_core::store::ProjectMeta {
        programme: tuban_model::Programme::Grassland,
        county_code: "150999".into(),
        county_name: "bench".into(),
        year: 2025,
        unit: String::new(),
    };
    let mut p = tuban_core::store::Project::create(path, &t, &meta)?;
    tuban_core::import::import(&mut p, shp, &Default::default(), &tuban_model::progress::Progress::new())?;
    Ok(p)
}

/// The benchmark's size: the first argument that is not a flag, else `TUBAN_BENCH_N`, else `default`.
pub fn bench_n(default: usize) -> usize {
    std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .or_else(|| std::env::var("TUBAN_BENCH_N").ok())
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// What the shared PostgreSQL helper (`tests/common/pg.rs`) calls when a cluster cannot start:
/// a benchmark cannot measure without it.
pub fn cannot_run(what: &str, reason: &str) {
    panic!("{what}: {reason}");
}
