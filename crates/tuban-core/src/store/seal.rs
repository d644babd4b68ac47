//! Sealing (封库): a digest of all review data (see [`super::snapshot`]) recorded with time and
//! user; afterwards every edit is refused until the project is unsealed with a written reason.
//! [`Project::verify`] recomputes and names what changed since the file's own last seal, also
//! when another program edited the GeoPackage; it trusts the seal tables, which whoever edits the
//! file can rewrite too, so the proof that holds is a receipt kept outside the file
//! (`ops::seal`).
//!
//! The digest version of a seal is kept as a `digest_version` row of `tuban_seal_items` (no
//! schema change); a seal without one was made by version 1.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension};

use super::seal_diff::{compare, SealedItem};
use super::snapshot::{digest_v1, snapshot_v1, ItemId, SealItem, Snapshot, DIGEST_VERSION};
use super::{now_utc, Project, Result, StoreError};

/// The `kind` of the row of `tuban_seal_items` that holds the digest version.
const VERSION_KIND: &str = "(digest_version)";

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
    /// The rule the digest was made by (1: before receipts; [`DIGEST_VERSION`] now).
    pub digest_version: u32,
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

impl Project {
    /// The seal in force, if any.
    pub fn seal_in_force(&self) -> Result<Option<SealInfo>> {
        let seal = self
            .conn
            .query_row("SELECT id, sealed_at, user, digest FROM tuban_seals WHERE unsealed_at IS NULL ORDER BY id DESC LIMIT 1", [], |r| {
                Ok(SealInfo { id: r.get(0)?, sealed_at: r.get(1)?, user: r.get(2)?, digest: r.get(3)?, digest_version: 1 })
            })
            .optional()
            .map_err(self.sq())?;
        seal.map(|s| self.with_version(s)).transpose()
    }

    /// `seal` with its digest version from `tuban_seal_items`.
    fn with_version(&self, mut seal: SealInfo) -> Result<SealInfo> {
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT content FROM tuban_seal_items WHERE seal_id = ?1 AND kind = ?2",
                params![seal.id, VERSION_KIND],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sq())?;
        seal.digest_version = v.and_then(|v| v.parse().ok()).unwrap_or(1);
        Ok(seal)
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
        self.seal_with_snapshot().map(|(info, _)| info)
    }

    /// Seals the project and returns the snapshot the digest was made from (for a receipt).
    pub fn seal_with_snapshot(&mut self) -> Result<(SealInfo, Snapshot)> {
        self.require_unsealed()?;
        let snap = self.seal_snapshot()?;
        let digests = snap.item_digests();
        let digest = super::snapshot::total_digest(&digests);
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
            st.execute(params![id, VERSION_KIND, "", DIGEST_VERSION.to_string()]).map_err(sq)?;
            for (item, s) in &snap.items {
                st.execute(params![id, item.kind, item.id, serde_json::to_string(s).unwrap_or_default()])
                    .map_err(sq)?;
            }
        }
        tx.execute(
            "INSERT INTO tuban_audit(time, user, field, new_value, action) VALUES (?1, ?2, 'seal', ?3, 'seal')",
            params![now, user, digest],
        )
        .map_err(sq)?;
        tx.commit().map_err(sq)?;
        Ok((SealInfo { id, sealed_at: now, user, digest, digest_version: DIGEST_VERSION }, snap))
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

    /// The digest of the data now by digest version 1 (seals made before receipts).
    pub fn digest_v1(&self) -> Result<String> {
        Ok(digest_v1(&snapshot_v1(self)?))
    }

    /// The items of the file's own seal `id`: kind, item, content.
    fn seal_items(&self, id: i64) -> Result<Vec<(String, String, String)>> {
        let mut st = self
            .conn
            .prepare("SELECT kind, item, content FROM tuban_seal_items WHERE seal_id = ?1 AND kind <> ?2")
            .map_err(self.sq())?;
        let rows =
            st.query_map(params![id, VERSION_KIND], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(self.sq())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.sq())
    }

    /// Recomputes the digest and names every patch, field, photo or case changed since the last
    /// seal kept in the file (by the seal's own digest version).
    pub fn verify(&self) -> Result<VerifyReport> {
        let last = self
            .conn
            .query_row(
                "SELECT id, sealed_at, user, digest, unsealed_at IS NULL FROM tuban_seals ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok((
                        SealInfo {
                            id: r.get(0)?,
                            sealed_at: r.get(1)?,
                            user: r.get(2)?,
                            digest: r.get(3)?,
                            digest_version: 1,
                        },
                        r.get::<_, bool>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(self.sq())?;
        let Some((seal, in_force)) = last else {
            let digest_now = self.seal_snapshot()?.digest();
            return Ok(VerifyReport { seal: None, in_force: false, digest_now, differences: vec![] });
        };
        let seal = self.with_version(seal)?;
        let (digest_now, differences) =
            if seal.digest_version == 1 { self.verify_v1(seal.id)? } else { self.verify_v2(seal.id)? };
        Ok(VerifyReport { seal: Some(seal), in_force, digest_now, differences })
    }

    /// Version 2: the file's seal items (with their values) against the data now.
    fn verify_v2(&self, id: i64) -> Result<(String, Vec<String>)> {
        let now = self.seal_snapshot()?;
        let mut sealed = BTreeMap::new();
        for (kind, item, content) in self.seal_items(id)? {
            let item_id = ItemId { kind, id: item };
            let s: SealItem = serde_json::from_str(&content).unwrap_or_default();
            let fields = s.field_digests();
            let digest = super::snapshot::item_digest(&item_id, &fields);
            sealed.insert(item_id, SealedItem { label: s.label, digest, fields, values: s.fields });
        }
        Ok((now.digest(), compare(&sealed, &now).iter().map(ToString::to_string).collect()))
    }

    /// Version 1: the rule of the seals made before receipts, as it was.
    fn verify_v1(&self, id: i64) -> Result<(String, Vec<String>)> {
        let now = snapshot_v1(self)?;
        let digest_now = digest_v1(&now);
        let sealed: BTreeMap<(String, String), String> =
            self.seal_items(id)?.into_iter().map(|(k, i, c)| ((k, i), c)).collect();
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
        Ok((digest_now, differences))
    }
}
