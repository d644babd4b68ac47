//! The small condition language of templates: `HCJG = 合法`, `QSX < HSX`, `WFMJ >= 20亩`,
//! `SPWH filled`, `HCJG in [合法, 违法]`, joined with `and` / `or` (`and` binds tighter).
//!
//! A comparison whose inputs are not filled is *unknown*; rules treat unknown as "does not apply",
//! so a missing value is reported once, by the required check, and not again by every comparison.

use std::cmp::Ordering;

use super::units::{self, Unit};
use super::value::{parse_date, Value, MULTI_SEPARATOR};

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Both sides must hold.
    And(Box<Expr>, Box<Expr>),
    /// Either side must hold.
    Or(Box<Expr>, Box<Expr>),
    /// `FIELD op operand`.
    Compare { field: String, op: Op, operand: Operand },
    /// `FIELD in [a, b, c]`.
    In { field: String, options: Vec<String> },
    /// `FIELD filled` (true) or `FIELD empty` (false).
    Filled { field: String, filled: bool },
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// Another field of the same patch.
    Field(String),
    /// A literal, possibly a number with a unit (`20亩`).
    Literal { text: String, unit: Option<Unit> },
}

/// A syntax error in a template condition.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot read condition “{text}”: {reason}")]
pub struct ExprError {
    /// The condition as written.
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

impl Expr {
    /// Parses a condition; `is_field` tells which words are field names.
    pub fn parse(text: &str, is_field: &dyn Fn(&str) -> bool) -> Result<Expr, ExprError> {
        let err = |reason: &str| ExprError { text: text.to_string(), reason: reason.to_string() };
        let mut or_parts = Vec::new();
        for or_part in split_word(text, &["or", "或"]) {
            let mut and_expr: Option<Expr> = None;
            for and_part in split_word(&or_part, &["and", "且"]) {
                let e = parse_atom(and_part.trim(), is_field).map_err(|r| err(&r))?;
                and_expr = Some(match and_expr {
                    None => e,
                    Some(prev) => Expr::And(Box::new(prev), Box::new(e)),
                });
            }
            or_parts.push(and_expr.ok_or_else(|| err("empty condition"))?);
        }
        let mut it = or_parts.into_iter();
        let first = it.next().ok_or_else(|| err("empty condition"))?;
        Ok(it.fold(first, |a, b| Expr::Or(Box::new(a), Box::new(b))))
    }

    /// Every field the condition reads.
    pub fn fields(&self) -> Vec<&str> {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                let mut v = a.fields();
                v.extend(b.fields());
                v
            }
            Expr::Compare { field, operand, .. } => match operand {
                Operand::Field(other) => vec![field.as_str(), other.as_str()],
                Operand::Literal { .. } => vec![field.as_str()],
            },
            Expr::In { field, .. } | Expr::Filled { field, .. } => vec![field.as_str()],
        }
    }

    /// Evaluates the condition; `None` means unknown (an input is not filled).
    ///
    /// `get` returns a field's value and its unit (for decimal fields).
    pub fn eval(&self, get: &dyn Fn(&str) -> (Value, Option<Unit>)) -> Option<bool> {
        match self {
            Expr::And(a, b) => match (a.eval(get), b.eval(get)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Expr::Or(a, b) => match (a.eval(get), b.eval(get)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Expr::Filled { field, filled } => Some(get(field).0.is_empty() != *filled),
            Expr::In { field, options } => {
                let (v, _) = get(field);
                if v.is_empty() {
                    return None;
                }
                let text = v.to_string();
                Some(text.split(MULTI_SEPARATOR).any(|part| options.iter().any(|o| o == part)))
            }
            Expr::Compare { field, op, operand } => {
                let (left, left_unit) = get(field);
                if left.is_empty() {
                    return None;
                }
                let ord = match operand {
                    Operand::Field(other) => {
                        let (right, right_unit) = get(other);
                        if right.is_empty() {
                            return None;
                        }
                        compare_values(&left, left_unit, &right, right_unit)?
                    }
                    Operand::Literal { text, unit } => compare_literal(&left, left_unit, text, *unit)?,
                };
                Some(match op {
                    Op::Eq => ord == Ordering::Equal,
                    Op::Ne => ord != Ordering::Equal,
                    Op::Lt => ord == Ordering::Less,
                    Op::Le => ord != Ordering::Greater,
                    Op::Gt => ord == Ordering::Greater,
                    Op::Ge => ord != Ordering::Less,
                })
            }
        }
    }
}

fn compare_values(left: &Value, left_unit: Option<Unit>, right: &Value, right_unit: Option<Unit>) -> Option<Ordering> {
    match (left, right) {
        (Value::Date(a), Value::Date(b)) => Some(a.cmp(b)),
        (Value::Text(a), Value::Text(b)) => Some(a.cmp(b)),
        _ => {
            let a = left.as_f64()?;
            let mut b = right.as_f64()?;
            if let (Some(lu), Some(ru)) = (left_unit, right_unit) {
                b = units::convert(b, ru, lu)?;
            }
            a.partial_cmp(&b)
        }
    }
}

fn compare_literal(left: &Value, left_unit: Option<Unit>, text: &str, unit: Option<Unit>) -> Option<Ordering> {
    match left {
        Value::Date(a) => Some(a.cmp(&parse_date(text)?)),
        Value::Text(a) => Some(a.as_str().cmp(text)),
        Value::Bool(a) => Some(a.cmp(&super::value::parse_bool(text)?)),
        _ => {
            let a = left.as_f64()?;
            let mut b: f64 = number_part(text)?;
            if let (Some(lu), Some(ru)) = (left_unit, unit) {
                b = units::convert(b, ru, lu)?;
            }
            a.partial_cmp(&b)
        }
    }
}

fn number_part(text: &str) -> Option<f64> {
    let end = text
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == '-'))
        .map_or(text.len(), |(i, _)| i);
    text[..end].parse().ok()
}

