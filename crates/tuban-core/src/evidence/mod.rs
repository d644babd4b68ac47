//! Field photos as evidence: EXIF (time, GPS position, altitude, bearing, orientation) read with
//! kamadak-exif (pure Rust, maintained, reads JPEG/TIFF/HEIF containers), a thumbnail turned
//! upright, and matching to a patch by position (inside it, else the nearest within a distance).

use std::io::Cursor;
use std::path::Path;

use geo::Geometry;
use sha2::{Digest, Sha256};

/// Thumbnails fit in this square (pixels).
pub const THUMB_PX: u32 = 320;
/// Photos larger than this are refused (bytes on disk).
pub const MAX_PHOTO_BYTES: usize = 80 << 20;

pub use tuban_model::photo::PhotoInfo;

/// Why a photo could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// File-system failure.
    #[error("{path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    /// Not an image, or damaged.
    #[error("{path}: 不是可读的照片（{detail}） / not a readable photo ({detail})")]
    NotAnImage { path: String, detail: String },
    /// Too large.
    #[error("{path}: 照片过大（{mb} MB，上限 80 MB） / photo too large ({mb} MB, limit 80 MB)")]
    TooLarge { path: String, mb: usize },
}

fn rational(field: Option<&exif::Field>) -> Option<Vec<f64>> {
    match &field?.value {
        exif::Value::Rational(v) => Some(v.iter().map(|r| r.to_f64()).collect()),
        _ => None,
    }
}

fn ascii(field: Option<&exif::Field>) -> Option<String> {
    match &field?.value {
        exif::Value::Ascii(v) => v.first().map(|s| String::from_utf8_lossy(s).trim().to_string()),
        _ => None,
    }
}

/// Reads EXIF and makes an upright thumbnail. A photo without EXIF is accepted (no position).
pub fn read_photo(bytes: &[u8], name: &str) -> Result<PhotoInfo, PhotoError> {
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(PhotoError::TooLarge { path: name.to_string(), mb: bytes.len() >> 20 });
    }
    let mut info = PhotoInfo { sha256: Sha256::digest(bytes).to_vec(), orientation: 1, ..Default::default() };
    if let Ok(exif) = exif::Reader::new().read_from_container(&mut Cursor::new(bytes)) {
        let get = |t| exif.get_field(t, exif::In::PRIMARY);
        info.taken_at = ascii(get(exif::Tag::DateTimeOriginal)).or_else(|| ascii(get(exif::Tag::DateTime))).map(|s| {
            let (d, t) = s.split_once(' ').unwrap_or((&s, ""));
            format!("{} {t}", d.replace(':', "-")).trim().to_string()
        });
        let dms = |v: Option<Vec<f64>>| v.filter(|v| v.len() == 3).map(|v| v[0] + v[1] / 60.0 + v[2] / 3600.0);
        let lat = dms(rational(get(exif::Tag::GPSLatitude)));
        let lon = dms(rational(get(exif::Tag::GPSLongitude)));
        if let (Some(lat), Some(lon)) = (lat, lon) {
            let lat = if ascii(get(exif::Tag::GPSLatitudeRef)).as_deref() == Some("S") { -lat } else { lat };
            let lon = if ascii(get(exif::Tag::GPSLongitudeRef)).as_deref() == Some("W") { -lon } else { lon };
            if lat.abs() <= 90.0 && lon.abs() <= 180.0 && (lat, lon) != (0.0, 0.0) {
                info.lonlat = Some((lon, lat));
            }
        }
        info.altitude_m = rational(get(exif::Tag::GPSAltitude)).and_then(|v| v.first().copied());
        info.bearing_deg = rational(get(exif::Tag::GPSImgDirection)).and_then(|v| v.first().copied());
        info.orientation =
            get(exif::Tag::Orientation).and_then(|f| f.value.get_uint(0)).filter(|o| (1..=8).contains(o)).unwrap_or(1);
    }
    let img = decode_for_thumbnail(bytes, name)?;
    let thumb = img.thumbnail(THUMB_PX, THUMB_PX);
    drop(img);
    let thumb = match info.orientation {
        2 => thumb.fliph(),
        3 => thumb.rotate180(),
        4 => thumb.flipv(),
        5 => thumb.rotate90().fliph(),
        6 => thumb.rotate90(),
        7 => thumb.rotate270().fliph(),
        8 => thumb.rotate270(),
        _ => thumb,
    };
    let (w, h) = match reader_size(bytes) {
        Some((w, h)) if info.orientation >= 5 => (h, w),
        Some(s) => s,
        None => (thumb.width(), thumb.height()),
    };
    info.size_px = (w, h);
    let mut out = Cursor::new(Vec::new());
    thumb
        .to_rgb8()
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .map_err(|e| PhotoError::NotAnImage { path: name.to_string(), detail: e.to_string() })?;
    info.thumbnail_jpeg = out.into_inner();
    Ok(info)
}

/// Largest photo accepted, in pixels: 150 MP covers medium-format cameras; a header claiming more
/// is damaged or hostile.
const MAX_PHOTO_PIXELS: u64 = 150_000_000;

