//! Review aids: spot-check (draw, blind, review, report), clues by hand, notes and flags.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use tuban_core::ops::clues::{Clue, ClueAt};
use tuban_core::ops::{self};
use tuban_core::store::{Access, Project};

use super::args::{field_value, xy};
use super::Ctx;

/// Arguments of `tuban spotcheck`.
#[derive(Args)]
pub struct SpotcheckArgs {
    #[command(subcommand)]
    pub action: SpotAction,
}

/// 抽查复核：抽样、背对背复核、一致性 / spot-check: draw, blind second review, agreement
pub fn run_spotcheck(a: SpotcheckArgs, ctx: &Ctx) -> Result<()> {
    spot_command(a.action, ctx)
}

/// Arguments of `tuban clue`.
#[derive(Args)]
pub struct ClueArgs {
    pub project: PathBuf,
    /// 经度,纬度 / lon,lat
    #[arg(long, conflicts_with = "gk", value_parser = xy)]
    pub lonlat: Option<(f64, f64)>,
    /// 高斯坐标 X,Y（3 度带，按 --zone-epsg 或项目县代码） / Gauss-Krüger easting,northing
    #[arg(long, value_parser = xy)]
    pub gk: Option<(f64, f64)>,
    /// 高斯坐标系，如 EPSG:4546 / GK CRS, e.g. EPSG:4546
    #[arg(long, default_value = "EPSG:4546")]
    pub gk_crs: String,
    /// 监测年度 / monitoring year
    #[arg(long)]
    pub year: Option<i32>,
    /// 线索来源（信访、举报、媒体…） / clue source
    #[arg(long = "source")]
    pub clue_source: Option<String>,
    /// FIELD=VALUE（如 DZ=某村北 2 公里） / field values
    #[arg(value_parser = field_value)]
    pub assignments: Vec<(String, String)>,
}

/// 手工添加线索（点位或经纬度/高斯坐标）/ add a clue by hand (lon/lat or Gauss-Krüger)
pub fn run_clue(a: ClueArgs, ctx: &Ctx) -> Result<()> {
    let tr = &ctx.tr;
    let at = match (a.lonlat, a.gk) {
        (Some((lon, lat)), _) => ClueAt::LonLat(lon, lat),
        (None, Some((x_m, y_m))) => ClueAt::Gk { crs: a.gk_crs, x_m, y_m },
        (None, None) => bail!("{}", tr.t("需要 --lonlat 或 --gk", "give --lonlat or --gk")),
    };
    let clue = Clue {
        at,
        address: String::new(),
        source: a.clue_source.unwrap_or_default(),
        year: a.year,
        fields: a.assignments,
    };
    let mut p = ctx.open(&a.project, Access::ReadWrite)?;
    let key = ops::clues::add(&mut p, &clue)?;
    let at = p.require_patch(&key).and_then(|fid| p.patch(fid)).ok().flatten().and_then(|r| r.center_lonlat);
    let at = at.map(|(lon, lat)| format!(" ({lon:.6}, {lat:.6})")).unwrap_or_default();
    println!("{} {key}{at}", tr.t("已添加线索", "clue added"));
    Ok(())
}

/// Arguments of `tuban note`.
#[derive(Args)]
pub struct NoteArgs {
    pub project: PathBuf,
    pub patch: String,
    /// 备注 / comment
    #[arg(long)]
    pub comment: Option<String>,
    /// 标记：需外业核实、影像不清（可重复） / flag (repeatable)
    #[arg(long)]
    pub flag: Vec<String>,
    /// 把握程度 1-5 / confidence 1-5
    #[arg(long)]
    pub confidence: Option<u8>,
}

