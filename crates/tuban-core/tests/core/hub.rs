//! The team hub on a real PostgreSQL + PostGIS cluster (a throwaway one, `tests/common/pg.rs`):
//! publish and join, three clients editing 1,000 patches with overlapping claims and edits
//! (the expected conflicts worked out from the script alone: who synced first holds the hub),
//! row-level security by township and role, refused logins, another project's hub and an older
//! hub schema.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use postgres::NoTls;
use tuban_core::hub::{lease, publish, schema, sync, Hub, HubError};
use tuban_core::store::{Access, Project};
use tuban_model::progress::Progress;

use crate::common;
use crate::common::{field_text as text, set_field as set};
use crate::pg;
use crate::synth;

const FIELDS: [&str; 2] = ["SPWH", "BZ"];

fn project_with(n: usize, dir: &Path) -> PathBuf {
    let shp = dir.join("patches.shp");
    synth::generate(&shp, n).unwrap();
    let (tmp, mut p) = common::new_project("grassland");
    common::import(&mut p, &shp).unwrap();
    let path = dir.join("县项目.gpkg");
    let src = p.path().to_path_buf();
    drop(p);
    std::fs::copy(&src, &path).unwrap();
    drop(tmp);
    path
}

fn key_of(i: usize) -> String {
    format!("150999SJBG2025{:06}", i + 1)
}

fn hub_value(url: &str, key: &str, field: &str) -> Option<String> {
    let mut c = postgres::Client::connect(url, NoTls).unwrap();
    c.query_one("SELECT fields->>$2 FROM tuban.patches WHERE key = $1", &[&key, &field]).unwrap().get(0)
}

fn open(path: &Path, user: &str) -> Project {
    let mut p = Project::open(path, Access::ReadWrite).unwrap();
    p.set_user(user);
    p
}

/// Publishes a project of `n` patches to a fresh database; returns (dir, database, url).
fn published(c: &pg::Cluster, n: usize) -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let project = project_with(n, dir.path());
    let db = c.database();
    let url = c.url(&db);
    let mut hub = Hub::connect(&url).unwrap();
    schema::init(&mut hub).unwrap();
    let p = Project::open(&project, Access::ReadOnly).unwrap();
    let done = publish::publish(&p, &mut hub, &Progress::new()).unwrap();
    assert_eq!(done.patches, n);
    assert_eq!(done.bases.len(), 1 + synth::TOWNS.len().min(n), "the whole project and one base per township");
    (dir, db, url)
}

