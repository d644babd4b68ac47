//! Source fields → template fields: the mapping (exact names first, then labels and aliases),
//! and one feature's values parsed for the template, with the values that do not fit kept as
//! extra attributes and reported.

use std::collections::BTreeMap;

use gdal::vector::{Feature, FieldValue};
use tuban_model::{FieldKind, Template, Value};

/// Which template field each source field fills (`None`: kept as an extra attribute).
pub(super) struct FieldMap {
    /// The source's field names, in order.
    pub(super) source: Vec<String>,
    /// The template field index of each source field.
    pub(super) target: Vec<Option<usize>>,
    /// The template index of the patch id field, if the template has one.
    pub(super) id_index: Option<usize>,
}

/// One feature's values: the template's (by field index), the extra attributes, the problems.
pub(super) struct FeatureValues {
    /// A value per template field, `None` when absent or not fitting.
    pub(super) values: Vec<Option<Value>>,
    /// Source fields not in the template, and original text of values that did not fit.
    pub(super) extra: BTreeMap<String, String>,
    /// What was wrong with this feature's values.
    pub(super) issues: Vec<String>,
}

impl FieldMap {
    /// Maps `source` fields to the template's, adding warnings for unmapped fields and a missing id.
    pub(super) fn new(template: &Template, source: Vec<String>, warnings: &mut Vec<String>) -> FieldMap {
        let mut target: Vec<Option<usize>> = vec![None; source.len()];
        let mut taken = vec![false; template.fields().len()];
        for pass in 0..2 {
            for (si, name) in source.iter().enumerate() {
                if target[si].is_some() {
                    continue;
                }
                let hit = if pass == 0 {
                    template.fields().iter().position(|f| f.name.eq_ignore_ascii_case(name.trim()))
                } else {
                    template
                        .map_source_field(name)
                        .and_then(|f| template.fields().iter().position(|g| g.name == f.name))
                };
                if let Some(ti) = hit {
                    if !taken[ti] {
                        taken[ti] = true;
                        target[si] = Some(ti);
                    }
                }
            }
        }
        let unmapped: Vec<&str> =
            source.iter().zip(&target).filter(|(_, m)| m.is_none()).map(|(n, _)| n.as_str()).collect();
        if !unmapped.is_empty() {
            warnings.push(format!(
                "以下字段不在模板中，作为只读附加属性保留 / kept as read-only extra attributes: {}",
                unmapped.join(", ")
            ));
        }
        let id_index = template.fields().iter().position(|f| f.name == template.roles().id);
        if id_index.is_some_and(|i| !taken[i]) {
            warnings.push(format!(
                "未找到图斑编号字段（{}）；图斑将没有编号 / no patch id field ({}) found",
                template.roles().id,
                template.roles().id
            ));
        }
        FieldMap { source, target, id_index }
    }

    /// Reads and parses one feature's fields.
    pub(super) fn read(&self, template: &Template, feature: &Feature<'_>) -> FeatureValues {
        let mut out =
            FeatureValues { values: vec![None; template.fields().len()], extra: BTreeMap::new(), issues: Vec::new() };
        for (si, target_index) in self.target.iter().enumerate() {
            let raw = match feature.field(si) {
                Ok(v) => v,
                Err(e) => {
                    out.issues.push(format!("字段 {} 无法读取 / field unreadable: {e}", self.source[si]));
                    continue;
                }
            };
            let Some(raw) = raw else { continue };
            match target_index {
                None => {
                    let text = field_text(&raw);
                    if !text.is_empty() {
                        out.extra.insert(self.source[si].clone(), text);
                    }
                }
                Some(ti) => {
                    let field = &template.fields()[*ti];
                    let parsed = match (&raw, &field.kind) {
                        (FieldValue::DateValue(d), FieldKind::Date) => Ok(Value::Date(*d)),
                        (FieldValue::DateTimeValue(d), FieldKind::Date) => Ok(Value::Date(d.date_naive())),
                        _ => Value::parse_for(field, &field_text(&raw)),
                    };
                    match parsed {
                        Ok(v) => out.values[*ti] = Some(v),
                        Err(e) => {
                            let text = field_text(&raw);
                            out.issues.push(format!("字段 {} 的值“{text}”不合规（{e}），原值保留在附加属性 / value of {} does not fit; kept as extra attribute", field.name, field.name));
                            out.extra.insert(format!("{}_原值", field.name), text);
                        }
                    }
                }
            }
        }
        out
    }
}

/// A GDAL field value as text (dates ISO, lists joined with `;`, decimals without trailing zeros).
pub(crate) fn field_text(v: &FieldValue) -> String {
    match v {
        FieldValue::StringValue(s) => s.trim().to_string(),
        FieldValue::IntegerValue(i) => i.to_string(),
        FieldValue::Integer64Value(i) => i.to_string(),
        FieldValue::RealValue(r) => tuban_model::value::format_decimal(*r),
        FieldValue::DateValue(d) => d.format("%Y-%m-%d").to_string(),
        FieldValue::DateTimeValue(d) => d.format("%Y-%m-%d %H:%M:%S").to_string(),
        FieldValue::StringListValue(l) => l.join(";"),
        FieldValue::IntegerListValue(l) => l.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(";"),
        FieldValue::Integer64ListValue(l) => l.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(";"),
        FieldValue::RealListValue(l) => l.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(";"),
    }
}
