//! Every kind of imagery a county holds, behind one interface: render tile `z/x/y` (XYZ, Web
//! Mercator, 256 px) as RGBA. Sources are described by a [`SourceSpec`] (stored in the project)
//! and opened on the thread that renders them by [`open`].
//!
//! Dependencies go one way: this module knows every kind (`online`, `pyramid`, the rasters of
//! `imagery`); they know only the interface in `tile`, re-exported here.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::online::OnlineSource;
pub use super::online::OnlineSpec;
pub use super::tile::{decode_tile, overzoom, TileSource, ViewRender};
use super::{ImageryError, RasterSource};

/// How to turn a raster's values into display colours.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RasterStyle {
    /// Bands shown as red, green, blue (1-based); default 1,2,3 (e.g. 4,3,2 for false colour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bands: Option<[u32; 3]>,
    /// Percentile stretch (low, high) for 16-bit and float data; default 2-98.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stretch: Option<(f64, f64)>,
}

/// A source as registered in a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceSpec {
    /// One raster file (GeoTIFF, JPEG 2000, IMG, ...) in any CRS.
    Raster {
        /// The file.
        path: PathBuf,
        /// Band choice and stretch.
        #[serde(default)]
        style: RasterStyle,
    },
    /// Several rasters forming one period (a county mosaic): one virtual raster.
    Mosaic {
        /// The files.
        paths: Vec<PathBuf>,
        /// Band choice and stretch.
        #[serde(default)]
        style: RasterStyle,
    },
    /// An MBTiles file (raster tiles, TMS rows).
    MbTiles {
        /// The file.
        path: PathBuf,
    },
    /// A folder of `z/x/y.png|jpg` tiles.
    TileDir {
        /// The folder.
        path: PathBuf,
        /// Rows counted from the south (TMS) instead of the north (XYZ).
        #[serde(default)]
        tms: bool,
    },
    /// An online XYZ or WMTS template.
    Online(OnlineSpec),
}

impl SourceSpec {
    /// The files this source reads (none for online sources).
    pub fn files(&self) -> Vec<&Path> {
        match self {
            SourceSpec::Raster { path, .. } | SourceSpec::MbTiles { path } | SourceSpec::TileDir { path, .. } => {
                vec![path.as_path()]
            }
            SourceSpec::Mosaic { paths, .. } => paths.iter().map(PathBuf::as_path).collect(),
            SourceSpec::Online(_) => vec![],
        }
    }

    /// True for sources that send requests over the network.
    pub fn is_online(&self) -> bool {
        matches!(self, SourceSpec::Online(_))
    }

    /// Guesses the kind of a source from what the user gave: a URL template, an .mbtiles file,
    /// a folder of tiles, a folder of rasters, or a raster file.
    pub fn detect(given: &str) -> SourceSpec {
        let lower = given.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return SourceSpec::Online(OnlineSpec {
                url: super::services::template_for(given),
                key: None,
                overlay: None,
                max_zoom: super::online::default_max_zoom(),
            });
        }
        let path = PathBuf::from(given);
        if lower.ends_with(".mbtiles") {
            return SourceSpec::MbTiles { path };
        }
        if path.is_dir() {
            let entries: Vec<PathBuf> =
                std::fs::read_dir(&path).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default();
            let numeric_dirs = entries
                .iter()
                .filter(|p| {
                    p.is_dir() && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.parse::<u8>().is_ok())
                })
                .count();
            if numeric_dirs > 0 {
                let tms = entries.iter().any(|p| p.file_name().is_some_and(|n| n == "tilemapresource.xml"));
                return SourceSpec::TileDir { path, tms };
            }
            let mut rasters: Vec<PathBuf> = entries
                .into_iter()
                .filter(|p| {
                    p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        ["tif", "tiff", "img", "jp2", "vrt"].contains(&e.to_ascii_lowercase().as_str())
                    })
                })
                .collect();
            rasters.sort();
            return SourceSpec::Mosaic { paths: rasters, style: RasterStyle::default() };
        }
        SourceSpec::Raster { path, style: RasterStyle::default() }
    }
}

impl TileSource for RasterSource {
    fn render(&mut self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, ImageryError> {
        self.render_tile(z, x, y)
    }

    fn render_view(&mut self, extent_merc: [f64; 4], size: (usize, usize)) -> Result<ViewRender, ImageryError> {
        Ok(match self.render_extent(extent_merc, size)? {
            Some(rgba) => ViewRender::Image(rgba),
            None => ViewRender::Empty,
        })
    }
}

/// Opens a source for rendering on this thread.
pub fn open(spec: &SourceSpec) -> Result<Box<dyn TileSource>, ImageryError> {
    if let Some(gone) = spec.files().into_iter().find(|f| !f.exists()) {
        return Err(ImageryError::Missing { path: gone.display().to_string() });
    }
    Ok(match spec {
        SourceSpec::Raster { path, style } => Box::new(RasterSource::open_styled(std::slice::from_ref(path), style)?),
        SourceSpec::Mosaic { paths, style } => Box::new(RasterSource::open_styled(paths, style)?),
        SourceSpec::MbTiles { path } => Box::new(super::pyramid::MbTiles::open(path)?),
        SourceSpec::TileDir { path, tms } => Box::new(super::pyramid::TileDir::open(path, *tms)?),
        SourceSpec::Online(o) => Box::new(OnlineSource::new(o.clone())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_kinds() {
        assert!(matches!(
            SourceSpec::detect("https://t{0-7}.tianditu.gov.cn/img_w/wmts?tk={key}"),
            SourceSpec::Online(_)
        ));
        assert!(matches!(SourceSpec::detect("a/b.MBTILES"), SourceSpec::MbTiles { .. }));
        assert!(matches!(SourceSpec::detect("a/b.tif"), SourceSpec::Raster { .. }));
    }

    #[test]
    fn spec_round_trips_as_json() {
        let s =
            SourceSpec::Raster { path: "x.tif".into(), style: RasterStyle { bands: Some([4, 3, 2]), stretch: None } };
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<SourceSpec>(&j).unwrap(), s);
    }
}
