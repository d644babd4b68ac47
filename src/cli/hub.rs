//! `tuban hub …`: the PostgreSQL/PostGIS team hub (init, users, publish, join, sync, leases).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use tuban_core::hub::{self, lease, publish, sync, Hub};
use tuban_core::store::Access;

use super::{with_progress, Ctx};

/// `tuban hub …`
#[derive(Subcommand)]
pub enum HubAction {
    /// 建立中心库（PostgreSQL + PostGIS 数据库中的 tuban 模式、角色与行级权限） / create the hub's schema, roles and row-level security
    Init { url: String },
    /// 添加或修改用户：admin | analyst（须 --township）| reviewer / add or change a user
    User {
        url: String,
        name: String,
        /// admin | analyst | reviewer
        #[arg(long)]
        kind: String,
        /// 乡镇（核查员） / township (analysts)
        #[arg(long)]
        township: Option<String>,
        /// 密码（省略时读取环境变量 TUBAN_NEW_PASSWORD） / password (else TUBAN_NEW_PASSWORD)
        #[arg(long)]
        password: Option<String>,
    },
    /// 把项目上传到空的中心库 / upload a project to an empty hub
    Publish { project: PathBuf, url: String },
    /// 从中心库建立本地工作副本 / make a local working copy linked to the hub
    Join {
        url: String,
        /// 本地副本文件 / the local copy
        #[arg(long)]
        out: PathBuf,
        /// 只要一个乡镇（核查员总是本乡镇） / one township only (analysts always get theirs)
        #[arg(long)]
        township: Option<String>,
    },
    /// 同步一次：拉取他人的修改、推送本地修改、续租 / sync once: pull, push, renew leases
    Sync {
        project: PathBuf,
        /// 带密码的地址（同一中心库） / the same hub's address with a password
        #[arg(long)]
        url: Option<String>,
    },
    /// 本地副本的关联与同步状态 / the copy's link and sync state
    Status { project: PathBuf },
    /// 领取图斑：--next N 领取下 N 个未核查的，或列出编号 / claim patches: the next N unreviewed, or by key
    Claim {
        project: PathBuf,
        keys: Vec<String>,
        #[arg(long)]
        next: Option<i64>,
        #[arg(long)]
        township: Option<String>,
        /// 管理员接管他人的领取（记录在案） / an administrator takes the leases over (audited)
        #[arg(long)]
        take_over: bool,
        #[arg(long)]
        url: Option<String>,
    },
    /// 放弃领取（省略编号：全部） / give leases up (all without keys)
    Release {
        project: PathBuf,
        keys: Vec<String>,
        #[arg(long)]
        url: Option<String>,
    },
    /// 记录抽查结论（省级抽查员） / record a spot-check verdict (province reviewers)
    Spotcheck {
        project: PathBuf,
        key: String,
        /// 抽查结论，如 合格 / 不合格 / the verdict
        #[arg(long)]
        verdict: String,
        #[arg(long)]
        note: Option<String>,
        #[arg(long)]
        url: Option<String>,
    },
    /// 列出抽查结论 / list spot-check verdicts
    Spotchecks {
        project: PathBuf,
        #[arg(long)]
        url: Option<String>,
    },
    /// 谁领取了哪些图斑 / who holds which patches
    Leases {
        project: PathBuf,
        #[arg(long)]
        url: Option<String>,
    },
}

fn linked(ctx: &Ctx, project: &Path, url: Option<&str>) -> Result<Hub> {
    let p = ctx.open(project, Access::ReadOnly)?;
    Ok(sync::connect_linked(&p, url)?)
}

