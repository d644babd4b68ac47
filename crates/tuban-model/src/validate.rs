//! Checking a patch against its template: required fields, rules, computed fields, review status.

use serde::{Deserialize, Serialize};

use super::template::{Severity, Template};
use super::value::Value;

/// One problem of one patch, naming the field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// The field the problem is about.
    pub field: String,
    /// Error or warning.
    pub severity: Severity,
    /// Rule identifier (`required` for a missing required field).
    pub rule: String,
    /// Message in Chinese.
    pub message: String,
    /// Message in English.
    pub message_en: String,
}

/// Where a patch is in its review; stored in the `review_status` column for map styling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    /// Nothing entered yet.
    Unreviewed,
    /// Some fields entered, no verdict yet.
    InProgress,
    /// Verdict set and no errors.
    Done,
    /// Verdict set but errors remain.
    Problem,
}

impl ReviewStatus {
    /// All statuses in workflow order.
    pub const ALL: [ReviewStatus; 4] =
        [ReviewStatus::Unreviewed, ReviewStatus::InProgress, ReviewStatus::Done, ReviewStatus::Problem];

    /// The value stored in the project.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Unreviewed => "unreviewed",
            ReviewStatus::InProgress => "in_progress",
            ReviewStatus::Done => "done",
            ReviewStatus::Problem => "problem",
        }
    }

    /// Reads the stored value.
    pub fn parse(text: &str) -> Option<ReviewStatus> {
        ReviewStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Chinese label.
    pub fn label(self) -> &'static str {
        match self {
            ReviewStatus::Unreviewed => "未核查",
            ReviewStatus::InProgress => "核查中",
            ReviewStatus::Done => "已核查",
            ReviewStatus::Problem => "有问题",
        }
    }

    /// English label.
    pub fn label_en(self) -> &'static str {
        match self {
            ReviewStatus::Unreviewed => "unreviewed",
            ReviewStatus::InProgress => "in progress",
            ReviewStatus::Done => "done",
            ReviewStatus::Problem => "problem",
        }
    }

    /// Whether the patch counts as reviewed (已核查 n/N): a verdict is set, whether or not
    /// problems remain.
    pub fn is_reviewed(self) -> bool {
        matches!(self, ReviewStatus::Done | ReviewStatus::Problem)
    }
}

impl Template {
    fn getter<'a>(&'a self, values: &'a [Value]) -> impl Fn(&str) -> (Value, Option<super::units::Unit>) + 'a {
        move |name: &str| match self.spec.fields.iter().position(|f| f.name == name) {
            Some(i) => (values.get(i).cloned().unwrap_or(Value::Null), self.spec.fields[i].unit()),
            None => (Value::Null, None),
        }
    }

    /// Parses a condition over this template's fields (`HCJG = 违法 and XZMC = 乌兰花镇`).
    pub fn parse_condition(&self, text: &str) -> Result<super::expr::Expr, super::expr::ExprError> {
        let is_field = |n: &str| self.spec.fields.iter().any(|f| f.name == n);
        super::expr::Expr::parse(text, &is_field)
    }

    /// Whether `values` satisfy a condition (`None`: unknown, as a field is not filled).
    pub fn matches(&self, condition: &super::expr::Expr, values: &[Value]) -> Option<bool> {
        condition.eval(&self.getter(values))
    }

    /// Recomputes the computed fields of `values` (aligned with [`Template::fields`]) in place.
    ///
    /// Returns the indices of the fields whose value changed.
    pub fn apply_computed(&self, values: &mut [Value]) -> Vec<usize> {
        let mut changed = Vec::new();
        for (i, expr) in self.compute_exprs.iter().enumerate() {
            let Some(expr) = expr else { continue };
            let new = match expr.eval(&self.getter(values)) {
                Some(b) => Value::Bool(b),
                None => Value::Null,
            };
            if values.get(i) != Some(&new) {
                if let Some(slot) = values.get_mut(i) {
                    *slot = new;
                    changed.push(i);
                }
            }
        }
        changed
    }

    /// True when none of the fields the analyst must fill (required, not issued) has a value:
    /// delivered data often carries optional editable fields (village, sub-patch id) already.
    pub fn is_untouched(&self, values: &[Value]) -> bool {
        self.spec.fields.iter().zip(values).all(|(f, v)| !f.required || f.is_read_only() || v.is_empty())
    }

