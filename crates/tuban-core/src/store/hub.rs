//! The local side of a project linked to a team hub (`crate::hub`): the link, the hub's values
//! as this copy last knew them (the shadow), the changes still to push, and applying what was
//! pulled.
//!
//! A field is dirty when its value here differs from the shadow (or, never synced, from the
//! value before its first change since the last push). The shadow also keeps the hub's change id
//! its value stands for: a pulled change at or below it is already accounted for (our own push
//! that met it, a page fetched twice), one above it is applied by the rule below. A push sends each dirty field with that
//! base; the hub applies it only where it still holds the base. A pull applies another client's
//! change where this copy still holds its `before`, and records a conflict in the same queue as
//! packages otherwise. Each side's step is one transaction and records its high-water mark (the
//! hub's change id pulled, this file's audit id pushed) in it, so a step killed half-way is
//! done again from the start and a step done twice changes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::{params, Connection, OptionalExtension};

use super::merge::Change;
use super::patches::EditSource;
use super::{now_utc, MergeReceipt, Project, Result};

/// Tables schema 7 adds.
const TABLES: &str = "
CREATE TABLE IF NOT EXISTS tuban_hub_shadow (uid TEXT NOT NULL, field TEXT NOT NULL, value TEXT,
    change_id INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (uid, field)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tuban_hub_pending (uid TEXT NOT NULL, field TEXT NOT NULL,
    PRIMARY KEY (uid, field)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tuban_hub_syncs (id INTEGER PRIMARY KEY AUTOINCREMENT, at DATETIME NOT NULL,
    user TEXT NOT NULL, pulled INTEGER NOT NULL, pushed INTEGER NOT NULL, conflicts INTEGER NOT NULL,
    held INTEGER NOT NULL);
";

pub(super) fn schema_upgrade(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(TABLES)
}

/// An older file is linked to no hub: empty temporary tables stand in.
pub(super) fn schema_read_only(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(&TABLES.replace("CREATE TABLE IF NOT EXISTS ", "CREATE TEMP TABLE IF NOT EXISTS "))
}

/// Where a linked copy syncs to, as kept in `tuban_meta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubLink {
    /// The hub's address without the password (`postgresql://user@host:port/db`).
    pub url: String,
    /// This copy's id on the hub (its changes are not pulled back).
    pub client_id: String,
    /// The township this copy was joined for, if any.
    pub township: Option<String>,
    /// The hub's change id pulled up to.
    pub pulled_id: i64,
    /// This file's audit id pushed up to.
    pub pushed_audit: i64,
}

/// A field change to push: the hub's value as this copy last knew it, and the value here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The row (patch uid).
    pub uid: String,
    /// The patch key, for messages.
    pub key: String,
    /// Template field, `verified_geom` or `review_flags`.
    pub field: String,
    /// The hub's value as last known.
    pub base: Option<String>,
    /// The value here.
    pub value: Option<String>,
    /// The audit id of the last change of it here (the push's idempotency key with the client).
    pub rev: i64,
}

/// What a push is to send: the changes, each changed patch's review status and verdict (shown
/// on the hub), and the audit id it covers.
#[derive(Debug, Clone, Default)]
pub struct PushBatch {
    /// The field changes.
    pub changes: Vec<Outgoing>,
    /// uid → (review status, verdict) of the patches they change.
    pub statuses: BTreeMap<String, (String, Option<String>)>,
    /// The highest audit id looked at.
    pub top_audit: i64,
    /// Fields left out because a conflict on them is open.
    pub waiting: usize,
    /// The hub change id this copy has pulled up to (where the next pull starts).
    pub pulled_id: i64,
}

/// What the hub said about one pushed change; `id` is the hub's change id the value stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// Written on the hub.
    Applied { id: i64 },
    /// The hub already held the value (this push done before, or the same edit elsewhere).
    Already { id: i64 },
    /// Another client changed it first: the hub's value, by whom and when.
    Changed { theirs: Option<String>, by: String, at: String, id: i64 },
    /// Someone else holds the patch's lease: not written, sent again later.
    Held { holder: String },
    /// The hub has no such patch (a 细斑 split in this copy, a batch imported here): kept here.
    NotOnHub,
}

