//! End-to-end runs of the `tuban` binary: a whole workflow, exit codes and messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{fixture, sample_shp};

fn tuban(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tuban")).args(args).current_dir(cwd).env("TUBAN_USER", "张三").output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn new_import_set_check_log_info() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = tuban(&["new", "示范 项目.gpkg", "--template", "grassland", "--county", "150999", "--year", "2025"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tuban(&["import", "示范 项目.gpkg", sample_shp().to_str().unwrap()], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("CP936") && out.contains("EPSG:4546") && out.contains("新增 30"), "{out}");

    let o = tuban(
        &[
            "set",
            "示范 项目.gpkg",
            "150999SJBG2025000007",
            "HCJG=违法",
            "WFMJ=30亩",
            "HSMJ=30000",
            "WFLX=非法占用草原",
            "DSR=某公司",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("HCJG:  → 违法") && out.contains("SFSX:  → 是"), "{out}");

    let o = tuban(&["check", "示范 项目.gpkg"], d);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.contains("150999SJBG2025000007\tQDL\t错误"), "{out}");
    assert!(out.contains("未核查图斑 29"), "{out}");

    let o = tuban(&["log", "示范 项目.gpkg", "150999SJBG2025000007"], d);
    let out = stdout(&o);
    assert!(out.contains("张三\tedit\t150999SJBG2025000007\tHCJG\t∅ → 违法"), "{out}");

    let o = tuban(&["--lang", "en", "info", "示范 项目.gpkg"], d);
    let out = stdout(&o);
    assert!(out.contains("patches: 30") && out.contains("违法\t1"), "{out}");
}

#[test]
fn errors_exit_1_and_name_the_file_usage_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = tuban(&["info", "missing.gpkg"], d);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing.gpkg"), "{}", stderr(&o));
    let o = tuban(&["set", "p.gpkg"], d);
    assert_eq!(o.status.code(), Some(2));
    let o = tuban(&["new", "p.gpkg"], d);
    assert!(o.status.success());
    let o = tuban(&["import", "p.gpkg", fixture("derived/gk_no_prj.shp").to_str().unwrap()], d);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--crs EPSG:"), "{}", stderr(&o));
    let o = tuban(&["set", "p.gpkg", "NOPE", "BZ=1"], d);
    assert_eq!(o.status.code(), Some(1));
    let o = tuban(&["new", "p.gpkg"], d);
    assert_eq!(o.status.code(), Some(1), "must not overwrite");
    let o = tuban(&["info", fixture("tricky/gpkg_multilayer/multipleholes.gpkg").to_str().unwrap()], d);
    assert!(stderr(&o).contains("tuban import"), "{}", stderr(&o));
}

