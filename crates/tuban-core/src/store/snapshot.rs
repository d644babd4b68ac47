//! What a seal covers, read from the data and never from the seal tables: one item per patch
//! (every column of `patches` as stored, the geometry as issued and as delivered, comments),
//! photo, case (with its patches and steps) and attachment, each a map of field to canonical
//! text, with blobs (geometry, photo and attachment bytes) as their SHA-256.
//! The digest is a two-level hash: each field, then each item, then the whole, so a receipt that
//! keeps the item and field digests can name what changed without holding the data itself.
//!
//! Digest version 1 (the seals made before receipts existed) is kept as it was in
//! [`snapshot_v1`] and [`digest_v1`], so those seals still verify by their own rule.
//! Empty and NULL values are left out of version 2, so a column added by a schema migration
//! (`prior_penalty` in schema 2) does not change the digest of an older file.

use std::collections::BTreeMap;

use rusqlite::types::ValueRef;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Project, Result};

/// The digest rule of new seals.
pub const DIGEST_VERSION: u32 = 2;

/// Which row an item is: `patch`, `photo`, `case` or `attachment`, and its row id (`#12`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ItemId {
    /// `patch`, `photo`, `case` or `attachment`.
    pub kind: String,
    /// The row id, `#fid` for patches.
    pub id: String,
}

/// One sealed row: a label for people (patch key, file name, case number) and its fields.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SealItem {
    /// What people call it; not part of the digest (the fields it comes from are).
    pub label: String,
    /// Field name → canonical text (blobs as `sha256:HEX`).
    pub fields: BTreeMap<String, String>,
}

/// Every sealed item of a project, as the data says now.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// Items in a fixed order.
    pub items: BTreeMap<ItemId, SealItem>,
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The digest of one field: SHA-256 of its name and text.
pub fn field_digest(name: &str, text: &str) -> String {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0]);
    h.update(text.as_bytes());
    hex(&h.finalize())
}

/// The digest of one item from the digests of its fields (name → hex).
pub fn item_digest<'a>(id: &ItemId, fields: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    let mut h = Sha256::new();
    h.update(id.kind.as_bytes());
    h.update([0]);
    h.update(id.id.as_bytes());
    for (name, digest) in fields {
        h.update([0xfe]);
        h.update(name.as_bytes());
        h.update([0]);
        h.update(digest.as_bytes());
    }
    hex(&h.finalize())
}

/// The digest of a whole seal from the digests of its items, in [`ItemId`] order.
pub fn total_digest<'a>(items: impl IntoIterator<Item = (&'a ItemId, &'a String)>) -> String {
    let mut h = Sha256::new();
    // The rule's name is fixed: a later rule gets its own function, so old receipts keep theirs.
    h.update(b"tuban seal digest v2");
    for (id, digest) in items {
        h.update([0xff]);
        h.update(id.kind.as_bytes());
        h.update([0]);
        h.update(id.id.as_bytes());
        h.update([0]);
        h.update(digest.as_bytes());
    }
    hex(&h.finalize())
}

impl SealItem {
    /// Field name → digest of the field.
    pub fn field_digests(&self) -> BTreeMap<String, String> {
        self.fields.iter().map(|(n, t)| (n.clone(), field_digest(n, t))).collect()
    }
}

impl Snapshot {
    /// Item → digest of the item.
    pub fn item_digests(&self) -> BTreeMap<ItemId, String> {
        self.items.iter().map(|(id, item)| (id.clone(), item_digest(id, &item.field_digests()))).collect()
    }

    /// The digest of the whole (version [`DIGEST_VERSION`]), hex.
    pub fn digest(&self) -> String {
        total_digest(&self.item_digests())
    }

    /// How many items of `kind` there are.
    pub fn count(&self, kind: &str) -> usize {
        self.items.keys().filter(|id| id.kind == kind).count()
    }
}

/// The canonical text of an SQL value: numbers as Rust prints them, blobs as their SHA-256;
/// `None` for NULL and empty text.
fn canonical(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()).filter(|s| !s.is_empty()),
        ValueRef::Blob(b) => Some(format!("sha256:{}", hex(&Sha256::digest(b)))),
    }
}

/// Rows of `sql` as id → column → canonical text: the first column is the row id, the others
/// are named by `names`.
fn query_rows(p: &Project, sql: &str, names: &[String]) -> Result<Vec<(i64, BTreeMap<String, String>)>> {
    let mut st = p.conn.prepare(sql).map_err(p.sq())?;
    let mut out = Vec::new();
    let mut q = st.query([]).map_err(p.sq())?;
    while let Some(r) = q.next().map_err(p.sq())? {
        let id: i64 = r.get(0).map_err(p.sq())?;
        let mut fields = BTreeMap::new();
        for (i, name) in names.iter().enumerate() {
            if let Some(text) = canonical(r.get_ref(i + 1).map_err(p.sq())?) {
                fields.insert(name.clone(), text);
            }
        }
        out.push((id, fields));
    }
    Ok(out)
}

