//! Report benchmark (not a test): tuban's report against QGIS Atlas, on the same files, in the
//! same run. The data set is made by the peers' generator (`../shared/peers/gen_dataset.py N`:
//! `patches.shp` and the two RGB GeoTIFFs `before.tif` / `after.tif`, ~8,400 px square); tuban
//! imports the shapefile, registers the two rasters and writes its report with stacked
//! 190 × 115 mm chips (`tuban report --chip-size 190x115`, the size of the Atlas layout's two
//! maps) for the first K patches; then `qgis_atlas.py atlas DATADIR --limit K` exports its
//! Atlas of the same K patches at the same dpi. Both PDFs are then read back: pages (`pdfinfo`)
//! and embedded images with their pixel sizes (`pdfimages -list`, poppler-utils), so a chip that
//! did not render counts as missing, not as done.
//! Without QGIS the benchmark says so and prints tuban's figures alone.
//!
//! Run: `cargo bench --bench report [-- K]` (K = 200 sheets; `TUBAN_BENCH_N` = 2000 patches in
//! the data set; `TUBAN_PEERS` = the peers' folder, default `../shared/peers`;
//! `TUBAN_BENCH_PEER=0` runs tuban alone, for profiling; `TUBAN_BENCH_DPI=150` one resolution; `TUBAN_BENCH_RUNS` = 3 runs of tuban's report, the
//! median reported; QGIS runs once, after them, with the imagery in the page cache as well).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use tuban_core::imagery::{RasterStyle, SourceSpec};
use tuban_core::report::{ChipLayout, ReportOptions, Sheets};
use tuban_core::store::{EditSource, Project, ProjectMeta};
use tuban_model::progress::Progress;
use tuban_model::{Programme, Template, Value};

/// What a written PDF holds, read back from the file.
struct PdfFacts {
    pages: usize,
    bytes: u64,
    /// Image count by pixel size (width, height).
    images: BTreeMap<(u32, u32), usize>,
    /// Pages carrying at least two images (a sheet's or an Atlas page's two maps).
    pages_with_two: usize,
}

impl PdfFacts {
    fn read(pdf: &Path) -> anyhow::Result<PdfFacts> {
        let info = Command::new("pdfinfo").arg(pdf).output().context("pdfinfo (poppler-utils) is needed")?;
        let info = String::from_utf8_lossy(&info.stdout);
        let pages = info
            .lines()
            .find_map(|l| l.strip_prefix("Pages:"))
            .and_then(|v| v.trim().parse().ok())
            .with_context(|| format!("{}: pdfinfo gives no page count", pdf.display()))?;
        let list = Command::new("pdfimages").arg("-list").arg(pdf).output().context("pdfimages (poppler-utils)")?;
        let mut images = BTreeMap::new();
        let mut per_page: BTreeMap<usize, usize> = BTreeMap::new();
        for line in String::from_utf8_lossy(&list.stdout).lines().skip(2) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // page num type width height ...; soft masks are not images of their own.
            if f.len() < 5 || f[2] != "image" {
                continue;
            }
            let (Ok(page), Ok(w), Ok(h)) = (f[0].parse::<usize>(), f[3].parse::<u32>(), f[4].parse::<u32>()) else {
                continue;
            };
            *images.entry((w, h)).or_insert(0) += 1;
            *per_page.entry(page).or_insert(0) += 1;
        }
        let pages_with_two = per_page.values().filter(|n| **n >= 2).count();
        Ok(PdfFacts { pages, bytes: std::fs::metadata(pdf)?.len(), images, pages_with_two })
    }

    fn image_count(&self) -> usize {
        self.images.values().sum()
    }

    /// The three most frequent image sizes, e.g. `400× 1122x679`.
    fn sizes(&self) -> String {
        let mut v: Vec<(&(u32, u32), &usize)> = self.images.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1));
        v.iter().take(3).map(|((w, h), n)| format!("{n}× {w}x{h}")).collect::<Vec<_>>().join(", ")
    }

    fn mb_per_page(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.pages.max(1) as f64
    }
}

