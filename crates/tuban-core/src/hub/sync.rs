//! Syncing a linked copy in two halves: `exchange` talks to the hub (fetches the other
//! clients' changes, pushes this copy's, renews leases) and may run on any thread; `settle`
//! writes the answers into the project on the thread that holds it. The window runs the first
//! on its hub thread and the second between frames; the command line runs both in turn.
//!
//! Pushes are serialised on the hub (a transaction-scoped advisory lock), so change ids become
//! visible in order and a pull that read up to id N never misses a change below N committed
//! later. A push sends each dirty field with the hub value it was based on; the hub writes it
//! only where it still holds that value, records it once per (client, audit id, row, field) and
//! answers per change. The local step that follows (acknowledge) is one transaction: killed
//! before it, the next sync sends the same changes again and the hub answers "already there".

use std::collections::HashMap;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;

use super::{Hub, HubError};
use crate::store::{HubLink, MergeReceipt, Outgoing, Project, Pulled, PushBatch, PushOutcome};
use tuban_model::progress::Progress;

/// Changes pulled per page (each page is one local transaction).
const PAGE: i64 = 5000;

/// The advisory-lock key that serialises pushes.
const PUSH_LOCK: i64 = 0x0074_7562_616e; // "tuban"

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncReport {
    /// Other clients' changes pulled and applied here.
    pub pulled: MergeReceipt,
    /// This copy's changes pushed.
    pub pushed: MergeReceipt,
    /// Leases renewed.
    pub renewed: u64,
    /// Whether the link is encrypted.
    pub encrypted: bool,
    /// Set when this sync migrated an older hub schema (from which version).
    pub migrated_from: Option<i64>,
}

impl SyncReport {
    /// New conflicts from both directions.
    pub fn conflicts(&self) -> usize {
        self.pulled.conflicts.len() + self.pushed.conflicts.len()
    }
}

fn link_of(project: &Project) -> Result<HubLink, HubError> {
    project.hub_link()?.ok_or_else(|| HubError::NotLinked { path: project.path().display().to_string() })
}

/// Connects to the hub a project is linked to: its stored address, or `url` when given (the
/// same hub with a password, say).
pub fn connect_linked(project: &Project, url: Option<&str>) -> Result<Hub, HubError> {
    let link = link_of(project)?;
    let url = url.unwrap_or(&link.url);
    if super::public_url(url) != link.url {
        return Err(HubError::Invalid(format!(
            "{}: 本副本关联的是 {}，不是 {} / this copy is linked to {}, not {}",
            project.path().display(),
            link.url,
            super::public_url(url),
            link.url,
            super::public_url(url)
        )));
    }
    Hub::connect(url)
}

/// What the hub answered in one round, before any of it is written locally.
#[derive(Debug)]
pub struct Exchange {
    /// Other clients' changes, in pages with the last change id of each.
    pub pages: Vec<(Vec<Pulled>, i64)>,
    /// The hub's answer to each pushed change (aligned with the batch).
    pub outcomes: Vec<PushOutcome>,
    /// Leases renewed.
    pub renewed: u64,
    /// Whether the link is encrypted.
    pub encrypted: bool,
    /// Set when this round migrated an older hub schema.
    pub migrated_from: Option<i64>,
    /// The hub as named in conflicts (`中心库 user@host:port/db`).
    pub label: String,
    /// Why the hub refused the push (the pulled pages still apply; nothing is acknowledged).
    pub push_refused: Option<HubError>,
}

/// Pages pulled per round at most (the rest comes with the next round).
const MAX_PAGES: usize = 20;

/// One sync: this copy's changes to push, the round with the hub, then the local steps.
pub fn sync(hub: &mut Hub, project: &mut Project, progress: &Progress) -> Result<SyncReport, HubError> {
    let link = link_of(project)?;
    let batch = project.hub_outgoing()?;
    let ex = exchange(hub, &link, &project.project_uid()?, &batch, progress)?;
    settle(project, &batch, ex)
}

