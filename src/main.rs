//! The `tuban` command: batch work on project files through the headless core.
//! Without a subcommand it opens the desktop app (on PROJECT.gpkg when given).
//! Exit codes: 0 ok, 1 error, 2 usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use tuban_core::imagery::SourceSpec;
use tuban_core::import::{self, ImportOptions, ImportReport};
use tuban_core::store::{Access, Project, ProjectMeta};
use tuban_model::progress::Progress;
use tuban_model::units::{m2_to_ha, m2_to_mu};
use tuban_model::{Programme, ReviewStatus, Severity, Template};

#[derive(Parser)]
#[command(
    name = "tuban",
    version,
    about = "图斑核查 — 变化图斑核查、台账与成果（离线） / verification of remote-sensing change patches, offline"
)]
struct Cli {
    /// 输出语言 / output language (zh, en)
    #[arg(long, global = true, default_value = "zh")]
    lang: String,
    /// 记入修改记录的用户名 / user name for the audit log (default: TUBAN_USER or the login name)
    #[arg(long, global = true)]
    user: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
    /// 项目文件（在桌面程序中打开） / project file to open in the desktop app
    project: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// 新建项目 / create a project
    New {
        project: PathBuf,
        /// grassland | forest | eco | 模板文件.toml
        #[arg(long, default_value = "grassland")]
        template: String,
        /// 县级行政区代码 / 6-digit county code
        #[arg(long, default_value = "")]
        county: String,
        /// 县名 / county name
        #[arg(long, default_value = "")]
        county_name: String,
        /// 监测年度 / monitoring year
        #[arg(long)]
        year: Option<i32>,
        /// 核查单位 / verifying unit
        #[arg(long, default_value = "")]
        unit: String,
    },
    /// 导入图斑（Shapefile/.zip/GeoPackage/GeoJSON/KML/CSV） / import patches
    Import {
        project: PathBuf,
        source: PathBuf,
        /// 图层名 / layer name when the source has several
        #[arg(long)]
        layer: Option<String>,
        /// 文本编码（GBK、UTF-8、LATIN1），覆盖声明和检测 / text encoding, overrides declaration and detection
        #[arg(long)]
        encoding: Option<String>,
        /// 坐标系，如 EPSG:4546 / CRS of the coordinates, e.g. EPSG:4546
        #[arg(long)]
        crs: Option<String>,
        /// 批次监测年度 / monitoring year of this batch
        #[arg(long)]
        year: Option<i32>,
        /// 线索来源（遥感、绿盾、信访、举报、媒体、督察） / clue source
        #[arg(long = "source")]
        clue_source: Option<String>,
    },
    /// 列出数据源的图层 / list the layers of a source
    Layers { source: PathBuf },
    /// 项目概况：按状态、乡镇、结论统计 / counts by status, township and verdict; areas
    Info { project: PathBuf },
    /// 检查问题，每行一条 / validation problems, one per line
    Check { project: PathBuf },
    /// 修改字段：FIELD=VALUE ... / set fields through the store API
    Set {
        project: PathBuf,
        /// 图斑编号（或 编号-细斑号，或 #fid） / patch id (or ID-SUB, or #fid)
        patch: String,
        /// FIELD=VALUE
        #[arg(required = true)]
        assignments: Vec<String>,
    },
    /// 修改记录 / the audit trail
    Log { project: PathBuf, patch: Option<String> },
    /// 模板导出/导入 / export or import a template
    Template {
        #[command(subcommand)]
        action: TemplateAction,
    },
    /// 出图：图斑范围的影像截图（带边界、比例尺、指北针） / a map image of a patch (imagery, outline, scale bar, north arrow)
    Render {
        project: PathBuf,
        /// 图斑编号 / patch id
        patch: String,
        /// before | after | 影像名称 / before, after or an imagery name
        #[arg(long, default_value = "after")]
        source: String,
        /// 输出 PNG / output PNG
        #[arg(long)]
        out: PathBuf,
        /// 尺寸，如 800x600 / size, e.g. 800x600
        #[arg(long, default_value = "800x600")]
        size: String,
        /// 覆盖已有文件 / overwrite an existing file
        #[arg(long)]
        force: bool,
    },
    /// 抽查复核：抽样、背对背复核、一致性 / spot-check: draw, blind second review, agreement
    Spotcheck {
        #[command(subcommand)]
        action: SpotAction,
    },
    /// 手工添加线索（点位或经纬度/高斯坐标）/ add a clue by hand (lon/lat or Gauss-Krüger)
    Clue {
        project: PathBuf,
        /// 经度,纬度 / lon,lat
        #[arg(long, conflicts_with = "gk")]
        lonlat: Option<String>,
        /// 高斯坐标 X,Y（3 度带，按 --zone-epsg 或项目县代码） / Gauss-Krüger easting,northing
        #[arg(long)]
        gk: Option<String>,
        /// 高斯坐标系，如 EPSG:4546 / GK CRS, e.g. EPSG:4546
        #[arg(long, default_value = "EPSG:4546")]
        gk_crs: String,
        /// 监测年度 / monitoring year
        #[arg(long)]
        year: Option<i32>,
        /// 线索来源（信访、举报、媒体…） / clue source
        #[arg(long = "source")]
        clue_source: Option<String>,
        /// FIELD=VALUE（如 DZ=某村北 2 公里） / field values
        assignments: Vec<String>,
    },
    /// 图斑备注、标记（需外业核实、影像不清）和把握程度 / a comment, flags and confidence on a patch
    Note {
        project: PathBuf,
        patch: String,
        /// 备注 / comment
        #[arg(long)]
        comment: Option<String>,
        /// 标记：需外业核实、影像不清（可重复） / flag (repeatable)
        #[arg(long)]
        flag: Vec<String>,
        /// 把握程度 1-5 / confidence 1-5
        #[arg(long)]
        confidence: Option<u8>,
    },
    /// 外业照片 / field photos
    Photos {
        #[command(subcommand)]
        action: PhotoAction,
    },
    /// 案件台账 / the case ledger
    Case {
        #[command(subcommand)]
        action: CaseAction,
    },
    /// 台账统计：各乡镇查处到位率、整改到位率、立案率、结案率，逾期、涉刑、拆分处罚 / ledger rates per township and the cases needing attention
    Ledger { project: PathBuf },
    /// 自查报告 PDF / the PDF report
    Report {
        project: PathBuf,
        /// 输出 PDF / output PDF
        #[arg(long)]
        out: PathBuf,
        /// 核查表：all | illegal | none | 条件如 "XZMC = 乌兰花镇 and HCJG = 违法" / which patches get a sheet: all, illegal, none or a condition
        #[arg(long, default_value = "all")]
        sheets: String,
        /// 影像截图分辨率 / chip resolution (150 or 300 dpi)
        #[arg(long, default_value_t = 150)]
        dpi: u32,
        /// 页眉单位名称 / unit name
        #[arg(long)]
        unit: Option<String>,
        /// “工作组织与方法”文字文件 / text file for section 2
        #[arg(long)]
        method: Option<PathBuf>,
        /// “存在问题与建议”文字文件 / text file for section 6
        #[arg(long)]
        problems: Option<PathBuf>,
        /// 把 --method、--problems 的文字存入项目，以后的报告沿用 / keep these texts in the project for later reports
        #[arg(long)]
        save_texts: bool,
        /// 覆盖已有文件 / overwrite
        #[arg(long)]
        force: bool,
    },
    /// 导出上报成果：shp（GBK）、gpkg、xlsx 台账、csv、照片文件夹 / export: shp (GBK), gpkg, xlsx ledger, csv, photo folder
    Export {
        project: PathBuf,
        /// shp | gpkg | xlsx | csv | photos
        #[arg(long)]
        format: String,
        /// 输出文件夹 / output folder
        #[arg(long)]
        out: PathBuf,
        /// 坐标系（默认为下发坐标系） / CRS (default: as delivered)
        #[arg(long)]
        crs: Option<String>,
        /// 覆盖已有文件 / overwrite existing files
        #[arg(long)]
        force: bool,
    },
    /// 封库：记录全部核查数据的摘要，之后拒绝修改 / seal: record a digest of all review data; edits are refused afterwards
    Seal { project: PathBuf },
    /// 解封（须写明原因） / unseal, with a written reason
    Unseal {
        project: PathBuf,
        /// 原因 / reason
        #[arg(long)]
        reason: String,
    },
    /// 校验封库后是否被改动 / check what changed since the seal
    Verify { project: PathBuf },
    /// 影像目录：add/list/remove / the project's imagery catalogue
    Imagery {
        #[command(subcommand)]
        action: ImageryAction,
    },
    /// 示例项目：导入 sample-data 并打开 / the sample project: import sample-data and open it
    Demo {
        /// 示例数据目录 / sample data folder
        #[arg(long)]
        dir: Option<PathBuf>,
        /// 示例项目文件 / where to put the sample project
        #[arg(long)]
        project: Option<PathBuf>,
        /// 重新生成项目 / recreate the project
        #[arg(long)]
        fresh: bool,
        /// 只显示概况，不打开窗口 / print the summary instead of opening the window
        #[arg(long)]
        no_window: bool,
    },
}

