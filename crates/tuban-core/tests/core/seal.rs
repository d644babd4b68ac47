//! The seal receipt: tampering with the file by an independent writer (rusqlite), also with the
//! seal tables rewritten to match, or by unsealing, editing and sealing again, is detected
//! against the receipt and named down to the patch and field; bare digests, signatures, the
//! version-1 rule and the schema-1 file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use crate::common;

use tuban_core::ops::seal::{self, Against, SealOptions, Sealed, SignatureCheck, Verified};
use tuban_core::store::{Access, Change, FieldChange, Project};
use tuban_model::progress::Progress;

const KEY: &str = "150999SJBG2025000003";

/// A reviewed project with photos, a comment, flags, confidence and a case, sealed with a receipt.
fn sealed() -> (tempfile::TempDir, PathBuf, i64, Sealed) {
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    tuban_core::evidence::import_photos(&mut p, &[common::sample("photos")], None, 100.0, &Progress::new()).unwrap();
    let fid = p.find_patch(KEY).unwrap().unwrap();
    p.set_text(fid, &[("HCJG", "违法"), ("WFMJ", "25亩"), ("HSMJ", "27300"), ("DSR", "某光伏有限公司")]).unwrap();
    p.add_comment(fid, "外业复核：围栏内有光伏板").unwrap();
    p.set_review_aids(fid, &["需外业核实"], Some(4)).unwrap();
    assert!(!p.propose_cases().unwrap().is_empty());
    let s = seal::seal(&mut p, &SealOptions::default()).unwrap();
    let path = p.path().to_path_buf();
    (dir, path, fid, s)
}

/// Changes the file behind tuban's back, as another program would.
fn tamper(path: &Path, sql: &str) {
    let c = rusqlite::Connection::open(path).unwrap();
    // The functions the R-tree triggers call, as GDAL and QGIS have them.
    tuban_core::store::register_sql_functions(&c).unwrap();
    c.execute_batch(sql).unwrap();
}

fn check(path: &Path, against: &Against) -> Verified {
    let p = Project::open(path, Access::ReadOnly).unwrap();
    seal::verify(&p, against).unwrap()
}

fn by_receipt(s: &Sealed) -> Against {
    Against::Receipt { path: s.receipt_path.clone(), public_key: None }
}

/// The one difference, which must be of `kind` with `label`; returns its changed field names.
fn only<'a>(v: &'a Verified, kind: &str, label: &str) -> Vec<&'a str> {
    assert!(!v.unchanged(), "{v:?}");
    assert_eq!(v.differences.len(), 1, "{:#?}", v.differences);
    let d = &v.differences[0];
    assert_eq!((d.item.kind.as_str(), d.label.as_str()), (kind, label), "{d}");
    d.fields()
}

#[test]
fn receipt_beside_the_project_matches_untouched_data() {
    let (_dir, path, _, s) = sealed();
    let name = s.receipt_path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("项目 测试.封库回执.") && name.ends_with(".json"), "{name}");
    assert_eq!(s.receipt_path.parent(), path.parent());
    let r = tuban_core::receipt::Receipt::read(&s.receipt_path).unwrap();
    assert_eq!((r.county_code.as_str(), r.county_name.as_str(), r.year), ("150999", "示范旗", 2025));
    assert_eq!((r.counts.patches, r.counts.cases), (30, 1));
    assert!(r.counts.photos > 0, "{:?}", r.counts);
    assert_eq!((r.digest.as_str(), r.digest_version), (s.seal.digest.as_str(), 2));
    assert!(r.is_consistent());
    let v = check(&path, &by_receipt(&s));
    assert!(v.unchanged() && v.digest_now == s.seal.digest, "{v:?}");
    // The comment, flags and confidence are in the patch's item.
    let item = r.items.iter().find(|i| i.label == KEY).unwrap();
    for f in ["review_flags", "confidence", "(comment #1)", "geom", "(delivered geom)", "HCJG"] {
        assert!(item.fields.contains_key(f), "{f} missing from {:?}", item.fields.keys());
    }
}

#[test]
fn a_field_changed_by_another_program_is_named() {
    let (_dir, path, fid, s) = sealed();
    tamper(&path, &format!("UPDATE patches SET HCJG = '合法' WHERE fid = {fid}"));
    let v = check(&path, &by_receipt(&s));
    assert_eq!(only(&v, "patch", KEY), ["HCJG"]);
    assert!(v.differences[0].to_string().contains("→ 合法"), "{}", v.differences[0]);
}

