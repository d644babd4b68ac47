//! The team hub: a project on PostgreSQL + PostGIS for a province campaign. `schema` (tables,
//! roles, row-level security, the version check), `publish` (init, publish, join), `sync` (push
//! and pull of field changes, the same merge rule and conflict queue as work packages), `lease`
//! (claims with `FOR UPDATE SKIP LOCKED`, heartbeats, take-over). This module: the connection
//! (the address, the password from the address, `PGPASSWORD` or `~/.pgpass`, TLS when the server
//! offers it, a connect timeout so a lost network is an error and not a hang) and the errors,
//! each naming the server and what to do.
//!
//! The PostgreSQL SQL of the hub lives here, not in `store` (which holds the project file's).

pub mod lease;
pub mod publish;
pub mod schema;
pub mod sync;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use postgres::config::{Host, SslMode};
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, Config, Row};

use crate::store::StoreError;

/// What went wrong with the hub; every message names the server.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The address could not be read.
    #[error("中心库地址无法识别：{url}（应为 postgresql://用户@主机:端口/数据库） / cannot read the hub address {url} (expected postgresql://user@host:port/database): {detail}")]
    Address { url: String, detail: String },
    /// The server cannot be reached (down, wrong port, no network).
    #[error("无法连接中心库 {server}：{detail}。编辑已保存在本地文件，能连上时再同步 / cannot reach the hub {server}: {detail}. Your edits are saved in the local file and sync when the hub is reachable")]
    Unreachable { server: String, detail: String },
    /// Login refused.
    #[error("中心库 {server} 拒绝用户 {user} 登录：请检查密码（连接串、PGPASSWORD 或 ~/.pgpass），本地未作任何改动 / the hub {server} refused the login of {user}: check the password (in the address, PGPASSWORD or ~/.pgpass); nothing was changed locally")]
    LoginRefused { server: String, user: String },
    /// A write (or read) the user's role may not make.
    #[error("中心库 {server} 不允许用户 {user} 这样做：{detail}。本地未作任何改动 / the hub {server} does not allow {user} to do this: {detail}. Nothing was changed locally")]
    Forbidden { server: String, user: String, detail: String },
    /// No tuban hub in that database.
    #[error("{server} 不是 tuban 中心库：请先运行 `tuban hub init` / {server} is not a tuban hub: run `tuban hub init` first")]
    NotAHub { server: String },
    /// The hub holds another project.
    #[error("中心库 {server} 存放的是另一个项目“{name}”，不是本项目；请检查地址 / the hub {server} holds another project (“{name}”), not this one: check the address")]
    OtherProject { server: String, name: String },
    /// Written by a newer tuban.
    #[error("中心库 {server} 由更新版本的 tuban 建立（结构版本 {version}）：请升级 tuban / the hub {server} was made by a newer tuban (schema {version}): upgrade tuban")]
    TooNew { server: String, version: i64 },
    /// The project file is not linked to a hub.
    #[error("{path} 没有关联中心库：请用 `tuban hub join` 建立本地副本 / {path} is not linked to a hub: make a local copy with `tuban hub join`")]
    NotLinked { path: String },
    /// Something the hub or the request does not allow, said in words.
    #[error("{0}")]
    Invalid(String),
    /// The server failed otherwise.
    #[error("中心库 {server} 出错 / the hub {server} failed: {cause}")]
    Server { server: String, cause: postgres::Error },
    /// The local project failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing a local file failed.
    #[error("{path}: {cause}")]
    Io { path: String, cause: std::io::Error },
}

