//! The case ledger: cases, steps, attachments, and the ledger rates.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use tuban_core::ops::{self, Overwrite};
use tuban_core::store::{Access, CaseUpdate, Project};
use tuban_model::ledger::{Investigation, Rectification, Step};
use tuban_model::units::m2_to_mu;

use super::args::{date, field_value};
use super::{Ctx, Tr};

#[derive(Subcommand)]
pub enum CaseAction {
    /// 立案（关联一个或多个图斑） / open a case for one or more patches
    New {
        project: PathBuf,
        /// 图斑编号 / patch ids
        #[arg(required = true)]
        patches: Vec<String>,
        /// 案件编号（省略自动生成） / case number (generated when omitted)
        #[arg(long)]
        number: Option<String>,
        /// 当事人 / party
        #[arg(long, default_value = "")]
        party: String,
        /// 牵头部门 / lead department
        #[arg(long, default_value = "")]
        department: String,
    },
    /// 为尚未立案的违法图斑各建一个案件 / open a case for every illegal patch without one
    Propose { project: PathBuf },
    /// 修改：party= department= investigation= rectification= measures= penalty_doc= fine= deadline= prior_penalty=（三年内同类处罚文书号） / change fields
    Set {
        project: PathBuf,
        number: String,
        #[arg(required = true, value_parser = field_value)]
        assignments: Vec<(String, String)>,
    },
    /// 记录流程步骤：问题发现 移交查处 督促整改 移送上报 销号 / record a workflow step
    Step {
        project: PathBuf,
        number: String,
        step: Step,
        /// 日期（默认今天） / date (default today)
        #[arg(long, value_parser = date)]
        date: Option<chrono::NaiveDate>,
        /// 说明 / note
        #[arg(long, default_value = "")]
        note: String,
    },
    /// 列出案件 / list cases
    List {
        project: PathBuf,
        /// 只列逾期未销号的 / only overdue cases
        #[arg(long)]
        overdue: bool,
    },
    /// 附上文书扫描件或照片（存入项目） / attach scanned documents or photos (kept in the project)
    Attach {
        project: PathBuf,
        number: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// 立案决定书 行政处罚决定书 整改通知书 现场勘验笔录 整改照片 移送函 其他
        #[arg(long, default_value = "其他")]
        kind: String,
    },
    /// 列出案件附件 / list the attachments of a case
    Attachments { project: PathBuf, number: String },
    /// 取出附件到文件 / write an attachment to a file
    Extract {
        project: PathBuf,
        /// 附件编号（见 attachments） / attachment id (see attachments)
        id: i64,
        /// 输出文件 / output file
        #[arg(long)]
        out: PathBuf,
        /// 覆盖已有文件 / overwrite an existing file
        #[arg(long)]
        force: bool,
    },
}

/// Arguments of `tuban ledger`.
#[derive(Args)]
pub struct LedgerArgs {
    pub project: PathBuf,
}

/// 台账统计 / the ledger rates and the cases needing attention
pub fn run_ledger(a: LedgerArgs, ctx: &Ctx) -> Result<()> {
    print_ledger(&ctx.open(&a.project, Access::ReadOnly)?, &ctx.tr)
}

/// 案件台账 / the case ledger
pub fn run_case(action: CaseAction, ctx: &Ctx) -> Result<()> {
    let tr = &ctx.tr;
    match action {
        CaseAction::New { project, patches, number, party, department } => {
            let mut p = ctx.open(&project, Access::ReadWrite)?;
            let fids = patches.iter().map(|k| Ok(p.require_patch(k)?)).collect::<Result<Vec<_>>>()?;
            let n = p.create_case(number.as_deref(), &fids, &party, &department)?;
            println!("{} {n}", tr.t("已立案", "case opened"));
        }
        CaseAction::Propose { project } => {
            let created = ctx.open(&project, Access::ReadWrite)?.propose_cases()?;
            println!("{} {}: {}", tr.t("新建案件", "cases opened"), created.len(), created.join(", "));
        }
        CaseAction::Set { project, number, assignments } => {
            let u = case_update(&assignments, tr)?;
            ctx.open(&project, Access::ReadWrite)?.update_case(&number, &u)?;
            println!("{} {number}", tr.t("已更新", "updated"));
        }
        CaseAction::Step { project, number, step, date, note } => {
            ctx.open(&project, Access::ReadWrite)?.record_step(&number, step, date, &note)?;
            println!("{number}: {step}");
        }
        CaseAction::List { project, overdue } => list(&ctx.open(&project, Access::ReadOnly)?, overdue)?,
        CaseAction::Attach { project, number, files, kind } => {
            let mut p = ctx.open(&project, Access::ReadWrite)?;
            let report = super::with_progress(|progress| {
                Ok::<_, std::convert::Infallible>(ops::evidence::attach(&mut p, &number, &files, &kind, progress))
            })?;
            for f in &report.files {
                match &f.result {
                    Ok(id) => println!("{number}: #{id} {kind} {}", f.path.display()),
                    Err(e) => eprintln!("{}: {e}", f.path.display()),
                }
            }
            anyhow::ensure!(!report.cancelled, "{}", tr.t("已取消", "cancelled"));
            anyhow::ensure!(
                report.failed() == 0,
                "{} {}",
                report.failed(),
                tr.t("个文件未能附上（见上）", "files could not be attached (see above)")
            );
        }
        CaseAction::Attachments { project, number } => {
            let p = ctx.open(&project, Access::ReadOnly)?;
            for a in p.case_attachments(&number)? {
                let kb = a.size_bytes as f64 / 1024.0;
                println!("#{}\t{}\t{}\t{kb:.1} KB\t{}\t{}", a.id, a.kind, a.file_name, a.added_at, a.added_by);
            }
        }
        CaseAction::Extract { project, id, out, force } => {
            let p = ctx.open(&project, Access::ReadOnly)?;
            let name = ops::evidence::extract(&p, id, &out, Overwrite::from_force(force))?;
            println!("{name} → {}", out.display());
        }
    }
    Ok(())
}