/// Decodes a photo at no more than twice the thumbnail size where the format allows: a JPEG is
/// decoded with DCT scaling (1/2 … 1/8, as libjpeg's scale_denom) by jpeg-decoder, so a 50 MP
/// photo needs ~5 MB instead of ~600 MB and decodes several times faster. Other formats go
/// through the image crate with a 512 MB allocation cap.
fn decode_for_thumbnail(bytes: &[u8], name: &str) -> Result<image::DynamicImage, PhotoError> {
    let bad = |detail: String| PhotoError::NotAnImage { path: name.to_string(), detail };
    if bytes.starts_with(&[0xFF, 0xD8]) {
        let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
        // Even scaled 1/8, a header claiming 65535×65535 would need 200 MB: refuse over 64 MB.
        d.set_max_decoding_buffer_size(64 << 20);
        d.read_info().map_err(|e| bad(e.to_string()))?;
        let (full_w, full_h) = d.info().map(|i| (u64::from(i.width), u64::from(i.height))).unwrap_or_default();
        if full_w * full_h > MAX_PHOTO_PIXELS {
            return Err(bad(format!(
                "{full_w}×{full_h} 像素，超过 {} 百万像素 / pixels, more than {} megapixels",
                MAX_PHOTO_PIXELS / 1_000_000,
                MAX_PHOTO_PIXELS / 1_000_000
            )));
        }
        let side = u16::try_from(THUMB_PX * 2).unwrap_or(u16::MAX);
        let (w, h) = d.scale(side, side).map_err(|e| bad(e.to_string()))?;
        let pixels = d.decode().map_err(|e| bad(e.to_string()))?;
        let format = d.info().map(|i| i.pixel_format).ok_or_else(|| bad("no image information".into()))?;
        let (w, h) = (u32::from(w), u32::from(h));
        let img = match format {
            jpeg_decoder::PixelFormat::RGB24 => {
                image::RgbImage::from_raw(w, h, pixels).map(image::DynamicImage::ImageRgb8)
            }
            jpeg_decoder::PixelFormat::L8 => {
                image::GrayImage::from_raw(w, h, pixels).map(image::DynamicImage::ImageLuma8)
            }
            jpeg_decoder::PixelFormat::CMYK32 => {
                let rgb: Vec<u8> = pixels
                    .chunks_exact(4)
                    .flat_map(|p| {
                        let k = 255 - u32::from(p[3]);
                        [0, 1, 2].map(|c| ((255 - u32::from(p[c])) * k / 255) as u8)
                    })
                    .collect();
                image::RgbImage::from_raw(w, h, rgb).map(image::DynamicImage::ImageRgb8)
            }
            jpeg_decoder::PixelFormat::L16 => None,
        };
        return img.ok_or_else(|| bad(format!("unsupported JPEG pixel format {format:?}")));
    }
    let mut reader =
        image::ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| bad(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(512 << 20);
    reader.limits(limits);
    reader.decode().map_err(|e| bad(e.to_string()))
}

fn reader_size(bytes: &[u8]) -> Option<(u32, u32)> {
    image::ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok()?.into_dimensions().ok()
}

pub use tuban_model::geometry::{distance_m, match_patch};

/// Reads a photo file.
pub fn read_photo_file(path: &Path) -> Result<(Vec<u8>, PhotoInfo), PhotoError> {
    let p = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|cause| PhotoError::Io { path: p.clone(), cause })?;
    let info = read_photo(&bytes, &p)?;
    Ok((bytes, info))
}

/// What a photo import did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhotoImport {
    /// (file, patch key, distance m).
    pub matched: Vec<(String, String, f64)>,
    /// Files stored without a patch (no GPS, or none near enough): to assign by hand.
    pub unmatched: Vec<String>,
    /// Files refused, with the reason.
    pub errors: Vec<String>,
}

/// Adds photo files (or every JPEG in the folders given) to a project, each matched to the patch
/// containing its GPS position or the nearest within `max_m` metres (or to `patch` when given).
pub fn import_photos(
    project: &mut crate::store::Project,
    paths: &[std::path::PathBuf],
    patch: Option<i64>,
    max_m: f64,
    progress: &tuban_model::progress::Progress,
) -> Result<PhotoImport, crate::store::StoreError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut inner: Vec<_> = std::fs::read_dir(p)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|f| {
                    f.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        ["jpg", "jpeg", "png", "tif", "tiff", "heic"].contains(&e.to_ascii_lowercase().as_str())
                    })
                })
                .collect();
            inner.sort();
            files.extend(inner);
        } else {
            files.push(p.clone());
        }
    }
    let geoms: Vec<(i64, Geometry)> = project
        .patches()?
        .iter()
        .filter_map(|r| project.patch_geometry(r.fid).ok().flatten().map(|g| (r.fid, g)))
        .collect();
    let keys: std::collections::HashMap<i64, String> = project.patches()?.into_iter().map(|r| (r.fid, r.key)).collect();
    progress.stage("照片 / photos", files.len() as u64);
    let mut out = PhotoImport::default();
    for (i, f) in files.iter().enumerate() {
        if progress.set(i as u64).is_err() {
            break;
        }
        let name = f.display().to_string();
        let (bytes, info) = match read_photo_file(f) {
            Ok(x) => x,
            Err(e) => {
                out.errors.push(e.to_string());
                continue;
            }
        };
        let matched = match patch {
            Some(fid) => Some((
                fid,
                info.lonlat
                    .and_then(|ll| geoms.iter().find(|(g, _)| *g == fid).map(|(_, g)| distance_m(ll, g)))
                    .unwrap_or(0.0),
            )),
            None => info.lonlat.and_then(|ll| match_patch(ll, &geoms, max_m)),
        };
        let file_name = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or(name.clone());
        match project.add_photo(matched.map(|m| m.0), &file_name, &bytes, &info, matched.map(|m| m.1)) {
            Ok(_) => match matched {
                Some((fid, d)) => out.matched.push((name, keys.get(&fid).cloned().unwrap_or_default(), d)),
                None => out.unmatched.push(name),
            },
            Err(e) => out.errors.push(e.to_string()),
        }
    }
    let _ = progress.set(files.len() as u64);
    Ok(out)
}