impl HubError {
    /// Sorts a PostgreSQL error into what the analyst is told.
    pub(crate) fn from_pg(server: &str, user: &str, e: postgres::Error) -> HubError {
        let server = server.to_string();
        if let Some(code) = e.code() {
            let said = e.as_db_error().map(|d| d.message().to_string()).unwrap_or_default();
            if *code == SqlState::INVALID_PASSWORD {
                return HubError::LoginRefused { server, user: user.to_string() };
            }
            // (28000: the server's pg_hba.conf does not let this user in from here.)
            if *code == SqlState::INSUFFICIENT_PRIVILEGE || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
                return HubError::Forbidden { server, user: user.to_string(), detail: said };
            }
            if *code == SqlState::INVALID_CATALOG_NAME {
                return HubError::Invalid(format!(
                    "{server}: 服务器上没有这个数据库，请检查地址 / no such database on the server: check the address ({said})"
                ));
            }
            // Down, restarting, too busy, or a transaction that lost a race: try again later.
            let transient = [
                &SqlState::TOO_MANY_CONNECTIONS,
                &SqlState::T_R_DEADLOCK_DETECTED,
                &SqlState::T_R_SERIALIZATION_FAILURE,
                &SqlState::QUERY_CANCELED,
            ];
            if code.code().starts_with("57P") || code.code().starts_with("08") || transient.contains(&code) {
                return HubError::Unreachable { server, detail: e.to_string() };
            }
            return HubError::Server { server, cause: e };
        }
        let said = format!("{e} {}", std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default());
        if said.contains("password missing") {
            return HubError::LoginRefused { server, user: user.to_string() };
        }
        if e.is_closed() || std::error::Error::source(&e).is_some() {
            let detail = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_else(|| e.to_string());
            return HubError::Unreachable { server, detail };
        }
        HubError::Server { server, cause: e }
    }

    /// Whether the hub could not be reached (the window keeps trying; other errors stop).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, HubError::Unreachable { .. })
    }
}

pub(crate) fn cancelled() -> HubError {
    HubError::Invalid("已取消；已完成的步骤保留，中心库上未提交的部分未改动 / cancelled: steps already done are kept, nothing uncommitted was changed on the hub".into())
}

/// A spot-check verdict recorded on the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpotVerdict {
    /// Patch key.
    pub key: String,
    /// The verdict (合格, 不合格, …).
    pub verdict: String,
    /// The reviewer's note.
    pub note: Option<String>,
    /// Who.
    pub reviewer: String,
    /// When (UTC).
    pub at: String,
}

/// An open connection to a hub.
pub struct Hub {
    pub(crate) client: Client,
    /// `user@host:port/db`, for messages.
    pub server: String,
    /// The login.
    pub user: String,
    /// The address without the password (kept in a linked project).
    pub url: String,
    /// The user's kind and township, once asked.
    identity: Option<(Option<String>, Option<String>)>,
    /// This connection's server process (its own notifications are not news).
    pid: i32,
}

/// How long a connection attempt may take before the hub counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

fn host_text(h: &Host) -> String {
    match h {
        Host::Tcp(s) => s.clone(),
        #[cfg(unix)]
        Host::Unix(p) => p.display().to_string(),
    }
}

/// The password of `~/.pgpass` (or `PGPASSFILE`) for this host, port, database and user.
fn pgpass(host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    let file = std::env::var_os("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass")))?;
    let text = std::fs::read_to_string(file).ok()?;
    let port = port.to_string();
    text.lines().filter(|l| !l.trim_start().starts_with('#')).find_map(|line| {
        let parts = split_pgpass(line);
        let [h, p, d, u, pw] = parts.as_slice() else { return None };
        let ok = |pat: &str, v: &str| pat == "*" || pat == v;
        (ok(h, host) || (h == "localhost" && host.starts_with('/')))
            .then_some(())
            .filter(|_| ok(p, &port) && ok(d, db) && ok(u, user))
            .map(|_| pw.to_string())
    })
}

/// A `.pgpass` line's five fields (`:` separates, `\` escapes).
fn split_pgpass(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(n), Some(last)) = (chars.next(), out.last_mut()) {
                    last.push(n);
                }
            }
            ':' if out.len() < 5 => out.push(String::new()),
            c => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out
}

