//! The hub's schema in PostgreSQL (schema `tuban`), its roles and row-level security, and the
//! check every connection makes before it reads or writes: a tuban hub, of this project, of a
//! schema version this build knows (an older one is migrated, with a message).
//!
//! Roles: three group roles `tuban_admin`, `tuban_analyst`, `tuban_reviewer`; each person is a
//! login role in one of them with a row in `tuban.users` (kind, township). Row-level security:
//! an analyst reads and writes only the patches of their township; a reviewer reads every patch
//! and writes only spot-check verdicts (`tuban.spotchecks`); an administrator (and the owner who
//! ran `init`) everything.

use super::{Hub, HubError};

/// The hub schema this build writes.
pub const HUB_SCHEMA_VERSION: i64 = 2;

/// Version 1: the project, patches, the change log and base files.
const V1: &str = r#"
CREATE SCHEMA IF NOT EXISTS tuban;
CREATE TABLE tuban.meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE tuban.users (name text PRIMARY KEY, kind text NOT NULL CHECK (kind IN ('admin', 'analyst', 'reviewer')),
  township text, added_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE tuban.patches (uid text PRIMARY KEY, key text NOT NULL, township text, review_status text NOT NULL,
  verdict text, fields jsonb NOT NULL, geom geometry(Geometry, 4490), verified_geom geometry(Geometry, 4490),
  updated_at timestamptz NOT NULL DEFAULT now(), updated_by text NOT NULL DEFAULT current_user,
  version bigint NOT NULL DEFAULT 0);
CREATE INDEX patches_township ON tuban.patches (township, review_status, key);
CREATE INDEX patches_geom ON tuban.patches USING gist (geom);
CREATE TABLE tuban.changes (id bigserial PRIMARY KEY, uid text NOT NULL REFERENCES tuban.patches(uid),
  field text NOT NULL, before text, after text, by_user text NOT NULL DEFAULT current_user, client text NOT NULL,
  client_rev bigint NOT NULL, at timestamptz NOT NULL DEFAULT now(), UNIQUE (client, client_rev, uid, field));
CREATE INDEX changes_field ON tuban.changes (uid, field, id);
CREATE TABLE tuban.clients (id text PRIMARY KEY, user_name text NOT NULL DEFAULT current_user,
  file text, joined_at timestamptz NOT NULL DEFAULT now(), last_sync timestamptz);
CREATE TABLE tuban.base_files (township text PRIMARY KEY, bytes bytea NOT NULL, patches integer NOT NULL,
  written_at timestamptz NOT NULL DEFAULT now());
"#;

/// Version 2: leases (on the patch row itself, so a claim's `FOR UPDATE SKIP LOCKED` re-checks
/// the lease of a row another claim just took) and their log, spot-check verdicts, the live
/// queue, roles and row-level security.
const V2: &str = r#"
ALTER TABLE tuban.patches ADD COLUMN holder text, ADD COLUMN claimed_at timestamptz,
  ADD COLUMN lease_expires timestamptz, ADD COLUMN heartbeat_at timestamptz;
CREATE INDEX patches_holder ON tuban.patches (holder) WHERE holder IS NOT NULL;
CREATE TABLE tuban.lease_log (id bigserial PRIMARY KEY, uid text NOT NULL, holder text, previous text,
  action text NOT NULL, by_user text NOT NULL DEFAULT current_user, at timestamptz NOT NULL DEFAULT now());
CREATE TABLE tuban.spotchecks (id bigserial PRIMARY KEY, uid text NOT NULL REFERENCES tuban.patches(uid),
  verdict text NOT NULL, note text, reviewer text NOT NULL DEFAULT current_user, at timestamptz NOT NULL DEFAULT now());

-- (Security definer: inside them current_user is the owner, so they ask for session_user.)
CREATE FUNCTION tuban.kind() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER SET search_path = tuban, pg_temp AS
  $$ SELECT coalesce((SELECT kind FROM tuban.users WHERE name = session_user),
       CASE WHEN pg_has_role(session_user, (SELECT tableowner FROM pg_tables WHERE schemaname = 'tuban' AND tablename = 'patches'), 'MEMBER') THEN 'admin' END) $$;
CREATE FUNCTION tuban.township() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER SET search_path = tuban, pg_temp AS
  $$ SELECT township FROM tuban.users WHERE name = session_user $$;
CREATE FUNCTION tuban.township_of(u text) RETURNS text LANGUAGE sql STABLE SECURITY DEFINER SET search_path = tuban, pg_temp AS
  $$ SELECT township FROM tuban.patches WHERE uid = u $$;

-- Whether a patch exists at all, whoever may see it (a push tells "hidden from you" from "never here").
CREATE FUNCTION tuban.has_patch(u text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER SET search_path = tuban, pg_temp AS
  $$ SELECT EXISTS (SELECT 1 FROM tuban.patches WHERE uid = u) $$;
CREATE FUNCTION tuban.refuse_hidden_update() RETURNS void LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'row-level security hides a patch this push changes from %', current_user
       USING ERRCODE = 'insufficient_privilege'; END $$;
CREATE FUNCTION tuban.notify_patch() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN PERFORM pg_notify('tuban_patches', NEW.uid); RETURN NULL; END $$;
-- Only when review data change: a notifying commit takes a cluster-wide lock, and claims and
-- heartbeats must not queue on it.
CREATE TRIGGER patches_notify AFTER UPDATE OF fields, review_status, verdict, verified_geom ON tuban.patches
  FOR EACH ROW EXECUTE FUNCTION tuban.notify_patch();

-- The group roles are shared by every hub of the cluster (another may be creating them now).
DO $$ DECLARE r text; BEGIN
  FOREACH r IN ARRAY ARRAY['tuban_admin', 'tuban_analyst', 'tuban_reviewer'] LOOP
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN EXECUTE format('CREATE ROLE %I NOLOGIN', r); END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END LOOP;
END $$;
GRANT USAGE ON SCHEMA tuban TO tuban_admin, tuban_analyst, tuban_reviewer;
GRANT SELECT ON ALL TABLES IN SCHEMA tuban TO tuban_admin, tuban_analyst, tuban_reviewer;
GRANT UPDATE (fields, review_status, verdict, verified_geom, updated_at, updated_by, version,
  holder, claimed_at, lease_expires, heartbeat_at) ON tuban.patches TO tuban_admin, tuban_analyst;
GRANT UPDATE (lease_expires, heartbeat_at) ON tuban.patches TO tuban_reviewer; -- (every sync's heartbeat; a reviewer holds none)
GRANT INSERT ON tuban.changes, tuban.clients TO tuban_admin, tuban_analyst, tuban_reviewer;
GRANT UPDATE (last_sync) ON tuban.clients TO tuban_admin, tuban_analyst, tuban_reviewer;
GRANT INSERT ON tuban.lease_log TO tuban_admin, tuban_analyst;
GRANT INSERT ON tuban.spotchecks TO tuban_admin, tuban_reviewer;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA tuban TO tuban_admin, tuban_analyst, tuban_reviewer;
GRANT ALL ON ALL TABLES IN SCHEMA tuban TO tuban_admin;

-- Policies ask who the user is once per statement (the scalar subqueries become init plans), not
-- once per row, and compare townships with `=` so the township indexes serve them; the change
-- log carries its patch's township for the same reason.
ALTER TABLE tuban.changes ADD COLUMN township text;
UPDATE tuban.changes c SET township = p.township FROM tuban.patches p WHERE p.uid = c.uid;
CREATE INDEX changes_township ON tuban.changes (township, id);
ALTER TABLE tuban.patches ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON tuban.patches FOR SELECT USING ((SELECT tuban.kind()) IN ('admin', 'reviewer')
  OR ((SELECT tuban.kind()) = 'analyst' AND township = (SELECT tuban.township())));
-- An analyst changes patches of their township that nobody else holds (a lease is kept by the
-- server, not only by the client).
CREATE POLICY write ON tuban.patches FOR UPDATE
  USING ((SELECT tuban.kind()) = 'admin' OR ((SELECT tuban.kind()) = 'analyst' AND township = (SELECT tuban.township())
    AND (holder IS NULL OR lease_expires IS NULL OR lease_expires <= now() OR holder = current_user)))
  WITH CHECK ((SELECT tuban.kind()) = 'admin' OR ((SELECT tuban.kind()) = 'analyst' AND township = (SELECT tuban.township())
    AND (holder IS NULL OR holder = current_user)));
CREATE POLICY admin ON tuban.patches FOR ALL USING ((SELECT tuban.kind()) = 'admin') WITH CHECK ((SELECT tuban.kind()) = 'admin');
ALTER TABLE tuban.changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON tuban.changes FOR SELECT USING ((SELECT tuban.kind()) IN ('admin', 'reviewer')
  OR ((SELECT tuban.kind()) = 'analyst' AND township = (SELECT tuban.township())));
CREATE POLICY write ON tuban.changes FOR INSERT WITH CHECK (by_user = current_user
  AND client IN (SELECT id FROM tuban.clients WHERE user_name = current_user)
  AND township IS NOT DISTINCT FROM tuban.township_of(uid)
  AND ((SELECT tuban.kind()) = 'admin' OR ((SELECT tuban.kind()) = 'analyst' AND township = (SELECT tuban.township()))));
ALTER TABLE tuban.clients ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON tuban.clients FOR ALL USING (user_name = current_user OR (SELECT tuban.kind()) = 'admin')
  WITH CHECK (user_name = current_user);
ALTER TABLE tuban.base_files ENABLE ROW LEVEL SECURITY;
CREATE POLICY publish ON tuban.base_files FOR INSERT WITH CHECK ((SELECT tuban.kind()) = 'admin');
CREATE POLICY read ON tuban.base_files FOR SELECT
  USING ((SELECT tuban.kind()) IN ('admin', 'reviewer') OR ((SELECT tuban.kind()) = 'analyst' AND township = (SELECT tuban.township())));
ALTER TABLE tuban.spotchecks ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON tuban.spotchecks FOR SELECT USING ((SELECT tuban.kind()) IN ('admin', 'reviewer')
  OR tuban.township_of(uid) IS NOT DISTINCT FROM (SELECT tuban.township()));
CREATE POLICY write ON tuban.spotchecks FOR INSERT WITH CHECK ((SELECT tuban.kind()) IN ('admin', 'reviewer') AND reviewer = current_user);
"#;

/// Migration steps: index 0 creates version 1, index 1 upgrades 1 to 2.
const STEPS: [&str; 2] = [V1, V2];

/// What a connection found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubInfo {
    /// The project's uid on the hub (None before a publish).
    pub project_uid: Option<String>,
    /// The project's name as published.
    pub project_name: Option<String>,
    /// The schema version (after any migration).
    pub version: i64,
    /// Set when this connection migrated an older hub: from which version.
    pub migrated_from: Option<i64>,
}

fn version(hub: &mut Hub) -> Result<Option<i64>, HubError> {
    let exists: bool = hub
        .query_one("SELECT to_regclass('tuban.meta') IS NOT NULL", &[])
        .map(|r| r.get(0))
        .map_err(|e| hub.error(e))?;
    if !exists {
        return Ok(None);
    }
    let v: Option<String> = hub
        .query_opt("SELECT value FROM tuban.meta WHERE key = 'schema_version'", &[])
        .map_err(|e| hub.error(e))?
        .map(|r| r.get(0));
    Ok(Some(v.and_then(|v| v.parse().ok()).unwrap_or(0)))
}

/// Creates the hub's schema (refused when one is there already).
pub fn init(hub: &mut Hub) -> Result<HubInfo, HubError> {
    if let Some(v) = version(hub)? {
        return Err(HubError::Invalid(format!(
            "{}: 已经是 tuban 中心库（结构版本 {v}），未改动 / already a tuban hub (schema {v}): nothing changed",
            hub.server
        )));
    }
    let postgis: bool = hub
        .query_one("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'postgis')", &[])
        .map(|r| r.get(0))
        .map_err(|e| hub.error(e))?;
    if !postgis {
        return Err(HubError::Invalid(format!(
            "{}: 服务器没有安装 PostGIS（Debian：postgresql-15-postgis-3） / the server has no PostGIS (Debian: postgresql-15-postgis-3)",
            hub.server
        )));
    }
    let mut tx = hub.client.transaction().map_err(|e| HubError::from_pg(&hub.server, &hub.user, e))?;
    let run = |tx: &mut postgres::Transaction| -> Result<(), postgres::Error> {
        tx.batch_execute("CREATE EXTENSION IF NOT EXISTS postgis")?;
        for step in STEPS {
            tx.batch_execute(step)?;
        }
        tx.execute(
            "INSERT INTO tuban.meta(key, value) VALUES ('schema_version', $1), ('created_at', now()::text)",
            &[&HUB_SCHEMA_VERSION.to_string()],
        )?;
        Ok(())
    };
    run(&mut tx).map_err(|e| HubError::from_pg(&hub.server, &hub.user, e))?;
    tx.commit().map_err(|e| HubError::from_pg(&hub.server, &hub.user, e))?;
    check(hub, None)
}

/// Checks the hub: a tuban hub of `project_uid` (when given) and of a schema version this build
/// knows; an older one is migrated in one transaction.
pub fn check(hub: &mut Hub, project_uid: Option<&str>) -> Result<HubInfo, HubError> {
    let Some(v) = version(hub)? else {
        return Err(HubError::NotAHub { server: hub.server.clone() });
    };
    if v > HUB_SCHEMA_VERSION {
        return Err(HubError::TooNew { server: hub.server.clone(), version: v });
    }
    let migrated_from = (v < HUB_SCHEMA_VERSION).then_some(v);
    if let Some(from) = migrated_from {
        let mut tx = hub.client.transaction().map_err(|e| HubError::from_pg(&hub.server, &hub.user, e))?;
        let run = |tx: &mut postgres::Transaction| -> Result<(), postgres::Error> {
            // Two clients meeting an old hub at once: the second waits here and finds it done.
            tx.execute("SELECT pg_advisory_xact_lock(7291001)", &[])?;
            let now: Option<String> =
                tx.query_opt("SELECT value FROM tuban.meta WHERE key = 'schema_version'", &[])?.map(|r| r.get(0));
            if now.and_then(|v| v.parse::<i64>().ok()) != Some(from) {
                return Ok(());
            }
            for step in STEPS.iter().skip(from as usize) {
                tx.batch_execute(step)?;
            }
            tx.execute(
                "UPDATE tuban.meta SET value = $1 WHERE key = 'schema_version'",
                &[&HUB_SCHEMA_VERSION.to_string()],
            )?;
            Ok(())
        };
        run(&mut tx).map_err(|e| HubError::from_pg(&hub.server, &hub.user, e))?;
        tx.commit().map_err(|e| HubError::from_pg(&hub.server, &hub.user, e))?;
    }
    let meta = |hub: &mut Hub, key: &str| -> Result<Option<String>, HubError> {
        Ok(hub
            .query_opt("SELECT value FROM tuban.meta WHERE key = $1", &[&key])
            .map_err(|e| hub.error(e))?
            .map(|r| r.get(0)))
    };
    let info = HubInfo {
        project_uid: meta(hub, "project_uid")?,
        project_name: meta(hub, "project_name")?,
        version: HUB_SCHEMA_VERSION,
        migrated_from,
    };
    if let (Some(want), Some(have)) = (project_uid, info.project_uid.as_deref()) {
        if want != have {
            return Err(HubError::OtherProject {
                server: hub.server.clone(),
                name: info.project_name.clone().unwrap_or_default(),
            });
        }
    }
    Ok(info)
}

/// Creates a version-1 hub (as the first release wrote it), for the migration test.
#[doc(hidden)]
pub fn init_version_1(hub: &mut Hub) -> Result<(), HubError> {
    let sql = format!(
        "CREATE EXTENSION IF NOT EXISTS postgis; {V1} INSERT INTO tuban.meta(key, value) VALUES ('schema_version', '1');"
    );
    hub.client.batch_execute(&sql).map_err(|e| HubError::from_pg(&hub.server, &hub.user, e))
}