/// Runs `tuban hub …`.
pub fn run_hub(action: HubAction, ctx: &Ctx) -> Result<()> {
    let tr = &ctx.tr;
    match action {
        HubAction::Init { url } => {
            let mut h = Hub::connect(&url)?;
            let info = hub::schema::init(&mut h)?;
            println!(
                "{} {} ({} {})",
                tr.t("已建立中心库", "hub created"),
                h.server,
                tr.t("结构版本", "schema"),
                info.version
            );
        }
        HubAction::User { url, name, kind, township, password } => {
            let password = match password {
                Some(p) => p,
                None => std::env::var("TUBAN_NEW_PASSWORD")
                    .context("--password 或 TUBAN_NEW_PASSWORD / give --password or TUBAN_NEW_PASSWORD")?,
            };
            let mut h = Hub::connect(&url)?;
            hub::schema::check(&mut h, None)?;
            h.add_user(&name, &kind, township.as_deref(), &password)?;
            println!(
                "{} {name} ({kind}{})",
                tr.t("已添加用户", "user added"),
                township.map(|t| format!(", {t}")).unwrap_or_default()
            );
        }
        HubAction::Publish { project, url } => {
            // Opened for writing: an older file is upgraded first, so its copies have every table.
            let p = ctx.open(&project, Access::ReadWrite)?;
            let mut h = Hub::connect(&url)?;
            let done = with_progress(|progress| publish::publish(&p, &mut h, progress))?;
            println!("{} {} {} → {}", tr.t("已发布", "published"), done.patches, tr.t("个图斑", "patches"), h.server);
            for (township, n) in &done.bases {
                let name = if township.is_empty() { tr.t("全部", "all") } else { township };
                println!("  {}\t{n}", name);
            }
        }
        HubAction::Join { url, out, township } => {
            let mut h = Hub::connect(&url)?;
            let j = with_progress(|progress| publish::join(&mut h, &out, township.as_deref(), progress))?;
            println!(
                "{} {} ({}, {} {}; {} {}, {} {})",
                tr.t("已建立本地副本", "local copy made"),
                out.display(),
                j.township.as_deref().unwrap_or(tr.t("全部乡镇", "all townships")),
                j.patches,
                tr.t("个图斑", "patches"),
                tr.t("拉取", "pulled"),
                j.pulled.applied,
                tr.t("冲突", "conflicts"),
                j.pulled.conflicts.len()
            );
        }
        HubAction::Sync { project, url } => run_sync(&project, url.as_deref(), ctx)?,
        HubAction::Status { project } => {
            let p = ctx.open(&project, Access::ReadOnly)?;
            let Some(link) = p.hub_link()? else {
                return Err(hub::HubError::NotLinked { path: project.display().to_string() }.into());
            };
            let out = p.hub_outgoing()?;
            println!("{}\t{}", tr.t("中心库", "hub"), link.url);
            println!("{}\t{}", tr.t("乡镇", "township"), link.township.as_deref().unwrap_or(tr.t("全部", "all")));
            println!("{}\t{}", tr.t("上次同步", "last sync"), p.last_hub_sync()?.unwrap_or_else(|| "—".into()));
            println!("{}\t{}", tr.t("待推送", "to push"), out.changes.len());
            println!("{}\t{}", tr.t("待解决冲突", "open conflicts"), p.conflicts()?.len());
        }
        HubAction::Claim { project, keys, next, township, take_over, url } => {
            run_claim(ctx, &project, &keys, (next, township.as_deref(), take_over), url.as_deref())?
        }
        HubAction::Release { project, keys, url } => {
            let mut h = linked(ctx, &project, url.as_deref())?;
            let n = lease::release(&mut h, (!keys.is_empty()).then_some(keys.as_slice()))?;
            println!("{} {n}", tr.t("已放弃领取", "released"));
        }
        HubAction::Spotcheck { project, key, verdict, note, url } => {
            let mut h = linked(ctx, &project, url.as_deref())?;
            h.record_spotcheck(&key, &verdict, note.as_deref())?;
            println!("{} {key}: {verdict}", tr.t("已记录抽查结论", "spot-check recorded"));
        }
        HubAction::Spotchecks { project, url } => {
            let mut h = linked(ctx, &project, url.as_deref())?;
            for v in h.spotchecks()? {
                println!("{}\t{}\t{}\t{}\t{}", v.key, v.verdict, v.note.unwrap_or_default(), v.reviewer, v.at);
            }
        }
        HubAction::Leases { project, url } => {
            let mut h = linked(ctx, &project, url.as_deref())?;
            for l in lease::list(&mut h, None)? {
                println!("{}\t{}\t{}", l.key, l.holder, l.expires_at);
            }
        }
    }
    Ok(())
}

fn run_sync(project: &Path, url: Option<&str>, ctx: &Ctx) -> Result<()> {
    let tr = &ctx.tr;
    let mut p = ctx.open(project, Access::ReadWrite)?;
    let mut h = sync::connect_linked(&p, url)?;
    let r = with_progress(|progress| sync::sync(&mut h, &mut p, progress))?;
    if let Some(from) = r.migrated_from {
        println!("{} {from} → {}", tr.t("已升级中心库结构", "hub schema upgraded"), hub::schema::HUB_SCHEMA_VERSION);
    }
    println!(
        "{} {}{}: {} {}, {} {}, {} {}, {} {}, {} {}",
        tr.t("已同步", "synced with"),
        h.server,
        if r.encrypted { tr.t("（加密）", " (encrypted)") } else { "" },
        tr.t("拉取", "pulled"),
        r.pulled.applied,
        tr.t("推送", "pushed"),
        r.pushed.applied,
        tr.t("冲突", "conflicts"),
        r.conflicts(),
        tr.t("被他人领取而暂缓", "held by others"),
        r.pushed.missing,
        tr.t("续租", "leases renewed"),
        r.renewed
    );
    if r.pushed.structural > 0 {
        println!(
            "{} {}",
            tr.t(
                "只在本地（中心库没有这些图斑，如本地拆分的细斑）：",
                "kept here only (patches the hub does not have, such as 细斑 split here):"
            ),
            r.pushed.structural
        );
    }
    for c in r.pulled.conflicts.iter().chain(&r.pushed.conflicts) {
        println!("  {}\t{}\t{} {}", c.key, c.field, tr.t("对方", "theirs"), c.theirs.as_deref().unwrap_or("—"));
    }
    Ok(())
}

fn run_claim(
    ctx: &Ctx,
    project: &Path,
    keys: &[String],
    (next, township, take_over): (Option<i64>, Option<&str>, bool),
    url: Option<&str>,
) -> Result<()> {
    let tr = &ctx.tr;
    let mut h = linked(ctx, project, url)?;
    let (taken, held) = if take_over {
        (lease::take_over(&mut h, keys, lease::LEASE_TTL)?, Vec::new())
    } else if let Some(n) = next {
        (lease::claim_next(&mut h, township, n, lease::LEASE_TTL)?, Vec::new())
    } else {
        lease::claim(&mut h, keys, lease::LEASE_TTL)?
    };
    for l in &taken {
        println!("{}\t{}\t{} {}", l.key, l.holder, tr.t("至", "until"), l.expires_at);
    }
    for l in &held {
        println!("{}\t{} {}\t{} {}", l.key, tr.t("已被领取：", "held by"), l.holder, tr.t("至", "until"), l.expires_at);
    }
    println!("{} {}", tr.t("领取", "claimed"), taken.len());
    Ok(())
}
