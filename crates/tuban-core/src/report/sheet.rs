//! The appendix of the report: one verification sheet (核查表) per chosen patch with its facts,
//! the before and after image chips, up to four field photos and the filled attributes.
//! The chips are rendered and JPEG-encoded on worker threads, each keeping its sources open;
//! the project and the PDF stay on the calling thread, which lays the sheets out in order.
//! A chip whose imagery is missing is refused before any work ([`missing_imagery`]) unless the
//! options allow it, and then drawn with a "无影像" mark; a chip that fails to render for any
//! other reason fails the report (never a silent grey box).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tuban_model::progress::Progress;
use tuban_model::units::m2_to_mu;

use super::layout::{add_jpeg, grey, Jpeg, PageBuilder, MARGIN, PAGE_H};
use super::{value, ChipLayout, Doc, ReportError, ReportOptions, Sheets, SubpatchSheets};
use crate::imagery::source::{SourceSpec, TileSource};
use crate::render::{self, Line, Overlay, RenderOptions};
use crate::store::{ImagerySource, PatchRecord, Period};

/// One sheet's chips: the patch outline and, before and after, the source and caption.
struct ChipJob {
    /// The outlines on both chips: the extent(s) in force solid, the issued patch dashed.
    overlays: Vec<Overlay>,
    /// Reference-layer outlines around the patch (drawn under it).
    refs: Vec<Overlay>,
    sides: [(Option<usize>, Option<String>); 2],
}

/// The sources each chip worker opened (or why not), by index in the project's imagery.
type OpenSources = BTreeMap<usize, Result<Box<dyn TileSource>, String>>;

/// A rendered chip: with its imagery, or without it (the files named) because they are missing.
pub(super) enum Chip {
    Shown(Jpeg),
    NoImagery(Jpeg, String),
}

/// A chip, or why it could not be made.
type ChipResult = Result<Chip, String>;

