//! The `tuban` command line: one module per command group, each a thin front end over
//! `tuban_core` (the use cases in `tuban_core::ops`, the store, the import). Output in Chinese or
//! English (`--lang`); progress on stderr with Ctrl+C to cancel.

mod args;
mod cases;
mod deliver;
mod demo;
mod evidence;
mod geometry;
mod hub;
mod imagery;
mod project;
mod reference;
mod review;
mod team;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

use tuban_core::store::{Access, Project};
use tuban_model::progress::Progress;
use tuban_model::units::{m2_to_ha, m2_to_mu};
use tuban_model::{ReviewStatus, Severity};

#[derive(Parser)]
#[command(
    name = "tuban",
    version,
    about = "图斑核查 — 变化图斑核查、台账与成果（离线） / verification of remote-sensing change patches, offline"
)]
pub struct Cli {
    /// 输出语言 / output language (zh, en)
    #[arg(long, global = true, default_value = "zh")]
    pub lang: String,
    /// 记入修改记录的用户名 / user name for the audit log (default: TUBAN_USER or the login name)
    #[arg(long, global = true)]
    pub user: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
    /// 项目文件（在桌面程序中打开） / project file to open in the desktop app
    pub project: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum Command {
    /// 新建项目 / create a project
    New(project::NewArgs),
    /// 导入图斑（Shapefile/.zip/GeoPackage/GeoJSON/KML/CSV） / import patches
    Import(project::ImportArgs),
    /// 列出数据源的图层 / list the layers of a source
    Layers(project::LayersArgs),
    /// 项目概况：按状态、乡镇、结论统计 / counts by status, township and verdict; areas
    Info(project::InfoArgs),
    /// 检查问题，每行一条 / validation problems, one per line
    Check(project::CheckArgs),
    /// 修改字段：FIELD=VALUE ... / set fields through the store API
    Set(project::SetArgs),
    /// 修改记录 / the audit trail
    Log(project::LogArgs),
    /// 拆分细斑：沿分割线或分割面 / split a patch into sub-patches along a line or a polygon
    Split(geometry::SplitArgs),
    /// 修改核实范围（GeoJSON） / set the verified extent from a GeoJSON file
    Reshape(geometry::ReshapeArgs),
    /// 合并细斑 / merge the sub-patches back into their patch
    MergeSubpatches(geometry::MergeArgs),
    /// 模板导出/导入 / export or import a template
    Template {
        #[command(subcommand)]
        action: project::TemplateAction,
    },
    /// 出图：图斑范围的影像截图（带边界、比例尺、指北针） / a map image of a patch (imagery, outline, scale bar, north arrow)
    Render(imagery::RenderArgs),
    /// 影像目录：add/list/remove / the project's imagery catalogue
    Imagery {
        #[command(subcommand)]
        action: imagery::ImageryAction,
    },
    /// 参考图层：add/list/remove（三调、基本草原、保护地、红线、审批、往年） / reference layers: land survey, basic grassland, protected areas, red line, approvals, earlier years
    Reference {
        #[command(subcommand)]
        action: reference::ReferenceAction,
    },
    /// 叠加分析：图斑在各参考图层中的面积与占比 / overlay: each patch's area and share in each reference layer
    Overlay(reference::OverlayArgs),
    /// 抽查复核：抽样、背对背复核、一致性 / spot-check: draw, blind second review, agreement
    Spotcheck(review::SpotcheckArgs),
    /// 手工添加线索（点位或经纬度/高斯坐标）/ add a clue by hand (lon/lat or Gauss-Krüger)
    Clue(review::ClueArgs),
    /// 图斑备注、标记（需外业核实、影像不清）和把握程度 / a comment, flags and confidence on a patch
    Note(review::NoteArgs),
    /// 外业照片 / field photos
    Photos {
        #[command(subcommand)]
        action: evidence::PhotoAction,
    },
    /// 案件台账 / the case ledger
    Case {
        #[command(subcommand)]
        action: cases::CaseAction,
    },
    /// 台账统计：各乡镇查处到位率、整改到位率、立案率、结案率，逾期、涉刑、拆分处罚 / ledger rates per township and the cases needing attention
    Ledger(cases::LedgerArgs),
    /// 自查报告 PDF / the PDF report
    Report(deliver::ReportArgs),
    /// 导出上报成果：shp（GBK）、gpkg、xlsx 台账、csv、照片文件夹 / export: shp (GBK), gpkg, xlsx ledger, csv, photo folder
    Export(deliver::ExportArgs),
    /// 封库：记录全部核查数据的摘要，写出封库回执，之后拒绝修改 / seal: record a digest of all review data, write a receipt; edits are refused afterwards
    Seal(deliver::SealArgs),
    /// 生成封库签名密钥对（Ed25519） / make an Ed25519 key pair for signing receipts
    Keygen(deliver::KeygenArgs),
    /// 解封（须写明原因） / unseal, with a written reason
    Unseal(deliver::UnsealArgs),
    /// 校验封库后是否被改动 / check what changed since the seal
    Verify(deliver::VerifyArgs),
    /// 工作包：按乡镇/村/调查人/查询分包，合并回来 / work packages: share patches out, merge them back
    Package {
        #[command(subcommand)]
        action: team::PackageAction,
    },
    /// 中心库（PostgreSQL/PostGIS）：建库、用户、发布、加入、同步、领取 / the team hub: init, users, publish, join, sync, leases
    Hub {
        #[command(subcommand)]
        action: hub::HubAction,
    },
    /// 待解决的冲突，每行一条 / the open conflicts, one a line
    Conflicts(team::ConflictsArgs),
    /// 解决冲突：--take ours|theirs|值 / resolve a conflict
    Resolve(team::ResolveArgs),
    /// 示例项目：导入 sample-data 并打开 / the sample project: import sample-data and open it
    Demo(demo::DemoArgs),
}

/// Picks the Chinese or English text.
pub struct Tr {
    en: bool,
}

impl Tr {
    /// The text in the chosen language.
    pub fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        if self.en {
            en
        } else {
            zh
        }
    }
}