/// A change of another client, as pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The hub's change id.
    pub id: i64,
    /// The row (patch uid).
    pub uid: String,
    /// The field.
    pub field: String,
    /// The value before it on the hub.
    pub before: Option<String>,
    /// The value after it.
    pub after: Option<String>,
    /// Who.
    pub user: String,
    /// When (UTC).
    pub time: String,
}

/// A patch as published to the hub.
#[derive(Debug, Clone, PartialEq)]
pub struct HubRow {
    /// Row id in this file.
    pub fid: i64,
    /// Patch uid.
    pub uid: String,
    /// Patch key.
    pub key: String,
    /// Its township (the template's township role), if any.
    pub township: Option<String>,
    /// Review status (`unreviewed`, …).
    pub status: String,
    /// The verdict as text.
    pub verdict: Option<String>,
    /// Every synced field as the audit log writes it.
    pub fields: BTreeMap<String, Option<String>>,
    /// The issued geometry as WKT (CGCS2000 lon/lat).
    pub geom_wkt: Option<String>,
}

/// The columns beside template fields that sync.
pub const SYNCED_COLUMNS: [&str; 2] = [super::geometry::GEOM_FIELD, "review_flags"];

fn meta_get(c: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    c.query_row("SELECT value FROM tuban_meta WHERE key = ?1", [key], |r| r.get(0)).optional()
}

fn meta_set(c: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    c.execute("INSERT OR REPLACE INTO tuban_meta(key, value) VALUES (?1, ?2)", params![key, value]).map(|_| ())
}

impl Project {
    /// The hub this copy is linked to, if any.
    pub fn hub_link(&self) -> Result<Option<HubLink>> {
        let c = &self.conn;
        let read = || -> rusqlite::Result<Option<HubLink>> {
            let Some(url) = meta_get(c, "hub_url")? else { return Ok(None) };
            Ok(Some(HubLink {
                url,
                client_id: meta_get(c, "hub_client")?.unwrap_or_default(),
                township: meta_get(c, "hub_township")?.filter(|s| !s.is_empty()),
                pulled_id: meta_get(c, "hub_pulled_id")?.and_then(|s| s.parse().ok()).unwrap_or(0),
                pushed_audit: meta_get(c, "hub_pushed_audit")?.and_then(|s| s.parse().ok()).unwrap_or(0),
            }))
        };
        read().map_err(self.sq())
    }

    /// Links this copy to a hub (a fresh join): nothing before now is pushed.
    pub fn set_hub_link(&mut self, url: &str, client_id: &str, township: Option<&str>) -> Result<HubLink> {
        self.require_write()?;
        let tx = self.conn.unchecked_transaction().map_err(self.sq())?;
        let top: i64 =
            self.conn.query_row("SELECT coalesce(max(id), 0) FROM tuban_audit", [], |r| r.get(0)).map_err(self.sq())?;
        let write = || -> rusqlite::Result<()> {
            meta_set(&self.conn, "hub_url", url)?;
            meta_set(&self.conn, "hub_client", client_id)?;
            meta_set(&self.conn, "hub_township", township.unwrap_or(""))?;
            meta_set(&self.conn, "hub_pulled_id", "0")?;
            meta_set(&self.conn, "hub_pushed_audit", &top.to_string())?;
            self.conn.execute_batch("DELETE FROM tuban_hub_shadow; DELETE FROM tuban_hub_pending;")?;
            self.conn.execute(
                "INSERT INTO tuban_audit(time, user, field, new_value, action) VALUES (?1, ?2, 'hub', ?3, 'hub')",
                params![now_utc(), self.user(), format!("linked to {url} as {client_id}")],
            )?;
            Ok(())
        };
        write().map_err(self.sq())?;
        tx.commit().map_err(self.sq())?;
        self.hub_link()?.ok_or_else(|| super::StoreError::Corrupt { path: self.path_str(), detail: "hub link".into() })
    }

