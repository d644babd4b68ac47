//! Which template field a reference layer fills or suggests (`[[reference]]` in the template),
//! and the values it gives: basic grassland → SFJBCY = 是 when the share reaches a threshold,
//! land survey → 前地类 from the majority class, protected area → 保护地名称 and 功能分区,
//! approvals → 审批文号 and 审批面积 as candidates.
//!
//! A template without `[[reference]]` gets the conventional rules for the fields it has (as
//! roles do). These are proposals, not official rules: a bureau edits them in its template.

use serde::{Deserialize, Serialize};

use crate::field::{Field, FieldKind};
use crate::reference::{OverlayRow, ReferenceKind, SLIVER_SHARE_PCT};
use crate::roles::Roles;
use crate::units::Unit;
use crate::value::format_decimal;

/// How a rule turns the overlay into a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// Yes when the layer's kind covers at least `min_share_pct` of the patch, else no.
    Flag,
    /// The class with the largest share (a land class matched to the field's code list).
    Majority,
    /// Part `part` (0-based, split at ` · `) of the class with the largest share.
    Part,
    /// The largest feature's area attribute `attr` (in m²), else the overlap area.
    Area,
}

/// Whether the value is written into the field or only offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FillMode {
    /// Written when the field is empty; the analyst can overwrite it.
    #[default]
    Fill,
    /// Shown beside the field with an apply button.
    Suggest,
}

/// One `[[reference]]` entry of a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceRule {
    /// The kind of layer read.
    pub kind: ReferenceKind,
    /// The field filled.
    pub field: String,
    /// How the value is made.
    pub rule: RuleKind,
    /// Fill or suggest.
    #[serde(default)]
    pub mode: FillMode,
    /// The share a class must reach, %.
    #[serde(default)]
    pub min_share_pct: f64,
    /// Which part of the class (for [`RuleKind::Part`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<usize>,
    /// The attribute read (for [`RuleKind::Area`]); several names separated by `,`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attr: Option<String>,
    /// The value when the layer exists but nothing reaches the share (功能分区 → 非保护地).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otherwise: Option<String>,
}

impl ReferenceRule {
    fn new(kind: ReferenceKind, field: &str, rule: RuleKind, mode: FillMode, min_share_pct: f64) -> Self {
        ReferenceRule { kind, field: field.into(), rule, mode, min_share_pct, part: None, attr: None, otherwise: None }
    }
}

/// The rules a template without `[[reference]]` gets, for the fields it has.
pub fn conventional_rules(fields: &[Field], roles: &Roles) -> Vec<ReferenceRule> {
    let has = |n: &str| fields.iter().any(|f| f.name == n);
    let mut out = Vec::new();
    if fields.iter().any(|f| f.name == "SFJBCY" && f.kind == FieldKind::Boolean) {
        out.push(ReferenceRule::new(ReferenceKind::BasicGrassland, "SFJBCY", RuleKind::Flag, FillMode::Fill, 50.0));
    }
    if let Some(before) = roles.land_before.as_deref() {
        out.push(ReferenceRule::new(ReferenceKind::Landuse, before, RuleKind::Majority, FillMode::Fill, 0.0));
    }
    if has("BHDMC") {
        let mut r = ReferenceRule::new(ReferenceKind::ProtectedArea, "BHDMC", RuleKind::Part, FillMode::Fill, 1.0);
        r.part = Some(0);
        out.push(r);
    }
    if has("GNFQ") {
        let mut r = ReferenceRule::new(ReferenceKind::ProtectedArea, "GNFQ", RuleKind::Part, FillMode::Fill, 1.0);
        r.part = Some(1);
        r.otherwise = Some("非保护地".into());
        out.push(r);
    }
    if has("SPWH") {
        out.push(ReferenceRule::new(ReferenceKind::Approval, "SPWH", RuleKind::Majority, FillMode::Suggest, 1.0));
    }
    if has("SPMJ") {
        let mut r = ReferenceRule::new(ReferenceKind::Approval, "SPMJ", RuleKind::Area, FillMode::Suggest, 1.0);
        r.attr = Some("SPMJ,PZMJ,审批面积,批准面积".into());
        out.push(r);
    }
    out
}

/// A value a reference layer gives a field.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// The field.
    pub field: String,
    /// The value as the analyst would type it.
    pub text: String,
    /// Written into the field, or offered.
    pub mode: FillMode,
    /// The layer it comes from.
    pub layer_id: i64,
    /// That layer's label.
    pub layer: String,
    /// The share behind it, %.
    pub share_pct: f64,
}

