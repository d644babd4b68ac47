//! Work packages from either front end: split the patches under review by township, village,
//! reviewer or a query, write one package per group (imagery paths re-stored relative to where
//! the package is), merge a package back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::OpsError;
use crate::store::{Access, MergeReceipt, Project};
use tuban_model::progress::Progress;

/// How the patches are shared out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// One package per township (the template's township role).
    Township,
    /// One package per village (the village role).
    Village,
    /// One package per surveyor (DCRY by convention); patches without one are left out.
    Reviewer,
    /// One package of the patches a condition selects (`HCJG = 违法 and XZMC = 乌兰花镇`).
    Query(String),
}

/// A package written.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// What it holds.
    pub label: String,
    /// Where.
    pub path: PathBuf,
    /// How many patches.
    pub patches: usize,
}

fn safe(s: &str) -> String {
    let s: String = s.chars().map(|c| if "/\\:*?\"<>| ".contains(c) { '_' } else { c }).collect();
    s.chars().take(40).collect()
}

/// The groups of patches under review (label → row ids), in label order.
pub fn groups(p: &Project, by: &GroupBy) -> Result<BTreeMap<String, Vec<i64>>, OpsError> {
    let t = p.template();
    let roles = t.roles();
    let field = match by {
        GroupBy::Township => roles.township.clone(),
        GroupBy::Village => roles.village.clone(),
        GroupBy::Reviewer => t.field("DCRY").map(|f| f.name.clone()),
        GroupBy::Query(_) => None,
    };
    let condition = match by {
        GroupBy::Query(q) => {
            Some(t.parse_condition(q).map_err(|e| OpsError::Invalid(format!("--by query “{q}”: {e}")))?)
        }
        _ => None,
    };
    if field.is_none() && condition.is_none() {
        return Err(OpsError::Invalid(format!(
            "模板没有用于分包的字段（{by:?}） / the template has no field to share out by ({by:?})"
        )));
    }
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in p.patches()? {
        let label = match (&condition, &field, by) {
            (Some(c), _, GroupBy::Query(q)) => match t.matches(c, &r.values) {
                Some(true) => q.clone(),
                _ => continue,
            },
            (_, Some(f), _) => match r.value(t, f).map(|v| v.to_string()).filter(|s| !s.trim().is_empty()) {
                Some(v) => v,
                None if *by == GroupBy::Reviewer => continue,
                None => "未填".to_string(),
            },
            _ => continue,
        };
        out.entry(label).or_default().push(r.fid);
    }
    Ok(out)
}

/// Writes one package per group into `out_dir` and checks their patches out in the master.
pub fn create(p: &mut Project, by: &GroupBy, out_dir: &Path, progress: &Progress) -> Result<Vec<Written>, OpsError> {
    let groups = groups(p, by)?;
    if groups.is_empty() {
        return Err(OpsError::Invalid(
            "没有符合条件的图斑，未写出工作包 / no patches match: no package written".into(),
        ));
    }
    std::fs::create_dir_all(out_dir).map_err(super::io_error(out_dir))?;
    let stem = p.path().file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "项目".into());
    progress.stage("写出工作包 / writing packages", groups.len() as u64);
    let mut written = Vec::new();
    for (i, (label, fids)) in groups.iter().enumerate() {
        if progress.set(i as u64).is_err() {
            return Err(OpsError::Invalid(
                "已取消；已写出的工作包保留 / cancelled; packages already written are kept".into(),
            ));
        }
        let path = out_dir.join(format!("{stem}-{}.gpkg", safe(label)));
        p.write_package(&path, label, fids)?;
        let mut pkg = Project::open(&path, Access::ReadWrite)?;
        pkg.rebase_imagery()?;
        drop(pkg);
        written.push(Written { label: label.clone(), path, patches: fids.len() });
    }
    progress.set(groups.len() as u64).ok();
    Ok(written)
}

/// Merges a package back into the project.
pub fn merge(p: &mut Project, package: &Path) -> Result<MergeReceipt, OpsError> {
    Ok(p.merge_package(package)?)
}