#[test]
fn three_clients_edit_1000_patches_and_every_conflict_is_the_one_the_script_predicts() {
    let Some(c) = pg::shared("three_clients") else { return };
    let (dir, db, admin_url) = published(c, 1000);
    let mut admin = Hub::connect(&admin_url).unwrap();
    let names = ["alice", "bob", "carol"];
    for n in names {
        admin.add_user(n, "admin", None, &format!("{n}-pw")).unwrap();
    }
    let urls: Vec<String> = names.iter().map(|n| c.user_url(&db, n, &format!("{n}-pw"))).collect();
    let files: Vec<PathBuf> = names.iter().map(|n| dir.path().join(format!("{n}.gpkg"))).collect();
    for (url, file) in urls.iter().zip(&files) {
        let mut h = Hub::connect(url).unwrap();
        let j = publish::join(&mut h, file, None, &Progress::new()).unwrap();
        assert_eq!(j.patches, 1000);
    }
    // The script: client k edits patches [k*250, k*250 + 450) in both fields; in the overlaps
    // a third of the values agree with the client before (the same edit made twice).
    let mut script: Vec<BTreeMap<(String, String), String>> = vec![BTreeMap::new(); 3];
    for (k, edits) in script.iter_mut().enumerate() {
        for i in k * 250..(k * 250 + 450).min(1000) {
            for f in FIELDS {
                let v = if i % 3 == 0 { format!("同-{i}-{f}") } else { format!("{}-{i}-{f}", names[k]) };
                edits.insert((key_of(i), f.to_string()), v);
            }
        }
    }
    for (k, file) in files.iter().enumerate() {
        let mut p = open(file, names[k]);
        for ((key, f), v) in &script[k] {
            set(&mut p, key, f, v);
        }
    }
    // Sync in order alice, bob, carol: the hub keeps the first value of each field; a later
    // client whose value differs from the hub's gets a conflict, one whose value agrees none.
    let mut hub_expected: BTreeMap<(String, String), String> = BTreeMap::new();
    for (k, file) in files.iter().enumerate() {
        let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
        for (kf, v) in &script[k] {
            match hub_expected.get(kf) {
                Some(h) if h != v => {
                    expected.insert(kf.clone());
                }
                Some(_) => {}
                None => {
                    hub_expected.insert(kf.clone(), v.clone());
                }
            }
        }
        let mut p = open(file, names[k]);
        let mut h = Hub::connect(&urls[k]).unwrap();
        let r = sync::sync(&mut h, &mut p, &Progress::new()).unwrap();
        let got: BTreeSet<(String, String)> =
            p.conflicts().unwrap().into_iter().map(|c| (c.key.clone(), c.field.clone())).collect();
        assert_eq!(got, expected, "{}'s conflicts", names[k]);
        assert_eq!(r.conflicts(), expected.len());
        let first: usize = script[k].keys().filter(|kf| (0..k).all(|j| !script[j].contains_key(*kf))).count();
        assert_eq!(r.pushed.applied, first, "{} pushes what no one before had changed", names[k]);
    }
    for ((key, f), v) in &hub_expected {
        assert_eq!(hub_value(&admin_url, key, f).as_deref(), Some(v.as_str()), "hub {key} {f}");
    }
    // A second round brings everyone the others' changes; open conflicts stay, nothing else.
    for (k, file) in files.iter().enumerate() {
        let mut p = open(file, names[k]);
        let mut h = Hub::connect(&urls[k]).unwrap();
        sync::sync(&mut h, &mut p, &Progress::new()).unwrap();
    }
    for (k, file) in files.iter().enumerate() {
        let p = open(file, names[k]);
        let open_conflicts: BTreeSet<(String, String)> =
            p.conflicts().unwrap().into_iter().map(|c| (c.key.clone(), c.field.clone())).collect();
        for i in (0..1000).step_by(7) {
            for f in FIELDS {
                let kf = (key_of(i), f.to_string());
                let here = text(&p, &kf.0, f);
                if open_conflicts.contains(&kf) {
                    // Not lost: ours is kept here, theirs waits in the queue.
                    assert_eq!(here.as_ref(), script[k].get(&kf), "{} keeps ours on {kf:?}", names[k]);
                } else {
                    assert_eq!(here.as_ref(), hub_expected.get(&kf), "{} holds the hub's {kf:?}", names[k]);
                }
            }
        }
    }
    // The change log has each applied edit once.
    let mut pgc = postgres::Client::connect(&admin_url, NoTls).unwrap();
    let logged: i64 = pgc.query_one("SELECT count(*) FROM tuban.changes", &[]).unwrap().get(0);
    let twice: i64 = pgc
        .query_one(
            "SELECT count(*) FROM (SELECT uid, field, after FROM tuban.changes GROUP BY 1, 2, 3 HAVING count(*) > 1) d",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(logged as usize, hub_expected.len());
    assert_eq!(twice, 0);

    // Claims overlap: alice takes 0..100, bob asks for 50..150 and gets 100..150; bob's edit of
    // a patch alice holds waits (held) until she releases it.
    let mut ha = Hub::connect(&urls[0]).unwrap();
    let mut hb = Hub::connect(&urls[1]).unwrap();
    let a_keys: Vec<String> = (0..100).map(key_of).collect();
    let b_keys: Vec<String> = (50..150).map(key_of).collect();
    let (taken, held) = lease::claim(&mut ha, &a_keys, lease::LEASE_TTL).unwrap();
    assert_eq!(taken.len(), 100);
    assert!(held.is_empty());
    let (taken, held) = lease::claim(&mut hb, &b_keys, lease::LEASE_TTL).unwrap();
    assert_eq!(taken.iter().map(|l| l.key.clone()).collect::<Vec<_>>(), (100..150).map(key_of).collect::<Vec<_>>());
    assert_eq!(held.len(), 50);
    assert!(held.iter().all(|l| l.holder == "alice"));
    let key = key_of(60);
    {
        let mut p = open(&files[1], "bob");
        set(&mut p, &key, "DSR", "某公司");
        let r = sync::sync(&mut hb, &mut p, &Progress::new()).unwrap();
        assert_eq!(r.pushed.missing, 1, "held by alice");
        assert_eq!(hub_value(&admin_url, &key, "DSR"), None);
        lease::release(&mut ha, None).unwrap();
        let r = sync::sync(&mut hb, &mut p, &Progress::new()).unwrap();
        assert_eq!(r.pushed.applied, 1);
        assert_eq!(hub_value(&admin_url, &key, "DSR").as_deref(), Some("某公司"));
    }
    // Next-N claims by three at once never share a patch.
    let claimed: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = urls
            .iter()
            .map(|u| {
                s.spawn(move || {
                    let mut h = Hub::connect(u).unwrap();
                    lease::claim_next(&mut h, Some(synth::TOWNS[0]), 20, lease::LEASE_TTL)
                        .unwrap()
                        .into_iter()
                        .map(|l| l.key)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: BTreeSet<&String> = claimed.iter().flatten().collect();
    assert_eq!(all.len(), claimed.iter().map(Vec::len).sum::<usize>(), "no patch claimed twice");
}

#[test]
fn row_level_security_keeps_analysts_to_their_township_and_reviewers_to_spot_checks() {
    let Some(c) = pg::shared("rls") else { return };
    let (dir, db, admin_url) = published(c, 80);
    let town = synth::TOWNS[1];
    let mut admin = Hub::connect(&admin_url).unwrap();
    admin.add_user("ana", "analyst", Some(town), "ana-pw").unwrap();
    admin.add_user("rita", "reviewer", None, "rita-pw").unwrap();
    let ana = c.user_url(&db, "ana", "ana-pw");
    let rita = c.user_url(&db, "rita", "rita-pw");

    // A refused login: a clear message naming the server and the user, no file written.
    let wrong = c.user_url(&db, "ana", "wrong");
    let e = Hub::connect(&wrong).err().unwrap();
    assert!(matches!(e, HubError::LoginRefused { .. }), "{e}");
    assert!(e.to_string().contains("ana") && e.to_string().contains(&c.port.to_string()), "{e}");

    // The analyst gets their township only and may not ask for another.
    let mut h = Hub::connect(&ana).unwrap();
    let e = publish::join(&mut h, &dir.path().join("x.gpkg"), Some(synth::TOWNS[2]), &Progress::new()).unwrap_err();
    assert!(matches!(e, HubError::Forbidden { .. }), "{e}");
    assert!(!dir.path().join("x.gpkg").exists());
    let mine = dir.path().join("ana.gpkg");
    let j = publish::join(&mut h, &mine, None, &Progress::new()).unwrap();
    assert_eq!(j.township.as_deref(), Some(town));
    assert_eq!(j.patches, 10);
    let mut p = open(&mine, "ana");
    assert_eq!(p.patches().unwrap().len(), 10);
    let key = key_of(1);
    set(&mut p, &key, "BZ", "已外业核实");
    sync::sync(&mut h, &mut p, &Progress::new()).unwrap();
    assert_eq!(hub_value(&admin_url, &key, "BZ").as_deref(), Some("已外业核实"));
    drop(p);
    // In SQL too: the other townships are invisible and cannot be changed.
    let mut raw = postgres::Client::connect(&ana, NoTls).unwrap();
    let seen: i64 = raw.query_one("SELECT count(*) FROM tuban.patches", &[]).unwrap().get(0);
    assert_eq!(seen, 10);
    let changed = raw.execute("UPDATE tuban.patches SET verdict = 'x' WHERE township <> $1", &[&town]).unwrap();
    assert_eq!(changed, 0);

    // The reviewer reads everything, may record a spot-check verdict, and may not push edits:
    // refused with the reason, and the local copy keeps the edit to push (nothing changed).
    let mut hr = Hub::connect(&rita).unwrap();
    let theirs = dir.path().join("rita.gpkg");
    let j = publish::join(&mut hr, &theirs, None, &Progress::new()).unwrap();
    assert_eq!(j.patches, 80);
    let mut raw = postgres::Client::connect(&rita, NoTls).unwrap();
    raw.execute(
        "INSERT INTO tuban.spotchecks(uid, verdict) SELECT uid, '合格' FROM tuban.patches WHERE key = $1",
        &[&key],
    )
    .unwrap();
    assert!(raw.execute("UPDATE tuban.patches SET verdict = 'x'", &[]).is_err());
    let mut p = open(&theirs, "rita");
    set(&mut p, &key_of(2), "BZ", "抽查意见");
    let before = p.hub_link().unwrap().unwrap();
    // Meanwhile the analyst goes on: the reviewer's refused push does not keep that out.
    {
        let mut q = open(&mine, "ana");
        set(&mut q, &key_of(9), "BZ", "第二处");
        sync::sync(&mut h, &mut q, &Progress::new()).unwrap();
    }
    let e = sync::sync(&mut hr, &mut p, &Progress::new()).unwrap_err();
    assert_eq!(text(&p, &key_of(9), "BZ").as_deref(), Some("第二处"), "pulled although the push was refused");
    assert!(matches!(e, HubError::Forbidden { .. }), "{e}");
    assert!(e.to_string().contains("rita"), "{e}");
    assert_eq!(p.hub_link().unwrap().unwrap().pushed_audit, before.pushed_audit, "nothing acknowledged");
    assert_eq!(p.hub_outgoing().unwrap().changes.len(), 1, "the edit still waits to be pushed");
    assert_eq!(hub_value(&admin_url, &key_of(2), "BZ"), None);
}

#[test]
fn a_hub_of_another_project_or_a_newer_schema_is_refused_and_an_older_one_is_migrated() {
    let Some(c) = pg::shared("schemas") else { return };
    let (dir, _db, url) = published(c, 20);
    let mine = dir.path().join("mine.gpkg");
    let mut h = Hub::connect(&url).unwrap();
    publish::join(&mut h, &mine, None, &Progress::new()).unwrap();
    // Another project's hub.
    let (_d2, _db2, other) = published(c, 5);
    let mut p = open(&mine, "x");
    let mut ho = Hub::connect(&other).unwrap();
    let e = sync::sync(&mut ho, &mut p, &Progress::new()).unwrap_err();
    assert!(matches!(e, HubError::OtherProject { .. }), "{e}");
    let e = sync::connect_linked(&p, Some(&other)).err().unwrap();
    assert!(e.to_string().contains("linked to"), "{e}");
    // A newer schema.
    c.psql(&_db2, "UPDATE tuban.meta SET value = '99' WHERE key = 'schema_version'");
    let e = schema::check(&mut ho, None).unwrap_err();
    assert!(matches!(e, HubError::TooNew { version: 99, .. }), "{e}");
    // Not a hub at all.
    let empty = c.database();
    let mut he = Hub::connect(&c.url(&empty)).unwrap();
    assert!(matches!(schema::check(&mut he, None), Err(HubError::NotAHub { .. })));
    // An older (version 1) hub is migrated on first contact, with the version it came from.
    schema::init_version_1(&mut he).unwrap();
    let info = schema::check(&mut he, None).unwrap();
    assert_eq!(info.migrated_from, Some(1));
    assert_eq!(info.version, schema::HUB_SCHEMA_VERSION);
    assert_eq!(c.psql(&empty, "SELECT count(*) = 1 FROM information_schema.columns WHERE table_schema = 'tuban' AND table_name = 'patches' AND column_name = 'holder'"), "t");
    assert_eq!(schema::check(&mut he, None).unwrap().migrated_from, None);
}

#[test]
fn an_unreachable_hub_changes_nothing_locally() {
    let Some(c) = pg::shared("unreachable") else { return };
    let (dir, _db, url) = published(c, 10);
    let mine = dir.path().join("mine.gpkg");
    let mut h = Hub::connect(&url).unwrap();
    publish::join(&mut h, &mine, None, &Progress::new()).unwrap();
    let mut p = open(&mine, "x");
    set(&mut p, &key_of(0), "BZ", "离线修改");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let gone = format!("postgresql://tuban_test@127.0.0.1:{closed}/x?sslmode=disable");
    let e = Hub::connect(&gone).err().unwrap();
    assert!(e.is_unreachable(), "{e}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{closed}")), "{e}");
    assert_eq!(p.hub_outgoing().unwrap().changes.len(), 1);
    assert_eq!(text(&p, &key_of(0), "BZ").as_deref(), Some("离线修改"));
}

#[test]
fn tls_is_used_when_the_server_offers_it_and_required_when_asked() {
    let Some(c) = pg::private("tls") else { return };
    let db = c.database();
    let plain = |mode: &str| format!("postgresql://{}@127.0.0.1:{}/{db}?sslmode={mode}", pg::SUPERUSER, c.port);
    // No TLS on the server: prefer connects in the clear, require is refused with the server named.
    assert!(!Hub::connect(&plain("prefer")).unwrap().encrypted().unwrap());
    let e = Hub::connect(&plain("require")).err().unwrap();
    assert!(e.to_string().contains(&c.port.to_string()), "{e}");
    // A self-signed certificate, as counties have: prefer (the default) and require encrypt.
    if let Err(why) = c.enable_tls() {
        common::cannot_run("tls", &why);
        return;
    }
    assert!(Hub::connect(&plain("prefer")).unwrap().encrypted().unwrap());
    assert!(Hub::connect(&plain("require")).unwrap().encrypted().unwrap());
    let default = format!("postgresql://{}@127.0.0.1:{}/{db}", pg::SUPERUSER, c.port);
    assert!(Hub::connect(&default).unwrap().encrypted().unwrap(), "TLS when the server offers it");
}

#[test]
fn leases_expire_and_an_administrator_takes_one_over_on_the_record() {
    let Some(c) = pg::shared("leases") else { return };
    let (_dir, db, admin_url) = published(c, 40);
    let town = synth::TOWNS[3];
    let mut admin = Hub::connect(&admin_url).unwrap();
    admin.add_user("li", "analyst", Some(town), "li-pw").unwrap();
    admin.add_user("wang", "analyst", Some(town), "wang-pw").unwrap();
    admin.add_user("boss", "admin", None, "boss-pw").unwrap();
    let mut li = Hub::connect(&c.user_url(&db, "li", "li-pw")).unwrap();
    let mut wang = Hub::connect(&c.user_url(&db, "wang", "wang-pw")).unwrap();
    let mut boss = Hub::connect(&c.user_url(&db, "boss", "boss-pw")).unwrap();
    // li's claim of one second; wang sees it held, then free once it has expired.
    let got = lease::claim_next(&mut li, None, 2, std::time::Duration::from_secs(1)).unwrap();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|l| l.holder == "li"));
    let keys: Vec<String> = got.iter().map(|l| l.key.clone()).collect();
    let (taken, held) = lease::claim(&mut wang, &keys, lease::LEASE_TTL).unwrap();
    assert!(taken.is_empty());
    assert_eq!(held.len(), 2);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (taken, _) = lease::claim(&mut wang, &keys[..1], lease::LEASE_TTL).unwrap();
    assert_eq!(taken.len(), 1, "an expired lease can be claimed");
    // Only an administrator takes over, and the log keeps who held it before.
    let e = lease::take_over(&mut li, &keys[..1], lease::LEASE_TTL).unwrap_err();
    assert!(matches!(e, HubError::Forbidden { .. }), "{e}");
    let over = lease::take_over(&mut boss, &keys[..1], lease::LEASE_TTL).unwrap();
    assert_eq!(over[0].holder, "boss");
    assert_eq!(
        c.psql(&db, &format!("SELECT l.previous || '>' || l.holder FROM tuban.lease_log l JOIN tuban.patches p USING (uid) WHERE p.key = '{}' AND l.action = 'takeover'", keys[0])),
        "wang>boss"
    );
    // Another township's analyst cannot claim here.
    admin.add_user("zhao", "analyst", Some(synth::TOWNS[4]), "zhao-pw").unwrap();
    let mut zhao = Hub::connect(&c.user_url(&db, "zhao", "zhao-pw")).unwrap();
    let (taken, _) = lease::claim(&mut zhao, &keys[1..], lease::LEASE_TTL).unwrap();
    assert!(taken.is_empty(), "row-level security hides it");
}

/// What QGIS sees of the hub's patches table (PostGIS provider, as a supervisor opens it).
const QGIS_HUB: &str = r#"
import sys
from qgis.core import QgsApplication, QgsVectorLayer, QgsDataSourceUri
app = QgsApplication([], False)
app.initQgis()
host, port, db, user, pw = sys.argv[1:6]
uri = QgsDataSourceUri()
uri.setConnection(host, port, db, user, pw)
uri.setDataSource("tuban", "patches", "geom", "", "uid")
layer = QgsVectorLayer(uri.uri(False), "patches", "postgres")
print("valid=%s" % layer.isValid())
print("crs=%s" % layer.crs().authid())
print("features=%d" % layer.featureCount())
counts = {}
for f in layer.getFeatures():
    counts[f["review_status"]] = counts.get(f["review_status"], 0) + 1
print("status=" + ",".join("%s:%d" % (k, counts[k]) for k in sorted(counts)))
app.exitQgis()
"#;

#[test]
fn a_supervisor_sees_progress_live_in_qgis() {
    if !crate::spatial::qgis_available() {
        return;
    }
    let Some(c) = pg::shared("qgis hub") else { return };
    let (dir, db, admin_url) = published(c, 24);
    let mut admin = Hub::connect(&admin_url).unwrap();
    admin.add_user("sheng", "reviewer", None, "sheng-pw").unwrap();
    let port = c.port.to_string();
    let args: Vec<PathBuf> =
        ["127.0.0.1", port.as_str(), db.as_str(), "sheng", "sheng-pw"].iter().map(PathBuf::from).collect();
    let run = || {
        let refs: Vec<&Path> = args.iter().map(PathBuf::as_path).collect();
        crate::spatial::pyqgis(dir.path(), QGIS_HUB, &refs)
    };
    let (text, err) = run();
    assert!(text.contains("valid=True") && text.contains("crs=EPSG:4490"), "{text}{err}");
    assert!(text.contains("features=24"), "{text}{err}");
    assert!(text.contains("status=unreviewed:24"), "{text}{err}");
    // An analyst's copy verifies two patches and syncs: QGIS shows it on its next read.
    let mine = dir.path().join("copy.gpkg");
    publish::join(&mut admin, &mine, None, &Progress::new()).unwrap();
    let mut p = open(&mine, "county");
    for i in [0, 1] {
        set(&mut p, &key_of(i), "BZ", "已核实");
    }
    sync::sync(&mut admin, &mut p, &Progress::new()).unwrap();
    let (text, err) = run();
    assert!(text.contains("in_progress:2") && text.contains("unreviewed:22"), "{text}{err}");
}

#[test]
fn a_subpatch_split_here_stays_here_and_does_not_hold_up_the_other_edits() {
    let Some(c) = pg::shared("split here") else { return };
    let db = c.database();
    let url = c.url(&db);
    let dir = common::publish_sample(&url);
    let mine = dir.path().join("copy.gpkg");
    let mut h = Hub::connect(&url).unwrap();
    publish::join(&mut h, &mine, None, &Progress::new()).unwrap();
    let mut p = open(&mine, "field");
    common::split_sample_patch_4(&mut p);
    set(&mut p, "150999SJBG2025000004-1", "BZ", "细斑一");
    set(&mut p, "150999SJBG2025000009", "BZ", "照常同步");
    let r = sync::sync(&mut h, &mut p, &Progress::new()).unwrap();
    assert!(r.pushed.structural >= 1, "the 细斑's fields stay here: {r:?}");
    assert_eq!(hub_value(&url, "150999SJBG2025000009", "BZ").as_deref(), Some("照常同步"));
    assert!(p.hub_outgoing().unwrap().changes.is_empty(), "nothing left waiting to push");
}

/// Joins `n` copies of a fresh 12-patch hub; returns (dir, admin url, the copies' paths).
fn copies(c: &pg::Cluster, n: usize) -> (tempfile::TempDir, String, Vec<PathBuf>) {
    let (dir, _db, url) = published(c, 12);
    let files: Vec<PathBuf> = (0..n).map(|i| dir.path().join(format!("c{i}.gpkg"))).collect();
    for f in &files {
        let mut h = Hub::connect(&url).unwrap();
        publish::join(&mut h, f, None, &Progress::new()).unwrap();
    }
    (dir, url, files)
}

fn edit_and_sync(url: &str, file: &Path, key: &str, field: &str, value: Option<&str>) -> sync::SyncReport {
    let mut p = open(file, "x");
    if let Some(v) = value {
        set(&mut p, key, field, v);
    }
    let mut h = Hub::connect(url).unwrap();
    sync::sync(&mut h, &mut p, &Progress::new()).unwrap()
}

#[test]
fn a_value_changed_and_changed_back_by_others_arrives_as_the_hub_holds_it() {
    let Some(c) = pg::shared("toggle") else { return };
    let (_dir, url, f) = copies(c, 3);
    let k = key_of(0);
    edit_and_sync(&url, &f[0], &k, "BZ", Some("甲"));
    edit_and_sync(&url, &f[2], &k, "BZ", None); // the third copy learns 甲
    edit_and_sync(&url, &f[0], &k, "BZ", Some("乙"));
    edit_and_sync(&url, &f[1], &k, "BZ", None);
    edit_and_sync(&url, &f[1], &k, "BZ", Some("甲")); // and back
    edit_and_sync(&url, &f[2], &k, "BZ", None); // both in one page
    assert_eq!(hub_value(&url, &k, "BZ").as_deref(), Some("甲"));
    assert_eq!(text(&open(&f[2], "x"), &k, "BZ").as_deref(), Some("甲"));
    assert!(open(&f[2], "x").hub_outgoing().unwrap().changes.is_empty());
}

#[test]
fn a_push_whose_answer_was_lost_is_not_applied_twice_and_later_changes_still_arrive() {
    let Some(c) = pg::shared("lost answer") else { return };
    let (_dir, url, f) = copies(c, 2);
    let k = key_of(3);
    // The push commits on the hub, its answer never reaches the file (a crash between the two).
    {
        let mut p = open(&f[0], "x");
        set(&mut p, &k, "BZ", "第一版");
        let link = p.hub_link().unwrap().unwrap();
        let batch = p.hub_outgoing().unwrap();
        let mut h = Hub::connect(&url).unwrap();
        let ex = sync::exchange(&mut h, &link, &p.project_uid().unwrap(), &batch, &Progress::new()).unwrap();
        drop(ex);
    }
    assert_eq!(hub_value(&url, &k, "BZ").as_deref(), Some("第一版"));
    edit_and_sync(&url, &f[1], &k, "BZ", None);
    edit_and_sync(&url, &f[1], &k, "BZ", Some("第二版"));
    let r = edit_and_sync(&url, &f[0], &k, "BZ", None);
    assert_eq!(r.pushed.already, 1, "the retried push is recognised");
    assert_eq!(text(&open(&f[0], "x"), &k, "BZ").as_deref(), Some("第二版"), "the later change arrives");
    assert!(open(&f[0], "x").conflicts().unwrap().is_empty());
    // And setting it back to the first value is an edit that reaches the hub.
    edit_and_sync(&url, &f[0], &k, "BZ", Some("第一版"));
    assert_eq!(hub_value(&url, &k, "BZ").as_deref(), Some("第一版"));
}

#[test]
fn a_push_by_a_copy_that_missed_a_verdict_leaves_the_hubs_verdict_and_undo_does_not_overwrite() {
    let Some(c) = pg::shared("verdict kept") else { return };
    let (_dir, url, f) = copies(c, 2);
    let k = key_of(5);
    edit_and_sync(&url, &f[0], &k, "HCJG", Some("违法"));
    let verdict = |url: &str| -> Option<String> {
        let mut c = postgres::Client::connect(url, NoTls).unwrap();
        c.query_one("SELECT verdict FROM tuban.patches WHERE key = $1", &[&k]).unwrap().get(0)
    };
    assert_eq!(verdict(&url).as_deref(), Some("违法"));
    // The second copy edits another field of it before it has seen the verdict.
    edit_and_sync(&url, &f[1], &k, "BZ", Some("补拍照片"));
    assert_eq!(verdict(&url).as_deref(), Some("违法"), "not reset by a copy that had not seen it");
    assert_eq!(text(&open(&f[1], "x"), &k, "HCJG").as_deref(), Some("违法"));
    // Undo in the first copy after the second copy's change to that field arrived: refused.
    edit_and_sync(&url, &f[0], &k, "DSR", Some("甲公司"));
    edit_and_sync(&url, &f[1], &k, "DSR", None);
    edit_and_sync(&url, &f[1], &k, "DSR", Some("乙公司"));
    edit_and_sync(&url, &f[0], &k, "DSR", None);
    let mut p = open(&f[0], "x");
    let e = p.undo().unwrap_err();
    assert!(e.to_string().contains("DSR"), "{e}");
    assert_eq!(text(&p, &k, "DSR").as_deref(), Some("乙公司"));
}
