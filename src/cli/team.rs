//! Team commands: work packages (create, merge, revoke, list), the conflict queue and resolving.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use tuban_core::ops::package::{self, GroupBy};
use tuban_core::store::{Access, Take};

use super::{with_progress, Ctx};

/// `tuban package …`
#[derive(Subcommand)]
pub enum PackageAction {
    /// 写出工作包：按乡镇、村、调查人或查询分包 / write work packages by township, village, reviewer or a query
    Create {
        project: PathBuf,
        /// township | village | reviewer | query "条件"（如 "HCJG = 违法"） / how to share the patches out
        #[arg(long, num_args = 1..=2, value_names = ["KIND", "QUERY"], required = true)]
        by: Vec<String>,
        /// 输出目录 / output folder
        #[arg(long)]
        out: PathBuf,
    },
    /// 合并工作包的修改 / merge a package's changes back
    Merge { project: PathBuf, package: PathBuf },
    /// 收回工作包（取消签出） / take a package's checkouts back
    Revoke {
        project: PathBuf,
        /// 工作包名称或 ID / the package's label or id
        package: String,
    },
    /// 列出签出的图斑 / list the patches checked out to packages
    List { project: PathBuf },
}

fn group_by(by: &[String]) -> Result<GroupBy> {
    Ok(match (by.first().map(String::as_str), by.get(1)) {
        (Some("township" | "乡镇"), None) => GroupBy::Township,
        (Some("village" | "村"), None) => GroupBy::Village,
        (Some("reviewer" | "调查人"), None) => GroupBy::Reviewer,
        (Some("query" | "查询"), Some(q)) => GroupBy::Query(q.clone()),
        _ => bail!("--by township | village | reviewer | query \"条件\""),
    })
}

/// Runs `tuban package …`.
pub fn run_package(action: PackageAction, ctx: &Ctx) -> Result<()> {
    let tr = &ctx.tr;
    match action {
        PackageAction::Create { project, by, out } => {
            let by = group_by(&by)?;
            let mut p = ctx.open(&project, Access::ReadWrite)?;
            let written = with_progress(|progress| package::create(&mut p, &by, &out, progress))?;
            for w in written {
                println!("{}\t{}\t{} {}", w.label, w.path.display(), w.patches, tr.t("个图斑", "patches"));
            }
        }
        PackageAction::Merge { project, package: pkg } => {
            let mut p = ctx.open(&project, Access::ReadWrite)?;
            let r = package::merge(&mut p, &pkg)?;
            println!(
                "{} {}: {} {}, {} {}, {} {}, {} {}, {} {}",
                tr.t("已合并", "merged"),
                r.label,
                tr.t("应用", "applied"),
                r.applied,
                tr.t("细斑", "sub-patch steps"),
                r.structural,
                tr.t("新增记录", "rows added"),
                r.rows_added,
                tr.t("已存在", "already there"),
                r.already,
                tr.t("冲突", "conflicts"),
                r.conflicts.len()
            );
            for c in &r.conflicts {
                println!("  {}", conflict_line(c));
            }
        }
        PackageAction::Revoke { project, package: pkg } => {
            let mut p = ctx.open(&project, Access::ReadWrite)?;
            let n = p.revoke_package(&pkg)?;
            println!("{} {pkg}: {n}", tr.t("已收回", "revoked"));
        }
        PackageAction::List { project } => {
            let p = ctx.open(&project, Access::ReadOnly)?;
            for c in p.checkouts()? {
                println!("{}\t{}\t{}", c.key, c.label, c.package_id);
            }
        }
    }
    Ok(())
}

fn show(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "∅".into())
}

fn conflict_line(c: &tuban_core::store::Conflict) -> String {
    let clip =
        |s: String| if s.chars().count() > 60 { format!("{}…", s.chars().take(60).collect::<String>()) } else { s };
    format!(
        "{}\t{}\t本方/ours {}\t对方/theirs {}\t(原/base {}; {} {} {})",
        c.key,
        c.field,
        clip(show(&c.ours)),
        clip(show(&c.theirs)),
        clip(show(&c.base)),
        c.source,
        c.theirs_by,
        c.theirs_at
    )
}

/// Arguments of `tuban conflicts`.
#[derive(Args)]
pub struct ConflictsArgs {
    pub project: PathBuf,
}

/// 待解决的冲突 / the open conflicts, one a line
pub fn run_conflicts(a: ConflictsArgs, ctx: &Ctx) -> Result<()> {
    let p = ctx.open(&a.project, Access::ReadOnly)?;
    let list = p.conflicts()?;
    for c in &list {
        println!("{}", conflict_line(c));
    }
    if list.is_empty() {
        println!("{}", ctx.tr.t("没有待解决的冲突", "no open conflicts"));
    }
    Ok(())
}

/// Arguments of `tuban resolve`.
#[derive(Args)]
pub struct ResolveArgs {
    pub project: PathBuf,
    /// 图斑编号 / patch id
    pub patch: String,
    /// 字段 / field
    pub field: String,
    /// ours（本项目）| theirs（工作包）| 具体值 / ours, theirs, or a value
    #[arg(long)]
    pub take: String,
}

/// 解决冲突 / resolve a conflict
pub fn run_resolve(a: ResolveArgs, ctx: &Ctx) -> Result<()> {
    let mut p = ctx.open(&a.project, Access::ReadWrite)?;
    let n = p.resolve(&a.patch, &a.field, &Take::parse(&a.take))?;
    println!("{} {} {}: {n}", ctx.tr.t("已解决", "resolved"), a.patch, a.field);
    Ok(())
}
