//! Helpers shared by the integration tests of every crate (each includes this file with
//! `#[path]`): fixture paths and fresh projects in temp dirs.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use tuban_core::import::{self, ImportOptions, ImportReport};
use tuban_core::store::{Project, ProjectMeta};
use tuban_model::progress::Progress;
use tuban_model::{Programme, Template};

/// True under CI (`CI=true`, as GitHub, GitLab and our `.ci/run` environment set it).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A test that cannot get what it needs: under CI it fails with the reason; elsewhere it prints
/// why it is skipped (the caller then returns).
#[track_caller]
pub fn cannot_run(test: &str, reason: &str) {
    assert!(!in_ci(), "{test}: cannot run under CI=true: {reason}");
    eprintln!("skipped {test}: {reason} (under CI=true this fails)");
}

/// The top of the workspace (where `sample-data/` and `tests/fixtures/` are), found from the
/// manifest folder of the crate whose tests run.
pub fn root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|d| d.join("sample-data").is_dir() && d.join("tests/fixtures").is_dir())
        .unwrap_or(here)
        .to_path_buf()
}

/// A file under tests/fixtures.
pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

/// A file or folder under sample-data.
pub fn sample(rel: &str) -> PathBuf {
    root().join("sample-data").join(rel)
}

/// The sample county's delivered shapefile.
pub fn sample_shp() -> PathBuf {
    sample("patches/变化图斑.shp")
}

/// A new project in a fresh temp dir (kept alive by the returned guard).
pub fn new_project(template: &str) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("项目 测试.gpkg");
    let t = Template::builtin(template).unwrap();
    let meta = ProjectMeta {
        programme: t.spec.programme,
        county_code: "150999".into(),
        county_name: "示范旗".into(),
        year: 2025,
        unit: "测试单位".into(),
    };
    let mut p = Project::create(&path, &t, &meta).unwrap();
    p.set_user("tester");
    (dir, p)
}

/// Imports with default options.
pub fn import(p: &mut Project, source: &Path) -> Result<ImportReport, import::ImportError> {
    import::import(p, source, &ImportOptions::default(), &Progress::new())
}

/// Imports with options.
pub fn import_with(p: &mut Project, source: &Path, opts: ImportOptions) -> Result<ImportReport, import::ImportError> {
    import::import(p, source, &opts, &Progress::new())
}

/// The programme of the grassland template.
pub fn grassland() -> Programme {
    Programme::Grassland
}

/// Publishes the sample project to the (empty) database at `url` after making it a hub; the
/// project's temp dir comes back as a guard.
pub fn publish_sample(url: &str) -> tempfile::TempDir {
    let (dir, mut p) = new_project("grassland");
    import(&mut p, &sample_shp()).unwrap();
    let mut hub = tuban_core::hub::Hub::connect(url).unwrap();
    tuban_core::hub::schema::init(&mut hub).unwrap();
    tuban_core::hub::publish::publish(&p, &mut hub, &Progress::new()).unwrap();
    dir
}

/// Splits the sample's patch 150999SJBG2025000004 into two 细斑 with a north-south line.
pub fn split_sample_patch_4(p: &mut Project) {
    let line = [geo::Coord { x: 111.4662, y: 41.626 }, geo::Coord { x: 111.4662, y: 41.6282 }];
    tuban_core::ops::geometry::split(p, "150999SJBG2025000004", &tuban_core::ops::geometry::Cut::Line(line.to_vec()))
        .unwrap();
}

/// A field of a patch (by key) as text; `None` when empty.
pub fn field_text(p: &Project, key: &str, field: &str) -> Option<String> {
    let r = p.patch(p.require_patch(key).unwrap()).unwrap().unwrap();
    r.value(p.template(), field).filter(|v| !v.is_empty()).map(|v| v.to_string())
}

/// Sets a field of a patch (by key) from typed text, as the analyst does.
pub fn set_field(p: &mut Project, key: &str, field: &str, value: &str) {
    let fid = p.require_patch(key).unwrap();
    p.set_text(fid, &[(field, value)]).unwrap();
}
