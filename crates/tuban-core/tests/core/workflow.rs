//! The workflow of both programmes: seal and verify, photos as evidence, the case ledger and rates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use tuban_core::store::{Access, Project, StoreError};

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
    assert!(matches!(
        common::import(&mut p, &common::sample_shp()).unwrap_err(),
        tuban_core::import::ImportError::Store(StoreError::Sealed { .. })
    ));
    let v = p.verify().unwrap();
    assert!(v.in_force && v.differences.is_empty() && v.digest_now == seal.digest, "{v:?}");
    // Another program edits the GeoPackage behind tuban's back.
    let path = p.path().to_path_buf();
    drop(p);
    let conn = rusqlite::Connection::open(&path).unwrap();
    tuban_core::store::register_sql_functions(&conn).unwrap(); // as GDAL and QGIS have them
    conn.execute("UPDATE patches SET HCJG = '合法' WHERE fid = ?1", [fid]).unwrap();
    drop(conn);
    let mut p = Project::open(&path, Access::ReadWrite).unwrap();
    p.set_user("tester");
    let v = p.verify().unwrap();
    assert_eq!(v.differences.len(), 1, "{:?}", v.differences);
    assert!(
        v.differences[0].contains("150999SJBG2025000004") && v.differences[0].contains("HCJG: 违法 → 合法"),
        "{:?}",
        v.differences
    );
    // Unsealing needs a reason, which the audit log keeps.
    assert!(matches!(p.unseal("  "), Err(StoreError::ReasonRequired)));
    p.unseal("省级抽查后补充更正违法面积").unwrap();
    p.set_text(fid, &[("HCJG", "违法")]).unwrap();
    let log = p.audit_log(None).unwrap();
    assert!(log.iter().any(|e| e.action == "unseal" && e.new_value.as_deref() == Some("省级抽查后补充更正违法面积")));
    assert!(!p.verify().unwrap().in_force);
}

