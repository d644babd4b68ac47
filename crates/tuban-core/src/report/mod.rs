//! The PDF report (自查报告) of DOMAIN §6: cover, situation and method, result tables, ledger
//! rates, spot-check, problems and suggestions, and one verification sheet per patch with before
//! and after image chips and field photos. A4, page numbers, bookmarks per section and per patch,
//! the bundled CJK font embedded as a subset (printpdf with `text_layout`).

mod layout;
mod reference;
mod sections;
mod sheet;
mod stacked;

use std::path::{Path, PathBuf};

use printpdf::{Mm, ParsedFont, PdfDocument, PdfPage, PdfSaveOptions};

use crate::atomic::{AtomicError, Overwrite, PartFile};
use crate::render::CJK_FONT;
use crate::store::{PatchRecord, Project, StoreError};
use layout::{text_width_mm, PageBuilder, MARGIN, PAGE_H, PAGE_W};
use tuban_model::progress::Progress;
use tuban_model::Template;

/// Which patches get a verification sheet.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Sheets {
    /// Every patch.
    #[default]
    All,
    /// Patches with an illegal verdict.
    Illegal,
    /// None.
    None,
    /// Patches matching a condition over the template's fields (`XZMC = 乌兰花镇`).
    Filter(String),
}

/// How large the image chips of a sheet are and how they sit on the page.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ChipLayout {
    /// Before and after side by side, 82 × 61.5 mm each, between the facts and the photos.
    #[default]
    Standard,
    /// Before above after, each `width_mm` × `height_mm`, on an A4 portrait page with 10 mm
    /// margins, framed as QGIS Atlas frames its maps (the extent grown by half), the facts and the attributes that fit
    /// below them; field photos go on a second page. [`ChipLayout::ATLAS`] is the size of the
    /// maps of QGIS Atlas's layout.
    Stacked {
        /// Width of each map in mm (at most [`ChipLayout::MAX_STACKED_MM`].0).
        width_mm: f32,
        /// Height of each map in mm (at most [`ChipLayout::MAX_STACKED_MM`].1).
        height_mm: f32,
    },
}

impl ChipLayout {
    /// The two 190 × 115 mm maps of the QGIS Atlas layout (`--chip-size 190x115`).
    pub const ATLAS: ChipLayout = ChipLayout::Stacked { width_mm: 190.0, height_mm: 115.0 };
    /// The largest stacked chips: the page's width inside 10 mm margins, and two maps with the
    /// sheet's facts below them.
    pub const MAX_STACKED_MM: (f32, f32) = (190.0, 120.0);
    /// The smallest stacked chip side in mm.
    pub const MIN_STACKED_MM: f32 = 20.0;

    /// Stacked chips of `width_mm` × `height_mm`, or `None` outside
    /// [`ChipLayout::MIN_STACKED_MM`]..=[`ChipLayout::MAX_STACKED_MM`].
    pub fn stacked(width_mm: f32, height_mm: f32) -> Option<ChipLayout> {
        let (max_w, max_h) = ChipLayout::MAX_STACKED_MM;
        let min = ChipLayout::MIN_STACKED_MM;
        ((min..=max_w).contains(&width_mm) && (min..=max_h).contains(&height_mm))
            .then_some(ChipLayout::Stacked { width_mm, height_mm })
    }

    /// Width and height of one chip on the page, in mm.
    pub fn size_mm(&self) -> (f32, f32) {
        match *self {
            ChipLayout::Standard => (82.0, 82.0 * 0.75),
            ChipLayout::Stacked { width_mm, height_mm } => (width_mm, height_mm),
        }
    }

    /// Width and height of one chip in pixels at `dpi`.
    pub fn size_px(&self, dpi: u32) -> (u32, u32) {
        let (w_mm, h_mm) = self.size_mm();
        let px = |mm: f32| ((mm / 25.4) * dpi as f32) as u32;
        match self {
            // 4:3 exactly, as before.
            ChipLayout::Standard => (px(w_mm), px(w_mm) * 3 / 4),
            ChipLayout::Stacked { .. } => (px(w_mm), px(h_mm)),
        }
    }
}

