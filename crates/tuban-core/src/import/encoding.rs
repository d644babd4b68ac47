//! Text encoding of delivered data: the `.cpg` file, the DBF code-page byte, or detection from the
//! bytes (GBK vs UTF-8 vs Latin-1) with chardetng, Mozilla's detector (maintained, no tables of
//! our own, small: chosen over a hand-written GBK/Latin-1 heuristic that confuses "éa" with a hanzi).

use std::path::Path;

/// How the encoding of a source was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodingHow {
    /// `--encoding` on the command line (or chosen in the app).
    Override,
    /// Declared in the `.cpg` file.
    Cpg,
    /// Declared by the DBF code-page (language driver) byte.
    CodePageByte(u8),
    /// Detected from the bytes.
    Detected,
    /// Only ASCII text: any encoding reads it the same.
    AsciiOnly,
    /// The format is UTF-8 by definition (GeoPackage, GeoJSON, KML).
    Format,
}

impl EncodingHow {
    /// Chinese and English description.
    pub fn describe(&self) -> String {
        match self {
            EncodingHow::Override => "按参数指定 / as requested".into(),
            EncodingHow::Cpg => "由 .cpg 文件声明 / declared in .cpg".into(),
            EncodingHow::CodePageByte(b) => {
                format!("由 DBF 代码页字节 0x{b:02X} 声明 / declared by the DBF code-page byte")
            }
            EncodingHow::Detected => "未声明，按内容检测 / not declared, detected from the bytes".into(),
            EncodingHow::AsciiOnly => "仅含 ASCII 文本 / ASCII text only".into(),
            EncodingHow::Format => "格式规定为 UTF-8 / UTF-8 by format".into(),
        }
    }
}

/// The encoding chosen for a source: a name GDAL's recoder (iconv) understands, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodingChoice {
    /// iconv name: `CP936`, `UTF-8`, `ISO-8859-1`, ...
    pub name: String,
    /// How it was chosen.
    pub how: EncodingHow,
}

/// Normalises a user- or file-given encoding name to an iconv name; `None` when unknown.
pub fn normalise(name: &str) -> Option<String> {
    let n = name.trim().trim_start_matches("ANSI").trim().to_ascii_uppercase().replace(['_', ' '], "-");
    let n = match n.as_str() {
        "GBK" | "CP936" | "936" | "GB2312" | "CP-936" | "MS936" | "WINDOWS-936" | "EUC-CN" => "CP936",
        "GB18030" | "54936" => "GB18030",
        "UTF-8" | "UTF8" | "65001" => "UTF-8",
        "LATIN1" | "LATIN-1" | "ISO-8859-1" | "ISO8859-1" | "88591" | "8859-1" | "28591" => "ISO-8859-1",
        "CP1252" | "1252" | "WINDOWS-1252" => "CP1252",
        "BIG5" | "CP950" | "950" => "CP950",
        "" => return None,
        other => {
            // Accept any name encoding_rs knows (iconv knows these too).
            return encoding_rs::Encoding::for_label(other.as_bytes()).map(|e| e.name().to_string());
        }
    };
    Some(n.to_string())
}

/// The encoding declared by a DBF language-driver byte (byte 29), for the values seen in practice.
pub fn ldid_encoding(byte: u8) -> Option<&'static str> {
    match byte {
        0x01 => Some("CP437"),
        0x02 => Some("CP850"),
        0x03 => Some("CP1252"),
        0x4D | 0x7A => Some("CP936"),
        0x4E => Some("CP949"),
        0x4F | 0x78 => Some("CP950"),
        0x57 => None, // "ANSI": the writer's system code page, i.e. undeclared.
        0xC8 => Some("CP1250"),
        0xC9 => Some("CP1251"),
        _ => None,
    }
}

/// Decides the encoding of a shapefile's DBF: `.cpg`, then the code-page byte, then detection.
pub fn for_shapefile(shp: &Path) -> std::io::Result<EncodingChoice> {
    for ext in ["cpg", "CPG"] {
        if let Ok(text) = std::fs::read_to_string(shp.with_extension(ext)) {
            if let Some(name) = normalise(&text) {
                return Ok(EncodingChoice { name, how: EncodingHow::Cpg });
            }
        }
    }
    let dbf = ["dbf", "DBF"].iter().map(|e| shp.with_extension(e)).find(|p| p.exists());
    let Some(dbf) = dbf else {
        return Ok(EncodingChoice { name: "UTF-8".into(), how: EncodingHow::AsciiOnly });
    };
    // The header and the first records are enough to decide (see `dbf_text_bytes`).
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(std::fs::File::open(&dbf)?, DBF_SCAN_BYTES), &mut bytes)?;
    if let Some(&ldid) = bytes.get(29) {
        if let Some(name) = ldid_encoding(ldid) {
            return Ok(EncodingChoice { name: name.into(), how: EncodingHow::CodePageByte(ldid) });
        }
    }
    Ok(detect(&dbf_text_bytes(&bytes)))
}