    /// Up to `limit` patch rows after row id `after` (细斑 and split records included) as the
    /// hub keeps them, in row-id order (a publish reads them a chunk at a time).
    pub fn hub_rows(&self, after: i64, limit: usize) -> Result<Vec<HubRow>> {
        let roles = self.template().roles().clone();
        let mut out = Vec::new();
        let cond = format!("fid IN (SELECT fid FROM patches WHERE fid > {after} ORDER BY fid LIMIT {limit})");
        let uids = self.uids_where(&cond)?;
        for r in self.patches_where(&cond)? {
            let Some(uid) = uids.get(&r.fid).cloned() else { continue };
            let mut fields = BTreeMap::new();
            for (f, v) in self.template().fields().iter().zip(&r.values) {
                fields.insert(f.name.clone(), super::patches::audit_text(v));
            }
            for c in SYNCED_COLUMNS {
                fields.insert(c.to_string(), self.current_text(r.fid, c)?.flatten());
            }
            let text = |name: &Option<String>| {
                name.as_ref().and_then(|n| fields.get(n).cloned().flatten()).filter(|s| !s.is_empty())
            };
            let township = text(&roles.township);
            let verdict = text(&Some(roles.verdict.clone()));
            let geom_wkt = self.extent(r.fid)?.map(|e| tuban_model::geometry::edit::to_wkt(&e.issued));
            out.push(HubRow {
                fid: r.fid,
                uid,
                key: r.key,
                township,
                status: r.status.as_str().to_string(),
                verdict,
                fields,
                geom_wkt,
            });
        }
        Ok(out)
    }