#[test]
fn template_round_trip_through_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(tuban(&["new", "p.gpkg", "--template", "eco"], d).status.success());
    let o = tuban(&["template", "export", "p.gpkg", "--out", "eco.toml"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(d.join("eco.toml")).unwrap();
    assert!(text.contains("线索来源"));
    // A bureau adds a field and imports the template back.
    let edited = format!("{text}\n[[field]]\nname = \"DCBZ\"\nlabel = \"督查备注\"\ntype = \"text\"\n");
    std::fs::write(d.join("eco2.toml"), edited).unwrap();
    let o = tuban(&["template", "import", "p.gpkg", "eco2.toml"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    // A broken template names the file and the field.
    std::fs::write(d.join("bad.toml"), text.replace("name = \"DZ\"", "name = \"地址字段\"")).unwrap();
    let o = tuban(&["template", "import", "p.gpkg", "bad.toml"], d);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bad.toml") && stderr(&o).contains("地址字段"), "{}", stderr(&o));
    let o = tuban(&["template", "export", "--builtin", "forest"], d);
    assert!(stdout(&o).contains("森林督查"));
}

#[test]
fn demo_imports_the_sample_county() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("sample.gpkg");
    let o = tuban(&["demo", "--no-window", "--project", project.to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("新增 30") && out.contains("未核查\t30") && out.contains("乌兰花镇"), "{out}");
}

#[test]
fn a_second_process_gets_the_holders_name() {
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &sample_shp()).unwrap();
    let path = p.path().to_path_buf();
    let o = tuban(&["set", path.to_str().unwrap(), "150999SJBG2025000001", "BZ=另一个进程"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains(&format!("pid {}", std::process::id())) && err.contains("tester@"), "{err}");
    // Reading works meanwhile, and after the holder closes, writing does.
    assert!(tuban(&["info", path.to_str().unwrap()], dir.path()).status.success());
    drop(p);
    let o = tuban(&["set", path.to_str().unwrap(), "150999SJBG2025000001", "BZ=另一个进程"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn imagery_catalogue_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(tuban(&["new", "p.gpkg"], d).status.success());
    let tif = common::sample("imagery/2024-08_前时相_GF2.tif");
    let o = tuban(&["imagery", "add", "p.gpkg", tif.to_str().unwrap(), "--label", "2024 GF-2"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("2024-08-02"), "date read from the GeoTIFF metadata: {}", stdout(&o));
    let mb = fixture("tiles/geography-class-png.mbtiles");
    let o = tuban(&["imagery", "add", "p.gpkg", mb.to_str().unwrap(), "--date", "2020-01-01"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let url = "https://t{0-7}.tianditu.gov.cn/img_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=img&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}";
    let o = tuban(&["imagery", "add", "p.gpkg", url, "--key", "abc", "--name", "tianditu", "--date", "2025-01-01"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tuban(&["imagery", "list", "p.gpkg"], d);
    let out = stdout(&o);
    assert!(
        out.contains("2024-08_前时相_GF2\t2024-08-02\t2024 GF-2")
            && out.contains("\"kind\":\"mb_tiles\"")
            && out.contains("tianditu"),
        "{out}"
    );
    // The path is stored relative to the project, and both it (resolved from the project's folder)
    // and the path listed lead to the registered file, byte for byte.
    let stored: String = rusqlite::Connection::open(d.join("p.gpkg"))
        .unwrap()
        .query_row("SELECT spec FROM tuban_imagery WHERE name = '2024-08_前时相_GF2'", [], |r| r.get(0))
        .unwrap();
    let path_in =
        |json: &str| serde_json::from_str::<serde_json::Value>(json).unwrap()["path"].as_str().unwrap().to_string();
    let relative = path_in(&stored);
    assert!(std::path::Path::new(&relative).is_relative(), "stored as {stored}");
    let line = out.lines().find(|l| l.starts_with("2024-08_前时相_GF2\t")).unwrap();
    let listed = path_in(line.rsplit('\t').next().unwrap());
    let original = std::fs::read(&tif).unwrap();
    assert!(std::fs::read(d.join(&relative)).unwrap() == original, "{relative} is not the registered file");
    assert!(std::fs::read(&listed).unwrap() == original, "{listed} is not the registered file");
    // A broken source is refused with its name.
    let o = tuban(&["imagery", "add", "p.gpkg", fixture("tiles/corrupt.mbtiles").to_str().unwrap()], d);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("corrupt.mbtiles"), "{}", stderr(&o));
    assert!(tuban(&["imagery", "remove", "p.gpkg", "tianditu"], d).status.success());
    assert!(!stdout(&tuban(&["imagery", "list", "p.gpkg"], d)).contains("tianditu"));
}

#[test]
fn render_writes_a_chip_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("sample.gpkg");
    let o = tuban(&["demo", "--no-window", "--project", project.to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let p = project.to_str().unwrap();
    let o = tuban(
        &["render", p, "150999SJBG2025000003", "--source", "before", "--out", "chip.png", "--size", "320x240"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let img = image::open(dir.path().join("chip.png")).unwrap();
    assert_eq!((img.width(), img.height()), (320, 240));
    let o = tuban(&["render", p, "150999SJBG2025000003", "--out", "chip.png"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
}

#[test]
fn seal_writes_a_signed_receipt_and_verify_names_a_change_behind_its_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(tuban(&["new", "示范旗.gpkg", "--template", "grassland", "--county", "150999", "--year", "2025"], d)
        .status
        .success());
    assert!(tuban(&["import", "示范旗.gpkg", sample_shp().to_str().unwrap()], d).status.success());
    assert!(tuban(&["set", "示范旗.gpkg", "150999SJBG2025000007", "HCJG=违法"], d).status.success());
    let o = tuban(&["keygen", "--out", "密钥"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tuban(&["seal", "示范旗.gpkg", "--sign-key", "密钥/封库私钥.pem"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let receipts: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("示范旗.封库回执.") && n.ends_with(".json"))
        .collect();
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    let receipt = &receipts[0];
    assert!(out.contains(receipt.as_str()) && out.contains("已签名"), "{out}");
    let digest = out.split("SHA-256 ").nth(1).unwrap().lines().next().unwrap().trim().to_string();
    assert_eq!(digest.len(), 64, "{out}");

    let o = tuban(&["verify", "示范旗.gpkg", "--receipt", receipt, "--public-key", "密钥/封库公钥.pem"], d);
    assert!(o.status.success() && stdout(&o).contains("签名有效"), "{}{}", stdout(&o), stderr(&o));
    assert!(tuban(&["verify", "示范旗.gpkg", "--digest", &digest], d).status.success());

    // A flipped digit of the digest differs from the untouched data.
    let mut flipped = digest.clone().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    let o = tuban(&["verify", "示范旗.gpkg", "--digest", std::str::from_utf8(&flipped).unwrap()], d);
    assert_eq!(o.status.code(), Some(1));
    // Another program changes the verdict.
    let c = rusqlite::Connection::open(d.join("示范旗.gpkg")).unwrap();
    tuban_core::store::register_sql_functions(&c).unwrap(); // the R-tree triggers' functions, as in GDAL
    c.execute("UPDATE patches SET HCJG = '合法' WHERE TBBH = '150999SJBG2025000007'", []).unwrap();
    drop(c);
    let o = tuban(&["verify", "示范旗.gpkg", "--receipt", receipt], d);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let line = stdout(&o).lines().find(|l| l.contains("150999SJBG2025000007")).map(str::to_string);
    assert!(line.as_deref().is_some_and(|l| l.contains("HCJG") && l.contains("合法")), "{}", stdout(&o));
    let o = tuban(&["verify", "示范旗.gpkg", "--digest", &digest], d);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let o = tuban(&["verify", "示范旗.gpkg", "--digest", "12ab"], d);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("示范旗.gpkg") && stderr(&o).contains("64"), "{}", stderr(&o));
}

#[test]
fn moved_imagery_is_listed_missing_the_report_refuses_and_relink_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let imagery = d.join("影像 旧");
    std::fs::create_dir_all(&imagery).unwrap();
    let tif = imagery.join("2025-08_后时相_GF2.tif");
    std::fs::copy(common::sample("imagery/2025-08_后时相_GF2.tif"), &tif).unwrap();
    assert!(tuban(&["new", "项目 一.gpkg", "--template", "grassland"], d).status.success());
    assert!(tuban(&["import", "项目 一.gpkg", sample_shp().to_str().unwrap()], d).status.success());
    assert!(tuban(&["imagery", "add", "项目 一.gpkg", tif.to_str().unwrap()], d).status.success());
    let out = stdout(&tuban(&["imagery", "list", "项目 一.gpkg"], d));
    assert!(out.contains("文件齐全") && out.contains("相对路径找到"), "{out}");
    // Moved out of the project's folder (a file under it would be found by name).
    let elsewhere = tempfile::tempdir().unwrap();
    let moved = elsewhere.path().join("影像 新");
    std::fs::rename(&imagery, &moved).unwrap();
    let out = stdout(&tuban(&["imagery", "list", "项目 一.gpkg"], d));
    assert!(out.contains("文件缺失") && out.contains("缺失 / missing") && out.contains("imagery relink"), "{out}");
    // Only patches with a sheet count: one is illegal, the only sheet.
    assert!(tuban(&["set", "项目 一.gpkg", "150999SJBG2025000002", "HCJG=违法"], d).status.success());
    let report = ["report", "项目 一.gpkg", "--out", "报告.pdf", "--sheets", "illegal", "--force"];
    let o = tuban(&report, d);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("2025-08_后时相_GF2.tif") && err.contains("--allow-missing-imagery"), "{err}");
    assert!(!d.join("报告.pdf").exists());
    let o = tuban(&[&report[..], &["--allow-missing-imagery"]].concat(), d);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("无影像") && out.contains("2025-08_后时相_GF2.tif"), "{out}");
    let o = tuban(&["imagery", "relink", "项目 一.gpkg", "影像 旧", moved.to_str().unwrap()], d);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("已重新链接"), "{}", stdout(&o));
    assert!(stdout(&tuban(&["imagery", "list", "项目 一.gpkg"], d)).contains("文件齐全"));
    let o = tuban(&report, d);
    assert!(o.status.success() && !stdout(&o).contains("无影像"), "{}{}", stdout(&o), stderr(&o));
    let log = stdout(&tuban(&["log", "项目 一.gpkg"], d));
    assert!(log.contains("imagery_relink"), "the relink is in the audit log: {log}");
    // Atlas-size chips: one sheet, its two maps 190 × 115 mm at 150 dpi; a size that does not fit
    // the page is a usage error naming the form to write.
    let o = tuban(&[&report[..], &["--chip-size", "190x115"]].concat(), d);
    assert!(o.status.success(), "{}", stderr(&o));
    let list = Command::new("pdfimages").arg("-list").arg(d.join("报告.pdf")).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout).to_string();
    let chips = list.lines().skip(2).filter(|l| l.split_whitespace().skip(3).take(2).eq(["1122", "679"])).count();
    assert_eq!(chips, 2, "{list}");
    let o = tuban(&[&report[..], &["--chip-size", "300x200"]].concat(), d);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("190x115"), "{}", stderr(&o));
}
