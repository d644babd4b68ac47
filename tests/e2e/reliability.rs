//! Reliability: edits survive SIGKILL at random moments; no network socket without an online
//! source; bad inputs through every entry point give messages, not panics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sockets_of_this_process() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|rd| {
            rd.flatten()
                .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:")))
                .count()
        })
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
            let o = Command::new(env!("CARGO_BIN_EXE_tuban"))
                .args(["set", path.to_str().unwrap(), key, &format!("BZ={value}")])
                .output()
                .unwrap();
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
        let p = tuban_core::store::Project::open(&path, tuban_core::store::Access::ReadOnly).unwrap();
        for (key, value) in &confirmed {
            let fid = p.find_patch(key).unwrap().unwrap();
            let rec = p.patch(fid).unwrap().unwrap();
            let got = rec.value(p.template(), "BZ").unwrap().to_string();
            // The last edit of a key wins; a killed edit may or may not have landed after it.
            assert!(got == *value || got.starts_with("被杀"), "run {run}: {key} = {got}, expected {value}");
        }
    }
    println!(
        "kill -9 runs {runs}, edits confirmed {edits}, killed {kills}, lost 0, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // GDAL's validator still accepts the file.
    let out = Command::new("/usr/bin/python3")
        .arg("/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_gpkg.py")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success() && out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    drop(dir);
}

/// With no online source, working on a project opens no network socket.
#[test]
fn no_network_without_an_online_source() {
    let before = sockets_of_this_process();
    let (_dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let imagery = common::sample("imagery/2025-08_后时相_GF2.tif");
    p.add_imagery("after", &tuban_core::imagery::SourceSpec::detect(&imagery.to_string_lossy()), None, "").unwrap();
    let sources = p.imagery().unwrap();
    let fid = p.find_patch("150999SJBG2025000004").unwrap().unwrap();
    let geom = p.patch_geometry(fid).unwrap().unwrap();
    let overlay = tuban_core::render::Overlay { geom, rgba: [255, 255, 0, 255], label: String::new() };
    tuban_core::render::render(Some(&sources[0].spec), &[overlay], &Default::default()).unwrap();
    let mut service = tuban_core::imagery::TileService::new(vec![sources[0].spec.clone()], 2, || {});
    service.request(tuban_core::imagery::TileKey { source: 0, z: 16, x: 52_968, y: 24_300 });
    service.wait_all();
    assert_eq!(tuban_core::imagery::online::requests_sent(), 0);
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
    let reports: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("tuban-crash-"))
        .collect();
    assert_eq!(reports.len(), 1);
    let text = std::fs::read_to_string(reports[0].path()).unwrap();
    assert!(text.contains("crash test requested") && text.contains("backtrace"), "{text}");
}

/// Every file under tests/fixtures (copies of ../shared/testdata and the derived files) goes
/// through every entry point that takes a file: patch import, imagery source, photo import,
/// template import, project open. Each gives a result or a message naming the file; none panics.
#[test]
fn every_fixture_through_every_entry_point() {
    use tuban_core::imagery::source::{self, SourceSpec};
    let root = common::root().join("tests/fixtures");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p)
            } else {
                files.push(p)
            }
        }
    }
    files.sort();
    assert!(files.len() > 60, "{} fixture files", files.len());
    let named = |what: &str, file: &std::path::Path, msg: String| {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let stem = file.file_stem().unwrap().to_string_lossy().to_string();
        assert!(
            msg.contains(&name)
                || msg.contains(&stem)
                || msg.contains(&file.parent().unwrap().file_name().unwrap().to_string_lossy().to_string()),
            "{what} {}: the message does not name the file: {msg}",
            file.display()
        );
    };
    let (mut ok, mut refused) = (0, 0);
    for file in &files {
        // Import, into a fresh copy of a project each time (a refused file leaves no batch).
        let (_dir, mut p) = common::new_project("grassland");
        match common::import(&mut p, file) {
            Ok(_) => ok += 1,
            Err(e) => {
                refused += 1;
                named("import", file, e.to_string());
                assert_eq!(p.batches().unwrap().len(), 0, "{}: a refused import left a batch", file.display());
            }
        }
        // Imagery: the source opens and renders two tiles, or says why not.
        let spec = SourceSpec::detect(&file.to_string_lossy());
        match source::open(&spec) {
            Ok(mut s) => {
                for (z, x, y) in [(0, 0, 0), (12, 3267, 1552)] {
                    if let Err(e) = s.render(z, x, y) {
                        named("imagery tile", file, e.to_string());
                    }
                }
            }
            Err(e) => named("imagery", file, e.to_string()),
        }
        // Photos: a report listing the file as matched, unmatched or an error naming it.
        let r = tuban_core::evidence::import_photos(
            &mut p,
            std::slice::from_ref(file),
            None,
            100.0,
            &tuban_model::progress::Progress::new(),
        )
        .unwrap();
        for e in &r.errors {
            named("photo", file, e.clone());
        }
        // Template and project open.
        if let Ok(text) = std::fs::read_to_string(file) {
            if let Err(e) = tuban_model::Template::from_toml(&text, &file.display().to_string()) {
                named("template", file, e.to_string());
            }
        }
        for access in [tuban_core::store::Access::ReadOnly, tuban_core::store::Access::ReadWrite] {
            let copy = _dir.path().join(file.file_name().unwrap());
            std::fs::copy(file, &copy).unwrap();
            if let Err(e) = tuban_core::store::Project::open(&copy, access) {
                named("project", &copy, e.to_string());
            }
        }
    }
    println!("{} files: import accepted {ok}, refused {refused} with a named message", files.len());
}