#[derive(Subcommand)]
enum SpotAction {
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

#[derive(Subcommand)]
enum PhotoAction {
    /// 添加照片或照片文件夹，按 GPS 位置匹配图斑 / add photos or folders; matched to patches by GPS
    Add {
        project: PathBuf,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// 全部归入此图斑 / assign all to this patch
        #[arg(long)]
        patch: Option<String>,
        /// 图斑外的最大匹配距离（米） / farthest match outside a patch, metres
        #[arg(long, default_value_t = 100.0)]
        max_distance: f64,
    },
    /// 列出照片及其问题 / list photos and their warnings
    List { project: PathBuf, patch: Option<String> },
    /// 指定图斑 / assign a photo to a patch
    Assign { project: PathBuf, photo: i64, patch: String },
}

#[derive(Subcommand)]
enum CaseAction {
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
        #[arg(required = true)]
        assignments: Vec<String>,
    },
    /// 记录流程步骤：问题发现 移交查处 督促整改 移送上报 销号 / record a workflow step
    Step {
        project: PathBuf,
        number: String,
        step: String,
        /// 日期（默认今天） / date (default today)
        #[arg(long)]
        date: Option<String>,
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
    },
}

#[derive(Subcommand)]
enum ImageryAction {
    /// 登记影像：栅格文件、影像文件夹（拼接）、.mbtiles、瓦片目录或在线 URL 模板 / register a raster, a folder of rasters (mosaic), an .mbtiles, a tile folder or a URL template
    Add {
        project: PathBuf,
        source: String,
        /// 成像日期 YYYY-MM-DD（省略则读元数据） / acquisition date (default: from metadata)
        #[arg(long)]
        date: Option<String>,
        /// 说明 / label
        #[arg(long, default_value = "")]
        label: String,
        /// 名称（默认文件名） / name (default: file name)
        #[arg(long)]
        name: Option<String>,
        /// 显示波段，如 4,3,2 / bands shown as R,G,B, e.g. 4,3,2
        #[arg(long)]
        bands: Option<String>,
        /// 百分比拉伸，如 2,98 / percentile stretch, e.g. 2,98
        #[arg(long)]
        stretch: Option<String>,
        /// 在线服务的密钥（天地图 tk） / key of an online service (Tianditu tk)
        #[arg(long)]
        key: Option<String>,
        /// 叠加图层模板（如天地图 cia_w 注记） / overlay template (e.g. Tianditu cia_w annotation)
        #[arg(long)]
        overlay: Option<String>,
        /// 瓦片目录按 TMS 行号 / the tile folder counts rows from the south (TMS)
        #[arg(long)]
        tms: bool,
        /// 在线服务最大级别 / deepest zoom of the online service
        #[arg(long)]
        max_zoom: Option<u8>,
        /// 缺少金字塔时建立 / build overviews when a large raster has none
        #[arg(long)]
        build_overviews: bool,
    },
    /// 列出影像 / list registered imagery
    List { project: PathBuf },
    /// 删除登记 / unregister
    Remove { project: PathBuf, name: String },
}

