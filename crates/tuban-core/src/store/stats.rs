//! Counts and areas of a project by status, township and verdict (`tuban info`, report tables).

use std::collections::BTreeMap;

use super::{Project, Result};
use tuban_model::ReviewStatus;

/// Count and area of a group of patches.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    /// Number of patches.
    pub count: usize,
    /// Total ellipsoidal area in m².
    pub area_m2: f64,
}

impl Tally {
    fn add(&mut self, area_m2: f64) {
        self.count += 1;
        self.area_m2 += area_m2;
    }
}

/// Figures of a whole project.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectSummary {
    /// All patches.
    pub total: Tally,
    /// Patches with a sub-patch id.
    pub sub_patches: usize,
    /// Point clues (no area).
    pub points: usize,
    /// By review status.
    pub by_status: BTreeMap<ReviewStatus, Tally>,
    /// By township name ("" when unknown).
    pub by_township: BTreeMap<String, Tally>,
    /// By verdict ("" when not set).
    pub by_verdict: BTreeMap<String, Tally>,
    /// By township, then verdict.
    pub by_township_verdict: BTreeMap<(String, String), Tally>,
    /// Patches with import issues (invalid geometry, duplicate id, ...).
    pub with_import_issues: usize,
}

impl Project {
    /// Counts and areas by status, township and verdict.
    pub fn summary(&self) -> Result<ProjectSummary> {
        let t = self.template();
        let roles = t.roles().clone();
        let mut s = ProjectSummary::default();
        for p in self.patches()? {
            let township =
                roles.township.as_deref().and_then(|f| p.value(t, f)).map(|v| v.to_string()).unwrap_or_default();
            let verdict = p.value(t, &roles.verdict).map(|v| v.to_string()).unwrap_or_default();
            let sub = roles.sub_id.as_deref().and_then(|f| p.value(t, f)).is_some_and(|v| !v.is_empty());
            s.total.add(p.area_m2);
            if sub {
                s.sub_patches += 1;
            }
            if p.area_m2 == 0.0 {
                s.points += 1;
            }
            if !p.import_issues.is_empty() {
                s.with_import_issues += 1;
            }
            s.by_status.entry(p.status).or_default().add(p.area_m2);
            s.by_township.entry(township.clone()).or_default().add(p.area_m2);
            s.by_verdict.entry(verdict.clone()).or_default().add(p.area_m2);
            s.by_township_verdict.entry((township, verdict)).or_default().add(p.area_m2);
        }
        Ok(s)
    }
}
