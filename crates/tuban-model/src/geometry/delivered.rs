//! The geometry as delivered (e.g. in EPSG:4546), stored as residuals against the display
//! geometry (CGCS2000 lon/lat) projected forward: about one byte per coordinate instead of eight,
//! and rebuilt bit-exactly.
//!
//! A compact blob is `TR`, a format byte (1), the predictor's code (0: the display coordinates
//! themselves, for a delivered lon/lat; 1: transverse Mercator), a CRC-32 of the display blob and
//! the predictor's parameters it was made against, then one zigzag varint per coordinate (see
//! [`super::tmerc::encode_residuals`]). The ring structure is the display geometry's. A blob that
//! starts with `GP` is a plain GeoPackage geometry and is its own delivered geometry: older
//! projects, and any geometry that would not round-trip or would not get smaller, stay so.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};

use geo::{Coord, Geometry, MapCoords};

use super::gpkg;
use super::tmerc::{decode_residuals, encode_residuals, Krueger, TransverseMercator};

const MAGIC: &[u8; 2] = b"TR";
const FORMAT: u8 = 1;
const HEADER_LEN: usize = 8;

/// Why a stored delivered geometry cannot be rebuilt.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeliveredError {
    /// The stored blob or the display geometry is damaged.
    #[error("{0}")]
    Blob(#[from] gpkg::BlobError),
    /// The display geometry or the CRS definition changed after the delivered geometry was stored.
    #[error("the display geometry or the delivered CRS changed since the delivered geometry was stored")]
    Stale,
    /// The blob ends early, or the delivered CRS is not one a compact blob can be made for.
    #[error("the stored delivered geometry is damaged (format {0})")]
    Damaged(u8),
}

/// What the delivered coordinates are predicted from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Predictor {
    /// The display lon/lat themselves (a delivery in geographic coordinates).
    LonLat,
    /// The display lon/lat projected by a transverse Mercator (Gauss-Krüger) projection.
    Tmerc(Krueger),
}

impl Predictor {
    /// The predictor of a CRS given as WKT (1 or 2, as GDAL writes it): geographic CRSs predict
    /// the lon/lat themselves, transverse Mercator ones project it; `None` for other projections.
    /// A wrong reading costs bytes, never correctness: a blob is kept compact only when it
    /// rebuilds the delivered blob exactly and is smaller.
    pub fn from_wkt(wkt: &str) -> Option<Predictor> {
        let head = wkt.trim_start().split('[').next()?.trim().to_ascii_uppercase();
        if matches!(head.as_str(), "GEOGCS" | "GEOGCRS" | "GEODCRS" | "GEOGRAPHICCRS") {
            return Some(Predictor::LonLat);
        }
        if !matches!(head.as_str(), "PROJCS" | "PROJCRS" | "PROJECTEDCRS") {
            return None;
        }
        let lower = wkt.to_ascii_lowercase();
        let tmerc =
            lower.contains("projection[\"transverse_mercator\"]") || lower.contains("method[\"transverse mercator\"");
        if !tmerc {
            return None;
        }
        let (a_m, inv_f) = spheroid(&lower)?;
        let lat0 = parameter(&lower, &["latitude_of_origin", "latitude of natural origin"]).unwrap_or(0.0);
        if lat0 != 0.0 {
            return None;
        }
        let tm = TransverseMercator {
            a_m,
            inv_f,
            lon0_deg: parameter(&lower, &["central_meridian", "longitude of natural origin"])?,
            k0: parameter(&lower, &["scale_factor", "scale factor at natural origin"]).unwrap_or(1.0),
            false_easting_m: parameter(&lower, &["false_easting", "false easting"]).unwrap_or(0.0),
            false_northing_m: parameter(&lower, &["false_northing", "false northing"]).unwrap_or(0.0),
        };
        Some(Predictor::Tmerc(Krueger::new(&tm)))
    }

    fn code(&self) -> u8 {
        match self {
            Predictor::LonLat => 0,
            Predictor::Tmerc(_) => 1,
        }
    }

