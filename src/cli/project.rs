//! Project commands: new, import, layers, info, check, set, log, template.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use tuban_core::import::{self, ImportOptions, ImportReport};
use tuban_core::store::{Access, Project, ProjectMeta};
use tuban_model::units::m2_to_ha;
use tuban_model::{ReviewStatus, Severity, Template};

use super::args::field_value;
use super::{area_text, severity_label, status_label, with_progress, Ctx, Tr};

/// Arguments of `tuban new`.
#[derive(Args)]
pub struct NewArgs {
    pub project: PathBuf,
    /// grassland | forest | eco | 模板文件.toml
    #[arg(long, default_value = "grassland")]
    pub template: String,
    /// 县级行政区代码 / 6-digit county code
    #[arg(long, default_value = "")]
    pub county: String,
    /// 县名 / county name
    #[arg(long, default_value = "")]
    pub county_name: String,
    /// 监测年度 / monitoring year
    #[arg(long)]
    pub year: Option<i32>,
    /// 核查单位 / verifying unit
    #[arg(long, default_value = "")]
    pub unit: String,
}

/// 新建项目 / create a project
pub fn run_new(a: NewArgs, ctx: &Ctx) -> Result<()> {
    let NewArgs { project, template, county, county_name, year, unit } = a;
    let tr = &ctx.tr;
    let template = load_template(&template)?;
    let meta = ProjectMeta {
        programme: template.spec.programme,
        county_code: county,
        county_name,
        year: year.unwrap_or_else(current_year),
        unit,
    };
    let mut p = Project::create(&project, &template, &meta)?;
    if let Some(u) = &ctx.user {
        p.set_user(u);
    }
    println!(
        "{} {} ({} {} v{})",
        tr.t("已创建", "created"),
        project.display(),
        meta.programme.label(),
        template.spec.id,
        template.spec.version
    );
    Ok(())
}

/// Arguments of `tuban import`.
#[derive(Args)]
pub struct ImportArgs {
    pub project: PathBuf,
    pub source: PathBuf,
    /// 图层名 / layer name when the source has several
    #[arg(long)]
    pub layer: Option<String>,
    /// 文本编码（GBK、UTF-8、LATIN1），覆盖声明和检测 / text encoding, overrides declaration and detection
    #[arg(long)]
    pub encoding: Option<String>,
    /// 坐标系，如 EPSG:4546 / CRS of the coordinates, e.g. EPSG:4546
    #[arg(long)]
    pub crs: Option<String>,
    /// 批次监测年度 / monitoring year of this batch
    #[arg(long)]
    pub year: Option<i32>,
    /// 线索来源（遥感、绿盾、信访、举报、媒体、督察） / clue source
    #[arg(long = "source")]
    pub clue_source: Option<String>,
}

/// 导入图斑（Shapefile/.zip/GeoPackage/GeoJSON/KML/CSV） / import patches
pub fn run_import(a: ImportArgs, ctx: &Ctx) -> Result<()> {
    let ImportArgs { project, source, layer, encoding, crs, year, clue_source } = a;
    let tr = &ctx.tr;
    let mut p = ctx.open(&project, Access::ReadWrite)?;
    let opts = ImportOptions { layer, encoding, crs, year, clue_source };
    let report = with_progress(|progress| import::import(&mut p, &source, &opts, progress))?;
    print_import_report(&report, tr);
    if !p.references()?.is_empty() {
        let scope = tuban_core::reference::overlay::Scope::Stale;
        let (summary, filled) =
            with_progress(|progress| tuban_core::ops::reference::refresh(&mut p, &scope, progress))?;
        println!(
            "{} {} {}, {} {}",
            tr.t("叠加分析", "overlay"),
            summary.patches,
            tr.t("个图斑", "patches"),
            filled,
            tr.t("个字段已按参考图层填写", "fields filled from reference layers")
        );
    }
    Ok(())
}

/// Arguments of `tuban layers`.
#[derive(Args)]
pub struct LayersArgs {
    pub source: PathBuf,
}

