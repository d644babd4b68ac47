//! Reference-layer commands: the catalogue (`tuban reference add|list|remove`) and the overlay
//! of patches with it (`tuban overlay`).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use tuban_core::ops;
use tuban_core::reference::overlay::Scope;
use tuban_core::reference::{NewLayer, ReadOptions};
use tuban_core::store::{Access, Project};
use tuban_model::reference::{ReferenceKind, REFERENCE_KINDS};
use tuban_model::units::m2_to_mu;

use super::args::date;
use super::{with_progress, Ctx, Tr};

/// `tuban reference …`
#[derive(Subcommand)]
pub enum ReferenceAction {
    /// 添加参考图层（三调、基本草原、保护地、红线、审批、往年项目） / add a reference layer
    Add {
        project: PathBuf,
        /// 图层文件（shp/.zip/gpkg/geojson/kml，或往年 tuban 项目） / the layer file, or an earlier tuban project
        source: PathBuf,
        /// landuse | basic_grassland | protected_area | red_line | approval | earlier | other
        #[arg(long, value_parser = kind)]
        kind: ReferenceKind,
        /// 分类字段，可多个用逗号分隔（如 DLMC；保护地 BHQMC,GNFQ） / class field(s), comma-separated
        #[arg(long, value_delimiter = ',')]
        field: Vec<String>,
        /// 地图标注字段 / the field labelled on the map
        #[arg(long)]
        label_field: Option<String>,
        /// 显示名称 / label
        #[arg(long, default_value = "")]
        label: String,
        /// 简称（默认文件名） / short name (default: the file name)
        #[arg(long)]
        name: Option<String>,
        /// 数据日期 / date of the data
        #[arg(long, value_parser = date)]
        date: Option<chrono::NaiveDate>,
        /// 图层（多图层文件） / layer of a multi-layer file
        #[arg(long)]
        layer: Option<String>,
        /// 编码 / encoding (GBK, UTF-8 …)
        #[arg(long)]
        encoding: Option<String>,
        /// 坐标系 / CRS, e.g. EPSG:4546
        #[arg(long)]
        crs: Option<String>,
    },
    /// 列出参考图层 / list the reference layers
    List { project: PathBuf },
    /// 删除参考图层 / remove a reference layer
    Remove { project: PathBuf, name: String },
}

fn kind(text: &str) -> Result<ReferenceKind, String> {
    ReferenceKind::parse(text).ok_or_else(|| {
        let all: Vec<&str> = REFERENCE_KINDS.iter().map(|k| k.code()).collect();
        format!("未知类型 “{text}”；可选 / unknown kind; choose: {}", all.join(", "))
    })
}

/// 参考图层：add/list/remove / the reference-layer catalogue
pub fn run_reference(action: ReferenceAction, ctx: &Ctx) -> Result<()> {
    let tr = &ctx.tr;
    match action {
        ReferenceAction::Add { project, source, kind, field, label_field, label, name, date, layer, encoding, crs } => {
            let mut p = ctx.open(&project, Access::ReadWrite)?;
            let new = NewLayer {
                kind,
                name,
                label,
                dated: date,
                read: ReadOptions { layer, encoding, crs, class_fields: field, label_field },
            };
            let added = with_progress(|progress| ops::reference::add(&mut p, &source, &new, progress))?;
            let l = &added.loaded.layer;
            println!(
                "{} {} ({}): {} {}; {} {}; {}",
                tr.t("已添加参考图层", "added reference layer"),
                l.name,
                tr.t(l.kind.label(), l.kind.label_en()),
                l.features,
                tr.t("个要素", "features"),
                tr.t("编码", "encoding"),
                l.source.encoding,
                l.source.crs
            );
            if l.repaired > 0 {
                println!(
                    "{} {}",
                    l.repaired,
                    tr.t("个无效面已用 GEOS make-valid 修复", "invalid polygons repaired with GEOS make-valid")
                );
            }
            if l.skipped > 0 {
                println!(
                    "{} {}: {}",
                    l.skipped,
                    tr.t("个要素已跳过", "features skipped"),
                    added.loaded.skipped_reasons.join("; ")
                );
            }
            if l.class_fields.is_empty() && !added.loaded.fields.is_empty() {
                println!(
                    "{}: {}",
                    tr.t("未指定 --field，可选字段", "no --field given; fields"),
                    added.loaded.fields.join(", ")
                );
            }
            println!(
                "{} {} {}, {} {}",
                tr.t("叠加分析", "overlay"),
                added.overlay.patches,
                tr.t("个图斑", "patches"),
                added.filled,
                tr.t("个字段已按参考图层填写", "fields filled from the layer")
            );
            if let Some(why) = added.fill_refused {
                println!("{why}");
            }
            Ok(())
        }
        ReferenceAction::List { project } => {
            let p = ctx.open(&project, Access::ReadOnly)?;
            for l in p.references()? {
                let date = l.dated.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
                println!(
                    "{}\t{}\t{}\t{}\t{} {}\t{}\t{}",
                    l.name,
                    tr.t(l.kind.label(), l.kind.label_en()),
                    l.title(),
                    date,
                    l.features,
                    tr.t("个要素", "features"),
                    l.class_fields.join(","),
                    l.source.file.describe()
                );
            }
            Ok(())
        }
        ReferenceAction::Remove { project, name } => {
            let mut p = ctx.open(&project, Access::ReadWrite)?;
            ops::reference::remove(&mut p, &name)?;
            println!("{} {name}", tr.t("已删除参考图层", "removed reference layer"));
            Ok(())
        }
    }
}

