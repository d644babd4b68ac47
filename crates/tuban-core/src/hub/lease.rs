//! Leases: who works on which patch. A claim takes the next unreviewed patches of a township
//! (`FOR UPDATE SKIP LOCKED`, so two analysts claiming at once never get the same one) or a chosen
//! set; a lease expires unless its holder's client renews it (every sync); others see who holds a
//! patch and cannot claim it or push changes to it; an administrator can take a lease over, and
//! every claim, release and take-over is kept in `tuban.lease_log`.

use std::time::Duration;

use super::{Hub, HubError};
use tuban_model::validate::ReviewStatus;

/// How long a lease lasts without a heartbeat.
pub const LEASE_TTL: Duration = Duration::from_secs(30 * 60);

/// One lease as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Patch key.
    pub key: String,
    /// Patch uid.
    pub uid: String,
    /// Who holds it.
    pub holder: String,
    /// Until when (UTC, ISO 8601).
    pub expires_at: String,
}

const ISO: &str = "to_char(l.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

fn rows_to_leases(rows: &[postgres::Row]) -> Vec<Lease> {
    rows.iter().map(|r| Lease { key: r.get(0), uid: r.get(1), holder: r.get(2), expires_at: r.get(3) }).collect()
}

/// Claims up to `n` unreviewed patches nobody holds (of `township`, or any the user may write),
/// in key order; returns the leases taken.
pub fn claim_next(hub: &mut Hub, township: Option<&str>, n: i64, ttl: Duration) -> Result<Vec<Lease>, HubError> {
    let ttl_s = ttl.as_secs_f64();
    let status = ReviewStatus::Unreviewed.as_str();
    // An analyst claims in their own township: said outright, so the township index serves the
    // claim (row-level security would hide the rest anyway).
    let (kind, own) = hub.whoami()?;
    let township = match (township, kind.as_deref()) {
        (Some(t), _) => Some(t.to_string()),
        (None, Some("analyst")) => own,
        (None, _) => None,
    };
    let filter = if township.is_some() { "p.township = $1" } else { "$1::text IS NULL" };
    let mut out = Vec::new();
    // A row claimed by someone committing meanwhile is skipped; try again for the rest.
    for _ in 0..3 {
        let want = n - out.len() as i64;
        if want <= 0 {
            break;
        }
        let sql = format!(
            "WITH pick AS (
               SELECT p.uid FROM tuban.patches p
               WHERE {township} AND p.review_status = $2
                 AND NOT EXISTS (SELECT 1 FROM tuban.leases l WHERE l.uid = p.uid AND l.expires_at > now())
               ORDER BY p.key LIMIT $3 FOR UPDATE OF p SKIP LOCKED),
             taken AS (
               INSERT INTO tuban.leases AS l (uid, holder, claimed_at, expires_at, heartbeat_at)
               SELECT uid, current_user, now(), now() + $4 * interval '1 second', now() FROM pick
               ON CONFLICT (uid) DO UPDATE SET holder = EXCLUDED.holder, claimed_at = now(),
                 expires_at = EXCLUDED.expires_at, heartbeat_at = now() WHERE l.expires_at <= now()
               RETURNING l.uid, l.holder, l.expires_at),
             logged AS (INSERT INTO tuban.lease_log(uid, holder, action) SELECT uid, holder, 'claim' FROM taken)
             SELECT p.key, t.uid, t.holder, {ISO} FROM taken t JOIN tuban.patches p ON p.uid = t.uid, LATERAL (SELECT t.expires_at) l ORDER BY p.key",
            township = filter
        );
        let rows = hub.client.query(&sql, &[&township, &status, &want, &ttl_s]).map_err(|e| hub.error(e))?;
        if rows.is_empty() {
            break;
        }
        out.extend(rows_to_leases(&rows));
    }
    Ok(out)
}

/// Claims the patches `keys`; returns the leases taken and those another holds.
pub fn claim(hub: &mut Hub, keys: &[String], ttl: Duration) -> Result<(Vec<Lease>, Vec<Lease>), HubError> {
    let ttl_s = ttl.as_secs_f64();
    let sql = format!(
        "WITH taken AS (
           INSERT INTO tuban.leases AS l (uid, holder, claimed_at, expires_at, heartbeat_at)
           SELECT p.uid, current_user, now(), now() + $2 * interval '1 second', now() FROM tuban.patches p WHERE p.key = ANY($1)
           ON CONFLICT (uid) DO UPDATE SET holder = EXCLUDED.holder, claimed_at = now(),
             expires_at = EXCLUDED.expires_at, heartbeat_at = now() WHERE l.expires_at <= now() OR l.holder = current_user
           RETURNING l.uid, l.holder, l.expires_at),
         logged AS (INSERT INTO tuban.lease_log(uid, holder, action) SELECT uid, holder, 'claim' FROM taken)
         SELECT p.key, t.uid, t.holder, {ISO} FROM taken t JOIN tuban.patches p ON p.uid = t.uid, LATERAL (SELECT t.expires_at) l ORDER BY p.key"
    );
    let taken = rows_to_leases(&hub.client.query(&sql, &[&keys, &ttl_s]).map_err(|e| hub.error(e))?);
    let held = list(hub, Some(keys))?.into_iter().filter(|l| l.holder != hub.user).collect();
    Ok((taken, held))
}

