//! Deliverables and the seal: report, export, seal, unseal, verify.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use tuban_core::export::{ExportOptions, Format};
use tuban_core::ops::{self, Overwrite};
use tuban_core::report::{ChipLayout, ReportOptions, Sheets, SubpatchSheets};
use tuban_core::store::Access;

use super::args::{chip_size, export_format, sheets, subpatch_sheets};
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
    /// 截图尺寸：standard（两图并排，各 82 毫米宽）或 宽x高 毫米（上下两图，A4 竖排；190x115 与 QGIS Atlas 版式相同） / chip size: standard (side by side, 82 mm wide) or WxH in mm (one above the other on A4 portrait; 190x115 is QGIS Atlas's map size)
    #[arg(long, default_value = "standard", value_parser = chip_size)]
    pub chip_size: ChipLayout,
    /// 细斑：each（每个细斑一张核查表）或 patch（每个拆分图斑一张，列出细斑） / sub-patches: a sheet each, or one per split patch listing them
    #[arg(long, default_value = "each", value_parser = subpatch_sheets)]
    pub subpatch_sheets: SubpatchSheets,
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
    /// 影像缺失时仍输出，相应截图标“无影像” / write the report even when imagery is missing, marking those chips “no imagery”
    #[arg(long)]
    pub allow_missing_imagery: bool,
    /// 覆盖已有文件 / overwrite
    #[arg(long)]
    pub force: bool,
}

/// 自查报告 PDF / the PDF report
pub fn run_report(a: ReportArgs, ctx: &Ctx) -> Result<()> {
    let ReportArgs {
        project,
        out,
        sheets,
        dpi,
        chip_size,
        subpatch_sheets,
        unit,
        method,
        problems,
        save_texts,
        allow_missing_imagery,
        force,
    } = a;
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
    let opts = ReportOptions {
        sheets,
        dpi,
        chips: chip_size,
        unit,
        method_text,
        problems_text,
        allow_missing_imagery,
        subpatches: subpatch_sheets,
    };
    let w = with_progress(|progress| ops::deliver::report(&p, &out, &opts, Overwrite::from_force(force), progress))?;
    let mb = w.size_bytes as f64 / 1e6;
    println!("{} {} ({mb:.1} MB, {:.1} s)", tr.t("已输出报告", "wrote"), w.path.display(), w.seconds);
    if !w.missing_imagery.is_empty() {
        println!(
            "{}",
            tr.t(
                "注意：以下影像文件缺失，相应截图已标“无影像”：",
                "note: these imagery files were missing; their chips are marked “no imagery”:"
            )
        );
        for f in &w.missing_imagery {
            println!("\t{}", f.display());
        }
    }
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
    /// 用 Ed25519 私钥（PEM，tuban keygen 生成）签名回执 / sign the receipt with an Ed25519 private key (PEM, from tuban keygen)
    #[arg(long)]
    pub sign_key: Option<PathBuf>,
}

/// 封库：记录全部核查数据的摘要并在项目旁写出封库回执，之后拒绝修改 / seal: record a digest of all review data, write the receipt beside the project; edits are refused afterwards
pub fn run_seal(a: SealArgs, ctx: &Ctx) -> Result<()> {
    let SealArgs { project, sign_key } = a;
    let tr = &ctx.tr;
    let mut p = ctx.open(&project, Access::ReadWrite)?;
    let s = ops::seal::seal(&mut p, &ops::seal::SealOptions { sign_key })?;
    println!("{} {} {}  SHA-256 {}", tr.t("已封库", "sealed"), s.seal.sealed_at, s.seal.user, s.seal.digest);
    let signed = if s.receipt.signature.is_some() { tr.t("（已签名）", " (signed)") } else { "" };
    println!("{}{signed}: {}", tr.t("封库回执", "receipt"), s.receipt_path.display());
    println!(
        "{}",
        tr.t(
            "请将回执交省级留存；核对：tuban verify 项目 --receipt 回执",
            "hand the receipt to the province; check with: tuban verify PROJECT --receipt RECEIPT"
        )
    );
    Ok(())
}

