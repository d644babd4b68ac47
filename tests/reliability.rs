//! Reliability: edits survive SIGKILL at random moments; no network socket without an online
//! source; bad inputs through every entry point give messages, not panics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sockets_of_this_process() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|rd| rd.flatten().filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))).count())
        .unwrap_or(0)
}

/// Runs `tuban set` again and again and kills one with SIGKILL at a random moment, many times:
/// after each kill the project opens, passes `PRAGMA integrity_check`, and every edit whose
/// command had returned is there.
#[test]
fn edits_survive_kill_9() {
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let path = p.path().to_path_buf();
    drop(p);
    let keys: Vec<String> = (1..=11).map(|i| format!("150999SJBG2025{i:06}")).collect();
    let mut confirmed: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut seed = 12345u64;
    let (mut runs, mut edits, mut kills) = (0, 0, 0);
    let started = Instant::now();
    for run in 0..40 {
        runs += 1;
        // A few edits that complete…
        for k in 0..3 {
            let key = &keys[(run * 3 + k) % keys.len()];
            let value = format!("第{run}轮第{k}次");
            let o = Command::new(env!("CARGO_BIN_EXE_tuban")).args(["set", path.to_str().unwrap(), key, &format!("BZ={value}")]).output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            confirmed.insert(key.clone(), value);
            edits += 1;
        }
        // …then one killed at a random moment (often mid-transaction).
        let key = keys[run % keys.len()].clone();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tuban"))
            .args(["set", path.to_str().unwrap(), &key, &format!("BZ=被杀{run}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        std::thread::sleep(Duration::from_micros((seed >> 33) % 150_000));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.success() {
            confirmed.insert(key.clone(), format!("被杀{run}"));
            edits += 1;
        } else {
            kills += 1;
        }
        // The project is whole and holds every confirmed edit.
        let conn = rusqlite::Connection::open(&path).unwrap();
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok", "run {run}");
        drop(conn);
        let p = tuban::store::Project::open(&path, tuban::store::Access::ReadOnly).unwrap();
        for (key, value) in &confirmed {
            let fid = p.find_patch(key).unwrap().unwrap();
            let rec = p.patch(fid).unwrap().unwrap();
            let got = rec.value(p.template(), "BZ").unwrap().to_string();
            // The last edit of a key wins; a killed edit may or may not have landed after it.
            assert!(got == *value || got.starts_with("被杀"), "run {run}: {key} = {got}, expected {value}");
        }
    }
    println!("kill -9 runs {runs}, edits confirmed {edits}, killed {kills}, lost 0, {:.1} s", started.elapsed().as_secs_f64());
    // GDAL's validator still accepts the file.
    let out = Command::new("/usr/bin/python3").arg("/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_gpkg.py").arg(&path).output().unwrap();
    assert!(out.status.success() && out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    drop(dir);
}

/// With no online source, working on a project opens no network socket.
#[test]
fn no_network_without_an_online_source() {
    let before = sockets_of_this_process();
    let (_dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let imagery = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/imagery/2025-08_后时相_GF2.tif");
    p.add_imagery("after", &tuban::imagery::SourceSpec::detect(&imagery.to_string_lossy()), None, "").unwrap();
    let sources = p.imagery().unwrap();
    let fid = p.find_patch("150999SJBG2025000004").unwrap().unwrap();
    let geom = p.patch_geometry(fid).unwrap().unwrap();
    let overlay = tuban::render::Overlay { geom, rgba: [255, 255, 0, 255], label: String::new() };
    tuban::render::render(Some(&sources[0].spec), &[overlay], &Default::default()).unwrap();
    let mut service = tuban::imagery::TileService::new(vec![sources[0].spec.clone()], 2, || {});
    service.request(tuban::imagery::TileKey { source: 0, z: 16, x: 52_968, y: 24_300 });
    service.wait_all();
    assert_eq!(tuban::imagery::online::requests_sent(), 0);
    assert_eq!(sockets_of_this_process(), before, "a socket was opened");
}

/// A panic writes a crash report and says the data is safe.
#[test]
fn a_panic_leaves_a_crash_report() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tuban")).env("TUBAN_CRASH_TEST", dir.path()).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("您的数据是安全的") && err.contains("Your data is safe"), "{err}");
    let reports: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with("tuban-crash-")).collect();
    assert_eq!(reports.len(), 1);
    let text = std::fs::read_to_string(reports[0].path()).unwrap();
    assert!(text.contains("crash test requested") && text.contains("backtrace"), "{text}");
}
