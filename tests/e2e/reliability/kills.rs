//! kill -9 at random moments and at aimed points inside transactions: after each kill the
//! project passes `PRAGMA integrity_check` and holds exactly the acknowledged edits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Output;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::OptionalExtension;
use tuban_core::store::{Access, Project};

/// Runs `tuban set` again and again and kills one with SIGKILL at a random moment, many times:
/// after each kill the project opens, passes `PRAGMA integrity_check`, and every edit whose
/// command had returned is there; the killed edit is either wholly there or wholly absent.
#[test]
fn edits_survive_kill_9() {
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let path = p.path().to_path_buf();
    drop(p);
    let keys: Vec<String> = (1..=11).map(|i| format!("150999SJBG2025{i:06}")).collect();
    let mut acked: HashMap<String, String> = HashMap::new();
    let mut seed = 12345u64;
    let (mut runs, mut edits, mut killed, mut landed, mut lost) = (0, 0, 0, 0, 0);
    let started = Instant::now();
    for run in 0..40 {
        runs += 1;
        // A few edits that complete…
        for k in 0..3 {
            let key = &keys[(run * 3 + k) % keys.len()];
            let value = format!("第{run}轮第{k}次");
            let o = tuban(&["set", path.to_str().unwrap(), key, &format!("BZ={value}")], None);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            acked.insert(key.clone(), value);
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
        let killed_now = status.signal() == Some(libc::SIGKILL);
        if killed_now {
            killed += 1;
        } else {
            assert!(status.success(), "run {run}: {status}");
            acked.insert(key.clone(), format!("被杀{run}"));
            edits += 1;
        }
        // The project is whole and holds every acknowledged edit.
        assert_eq!(integrity(&path), "ok", "run {run}");
        let p = Project::open(&path, Access::ReadOnly).unwrap();
        for (k, value) in acked.iter_mut() {
            let got = bz(&p, k);
            if killed_now && *k == key && got == format!("被杀{run}") {
                // Committed before the signal arrived (its audit row is checked below).
                landed += 1;
                *value = got;
            } else if got != *value {
                lost += 1;
                eprintln!("run {run}: {k} = {got}, acknowledged {value}");
            }
            assert_eq!(last_audited_bz(&path, &p, k).as_deref(), Some(value.as_str()), "run {run}: {k}");
        }
    }
    println!(
        "random kill -9: runs {runs}, edits acknowledged {edits}, killed {killed} (committed before the \
         signal {landed}, rolled back {}), acknowledged edits lost {lost}, {:.1} s",
        killed - landed,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(lost, 0, "acknowledged edits lost");
    assert!(killed > 0, "no run was killed");
    // GDAL's validator still accepts the file.
    let out = Command::new("/usr/bin/python3")
        .arg("/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_gpkg.py")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success() && out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    drop(dir);
}

/// Runs the binary (with `TUBAN_FAILPOINT` set when given) and waits for it.
fn tuban(args: &[&str], failpoint: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tuban"));
    c.args(args).env_remove("TUBAN_FAILPOINT");
    if let Some(f) = failpoint {
        c.env("TUBAN_FAILPOINT", f);
    }
    c.output().unwrap()
}

fn integrity(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap()
}

/// The remark (BZ) of a patch.
fn bz(p: &Project, key: &str) -> String {
    let fid = p.find_patch(key).unwrap().unwrap();
    p.patch(fid).unwrap().unwrap().value(p.template(), "BZ").unwrap().to_string()
}

/// The new value of the last audit row of the patch's BZ (`None` when it was never edited).
fn last_audited_bz(path: &Path, p: &Project, key: &str) -> Option<String> {
    let fid = p.find_patch(key).unwrap().unwrap();
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row(
        "SELECT new_value FROM tuban_audit WHERE patch_fid = ?1 AND field = 'BZ' ORDER BY id DESC LIMIT 1",
        [fid],
        |r| r.get(0),
    )
    .optional()
    .unwrap()
}

/// Rows of the audit log.
fn audit_rows(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row("SELECT count(*) FROM tuban_audit", [], |r| r.get(0)).unwrap()
}

/// Kills at failpoints: each run must die by SIGKILL, and the process's last words say whether
/// SQLite was inside a transaction at that moment.
#[derive(Default)]
struct Aimed {
    runs: usize,
    inside: usize,
}

impl Aimed {
    /// Checks that `o` died by SIGKILL at `point` and counts whether it was inside a transaction.
    fn record(&mut self, point: &str, o: &Output) {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.signal(), Some(libc::SIGKILL), "{point}: not killed ({}): {err}", o.status);
        assert!(err.contains(&format!("tuban failpoint {point}")), "{point}: another point fired: {err}");
        self.runs += 1;
        if err.contains("SIGKILL inside a transaction") {
            self.inside += 1;
        }
    }

    /// Prints the figures; every run must have landed inside a transaction.
    fn finish(&self, what: &str) {
        println!("aimed kill -9, {what}: runs {}, inside a transaction {}", self.runs, self.inside);
        assert!(self.runs > 0 && self.inside == self.runs, "{what}: {} of {} inside", self.inside, self.runs);
    }
}

/// The hook exists in debug builds only; a release test run cannot aim.
fn failpoints_available(test: &str) -> bool {
    if cfg!(debug_assertions) {
        return true;
    }
    super::cannot_run(test, "failpoints exist only in debug builds (cargo test without --release)");
    false
}

/// kill -9 inside an edit's transaction, after the values UPDATE and before its audit rows, and
/// just before COMMIT: the value last acknowledged is there with its audit row as the last one,
/// the audit log has not grown, and the next edit works.
#[test]
fn an_edit_killed_inside_its_transaction_leaves_the_acknowledged_value() {
    if !failpoints_available("an_edit_killed_inside_its_transaction_leaves_the_acknowledged_value") {
        return;
    }
    let (_dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let path = p.path().to_path_buf();
    drop(p);
    let file = path.to_str().unwrap();
    let mut aimed = Aimed::default();
    for (i, point) in ["edit.after_values", "edit.before_commit"].iter().cycle().take(8).enumerate() {
        let key = format!("150999SJBG2025{:06}", 1 + i % 4);
        let acked = format!("确认{i}");
        assert!(tuban(&["set", file, &key, &format!("BZ={acked}")], None).status.success());
        let (rows, before) = {
            let p = Project::open(&path, Access::ReadOnly).unwrap();
            let fid = p.find_patch(&key).unwrap().unwrap();
            (audit_rows(&path), p.patch(fid).unwrap().unwrap())
        };
        // Two fields in one edit: both or neither.
        let o = tuban(&["set", file, &key, &format!("BZ=被杀{i}"), &format!("DCRY=调查员{i}")], Some(point));
        aimed.record(point, &o);
        assert_eq!(integrity(&path), "ok", "{point}");
        let p = Project::open(&path, Access::ReadOnly).unwrap();
        let fid = p.find_patch(&key).unwrap().unwrap();
        let rec = p.patch(fid).unwrap().unwrap();
        assert_eq!(bz(&p, &key), acked, "{point}: the killed edit is (half) there");
        assert_eq!(rec.values, before.values, "{point}: a field of the killed edit was written");
        assert_eq!(rec.status, before.status, "{point}: status changed");
        assert_eq!(last_audited_bz(&path, &p, &key).as_deref(), Some(acked.as_str()), "{point}");
        assert_eq!(audit_rows(&path), rows, "{point}: audit rows of a killed edit");
        drop(p);
        let o = tuban(&["set", file, &key, &format!("BZ=之后{i}")], None);
        assert!(o.status.success(), "{point}: after the kill: {}", String::from_utf8_lossy(&o.stderr));
    }
    aimed.finish("edits (after the values, before COMMIT)");
}

/// Rows of a table, read-only.
fn count(path: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// kill -9 in the middle of an import (after the first row, half-way, after the last row before
/// the batch is closed): the import is wholly absent (no batch, no patch, no source geometry, no
/// audit row, the layer's extent untouched) and the same import then goes through.
#[test]
fn an_import_killed_midway_is_wholly_absent() {
    if !failpoints_available("an_import_killed_midway_is_wholly_absent") {
        return;
    }
    let (_dir, p) = common::new_project("grassland");
    let path = p.path().to_path_buf();
    drop(p);
    let file = path.to_str().unwrap();
    let shp = common::sample_shp();
    let extent = "SELECT count(*) FROM gpkg_contents WHERE table_name = 'patches' AND min_x IS NOT NULL";
    let mut aimed = Aimed::default();
    for n in [1, 15, 30] {
        let audit = audit_rows(&path);
        let o = tuban(&["import", file, shp.to_str().unwrap()], Some(&format!("import.row:{n}")));
        aimed.record("import.row", &o);
        assert_eq!(integrity(&path), "ok", "row {n}");
        let p = Project::open(&path, Access::ReadOnly).unwrap();
        assert_eq!((p.patch_count().unwrap(), p.batches().unwrap().len()), (0, 0), "killed after row {n}");
        assert_eq!(count(&path, "SELECT count(*) FROM tuban_source_geom"), 0, "row {n}: source geometry kept");
        assert_eq!(count(&path, extent), 0, "row {n}: extent changed");
        assert_eq!(audit_rows(&path), audit, "row {n}: audit rows of a killed import");
    }
    let o = tuban(&["import", file, shp.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    assert_eq!((p.patch_count().unwrap(), p.batches().unwrap().len()), (30, 1));
    aimed.finish("import (after row 1, 15, 30 of 30)");
}

/// kill -9 inside an attachment's transaction (after its INSERT, before its audit row) while
/// `tuban case attach` adds three files: the files attached before are there with their bytes and
/// audit rows, the killed one and the ones after it are absent, and attaching again works.
#[test]
fn an_attachment_killed_inside_its_transaction_is_absent() {
    if !failpoints_available("an_attachment_killed_inside_its_transaction_is_absent") {
        return;
    }
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let fid = p.find_patch("150999SJBG2025000001").unwrap().unwrap();
    let number = p.create_case(None, &[fid], "", "").unwrap();
    let path = p.path().to_path_buf();
    drop(p);
    let files: Vec<std::path::PathBuf> = (1..=3)
        .map(|i| {
            let f = dir.path().join(format!("文书{i}.pdf"));
            std::fs::write(&f, format!("%PDF-1.4 第{i}份").repeat(100 * i)).unwrap();
            f
        })
        .collect();
    let attachment_audits =
        "SELECT count(*) FROM tuban_audit WHERE action = 'case' AND field = 'attachment' AND new_value IS NOT NULL";
    let mut aimed = Aimed::default();
    for nth in [1, 2, 3] {
        let audited = count(&path, attachment_audits);
        let mut args = vec!["case", "attach", path.to_str().unwrap(), &number];
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        let o = tuban(&args, Some(&format!("attach.after_insert:{nth}")));
        aimed.record("attach.after_insert", &o);
        assert_eq!(integrity(&path), "ok", "attachment {nth}");
        let p = Project::open(&path, Access::ReadOnly).unwrap();
        let names: Vec<String> = p.case_attachments(&number).unwrap().into_iter().map(|a| a.file_name).collect();
        let expected: Vec<String> = (1..nth).map(|i| format!("文书{i}.pdf")).collect();
        assert_eq!(names, expected, "killed at attachment {nth}");
        assert_eq!(count(&path, attachment_audits) - audited, (nth - 1) as i64, "audit rows, killed at {nth}");
        drop(p);
        // Start again from no attachment.
        let mut p = Project::open(&path, Access::ReadWrite).unwrap();
        for a in p.case_attachments(&number).unwrap() {
            p.remove_attachment(a.id).unwrap();
        }
    }
    let mut args = vec!["case", "attach", path.to_str().unwrap(), &number];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let o = tuban(&args, None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    let stored = p.case_attachments(&number).unwrap();
    assert_eq!(stored.len(), 3);
    for (a, f) in stored.iter().zip(&files) {
        assert_eq!(a.size_bytes as u64, std::fs::metadata(f).unwrap().len(), "{}", a.file_name);
    }
    aimed.finish("case attachments (1st, 2nd, 3rd of 3)");
}

/// kill -9 inside a merge (after the 细斑 step, after the fields, just before COMMIT): the master
/// is exactly as before (no value, no 细斑, no receipt, no audit row); the merge then applies
/// every change once, and merging again applies nothing.
#[test]
fn a_merge_killed_midway_leaves_the_master_as_it_was() {
    if !failpoints_available("a_merge_killed_midway_leaves_the_master_as_it_was") {
        return;
    }
    let (dir, p) = common::new_project("grassland");
    drop(p);
    let master = dir.path().join("项目 测试.gpkg");
    let m = master.to_str().unwrap();
    let shp = common::sample_shp();
    assert!(tuban(&["import", m, shp.to_str().unwrap()], None).status.success());
    let out = dir.path().join("包");
    let o = tuban(&["package", "create", m, "--by", "query", "XZMC = 乌兰花镇", "--out", out.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pkg = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).next().unwrap();
    let k = pkg.to_str().unwrap();
    for args in [
        vec!["set", k, "150999SJBG2025000004", "BZ=包内修改"],
        vec!["set", k, "150999SJBG2025000003", "HCJG=伪变化"],
        vec!["split", k, "150999SJBG2025000004", "--line", "111.4662,41.626 111.4662,41.6282"],
    ] {
        let o = tuban(&args, None);
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let receipts = "SELECT count(*) FROM tuban_merges";
    let before = (audit_rows(&master), count(&master, "SELECT count(*) FROM patches"));
    let mut aimed = Aimed::default();
    for point in ["merge.after_structural", "merge.after_fields", "merge.before_commit"] {
        let o = tuban(&["package", "merge", m, k], Some(point));
        aimed.record(point, &o);
        assert_eq!(integrity(&master), "ok", "{point}");
        assert_eq!((audit_rows(&master), count(&master, "SELECT count(*) FROM patches")), before, "{point}");
        assert_eq!(count(&master, receipts), 0, "{point}: a receipt of a killed merge");
        let p = Project::open(&master, Access::ReadOnly).unwrap();
        assert_eq!(bz(&p, "150999SJBG2025000004"), "", "{point}: a value of the killed merge");
    }
    aimed.finish("merge (after the 细斑, after the fields, before COMMIT)");
    let o = tuban(&["package", "merge", m, k], None);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success() && text.contains("应用 2") && text.contains("细斑 1"), "{text}");
    let p = Project::open(&master, Access::ReadOnly).unwrap();
    assert_eq!(bz(&p, "150999SJBG2025000004"), "包内修改");
    drop(p);
    let o = tuban(&["package", "merge", m, k], None);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(text.contains("应用 0") && text.contains("细斑 0") && text.contains("冲突 0"), "merged twice: {text}");
    assert_eq!(count(&master, receipts), 2);
}
