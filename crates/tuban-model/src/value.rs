//! Field values: what a patch holds in each template field, and how typed text becomes one.

use std::fmt;

use chrono::NaiveDate;

use super::units::{self, Unit};
use crate::field::{Field, FieldKind};

/// The value of one field of one patch.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Not filled.
    Null,
    /// Text, a code (or codes joined by [`MULTI_SEPARATOR`]).
    Text(String),
    /// Whole number.
    Int(i64),
    /// Decimal number, in the unit of its field.
    Real(f64),
    /// Calendar date.
    Date(NaiveDate),
    /// Yes or no.
    Bool(bool),
}

/// Separator between the codes of a multiple-choice field.
pub const MULTI_SEPARATOR: char = ';';

/// Why typed text is not a valid value for a field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    /// Not a whole number.
    #[error("“{text}” 不是整数 / is not a whole number")]
    NotInteger { text: String },
    /// Not a number.
    #[error("“{text}” 不是数字 / is not a number")]
    NotNumber { text: String },
    /// A number with a unit that cannot be converted into the field's unit.
    #[error("单位“{unit}”不能换算为 {field_unit} / unit “{unit}” cannot be converted to {field_unit}")]
    WrongUnit { unit: String, field_unit: String },
    /// Not a date.
    #[error("“{text}” 不是日期，请写成 YYYY-MM-DD / is not a date (use YYYY-MM-DD)")]
    NotDate { text: String },
    /// Not yes/no.
    #[error("“{text}” 应为 是/否 / is not yes/no")]
    NotBool { text: String },
    /// Not in the code list.
    #[error("“{text}” 不在代码表中（{allowed}） / is not in the code list")]
    NotInCodeList { text: String, allowed: String },
    /// Longer than the field allows.
    #[error("文本 {len} 字节（GBK），超过字段长度 {max} / text is {len} GBK bytes, longer than the field's {max}")]
    TooLong { len: usize, max: usize },
}

impl Value {
    /// True when the value is [`Value::Null`] or empty text.
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }

    /// The value as a number, for comparisons.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Real(r) => Some(*r),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Parses text typed by a user (or read from a source file) as a value of `field`.
    ///
    /// Empty text gives [`Value::Null`]. Decimal fields accept a unit suffix (`20亩` into an m² field).
    pub fn parse_for(field: &Field, text: &str) -> Result<Value, ValueError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Value::Null);
        }
        match &field.kind {
            FieldKind::Text { length } => {
                if let Some(max) = length {
                    let len = gbk_len(text);
                    if len > *max {
                        return Err(ValueError::TooLong { len, max: *max });
                    }
                }
                Ok(Value::Text(text.to_string()))
            }
            FieldKind::Integer => {
                if let Ok(i) = text.parse::<i64>() {
                    return Ok(Value::Int(i));
                }
                // "12.0" from a DBF numeric column is still a whole number.
                match text.parse::<f64>() {
                    Ok(f) if f.fract() == 0.0 && f.abs() < 9e15 => Ok(Value::Int(f as i64)),
                    _ => Err(ValueError::NotInteger { text: text.to_string() }),
                }
            }
            FieldKind::Decimal { unit, .. } => parse_quantity(text, *unit).map(Value::Real),
            FieldKind::Date => {
                parse_date(text).map(Value::Date).ok_or_else(|| ValueError::NotDate { text: text.to_string() })
            }
            FieldKind::Boolean => {
                parse_bool(text).map(Value::Bool).ok_or_else(|| ValueError::NotBool { text: text.to_string() })
            }
            FieldKind::Code { codes, multiple } => {
                let parts: Vec<&str> = if *multiple {
                    text.split([MULTI_SEPARATOR, '；', ',', '，', '、'])
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .collect()
                } else {
                    vec![text]
                };
                let mut out = Vec::with_capacity(parts.len());
                for part in parts {
                    let Some(code) = codes.iter().find(|c| c.code == part || c.label == part || c.display() == part)
                    else {
                        let allowed = codes.iter().map(|c| c.display()).collect::<Vec<_>>().join(" / ");
                        return Err(ValueError::NotInCodeList { text: part.to_string(), allowed });
                    };
                    out.push(code.code.clone());
                }
                Ok(Value::Text(out.join(&MULTI_SEPARATOR.to_string())))
            }
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Text(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Real(r) => write!(f, "{}", format_decimal(*r)),
            Value::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Value::Bool(b) => f.write_str(if *b { "是" } else { "否" }),
        }
    }
}

