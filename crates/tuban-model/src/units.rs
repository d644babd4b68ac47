//! Area units used on Chinese verification forms: square metres, 亩 and hectares.
//!
//! # Units
//! 1 亩 = 10000/15 m² ≈ 666.67 m²; 1 ha = 10000 m².

use serde::{Deserialize, Serialize};

/// Square metres in one 亩 (mu).
pub const M2_PER_MU: f64 = 10_000.0 / 15.0;
/// Square metres in one hectare.
pub const M2_PER_HA: f64 = 10_000.0;

/// Converts square metres to 亩.
pub fn m2_to_mu(area_m2: f64) -> f64 {
    area_m2 / M2_PER_MU
}

/// Converts square metres to hectares.
pub fn m2_to_ha(area_m2: f64) -> f64 {
    area_m2 / M2_PER_HA
}

/// The unit a decimal template field is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Square metres (m²).
    M2,
    /// 亩.
    Mu,
    /// Hectares (公顷).
    Ha,
    /// Cubic metres (stock volume, 蓄积).
    M3,
    /// Yuan (fines).
    Yuan,
    /// Degrees (coordinates).
    Deg,
    /// Metres.
    M,
}

impl Unit {
    /// The symbol shown after a value.
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::M2 => "m²",
            Unit::Mu => "亩",
            Unit::Ha => "公顷",
            Unit::M3 => "m³",
            Unit::Yuan => "元",
            Unit::Deg => "°",
            Unit::M => "m",
        }
    }

    /// Square metres per one of this unit, for area units.
    pub fn m2_factor(self) -> Option<f64> {
        match self {
            Unit::M2 => Some(1.0),
            Unit::Mu => Some(M2_PER_MU),
            Unit::Ha => Some(M2_PER_HA),
            _ => None,
        }
    }

    /// Parses a unit written after a number: `m2`, `㎡`, `亩`, `mu`, `ha`, `公顷`, ...
    pub fn parse_suffix(text: &str) -> Option<Unit> {
        match text.trim().to_lowercase().as_str() {
            "m2" | "m²" | "㎡" | "平方米" => Some(Unit::M2),
            "mu" | "亩" => Some(Unit::Mu),
            "ha" | "公顷" | "hm2" | "hm²" => Some(Unit::Ha),
            "m3" | "m³" | "立方米" => Some(Unit::M3),
            "元" | "yuan" => Some(Unit::Yuan),
            "°" | "deg" => Some(Unit::Deg),
            "m" | "米" => Some(Unit::M),
            _ => None,
        }
    }
}

/// Converts `value` from unit `from` to unit `to` when both are area units (or equal).
pub fn convert(value: f64, from: Unit, to: Unit) -> Option<f64> {
    if from == to {
        return Some(value);
    }
    Some(value * from.m2_factor()? / to.m2_factor()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_mu_in_m2() {
        let m2 = convert(20.0, Unit::Mu, Unit::M2).unwrap();
        assert!((m2 - 13_333.333_333).abs() < 1e-3);
        assert!((m2_to_mu(m2) - 20.0).abs() < 1e-9);
        assert!((m2_to_ha(15_000.0) - 1.5).abs() < 1e-12);
        assert_eq!(convert(1.0, Unit::M3, Unit::M2), None);
    }
}
