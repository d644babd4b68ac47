//! The reference layers in the report: each sheet's overlay table with its hints, the outlines
//! of the reference features around the patch on its chips (in their kind's colour), and the
//! section-3 tables of patches by protected-area zone and by basic grassland. Kept apart from
//! `sheet.rs` and `sections.rs`, which call it: it reads the stored overlay, never a layer file.

use std::collections::BTreeMap;

use tuban_model::reference::{hints, ReferenceKind, SLIVER_SHARE_PCT};
use tuban_model::units::m2_to_mu;

use super::layout::{PageBuilder, MARGIN, PAGE_H};
use super::{Doc, ReportError};
use crate::render::Overlay;
use crate::store::{PatchRecord, Project};

/// The reference outlines to draw on a patch's chips: features of every layer cut to the
/// patch's extent widened by `margin` (a share of its size, as the chip frames the patch), so
/// they never change the chip's frame.
pub(super) fn chip_outlines(p: &Project, geom: &geo::Geometry, margin: f64) -> Result<Vec<Overlay>, ReportError> {
    use geo::BooleanOps;
    let layers = p.references()?;
    if layers.is_empty() {
        return Ok(Vec::new());
    }
    let Some(b) = tuban_model::geometry::gpkg::envelope(geom) else { return Ok(Vec::new()) };
    let (dx, dy) = ((b[2] - b[0]).max(1e-4) * margin * 0.95, (b[3] - b[1]).max(1e-4) * margin * 0.95);
    let bbox = [b[0] - dx, b[1] - dy, b[2] + dx, b[3] + dy];
    let clip =
        geo::Rect::new(geo::coord! { x: bbox[0], y: bbox[1] }, geo::coord! { x: bbox[2], y: bbox[3] }).to_polygon();
    let kind = |id: i64| layers.iter().find(|l| l.id == id).map_or(ReferenceKind::Other, |l| l.kind);
    Ok(p.reference_features_in(&[], bbox)?
        .into_iter()
        .take(400)
        .filter_map(|f| {
            let [r, g, bl] = kind(f.layer_id).rgb();
            let polys = match f.feature.geom {
                geo::Geometry::Polygon(p) => geo::MultiPolygon(vec![p]),
                geo::Geometry::MultiPolygon(mp) => mp,
                _ => return None,
            };
            let cut = polys.intersection(&clip);
            (!cut.0.is_empty()).then(|| Overlay {
                geom: cut.into(),
                rgba: [r, g, bl, 230],
                label: String::new(),
                line: Default::default(),
            })
        })
        .collect())
}

/// The overlay table of one sheet (layer, class, area, share) and its hints, within the space
/// left above the signature line.
pub(super) fn sheet_table(doc: &Doc<'_>, pg: &mut PageBuilder, r: &PatchRecord) -> Result<(), ReportError> {
    if doc.p.references()?.is_empty() {
        return Ok(());
    }
    let rows_in = doc.p.overlay(r.fid)?;
    let mut rows = vec![vec!["参考图层".to_string(), "类别".into(), "面积(m²/亩)".into(), "占比".into()]];
    for o in rows_in.iter().filter(|o| o.share_pct >= SLIVER_SHARE_PCT).take(6) {
        rows.push(vec![
            o.layer.clone(),
            o.class.clone(),
            format!("{:.1} / {:.2}", o.area_m2, o.area_mu()),
            format!("{:.1} %", o.share_pct),
        ]);
    }
    if rows.len() == 1 {
        rows.push(vec!["—".into(), "不与任何参考图层相交".into(), String::new(), String::new()]);
    }
    if pg.y + rows.len() as f32 * 6.5 + 20.0 > PAGE_H - MARGIN - 10.0 {
        return Ok(());
    }
    pg.table(&doc.font, &[36.0, 74.0, 36.0, 24.0], &rows);
    for h in hints(&rows_in).iter().take(3) {
        pg.text_at(&doc.font, MARGIN, pg.y, 8.0, &format!("提示（非结论）：{}", h.text(false)));
        pg.y += 4.5;
    }
    pg.y += 2.0;
    Ok(())
}

/// Tables of section 3: patches by protected-area zone and by basic grassland (a patch counts
/// in the class with its largest share; "不在" when it touches no feature of the kind).
pub(super) fn section_tables(doc: &Doc<'_>, pg: &mut PageBuilder, records: &[PatchRecord]) -> Result<(), ReportError> {
    let layers = doc.p.references()?;
    let overlays = doc.p.overlays()?;
    let tables = [
        (ReferenceKind::ProtectedArea, "表5 按自然保护地功能分区统计", "不在自然保护地"),
        (ReferenceKind::BasicGrassland, "表6 按基本草原统计", "不在基本草原"),
    ];
    for (kind, caption, outside) in tables {
        if !layers.iter().any(|l| l.kind == kind) {
            continue;
        }
        let mut m: BTreeMap<String, (usize, f64)> = BTreeMap::new();
        for r in records {
            let top = overlays
                .get(&r.fid)
                .into_iter()
                .flatten()
                .filter(|o| o.kind == kind && o.share_pct >= SLIVER_SHARE_PCT)
                .max_by(|a, b| a.share_pct.total_cmp(&b.share_pct));
            let (class, area) = match top {
                Some(o) if kind == ReferenceKind::BasicGrassland => ("基本草原内".to_string(), o.area_m2),
                Some(o) => (o.class.clone(), o.area_m2),
                None => (outside.to_string(), 0.0),
            };
            let e = m.entry(class).or_default();
            e.0 += 1;
            e.1 += area;
        }
        pg.text_at(&doc.font, MARGIN, pg.y, 11.0, caption);
        pg.y += 6.0;
        let mut rows = vec![vec!["类别".to_string(), "图斑数".into(), "其中面积(亩)".into()]];
        rows.extend(m.iter().map(|(k, (c, a))| vec![k.clone(), c.to_string(), format!("{:.2}", m2_to_mu(*a))]));
        pg.table(&doc.font, &[80.0, 25.0, 30.0], &rows);
    }
    Ok(())
}