#[test]
fn rewriting_the_seal_tables_to_match_does_not_hide_a_change() {
    let (_dir, path, fid, s) = sealed();
    tamper(&path, &format!("UPDATE patches SET DSR = '另一家公司' WHERE fid = {fid}"));
    // The forger recomputes the seal items and the digest and writes them into the file.
    let forged = Project::open(&path, Access::ReadOnly).unwrap().seal_snapshot().unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute("DELETE FROM tuban_seal_items WHERE kind <> '(digest_version)'", []).unwrap();
    for (id, item) in &forged.items {
        c.execute(
            "INSERT INTO tuban_seal_items(seal_id, kind, item, content) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![s.seal.id, id.kind, id.id, serde_json::to_string(item).unwrap()],
        )
        .unwrap();
    }
    c.execute("UPDATE tuban_seals SET digest = ?1", [forged.digest()]).unwrap();
    c.execute("UPDATE tuban_audit SET new_value = ?1 WHERE action = 'seal'", [forged.digest()]).unwrap();
    drop(c);
    // The file's own seal is fooled (the old weakness) ...
    let inside = Project::open(&path, Access::ReadOnly).unwrap().verify().unwrap();
    assert!(inside.differences.is_empty() && inside.digest_now == forged.digest(), "{inside:?}");
    // ... the receipt kept outside is not.
    let v = check(&path, &by_receipt(&s));
    assert_eq!(only(&v, "patch", KEY), ["DSR"]);
    assert_ne!(v.digest_now, s.seal.digest);
}

#[test]
fn geometry_bytes_issued_and_delivered_are_covered() {
    let (_dir, path, fid, s) = sealed();
    // The least significant byte of the last coordinate: a move far below a millimetre.
    tamper(
        &path,
        &format!("UPDATE patches SET geom = substr(geom, 1, length(geom) - 8) || x'AA' || substr(geom, length(geom) - 6) WHERE fid = {fid}"),
    );
    let v = check(&path, &by_receipt(&s));
    assert_eq!(only(&v, "patch", KEY), ["geom"]);
    tamper(
        &path,
        &format!("UPDATE tuban_source_geom SET geom = substr(geom, 1, length(geom) - 8) || x'AA' || substr(geom, length(geom) - 6) WHERE fid = {fid}"),
    );
    let v = check(&path, &by_receipt(&s));
    assert_eq!(only(&v, "patch", KEY), ["(delivered geom)", "geom"]);
}