/// What every command gets: the language and the user name for the audit log.
pub struct Ctx {
    /// Output language.
    pub tr: Tr,
    /// `--user` (else TUBAN_USER or the login name, chosen by the store).
    pub user: Option<String>,
}

impl Ctx {
    /// Opens a project as this user.
    pub fn open(&self, path: &Path, access: Access) -> Result<Project> {
        let mut p = Project::open(path, access)?;
        if let Some(u) = &self.user {
            p.set_user(u);
        }
        Ok(p)
    }
}

/// Runs a parsed command line; without a subcommand, the window (when built with `gui`).
pub fn run(cli: Cli) -> Result<()> {
    let ctx = Ctx { tr: Tr { en: cli.lang.starts_with("en") }, user: cli.user.clone() };
    let Some(command) = cli.command else { return open_window(cli.project) };
    match command {
        Command::New(a) => project::run_new(a, &ctx),
        Command::Import(a) => project::run_import(a, &ctx),
        Command::Layers(a) => project::run_layers(a, &ctx),
        Command::Info(a) => project::run_info(a, &ctx),
        Command::Check(a) => project::run_check(a, &ctx),
        Command::Set(a) => project::run_set(a, &ctx),
        Command::Log(a) => project::run_log(a, &ctx),
        Command::Split(a) => geometry::run_split(a, &ctx),
        Command::Reshape(a) => geometry::run_reshape(a, &ctx),
        Command::MergeSubpatches(a) => geometry::run_merge(a, &ctx),
        Command::Template { action } => project::run_template(action, &ctx),
        Command::Render(a) => imagery::run_render(a, &ctx),
        Command::Imagery { action } => imagery::run_imagery(action, &ctx),
        Command::Reference { action } => reference::run_reference(action, &ctx),
        Command::Overlay(a) => reference::run_overlay(a, &ctx),
        Command::Spotcheck(a) => review::run_spotcheck(a, &ctx),
        Command::Clue(a) => review::run_clue(a, &ctx),
        Command::Note(a) => review::run_note(a, &ctx),
        Command::Photos { action } => evidence::run_photos(action, &ctx),
        Command::Case { action } => cases::run_case(action, &ctx),
        Command::Ledger(a) => cases::run_ledger(a, &ctx),
        Command::Report(a) => deliver::run_report(a, &ctx),
        Command::Export(a) => deliver::run_export(a, &ctx),
        Command::Seal(a) => deliver::run_seal(a, &ctx),
        Command::Keygen(a) => deliver::run_keygen(a, &ctx),
        Command::Unseal(a) => deliver::run_unseal(a, &ctx),
        Command::Verify(a) => deliver::run_verify(a, &ctx),
        Command::Demo(a) => demo::run_demo(a, &ctx),
        Command::Package { action } => team::run_package(action, &ctx),
        Command::Hub { action } => hub::run_hub(action, &ctx),
        Command::Conflicts(a) => team::run_conflicts(a, &ctx),
        Command::Resolve(a) => team::run_resolve(a, &ctx),
    }
}

#[cfg(feature = "gui")]
fn open_window(project: Option<PathBuf>) -> Result<()> {
    tuban_app::run(project)
}

#[cfg(not(feature = "gui"))]
fn open_window(_project: Option<PathBuf>) -> Result<()> {
    anyhow::bail!("此 tuban 未包含桌面窗口（无 gui 功能）；请使用子命令，见 tuban --help / this tuban was built without the window (no gui feature): use a subcommand, see tuban --help")
}

/// Runs long work with a progress bar on stderr; Ctrl+C cancels it cleanly.
pub fn with_progress<T, E: std::error::Error + Send + Sync + 'static>(
    work: impl FnOnce(&Progress) -> Result<T, E>,
) -> Result<T> {
    let progress = Progress::new();
    let for_signal = Arc::clone(&progress);
    let _ = ctrlc::set_handler(move || for_signal.cancel());
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = {
        let progress = Arc::clone(&progress);
        let bar = bar.clone();
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let (stage, n, total) = progress.snapshot();
                bar.set_message(stage);
                bar.set_length(total);
                bar.set_position(n);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let result = work(&progress);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = ticker.join();
    bar.finish_and_clear();
    Ok(result?)
}

/// The review status in the output language.
pub fn status_label(s: ReviewStatus, tr: &Tr) -> &'static str {
    tr.t(s.label(), s.label_en())
}

pub fn severity_label(s: Severity, tr: &Tr) -> &'static str {
    match s {
        Severity::Error => tr.t("错误", "error"),
        Severity::Warning => tr.t("警告", "warning"),
    }
}

pub fn area_text(area_m2: f64) -> String {
    format!("{:.2} m² = {:.2} 亩 = {:.4} ha", area_m2, m2_to_mu(area_m2), m2_to_ha(area_m2))
}
