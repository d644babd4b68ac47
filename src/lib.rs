//! tuban (图斑核查): the headless core of a desktop tool for verifying remote-sensing change
//! patches. The command line, the tests, the benchmarks and the desktop app all use this crate.

pub mod crash; // panic hook: crash report, and the message that the data is safe
pub mod app; // the desktop window (eframe): the only module that uses egui, walkers, rfd
pub mod evidence; // field photos: EXIF, thumbnails, matching to patches
pub mod export; // upload shapefile, GeoPackage, ledger spreadsheet, CSV, photo folder
pub mod geometry; // GeoPackage geometry blobs, ellipsoidal area, centre points
pub mod imagery; // raster sources rendered into map tiles on worker threads
pub mod import; // GDAL vector sources → patches (encoding, CRS, geometry checks)
pub mod jobs; // progress and cancel for long work, shared by CLI and app
pub mod model; // templates, values, validation: plain data
pub mod render; // map images without a window: chips for the report, thumbnails
pub mod report; // the PDF report: sections, tables, one verification sheet per patch
pub mod store; // the project file: a GeoPackage with tuban's own tables, audit log
