//! Overlay benchmark (not a test): 100,000 patches and a 300,000-parcel land-survey layer (GBK
//! shapefiles in EPSG:4546, parcels tiling the county with shared, jittered edges) overlaid by
//! `tuban reference add … --kind landuse --field DLMC` (reading the layer into the project's
//! spatial index, the overlay of every patch, the fills), next to the peers on the same files in the
//! same run: `ogr_layer_algebra.py Intersection` (told the encoding, with a .qix spatial index on
//! the parcels as it needs one) and QGIS's `native:intersection` (PyQGIS, `benches/peers/`). Every tool writes each patch × parcel intersection with its attributes; tuban
//! also sums them per class and stores the shares. Prints seconds of each and the ratios, and
//! the time to read one patch's stored overlay (what the window shows on selection).
//!
//! Run: `cargo bench --bench reference [-- N_PATCHES]` (parcels = 3 × N_PATCHES);
//! `TUBAN_BENCH_PEERS=ogr,qgis` chooses the peers (default: both when installed).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use gdal::spatial_ref::{AxisMappingStrategy, SpatialRef};
use gdal::vector::{Feature, FieldDefn, Geometry, LayerOptions, OGRFieldType, OGRwkbGeometryType};
use gdal::DriverManager;

mod common;

const CLASSES: [(&str, &str); 7] = [
    ("0401", "天然牧草地"),
    ("0404", "其他草地"),
    ("0103", "旱地"),
    ("0301", "乔木林地"),
    ("0602", "采矿用地"),
    ("1006", "农村道路"),
    ("0403", "人工牧草地"),
];

fn hash(a: i64, b: i64, c: i64) -> f64 {
    let mut h =
        (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (b as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F) ^ (c as u64);
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    (h >> 11) as f64 / (1u64 << 53) as f64 - 0.5
}

/// Writes a grid of `side × side` parcels over the benchmark county (60 km from (470000,
/// 4580000)); every corner and edge midpoint is jittered by its own position, so neighbours
/// share their edges exactly (8 vertices a parcel, a valid tiling as a real DLTB is).
fn parcels(path: &Path, side: usize) -> anyhow::Result<()> {
    let drv = DriverManager::get_driver_by_name("ESRI Shapefile")?;
    let mut ds = drv.create_vector_only(path)?;
    let mut srs = SpatialRef::from_epsg(4546)?;
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let layer = ds.create_layer(LayerOptions {
        name: "dltb",
        srs: Some(&srs),
        ty: OGRwkbGeometryType::wkbPolygon,
        options: Some(&["ENCODING=CP936"]),
    })?;
    for (name, w) in [("DLBM", 8), ("DLMC", 40)] {
        let f = FieldDefn::new(name, OGRFieldType::OFTString)?;
        f.set_width(w);
        f.add_to_layer(&layer)?;
    }
    let layer = ds.layer(0)?;
    let defn = gdal::vector::Defn::from_layer(&layer);
    let cell = 62_000.0 / side as f64;
    let (x0, y0) = (469_000.0, 4_579_000.0);
    let j = cell * 0.3;
    // Point (2i, 2j) is a corner, odd coordinates are edge midpoints.
    let pt = |a: i64, b: i64| -> (f64, f64) {
        let x = x0 + a as f64 * cell / 2.0 + j * hash(a, b, 1);
        let y = y0 + b as f64 * cell / 2.0 + j * hash(a, b, 2);
        (x, y)
    };
    for i in 0..side as i64 {
        for k in 0..side as i64 {
            let (a, b) = (2 * i, 2 * k);
            let ring_pts = [
                (a, b),
                (a + 1, b),
                (a + 2, b),
                (a + 2, b + 1),
                (a + 2, b + 2),
                (a + 1, b + 2),
                (a, b + 2),
                (a, b + 1),
                (a, b),
            ];
            let mut ring = Geometry::empty(OGRwkbGeometryType::wkbLinearRing)?;
            for (p, q) in ring_pts {
                ring.add_point_2d(pt(p, q));
            }
            let mut poly = Geometry::empty(OGRwkbGeometryType::wkbPolygon)?;
            poly.add_geometry(ring)?;
            let (code, name) = CLASSES[((i * 7 + k * 3 + (i * k) % 5) as usize) % CLASSES.len()];
            let mut f = Feature::new(&defn)?;
            f.set_field_string(0, code)?;
            f.set_field_string(1, name)?;
            f.set_geometry(poly)?;
            f.create(&layer)?;
        }
    }
    drop(ds);
    let _ = std::fs::remove_file(path.with_extension("cpg"));
    Ok(())
}

fn run(cmd: &mut Command) -> anyhow::Result<f64> {
    let t = Instant::now();
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output()?;
    anyhow::ensure!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(t.elapsed().as_secs_f64())
}

fn count(gpkg: &Path) -> i64 {
    let Ok(conn) = rusqlite::Connection::open_with_flags(gpkg, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return -1;
    };
    let table: String = conn
        .query_row("SELECT table_name FROM gpkg_contents WHERE data_type = 'features' LIMIT 1", [], |r| r.get(0))
        .unwrap_or_default();
    conn.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| r.get(0)).unwrap_or(-1)
}

