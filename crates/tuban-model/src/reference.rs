//! Reference layers (the archives a patch is checked against, DOMAIN §8) as plain data: their
//! kinds, the overlay of one patch with them (area and share per class or feature), the legality
//! hints that overlay gives, and the queue's overlay filter. No I/O: the core reads the layers,
//! computes the overlay and stores it; the window, the report and the CLI show these values.
//!
//! A hint is never a verdict: "covered 96 % by approval 某林审〔2024〕12号" only tells the analyst
//! where to look.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::units::m2_to_mu;

/// What a reference layer is; decides its colour, its hints and which template fields it fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceKind {
    /// Land survey (国土三调, 年度变更调查): land-class parcels (DLTB: DLBM, DLMC).
    Landuse,
    /// Basic grassland (基本草原) and grassland monitoring results.
    BasicGrassland,
    /// Protected areas (自然保护地) with their zones (核心区, 缓冲区, 实验区).
    ProtectedArea,
    /// The ecological red line (生态保护红线).
    RedLine,
    /// Approved construction projects (建设项目征占用审核审批): 审批文号, 审批面积, 批准日期.
    Approval,
    /// Earlier years' verified patches and their cases (向前追溯).
    Earlier,
    /// Anything else.
    Other,
}

/// Every kind, in the order the window and the report list them.
pub const REFERENCE_KINDS: [ReferenceKind; 7] = [
    ReferenceKind::Landuse,
    ReferenceKind::BasicGrassland,
    ReferenceKind::ProtectedArea,
    ReferenceKind::RedLine,
    ReferenceKind::Approval,
    ReferenceKind::Earlier,
    ReferenceKind::Other,
];

impl ReferenceKind {
    /// The code written on the command line and stored in the project (`landuse`, `approval` …).
    pub fn code(self) -> &'static str {
        match self {
            ReferenceKind::Landuse => "landuse",
            ReferenceKind::BasicGrassland => "basic_grassland",
            ReferenceKind::ProtectedArea => "protected_area",
            ReferenceKind::RedLine => "red_line",
            ReferenceKind::Approval => "approval",
            ReferenceKind::Earlier => "earlier",
            ReferenceKind::Other => "other",
        }
    }

    /// The Chinese name.
    pub fn label(self) -> &'static str {
        match self {
            ReferenceKind::Landuse => "国土调查地类",
            ReferenceKind::BasicGrassland => "基本草原",
            ReferenceKind::ProtectedArea => "自然保护地",
            ReferenceKind::RedLine => "生态保护红线",
            ReferenceKind::Approval => "审批项目",
            ReferenceKind::Earlier => "往年核查",
            ReferenceKind::Other => "其他",
        }
    }

    /// The English name.
    pub fn label_en(self) -> &'static str {
        match self {
            ReferenceKind::Landuse => "land survey",
            ReferenceKind::BasicGrassland => "basic grassland",
            ReferenceKind::ProtectedArea => "protected area",
            ReferenceKind::RedLine => "ecological red line",
            ReferenceKind::Approval => "approvals",
            ReferenceKind::Earlier => "earlier years",
            ReferenceKind::Other => "other",
        }
    }

    /// Reads a kind from its code, its Chinese name or a common synonym (`三调`, `红线`, `审批`).
    pub fn parse(text: &str) -> Option<ReferenceKind> {
        let t = text.trim().to_ascii_lowercase().replace('-', "_");
        let by_synonym = match t.as_str() {
            "landuse" | "land_use" | "land_survey" | "dltb" | "三调" | "国土调查" | "变更调查" | "地类" => {
                Some(ReferenceKind::Landuse)
            }
            "grassland" | "jbcy" | "草原" => Some(ReferenceKind::BasicGrassland),
            "protected" | "reserve" | "保护地" | "保护区" => Some(ReferenceKind::ProtectedArea),
            "redline" | "红线" => Some(ReferenceKind::RedLine),
            "approvals" | "审批" | "审批项目" | "建设项目" => Some(ReferenceKind::Approval),
            "earlier_year" | "previous" | "往年" | "上年" => Some(ReferenceKind::Earlier),
            _ => None,
        };
        by_synonym.or_else(|| REFERENCE_KINDS.into_iter().find(|k| k.code() == t || k.label() == text.trim()))
    }

    /// The outline colour (RGB) of the kind on the map and on the report's chips.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            ReferenceKind::Landuse => [255, 214, 10],
            ReferenceKind::BasicGrassland => [80, 220, 100],
            ReferenceKind::ProtectedArea => [255, 64, 160],
            ReferenceKind::RedLine => [255, 40, 40],
            ReferenceKind::Approval => [60, 170, 255],
            ReferenceKind::Earlier => [255, 140, 0],
            ReferenceKind::Other => [200, 200, 200],
        }
    }
}

