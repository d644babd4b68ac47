//! Spatial order: the position of a point along a Hilbert curve over an extent, so that things
//! sorted by it lie next to their neighbours (the overlay's patches, the boxes of a packed
//! R-tree).

/// Cells per side of the curve (order 16).
const SIDE: u32 = 1 << 16;

/// The position of `(x, y)` along a Hilbert curve of order 16 laid over `extent` (min x, min
/// y, max x, max y); points outside are clamped to its edge, a flat extent maps to its line.
pub fn hilbert_key(x: f64, y: f64, extent: [f64; 4]) -> u64 {
    let cell = |v: f64, lo: f64, hi: f64| -> u32 {
        if hi > lo {
            (((v - lo) / (hi - lo)) * f64::from(SIDE - 1)).clamp(0.0, f64::from(SIDE - 1)) as u32
        } else {
            0
        }
    };
    let (mut x, mut y) = (cell(x, extent[0], extent[2]), cell(y, extent[1], extent[3]));
    let (mut d, mut s) = (0u64, SIDE / 2);
    while s > 0 {
        let (rx, ry) = (u32::from(x & s > 0), u32::from(y & s > 0));
        d += u64::from(s) * u64::from(s) * u64::from((3 * rx) ^ ry);
        if ry == 0 {
            if rx == 1 {
                (x, y) = (SIDE - 1 - x, SIDE - 1 - y);
            }
            std::mem::swap(&mut x, &mut y);
        }
        s /= 2;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curve_visits_the_quadrants_in_order_and_neighbours_stay_close() {
        let e = [0.0, 0.0, 1.0, 1.0];
        // A Hilbert curve of this orientation runs lower left, upper left, upper right, lower right.
        let q = [(0.25, 0.25), (0.25, 0.75), (0.75, 0.75), (0.75, 0.25)].map(|(x, y)| hilbert_key(x, y, e));
        assert!(q.windows(2).all(|w| w[0] < w[1]), "{q:?}");
        let quarter = u64::from(SIDE) * u64::from(SIDE) / 4;
        assert_eq!(q.map(|k| k / quarter), [0, 1, 2, 3]);
        // Points a cell apart are close on the curve away from quadrant seams.
        let (a, b) = (hilbert_key(0.1, 0.1, e), hilbert_key(0.1 + 1.0 / 65535.0, 0.1, e));
        assert!(a.abs_diff(b) < 16, "{a} {b}");
        assert_eq!(hilbert_key(-5.0, 2.0, e), hilbert_key(0.0, 1.0, e), "clamped");
        assert_eq!(hilbert_key(3.0, 3.0, [1.0, 1.0, 1.0, 1.0]), 0, "a flat extent");
    }
}
