//! The PDF report (自查报告) of DOMAIN §6: cover, situation and method, result tables, ledger
//! rates, spot-check, problems and suggestions, and one verification sheet per patch with before
//! and after image chips and field photos. A4, page numbers, bookmarks per section and per patch,
//! the bundled CJK font embedded as a subset (printpdf with `text_layout`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use printpdf::{
    Color, LinePoint, Mm, Op, ParsedFont, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Polygon,
    PolygonRing, Pt, Rgb, TextItem, WindingOrder, XObjectTransform,
};

use crate::atomic::{AtomicError, Overwrite, PartFile};
use crate::render::{self, Overlay, RenderOptions, CJK_FONT};
use crate::store::{Period, Project, StoreError};
use tuban_model::progress::Progress;
use tuban_model::units::{m2_to_ha, m2_to_mu};

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

/// Report options.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    /// Which patches get a sheet.
    pub sheets: Sheets,
    /// Resolution of the image chips (150 or 300).
    pub dpi: u32,
    /// Unit name in the header (default: the project's unit).
    pub unit: Option<String>,
    /// Text of section 2 (staff, dates, method) for this report only; else the project's stored
    /// text; else a default written from the project.
    pub method_text: Option<String>,
    /// Text of section 6 (problems and suggestions) for this report only; else the project's.
    pub problems_text: Option<String>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions { sheets: Sheets::All, dpi: 150, unit: None, method_text: None, problems_text: None }
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
    /// The sheet filter cannot be read.
    #[error("核查表筛选条件无法识别：{0}（例：HCJG = 违法 and XZMC = 乌兰花镇） / the sheet filter cannot be read")]
    BadFilter(String),
}

const PAGE_W: f32 = 210.0;
const PAGE_H: f32 = 297.0;
const MARGIN: f32 = 20.0;

/// One page being laid out, top to bottom (y in mm from the top).
struct PageBuilder {
    ops: Vec<Op>,
    y: f32,
}

fn black() -> Color {
    Color::Rgb(Rgb { r: 0.0, g: 0.0, b: 0.0, icc_profile: None })
}

fn grey(v: f32) -> Color {
    Color::Rgb(Rgb { r: v, g: v, b: v, icc_profile: None })
}

/// Approximate width of text in mm at `size` pt (CJK full width, Latin half).
fn text_width_mm(text: &str, size: f32) -> f32 {
    let em = size * 0.3528;
    text.chars().map(|c| if c.is_ascii() { 0.55 * em } else { em }).sum()
}

/// Splits text into lines no wider than `width` mm.
fn wrap(text: &str, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for c in para.chars() {
            line.push(c);
            if text_width_mm(&line, size) > width {
                line.pop();
                lines.push(std::mem::take(&mut line));
                line.push(c);
            }
        }
        lines.push(line);
    }
    lines
}

impl PageBuilder {
    fn new() -> PageBuilder {
        PageBuilder { ops: Vec::new(), y: MARGIN }
    }

