//! The review workstation driven through egui_kittest: the real app state on the sample project,
//! keys pressed as an analyst would, the store checked after each step; snapshots in Chinese and
//! English.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/common/mod.rs"]
mod common;

#[path = "app/edit.rs"]
mod edit;
#[path = "app/hub.rs"]
mod hub;
#[path = "app/map.rs"]
mod map;
#[path = "../../../tests/common/pg.rs"]
mod pg;
#[path = "app/reference.rs"]
mod reference;

#[path = "app/team.rs"]
mod team;

use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use tuban_app::i18n::Lang;
use tuban_app::{Prefs, TubanApp};
use tuban_core::store::{Access, Project};
use tuban_model::{ReviewStatus, Value};

fn sample_project(with_imagery: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    if with_imagery {
        let imagery = common::sample("imagery");
        let d = |s| tuban_model::value::parse_date(s);
        let spec = |f: &str| tuban_core::imagery::SourceSpec::detect(&imagery.join(f).to_string_lossy());
        p.add_imagery("before", &spec("2024-08_前时相_GF2.tif"), d("2024-08-02"), "2024 GF-2").unwrap();
        p.add_imagery("after", &spec("2025-08_后时相_GF2.tif"), d("2025-08-09"), "2025 GF-2").unwrap();
    }
    let path = p.path().to_path_buf();
    drop(p);
    (dir, path)
}

fn harness(path: &std::path::Path, lang: Lang) -> Harness<'static, TubanApp> {
    let app = TubanApp::new(Prefs { lang, ..Default::default() }, Some(path.to_path_buf()));
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 960.0))
        .build_ui_state(|ui, app: &mut TubanApp| app.frame_ui(ui), app);
    h.run_steps(3);
    h
}

/// Reviewed patches counted from the file, beside the count the window shows; and each
/// patch's status as the map colours it, beside the file's.
fn assert_reviewed_count(h: &Harness<'static, TubanApp>, path: &std::path::Path) {
    let p = Project::open(path, Access::ReadOnly).unwrap();
    let stored = p.patches().unwrap();
    let in_store = stored.iter().filter(|r| r.status.is_reviewed()).count();
    let ws = h.state().ws.as_ref().unwrap();
    assert_eq!(ws.reviewed_count(), in_store, "reviewed count shown vs the file");
    for r in &stored {
        assert_eq!(ws.statuses()[ws.index_of_fid[&r.fid]], r.status, "map status of {} vs the file", r.key);
    }
}

fn verdict_in_store(path: &std::path::Path, key: &str) -> Value {
    let p = Project::open(path, Access::ReadOnly).unwrap();
    let fid = p.find_patch(key).unwrap().unwrap();
    p.patch(fid).unwrap().unwrap().value(p.template(), "HCJG").cloned().unwrap()
}

/// Longest a job of these tests may run (a report of the sample project takes a few seconds).
const JOB_DEADLINE: std::time::Duration = std::time::Duration::from_secs(180);

