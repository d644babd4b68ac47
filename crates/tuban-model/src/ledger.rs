//! The rules of the case / problem ledger (案件台账 / 问题台账, DOMAIN §4-§5) as pure functions over
//! typed values: the workflow steps 问题发现 → 移交查处 → 督促整改 → 移送上报 → 销号, the
//! investigation and rectification states, the rates per township, overdue cases, the criminal
//! threshold (20 亩, or 10 亩 after a penalty for the same within three years: 法释〔2012〕15号),
//! split penalties (拆分处罚) and when a case may be closed. The store reads the facts of each case
//! and calls these; nothing here reads a file or compares a label string.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};

use crate::units::M2_PER_MU;

/// A label that is not one of a code list's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} “{value}” 无效，可选：{allowed} / invalid; choose one of the list")]
pub struct UnknownLabel {
    /// What was being read (查处状态 / investigation …).
    pub what: &'static str,
    /// The text given.
    pub value: String,
    /// The allowed labels, joined with 、.
    pub allowed: String,
}

/// Declares a code list as an enum with its official Chinese labels, in order.
macro_rules! code_list {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($(#[$vdoc:meta])* $variant:ident => $label:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in the official order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The official label (as stored and delivered).
            pub fn label(self) -> &'static str {
                match self {
                    $($name::$variant => $label),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.label())
            }
        }

        impl FromStr for $name {
            type Err = UnknownLabel;

            fn from_str(s: &str) -> Result<Self, UnknownLabel> {
                let s = s.trim();
                Self::ALL.iter().copied().find(|v| v.label() == s).ok_or_else(|| UnknownLabel {
                    what: $what,
                    value: s.to_string(),
                    allowed: Self::ALL.iter().map(|v| v.label()).collect::<Vec<_>>().join("、"),
                })
            }
        }
    };
}

code_list!(
    /// Workflow steps of a case, in order.
    Step, "步骤 / step", {
        /// 问题发现: found.
        Found => "问题发现",
        /// 移交查处: handed to the responsible department.
        HandedOver => "移交查处",
        /// 督促整改: rectification supervised.
        Supervised => "督促整改",
        /// 移送上报: reported upward.
        Reported => "移送上报",
        /// 销号: closed.
        Closed => "销号",
    }
);

impl Step {
    /// The step after this one, if any.
    pub fn next(self) -> Option<Step> {
        let i = Self::ALL.iter().position(|s| *s == self)?;
        Self::ALL.get(i + 1).copied()
    }
}

code_list!(
    /// Investigation status of a case (查处).
    Investigation, "查处状态 / investigation", {
        /// 未立案: not filed.
        NotFiled => "未立案",
        /// 已立案未结案: filed, not concluded.
        Filed => "已立案未结案",
        /// 已结案: concluded.
        Concluded => "已结案",
        /// 非立案处理: handled without filing.
        WithoutFiling => "非立案处理",
        /// 移送司法: referred to the judiciary.
        Referred => "移送司法",
    }
);

impl Investigation {
    /// Counts as 立案 (filed) in the rates: 已立案未结案, 已结案, 移送司法.
    pub fn is_filed(self) -> bool {
        matches!(self, Investigation::Filed | Investigation::Concluded | Investigation::Referred)
    }
}

code_list!(
    /// Rectification status of a case (整改).
    Rectification, "整改状态 / rectification", {
        /// 未整改.
        NotStarted => "未整改",
        /// 整改中.
        InProgress => "整改中",
        /// 已整改到位.
        Done => "已整改到位",
    }
);

/// Illegal area from which a case is suspected of a crime (法释〔2012〕15号: 20 亩).
pub const CRIMINAL_THRESHOLD_M2: f64 = 20.0 * M2_PER_MU;
/// The threshold when the party was penalised for the same conduct within three years: 10 亩.
pub const CRIMINAL_THRESHOLD_REPEAT_M2: f64 = 10.0 * M2_PER_MU;
/// Cases of one party whose patches lie closer than this are checked for split penalties.
pub const SPLIT_DISTANCE_M: f64 = 500.0;

