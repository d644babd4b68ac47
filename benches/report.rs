//! Report benchmark (not a test): a report with one verification sheet per patch for 2,000
//! patches (two chips each, before and after, from two 8000×8000 Gauss-Krüger GeoTIFFs) at 150
//! and 300 dpi: seconds per page, MB per page and the cores used. No peer runs here yet: the
//! comparison with QGIS Atlas on the same data in the same run (../shared/peers/qgis_atlas.py)
//! is still to be built, so no Atlas figure is printed.
//!
//! Run: `cargo bench --bench report [-- N_PATCHES]`.

mod common;

use std::time::Instant;

use tuban_core::imagery::{RasterStyle, SourceSpec};
use tuban_core::report::{ReportOptions, Sheets};
use tuban_core::store::{EditSource, Project, ProjectMeta};
use tuban_model::progress::Progress;
use tuban_model::{Programme, Template, Value};

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(2000);
    let dir = common::target_dir().join("bench-report");
    std::fs::create_dir_all(&dir)?;
    let before = common::raster("bench-report", "before.tif", 0)?;
    let after = common::raster("bench-report", "after.tif", 5)?;
    let shp = dir.join(format!("patches_{n}.shp"));
    if !shp.exists() {
        // Patches inside the rasters (8 km square), 500 m from their edges.
        let side = common::RASTER_PX as f64 - 1000.0;
        common::generate_in(
            &shp,
            n,
            (common::RASTER_ORIGIN.0 + 500.0, common::RASTER_ORIGIN.1 - common::RASTER_PX as f64 + 500.0),
            side,
        )?;
    }
    let project = dir.join(format!("report_{n}.gpkg"));
    if project.exists() {
        std::fs::remove_file(&project)?;
    }
    let t = Template::builtin("grassland")?;
    let meta = ProjectMeta {
        programme: Programme::Grassland,
        county_code: "150999".into(),
        county_name: "基准旗".into(),
        year: 2025,
        unit: "基准旗林业和草原局".into(),
    };
    let mut p = Project::create(&project, &t, &meta)?;
    tuban_core::import::import(&mut p, &shp, &Default::default(), &Progress::new())?;
    for (name, path, date) in [("前时相", &before, "2024-08-02"), ("后时相", &after, "2025-08-09")] {
        let spec = SourceSpec::Raster { path: path.clone(), style: RasterStyle::default() };
        p.add_imagery(name, &spec, date.parse().ok(), "")?;
    }
    // Verdicts and surveyors on every patch, as in a finished review.
    let fids: Vec<i64> = p.patches()?.iter().map(|r| r.fid).collect();
    for (i, fid) in fids.iter().enumerate() {
        let verdict = ["合法", "违法", "伪变化"][i % 3];
        let mut edits =
            vec![("HCJG".to_string(), Value::Text(verdict.into())), ("DCRY".to_string(), Value::Text("张三".into()))];
        if verdict == "合法" {
            edits.push(("SPWH".to_string(), Value::Text(format!("草审〔2025〕{i}号"))));
        }
        p.set_values(*fid, &edits, EditSource::User)?;
    }
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!("report of {n} patches, one sheet each with two chips; {cores} cores");
    for dpi in [150, 300] {
        let opts = ReportOptions { sheets: Sheets::All, dpi, ..Default::default() };
        let (cpu0, t0) = (common::cpu_s(), Instant::now());
        let bytes = tuban_core::report::build(&p, &opts, &Progress::new())?;
        let (wall, cpu) = (t0.elapsed().as_secs_f64(), common::cpu_s() - cpu0);
        let pages = n + 3;
        let (s_page, mb_page) = (wall / pages as f64, bytes.len() as f64 / 1e6 / pages as f64);
        println!(
            "{dpi} dpi: {pages} pages in {wall:.1} s = {s_page:.4} s/page, {:.1} MB = {mb_page:.3} MB/page; CPU {cpu:.1} s = {:.2} cores busy; peak {:.0} MB",
            bytes.len() as f64 / 1e6,
            cpu / wall,
            common::rss_mb().0
        );
        std::fs::write(dir.join(format!("report_{n}_{dpi}.pdf")), &bytes)?;
    }
    Ok(())
}
