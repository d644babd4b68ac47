//! Clues added by hand (手工线索: petitions, reports, media, 绿盾 points): by coordinates on the
//! command line or drawn on the map in the window, each becomes a patch of its own batch.

use geo::Geometry;

use super::OpsError;
use crate::store::Project;

/// Where a clue is, as typed.
#[derive(Debug, Clone, PartialEq)]
pub enum ClueAt {
    /// CGCS2000 longitude and latitude in degrees.
    LonLat(f64, f64),
    /// Gauss-Krüger x (easting) and y (northing) in metres in `crs` (e.g. EPSG:4546).
    Gk {
        /// The projected CRS.
        crs: String,
        /// Easting in metres.
        x_m: f64,
        /// Northing in metres.
        y_m: f64,
    },
    /// A point or polygon in CGCS2000 lon/lat (drawn on the map).
    Geometry(Geometry),
}

/// A clue: where, and what the analyst knows of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Clue {
    /// Where.
    pub at: ClueAt,
    /// Address (地址), stored in the template's `address` role, else its `note` role.
    pub address: String,
    /// Source (遥感, 绿盾, 信访, 举报, 媒体, 督察): on the batch and in the `clue_source` role.
    pub source: String,
    /// Monitoring year.
    pub year: Option<i32>,
    /// Further fields as typed (FIELD=VALUE).
    pub fields: Vec<(String, String)>,
}

/// Whether a lon/lat point lies in China's bounding box (73-136°E, 3-54°N).
pub fn in_china(lon: f64, lat: f64) -> bool {
    (73.0..=136.0).contains(&lon) && (3.0..=54.0).contains(&lat)
}

/// The clue's geometry in CGCS2000 lon/lat, refused when it lies outside China.
pub fn geometry_of(at: &ClueAt) -> Result<Geometry, OpsError> {
    let point = |lon: f64, lat: f64| Geometry::Point(geo::Point::new(lon, lat));
    let g = match at {
        ClueAt::LonLat(lon, lat) => point(*lon, *lat),
        ClueAt::Gk { crs, x_m, y_m } => {
            let (lon, lat) = crate::gk::to_lonlat(crs, *x_m, *y_m).ok_or_else(|| {
                OpsError::Invalid(format!(
                    "{x_m},{y_m} ({crs}): 无法换算为经纬度，请检查坐标系 / cannot convert to lon/lat; check the CRS"
                ))
            })?;
            point(lon, lat)
        }
        ClueAt::Geometry(g) => g.clone(),
    };
    let centre = tuban_model::geometry::centre(&g).map(|c| (c.x(), c.y()));
    if let Some((lon, lat)) = centre.filter(|(lon, lat)| !in_china(*lon, *lat)) {
        return Err(OpsError::Invalid(format!("{lon:.6}, {lat:.6}: 坐标不在中国范围内 / not in China")));
    }
    Ok(g)
}

/// Adds a clue to `p` as a new patch of its own batch; returns its key.
pub fn add(p: &mut Project, clue: &Clue) -> Result<String, OpsError> {
    let geom = geometry_of(&clue.at)?;
    let roles = p.template().roles().clone();
    let mut fields: Vec<(&str, &str)> = clue.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let address_field = roles.address.as_deref().or(roles.note.as_deref());
    if let Some(f) = address_field.filter(|_| !clue.address.trim().is_empty()) {
        fields.push((f, clue.address.trim()));
    }
    let source = clue.source.trim();
    if let Some(f) = roles.clue_source.as_deref().filter(|_| !source.is_empty()) {
        fields.push((f, source));
    }
    Ok(p.add_manual_clue(geom, &fields, clue.year, Some(source).filter(|s| !s.is_empty()))?)
}
