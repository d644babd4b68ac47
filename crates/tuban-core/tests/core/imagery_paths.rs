//! Imagery that follows the project: a project copied with its imagery to a Chinese folder with
//! spaces opens and renders; imagery moved away makes the report refuse (naming the file) or,
//! when allowed, mark its chips 无影像; relinking brings the chips back; a damaged file fails the
//! report instead of leaving a grey box.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use tuban_core::imagery::paths::Resolution;
use tuban_core::imagery::SourceSpec;
use tuban_core::ops::{self, Overwrite};
use tuban_core::report::{write, ReportError, ReportOptions, Sheets};
use tuban_core::store::{Access, Project};
use tuban_model::progress::Progress;

const FILES: [(&str, &str, &str); 2] =
    [("before", "2024-08_前时相_GF2.tif", "2024-08-02"), ("after", "2025-08_后时相_GF2.tif", "2025-08-09")];
const ILLEGAL: &str = "150999SJBG2025000002";

/// A project at `dir/项目 测试.gpkg` with the sample imagery copied into `dir/影像 资料/` and
/// registered from there, one patch illegal (the only sheet).
fn project_with_imagery(dir: &Path) -> PathBuf {
    let imagery = dir.join("影像 资料");
    std::fs::create_dir_all(&imagery).unwrap();
    for (_, f, _) in FILES {
        std::fs::copy(common::sample("imagery").join(f), imagery.join(f)).unwrap();
    }
    let (_tmp, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let fid = p.find_patch(ILLEGAL).unwrap().unwrap();
    p.set_text(fid, &[("HCJG", "违法"), ("WFMJ", "2亩")]).unwrap();
    drop(p);
    let path = dir.join("项目 测试.gpkg");
    std::fs::copy(_tmp.path().join("项目 测试.gpkg"), &path).unwrap();
    let mut p = Project::open(&path, Access::ReadWrite).unwrap();
    for (name, f, date) in FILES {
        let spec = SourceSpec::detect(&imagery.join(f).to_string_lossy());
        p.add_imagery(name, &spec, tuban_model::value::parse_date(date), name).unwrap();
    }
    path
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn opts(allow_missing_imagery: bool) -> ReportOptions {
    ReportOptions { sheets: Sheets::Illegal, allow_missing_imagery, ..Default::default() }
}

/// Pixels of the report's chips that are not the grey background.
fn coloured_chip_pixels(pdf: &Path) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let st = Command::new("pdfimages").arg("-j").arg(pdf).arg(dir.path().join("img")).status().unwrap();
    assert!(st.success());
    let mut coloured = 0;
    for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
        let img = image::open(e.path()).unwrap().to_rgb8();
        coloured += img.pixels().filter(|p| p.0.iter().any(|&c| c.abs_diff(58) > 24)).count();
    }
    coloured
}

#[test]
fn a_project_copied_with_its_imagery_to_a_chinese_folder_with_spaces_opens_and_renders() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("原 项目");
    project_with_imagery(&from);
    let to = tmp.path().join("移动 后/第 二 层");
    copy_dir(&from, &to);
    std::fs::remove_dir_all(&from).unwrap();
    let p = Project::open(&to.join("项目 测试.gpkg"), Access::ReadOnly).unwrap();
    let sources = p.imagery().unwrap();
    assert_eq!(sources.len(), 2);
    for s in &sources {
        assert!(matches!(&s.files[0].resolution, Resolution::Relative(f) if f.starts_with(&to)), "{:?}", s.files);
    }
    let out = tmp.path().join("图.png");
    let source = ops::deliver::ChipSource::After;
    ops::deliver::render_patch(&p, ILLEGAL, &source, (400, 300), &out, Overwrite::Refuse).unwrap();
    let img = image::open(&out).unwrap().to_rgb8();
    assert!(img.pixels().filter(|p| p.0.iter().any(|&c| c.abs_diff(58) > 24)).count() > 10_000);
}

#[test]
fn moved_imagery_refuses_the_report_marks_chips_when_allowed_and_relinks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("县 项目");
    let path = project_with_imagery(&dir);
    let moved = tmp.path().join("别处 的 影像");
    std::fs::rename(dir.join("影像 资料"), &moved).unwrap();
    let mut p = Project::open(&path, Access::ReadWrite).unwrap();
    assert_eq!(ops::imagery::missing(&p).unwrap().len(), 2);
    let pdf = dir.join("报告.pdf");
    let e = write(&p, &pdf, &opts(false), false, &Progress::new()).unwrap_err();
    assert!(matches!(e, ReportError::MissingImagery { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("2025-08_后时相_GF2.tif") && text.contains("--allow-missing-imagery"), "{text}");
    assert!(text.contains("tuban imagery relink"), "{text}");
    assert!(!pdf.exists());

    let summary = write(&p, &pdf, &opts(true), false, &Progress::new()).unwrap();
    assert_eq!(summary.missing_imagery.len(), 2, "{summary:?}");
    let text = String::from_utf8_lossy(&Command::new("pdftotext").arg(&pdf).arg("-").output().unwrap().stdout)
        .replace('\n', "");
    assert!(text.contains("无影像"), "{text}");
    assert!(text.contains("2025-08_后时相_GF2.tif") && text.contains("影像缺失说明"), "{text}");
    let bare = coloured_chip_pixels(&pdf);

    let relinked = ops::imagery::relink(&mut p, &dir.join("影像 资料"), &moved).unwrap();
    assert_eq!(relinked.len(), 2);
    assert!(relinked.iter().all(|s| s.files.iter().all(|f| f.found().is_some())), "{relinked:?}");
    assert!(ops::imagery::missing(&p).unwrap().is_empty());
    let e = ops::imagery::relink(&mut p, Path::new("/没有/这个"), &moved).unwrap_err().to_string();
    assert!(e.contains("/没有/这个"), "{e}");
    let summary = write(&p, &pdf, &opts(false), true, &Progress::new()).unwrap();
    assert!(summary.missing_imagery.is_empty());
    let shown = coloured_chip_pixels(&pdf);
    assert!(shown > bare + 20_000, "chips show imagery again: {shown} coloured pixels, {bare} without imagery");
    drop(p);
    // The relink survives reopening, and a damaged file fails the report rather than a grey box.
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    assert!(ops::imagery::missing(&p).unwrap().is_empty());
    std::fs::write(moved.join("2025-08_后时相_GF2.tif"), b"not a tiff").unwrap();
    let e = write(&p, &pdf, &opts(false), true, &Progress::new()).unwrap_err();
    assert!(matches!(e, ReportError::Chip { .. }), "{e}");
    assert!(e.to_string().contains(ILLEGAL), "{e}");
}

#[test]
fn relinking_a_folder_leaves_a_file_that_is_still_found_where_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("项目");
    let path = project_with_imagery(&dir);
    let elsewhere = tmp.path().join("新 位置");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let after = "2025-08_后时相_GF2.tif";
    std::fs::rename(dir.join("影像 资料").join(after), elsewhere.join(after)).unwrap();
    let mut p = Project::open(&path, Access::ReadWrite).unwrap();
    let moved = ops::imagery::relink(&mut p, &dir.join("影像 资料"), &elsewhere).unwrap();
    assert_eq!(moved.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["after"]);
    let sources = p.imagery().unwrap();
    assert!(ops::imagery::missing(&p).unwrap().is_empty(), "{sources:?}");
    let before = sources.iter().find(|s| s.name == "before").unwrap();
    assert!(before.files[0].path().starts_with(dir.join("影像 资料")), "{:?}", before.files);
}