    /// CRC-32 of the display blob, the predictor's code and its parameters.
    fn check(&self, display_blob: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(display_blob);
        h.update(&[self.code()]);
        if let Predictor::Tmerc(k) = self {
            h.update(&k.projection().to_bytes());
        }
        h.finalize()
    }

    fn predict(&self, c: Coord) -> [f64; 2] {
        match self {
            Predictor::LonLat => [c.x, c.y],
            Predictor::Tmerc(k) => k.forward(c.x, c.y),
        }
    }
}

/// The first number after `SPHEROID["name",` or `ELLIPSOID["name",` and the one after it.
fn spheroid(lower: &str) -> Option<(f64, f64)> {
    let at = lower.find("spheroid[").or_else(|| lower.find("ellipsoid["))?;
    let rest = &lower[at..];
    let after_name = &rest[rest.find("\",")? + 2..];
    let mut numbers = after_name.split(',').map(|s| s.trim().trim_end_matches(']').parse::<f64>());
    Some((numbers.next()?.ok()?, numbers.next()?.ok()?))
}

/// The value of the first `PARAMETER["name",value` whose name is one of `names`.
fn parameter(lower: &str, names: &[&str]) -> Option<f64> {
    names.iter().find_map(|name| {
        let key = format!("parameter[\"{name}\",");
        let at = lower.find(&key)? + key.len();
        let end = lower[at..].find([',', ']'])?;
        lower[at..at + end].trim().parse().ok()
    })
}

/// Whether `stored` is a compact blob (else a plain GeoPackage geometry).
pub fn is_compact(stored: &[u8]) -> bool {
    stored.starts_with(MAGIC)
}

/// The coordinates of `g` as x, y pairs in the order [`MapCoords`] visits them.
fn coords(g: &Geometry) -> Vec<f64> {
    let out = RefCell::new(Vec::new());
    let push = |c: Coord| {
        out.borrow_mut().extend([c.x, c.y]);
        c
    };
    let _ = g.map_coords(push);
    out.into_inner()
}

/// `g` with its coordinates replaced, in [`MapCoords`] order, by `values` (x, y pairs).
fn with_coords(g: &Geometry, values: &[f64]) -> Geometry {
    let next = Cell::new(0usize);
    let set = |_: Coord| {
        let i = next.get();
        next.set(i + 2);
        Coord { x: values.get(i).copied().unwrap_or(f64::NAN), y: values.get(i + 1).copied().unwrap_or(f64::NAN) }
    };
    g.map_coords(set)
}

fn predictions(display: &Geometry, predictor: &Predictor) -> Vec<f64> {
    let out = RefCell::new(Vec::new());
    let push = |c: Coord| {
        out.borrow_mut().extend(predictor.predict(c));
        c
    };
    let _ = display.map_coords(push);
    out.into_inner()
}

/// The compact form of the delivered blob `source_blob` against `display_blob`, when it
/// rebuilds `source_blob` byte for byte and is smaller; else `None` (store the blob as it is).
pub fn compact(source_blob: &[u8], display_blob: &[u8], predictor: &Predictor) -> Option<Vec<u8>> {
    let (srs_id, source) = gpkg::decode(source_blob).ok()?;
    let (_, display) = gpkg::decode(display_blob).ok()?;
    let predicted = predictions(&display, predictor);
    let actual = coords(&source);
    if predicted.len() != actual.len() {
        return None;
    }
    let mut out = Vec::with_capacity(HEADER_LEN + actual.len() + 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[FORMAT, predictor.code()]);
    out.extend_from_slice(&predictor.check(display_blob).to_le_bytes());
    encode_residuals(&actual, &predicted, &mut out);
    if out.len() >= source_blob.len() {
        return None;
    }
    // The same rebuild as `expand`, from the predictions already made.
    let (values, used) = decode_residuals(&out[HEADER_LEN..], &predicted)?;
    let rebuilt = gpkg::encode(&with_coords(&display, &values), srs_id);
    (used == out.len() - HEADER_LEN && rebuilt == source_blob).then_some(out)
}

