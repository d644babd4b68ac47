//! Templates: the attribute form of a programme (fields, code lists, rules), read from TOML.
//!
//! Templates are data, not code: three ship in `assets/templates/`, a project keeps its own copy,
//! and a bureau can export, edit and import one. Field names follow the DBF rule (ASCII, ≤ 10 bytes)
//! so the upload shapefile keeps every field.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::expr::{Expr, ExprError};
use super::units::Unit;

/// The programme a template serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Programme {
    /// 草原变化图斑核查处置.
    Grassland,
    /// 森林督查.
    Forest,
    /// 自然生态破坏问题大排查.
    Eco,
}

impl Programme {
    /// Chinese name.
    pub fn label(self) -> &'static str {
        match self {
            Programme::Grassland => "草原变化图斑核查处置",
            Programme::Forest => "森林督查",
            Programme::Eco => "自然生态破坏问题大排查",
        }
    }
}

/// One entry of a code list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "CodeSpec", into = "CodeSpec")]
pub struct Code {
    /// Stored value.
    pub code: String,
    /// Shown label (equal to `code` when the list has no separate codes).
    pub label: String,
}

impl Code {
    /// `01 农业用地`, or just the label when code and label are the same.
    pub fn display(&self) -> String {
        if self.code == self.label {
            self.label.clone()
        } else {
            format!("{} {}", self.code, self.label)
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum CodeSpec {
    Plain(String),
    Pair { code: String, label: String },
}

impl From<CodeSpec> for Code {
    fn from(s: CodeSpec) -> Code {
        match s {
            CodeSpec::Plain(t) => Code { code: t.clone(), label: t },
            CodeSpec::Pair { code, label } => Code { code, label },
        }
    }
}

impl From<Code> for CodeSpec {
    fn from(c: Code) -> CodeSpec {
        if c.code == c.label {
            CodeSpec::Plain(c.label)
        } else {
            CodeSpec::Pair { code: c.code, label: c.label }
        }
    }
}

/// The type of a field and what belongs to that type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FieldKind {
    /// Free text, at most `length` GBK bytes.
    Text {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        length: Option<usize>,
    },
    /// Whole number.
    Integer,
    /// Decimal number with an optional unit.
    Decimal {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<Unit>,
        #[serde(default = "default_decimals")]
        decimals: u8,
    },
    /// Calendar date.
    Date,
    /// A value from a code list (single or multiple choice).
    Code {
        codes: Vec<Code>,
        #[serde(default)]
        multiple: bool,
    },
    /// Yes / no.
    Boolean,
}

fn default_decimals() -> u8 {
    2
}

/// Where a field's value comes from when the delivered data does not have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fill {
    /// Ellipsoidal area of the patch, in the field's unit.
    Area,
    /// Longitude of the patch centre (CGCS2000).
    CenterLon,
    /// Latitude of the patch centre (CGCS2000).
    CenterLat,
    /// The project's county code.
    CountyCode,
    /// The project's monitoring year.
    Year,
}

/// One field of a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// Column name: ASCII, ≤ 10 bytes (DBF rule).
    pub name: String,
    /// Chinese label.
    pub label: String,
    /// English label.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label_en: String,
    /// Type.
    #[serde(flatten)]
    pub kind: FieldKind,
    /// Issued by the authority: read-only for the analyst, updated by later batches.
    #[serde(default, skip_serializing_if = "is_false")]
    pub issued: bool,
    /// Must be filled once a patch is reviewed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    /// Other names of this field in delivered data (matched case-insensitively).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Filled at import when the source has no value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill: Option<Fill>,
    /// A computed yes/no field: the condition that makes it true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<String>,
    /// Help text shown next to the widget.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub help: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Field {
    /// The unit of a decimal field.
    pub fn unit(&self) -> Option<Unit> {
        match self.kind {
            FieldKind::Decimal { unit, .. } => unit,
            _ => None,
        }
    }

