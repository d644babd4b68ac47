//! Coordinate transformations made once per process and copied into each thread that needs one.
//!
//! Making a GDAL transformation searches PROJ's database for the operations between the two
//! systems: 50-150 ms the first time on a thread, longer while another thread searches too (the
//! report's two chip workers each opened two rasters, two transformations each: 0.3 s of every
//! worker's time before its first chip). The search is done once per pair of definitions; every
//! caller gets its own copy (`OCTClone`, which copies the operation found into the calling
//! thread's PROJ context without searching again).

use std::ffi::c_int;
use std::ptr::null_mut;
use std::sync::Mutex;

use gdal::errors::GdalError;
use gdal::spatial_ref::{CoordTransform, SpatialRef};
use gdal_sys::OGRCoordinateTransformationH;

/// A transformation of the thread that made it (not `Send`: its PROJ objects belong to that
/// thread's PROJ context).
pub struct Transform {
    handle: OGRCoordinateTransformationH,
    /// The two systems, for messages.
    names: (String, String),
}

impl Drop for Transform {
    fn drop(&mut self) {
        // SAFETY: the handle came from `OCTClone` and is destroyed once.
        unsafe { gdal_sys::OCTDestroyCoordinateTransformation(self.handle) };
    }
}

/// The transformations found so far, by their systems' definitions.
struct Master {
    key: String,
    ct: CoordTransform,
}

// SAFETY: a master is only touched while the cache's mutex is held, and only to be copied
// (`OCTClone` makes the copy in the calling thread's PROJ context); it never transforms.
unsafe impl Send for Master {}

static FOUND: Mutex<Vec<Master>> = Mutex::new(Vec::new());

/// The most transformations kept (a session uses a handful; the oldest goes first).
const KEPT: usize = 32;

fn name(srs: &SpatialRef) -> String {
    srs.authority().or_else(|_| srs.to_proj4()).unwrap_or_else(|_| "?".into())
}

impl Transform {
    /// The transformation from `from` to `to` (their axis orders included).
    pub fn new(from: &SpatialRef, to: &SpatialRef) -> Result<Transform, GdalError> {
        let key = format!(
            "{:?}|{}|{:?}|{}",
            from.axis_mapping_strategy(),
            from.to_wkt()?,
            to.axis_mapping_strategy(),
            to.to_wkt()?
        );
        let mut found = FOUND.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = match found.iter().position(|m| m.key == key) {
            Some(i) => i,
            None => {
                let ct = CoordTransform::new(from, to)?;
                if found.len() >= KEPT {
                    found.remove(0);
                }
                found.push(Master { key, ct });
                found.len() - 1
            }
        };
        // SAFETY: the master's handle is valid while the lock is held; the copy is a new object.
        let handle = unsafe { gdal_sys::OCTClone(found[at].ct.to_c_hct()) };
        drop(found);
        if handle.is_null() {
            return Err(GdalError::NullPointer { method_name: "OCTClone", msg: String::new() });
        }
        Ok(Transform { handle, names: (name(from), name(to)) })
    }

    /// Transforms the points in place (x and y of the same length); an error when any point
    /// does not transform.
    pub fn transform_coords(&self, xs: &mut [f64], ys: &mut [f64]) -> Result<(), GdalError> {
        let n = xs.len().min(ys.len());
        let n_c = c_int::try_from(n).map_err(|_| self.range_error(Some("too many points".into())))?;
        // SAFETY: both slices hold at least `n` values; z is not used.
        let ok = unsafe { gdal_sys::OCTTransform(self.handle, n_c, xs.as_mut_ptr(), ys.as_mut_ptr(), null_mut()) };
        if ok == 1 {
            Ok(())
        } else {
            Err(self.range_error(None))
        }
    }

    fn range_error(&self, msg: Option<String>) -> GdalError {
        GdalError::InvalidCoordinateRange { from: self.names.0.clone(), to: self.names.1.clone(), msg }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_transform_like_the_original_on_other_threads() {
        let systems = || (crate::crs::srs_xy(SpatialRef::from_epsg(4546).unwrap()), crate::crs::cgcs2000().unwrap());
        let points = || (vec![500_000.0, 531_234.5], vec![2_600_000.0, 2_595_432.1]);
        let (gk, lonlat) = systems();
        let direct = CoordTransform::new(&gk, &lonlat).unwrap();
        let (mut x0, mut y0) = points();
        direct.transform_coords(&mut x0, &mut y0, &mut []).unwrap();
        let copies: Vec<(Vec<f64>, Vec<f64>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(|| {
                        let (gk, lonlat) = systems();
                        let t = Transform::new(&gk, &lonlat).unwrap();
                        let (mut x, mut y) = points();
                        t.transform_coords(&mut x, &mut y).unwrap();
                        (x, y)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (x, y) in copies {
            assert_eq!((x, y), (x0.clone(), y0.clone()));
        }
        // The zone's central meridian, 111°E, at its false easting of 500 km.
        assert!((x0[0] - 111.0).abs() < 1e-9, "{x0:?}");
    }

    /// The model's bit-reproducible Gauss-Krüger projection against PROJ's (GDAL) on a grid over a
    /// zone, as the import makes the display geometry: delivered coordinates taken to lon/lat by
    /// PROJ, then projected forward by the model; the distance to the delivered double decides what
    /// storing the delivered geometry as residuals costs.
    #[test]
    fn model_projection_rebuilds_delivered_coordinates_within_a_varint_byte() {
        use tuban_model::geometry::tmerc::{decode_residuals, encode_residuals, TransverseMercator};
        let gk = crate::crs::srs_xy(SpatialRef::from_epsg(4546).unwrap());
        let t = Transform::new(&gk, &crate::crs::cgcs2000().unwrap()).unwrap();
        // 1.5° either side of 111°E (the whole 3-degree zone), 18°N to 53°N.
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for i in 0..=40 {
            for j in 0..=40 {
                xs.push(370_000.0 + 6_500.123_456_789 * f64::from(i));
                ys.push(2_000_000.0 + 98_765.432_109_876 * f64::from(j));
            }
        }
        let (delivered_x, delivered_y) = (xs.clone(), ys.clone());
        t.transform_coords(&mut xs, &mut ys).unwrap();
        let tm = TransverseMercator::cgcs2000(111.0, 500_000.0);
        let mut predicted = Vec::new();
        let mut delivered = Vec::new();
        for k in 0..xs.len() {
            let [x, y] = tm.forward(xs[k], ys[k]);
            assert!((x - delivered_x[k]).abs() < 1e-7 && (y - delivered_y[k]).abs() < 1e-7, "{k}: {x} {y}");
            predicted.extend([x, y]);
            delivered.extend([delivered_x[k], delivered_y[k]]);
        }
        let mut bytes = Vec::new();
        encode_residuals(&delivered, &predicted, &mut bytes);
        let (back, _) = decode_residuals(&bytes, &predicted).unwrap();
        assert_eq!(
            back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            delivered.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        let per_coordinate = bytes.len() as f64 / delivered.len() as f64;
        eprintln!("{per_coordinate:.3} bytes per coordinate over the zone");
        assert!(per_coordinate < 1.5, "{per_coordinate} bytes per coordinate");
    }
}