/// The values the template's rules give a patch with this overlay; `layers` are the project's
/// layers (id, kind, label), so a rule with `otherwise` answers when its layer shows nothing.
pub fn suggestions(
    rules: &[ReferenceRule],
    fields: &[Field],
    rows: &[OverlayRow],
    layers: &[(i64, ReferenceKind, String)],
) -> Vec<Suggestion> {
    let mut out = Vec::new();
    for rule in rules {
        let Some(field) = fields.iter().find(|f| f.name == rule.field) else { continue };
        let mut of_kind: Vec<&OverlayRow> =
            rows.iter().filter(|r| r.kind == rule.kind && r.share_pct >= SLIVER_SHARE_PCT).collect();
        of_kind.sort_by(|a, b| b.share_pct.total_cmp(&a.share_pct));
        let Some((layer_id, layer)) = of_kind
            .first()
            .map(|r| (r.layer_id, r.layer.clone()))
            .or_else(|| layers.iter().find(|l| l.1 == rule.kind).map(|l| (l.0, l.2.clone())))
        else {
            continue;
        };
        let top = of_kind.first().filter(|r| r.share_pct >= rule.min_share_pct);
        let total: f64 = of_kind.iter().map(|r| r.share_pct).sum::<f64>().min(100.0);
        let made = match rule.rule {
            RuleKind::Flag => Some((if total >= rule.min_share_pct { "是" } else { "否" }.to_string(), total)),
            RuleKind::Majority => top.and_then(|r| value_for(field, &r.class).map(|v| (v, r.share_pct))),
            RuleKind::Part => top.and_then(|r| {
                let part = r.class.split(" · ").nth(rule.part.unwrap_or(0))?.trim();
                value_for(field, part).map(|v| (v, r.share_pct))
            }),
            RuleKind::Area => top.map(|r| (area_text(field, rule.attr.as_deref(), r), r.share_pct)),
        };
        let made = made.or_else(|| rule.otherwise.clone().map(|v| (v, 0.0)));
        if let Some((text, share_pct)) = made {
            out.push(Suggestion { field: field.name.clone(), text, mode: rule.mode, layer_id, layer, share_pct });
        }
    }
    out
}

/// The area a rule gives: the feature's own attribute when it has one, else the overlap.
fn area_text(field: &Field, attr: Option<&str>, row: &OverlayRow) -> String {
    let from_attr = attr
        .into_iter()
        .flat_map(|a| a.split(','))
        .find_map(|a| row.attrs.get(a.trim()).and_then(|v| v.trim().parse::<f64>().ok()));
    let m2 = from_attr.unwrap_or(row.area_m2);
    let factor = field.unit().and_then(Unit::m2_factor).unwrap_or(1.0);
    format_decimal((m2 / factor * 100.0).round() / 100.0)
}

/// A class of a layer as a value of `field`: itself for a text field; for a code list the code
/// it names, else the land class it belongs to (三调 codes and names, see [`land_class_names`]).
pub fn value_for(field: &Field, class: &str) -> Option<String> {
    let codes = field.codes();
    if codes.is_empty() {
        return (!class.is_empty()).then(|| class.to_string());
    }
    let class = class.trim();
    let direct = codes.iter().find(|c| c.code == class || c.label == class || c.display() == class);
    if let Some(c) = direct {
        return Some(c.code.clone());
    }
    for name in land_class_names(class) {
        if let Some(c) = codes.iter().find(|c| c.code == name || c.label == name) {
            return Some(c.code.clone());
        }
    }
    // A two-valued list such as 林地 / 非林地: a class that is not 林地 is 非林地.
    if land_class_names(class).is_empty() {
        return None;
    }
    codes
        .iter()
        .find(|c| c.code.starts_with('非') && codes.iter().any(|b| b.code == c.code['非'.len_utf8()..]))
        .map(|c| c.code.clone())
}

/// The 三调 (GB/T 21010-2017) first-level classes: code, name.
const FIRST_LEVEL: [(&str, &str); 12] = [
    ("01", "耕地"),
    ("02", "园地"),
    ("03", "林地"),
    ("04", "草地"),
    ("05", "商业服务业用地"),
    ("06", "工矿用地"),
    ("07", "住宅用地"),
    ("08", "公共管理与公共服务用地"),
    ("09", "特殊用地"),
    ("10", "交通运输用地"),
    ("11", "水域及水利设施用地"),
    ("12", "其他土地"),
];

/// Second-level classes a template may list by name (the grassland ones and common others).
const SECOND_LEVEL: [(&str, &str); 14] = [
    ("0401", "天然牧草地"),
    ("0402", "沼泽草地"),
    ("0403", "人工牧草地"),
    ("0404", "其他草地"),
    ("0101", "水田"),
    ("0102", "水浇地"),
    ("0103", "旱地"),
    ("0301", "乔木林地"),
    ("0302", "竹林地"),
    ("0305", "灌木林地"),
    ("0307", "其他林地"),
    ("0602", "采矿用地"),
    ("1006", "农村道路"),
    ("1202", "设施农用地"),
];