/// Live leases (of `keys`, or all the user can see), in key order.
pub fn list(hub: &mut Hub, keys: Option<&[String]>) -> Result<Vec<Lease>, HubError> {
    let sql = format!(
        "SELECT p.key, l.uid, l.holder, {ISO} FROM tuban.leases l JOIN tuban.patches p ON p.uid = l.uid \
         WHERE l.expires_at > now() AND ($1::text[] IS NULL OR p.key = ANY($1)) ORDER BY p.key"
    );
    let keys: Option<Vec<String>> = keys.map(<[String]>::to_vec);
    Ok(rows_to_leases(&hub.client.query(&sql, &[&keys]).map_err(|e| hub.error(e))?))
}

/// Gives up the user's leases (of `keys`, or all); returns how many.
pub fn release(hub: &mut Hub, keys: Option<&[String]>) -> Result<u64, HubError> {
    let keys: Option<Vec<String>> = keys.map(<[String]>::to_vec);
    let n = hub
        .client
        .execute(
            "WITH gone AS (DELETE FROM tuban.leases l USING tuban.patches p WHERE p.uid = l.uid AND l.holder = current_user
               AND ($1::text[] IS NULL OR p.key = ANY($1)) RETURNING l.uid, l.holder)
             INSERT INTO tuban.lease_log(uid, holder, action) SELECT uid, holder, 'release' FROM gone",
            &[&keys],
        )
        .map_err(|e| hub.error(e))?;
    Ok(n)
}

/// Renews the user's live leases (every sync); returns how many.
pub fn heartbeat(hub: &mut Hub) -> Result<u64, HubError> {
    let ttl_s = LEASE_TTL.as_secs_f64();
    hub.client
        .execute(
            "UPDATE tuban.leases SET expires_at = now() + $1 * interval '1 second', heartbeat_at = now() \
             WHERE holder = current_user AND expires_at > now()",
            &[&ttl_s],
        )
        .map_err(|e| hub.error(e))
}

/// An administrator takes the leases of `keys` over (whoever holds them); audited.
pub fn take_over(hub: &mut Hub, keys: &[String], ttl: Duration) -> Result<Vec<Lease>, HubError> {
    let (kind, _) = hub.whoami()?;
    if kind.as_deref() != Some("admin") {
        return Err(HubError::Forbidden {
            server: hub.server.clone(),
            user: hub.user.clone(),
            detail: "只有管理员可以接管他人的领取 / only an administrator may take over another's lease".into(),
        });
    }
    let ttl_s = ttl.as_secs_f64();
    let sql = format!(
        "WITH old AS (SELECT l.uid, l.holder FROM tuban.leases l JOIN tuban.patches p ON p.uid = l.uid WHERE p.key = ANY($1) AND l.expires_at > now()),
         taken AS (
           INSERT INTO tuban.leases AS l (uid, holder, claimed_at, expires_at, heartbeat_at)
           SELECT p.uid, current_user, now(), now() + $2 * interval '1 second', now() FROM tuban.patches p WHERE p.key = ANY($1)
           ON CONFLICT (uid) DO UPDATE SET holder = EXCLUDED.holder, claimed_at = now(), expires_at = EXCLUDED.expires_at, heartbeat_at = now()
           RETURNING l.uid, l.holder, l.expires_at),
         logged AS (INSERT INTO tuban.lease_log(uid, holder, previous, action)
           SELECT t.uid, t.holder, o.holder, 'takeover' FROM taken t LEFT JOIN old o ON o.uid = t.uid)
         SELECT p.key, t.uid, t.holder, {ISO} FROM taken t JOIN tuban.patches p ON p.uid = t.uid, LATERAL (SELECT t.expires_at) l ORDER BY p.key"
    );
    Ok(rows_to_leases(&hub.client.query(&sql, &[&keys, &ttl_s]).map_err(|e| hub.error(e))?))
}