/// 图斑备注、标记（需外业核实、影像不清）和把握程度 / a comment, flags and confidence on a patch
pub fn run_note(a: NoteArgs, ctx: &Ctx) -> Result<()> {
    let NoteArgs { project, patch, comment, flag, confidence } = a;
    let tr = &ctx.tr;
    let mut p = ctx.open(&project, Access::ReadWrite)?;
    let fid = p.require_patch(&patch)?;
    if let Some(c) = &comment {
        p.add_comment(fid, c)?;
    }
    if !flag.is_empty() || confidence.is_some() {
        let flags: Vec<&str> = flag.iter().map(String::as_str).collect();
        p.set_review_aids(fid, &flags, confidence)?;
    }
    let (flags, conf) = p.review_aids(fid)?;
    println!(
        "{patch}: {} {}",
        flags.join("、"),
        conf.map(|c| format!("{} {c}/5", tr.t("把握", "confidence"))).unwrap_or_default()
    );
    for c in p.comments(fid)? {
        println!("  {} {}: {}", c.time, c.user, c.text);
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum SpotAction {
    /// 分层随机抽样（按乡镇和结论），同一种子抽出同一样本 / stratified random sample, reproducible by seed
    Draw {
        project: PathBuf,
        /// 抽查比例 0-1 / share
        #[arg(long)]
        share: Option<f64>,
        /// 抽查数量 / count
        #[arg(long)]
        count: Option<usize>,
        /// 随机种子 / seed
        #[arg(long, default_value_t = 20251231)]
        seed: u64,
    },
    /// 复核人看到的样本（不显示原结论） / the sample as the second reviewer sees it (no first verdict)
    Blind { project: PathBuf, id: Option<i64> },
    /// 记录复核结论 / record the second verdict
    Review {
        project: PathBuf,
        patch: String,
        verdict: String,
        #[arg(long)]
        id: Option<i64>,
    },
    /// 一致性表、Kappa 和不一致清单 / agreement table, kappa, disagreements
    Report { project: PathBuf, id: Option<i64> },
}

pub fn spot_command(action: SpotAction, ctx: &Ctx) -> Result<()> {
    let tr = &ctx.tr;
    let latest = |p: &Project, id: Option<i64>| -> Result<i64> {
        match id {
            Some(i) => Ok(i),
            None => p.latest_spot_check()?.with_context(|| tr.t("还没有抽查", "no spot-check yet").to_string()),
        }
    };
    match action {
        SpotAction::Draw { project, share, count, seed } => {
            let s = ctx.open(&project, Access::ReadWrite)?.draw_spot_check(share, count, seed)?;
            println!(
                "{} #{} ({} {}, seed {})",
                tr.t("已抽样", "sample drawn"),
                s.id,
                s.patches.len(),
                tr.t("个图斑", "patches"),
                s.seed
            );
            for (_, k) in &s.patches {
                println!("  {k}");
            }
        }
        SpotAction::Blind { project, id } => {
            let p = ctx.open(&project, Access::ReadOnly)?;
            let id = latest(&p, id)?;
            for (_, key, second) in p.spot_check_blind(id)? {
                println!("{key}\t{}", second.unwrap_or_else(|| tr.t("（待复核）", "(to review)").into()));
            }
        }
        SpotAction::Review { project, patch, verdict, id } => {
            let mut p = ctx.open(&project, Access::ReadWrite)?;
            let id = latest(&p, id)?;
            let fid = p.require_patch(&patch)?;
            p.record_second_verdict(id, fid, &verdict)?;
        }
        SpotAction::Report { project, id } => {
            let p = ctx.open(&project, Access::ReadOnly)?;
            let id = latest(&p, id)?;
            let r = p.spot_check_result(id)?;
            println!(
                "{} #{id}: {} {} / {}  {} {}  Kappa {}",
                tr.t("抽查", "spot-check"),
                tr.t("已复核", "reviewed"),
                r.reviewed,
                r.sampled,
                tr.t("一致", "agreed"),
                r.agreed,
                r.kappa.map(|k| format!("{k:.3}")).unwrap_or_else(|| "—".into())
            );
            for ((a, b), n) in &r.table {
                println!("  {a} → {b}\t{n}");
            }
            for (k, a, b) in &r.disagreements {
                println!("{}: {k} {a} ≠ {b}", tr.t("不一致", "disagreement"));
            }
        }
    }
    Ok(())
}
