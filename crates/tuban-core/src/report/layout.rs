//! Page layout of the report: A4 in millimetres from the top left, a page builder that places
//! text, wrapped paragraphs, boxes, tables and images, and JPEG images embedded as they are.

use std::collections::BTreeMap;

use printpdf::{
    Color, LinePoint, Mm, Op, PdfDocument, PdfFontHandle, Point, Polygon, PolygonRing, Pt, Rgb, TextItem, WindingOrder,
    XObjectTransform,
};

pub(super) const PAGE_W: f32 = 210.0;
pub(super) const PAGE_H: f32 = 297.0;
pub(super) const MARGIN: f32 = 20.0;

/// A QR code of `text` marked as UTF-8 (ECI 26), so scanners do not guess another encoding for
/// the Chinese of a project or county name; the smallest version that holds it, error level M.
fn utf8_qr(text: &str) -> Option<qrcode::QrCode> {
    use qrcode::{bits::Bits, EcLevel, Version};
    (1..=40).find_map(|v| {
        let mut bits = Bits::new(Version::Normal(v));
        bits.push_eci_designator(26).ok()?;
        bits.push_byte_data(text.as_bytes()).ok()?;
        bits.push_terminator(EcLevel::M).ok()?;
        qrcode::QrCode::with_bits(bits, EcLevel::M).ok()
    })
}

/// Font size and row height of a table, and whether its first row is a shaded header.
pub(super) struct TableStyle {
    pub(super) size_pt: f32,
    pub(super) row_mm: f32,
    /// From a row's top to its text's top.
    pub(super) text_mm: f32,
    pub(super) header: bool,
}

impl TableStyle {
    /// The report's tables: 9 pt in 6.5 mm rows under a header.
    pub(super) const NORMAL: TableStyle = TableStyle { size_pt: 9.0, row_mm: 6.5, text_mm: 1.4, header: true };
    /// The stacked sheet's facts: 8 pt in 5.2 mm rows, no header.
    pub(super) const COMPACT: TableStyle = TableStyle { size_pt: 8.0, row_mm: 5.2, text_mm: 1.1, header: false };
}

/// One page being laid out, top to bottom (y in mm from the top).
pub(super) struct PageBuilder {
    pub(super) ops: Vec<Op>,
    pub(super) y: f32,
}

fn black() -> Color {
    Color::Rgb(Rgb { r: 0.0, g: 0.0, b: 0.0, icc_profile: None })
}

pub(super) fn grey(v: f32) -> Color {
    Color::Rgb(Rgb { r: v, g: v, b: v, icc_profile: None })
}

