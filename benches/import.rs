//! Import benchmark (not a test): a 100,000-patch GBK shapefile in EPSG:4546 imported by
//! `tuban import`, next to `ogr2ogr` on the same file in the same run, with the same output
//! conformance: told the DBF encoding (`--config SHAPE_ENCODING CP936`), the same CRS as tuban's
//! display geometry (EPSG:4490) and an R-tree spatial index (`SPATIAL_INDEX=YES`, checked in
//! both files). Prints seconds, peak resident memory and file size of each, and the ratios.
//!
//! Run: `cargo bench --bench import [-- N_PATCHES]` (or `TUBAN_BENCH_N=N_PATCHES`).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

/// Runs a command, polling its peak resident memory (VmHWM) until it exits.
fn measure(cmd: &mut Command) -> anyhow::Result<(f64, f64)> {
    let start = Instant::now();
    let mut child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn()?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = s
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
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

/// The number of rows of the R-tree of `table.geom` in a GeoPackage (an error when it has none).
fn rtree_rows(gpkg: &std::path::Path, table: &str) -> anyhow::Result<i64> {
    let conn = rusqlite::Connection::open_with_flags(gpkg, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(conn.query_row(&format!("SELECT count(*) FROM \"rtree_{table}_geom\""), [], |r| r.get(0))?)
}

fn mb(path: &std::path::Path) -> f64 {
    std::fs::metadata(path).map(|m| m.len() as f64 / 1e6).unwrap_or(0.0)
}

fn main() -> anyhow::Result<()> {
    let n = common::bench_n(100_000);
    let shp = common::shapefile(n)?;
    let dir = shp.parent().map(PathBuf::from).unwrap_or_default();
    let tuban = env!("CARGO_BIN_EXE_tuban");
    let runs = 3;
    let (mut o_t, mut o_m, mut t_t, mut t_m) = (vec![], vec![], vec![], vec![]);
    for run in 0..runs {
        let out = dir.join("ogr2ogr.gpkg");
        let _ = std::fs::remove_file(&out);
        let (s, mb) = measure(
            Command::new("ogr2ogr")
                .args(["--config", "SHAPE_ENCODING", "CP936", "-f", "GPKG", "-t_srs", "EPSG:4490"])
                .args(["-nlt", "PROMOTE_TO_MULTI", "-nln", "patches", "-lco", "GEOMETRY_NAME=geom"])
                .args(["-lco", "SPATIAL_INDEX=YES"])
                .arg(&out)
                .arg(&shp),
        )?;
        o_t.push(s);
        o_m.push(mb);
        let project = dir.join("tuban.gpkg");
        let _ = std::fs::remove_file(&project);
        let status = Command::new(tuban).arg("new").arg(&project).stdout(std::process::Stdio::null()).status()?;
        anyhow::ensure!(status.success(), "tuban new failed");
        let (s, mb) = measure(Command::new(tuban).arg("import").arg(&project).arg(&shp))?;
        t_t.push(s);
        t_m.push(mb);
        println!(
            "run {}: ogr2ogr {:.2} s {:.0} MB | tuban import {:.2} s {:.0} MB",
            run + 1,
            o_t[run],
            o_m[run],
            t_t[run],
            t_m[run]
        );
    }
    let (ogr_file, tuban_file) = (dir.join("ogr2ogr.gpkg"), dir.join("tuban.gpkg"));
    let (ogr_index, tuban_index) = (rtree_rows(&ogr_file, "patches")?, rtree_rows(&tuban_file, "patches")?);
    anyhow::ensure!(
        ogr_index == n as i64 && tuban_index == n as i64,
        "spatial index rows: ogr2ogr {ogr_index}, tuban {tuban_index}, patches {n}"
    );
    let (ot, om, tt, tm) = (median(o_t), median(o_m), median(t_t), median(t_m));
    let (o_mb, t_mb) = (mb(&ogr_file), mb(&tuban_file));
    println!("patches: {n} (both files carry an R-tree of {n} rows)");
    println!("ogr2ogr --config SHAPE_ENCODING CP936 -t_srs EPSG:4490 -lco SPATIAL_INDEX=YES: {ot:.2} s, peak {om:.0} MB, file {o_mb:.1} MB (median of {runs})");
    println!("tuban import:                                                              {tt:.2} s, peak {tm:.0} MB, file {t_mb:.1} MB (median of {runs})");
    println!(
        "ratio tuban/ogr2ogr: time {:.2} (target <= 1.0), file size {:.2} (target <= 1.5), memory {tm:.0} MB (target <= 300)",
        tt / ot,
        t_mb / o_mb
    );
    Ok(())
}
