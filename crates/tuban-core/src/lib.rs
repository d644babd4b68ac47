//! tuban-core: everything of tuban that does I/O and runs without a window: the project store
//! (the only SQL), import of delivered files, imagery, headless rendering, the PDF report,
//! exports, field evidence, and `ops`, the use cases the command line and the window both call.
//! Plain data and rules live in `tuban-model`; this crate never depends on the UI stack.

pub mod atomic; // files written under a temporary name and renamed into place when complete
pub mod crash; // panic hook: crash report, and the message that the data is safe
pub mod crs; // coordinate systems as GDAL reads them: CGCS2000, Gauss-Krüger hints, GDAL's messages
pub mod evidence; // field photos: EXIF, thumbnails, matching to patches
pub mod export; // upload shapefile, GeoPackage, ledger spreadsheet, CSV, photo folder
pub mod gk; // CGCS2000 Gauss-Krüger coordinates of a point (GDAL/PROJ)
pub mod hub; // the team hub on PostgreSQL + PostGIS: publish, join, sync, leases, roles
pub mod imagery; // raster sources rendered into map tiles on worker threads
pub mod import; // GDAL vector sources → patches (encoding, CRS, geometry checks)
pub mod ops; // the use cases both front ends call: report, export, photos, attachments, imagery, clues
pub mod qgis_style; // the QGIS layer style (QML) of the patches layer, generated from the template (no I/O)
pub mod receipt; // the seal receipt (封库回执): digests kept outside the file, QR text, Ed25519 signature
pub mod reference; // reference layers read once into the project's R-tree; the overlay of each patch
pub mod render; // map images without a window: chips for the report, thumbnails
pub mod report; // the PDF report: sections, tables, one verification sheet per patch
pub mod store; // the project file: a GeoPackage with tuban's own tables, audit log