    fn uids_where(&self, condition: &str) -> Result<HashMap<i64, String>> {
        let sql = format!("SELECT fid, uid FROM patches WHERE uid IS NOT NULL AND {condition}");
        let mut st = self.conn.prepare(&sql).map_err(self.sq())?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(self.sq())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.sq())
    }

    /// The hub's value of a field as this copy last knew it, and the change id it stands for.
    fn shadow(&self, uid: &str, field: &str) -> Result<Option<(Option<String>, i64)>> {
        self.conn
            .query_row(
                "SELECT value, change_id FROM tuban_hub_shadow WHERE uid = ?1 AND field = ?2",
                params![uid, field],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.sq())
    }

    fn open_conflict_keys(&self) -> Result<HashSet<(String, String)>> {
        let mut st = self
            .conn
            .prepare("SELECT item_uid, field FROM tuban_conflicts WHERE resolved_at IS NULL AND item_kind = 'patch'")
            .map_err(self.sq())?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(self.sq())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.sq())
    }

    /// The dirty fields to push: those changed here since the last push (by anything but a pull)
    /// and those still pending from an earlier one; a field with an open conflict waits.
    pub fn hub_outgoing(&self) -> Result<PushBatch> {
        let link = self.hub_link()?;
        let hwm = link.as_ref().map(|l| l.pushed_audit).unwrap_or(0);
        let pulled_id = link.as_ref().map(|l| l.pulled_id).unwrap_or(0);
        let top: i64 =
            self.conn.query_row("SELECT coalesce(max(id), 0) FROM tuban_audit", [], |r| r.get(0)).map_err(self.sq())?;
        // (uid, field) → (first old value since the mark, last audit id)
        let mut keys: BTreeMap<(String, String), (Option<String>, i64)> = BTreeMap::new();
        {
            let mut st = self
                .conn
                .prepare(
                    "SELECT p.uid, a.field, a.old_value, a.id FROM tuban_audit a JOIN patches p ON p.fid = a.patch_fid \
                     WHERE a.id > ?1 AND a.field IS NOT NULL AND a.action NOT IN ('hub', 'resolved', 'computed') AND p.uid IS NOT NULL ORDER BY a.id",
                )
                .map_err(self.sq())?;
            let rows = st
                .query_map([hwm], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?, r.get(3)?))
                })
                .map_err(self.sq())?;
            for row in rows {
                let (uid, field, old, id) = row.map_err(self.sq())?;
                keys.entry((uid, field)).and_modify(|e| e.1 = id).or_insert((old, id));
            }
            let mut st = self.conn.prepare("SELECT uid, field FROM tuban_hub_pending").map_err(self.sq())?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(self.sq())?;
            for row in rows {
                let k: (String, String) = row.map_err(self.sq())?;
                keys.entry(k).or_insert((None, top));
            }
        }
        let open = self.open_conflict_keys()?;
        let synced = |f: &str| self.template().field(f).is_some() || SYNCED_COLUMNS.contains(&f);
        let mut batch = PushBatch { top_audit: top, pulled_id, ..Default::default() };
        for ((uid, field), (first_old, rev)) in keys {
            if !synced(&field) {
                continue;
            }
            if open.contains(&(uid.clone(), field.clone())) {
                batch.waiting += 1;
                continue;
            }
            let Some(fid) = self.fid_of_uid(&uid)? else { continue };
            let Some(value) = self.current_text(fid, &field)? else { continue };
            let base = match self.shadow(&uid, &field)? {
                Some((b, _)) => b,
                None => first_old,
            };
            if base == value {
                continue;
            }
            let Some(record) = self.patch(fid)? else { continue };
            let verdict_field = self.template().roles().verdict.clone();
            let verdict = self.current_text(fid, &verdict_field)?.flatten();
            batch.statuses.insert(uid.clone(), (record.status.as_str().to_string(), verdict));
            batch.changes.push(Outgoing { uid, key: record.key, field, base, value, rev });
        }
        Ok(batch)
    }

    /// Records what the hub said about a push, in one transaction: applied and present values
    /// become the shadow; a value another client wrote first becomes a conflict (theirs from
    /// the hub) and stays pending; a held patch stays pending. The push mark moves to the
    /// batch's top.
    pub fn hub_acknowledge(&mut self, batch: &PushBatch, outcomes: &[PushOutcome], hub: &str) -> Result<MergeReceipt> {
        let tx = self.conn.unchecked_transaction().map_err(self.sq())?;
        let mut receipt = MergeReceipt { label: hub.to_string(), ..Default::default() };
        for (c, outcome) in batch.changes.iter().zip(outcomes) {
            match outcome {
                PushOutcome::Applied { id } | PushOutcome::Already { id } => {
                    if matches!(outcome, PushOutcome::Applied { .. }) {
                        receipt.applied += 1;
                    } else {
                        receipt.already += 1;
                    }
                    self.set_shadow(&c.uid, &c.field, c.value.as_deref(), *id)?;
                    self.set_pending(&c.uid, &c.field, false)?;
                }
                PushOutcome::Changed { theirs, by, at, id } => {
                    let change = Change {
                        uid: c.uid.clone(),
                        field: c.field.clone(),
                        before: c.base.clone(),
                        after: theirs.clone(),
                        user: by.clone(),
                        time: at.clone(),
                    };
                    if let Some(fid) = self.fid_of_uid(&c.uid)? {
                        // Ours as it is now (the analyst may have typed again since the batch).
                        let ours = self.current_text(fid, &c.field)?.flatten();
                        receipt.conflicts.extend(self.record_conflict(fid, &change, ours, (hub, false))?);
                    }
                    self.set_shadow(&c.uid, &c.field, theirs.as_deref(), *id)?;
                    self.set_pending(&c.uid, &c.field, true)?;
                }
                PushOutcome::Held { .. } => {
                    receipt.missing += 1;
                    // Keep the base the change was made on (a first push has no shadow yet).
                    if self.shadow(&c.uid, &c.field)?.is_none() {
                        self.set_shadow(&c.uid, &c.field, c.base.as_deref(), 0)?;
                    }
                    self.set_pending(&c.uid, &c.field, true)?;
                }
                PushOutcome::NotOnHub => receipt.structural += 1,
            }
        }
        super::failpoint::hit("hub.ack_before_commit", &self.conn);
        meta_set(&self.conn, "hub_pushed_audit", &batch.top_audit.to_string()).map_err(self.sq())?;
        tx.commit().map_err(self.sq())?;
        Ok(receipt)
    }

    /// Applies changes pulled from the hub in one transaction (see the module documentation) and
    /// moves the pull mark to `up_to`.
    pub fn hub_apply_pulled(&mut self, pulled: &[Pulled], up_to: i64, hub: &str) -> Result<MergeReceipt> {
        self.require_unsealed()?;
        let tx = self.conn.unchecked_transaction().map_err(self.sq())?;
        let mut receipt = MergeReceipt { label: hub.to_string(), audit_hwm: up_to, ..Default::default() };
        // Changes the shadow already accounts for are left out; the rest are netted per field.
        let mut changes = Vec::new();
        let mut last: BTreeMap<(String, String), (Option<String>, i64)> = BTreeMap::new();
        for p in pulled {
            let seen = self.shadow(&p.uid, &p.field)?.map_or(0, |(_, id)| id);
            if p.id <= seen {
                receipt.already += 1;
                continue;
            }
            last.insert((p.uid.clone(), p.field.clone()), (p.after.clone(), p.id));
            changes.push(Change {
                uid: p.uid.clone(),
                field: p.field.clone(),
                before: p.before.clone(),
                after: p.after.clone(),
                user: p.user.clone(),
                time: p.time.clone(),
            });
        }
        let changes = super::merge::net(changes);
        self.merge_fields(&changes, hub, &EditSource::Hub, &mut receipt)?;
        for ((uid, field), (after, id)) in &last {
            self.set_shadow(uid, field, after.as_deref(), *id)?;
            // Not taken here (a conflict, or a row this copy lacks): ours differs from the hub's.
            let here = match self.fid_of_uid(uid)? {
                Some(fid) => self.current_text(fid, field)?,
                None => None,
            };
            if here.is_some_and(|v| v != *after) {
                self.set_pending(uid, field, true)?;
            }
        }
        super::failpoint::hit("hub.pull_before_commit", &self.conn);
        let mark = self.hub_link()?.map_or(0, |l| l.pulled_id).max(up_to);
        meta_set(&self.conn, "hub_pulled_id", &mark.to_string()).map_err(self.sq())?;
        tx.commit().map_err(self.sq())?;
        Ok(receipt)
    }

    /// Keeps a line per sync (what the status bar and `tuban hub status` show).
    pub fn record_hub_sync(&self, pulled: usize, pushed: usize, conflicts: usize, held: usize) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO tuban_hub_syncs(at, user, pulled, pushed, conflicts, held) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![now_utc(), self.user(), pulled as i64, pushed as i64, conflicts as i64, held as i64],
            )
            .map(|_| ())
            .map_err(self.sq())
    }

    /// When the last sync finished (UTC), if ever.
    pub fn last_hub_sync(&self) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT max(at) FROM tuban_hub_syncs", [], |r| r.get(0))
            .optional()
            .map(Option::flatten)
            .map_err(self.sq())
    }

    fn set_shadow(&self, uid: &str, field: &str, value: Option<&str>, change_id: i64) -> Result<()> {
        self.conn
            .execute(
                // Never backwards: an acknowledgement settled after a pull of later changes
                // leaves the later value.
                "INSERT INTO tuban_hub_shadow(uid, field, value, change_id) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (uid, field) DO UPDATE SET value = excluded.value, change_id = excluded.change_id \
                 WHERE excluded.change_id >= tuban_hub_shadow.change_id",
                params![uid, field, value, change_id],
            )
            .map(|_| ())
            .map_err(self.sq())
    }

    fn set_pending(&self, uid: &str, field: &str, pending: bool) -> Result<()> {
        let sql = if pending {
            "INSERT OR IGNORE INTO tuban_hub_pending(uid, field) VALUES (?1, ?2)"
        } else {
            "DELETE FROM tuban_hub_pending WHERE uid = ?1 AND field = ?2"
        };
        self.conn.execute(sql, params![uid, field]).map(|_| ()).map_err(self.sq())
    }
}