/// 列出数据源的图层 / list the layers of a source
pub fn run_layers(a: LayersArgs, _ctx: &Ctx) -> Result<()> {
    let LayersArgs { source } = a;
    for l in import::list_layers(&source)? {
        println!("{}\t{}\t{}", l.name, l.geometry, l.feature_count);
    }
    Ok(())
}

/// Arguments of `tuban info`.
#[derive(Args)]
pub struct InfoArgs {
    pub project: PathBuf,
}

/// 项目概况：按状态、乡镇、结论统计 / counts by status, township and verdict; areas
pub fn run_info(a: InfoArgs, ctx: &Ctx) -> Result<()> {
    let InfoArgs { project } = a;
    let tr = &ctx.tr;
    info(&ctx.open(&project, Access::ReadOnly)?, tr)?;
    Ok(())
}

/// Arguments of `tuban check`.
#[derive(Args)]
pub struct CheckArgs {
    pub project: PathBuf,
}

/// 检查问题，每行一条 / validation problems, one per line
pub fn run_check(a: CheckArgs, ctx: &Ctx) -> Result<()> {
    let CheckArgs { project } = a;
    let tr = &ctx.tr;
    check(&ctx.open(&project, Access::ReadOnly)?, tr)?;
    Ok(())
}

/// Arguments of `tuban set`.
#[derive(Args)]
pub struct SetArgs {
    pub project: PathBuf,
    /// 图斑编号（或 编号-细斑号，或 #fid） / patch id (or ID-SUB, or #fid)
    pub patch: String,
    /// FIELD=VALUE
    #[arg(required = true, value_parser = field_value)]
    pub assignments: Vec<(String, String)>,
}

/// 修改字段：FIELD=VALUE ... / set fields through the store API
pub fn run_set(a: SetArgs, ctx: &Ctx) -> Result<()> {
    let SetArgs { project, patch, assignments } = a;
    let tr = &ctx.tr;
    let mut p = ctx.open(&project, Access::ReadWrite)?;
    let fid = p.require_patch(&patch)?;
    let pairs: Vec<(&str, &str)> = assignments.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let outcome = p.set_text(fid, &pairs)?;
    for (field, old, new) in &outcome.changed {
        println!("{field}: {old} → {new}");
    }
    if outcome.changed.is_empty() {
        println!("{}", tr.t("无变化", "no change"));
    }
    println!("{}: {}", tr.t("状态", "status"), status_label(outcome.status, tr));
    for pr in &outcome.problems {
        println!(
            "  {} {}: {}",
            severity_label(pr.severity, tr),
            pr.field,
            if tr.en { &pr.message_en } else { &pr.message }
        );
    }
    Ok(())
}

/// Arguments of `tuban log`.
#[derive(Args)]
pub struct LogArgs {
    pub project: PathBuf,
    pub patch: Option<String>,
}

/// 修改记录 / the audit trail
pub fn run_log(a: LogArgs, ctx: &Ctx) -> Result<()> {
    let LogArgs { project, patch } = a;
    let p = ctx.open(&project, Access::ReadOnly)?;
    let fid = patch.as_deref().map(|k| p.require_patch(k)).transpose()?;
    for e in p.audit_log(fid)? {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{} → {}",
            e.time,
            e.user,
            e.action,
            e.patch_key.unwrap_or_default(),
            e.field.unwrap_or_default(),
            e.old_value.unwrap_or_else(|| "∅".into()),
            e.new_value.unwrap_or_else(|| "∅".into())
        );
    }
    Ok(())
}