/// The peers' data set of `n` patches, generated once under target/.
fn dataset(peers: &Path, n: usize) -> anyhow::Result<PathBuf> {
    let data = common::target_dir().join("bench-report").join(format!("peer_data_{n}"));
    if !data.join("meta.json").is_file() || !data.join("after.tif").is_file() {
        let t = Instant::now();
        let status = Command::new("/usr/bin/python3")
            .arg(peers.join("gen_dataset.py"))
            .arg(n.to_string())
            .arg(&data)
            .env("GDAL_PAM_ENABLED", "NO")
            .status()
            .context("/usr/bin/python3 with python3-gdal and python3-numpy is needed to make the data")?;
        if !status.success() {
            bail!("gen_dataset.py {n} failed");
        }
        println!("generated {} in {:.0} s", data.display(), t.elapsed().as_secs_f64());
    }
    Ok(data)
}

/// A project of the data set with both rasters registered and the first `k` patches reviewed;
/// returns it with the sheet filter that selects those `k` (as Atlas's `FID < k`).
fn project(data: &Path, dir: &Path, k: usize) -> anyhow::Result<(Project, Sheets)> {
    let path = dir.join("report_atlas.gpkg");
    if path.exists() {
        std::fs::remove_file(&path)?;
    }
    let t = Template::builtin("grassland")?;
    let meta = ProjectMeta {
        programme: Programme::Grassland,
        county_code: "150999".into(),
        county_name: "基准旗".into(),
        year: 2022,
        unit: "基准旗林业和草原局".into(),
    };
    let mut p = Project::create(&path, &t, &meta)?;
    tuban_core::import::import(&mut p, &data.join("patches.shp"), &Default::default(), &Progress::new())?;
    for (name, file, date) in [("前时相", "before.tif", "2021-12-01"), ("后时相", "after.tif", "2022-10-01")] {
        let spec = SourceSpec::Raster { path: data.join(file), style: RasterStyle::default() };
        p.add_imagery(name, &spec, date.parse().ok(), "")?;
    }
    let mut records: Vec<(String, i64)> = p.patches()?.iter().map(|r| (r.key.clone(), r.fid)).collect();
    records.sort();
    let chosen = &records[..k.min(records.len())];
    for (i, (_, fid)) in chosen.iter().enumerate() {
        let verdict = ["合法", "违法", "伪变化"][i % 3];
        let mut edits =
            vec![("HCJG".to_string(), Value::Text(verdict.into())), ("DCRY".to_string(), Value::Text("张三".into()))];
        if verdict == "合法" {
            edits.push(("SPWH".to_string(), Value::Text(format!("草审〔2025〕{i}号"))));
        }
        p.set_values(*fid, &edits, EditSource::User)?;
    }
    let last = chosen.last().map(|(key, _)| key.clone()).unwrap_or_default();
    Ok((p, Sheets::Filter(format!("TBBH <= {last}"))))
}