    /// True when the analyst may not type into this field.
    pub fn is_read_only(&self) -> bool {
        self.issued || self.compute.is_some()
    }

    /// The code list of a code field.
    pub fn codes(&self) -> &[Code] {
        match &self.kind {
            FieldKind::Code { codes, .. } => codes,
            _ => &[],
        }
    }
}

/// Fields with a fixed meaning in the workflow.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Roles {
    /// Patch identifier (图斑编号).
    pub id: String,
    /// Sub-patch identifier (细斑号).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_id: Option<String>,
    /// Verdict (核查结论).
    pub verdict: String,
    /// Township name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub township: Option<String>,
    /// Village name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub village: Option<String>,
    /// Date of the before imagery (前时相).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_date: Option<String>,
    /// Date of the after imagery (后时相).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_date: Option<String>,
    /// Verdict values that mean an illegal case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub illegal_verdicts: Vec<String>,
    /// Illegal area (违法面积): a number with a unit; the ledger sums it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub illegal_area: Option<String>,
    /// Suspected crime (涉嫌刑事): a yes/no field the ledger sets on delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criminal_flag: Option<String>,
    /// Party (当事人 / 用地单位): becomes the party of a new case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<String>,
    /// Address (地址) of a clue added by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Free note (备注): holds a clue's address when the template has no address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Clue source (线索来源: 遥感, 绿盾, 信访 …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clue_source: Option<String>,
    /// Verified change reason (核实变化原因): a report table counts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_reason: Option<String>,
    /// Land class before (前地类).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub land_before: Option<String>,
    /// Land class now (现地类).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub land_after: Option<String>,
}

/// The field names that played the optional roles before templates named them: a template
/// stored by an earlier tuban gets these roles when it has a field of the name.
/// A role's slot in [`Roles`].
type RoleSlot = fn(&mut Roles) -> &mut Option<String>;

const CONVENTIONAL_ROLES: [(RoleSlot, &str); 9] = [
    (|r| &mut r.illegal_area, "WFMJ"),
    (|r| &mut r.criminal_flag, "SFSX"),
    (|r| &mut r.party, "DSR"),
    (|r| &mut r.address, "DZ"),
    (|r| &mut r.note, "BZ"),
    (|r| &mut r.clue_source, "XSLY"),
    (|r| &mut r.change_reason, "HSBHYY"),
    (|r| &mut r.land_before, "QDL"),
    (|r| &mut r.land_after, "XDL"),
];

impl Roles {
    /// Fills each optional role left empty with its conventional field name, when the template
    /// has that field (see [`CONVENTIONAL_ROLES`]).
    fn fill_conventional(&mut self, has: impl Fn(&str) -> bool) {
        for (role, name) in CONVENTIONAL_ROLES {
            let slot = role(self);
            if slot.is_none() && has(name) {
                *slot = Some(name.to_string());
            }
        }
    }
}

/// Error or warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Must be fixed before the patch counts as done.
    #[default]
    Error,
    /// Worth a look.
    Warning,
}

/// A rule: when `when` holds, `require` must be filled and `check` must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Short identifier, shown with problems.
    pub id: String,
    /// When the rule applies (always when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Fields that must be filled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<String>,
    /// A condition that must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// Error or warning.
    #[serde(default)]
    pub severity: Severity,
    /// Message in Chinese.
    pub message: String,
    /// Message in English.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message_en: String,
}

/// The template as written in TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateSpec {
    /// Short identifier: grassland, forest, eco or a bureau's own.
    pub id: String,
    /// Chinese name.
    pub name: String,
    /// English name.
    #[serde(default)]
    pub name_en: String,
    /// The programme.
    pub programme: Programme,
    /// Edition of this template; bump when editing.
    #[serde(default = "one")]
    pub version: u32,
    /// Fields with a fixed meaning.
    pub roles: Roles,
    /// Fields in form order.
    #[serde(rename = "field")]
    pub fields: Vec<Field>,
    /// Rules.
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
}

