//! Throwaway PostgreSQL clusters for the hub's tests: `initdb` into a temp dir and `pg_ctl` on a
//! free loopback port, as the `postgres` system user when the tests run as root (PostgreSQL
//! refuses root). Each test gets its own database (`Cluster::database`); a test that stops or
//! kills the server starts a private cluster. Stopped on drop; the shared cluster is stopped at
//! exit. Debian's postgresql-15 and postgresql-15-postgis-3 (scripts/install-deps.sh).
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The superuser every cluster is made with (trust on loopback for it; passwords for others).
pub const SUPERUSER: &str = "tuban_test";

/// A running cluster.
pub struct Cluster {
    pub dir: PathBuf,
    pub port: u16,
    bin: PathBuf,
    as_postgres: bool,
    _tmp: Option<tempfile::TempDir>,
}

fn bin_dir() -> Option<PathBuf> {
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if dir.join("initdb").exists() {
        return Some(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Cluster {
    /// Starts a new cluster, or says why it cannot (no PostgreSQL, no PostGIS, no postgres user).
    pub fn start() -> Result<Cluster, String> {
        let bin = bin_dir().ok_or("PostgreSQL's initdb not found (install postgresql-15)")?;
        let share = Command::new("pg_config").arg("--sharedir").output().map_err(|e| e.to_string())?;
        let share = PathBuf::from(String::from_utf8_lossy(&share.stdout).trim());
        if !share.join("extension/postgis.control").exists() {
            return Err(format!(
                "PostGIS not installed ({}/extension/postgis.control missing; install postgresql-15-postgis-3)",
                share.display()
            ));
        }
        // SAFETY: geteuid has no preconditions.
        let as_postgres = unsafe { libc::geteuid() } == 0;
        let tmp = tempfile::Builder::new().prefix("tuban-pg-").tempdir().map_err(|e| e.to_string())?;
        let dir = tmp.path().join("data");
        if as_postgres {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(tmp.path())
                .status()
                .map_err(|e| e.to_string())?;
            if !ok.success() {
                return Err("cannot give the cluster's folder to the postgres user (no such user?)".into());
            }
        }
        let c = Cluster { dir, port: free_port(), bin, as_postgres, _tmp: Some(tmp) };
        let pwfile = c.dir.with_file_name("pw");
        std::fs::write(&pwfile, "").map_err(|e| e.to_string())?;
        let init = c.run(
            "initdb",
            &["-D", &c.dir.display().to_string(), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8"],
        )?;
        if !init.status.success() {
            return Err(format!("initdb failed: {}", String::from_utf8_lossy(&init.stderr)));
        }
        // Passwords for everyone but the superuser over TCP, so refused logins can be tested.
        let hba = format!(
            "local all all trust\nhost all {SUPERUSER} 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
        );
        c.write_as_owner(&c.dir.join("pg_hba.conf"), &hba)?;
        c.start_server()?;
        Ok(c)
    }

    fn write_as_owner(&self, path: &Path, text: &str) -> Result<(), String> {
        std::fs::write(path, text).map_err(|e| e.to_string())?;
        if self.as_postgres {
            Command::new("chown").args(["postgres:postgres"]).arg(path).status().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<Output, String> {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args).current_dir("/").output().map_err(|e| format!("{}: {e}", exe.display()))
    }

    /// Starts (or restarts) the server on its port and waits until it accepts connections.
    pub fn start_server(&self) -> Result<(), String> {
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.display());
        let log = self.dir.with_file_name("log");
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.dir.display().to_string(),
                "-l",
                &log.display().to_string(),
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        if !out.status.success() {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("pg_ctl start failed: {}{}", String::from_utf8_lossy(&out.stderr), log));
        }
        Ok(())
    }

    /// Stops the server: `immediate` is a crash (no shutdown checkpoint), as a killed server.
    pub fn stop_server(&self, immediate: bool) {
        let mode = if immediate { "immediate" } else { "fast" };
        let _ = self.run("pg_ctl", &["-D", &self.dir.display().to_string(), "-m", mode, "-w", "-t", "60", "stop"]);
    }

    /// Turns TLS on with a fresh self-signed certificate (as a county hub usually has) and
    /// restarts the server.
    pub fn enable_tls(&self) -> Result<(), String> {
        let (crt, key) = (self.dir.join("server.crt"), self.dir.join("server.key"));
        let out = Command::new("openssl")
            .args([
                "req",
                "-new",
                "-x509",
                "-days",
                "2",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-newkey",
                "rsa:2048",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&crt)
            .output()
            .map_err(|e| format!("openssl: {e}"))?;
        if !out.status.success() {
            return Err(format!("openssl req: {}", String::from_utf8_lossy(&out.stderr)));
        }
        if self.as_postgres {
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&crt)
                .arg(&key)
                .status()
                .map_err(|e| e.to_string())?;
        }
        Command::new("chmod").arg("600").arg(&key).status().map_err(|e| e.to_string())?;
        let conf = self.dir.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).map_err(|e| e.to_string())?;
        text.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        self.write_as_owner(&conf, &text)?;
        self.stop_server(false);
        self.start_server()
    }

    /// The superuser's address of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://{SUPERUSER}@127.0.0.1:{}/{db}?sslmode=disable", self.port)
    }

    /// A user's address with password.
    pub fn user_url(&self, db: &str, user: &str, password: &str) -> String {
        format!("postgresql://{user}:{password}@127.0.0.1:{}/{db}?sslmode=disable", self.port)
    }

    /// Runs SQL as the superuser with psql (fails the test on error).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                db,
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A fresh database for one test (returns its name).
    pub fn database(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("hub_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        name
    }

    /// Waits (up to `limit`) until the server accepts connections again.
    pub fn wait_ready(&self, limit: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < limit {
            let ok = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_server(true);
    }
}

static SHARED: OnceLock<Result<Cluster, String>> = OnceLock::new();

extern "C" fn stop_shared() {
    if let Some(Ok(c)) = SHARED.get() {
        c.stop_server(true);
        if let Some(top) = c.dir.parent() {
            let _ = std::fs::remove_dir_all(top);
        }
    }
}

/// The cluster the tests of this binary share (started once, stopped at exit); `None` when it
/// cannot start, reported through `cannot_run` (a failure under CI).
pub fn shared(test: &str) -> Option<&'static Cluster> {
    let c = SHARED.get_or_init(|| {
        let c = Cluster::start();
        if c.is_ok() {
            // SAFETY: registering a plain extern "C" function with no arguments.
            unsafe { libc::atexit(stop_shared) };
        }
        c
    });
    match c {
        Ok(c) => Some(c),
        Err(e) => {
            crate::common::cannot_run(test, &format!("no PostgreSQL test cluster: {e}"));
            None
        }
    }
}

/// A private cluster (for a test that stops or kills the server).
pub fn private(test: &str) -> Option<Cluster> {
    match Cluster::start() {
        Ok(c) => Some(c),
        Err(e) => {
            crate::common::cannot_run(test, &format!("no PostgreSQL test cluster: {e}"));
            None
        }
    }
}
