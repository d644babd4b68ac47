//! The stacked verification sheet ([`ChipLayout::Stacked`](super::ChipLayout::Stacked)): an A4
//! portrait page laid out as QGIS Atlas lays out its pages, with 10 mm margins: the title, the
//! before map above the after map (each as large as the option says, 190 × 115 mm for Atlas's),
//! then the facts and as many filled attributes as fit, and the signature line. A patch with field
//! photos gets a second page with them and all its attributes.

use super::layout::{PageBuilder, TableStyle, PAGE_H, PAGE_W};
use super::sheet::{attribute_rows, attributes, fact_rows, photos, place_chip, signature, Chip};
use super::{Doc, ReportError};
use crate::store::PatchRecord;

/// The page's margin on every side in the stacked layout (QGIS Atlas's layout uses 10 mm).
const MARGIN_MM: f32 = 10.0;
/// The top of the first chip, under the title.
const CHIPS_TOP_MM: f32 = 14.0;
/// Between the two chips and between the chips and the table.
const GAP_MM: f32 = 3.0;
/// The bottom of the table, above the signature line.
const TABLE_BOTTOM_MM: f32 = 277.0;

/// Lays out the sheet of `r` with `chips` (before, after; none when the patch has no geometry)
/// of `size_mm` each, and pushes its page, or pages.
pub(super) fn sheet(
    doc: &mut Doc<'_>,
    r: &PatchRecord,
    chips: Vec<Chip>,
    (w_mm, h_mm): (f32, f32),
) -> Result<(), ReportError> {
    let mut pg = PageBuilder::new();
    pg.text_at(&doc.font, MARGIN_MM, 7.0, 13.0, &format!("图斑核查表  {}", r.key));
    let x = (PAGE_W - w_mm) / 2.0;
    for (k, chip) in chips.into_iter().enumerate() {
        place_chip(doc, &mut pg, chip, (x, CHIPS_TOP_MM + k as f32 * (h_mm + GAP_MM)), w_mm);
    }
    let width = PAGE_W - 2.0 * MARGIN_MM;
    let widths = [width * 0.13, width * 0.37, width * 0.13, width * 0.37];
    let mut rows = fact_rows(doc, r);
    rows.extend(attribute_rows(doc, r));
    pg.y = CHIPS_TOP_MM + 2.0 * h_mm + 2.0 * GAP_MM;
    let style = TableStyle::COMPACT;
    let fit = ((TABLE_BOTTOM_MM - pg.y) / style.row_mm).max(0.0) as usize;
    rows.truncate(fit);
    pg.table_at(&doc.font, MARGIN_MM, &widths, &rows, &style);
    pg.text_at(&doc.font, MARGIN_MM, TABLE_BOTTOM_MM + 1.5, 8.0, &signature(doc, r));
    doc.pages.push(pg);
    if doc.p.photos(Some(r.fid))?.is_empty() {
        return Ok(());
    }
    let mut pg = PageBuilder::new();
    pg.text_at(&doc.font, super::layout::MARGIN, pg.y, 14.0, &format!("图斑核查表（续）  {}", r.key));
    pg.y += 9.0;
    photos(doc, &mut pg, r)?;
    attributes(doc, &mut pg, r);
    pg.text_at(&doc.font, super::layout::MARGIN, PAGE_H - super::layout::MARGIN - 6.0, 10.0, &signature(doc, r));
    doc.pages.push(pg);
    Ok(())
}