/// What the rules need to know of one case, read by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseFacts {
    /// Case number.
    pub number: String,
    /// Party (当事人 / 用地单位), as typed.
    pub party: String,
    /// Township of its first patch (empty when unknown).
    pub township: String,
    /// Current step.
    pub step: Step,
    /// Investigation status.
    pub investigation: Investigation,
    /// Rectification status.
    pub rectification: Rectification,
    /// Penalty document number (empty when none).
    pub penalty_doc: String,
    /// Fine in yuan.
    pub fine_yuan: Option<f64>,
    /// Rectification deadline.
    pub deadline: Option<NaiveDate>,
    /// When the case was found (its 问题发现 step).
    pub found_on: Option<NaiveDate>,
    /// An earlier penalty outside the project, recorded by hand (empty when none).
    pub prior_penalty: String,
    /// Illegal area of all its patches in m².
    pub illegal_area_m2: f64,
    /// Centre points of its patches (lon, lat in degrees).
    pub centres_lonlat: Vec<(f64, f64)>,
}

impl CaseFacts {
    /// Whether the case carries a penalty of its own (a document number or a fine).
    pub fn is_penalised(&self) -> bool {
        !self.penalty_doc.trim().is_empty() || self.fine_yuan.is_some_and(|f| f > 0.0)
    }
}

/// Counts and rates of one township (or the total).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rates {
    /// 违法宗数: cases.
    pub cases: usize,
    /// 违法面积 in m².
    pub illegal_area_m2: f64,
    /// 立案 (filed: 已立案未结案, 已结案, 移送司法).
    pub filed: usize,
    /// 已结案.
    pub concluded: usize,
    /// 非立案处理.
    pub handled_without_filing: usize,
    /// 已整改到位 or 非立案处理 (a case counted once).
    pub rectified: usize,
}

impl Rates {
    fn ratio(a: usize, b: usize) -> Option<f64> {
        (b > 0).then(|| a as f64 / b as f64)
    }

    /// Counts one case.
    pub fn add(&mut self, c: &CaseFacts) {
        self.cases += 1;
        self.illegal_area_m2 += c.illegal_area_m2;
        self.filed += usize::from(c.investigation.is_filed());
        self.concluded += usize::from(c.investigation == Investigation::Concluded);
        self.handled_without_filing += usize::from(c.investigation == Investigation::WithoutFiling);
        self.rectified +=
            usize::from(c.rectification == Rectification::Done || c.investigation == Investigation::WithoutFiling);
    }

    /// 查处到位率 = (已结案 + 非立案处理) ÷ 违法宗数.
    pub fn investigation_rate(&self) -> Option<f64> {
        Self::ratio(self.concluded + self.handled_without_filing, self.cases)
    }
    /// 整改到位率 = (已整改到位 + 非立案处理) ÷ 违法宗数 (a case counted once).
    pub fn rectification_rate(&self) -> Option<f64> {
        Self::ratio(self.rectified, self.cases)
    }
    /// 立案率 = 立案 ÷ 违法宗数.
    pub fn filing_rate(&self) -> Option<f64> {
        Self::ratio(self.filed, self.cases)
    }
    /// 结案率 = 结案 ÷ 立案.
    pub fn conclusion_rate(&self) -> Option<f64> {
        Self::ratio(self.concluded, self.filed)
    }
}

/// A case at the criminal threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct CriminalFlag {
    /// Case number.
    pub number: String,
    /// Illegal area in m².
    pub area_m2: f64,
    /// The penalty within three years that lowered the threshold to 10 亩 (document or case number).
    pub prior_penalty: Option<String>,
}

/// The ledger: rates per township and in total, and the cases needing attention.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    /// Per township.
    pub by_township: BTreeMap<String, Rates>,
    /// All cases.
    pub total: Rates,
    /// Past the deadline and not closed: (case number, deadline).
    pub overdue: Vec<(String, NaiveDate)>,
    /// At or above the criminal threshold and not referred.
    pub criminal: Vec<CriminalFlag>,
    /// Groups of cases of one party on neighbouring patches (possible split penalties).
    pub split_penalties: Vec<Vec<String>>,
    /// Illegal patches not yet in any case (filled by the store, which knows the verdicts).
    pub illegal_without_case: Vec<String>,
}

impl Ledger {
    /// The rows of the rates table: each township in order (`Some("")` when the township is not
    /// filled in), then the total (`None`). Every table of rates (screen, spreadsheet, report,
    /// command line) is built from these rows.
    pub fn rows(&self) -> impl Iterator<Item = (Option<&str>, &Rates)> {
        self.by_township.iter().map(|(t, r)| (Some(t.as_str()), r)).chain(std::iter::once((None, &self.total)))
    }
}