fn one() -> u32 {
    1
}

/// A checked template with its conditions parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The template as written.
    pub spec: TemplateSpec,
    /// Parsed `when` and `check` of each rule, in rule order.
    pub(crate) rule_exprs: Vec<(Option<Expr>, Option<Expr>)>,
    /// Parsed `compute` of each field, in field order.
    pub(crate) compute_exprs: Vec<Option<Expr>>,
}

/// Column names tuban itself uses in the `patches` table; no template field may take them.
pub const RESERVED_NAMES: &[&str] = &[
    "fid",
    "geom",
    "review_status",
    "area_m2",
    "area_mu",
    "area_ha",
    "center_lon",
    "center_lat",
    "batch_id",
    "import_issues",
    "extra_attrs",
    "updated_at",
    "verdict_imagery",
    "review_flags",
    "confidence",
];

/// Why a template cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// Not valid TOML or missing keys.
    #[error("{source_name}: not a valid template: {message}")]
    Syntax { source_name: String, message: String },
    /// A field name breaks the DBF rule or repeats.
    #[error("{source_name}: field “{name}”: {reason}")]
    BadField { source_name: String, name: String, reason: String },
    /// A role or rule names a field that does not exist.
    #[error("{source_name}: {what} names field “{name}”, which the template does not have")]
    UnknownField { source_name: String, what: String, name: String },
    /// A condition does not parse.
    #[error("{source_name}: {cause}")]
    Expr { source_name: String, cause: ExprError },
    /// Unknown built-in template name.
    #[error("no built-in template “{0}” (choose grassland, forest or eco)")]
    UnknownBuiltin(String),
}

/// The built-in templates: (id, TOML text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("grassland", include_str!("../../../assets/templates/grassland.toml")),
    ("forest", include_str!("../../../assets/templates/forest.toml")),
    ("eco", include_str!("../../../assets/templates/eco.toml")),
];

impl Template {
    /// One of the templates shipped with tuban.
    pub fn builtin(id: &str) -> Result<Template, TemplateError> {
        let (_, text) =
            BUILTIN.iter().find(|(n, _)| *n == id).ok_or_else(|| TemplateError::UnknownBuiltin(id.to_string()))?;
        Template::from_toml(text, &format!("{id}.toml"))
    }