/// The network half of a sync (any thread): check the hub, fetch the other clients' changes
/// since the last pull, push `batch` in one hub transaction, renew this user's leases. Nothing
/// local is written.
pub fn exchange(
    hub: &mut Hub,
    link: &HubLink,
    project_uid: &str,
    batch: &PushBatch,
    progress: &Progress,
) -> Result<Exchange, HubError> {
    let info = super::schema::check(hub, Some(project_uid))?;
    let label = format!("中心库 {}", hub.server);
    let pages = fetch(hub, link, progress)?;
    progress.stage("推送变更 / pushing changes", batch.changes.len() as u64);
    let (outcomes, push_refused) = if batch.changes.is_empty() {
        (Vec::new(), None)
    } else {
        match push_batch(hub, link, batch) {
            Ok(o) => {
                crate::store::failpoint::hit_at(
                    "hub.after_push_commit",
                    "after the hub's commit, before the local acknowledgement",
                );
                (o, None)
            }
            // Refused (a reviewer's edit, a patch outside the user's township): the pulls still
            // come in; unreachable and other failures end the round.
            Err(e @ HubError::Forbidden { .. }) => (Vec::new(), Some(e)),
            Err(e) => return Err(e),
        }
    };
    progress.set(batch.changes.len() as u64).ok();
    // After a committed push, failures here must not lose its answers: counted as none renewed.
    let renewed = super::lease::heartbeat(hub).unwrap_or(0);
    let encrypted = hub.encrypted().unwrap_or(false);
    Ok(Exchange { pages, outcomes, renewed, encrypted, migrated_from: info.migrated_from, label, push_refused })
}

/// The local half (the thread that holds the project): apply the pulled pages, each one
/// transaction, then acknowledge the push in one more. A refused push is returned as the error
/// after the pages are in (nothing of the push is acknowledged: the edits wait here).
pub fn settle(project: &mut Project, batch: &PushBatch, ex: Exchange) -> Result<SyncReport, HubError> {
    let mut pulled = MergeReceipt { label: ex.label.clone(), ..Default::default() };
    for (page, last) in &ex.pages {
        let got = project.hub_apply_pulled(page, *last, &ex.label)?;
        pulled.applied += got.applied;
        pulled.already += got.already;
        pulled.missing += got.missing;
        pulled.conflicts.extend(got.conflicts);
        pulled.audit_hwm = *last;
    }
    if let Some(e) = ex.push_refused {
        return Err(e);
    }
    let pushed = project.hub_acknowledge(batch, &ex.outcomes, &ex.label)?;
    let report =
        SyncReport { pulled, pushed, renewed: ex.renewed, encrypted: ex.encrypted, migrated_from: ex.migrated_from };
    project.record_hub_sync(report.pulled.applied, report.pushed.applied, report.conflicts(), report.pushed.missing)?;
    Ok(report)
}

/// The other clients' changes after the last pull, a page at a time.
fn fetch(hub: &mut Hub, link: &HubLink, progress: &Progress) -> Result<Vec<(Vec<Pulled>, i64)>, HubError> {
    let mut from = link.pulled_id;
    let top: i64 = hub
        .query_one("SELECT coalesce(max(id), 0) FROM tuban.changes", &[])
        .map(|r| r.get(0))
        .map_err(|e| hub.error(e))?;
    progress.stage("拉取变更 / pulling changes", (top - from).max(0) as u64);
    let mut pages = Vec::new();
    while pages.len() < MAX_PAGES {
        let rows = hub
            .client
            .query(
                "SELECT id, uid, field, before, after, by_user, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
                 FROM tuban.changes WHERE id > $1 AND client <> $2 ORDER BY id LIMIT $3",
                &[&from, &link.client_id, &PAGE],
            )
            .map_err(|e| hub.error(e))?;
        let Some(last) = rows.last().map(|r| r.get::<_, i64>(0)) else { break };
        let page: Vec<Pulled> = rows
            .iter()
            .map(|r| Pulled {
                id: r.get(0),
                uid: r.get(1),
                field: r.get(2),
                before: r.get(3),
                after: r.get(4),
                user: r.get(5),
                time: r.get(6),
            })
            .collect();
        let full = rows.len() as i64 == PAGE;
        pages.push((page, last));
        from = last;
        progress.set((last - link.pulled_id).max(0) as u64).map_err(|_| super::cancelled())?;
        if !full {
            break;
        }
    }
    Ok(pages)
}