    /// Checks `values` (aligned with [`Template::fields`]); required fields are only checked once
    /// review has started, so an untouched patch is "not reviewed", not "full of errors".
    pub fn validate(&self, values: &[Value]) -> Vec<Problem> {
        let mut problems = Vec::new();
        let started = !self.is_untouched(values);
        let get = self.getter(values);
        if started {
            for (f, v) in self.spec.fields.iter().zip(values) {
                if f.required && v.is_empty() {
                    problems.push(Problem {
                        field: f.name.clone(),
                        severity: Severity::Error,
                        rule: "required".into(),
                        message: format!("{}（{}）必须填写", f.label, f.name),
                        message_en: format!(
                            "{} ({}) is required",
                            if f.label_en.is_empty() { &f.label } else { &f.label_en },
                            f.name
                        ),
                    });
                }
            }
        }
        for (rule, (when, check)) in self.spec.rules.iter().zip(&self.rule_exprs) {
            if let Some(when) = when {
                if when.eval(&get) != Some(true) {
                    continue;
                }
            }
            let message_en = if rule.message_en.is_empty() { rule.message.clone() } else { rule.message_en.clone() };
            for name in &rule.require {
                if get(name).0.is_empty() && !problems.iter().any(|p| &p.field == name && p.rule == "required") {
                    problems.push(Problem {
                        field: name.clone(),
                        severity: rule.severity,
                        rule: rule.id.clone(),
                        message: rule.message.clone(),
                        message_en: message_en.clone(),
                    });
                }
            }
            if let Some(check) = check {
                if check.eval(&get) == Some(false) {
                    let field = check.fields().first().map(|s| s.to_string()).unwrap_or_default();
                    problems.push(Problem {
                        field,
                        severity: rule.severity,
                        rule: rule.id.clone(),
                        message: rule.message.clone(),
                        message_en: message_en.clone(),
                    });
                }
            }
        }
        problems
    }

    /// The review status implied by `values` and their problems.
    pub fn review_status(&self, values: &[Value], problems: &[Problem]) -> ReviewStatus {
        let verdict_set = self
            .spec
            .fields
            .iter()
            .position(|f| f.name == self.spec.roles.verdict)
            .and_then(|i| values.get(i))
            .is_some_and(|v| !v.is_empty());
        if !verdict_set {
            return if self.is_untouched(values) { ReviewStatus::Unreviewed } else { ReviewStatus::InProgress };
        }
        if problems.iter().any(|p| p.severity == Severity::Error) {
            ReviewStatus::Problem
        } else {
            ReviewStatus::Done
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn values_with(t: &Template, pairs: &[(&str, Value)]) -> Vec<Value> {
        let mut v = vec![Value::Null; t.fields().len()];
        for (name, value) in pairs {
            let i = t.fields().iter().position(|f| f.name == *name).unwrap();
            v[i] = value.clone();
        }
        v
    }

    #[test]
    fn grassland_rules() {
        let t = Template::builtin("grassland").unwrap();
        let d = |y, m| Value::Date(NaiveDate::from_ymd_opt(y, m, 1).unwrap());
        let untouched = values_with(
            &t,
            &[("TBBH", Value::Text("150999SJBG2025000001".into())), ("QSX", d(2024, 8)), ("HSX", d(2025, 8))],
        );
        let p = t.validate(&untouched);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(t.review_status(&untouched, &p), ReviewStatus::Unreviewed);

        // 合法 without SPWH: error on SPWH.
        let mut v = untouched.clone();
        let set = |v: &mut Vec<Value>, name: &str, value: Value| {
            let i = t.fields().iter().position(|f| f.name == name).unwrap();
            v[i] = value;
        };
        set(&mut v, "HCJG", Value::Text("合法".into()));
        let p = t.validate(&v);
        assert!(p.iter().any(|p| p.field == "SPWH"), "{p:?}");
        assert_eq!(t.review_status(&v, &p), ReviewStatus::Problem);

        // Dates in the wrong order.
        set(&mut v, "QSX", d(2026, 1));
        assert!(t.validate(&v).iter().any(|p| p.field == "QSX"));

        // 违法 with WFMJ ≥ 20 亩 computes SFSX = 是; WFMJ > HSMJ is an error.
        let mut v = untouched.clone();
        set(&mut v, "HCJG", Value::Text("违法".into()));
        set(&mut v, "WFMJ", Value::Real(14_000.0));
        set(&mut v, "HSMJ", Value::Real(13_000.0));
        let changed = t.apply_computed(&mut v);
        assert_eq!(changed.len(), 1);
        let sfsx = t.fields().iter().position(|f| f.name == "SFSX").unwrap();
        assert_eq!(v[sfsx], Value::Bool(true));
        let p = t.validate(&v);
        assert!(p.iter().any(|p| p.field == "WFMJ" && p.rule != "required"), "{p:?}");
        assert!(p.iter().any(|p| p.field == "DSR"), "{p:?}");
    }
}