fn main() -> anyhow::Result<()> {
    let n = common::bench_n(100_000);
    let side = ((3 * n) as f64).sqrt().round() as usize;
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(common::target_dir)
        .join("bench-reference");
    std::fs::create_dir_all(&dir)?;
    let patches = dir.join(format!("patches_{n}.shp"));
    if !patches.exists() {
        common::generate(&patches, n)?;
    }
    let dltb = dir.join(format!("dltb_{}.shp", side * side));
    if !dltb.exists() {
        let t = Instant::now();
        parcels(&dltb, side)?;
        println!("generated {} ({} parcels) in {:.1} s", dltb.display(), side * side, t.elapsed().as_secs_f64());
    }
    let tuban = env!("CARGO_BIN_EXE_tuban");
    let project = dir.join("tuban.gpkg");
    let _ = std::fs::remove_file(&project);
    run(Command::new(tuban).arg("new").arg(&project))?;
    run(Command::new(tuban).arg("import").arg(&project).arg(&patches))?;
    let t_tuban = run(Command::new(tuban)
        .args(["reference", "add"])
        .arg(&project)
        .arg(&dltb)
        .args(["--kind", "landuse", "--field", "DLMC"]))?;
    let rows = {
        let conn = rusqlite::Connection::open_with_flags(&project, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.query_row("SELECT count(*) FROM tuban_overlay", [], |r| r.get::<_, i64>(0))?
    };
    println!("patches {n}, parcels {}: tuban reference add (read into the table and spatial index + overlay + fills) {t_tuban:.2} s, {rows} class rows", side * side);
    // What the window does on selection: one patch's stored overlay, hints and suggestions.
    let p = tuban_core::store::Project::open(&project, tuban_core::store::Access::ReadOnly)?;
    let fids = p.live_fids()?;
    let t = Instant::now();
    let k = 200.min(fids.len());
    for fid in fids.iter().step_by((fids.len() / k.max(1)).max(1)).take(k) {
        let _ = tuban_core::ops::reference::of_patch(&p, *fid)?;
    }
    println!(
        "one patch's overlay on selection: {:.2} ms (mean of {k}; target <= 20 ms)",
        t.elapsed().as_secs_f64() * 1000.0 / k as f64
    );
    let peers = std::env::var("TUBAN_BENCH_PEERS").unwrap_or_else(|_| "ogr,qgis".into());
    if peers.contains("ogr") {
        let out = dir.join("ogr_layer_algebra.gpkg");
        let _ = std::fs::remove_file(&out);
        let t_index = run(Command::new("ogrinfo")
            .arg(&dltb)
            .args(["-sql", &format!("CREATE SPATIAL INDEX ON dltb_{}", side * side)]))?;
        let t = run(Command::new("/usr/bin/python3")
            .arg("/usr/bin/ogr_layer_algebra.py")
            .args(["Intersection", "-input_ds"])
            .arg(&patches)
            .arg("-method_ds")
            .arg(&dltb)
            .arg("-output_ds")
            .arg(&out)
            .args(["-output_lyr", "intersection"])
            .args(["-f", "GPKG", "-input_fields", "TBBH", "-method_fields", "DLMC", "-nlt", "MULTIPOLYGON"])
            .env("SHAPE_ENCODING", "CP936"))?;
        println!(
            "ogr_layer_algebra.py Intersection: {t:.2} s (+ {t_index:.2} s for the .qix index), {} features",
            count(&out)
        );
        println!("ratio tuban/ogr_layer_algebra: {:.3} (target <= 0.333)", t_tuban / (t + t_index));
    }
    if peers.contains("qgis") {
        // PyQGIS runs native:intersection as qgis_process would (Debian's qgis_process wrapper
        // refuses its own --noversioncheck); the peer's seconds exclude QGIS's start-up.
        let out = dir.join("qgis_intersection.gpkg");
        let _ = std::fs::remove_file(&out);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers/qgis_intersection.py");
        let res = Command::new("/usr/bin/python3")
            .arg(&script)
            .arg(&patches)
            .arg(&dltb)
            .arg(&out)
            .env("QT_QPA_PLATFORM", "offscreen")
            .env("SHAPE_ENCODING", "CP936")
            .output()?;
        let text = String::from_utf8_lossy(&res.stdout);
        let seconds: Option<f64> = text
            .lines()
            .find_map(|l| l.strip_prefix("RESULT seconds="))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|v| v.parse().ok());
        let Some(t) = seconds else {
            anyhow::bail!("QGIS peer failed: {}{}", text, String::from_utf8_lossy(&res.stderr));
        };
        println!("QGIS native:intersection: {t:.2} s (start-up excluded), {} features", count(&out));
        println!("ratio tuban/QGIS: {:.3} (target <= 0.333)", t_tuban / t);
    }
    Ok(())
}