/// The missing files of the sources the chosen sheets would show, distinct, in catalogue order.
pub(super) fn missing_imagery(
    doc: &Doc<'_>,
    records: &[PatchRecord],
    imagery: &[ImagerySource],
    opts: &ReportOptions,
) -> Result<Vec<PathBuf>, ReportError> {
    if imagery.iter().all(|s| s.missing().is_empty()) {
        return Ok(Vec::new());
    }
    let mut used = vec![false; imagery.len()];
    for r in chosen(doc, records, opts)? {
        for period in [Period::Before, Period::After] {
            if let Some(i) = doc.p.imagery_for(&r, imagery, period) {
                used[i] = true;
            }
        }
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for (s, _) in imagery.iter().zip(used).filter(|(_, u)| *u) {
        for f in s.missing() {
            if !out.iter().any(|o| o == f) {
                out.push(f.to_path_buf());
            }
        }
    }
    Ok(out)
}

/// Adds the sheets chosen by `opts.sheets`, with progress and cancel.
pub(super) fn sheets(
    doc: &mut Doc<'_>,
    records: &[PatchRecord],
    imagery: &[ImagerySource],
    opts: &ReportOptions,
    progress: &Progress,
) -> Result<(), ReportError> {
    let sheet_records = chosen(doc, records, opts)?;
    progress.stage("核查表 / sheets", sheet_records.len() as u64);
    let base = RenderOptions {
        size_px: opts.chips.size_px(opts.dpi),
        // Stacked chips are framed as QGIS Atlas frames its maps with a margin of 0.5: the
        // patch's extent grown by half (a quarter on each side), then widened to the map's shape.
        margin: if opts.chips == ChipLayout::Standard { RenderOptions::default().margin } else { 0.25 },
        labels: false,
        ..Default::default()
    };
    let jobs = chip_jobs(doc, &sheet_records, imagery, base.margin)?;
    let specs: BTreeMap<usize, (SourceSpec, Vec<PathBuf>)> = imagery
        .iter()
        .enumerate()
        .map(|(i, s)| (i, (s.spec.clone(), s.missing().into_iter().map(PathBuf::from).collect())))
        .collect();
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get).clamp(1, 8);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<ChipResult>)>(workers * 4);
        for _ in 0..workers {
            let tx = tx.clone();
            let (jobs, specs, next, stop, base) = (&jobs, &specs, &next, &stop, &base);
            scope.spawn(move || {
                // Each worker opens the sources it needs once and keeps them for every chip.
                let mut open = OpenSources::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= jobs.len() || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let chips = render_chips(&jobs[i], specs, &mut open, base);
                    if tx.send((i, chips)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut ready: BTreeMap<usize, Vec<ChipResult>> = BTreeMap::new();
        for (i, r) in sheet_records.iter().enumerate() {
            if progress.set(i as u64).is_err() {
                stop.store(true, Ordering::Relaxed);
                return Err(ReportError::Cancelled);
            }
            let chips = loop {
                if let Some(c) = ready.remove(&i) {
                    break c;
                }
                match rx.recv() {
                    Ok((k, c)) => {
                        ready.insert(k, c);
                    }
                    Err(_) => break vec![Err("出图线程中止 / a chip worker stopped".into())],
                }
            };
            if i == 0 {
                doc.bookmarks.push(("附件 核查表".into(), doc.pages.len() + 1));
            }
            sheet(doc, r, &jobs[i], chips, opts.chips)?;
        }
        Ok(())
    })
}

/// The records that get a sheet, in the order given; with [`SubpatchSheets::WithPatch`] the
/// 细斑 of a split patch give way to the patch itself (chosen when any of its 细斑 is).
fn chosen(doc: &Doc<'_>, records: &[PatchRecord], opts: &ReportOptions) -> Result<Vec<PatchRecord>, ReportError> {
    let t = doc.p.template();
    let roles = t.roles();
    let filter = match &opts.sheets {
        Sheets::Filter(text) => Some(t.parse_condition(text).map_err(|e| ReportError::BadFilter(e.to_string()))?),
        _ => None,
    };
    let picked = records.iter().filter(|r| match &opts.sheets {
        Sheets::All => true,
        Sheets::Illegal => roles.illegal_verdicts.contains(&value(t, r, Some(&roles.verdict))),
        Sheets::None => false,
        Sheets::Filter(_) => filter.as_ref().is_some_and(|f| t.matches(f, &r.values) == Some(true)),
    });
    let mut out: Vec<PatchRecord> = Vec::new();
    if opts.subpatches == SubpatchSheets::Each {
        out = picked.cloned().collect();
        // In key order, so a patch's 细斑 follow one another.
        out.sort_by(|a, b| a.key.cmp(&b.key));
        return Ok(out);
    }
    for r in picked {
        let top = doc.p.issued_record(r)?;
        if !out.iter().any(|o| o.fid == top.fid) {
            out.push(top);
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// The 细斑 of a split patch as fact rows: key, area, verdict (a re-split 细斑's own 细斑 too).
pub(super) fn subpatch_rows(doc: &Doc<'_>, r: &PatchRecord) -> Vec<Vec<String>> {
    if !r.split {
        return Vec::new();
    }
    let t = doc.p.template();
    let verdict = t.roles().verdict.clone();
    let mut rows = Vec::new();
    for sub in doc.p.subpatches_of(r.fid).unwrap_or_default() {
        if sub.split {
            rows.extend(subpatch_rows(doc, &sub));
            continue;
        }
        rows.push(vec![
            "细斑".to_string(),
            format!("{}  {}", sub.key, value(t, &sub, Some(&verdict))),
            "细斑面积".to_string(),
            format!("{:.2} m²（{:.3} 亩）", sub.area_m2, m2_to_mu(sub.area_m2)),
        ]);
    }
    rows
}

/// What each sheet's two chips show, read here (the project stays on this thread).
fn chip_jobs(
    doc: &Doc<'_>,
    records: &[PatchRecord],
    imagery: &[ImagerySource],
    margin: f64,
) -> Result<Vec<ChipJob>, ReportError> {
    let mut jobs = Vec::with_capacity(records.len());
    for r in records {
        let overlays = outlines(doc, r)?;
        let sides = [Period::Before, Period::After].map(|period| {
            let source = doc.p.imagery_for(r, imagery, period);
            let caption = source.and_then(|s| imagery.get(s)).map(|s| {
                format!(
                    "{} {}",
                    if period == Period::Before { "前时相" } else { "后时相" },
                    s.acquired.map(|d| d.to_string()).unwrap_or_default()
                )
            });
            (source, caption)
        });
        // The chip frames the first outline (the issued patch when it is drawn, else the extent).
        let refs = match overlays.first() {
            Some(o) => super::reference::chip_outlines(doc.p, &o.geom, margin)?,
            None => Vec::new(),
        };
        jobs.push(ChipJob { overlays, refs, sides });
    }
    Ok(jobs)
}

/// The outlines of a sheet's chips: the extent in force (yellow, solid) and, when it differs
/// from what was issued, the issued patch (white, dashed): the record's own issued geometry
/// when its extent was redrawn, the issued patch of a 细斑, or, for a sheet of a split patch,
/// every 细斑 solid inside the issued patch dashed.
fn outlines(doc: &Doc<'_>, r: &PatchRecord) -> Result<Vec<Overlay>, ReportError> {
    let solid = |geom| Overlay { geom, rgba: [255, 255, 0, 255], label: String::new(), line: Line::Solid };
    let dashed = |geom| Overlay { geom, rgba: [255, 255, 255, 255], label: String::new(), line: Line::Dashed };
    let Some(extent) = doc.p.extent(r.fid)? else { return Ok(Vec::new()) };
    if r.split {
        let mut out = vec![dashed(extent.issued)];
        for sub in doc.p.subpatches_of(r.fid)? {
            out.extend(outlines(doc, &sub)?.into_iter().filter(|o| o.line == Line::Solid));
        }
        return Ok(out);
    }
    let issued = match r.parent_fid {
        Some(_) => doc.p.extent(doc.p.issued_record(r)?.fid)?.map(|e| e.issued),
        None => None,
    };
    let issued = match (&extent.verified, issued) {
        (_, Some(g)) => Some(g),
        (Some(_), None) => Some(extent.issued.clone()),
        (None, None) => None,
    };
    Ok(issued.map(dashed).into_iter().chain(std::iter::once(solid(extent.current().clone()))).collect())
}

/// Renders and encodes the before and after chips of one sheet (on a worker thread); none when
/// the patch has no geometry.
fn render_chips(
    job: &ChipJob,
    specs: &BTreeMap<usize, (SourceSpec, Vec<PathBuf>)>,
    open: &mut OpenSources,
    base: &RenderOptions,
) -> Vec<ChipResult> {
    if job.overlays.is_empty() {
        return Vec::new();
    }
    job.sides
        .iter()
        .map(|(source, caption)| {
            let ro = RenderOptions { caption: caption.clone(), ..base.clone() };
            let overlays: Vec<Overlay> = job.refs.iter().chain(&job.overlays).cloned().collect();
            let missing = source.and_then(|i| specs.get(&i)).map(|(_, m)| m.as_slice()).unwrap_or_default();
            if !missing.is_empty() {
                let names = missing.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join("、");
                let img = render::render_from(None, &overlays, &ro).map_err(|e| e.to_string())?;
                return Jpeg::encode(&img).map(|j| Chip::NoImagery(j, names)).ok_or_else(|| "JPEG".to_string());
            }
            let src = match source {
                Some(i) => {
                    let opened = open.entry(*i).or_insert_with(|| match specs.get(i) {
                        Some((spec, _)) => crate::imagery::source::open(spec).map_err(|e| e.to_string()),
                        None => Err(format!("影像 {i} 不存在 / no imagery {i}")),
                    });
                    Some(opened.as_deref_mut().map_err(|e| e.clone())?)
                }
                None => None,
            };
            let img = render::render_from(src, &overlays, &ro).map_err(|e| e.to_string())?;
            let jpeg = Jpeg::encode(&img);
            crate::imagery::recycle_pixels(img.into_raw());
            jpeg.map(Chip::Shown).ok_or_else(|| "JPEG 编码失败 / JPEG encoding failed".to_string())
        })
        .collect()
}

/// One patch's sheet (two pages in the stacked layout when the patch has photos).
fn sheet(
    doc: &mut Doc<'_>,
    r: &PatchRecord,
    job: &ChipJob,
    chips: Vec<ChipResult>,
    layout: ChipLayout,
) -> Result<(), ReportError> {
    let chips = chips
        .into_iter()
        .collect::<Result<Vec<Chip>, String>>()
        .map_err(|detail| ReportError::Chip { patch: r.key.clone(), detail })?;
    doc.bookmarks.push((r.key.clone(), doc.pages.len() + 1));
    if let ChipLayout::Stacked { width_mm, height_mm } = layout {
        return super::stacked::sheet(doc, r, chips, (width_mm, height_mm));
    }
    let mut pg = PageBuilder::new();
    facts(doc, &mut pg, r);
    if !job.overlays.is_empty() {
        chips_row(doc, &mut pg, chips);
    }
    photos(doc, &mut pg, r)?;
    super::reference::sheet_table(doc, &mut pg, r)?;
    attributes(doc, &mut pg, r);
    pg.text_at(&doc.font, MARGIN, PAGE_H - MARGIN - 6.0, 10.0, &signature(doc, r));
    doc.pages.push(pg);
    Ok(())
}

/// The signature line: surveyor, date, unit.
pub(super) fn signature(doc: &Doc<'_>, r: &PatchRecord) -> String {
    let t = doc.p.template();
    format!(
        "调查人：{}    调查日期：{}    核查单位：{}",
        value(t, r, Some("DCRY")),
        value(t, r, Some("DCRQ")),
        doc.unit
    )
}

/// The title and the table of place, dates, area and verdict.
fn facts(doc: &Doc<'_>, pg: &mut PageBuilder, r: &PatchRecord) {
    pg.text_at(&doc.font, MARGIN, pg.y, 14.0, &format!("图斑核查表  {}", r.key));
    pg.y += 9.0;
    pg.table(&doc.font, &[22.0, 63.0, 22.0, 63.0], &fact_rows(doc, r));
}

/// Place, centre, dates, area and verdict as four-column rows.
pub(super) fn fact_rows(doc: &Doc<'_>, r: &PatchRecord) -> Vec<Vec<String>> {
    let t = doc.p.template();
    let roles = t.roles();
    let (lon, lat) = r.center_lonlat.unwrap_or_default();
    let rows = vec![
        vec![
            "乡镇/村".to_string(),
            format!("{} {}", value(t, r, roles.township.as_deref()), value(t, r, roles.village.as_deref())),
            "中心坐标".into(),
            format!("{lon:.6}°E, {lat:.6}°N"),
        ],
        vec![
            "前时相".to_string(),
            value(t, r, roles.before_date.as_deref()),
            "后时相".into(),
            value(t, r, roles.after_date.as_deref()),
        ],
        vec![
            "面积".to_string(),
            format!("{:.2} m²（{:.3} 亩）", r.area_m2, m2_to_mu(r.area_m2)),
            "核查结论".into(),
            value(t, r, Some(&roles.verdict)),
        ],
    ];
    rows.into_iter().chain(subpatch_rows(doc, r)).collect()
}

/// The before and after chips side by side.
fn chips_row(doc: &mut Doc<'_>, pg: &mut PageBuilder, chips: Vec<Chip>) {
    let chip_top = pg.y;
    let (w_mm, h_mm) = ChipLayout::Standard.size_mm();
    for (k, chip) in chips.into_iter().enumerate() {
        place_chip(doc, pg, chip, (MARGIN + k as f32 * (w_mm + 6.0), chip_top), w_mm);
    }
    pg.y = chip_top + h_mm + 6.0;
}

/// One chip, `w_mm` wide, its top left at `at`; one without its imagery carries a 无影像 mark.
pub(super) fn place_chip(doc: &mut Doc<'_>, pg: &mut PageBuilder, chip: Chip, (x, y): (f32, f32), w_mm: f32) {
    let (jpeg, missing) = match chip {
        Chip::Shown(jpeg) => (jpeg, None),
        Chip::NoImagery(jpeg, files) => (jpeg, Some(files)),
    };
    let size = (jpeg.w, jpeg.h);
    let h_mm = w_mm * size.1 as f32 / size.0.max(1) as f32;
    let id = add_jpeg(&mut doc.pdf, jpeg);
    pg.image(&id, x, y, w_mm, size);
    if let Some(files) = missing {
        let mark_y = y + h_mm / 2.0 - 4.0;
        // A light band behind the mark, so it reads on the dark background.
        pg.rect(x + 1.5, mark_y - 1.5, w_mm - 3.0, 12.5, Some(grey(0.93)));
        pg.text_at(&doc.font, x + 3.0, mark_y, 16.0, "无影像 / no imagery");
        pg.text_at(&doc.font, x + 3.0, mark_y + 8.0, 7.0, &files);
    }
}

/// Field photos, up to four, with captions (their thumbnails are JPEG already).
pub(super) fn photos(doc: &mut Doc<'_>, pg: &mut PageBuilder, r: &PatchRecord) -> Result<(), ReportError> {
    let photos = doc.p.photos(Some(r.fid))?;
    if photos.is_empty() {
        return Ok(());
    }
    let w = 40.0;
    let top = pg.y;
    for (k, ph) in photos.iter().take(4).enumerate() {
        let Some(thumb) = doc.p.photo_thumbnail(ph.id)? else { continue };
        let Some(jpeg) = Jpeg::from_bytes(thumb) else { continue };
        let (jw, jh) = (jpeg.w, jpeg.h);
        let id = add_jpeg(&mut doc.pdf, jpeg);
        let x = MARGIN + k as f32 * (w + 2.5);
        pg.image(&id, x, top, w, (jw, jh));
        let cap = format!("{} {}", ph.kind, ph.caption);
        pg.text_at(&doc.font, x, top + w * jh as f32 / jw as f32 + 1.0, 7.0, &cap);
    }
    pg.y = top + 40.0;
    Ok(())
}

/// The attributes that are filled, two per row, cut to what fits above the signature line.
pub(super) fn attributes(doc: &Doc<'_>, pg: &mut PageBuilder, r: &PatchRecord) {
    let mut rows = vec![vec!["字段".to_string(), "值".into(), "字段".into(), "值".into()]];
    rows.extend(attribute_rows(doc, r));
    if pg.y + rows.len() as f32 * 6.5 > PAGE_H - MARGIN - 10.0 {
        rows.truncate(((PAGE_H - MARGIN - 10.0 - pg.y) / 6.5).max(1.0) as usize);
    }
    pg.table(&doc.font, &[28.0, 57.0, 28.0, 57.0], &rows);
}

/// The filled attributes as label, value, label, value rows.
pub(super) fn attribute_rows(doc: &Doc<'_>, r: &PatchRecord) -> Vec<Vec<String>> {
    let t = doc.p.template();
    let mut rows = Vec::new();
    let filled: Vec<(String, String)> = t
        .fields()
        .iter()
        .zip(&r.values)
        .filter(|(_, v)| !v.is_empty())
        .map(|(fd, v)| (fd.label.clone(), v.to_string()))
        .collect();
    for pair in filled.chunks(2) {
        let mut row = vec![pair[0].0.clone(), pair[0].1.clone()];
        if let Some(b) = pair.get(1) {
            row.extend([b.0.clone(), b.1.clone()]);
        }
        rows.push(row);
    }
    rows
}