/// Arguments of `tuban keygen`.
#[derive(Args)]
pub struct KeygenArgs {
    /// 写出密钥对的文件夹 / folder for the key pair
    #[arg(long)]
    pub out: PathBuf,
}

/// 生成封库签名密钥对（Ed25519） / make an Ed25519 key pair for signing receipts
pub fn run_keygen(a: KeygenArgs, ctx: &Ctx) -> Result<()> {
    let tr = &ctx.tr;
    let (private, public) = ops::seal::keygen(&a.out)?;
    println!("{}: {}", tr.t("私钥（妥善保管，勿外传）", "private key (keep it to yourself)"), private.display());
    println!("{}: {}", tr.t("公钥（交省级留存）", "public key (for the province)"), public.display());
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
    /// 对照省级留存的封库回执，逐项指出改动 / check against the receipt the province kept; names what changed
    #[arg(long, conflicts_with = "digest")]
    pub receipt: Option<PathBuf>,
    /// 对照封库时打印的摘要（只能判断是否改动） / check against the digest tuban seal printed (says only whether anything changed)
    #[arg(long)]
    pub digest: Option<String>,
    /// 同时核对回执签名的公钥（PEM） / also check the receipt's signature with this public key (PEM)
    #[arg(long, requires = "receipt")]
    pub public_key: Option<PathBuf>,
}

/// 校验封库后是否被改动 / check what changed since the seal
pub fn run_verify(a: VerifyArgs, ctx: &Ctx) -> Result<()> {
    let VerifyArgs { project, receipt, digest, public_key } = a;
    let against = match (receipt, digest) {
        (Some(path), _) => ops::seal::Against::Receipt { path, public_key },
        (None, Some(hex)) => ops::seal::Against::Digest(hex),
        (None, None) => return verify_in_file(&project, ctx),
    };
    let tr = &ctx.tr;
    let p = ctx.open(&project, Access::ReadOnly)?;
    let v = ops::seal::verify(&p, &against)?;
    if let Some(r) = &v.receipt {
        println!("{} {} {} {}", tr.t("回执", "receipt"), r.project_file, r.sealed_at, r.user);
    }
    println!("{}: {} (v{})", tr.t("封库摘要", "sealed digest"), v.expected, v.digest_version);
    println!("{}: {}", tr.t("当前摘要", "digest now"), v.digest_now);
    if !v.receipt_consistent {
        println!(
            "  {}",
            tr.t(
                "回执本身被改动：逐项摘要与总摘要不符",
                "the receipt itself was edited: its item digests do not make up its digest"
            )
        );
    }
    use ops::seal::SignatureCheck as S;
    match v.signature {
        S::NotAsked => {}
        S::Valid => println!("{}", tr.t("签名有效", "signature valid")),
        S::Invalid => println!(
            "  {}",
            tr.t(
                "签名无效：不是该公钥签的，或回执签名后被改动",
                "signature invalid: not made by this key, or the receipt changed after signing"
            )
        ),
        S::Missing => println!("  {}", tr.t("回执没有签名", "the receipt is not signed")),
    }
    for d in &v.differences {
        println!("  {d}");
    }
    if v.unchanged() {
        println!("{}", tr.t("一致：封库后没有改动", "unchanged since the seal"));
        return Ok(());
    }
    if v.differences.is_empty() && v.expected != v.digest_now {
        println!(
            "  {}",
            tr.t(
                "数据已改变（只有摘要，无法指出哪一项）",
                "the data changed (with only a digest, what changed cannot be named)"
            )
        );
    }
    bail!("{}: {}", project.display(), tr.t("与封库时不一致", "differs from the seal"))
}

/// Without a receipt or digest: against the seal kept in the file itself.
fn verify_in_file(project: &std::path::Path, ctx: &Ctx) -> Result<()> {
    let tr = &ctx.tr;
    let r = ctx.open(project, Access::ReadOnly)?.verify()?;
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
    println!(
        "{}",
        tr.t(
            "注意：这是对照文件内的封库记录，改动文件的人也能改它；请用省级留存的回执核对（--receipt）",
            "note: this checks against the seal kept in the file, which whoever edits the file can rewrite; check against the receipt the province kept (--receipt)"
        )
    );
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