/// Runs frames until the job is done; fails when it still runs after [`JOB_DEADLINE`], with what
/// the window showed, so a stuck job fails the test instead of hanging CI.
fn wait_for_job(h: &mut Harness<'_, TubanApp>) {
    let started = std::time::Instant::now();
    while h.state().job_running() {
        assert!(
            started.elapsed() < JOB_DEADLINE,
            "the job still runs after {} s; last result shown: {:?}",
            JOB_DEADLINE.as_secs(),
            h.state().job_result()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        h.run_steps(1);
    }
}

fn current_key(h: &Harness<'_, TubanApp>) -> String {
    let ws = h.state().ws.as_ref().unwrap();
    ws.records[ws.current.unwrap()].key.clone()
}

#[test]
fn keys_move_set_verdict_advance_and_undo() {
    let (_dir, path) = sample_project(true);
    let mut h = harness(&path, Lang::Zh);
    assert_eq!(current_key(&h), "150999SJBG2025000001");
    h.key_press(Key::ArrowRight);
    h.run_steps(2);
    assert_eq!(current_key(&h), "150999SJBG2025000002");
    h.key_press(Key::K);
    h.run_steps(2);
    assert_eq!(current_key(&h), "150999SJBG2025000001");
    h.key_press(Key::J);
    h.run_steps(2);
    // One key press: verdict option 2 (违法) and advance.
    assert_reviewed_count(&h, &path);
    h.key_press_modifiers(Modifiers::SHIFT, Key::Num2);
    h.run_steps(2);
    assert_eq!(verdict_in_store(&path, "150999SJBG2025000002"), Value::Text("违法".into()));
    assert_eq!(current_key(&h), "150999SJBG2025000003");
    assert_reviewed_count(&h, &path);
    // A plain digit sets the verdict and stays.
    h.key_press(Key::Num3);
    h.run_steps(2);
    assert_eq!(verdict_in_store(&path, "150999SJBG2025000003"), Value::Text("伪变化".into()));
    assert_eq!(current_key(&h), "150999SJBG2025000003");
    // Undo takes back the last edit (patch 3), then the one before (patch 2).
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(2);
    assert_eq!(verdict_in_store(&path, "150999SJBG2025000003"), Value::Null);
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(2);
    assert_eq!(verdict_in_store(&path, "150999SJBG2025000002"), Value::Null);
    assert_eq!(current_key(&h), "150999SJBG2025000002", "undo shows the patch it changed");
    assert_reviewed_count(&h, &path);
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    h.run_steps(2);
    assert_eq!(verdict_in_store(&path, "150999SJBG2025000002"), Value::Text("违法".into()));
    // N jumps to the next unreviewed patch; Enter confirms and moves on.
    h.key_press(Key::N);
    h.run_steps(2);
    assert_eq!(current_key(&h), "150999SJBG2025000003");
    h.key_press(Key::Enter);
    h.run_steps(2);
    assert_eq!(current_key(&h), "150999SJBG2025000004");
    // B / A switch the imagery period.
    h.key_press(Key::B);
    h.run_steps(1);
    assert_eq!(h.state().ws.as_ref().unwrap().period, tuban_app::Period::Before);
    // The status bar says the edit is saved.
    assert!(h.state().ws.as_ref().unwrap().last_saved.is_some());
    assert!(h.query_by_label_contains("已保存").is_some());
}

#[test]
fn clicking_a_queue_row_and_filtering() {
    let (_dir, path) = sample_project(false);
    let mut h = harness(&path, Lang::Zh);
    h.get_by_label("150999SJBG2025000012-2").click();
    h.run_steps(2);
    assert_eq!(current_key(&h), "150999SJBG2025000012-2");
    // Filter by status through the state the panel edits, as its combo box does.
    {
        let app = h.state_mut();
        let ws = app.ws.as_mut().unwrap();
        ws.filter.status = Some(ReviewStatus::Problem);
        ws.refilter();
        assert!(ws.queue.is_empty());
        ws.filter.status = None;
        ws.filter.text = "乌兰花".into();
        ws.refilter();
        assert!(!ws.queue.is_empty() && ws.queue.iter().all(|&i| ws.township(i) == "乌兰花镇"));
    }
    h.run_steps(2);
}

#[test]
fn typing_into_the_form_saves_through_the_store() {
    let (_dir, path) = sample_project(false);
    let mut h = harness(&path, Lang::Zh);
    // Commit a value the way the form does (text committed on focus loss).
    h.state_mut().send(tuban_app::Command::SetText { field: "WFMJ".into(), text: "25亩".into() });
    h.run_steps(2);
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    let fid = p.find_patch("150999SJBG2025000001").unwrap().unwrap();
    let r = p.patch(fid).unwrap().unwrap();
    let Some(Value::Real(wfmj)) = r.value(p.template(), "WFMJ") else { panic!() };
    assert!((wfmj - 16_666.67).abs() < 0.01);
    assert_eq!(r.value(p.template(), "SFSX"), Some(&Value::Bool(true)));
    // A bad value is refused with a message, nothing written.
    h.state_mut().send(tuban_app::Command::SetText { field: "HSMJ".into(), text: "很大".into() });
    h.run_steps(2);
    let msg = h.state().ws.as_ref().unwrap().message.clone().unwrap();
    assert!(msg.is_error && msg.text.contains("HSMJ"), "{msg:?}");
}

#[test]
fn english_switch_translates_the_window() {
    let (_dir, path) = sample_project(false);
    let mut h = harness(&path, Lang::En);
    assert!(h.query_by_label("Patches").is_some());
    assert!(h.query_by_label("图斑列表").is_none());
    h.state_mut().prefs.lang = Lang::Zh;
    h.run_steps(2);
    assert!(h.query_by_label("图斑列表").is_some());
}

#[test]
fn start_screen_without_a_project_and_a_bad_project_file() {
    let app = TubanApp::new(Prefs::default(), Some(common::fixture("tricky/gpkg_multilayer/multipleholes.gpkg")));
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut TubanApp| app.frame_ui(ui), app);
    h.run_steps(2);
    assert!(h.state().ws.is_none());
    assert!(h.query_by_label_contains("tuban import").is_some(), "the error names what to do");
    assert!(h.query_by_label("新建并导入").is_some());
}