    fn text_at(&mut self, font: &printpdf::FontId, x: f32, y_top: f32, size: f32, text: &str) {
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFillColor { col: black() },
            Op::SetTextCursor { pos: Point::new(Mm(x), Mm(PAGE_H - y_top - size * 0.3528)) },
            Op::SetFont { font: PdfFontHandle::External(font.clone()), size: Pt(size) },
            Op::ShowText { items: vec![TextItem::Text(text.to_string())] },
            Op::EndTextSection,
        ]);
    }

    /// A paragraph (wrapped) at the cursor.
    fn para(&mut self, font: &printpdf::FontId, size: f32, text: &str) {
        for line in wrap(text, size, PAGE_W - 2.0 * MARGIN) {
            self.text_at(font, MARGIN, self.y, size, &line);
            self.y += size * 0.3528 * 1.6;
        }
    }

    fn rect(&mut self, x: f32, y_top: f32, w: f32, h: f32, fill: Option<Color>) {
        let pts = [(x, y_top), (x + w, y_top), (x + w, y_top + h), (x, y_top + h)];
        let ring = PolygonRing {
            points: pts
                .iter()
                .map(|(a, b)| LinePoint { p: Point::new(Mm(*a), Mm(PAGE_H - b)), bezier: false })
                .collect(),
        };
        let mode = if fill.is_some() { printpdf::PaintMode::FillStroke } else { printpdf::PaintMode::Stroke };
        if let Some(c) = fill {
            self.ops.push(Op::SetFillColor { col: c });
        }
        self.ops.push(Op::SetOutlineColor { col: grey(0.45) });
        self.ops.push(Op::SetOutlineThickness { pt: Pt(0.5) });
        self.ops.push(Op::DrawPolygon {
            polygon: Polygon { rings: vec![ring], mode, winding_order: WindingOrder::NonZero },
        });
    }

    /// A table at the cursor: the first row is the header; widths in mm.
    fn table(&mut self, font: &printpdf::FontId, widths: &[f32], rows: &[Vec<String>]) {
        let size = 9.0;
        let h = 6.5;
        for (r, row) in rows.iter().enumerate() {
            let mut x = MARGIN;
            for (c, w) in widths.iter().enumerate() {
                self.rect(x, self.y, *w, h, if r == 0 { Some(grey(0.88)) } else { None });
                let cell = row.get(c).cloned().unwrap_or_default();
                let mut shown = cell.clone();
                while text_width_mm(&shown, size) > w - 2.0 && !shown.is_empty() {
                    shown.pop();
                }
                self.text_at(font, x + 1.0, self.y + 1.4, size, &shown);
                x += w;
            }
            self.y += h;
        }
        self.y += 4.0;
    }

    fn image(&mut self, id: &printpdf::XObjectId, x: f32, y_top: f32, w_mm: f32, px: (u32, u32)) {
        let h_mm = w_mm * px.1 as f32 / px.0 as f32;
        let dpi = px.0 as f32 / (w_mm / 25.4);
        self.ops.push(Op::UseXobject {
            id: id.clone(),
            transform: XObjectTransform {
                translate_x: Some(Mm(x).into()),
                translate_y: Some(Mm(PAGE_H - y_top - h_mm).into()),
                dpi: Some(dpi),
                ..Default::default()
            },
        });
    }
}

/// One sheet's chips: the patch outline and, before and after, the source and caption.
struct ChipJob {
    geom: Option<geo::Geometry>,
    sides: [(Option<usize>, Option<String>); 2],
}

/// A JPEG image kept as its bytes: the PDF embeds it as it is (DCTDecode), so encoding happens on
/// the chip workers and not in the single-threaded save.
struct Jpeg {
    bytes: Vec<u8>,
    w: u32,
    h: u32,
}

/// JPEG quality of the chips: 82 keeps outlines and field boundaries sharp at ~45 KB per chip.
const CHIP_JPEG_QUALITY: u8 = 82;

impl Jpeg {
    /// Encodes with jpeg-encoder (AVX2 when the CPU has it; about 3× faster than the image
    /// crate's encoder here) from the RGBA pixels as they are.
    fn encode(img: &image::RgbaImage) -> Option<Jpeg> {
        let (w, h) = (u16::try_from(img.width()).ok()?, u16::try_from(img.height()).ok()?);
        let mut bytes = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut bytes, CHIP_JPEG_QUALITY);
        enc.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
        enc.encode(img.as_raw(), w, h, jpeg_encoder::ColorType::Rgba).ok()?;
        Some(Jpeg { bytes, w: img.width(), h: img.height() })
    }

    /// A JPEG made elsewhere (photo thumbnails); `None` unless it is an 8-bit RGB JPEG.
    fn from_bytes(bytes: Vec<u8>) -> Option<Jpeg> {
        let dec = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(&bytes)).ok()?;
        use image::ImageDecoder;
        if dec.color_type() != image::ColorType::Rgb8 {
            return None;
        }
        let (w, h) = dec.dimensions();
        Some(Jpeg { bytes, w, h })
    }
}

