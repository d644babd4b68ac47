//! Bad input through every entry point gives messages, not panics: every fixture, damaged
//! project files, a 50-megapixel photo and rasters whose headers claim huge sizes; a panic
//! leaves a crash report.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::process::Command;

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

/// Runs `tuban ARGS` and reaps that one child with `wait4`: whether it succeeded, its stdout and
/// stderr, and its own peak resident memory in MB, as it reports it (`VmHWM`, written to
/// `TUBAN_PEAK_FILE`): the child's `ru_maxrss` also counts this test process's memory, as the
/// spawn shares it until the exec, and `RUSAGE_CHILDREN` the largest child of any test.
#[allow(clippy::zombie_processes)] // reaped by wait4 below
fn tuban_measured(args: &[&str], dir: &std::path::Path) -> (bool, String, f64) {
    let (out, err) = (dir.join("stdout.txt"), dir.join("stderr.txt"));
    let peak_file = dir.join("peak.txt");
    let child = Command::new(env!("CARGO_BIN_EXE_tuban"))
        .args(args)
        .env("TUBAN_PEAK_FILE", &peak_file)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: wait4 writes into the status and the zeroed struct we own; `pid` is our child, not
    // reaped elsewhere (`child` is dropped without waiting).
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut ru) }, pid);
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let text = std::fs::read_to_string(out).unwrap() + &std::fs::read_to_string(err).unwrap();
    let peak = std::fs::read_to_string(&peak_file).unwrap_or_default();
    let kb: f64 = peak
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no peak reported ({peak:?}): {text}"));
    (ok, text, kb / 1024.0)
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
    let args = ["photos", "add", path.to_str().unwrap(), photo.to_str().unwrap(), "--patch", "150999SJBG2025000001"];
    let (ok, text, peak) = tuban_measured(&args, _dir.path());
    assert!(ok, "{text}");
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
    let (_, text, peak) =
        tuban_measured(&["photos", "add", path.to_str().unwrap(), big.to_str().unwrap()], _dir.path());
    assert!(text.contains("头部声称65520像素.jpg"), "{text}");
    assert!(peak < 300.0, "peak {peak:.0} MB for a header claiming 65520×65520");
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
    // It opens (the header is well-formed) and every view of it is a read error naming the file:
    // the strips the header points at are not there.
    let lying = common::fixture("derived/header_claims_60000px.tif");
    let src = RasterSource::open(&lying).unwrap();
    let (lon, lat) = tuban_core::gk::to_lonlat("EPSG:4546", 530_050.0, 4_614_950.0).unwrap();
    for z in [12, 17] {
        let (z, x, y) = tile_of(lon, lat, z);
        match src.render_tile(z, x, y) {
            Err(e @ ImageryError::Read { .. }) => assert!(
                e.to_string().contains("header_claims_60000px.tif") && e.to_string().contains("文件可能已损坏"),
                "{e}"
            ),
            other => panic!("zoom {z} of a header that lies about its size: {:?}", other.map(|t| t.map(|v| v.len()))),
        }
    }
}
