//! The PDF report, checked as a reader would: one embedded subset font, Chinese text that
//! extracts, a clean structure, a sheet per selected patch, size per page.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::process::Command;

use tuban_core::report::{write, ChipLayout, ReportOptions, Sheets};

#[test]
fn the_report_reads_as_a_report() {
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let imagery = common::sample("imagery");
    for (name, file, date) in
        [("before", "2024-08_前时相_GF2.tif", "2024-08-02"), ("after", "2025-08_后时相_GF2.tif", "2025-08-09")]
    {
        p.add_imagery(
            name,
            &tuban_core::imagery::SourceSpec::detect(&imagery.join(file).to_string_lossy()),
            tuban_model::value::parse_date(date),
            name,
        )
        .unwrap();
    }
    for key in ["150999SJBG2025000002", "150999SJBG2025000003"] {
        let fid = p.find_patch(key).unwrap().unwrap();
        p.set_text(fid, &[("HCJG", "违法"), ("WFMJ", "2亩"), ("HSMJ", "3亩"), ("DSR", "某公司")]).unwrap();
    }
    p.propose_cases().unwrap();
    let out = dir.path().join("自查 报告.pdf");
    let opts = ReportOptions {
        sheets: Sheets::Illegal,
        problems_text: Some("个别图斑影像时相偏早，建议补充外业。".into()),
        ..Default::default()
    };
    write(&p, &out, &opts, false, &tuban_model::progress::Progress::new()).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(b"%PDF"));
    let info =
        String::from_utf8_lossy(&Command::new("pdfinfo").arg(&out).output().expect("poppler-utils").stdout).to_string();
    let pages: usize = info
        .lines()
        .find(|l| l.starts_with("Pages:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(pages, 3 + 2, "cover, sections, two sheets: {info}");
    assert!((bytes.len() as f64 / pages as f64) < 500_000.0, "{} bytes per page", bytes.len() / pages);
    let fonts = String::from_utf8_lossy(&Command::new("pdffonts").arg(&out).output().unwrap().stdout).to_string();
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert_eq!(rows.len(), 1, "{fonts}");
    assert!(
        rows[0].contains('+') && rows[0].contains("yes yes yes"),
        "one embedded subset font with Unicode map: {fonts}"
    );
    let text =
        String::from_utf8_lossy(&Command::new("pdftotext").arg(&out).arg("-").output().unwrap().stdout).to_string();
    for needle in [
        "自查报告",
        "一、任务来源与基本情况",
        "三、核查结果",
        "四、违法图斑查处整改",
        "图斑核查表",
        "150999SJBG2025000003",
        "个别图斑影像时相偏早",
    ] {
        assert!(text.contains(needle), "missing {needle}");
    }
    let check = Command::new("qpdf").arg("--check").arg(&out).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    // The chips are JPEG images embedded as they are (DCTDecode), before and after per sheet.
    let images =
        String::from_utf8_lossy(&Command::new("pdfimages").arg("-list").arg(&out).output().unwrap().stdout).to_string();
    let jpegs: Vec<&str> = images.lines().skip(2).filter(|l| l.split_whitespace().nth(8) == Some("jpeg")).collect();
    assert_eq!(jpegs.len(), 4, "{images}");
    assert!(jpegs.iter().all(|l| l.split_whitespace().nth(3) == Some("484")), "484 px wide at 150 dpi: {images}");
    // Not overwritten without force.
    assert!(write(&p, &out, &opts, false, &tuban_model::progress::Progress::new()).is_err());
    // Sheets for the patches matching a condition; a condition that cannot be read is refused.
    let town = p
        .patches()
        .unwrap()
        .iter()
        .filter(|r| r.value(p.template(), "XZMC").is_some_and(|v| v.to_string() == "乌兰花镇"))
        .count();
    assert!(town > 0);
    let filtered = dir.path().join("乌兰花镇.pdf");
    let opts = ReportOptions { sheets: Sheets::Filter("XZMC = 乌兰花镇".into()), ..Default::default() };
    write(&p, &filtered, &opts, false, &tuban_model::progress::Progress::new()).unwrap();
    let info = String::from_utf8_lossy(&Command::new("pdfinfo").arg(&filtered).output().unwrap().stdout).to_string();
    let pages: usize = info
        .lines()
        .find(|l| l.starts_with("Pages:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(pages, 3 + town, "{town} sheets expected");
    let opts = ReportOptions { sheets: Sheets::Filter("XZMC ==".into()), ..Default::default() };
    let e = write(&p, &dir.path().join("x.pdf"), &opts, false, &tuban_model::progress::Progress::new()).unwrap_err();
    assert!(e.to_string().contains("筛选条件"), "{e}");
    assert!(!dir.path().join("x.pdf").exists());
    // Cancelled (the app's button, Ctrl+C in the CLI): an error saying so and no file.
    let progress = tuban_model::progress::Progress::new();
    progress.cancel();
    let e = write(&p, &dir.path().join("取消.pdf"), &ReportOptions::default(), false, &progress).unwrap_err();
    assert!(matches!(e, tuban_core::report::ReportError::Cancelled), "{e}");
    assert!(!dir.path().join("取消.pdf").exists() && !dir.path().join("取消.pdf.part").exists());
}

/// `pdfimages -list` of a PDF: (page, width, height, x-ppi) of each image, soft masks left out.
fn images(pdf: &std::path::Path) -> Vec<(usize, u32, u32, u32)> {
    let out = Command::new("pdfimages").arg("-list").arg(pdf).output().expect("poppler-utils");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(2)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"image"))
                .then(|| Some((f[0].parse().ok()?, f[3].parse().ok()?, f[4].parse().ok()?, f[12].parse().ok()?)))
                .flatten()
        })
        .collect()
}