/// The ledger of a set of cases on `today`.
pub fn ledger(cases: &[CaseFacts], today: NaiveDate) -> Ledger {
    let mut l = Ledger::default();
    for c in cases {
        l.by_township.entry(c.township.clone()).or_default().add(c);
        l.total.add(c);
        if let Some(d) = c.deadline.filter(|d| *d < today && c.step != Step::Closed) {
            l.overdue.push((c.number.clone(), d));
        }
        if c.investigation != Investigation::Referred {
            l.criminal.extend(criminal_flag(c, cases));
        }
    }
    l.split_penalties = split_penalties(cases);
    l
}

/// Whether a case reaches the criminal threshold: 20 亩, or 10 亩 when the party was penalised
/// for the same within three years ([`prior_penalty`]). Referral is not considered here.
pub fn criminal_flag(c: &CaseFacts, cases: &[CaseFacts]) -> Option<CriminalFlag> {
    if c.illegal_area_m2 < CRIMINAL_THRESHOLD_REPEAT_M2 {
        return None;
    }
    let prior = prior_penalty(c, cases);
    let reached = c.illegal_area_m2 >= CRIMINAL_THRESHOLD_M2 || prior.is_some();
    reached.then(|| CriminalFlag { number: c.number.clone(), area_m2: c.illegal_area_m2, prior_penalty: prior })
}

/// A penalty of the same party for the same conduct within the three years before `c` was
/// found: the one recorded by hand on the case, else another case of the party with a penalty
/// document or a fine, found before `c` and no more than three years earlier.
pub fn prior_penalty(c: &CaseFacts, cases: &[CaseFacts]) -> Option<String> {
    if !c.prior_penalty.trim().is_empty() {
        return Some(c.prior_penalty.trim().to_string());
    }
    let party = c.party.trim();
    let found = c.found_on?;
    if party.is_empty() {
        return None;
    }
    let three_years_before = found.with_year(found.year() - 3).unwrap_or(found);
    cases
        .iter()
        .filter(|o| o.number != c.number && o.party.trim() == party && o.is_penalised())
        .find(|o| o.found_on.is_some_and(|then| then < found && then >= three_years_before))
        .map(|o| {
            if o.penalty_doc.trim().is_empty() {
                o.number.clone()
            } else {
                format!("{}（{}）", o.penalty_doc.trim(), o.number)
            }
        })
}

/// Local metres of a patch centre about its own latitude: enough to tell whether two centres
/// lie within a few hundred metres.
fn local_m((lon, lat): (f64, f64)) -> (f64, f64) {
    let p = crate::geometry::local_m(lon, lat, lat);
    (p.x(), p.y())
}

/// Groups of cases of one party (two or more) on patches closer than [`SPLIT_DISTANCE_M`]:
/// one offence possibly split into several small penalties.
pub fn split_penalties(cases: &[CaseFacts]) -> Vec<Vec<String>> {
    let mut by_party: BTreeMap<&str, Vec<&CaseFacts>> = BTreeMap::new();
    for c in cases.iter().filter(|c| !c.party.trim().is_empty()) {
        by_party.entry(c.party.trim()).or_default().push(c);
    }
    let near = |a: &CaseFacts, b: &CaseFacts| {
        a.centres_lonlat.iter().map(|p| local_m(*p)).any(|(ax, ay)| {
            b.centres_lonlat.iter().map(|p| local_m(*p)).any(|(bx, by)| (ax - bx).hypot(ay - by) < SPLIT_DISTANCE_M)
        })
    };
    let mut groups = Vec::new();
    for group in by_party.values().filter(|g| g.len() > 1) {
        let mut linked: Vec<String> = Vec::new();
        for (i, a) in group.iter().enumerate() {
            for b in group[i + 1..].iter().filter(|b| near(a, b)) {
                for n in [&a.number, &b.number] {
                    if !linked.contains(n) {
                        linked.push(n.clone());
                    }
                }
            }
        }
        if linked.len() > 1 {
            groups.push(linked);
        }
    }
    groups
}

/// A settled case: closed (销号) or rectified (已整改到位). A new change patch over one of its
/// patches is a rebound (反弹, DOMAIN §4).
pub fn is_settled(step: Step, rectification: Rectification) -> bool {
    step == Step::Closed || rectification == Rectification::Done
}