/// The names a 三调 class goes by, most specific first: a code (`0401`) or a name (`天然牧草地`)
/// gives its second-level name, its first-level name, and `建设用地` for the built-up classes
/// (05-10, as the grassland template groups them).
pub fn land_class_names(class: &str) -> Vec<&'static str> {
    let c = class.split_whitespace().next().unwrap_or("");
    let code: String = match SECOND_LEVEL.iter().find(|(k, n)| *k == c || *n == class.trim()) {
        Some((k, _)) => k.to_string(),
        None => c.chars().filter(char::is_ascii_digit).collect(),
    };
    let mut out = Vec::new();
    if let Some((_, n)) = SECOND_LEVEL.iter().find(|(k, _)| *k == code) {
        out.push(*n);
    }
    let first = code.get(0..2).or_else(|| FIRST_LEVEL.iter().find(|(_, n)| *n == class.trim()).map(|(k, _)| *k));
    if let Some(first) = first {
        if let Some((_, n)) = FIRST_LEVEL.iter().find(|(k, _)| *k == first) {
            if matches!(first, "05" | "06" | "07" | "08" | "09" | "10") {
                out.push("建设用地");
            }
            out.push(*n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Template;
    use std::collections::BTreeMap;

    fn row(kind: ReferenceKind, class: &str, share_pct: f64) -> OverlayRow {
        OverlayRow {
            layer_id: 7,
            kind,
            layer: "三调".into(),
            class: class.into(),
            area_m2: share_pct * 10.0,
            share_pct,
            features: 1,
            attrs: BTreeMap::new(),
        }
    }

    #[test]
    fn land_classes_map_onto_the_template_code_lists() {
        let grass = Template::builtin("grassland").unwrap();
        let qdl = grass.field("QDL").unwrap();
        assert_eq!(value_for(qdl, "天然牧草地").as_deref(), Some("天然牧草地"));
        assert_eq!(value_for(qdl, "0403").as_deref(), Some("人工牧草地"));
        assert_eq!(value_for(qdl, "乔木林地").as_deref(), Some("林地"));
        assert_eq!(value_for(qdl, "0602 采矿用地").as_deref(), Some("建设用地"));
        assert_eq!(value_for(qdl, "1006").as_deref(), Some("建设用地"));
        let forest = Template::builtin("forest").unwrap();
        let qdl = forest.field("QDL").unwrap();
        assert_eq!(value_for(qdl, "0301").as_deref(), Some("林地"));
        assert_eq!(value_for(qdl, "天然牧草地").as_deref(), Some("非林地"));
    }

    #[test]
    fn the_grassland_template_fills_sfjbcy_and_qdl_and_suggests_the_approval() {
        let t = Template::builtin("grassland").unwrap();
        let mut approval = row(ReferenceKind::Approval, "某林审〔2024〕12号", 96.0);
        approval.attrs.insert("PZMJ".into(), "21000".into());
        approval.layer_id = 9;
        let rows = vec![
            row(ReferenceKind::Landuse, "天然牧草地", 70.0),
            row(ReferenceKind::Landuse, "0602", 30.0),
            row(ReferenceKind::BasicGrassland, "基本草原", 60.0),
            approval,
        ];
        let s = suggestions(t.reference_rules(), t.fields(), &rows, &[]);
        let get = |f: &str| s.iter().find(|x| x.field == f).unwrap();
        assert_eq!(get("SFJBCY").text, "是");
        assert_eq!(get("QDL").text, "天然牧草地");
        assert_eq!((get("QDL").mode, get("QDL").layer.as_str()), (FillMode::Fill, "三调"));
        assert_eq!((get("SPWH").text.as_str(), get("SPWH").mode), ("某林审〔2024〕12号", FillMode::Suggest));
        assert_eq!((get("SPMJ").text.as_str(), get("SPMJ").layer_id), ("21000", 9));
        // Basic grassland under the threshold is 否; a layer that shows nothing gives 否 too.
        let low = suggestions(t.reference_rules(), t.fields(), &[row(ReferenceKind::BasicGrassland, "x", 20.0)], &[]);
        assert_eq!(low[0].text, "否");
        let none =
            suggestions(t.reference_rules(), t.fields(), &[], &[(3, ReferenceKind::BasicGrassland, "JBCY".into())]);
        assert_eq!((none[0].text.as_str(), none[0].layer_id), ("否", 3));
    }

    #[test]
    fn the_eco_template_takes_name_and_zone_apart() {
        let t = Template::builtin("eco").unwrap();
        let rows = vec![row(ReferenceKind::ProtectedArea, "某自然保护区 · 核心区", 41.0)];
        let s = suggestions(t.reference_rules(), t.fields(), &rows, &[]);
        assert_eq!(
            s.iter().map(|x| (x.field.as_str(), x.text.as_str())).collect::<Vec<_>>(),
            [("BHDMC", "某自然保护区"), ("GNFQ", "核心区")]
        );
        let outside =
            suggestions(t.reference_rules(), t.fields(), &[], &[(1, ReferenceKind::ProtectedArea, "保护地".into())]);
        assert_eq!(outside.iter().map(|x| x.text.as_str()).collect::<Vec<_>>(), ["非保护地"]);
    }
}