/// 模板导出/导入 / export or import a template
pub fn run_template(action: TemplateAction, ctx: &Ctx) -> Result<()> {
    let tr = &ctx.tr;
    match action {
        TemplateAction::Export { project, builtin, out } => {
            let template = match (project, builtin) {
                (Some(p), None) => ctx.open(&p, Access::ReadOnly)?.template().clone(),
                (None, Some(b)) => Template::builtin(&b)?,
                (None, None) => Template::builtin("grassland")?,
                (Some(_), Some(_)) => {
                    bail!("{}", tr.t("项目和 --builtin 只能选一个", "give a project or --builtin, not both"))
                }
            };
            let text = template.to_toml();
            match out {
                Some(path) => {
                    tuban_core::atomic::write_file(&path, text.as_bytes(), tuban_core::atomic::Overwrite::Refuse)?
                }
                None => print!("{text}"),
            }
        }
        TemplateAction::Import { project, file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("{}", file.display()))?;
            let template = Template::from_toml(&text, &file.display().to_string())?;
            let mut p = ctx.open(&project, Access::ReadWrite)?;
            let dropped = p.replace_template(template)?;
            println!("{}", tr.t("模板已更新", "template replaced"));
            if !dropped.is_empty() {
                println!(
                    "{}: {}",
                    tr.t(
                        "新模板不含以下字段，其数据仍保留在文件中",
                        "fields not in the new template (their data stays in the file)"
                    ),
                    dropped.join(", ")
                );
            }
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum TemplateAction {
    /// 导出模板 TOML / write a template as TOML
    Export {
        /// 项目文件（省略则导出内置模板） / project (omit to export a built-in)
        project: Option<PathBuf>,
        /// 内置模板 grassland|forest|eco / built-in template
        #[arg(long)]
        builtin: Option<String>,
        /// 输出文件（省略则输出到屏幕） / output file (default: stdout)
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// 用修改后的模板替换项目模板 / replace a project's template with an edited one
    Import { project: PathBuf, file: PathBuf },
}

pub fn current_year() -> i32 {
    use chrono::Datelike;
    chrono::Local::now().year()
}

pub fn load_template(name: &str) -> Result<Template> {
    if name.ends_with(".toml") {
        let text = std::fs::read_to_string(name)
            .with_context(|| format!("{name}: 无法读取模板文件 / cannot read the template file"))?;
        return Ok(Template::from_toml(&text, name)?);
    }
    Ok(Template::builtin(name)?)
}

pub fn print_import_report(r: &ImportReport, tr: &Tr) {
    let s = &r.summary;
    println!("{}: {} ({} #{})", tr.t("图层", "layer"), r.layer, tr.t("批次", "batch"), s.batch_id);
    println!("{}: {} — {}", tr.t("编码", "encoding"), r.encoding.name, r.encoding.how.describe());
    println!(
        "{}: {}{}",
        tr.t("坐标系", "CRS"),
        r.crs.name,
        if r.crs.code > 0 { format!(" (EPSG:{})", r.crs.code) } else { String::new() }
    );
    for w in &r.warnings {
        println!("{}: {w}", tr.t("提示", "note"));
    }
    println!(
        "{} {}  {} {}  {} {}  {} {}  {} {}",
        tr.t("新增", "added"),
        s.added,
        tr.t("更新", "updated"),
        s.updated,
        tr.t("未变", "unchanged"),
        s.unchanged,
        tr.t("跳过", "skipped"),
        s.skipped,
        tr.t("问题", "problems"),
        s.problems.len()
    );
    const SHOWN: usize = 50;
    for p in s.problems.iter().take(SHOWN) {
        println!("  {p}");
    }
    if s.problems.len() > SHOWN {
        println!("  … {} {}", s.problems.len() - SHOWN, tr.t("条未显示，见 tuban check", "more; see tuban check"));
    }
}

pub fn info(p: &Project, tr: &Tr) -> Result<()> {
    let m = p.meta();
    let t = p.template();
    let s = p.summary()?;
    println!("{}: {}", tr.t("项目", "project"), p.path().display());
    println!(
        "{}: {}  {}: {} v{}  {}: {} {}  {}: {}  {}: {}",
        tr.t("计划", "programme"),
        m.programme.label(),
        tr.t("模板", "template"),
        t.spec.id,
        t.spec.version,
        tr.t("县", "county"),
        m.county_code,
        m.county_name,
        tr.t("年度", "year"),
        m.year,
        tr.t("单位", "unit"),
        m.unit
    );
    println!(
        "{}: {} ({} {}, {} {})  {}: {}",
        tr.t("图斑", "patches"),
        s.total.count,
        tr.t("细斑", "sub-patches"),
        s.sub_patches,
        tr.t("点", "points"),
        s.points,
        tr.t("面积", "area"),
        area_text(s.total.area_m2)
    );
    let reviewed = s.by_status.iter().filter(|(k, _)| k.is_reviewed()).map(|(_, v)| v.count).sum::<usize>();
    println!("{}: {reviewed} / {}", tr.t("已核查", "reviewed"), s.total.count);
    println!("{}:", tr.t("按状态", "by status"));
    for st in ReviewStatus::ALL {
        let tally = s.by_status.get(&st).copied().unwrap_or_default();
        println!("  {}\t{}", status_label(st, tr), tally.count);
    }
    let unset = tr.t("（未填）", "(not set)");
    println!("{}:", tr.t("按乡镇", "by township"));
    for (town, tally) in &s.by_township {
        let verdicts: Vec<String> = s
            .by_township_verdict
            .iter()
            .filter(|((t, _), _)| t == town)
            .map(|((_, v), c)| format!("{} {}", if v.is_empty() { unset } else { v }, c.count))
            .collect();
        println!(
            "  {}\t{}\t{:.4} ha\t{}",
            if town.is_empty() { unset } else { town },
            tally.count,
            m2_to_ha(tally.area_m2),
            verdicts.join(", ")
        );
    }
    println!("{} ({}):", tr.t("按核查结论", "by verdict"), t.roles().verdict);
    for (verdict, tally) in &s.by_verdict {
        println!(
            "  {}\t{}\t{:.4} ha",
            if verdict.is_empty() { unset } else { verdict },
            tally.count,
            m2_to_ha(tally.area_m2)
        );
    }
    if s.with_import_issues > 0 {
        println!("{}: {}", tr.t("导入时有问题的图斑", "patches with import issues"), s.with_import_issues);
    }
    println!("{}:", tr.t("导入批次", "import batches"));
    for b in p.batches()? {
        println!(
            "  #{} {} {} [{}] {} {} {} {} {} {} {} {}  {}: {}  {}: {}",
            b.id,
            b.imported_at,
            b.source_path,
            b.layer,
            tr.t("新增", "added"),
            b.counts[0],
            tr.t("更新", "updated"),
            b.counts[1],
            tr.t("未变", "unchanged"),
            b.counts[2],
            tr.t("跳过", "skipped"),
            b.counts[3],
            tr.t("编码", "encoding"),
            b.encoding,
            tr.t("坐标系", "CRS"),
            b.source_crs
        );
    }
    Ok(())
}

pub fn check(p: &Project, tr: &Tr) -> Result<()> {
    let mut errors = 0;
    let mut warnings = 0;
    let mut unreviewed = 0;
    for r in p.patches()? {
        for issue in &r.import_issues {
            println!("{}\t-\t{}\t{issue}", r.key, tr.t("导入", "import"));
            warnings += 1;
        }
        if r.status == ReviewStatus::Unreviewed {
            unreviewed += 1;
        }
        for pr in p.problems(&r) {
            match pr.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
            }
            println!(
                "{}\t{}\t{}\t{}",
                r.key,
                pr.field,
                severity_label(pr.severity, tr),
                if tr.en { &pr.message_en } else { &pr.message }
            );
        }
    }
    for r in p.rebounds()? {
        println!(
            "{}\t-\t{}\t{} {} ({} {})",
            r.new_key,
            tr.t("反弹", "rebound"),
            tr.t("与已整改/销号的图斑重叠", "overlaps the closed or rectified patch"),
            r.old_key,
            tr.t("案件", "case"),
            r.case_number
        );
        warnings += 1;
    }
    println!(
        "{} {errors}  {} {warnings}  {} {unreviewed}",
        tr.t("错误", "errors"),
        tr.t("警告", "warnings"),
        tr.t("未核查图斑", "unreviewed patches")
    );
    Ok(())
}