/// Report options.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    /// Which patches get a sheet.
    pub sheets: Sheets,
    /// Resolution of the image chips (150 or 300).
    pub dpi: u32,
    /// Size and placement of the image chips.
    pub chips: ChipLayout,
    /// Unit name in the header (default: the project's unit).
    pub unit: Option<String>,
    /// Text of section 2 (staff, dates, method) for this report only; else the project's stored
    /// text; else a default written from the project.
    pub method_text: Option<String>,
    /// Text of section 6 (problems and suggestions) for this report only; else the project's.
    pub problems_text: Option<String>,
    /// Write the report even when chips' imagery is missing: those chips are marked 无影像 and
    /// the files named in the method section (otherwise the report is refused).
    pub allow_missing_imagery: bool,
    /// A sheet per 细斑, or one per split patch listing its 细斑.
    pub subpatches: SubpatchSheets,
}

/// How a patch split into 细斑 gets its sheets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubpatchSheets {
    /// One sheet per 细斑 (its extent solid, the issued patch dashed).
    #[default]
    Each,
    /// One sheet per split patch: every 细斑 solid on its chips and listed with area and verdict.
    WithPatch,
}

impl SubpatchSheets {
    /// Parses `each` / `patch`.
    pub fn parse(s: &str) -> Option<SubpatchSheets> {
        match s.trim().to_ascii_lowercase().as_str() {
            "each" | "细斑" => Some(SubpatchSheets::Each),
            "patch" | "图斑" => Some(SubpatchSheets::WithPatch),
            _ => None,
        }
    }
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            sheets: Sheets::All,
            dpi: 150,
            chips: ChipLayout::Standard,
            unit: None,
            method_text: None,
            problems_text: None,
            allow_missing_imagery: false,
            subpatches: SubpatchSheets::Each,
        }
    }
}

/// Why the report failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading the project failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The font could not be loaded.
    #[error("字体无法加载 / the font cannot be loaded: {0}")]
    Font(String),
    /// Writing failed.
    #[error("{path}: 写出失败 / cannot write: {detail}")]
    Write { path: String, detail: String },
    /// Exists and not forced.
    #[error("{path}: 文件已存在；加 --force 覆盖 / file exists; add --force to overwrite")]
    Exists { path: String },
    /// Cancelled.
    #[error("已取消，没有写出报告 / cancelled; no report written")]
    Cancelled,
    /// Chips would show imagery whose files are missing.
    #[error("{files}: 影像文件缺失，未输出报告；请用 tuban imagery relink 项目.gpkg 旧目录 新目录 重新链接，或加 --allow-missing-imagery 输出报告并把这些截图标为“无影像” / imagery missing, no report written; relink it with `tuban imagery relink PROJECT OLD_FOLDER NEW_FOLDER`, or pass --allow-missing-imagery to mark those chips “no imagery”")]
    MissingImagery {
        /// The missing files, separated by 、.
        files: String,
    },
    /// A chip failed to render (a damaged file, an unreadable source).
    #[error("{patch}: 核查表影像截图生成失败（{detail}），未输出报告 / the sheet's image chip failed ({detail}); no report written")]
    Chip {
        /// The patch whose sheet it is.
        patch: String,
        /// What failed.
        detail: String,
    },
    /// The sheet filter cannot be read.
    #[error("核查表筛选条件无法识别：{0}（例：HCJG = 违法 and XZMC = 乌兰花镇） / the sheet filter cannot be read")]
    BadFilter(String),
}

/// Writes the report to `out` (under a temporary name `out.part`, then renamed): a failure
/// leaves no partial file. An existing `out` is replaced only with `force`.
pub fn write(
    p: &Project,
    out: &Path,
    opts: &ReportOptions,
    force: bool,
    progress: &Progress,
) -> Result<ReportSummary, ReportError> {
    let part = PartFile::new(out, Overwrite::from_force(force))?;
    let (bytes, summary) = build_summarised(p, opts, progress)?;
    std::fs::write(part.path(), &bytes).map_err(|e| AtomicError::io(part.path(), e))?;
    part.commit()?;
    Ok(summary)
}

/// What a written report says beyond its pages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportSummary {
    /// Imagery files that were missing; their chips are marked 无影像 (only with
    /// [`ReportOptions::allow_missing_imagery`]).
    pub missing_imagery: Vec<PathBuf>,
}

impl From<AtomicError> for ReportError {
    fn from(e: AtomicError) -> ReportError {
        match e {
            AtomicError::Exists { path } => ReportError::Exists { path },
            AtomicError::Io { path, cause } => {
                ReportError::Write { detail: format!("{cause}{}", crate::store::advice_io(&cause)), path }
            }
        }
    }
}

