//! A linked copy in the window: it syncs in the background on opening, an edit typed in the
//! window reaches the hub, another client's edit arrives through LISTEN/NOTIFY and shows in the
//! row, and the status bar says when the hub is gone and when a login is refused (pictures of
//! both in target/screenshots/).

use super::*;

use std::time::{Duration, Instant};

use tuban_app::commands::Command;
use tuban_core::hub::{publish, sync, Hub};
use tuban_model::progress::Progress;

const P5: &str = "150999SJBG2025000005";

/// Runs frames until `done` holds (at most `limit`), failing with `what` otherwise.
fn frames_until(
    h: &mut Harness<'_, TubanApp>,
    limit: Duration,
    what: &str,
    done: impl Fn(&Harness<'_, TubanApp>) -> bool,
) {
    let t = Instant::now();
    while !done(h) {
        assert!(t.elapsed() < limit, "after {} s still not: {what}", limit.as_secs());
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Saves what the window shows to target/screenshots/NAME.png for a person to look at (the
/// status bar holds clocks, so it is not compared with a stored snapshot).
fn save_picture(h: &mut Harness<'_, TubanApp>, name: &str) {
    let dir = common::root().join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let img = h.render().expect("render the window");
    img.save(dir.join(format!("{name}.png"))).unwrap();
}

fn shows(h: &Harness<'_, TubanApp>, text: &str) -> bool {
    h.query_by_label_contains(text).is_some()
}

fn bz(path: &std::path::Path, key: &str) -> Option<String> {
    let p = Project::open(path, Access::ReadOnly).unwrap();
    let fid = p.find_patch(key).unwrap().unwrap();
    p.patch(fid).unwrap().unwrap().value(p.template(), "BZ").map(|v| v.to_string())
}

#[test]
fn a_linked_copy_syncs_in_the_background_and_says_when_the_hub_is_gone() {
    let Some(c) = crate::pg::private("window hub") else { return };
    let db = c.database();
    let url = c.url(&db);
    let dir = common::publish_sample(&url);
    let mut hub = Hub::connect(&url).unwrap();
    let (mine, theirs) = (dir.path().join("窗口.gpkg"), dir.path().join("另一台.gpkg"));
    publish::join(&mut hub, &mine, None, &Progress::new()).unwrap();
    let mut other = Hub::connect(&url).unwrap();
    publish::join(&mut other, &theirs, None, &Progress::new()).unwrap();

    let mut h = harness(&mine, Lang::Zh);
    frames_until(&mut h, Duration::from_secs(30), "the first sync", |h| shows(h, "中心库: 已同步"));
    // Typed in the window: on the hub a few seconds later.
    let i = h.state().ws.as_ref().unwrap().records.iter().position(|r| r.key == P5).unwrap();
    h.state_mut().send(Command::Select(i));
    h.run_steps(2);
    h.state_mut().send(Command::SetText { field: "BZ".into(), text: "窗口里核实".into() });
    h.run_steps(2);
    let on_hub = |key: &str| -> Option<String> {
        let mut pg = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        pg.query_one("SELECT fields->>'BZ' FROM tuban.patches WHERE key = $1", &[&key]).unwrap().get(0)
    };
    frames_until(&mut h, Duration::from_secs(30), "the edit pushed", |_| on_hub(P5).as_deref() == Some("窗口里核实"));
    // Another client's edit arrives by notification, without waiting for the 30 s round.
    let p6 = "150999SJBG2025000006";
    {
        let mut q = Project::open(&theirs, Access::ReadWrite).unwrap();
        let fid = q.require_patch(p6).unwrap();
        q.set_text(fid, &[("BZ", "外业：已拆除")]).unwrap();
        sync::sync(&mut other, &mut q, &Progress::new()).unwrap();
    }
    let t = Instant::now();
    frames_until(&mut h, Duration::from_secs(20), "the other client's edit pulled", |h| {
        let ws = h.state().ws.as_ref().unwrap();
        ws.records.iter().any(|r| {
            r.key == p6
                && r.value(ws.project.template(), "BZ").map(|v| v.to_string()).as_deref() == Some("外业：已拆除")
        })
    });
    assert!(t.elapsed() < Duration::from_secs(15), "came by notification, not by the 30 s round");
    assert_eq!(bz(&mine, p6).as_deref(), Some("外业：已拆除"), "and it is in the file");
    // Claiming from the status bar: ten leases, the current patch's shown under its heading.
    h.get_by_label("领取 10 个").click();
    frames_until(&mut h, Duration::from_secs(20), "ten patches claimed", |h| shows(h, "我领取中 10"));
    let first = h.state().ws.as_ref().unwrap().records.iter().position(|r| r.key == "150999SJBG2025000001").unwrap();
    h.state_mut().send(Command::Select(first));
    h.run_steps(2);
    assert!(shows(&h, "我已领取，有效至"), "the lease of the current patch is shown");
    h.state_mut().send(Command::Select(i));
    h.run_steps(2);

    // The hub goes away: the status bar says so; the window keeps working and keeps the edit.
    c.stop_server(true);
    h.state_mut().send(Command::SetText { field: "BZ".into(), text: "断网时的修改".into() });
    h.run_steps(2);
    frames_until(&mut h, Duration::from_secs(30), "the offline notice", |h| shows(h, "离线：修改保存在本地"));
    assert_eq!(bz(&mine, P5).as_deref(), Some("断网时的修改"));
    h.run_steps(2);
    save_picture(&mut h, "hub_offline");
    // Back: the edit goes up by itself.
    c.start_server().unwrap();
    assert!(c.wait_ready(Duration::from_secs(60)));
    frames_until(&mut h, Duration::from_secs(60), "the offline edit pushed", |_| {
        on_hub(P5).as_deref() == Some("断网时的修改")
    });
}

#[test]
fn a_refused_login_is_said_in_the_status_bar_and_changes_nothing() {
    let Some(c) = crate::pg::shared("window refused") else { return };
    let db = c.database();
    let dir = common::publish_sample(&c.url(&db));
    let mut hub = Hub::connect(&c.url(&db)).unwrap();
    hub.add_user("zhang", "admin", None, "right-pw").unwrap();
    let mine = dir.path().join("张.gpkg");
    let mut zh = Hub::connect(&c.user_url(&db, "zhang", "right-pw")).unwrap();
    publish::join(&mut zh, &mine, None, &Progress::new()).unwrap();
    let before = std::fs::read(&mine).unwrap().len();
    // The password changed on the server since: the window's sync is refused.
    hub.add_user("zhang", "admin", None, "new-pw").unwrap();
    let mut h = harness(&mine, Lang::Zh);
    frames_until(&mut h, Duration::from_secs(30), "the refusal", |h| shows(h, "同步被拒绝"));
    let ws = h.state().ws.as_ref().unwrap();
    let text = match &ws.hub.as_ref().unwrap().state {
        tuban_app::hub::HubState::Refused(t) => t.clone(),
        other => panic!("{other:?}"),
    };
    assert!(text.contains("zhang") && text.contains(&c.port.to_string()) && text.contains(".pgpass"), "{text}");
    assert!(std::fs::read(&mine).unwrap().len() >= before);
    save_picture(&mut h, "hub_refused");
}