/// Why a case may not be closed (销号).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseRefusal {
    /// Not yet 已整改到位.
    NotRectified(Rectification),
    /// No evidence of the rectification (photos of its patches, attachments).
    NoEvidence,
}

/// Whether a case with this rectification status and `evidence` items may be closed: only after
/// 已整改到位 and with at least one piece of evidence (DOMAIN §4).
pub fn may_close(rectification: Rectification, evidence: usize) -> Result<(), CloseRefusal> {
    if rectification != Rectification::Done {
        return Err(CloseRefusal::NotRectified(rectification));
    }
    if evidence == 0 {
        return Err(CloseRefusal::NoEvidence);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn case(number: &str, party: &str, town: &str, area_mu: f64) -> CaseFacts {
        CaseFacts {
            number: number.into(),
            party: party.into(),
            township: town.into(),
            step: Step::Found,
            investigation: Investigation::NotFiled,
            rectification: Rectification::NotStarted,
            penalty_doc: String::new(),
            fine_yuan: None,
            deadline: None,
            found_on: Some(date("2025-06-01")),
            prior_penalty: String::new(),
            illegal_area_m2: area_mu * M2_PER_MU,
            centres_lonlat: vec![(111.0, 41.6)],
        }
    }

    #[test]
    fn labels_round_trip_and_unknown_labels_name_the_choices() {
        for s in Step::ALL {
            assert_eq!(s.label().parse::<Step>(), Ok(*s));
        }
        assert_eq!(" 已结案 ".parse::<Investigation>(), Ok(Investigation::Concluded));
        let e = "大概".parse::<Investigation>().unwrap_err();
        assert!(e.to_string().contains("未立案、已立案未结案、已结案、非立案处理、移送司法"), "{e}");
        assert_eq!(Step::Reported.next(), Some(Step::Closed));
        assert_eq!(Step::Closed.next(), None);
    }

    /// Four cases in two townships, rates worked out by hand from DOMAIN §5:
    /// A 乙 已结案 已整改到位 · B 乙 非立案处理 未整改 · C 乙 已立案未结案 整改中 · D 丙 未立案 未整改.
    #[test]
    fn rates_follow_the_published_formulas() {
        let mut a = case("A", "", "乙", 1.0);
        a.investigation = Investigation::Concluded;
        a.rectification = Rectification::Done;
        let mut b = case("B", "", "乙", 2.0);
        b.investigation = Investigation::WithoutFiling;
        let mut c = case("C", "", "乙", 3.0);
        c.investigation = Investigation::Filed;
        c.rectification = Rectification::InProgress;
        let d = case("D", "", "丙", 4.0);
        let l = ledger(&[a, b, c, d], date("2025-07-01"));
        let yi = &l.by_township["乙"];
        assert_eq!((yi.cases, yi.filed, yi.concluded, yi.handled_without_filing, yi.rectified), (3, 2, 1, 1, 2));
        // 查处到位率 (1 + 1) / 3; 整改到位率 (1 + 1) / 3; 立案率 2 / 3; 结案率 1 / 2.
        assert_eq!(yi.investigation_rate(), Some(2.0 / 3.0));
        assert_eq!(yi.rectification_rate(), Some(2.0 / 3.0));
        assert_eq!(yi.filing_rate(), Some(2.0 / 3.0));
        assert_eq!(yi.conclusion_rate(), Some(0.5));
        let bing = &l.by_township["丙"];
        assert_eq!((bing.investigation_rate(), bing.conclusion_rate()), (Some(0.0), None));
        assert_eq!(l.total.cases, 4);
        assert!((l.total.illegal_area_m2 - 10.0 * M2_PER_MU).abs() < 1e-6);
        assert_eq!(Rates::default().investigation_rate(), None);
    }

    #[test]
    fn a_case_past_its_deadline_is_overdue_until_closed() {
        let mut a = case("A", "", "乙", 1.0);
        a.deadline = Some(date("2025-06-30"));
        let mut b = a.clone();
        b.number = "B".into();
        b.step = Step::Closed;
        let mut c = a.clone();
        c.number = "C".into();
        c.deadline = Some(date("2025-07-01"));
        let l = ledger(&[a, b, c], date("2025-07-01"));
        assert_eq!(l.overdue, vec![("A".to_string(), date("2025-06-30"))]);
    }

    #[test]
    fn twenty_mu_is_criminal_ten_only_after_a_penalty_within_three_years() {
        let big = case("BIG", "甲", "乙", 20.0);
        let just_below = case("LOW", "丙", "乙", 19.99);
        let cases = [big.clone(), just_below.clone()];
        assert!(criminal_flag(&big, &cases).is_some());
        assert!(criminal_flag(&just_below, &cases).is_none());
        // 12 亩 by 丁, who was fined in a case found 2 years 11 months earlier.
        let now = case("NOW", "丁", "乙", 12.0);
        let mut earlier = case("OLD", "丁", "乙", 1.0);
        earlier.found_on = Some(date("2022-07-01"));
        earlier.fine_yuan = Some(3000.0);
        let f = criminal_flag(&now, &[now.clone(), earlier.clone()]).unwrap();
        assert_eq!(f.prior_penalty.as_deref(), Some("OLD"));
        // Found 3 years and a day earlier: outside the window.
        earlier.found_on = Some(date("2022-05-31"));
        assert!(criminal_flag(&now, &[now.clone(), earlier.clone()]).is_none());
        // Within the window but without a penalty: no.
        earlier.found_on = Some(date("2024-01-01"));
        earlier.fine_yuan = None;
        assert!(criminal_flag(&now, &[now.clone(), earlier.clone()]).is_none());
        // A penalty document names itself and the case.
        earlier.penalty_doc = "示林罚〔2024〕1号".into();
        assert_eq!(prior_penalty(&now, &[now.clone(), earlier.clone()]).as_deref(), Some("示林罚〔2024〕1号（OLD）"));
        // Below 10 亩 nothing counts; a penalty recorded by hand counts.
        let small = CaseFacts { prior_penalty: "邻县林罚〔2024〕9号".into(), ..case("S", "戊", "乙", 9.9) };
        assert!(criminal_flag(&small, std::slice::from_ref(&small)).is_none());
        let hand = CaseFacts { illegal_area_m2: 10.0 * M2_PER_MU, ..small };
        assert_eq!(
            criminal_flag(&hand, std::slice::from_ref(&hand)).unwrap().prior_penalty.as_deref(),
            Some("邻县林罚〔2024〕9号")
        );
    }

    #[test]
    fn referred_cases_leave_the_criminal_list() {
        let mut big = case("BIG", "甲", "乙", 25.0);
        assert_eq!(ledger(std::slice::from_ref(&big), date("2025-07-01")).criminal.len(), 1);
        big.investigation = Investigation::Referred;
        assert!(ledger(&[big], date("2025-07-01")).criminal.is_empty());
    }

    /// At 41.6°N one degree of longitude is 111,320 × cos(41.6°) ≈ 83,260 m: 0.005° ≈ 416 m
    /// (split), 0.007° ≈ 583 m (not split).
    #[test]
    fn cases_of_one_party_within_500_m_are_a_possible_split_penalty() {
        let a = case("A", "甲", "乙", 5.0);
        let b = CaseFacts { centres_lonlat: vec![(111.005, 41.6)], ..case("B", "甲", "乙", 5.0) };
        let far = CaseFacts { centres_lonlat: vec![(111.007, 41.6)], ..case("C", "甲", "乙", 5.0) };
        let other_party = CaseFacts { centres_lonlat: vec![(111.001, 41.6)], ..case("D", "乙公司", "乙", 5.0) };
        assert_eq!(split_penalties(&[a.clone(), b, other_party.clone()]), vec![vec!["A".to_string(), "B".to_string()]]);
        assert!(split_penalties(&[a.clone(), far]).is_empty());
        let no_party = CaseFacts { party: " ".into(), ..a.clone() };
        assert!(split_penalties(&[no_party.clone(), no_party]).is_empty());
    }

    #[test]
    fn closed_or_rectified_cases_are_settled() {
        assert!(is_settled(Step::Closed, Rectification::InProgress));
        assert!(is_settled(Step::Supervised, Rectification::Done));
        assert!(!is_settled(Step::Reported, Rectification::InProgress));
    }

    #[test]
    fn closure_needs_rectification_and_evidence() {
        assert_eq!(may_close(Rectification::InProgress, 3), Err(CloseRefusal::NotRectified(Rectification::InProgress)));
        assert_eq!(may_close(Rectification::Done, 0), Err(CloseRefusal::NoEvidence));
        assert_eq!(may_close(Rectification::Done, 1), Ok(()));
    }
}