/// The report being built: the project and what every section reads from it, the font, the PDF
/// (which holds the embedded images) and the pages and bookmarks laid out so far.
struct Doc<'a> {
    p: &'a Project,
    font: printpdf::FontId,
    unit: String,
    county: String,
    pdf: PdfDocument,
    pages: Vec<PageBuilder>,
    bookmarks: Vec<(String, usize)>,
    /// Imagery files missing for the chosen sheets (named in the method section).
    missing_imagery: Vec<PathBuf>,
}

impl Doc<'_> {
    /// A section heading at the cursor, bookmarked to the page being laid out (not yet pushed).
    fn heading(&mut self, pg: &mut PageBuilder, title: &str) {
        self.bookmarks.push((title.into(), self.pages.len() + 1));
        pg.text_at(&self.font, MARGIN, pg.y, 15.0, title);
        pg.y += 10.0;
    }

    /// Numbers the pages (all but the cover), adds the bookmarks and saves the PDF.
    fn finish(mut self) -> Vec<u8> {
        let total = self.pages.len();
        let font = &self.font;
        let pdf_pages: Vec<PdfPage> = self
            .pages
            .into_iter()
            .enumerate()
            .map(|(i, mut pg)| {
                if i > 0 {
                    let label = format!("第 {} 页 共 {total} 页", i + 1);
                    pg.text_at(font, PAGE_W / 2.0 - text_width_mm(&label, 9.0) / 2.0, PAGE_H - 12.0, 9.0, &label);
                }
                PdfPage::new(Mm(PAGE_W), Mm(PAGE_H), pg.ops)
            })
            .collect();
        let doc = self.pdf.with_pages(pdf_pages);
        for (name, page) in self.bookmarks {
            doc.add_bookmark(&name, page);
        }
        let opts = PdfSaveOptions { subset_fonts: true, ..Default::default() };
        doc.save(&opts, &mut Vec::new())
    }
}

/// The text of `field` of a record, empty when the field is absent or not filled.
fn value(t: &Template, r: &PatchRecord, field: Option<&str>) -> String {
    field.and_then(|n| r.value(t, n)).map(|v| v.to_string()).unwrap_or_default()
}

/// Builds the report and returns the PDF bytes.
pub fn build(p: &Project, opts: &ReportOptions, progress: &Progress) -> Result<Vec<u8>, ReportError> {
    build_summarised(p, opts, progress).map(|(bytes, _)| bytes)
}

/// Builds the report; returns the PDF bytes and what the run should tell the user.
fn build_summarised(
    p: &Project,
    opts: &ReportOptions,
    progress: &Progress,
) -> Result<(Vec<u8>, ReportSummary), ReportError> {
    let meta = p.meta().clone();
    let records = p.patches_delivered()?;
    let unit = opts.unit.clone().unwrap_or_else(|| meta.unit.clone());
    let county = if meta.county_name.is_empty() { meta.county_code.clone() } else { meta.county_name.clone() };
    let title = format!("{county}{}年度{}自查报告", meta.year, meta.programme.label());
    let mut pdf = PdfDocument::new(&title);
    let font =
        ParsedFont::from_bytes(CJK_FONT, 0, &mut Vec::new()).ok_or_else(|| ReportError::Font("Noto Sans SC".into()))?;
    let font = pdf.add_font(&font);
    let mut doc =
        Doc { p, font, unit, county, pdf, pages: Vec::new(), bookmarks: Vec::new(), missing_imagery: Vec::new() };
    doc.missing_imagery = sheet::missing_imagery(&doc, &records, &p.imagery()?, opts)?;
    if !doc.missing_imagery.is_empty() && !opts.allow_missing_imagery {
        let files = doc.missing_imagery.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join("、");
        return Err(ReportError::MissingImagery { files });
    }
    let summary = ReportSummary { missing_imagery: doc.missing_imagery.clone() };
    sections::cover(&mut doc, &meta);
    let imagery = sections::chapters(&mut doc, &meta, &records, opts)?;
    sheet::sheets(&mut doc, &records, &imagery, opts, progress)?;
    sections::seal_marks(&mut doc, &meta)?;
    progress.stage("写出 PDF / writing the PDF", 0);
    Ok((doc.finish(), summary))
}