#[derive(Subcommand)]
enum TemplateAction {
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

/// Picks the Chinese or English text.
struct Tr {
    en: bool,
}

impl Tr {
    fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        if self.en {
            en
        } else {
            zh
        }
    }
}

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`tuban info | head`) like other command-line tools.
    // SAFETY: called before any thread starts; SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tuban_core::crash::install_hook();
    if std::env::var_os("TUBAN_CRASH_TEST").is_some() {
        // Lets the tests check the crash report end to end.
        tuban_core::crash::set_report_dir(std::env::var_os("TUBAN_CRASH_TEST").map(PathBuf::from));
        panic!("crash test requested by TUBAN_CRASH_TEST");
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("错误 / error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let tr = Tr { en: cli.lang.starts_with("en") };
    let user = cli.user.clone();
    let open = |path: &Path, access: Access| -> Result<Project> {
        let mut p = Project::open(path, access)?;
        if let Some(u) = &user {
            p.set_user(u);
        }
        Ok(p)
    };
    let Some(command) = cli.command else {
        use clap::CommandFactory;
        let _ = Cli::command;
        return tuban_app::run(cli.project);
    };
    match command {
        Command::New { project, template, county, county_name, year, unit } => {
            let template = load_template(&template)?;
            let meta = ProjectMeta {
                programme: template.spec.programme,
                county_code: county,
                county_name,
                year: year.unwrap_or_else(current_year),
                unit,
            };
            let mut p = Project::create(&project, &template, &meta)?;
            if let Some(u) = &user {
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
        }
        Command::Import { project, source, layer, encoding, crs, year, clue_source } => {
            let mut p = open(&project, Access::ReadWrite)?;
            let opts = ImportOptions { layer, encoding, crs, year, clue_source };
            let report = with_progress(|progress| import::import(&mut p, &source, &opts, progress))?;
            print_import_report(&report, &tr);
        }
        Command::Layers { source } => {
            for l in import::list_layers(&source)? {
                println!("{}\t{}\t{}", l.name, l.geometry, l.feature_count);
            }
        }
        Command::Info { project } => info(&open(&project, Access::ReadOnly)?, &tr)?,
        Command::Check { project } => check(&open(&project, Access::ReadOnly)?, &tr)?,
        Command::Set { project, patch, assignments } => {
            let mut p = open(&project, Access::ReadWrite)?;
            let fid = p
                .find_patch(&patch)?
                .with_context(|| format!("{}: {} {patch}", project.display(), tr.t("没有图斑", "no patch")))?;
            let mut pairs = Vec::new();
            for a in &assignments {
                let Some((k, v)) = a.split_once('=') else {
                    bail!("“{a}”: {}", tr.t("应写成 字段=值", "expected FIELD=VALUE"))
                };
                pairs.push((k.trim(), v));
            }
            let outcome = p.set_text(fid, &pairs)?;
            for (field, old, new) in &outcome.changed {
                println!("{field}: {old} → {new}");
            }
            if outcome.changed.is_empty() {
                println!("{}", tr.t("无变化", "no change"));
            }
            println!("{}: {}", tr.t("状态", "status"), status_label(outcome.status, &tr));
            for pr in &outcome.problems {
                println!(
                    "  {} {}: {}",
                    severity_label(pr.severity, &tr),
                    pr.field,
                    if tr.en { &pr.message_en } else { &pr.message }
                );
            }
        }
        Command::Log { project, patch } => {
            let p = open(&project, Access::ReadOnly)?;
            let fid = match &patch {
                Some(k) => Some(
                    p.find_patch(k)?
                        .with_context(|| format!("{}: {} {k}", project.display(), tr.t("没有图斑", "no patch")))?,
                ),
                None => None,
            };
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
        }
        Command::Template { action } => match action {
            TemplateAction::Export { project, builtin, out } => {
                let template = match (project, builtin) {
                    (Some(p), None) => open(&p, Access::ReadOnly)?.template().clone(),
                    (None, Some(b)) => Template::builtin(&b)?,
                    (None, None) => Template::builtin("grassland")?,
                    (Some(_), Some(_)) => {
                        bail!("{}", tr.t("项目和 --builtin 只能选一个", "give a project or --builtin, not both"))
                    }
                };
                let text = template.to_toml();
                match out {
                    Some(path) => write_new_file(&path, text.as_bytes())?,
                    None => print!("{text}"),
                }
            }
            TemplateAction::Import { project, file } => {
                let text = std::fs::read_to_string(&file).with_context(|| format!("{}", file.display()))?;
                let template = Template::from_toml(&text, &file.display().to_string())?;
                let mut p = open(&project, Access::ReadWrite)?;
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
        },
        Command::Render { project, patch, source, out, size, force } => {
            let p = open(&project, Access::ReadOnly)?;
            let fid = p
                .find_patch(&patch)?
                .with_context(|| format!("{}: {} {patch}", project.display(), tr.t("没有图斑", "no patch")))?;
            let record = p.patch(fid)?.with_context(|| format!("#{fid}"))?;
            let geom =
                p.patch_geometry(fid)?.with_context(|| format!("{patch}: {}", tr.t("没有几何", "no geometry")))?;
            let sources = p.imagery()?;
            let index = match source.as_str() {
                "before" => p.imagery_for(&record, &sources, tuban_core::store::Period::Before),
                "after" => p.imagery_for(&record, &sources, tuban_core::store::Period::After),
                name => Some(
                    sources
                        .iter()
                        .position(|s| s.name == name)
                        .with_context(|| format!("{}: {name}", tr.t("没有这个影像", "no such imagery")))?,
                ),
            };
            let (w, h) = size
                .split_once(['x', 'X', '×'])
                .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
                .with_context(|| format!("--size {size}: {}", tr.t("应写成 800x600", "write it like 800x600")))?;
            let caption = index
                .and_then(|i| sources.get(i))
                .map(|s| format!("{}  {}", s.title(), s.acquired.map(|d| d.to_string()).unwrap_or_default()));
            let opts = tuban_core::render::RenderOptions { size_px: (w, h), caption, ..Default::default() };
            let overlay = tuban_core::render::Overlay { geom, rgba: [255, 255, 0, 255], label: record.key.clone() };
            let img =
                tuban_core::render::render(index.and_then(|i| sources.get(i)).map(|s| &s.spec), &[overlay], &opts)?;
            if out.exists() && !force {
                bail!(
                    "{}: {}",
                    out.display(),
                    tr.t("文件已存在；加 --force 覆盖", "file exists; add --force to overwrite")
                );
            }
            let tmp = out.with_extension("tmp.png");
            img.save(&tmp).with_context(|| format!("{}", tmp.display()))?;
            std::fs::rename(&tmp, &out).with_context(|| format!("{}", out.display()))?;
            println!("{} {} ({w}×{h})", tr.t("已输出", "wrote"), out.display());
        }
        Command::Spotcheck { action } => spot_command(action, &open, &tr)?,
        Command::Clue { project, lonlat, gk, gk_crs, year, clue_source, assignments } => {
            let pair = |s: &str| -> Result<(f64, f64)> {
                let (a, b) =
                    s.split_once(',').with_context(|| format!("“{s}”: {}", tr.t("应写成 x,y", "expected x,y")))?;
                Ok((a.trim().parse().with_context(|| a.to_string())?, b.trim().parse().with_context(|| b.to_string())?))
            };
            let (lon, lat) = match (&lonlat, &gk) {
                (Some(ll), _) => pair(ll)?,
                (None, Some(xy)) => {
                    let (x, y) = pair(xy)?;
                    tuban_core::gk::to_lonlat(&gk_crs, x, y).with_context(|| format!("--gk {xy} --gk-crs {gk_crs}"))?
                }
                (None, None) => bail!("{}", tr.t("需要 --lonlat 或 --gk", "give --lonlat or --gk")),
            };
            anyhow::ensure!(
                (73.0..=136.0).contains(&lon) && (3.0..=54.0).contains(&lat),
                "{lon}, {lat}: {}",
                tr.t("坐标不在中国范围内", "not in China")
            );
            let mut pairs = Vec::new();
            for a in &assignments {
                let Some((k, v)) = a.split_once('=') else {
                    bail!("“{a}”: {}", tr.t("应写成 字段=值", "expected FIELD=VALUE"))
                };
                pairs.push((k.trim(), v));
            }
            let mut p = open(&project, Access::ReadWrite)?;
            let key = p.add_manual_clue(
                geo::Geometry::Point(geo::Point::new(lon, lat)),
                &pairs,
                year,
                clue_source.as_deref(),
            )?;
            println!("{} {key} ({lon:.6}, {lat:.6})", tr.t("已添加线索", "clue added"));
        }
        Command::Note { project, patch, comment, flag, confidence } => {
            let mut p = open(&project, Access::ReadWrite)?;
            let fid = p
                .find_patch(&patch)?
                .with_context(|| format!("{}: {} {patch}", project.display(), tr.t("没有图斑", "no patch")))?;
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
        }
        Command::Photos { action } => match action {
            PhotoAction::Add { project, paths, patch, max_distance } => {
                let mut p = open(&project, Access::ReadWrite)?;
                let fid = match &patch {
                    Some(k) => Some(
                        p.find_patch(k)?
                            .with_context(|| format!("{}: {} {k}", project.display(), tr.t("没有图斑", "no patch")))?,
                    ),
                    None => None,
                };
                let r = with_progress(|progress| {
                    tuban_core::evidence::import_photos(&mut p, &paths, fid, max_distance, progress)
                })?;
                for (f, key, d) in &r.matched {
                    println!("{f}\t→ {key}\t{d:.0} m");
                }
                for f in &r.unmatched {
                    println!(
                        "{f}\t{}",
                        tr.t(
                            "未匹配到图斑，请用 tuban photos assign 指定",
                            "no patch matched; assign it with tuban photos assign"
                        )
                    );
                }
                for e in &r.errors {
                    eprintln!("{e}");
                }
                println!(
                    "{} {}  {} {}  {} {}",
                    tr.t("已匹配", "matched"),
                    r.matched.len(),
                    tr.t("未匹配", "unmatched"),
                    r.unmatched.len(),
                    tr.t("出错", "errors"),
                    r.errors.len()
                );
            }
            PhotoAction::List { project, patch } => {
                let p = open(&project, Access::ReadOnly)?;
                let fid = match &patch {
                    Some(k) => Some(
                        p.find_patch(k)?
                            .with_context(|| format!("{}: {} {k}", project.display(), tr.t("没有图斑", "no patch")))?,
                    ),
                    None => None,
                };
                for ph in p.photos(fid)? {
                    let key = ph
                        .patch_fid
                        .and_then(|f| p.patch(f).ok().flatten())
                        .map(|r| r.key)
                        .unwrap_or_else(|| "—".into());
                    let pos = ph.lonlat.map(|(x, y)| format!("{x:.6},{y:.6}")).unwrap_or_default();
                    println!(
                        "#{}\t{}\t{key}\t{}\t{pos}\t{}\t{}",
                        ph.id,
                        ph.file_name,
                        ph.taken_at.clone().unwrap_or_default(),
                        ph.kind,
                        ph.caption
                    );
                    for w in p.photo_warnings(&ph, 100.0)? {
                        println!("\t{}: {w}", tr.t("警告", "warning"));
                    }
                }
            }
            PhotoAction::Assign { project, photo, patch } => {
                let mut p = open(&project, Access::ReadWrite)?;
                let fid = p
                    .find_patch(&patch)?
                    .with_context(|| format!("{}: {} {patch}", project.display(), tr.t("没有图斑", "no patch")))?;
                p.assign_photo(photo, fid)?;
            }
        },
        Command::Case { action } => case_command(action, &open, &tr)?,
        Command::Ledger { project } => print_ledger(&open(&project, Access::ReadOnly)?, &tr)?,
        Command::Report { project, out, sheets, dpi, unit, method, problems, save_texts, force } => {
            let read = |f: &Option<PathBuf>| -> Result<Option<String>> {
                match f {
                    Some(f) => Ok(Some(std::fs::read_to_string(f).with_context(|| {
                        format!(
                            "{}: 无法读取文字文件（需 UTF-8） / cannot read the text file (UTF-8 expected)",
                            f.display()
                        )
                    })?)),
                    None => Ok(None),
                }
            };
            let (method_text, problems_text) = (read(&method)?, read(&problems)?);
            if save_texts {
                let mut p = open(&project, Access::ReadWrite)?;
                for (which, text) in [
                    (tuban_core::store::ReportText::Method, &method_text),
                    (tuban_core::store::ReportText::Problems, &problems_text),
                ] {
                    if let Some(text) = text {
                        p.set_report_text(which, text)?;
                    }
                }
            }
            let p = open(&project, Access::ReadOnly)?;
            p.begin_snapshot()?;
            let sheets = match sheets.as_str() {
                "all" => tuban_core::report::Sheets::All,
                "illegal" => tuban_core::report::Sheets::Illegal,
                "none" => tuban_core::report::Sheets::None,
                condition => tuban_core::report::Sheets::Filter(condition.to_string()),
            };
            anyhow::ensure!((72..=600).contains(&dpi), "--dpi {dpi}: 72-600");
            let opts = tuban_core::report::ReportOptions { sheets, dpi, unit, method_text, problems_text };
            let t = std::time::Instant::now();
            with_progress(|progress| tuban_core::report::write(&p, &out, &opts, force, progress))?;
            let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            println!(
                "{} {} ({:.1} MB, {:.1} s)",
                tr.t("已输出报告", "wrote"),
                out.display(),
                size as f64 / 1e6,
                t.elapsed().as_secs_f64()
            );
        }
        Command::Export { project, format, out, crs, force } => {
            let f = tuban_core::export::Format::parse(&format)
                .with_context(|| format!("--format {format}: shp, gpkg, xlsx, csv, photos"))?;
            let p = open(&project, Access::ReadOnly)?;
            let files = with_progress(|progress| {
                tuban_core::export::export(&p, f, &out, &tuban_core::export::ExportOptions { crs, force }, progress)
            })?;
            for f in files {
                println!("{}", f.display());
            }
        }
        Command::Seal { project } => {
            let s = open(&project, Access::ReadWrite)?.seal()?;
            println!("{} {} {}  SHA-256 {}", tr.t("已封库", "sealed"), s.sealed_at, s.user, s.digest);
        }
        Command::Unseal { project, reason } => {
            open(&project, Access::ReadWrite)?.unseal(&reason)?;
            println!("{}", tr.t("已解封，原因已记入修改记录", "unsealed; the reason is in the audit log"));
        }
        Command::Verify { project } => {
            let r = open(&project, Access::ReadOnly)?.verify()?;
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
        }
        Command::Imagery { action } => match action {
            ImageryAction::Add {
                project,
                source,
                date,
                label,
                name,
                bands,
                stretch,
                key,
                overlay,
                tms,
                max_zoom,
                build_overviews,
            } => {
                let mut spec = SourceSpec::detect(&source);
                let pair = |text: &str| -> Result<Vec<f64>> {
                    text.split(',').map(|v| v.trim().parse::<f64>().with_context(|| format!("“{text}”"))).collect()
                };
                match &mut spec {
                    SourceSpec::Raster { style, .. } | SourceSpec::Mosaic { style, .. } => {
                        if let Some(b) = &bands {
                            let v = pair(b)?;
                            anyhow::ensure!(
                                v.len() == 3,
                                "--bands {}",
                                tr.t("需要三个波段号，如 4,3,2", "needs three band numbers, e.g. 4,3,2")
                            );
                            style.bands = Some([v[0] as u32, v[1] as u32, v[2] as u32]);
                        }
                        if let Some(st) = &stretch {
                            let v = pair(st)?;
                            anyhow::ensure!(
                                v.len() == 2 && v[0] < v[1],
                                "--stretch {}",
                                tr.t("需要两个百分数，如 2,98", "needs two percentiles, e.g. 2,98")
                            );
                            style.stretch = Some((v[0], v[1]));
                        }
                    }
                    SourceSpec::Online(o) => {
                        o.key = key.clone();
                        o.overlay = overlay.clone();
                        if let Some(z) = max_zoom {
                            o.max_zoom = z;
                        }
                    }
                    SourceSpec::TileDir { tms: t, .. } => *t = *t || tms,
                    SourceSpec::MbTiles { .. } => {}
                }
                let mut p = open(&project, Access::ReadWrite)?;
                add_imagery(&mut p, &spec, date.as_deref(), &label, name.as_deref(), build_overviews, &tr)?;
            }
            ImageryAction::List { project } => {
                for s in open(&project, Access::ReadOnly)?.imagery()? {
                    let date = s.acquired.map(|d| d.to_string()).unwrap_or_else(|| "?".into());
                    let missing = s.spec.files().iter().any(|f| !f.exists());
                    let exists = if missing { tr.t("  （文件不存在）", "  (file missing)") } else { "" };
                    println!(
                        "{}\t{date}\t{}\t{}{exists}",
                        s.name,
                        s.label,
                        serde_json::to_string(&s.spec).unwrap_or_default()
                    );
                }
            }
            ImageryAction::Remove { project, name } => open(&project, Access::ReadWrite)?.remove_imagery(&name)?,
        },
        Command::Demo { dir, project, fresh, no_window } => demo(dir, project, fresh, no_window, &tr)?,
    }
    Ok(())
}

fn current_year() -> i32 {
    use chrono::Datelike;
    chrono::Local::now().year()
}

fn load_template(name: &str) -> Result<Template> {
    if name.ends_with(".toml") {
        let text = std::fs::read_to_string(name)
            .with_context(|| format!("{name}: 无法读取模板文件 / cannot read the template file"))?;
        return Ok(Template::from_toml(&text, name)?);
    }
    Ok(Template::builtin(name)?)
}

/// Writes a file that must not exist yet: temporary name, then rename.
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if path.exists() {
        bail!("{}: 文件已存在，不会覆盖 / file exists; will not overwrite", path.display());
    }
    let tmp = path.with_extension("tmp-tuban");
    std::fs::write(&tmp, bytes).with_context(|| format!("{}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}", path.display()))?;
    Ok(())
}

/// Runs long work with a progress bar on stderr; Ctrl+C cancels it cleanly.
fn with_progress<T, E: std::error::Error + Send + Sync + 'static>(
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

fn status_label(s: ReviewStatus, tr: &Tr) -> &'static str {
    match (s, tr.en) {
        (s, false) => s.label(),
        (ReviewStatus::Unreviewed, true) => "unreviewed",
        (ReviewStatus::InProgress, true) => "in progress",
        (ReviewStatus::Done, true) => "done",
        (ReviewStatus::Problem, true) => "problem",
    }
}

fn severity_label(s: Severity, tr: &Tr) -> &'static str {
    match s {
        Severity::Error => tr.t("错误", "error"),
        Severity::Warning => tr.t("警告", "warning"),
    }
}

