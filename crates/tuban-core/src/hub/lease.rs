//! Leases: who works on which patch. A lease lives on the patch's row (`holder`,
//! `lease_expires`), so a claim taking the next unreviewed patches with `FOR UPDATE SKIP LOCKED`
//! re-checks each row another claim took a moment before, and two analysts claiming at once never
//! get the same patch. A lease expires unless its holder's client renews it (every sync); others
//! see who holds a patch and cannot claim it or push changes to it; an administrator can take a
//! lease over. Every claim, release and take-over is kept in `tuban.lease_log`.

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

/// The columns a lease is read as.
const COLUMNS: &str = "key, uid, holder, to_char(lease_expires AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

fn rows_to_leases(rows: &[postgres::Row]) -> Vec<Lease> {
    rows.iter().map(|r| Lease { key: r.get(0), uid: r.get(1), holder: r.get(2), expires_at: r.get(3) }).collect()
}

/// Claims up to `n` unreviewed patches nobody holds (of `township`; an analyst's own by default),
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
    let filter = if township.is_some() { "township = $1" } else { "$1::text IS NULL" };
    let sql = format!(
        "WITH pick AS (
           SELECT uid FROM tuban.patches WHERE {filter} AND review_status = $2
             AND (lease_expires IS NULL OR lease_expires <= now())
           ORDER BY key LIMIT $3 FOR UPDATE SKIP LOCKED),
         taken AS (
           UPDATE tuban.patches p SET holder = current_user, claimed_at = now(),
             lease_expires = now() + $4 * interval '1 second', heartbeat_at = now()
           FROM pick WHERE p.uid = pick.uid RETURNING p.key, p.uid, p.holder, p.lease_expires),
         logged AS (INSERT INTO tuban.lease_log(uid, holder, action) SELECT uid, holder, 'claim' FROM taken)
         SELECT {COLUMNS} FROM taken ORDER BY key"
    );
    let rows = hub.client.query(&sql, &[&township, &status, &n, &ttl_s]).map_err(|e| hub.error(e))?;
    Ok(rows_to_leases(&rows))
}

/// Claims the patches `keys`; returns the leases taken and those another holds.
pub fn claim(hub: &mut Hub, keys: &[String], ttl: Duration) -> Result<(Vec<Lease>, Vec<Lease>), HubError> {
    let ttl_s = ttl.as_secs_f64();
    let sql = format!(
        "WITH taken AS (
           UPDATE tuban.patches SET holder = current_user, claimed_at = now(),
             lease_expires = now() + $2 * interval '1 second', heartbeat_at = now()
           WHERE key = ANY($1) AND (lease_expires IS NULL OR lease_expires <= now() OR holder = current_user)
           RETURNING key, uid, holder, lease_expires),
         logged AS (INSERT INTO tuban.lease_log(uid, holder, action) SELECT uid, holder, 'claim' FROM taken)
         SELECT {COLUMNS} FROM taken ORDER BY key"
    );
    let taken = rows_to_leases(&hub.client.query(&sql, &[&keys, &ttl_s]).map_err(|e| hub.error(e))?);
    let held = list(hub, Some(keys))?.into_iter().filter(|l| l.holder != hub.user).collect();
    Ok((taken, held))
}

/// Live leases (of `keys`, or all the user can see), in key order.
pub fn list(hub: &mut Hub, keys: Option<&[String]>) -> Result<Vec<Lease>, HubError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM tuban.patches WHERE holder IS NOT NULL AND lease_expires > now() \
         AND ($1::text[] IS NULL OR key = ANY($1)) ORDER BY key"
    );
    let keys: Option<Vec<String>> = keys.map(<[String]>::to_vec);
    Ok(rows_to_leases(&hub.client.query(&sql, &[&keys]).map_err(|e| hub.error(e))?))
}

/// Gives up the user's leases (of `keys`, or all); returns how many.
pub fn release(hub: &mut Hub, keys: Option<&[String]>) -> Result<u64, HubError> {
    let keys: Option<Vec<String>> = keys.map(<[String]>::to_vec);
    hub.client
        .execute(
            "WITH gone AS (UPDATE tuban.patches SET holder = NULL, lease_expires = NULL
               WHERE holder = current_user AND ($1::text[] IS NULL OR key = ANY($1)) RETURNING uid)
             INSERT INTO tuban.lease_log(uid, holder, action) SELECT uid, current_user, 'release' FROM gone",
            &[&keys],
        )
        .map_err(|e| hub.error(e))
}

/// Renews the user's live leases (every sync); returns how many.
pub fn heartbeat(hub: &mut Hub) -> Result<u64, HubError> {
    let ttl_s = LEASE_TTL.as_secs_f64();
    hub.client
        .execute(
            "UPDATE tuban.patches SET lease_expires = now() + $1 * interval '1 second', heartbeat_at = now() \
             WHERE holder = current_user AND lease_expires > now()",
            &[&ttl_s],
        )
        .map_err(|e| hub.error(e))
}

/// An administrator takes the leases of `keys` over (whoever holds them); audited with the
/// previous holder.
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
        "WITH old AS (SELECT uid, CASE WHEN lease_expires > now() THEN holder END AS holder
                      FROM tuban.patches WHERE key = ANY($1) FOR UPDATE),
         taken AS (
           UPDATE tuban.patches p SET holder = current_user, claimed_at = now(),
             lease_expires = now() + $2 * interval '1 second', heartbeat_at = now()
           FROM old WHERE p.uid = old.uid RETURNING p.key, p.uid, p.holder, p.lease_expires, old.holder AS previous),
         logged AS (INSERT INTO tuban.lease_log(uid, holder, previous, action)
           SELECT uid, holder, previous, 'takeover' FROM taken)
         SELECT {COLUMNS} FROM taken ORDER BY key"
    );
    Ok(rows_to_leases(&hub.client.query(&sql, &[&keys, &ttl_s]).map_err(|e| hub.error(e))?))
}
