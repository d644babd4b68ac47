//! Sealing (封库): a digest of all review data (patches with every field and geometry, photos,
//! cases) recorded with time and user; afterwards every edit is refused until the project is
//! unsealed with a written reason. `verify` recomputes and names what changed since the seal,
//! also when another program edited the GeoPackage.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use super::{now_utc, Project, Result, StoreError};

/// A recorded seal.
#[derive(Debug, Clone, PartialEq)]
pub struct SealInfo {
    /// Row id.
    pub id: i64,
    /// When (UTC).
    pub sealed_at: String,
    /// Who.
    pub user: String,
    /// SHA-256 over every item, hex.
    pub digest: String,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VerifyReport {
    /// The seal checked against (none: the project was never sealed).
    pub seal: Option<SealInfo>,
    /// True while the seal is in force (not unsealed).
    pub in_force: bool,
    /// The digest of the data now.
    pub digest_now: String,
    /// One line per difference, naming the patch, field or photo.
    pub differences: Vec<String>,
}

/// The sealed items: (kind, key) → canonical text of the item.
fn snapshot(p: &Project) -> Result<BTreeMap<(String, String), String>> {
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
        let exists: bool = p.conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [table], |r| r.get::<_, i64>(0)).map_err(p.sq())? > 0;
        if !exists {
            continue;
        }
        let mut st = p.conn.prepare(sql).map_err(p.sq())?;
        // Photos and attachments: the digest of the bytes as they are now (not the stored one,
        // which another program could leave unchanged while replacing the data).
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest_of(items: &BTreeMap<(String, String), String>) -> String {
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

impl Project {
    /// The seal in force, if any.
    pub fn seal_in_force(&self) -> Result<Option<SealInfo>> {
        self.conn
            .query_row("SELECT id, sealed_at, user, digest FROM tuban_seals WHERE unsealed_at IS NULL ORDER BY id DESC LIMIT 1", [], |r| {
                Ok(SealInfo { id: r.get(0)?, sealed_at: r.get(1)?, user: r.get(2)?, digest: r.get(3)? })
            })
            .optional()
            .map_err(self.sq())
    }

    /// Refuses changes to review data while sealed.
    pub(crate) fn require_unsealed(&self) -> Result<()> {
        self.require_write()?;
        if let Some(s) = self.seal_in_force()? {
            return Err(StoreError::Sealed { path: self.path_str(), by: s.user, at: s.sealed_at });
        }
        Ok(())
    }

    /// Seals the project: records the digest of every patch, photo and case, with time and user.
    pub fn seal(&mut self) -> Result<SealInfo> {
        self.require_unsealed()?;
        let items = snapshot(self)?;
        let digest = digest_of(&items);
        let now = now_utc();
        let user = self.user().to_string();
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.transaction().map_err(sq)?;
        tx.execute("INSERT INTO tuban_seals(sealed_at, user, digest) VALUES (?1, ?2, ?3)", params![now, user, digest])
            .map_err(sq)?;
        let id = tx.last_insert_rowid();
        {
            let mut st = tx
                .prepare("INSERT INTO tuban_seal_items(seal_id, kind, item, content) VALUES (?1, ?2, ?3, ?4)")
                .map_err(sq)?;
            for ((kind, key), text) in &items {
                st.execute(params![id, kind, key, text]).map_err(sq)?;
            }
        }
        tx.execute(
            "INSERT INTO tuban_audit(time, user, field, new_value, action) VALUES (?1, ?2, 'seal', ?3, 'seal')",
            params![now, user, digest],
        )
        .map_err(sq)?;
        tx.commit().map_err(sq)?;
        Ok(SealInfo { id, sealed_at: now, user, digest })
    }

    /// Lifts the seal; the written reason goes to the audit log.
    pub fn unseal(&mut self, reason: &str) -> Result<()> {
        self.require_write()?;
        if reason.trim().chars().count() < 4 {
            return Err(StoreError::ReasonRequired);
        }
        let Some(seal) = self.seal_in_force()? else { return Ok(()) };
        let now = now_utc();
        let user = self.user().to_string();
        let path = self.path_str();
        let sq = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.transaction().map_err(sq)?;
        tx.execute(
            "UPDATE tuban_seals SET unsealed_at = ?1, unsealed_by = ?2, unseal_reason = ?3 WHERE id = ?4",
            params![now, user, reason.trim(), seal.id],
        )
        .map_err(sq)?;
        tx.execute("INSERT INTO tuban_audit(time, user, field, old_value, new_value, action) VALUES (?1, ?2, 'seal', ?3, ?4, 'unseal')", params![now, user, seal.digest, reason.trim()]).map_err(sq)?;
        tx.commit().map_err(sq)
    }

    /// Recomputes the digest and names every patch, field, photo or case changed since the last seal.
    pub fn verify(&self) -> Result<VerifyReport> {
        let now = snapshot(self)?;
        let digest_now = digest_of(&now);
        let last = self
            .conn
            .query_row(
                "SELECT id, sealed_at, user, digest, unsealed_at IS NULL FROM tuban_seals ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok((
                        SealInfo { id: r.get(0)?, sealed_at: r.get(1)?, user: r.get(2)?, digest: r.get(3)? },
                        r.get::<_, bool>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(self.sq())?;
        let Some((seal, in_force)) = last else {
            return Ok(VerifyReport { seal: None, in_force: false, digest_now, differences: vec![] });
        };
        let mut sealed = BTreeMap::new();
        {
            let mut st = self
                .conn
                .prepare("SELECT kind, item, content FROM tuban_seal_items WHERE seal_id = ?1")
                .map_err(self.sq())?;
            let rows = st
                .query_map([seal.id], |r| {
                    Ok(((r.get::<_, String>(0)?, r.get::<_, String>(1)?), r.get::<_, String>(2)?))
                })
                .map_err(self.sq())?;
            for row in rows {
                let (k, v) = row.map_err(self.sq())?;
                sealed.insert(k, v);
            }
        }
        let mut differences = Vec::new();
        for ((kind, key), text) in &sealed {
            match now.get(&(kind.clone(), key.clone())) {
                None => differences.push(format!("{kind} {key}: 封库后被删除 / removed since the seal")),
                Some(t) if t != text => {
                    let before: BTreeMap<String, String> = serde_json::from_str(text).unwrap_or_default();
                    let after: BTreeMap<String, String> = serde_json::from_str(t).unwrap_or_default();
                    let mut fields: Vec<String> = before
                        .iter()
                        .filter(|(f, v)| after.get(*f) != Some(v))
                        .map(|(f, v)| format!("{f}: {v} → {}", after.get(f).cloned().unwrap_or_default()))
                        .collect();
                    fields.extend(
                        after.iter().filter(|(f, _)| !before.contains_key(*f)).map(|(f, v)| format!("{f}: → {v}")),
                    );
                    if fields.is_empty() {
                        fields.push("内容已改变 / content changed".into());
                    }
                    differences.push(format!("{kind} {key}: {}", fields.join("; ")));
                }
                Some(_) => {}
            }
        }
        for (kind, key) in now.keys() {
            if !sealed.contains_key(&(kind.clone(), key.clone())) {
                differences.push(format!("{kind} {key}: 封库后新增 / added since the seal"));
            }
        }
        Ok(VerifyReport { seal: Some(seal), in_force, digest_now, differences })
    }
}