/// Arguments of `tuban overlay`.
#[derive(Args)]
pub struct OverlayArgs {
    pub project: PathBuf,
    /// 图斑编号（省略则全部） / patch id (all when left out)
    pub patch: Option<String>,
    /// 重新计算全部叠加结果 / recompute every overlay
    #[arg(long)]
    pub recompute: bool,
}

/// 叠加分析：每个图斑在各参考图层各类中的面积与占比 / each patch's area and share per layer and class
pub fn run_overlay(a: OverlayArgs, ctx: &Ctx) -> Result<()> {
    let tr = &ctx.tr;
    let access = if a.recompute || needs_refresh(ctx, &a)? { Access::ReadWrite } else { Access::ReadOnly };
    let mut p = ctx.open(&a.project, access)?;
    if p.references()?.is_empty() {
        bail!("{}", tr.t("项目没有参考图层；请先 `tuban reference add` / the project has no reference layers: add one with `tuban reference add`", "the project has no reference layers: add one with `tuban reference add`"));
    }
    let fid = a.patch.as_deref().map(|k| p.require_patch(k)).transpose()?;
    if access == Access::ReadWrite {
        let scope = match (a.recompute, fid) {
            (true, Some(f)) => Scope::Patches(vec![f]),
            (true, None) => Scope::All,
            (false, _) => Scope::Stale,
        };
        with_progress(|progress| ops::reference::refresh(&mut p, &scope, progress))?;
    }
    let records = p.patches()?;
    for r in records.iter().filter(|r| fid.is_none_or(|f| f == r.fid)) {
        print_patch(&p, r.fid, &r.key, r.area_m2, tr)?;
    }
    Ok(())
}

/// Whether stored overlays are out of date (then `tuban overlay` computes them first).
fn needs_refresh(ctx: &Ctx, a: &OverlayArgs) -> Result<bool> {
    let p = ctx.open(&a.project, Access::ReadOnly)?;
    let sigs = p.overlay_signatures()?;
    let layers = p.references()?;
    let extents = p.current_extents()?;
    Ok(extents.iter().any(|(fid, g)| {
        let sig = tuban_core::store::extent_signature(g);
        layers.iter().any(|l| sigs.get(&(*fid, l.id)) != Some(&sig))
    }))
}

fn print_patch(p: &Project, fid: i64, key: &str, area_m2: f64, tr: &Tr) -> Result<()> {
    let ov = ops::reference::of_patch(p, fid)?;
    println!("{key}\t{:.2} m²\t{:.2} {}", area_m2, m2_to_mu(area_m2), tr.t("亩", "mu"));
    if ov.rows.is_empty() {
        println!("  {}", tr.t("不与任何参考图层相交", "touches no reference layer"));
    }
    for r in &ov.rows {
        println!(
            "  {}\t{}\t{:.2} m²\t{:.2} {}\t{:.2} %",
            r.layer,
            r.class,
            r.area_m2,
            r.area_mu(),
            tr.t("亩", "mu"),
            r.share_pct
        );
    }
    for h in &ov.hints {
        println!("  {} {}", tr.t("提示：", "hint:"), h.text(tr.t("", "en") == "en"));
    }
    for s in &ov.suggestions {
        let how = match s.mode {
            tuban_model::reference_rules::FillMode::Fill => tr.t("填写", "fills"),
            tuban_model::reference_rules::FillMode::Suggest => tr.t("建议", "suggests"),
        };
        println!("  {how} {}={} ({} {:.1} %)", s.field, s.text, s.layer, s.share_pct);
    }
    Ok(())
}