    /// Parses and checks a template; `source_name` names the file in messages.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Template, TemplateError> {
        let spec: TemplateSpec = toml::from_str(text)
            .map_err(|e| TemplateError::Syntax { source_name: source_name.to_string(), message: e.to_string() })?;
        Template::from_spec(spec, source_name)
    }

    /// Checks a template spec and parses its conditions.
    pub fn from_spec(mut spec: TemplateSpec, source_name: &str) -> Result<Template, TemplateError> {
        let sn = || source_name.to_string();
        let bad = |name: &str, reason: &str| TemplateError::BadField {
            source_name: sn(),
            name: name.to_string(),
            reason: reason.to_string(),
        };
        if spec.fields.is_empty() {
            return Err(TemplateError::Syntax { source_name: sn(), message: "the template has no fields".into() });
        }
        let mut seen = HashSet::new();
        for f in &spec.fields {
            let n = &f.name;
            if n.is_empty() || !n.is_ascii() || n.len() > 10 {
                return Err(bad(n, "a field name must be 1-10 ASCII bytes (DBF rule)"));
            }
            if !n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(bad(n, "a field name must start with a letter and hold only letters, digits and _"));
            }
            if RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(n)) {
                return Err(bad(n, "this name is used by tuban itself"));
            }
            if !seen.insert(n.to_ascii_uppercase()) {
                return Err(bad(n, "the name appears twice"));
            }
            if let FieldKind::Code { codes, .. } = &f.kind {
                if codes.is_empty() {
                    return Err(bad(n, "a code field needs at least one code"));
                }
            }
            if f.compute.is_some() && f.kind != FieldKind::Boolean {
                return Err(bad(n, "a computed field must be of type boolean"));
            }
        }
        let has = |name: &str| spec.fields.iter().any(|f| f.name == name);
        let unknown = |what: &str, name: &str| TemplateError::UnknownField {
            source_name: sn(),
            what: what.to_string(),
            name: name.to_string(),
        };
        let names: HashSet<String> = spec.fields.iter().map(|f| f.name.clone()).collect();
        spec.roles.fill_conventional(|n| names.contains(n));
        let r = &spec.roles;
        for (what, name) in [
            ("roles.id", Some(&r.id)),
            ("roles.verdict", Some(&r.verdict)),
            ("roles.sub_id", r.sub_id.as_ref()),
            ("roles.township", r.township.as_ref()),
            ("roles.village", r.village.as_ref()),
            ("roles.before_date", r.before_date.as_ref()),
            ("roles.after_date", r.after_date.as_ref()),
            ("roles.illegal_area", r.illegal_area.as_ref()),
            ("roles.criminal_flag", r.criminal_flag.as_ref()),
            ("roles.party", r.party.as_ref()),
            ("roles.address", r.address.as_ref()),
            ("roles.note", r.note.as_ref()),
            ("roles.clue_source", r.clue_source.as_ref()),
            ("roles.change_reason", r.change_reason.as_ref()),
            ("roles.land_before", r.land_before.as_ref()),
            ("roles.land_after", r.land_after.as_ref()),
        ] {
            if let Some(name) = name {
                if !has(name) {
                    return Err(unknown(what, name));
                }
            }
        }
        let kind_of = |name: &Option<String>| name.as_deref().and_then(|n| spec.fields.iter().find(|f| f.name == n));
        if let Some(f) = kind_of(&r.criminal_flag).filter(|f| f.kind != FieldKind::Boolean) {
            return Err(bad(&f.name, "roles.criminal_flag must name a yes/no (boolean) field"));
        }
        if let Some(f) = kind_of(&r.illegal_area).filter(|f| !matches!(f.kind, FieldKind::Decimal { .. })) {
            return Err(bad(&f.name, "roles.illegal_area must name a decimal field (with a unit)"));
        }
        if let Some(verdict) = spec.fields.iter().find(|f| f.name == r.verdict) {
            let codes = verdict.codes();
            if codes.is_empty() {
                return Err(bad(&verdict.name, "the verdict field must be a code list"));
            }
            for v in &r.illegal_verdicts {
                if !codes.iter().any(|c| &c.code == v) {
                    return Err(bad(
                        &verdict.name,
                        &format!("roles.illegal_verdicts names “{v}”, which is not in its code list"),
                    ));
                }
            }
        }
        let parse = |text: &str| {
            Expr::parse(text, &has).map_err(|source| TemplateError::Expr { source_name: sn(), cause: source })
        };
        let mut rule_exprs = Vec::with_capacity(spec.rules.len());
        for rule in &spec.rules {
            for f in &rule.require {
                if !has(f) {
                    return Err(unknown(&format!("rule {}", rule.id), f));
                }
            }
            let when = rule.when.as_deref().map(parse).transpose()?;
            let check = rule.check.as_deref().map(parse).transpose()?;
            rule_exprs.push((when, check));
        }
        let compute_exprs =
            spec.fields.iter().map(|f| f.compute.as_deref().map(parse).transpose()).collect::<Result<Vec<_>, _>>()?;
        Ok(Template { spec, rule_exprs, compute_exprs })
    }

    /// The template as TOML, for export and for the copy kept in the project.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(&self.spec).unwrap_or_default()
    }

    /// Fields in form order.
    pub fn fields(&self) -> &[Field] {
        &self.spec.fields
    }

    /// A field by name (exact, then case-insensitive).
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.spec
            .fields
            .iter()
            .find(|f| f.name == name)
            .or_else(|| self.spec.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)))
    }

    /// Roles of fields.
    pub fn roles(&self) -> &Roles {
        &self.spec.roles
    }

    /// The template field a source field maps to: by name, label or alias, ignoring case.
    pub fn map_source_field(&self, source_name: &str) -> Option<&Field> {
        let s = source_name.trim();
        self.spec.fields.iter().find(|f| f.name.eq_ignore_ascii_case(s)).or_else(|| {
            self.spec.fields.iter().find(|f| f.label == s || f.aliases.iter().any(|a| a.eq_ignore_ascii_case(s)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_load() {
        for (id, _) in BUILTIN {
            let t = Template::builtin(id).unwrap();
            assert!(t.fields().len() > 5, "{id}");
            let again = Template::from_toml(&t.to_toml(), "roundtrip").unwrap();
            assert_eq!(again.spec, t.spec, "{id} survives a TOML round trip");
        }
    }

    #[test]
    fn grassland_maps_aliases() {
        let t = Template::builtin("grassland").unwrap();
        assert_eq!(t.map_source_field("tbbh").unwrap().name, "TBBH");
        assert_eq!(t.map_source_field("图斑编号").unwrap().name, "TBBH");
        assert_eq!(t.map_source_field("JCBH").unwrap().name, "TBBH");
        assert!(t.map_source_field("SHAPE_Leng").is_none());
    }

    #[test]
    fn rejects_bad_names() {
        let t = Template::builtin("grassland").unwrap();
        let mut spec = t.spec.clone();
        spec.fields[1].name = "TOOLONGNAME1".into();
        let e = Template::from_spec(spec, "x.toml").unwrap_err();
        assert!(e.to_string().contains("TOOLONGNAME1"), "{e}");
        let mut spec = t.spec.clone();
        spec.fields[1].name = "area_m2".into();
        assert!(Template::from_spec(spec, "x.toml").is_err());
        let mut spec = t.spec.clone();
        spec.rules[0].check = Some("NOFIELD < 3".into());
        let e = Template::from_spec(spec, "x.toml").unwrap_err();
        assert!(e.to_string().contains("NOFIELD"), "{e}");
    }

    #[test]
    fn roles_name_fields_and_templates_without_them_get_the_conventional_names() {
        let t = Template::builtin("forest").unwrap();
        assert_eq!(t.roles().change_reason.as_deref(), Some("BHYY"));
        assert_eq!(t.roles().criminal_flag, None, "the forest template has no SFSX");
        // A grassland template as an earlier tuban stored it: no optional roles.
        let text = BUILTIN.iter().find(|(id, _)| *id == "grassland").unwrap().1;
        let old: String = text
            .lines()
            .filter(|l| {
                !["illegal_area", "criminal_flag", "party", "note", "change_reason", "land_"]
                    .iter()
                    .any(|r| l.starts_with(r))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(!old.contains("criminal_flag ="));
        let t = Template::from_toml(&old, "old.toml").unwrap();
        let r = t.roles();
        assert_eq!(
            (r.illegal_area.as_deref(), r.criminal_flag.as_deref(), r.party.as_deref()),
            (Some("WFMJ"), Some("SFSX"), Some("DSR"))
        );
        assert_eq!(
            (r.change_reason.as_deref(), r.land_before.as_deref(), r.address.as_deref()),
            (Some("HSBHYY"), Some("QDL"), None)
        );
        // A role must name a field of the right kind.
        let mut spec = Template::builtin("grassland").unwrap().spec;
        spec.roles.criminal_flag = Some("DSR".into());
        let e = Template::from_spec(spec.clone(), "x.toml").unwrap_err();
        assert!(e.to_string().contains("criminal_flag"), "{e}");
        spec.roles.criminal_flag = Some("NOPE".into());
        assert!(Template::from_spec(spec, "x.toml").unwrap_err().to_string().contains("NOPE"));
    }
}
