//! The project as GDAL and QGIS see it: the GeoPackage R-tree spatial index on `patches.geom`
//! (filled by the import, kept in step by the triggers) and the default QGIS style in
//! `layer_styles` (aliases, value maps, categories by review status), read back from the file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use crate::common::{import, new_project, sample_shp};
use tuban_core::store::{register_sql_functions, Access, Project};
use tuban_model::geometry::gpkg;
use tuban_model::Template;

fn open(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    register_sql_functions(&conn).unwrap();
    conn
}

/// (fid, envelope) of every patch, from the geometry itself (the brute-force answer).
fn envelopes(conn: &rusqlite::Connection) -> Vec<(i64, [f64; 4])> {
    let mut st = conn.prepare("SELECT fid, geom FROM patches ORDER BY fid").unwrap();
    let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))).unwrap();
    rows.map(|r| {
        let (fid, blob) = r.unwrap();
        (fid, gpkg::envelope(&gpkg::decode(&blob).unwrap().1).unwrap())
    })
    .collect()
}

/// Fids whose R-tree box meets `b` (min_x, min_y, max_x, max_y).
fn rtree_query(conn: &rusqlite::Connection, b: [f64; 4]) -> Vec<i64> {
    let mut st = conn
        .prepare("SELECT id FROM rtree_patches_geom WHERE maxx >= ?1 AND minx <= ?3 AND maxy >= ?2 AND miny <= ?4 ORDER BY id")
        .unwrap();
    st.query_map(b, |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

fn brute_force(all: &[(i64, [f64; 4])], b: [f64; 4]) -> Vec<i64> {
    all.iter().filter(|(_, e)| e[2] >= b[0] && e[0] <= b[2] && e[3] >= b[1] && e[1] <= b[3]).map(|(f, _)| *f).collect()
}

#[test]
fn the_import_fills_the_spatial_index_that_gdal_uses() {
    let (_dir, mut p) = new_project("grassland");
    import(&mut p, &sample_shp()).unwrap();
    let path = p.path().to_path_buf();
    drop(p);
    let conn = open(&path);
    let all = envelopes(&conn);
    let indexed: i64 = conn.query_row("SELECT count(*) FROM rtree_patches_geom", [], |r| r.get(0)).unwrap();
    assert_eq!(indexed, all.len() as i64);
    assert_eq!(all.len(), 30);
    // Small boxes around a few patches, and one around everything: the same fids either way.
    let (min_x, min_y) = all.iter().fold((f64::MAX, f64::MAX), |(x, y), (_, e)| (x.min(e[0]), y.min(e[1])));
    let (max_x, max_y) = all.iter().fold((f64::MIN, f64::MIN), |(x, y), (_, e)| (x.max(e[2]), y.max(e[3])));
    for i in 0..=8 {
        let (fx, fy) = (f64::from(i) / 8.0, f64::from(8 - i) / 8.0);
        let (x, y) = (min_x + (max_x - min_x) * fx, min_y + (max_y - min_y) * fy);
        let b = [x - 0.01, y - 0.01, x + 0.01, y + 0.01];
        assert_eq!(rtree_query(&conn, b), brute_force(&all, b), "box {b:?}");
    }
    let everything = [min_x, min_y, max_x, max_y];
    assert_eq!(rtree_query(&conn, everything).len(), 30);
    drop(conn);
    let out = Command::new("ogrinfo")
        .args(["-ro", "-q", "-dialect", "SQLite", "-sql", "SELECT HasSpatialIndex('patches','geom')"])
        .arg(&path)
        .output()
        .expect("ogrinfo (gdal-bin)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("HasSpatialIndex (Integer) = 1"), "{text}{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_triggers_keep_the_index_in_step_with_geometry_changes() {
    let (_dir, mut p) = new_project("grassland");
    import(&mut p, &sample_shp()).unwrap();
    let fid = p.find_patch("150999SJBG2025000004").unwrap().unwrap();
    let path = p.path().to_path_buf();
    drop(p);
    let conn = open(&path);
    let (_, old) = envelopes(&conn).into_iter().find(|(f, _)| *f == fid).unwrap();
    // Another program (GDAL, QGIS: they bring these SQL functions) moves the patch 0.5° east.
    let blob: Vec<u8> = conn.query_row("SELECT geom FROM patches WHERE fid = ?1", [fid], |r| r.get(0)).unwrap();
    let (srs, mut geom) = gpkg::decode(&blob).unwrap();
    geo::MapCoordsInPlace::map_coords_in_place(&mut geom, |c| geo::coord! { x: c.x + 0.5, y: c.y });
    conn.execute("UPDATE patches SET geom = ?1 WHERE fid = ?2", rusqlite::params![gpkg::encode(&geom, srs), fid])
        .unwrap();
    let moved: (f64, f64) = conn
        .query_row("SELECT minx, maxx FROM rtree_patches_geom WHERE id = ?1", [fid], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert!((moved.0 - (old[0] + 0.5)).abs() < 1e-4 && (moved.1 - (old[2] + 0.5)).abs() < 1e-4, "{moved:?} {old:?}");
    let all = envelopes(&conn);
    let b = [old[0] + 0.5, old[1], old[2] + 0.5, old[3]];
    assert_eq!(rtree_query(&conn, b), brute_force(&all, b));
    // A deleted patch leaves the index.
    conn.execute("DELETE FROM patches WHERE fid = ?1", [fid]).unwrap();
    let left: i64 =
        conn.query_row("SELECT count(*) FROM rtree_patches_geom WHERE id = ?1", [fid], |r| r.get(0)).unwrap();
    assert_eq!(left, 0);
    drop(conn);
    // A plain SQLite connection without the functions cannot change patches (as with GDAL's files).
    let plain = rusqlite::Connection::open(&path).unwrap();
    let err = plain.execute("UPDATE patches SET BZ = 'x'", []).unwrap_err();
    assert!(err.to_string().contains("ST_IsEmpty"), "{err}");
}

/// The default style's QML, as QGIS would read it.
fn default_style(path: &Path) -> String {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row(
        "SELECT styleQML FROM layer_styles WHERE f_table_name = 'patches' AND f_geometry_column = 'geom' AND useAsDefault = 1",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_new_project_carries_a_qgis_style_rewritten_with_its_template() {
    let (_dir, mut p) = new_project("grassland");
    import(&mut p, &sample_shp()).unwrap();
    let path = p.path().to_path_buf();
    let qml = default_style(&path);
    assert!(qml.contains("<alias field=\"HCJG\" name=\"核查结论\"/>"), "{qml}");
    assert!(qml.contains("<editWidget type=\"ValueMap\">"));
    assert!(qml.contains("<Option name=\"违法\" type=\"QString\" value=\"违法\"/>"));
    assert!(qml.contains("type=\"categorizedSymbol\" attr=\"review_status\""));
    for status in ["unreviewed", "in_progress", "done", "problem"] {
        assert!(qml.contains(&format!("value=\"{status}\"")), "{status}");
    }
    // A new label in the template is in the rewritten style; there is still one default.
    let mut spec = p.template().spec.clone();
    spec.version += 1;
    spec.fields.iter_mut().find(|f| f.name == "HCJG").unwrap().label = "核查结论（\"终\"）".into();
    p.replace_template(Template::from_spec(spec, "edited.toml").unwrap()).unwrap();
    let qml = default_style(&path);
    assert!(qml.contains("<alias field=\"HCJG\" name=\"核查结论（&quot;终&quot;）\"/>"), "{qml}");
    drop(p);
    // ogrinfo still lists the patches layer first, and the project stays a valid GeoPackage.
    let out = Command::new("ogrinfo").args(["-ro", "-q"]).arg(&path).output().expect("ogrinfo (gdal-bin)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().next().is_some_and(|l| l.contains("patches")), "{text}");
    let p = Project::open(&path, Access::ReadOnly).unwrap();
    assert_eq!(p.patch_count().unwrap(), 30);
}

/// True when PyQGIS runs; under `CI=true` its absence fails the test, elsewhere it skips and says why.
pub(crate) fn qgis_available() -> bool {
    let has_qgis =
        Command::new("/usr/bin/python3").args(["-c", "import qgis.core"]).output().is_ok_and(|o| o.status.success());
    if !has_qgis {
        let why = "QGIS (python3-qgis for /usr/bin/python3) is not installed; scripts/install-deps.sh installs it";
        crate::common::cannot_run("QGIS tests", why);
    }
    has_qgis
}

/// Runs a PyQGIS script headless with `args`; returns what it printed (stdout, then stderr).
pub(crate) fn pyqgis(dir: &Path, script: &str, args: &[&Path]) -> (String, String) {
    let file = dir.join("check.py");
    std::fs::write(&file, script).unwrap();
    let out = Command::new("/usr/bin/python3")
        .arg(&file)
        .args(args)
        .env("QT_QPA_PLATFORM", "offscreen")
        .env("GDAL_PAM_ENABLED", "NO")
        .env("XDG_RUNTIME_DIR", dir)
        .output()
        .unwrap();
    (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
}

/// What QGIS makes of an exported `.qgz`: the project, its CRS, each layer and the patches' style.
const QGZ_CHECK: &str = r#"
import sys
from qgis.core import QgsApplication, QgsProject
app = QgsApplication([], False)
app.initQgis()
prj = QgsProject.instance()
print("read=%s" % prj.read(sys.argv[1]))
print("crs=%s" % prj.crs().authid())
for layer in prj.mapLayers().values():
    print("layer=%s|%s|%s|%s" % (layer.name(), layer.type(), layer.isValid(), layer.crs().isValid()))
    if layer.type() == 0:
        i = layer.fields().indexOf("HCJG")
        print("features=%d" % layer.featureCount())
        print("renderer=%s|%s" % (layer.renderer().type(), layer.renderer().classAttribute()))
        print("alias=%s|%s" % (layer.attributeAlias(i), layer.editorWidgetSetup(i).type()))
print("tree=" + ",".join("%s:%s" % (n.name(), n.layer() is not None) for n in prj.layerTreeRoot().findLayers()))
app.exitQgis()
"#;

/// The exported QGIS project opens in QGIS 3.22 with the styled patches on top of both imagery
/// periods, in CGCS2000, with paths relative to the `.qgz`.
#[test]
fn the_exported_qgis_project_opens_with_the_styled_patches_over_the_imagery() {
    if !qgis_available() {
        return;
    }
    let (dir, mut p) = new_project("grassland");
    import(&mut p, &sample_shp()).unwrap();
    let imagery = crate::common::sample("imagery");
    for (name, file, date) in
        [("before", "2024-08_前时相_GF2.tif", "2024-08-02"), ("after", "2025-08_后时相_GF2.tif", "2025-08-09")]
    {
        let spec = tuban_core::imagery::SourceSpec::detect(&imagery.join(file).to_string_lossy());
        p.add_imagery(name, &spec, tuban_model::value::parse_date(date), name).unwrap();
    }
    let out = dir.path().join("成果 QGIS");
    let files =
        tuban_core::export::export(&p, tuban_core::export::Format::Qgz, &out, &Default::default(), &Default::default())
            .unwrap();
    let qgz = files.iter().find(|f| f.extension().is_some_and(|e| e == "qgz")).unwrap();
    let (text, err) = pyqgis(dir.path(), QGZ_CHECK, &[qgz]);
    for line in [
        "read=True",
        "crs=EPSG:4490",
        "layer=图斑|0|True|True",
        "features=30",
        "renderer=categorizedSymbol|review_status",
        "alias=核查结论|ValueMap",
        // A project layer takes its CRS from the project file: without one a raster is not drawn.
        "layer=before 2024-08-02|1|True|True",
        "layer=after 2025-08-09|1|True|True",
        "tree=图斑:True,after 2025-08-09:True,before 2024-08-02:True",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing in:\n{text}{err}");
    }
}

/// What QGIS (PyQGIS, headless) makes of the `patches` layer: one `key=value` line each.
const QGIS_CHECK: &str = r#"
import sys
from qgis.core import QgsApplication, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
layer = QgsVectorLayer(sys.argv[1] + "|layername=patches", "patches", "ogr")
print("valid=%s" % layer.isValid())
fields = layer.fields()
for name in ["TBBH", "HCJG", "review_status"]:
    i = fields.indexOf(name)
    print("%s=%s|%s|%s" % (name, layer.attributeAlias(i), layer.editorWidgetSetup(i).type(), layer.editFormConfig().readOnly(i)))
r = layer.renderer()
print("renderer=%s|%s" % (r.type(), r.classAttribute() if r.type() == "categorizedSymbol" else ""))
if r.type() == "categorizedSymbol":
    print("categories=" + ",".join("%s:%s" % (c.value(), c.symbol().color().name()) for c in r.categories()))
print("spatial_index=%s" % int(layer.dataProvider().hasSpatialIndex()))
app.exitQgis()
"#;

/// QGIS 3.22 applies the default style when it opens the layer (aliases, value maps, read-only
/// issued fields, categories in the window's colours) and sees the spatial index. CI installs
/// QGIS (scripts/install-deps.sh) and, with `CI=true`, a missing QGIS fails; elsewhere the test
/// says it skipped and why.
#[test]
fn qgis_opens_the_layer_with_the_style_and_the_index() {
    if !qgis_available() {
        return;
    }
    let (dir, mut p) = new_project("grassland");
    import(&mut p, &sample_shp()).unwrap();
    let path = p.path().to_path_buf();
    drop(p);
    let (text, err) = pyqgis(dir.path(), QGIS_CHECK, &[&path]);
    let why = format!("{text}{err}");
    for line in [
        "valid=True",
        "TBBH=图斑编号||True",
        "HCJG=核查结论|ValueMap|False",
        "review_status=核查状态|ValueMap|True",
        "renderer=categorizedSymbol|review_status",
        "categories=unreviewed:#ffd60a,in_progress:#409cff,done:#34c759,problem:#ff453a",
        "spatial_index=2",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing in:\n{why}");
    }
}

/// A first import packs the index in one pass (nodes written in SQLite's own format): on 3,000
/// patches (three levels of nodes) SQLite's `rtreecheck` finds it sound, every box query
/// answers what the geometries say, and a later batch that moves patches goes through the
/// update triggers into the packed tree and leaves it sound.
#[test]
fn a_packed_index_is_sound_and_answers_like_the_geometries() {
    let dir = tempfile::tempdir().unwrap();
    let shp = dir.path().join("patches.shp");
    crate::synth::generate(&shp, 3_000).unwrap();
    let (_tmp, mut p) = new_project("grassland");
    import(&mut p, &shp).unwrap();
    let path = p.path().to_path_buf();
    let check = |conn: &rusqlite::Connection| -> String {
        conn.query_row("SELECT rtreecheck('rtree_patches_geom')", [], |r| r.get(0)).unwrap()
    };
    {
        let conn = open(&path);
        assert_eq!(check(&conn), "ok");
        let depth: Vec<u8> =
            conn.query_row("SELECT data FROM rtree_patches_geom_node WHERE nodeno = 1", [], |r| r.get(0)).unwrap();
        assert!(u16::from_be_bytes([depth[0], depth[1]]) >= 1, "more than one level");
        let all = envelopes(&conn);
        assert_eq!(all.len(), 3_000);
        let (min_x, min_y) = all.iter().fold((f64::MAX, f64::MAX), |(x, y), (_, e)| (x.min(e[0]), y.min(e[1])));
        let (max_x, max_y) = all.iter().fold((f64::MIN, f64::MIN), |(x, y), (_, e)| (x.max(e[2]), y.max(e[3])));
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..60 {
            let (x, y) = (min_x + (max_x - min_x) * rnd(), min_y + (max_y - min_y) * rnd());
            let (w, h) = ((max_x - min_x) * 0.05 * rnd(), (max_y - min_y) * 0.05 * rnd());
            let b = [x, y, x + w, y + h];
            let got = rtree_query(&conn, b);
            // SQLite stores boxes as 32-bit floats rounded outwards: a patch within that rounding
            // of the box may be answered too, none may be missed.
            let wide = [b[0] - 1e-4, b[1] - 1e-4, b[2] + 1e-4, b[3] + 1e-4];
            assert!(brute_force(&all, b).iter().all(|f| got.contains(f)), "box {b:?} missed a patch");
            assert!(got.iter().all(|f| brute_force(&all, wide).contains(f)), "box {b:?} answered a far patch");
        }
        assert_eq!(rtree_query(&conn, [min_x, min_y, max_x, max_y]).len(), 3_000);
    }
    // The sample's 30 patches carry the same ids: a second batch moves them (update triggers).
    import(&mut p, &sample_shp()).unwrap();
    drop(p);
    let conn = open(&path);
    assert_eq!(check(&conn), "ok");
    let all = envelopes(&conn);
    let (_, e) = all[0];
    let b = [e[0], e[1], e[2], e[3]];
    assert!(rtree_query(&conn, b).contains(&all[0].0), "a moved patch is found where it is now");
}
