//! Long work (import, tiling, report, export) reports progress and honours cancel through a
//! shared [`Progress`]; the CLI draws it as a progress bar, the app as a bar with a cancel button.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Progress and cancel flag of one job, shared between the worker and whoever shows it.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
    cancel: AtomicBool,
    stage: Mutex<String>,
}

/// The user cancelled the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled by the user")]
pub struct Cancelled;

impl Progress {
    /// A fresh progress, shared.
    pub fn new() -> Arc<Progress> {
        Arc::new(Progress::default())
    }

    /// Starts a stage with a name and a total count of steps (0 when unknown).
    pub fn stage(&self, name: &str, total: u64) {
        if let Ok(mut s) = self.stage.lock() {
            *s = name.to_string();
        }
        self.total.store(total, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
    }

    /// Records `done` steps finished; returns `Err(Cancelled)` once cancel was asked.
    pub fn set(&self, done: u64) -> Result<(), Cancelled> {
        self.done.store(done, Ordering::Relaxed);
        self.check()
    }

    /// Returns `Err(Cancelled)` once cancel was asked.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    /// Asks the worker to stop at its next check.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// True once cancel was asked.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// (stage name, steps done, total steps).
    pub fn snapshot(&self) -> (String, u64, u64) {
        let stage = self.stage.lock().map(|s| s.clone()).unwrap_or_default();
        (stage, self.done.load(Ordering::Relaxed), self.total.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_is_seen_by_the_worker() {
        let p = Progress::new();
        p.stage("import", 10);
        assert!(p.set(3).is_ok());
        p.cancel();
        assert_eq!(p.set(4), Err(Cancelled));
        assert_eq!(p.snapshot(), ("import".to_string(), 4, 10));
    }
}