/// What the hub holds for one incoming change.
struct Seen {
    present: bool,
    exists: bool,
    hub_value: Option<String>,
    holder: Option<String>,
    /// The id under which this very change (client, audit id) was recorded, if it was.
    done: Option<i64>,
    last_id: Option<i64>,
    last_client: Option<String>,
    last_by: Option<String>,
    last_at: Option<String>,
}

fn classify(c: &Outgoing, s: &Seen, me: &str) -> PushOutcome {
    if let Some(id) = s.done {
        return PushOutcome::Already { id };
    }
    if let Some(holder) = &s.holder {
        return PushOutcome::Held { holder: holder.clone() };
    }
    if s.hub_value == c.value {
        return PushOutcome::Already { id: s.last_id.unwrap_or(0) };
    }
    // On the base, or on a value of our own (a push acknowledged nowhere yet): ours goes on.
    if s.hub_value == c.base || s.last_client.as_deref() == Some(me) {
        return PushOutcome::Applied { id: 0 };
    }
    PushOutcome::Changed {
        theirs: s.hub_value.clone(),
        by: s.last_by.clone().unwrap_or_else(|| "?".into()),
        at: s.last_at.clone().unwrap_or_default(),
        id: s.last_id.unwrap_or(0),
    }
}

fn upload(tx: &mut postgres::Transaction, batch: &PushBatch) -> Result<(), postgres::Error> {
    tx.batch_execute(
        "CREATE TEMP TABLE incoming (n int PRIMARY KEY, uid text, field text, base text, value text, rev bigint, ok boolean NOT NULL DEFAULT false) ON COMMIT DROP;
         CREATE TEMP TABLE statuses (uid text PRIMARY KEY, status text, verdict text) ON COMMIT DROP;",
    )?;
    let sink = tx.copy_in("COPY incoming (n, uid, field, base, value, rev) FROM STDIN BINARY")?;
    let mut w =
        BinaryCopyInWriter::new(sink, &[Type::INT4, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::INT8]);
    for (i, c) in batch.changes.iter().enumerate() {
        w.write(&[&(i as i32), &c.uid, &c.field, &c.base, &c.value, &c.rev])?;
    }
    w.finish()?;
    let sink = tx.copy_in("COPY statuses FROM STDIN BINARY")?;
    let mut w = BinaryCopyInWriter::new(sink, &[Type::TEXT, Type::TEXT, Type::TEXT]);
    for (uid, (status, verdict)) in &batch.statuses {
        w.write(&[uid, status, verdict])?;
    }
    w.finish()?;
    Ok(())
}

fn push_batch(hub: &mut Hub, link: &HubLink, batch: &PushBatch) -> Result<Vec<PushOutcome>, HubError> {
    let (server, user) = (hub.server.clone(), hub.user.clone());
    let pg = |e| HubError::from_pg(&server, &user, e);
    let mut tx = hub.client.transaction().map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PUSH_LOCK]).map_err(pg)?;
    upload(&mut tx, batch).map_err(pg)?;
    let rows = tx
        .query(
            "SELECT i.n, p.uid IS NOT NULL, tuban.has_patch(i.uid), p.fields->>i.field,
                    CASE WHEN p.lease_expires > now() AND p.holder <> current_user THEN p.holder END,
                    (SELECT c.id FROM tuban.changes c WHERE c.client = $1 AND c.client_rev = i.rev AND c.uid = i.uid AND c.field = i.field),
                    last.id, last.client, last.by_user, to_char(last.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
             FROM incoming i LEFT JOIN tuban.patches p ON p.uid = i.uid
             LEFT JOIN LATERAL (SELECT id, client, by_user, at FROM tuban.changes c WHERE c.uid = i.uid AND c.field = i.field ORDER BY id DESC LIMIT 1) last ON true
             ORDER BY i.n",
            &[&link.client_id],
        )
        .map_err(pg)?;
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut apply: Vec<i32> = Vec::new();
    let mut hidden = Vec::new();
    for (r, c) in rows.iter().zip(&batch.changes) {
        let seen = Seen {
            present: r.get(1),
            exists: r.get(2),
            hub_value: r.get(3),
            holder: r.get(4),
            done: r.get(5),
            last_id: r.get(6),
            last_client: r.get(7),
            last_by: r.get(8),
            last_at: r.get(9),
        };
        let o = match (seen.present, seen.exists) {
            (true, _) => classify(c, &seen, &link.client_id),
            // On the hub but hidden from this user (moved to another township, say): refused.
            (false, true) => {
                hidden.push(c.key.clone());
                PushOutcome::NotOnHub
            }
            // Never on the hub: a 细斑 split in this copy.
            (false, false) => PushOutcome::NotOnHub,
        };
        if matches!(o, PushOutcome::Applied { .. }) {
            apply.push(r.get(0));
        }
        outcomes.push(o);
    }
    if !hidden.is_empty() {
        hidden.sort();
        hidden.dedup();
        let shown = hidden.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        let more = if hidden.len() > 5 { "…" } else { "" };
        return Err(HubError::Forbidden {
            server,
            user,
            detail: format!(
                "{} 个图斑不在其权限范围内（{shown}{more}），这些修改留在本地 / {} patches are outside their permission ({shown}{more}); those edits stay here",
                hidden.len(),
                hidden.len()
            ),
        });
    }
    if !apply.is_empty() {
        let ids = write_applied(&mut tx, &apply, link, batch.pulled_id).map_err(pg)?;
        for (o, c) in outcomes.iter_mut().zip(&batch.changes) {
            if let PushOutcome::Applied { id } = o {
                *id = ids.get(&(c.uid.clone(), c.field.clone())).copied().unwrap_or(0);
            }
        }
    }
    tx.execute("UPDATE tuban.clients SET last_sync = now() WHERE id = $1", &[&link.client_id]).map_err(pg)?;
    crate::store::failpoint::hit_at("hub.push_before_commit", "inside the hub's transaction");
    tx.commit().map_err(pg)?;
    Ok(outcomes)
}

