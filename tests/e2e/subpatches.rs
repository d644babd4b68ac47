//! 细斑 from the command line: split (lon/lat and Gauss-Krüger X/Y), reshape from GeoJSON,
//! merge back, and the exported shapefile read by ogrinfo.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use crate::common::sample_shp;

const KEY: &str = "150999SJBG2025000004";

fn tuban(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tuban")).args(args).current_dir(cwd).env("TUBAN_USER", "张三").output().unwrap()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// GDAL's own transformation of lon/lat (CGCS2000) to EPSG:4546 X/Y, as `x,y`.
fn gk(points: &[(f64, f64)]) -> String {
    use std::io::Write;
    let mut child = Command::new("gdaltransform")
        .args(["-s_srs", "EPSG:4490", "-t_srs", "EPSG:4546", "-output_xy"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gdaltransform (gdal-bin) is needed");
    let input: String = points.iter().map(|(x, y)| format!("{x} {y}\n")).collect();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    out.lines().map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(",")).collect::<Vec<_>>().join(" ")
}

/// `ogrinfo` (GDAL, not tuban) on one layer: each feature of the patch as (XBH, HSMJ, planar area).
fn features(shp: &Path) -> Vec<(String, f64, f64)> {
    let layer = shp.file_stem().unwrap().to_str().unwrap();
    let sql =
        format!("SELECT XBH, HSMJ, ST_Area(geometry) AS planar FROM \"{layer}\" WHERE TBBH = '{KEY}' ORDER BY XBH");
    let o = Command::new("ogrinfo").args(["-q", "-dialect", "SQLite", "-sql", &sql]).arg(shp).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let value = |block: &str, name: &str| -> String {
        block
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(&format!("{name} ("))
                    .map(|r| r.split(" = ").nth(1).unwrap_or("").trim().to_string())
            })
            .unwrap_or_default()
    };
    text.split("OGRFeature")
        .skip(1)
        .map(|b| (value(b, "XBH"), value(b, "HSMJ").parse().unwrap(), value(b, "planar").parse().unwrap()))
        .collect()
}

#[test]
fn split_reshape_merge_and_the_exported_subpatches() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(tuban(&["new", "p.gpkg", "--county", "150999", "--year", "2025"], d));
    ok(tuban(&["import", "p.gpkg", sample_shp().to_str().unwrap()], d));
    // The same north–south line across the patch, given in Gauss-Krüger X/Y of zone 37.
    let line = gk(&[(111.4662, 41.626), (111.4662, 41.6282)]);
    let out = ok(tuban(&["split", "p.gpkg", KEY, "--line", &line, "--crs", "EPSG:4546"], d));
    assert!(out.contains(&format!("{KEY}-1")) && out.contains(&format!("{KEY}-2")), "{out}");
    let info = ok(tuban(&["info", "p.gpkg"], d));
    assert!(info.contains("图斑: 31 (细斑 4"), "{info}");
    // A line that misses the patch says so and changes nothing.
    let o = tuban(&["split", "p.gpkg", &format!("{KEY}-1"), "--line", "111.0,41.0 111.0,41.1"], d);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("分割线未把图斑分成两块以上"));
    // Reshape 细斑 2 to a rectangle inside it.
    let rect = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[111.4664,41.6268],[111.4670,41.6268],[111.4670,41.6274],[111.4664,41.6274],[111.4664,41.6268]]]}}]}"#;
    std::fs::write(d.join("范围.geojson"), rect).unwrap();
    let out = ok(tuban(&["reshape", "p.gpkg", &format!("{KEY}-2"), "--geojson", "范围.geojson"], d));
    assert!(out.contains("HSMJ:"), "{out}");
    // The upload shapefile: two features for the patch with their own 细斑号 and areas.
    ok(tuban(&["export", "p.gpkg", "--format", "shp", "--out", "out"], d));
    let shp = std::fs::read_dir(d.join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "shp"))
        .unwrap();
    let f = features(&shp);
    assert_eq!(f.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(), ["1", "2"], "{f:?}");
    // HSMJ is ellipsoidal; GDAL's planar area in Gauss-Krüger differs by the zone's scale (< 0.1 % near the meridian).
    for (xbh, hsmj, planar) in &f {
        assert!((hsmj - planar).abs() / planar < 0.001, "细斑 {xbh}: HSMJ {hsmj} vs planar {planar}");
    }
    // 0.0006° × 0.0006° at 41.627°N: 49.92 m × 66.64 m ≈ 3,327 m² (hand computation).
    assert!((f[1].2 - 3327.0).abs() < 15.0, "{f:?}");
    // Merge back: one patch again.
    ok(tuban(&["merge-subpatches", "p.gpkg", KEY], d));
    let info = ok(tuban(&["info", "p.gpkg"], d));
    assert!(info.contains("图斑: 30 (细斑 2"), "{info}");
}