/// The attribute an earlier tuban project's feature carries when its patch had a closed case.
pub const ATTR_CASE_CLOSED: &str = "结案日期";
/// The attribute holding an earlier feature's case number.
pub const ATTR_CASE: &str = "案件编号";

/// One line of a patch's overlay: the part of the patch (its verified extent when there is one)
/// that falls in one class of a layer (a land class, a protected-area zone, one approval …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverlayRow {
    /// The layer's id in the project.
    pub layer_id: i64,
    /// The layer's kind.
    pub kind: ReferenceKind,
    /// The layer's label (or name), as shown.
    pub layer: String,
    /// The class: the value of the layer's class fields (`天然牧草地`, `某保护区 · 核心区`, an
    /// approval number), or the layer's label when it has no class field.
    pub class: String,
    /// Area of the patch in this class, m² on the ellipsoid.
    pub area_m2: f64,
    /// That area as a share of the patch, %.
    pub share_pct: f64,
    /// How many features of the class the patch touches.
    pub features: u32,
    /// The attributes of the feature with the largest overlap.
    pub attrs: BTreeMap<String, String>,
}

impl OverlayRow {
    /// The area in 亩.
    pub fn area_mu(&self) -> f64 {
        m2_to_mu(self.area_m2)
    }
}

/// Classes below this share are noise from digitising (a shared border drawn twice).
pub const SLIVER_SHARE_PCT: f64 = 0.05;

/// Why a patch deserves a second look at a layer: a hint, never a verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum Hint {
    /// Covered (partly) by an approval polygon.
    Approval {
        /// The approval (its number, or its class).
        approval: String,
        /// Share of the patch inside it, %.
        share_pct: f64,
        /// Area inside it, m².
        area_m2: f64,
    },
    /// Inside a zone of a protected area.
    ProtectedZone {
        /// Protected area and zone (`某自然保护区 · 核心区`).
        zone: String,
        /// Share of the patch inside it, %.
        share_pct: f64,
    },
    /// Inside the ecological red line.
    RedLine {
        /// Share, %.
        share_pct: f64,
    },
    /// In basic grassland.
    BasicGrassland {
        /// Share, %.
        share_pct: f64,
    },
    /// Overlaps an earlier year's patch; with a closed case it may be a rebound (反弹).
    Earlier {
        /// The earlier patch's class (its verdict) and layer.
        what: String,
        /// The closing date of its case, when it had a closed one.
        case_closed: Option<String>,
        /// Share, %.
        share_pct: f64,
    },
}