#[test]
fn photo_bytes_are_covered() {
    let (_dir, path, _, s) = sealed();
    let c = rusqlite::Connection::open(&path).unwrap();
    let (id, name): (i64, String) = c
        .query_row("SELECT id, file_name FROM tuban_photos ORDER BY id LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    // The bytes replaced; the stored sha256 column left as it was.
    c.execute("UPDATE tuban_photos SET data = data || x'00' WHERE id = ?1", [id]).unwrap();
    drop(c);
    let v = check(&path, &by_receipt(&s));
    assert_eq!(only(&v, "photo", &name), ["data"]);
    assert_eq!(v.differences[0].item.id, format!("#{id}"));
}

#[test]
fn a_deleted_patch_row_is_named() {
    let (_dir, path, fid, s) = sealed();
    tamper(&path, &format!("DELETE FROM patches WHERE fid = {fid}"));
    let v = check(&path, &by_receipt(&s));
    only(&v, "patch", KEY);
    assert_eq!(v.differences[0].change, Change::Removed, "{}", v.differences[0]);
    assert!(v.differences[0].to_string().contains("removed since the seal"));
}

#[test]
fn a_deleted_comment_is_named_on_its_patch() {
    let (_dir, path, _, s) = sealed();
    tamper(&path, "DELETE FROM tuban_comments");
    let v = check(&path, &by_receipt(&s));
    assert_eq!(only(&v, "patch", KEY), ["(comment #1)"]);
    let Change::Fields(f) = &v.differences[0].change else { panic!("{:?}", v.differences[0]) };
    assert!(matches!(f[0].1, FieldChange::Removed { .. }), "{f:?}");
}

#[test]
fn a_case_step_and_a_case_link_are_covered() {
    let (_dir, path, _, s) = sealed();
    let number: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT number FROM tuban_cases", [], |r| r.get(0))
        .unwrap();
    tamper(&path, "DELETE FROM tuban_case_steps; DELETE FROM tuban_case_patches;");
    let v = check(&path, &by_receipt(&s));
    let fields = only(&v, "case", &number);
    assert!(fields.contains(&"(patches)") && fields.iter().any(|f| f.starts_with("(step #")), "{fields:?}");
}

#[test]
fn unseal_edit_and_reseal_shows_against_the_first_receipt() {
    let (_dir, path, fid, first) = sealed();
    std::thread::sleep(std::time::Duration::from_millis(1100)); // a receipt name per second
    let mut p = Project::open(&path, Access::ReadWrite).unwrap();
    p.set_user("tester");
    p.unseal("省级抽查后更正违法面积").unwrap();
    p.set_text(fid, &[("WFMJ", "30亩")]).unwrap();
    let second = seal::seal(&mut p, &SealOptions::default()).unwrap();
    drop(p);
    assert_ne!(first.receipt_path, second.receipt_path);
    let v = check(&path, &by_receipt(&first));
    let fields = only(&v, "patch", KEY);
    assert!(fields.contains(&"WFMJ"), "{fields:?}");
    assert!(check(&path, &by_receipt(&second)).unchanged());
}

#[test]
fn a_bare_digest_says_only_whether_anything_changed() {
    let (_dir, path, fid, s) = sealed();
    assert!(check(&path, &Against::Digest(s.seal.digest.to_uppercase())).unchanged());
    // One hex digit flipped.
    let mut flipped: Vec<char> = s.seal.digest.chars().collect();
    flipped[10] = if flipped[10] == '0' { '1' } else { '0' };
    let v = check(&path, &Against::Digest(flipped.into_iter().collect()));
    assert!(!v.unchanged() && v.differences.is_empty(), "{v:?}");
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    let e = seal::verify(&p, &Against::Digest("abc".into())).unwrap_err();
    assert!(e.to_string().contains("64"), "{e}");
    drop(p);
    tamper(&path, &format!("UPDATE patches SET confidence = 2 WHERE fid = {fid}"));
    assert!(!check(&path, &Against::Digest(s.seal.digest.clone())).unchanged());
}

#[test]
fn signed_receipts_show_who_sealed_them() {
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let (private, public) = seal::keygen(&dir.path().join("密钥")).unwrap();
    let (_, other_public) = seal::keygen(&dir.path().join("别人的")).unwrap();
    assert!(seal::keygen(&dir.path().join("密钥")).is_err(), "an existing key is never replaced");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o077, 0);
    }
    let s = seal::seal(&mut p, &SealOptions { sign_key: Some(private) }).unwrap();
    let path = p.path().to_path_buf();
    drop(p);
    let with = |receipt: &Path, key: &Path| {
        check(&path, &Against::Receipt { path: receipt.to_path_buf(), public_key: Some(key.to_path_buf()) })
    };
    let v = with(&s.receipt_path, &public);
    assert!(v.signature == SignatureCheck::Valid && v.unchanged(), "{v:?}");
    assert_eq!(with(&s.receipt_path, &other_public).signature, SignatureCheck::Invalid);
    // One byte of the receipt changed: the sealing user's name.
    let text = std::fs::read_to_string(&s.receipt_path).unwrap();
    let changed = dir.path().join("改过的.封库回执.json");
    std::fs::write(&changed, text.replacen("\"user\": \"tester\"", "\"user\": \"testes\"", 1)).unwrap();
    let v = with(&changed, &public);
    assert!(v.signature == SignatureCheck::Invalid && !v.unchanged(), "{v:?}");
    // An unsigned receipt when a key is asked for.
    std::fs::write(&changed, text.replacen("\"signature\"", "\"unsigned\"", 1)).unwrap();
    assert_eq!(with(&changed, &public).signature, SignatureCheck::Missing);
    // A sealing key that is not a key: nothing is sealed.
    let (_d2, mut q) = common::new_project("grassland");
    let e = seal::seal(&mut q, &SealOptions { sign_key: Some(public.clone()) }).unwrap_err();
    assert!(e.to_string().contains("keygen"), "{e}");
    assert!(q.seal_in_force().unwrap().is_none());
}

#[test]
fn a_receipt_edited_by_hand_is_not_consistent() {
    let (dir, path, _, s) = sealed();
    let mut r = tuban_core::receipt::Receipt::read(&s.receipt_path).unwrap();
    r.items.retain(|i| i.label != KEY);
    let edited = dir.path().join("x.封库回执.json");
    std::fs::write(&edited, r.to_json()).unwrap();
    let v = check(&path, &Against::Receipt { path: edited, public_key: None });
    assert!(!v.receipt_consistent && !v.unchanged(), "{v:?}");
}