/// Writes the applied changes: fields merged into each patch's JSON, the verified geometry, one
/// change-log row each (their ids come back by row and field). The status and verdict shown on
/// the hub follow the pusher's only where it had seen every other change of that patch. Refused
/// (an error) when row-level security hid a row from the update (a lease taken meanwhile, say).
fn write_applied(
    tx: &mut postgres::Transaction,
    apply: &[i32],
    link: &HubLink,
    pulled_id: i64,
) -> Result<HashMap<(String, String), i64>, postgres::Error> {
    tx.execute(
        "UPDATE incoming i SET ok = true, base = p.fields->>i.field FROM tuban.patches p WHERE p.uid = i.uid AND i.n = ANY($1)",
        &[&apply],
    )?;
    let expected: i64 = tx.query_one("SELECT count(DISTINCT uid) FROM incoming WHERE ok", &[])?.get(0);
    let updated = tx.execute(
        "UPDATE tuban.patches p SET fields = p.fields || a.obj, updated_at = now(), updated_by = current_user,
             version = p.version + 1,
             review_status = CASE WHEN s.uid IS NOT NULL AND NOT a.missed THEN s.status ELSE p.review_status END,
             verdict = CASE WHEN s.uid IS NOT NULL AND NOT a.missed THEN s.verdict ELSE p.verdict END,
             verified_geom = CASE WHEN a.obj ? 'verified_geom' THEN ST_GeomFromText(a.obj->>'verified_geom', 4490) ELSE p.verified_geom END
         FROM (SELECT i.uid, jsonb_object_agg(i.field, i.value) AS obj,
                      EXISTS (SELECT 1 FROM tuban.changes c WHERE c.uid = i.uid AND c.id > $2 AND c.client <> $1) AS missed
               FROM incoming i WHERE i.ok GROUP BY i.uid) a
         LEFT JOIN statuses s ON s.uid = a.uid
         WHERE p.uid = a.uid",
        &[&link.client_id, &pulled_id],
    )?;
    if updated as i64 != expected {
        tx.batch_execute("SELECT tuban.refuse_hidden_update()")?;
    }
    let rows = tx.query(
        "INSERT INTO tuban.changes(uid, field, before, after, client, client_rev, township) \
         SELECT i.uid, i.field, i.base, i.value, $1, i.rev, p.township FROM incoming i JOIN tuban.patches p ON p.uid = i.uid \
         WHERE i.ok ORDER BY i.n RETURNING uid, field, id",
        &[&link.client_id],
    )?;
    Ok(rows.iter().map(|r| ((r.get(0), r.get(1)), r.get(2))).collect())
}
