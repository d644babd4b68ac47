//! Templates: the attribute form of a programme (fields, code lists, rules), read from TOML.
//!
//! Templates are data, not code: three ship in `assets/templates/`, a project keeps its own copy,
//! and a bureau can export, edit and import one. Field names follow the DBF rule (ASCII, ≤ 10 bytes)
//! so the upload shapefile keeps every field.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::expr::{Expr, ExprError};
pub use crate::field::{Code, Field, FieldKind, Fill};
use crate::reference_rules::{conventional_rules, ReferenceRule};
use crate::roles::RoleError;
pub use crate::roles::Roles;

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
    /// What an edited extent may do.
    #[serde(default, skip_serializing_if = "GeometryRules::is_default")]
    pub geometry: GeometryRules,
    /// Which fields the reference layers fill or suggest (`[[reference]]`); a template without
    /// any gets [`conventional_rules`] for the fields it has.
    #[serde(default, rename = "reference", skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<ReferenceRule>,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// What the analyst may do to a patch's extent (`[geometry]` in the template).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeometryRules {
    /// The verified extent and every 细斑 must lie within the issued patch (0.01 亩 tolerance).
    #[serde(default = "yes")]
    pub verified_within_issued: bool,
}

impl Default for GeometryRules {
    fn default() -> Self {
        GeometryRules { verified_within_issued: true }
    }
}

impl GeometryRules {
    fn is_default(&self) -> bool {
        *self == GeometryRules::default()
    }
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
    "verified_geom",
    "parent_fid",
    "split_state",
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
        spec.roles.resolve(&spec.fields).map_err(|e| match e {
            RoleError::Unknown { what, name } => unknown(&what, &name),
            RoleError::Unfit { name, reason } => bad(&name, &reason),
        })?;
        if spec.references.is_empty() {
            spec.references = conventional_rules(&spec.fields, &spec.roles);
        }
        if let Some(r) = spec.references.iter().find(|r| !has(&r.field)) {
            return Err(unknown(&format!("reference {}", r.kind.code()), &r.field));
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

    /// Which fields the reference layers fill or suggest.
    pub fn reference_rules(&self) -> &[ReferenceRule] {
        &self.spec.references
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