#[test]
fn the_ledger_counts_rates_and_shows_what_needs_attention() {
    let (_dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    // The two sample patches closest to each other: one party, two separate cases.
    let recs = p.patches().unwrap();
    let mut best = (f64::INFINITY, 0, 0);
    for (i, a) in recs.iter().enumerate() {
        for b in &recs[i + 1..] {
            let (pa, pb) = (a.center_lonlat.unwrap(), b.center_lonlat.unwrap());
            let d = ((pa.0 - pb.0) * 83_000.0).hypot((pa.1 - pb.1) * 111_000.0);
            if d < best.0 {
                best = (d, a.fid, b.fid);
            }
        }
    }
    assert!(best.0 < 500.0, "{}", best.0);
    for fid in [best.1, best.2] {
        p.set_text(fid, &[("HCJG", "违法"), ("WFMJ", "2亩"), ("HSMJ", "3亩"), ("DSR", "某某矿业有限公司")]).unwrap();
    }
    let big = p.find_patch("150999SJBG2025000003").unwrap().unwrap();
    p.set_text(big, &[("HCJG", "违法"), ("WFMJ", "25亩"), ("HSMJ", "26亩"), ("DSR", "某光伏公司")]).unwrap();
    let before = p.ledger().unwrap();
    assert_eq!(before.illegal_without_case.len(), 3);
    let created = p.propose_cases().unwrap();
    assert_eq!(created.len(), 3);
    assert!(created[0].starts_with("150999-2025-AJ"), "{created:?}");
    // A patch belongs to at most one case.
    let e = p.create_case(Some("X-1"), &[big], "", "").unwrap_err();
    assert!(e.to_string().contains("已属于案件"), "{e}");
    let big_case = p.case_of_patch(big).unwrap().unwrap();
    let l = p.ledger().unwrap();
    assert!(l.illegal_without_case.is_empty());
    assert_eq!(l.total.cases, 3);
    assert!((l.total.illegal_area_m2 - 29.0 * 10_000.0 / 15.0).abs() < 1.0, "{}", l.total.illegal_area_m2);
    assert_eq!(l.criminal.iter().map(|c| c.number.as_str()).collect::<Vec<_>>(), vec![big_case.as_str()]);
    assert_eq!(l.split_penalties.len(), 1, "{:?}", l.split_penalties);
    assert_eq!(l.total.investigation_rate(), Some(0.0));
    // Work the cases through the statuses.
    let small: Vec<String> = created.iter().filter(|n| **n != big_case).cloned().collect();
    let upd = |inv: &str, rect: &str| tuban_core::store::CaseUpdate {
        investigation: Some(inv.parse().unwrap()),
        rectification: Some(rect.parse().unwrap()),
        ..Default::default()
    };
    p.update_case(&small[0], &upd("已结案", "已整改到位")).unwrap();
    p.update_case(&small[1], &upd("非立案处理", "整改中")).unwrap();
    p.update_case(
        &big_case,
        &tuban_core::store::CaseUpdate {
            investigation: Some("移送司法".parse().unwrap()),
            deadline: tuban_model::value::parse_date("2025-01-31"),
            ..Default::default()
        },
    )
    .unwrap();
    let l = p.ledger().unwrap();
    let t = &l.total;
    assert_eq!((t.filed, t.concluded, t.handled_without_filing, t.rectified), (2, 1, 1, 2));
    assert_eq!(t.investigation_rate(), Some(2.0 / 3.0));
    assert_eq!(t.rectification_rate(), Some(2.0 / 3.0));
    assert_eq!(t.filing_rate(), Some(2.0 / 3.0));
    assert_eq!(t.conclusion_rate(), Some(0.5));
    assert!(l.criminal.is_empty(), "referred to the judiciary");
    assert_eq!(l.overdue.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(), vec![big_case.clone()]);
    assert_eq!(l.by_township.values().map(|r| r.cases).sum::<usize>(), 3);
    // Closure (销号) only after rectification, and with evidence.
    let e = p.record_step(&big_case, "销号".parse().unwrap(), None, "").unwrap_err();
    assert!(e.to_string().contains("整改到位"), "{e}");
    let e = p.record_step(&small[0], "销号".parse().unwrap(), None, "").unwrap_err();
    assert!(e.to_string().contains("证据") || e.to_string().contains("evidence"), "{e}");
    p.record_step(
        &big_case,
        "移交查处".parse().unwrap(),
        tuban_model::value::parse_date("2025-10-10"),
        "移交自然资源局",
    )
    .unwrap();
    let steps = p.case_steps(&big_case).unwrap();
    assert_eq!(steps.iter().map(|s| s.step.label()).collect::<Vec<_>>(), vec!["问题发现", "移交查处"]);
    // A status outside the code list cannot even be written: it is refused when parsed, with the choices.
    let refused = "大概".parse::<tuban_model::ledger::Investigation>().unwrap_err();
    assert!(refused.to_string().contains("已立案未结案"), "{refused}");
    assert!(p
        .audit_log(None)
        .unwrap()
        .iter()
        .any(|e| e.action == "case" && e.field.as_deref() == Some("investigation")));
}

#[test]
fn photos_are_matched_by_gps_and_checked_as_evidence() {
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let photos = common::sample("photos");
    let progress = tuban_model::progress::Progress::new();
    let r = tuban_core::evidence::import_photos(&mut p, &[photos], None, 100.0, &progress).unwrap();
    assert_eq!(r.matched.len(), 3, "{r:?}");
    for (file, key, d) in &r.matched {
        // The sample photos are named 乡镇_村_图斑号_序号.jpg.
        assert!(file.contains(key.as_str()), "{file} matched {key}");
        assert_eq!(*d, 0.0, "taken inside the patch");
    }
    // Real camera photos from Italy: stored, unmatched, to be assigned by hand.
    let r = tuban_core::evidence::import_photos(
        &mut p,
        &[common::fixture("exif/DSCN0010.jpg"), common::fixture("exif/exiftool_GPS.jpg")],
        None,
        100.0,
        &progress,
    )
    .unwrap();
    assert_eq!((r.matched.len(), r.unmatched.len()), (0, 2), "{r:?}");
    let all = p.photos(None).unwrap();
    let italy = all.iter().find(|ph| ph.file_name == "DSCN0010.jpg").unwrap();
    let (lon, lat) = italy.lonlat.unwrap();
    assert!((lon - 11.88).abs() < 0.05 && (lat - 43.46).abs() < 0.05, "{lon}, {lat}");
    assert!(italy.taken_at.as_deref().unwrap().starts_with("2008-10-22"), "{:?}", italy.taken_at);
    let fid = p.find_patch("150999SJBG2025000001").unwrap().unwrap();
    p.assign_photo(italy.id, fid).unwrap();
    let italy = p.photos(Some(fid)).unwrap().into_iter().find(|ph| ph.file_name == "DSCN0010.jpg").unwrap();
    let w = p.photo_warnings(&italy, 100.0).unwrap();
    assert!(w.iter().any(|w| w.contains("km") || w.contains(" m")), "{w:?}");
    assert!(w.iter().any(|w| w.contains("后时相")), "{w:?}");
    // Thumbnails are small JPEGs; the original bytes are kept.
    let thumb = image::load_from_memory(&p.photo_thumbnail(italy.id).unwrap().unwrap()).unwrap();
    assert!(thumb.width() <= 320 && thumb.height() <= 320);
    let original = p.photo_bytes(italy.id).unwrap().unwrap();
    assert_eq!(original, std::fs::read(common::fixture("exif/DSCN0010.jpg")).unwrap());
    // The same file twice, and a file that is not a photo, are refused by name.
    let r =
        tuban_core::evidence::import_photos(&mut p, &[common::fixture("exif/DSCN0010.jpg")], None, 100.0, &progress)
            .unwrap();
    assert!(r.errors[0].contains("DSCN0010.jpg") && r.errors[0].contains("already"), "{r:?}");
    let fake = dir.path().join("不是照片.jpg");
    std::fs::write(&fake, b"plain text, not a JPEG").unwrap();
    let r = tuban_core::evidence::import_photos(&mut p, &[fake], None, 100.0, &progress).unwrap();
    assert!(r.errors[0].contains("不是照片.jpg"), "{r:?}");
    // Evidence makes closure possible once rectified.
    p.set_text(fid, &[("HCJG", "违法")]).unwrap();
    let n = p.create_case(None, &[fid], "某公司", "林业和草原局").unwrap();
    p.update_case(
        &n,
        &tuban_core::store::CaseUpdate {
            rectification: Some("已整改到位".parse().unwrap()), ..Default::default()
        },
    )
    .unwrap();
    p.record_step(&n, "销号".parse().unwrap(), None, "恢复植被").unwrap();
    assert!(p.case(&n).unwrap().unwrap().closed_on.is_some());
}

#[test]
fn spot_check_is_reproducible_blind_and_measured_by_kappa() {
    let (_dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let recs = p.patches().unwrap();
    for (i, r) in recs.iter().enumerate() {
        let v = ["合法", "违法", "伪变化"][i % 3];
        p.set_text(r.fid, &[("HCJG", v)]).unwrap();
    }
    let a = p.draw_spot_check(Some(0.3), None, 42).unwrap();
    let b = p.draw_spot_check(Some(0.3), None, 42).unwrap();
    let c = p.draw_spot_check(Some(0.3), None, 7).unwrap();
    assert_eq!(a.patches, b.patches, "same seed, same sample");
    assert_ne!(a.patches, c.patches);
    assert!(a.patches.len() >= 9 && a.patches.len() <= 20, "{}", a.patches.len());
    // Every stratum (township × verdict) is represented.
    let towns_in_sample: std::collections::BTreeSet<String> = a
        .patches
        .iter()
        .map(|(fid, _)| p.patch(*fid).unwrap().unwrap().value(p.template(), "XZMC").unwrap().to_string())
        .collect();
    assert_eq!(towns_in_sample.len(), 5);
    // The blind view carries no first verdict.
    let blind = p.spot_check_blind(a.id).unwrap();
    assert!(blind.iter().all(|(_, _, second)| second.is_none()));
    // The second reviewer agrees on all but two.
    for (k, (fid, _)) in a.patches.iter().enumerate() {
        let first = p.patch(*fid).unwrap().unwrap().value(p.template(), "HCJG").unwrap().to_string();
        let second = if k < 2 {
            if first == "违法" {
                "合法"
            } else {
                "违法"
            }
        } else {
            first.as_str()
        };
        p.record_second_verdict(a.id, *fid, second).unwrap();
    }
    assert!(p.record_second_verdict(a.id, a.patches[0].0, "不存在").is_err());
    let r = p.spot_check_result(a.id).unwrap();
    assert_eq!((r.reviewed, r.agreed, r.disagreements.len()), (a.patches.len(), a.patches.len() - 2, 2));
    let k = r.kappa.unwrap();
    assert!(k > 0.6 && k < 1.0, "{k}");
}

#[test]
fn manual_clues_comments_flags_and_rebounds() {
    let (_dir, mut p) = common::new_project("eco");
    // Earlier year: the sample as remote-sensing clues; one becomes a closed case.
    common::import_with(
        &mut p,
        &common::sample_shp(),
        tuban_core::import::ImportOptions {
            year: Some(2024), clue_source: Some("遥感".into()), ..Default::default()
        },
    )
    .unwrap();
    let old = p.find_patch("150999SJBG2025000005").unwrap().unwrap();
    p.set_text(old, &[("CHYJ", "属实")]).unwrap();
    let n = p.create_case(None, &[old], "某养殖场", "生态环境局").unwrap();
    p.update_case(
        &n,
        &tuban_core::store::CaseUpdate {
            rectification: Some("已整改到位".parse().unwrap()), ..Default::default()
        },
    )
    .unwrap();
    // A petition this year, typed by hand at the old site (Gauss-Krüger, as a field team reads it).
    let centre = p.patch(old).unwrap().unwrap().center_lonlat.unwrap();
    let (x, y) = {
        let mut gk = tuban_core::gk::GkProjector::default();
        let (_, x, y) = gk.project(centre.0, centre.1).unwrap();
        (x, y)
    };
    let (lon, lat) = tuban_core::gk::to_lonlat("EPSG:4546", x, y).unwrap();
    assert!((lon - centre.0).abs() < 1e-7 && (lat - centre.1).abs() < 1e-7);
    let key = p
        .add_manual_clue(
            geo::Geometry::Point(geo::Point::new(lon, lat)),
            &[("DZ", "乌兰花镇北 2 公里"), ("XSLY", "信访")],
            Some(2025),
            Some("信访"),
        )
        .unwrap();
    let fid = p.find_patch(&key).unwrap().unwrap();
    let rec = p.patch(fid).unwrap().unwrap();
    assert_eq!(rec.value(p.template(), "DZ").unwrap().to_string(), "乌兰花镇北 2 公里");
    assert_eq!(rec.value(p.template(), "JCND"), Some(&tuban_model::Value::Int(2025)));
    let batches = p.batches().unwrap();
    assert_eq!(batches.last().unwrap().clue_source.as_deref(), Some("信访"));
    // The new clue sits on a rectified problem: a rebound, with the link.
    let rebounds = p.rebounds().unwrap();
    assert_eq!(rebounds.len(), 1, "{rebounds:?}");
    assert_eq!(
        (rebounds[0].new_key.as_str(), rebounds[0].old_key.as_str(), rebounds[0].case_number.as_str()),
        (key.as_str(), "150999SJBG2025000005", n.as_str())
    );
    // Comments, flags and confidence are kept and audited.
    p.add_comment(fid, "信访人称夜间仍有车辆进出").unwrap();
    p.set_review_aids(fid, &["需外业核实"], Some(2)).unwrap();
    assert_eq!(p.review_aids(fid).unwrap(), (vec!["需外业核实".to_string()], Some(2)));
    assert_eq!(p.comments(fid).unwrap()[0].text, "信访人称夜间仍有车辆进出");
    assert!(p.set_review_aids(fid, &["随便"], None).is_err());
    assert!(p.set_review_aids(fid, &[], Some(9)).is_err());
}

#[test]
fn ten_mu_is_criminal_after_a_penalty_for_the_same_within_three_years() {
    let (_dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let fid = |p: &Project, n: u32| p.find_patch(&format!("150999SJBG20250000{n:02}")).unwrap().unwrap();
    let illegal = |p: &mut Project, f: i64, mu: &str, party: &str| {
        p.set_text(f, &[("HCJG", "违法"), ("WFMJ", mu), ("HSMJ", "30亩"), ("DSR", party)]).unwrap()
    };
    let criminal =
        |p: &Project| p.ledger().unwrap().criminal.into_iter().map(|c| (c.number, c.prior_penalty)).collect::<Vec<_>>();
    // Party A: 12 亩 now; an earlier case of A (3 亩) found two years before, penalised.
    let (a_now, a_before) = (fid(&p, 3), fid(&p, 5));
    illegal(&mut p, a_now, "12亩", "甲公司");
    illegal(&mut p, a_before, "3亩", "甲公司");
    let now = p.create_case(Some("A-2025"), &[a_now], "甲公司", "").unwrap();
    let before = p.create_case(Some("A-2023"), &[a_before], "甲公司", "").unwrap();
    let d = |s: &str| tuban_model::value::parse_date(s);
    p.record_step(&now, "问题发现".parse().unwrap(), d("2025-06-01"), "").unwrap();
    p.record_step(&before, "问题发现".parse().unwrap(), d("2023-09-01"), "").unwrap();
    assert!(criminal(&p).is_empty(), "12 亩 without a penalty is below 20 亩");
    p.update_case(
        &before,
        &tuban_core::store::CaseUpdate {
            penalty_doc: Some("示林罚〔2023〕5号".into()),
            fine_yuan: Some(3000.0),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        criminal(&p),
        vec![(now.clone(), Some("示林罚〔2023〕5号（A-2023）".into()))],
        "10 亩 threshold after a penalty within three years"
    );
    // Party B: the earlier penalty lies more than three years back: 20 亩 applies.
    let (b_now, b_old) = (fid(&p, 7), fid(&p, 9));
    illegal(&mut p, b_now, "15亩", "乙牧场");
    illegal(&mut p, b_old, "2亩", "乙牧场");
    let b = p.create_case(Some("B-2025"), &[b_now], "乙牧场", "").unwrap();
    let b0 = p.create_case(Some("B-2020"), &[b_old], "乙牧场", "").unwrap();
    p.record_step(&b, "问题发现".parse().unwrap(), d("2025-06-01"), "").unwrap();
    p.record_step(&b0, "问题发现".parse().unwrap(), d("2021-05-31"), "").unwrap();
    p.update_case(
        &b0,
        &tuban_core::store::CaseUpdate { penalty_doc: Some("示林罚〔2021〕1号".into()), ..Default::default() },
    )
    .unwrap();
    assert!(!criminal(&p).iter().any(|(n, _)| *n == b), "a penalty four years before does not count");
    // A penalty outside the project, recorded by hand on the case.
    p.update_case(
        &b,
        &tuban_core::store::CaseUpdate {
            prior_penalty: Some("邻县林罚〔2024〕9号".into()), ..Default::default()
        },
    )
    .unwrap();
    assert!(criminal(&p).contains(&(b.clone(), Some("邻县林罚〔2024〕9号".into()))));
    // Below 10 亩 nothing, even with a penalty; referral clears the flag.
    let c = fid(&p, 11);
    illegal(&mut p, c, "9亩", "丙");
    let cn = p.create_case(Some("C"), &[c], "丙", "").unwrap();
    p.update_case(&cn, &tuban_core::store::CaseUpdate { prior_penalty: Some("x".into()), ..Default::default() })
        .unwrap();
    assert!(!criminal(&p).iter().any(|(n, _)| *n == cn));
    // The delivered SFSX (涉嫌刑事) follows the case, not only the patch's own 20 亩 rule.
    let sfsx = |p: &Project, fid: i64| {
        p.patches_delivered().unwrap().into_iter().find(|r| r.fid == fid).unwrap().value(p.template(), "SFSX").cloned()
    };
    assert_eq!(
        p.patch(a_now).unwrap().unwrap().value(p.template(), "SFSX"),
        Some(&tuban_model::Value::Bool(false)),
        "12 亩 alone is below 20 亩"
    );
    assert_eq!(sfsx(&p, a_now), Some(tuban_model::Value::Bool(true)));
    assert_eq!(sfsx(&p, c), Some(tuban_model::Value::Bool(false)));
    assert_eq!(
        p.criminal_flag_of(&now).unwrap().unwrap().prior_penalty.as_deref(),
        Some("示林罚〔2023〕5号（A-2023）")
    );
    p.update_case(
        &now,
        &tuban_core::store::CaseUpdate { investigation: Some("移送司法".parse().unwrap()), ..Default::default() },
    )
    .unwrap();
    assert!(!criminal(&p).iter().any(|(n, _)| *n == now));
    assert_eq!(sfsx(&p, a_now), Some(tuban_model::Value::Bool(true)), "still 涉嫌刑事 once referred");
}

#[test]
fn case_attachments_are_kept_in_the_project_and_count_as_evidence() {
    let (_dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let fid = p.find_patch("150999SJBG2025000004").unwrap().unwrap();
    p.set_text(fid, &[("HCJG", "违法"), ("DSR", "某牧业公司")]).unwrap();
    let n = p.create_case(None, &[fid], "某牧业公司", "").unwrap();
    p.update_case(
        &n,
        &tuban_core::store::CaseUpdate {
            rectification: Some("已整改到位".parse().unwrap()), ..Default::default()
        },
    )
    .unwrap();
    let e = p.record_step(&n, "销号".parse().unwrap(), None, "").unwrap_err();
    assert!(e.to_string().contains("证据"), "{e}");
    // A real photo as the rectification evidence; its bytes come back unchanged.
    let photo = std::fs::read(common::fixture("exif/DSCN0010.jpg")).unwrap();
    let e = p.attach_to_case(&n, "x.jpg", "随便", &photo).unwrap_err();
    assert!(e.to_string().contains("整改照片"), "the kinds are listed: {e}");
    assert!(p.attach_to_case(&n, "空.pdf", "其他", &[]).unwrap_err().to_string().contains("空.pdf"));
    let id = p.attach_to_case(&n, "DSCN0010.jpg", "整改照片", &photo).unwrap();
    let list = p.case_attachments(&n).unwrap();
    assert_eq!((list.len(), list[0].kind.as_str(), list[0].size_bytes), (1, "整改照片", photo.len() as i64));
    assert_eq!(p.attachment_data(id).unwrap().unwrap(), ("DSCN0010.jpg".to_string(), photo.clone()));
    p.record_step(&n, "销号".parse().unwrap(), None, "整改到位，现场复核").unwrap();
    // Sealed: attachments are part of the digest; adding or removing one is refused.
    let seal = p.seal().unwrap();
    assert!(matches!(p.attach_to_case(&n, "b.jpg", "其他", &photo).unwrap_err(), StoreError::Sealed { .. }));
    assert!(matches!(p.remove_attachment(id).unwrap_err(), StoreError::Sealed { .. }));
    let path = p.path().to_path_buf();
    drop(p);
    let conn = rusqlite::Connection::open(&path).unwrap();
    // The bytes replaced, the stored digest left as it was.
    conn.execute("UPDATE tuban_case_attachments SET data = x'00' WHERE id = ?1", [id]).unwrap();
    drop(conn);
    let mut p = Project::open(&path, Access::ReadWrite).unwrap();
    let v = p.verify().unwrap();
    assert!(
        v.digest_now != seal.digest
            && v.differences.iter().any(|d| d.contains("DSCN0010.jpg") || d.contains("attachment")),
        "{v:?}"
    );
    p.unseal("更换附件").unwrap();
    p.remove_attachment(id).unwrap();
    assert!(p.case_attachments(&n).unwrap().is_empty());
}
