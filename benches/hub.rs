//! Team-hub benchmark (not a test): a throwaway PostgreSQL + PostGIS cluster on this machine, a
//! hub of 100,000 patches, 50 simulated reviewers claiming the next 10 unreviewed patches of
//! their township again and again (each claim one statement with `FOR UPDATE SKIP LOCKED`):
//! claim latency p50/p95 (target p95 ≤ 50 ms); one client pushing 10,000 field changes and another
//! pulling them (target ≤ 5 s each); publish time; peak memory of this process. No peer: QGIS
//! and ogr2ogr have no claims or field-level sync.
//!
//! Run: `cargo bench --bench hub [-- N_PATCHES]`.

mod common;
#[path = "../tests/common/pg.rs"]
mod pg;

use std::time::Instant;

use tuban_core::hub::{lease, publish, schema, sync, Hub};
use tuban_core::store::{Access, EditSource, Project};
use tuban_model::progress::Progress;
use tuban_model::Value;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

/// `reviewers` threads claiming `rounds` times each, pausing a deterministic pseudo-random time in
/// `pause_ms` between claims; the claim latencies in ms, sorted.
fn claims(
    cluster: &pg::Cluster,
    db: &str,
    reviewers: usize,
    rounds: usize,
    pause_ms: Option<(u64, u64)>,
) -> anyhow::Result<Vec<f64>> {
    let mut all: Vec<f64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..reviewers)
            .map(|i| {
                let url = cluster.user_url(db, &format!("r{i}"), "pw");
                s.spawn(move || -> anyhow::Result<Vec<f64>> {
                    let mut h = Hub::connect(&url)?;
                    let mut seed = i as u64 * 7919 + 1;
                    let mut out = Vec::new();
                    for _ in 0..rounds {
                        if let Some((lo, hi)) = pause_ms {
                            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                            std::thread::sleep(std::time::Duration::from_millis(lo + (seed >> 33) % (hi - lo)));
                        }
                        let t = Instant::now();
                        let got = lease::claim_next(&mut h, None, 10, lease::LEASE_TTL)?;
                        out.push(t.elapsed().as_secs_f64() * 1e3);
                        if got.is_empty() {
                            break;
                        }
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow::anyhow!("a reviewer thread panicked"))?)
            .collect::<anyhow::Result<Vec<_>>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    all.sort_by(f64::total_cmp);
    Ok(all)
}

fn main() -> anyhow::Result<()> {
    let n = common::bench_n(100_000);
    let reviewers = 50;
    let cluster = pg::Cluster::start().map_err(|e| anyhow::anyhow!("no PostgreSQL test cluster: {e}"))?;
    let shp = common::shapefile(n)?;
    let dir = common::target_dir().join("bench-hub");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let master = common::project_of(&dir.join(format!("county_{n}.gpkg")), &shp)?;
    let db = cluster.database();
    let url = cluster.url(&db);
    let mut admin = Hub::connect(&url)?;
    schema::init(&mut admin)?;
    let t = Instant::now();
    let published = publish::publish(&master, &mut admin, &Progress::new())?;
    let publish_s = t.elapsed().as_secs_f64();
    drop(master);
    for i in 0..reviewers {
        let town = common::TOWNS[i % common::TOWNS.len()];
        admin.add_user(&format!("r{i}"), "analyst", Some(town), "pw")?;
    }
    // One reviewer alone: the claim's own cost.
    let mut alone = Vec::new();
    {
        let mut h = Hub::connect(&cluster.user_url(&db, "r0", "pw"))?;
        for _ in 0..50 {
            let t = Instant::now();
            lease::claim_next(&mut h, None, 10, lease::LEASE_TTL)?;
            alone.push(t.elapsed().as_secs_f64() * 1e3);
        }
        lease::release(&mut h, None)?;
    }
    alone.sort_by(f64::total_cmp);
    // 50 reviewers, each claiming 10 and reviewing them (0.5-2.5 s) before the next claim.
    let paced = claims(&cluster, &db, reviewers, 10, Some((500, 2500)))?;
    cluster.psql(&db, "UPDATE tuban.patches SET holder = NULL, lease_expires = NULL");
    // 50 reviewers at once, each claiming 10 at a time, 20 rounds, without a pause (a stress test:
    // 50 clients and 50 server processes share this machine's cores).
    let rounds = 20;
    let latencies = claims(&cluster, &db, reviewers, rounds, None)?;
    let claimed = cluster.psql(&db, "SELECT count(*) FROM tuban.patches WHERE lease_expires > now()");
    // The sync below edits patches nobody holds (held ones would wait, as they should).
    cluster.psql(&db, "UPDATE tuban.patches SET holder = NULL, lease_expires = NULL");
    // Sync of 10,000 changes: one copy edits 5,000 patches in two fields and pushes; another pulls.
    let (a, b) = (dir.join("a.gpkg"), dir.join("b.gpkg"));
    let t = Instant::now();
    publish::join(&mut admin, &a, None, &Progress::new())?;
    let join_s = t.elapsed().as_secs_f64();
    let mut hb = Hub::connect(&url)?;
    publish::join(&mut hb, &b, None, &Progress::new())?;
    let changes = 10_000.min(2 * n);
    {
        let mut p = Project::open(&a, Access::ReadWrite)?;
        let fids: Vec<i64> = p.patches()?.iter().map(|r| r.fid).take(changes / 2).collect();
        for (i, fid) in fids.iter().enumerate() {
            let edits = vec![
                ("BZ".to_string(), Value::Text(format!("核 {i}"))),
                ("SPWH".to_string(), Value::Text(format!("审 {i}"))),
            ];
            p.set_values(*fid, &edits, EditSource::User)?;
        }
    }
    let mut pa = Project::open(&a, Access::ReadWrite)?;
    let t = Instant::now();
    let pushed = sync::sync(&mut admin, &mut pa, &Progress::new())?.pushed;
    let push_s = t.elapsed().as_secs_f64();
    let mut pb = Project::open(&b, Access::ReadWrite)?;
    let t = Instant::now();
    let pulled = sync::sync(&mut hb, &mut pb, &Progress::new())?.pulled;
    let pull_s = t.elapsed().as_secs_f64();
    let (hwm, _) = common::rss_mb();
    println!(
        "hub: {} patches, {} base files; publish {publish_s:.1} s; join (download + first pull) {join_s:.1} s",
        published.patches,
        published.bases.len()
    );
    println!(
        "claims by one reviewer alone: p50 {:.1} ms, p95 {:.1} ms",
        percentile(&alone, 0.5),
        percentile(&alone, 0.95)
    );
    println!(
        "claims by {reviewers} reviewers, each reviewing 0.5-2.5 s between claims: {} claims, p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms   (target p95 <= 50 ms)",
        paced.len(),
        percentile(&paced, 0.5),
        percentile(&paced, 0.95),
        paced.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "claims by {reviewers} reviewers back to back (stress): {} claims ({claimed} leases): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!("push of {changes} changes: {push_s:.2} s, applied {}   (target <= 5 s)", pushed.applied);
    println!("pull of them into another copy: {pull_s:.2} s, applied {}   (target <= 5 s)", pulled.applied);
    println!("peak memory of this process (client side): {hwm:.0} MB");
    anyhow::ensure!(pushed.applied == changes && pulled.applied == changes, "not every change arrived");
    Ok(())
}