/// Embeds a JPEG as an image XObject without decoding it.
fn add_jpeg(doc: &mut PdfDocument, jpeg: Jpeg) -> printpdf::XObjectId {
    use printpdf::{DictItem, ExternalStream, ExternalXObject, Px};
    let name = |n: &str| DictItem::Name(n.as_bytes().to_vec());
    let dict = BTreeMap::from([
        ("Type".to_string(), name("XObject")),
        ("Subtype".to_string(), name("Image")),
        ("Width".to_string(), DictItem::Int(i64::from(jpeg.w))),
        ("Height".to_string(), DictItem::Int(i64::from(jpeg.h))),
        ("ColorSpace".to_string(), name("DeviceRGB")),
        ("BitsPerComponent".to_string(), DictItem::Int(8)),
        ("Filter".to_string(), name("DCTDecode")),
    ]);
    doc.add_xobject(&ExternalXObject {
        stream: ExternalStream { dict, content: jpeg.bytes, compress: false },
        width: Some(Px(jpeg.w as usize)),
        height: Some(Px(jpeg.h as usize)),
        dpi: None,
    })
}

/// Renders and encodes the before and after chips of one sheet (on a worker thread).
fn render_chips(
    job: &ChipJob,
    specs: &BTreeMap<usize, crate::imagery::source::SourceSpec>,
    open: &mut BTreeMap<usize, Option<Box<dyn crate::imagery::source::TileSource>>>,
    size: (u32, u32),
) -> [Option<Jpeg>; 2] {
    let Some(geom) = &job.geom else { return [None, None] };
    job.sides.clone().map(|(source, caption)| {
        let ro = RenderOptions { size_px: size, caption, labels: false, ..Default::default() };
        let overlay = Overlay { geom: geom.clone(), rgba: [255, 255, 0, 255], label: String::new() };
        let src = match source {
            Some(i) => open
                .entry(i)
                .or_insert_with(|| specs.get(&i).and_then(|s| crate::imagery::source::open(s).ok()))
                .as_deref_mut(),
            None => None,
        };
        render::render_from(src, &[overlay], &ro).ok().and_then(|img| Jpeg::encode(&img))
    })
}

fn counts_by<F: Fn(&crate::store::PatchRecord) -> String>(
    records: &[crate::store::PatchRecord],
    key: F,
) -> BTreeMap<String, (usize, f64)> {
    let mut m: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for r in records {
        let e = m.entry(key(r)).or_default();
        e.0 += 1;
        e.1 += r.area_m2;
    }
    m
}

