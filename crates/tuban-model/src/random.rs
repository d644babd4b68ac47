//! A small deterministic random generator (SplitMix64) for reproducible spot-check samples and
//! the sample data: the same seed gives the same sequence on every machine.

/// SplitMix64.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproducible() {
        let a: Vec<u64> = (0..3).scan(SplitMix64(1), |r, _| Some(r.next_u64())).collect();
        let b: Vec<u64> = (0..3).scan(SplitMix64(1), |r, _| Some(r.next_u64())).collect();
        assert_eq!(a, b);
        assert!((0..1000).scan(SplitMix64(9), |r, _| Some(r.next_f64())).all(|x| (0.0..1.0).contains(&x)));
    }
}
