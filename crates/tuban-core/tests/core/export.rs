//! The deliverables: upload shapefile (GBK, delivered CRS), GeoPackage, ledger spreadsheet, CSV,
//! photo folder; read back with GDAL; no overwrite without force.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use gdal::vector::LayerAccess;
use tuban_core::export::{export, ExportError, ExportOptions, Format};
use tuban_model::progress::Progress;

fn project() -> (tempfile::TempDir, tuban_core::store::Project) {
    let (dir, mut p) = common::new_project("grassland");
    common::import(&mut p, &common::sample_shp()).unwrap();
    let photos = common::sample("photos");
    tuban_core::evidence::import_photos(&mut p, &[photos], None, 100.0, &Progress::new()).unwrap();
    let fid = p.find_patch("150999SJBG2025000003").unwrap().unwrap();
    p.set_text(fid, &[("HCJG", "违法"), ("WFMJ", "25亩"), ("HSMJ", "27300"), ("DSR", "某光伏有限公司")]).unwrap();
    p.propose_cases().unwrap();
    (dir, p)
}

#[test]
fn upload_shapefile_is_gbk_in_the_delivered_crs_and_reads_back() {
    let (dir, p) = project();
    let out = dir.path().join("成果 输出");
    let files = export(&p, Format::Shp, &out, &ExportOptions::default(), &Progress::new()).unwrap();
    let shp = files.iter().find(|f| f.extension().is_some_and(|e| e == "shp")).unwrap();
    assert_eq!(std::fs::read_to_string(shp.with_extension("cpg")).unwrap().trim(), "CP936");
    let ds = gdal::Dataset::open(shp).unwrap();
    let mut layer = ds.layer(0).unwrap();
    assert_eq!(layer.feature_count(), 30);
    assert_eq!(layer.spatial_ref().unwrap().auth_code().unwrap(), 4546);
    let names: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    assert!(names.iter().all(|n| n.len() <= 10 && n.is_ascii()), "{names:?}");
    assert_eq!(names.len(), p.template().fields().len());
    let hcjg = names.iter().position(|n| n == "HCJG").unwrap();
    let dsr = names.iter().position(|n| n == "DSR").unwrap();
    let xzmc = names.iter().position(|n| n == "XZMC").unwrap();
    let mut found = false;
    for f in layer.features() {
        if f.field_as_string(hcjg).unwrap().as_deref() == Some("违法") {
            assert_eq!(f.field_as_string(dsr).unwrap().as_deref(), Some("某光伏有限公司"));
            assert_eq!(f.field_as_string(xzmc).unwrap().as_deref(), Some("乌兰花镇"));
            found = true;
        }
    }
    assert!(found);
    // Not overwritten without force; with force it is.
    let e = export(&p, Format::Shp, &out, &ExportOptions::default(), &Progress::new()).unwrap_err();
    assert!(matches!(e, ExportError::Exists { .. }) && e.to_string().contains("--force"), "{e}");
    export(&p, Format::Shp, &out, &ExportOptions { force: true, ..Default::default() }, &Progress::new()).unwrap();
    // Another CRS on request.
    let files = export(
        &p,
        Format::Shp,
        &dir.path().join("4490"),
        &ExportOptions { crs: Some("EPSG:4490".into()), ..Default::default() },
        &Progress::new(),
    )
    .unwrap();
    let ds = gdal::Dataset::open(files.iter().find(|f| f.extension().is_some_and(|e| e == "shp")).unwrap()).unwrap();
    let extent = ds.layer(0).unwrap().get_extent().unwrap();
    assert!(extent.MinX > 111.0 && extent.MaxX < 112.0, "longitude on x: {extent:?}");
    // No temporary folder is left behind.
    assert!(!std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(".tuban-export")));
}

#[test]
fn geopackage_spreadsheet_csv_and_photos() {
    let (dir, p) = project();
    let out = dir.path().join("out");
    let gpkg = export(&p, Format::Gpkg, &out, &ExportOptions::default(), &Progress::new()).unwrap();
    let ds = gdal::Dataset::open(&gpkg[0]).unwrap();
    assert_eq!(ds.layer_by_name("patches").unwrap().feature_count(), 30);
    let xlsx = export(&p, Format::Xlsx, &out, &ExportOptions::default(), &Progress::new()).unwrap();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&xlsx[0]).unwrap()).unwrap();
    let mut wb = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("xl/workbook.xml").unwrap(), &mut wb).unwrap();
    assert!(wb.contains("图斑") && wb.contains("案件") && wb.contains("各乡镇比率"), "{wb}");
    let mut sheet = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(), &mut sheet).unwrap();
    assert!(sheet.contains("<pane") && sheet.contains("frozen"), "frozen header row");
    let csv = export(&p, Format::Csv, &out, &ExportOptions::default(), &Progress::new()).unwrap();
    let patches_csv =
        std::fs::read_to_string(csv.iter().find(|f| f.to_string_lossy().ends_with("_图斑.csv")).unwrap()).unwrap();
    assert!(
        patches_csv.starts_with('\u{feff}')
            && patches_csv.contains("核查结论(HCJG)")
            && patches_csv.contains("某光伏有限公司")
    );
    assert_eq!(patches_csv.lines().count(), 31);
    let cases_csv =
        std::fs::read_to_string(csv.iter().find(|f| f.to_string_lossy().ends_with("_案件.csv")).unwrap()).unwrap();
    assert!(cases_csv.contains("150999-2025-AJ001"));
    let photos = export(&p, Format::Photos, &out, &ExportOptions::default(), &Progress::new()).unwrap();
    assert_eq!(photos.len(), 3);
    for f in &photos {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let parts: Vec<&str> = name.trim_end_matches(".jpg").split('_').collect();
        assert_eq!(parts.len(), 4, "乡镇_村_图斑号_序号.jpg: {name}");
        assert!(parts[2].starts_with("150999SJBG2025") && parts[3] == "1", "{name}");
    }
}
