//! A QGIS project (`.qgz`) of the review: the project file's `patches` layer with tuban's style
//! (Chinese aliases, value maps, read-only issued fields, fills by review status) above the
//! registered imagery, in CGCS2000, with paths relative to where the `.qgz` is written, so a
//! supervisor opens one file in QGIS and sees what the analyst sees.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{werr, ExportError};
use crate::imagery::SourceSpec;
use crate::store::Project;

/// The layer id of the patches (QGIS gives a layer a new id when it is the bare table name,
/// which leaves its layer-tree entry empty).
const PATCHES_ID: &str = "tuban_patches_0";

/// The CGCS2000 spatial reference as QGIS writes it in a project (its WKT is added in front).
const SRS_4490: &str = "<proj4>+proj=longlat +ellps=GRS80 +no_defs</proj4><srid>4490</srid>\
<authid>EPSG:4490</authid><description>China Geodetic Coordinate System 2000</description>\
<projectionacronym>longlat</projectionacronym><ellipsoidacronym>EPSG:1024</ellipsoidacronym>\
<geographicflag>true</geographicflag>";

/// `<spatialrefsys>` of CGCS2000 with its WKT (QGIS reads the WKT first).
fn srs_4490() -> String {
    format!("<spatialrefsys><wkt>{}</wkt>{SRS_4490}</spatialrefsys>", esc(crate::store::WKT_4490))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The body of tuban's QML (what sits inside its `<qgis>` element): renderer, fields, form.
fn style_body(qml: &str) -> &str {
    let start = qml.find("<qgis ").and_then(|i| qml[i..].find('>').map(|j| i + j + 1)).unwrap_or(0);
    let end = qml.rfind("</qgis>").unwrap_or(qml.len());
    qml.get(start..end).unwrap_or("")
}

/// A path as QGIS stores it relative to the project file.
fn relative(path: &Path, base: &Path) -> String {
    let rel = crate::imagery::paths::relative_to(path, base);
    let text = rel.display().to_string();
    if rel.is_absolute() || text.starts_with("..") {
        text
    } else {
        format!("./{text}")
    }
}

/// A raster layer of the project: id, name, datasource, provider, and the `<srs>` to write
/// (QGIS takes a project layer's CRS from the project, not from the file).
type RasterLayer = (String, String, String, &'static str, String);

/// The `<spatialrefsys>` of a raster file as GDAL reads it (empty when it has none).
fn file_srs(path: &Path) -> String {
    crate::crs::init_gdal();
    let wkt = gdal::Dataset::open(path).ok().map(|d| d.projection()).unwrap_or_default();
    if wkt.is_empty() {
        String::new()
    } else {
        format!("<spatialrefsys><wkt>{}</wkt></spatialrefsys>", esc(&wkt))
    }
}

/// Raster layers of the imagery catalogue, newest first.
fn imagery_layers(p: &Project, base: &Path) -> Result<Vec<RasterLayer>, ExportError> {
    let mut out = Vec::new();
    for (k, s) in p.imagery()?.iter().rev().enumerate() {
        let name =
            format!("{} {}", s.title(), s.acquired.map(|d| d.to_string()).unwrap_or_default()).trim().to_string();
        let found: Vec<PathBuf> = s.files.iter().filter_map(|f| f.found().map(Path::to_path_buf)).collect();
        match &s.spec {
            SourceSpec::Raster { .. } | SourceSpec::MbTiles { .. } | SourceSpec::Mosaic { .. } => {
                for (j, f) in found.iter().enumerate() {
                    out.push((format!("imagery_{k}_{j}"), name.clone(), relative(f, base), "gdal", file_srs(f)));
                }
            }
            // A WMS or ArcGIS export template ({bbox}) has no XYZ form QGIS takes.
            SourceSpec::Online(o) if o.url.contains("{bbox}") => {}
            SourceSpec::Online(o) => {
                let filled = match &o.key {
                    Some(key) => o.url.replace("{key}", key).replace("{tk}", key),
                    None => o.url.clone(),
                };
                let url: String = filled
                    .chars()
                    .map(|c| match c {
                        '&' => "%26".to_string(),
                        '=' => "%3D".to_string(),
                        c => c.to_string(),
                    })
                    .collect();
                let mercator = "<spatialrefsys><authid>EPSG:3857</authid></spatialrefsys>".to_string();
                out.push((
                    format!("imagery_{k}"),
                    name,
                    format!("type=xyz&amp;url={}&amp;zmax=19&amp;zmin=0", esc(&url)),
                    "wms",
                    mercator,
                ));
            }
            SourceSpec::TileDir { .. } => {}
        }
    }
    Ok(out)
}

/// The project XML (`.qgs`) for a `.qgz` written into `base`.
pub(super) fn project_xml(p: &Project, base: &Path) -> Result<String, ExportError> {
    let meta = p.meta();
    let title = format!("{}{}年度 图斑核查", meta.county_name, meta.year);
    let source = format!("{}|layername=patches", relative(p.path(), base));
    let layers = imagery_layers(p, base)?;
    let mut x = String::new();
    x.push_str("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n");
    let _ = writeln!(x, "<qgis projectname=\"{}\" version=\"3.22.16-Białowieża\">", esc(&title));
    let _ = writeln!(x, "  <homePath path=\"\"/>\n  <title>{}</title>", esc(&title));
    let srs = srs_4490();
    let _ = writeln!(x, "  <projectCrs>{srs}</projectCrs>");
    x.push_str("  <layer-tree-group>\n");
    let _ = writeln!(x, "    <layer-tree-layer id=\"{PATCHES_ID}\" name=\"图斑\" source=\"{}\" providerKey=\"ogr\" checked=\"Qt::Checked\" expanded=\"1\"/>", esc(&source));
    for (id, name, ds, provider, _) in &layers {
        let _ = writeln!(x, "    <layer-tree-layer id=\"{id}\" name=\"{}\" source=\"{ds}\" providerKey=\"{provider}\" checked=\"Qt::Checked\" expanded=\"0\"/>", esc(name));
    }
    x.push_str("  </layer-tree-group>\n  <projectlayers>\n");
    let _ = writeln!(x, "    <maplayer type=\"vector\" geometry=\"Polygon\">\n      <id>{PATCHES_ID}</id>\n      <datasource>{}</datasource>\n      <layername>图斑</layername>\n      <srs>{srs}</srs>\n      <provider encoding=\"UTF-8\">ogr</provider>", esc(&source));
    x.push_str(style_body(&crate::qgis_style::qml(p.template())));
    x.push_str("\n    </maplayer>\n");
    for (id, name, ds, provider, srs) in &layers {
        let _ = writeln!(x, "    <maplayer type=\"raster\">\n      <id>{id}</id>\n      <datasource>{ds}</datasource>\n      <layername>{}</layername>\n      <srs>{srs}</srs>\n      <provider>{provider}</provider>\n    </maplayer>", esc(name));
    }
    x.push_str("  </projectlayers>\n  <properties>\n    <Paths>\n      <Absolute type=\"bool\">false</Absolute>\n    </Paths>\n");
    // QGIS 3.22 reads <projectCrs> only while projections are on.
    x.push_str("    <SpatialRefSys>\n      <ProjectionsEnabled type=\"int\">1</ProjectionsEnabled>\n      <ProjectCrs type=\"QString\">EPSG:4490</ProjectCrs>\n    </SpatialRefSys>\n  </properties>\n</qgis>\n");
    Ok(x)
}

/// Writes `STEM.qgz` (a zip holding `STEM.qgs`) into `tmp`, its paths relative to `final_dir`.
pub(super) fn qgz(p: &Project, tmp: &Path, final_dir: &Path) -> Result<Vec<PathBuf>, ExportError> {
    let stem = super::stem(p);
    let xml = project_xml(p, final_dir)?;
    let path = tmp.join(format!("{stem}.qgz"));
    let file = std::fs::File::create(&path).map_err(|e| werr(&path, e))?;
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file(format!("{stem}.qgs"), options).map_err(|e| werr(&path, e))?;
    zip.write_all(xml.as_bytes()).map_err(|e| werr(&path, e))?;
    zip.finish().map_err(|e| werr(&path, e))?;
    Ok(vec![path])
}
