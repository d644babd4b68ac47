//! Deliverables and the seal: report, export, seal, unseal, verify.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use tuban_core::export::{ExportOptions, Format};
use tuban_core::ops::{self, Overwrite};
use tuban_core::report::{ReportOptions, Sheets};
use tuban_core::store::Access;

use super::args::{export_format, sheets};
use super::{with_progress, Ctx};

/// Arguments of `tuban report`.
#[derive(Args)]
pub struct ReportArgs {
    pub project: PathBuf,
    /// 输出 PDF / output PDF
    #[arg(long)]
    pub out: PathBuf,
    /// 核查表：all | illegal | none | 条件如 "XZMC = 乌兰花镇 and HCJG = 违法" / which patches get a sheet: all, illegal, none or a condition
    #[arg(long, default_value = "all", value_parser = sheets)]
    pub sheets: Sheets,
    /// 影像截图分辨率 / chip resolution (150 or 300 dpi)
    #[arg(long, default_value_t = 150, value_parser = clap::value_parser!(u32).range(72..=600))]
    pub dpi: u32,
    /// 页眉单位名称 / unit name
    #[arg(long)]
    pub unit: Option<String>,
    /// “工作组织与方法”文字文件 / text file for section 2
    #[arg(long)]
    pub method: Option<PathBuf>,
    /// “存在问题与建议”文字文件 / text file for section 6
    #[arg(long)]
    pub problems: Option<PathBuf>,
    /// 把 --method、--problems 的文字存入项目，以后的报告沿用 / keep these texts in the project for later reports
    #[arg(long)]
    pub save_texts: bool,
    /// 覆盖已有文件 / overwrite
    #[arg(long)]
    pub force: bool,
}

/// 自查报告 PDF / the PDF report
pub fn run_report(a: ReportArgs, ctx: &Ctx) -> Result<()> {
    let ReportArgs { project, out, sheets, dpi, unit, method, problems, save_texts, force } = a;
    let tr = &ctx.tr;
    let read = |f: &Option<PathBuf>| -> Result<Option<String>> {
        match f {
            Some(f) => Ok(Some(std::fs::read_to_string(f).with_context(|| {
                format!("{}: 无法读取文字文件（需 UTF-8） / cannot read the text file (UTF-8 expected)", f.display())
            })?)),
            None => Ok(None),
        }
    };
    let (method_text, problems_text) = (read(&method)?, read(&problems)?);
    if save_texts {
        let mut p = ctx.open(&project, Access::ReadWrite)?;
        for (which, text) in [
            (tuban_core::store::ReportText::Method, &method_text),
            (tuban_core::store::ReportText::Problems, &problems_text),
        ] {
            if let Some(text) = text {
                p.set_report_text(which, text)?;
            }
        }
    }
    let p = ctx.open(&project, Access::ReadOnly)?;
    let opts = ReportOptions { sheets, dpi, unit, method_text, problems_text };
    let w = with_progress(|progress| ops::deliver::report(&p, &out, &opts, Overwrite::from_force(force), progress))?;
    let mb = w.size_bytes as f64 / 1e6;
    println!("{} {} ({mb:.1} MB, {:.1} s)", tr.t("已输出报告", "wrote"), w.path.display(), w.seconds);
    Ok(())
}

/// Arguments of `tuban export`.
#[derive(Args)]
pub struct ExportArgs {
    pub project: PathBuf,
    /// shp | gpkg | xlsx | csv | photos
    #[arg(long, value_parser = export_format)]
    pub format: Format,
    /// 输出文件夹 / output folder
    #[arg(long)]
    pub out: PathBuf,
    /// 坐标系（默认为下发坐标系） / CRS (default: as delivered)
    #[arg(long)]
    pub crs: Option<String>,
    /// 覆盖已有文件 / overwrite existing files
    #[arg(long)]
    pub force: bool,
}

/// 导出上报成果：shp（GBK）、gpkg、xlsx 台账、csv、照片文件夹 / export: shp (GBK), gpkg, xlsx ledger, csv, photo folder
pub fn run_export(a: ExportArgs, ctx: &Ctx) -> Result<()> {
    let ExportArgs { project, format, out, crs, force } = a;
    let p = ctx.open(&project, Access::ReadOnly)?;
    let files =
        with_progress(|progress| ops::deliver::export(&p, format, &out, &ExportOptions { crs, force }, progress))?;
    for f in files {
        println!("{}", f.display());
    }
    Ok(())
}

/// Arguments of `tuban seal`.
#[derive(Args)]
pub struct SealArgs {
    pub project: PathBuf,
}

/// 封库：记录全部核查数据的摘要，之后拒绝修改 / seal: record a digest of all review data; edits are refused afterwards
pub fn run_seal(a: SealArgs, ctx: &Ctx) -> Result<()> {
    let SealArgs { project } = a;
    let tr = &ctx.tr;
    let s = ctx.open(&project, Access::ReadWrite)?.seal()?;
    println!("{} {} {}  SHA-256 {}", tr.t("已封库", "sealed"), s.sealed_at, s.user, s.digest);
    Ok(())
}

/// Arguments of `tuban unseal`.
#[derive(Args)]
pub struct UnsealArgs {
    pub project: PathBuf,
    /// 原因 / reason
    #[arg(long)]
    pub reason: String,
}

/// 解封（须写明原因） / unseal, with a written reason
pub fn run_unseal(a: UnsealArgs, ctx: &Ctx) -> Result<()> {
    let UnsealArgs { project, reason } = a;
    let tr = &ctx.tr;
    ctx.open(&project, Access::ReadWrite)?.unseal(&reason)?;
    println!("{}", tr.t("已解封，原因已记入修改记录", "unsealed; the reason is in the audit log"));
    Ok(())
}

/// Arguments of `tuban verify`.
#[derive(Args)]
pub struct VerifyArgs {
    pub project: PathBuf,
}

/// 校验封库后是否被改动 / check what changed since the seal
pub fn run_verify(a: VerifyArgs, ctx: &Ctx) -> Result<()> {
    let VerifyArgs { project } = a;
    let tr = &ctx.tr;
    let r = ctx.open(&project, Access::ReadOnly)?.verify()?;
    let Some(seal) = &r.seal else {
        println!("{}", tr.t("项目尚未封库", "the project was never sealed"));
        return Ok(());
    };
    println!(
        "{} {} {} ({})",
        tr.t("封库", "sealed"),
        seal.sealed_at,
        seal.user,
        if r.in_force { tr.t("有效", "in force") } else { tr.t("已解封", "unsealed since") }
    );
    println!("{}: {}", tr.t("封库摘要", "sealed digest"), seal.digest);
    println!("{}: {}", tr.t("当前摘要", "digest now"), r.digest_now);
    for d in &r.differences {
        println!("  {d}");
    }
    if r.differences.is_empty() {
        println!("{}", tr.t("一致：封库后没有改动", "unchanged since the seal"));
    } else {
        bail!(
            "{}: {} {}",
            project.display(),
            r.differences.len(),
            tr.t("处与封库时不一致", "differences since the seal")
        );
    }
    Ok(())
}