#[test]
fn view_modes_and_the_imagery_recorded_with_the_verdict() {
    let (_dir, path) = sample_project(true);
    let mut h = harness(&path, Lang::Zh);
    assert_eq!(h.state().prefs.view, tuban_app::ViewMode::Single);
    h.key_press(Key::V);
    h.run_steps(2);
    assert_eq!(h.state().prefs.view, tuban_app::ViewMode::SideBySide);
    // The two maps show the earlier and the later source (their captions are painted, not widgets).
    let ws = h.state().ws.as_ref().unwrap();
    let shown = |period| ws.source_caption(ws.imagery_for(period));
    assert_eq!(
        (shown(tuban_app::Period::Before), shown(tuban_app::Period::After)),
        ("2024 GF-2 2024-08-02".to_string(), "2025 GF-2 2025-08-09".to_string()),
        "the sources of the side-by-side maps"
    );
    h.key_press(Key::Num2);
    h.run_steps(2);
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    drop(p);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let recorded: String = conn
        .query_row("SELECT verdict_imagery FROM patches WHERE TBBH = '150999SJBG2025000001'", [], |r| r.get(0))
        .unwrap();
    assert!(recorded.contains("2024 GF-2 2024-08-02") && recorded.contains("2025 GF-2 2025-08-09"), "{recorded}");
    h.key_press(Key::V);
    h.run_steps(2);
    assert_eq!(h.state().prefs.view, tuban_app::ViewMode::Swipe);
    // The source switcher overrides the date rule in the single view.
    h.key_press(Key::V);
    h.run_steps(1);
    h.state_mut().ws.as_mut().unwrap().source_override = Some(0);
    h.run_steps(2);
    assert_eq!(h.state().ws.as_ref().unwrap().single_source(), Some(0));
    h.key_press(Key::A);
    h.run_steps(1);
    assert_eq!(h.state().ws.as_ref().unwrap().source_override, None, "B/A return to the date rule");
}

fn snapshot(lang: Lang, name: &str) {
    let (_dir, path) = sample_project(false);
    let mut h = harness(&path, lang);
    h.key_press(Key::ArrowRight);
    h.run_steps(4);
    h.snapshot(name);
}

/// Snapshot of the main window in Chinese (software wgpu). Regenerate with UPDATE_SNAPSHOTS=true.
#[test]
fn main_window_snapshot_zh() {
    snapshot(Lang::Zh, "main_window_zh");
}

/// Snapshot of the main window in English.
#[test]
fn main_window_snapshot_en() {
    snapshot(Lang::En, "main_window_en");
}