fn pct(v: f64) -> String {
    if v >= 99.95 {
        "100".into()
    } else if v >= 99.5 {
        format!("{v:.1}")
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

impl Hint {
    /// The hint as a sentence, in Chinese or English.
    pub fn text(&self, en: bool) -> String {
        match (self, en) {
            (Hint::Approval { approval, share_pct, area_m2 }, false) => {
                format!("{} % 位于审批项目 {approval} 范围内（{:.2} 公顷）", pct(*share_pct), area_m2 / 10_000.0)
            }
            (Hint::Approval { approval, share_pct, area_m2 }, true) => {
                format!("covered {} % by approval {approval} ({:.2} ha)", pct(*share_pct), area_m2 / 10_000.0)
            }
            (Hint::ProtectedZone { zone, share_pct }, false) => format!("{} % 位于 {zone}", pct(*share_pct)),
            (Hint::ProtectedZone { zone, share_pct }, true) => format!("{} % in {zone}", pct(*share_pct)),
            (Hint::RedLine { share_pct }, false) => format!("{} % 位于生态保护红线内", pct(*share_pct)),
            (Hint::RedLine { share_pct }, true) => format!("{} % inside the ecological red line", pct(*share_pct)),
            (Hint::BasicGrassland { share_pct }, false) => format!("{} % 位于基本草原", pct(*share_pct)),
            (Hint::BasicGrassland { share_pct }, true) => format!("{} % in basic grassland", pct(*share_pct)),
            (Hint::Earlier { what, case_closed: Some(d), share_pct }, false) => {
                format!("与 {what} 重叠 {} %，其案件已于 {d} 结案（是否反弹？）", pct(*share_pct))
            }
            (Hint::Earlier { what, case_closed: Some(d), share_pct }, true) => {
                format!("overlaps {what} by {} %, a case closed on {d} (rebound?)", pct(*share_pct))
            }
            (Hint::Earlier { what, case_closed: None, share_pct }, false) => {
                format!("与 {what} 重叠 {} %", pct(*share_pct))
            }
            (Hint::Earlier { what, case_closed: None, share_pct }, true) => {
                format!("overlaps {what} by {} %", pct(*share_pct))
            }
        }
    }

    /// True for the hints that speak against legality (a zone, the red line, a rebound).
    pub fn is_warning(&self) -> bool {
        matches!(self, Hint::ProtectedZone { .. } | Hint::RedLine { .. } | Hint::Earlier { case_closed: Some(_), .. })
    }
}

/// The hints of a patch's overlay, in the order of `rows` (approvals and zones by their share).
pub fn hints(rows: &[OverlayRow]) -> Vec<Hint> {
    let mut out = Vec::new();
    let mut sorted: Vec<&OverlayRow> = rows.iter().filter(|r| r.share_pct >= SLIVER_SHARE_PCT).collect();
    sorted.sort_by(|a, b| b.share_pct.total_cmp(&a.share_pct));
    let total = |kind: ReferenceKind| -> f64 {
        sorted.iter().filter(|r| r.kind == kind).map(|r| r.share_pct).sum::<f64>().min(100.0)
    };
    for r in &sorted {
        match r.kind {
            ReferenceKind::Approval => {
                out.push(Hint::Approval { approval: r.class.clone(), share_pct: r.share_pct, area_m2: r.area_m2 })
            }
            ReferenceKind::ProtectedArea => {
                out.push(Hint::ProtectedZone { zone: r.class.clone(), share_pct: r.share_pct })
            }
            ReferenceKind::Earlier => out.push(Hint::Earlier {
                what: format!("{} {}", r.layer, r.class),
                case_closed: r.attrs.get(ATTR_CASE_CLOSED).filter(|d| !d.is_empty()).cloned(),
                share_pct: r.share_pct,
            }),
            _ => {}
        }
    }
    if sorted.iter().any(|r| r.kind == ReferenceKind::RedLine) {
        out.push(Hint::RedLine { share_pct: total(ReferenceKind::RedLine) });
    }
    if sorted.iter().any(|r| r.kind == ReferenceKind::BasicGrassland) {
        out.push(Hint::BasicGrassland { share_pct: total(ReferenceKind::BasicGrassland) });
    }
    out
}

/// The queue's overlay filter: patches that touch every kind in `with` and none in `without`
/// (e.g. "in basic grassland and no approval").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlayFilter {
    /// Kinds the patch must touch.
    pub with: Vec<ReferenceKind>,
    /// Kinds the patch must not touch.
    pub without: Vec<ReferenceKind>,
}

impl OverlayFilter {
    /// True when the filter lets every patch through.
    pub fn is_empty(&self) -> bool {
        self.with.is_empty() && self.without.is_empty()
    }

    /// Whether a patch with these overlay rows passes (slivers do not count as touching).
    pub fn matches(&self, rows: &[OverlayRow]) -> bool {
        let touches = |k: ReferenceKind| rows.iter().any(|r| r.kind == k && r.share_pct >= SLIVER_SHARE_PCT);
        self.with.iter().all(|k| touches(*k)) && !self.without.iter().any(|k| touches(*k))
    }

    /// Reads `basic_grassland,!approval` (a `!` or `-` in front: must not touch).
    pub fn parse(text: &str) -> Option<OverlayFilter> {
        let mut f = OverlayFilter::default();
        for part in text.split([',', '，', ' ']).map(str::trim).filter(|p| !p.is_empty()) {
            match part.strip_prefix(['!', '-', '非']) {
                Some(rest) => f.without.push(ReferenceKind::parse(rest)?),
                None => f.with.push(ReferenceKind::parse(part)?),
            }
        }
        Some(f)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn row(kind: ReferenceKind, class: &str, share_pct: f64, area_m2: f64) -> OverlayRow {
        OverlayRow {
            layer_id: 1,
            kind,
            layer: "层".into(),
            class: class.into(),
            area_m2,
            share_pct,
            features: 1,
            attrs: BTreeMap::new(),
        }
    }

    #[test]
    fn kinds_parse_from_codes_names_and_synonyms() {
        for k in REFERENCE_KINDS {
            assert_eq!(ReferenceKind::parse(k.code()), Some(k));
            assert_eq!(ReferenceKind::parse(k.label()), Some(k));
        }
        assert_eq!(ReferenceKind::parse("三调"), Some(ReferenceKind::Landuse));
        assert_eq!(ReferenceKind::parse("red-line"), Some(ReferenceKind::RedLine));
        assert_eq!(ReferenceKind::parse("parcels"), None);
    }

    #[test]
    fn hints_name_the_approval_the_zone_and_a_rebound() {
        let mut earlier = row(ReferenceKind::Earlier, "违法", 30.0, 100.0);
        earlier.attrs.insert(ATTR_CASE_CLOSED.into(), "2023-06-30".into());
        let rows = vec![
            row(ReferenceKind::Approval, "某林审〔2024〕12号", 96.0, 21_000.0),
            row(ReferenceKind::ProtectedArea, "某自然保护区 · 核心区", 41.0, 9_000.0),
            row(ReferenceKind::Landuse, "天然牧草地", 100.0, 21_875.0),
            row(ReferenceKind::RedLine, "红线", 0.01, 2.0),
            earlier,
        ];
        let texts: Vec<String> = hints(&rows).iter().map(|h| h.text(true)).collect();
        assert_eq!(
            texts,
            [
                "covered 96 % by approval 某林审〔2024〕12号 (2.10 ha)",
                "41 % in 某自然保护区 · 核心区",
                "overlaps 层 违法 by 30 %, a case closed on 2023-06-30 (rebound?)",
            ]
        );
        assert!(hints(&rows)[1].is_warning());
        assert_eq!(hints(&rows)[0].text(false), "96 % 位于审批项目 某林审〔2024〕12号 范围内（2.10 公顷）");
    }

    #[test]
    fn the_filter_keeps_basic_grassland_without_approval() {
        let f = OverlayFilter::parse("basic_grassland,!approval").unwrap();
        let grass = row(ReferenceKind::BasicGrassland, "基本草原", 80.0, 1.0);
        let approval = row(ReferenceKind::Approval, "X", 50.0, 1.0);
        let sliver = row(ReferenceKind::Approval, "X", 0.01, 1.0);
        assert!(f.matches(std::slice::from_ref(&grass)));
        assert!(!f.matches(&[grass.clone(), approval]));
        assert!(f.matches(&[grass, sliver]));
        assert!(!f.matches(&[]));
        assert!(OverlayFilter::parse("parcels").is_none());
    }
}
