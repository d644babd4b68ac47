//! Imagery commands: the catalogue (add, list, relink, remove) and map images of a patch (render).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use tuban_core::imagery::SourceSpec;
use tuban_core::ops::deliver::ChipSource;
use tuban_core::ops::imagery::Registration;
use tuban_core::ops::{self, Overwrite};
use tuban_core::store::{Access, Project};

use super::args::{bands, date, size_px, stretch};
use super::{with_progress, Ctx, Tr};

/// Arguments of `tuban render`.
#[derive(Args)]
pub struct RenderArgs {
    pub project: PathBuf,
    /// 图斑编号 / patch id
    pub patch: String,
    /// before | after | 影像名称 / before, after or an imagery name
    #[arg(long, default_value = "after")]
    pub source: String,
    /// 输出 PNG / output PNG
    #[arg(long)]
    pub out: PathBuf,
    /// 尺寸，如 800x600 / size, e.g. 800x600
    #[arg(long, default_value = "800x600", value_parser = size_px)]
    pub size: (u32, u32),
    /// 覆盖已有文件 / overwrite an existing file
    #[arg(long)]
    pub force: bool,
}

/// 出图：图斑范围的影像截图（带边界、比例尺、指北针） / a map image of a patch (imagery, outline, scale bar, north arrow)
pub fn run_render(a: RenderArgs, ctx: &Ctx) -> Result<()> {
    let p = ctx.open(&a.project, Access::ReadOnly)?;
    let source = ChipSource::parse(&a.source);
    let (w, h) = a.size;
    let written = ops::deliver::render_patch(&p, &a.patch, &source, a.size, &a.out, Overwrite::from_force(a.force))?;
    println!("{} {} ({w}×{h})", ctx.tr.t("已输出", "wrote"), written.path.display());
    Ok(())
}

/// 影像目录：add/list/remove / the project's imagery catalogue
pub fn run_imagery(action: ImageryAction, ctx: &Ctx) -> Result<()> {
    let tr = &ctx.tr;
    match action {
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
            match &mut spec {
                SourceSpec::Raster { style, .. } | SourceSpec::Mosaic { style, .. } => {
                    style.bands = bands.or(style.bands);
                    style.stretch = stretch.or(style.stretch);
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
            let mut p = ctx.open(&project, Access::ReadWrite)?;
            let how = Registration { name, label, date, build_overviews };
            add_imagery(&mut p, &spec, &how, tr)?;
        }
        ImageryAction::List { project } => list(&ctx.open(&project, Access::ReadOnly)?, tr)?,
        ImageryAction::Relink { project, old, new } => {
            let moved = ops::imagery::relink(&mut ctx.open(&project, Access::ReadWrite)?, &old, &new)?;
            for s in &moved {
                println!("{} {}", tr.t("已重新链接", "relinked"), s.name);
                for f in &s.files {
                    println!("\t{}", f.describe());
                }
            }
        }
        ImageryAction::Remove { project, name } => ctx.open(&project, Access::ReadWrite)?.remove_imagery(&name)?,
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum ImageryAction {
    /// 登记影像：栅格文件、影像文件夹（拼接）、.mbtiles、瓦片目录或在线 URL 模板 / register a raster, a folder of rasters (mosaic), an .mbtiles, a tile folder or a URL template
    Add {
        project: PathBuf,
        source: String,
        /// 成像日期 YYYY-MM-DD（省略则读元数据） / acquisition date (default: from metadata)
        #[arg(long, value_parser = date)]
        date: Option<chrono::NaiveDate>,
        /// 说明 / label
        #[arg(long, default_value = "")]
        label: String,
        /// 名称（默认文件名） / name (default: file name)
        #[arg(long)]
        name: Option<String>,
        /// 显示波段，如 4,3,2 / bands shown as R,G,B, e.g. 4,3,2
        #[arg(long, value_parser = bands)]
        bands: Option<[u32; 3]>,
        /// 百分比拉伸，如 2,98 / percentile stretch, e.g. 2,98
        #[arg(long, value_parser = stretch)]
        stretch: Option<(f64, f64)>,
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
    /// 列出影像及每个文件的位置（找到或缺失） / list registered imagery and where each file is (found or missing)
    List { project: PathBuf },
    /// 重新链接：原在旧目录下的影像文件改指向新目录 / relink: files that lay under OLD now point under NEW
    Relink {
        project: PathBuf,
        /// 旧目录 / the folder the files used to be in
        old: PathBuf,
        /// 新目录 / the folder they are in now
        new: PathBuf,
    },
    /// 删除登记 / unregister
    Remove { project: PathBuf, name: String },
}

/// Registers a source through the use case and says what became of it (the demo uses it too).
pub fn add_imagery(p: &mut Project, spec: &SourceSpec, how: &Registration, tr: &Tr) -> Result<()> {
    let r = with_progress(|progress| ops::imagery::register(p, spec, how, progress))?;
    if r.lacks_overviews {
        println!(
            "{}",
            tr.t(
                "提示：影像较大且没有金字塔，缩小查看会很慢；可加 --build-overviews 建立",
                "note: a large raster without overviews is slow when zoomed out; add --build-overviews"
            )
        );
    }
    let date = r.acquired.map(|d| d.to_string());
    let date = date.unwrap_or_else(|| tr.t("日期未知，请用 --date 指定", "date unknown; pass --date").into());
    println!("{} {} ({date})", tr.t("已登记影像", "registered"), r.name);
    Ok(())
}

/// One line per source (name, date, label, found or missing, the spec with the paths in use), then one indented line per file saying where
/// it was found or that it is missing.
fn list(p: &Project, tr: &Tr) -> Result<()> {
    let sources = p.imagery()?;
    let mut missing = 0;
    for s in &sources {
        let date = s.acquired.map(|d| d.to_string()).unwrap_or_else(|| "?".into());
        let state = if s.spec.is_online() {
            tr.t("在线", "online")
        } else if s.missing().is_empty() {
            tr.t("文件齐全", "files found")
        } else {
            missing += 1;
            tr.t("文件缺失", "files missing")
        };
        let spec = serde_json::to_string(&s.spec).unwrap_or_default();
        println!("{}\t{date}\t{}\t{state}\t{spec}", s.name, s.label);
        for f in &s.files {
            println!("\t{}", f.describe());
        }
    }
    if missing > 0 {
        println!(
            "{missing} {}",
            tr.t(
                "个影像缺失文件；用 tuban imagery relink 项目.gpkg 旧目录 新目录 重新链接",
                "sources have missing files; relink with `tuban imagery relink PROJECT OLD_FOLDER NEW_FOLDER`"
            )
        );
    }
    Ok(())
}