#[test]
fn workflow_panels_open_cases_flags_comments_and_seal() {
    let (_dir, path) = sample_project(false);
    // Tall enough that the whole form and its workflow sections are on screen.
    let app = TubanApp::new(Prefs { lang: Lang::Zh, ..Default::default() }, Some(path.clone()));
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 2600.0))
        .build_ui_state(|ui, app: &mut TubanApp| app.frame_ui(ui), app);
    h.run_steps(3);
    // Patch 1 illegal: the case section offers to open a case.
    h.key_press(Key::Num2);
    h.run_steps(3);
    h.get_by_label("立案").click();
    h.run_steps(3);
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    let fid = p.find_patch("150999SJBG2025000001").unwrap().unwrap();
    assert!(p.case_of_patch(fid).unwrap().is_some());
    drop(p);
    h.get_by_label("需外业核实").click();
    h.run_steps(3);
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    assert_eq!(p.review_aids(fid).unwrap().0, vec!["需外业核实".to_string()]);
    drop(p);
    // Seal through the command the menu sends (a job); edits are then refused with a message.
    h.state_mut().send(tuban_app::AppCommand::Seal);
    h.run_steps(1);
    wait_for_job(&mut h);
    h.key_press(Key::Num1);
    h.run_steps(2);
    let msg = h.state().ws.as_ref().unwrap().message.clone().unwrap();
    assert!(msg.is_error && msg.text.contains("封库"), "{msg:?}");
}

#[test]
fn report_from_the_menu_runs_as_a_job_and_keeps_the_texts() {
    let (dir, path) = sample_project(true);
    let mut h = harness(&path, Lang::Zh);
    h.get_by_label("业务").click();
    h.run_steps(2);
    h.get_by_label("成果输出（报告、导出）…").click();
    h.run_steps(3);
    let problems = h.get_by_label("六、存在问题与建议");
    problems.click();
    h.run_steps(1);
    h.get_by_label("六、存在问题与建议").type_text("部分图斑影像云量较大，建议补充外业核实。");
    h.run_steps(2);
    h.get_by_label("仅违法图斑").click();
    h.run_steps(1);
    h.get_by_label("生成报告").click();
    h.run_steps(2);
    assert!(h.state().job_running(), "the report runs as a job");
    wait_for_job(&mut h);
    let result = h.state().job_result().unwrap_or_default().to_string();
    assert!(result.contains(".pdf"), "{result}");
    // The project stayed open and the text is kept in it for the next report.
    assert!(h.state().ws.is_some());
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    assert_eq!(
        p.report_text(tuban_core::store::ReportText::Problems).unwrap().as_deref(),
        Some("部分图斑影像云量较大，建议补充外业核实。")
    );
    drop(p);
    let pdf = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "pdf"))
        .unwrap();
    let text = std::process::Command::new("pdftotext").arg(&pdf).arg("-").output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(text.contains("部分图斑影像云量较大"), "the problems text is in section 6");
    // Only illegal patches get sheets: the sample has none judged illegal, so no sheet.
    assert!(!text.contains("图斑核查表"), "no sheets for a project without illegal verdicts");
}

/// Clicks the map at `pos` (screen points) as a mouse would.
fn click_at(h: &mut Harness<'_, TubanApp>, pos: egui::Pos2) {
    // Successive clicks lie far apart: never a double click.
    h.event(egui::Event::PointerMoved(pos));
    h.event(egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: Modifiers::NONE,
    });
    h.run_steps(1);
    h.event(egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: Modifiers::NONE,
    });
    h.run_steps(1);
}