/// Accepts the server's certificate as libpq's `sslmode=prefer|require` do: the link is
/// encrypted, the certificate not verified (a county's hub usually has a self-signed one).
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls() -> Result<tokio_postgres_rustls::MakeRustlsConnect, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The address with the password left out (what a linked project keeps).
pub fn public_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    match rest.split_once('@') {
        Some((auth, host)) => {
            let user = auth.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_string(),
    }
}

impl Hub {
    /// Connects to `url` (`postgresql://user[:password]@host[:port]/db[?sslmode=…]`). TLS is used
    /// when the server offers it (`sslmode=prefer`, the default), required with `require`.
    pub fn connect(url: &str) -> Result<Hub, HubError> {
        let mut config =
            Config::from_str(url).map_err(|e| HubError::Address { url: public_url(url), detail: e.to_string() })?;
        let user = config.get_user().map(str::to_string).unwrap_or_else(crate::store::current_user);
        config.user(&user);
        let host = config.get_hosts().first().map(host_text).unwrap_or_else(|| "localhost".into());
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let db = config.get_dbname().map(str::to_string).unwrap_or_else(|| user.clone());
        let server = format!("{user}@{host}:{port}/{db}");
        if config.get_password().is_none() {
            let pw = std::env::var("PGPASSWORD").ok().or_else(|| pgpass(&host, port, &db, &user));
            if let Some(pw) = pw {
                config.password(pw);
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("tuban").keepalives_idle(Duration::from_secs(30));
        let client = if config.get_ssl_mode() == SslMode::Disable {
            config.connect(postgres::NoTls)
        } else {
            let tls = tls().map_err(|e| HubError::Unreachable { server: server.clone(), detail: e.to_string() })?;
            config.connect(tls)
        };
        let mut client = client.map_err(|e| HubError::from_pg(&server, &user, e))?;
        client.batch_execute("SET search_path = tuban, public").map_err(|e| HubError::from_pg(&server, &user, e))?;
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .map(|r| r.get(0))
            .map_err(|e| HubError::from_pg(&server, &user, e))?;
        Ok(Hub { client, server, user, url: public_url(url), identity: None, pid })
    }

    /// Whether the connection is encrypted.
    pub fn encrypted(&mut self) -> Result<bool, HubError> {
        let row = self
            .query_opt("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
            .map_err(|e| self.error(e))?;
        Ok(row.map(|r| r.get::<_, bool>(0)).unwrap_or(false))
    }

    pub(crate) fn error(&self, e: postgres::Error) -> HubError {
        HubError::from_pg(&self.server, &self.user, e)
    }

    pub(crate) fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, postgres::Error> {
        self.client.query_one(sql, params)
    }

    pub(crate) fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, postgres::Error> {
        self.client.query_opt(sql, params)
    }

    /// Asks the hub to tell this connection which patches change (`LISTEN`).
    pub fn listen(&mut self) -> Result<(), HubError> {
        self.client.batch_execute("LISTEN tuban_patches").map_err(|e| self.error(e))
    }

    /// Waits up to `limit` for patches changed by others (after [`Self::listen`]); returns their
    /// uids (empty when none came). A dropped connection is an error.
    pub fn wait_for_change(&mut self, limit: Duration) -> Result<Vec<String>, HubError> {
        use postgres::fallible_iterator::FallibleIterator;
        let mut uids = Vec::new();
        let mut n = self.client.notifications();
        let mut it = n.timeout_iter(limit);
        while let Some(note) = it.next().map_err(|e| HubError::from_pg(&self.server, &self.user, e))? {
            if note.process_id() == self.pid {
                continue;
            }
            uids.push(note.payload().to_string());
            if uids.len() > 10_000 {
                break;
            }
        }
        Ok(uids)
    }

    /// The user's kind on this hub (`admin`, `analyst`, `reviewer`) and township.
    /// Asked once per connection (an administrator's change of it applies to new connections).
    pub fn whoami(&mut self) -> Result<(Option<String>, Option<String>), HubError> {
        if let Some(id) = &self.identity {
            return Ok(id.clone());
        }
        let r = self.query_one("SELECT tuban.kind(), tuban.township()", &[]).map_err(|e| self.error(e))?;
        let id: (Option<String>, Option<String>) = (r.get(0), r.get(1));
        self.identity = Some(id.clone());
        Ok(id)
    }

    /// Records a spot-check verdict on a patch (a reviewer's or an administrator's; refused to
    /// others by row-level security).
    pub fn record_spotcheck(&mut self, key: &str, verdict: &str, note: Option<&str>) -> Result<(), HubError> {
        let n = self
            .client
            .execute(
                "INSERT INTO tuban.spotchecks(uid, verdict, note) SELECT uid, $2, $3 FROM tuban.patches WHERE key = $1",
                &[&key, &verdict, &note],
            )
            .map_err(|e| self.error(e))?;
        if n == 0 {
            return Err(HubError::Invalid(format!(
                "{}: 中心库没有图斑 {key} / the hub has no patch {key}",
                self.server
            )));
        }
        Ok(())
    }

    /// Spot-check verdicts the user can see, oldest first.
    pub fn spotchecks(&mut self) -> Result<Vec<SpotVerdict>, HubError> {
        let rows = self
            .client
            .query(
                "SELECT p.key, s.verdict, s.note, s.reviewer, to_char(s.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
                 FROM tuban.spotchecks s JOIN tuban.patches p USING (uid) ORDER BY s.id",
                &[],
            )
            .map_err(|e| self.error(e))?;
        Ok(rows
            .iter()
            .map(|r| SpotVerdict { key: r.get(0), verdict: r.get(1), note: r.get(2), reviewer: r.get(3), at: r.get(4) })
            .collect())
    }

    /// Adds a person: a login role in the kind's group, with a row in `tuban.users`
    /// (administrators only; the password is set on the role, never stored by tuban).
    pub fn add_user(&mut self, name: &str, kind: &str, township: Option<&str>, password: &str) -> Result<(), HubError> {
        if !["admin", "analyst", "reviewer"].contains(&kind) {
            return Err(HubError::Invalid(format!(
                "角色应为 admin、analyst 或 reviewer，而不是 {kind} / the kind must be admin, analyst or reviewer, not {kind}"
            )));
        }
        if kind == "analyst" && township.is_none() {
            return Err(HubError::Invalid("乡镇核查员需要 --township / an analyst needs --township".into()));
        }
        let (server, user) = (self.server.clone(), self.user.clone());
        let mut tx = self.client.transaction().map_err(|e| HubError::from_pg(&server, &user, e))?;
        let run = |tx: &mut postgres::Transaction| -> Result<(), postgres::Error> {
            let exists: bool =
                tx.query_one("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", &[&name])?.get(0);
            let ident = quote_ident(name);
            let pw = quote_literal(password);
            if exists {
                tx.batch_execute(&format!("ALTER ROLE {ident} LOGIN PASSWORD {pw}"))?;
            } else {
                tx.batch_execute(&format!("CREATE ROLE {ident} LOGIN PASSWORD {pw}"))?;
            }
            tx.batch_execute(&format!("GRANT tuban_{kind} TO {ident}"))?;
            tx.execute(
                "INSERT INTO tuban.users(name, kind, township) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, township = EXCLUDED.township",
                &[&name, &kind, &township],
            )?;
            Ok(())
        };
        run(&mut tx).map_err(|e| HubError::from_pg(&server, &user, e))?;
        tx.commit().map_err(|e| HubError::from_pg(&server, &user, e))
    }
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_lines_and_public_urls() {
        assert_eq!(split_pgpass(r"h:5432:db:u:p\:w"), vec!["h", "5432", "db", "u", "p:w"]);
        assert_eq!(split_pgpass("*:*:*:u:a:b"), vec!["*", "*", "*", "u", "a:b"]);
        assert_eq!(public_url("postgresql://alice:secret@127.0.0.1:5433/hub"), "postgresql://alice@127.0.0.1:5433/hub");
        assert_eq!(public_url("postgresql://127.0.0.1/hub"), "postgresql://127.0.0.1/hub");
    }
}
