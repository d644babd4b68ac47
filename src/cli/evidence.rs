//! Field photos: add (matched by GPS), list, assign.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use tuban_core::ops::{self};
use tuban_core::store::Access;

use super::{with_progress, Ctx};

/// 外业照片 / field photos
pub fn run_photos(action: PhotoAction, ctx: &Ctx) -> Result<()> {
    let tr = &ctx.tr;
    match action {
        PhotoAction::Add { project, paths, patch, max_distance } => {
            let mut p = ctx.open(&project, Access::ReadWrite)?;
            let fid = patch.as_deref().map(|k| p.require_patch(k)).transpose()?;
            let r = with_progress(|progress| ops::evidence::add_photos(&mut p, &paths, fid, max_distance, progress))?;
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
            let p = ctx.open(&project, Access::ReadOnly)?;
            let fid = patch.as_deref().map(|k| p.require_patch(k)).transpose()?;
            for ph in p.photos(fid)? {
                let key =
                    ph.patch_fid.and_then(|f| p.patch(f).ok().flatten()).map(|r| r.key).unwrap_or_else(|| "—".into());
                let pos = ph.lonlat.map(|(x, y)| format!("{x:.6},{y:.6}")).unwrap_or_default();
                println!(
                    "#{}\t{}\t{key}\t{}\t{pos}\t{}\t{}",
                    ph.id,
                    ph.file_name,
                    ph.taken_at.clone().unwrap_or_default(),
                    ph.kind,
                    ph.caption
                );
                for w in p.photo_warnings(&ph, ops::evidence::MAX_DISTANCE_M)? {
                    println!("\t{}: {w}", tr.t("警告", "warning"));
                }
            }
        }
        PhotoAction::Assign { project, photo, patch } => {
            let mut p = ctx.open(&project, Access::ReadWrite)?;
            let fid = p.require_patch(&patch)?;
            p.assign_photo(photo, fid)?;
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum PhotoAction {
    /// 添加照片或照片文件夹，按 GPS 位置匹配图斑 / add photos or folders; matched to patches by GPS
    Add {
        project: PathBuf,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// 全部归入此图斑 / assign all to this patch
        #[arg(long)]
        patch: Option<String>,
        /// 图斑外的最大匹配距离（米） / farthest match outside a patch, metres
        #[arg(long, default_value_t = ops::evidence::MAX_DISTANCE_M)]
        max_distance: f64,
    },
    /// 列出照片及其问题 / list photos and their warnings
    List { project: PathBuf, patch: Option<String> },
    /// 指定图斑 / assign a photo to a patch
    Assign { project: PathBuf, photo: i64, patch: String },
}