#[test]
fn a_clue_drawn_on_the_map_becomes_a_patch() {
    let (_dir, path) = sample_project(false);
    let mut h = harness(&path, Lang::Zh);
    let before = h.state().ws.as_ref().unwrap().records.len();
    h.get_by_label("画面线索").click();
    h.run_steps(2);
    assert!(h.state().ws.as_ref().unwrap().drawing.is_some());
    // Three vertices in the map (the middle of the window); Backspace removes a fourth.
    for p in [(600.0, 300.0), (800.0, 320.0), (760.0, 520.0), (650.0, 600.0)] {
        click_at(&mut h, egui::pos2(p.0, p.1));
    }
    assert_eq!(h.state().ws.as_ref().unwrap().drawing.as_ref().unwrap().vertices.len(), 4);
    h.key_press(Key::Backspace);
    h.run_steps(2);
    h.key_press(Key::Enter);
    h.run_steps(2);
    let d = h.state().ws.as_ref().unwrap().drawing.clone().unwrap();
    assert!(d.finished && d.vertices.len() == 3, "{d:?}");
    // The map click became lon/lat near the sample county (111.4°E, 41.6°N).
    assert!(
        d.vertices.iter().all(|(lon, lat)| (lon - 111.46).abs() < 0.05 && (lat - 41.6).abs() < 0.05),
        "{:?}",
        d.vertices
    );
    h.get_by_label("地址").click();
    h.run_steps(1);
    h.get_by_label("地址").type_text("大井村北 2 公里");
    h.run_steps(1);
    h.get_by_label("保存线索").click();
    h.run_steps(3);
    let ws = h.state().ws.as_ref().unwrap();
    assert!(ws.drawing.is_none());
    assert_eq!(ws.records.len(), before + 1);
    let key = ws.records[ws.current.unwrap()].key.clone();
    assert!(key.contains("SG"), "{key}");
    // In the store: a polygon of its own batch, with the clue source.
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    let fid = p.find_patch(&key).unwrap().unwrap();
    let g = p.patch_geometry(fid).unwrap().unwrap();
    assert!(matches!(g, geo::Geometry::Polygon(_)), "{g:?}");
    let r = p.patch(fid).unwrap().unwrap();
    assert!(r.area_m2 > 100.0);
    // The grassland template has no address field: the address lands in the remarks.
    assert_eq!(r.value(p.template(), "BZ").map(|v| v.to_string()).as_deref(), Some("大井村北 2 公里"));
    let batch = p.batches().unwrap().pop().unwrap();
    assert_eq!(batch.clue_source.as_deref(), Some("信访"));
    // A point clue: one click completes it; Esc on a new drawing cancels without saving.
    drop(p);
    h.get_by_label("画点线索").click();
    h.run_steps(2);
    click_at(&mut h, egui::pos2(700.0, 400.0));
    h.run_steps(2);
    assert!(h.state().ws.as_ref().unwrap().drawing.as_ref().unwrap().finished);
    h.get_by_label("保存线索").click();
    h.run_steps(3);
    assert_eq!(h.state().ws.as_ref().unwrap().records.len(), before + 2);
    h.get_by_label("画面线索").click();
    h.run_steps(2);
    h.key_press(Key::Escape);
    h.run_steps(2);
    assert!(h.state().ws.as_ref().unwrap().drawing.is_none());
}

#[test]
fn a_typed_value_is_saved_after_a_pause_while_the_field_keeps_the_focus() {
    let (_dir, path) = sample_project(false);
    let mut h = harness(&path, Lang::Zh);
    let stored = |path: &std::path::Path| {
        let p = Project::open(path, Access::ReadOnly).unwrap();
        let fid = p.find_patch("150999SJBG2025000001").unwrap().unwrap();
        p.patch(fid).unwrap().unwrap().value(p.template(), "HSMJ").cloned()
    };
    h.get_by_label("核实面积  HSMJ").click();
    h.run_steps(1);
    h.get_by_label("核实面积  HSMJ").type_text("5");
    h.run_steps(1);
    // Kittest advances a quarter of a second a frame: one frame is shorter than the pause.
    assert_eq!(stored(&path), Some(Value::Null), "saved while still typing");
    h.run_steps(4);
    let Some(Value::Real(m2)) = stored(&path) else { panic!("not saved after the pause: {:?}", stored(&path)) };
    assert!((m2 - 5.0).abs() < 1e-9, "{m2}");
    // Typing on saves again after the next pause; nothing is saved twice.
    h.get_by_label("核实面积  HSMJ").type_text("0");
    h.run_steps(5);
    let Some(Value::Real(m2)) = stored(&path) else { panic!() };
    assert!((m2 - 50.0).abs() < 1e-9, "{m2}");
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    let fid = p.find_patch("150999SJBG2025000001").unwrap().unwrap();
    let edits = p.audit_log(Some(fid)).unwrap().into_iter().filter(|e| e.field.as_deref() == Some("HSMJ")).count();
    assert_eq!(edits, 2, "one audited edit per pause");
}

