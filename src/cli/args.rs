//! Argument parsers for clap (`value_parser = …`): FIELD=VALUE pairs, dates, sizes and
//! coordinate pairs, each refusing bad text with what to write instead.

use chrono::NaiveDate;
use tuban_core::export::Format;
use tuban_core::report::{ChipLayout, Sheets};

/// `FIELD=VALUE` → (FIELD, VALUE); the value keeps its spaces.
pub fn field_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("“{s}”: 应写成 字段=值 / expected FIELD=VALUE")),
    }
}

/// A date as YYYY-MM-DD (or the other forms the model reads).
pub fn date(s: &str) -> Result<NaiveDate, String> {
    tuban_model::value::parse_date(s).ok_or_else(|| format!("“{s}”: 日期应为 YYYY-MM-DD / date must be YYYY-MM-DD"))
}

/// A size in pixels such as `800x600`.
pub fn size_px(s: &str) -> Result<(u32, u32), String> {
    let parsed =
        s.split_once(['x', 'X', '×']).and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
    parsed.filter(|(w, h)| *w > 0 && *h > 0).ok_or_else(|| format!("“{s}”: 应写成 800x600 / write it like 800x600"))
}

/// Two numbers `x,y`.
pub fn xy(s: &str) -> Result<(f64, f64), String> {
    let parsed = s.split_once(',').and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
    parsed.ok_or_else(|| format!("“{s}”: 应写成 x,y / expected x,y"))
}

/// The vertices of a line or polygon.
#[derive(Debug, Clone, PartialEq)]
pub struct Points(pub Vec<(f64, f64)>);

/// The vertices of a line or polygon: `x,y x,y …` (spaces or semicolons between points).
pub fn points(s: &str) -> Result<Points, String> {
    let pts: Vec<(f64, f64)> =
        s.split([' ', ';']).filter(|t| !t.trim().is_empty()).map(xy).collect::<Result<_, _>>()?;
    if pts.len() < 2 {
        return Err(format!("“{s}”: 至少两个顶点，如 \"111.46,41.62 111.47,41.63\" / two vertices at least"));
    }
    Ok(Points(pts))
}

/// `each` or `patch`: how split patches get their report sheets.
pub fn subpatch_sheets(s: &str) -> Result<tuban_core::report::SubpatchSheets, String> {
    tuban_core::report::SubpatchSheets::parse(s).ok_or_else(|| format!("“{s}”: each | patch"))
}

/// Three band numbers `4,3,2`.
pub fn bands(s: &str) -> Result<[u32; 3], String> {
    let v: Vec<u32> = s.split(',').filter_map(|b| b.trim().parse().ok()).collect();
    match v[..] {
        [r, g, b] if r > 0 && g > 0 && b > 0 && s.split(',').count() == 3 => Ok([r, g, b]),
        _ => Err(format!("“{s}”: 需要三个波段号，如 4,3,2 / needs three band numbers, e.g. 4,3,2")),
    }
}

/// Two percentiles `2,98` (low below high).
pub fn stretch(s: &str) -> Result<(f64, f64), String> {
    xy(s)
        .ok()
        .filter(|(lo, hi)| lo < hi && *lo >= 0.0 && *hi <= 100.0)
        .ok_or_else(|| format!("“{s}”: 需要两个百分数，如 2,98 / needs two percentiles, e.g. 2,98"))
}

/// Which patches get a verification sheet: `all`, `illegal`, `none`, or a condition of the
/// template's language (checked against the template when the report starts).
pub fn sheets(s: &str) -> Result<Sheets, String> {
    Ok(match s.trim() {
        "all" => Sheets::All,
        "illegal" => Sheets::Illegal,
        "none" => Sheets::None,
        "" => return Err("--sheets: all, illegal, none 或条件 / or a condition".into()),
        condition => Sheets::Filter(condition.to_string()),
    })
}

/// The report's chip size in mm: `standard` (two 82 mm chips side by side) or `WxH` for two
/// stacked chips of W × H mm (`190x115` is QGIS Atlas's map size).
pub fn chip_size(s: &str) -> Result<ChipLayout, String> {
    if s.trim() == "standard" {
        return Ok(ChipLayout::Standard);
    }
    let (max_w, max_h) = ChipLayout::MAX_STACKED_MM;
    let min = ChipLayout::MIN_STACKED_MM;
    let parsed =
        s.split_once(['x', 'X', '×']).and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
    parsed.and_then(|(w, h)| ChipLayout::stacked(w, h)).ok_or_else(|| {
        format!(
            "“{s}”: 应写成 standard 或 宽x高（毫米，{min}–{max_w} × {min}–{max_h}），如 190x115 / write standard or WxH in mm ({min}-{max_w} × {min}-{max_h}), e.g. 190x115"
        )
    })
}

/// An export format: shp, gpkg, xlsx, csv or photos.
pub fn export_format(s: &str) -> Result<Format, String> {
    Format::parse(s).ok_or_else(|| format!("“{s}”: shp, gpkg, xlsx, csv, photos, qgz"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_take_good_text_and_name_bad_text() {
        assert_eq!(chip_size("190x115"), Ok(ChipLayout::ATLAS));
        assert_eq!(chip_size("standard"), Ok(ChipLayout::Standard));
        assert!(chip_size("300x115").unwrap_err().contains("190x115"));
        assert!(chip_size("190").is_err());
        assert_eq!(field_value("DZ= 某村 北"), Ok(("DZ".into(), " 某村 北".into())));
        assert!(field_value("=x").unwrap_err().contains("FIELD=VALUE"));
        assert!(field_value("HCJG").is_err());
        assert_eq!(date("2025-08-09"), Ok(NaiveDate::from_ymd_opt(2025, 8, 9).unwrap()));
        assert!(date("2025-13-01").unwrap_err().contains("YYYY-MM-DD"));
        assert_eq!(size_px("800×600"), Ok((800, 600)));
        assert!(size_px("800x0").is_err());
        assert_eq!(xy(" 538000, 4610000"), Ok((538000.0, 4610000.0)));
        assert_eq!(bands("4,3,2"), Ok([4, 3, 2]));
        assert!(bands("4,3").is_err() && bands("4,3,2,1").is_err() && bands("0,1,2").is_err());
        assert_eq!(stretch("2,98"), Ok((2.0, 98.0)));
        assert!(stretch("98,2").is_err());
    }
}
