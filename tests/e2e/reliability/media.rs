//! Media that refuse writes: a project on a read-only medium, a disk that fills up.
//! Both need mount rights; without them the tests fail under `CI=true` and say why elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::process::{Command, Stdio};

/// A mount made for a test, undone when dropped (also when the test fails).
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Runs `mount ARGS TARGET`; the reason (mount's own message) where mounting is not permitted
/// (not root, or a container without CAP_SYS_ADMIN).
fn mount(args: &[&str], target: &std::path::Path) -> Result<Mount, String> {
    std::fs::create_dir_all(target).unwrap();
    match Command::new("mount").args(args).arg(target).stderr(Stdio::piped()).output() {
        Ok(o) if o.status.success() => Ok(Mount(target.to_path_buf())),
        Ok(o) => Err(format!("mount {} failed: {}", args.join(" "), String::from_utf8_lossy(&o.stderr).trim())),
        Err(e) => Err(format!("mount could not be run: {e}")),
    }
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
    let _bind = match mount(&["--bind", writable.to_str().unwrap()], &ro) {
        Ok(m) => m,
        Err(reason) => return super::cannot_run("a_project_on_a_read_only_medium_can_be_viewed_not_changed", &reason),
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
    let _tmpfs = match mount(&["-t", "tmpfs", "-o", "size=1m", "tmpfs"], &disk) {
        Ok(m) => m,
        Err(reason) => return super::cannot_run("a_full_disk_during_import_and_export_loses_nothing", &reason),
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