/// A project with random bytes changed (many seeds) opens with a message or works; reading,
/// the ledger and verification never panic.
#[test]
fn a_project_with_random_bytes_changed_gives_messages_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(common::fixture("schema/v2.gpkg")).unwrap();
    let mut seed = 0x5eed_u64;
    let mut rnd = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        seed >> 33
    };
    let (mut opened, mut refused) = (0, 0);
    for run in 0..150 {
        let mut bytes = original.clone();
        for _ in 0..1 + rnd() % 16 {
            let at = (rnd() as usize) % bytes.len();
            bytes[at] = rnd() as u8;
        }
        let path = dir.path().join(format!("损坏 {run}.gpkg"));
        std::fs::write(&path, &bytes).unwrap();
        let access =
            if run % 2 == 0 { tuban_core::store::Access::ReadOnly } else { tuban_core::store::Access::ReadWrite };
        match tuban_core::store::Project::open(&path, access) {
            Ok(mut p) => {
                opened += 1;
                // Errors are fine; they must name the file.
                let results: Vec<Result<(), tuban_core::store::StoreError>> = vec![
                    p.patches().map(|_| ()),
                    p.ledger().map(|_| ()),
                    p.verify().map(|_| ()),
                    p.case_attachments("150999-2025-AJ001").map(|_| ()),
                    p.summary().map(|_| ()),
                ];
                for e in results.into_iter().filter_map(Result::err) {
                    assert!(e.to_string().contains(&format!("损坏 {run}.gpkg")), "{e}");
                }
                if access == tuban_core::store::Access::ReadWrite {
                    if let Ok(Some(fid)) = p.find_patch("150999SJBG2025000001") {
                        let _ = p.set_text(fid, &[("BZ", "after damage")]);
                    }
                }
            }
            Err(e) => {
                refused += 1;
                assert!(e.to_string().contains(&format!("损坏 {run}.gpkg")), "{e}");
            }
        }
    }
    println!("150 damaged copies: {opened} opened, {refused} refused with a named message");
    assert!(opened > 0 && refused > 0, "{opened} opened, {refused} refused");
}

/// Peak resident memory (MB) of the largest child process waited for so far.
fn children_peak_rss_mb() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    ru.ru_maxrss as f64 / 1024.0
}