/// Approximate width of text in mm at `size` pt (CJK full width, Latin half).
pub(super) fn text_width_mm(text: &str, size: f32) -> f32 {
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
    pub(super) fn new() -> PageBuilder {
        PageBuilder { ops: Vec::new(), y: MARGIN }
    }

    pub(super) fn text_at(&mut self, font: &printpdf::FontId, x: f32, y_top: f32, size: f32, text: &str) {
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
    pub(super) fn para(&mut self, font: &printpdf::FontId, size: f32, text: &str) {
        for line in wrap(text, size, PAGE_W - 2.0 * MARGIN) {
            self.text_at(font, MARGIN, self.y, size, &line);
            self.y += size * 0.3528 * 1.6;
        }
    }

    pub(super) fn rect(&mut self, x: f32, y_top: f32, w: f32, h: f32, fill: Option<Color>) {
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

    /// A QR code of `text`, `size_mm` square, its top left at (`x`, `y_top`): dark modules as
    /// filled black rectangles (one per run of a row), a white quiet zone of four modules.
    /// Nothing is drawn if the text is too long for a QR code.
    pub(super) fn qr(&mut self, text: &str, x: f32, y_top: f32, size_mm: f32) {
        let Some(code) = utf8_qr(text) else { return };
        let n = code.width();
        let colors = code.to_colors();
        let module = size_mm / (n + 8) as f32;
        let (x0, y0) = (x + 4.0 * module, y_top + 4.0 * module);
        self.ops.push(Op::SetFillColor { col: black() });
        for row in 0..n {
            let mut col = 0;
            while col < n {
                if colors.get(row * n + col) != Some(&qrcode::Color::Dark) {
                    col += 1;
                    continue;
                }
                let start = col;
                while colors.get(row * n + col) == Some(&qrcode::Color::Dark) && col < n {
                    col += 1;
                }
                let (rx, ry) = (x0 + start as f32 * module, y0 + row as f32 * module);
                let (w, h) = ((col - start) as f32 * module, module);
                let pts = [(rx, ry), (rx + w, ry), (rx + w, ry + h), (rx, ry + h)];
                let ring = PolygonRing {
                    points: pts
                        .iter()
                        .map(|(a, b)| LinePoint { p: Point::new(Mm(*a), Mm(PAGE_H - b)), bezier: false })
                        .collect(),
                };
                self.ops.push(Op::DrawPolygon {
                    polygon: Polygon {
                        rings: vec![ring],
                        mode: printpdf::PaintMode::Fill,
                        winding_order: WindingOrder::NonZero,
                    },
                });
            }
        }
    }

    /// A table at the cursor: the first row is the header; widths in mm.
    pub(super) fn table(&mut self, font: &printpdf::FontId, widths: &[f32], rows: &[Vec<String>]) {
        self.table_at(font, MARGIN, widths, rows, &TableStyle::NORMAL);
        self.y += 4.0;
    }

    /// A table at the cursor with its left edge at `x` mm, in `style`.
    pub(super) fn table_at(
        &mut self,
        font: &printpdf::FontId,
        x: f32,
        widths: &[f32],
        rows: &[Vec<String>],
        style: &TableStyle,
    ) {
        let (size, h) = (style.size_pt, style.row_mm);
        for (r, row) in rows.iter().enumerate() {
            let mut cx = x;
            for (c, w) in widths.iter().enumerate() {
                self.rect(cx, self.y, *w, h, if r == 0 && style.header { Some(grey(0.88)) } else { None });
                let cell = row.get(c).cloned().unwrap_or_default();
                let mut shown = cell.clone();
                while text_width_mm(&shown, size) > w - 2.0 && !shown.is_empty() {
                    shown.pop();
                }
                self.text_at(font, cx + 1.0, self.y + style.text_mm, size, &shown);
                cx += w;
            }
            self.y += h;
        }
    }

    pub(super) fn image(&mut self, id: &printpdf::XObjectId, x: f32, y_top: f32, w_mm: f32, px: (u32, u32)) {
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

/// A JPEG image kept as its bytes: the PDF embeds it as it is (DCTDecode), so encoding happens on
/// the chip workers and not in the single-threaded save.
pub(super) struct Jpeg {
    bytes: Vec<u8>,
    pub(super) w: u32,
    pub(super) h: u32,
}

/// JPEG quality of the chips: 82 keeps outlines and field boundaries sharp at ~45 KB per chip.
const CHIP_JPEG_QUALITY: i32 = 82;

thread_local! {
    /// This thread's TurboJPEG compressor (made once per chip worker, not once per chip).
    static COMPRESSOR: std::cell::RefCell<Option<turbojpeg::Compressor>> = const { std::cell::RefCell::new(None) };
}

impl Jpeg {
    /// Encodes with libjpeg-turbo (SIMD colour conversion, DCT and Huffman coding; 2.6-3.0× the
    /// speed of jpeg-encoder's AVX2 path on a 1122 × 679 chip here, at the same size) from the
    /// RGBA pixels as they are, chroma subsampled 2 × 2.
    pub(super) fn encode(img: &image::RgbaImage) -> Option<Jpeg> {
        let (w, h) = (img.width() as usize, img.height() as usize);
        COMPRESSOR.with(|cell| {
            let mut cell = cell.borrow_mut();
            if cell.is_none() {
                let mut c = turbojpeg::Compressor::new().ok()?;
                c.set_quality(CHIP_JPEG_QUALITY);
                c.set_subsamp(turbojpeg::Subsamp::Sub2x2);
                *cell = Some(c);
            }
            let c = cell.as_mut()?;
            let image = turbojpeg::Image {
                pixels: img.as_raw().as_slice(),
                width: w,
                pitch: w * 4,
                height: h,
                format: turbojpeg::PixelFormat::RGBA,
            };
            let bytes = c.compress_to_vec(image).ok()?;
            Some(Jpeg { bytes, w: img.width(), h: img.height() })
        })
    }

    /// A JPEG made elsewhere (photo thumbnails); `None` unless it is an 8-bit RGB JPEG.
    pub(super) fn from_bytes(bytes: Vec<u8>) -> Option<Jpeg> {
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
pub(super) fn add_jpeg(doc: &mut PdfDocument, jpeg: Jpeg) -> printpdf::XObjectId {
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