/// Writes the report to `out` (under a temporary name `out.part`, then renamed): a failure
/// leaves no partial file. An existing `out` is replaced only with `force`.
pub fn write(
    p: &Project,
    out: &Path,
    opts: &ReportOptions,
    force: bool,
    progress: &Progress,
) -> Result<(), ReportError> {
    let part = PartFile::new(out, Overwrite::from_force(force))?;
    let bytes = build(p, opts, progress)?;
    std::fs::write(part.path(), &bytes).map_err(|e| AtomicError::io(part.path(), e))?;
    Ok(part.commit()?)
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

/// Builds the report and returns the PDF bytes.
pub fn build(p: &Project, opts: &ReportOptions, progress: &Progress) -> Result<Vec<u8>, ReportError> {
    let t = p.template();
    let roles = t.roles().clone();
    let meta = p.meta().clone();
    let records = p.patches_delivered()?;
    let unit = opts.unit.clone().unwrap_or_else(|| meta.unit.clone());
    let county = if meta.county_name.is_empty() { meta.county_code.clone() } else { meta.county_name.clone() };
    let title = format!("{county}{}年度{}自查报告", meta.year, meta.programme.label());
    let mut doc = PdfDocument::new(&title);
    let font =
        ParsedFont::from_bytes(CJK_FONT, 0, &mut Vec::new()).ok_or_else(|| ReportError::Font("Noto Sans SC".into()))?;
    let f = doc.add_font(&font);
    let value = |r: &crate::store::PatchRecord, field: Option<&str>| {
        field.and_then(|n| r.value(t, n)).map(|v| v.to_string()).unwrap_or_default()
    };
    let mut pages: Vec<PageBuilder> = Vec::new();
    let mut bookmarks: Vec<(String, usize)> = Vec::new();

    // Cover.
    let mut pg = PageBuilder::new();
    pg.y = 90.0;
    pg.text_at(&f, MARGIN, pg.y, 22.0, &format!("{county}{}年度", meta.year));
    pg.y += 14.0;
    pg.text_at(&f, MARGIN, pg.y, 22.0, meta.programme.label());
    pg.y += 14.0;
    pg.text_at(&f, MARGIN, pg.y, 22.0, "自查报告");
    pg.y = 200.0;
    for line in [
        format!("县（市、区、旗）：{county}（{}）", meta.county_code),
        format!("监测年度：{}", meta.year),
        format!("编制单位：{unit}"),
        format!("编制日期：{}", chrono::Local::now().format("%Y年%m月%d日")),
    ] {
        pg.text_at(&f, MARGIN + 10.0, pg.y, 13.0, &line);
        pg.y += 9.0;
    }
    bookmarks.push(("封面".into(), 1));
    pages.push(pg);

    // 1-6 sections.
    let mut pg = PageBuilder::new();
    let summary = p.summary()?;
    bookmarks.push(("一、任务来源与基本情况".into(), pages.len() + 1));
    pg.text_at(&f, MARGIN, pg.y, 15.0, "一、任务来源与基本情况");
    pg.y += 10.0;
    let batches = p.batches()?;
    pg.para(&f, 11.0, &format!(
        "{}年度，上级下发本{}变化图斑{}个（含细斑{}个），总面积{:.2}公顷（{:.2}亩），共{}批次。截至报告编制时，已核查{}个，未核查{}个。",
        meta.year,
        "县",
        summary.total.count,
        summary.sub_patches,
        m2_to_ha(summary.total.area_m2),
        m2_to_mu(summary.total.area_m2),
        batches.len(),
        summary.by_status.iter().filter(|(k, _)| matches!(k, tuban_model::ReviewStatus::Done | tuban_model::ReviewStatus::Problem)).map(|(_, v)| v.count).sum::<usize>(),
        summary.by_status.get(&tuban_model::ReviewStatus::Unreviewed).map_or(0, |t| t.count)
    ));
    pg.y += 4.0;
    bookmarks.push(("二、工作组织与方法".into(), pages.len() + 1));
    pg.text_at(&f, MARGIN, pg.y, 15.0, "二、工作组织与方法");
    pg.y += 10.0;
    let imagery = p.imagery()?;
    let default_method = format!(
        "{unit}组织技术人员，采用前后时相高分辨率遥感影像对比判读（{}），结合审批档案、国土调查成果和保护地边界等资料开展内业核查；对内业无法确定的图斑开展外业核实并拍摄现场照片。核查成果经内部质量检查和抽查复核后封库上报。",
        imagery.iter().map(|s| format!("{} {}", s.title(), s.acquired.map(|d| d.to_string()).unwrap_or_default())).collect::<Vec<_>>().join("、")
    );
    let method = match &opts.method_text {
        Some(t) => Some(t.clone()),
        None => p.report_text(crate::store::ReportText::Method)?,
    };
    pg.para(&f, 11.0, method.as_deref().unwrap_or(&default_method));
    pg.y += 4.0;
    bookmarks.push(("三、核查结果".into(), pages.len() + 1));
    pg.text_at(&f, MARGIN, pg.y, 15.0, "三、核查结果");
    pg.y += 10.0;
    pg.text_at(&f, MARGIN, pg.y, 11.0, "表1 按乡镇统计");
    pg.y += 6.0;
    let codes: Vec<String> =
        t.field(&roles.verdict).map(|fd| fd.codes().iter().map(|c| c.code.clone()).collect()).unwrap_or_default();
    let mut head = vec!["乡镇".to_string(), "图斑数".into(), "面积(亩)".into()];
    head.extend(codes.iter().cloned());
    head.push("未填".into());
    let mut rows = vec![head];
    for (town, tally) in &summary.by_township {
        let mut row = vec![
            if town.is_empty() { "（未填）".into() } else { town.clone() },
            tally.count.to_string(),
            format!("{:.2}", m2_to_mu(tally.area_m2)),
        ];
        for c in codes.iter().chain(std::iter::once(&String::new())) {
            row.push(summary.by_township_verdict.get(&(town.clone(), c.clone())).map_or(0, |t| t.count).to_string());
        }
        rows.push(row);
    }
    let n = codes.len() + 1;
    let rest = (PAGE_W - 2.0 * MARGIN - 60.0) / n as f32;
    let mut widths = vec![34.0, 12.0, 14.0];
    widths.extend(std::iter::repeat_n(rest, n));
    pg.table(&f, &widths, &rows);
    for (caption, field) in [("表2 按核实变化原因统计", "HSBHYY"), ("表3 按核查结论统计", roles.verdict.as_str())]
    {
        if t.field(field).is_none() {
            continue;
        }
        pg.text_at(&f, MARGIN, pg.y, 11.0, caption);
        pg.y += 6.0;
        let m = counts_by(&records, |r| value(r, Some(field)));
        let mut rows = vec![vec!["类别".to_string(), "图斑数".into(), "面积(亩)".into()]];
        rows.extend(m.iter().map(|(k, (c, a))| {
            vec![
                if k.is_empty() { "（未填）".into() } else { k.clone() },
                c.to_string(),
                format!("{:.2}", m2_to_mu(*a)),
            ]
        }));
        pg.table(&f, &[80.0, 25.0, 30.0], &rows);
    }
    if t.field("QDL").is_some() && t.field("XDL").is_some() {
        pg.text_at(&f, MARGIN, pg.y, 11.0, "表4 前地类→现地类");
        pg.y += 6.0;
        let m = counts_by(&records, |r| format!("{} → {}", value(r, Some("QDL")), value(r, Some("XDL"))));
        let mut rows = vec![vec!["前地类 → 现地类".to_string(), "图斑数".into(), "面积(亩)".into()]];
        rows.extend(m.iter().map(|(k, (c, a))| vec![k.clone(), c.to_string(), format!("{:.2}", m2_to_mu(*a))]));
        pg.table(&f, &[80.0, 25.0, 30.0], &rows);
    }
    pages.push(pg);
    let mut pg = PageBuilder::new();
    bookmarks.push(("四、违法图斑查处整改".into(), pages.len() + 1));
    pg.text_at(&f, MARGIN, pg.y, 15.0, "四、违法图斑查处整改");
    pg.y += 10.0;
    let l = p.ledger()?;
    let pct = |r: Option<f64>| r.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "—".into());
    let mut rows = vec![["乡镇", "违法宗数", "面积(亩)", "查处到位率", "整改到位率", "立案率", "结案率"]
        .map(str::to_string)
        .to_vec()];
    for (town, r) in
        l.by_township.iter().map(|(t, r)| (t.clone(), r)).chain(std::iter::once(("合计".to_string(), &l.total)))
    {
        rows.push(vec![
            town,
            r.cases.to_string(),
            format!("{:.2}", m2_to_mu(r.illegal_area_m2)),
            pct(r.investigation_rate()),
            pct(r.rectification_rate()),
            pct(r.filing_rate()),
            pct(r.conclusion_rate()),
        ]);
    }
    pg.table(&f, &[36.0, 18.0, 22.0, 24.0, 24.0, 23.0, 23.0], &rows);
    pg.para(
        &f,
        10.0,
        &format!(
            "逾期未销号 {} 宗；达到涉刑标准 {} 宗；疑似拆分处罚 {} 组；违法未立案图斑 {} 个。",
            l.overdue.len(),
            l.criminal.len(),
            l.split_penalties.len(),
            l.illegal_without_case.len()
        ),
    );
    pg.y += 4.0;
    bookmarks.push(("五、自查抽查与质量控制".into(), pages.len() + 1));
    pg.text_at(&f, MARGIN, pg.y, 15.0, "五、自查抽查与质量控制");
    pg.y += 10.0;
    match p.latest_spot_check()? {
        Some(id) => {
            let r = p.spot_check_result(id)?;
            pg.para(&f, 11.0, &format!("随机分层抽取已核查图斑{}个，已复核{}个，结论一致{}个，一致率{}，Kappa 系数{}。不一致图斑{}个，已逐一核对。", r.sampled, r.reviewed, r.agreed, pct((r.reviewed > 0).then(|| r.agreed as f64 / r.reviewed as f64)), r.kappa.map(|k| format!("{k:.3}")).unwrap_or_else(|| "—".into()), r.disagreements.len()));
        }
        None => pg.para(&f, 11.0, "尚未开展抽查复核。"),
    }
    pg.y += 4.0;
    bookmarks.push(("六、存在问题与建议".into(), pages.len() + 1));
    pg.text_at(&f, MARGIN, pg.y, 15.0, "六、存在问题与建议");
    pg.y += 10.0;
    let problems = match &opts.problems_text {
        Some(t) => Some(t.clone()),
        None => p.report_text(crate::store::ReportText::Problems)?,
    };
    pg.para(&f, 11.0, problems.as_deref().unwrap_or("（请在此填写存在的问题与建议。）"));
    pages.push(pg);

    // Appendix: one sheet per patch.
    let filter = match &opts.sheets {
        Sheets::Filter(text) => Some(t.parse_condition(text).map_err(|e| ReportError::BadFilter(e.to_string()))?),
        _ => None,
    };
    let sheet_records: Vec<&crate::store::PatchRecord> = records
        .iter()
        .filter(|r| match &opts.sheets {
            Sheets::All => true,
            Sheets::Illegal => roles.illegal_verdicts.contains(&value(r, Some(&roles.verdict))),
            Sheets::None => false,
            Sheets::Filter(_) => filter.as_ref().is_some_and(|f| t.matches(f, &r.values) == Some(true)),
        })
        .collect();
    progress.stage("核查表 / sheets", sheet_records.len() as u64);
    let chip_w_mm = 82.0;
    let chip_px = ((chip_w_mm / 25.4) * opts.dpi as f32) as u32;
    let chip_size = (chip_px, chip_px * 3 / 4);
    // What each sheet's two chips show, read here (the project stays on this thread).
    let mut jobs = Vec::with_capacity(sheet_records.len());
    for r in &sheet_records {
        let geom = p.patch_geometry(r.fid)?;
        let sides = [Period::Before, Period::After].map(|period| {
            let source = p.imagery_for(r, &imagery, period);
            let caption = source.and_then(|s| imagery.get(s)).map(|s| {
                format!(
                    "{} {}",
                    if period == Period::Before { "前时相" } else { "后时相" },
                    s.acquired.map(|d| d.to_string()).unwrap_or_default()
                )
            });
            (source, caption)
        });
        jobs.push(ChipJob { geom, sides });
    }
    let specs: BTreeMap<usize, crate::imagery::source::SourceSpec> =
        imagery.iter().enumerate().map(|(i, s)| (i, s.spec.clone())).collect();
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get).clamp(1, 8);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let laid_out: Result<(), ReportError> = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, [Option<Jpeg>; 2])>(workers * 4);
        for _ in 0..workers {
            let tx = tx.clone();
            let (jobs, specs, next, stop) = (&jobs, &specs, &next, &stop);
            scope.spawn(move || {
                // Each worker opens the sources it needs once and keeps them for every chip.
                let mut open: BTreeMap<usize, Option<Box<dyn crate::imagery::source::TileSource>>> = BTreeMap::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= jobs.len() || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let chips = render_chips(&jobs[i], specs, &mut open, chip_size);
                    if tx.send((i, chips)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut ready: BTreeMap<usize, [Option<Jpeg>; 2]> = BTreeMap::new();
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
                    Err(_) => break [None, None],
                }
            };
            let mut pg = PageBuilder::new();
            if i == 0 {
                bookmarks.push(("附件 核查表".into(), pages.len() + 1));
            }
            bookmarks.push((r.key.clone(), pages.len() + 1));
            pg.text_at(&f, MARGIN, pg.y, 14.0, &format!("图斑核查表  {}", r.key));
            pg.y += 9.0;
            let (lon, lat) = r.center_lonlat.unwrap_or_default();
            let rows = vec![
                vec![
                    "乡镇/村".to_string(),
                    format!("{} {}", value(r, roles.township.as_deref()), value(r, roles.village.as_deref())),
                    "中心坐标".into(),
                    format!("{lon:.6}°E, {lat:.6}°N"),
                ],
                vec![
                    "前时相".to_string(),
                    value(r, roles.before_date.as_deref()),
                    "后时相".into(),
                    value(r, roles.after_date.as_deref()),
                ],
                vec![
                    "面积".to_string(),
                    format!("{:.2} m²（{:.3} 亩）", r.area_m2, m2_to_mu(r.area_m2)),
                    "核查结论".into(),
                    value(r, Some(&roles.verdict)),
                ],
            ];
            pg.table(&f, &[22.0, 63.0, 22.0, 63.0], &rows);
            let chip_top = pg.y;
            if jobs[i].geom.is_some() {
                for (k, chip) in chips.into_iter().enumerate() {
                    let x = MARGIN + k as f32 * (chip_w_mm + 6.0);
                    match chip {
                        Some(jpeg) => {
                            let size = (jpeg.w, jpeg.h);
                            let id = add_jpeg(&mut doc, jpeg);
                            pg.image(&id, x, chip_top, chip_w_mm, size);
                        }
                        None => {
                            pg.rect(x, chip_top, chip_w_mm, chip_w_mm * 0.75, Some(grey(0.8)));
                            pg.text_at(&f, x + 3.0, chip_top + 3.0, 9.0, "影像无法生成 / no image");
                        }
                    }
                }
                pg.y = chip_top + chip_w_mm * 0.75 + 6.0;
            }
            // Field photos, up to four, with captions (their thumbnails are JPEG already).
            let photos = p.photos(Some(r.fid))?;
            if !photos.is_empty() {
                let w = 40.0;
                let top = pg.y;
                for (k, ph) in photos.iter().take(4).enumerate() {
                    let Some(thumb) = p.photo_thumbnail(ph.id)? else { continue };
                    let Some(jpeg) = Jpeg::from_bytes(thumb) else { continue };
                    let (jw, jh) = (jpeg.w, jpeg.h);
                    let id = add_jpeg(&mut doc, jpeg);
                    let x = MARGIN + k as f32 * (w + 2.5);
                    pg.image(&id, x, top, w, (jw, jh));
                    let cap = format!("{} {}", ph.kind, ph.caption);
                    pg.text_at(&f, x, top + w * jh as f32 / jw as f32 + 1.0, 7.0, &cap);
                }
                pg.y = top + 40.0;
            }
            // Attributes that are filled.
            let mut rows = vec![vec!["字段".to_string(), "值".into(), "字段".into(), "值".into()]];
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
            if pg.y + rows.len() as f32 * 6.5 > PAGE_H - MARGIN - 10.0 {
                rows.truncate(((PAGE_H - MARGIN - 10.0 - pg.y) / 6.5).max(1.0) as usize);
            }
            pg.table(&f, &[28.0, 57.0, 28.0, 57.0], &rows);
            pg.text_at(
                &f,
                MARGIN,
                PAGE_H - MARGIN - 6.0,
                10.0,
                &format!(
                    "调查人：{}    调查日期：{}    核查单位：{unit}",
                    value(r, Some("DCRY")),
                    value(r, Some("DCRQ"))
                ),
            );
            pages.push(pg);
        }
        Ok(())
    });
    laid_out?;
    progress.stage("写出 PDF / writing the PDF", 0);
    let total = pages.len();
    let pdf_pages: Vec<PdfPage> = pages
        .into_iter()
        .enumerate()
        .map(|(i, mut pg)| {
            if i > 0 {
                let label = format!("第 {} 页 共 {total} 页", i + 1);
                pg.text_at(&f, PAGE_W / 2.0 - text_width_mm(&label, 9.0) / 2.0, PAGE_H - 12.0, 9.0, &label);
            }
            PdfPage::new(Mm(PAGE_W), Mm(PAGE_H), pg.ops)
        })
        .collect();
    let doc = doc.with_pages(pdf_pages);
    for (name, page) in bookmarks {
        doc.add_bookmark(&name, page);
    }
    let opts = PdfSaveOptions { subset_fonts: true, ..Default::default() };
    Ok(doc.save(&opts, &mut Vec::new()))
}