/// Every column of `table` but `id` and `skip`, as [`query_rows`] gives them. The names come
/// from `pragma_table_info` as values (rusqlite's column names panic on a damaged file).
fn table_rows(p: &Project, table: &str, id: &str, skip: &[&str]) -> Result<Vec<(i64, BTreeMap<String, String>)>> {
    let mut st = p.conn.prepare("SELECT name FROM pragma_table_info(?1)").map_err(p.sq())?;
    let names = st
        .query_map([table], |r| {
            Ok(match r.get_ref(0)? {
                ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
                _ => String::new(),
            })
        })
        .map_err(p.sq())?
        .collect::<rusqlite::Result<Vec<String>>>()
        .map_err(p.sq())?;
    // `uid` (schema 5) names a row across copies of a project; it is not review data, and a
    // project sealed before it existed keeps its digest.
    let names: Vec<String> =
        names.into_iter().filter(|n| n != id && n != "uid" && !skip.contains(&n.as_str())).collect();
    let quoted: Vec<String> = std::iter::once(id.to_string())
        .chain(names.iter().cloned())
        .map(|n| format!("\"{}\"", n.replace('"', "\"\"")))
        .collect();
    query_rows(p, &format!("SELECT {} FROM {table}", quoted.join(", ")), &names)
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn table_exists(p: &Project, table: &str) -> Result<bool> {
    let n: i64 = p
        .conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?1", [table], |r| {
            r.get(0)
        })
        .map_err(p.sq())?;
    let temp: i64 = p
        .conn
        .query_row("SELECT count(*) FROM sqlite_temp_master WHERE name = ?1", [table], |r| r.get(0))
        .map_err(p.sq())?;
    Ok(n + temp > 0)
}

fn insert(
    items: &mut BTreeMap<ItemId, SealItem>,
    kind: &str,
    id: i64,
    label: String,
    fields: BTreeMap<String, String>,
) {
    items.insert(ItemId { kind: kind.into(), id: format!("#{id}") }, SealItem { label, fields });
}

impl Project {
    /// Reads every sealed item from the data (digest version [`DIGEST_VERSION`]).
    pub fn seal_snapshot(&self) -> Result<Snapshot> {
        let mut items = BTreeMap::new();
        let keys: BTreeMap<i64, String> = self.patches_with_split()?.into_iter().map(|r| (r.fid, r.key)).collect();
        let mut patches: BTreeMap<i64, BTreeMap<String, String>> =
            table_rows(self, "patches", "fid", &["updated_at"])?.into_iter().collect();
        // Delivered geometry and comments belong to their patch: a deleted patch row shows as
        // removed whatever is left of it elsewhere.
        // (The digest of the delivered blob as rebuilt, so it does not depend on how it is kept;
        // one that cannot be rebuilt shows as changed.)
        for (fid, srs_id, blob) in self.source_blobs()? {
            if let Some(e) = patches.get_mut(&fid) {
                e.insert("(delivered srs_id)".into(), srs_id.to_string());
                let text = match blob {
                    Ok(b) => canonical(ValueRef::Blob(&b)).unwrap_or_default(),
                    Err(err) => format!("damaged: {err}"),
                };
                e.insert("(delivered geom)".into(), text);
            }
        }
        for (id, f) in query_rows(
            self,
            "SELECT id, patch_fid, time, user, text FROM tuban_comments",
            &names(&["patch_fid", "time", "user", "text"]),
        )? {
            let fid = f.get("patch_fid").and_then(|s| s.parse::<i64>().ok()).unwrap_or_default();
            if let Some(e) = patches.get_mut(&fid) {
                e.insert(format!("(comment #{id})"), serde_json::to_string(&f).unwrap_or_default());
            }
        }
        for (fid, fields) in patches {
            let label = keys.get(&fid).cloned().unwrap_or_else(|| format!("#{fid}"));
            insert(&mut items, "patch", fid, label, fields);
        }
        for (id, f) in table_rows(self, "tuban_photos", "id", &["thumbnail"])? {
            let label = f.get("file_name").cloned().unwrap_or_default();
            insert(&mut items, "photo", id, label, f);
        }
        let mut cases: BTreeMap<i64, BTreeMap<String, String>> =
            table_rows(self, "tuban_cases", "id", &[])?.into_iter().collect();
        for (case, f) in query_rows(
            self,
            "SELECT case_id, group_concat(patch_fid) FROM (SELECT case_id, patch_fid FROM tuban_case_patches ORDER BY patch_fid) GROUP BY case_id",
            &names(&["patches"]),
        )? {
            let linked = f.into_values().next().unwrap_or_default();
            cases.entry(case).or_default().insert("(patches)".into(), linked);
        }
        for (id, f) in table_rows(self, "tuban_case_steps", "id", &[])? {
            let case = f.get("case_id").and_then(|s| s.parse::<i64>().ok()).unwrap_or_default();
            let text = serde_json::to_string(&f).unwrap_or_default();
            cases.entry(case).or_default().insert(format!("(step #{id})"), text);
        }
        for (id, fields) in cases {
            let label = fields.get("number").cloned().unwrap_or_else(|| format!("#{id}"));
            insert(&mut items, "case", id, label, fields);
        }
        if table_exists(self, "tuban_case_attachments")? {
            for (id, f) in table_rows(self, "tuban_case_attachments", "id", &[])? {
                let label = f.get("file_name").cloned().unwrap_or_default();
                insert(&mut items, "attachment", id, label, f);
            }
        }
        Ok(Snapshot { items })
    }
}