#[test]
fn atlas_size_chips_stack_two_maps_on_a_page_and_a_chip_that_cannot_be_read_fails_the_report() {
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    // The imagery copied beside the project, so one file can be damaged below.
    let imagery = dir.path().join("影像");
    std::fs::create_dir_all(&imagery).unwrap();
    for (name, file, date) in
        [("before", "2024-08_前时相_GF2.tif", "2024-08-02"), ("after", "2025-08_后时相_GF2.tif", "2025-08-09")]
    {
        std::fs::copy(common::sample("imagery").join(file), imagery.join(file)).unwrap();
        let spec = tuban_core::imagery::SourceSpec::detect(&imagery.join(file).to_string_lossy());
        p.add_imagery(name, &spec, tuban_model::value::parse_date(date), name).unwrap();
    }
    for key in ["150999SJBG2025000002", "150999SJBG2025000003"] {
        let fid = p.find_patch(key).unwrap().unwrap();
        p.set_text(fid, &[("HCJG", "违法"), ("WFMJ", "2亩"), ("HSMJ", "3亩"), ("DSR", "某公司")]).unwrap();
    }
    let out = dir.path().join("atlas.pdf");
    let opts = ReportOptions { sheets: Sheets::Illegal, dpi: 150, chips: ChipLayout::ATLAS, ..Default::default() };
    write(&p, &out, &opts, false, &tuban_model::progress::Progress::new()).unwrap();
    let info = String::from_utf8_lossy(&Command::new("pdfinfo").arg(&out).output().unwrap().stdout).to_string();
    assert!(info.lines().any(|l| l.starts_with("Pages:") && l.ends_with(" 5")), "cover, sections, two sheets: {info}");
    assert!(info.contains("(A4)"), "{info}");
    // Two maps on each sheet, 190 × 115 mm at 150 dpi: 1122 × 679 pixels placed at 150 ppi.
    let found = images(&out);
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(found.iter().all(|(_, w, h, ppi)| (*w, *h, *ppi) == (1122, 679, 150)), "{found:?}");
    let pages: std::collections::BTreeSet<usize> = found.iter().map(|i| i.0).collect();
    assert_eq!(pages.len(), 2, "both maps of a sheet on its page: {found:?}");
    let text =
        String::from_utf8_lossy(&Command::new("pdftotext").arg(&out).arg("-").output().unwrap().stdout).to_string();
    assert!(
        text.contains("图斑核查表") && text.contains("150999SJBG2025000003") && text.contains("核查结论"),
        "{text}"
    );
    // The maps show imagery, not the grey background.
    let shots = tempfile::tempdir().unwrap();
    let st = Command::new("pdfimages").arg("-j").arg(&out).arg(shots.path().join("c")).status().unwrap();
    assert!(st.success());
    for e in std::fs::read_dir(shots.path()).unwrap().flatten() {
        let img = image::open(e.path()).unwrap().to_rgb8();
        let coloured = img.pixels().filter(|p| p.0.iter().any(|&c| c.abs_diff(58) > 24)).count();
        assert!(coloured > img.pixels().len() / 2, "{}: {coloured} coloured pixels", e.path().display());
    }
    // A raster whose tiles cannot be decoded (it still opens) fails the report; nothing is written.
    let after = imagery.join("2025-08_后时相_GF2.tif");
    let mut bytes = std::fs::read(&after).unwrap();
    let n = bytes.len();
    for (i, b) in bytes[n / 10..n * 9 / 10].iter_mut().enumerate() {
        *b = (i * 7919 % 256) as u8;
    }
    std::fs::write(&after, bytes).unwrap();
    let failed = dir.path().join("failed.pdf");
    let e = write(&p, &failed, &opts, false, &tuban_model::progress::Progress::new()).unwrap_err();
    assert!(matches!(e, tuban_core::report::ReportError::Chip { .. }), "{e}");
    assert!(!failed.exists() && !dir.path().join("failed.pdf.part").exists());
}
