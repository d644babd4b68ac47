//! What a field photo says about itself (EXIF facts and an upright thumbnail), as read by the
//! core's evidence reader and kept by the store.

/// What a photo says about itself.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PhotoInfo {
    /// SHA-256 of the file.
    pub sha256: Vec<u8>,
    /// EXIF DateTimeOriginal, `YYYY-MM-DD HH:MM:SS`.
    pub taken_at: Option<String>,
    /// GPS position (lon, lat), WGS 84 ≈ CGCS2000.
    pub lonlat: Option<(f64, f64)>,
    /// GPS altitude in metres.
    pub altitude_m: Option<f64>,
    /// Direction the camera looked, degrees from north.
    pub bearing_deg: Option<f64>,
    /// EXIF orientation (1 = upright).
    pub orientation: u32,
    /// Width and height as shown (after orientation).
    pub size_px: (u32, u32),
    /// JPEG thumbnail, upright.
    pub thumbnail_jpeg: Vec<u8>,
}
