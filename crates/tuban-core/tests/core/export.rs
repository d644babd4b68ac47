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

/// The ledger workbook read back with calamine (an independent reader): ids and codes are
/// text (the county code keeps its digits as text), counts and areas numbers, dates dates,
/// rates numbers between 0 and 1 or blank where the denominator is 0, and the total row adds up.
#[test]
fn the_ledger_workbook_cells_are_typed_as_an_excel_user_expects() {
    use calamine::{Data, Reader, Xlsx};
    let (dir, p) = project();
    let files = export(&p, Format::Xlsx, &dir.path().join("表"), &ExportOptions::default(), &Progress::new()).unwrap();
    let mut wb: Xlsx<_> = calamine::open_workbook(&files[0]).unwrap();
    let column = |range: &calamine::Range<Data>, header: &str| -> usize {
        let row0: Vec<String> = range.rows().next().unwrap().iter().map(|c| c.to_string()).collect();
        row0.iter().position(|h| h == header).unwrap_or_else(|| panic!("no column {header} in {row0:?}"))
    };
    let patches = wb.worksheet_range("图斑").unwrap();
    assert_eq!(patches.height(), 31);
    let (code, photos, date, monitored) = (
        column(&patches, "县代码(XZQDM)"),
        column(&patches, "照片数"),
        column(&patches, "前时相(QSX)"),
        column(&patches, "监测面积(JCMJ)"),
    );
    let row = patches.rows().nth(1).unwrap();
    assert_eq!(row[code], Data::String("150999".into()), "a code stays text");
    assert!(matches!(row[photos], Data::Float(_)), "photo count is a number: {:?}", row[photos]);
    match &row[date] {
        Data::DateTime(d) => {
            // Excel's serial day: 45292 is 2024-01-01, 45658 is 2025-01-01 (days since 1899-12-30).
            let serial = d.as_f64();
            assert!((45292.0..45658.0).contains(&serial), "QSX of the sample lies in 2024: {serial}");
        }
        other => panic!("QSX is not a date: {other:?}"),
    }
    assert!(matches!(row[monitored], Data::Float(x) if x > 100.0), "{:?}", row[monitored]);
    let rates = wb.worksheet_range("各乡镇比率").unwrap();
    let (cases, rate, conclusion) =
        (column(&rates, "违法宗数"), column(&rates, "查处到位率"), column(&rates, "结案率"));
    let rows: Vec<_> = rates.rows().skip(1).collect();
    let total = rows.last().unwrap();
    assert_eq!(total[0], Data::String("合计".into()));
    let count = |c: &Data| match c {
        Data::Float(x) => *x,
        other => panic!("a count that is not a number: {other:?}"),
    };
    let sum: f64 = rows[..rows.len() - 1].iter().map(|r| count(&r[cases])).sum();
    assert_eq!(sum, count(&total[cases]));
    assert!(count(&total[cases]) >= 1.0);
    // No case is filed yet: 查处到位率 is 0 %, 结案率 has no denominator and stays blank.
    assert_eq!(total[rate], Data::Float(0.0));
    assert_eq!(total[conclusion], Data::Empty);
    let cases_sheet = wb.worksheet_range("案件").unwrap();
    let attachments = column(&cases_sheet, "附件数");
    assert!(matches!(cases_sheet.rows().nth(1).unwrap()[attachments], Data::Float(_)));
}
