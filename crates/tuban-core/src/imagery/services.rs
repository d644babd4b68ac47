//! Map services as a user pastes their address, turned into tile templates the online source
//! fills per 256-px Web-Mercator tile: WMS 1.1.1 / 1.3.0 GetMap (`…SERVICE=WMS…`) gets the
//! tile's `{bbox}`, size, CRS and format; an ArcGIS REST MapServer (`…/MapServer`) its cached
//! tiles `tile/{z}/{y}/{x}`, and `…/MapServer/export` a dynamic export of the tile's extent.
//! XYZ and WMTS templates pass unchanged. Pure text: no request is made here.

/// What kind of service an address names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    /// An XYZ or WMTS tile template (`{z}/{x}/{y}`, `TILEMATRIX={z}` …).
    Tiles,
    /// OGC WMS GetMap.
    Wms,
    /// ArcGIS REST MapServer, cached tiles.
    ArcGisTiles,
    /// ArcGIS REST MapServer, dynamic export.
    ArcGisExport,
}

/// The kind of service `url` names.
pub fn kind_of(url: &str) -> ServiceKind {
    let lower = url.to_ascii_lowercase();
    let path = lower.split('?').next().unwrap_or("").trim_end_matches('/');
    if query(&lower).iter().any(|(k, v)| k == "service" && v == "wms") || path.ends_with("/wms") {
        ServiceKind::Wms
    } else if path.ends_with("/mapserver/export") {
        ServiceKind::ArcGisExport
    } else if path.ends_with("/mapserver") {
        ServiceKind::ArcGisTiles
    } else {
        ServiceKind::Tiles
    }
}

/// The query parameters of `url` as (lower-case name, value) pairs, in order.
fn query(url: &str) -> Vec<(String, String)> {
    let Some((_, q)) = url.split_once('?') else { return Vec::new() };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), v.to_string()),
            None => (p.to_ascii_lowercase(), String::new()),
        })
        .collect()
}

/// The tile template for a service address (unchanged for XYZ/WMTS templates and for an
/// address that already carries `{bbox}`).
pub fn template_for(url: &str) -> String {
    let url = url.trim();
    if url.contains("{bbox}") {
        return url.to_string();
    }
    let base = url.split('?').next().unwrap_or(url).trim_end_matches('/');
    match kind_of(url) {
        ServiceKind::Tiles => url.to_string(),
        ServiceKind::Wms => wms_template(url, base),
        ServiceKind::ArcGisTiles => format!("{base}/tile/{{z}}/{{y}}/{{x}}"),
        ServiceKind::ArcGisExport => {
            format!("{base}?bbox={{bbox}}&bboxSR=3857&imageSR=3857&size=256,256&format=png32&transparent=true&f=image")
        }
    }
}

/// A GetMap template: the user's layers, styles, format, version and other parameters (a key,
/// say) kept; the request, size, CRS and bounding box set for a 256-px EPSG:3857 tile. In
/// 1.3.0 the parameter is CRS, in 1.1.1 SRS; EPSG:3857 is easting, northing in both.
fn wms_template(url: &str, base: &str) -> String {
    let params = query(url);
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let version = get("version").unwrap_or_else(|| "1.3.0".into());
    let crs_param = if version.starts_with("1.1") { "SRS" } else { "CRS" };
    let fixed = [
        "service",
        "request",
        "version",
        "layers",
        "styles",
        "crs",
        "srs",
        "bbox",
        "width",
        "height",
        "format",
        "transparent",
    ];
    let mut out = format!(
        "{base}?SERVICE=WMS&REQUEST=GetMap&VERSION={version}&LAYERS={}&STYLES={}&{crs_param}=EPSG:3857&BBOX={{bbox}}&WIDTH=256&HEIGHT=256&FORMAT={}&TRANSPARENT={}",
        get("layers").unwrap_or_default(),
        get("styles").unwrap_or_default(),
        get("format").unwrap_or_else(|| "image/png".into()),
        get("transparent").unwrap_or_else(|| "TRUE".into()),
    );
    for (k, v) in params.iter().filter(|(k, _)| !fixed.contains(&k.as_str())) {
        // Keep the user's spelling of the name (a key parameter may be case-sensitive).
        let name = url
            .split(['?', '&'])
            .find_map(|p| p.split_once('=').filter(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(n, _)| n));
        out.push_str(&format!("&{}={v}", name.unwrap_or(k)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wms_addresses_become_getmap_templates() {
        let t = template_for("http://127.0.0.1:8080/geoserver/wms?service=WMS&layers=gf2:2025&tk=ABC");
        assert_eq!(
            t,
            "http://127.0.0.1:8080/geoserver/wms?SERVICE=WMS&REQUEST=GetMap&VERSION=1.3.0&LAYERS=gf2:2025&STYLES=&CRS=EPSG:3857&BBOX={bbox}&WIDTH=256&HEIGHT=256&FORMAT=image/png&TRANSPARENT=TRUE&tk=ABC"
        );
        let old = template_for("http://h/ows?SERVICE=WMS&VERSION=1.1.1&LAYERS=a,b&FORMAT=image/jpeg&BBOX=1,2,3,4");
        assert!(old.contains("&SRS=EPSG:3857&BBOX={bbox}&") && old.contains("FORMAT=image/jpeg"), "{old}");
        assert!(!old.contains("1,2,3,4"), "the user's bbox is replaced by the tile's");
    }

    #[test]
    fn arcgis_and_tile_templates() {
        assert_eq!(
            template_for("https://h/arcgis/rest/services/img/MapServer/"),
            "https://h/arcgis/rest/services/img/MapServer/tile/{z}/{y}/{x}"
        );
        assert!(template_for("https://h/arcgis/rest/services/img/MapServer/export?f=json")
            .starts_with("https://h/arcgis/rest/services/img/MapServer/export?bbox={bbox}&bboxSR=3857"));
        let xyz = "https://t{0-7}.tianditu.gov.cn/img_w/wmts?SERVICE=WMTS&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}";
        assert_eq!(template_for(xyz), xyz);
        assert_eq!(kind_of(xyz), ServiceKind::Tiles);
    }
}