/// Splits on a whole word (surrounded by spaces), e.g. ` and `.
fn split_word(text: &str, words: &[&str]) -> Vec<String> {
    let mut parts = vec![String::new()];
    for token in text.split(' ') {
        if words.iter().any(|w| token.eq_ignore_ascii_case(w)) {
            parts.push(String::new());
        } else if let Some(last) = parts.last_mut() {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(token);
        }
    }
    parts
}

fn parse_atom(text: &str, is_field: &dyn Fn(&str) -> bool) -> Result<Expr, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty comparison".into());
    }
    let field_end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len());
    let field = &text[..field_end];
    if field.is_empty() {
        return Err("a comparison must start with a field name".into());
    }
    if !is_field(field) {
        return Err(format!("unknown field {field}"));
    }
    let rest = text[field_end..].trim();
    let lower = rest.to_lowercase();
    if lower == "filled" || rest == "已填" {
        return Ok(Expr::Filled { field: field.into(), filled: true });
    }
    if lower == "empty" || rest == "未填" {
        return Ok(Expr::Filled { field: field.into(), filled: false });
    }
    if let Some(list) = lower.strip_prefix("in").map(|_| rest[2..].trim()) {
        let inner = list.strip_prefix('[').and_then(|l| l.strip_suffix(']')).ok_or("in needs a list: in [a, b]")?;
        let options =
            inner.split([',', '，', '、']).map(|s| unquote(s.trim()).to_string()).filter(|s| !s.is_empty()).collect();
        return Ok(Expr::In { field: field.into(), options });
    }
    let (op, len) = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("!=", Op::Ne),
        ("==", Op::Eq),
        ("≤", Op::Le),
        ("≥", Op::Ge),
        ("≠", Op::Ne),
        ("<", Op::Lt),
        (">", Op::Gt),
        ("=", Op::Eq),
    ]
    .iter()
    .find(|(s, _)| rest.starts_with(s))
    .map(|(s, op)| (*op, s.len()))
    .ok_or_else(|| format!("expected an operator after {field} (=, !=, <, <=, >, >=, in, filled, empty)"))?;
    let operand = rest[len..].trim();
    if operand.is_empty() {
        return Err(format!("nothing to compare {field} with"));
    }
    let operand = if is_field(operand) {
        Operand::Field(operand.to_string())
    } else {
        let text = unquote(operand).to_string();
        let unit = number_part(&text).and_then(|_| {
            let end = text
                .char_indices()
                .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == '-'))
                .map_or(text.len(), |(i, _)| i);
            Unit::parse_suffix(&text[end..])
        });
        Operand::Literal { text, unit }
    };
    Ok(Expr::Compare { field: field.into(), op, operand })
}

fn unquote(s: &str) -> &str {
    for (a, b) in [("\"", "\""), ("'", "'"), ("“", "”")] {
        if let Some(inner) = s.strip_prefix(a).and_then(|x| x.strip_suffix(b)) {
            return inner;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(name: &str) -> bool {
        ["HCJG", "QSX", "HSX", "WFMJ", "HSMJ", "SPWH"].contains(&name)
    }

    #[test]
    fn parses_and_evaluates() {
        let e = Expr::parse("WFMJ >= 20亩", &fields).unwrap();
        let get =
            |v: f64| move |f: &str| if f == "WFMJ" { (Value::Real(v), Some(Unit::M2)) } else { (Value::Null, None) };
        assert_eq!(e.eval(&get(13_400.0)), Some(true));
        assert_eq!(e.eval(&get(13_300.0)), Some(false));
        let e = Expr::parse("HCJG = 合法 and SPWH empty", &fields).unwrap();
        let get = |f: &str| match f {
            "HCJG" => (Value::Text("合法".into()), None),
            _ => (Value::Null, None),
        };
        assert_eq!(e.eval(&get), Some(true));
        let e = Expr::parse("HCJG in [违法, 存疑]", &fields).unwrap();
        assert_eq!(e.eval(&get), Some(false));
        let e = Expr::parse("QSX < HSX", &fields).unwrap();
        assert_eq!(e.eval(&get), None);
    }

    #[test]
    fn rejects_unknown_fields_and_operators() {
        assert!(Expr::parse("NOPE = 1", &fields).is_err());
        assert!(Expr::parse("HCJG ~ 1", &fields).is_err());
        assert!(Expr::parse("", &fields).is_err());
    }
}
