//! A template's fields: name, labels, type (text, integer, decimal with a unit, date, code list,
//! yes/no), code lists, and where a value comes from when the delivered data lacks it.

use serde::{Deserialize, Serialize};

use crate::units::Unit;

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