/// Whether Debian's python has PyQGIS.
fn have_qgis() -> bool {
    Command::new("/usr/bin/python3")
        .args(["-c", "import qgis.core"])
        .env("QT_QPA_PLATFORM", "offscreen")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs QGIS Atlas on the data set; returns (process seconds, export seconds, the PDF's facts).
fn atlas(peers: &Path, data: &Path, k: usize, dpi: u32, out: &Path) -> anyhow::Result<(f64, f64, PdfFacts)> {
    let t = Instant::now();
    let run = Command::new("/usr/bin/python3")
        .arg(peers.join("qgis_atlas.py"))
        .args(["atlas", &data.display().to_string(), "--limit", &k.to_string(), "--dpi", &dpi.to_string()])
        .arg("--out")
        .arg(out)
        .env("QT_QPA_PLATFORM", "offscreen")
        .env("GDAL_PAM_ENABLED", "NO")
        .output()?;
    let wall = t.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let result = stdout.lines().find(|l| l.starts_with("RESULT")).unwrap_or_default();
    if !run.status.success() || result.is_empty() {
        bail!("qgis_atlas.py failed: {stdout}{}", String::from_utf8_lossy(&run.stderr));
    }
    let export_s = result
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("export_s="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(wall);
    Ok((wall, export_s, PdfFacts::read(out)?))
}

fn main() -> anyhow::Result<()> {
    let k: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(200);
    let n: usize = std::env::var("TUBAN_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let peers = std::env::var_os("TUBAN_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peers"));
    let dir = common::target_dir().join("bench-report");
    std::fs::create_dir_all(&dir)?;
    let data = dataset(&peers, n)?;
    let (p, sheets) = project(&data, &dir, k)?;
    // TUBAN_BENCH_PEER=0 skips the peer (for profiling tuban alone).
    let peer_wanted = std::env::var("TUBAN_BENCH_PEER").map_or(true, |v| v != "0");
    let qgis = peer_wanted && have_qgis();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!(
        "report of {k} of the {n} patches of {}: one sheet each with two 190×115 mm maps (before, after); {cores} cores",
        data.display()
    );
    if !peer_wanted {
        println!("TUBAN_BENCH_PEER=0: QGIS Atlas is not run; tuban's figures alone follow");
    } else if !qgis {
        println!("QGIS (python3-qgis) is not installed: QGIS Atlas is not run; tuban's figures alone follow");
    }
    let chips = ChipLayout::ATLAS;
    let dpis: Vec<u32> = match std::env::var("TUBAN_BENCH_DPI").ok().and_then(|v| v.parse().ok()) {
        Some(dpi) => vec![dpi],
        None => vec![150, 300],
    };
    let runs_wanted: usize = std::env::var("TUBAN_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    for dpi in dpis {
        let out = dir.join(format!("tuban_{k}_{dpi}.pdf"));
        let opts = ReportOptions { sheets: sheets.clone(), dpi, chips, ..Default::default() };
        // The median of three runs (the first may read the imagery from disk; QGIS, which runs
        // after, finds it in the page cache).
        let mut runs: Vec<(f64, f64)> = Vec::new();
        for _ in 0..runs_wanted {
            let (cpu0, t0) = (common::cpu_s(), Instant::now());
            tuban_core::report::write(&p, &out, &opts, true, &Progress::new())?;
            runs.push((t0.elapsed().as_secs_f64(), common::cpu_s() - cpu0));
        }
        println!(
            "{dpi} dpi tuban runs: {}",
            runs.iter().map(|(w, _)| format!("{w:.2} s")).collect::<Vec<_>>().join(", ")
        );
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (wall, cpu) = runs[runs.len() / 2];
        let facts = PdfFacts::read(&out)?;
        let want = chips.size_px(dpi);
        let chips_ok = facts.images.get(&want).copied().unwrap_or(0);
        println!(
            "{dpi} dpi tuban: {wall:.2} s, {} pages, {} images ({}), {chips_ok} of {} chips at {}x{}, {:.3} MB/page; CPU {cpu:.1} s = {:.2} cores; peak {:.0} MB",
            facts.pages,
            facts.image_count(),
            facts.sizes(),
            2 * k,
            want.0,
            want.1,
            facts.mb_per_page(),
            cpu / wall,
            common::rss_mb().0
        );
        if chips_ok < 2 * k {
            println!("{dpi} dpi tuban: FAILED: {} chips missing from the PDF", 2 * k - chips_ok);
        }
        if !qgis {
            continue;
        }
        let atlas_out = dir.join(format!("atlas_{k}_{dpi}.pdf"));
        let (atlas_wall, atlas_export, a) = atlas(&peers, &data, k, dpi, &atlas_out)?;
        println!(
            "{dpi} dpi Atlas: {atlas_wall:.2} s (export {atlas_export:.2} s), {} pages, {} images ({}), {} pages with both maps, {:.3} MB/page",
            a.pages,
            a.image_count(),
            a.sizes(),
            a.pages_with_two,
            a.mb_per_page()
        );
        println!(
            "{dpi} dpi ratio: tuban {:.1}× faster than Atlas's export alone ({:.1}× its whole run); bytes per page {:.2}× Atlas's",
            atlas_export / wall,
            atlas_wall / wall,
            facts.mb_per_page() / a.mb_per_page().max(1e-9)
        );
    }
    Ok(())
}