/// The sealed items by digest version 1: (kind, key) → canonical text of the item.
pub(super) fn snapshot_v1(p: &Project) -> Result<BTreeMap<(String, String), String>> {
    let mut items = BTreeMap::new();
    let t = p.template();
    let geoms: BTreeMap<i64, Vec<u8>> = {
        let mut st = p.conn.prepare("SELECT fid, geom FROM patches").map_err(p.sq())?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<Vec<u8>>>(1)?.unwrap_or_default())))
            .map_err(p.sq())?;
        rows.collect::<rusqlite::Result<BTreeMap<_, _>>>().map_err(p.sq())?
    };
    for r in p.patches()? {
        let mut fields = BTreeMap::new();
        for (f, v) in t.fields().iter().zip(&r.values) {
            fields.insert(f.name.clone(), v.to_string());
        }
        fields.insert(
            "(geometry sha256)".into(),
            hex(&Sha256::digest(geoms.get(&r.fid).map(Vec::as_slice).unwrap_or_default())),
        );
        fields.insert("(status)".into(), r.status.as_str().into());
        items.insert(
            ("patch".to_string(), format!("{} (#{})", r.key, r.fid)),
            serde_json::to_string(&fields).unwrap_or_default(),
        );
    }
    for (table, kind, sql) in [
        ("tuban_photos", "photo", "SELECT id, coalesce(file_name, '') || ' ' || coalesce(patch_fid, '') || ' ' || coalesce(caption, '') || ' ' || coalesce(kind, '') || ' ', data FROM tuban_photos"),
        // prior_penalty (schema 2) only when filled, so seals made under schema 1 still verify.
        ("tuban_cases", "case", "SELECT id, json_patch(json_object('number', number, 'party', party, 'department', department, 'investigation', investigation, 'rectification', rectification, 'measures', measures, 'penalty_doc', penalty_doc, 'fine_yuan', fine_yuan, 'deadline', deadline, 'closed_on', closed_on, 'patches', (SELECT group_concat(patch_fid) FROM tuban_case_patches WHERE case_id = tuban_cases.id)), CASE WHEN prior_penalty <> '' THEN json_object('prior_penalty', prior_penalty) ELSE '{}' END) FROM tuban_cases"),
        ("tuban_case_attachments", "attachment", "SELECT id, (SELECT number FROM tuban_cases WHERE id = case_id) || ' ' || file_name || ' ' || kind || ' ', data FROM tuban_case_attachments"),
    ] {
        if !table_exists(p, table)? {
            continue;
        }
        let mut st = p.conn.prepare(sql).map_err(p.sq())?;
        // Photos and attachments: the digest of the bytes as they are now.
        let with_data = st.column_count() > 2;
        let rows = st
            .query_map([], |r| {
                let mut text = r.get::<_, String>(1)?;
                if with_data {
                    text.push_str(&hex(&Sha256::digest(r.get::<_, Vec<u8>>(2)?)).to_uppercase());
                }
                Ok((r.get::<_, i64>(0)?, text))
            })
            .map_err(p.sq())?;
        for row in rows {
            let (id, text) = row.map_err(p.sq())?;
            items.insert((kind.to_string(), format!("#{id}")), text);
        }
    }
    Ok(items)
}

/// The digest of version-1 items, hex.
pub(super) fn digest_v1(items: &BTreeMap<(String, String), String>) -> String {
    let mut h = Sha256::new();
    for ((kind, key), text) in items {
        h.update(kind.as_bytes());
        h.update([0]);
        h.update(key.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        h.update([0xff]);
    }
    hex(&h.finalize())
}
