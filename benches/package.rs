//! Work-package benchmark (not a test): a 5,000-patch package written from its master, 20,000
//! field edits in the package, 500 of them met by a different edit in the master, then the merge:
//! time to write the package, time to merge it (targets ≤ 3 s each), conflicts found, peak memory.
//! No peer: no tool in use merges these data field by field.
//!
//! Run: `cargo bench --bench package [-- N_PATCHES]`.

mod common;

use std::time::Instant;

use tuban_core::ops::package::{self, GroupBy};
use tuban_core::store::{Access, EditSource, Project};
use tuban_model::progress::Progress;
use tuban_model::Value;

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(5000);
    let shp = common::shapefile(n)?;
    let dir = common::target_dir().join("bench-package");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let master_path = dir.join(format!("master_{n}.gpkg"));
    let mut master = common::project_of(&master_path, &shp)?;
    let fids: Vec<i64> = master.patches()?.iter().map(|r| r.fid).collect();
    // Writing the package: every patch of the master, as one township's would be.
    let t0 = Instant::now();
    let written = package::create(&mut master, &GroupBy::Query("JCMJ > 0".into()), &dir.join("out"), &Progress::new())?;
    let create_s = t0.elapsed().as_secs_f64();
    let pkg_path = written.first().map(|w| w.path.clone()).ok_or_else(|| anyhow::anyhow!("no package written"))?;
    // 20,000 field edits in the package: four fields on each of 5,000 patches.
    let fields = ["BZ", "DCRY", "DCDW", "SPWH"];
    let t1 = Instant::now();
    {
        let mut pkg = Project::open(&pkg_path, Access::ReadWrite)?;
        for (i, fid) in fids.iter().enumerate() {
            let edits: Vec<(String, Value)> =
                fields.iter().map(|f| (f.to_string(), Value::Text(format!("包 {f} {i}")))).collect();
            pkg.set_values(*fid, &edits, EditSource::User)?;
        }
    }
    let edit_s = t1.elapsed().as_secs_f64();
    // 500 of them met by a different value in the master.
    let conflicts_made = 500.min(fids.len());
    for (i, fid) in fids.iter().take(conflicts_made).enumerate() {
        master.set_values(*fid, &[("BZ".to_string(), Value::Text(format!("县 {i}")))], EditSource::User)?;
    }
    let t2 = Instant::now();
    let r = package::merge(&mut master, &pkg_path)?;
    let merge_s = t2.elapsed().as_secs_f64();
    let (hwm, _) = common::rss_mb();
    println!("patches in the package: {}", fids.len());
    println!("write the package:           {create_s:.2} s   (target <= 3 s)");
    println!("20,000 edits in the package: {edit_s:.1} s   (each its own transaction, as the window saves them)");
    println!(
        "merge:                       {merge_s:.2} s   (target <= 3 s): applied {}, already {}, conflicts {} (expected {conflicts_made})",
        r.applied,
        r.already,
        r.conflicts.len()
    );
    println!("memory: peak {hwm:.0} MB");
    anyhow::ensure!(r.conflicts.len() == conflicts_made, "conflicts found {} of {conflicts_made}", r.conflicts.len());
    anyhow::ensure!(r.applied == fids.len() * fields.len() - conflicts_made, "applied {}", r.applied);
    Ok(())
}