fn area_text(area_m2: f64) -> String {
    format!("{:.2} m² = {:.2} 亩 = {:.4} ha", area_m2, m2_to_mu(area_m2), m2_to_ha(area_m2))
}

fn print_import_report(r: &ImportReport, tr: &Tr) {
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

fn info(p: &Project, tr: &Tr) -> Result<()> {
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
    let reviewed = s
        .by_status
        .iter()
        .filter(|(k, _)| matches!(k, ReviewStatus::Done | ReviewStatus::Problem))
        .map(|(_, v)| v.count)
        .sum::<usize>();
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

fn check(p: &Project, tr: &Tr) -> Result<()> {
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

fn case_command(action: CaseAction, open: &dyn Fn(&Path, Access) -> Result<Project>, tr: &Tr) -> Result<()> {
    match action {
        CaseAction::New { project, patches, number, party, department } => {
            let mut p = open(&project, Access::ReadWrite)?;
            let mut fids = Vec::new();
            for k in &patches {
                fids.push(
                    p.find_patch(k)?
                        .with_context(|| format!("{}: {} {k}", project.display(), tr.t("没有图斑", "no patch")))?,
                );
            }
            let n = p.create_case(number.as_deref(), &fids, &party, &department)?;
            println!("{} {n}", tr.t("已立案", "case opened"));
        }
        CaseAction::Propose { project } => {
            let created = open(&project, Access::ReadWrite)?.propose_cases()?;
            println!("{} {}: {}", tr.t("新建案件", "cases opened"), created.len(), created.join(", "));
        }
        CaseAction::Set { project, number, assignments } => {
            let mut u = tuban_core::store::CaseUpdate::default();
            for a in &assignments {
                let Some((k, v)) = a.split_once('=') else {
                    bail!("“{a}”: {}", tr.t("应写成 字段=值", "expected FIELD=VALUE"))
                };
                let v = v.trim().to_string();
                match k.trim() {
                    "party" | "当事人" => u.party = Some(v),
                    "department" | "牵头部门" => u.department = Some(v),
                    "investigation" | "查处状态" => u.investigation = Some(v),
                    "rectification" | "整改状态" => u.rectification = Some(v),
                    "measures" | "措施" => u.measures = Some(v),
                    "penalty_doc" | "处罚文书" => u.penalty_doc = Some(v),
                    "fine" | "罚款" => u.fine_yuan = Some(tuban_model::value::parse_quantity(&v, None).with_context(|| format!("fine={v}"))?),
                    "deadline" | "期限" => u.deadline = Some(tuban_model::value::parse_date(&v).with_context(|| format!("deadline={v}"))?),
                    "prior_penalty" | "前次处罚" => u.prior_penalty = Some(v),
                    other => bail!("{}: {other} (party, department, investigation, rectification, measures, penalty_doc, fine, deadline, prior_penalty)", tr.t("未知字段", "unknown field")),
                }
            }
            open(&project, Access::ReadWrite)?.update_case(&number, &u)?;
            println!("{} {number}", tr.t("已更新", "updated"));
        }
        CaseAction::Step { project, number, step, date, note } => {
            let date = match date {
                Some(d) => Some(tuban_model::value::parse_date(&d).with_context(|| format!("--date {d}"))?),
                None => None,
            };
            open(&project, Access::ReadWrite)?.record_step(&number, &step, date, &note)?;
            println!("{number}: {step}");
        }
        CaseAction::List { project, overdue } => {
            let p = open(&project, Access::ReadOnly)?;
            let late: Vec<String> = p.ledger()?.overdue.into_iter().map(|(n, _)| n).collect();
            for c in p.cases()? {
                if overdue && !late.contains(&c.number) {
                    continue;
                }
                let keys: Vec<String> =
                    c.patch_fids.iter().filter_map(|f| p.patch(*f).ok().flatten().map(|r| r.key)).collect();
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    c.number,
                    c.step,
                    c.investigation,
                    c.rectification,
                    c.party,
                    c.department,
                    c.deadline.map(|d| d.to_string()).unwrap_or_default(),
                    keys.join(",")
                );
            }
        }
        CaseAction::Attach { project, number, files, kind } => {
            let mut p = open(&project, Access::ReadWrite)?;
            for f in &files {
                let bytes = std::fs::read(f)
                    .with_context(|| format!("{}: {}", f.display(), tr.t("无法读取文件", "cannot read the file")))?;
                let name = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                let id = p.attach_to_case(&number, &name, &kind, &bytes).with_context(|| f.display().to_string())?;
                println!("{number}: #{id} {kind} {name}");
            }
        }
        CaseAction::Attachments { project, number } => {
            let p = open(&project, Access::ReadOnly)?;
            for a in p.case_attachments(&number)? {
                println!(
                    "#{}\t{}\t{}\t{:.1} KB\t{}\t{}",
                    a.id,
                    a.kind,
                    a.file_name,
                    a.size_bytes as f64 / 1024.0,
                    a.added_at,
                    a.added_by
                );
            }
        }
        CaseAction::Extract { project, id, out } => {
            let p = open(&project, Access::ReadOnly)?;
            let (name, bytes) =
                p.attachment_data(id)?.with_context(|| format!("{} #{id}", tr.t("没有附件", "no attachment")))?;
            anyhow::ensure!(!out.exists(), "{}: {}", out.display(), tr.t("文件已存在", "file exists"));
            std::fs::write(&out, bytes).with_context(|| out.display().to_string())?;
            println!("{name} → {}", out.display());
        }
    }
    Ok(())
}

fn spot_command(action: SpotAction, open: &dyn Fn(&Path, Access) -> Result<Project>, tr: &Tr) -> Result<()> {
    let latest = |p: &Project, id: Option<i64>| -> Result<i64> {
        match id {
            Some(i) => Ok(i),
            None => p.latest_spot_check()?.with_context(|| tr.t("还没有抽查", "no spot-check yet").to_string()),
        }
    };
    match action {
        SpotAction::Draw { project, share, count, seed } => {
            let s = open(&project, Access::ReadWrite)?.draw_spot_check(share, count, seed)?;
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
            let p = open(&project, Access::ReadOnly)?;
            let id = latest(&p, id)?;
            for (_, key, second) in p.spot_check_blind(id)? {
                println!("{key}\t{}", second.unwrap_or_else(|| tr.t("（待复核）", "(to review)").into()));
            }
        }
        SpotAction::Review { project, patch, verdict, id } => {
            let mut p = open(&project, Access::ReadWrite)?;
            let id = latest(&p, id)?;
            let fid = p
                .find_patch(&patch)?
                .with_context(|| format!("{}: {} {patch}", project.display(), tr.t("没有图斑", "no patch")))?;
            p.record_second_verdict(id, fid, &verdict)?;
        }
        SpotAction::Report { project, id } => {
            let p = open(&project, Access::ReadOnly)?;
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

fn print_ledger(p: &Project, tr: &Tr) -> Result<()> {
    let l = p.ledger()?;
    let pct = |r: Option<f64>| r.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "—".into());
    println!("{}", tr.t("乡镇\t违法宗数\t违法面积(亩)\t立案\t结案\t非立案处理\t整改到位\t查处到位率\t整改到位率\t立案率\t结案率", "township\tcases\tarea (mu)\tfiled\tconcluded\twithout filing\trectified\tinvestigation rate\trectification rate\tfiling rate\tconclusion rate"));
    let unset = tr.t("（未填）", "(not set)").to_string();
    for (town, r) in l
        .by_township
        .iter()
        .map(|(t, r)| (if t.is_empty() { unset.clone() } else { t.clone() }, r))
        .chain(std::iter::once((tr.t("合计", "total").to_string(), &l.total)))
    {
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

fn add_imagery(
    p: &mut Project,
    spec: &SourceSpec,
    date: Option<&str>,
    label: &str,
    name: Option<&str>,
    build_overviews: bool,
    tr: &Tr,
) -> Result<()> {
    // Open it once now, so a broken source is refused with its reason instead of failing on the map.
    if !spec.is_online() {
        tuban_core::imagery::source::open(spec)?;
    }
    if let SourceSpec::Raster { path, .. } = spec {
        let raster = tuban_core::imagery::RasterSource::open(path)?;
        if raster.needs_overviews() {
            if build_overviews {
                drop(raster);
                with_progress(|progress| tuban_core::imagery::build_overviews(path, progress))?;
            } else {
                println!(
                    "{}",
                    tr.t(
                        "提示：影像较大且没有金字塔，缩小查看会很慢；可加 --build-overviews 建立",
                        "note: a large raster without overviews is slow when zoomed out; add --build-overviews"
                    )
                );
            }
        }
    }
    let acquired = match date {
        Some(d) => Some(
            tuban_model::value::parse_date(d)
                .with_context(|| format!("{d}: {}", tr.t("日期应为 YYYY-MM-DD", "date must be YYYY-MM-DD")))?,
        ),
        None => spec.files().first().and_then(|f| tuban_core::imagery::acquisition_date(f)),
    };
    let name = name.map(str::to_string).unwrap_or_else(|| match spec.files().first() {
        Some(f) => f.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default(),
        None => format!("online-{}", p.imagery().map(|v| v.len() + 1).unwrap_or(1)),
    });
    p.add_imagery(&name, spec, acquired, label)?;
    println!(
        "{} {name} ({})",
        tr.t("已登记影像", "registered"),
        acquired
            .map(|d| d.to_string())
            .unwrap_or_else(|| tr.t("日期未知，请用 --date 指定", "date unknown; pass --date").into())
    );
    Ok(())
}

/// Imports the bundled sample data into a project (once) and opens it.
fn demo(dir: Option<PathBuf>, project: Option<PathBuf>, fresh: bool, no_window: bool, tr: &Tr) -> Result<()> {
    let dir = dir.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-data"));
    let patches = dir.join("patches").join("变化图斑.shp");
    if !patches.exists() {
        bail!(
            "{}: {}",
            patches.display(),
            tr.t(
                "示例数据不存在；请在仓库根目录运行，或用 --dir 指定 sample-data 目录",
                "sample data not found; run from the repository or pass --dir"
            )
        );
    }
    let project = project
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("sample").join("示范旗.gpkg"));
    if fresh && project.exists() {
        std::fs::remove_file(&project).with_context(|| format!("{}", project.display()))?;
    }
    if !project.exists() {
        if let Some(parent) = project.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("{}", parent.display()))?;
        }
        let template = Template::builtin("grassland")?;
        let meta = ProjectMeta {
            programme: Programme::Grassland,
            county_code: "150999".into(),
            county_name: "示范旗".into(),
            year: 2025,
            unit: "示范旗林业和草原局".into(),
        };
        let mut p = Project::create(&project, &template, &meta)?;
        let report = with_progress(|progress| import::import(&mut p, &patches, &ImportOptions::default(), progress))?;
        print_import_report(&report, tr);
        let photos = with_progress(|progress| {
            tuban_core::evidence::import_photos(&mut p, &[dir.join("photos")], None, 100.0, progress)
        })?;
        println!("{} {}", tr.t("外业照片", "field photos"), photos.matched.len());
        let imagery = dir.join("imagery");
        for (file, label) in
            [("2024-08_前时相_GF2.tif", "2024 年 GF-2 影像"), ("2025-08_后时相_GF2.tif", "2025 年 GF-2 影像")]
        {
            add_imagery(
                &mut p,
                &SourceSpec::detect(&imagery.join(file).to_string_lossy()),
                None,
                label,
                None,
                false,
                tr,
            )?;
        }
        println!();
    }
    if no_window {
        return info(&Project::open(&project, Access::ReadOnly)?, tr);
    }
    tuban_app::run(Some(project))
}