#[test]
fn attachments_are_read_and_written_by_jobs_off_the_ui_thread() {
    let (dir, path) = sample_project(false);
    let mut p = Project::open(&path, Access::ReadWrite).unwrap();
    let fid = p.find_patch("150999SJBG2025000001").unwrap().unwrap();
    p.set_text(fid, &[("HCJG", "违法"), ("DSR", "某公司")]).unwrap();
    let case = p.create_case(None, &[fid], "某公司", "").unwrap();
    drop(p);
    let mut h = harness(&path, Lang::Zh);
    let photo = common::fixture("exif/DSCN0010.jpg");
    let missing = dir.path().join("不存在.pdf");
    h.state_mut().send(tuban_app::AppCommand::AttachToCase {
        number: case.clone(),
        paths: vec![photo.clone(), missing],
        kind: "整改照片".into(),
    });
    h.run_steps(1);
    assert!(
        h.state().job_running() && h.state().ws.is_none(),
        "the window lets go of the project while the job writes it"
    );
    wait_for_job(&mut h);
    let result = h.state().job_result().unwrap_or_default().to_string();
    assert!(result.contains("DSCN0010.jpg") && result.contains("不存在.pdf"), "each file is reported: {result}");
    assert!(h.state().ws.is_some(), "the project is open again");
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    let list = p.case_attachments(&case).unwrap();
    assert_eq!(list.len(), 1);
    drop(p);
    let out = dir.path().join("取出.jpg");
    h.state_mut().send(tuban_app::AppCommand::ExtractAttachment { id: list[0].id, out: out.clone() });
    h.run_steps(1);
    wait_for_job(&mut h);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&photo).unwrap());
}

#[test]
fn seal_and_verify_from_the_menu_run_as_jobs() {
    let (_dir, path) = sample_project(false);
    let mut h = harness(&path, Lang::Zh);
    // On the third patch when sealing: the window comes back to it afterwards.
    h.key_press(Key::ArrowRight);
    h.key_press(Key::ArrowRight);
    h.run_steps(2);
    let current = h.state().ws.as_ref().unwrap().current;
    assert_eq!(current, Some(2));
    h.get_by_label("业务").click();
    h.run_steps(2);
    h.get_by_label("封库…").click();
    h.run_steps(3);
    h.get_by_label("确定").click();
    h.run_steps(1);
    assert!(
        h.state().job_running() && h.state().ws.is_none(),
        "sealing runs as a job and the window lets go of the project meanwhile"
    );
    wait_for_job(&mut h);
    let msg = h.state().ws.as_ref().expect("the project is open again").message.clone().unwrap();
    assert!(msg.text.starts_with("已封库") && !msg.is_error, "{msg:?}");
    assert_eq!(h.state().ws.as_ref().unwrap().current, current, "back on the patch shown before the job");
    // The frame that took the finished job was drawn without the project: draw one with it.
    h.run_steps(2);
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    let seal = p.seal_in_force().unwrap().expect("sealed in the store");
    assert!(msg.text.contains(&seal.digest[..16]), "{msg:?} vs {seal:?}");
    drop(p);
    h.get_by_label("业务").click();
    h.run_steps(2);
    h.get_by_label("校验封库").click();
    h.run_steps(1);
    assert!(h.state().job_running(), "verifying runs as a job");
    assert!(h.state().ws.is_some(), "verifying only reads: the project stays open");
    wait_for_job(&mut h);
    let msg = h.state().ws.as_ref().unwrap().message.clone().unwrap();
    assert!(msg.text.starts_with("与封库一致") && msg.text.contains(&seal.digest[..16]), "{msg:?}");
    h.run_steps(1);
    assert!(h.query_by_label_contains("与封库一致").is_some(), "shown in the status bar");
}

