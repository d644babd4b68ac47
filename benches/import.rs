//! Import benchmark (not a test): a 100,000-patch GBK shapefile in EPSG:4546 imported by
//! `tuban import`, next to `ogr2ogr -f GPKG -t_srs EPSG:4326 -nlt PROMOTE_TO_MULTI` on the same
//! file. Prints seconds and peak resident memory of each, and the ratios.
//!
//! Run: `cargo bench --bench import [-- N_PATCHES]`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gdal::spatial_ref::{AxisMappingStrategy, SpatialRef};
use gdal::vector::{Feature, FieldDefn, Geometry, LayerOptions, OGRFieldType, OGRwkbGeometryType};
use gdal::DriverManager;

const TOWNS: [&str; 8] = ["乌兰花镇", "查干补力格苏木", "白音敖包镇", "吉生太镇", "巴音花乡", "红格尔苏木", "江岸苏木", "脑木更苏木"];

fn generate(path: &Path, n: usize) -> anyhow::Result<()> {
    let drv = DriverManager::get_driver_by_name("ESRI Shapefile")?;
    let mut ds = drv.create_vector_only(path)?;
    let mut srs = SpatialRef::from_epsg(4546)?;
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let layer = ds.create_layer(LayerOptions { name: "patches", srs: Some(&srs), ty: OGRwkbGeometryType::wkbPolygon, options: Some(&["ENCODING=CP936"]) })?;
    for (name, ty, w) in [("TBBH", OGRFieldType::OFTString, 30), ("XZMC", OGRFieldType::OFTString, 40), ("CMC", OGRFieldType::OFTString, 40), ("QSX", OGRFieldType::OFTDate, 8), ("HSX", OGRFieldType::OFTDate, 8), ("JCMJ", OGRFieldType::OFTReal, 14), ("PDBHLX", OGRFieldType::OFTString, 40)] {
        let f = FieldDefn::new(name, ty)?;
        f.set_width(w);
        f.add_to_layer(&layer)?;
    }
    let layer = ds.layer(0)?;
    let defn = gdal::vector::Defn::from_layer(&layer);
    let mut seed: u64 = 42;
    let mut rnd = || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    {
        for i in 0..n {
            // A county of ~60 km × 60 km around CM 111°E; patches of 10 vertices, 20-150 m across.
            let cx = 470_000.0 + 60_000.0 * rnd();
            let cy = 4_580_000.0 + 60_000.0 * rnd();
            let r = 10.0 + 65.0 * rnd();
            let mut ring = Geometry::empty(OGRwkbGeometryType::wkbLinearRing)?;
            for k in 0..10 {
                let a = std::f64::consts::TAU * k as f64 / 10.0;
                let rr = r * (0.7 + 0.3 * rnd());
                ring.add_point_2d((cx + rr * a.cos(), cy - rr * a.sin()));
            }
            let first = ring.get_point(0);
            ring.add_point_2d((first.0, first.1));
            let mut poly = Geometry::empty(OGRwkbGeometryType::wkbPolygon)?;
            poly.add_geometry(ring)?;
            let mut f = Feature::new(&defn)?;
            f.set_field_string(0, &format!("150999SJBG2025{:06}", i + 1))?;
            f.set_field_string(1, TOWNS[i % TOWNS.len()])?;
            f.set_field_string(2, &format!("第{}村", i % 97))?;
            f.set_field_string(3, "2024-08-02")?;
            f.set_field_string(4, "2025-08-09")?;
            f.set_field_double(5, (poly.area() * 100.0).round() / 100.0)?;
            f.set_field_string(6, "草地→建设用地")?;
            f.set_geometry(poly)?;
            f.create(&layer)?;
        }
    }

    drop(ds);
    let _ = std::fs::remove_file(path.with_extension("cpg")); // as delivered: GBK, undeclared
    Ok(())
}

/// Runs a command, polling its peak resident memory (VmHWM) until it exits.
fn measure(cmd: &mut Command) -> anyhow::Result<(f64, f64)> {
    let start = Instant::now();
    let mut child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn()?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<u64>().ok()) {
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(status) = child.try_wait()? {
            anyhow::ensure!(status.success(), "{cmd:?} failed");
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok((start.elapsed().as_secs_f64(), peak_kb as f64 / 1024.0))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args().skip(1).find(|a| !a.starts_with('-')).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-import");
    std::fs::create_dir_all(&dir)?;
    let shp = dir.join(format!("patches_{n}.shp"));
    if !shp.exists() {
        let t = Instant::now();
        generate(&shp, n)?;
        println!("generated {} ({n} patches) in {:.1} s", shp.display(), t.elapsed().as_secs_f64());
    }
    let tuban = env!("CARGO_BIN_EXE_tuban");
    let runs = 3;
    let (mut o_t, mut o_m, mut t_t, mut t_m) = (vec![], vec![], vec![], vec![]);
    for run in 0..runs {
        let out = dir.join("ogr2ogr.gpkg");
        let _ = std::fs::remove_file(&out);
        let (s, mb) = measure(Command::new("ogr2ogr").args(["-f", "GPKG", "-t_srs", "EPSG:4326", "-nlt", "PROMOTE_TO_MULTI"]).arg(&out).arg(&shp))?;
        o_t.push(s);
        o_m.push(mb);
        let project = dir.join("tuban.gpkg");
        let _ = std::fs::remove_file(&project);
        let status = Command::new(tuban).arg("new").arg(&project).stdout(std::process::Stdio::null()).status()?;
        anyhow::ensure!(status.success(), "tuban new failed");
        let (s, mb) = measure(Command::new(tuban).arg("import").arg(&project).arg(&shp))?;
        t_t.push(s);
        t_m.push(mb);
        println!("run {}: ogr2ogr {:.2} s {:.0} MB | tuban import {:.2} s {:.0} MB", run + 1, o_t[run], o_m[run], t_t[run], t_m[run]);
    }
    let (ot, om, tt, tm) = (median(o_t), median(o_m), median(t_t), median(t_m));
    println!("patches: {n}");
    println!("ogr2ogr -f GPKG -t_srs EPSG:4326 -nlt PROMOTE_TO_MULTI: {ot:.2} s, peak {om:.0} MB (median of {runs})");
    println!("tuban import:                                       {tt:.2} s, peak {tm:.0} MB (median of {runs})");
    println!("ratio tuban/ogr2ogr: time {:.2} (target <= 1.5), memory {tm:.0} MB (target <= 300)", tt / ot);
    Ok(())
}