/// Formats a decimal without trailing zeros and with at most 4 decimals.
pub fn format_decimal(value: f64) -> String {
    let s = format!("{value:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// Length of `text` in bytes once encoded as GBK (the upload DBF encoding).
pub fn gbk_len(text: &str) -> usize {
    if text.is_ascii() {
        return text.len();
    }
    // Counted through a stack buffer (as `encode` would write it, unmappable characters as
    // numeric references), without allocating: every imported text value is measured.
    let mut encoder = encoding_rs::GBK.new_encoder();
    let mut buf = [0u8; 256];
    let (mut total, mut rest) = (0, text);
    loop {
        let (result, read, written, _) = encoder.encode_from_utf8(rest, &mut buf, true);
        total += written;
        rest = &rest[read..];
        if result == encoding_rs::CoderResult::InputEmpty {
            return total;
        }
    }
}

/// Parses a number with an optional unit suffix and converts it into `unit`.
pub fn parse_quantity(text: &str, unit: Option<Unit>) -> Result<f64, ValueError> {
    let text = text.trim().replace([',', '，'], "");
    let split = text
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == '-' || *c == '+' || *c == 'e' || *c == 'E'))
        .map_or(text.len(), |(i, _)| i);
    let (num, suffix) = text.split_at(split);
    let value: f64 = num.trim().parse().map_err(|_| ValueError::NotNumber { text: text.clone() })?;
    if !value.is_finite() {
        return Err(ValueError::NotNumber { text: text.clone() });
    }
    let suffix = suffix.trim();
    if suffix.is_empty() {
        return Ok(value);
    }
    let Some(from) = Unit::parse_suffix(suffix) else {
        return Err(ValueError::NotNumber { text: text.clone() });
    };
    let Some(to) = unit else {
        return Err(ValueError::WrongUnit { unit: suffix.to_string(), field_unit: "-".into() });
    };
    units::convert(value, from, to)
        .ok_or_else(|| ValueError::WrongUnit { unit: suffix.to_string(), field_unit: to.symbol().into() })
}

/// Parses the date spellings found in delivered data: `2024-08-01`, `2024/8/1`, `20240801`, `2024年8月1日`, `2024-08-01T..`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    let t = t.split(['T', ' ']).next().unwrap_or(t);
    for fmt in ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日"] {
        if let Ok(d) = NaiveDate::parse_from_str(t, fmt) {
            return Some(d);
        }
    }
    None
}

/// Parses yes/no in Chinese and English spellings.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_lowercase().as_str() {
        "是" | "y" | "yes" | "true" | "1" | "t" | "有" => Some(true),
        "否" | "n" | "no" | "false" | "0" | "f" | "无" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_convert_units() {
        let m2 = parse_quantity("20亩", Some(Unit::M2)).unwrap();
        assert!((m2 - 13_333.333).abs() < 0.01);
        assert_eq!(parse_quantity("1,500.5", Some(Unit::M2)).unwrap(), 1500.5);
        assert!(parse_quantity("20 m3", Some(Unit::M2)).is_err());
        assert!(parse_quantity("abc", Some(Unit::M2)).is_err());
    }

    #[test]
    fn dates_in_delivered_spellings() {
        let d = NaiveDate::from_ymd_opt(2024, 8, 1).unwrap();
        for t in ["2024-08-01", "2024/8/1", "20240801", "2024年8月1日", "2024-08-01T00:00:00"] {
            assert_eq!(parse_date(t), Some(d), "{t}");
        }
        assert_eq!(parse_date("2024-13-01"), None);
    }

    #[test]
    fn gbk_length_counts_two_bytes_per_hanzi() {
        assert_eq!(gbk_len("草原"), 4);
        assert_eq!(gbk_len("ab"), 2);
        for t in ["锡林郭勒盟正蓝旗 café ☃ 𝔸", &"草原".repeat(300)] {
            assert_eq!(gbk_len(t), encoding_rs::GBK.encode(t).0.len(), "{t}");
        }
    }
}
