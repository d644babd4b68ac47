//! The sample project: import sample-data once and open it.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use tuban_core::imagery::SourceSpec;
use tuban_core::import::{self, ImportOptions};
use tuban_core::ops::imagery::Registration;
use tuban_core::ops::{self};
use tuban_core::store::{Access, Project, ProjectMeta};
use tuban_model::{Programme, Template};

use super::imagery::add_imagery;
use super::project::{info, print_import_report};
use super::{with_progress, Ctx, Tr};

/// Arguments of `tuban demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// 示例数据目录 / sample data folder
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// 示例项目文件 / where to put the sample project
    #[arg(long)]
    pub project: Option<PathBuf>,
    /// 重新生成项目 / recreate the project
    #[arg(long)]
    pub fresh: bool,
    /// 只显示概况，不打开窗口 / print the summary instead of opening the window
    #[arg(long)]
    pub no_window: bool,
}

/// 示例项目：导入 sample-data 并打开 / the sample project: import sample-data and open it
pub fn run_demo(a: DemoArgs, ctx: &Ctx) -> Result<()> {
    demo(a.dir, a.project, a.fresh, a.no_window, &ctx.tr)
}

/// Imports the bundled sample data into a project (once) and opens it.
pub fn demo(dir: Option<PathBuf>, project: Option<PathBuf>, fresh: bool, no_window: bool, tr: &Tr) -> Result<()> {
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
            ops::evidence::add_photos(&mut p, &[dir.join("photos")], None, ops::evidence::MAX_DISTANCE_M, progress)
        })?;
        println!("{} {}", tr.t("外业照片", "field photos"), photos.matched.len());
        let imagery = dir.join("imagery");
        for (file, label) in
            [("2024-08_前时相_GF2.tif", "2024 年 GF-2 影像"), ("2025-08_后时相_GF2.tif", "2025 年 GF-2 影像")]
        {
            let how = Registration { label: label.to_string(), ..Default::default() };
            add_imagery(&mut p, &SourceSpec::detect(&imagery.join(file).to_string_lossy()), &how, tr)?;
        }
        println!();
    }
    if no_window {
        return info(&Project::open(&project, Access::ReadOnly)?, tr);
    }
    super::open_window(Some(project))
}