#[test]
fn a_version_1_digest_still_verifies_by_its_own_rule() {
    let (_dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let v1 = p.digest_v1().unwrap();
    let path = p.path().to_path_buf();
    drop(p);
    let v = check(&path, &Against::Digest(v1.clone()));
    assert!(v.unchanged() && v.digest_version == 1, "{v:?}");
    // A seal row as version 1 wrote it (no digest_version row): the file's own check uses rule 1.
    tamper(
        &path,
        &format!("INSERT INTO tuban_seals(sealed_at, user, digest) VALUES ('2025-12-01T00:00:00Z', 'old', '{v1}')"),
    );
    let inside = Project::open(&path, Access::ReadOnly).unwrap().verify().unwrap();
    assert_eq!(inside.seal.as_ref().map(|s| s.digest_version), Some(1));
    assert_eq!(inside.digest_now, v1);
    tamper(&path, "UPDATE patches SET HCJG = '合法' WHERE fid = 1");
    assert!(!check(&path, &Against::Digest(v1.clone())).unchanged());
    assert_ne!(Project::open(&path, Access::ReadOnly).unwrap().verify().unwrap().digest_now, v1);
}

#[test]
fn a_schema_1_file_has_the_same_digest_before_and_after_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.gpkg");
    std::fs::copy(common::fixture("schema/v1.gpkg"), &path).unwrap();
    let before = Project::open(&path, Access::ReadOnly).unwrap().seal_snapshot().unwrap();
    let after = Project::open(&path, Access::ReadWrite).unwrap().seal_snapshot().unwrap();
    assert_eq!(before.digest(), after.digest(), "a migration must not look like tampering");
    assert!(before.count("case") == 1 && before.count("patch") == 30);
}

#[test]
fn the_upload_package_carries_the_receipt() {
    let (dir, path, _, s) = sealed();
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    let out = dir.path().join("上报");
    let opts = tuban_core::export::ExportOptions::default();
    let files =
        tuban_core::ops::deliver::export(&p, tuban_core::export::Format::Shp, &out, &opts, &Progress::new()).unwrap();
    let copied = files.iter().find(|f| f.to_string_lossy().contains("封库回执")).expect("receipt in the package");
    assert_eq!(std::fs::read(copied).unwrap(), std::fs::read(&s.receipt_path).unwrap());
}

#[test]
fn a_sealed_report_ends_with_the_seal_page() {
    let (_dir, path, _, s) = sealed();
    let pages = |p: &Project| {
        let opts = tuban_core::report::ReportOptions { sheets: tuban_core::report::Sheets::None, ..Default::default() };
        let pdf = tuban_core::report::build(p, &opts, &Progress::new()).unwrap();
        pdf.windows(10).filter(|w| w == b"/Type/Page").count()
    };
    let sealed_pages = pages(&Project::open(&path, Access::ReadOnly).unwrap());
    let mut p = Project::open(&path, Access::ReadWrite).unwrap();
    p.unseal("对照未封库的报告").unwrap();
    assert_eq!(sealed_pages, pages(&p) + 1, "the seal page with its QR code");
    let r = tuban_core::receipt::Receipt::read(&s.receipt_path).unwrap();
    assert_eq!(r.qr_text(), format!("tuban封库回执|项目 测试.gpkg|150999 示范旗|2025|v2:{}", s.seal.digest));
}

#[test]
fn no_seal_stands_without_its_receipt() {
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    // Every receipt name of the next seconds is taken already.
    let now = chrono::Local::now();
    for s in 0..10 {
        let stamp = (now + chrono::Duration::seconds(s)).format("%Y%m%d-%H%M%S").to_string();
        std::fs::create_dir(tuban_core::receipt::file_name(p.path(), &stamp)).unwrap();
    }
    let e = seal::seal(&mut p, &SealOptions::default()).unwrap_err();
    assert!(e.to_string().contains("封库回执"), "{e}");
    assert!(p.seal_in_force().unwrap().is_none(), "the seal was lifted again");
    let log = p.audit_log(None).unwrap();
    assert!(log.iter().any(|e| e.action == "unseal" && e.new_value.as_deref().is_some_and(|v| v.contains("回执"))));
    drop(dir);
}