/// Detects the encoding of text bytes: UTF-8 when valid, otherwise chardetng's guess
/// (GBK for Chinese, windows-1252 for Latin text, reported as Latin-1).
pub fn detect(bytes: &[u8]) -> EncodingChoice {
    if bytes.is_ascii() {
        return EncodingChoice { name: "UTF-8".into(), how: EncodingHow::AsciiOnly };
    }
    if std::str::from_utf8(bytes).is_ok() {
        return EncodingChoice { name: "UTF-8".into(), how: EncodingHow::Detected };
    }
    let mut det = chardetng::EncodingDetector::new();
    det.feed(bytes, true);
    let guess = det.guess(None, false);
    let name = if guess == encoding_rs::GBK || guess == encoding_rs::GB18030 {
        "CP936".to_string()
    } else if guess == encoding_rs::WINDOWS_1252 {
        "ISO-8859-1".to_string()
    } else {
        normalise(guess.name()).unwrap_or_else(|| guess.name().to_string())
    };
    EncodingChoice { name, how: EncodingHow::Detected }
}

/// How much of a DBF is read to detect its encoding.
const DBF_SCAN_BYTES: u64 = 4 << 20;

/// Text bytes fed to the detector at most: chardetng is sure of GBK, UTF-8 or Latin-1 long
/// before (and feeding it the whole first megabyte was about a tenth of a 20,000-patch import).
const DETECT_BYTES: usize = 64 << 10;

/// The bytes of a DBF's field names and of the character values that are not plain ASCII (the
/// only ones that tell encodings apart), at most [`DETECT_BYTES`], for detection.
pub fn dbf_text_bytes(dbf: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if dbf.len() < 32 {
        return out;
    }
    let records = u32::from_le_bytes([dbf[4], dbf[5], dbf[6], dbf[7]]) as usize;
    let header_len = u16::from_le_bytes([dbf[8], dbf[9]]) as usize;
    let record_len = u16::from_le_bytes([dbf[10], dbf[11]]) as usize;
    // Field descriptors: 32 bytes each from offset 32 until 0x0D.
    let mut char_fields = Vec::new(); // (offset in record, length)
    let mut offset = 1; // deletion flag
    let mut pos = 32;
    while pos + 32 <= dbf.len().min(header_len) && dbf[pos] != 0x0D {
        let d = &dbf[pos..pos + 32];
        let name_end = d[..11].iter().position(|&b| b == 0).unwrap_or(11);
        out.extend_from_slice(&d[..name_end]);
        out.push(b' ');
        let len = d[16] as usize;
        if d[11] == b'C' {
            char_fields.push((offset, len));
        }
        offset += len;
        pos += 32;
    }
    if record_len == 0 {
        return out;
    }
    for r in 0..records {
        if out.len() > DETECT_BYTES {
            break;
        }
        let start = header_len + r * record_len;
        let Some(rec) = dbf.get(start..start + record_len) else { break };
        for &(o, l) in &char_fields {
            if let Some(v) = rec.get(o..o + l) {
                let trimmed = v.iter().rposition(|&b| b != b' ' && b != 0).map_or(&v[..0], |e| &v[..=e]);
                if !trimmed.is_ascii() {
                    out.extend_from_slice(trimmed);
                    out.push(b' ');
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(normalise("GBK").as_deref(), Some("CP936"));
        assert_eq!(normalise("ANSI 936").as_deref(), Some("CP936"));
        assert_eq!(normalise("utf-8\n").as_deref(), Some("UTF-8"));
        assert_eq!(normalise("88591").as_deref(), Some("ISO-8859-1"));
        assert_eq!(normalise("no-such-encoding"), None);
    }

    #[test]
    fn detects_gbk_utf8_latin1() {
        let (gbk, _, _) = encoding_rs::GBK.encode("锡林郭勒盟正蓝旗桑根达来镇 草原变化图斑 非法占用草原 建设用地");
        assert_eq!(detect(&gbk).name, "CP936");
        assert_eq!(detect("桑根达来镇".as_bytes()).name, "UTF-8");
        let (latin, _, _) = encoding_rs::WINDOWS_1252.encode("Café Müller à la française, Señor Ñandú");
        assert_eq!(detect(&latin).name, "ISO-8859-1");
        assert_eq!(detect(b"plain").how, EncodingHow::AsciiOnly);
    }
}
