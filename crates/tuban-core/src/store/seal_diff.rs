//! Naming what changed since a seal: the sealed items (from a receipt's digests, or from the
//! values kept in the file) against a [`Snapshot`] of the data now, item by item and field by
//! field, including rows deleted and rows added.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::snapshot::{ItemId, Snapshot};

/// One item as it was sealed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SealedItem {
    /// What people call it (patch key, file name, case number) at the seal.
    pub label: String,
    /// The item's digest, hex.
    pub digest: String,
    /// Field name → the field's digest, hex (a receipt may keep only a prefix).
    pub fields: BTreeMap<String, String>,
    /// Field name → text, when the sealed values are known (the file's own seal items).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, String>,
}

/// How one field differs.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldChange {
    /// Both have it, with different values (`before` when known).
    Changed { before: Option<String>, after: String },
    /// The seal has it, the data no longer does (`before` when known).
    Removed { before: Option<String> },
    /// The data has it, the seal did not.
    Added { after: String },
}

/// How one item differs.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The row was deleted since the seal.
    Removed,
    /// The row is new since the seal.
    Added,
    /// These fields differ.
    Fields(Vec<(String, FieldChange)>),
}

/// One item that differs from the seal.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// Which row.
    pub item: ItemId,
    /// What people call it.
    pub label: String,
    /// What differs.
    pub change: Change,
}

impl Difference {
    /// The names of the fields that differ (empty for a removed or added row).
    pub fn fields(&self) -> Vec<&str> {
        match &self.change {
            Change::Fields(f) => f.iter().map(|(n, _)| n.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

/// Long values (blob digests, JSON of comments) shortened for a line of text.
fn short(text: &str) -> String {
    let mut s: String = text.chars().take(80).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldChange::Changed { before: Some(b), after } => write!(f, "{} → {}", short(b), short(after)),
            FieldChange::Changed { before: None, after } => write!(f, "已改变 / changed → {}", short(after)),
            FieldChange::Removed { before: Some(b) } => write!(f, "已删除 / removed ({})", short(b)),
            FieldChange::Removed { before: None } => write!(f, "已删除 / removed"),
            FieldChange::Added { after } => write!(f, "新增 / added → {}", short(after)),
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({}): ", self.item.kind, self.label, self.item.id)?;
        match &self.change {
            Change::Removed => write!(f, "封库后被删除 / removed since the seal"),
            Change::Added => write!(f, "封库后新增 / added since the seal"),
            Change::Fields(fields) => {
                let parts: Vec<String> = fields.iter().map(|(n, c)| format!("{n}: {c}")).collect();
                write!(f, "{}", parts.join("; "))
            }
        }
    }
}

/// True when the digest `now` matches the sealed digest or prefix `sealed`.
fn same(sealed: &str, now: &str) -> bool {
    !sealed.is_empty() && now.starts_with(sealed)
}

/// Every item of `sealed` that differs from `now`, and every item of `now` not sealed.
pub fn compare(sealed: &BTreeMap<ItemId, SealedItem>, now: &Snapshot) -> Vec<Difference> {
    let digests_now = now.item_digests();
    let mut out = Vec::new();
    for (id, s) in sealed {
        let (Some(item), Some(digest)) = (now.items.get(id), digests_now.get(id)) else {
            out.push(Difference { item: id.clone(), label: s.label.clone(), change: Change::Removed });
            continue;
        };
        if same(&s.digest, digest) {
            continue;
        }
        let fields_now = item.field_digests();
        let mut changes = Vec::new();
        for (name, d) in &s.fields {
            let before = s.values.get(name).cloned();
            match (item.fields.get(name), fields_now.get(name)) {
                (Some(after), Some(dn)) if !same(d, dn) => {
                    changes.push((name.clone(), FieldChange::Changed { before, after: after.clone() }))
                }
                (None, _) | (_, None) => changes.push((name.clone(), FieldChange::Removed { before })),
                _ => {}
            }
        }
        for (name, after) in &item.fields {
            if !s.fields.contains_key(name) {
                changes.push((name.clone(), FieldChange::Added { after: after.clone() }));
            }
        }
        if changes.is_empty() {
            changes.push(("(内容 / content)".into(), FieldChange::Changed { before: None, after: String::new() }));
        }
        let label = if s.label.is_empty() { item.label.clone() } else { s.label.clone() };
        out.push(Difference { item: id.clone(), label, change: Change::Fields(changes) });
    }
    for (id, item) in &now.items {
        if !sealed.contains_key(id) {
            out.push(Difference { item: id.clone(), label: item.label.clone(), change: Change::Added });
        }
    }
    out
}
