//! The hub's sync under kills: the client killed with SIGKILL at each aimed point of a sync (in
//! the hub's transaction, after its commit, inside the local acknowledgement and the local
//! pull), the hub crashed (`pg_ctl -m immediate`) while a push is in flight, and the hub gone
//! altogether. Afterwards every acknowledged edit is on exactly one side or both: none lost,
//! none applied twice (the hub's change log and the local audit log are counted).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use postgres::NoTls;
use tuban_core::store::{Access, Project};

use crate::common;
use crate::pg;

fn tuban(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tuban"));
    c.args(args).env_remove("TUBAN_FAILPOINT").env_remove("TUBAN_PAUSEPOINT");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn killed(out: &Output) -> bool {
    use std::os::unix::process::ExitStatusExt;
    out.status.signal() == Some(9)
}

/// A published sample project and two joined copies (a, b).
fn setup(c: &pg::Cluster) -> (tempfile::TempDir, String, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = c.database();
    let url = c.url(&db);
    drop(common::publish_sample(&url));
    let (a, b) = (dir.path().join("a.gpkg"), dir.path().join("b.gpkg"));
    for f in [&a, &b] {
        let out = tuban(&["hub", "join", &url, "--out", &f.display().to_string()], &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    (dir, url, a, b)
}

fn first_key(path: &Path) -> String {
    let p = Project::open(path, Access::ReadOnly).unwrap();
    p.patches().unwrap()[0].key.clone()
}

fn set(path: &Path, key: &str, value: &str) {
    let out = tuban(&["set", &path.display().to_string(), key, &format!("BZ={value}")], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn value_here(path: &Path, key: &str) -> Option<String> {
    let p = Project::open(path, Access::ReadOnly).unwrap();
    let fid = p.find_patch(key).unwrap().unwrap();
    let r = p.patch(fid).unwrap().unwrap();
    r.value(p.template(), "BZ").map(|v| v.to_string()).filter(|s| !s.is_empty())
}

/// (hub value, change-log rows with that value)
fn on_hub(url: &str, key: &str, value: &str) -> (Option<String>, i64) {
    let mut c = postgres::Client::connect(url, NoTls).unwrap();
    let v: Option<String> =
        c.query_one("SELECT fields->>'BZ' FROM tuban.patches WHERE key = $1", &[&key]).unwrap().get(0);
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM tuban.changes c JOIN tuban.patches p USING (uid) WHERE p.key = $1 AND c.field = 'BZ' AND c.after = $2",
            &[&key, &value],
        )
        .unwrap()
        .get(0);
    (v, n)
}

fn hub_audit_rows(path: &Path, key: &str) -> usize {
    let p = Project::open(path, Access::ReadOnly).unwrap();
    let fid = p.find_patch(key).unwrap().unwrap();
    p.audit_log(Some(fid)).unwrap().iter().filter(|e| e.action == "hub" && e.field.as_deref() == Some("BZ")).count()
}

fn sync(path: &Path, env: &[(&str, &str)]) -> Output {
    tuban(&["hub", "sync", &path.display().to_string()], env)
}

#[test]
fn a_client_killed_at_every_point_of_a_sync_loses_no_edit_and_applies_none_twice() {
    let Some(c) = pg::shared("hub kills") else { return };
    let (_dir, url, a, b) = setup(c);
    let key = first_key(&a);
    for (round, point) in
        ["hub.push_before_commit", "hub.after_push_commit", "hub.ack_before_commit"].into_iter().enumerate()
    {
        let value = format!("第{round}次");
        set(&a, &key, &value);
        let out = sync(&a, &[("TUBAN_FAILPOINT", point)]);
        assert!(killed(&out), "{point}: {}", String::from_utf8_lossy(&out.stderr));
        let (_, n) = on_hub(&url, &key, &value);
        assert_eq!(n, i64::from(point != "hub.push_before_commit"), "{point}: committed on the hub or not at all");
        let out = sync(&a, &[]);
        assert!(out.status.success(), "{point}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(on_hub(&url, &key, &value), (Some(value.clone()), 1), "{point}: on the hub exactly once");
        let p = Project::open(&a, Access::ReadOnly).unwrap();
        assert!(p.hub_outgoing().unwrap().changes.is_empty(), "{point}: nothing left to push");
        assert!(p.conflicts().unwrap().is_empty(), "{point}: no conflict with ourselves");
    }
    // The other copy killed inside its pull: nothing applied; the next sync applies it once.
    let out = sync(&b, &[("TUBAN_FAILPOINT", "hub.pull_before_commit")]);
    assert!(killed(&out), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(value_here(&b, &key), None);
    assert_eq!(hub_audit_rows(&b, &key), 0);
    let out = sync(&b, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(value_here(&b, &key).as_deref(), Some("第2次"));
    assert_eq!(hub_audit_rows(&b, &key), 1, "the net change once");
    let out = sync(&b, &[]);
    assert!(out.status.success());
    assert_eq!(hub_audit_rows(&b, &key), 1, "a second sync changes nothing");
}

#[test]
fn the_hub_crashing_mid_push_and_then_gone_leaves_every_edit_to_push_again() {
    let Some(c) = pg::private("hub crash") else { return };
    let (dir, url, a, _b) = setup(&c);
    let key = first_key(&a);
    set(&a, &key, "断电前");
    let release = dir.path().join("go");
    let err = dir.path().join("sync.err");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tuban"))
        .args(["hub", "sync", &a.display().to_string()])
        .env("TUBAN_PAUSEPOINT", "hub.push_before_commit")
        .env("TUBAN_PAUSE_UNTIL", &release)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !std::fs::read_to_string(&err).unwrap_or_default().contains("pausepoint") {
        assert!(t.elapsed() < Duration::from_secs(60), "the sync never reached its push");
        std::thread::sleep(Duration::from_millis(50));
    }
    c.stop_server(true); // a crash: the push's transaction is lost
    std::fs::write(&release, "").unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "the sync did not end after the hub died");
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{}", c.port)), "names the server: {stderr}");
    // The hub is gone: a sync says so, names it, and changes nothing here.
    let out = sync(&a, &[]);
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(msg.contains("cannot reach the hub") && msg.contains(&c.port.to_string()), "{msg}");
    assert!(!msg.contains("panicked"), "{msg}");
    let p = Project::open(&a, Access::ReadOnly).unwrap();
    assert_eq!(p.hub_outgoing().unwrap().changes.len(), 1, "the edit waits to be pushed");
    drop(p);
    // Back up: the edit arrives once.
    c.start_server().unwrap();
    assert!(c.wait_ready(Duration::from_secs(60)));
    let out = sync(&a, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(on_hub(&url, &key, "断电前"), (Some("断电前".into()), 1));
}