/// The delivered GeoPackage blob of `stored` (a compact blob made against `display_blob` with
/// `predictor`, or a plain blob, returned as it is), in SRS `srs_id`.
pub fn expand<'a>(
    stored: &'a [u8],
    display_blob: &[u8],
    predictor: Option<&Predictor>,
    srs_id: i32,
) -> Result<Cow<'a, [u8]>, DeliveredError> {
    if !is_compact(stored) {
        gpkg::decode(stored)?;
        return Ok(Cow::Borrowed(stored));
    }
    let format = stored.get(2).copied().unwrap_or_default();
    let (Some(&code), Some(check)) = (stored.get(3), stored.get(4..HEADER_LEN)) else {
        return Err(DeliveredError::Damaged(format));
    };
    if format != FORMAT {
        return Err(DeliveredError::Damaged(format));
    }
    let predictor = predictor.filter(|p| p.code() == code).ok_or(DeliveredError::Stale)?;
    if check != predictor.check(display_blob).to_le_bytes() {
        return Err(DeliveredError::Stale);
    }
    let (_, display) = gpkg::decode(display_blob)?;
    let predicted = predictions(&display, predictor);
    match decode_residuals(&stored[HEADER_LEN..], &predicted) {
        Some((values, used)) if used == stored.len() - HEADER_LEN => {
            Ok(Cow::Owned(gpkg::encode(&with_coords(&display, &values), srs_id)))
        }
        _ => Err(DeliveredError::Damaged(format)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{polygon, Point};

    /// GDAL 3.6's WKT 1 of EPSG:4546 (`gdalsrsinfo -o wkt1 EPSG:4546`, abridged authority nodes).
    const WKT1_4546: &str = r#"PROJCS["CGCS2000 / 3-degree Gauss-Kruger CM 111E",GEOGCS["China Geodetic Coordinate System 2000",DATUM["China_2000",SPHEROID["CGCS2000",6378137,298.257222101,AUTHORITY["EPSG","1024"]],AUTHORITY["EPSG","1043"]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",111],PARAMETER["scale_factor",1],PARAMETER["false_easting",500000],PARAMETER["false_northing",0],UNIT["metre",1],AXIS["Northing",NORTH],AXIS["Easting",EAST],AUTHORITY["EPSG","4546"]]"#;
    /// The same CRS as WKT 2 (`gdalsrsinfo -o wkt2_2019 EPSG:4513`: zone 25 with its prefix).
    const WKT2_4513: &str = r#"PROJCRS["CGCS2000 / 3-degree Gauss-Kruger zone 25",BASEGEOGCRS["China Geodetic Coordinate System 2000",DATUM["China 2000",ELLIPSOID["CGCS2000",6378137,298.257222101,LENGTHUNIT["metre",1]]],PRIMEM["Greenwich",0,ANGLEUNIT["degree",0.0174532925199433]]],CONVERSION["3-degree Gauss-Kruger zone 25",METHOD["Transverse Mercator",ID["EPSG",9807]],PARAMETER["Latitude of natural origin",0,ANGLEUNIT["degree",0.0174532925199433]],PARAMETER["Longitude of natural origin",75,ANGLEUNIT["degree",0.0174532925199433]],PARAMETER["Scale factor at natural origin",1,SCALEUNIT["unity",1]],PARAMETER["False easting",25500000,LENGTHUNIT["metre",1]],PARAMETER["False northing",0,LENGTHUNIT["metre",1]]]]"#;

    #[test]
    fn reads_gauss_krueger_parameters_from_wkt_1_and_2() {
        let Some(Predictor::Tmerc(k)) = Predictor::from_wkt(WKT1_4546) else { panic!("tmerc") };
        assert_eq!(*k.projection(), TransverseMercator::cgcs2000(111.0, 500_000.0));
        let Some(Predictor::Tmerc(k)) = Predictor::from_wkt(WKT2_4513) else { panic!("tmerc") };
        assert_eq!(*k.projection(), TransverseMercator::cgcs2000(75.0, 25_500_000.0));
        let wkt_4490 = r#"GEOGCS["China Geodetic Coordinate System 2000",DATUM["China_2000",SPHEROID["CGCS2000",6378137,298.257222101]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4490"]]"#;
        assert_eq!(Predictor::from_wkt(wkt_4490), Some(Predictor::LonLat));
        let lcc = WKT1_4546.replace("Transverse_Mercator", "Lambert_Conformal_Conic_1SP");
        assert_eq!(Predictor::from_wkt(&lcc), None);
        assert_eq!(Predictor::from_wkt("not wkt"), None);
    }

    /// A delivered square in EPSG:4546 and its display lon/lat a few ulps off the projection
    /// (as PROJ's inverse leaves them), with a hole.
    fn pair() -> (Vec<u8>, Vec<u8>, Predictor) {
        let p = Predictor::from_wkt(WKT1_4546).expect("tmerc");
        let display = Geometry::Polygon(polygon!(
            exterior: [(x: 110.5, y: 38.25), (x: 110.51, y: 38.25), (x: 110.51, y: 38.26), (x: 110.5, y: 38.25)],
            interiors: [[(x: 110.502, y: 38.252), (x: 110.503, y: 38.252), (x: 110.503, y: 38.253), (x: 110.502, y: 38.252)]],
        ));
        // (The offset follows from the point, so a ring's closing point stays equal to its first.)
        let source = display.map_coords(|c: Coord| {
            let [x, y] = p.predict(c);
            let off = (c.x.to_bits() % 41) as i64 - 20;
            Coord { x: f64::from_bits((x.to_bits() as i64 + off) as u64), y: f64::from_bits(y.to_bits() + 3) }
        });
        (gpkg::encode(&source, 4546), gpkg::encode(&display, 4490), p)
    }

    #[test]
    fn a_delivered_polygon_rebuilds_byte_for_byte_from_a_byte_per_coordinate() {
        let (source, display, p) = pair();
        let compact = compact(&source, &display, &p).expect("compact");
        // 8 header bytes and 16 coordinates of one byte each, against 8 bytes per coordinate.
        assert_eq!(compact.len(), HEADER_LEN + 16);
        assert!(source.len() > 150, "{}", source.len());
        assert_eq!(expand(&compact, &display, Some(&p), 4546).expect("expands").as_ref(), source.as_slice());
        // A plain blob is its own delivered geometry.
        assert_eq!(expand(&source, &display, None, 4546).expect("plain").as_ref(), source.as_slice());
    }

    #[test]
    fn a_changed_display_geometry_or_crs_is_refused_not_misread() {
        let (source, display, p) = pair();
        let compact = compact(&source, &display, &p).expect("compact");
        let moved = gpkg::encode(&Geometry::Point(Point::new(110.5, 38.25)), 4490);
        assert_eq!(expand(&compact, &moved, Some(&p), 4546), Err(DeliveredError::Stale));
        let other = Predictor::from_wkt(&WKT1_4546.replace("\"central_meridian\",111", "\"central_meridian\",114"));
        assert_eq!(expand(&compact, &display, other.as_ref(), 4546), Err(DeliveredError::Stale));
        assert_eq!(expand(&compact, &display, None, 4546), Err(DeliveredError::Stale));
        assert_eq!(expand(&compact[..compact.len() - 1], &display, Some(&p), 4546), Err(DeliveredError::Damaged(1)));
        assert!(expand(b"GP junk", &display, None, 4546).is_err());
    }

    #[test]
    fn a_geometry_that_does_not_match_the_display_stays_plain() {
        let (_, display, p) = pair();
        // A different vertex count (a delivery the import cleaned) and a far-off CRS reading.
        let source = gpkg::encode(&Geometry::Point(Point::new(500_000.0, 4_200_000.0)), 4546);
        assert_eq!(compact(&source, &display, &p), None);
        // A wrong predictor costs bytes, never the geometry.
        let (source, display, _) = pair();
        let poor = compact(&source, &display, &Predictor::LonLat).expect("still smaller");
        assert!(poor.len() > HEADER_LEN + 16 * 7, "{}", poor.len());
        assert_eq!(
            expand(&poor, &display, Some(&Predictor::LonLat), 4546).expect("expands").as_ref(),
            source.as_slice()
        );
    }
}