/// A case update from FIELD=VALUE pairs (English or Chinese field names).
fn case_update(assignments: &[(String, String)], tr: &Tr) -> Result<CaseUpdate> {
    let mut u = CaseUpdate::default();
    for (k, v) in assignments {
        let v = v.trim().to_string();
        match k.as_str() {
            "party" | "当事人" => u.party = Some(v),
            "department" | "牵头部门" => u.department = Some(v),
            "investigation" | "查处状态" => u.investigation = Some(v.parse::<Investigation>()?),
            "rectification" | "整改状态" => u.rectification = Some(v.parse::<Rectification>()?),
            "measures" | "措施" => u.measures = Some(v),
            "penalty_doc" | "处罚文书" => u.penalty_doc = Some(v),
            "fine" | "罚款" => {
                u.fine_yuan =
                    Some(tuban_model::value::parse_quantity(&v, None).with_context(|| format!("fine={v}"))?)
            }
            "deadline" | "期限" => u.deadline = Some(date(&v).map_err(anyhow::Error::msg)?),
            "prior_penalty" | "前次处罚" => u.prior_penalty = Some(v),
            other => anyhow::bail!(
                "{}: {other} (party, department, investigation, rectification, measures, penalty_doc, fine, deadline, prior_penalty)",
                tr.t("未知字段", "unknown field")
            ),
        }
    }
    Ok(u)
}

/// Lists the cases (only the overdue ones when asked), one per line.
fn list(p: &Project, overdue: bool) -> Result<()> {
    let late: Vec<String> = p.ledger()?.overdue.into_iter().map(|(n, _)| n).collect();
    for c in p.cases()?.into_iter().filter(|c| !overdue || late.contains(&c.number)) {
        let keys: Vec<String> = c.patch_fids.iter().filter_map(|f| p.patch(*f).ok().flatten().map(|r| r.key)).collect();
        let deadline = c.deadline.map(|d| d.to_string()).unwrap_or_default();
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{deadline}\t{}",
            c.number,
            c.step,
            c.investigation,
            c.rectification,
            c.party,
            c.department,
            keys.join(",")
        );
    }
    Ok(())
}

/// Prints the ledger: rates per township and in total, then the cases needing attention.
fn print_ledger(p: &Project, tr: &Tr) -> Result<()> {
    let l = p.ledger()?;
    let pct = |r: Option<f64>| r.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "—".into());
    println!("{}", tr.t("乡镇\t违法宗数\t违法面积(亩)\t立案\t结案\t非立案处理\t整改到位\t查处到位率\t整改到位率\t立案率\t结案率", "township\tcases\tarea (mu)\tfiled\tconcluded\twithout filing\trectified\tinvestigation rate\trectification rate\tfiling rate\tconclusion rate"));
    for (town, r) in l.rows() {
        let town = match town {
            Some("") => tr.t("（未填）", "(not set)"),
            Some(t) => t,
            None => tr.t("合计", "total"),
        };
        println!(
            "{town}\t{}\t{:.2}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            r.cases,
            m2_to_mu(r.illegal_area_m2),
            r.filed,
            r.concluded,
            r.handled_without_filing,
            r.rectified,
            pct(r.investigation_rate()),
            pct(r.rectification_rate()),
            pct(r.filing_rate()),
            pct(r.conclusion_rate())
        );
    }
    for (n, d) in &l.overdue {
        println!("{}: {n} ({d})", tr.t("逾期未销号", "overdue"));
    }
    for c in &l.criminal {
        let prior = c
            .prior_penalty
            .as_ref()
            .map(|d| format!("; {} {d}", tr.t("三年内曾受处罚", "penalised within three years")))
            .unwrap_or_default();
        println!(
            "{}: {} ({:.2} 亩{prior})",
            tr.t("达到涉刑标准，应移送司法", "reaches the criminal threshold: refer to the judiciary"),
            c.number,
            m2_to_mu(c.area_m2)
        );
    }
    for g in &l.split_penalties {
        println!(
            "{}: {}",
            tr.t(
                "同一当事人相邻图斑分别处罚（疑似拆分处罚）",
                "one party, neighbouring patches, separate penalties (possible split penalty)"
            ),
            g.join(", ")
        );
    }
    if !l.illegal_without_case.is_empty() {
        println!(
            "{}: {}",
            tr.t("违法图斑尚未立案", "illegal patches without a case"),
            l.illegal_without_case.join(", ")
        );
    }
    Ok(())
}