/// A file dropped on the window, as the integration hands it over.
#[derive(Debug)]
struct Dropped(std::path::PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// Drops `path` on the window in the next frame.
fn drop_file(h: &mut Harness<'_, TubanApp>, path: &std::path::Path) {
    h.input_mut().dropped_files.push(std::sync::Arc::new(Dropped(path.to_path_buf())));
}

#[test]
fn a_file_dropped_while_a_job_runs_is_refused_and_the_job_kept() {
    let (dir, path) = sample_project(false);
    let mut h = harness(&path, Lang::Zh);
    let out = dir.path().join("报告.pdf");
    let opts = tuban_core::report::ReportOptions { sheets: tuban_core::report::Sheets::None, ..Default::default() };
    // The report is sent, and a photo dropped on the window in the same frame.
    h.state_mut().send(tuban_app::AppCommand::Report { out: out.clone(), opts, force: false });
    drop_file(&mut h, &common::fixture("exif/DSCN0010.jpg"));
    h.run_steps(1);
    assert_eq!(h.state().job_title(), Some("making_report"), "the first job keeps the slot");
    let msg = h.state().ws.as_ref().unwrap().message.clone().unwrap();
    assert!(msg.is_error && msg.text.contains("另一项任务正在进行"), "{msg:?}");
    // A second drop while the report still runs is refused too.
    if h.state().job_running() {
        drop_file(&mut h, &common::fixture("exif/DSCN0010.jpg"));
        h.run_steps(1);
        assert!(h.state().job_title().is_none_or(|t| t == "making_report"));
    }
    wait_for_job(&mut h);
    assert!(h.state().job_result().unwrap_or_default().contains("报告.pdf"), "{:?}", h.state().job_result());
    assert!(out.exists());
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    assert!(p.photos(None).unwrap().is_empty(), "the dropped photo was not imported");
}

#[test]
fn a_banner_names_missing_imagery_and_a_relink_through_the_command_clears_it() {
    let (dir, path) = sample_project(false);
    // Moved out of the project's folder (a file under it would be found by name).
    let elsewhere = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("影像 旧"), elsewhere.path().join("影像 新"));
    std::fs::create_dir_all(&old).unwrap();
    let tif = old.join("2025-08_后时相_GF2.tif");
    std::fs::copy(common::sample("imagery/2025-08_后时相_GF2.tif"), &tif).unwrap();
    let spec = tuban_core::imagery::SourceSpec::detect(tif.to_str().unwrap());
    Project::open(&path, Access::ReadWrite).unwrap().add_imagery("after", &spec, None, "").unwrap();
    std::fs::rename(&old, &new).unwrap();
    let mut h = harness(&path, Lang::Zh);
    for _ in 0..50 {
        h.run_steps(2);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(h.query_by_label_contains("1 个影像缺失：").is_some(), "the banner");
    assert!(h.query_by_label("定位…").is_some() && h.query_by_label("重新链接").is_some());
    assert!(h.query_by_label_contains("NULL pointer").is_none(), "no raw GDAL message");
    let found = new.join("2025-08_后时相_GF2.tif");
    h.state_mut().send(tuban_app::views::relink_command(&tif, &found));
    h.run_steps(3);
    assert!(h.query_by_label_contains("个影像缺失").is_none(), "the banner is gone");
    assert!(h.query_by_label_contains("已重新链接影像").is_some(), "said in the status line");
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    assert_eq!(p.imagery().unwrap()[0].files[0].found(), Some(found.as_path()));
}