/// A 50-megapixel photo (8660×5774) is decoded off the UI thread with an allocation cap: it is
/// stored with an upright 320-px thumbnail, and the process stays far below the machine's
/// memory (measured in a child `tuban photos add`).
#[test]
fn a_50_megapixel_photo_is_stored_with_bounded_memory() {
    let (_dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let path = p.path().to_path_buf();
    drop(p);
    let photo = common::fixture("derived/photo_50mp.jpg");
    let o = Command::new(env!("CARGO_BIN_EXE_tuban"))
        .args(["photos", "add", path.to_str().unwrap(), photo.to_str().unwrap(), "--patch", "150999SJBG2025000001"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let peak = children_peak_rss_mb();
    println!("tuban photos add (50 MP): peak {peak:.0} MB");
    assert!(peak < 300.0, "peak {peak:.0} MB for one 50 MP photo");
    let p = tuban_core::store::Project::open(&path, tuban_core::store::Access::ReadOnly).unwrap();
    let fid = p.find_patch("150999SJBG2025000001").unwrap().unwrap();
    let photos = p.photos(Some(fid)).unwrap();
    assert_eq!(photos.len(), 1);
    let thumb = image::load_from_memory(&p.photo_thumbnail(photos[0].id).unwrap().unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (320, 213));
    // A header claiming a far larger image is refused by the allocation cap, with the file named.
    let mut bytes = std::fs::read(&photo).unwrap();
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    bytes[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xF0, 0xFF, 0xF0]); // 65520 × 65520
    let big = _dir.path().join("头部声称65520像素.jpg");
    std::fs::write(&big, bytes).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tuban"))
        .args(["photos", "add", path.to_str().unwrap(), big.to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("头部声称65520像素.jpg"), "{text}");
    assert!(children_peak_rss_mb() < 300.0);
}

/// The Web-Mercator tile holding a lon/lat point at zoom `z`.
fn tile_of(lon: f64, lat: f64, z: u8) -> (u8, u32, u32) {
    let n = f64::from(1u32 << z);
    let y = (1.0 - (lat.to_radians().tan() + 1.0 / lat.to_radians().cos()).ln() / std::f64::consts::PI) / 2.0 * n;
    (z, ((lon + 180.0) / 360.0 * n) as u32, y as u32)
}

/// Rasters whose headers claim huge sizes: a view that would read gigabytes is refused with
/// advice (build overviews, zoom in) instead of stalling; a close view still renders; a header
/// that lies about its size gives a read error naming the file.
#[test]
fn huge_raster_headers_are_refused_by_view_not_read() {
    use tuban_core::imagery::{ImageryError, RasterSource};
    let huge = common::fixture("derived/huge_sparse_120gb.tif");
    let src = RasterSource::open(&huge).unwrap();
    assert!(src.needs_overviews());
    let (lon, lat) = tuban_core::gk::to_lonlat("EPSG:4546", 600_000.0, 4_600_000.0).unwrap();
    let (z, x, y) = tile_of(lon, lat, 8);
    match src.render_tile(z, x, y) {
        Err(e @ ImageryError::NeedsOverviews { .. }) => assert!(
            e.to_string().contains("huge_sparse_120gb.tif") && e.to_string().contains("--build-overviews"),
            "{e}"
        ),
        other => panic!("county view of a 120 GB raster without overviews: {other:?}"),
    }
    let (z, x, y) = tile_of(lon, lat, 17);
    src.render_tile(z, x, y).unwrap();
    let lying = common::fixture("derived/header_claims_60000px.tif");
    match RasterSource::open(&lying) {
        Ok(src) => {
            let (lon, lat) = tuban_core::gk::to_lonlat("EPSG:4546", 530_050.0, 4_614_950.0).unwrap();
            for z in [12, 17] {
                let (z, x, y) = tile_of(lon, lat, z);
                if let Err(e) = src.render_tile(z, x, y) {
                    assert!(e.to_string().contains("header_claims_60000px.tif"), "{e}");
                }
            }
        }
        Err(e) => assert!(e.to_string().contains("header_claims_60000px.tif"), "{e}"),
    }
}

/// A mount made for a test, undone when dropped (also when the test fails).
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Runs `mount ARGS TARGET`; `None` where mounting is not permitted (not root, or a container
/// without CAP_SYS_ADMIN): the test then says it was skipped.
fn mount(args: &[&str], target: &std::path::Path) -> Option<Mount> {
    std::fs::create_dir_all(target).unwrap();
    let ok = Command::new("mount").args(args).arg(target).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    ok.then(|| Mount(target.to_path_buf()))
}

fn sample_project_at(path: &std::path::Path) {
    let t = tuban_model::Template::builtin("grassland").unwrap();
    let meta = tuban_core::store::ProjectMeta {
        programme: t.spec.programme,
        county_code: "150999".into(),
        county_name: "示范旗".into(),
        year: 2025,
        unit: "测试单位".into(),
    };
    let mut p = tuban_core::store::Project::create(path, &t, &meta).unwrap();
    common::import(&mut p, &common::sample_shp()).unwrap();
}

/// A project on a read-only medium (a read-only bind mount, as a CD or a write-protected USB
/// drive): it opens for viewing, reports are made from it, every change is refused with a
/// message that names the file and says what to do, and the file is not touched.
#[test]
fn a_project_on_a_read_only_medium_can_be_viewed_not_changed() {
    let dir = tempfile::tempdir().unwrap();
    let writable = dir.path().join("可写");
    std::fs::create_dir_all(&writable).unwrap();
    sample_project_at(&writable.join("项目 测试.gpkg"));
    let ro = dir.path().join("只读 光盘");
    let Some(_bind) = mount(&["--bind", writable.to_str().unwrap()], &ro) else {
        eprintln!("skipped: mounting is not permitted here");
        return;
    };
    assert!(Command::new("mount").args(["-o", "remount,bind,ro"]).arg(&ro).status().unwrap().success());
    let path = ro.join("项目 测试.gpkg");
    let before = std::fs::read(&path).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tuban"))
        .args(["set", path.to_str().unwrap(), "150999SJBG2025000001", "BZ=x"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        !o.status.success()
            && err.contains("项目 测试.gpkg")
            && err.contains("只读")
            && err.contains("copy it to a writable disk"),
        "{err}"
    );
    let e = tuban_core::store::Project::open(&path, tuban_core::store::Access::ReadWrite).err().unwrap();
    assert!(matches!(e, tuban_core::store::StoreError::ReadOnlyMedium { .. }), "{e}");
    let p = tuban_core::store::Project::open(&path, tuban_core::store::Access::ReadOnly).unwrap();
    assert_eq!(p.patches().unwrap().len(), 30);
    let opts = tuban_core::report::ReportOptions { sheets: tuban_core::report::Sheets::None, ..Default::default() };
    tuban_core::report::write(&p, &dir.path().join("报告.pdf"), &opts, false, &tuban_model::progress::Progress::new())
        .unwrap();
    drop(p);
    assert!(std::fs::read(&path).unwrap() == before);
}

/// Free bytes on the file system holding `path`.
fn free_bytes(path: &std::path::Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: statvfs fills the zeroed struct we own; `c` is a valid path.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut s) }, 0);
    s.f_bavail * s.f_frsize
}

/// Fills the file system of `dir` until `leave` bytes are free.
fn fill(dir: &std::path::Path, leave: u64) -> std::path::PathBuf {
    let filler = dir.join("filler.bin");
    let n = free_bytes(dir).saturating_sub(leave);
    std::fs::write(&filler, vec![0u8; n as usize]).unwrap();
    filler
}

/// A disk that fills up (a 1 MB tmpfs): the import fails with a message saying so, nothing of
/// it is kept and the project still works; exports and the report leave no partial file.
#[test]
fn a_full_disk_during_import_and_export_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("U盘 1MB");
    let Some(_tmpfs) = mount(&["-t", "tmpfs", "-o", "size=1m", "tmpfs"], &disk) else {
        eprintln!("skipped: mounting is not permitted here");
        return;
    };
    let path = disk.join("项目.gpkg");
    let t = tuban_model::Template::builtin("grassland").unwrap();
    let meta = tuban_core::store::ProjectMeta {
        programme: t.spec.programme,
        county_code: "150999".into(),
        county_name: "示范旗".into(),
        year: 2025,
        unit: String::new(),
    };
    drop(tuban_core::store::Project::create(&path, &t, &meta).unwrap());
    let filler = fill(&disk, 48 * 1024);
    let mut p = tuban_core::store::Project::open(&path, tuban_core::store::Access::ReadWrite).unwrap();
    let e = common::import(&mut p, &common::sample_shp()).unwrap_err().to_string();
    assert!(e.contains("项目.gpkg") && e.contains("磁盘已满"), "{e}");
    assert_eq!((p.patch_count().unwrap(), p.batches().unwrap().len()), (0, 0));
    drop(p);
    // Space again: the same project takes the import.
    std::fs::remove_file(&filler).unwrap();
    let mut p = tuban_core::store::Project::open(&path, tuban_core::store::Access::ReadWrite).unwrap();
    common::import(&mut p, &common::sample_shp()).unwrap();
    assert_eq!(p.patch_count().unwrap(), 30);
    let ok: String =
        rusqlite::Connection::open(&path).unwrap().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    // Full again: exports and the report fail with the reason and leave nothing behind.
    let _filler = fill(&disk, 0);
    let progress = tuban_model::progress::Progress::new();
    for format in [tuban_core::export::Format::Gpkg, tuban_core::export::Format::Xlsx, tuban_core::export::Format::Shp]
    {
        let out = disk.join(format!("导出 {format:?}"));
        let e = tuban_core::export::export(&p, format, &out, &Default::default(), &progress).unwrap_err().to_string();
        assert!(!out.exists(), "{format:?}: {} left behind ({e})", out.display());
    }
    let pdf = disk.join("报告.pdf");
    let e = tuban_core::report::write(&p, &pdf, &Default::default(), false, &progress).unwrap_err().to_string();
    assert!(e.contains("磁盘已满"), "{e}");
    assert!(!pdf.exists() && !pdf.with_extension("pdf.part").exists());
}
