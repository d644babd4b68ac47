//! The workflow of both programmes: seal and verify, photos as evidence, the case ledger and rates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use tuban::store::{Access, Project, StoreError};

#[test]
fn sealing_freezes_edits_and_verify_names_outside_changes() {
    let (_dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let fid = p.find_patch("150999SJBG2025000004").unwrap().unwrap();
    p.set_text(fid, &[("HCJG", "违法"), ("DSR", "某牧业公司")]).unwrap();
    let seal = p.seal().unwrap();
    assert_eq!(seal.digest.len(), 64);
    let e = p.set_text(fid, &[("HCJG", "合法")]).unwrap_err();
    assert!(matches!(e, StoreError::Sealed { .. }) && e.to_string().contains("unseal"), "{e}");
    assert!(matches!(common::import(&mut p, &common::sample_shp()).unwrap_err(), tuban::import::ImportError::Store(StoreError::Sealed { .. })));
    let v = p.verify().unwrap();
    assert!(v.in_force && v.differences.is_empty() && v.digest_now == seal.digest, "{v:?}");
    // Another program edits the GeoPackage behind tuban's back.
    let path = p.path().to_path_buf();
    drop(p);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE patches SET HCJG = '合法' WHERE fid = ?1", [fid]).unwrap();
    drop(conn);
    let mut p = Project::open(&path, Access::ReadWrite).unwrap();
    p.set_user("tester");
    let v = p.verify().unwrap();
    assert_eq!(v.differences.len(), 1, "{:?}", v.differences);
    assert!(v.differences[0].contains("150999SJBG2025000004") && v.differences[0].contains("HCJG: 违法 → 合法"), "{:?}", v.differences);
    // Unsealing needs a reason, which the audit log keeps.
    assert!(matches!(p.unseal("  "), Err(StoreError::ReasonRequired)));
    p.unseal("省级抽查后补充更正违法面积").unwrap();
    p.set_text(fid, &[("HCJG", "违法")]).unwrap();
    let log = p.audit_log(None).unwrap();
    assert!(log.iter().any(|e| e.action == "unseal" && e.new_value.as_deref() == Some("省级抽查后补充更正违法面积")));
    assert!(!p.verify().unwrap().in_force);
}
