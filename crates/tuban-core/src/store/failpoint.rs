//! Aimed kills for the crash tests: with `TUBAN_FAILPOINT=name[:N]` in the environment, a debug
//! build kills itself with SIGKILL (a real `kill -9`, not a panic: no destructor, no rollback,
//! no flush) the N-th time (default the first) it reaches the point of that name.
//! Each point sits inside a store transaction, and before dying the process writes one line to
//! stderr saying whether SQLite was in fact inside a transaction, so a test can count the kills
//! that landed there instead of assuming it.
//! The hook exists only with `debug_assertions` (the profile `cargo test` builds the binary
//! with); in a release build `hit` is an empty function and the variable is never read.
//!
//! `TUBAN_PAUSEPOINT=name` with `TUBAN_PAUSE_UNTIL=file` instead waits at a point outside the
//! project file (`hit_at`) until the file exists.
//!
//! Points: `hub.push_before_commit` (inside the hub's push transaction), `hub.after_push_commit`
//! (the hub committed, the local acknowledgement not yet written), `hub.ack_before_commit`,
//! `hub.pull_before_commit` (inside the local transactions of a sync), `edit.after_values` (set_values: after the UPDATE, before the audit rows),
//! `edit.before_commit` (set_values: just before COMMIT), `import.row` (after each imported
//! row, inside the batch transaction), `attach.after_insert` (attach_to_case: after the INSERT,
//! before its audit row).

use rusqlite::Connection;

/// Kills the process with SIGKILL if `TUBAN_FAILPOINT` names `point` and this is its N-th hit.
#[cfg(debug_assertions)]
pub(crate) fn hit(point: &str, conn: &Connection) {
    let place = if conn.is_autocommit() { "outside a transaction" } else { "inside a transaction" };
    hit_at(point, place);
}

/// As [`hit`], at a point outside the project file (a hub transaction in flight, say).
#[cfg(debug_assertions)]
pub(crate) fn hit_at(point: &str, place: &str) {
    pause_at(point);
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static HITS: AtomicU64 = AtomicU64::new(0);
    let Some((name, nth)) = armed() else { return };
    if name != point {
        return;
    }
    let n = HITS.fetch_add(1, Ordering::SeqCst) + 1;
    if n != nth {
        return;
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "tuban failpoint {point}:{n}: SIGKILL {place}");
    let _ = err.flush();
    // SAFETY: getpid and kill have no preconditions; SIGKILL ends the process here.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
}

/// With `TUBAN_PAUSEPOINT=point` and `TUBAN_PAUSE_UNTIL=file`, waits at the point until the
/// file exists (at most a minute), after saying so on stderr: a test can then stop a server
/// while a transaction is in flight.
#[cfg(debug_assertions)]
fn pause_at(point: &str) {
    use std::io::Write;
    if std::env::var("TUBAN_PAUSEPOINT").ok().as_deref() != Some(point) {
        return;
    }
    let Some(until) = std::env::var_os("TUBAN_PAUSE_UNTIL").map(std::path::PathBuf::from) else { return };
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "tuban pausepoint {point}: waiting for {}", until.display());
    let _ = err.flush();
    drop(err);
    let start = std::time::Instant::now();
    while !until.exists() && start.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// In a release build the failpoints do nothing.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub(crate) fn hit(_point: &str, _conn: &Connection) {}

/// In a release build the failpoints do nothing.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub(crate) fn hit_at(_point: &str, _place: &str) {}

/// The armed point and its hit number, read once from `TUBAN_FAILPOINT`.
#[cfg(debug_assertions)]
fn armed() -> Option<(&'static str, u64)> {
    static ARMED: std::sync::OnceLock<Option<(String, u64)>> = std::sync::OnceLock::new();
    ARMED.get_or_init(|| parse(&std::env::var("TUBAN_FAILPOINT").ok()?)).as_ref().map(|(name, n)| (name.as_str(), *n))
}

/// `name` or `name:N` (N ≥ 1).
#[cfg(debug_assertions)]
fn parse(spec: &str) -> Option<(String, u64)> {
    let (name, nth) = match spec.split_once(':') {
        Some((name, n)) => (name, n.trim().parse().ok().filter(|&n| n >= 1)?),
        None => (spec, 1),
    };
    let name = name.trim();
    (!name.is_empty()).then(|| (name.to_string(), nth))
}

#[cfg(all(test, debug_assertions))]
mod tests {
    use super::parse;

    #[test]
    fn specs_parse() {
        assert_eq!(parse("import.row:7"), Some(("import.row".into(), 7)));
        assert_eq!(parse("edit.after_values"), Some(("edit.after_values".into(), 1)));
        assert_eq!(parse("x:0"), None);
        assert_eq!(parse("x:y"), None);
        assert_eq!(parse(""), None);
    }
}
