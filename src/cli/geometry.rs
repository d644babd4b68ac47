//! Extent commands: split into 细斑, reshape the verified extent, merge 细斑 back.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use tuban_core::ops::geometry::{self as edit_ops, Cut};
use tuban_core::store::{Access, EditOutcome, Project};
use tuban_model::geometry::area_m2;

use super::args::{points, Points};
use super::{area_text, status_label, Ctx};

/// Arguments of `tuban split`.
#[derive(Args)]
pub struct SplitArgs {
    pub project: PathBuf,
    /// 图斑编号（或 编号-细斑号） / patch id (or ID-SUB)
    pub patch: String,
    /// 分割线顶点 "经度,纬度 经度,纬度 …"（CGCS2000；给 --crs 时为 X,Y） / the split line's vertices "lon,lat lon,lat …"
    #[arg(long, value_parser = points, conflicts_with = "polygon")]
    pub line: Option<Points>,
    /// 分割面顶点（面内部分成为一个细斑） / a polygon's vertices: the part inside becomes one sub-patch
    #[arg(long, value_parser = points)]
    pub polygon: Option<Points>,
    /// 坐标的坐标系，如 EPSG:4546（高斯-克吕格 X/Y） / CRS of the coordinates, e.g. EPSG:4546
    #[arg(long)]
    pub crs: Option<String>,
}

/// 拆分细斑 / split a patch into sub-patches
pub fn run_split(a: SplitArgs, ctx: &Ctx) -> Result<()> {
    let SplitArgs { project, patch, line, polygon, crs } = a;
    let tr = &ctx.tr;
    let mut p = ctx.open(&project, Access::ReadWrite)?;
    let cut = match (line, polygon) {
        (Some(l), _) => Cut::Line(edit_ops::to_lonlat(&l.0, crs.as_deref())?),
        (None, Some(poly)) => {
            let ring = edit_ops::to_lonlat(&poly.0, crs.as_deref())?;
            Cut::Polygon(geo::Polygon::new(geo::LineString::new(ring), vec![]))
        }
        (None, None) => anyhow::bail!(
            "{}",
            tr.t("请用 --line 或 --polygon 给出分割线或分割面", "give the split with --line or --polygon")
        ),
    };
    let out = edit_ops::split(&mut p, &patch, &cut)?;
    println!("{} {} → {}", tr.t("已拆分", "split"), out.parent_key, out.subpatches.len());
    for (_, key, area) in &out.subpatches {
        println!("  {key}\t{}", area_text(*area));
    }
    print_subpatch_problems(&p, &patch, ctx)
}

/// Arguments of `tuban reshape`.
#[derive(Args)]
pub struct ReshapeArgs {
    pub project: PathBuf,
    /// 图斑编号（或 编号-细斑号） / patch id (or ID-SUB)
    pub patch: String,
    /// 核实范围：含一个面的 GeoJSON（或其他矢量文件） / the verified extent: a GeoJSON (or other vector file) with one polygon
    #[arg(long)]
    pub geojson: PathBuf,
}

/// 修改核实范围 / set the verified extent
pub fn run_reshape(a: ReshapeArgs, ctx: &Ctx) -> Result<()> {
    let ReshapeArgs { project, patch, geojson } = a;
    let mut p = ctx.open(&project, Access::ReadWrite)?;
    let g = edit_ops::read_polygon_file(&geojson)?;
    let outcome = edit_ops::reshape(&mut p, &patch, &g)?;
    println!("{} {patch}: {}", ctx.tr.t("核实范围", "verified extent"), area_text(area_m2(&g)));
    print_outcome(&outcome, ctx);
    print_subpatch_problems(&p, &patch, ctx)
}

/// Arguments of `tuban merge-subpatches`.
#[derive(Args)]
pub struct MergeArgs {
    pub project: PathBuf,
    /// 图斑编号（或其任一细斑） / patch id (or any of its sub-patches)
    pub patch: String,
}

/// 合并细斑 / merge the sub-patches back into the patch
pub fn run_merge(a: MergeArgs, ctx: &Ctx) -> Result<()> {
    let MergeArgs { project, patch } = a;
    let mut p = ctx.open(&project, Access::ReadWrite)?;
    let outcome = edit_ops::merge(&mut p, &patch)?;
    println!("{} {patch}", ctx.tr.t("已合并细斑", "sub-patches merged into"));
    print_outcome(&outcome, ctx);
    Ok(())
}

fn print_outcome(outcome: &EditOutcome, ctx: &Ctx) {
    for (field, old, new) in &outcome.changed {
        println!("{field}: {old} → {new}");
    }
    println!("{}: {}", ctx.tr.t("状态", "status"), status_label(outcome.status, &ctx.tr));
}

/// The 细斑 rules of the patch `key` belongs to (overlaps, area left out), one a line.
fn print_subpatch_problems(p: &Project, key: &str, ctx: &Ctx) -> Result<()> {
    let fid = p.require_patch(key)?;
    let record = p.patch(fid)?.context("patch vanished")?;
    let root = if record.split { fid } else { record.parent_fid.unwrap_or(fid) };
    for problem in p.subpatch_problems(root)? {
        println!("  {} {problem}", ctx.tr.t("警告", "warning"));
    }
    Ok(())
}
