//! The chapters of the report before the appendix: the cover, then sections 1 to 3 (situation,
//! method, result tables) on one page and sections 4 to 6 (ledger rates, spot-check, problems)
//! on the next, one function per section.

use std::collections::BTreeMap;

use tuban_model::units::{m2_to_ha, m2_to_mu};

use super::layout::{PageBuilder, MARGIN, PAGE_W};
use super::{value, Doc, ReportError, ReportOptions};
use crate::store::{ImagerySource, PatchRecord, ProjectMeta, ProjectSummary, ReportText};

/// Counts and areas of `records` grouped by `key`.
fn counts_by<F: Fn(&PatchRecord) -> String>(records: &[PatchRecord], key: F) -> BTreeMap<String, (usize, f64)> {
    let mut m: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for r in records {
        let e = m.entry(key(r)).or_default();
        e.0 += 1;
        e.1 += r.area_m2;
    }
    m
}

/// A rate as a percentage with one decimal, `—` when there is nothing to divide by.
fn pct(r: Option<f64>) -> String {
    r.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "—".into())
}

/// The cover page.
pub(super) fn cover(doc: &mut Doc<'_>, meta: &ProjectMeta) {
    let (f, county) = (&doc.font, &doc.county);
    let mut pg = PageBuilder::new();
    pg.y = 90.0;
    pg.text_at(f, MARGIN, pg.y, 22.0, &format!("{county}{}年度", meta.year));
    pg.y += 14.0;
    pg.text_at(f, MARGIN, pg.y, 22.0, meta.programme.label());
    pg.y += 14.0;
    pg.text_at(f, MARGIN, pg.y, 22.0, "自查报告");
    pg.y = 200.0;
    for line in [
        format!("县（市、区、旗）：{county}（{}）", meta.county_code),
        format!("监测年度：{}", meta.year),
        format!("编制单位：{}", doc.unit),
        format!("编制日期：{}", chrono::Local::now().format("%Y年%m月%d日")),
    ] {
        pg.text_at(f, MARGIN + 10.0, pg.y, 13.0, &line);
        pg.y += 9.0;
    }
    doc.bookmarks.push(("封面".into(), 1));
    doc.pages.push(pg);
}

/// When the project is sealed: the receipt's essentials (project, county, year, digest) as a QR
/// code on the cover, and a last page with the seal and the same QR code.
pub(super) fn seal_marks(doc: &mut Doc<'_>, meta: &ProjectMeta) -> Result<(), ReportError> {
    let Some(seal) = doc.p.seal_in_force()? else { return Ok(()) };
    let file = doc.p.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let text = crate::receipt::qr_text(
        &file,
        &meta.county_code,
        &meta.county_name,
        meta.year,
        &seal.digest,
        seal.digest_version,
    );
    let f = doc.font.clone();
    if let Some(cover) = doc.pages.first_mut() {
        let (x, y) = (PAGE_W - MARGIN - 40.0, 230.0);
        cover.qr(&text, x, y, 40.0);
        cover.text_at(&f, x + 2.0, y + 41.0, 8.0, &format!("封库回执 {}…", &seal.digest[..16.min(seal.digest.len())]));
    }
    let mut pg = PageBuilder::new();
    doc.heading(&mut pg, "封库信息");
    for line in [
        format!("项目文件：{file}"),
        format!("县（市、区、旗）：{}（{}）  监测年度：{}", doc.county, meta.county_code, meta.year),
        format!("封库时间（UTC）：{}  封库人：{}", seal.sealed_at, seal.user),
        format!("摘要（SHA-256，第 {} 版）：", seal.digest_version),
        seal.digest.clone(),
        "省级留存的封库回执（*.封库回执.*.json）可用 tuban verify --receipt 核对本项目数据。".to_string(),
    ] {
        pg.text_at(&f, MARGIN, pg.y, 10.0, &line);
        pg.y += 7.0;
    }
    pg.qr(&text, MARGIN, pg.y + 4.0, 60.0);
    doc.pages.push(pg);
    Ok(())
}

/// Sections 1 to 6 on two pages; returns the project's imagery (the sheets use it).
pub(super) fn chapters(
    doc: &mut Doc<'_>,
    meta: &ProjectMeta,
    records: &[PatchRecord],
    opts: &ReportOptions,
) -> Result<Vec<ImagerySource>, ReportError> {
    let mut pg = PageBuilder::new();
    let summary = doc.p.summary()?;
    situation(doc, &mut pg, meta, &summary)?;
    let imagery = method(doc, &mut pg, opts)?;
    results(doc, &mut pg, records, &summary);
    super::reference::section_tables(doc, &mut pg, records)?;
    doc.pages.push(pg);
    let mut pg = PageBuilder::new();
    ledger(doc, &mut pg)?;
    spot_check(doc, &mut pg)?;
    problems(doc, &mut pg, opts)?;
    doc.pages.push(pg);
    Ok(imagery)
}

/// Section 1: where the patches came from and how far the review is.
fn situation(
    doc: &mut Doc<'_>,
    pg: &mut PageBuilder,
    meta: &ProjectMeta,
    summary: &ProjectSummary,
) -> Result<(), ReportError> {
    doc.heading(pg, "一、任务来源与基本情况");
    let batches = doc.p.batches()?;
    let reviewed = summary.by_status.iter().filter(|(k, _)| k.is_reviewed()).map(|(_, v)| v.count).sum::<usize>();
    pg.para(&doc.font, 11.0, &format!(
        "{}年度，上级下发本{}变化图斑{}个（含细斑{}个），总面积{:.2}公顷（{:.2}亩），共{}批次。截至报告编制时，已核查{}个，未核查{}个。",
        meta.year,
        "县",
        summary.total.count,
        summary.sub_patches,
        m2_to_ha(summary.total.area_m2),
        m2_to_mu(summary.total.area_m2),
        batches.len(),
        reviewed,
        summary.by_status.get(&tuban_model::ReviewStatus::Unreviewed).map_or(0, |t| t.count)
    ));
    pg.y += 4.0;
    Ok(())
}

/// Section 2: staff, imagery and method; this report's text, else the project's, else a default.
fn method(doc: &mut Doc<'_>, pg: &mut PageBuilder, opts: &ReportOptions) -> Result<Vec<ImagerySource>, ReportError> {
    doc.heading(pg, "二、工作组织与方法");
    let imagery = doc.p.imagery()?;
    let sources = imagery
        .iter()
        .map(|s| format!("{} {}", s.title(), s.acquired.map(|d| d.to_string()).unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("、");
    let default_method = format!(
        "{}组织技术人员，采用前后时相高分辨率遥感影像对比判读（{sources}），结合审批档案、国土调查成果和保护地边界等资料开展内业核查；对内业无法确定的图斑开展外业核实并拍摄现场照片。核查成果经内部质量检查和抽查复核后封库上报。",
        doc.unit
    );
    let method = match &opts.method_text {
        Some(t) => Some(t.clone()),
        None => doc.p.report_text(ReportText::Method)?,
    };
    pg.para(&doc.font, 11.0, method.as_deref().unwrap_or(&default_method));
    if !doc.missing_imagery.is_empty() {
        let files = doc.missing_imagery.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join("、");
        let note = format!("影像缺失说明：编制本报告时以下影像文件缺失，相应核查表的影像截图标注为“无影像”：{files}。");
        pg.para(&doc.font, 11.0, &note);
    }
    pg.y += 4.0;
    Ok(imagery)
}

/// Section 3: the result tables.
fn results(doc: &mut Doc<'_>, pg: &mut PageBuilder, records: &[PatchRecord], summary: &ProjectSummary) {
    doc.heading(pg, "三、核查结果");
    by_township_table(doc, pg, summary);
    let (t, f) = (doc.p.template(), &doc.font);
    let roles = t.roles();
    let tables = [
        ("表2 按核实变化原因统计", roles.change_reason.as_deref()),
        ("表3 按核查结论统计", Some(roles.verdict.as_str())),
    ];
    for (caption, field) in tables {
        let Some(field) = field.filter(|f| t.field(f).is_some()) else { continue };
        pg.text_at(f, MARGIN, pg.y, 11.0, caption);
        pg.y += 6.0;
        let m = counts_by(records, |r| value(t, r, Some(field)));
        let mut rows = vec![vec!["类别".to_string(), "图斑数".into(), "面积(亩)".into()]];
        rows.extend(m.iter().map(|(k, (c, a))| {
            vec![
                if k.is_empty() { "（未填）".into() } else { k.clone() },
                c.to_string(),
                format!("{:.2}", m2_to_mu(*a)),
            ]
        }));
        pg.table(f, &[80.0, 25.0, 30.0], &rows);
    }
    let land = roles.land_before.as_deref().zip(roles.land_after.as_deref());
    if let Some((before, after)) = land.filter(|(b, a)| t.field(b).is_some() && t.field(a).is_some()) {
        pg.text_at(f, MARGIN, pg.y, 11.0, "表4 前地类→现地类");
        pg.y += 6.0;
        let m = counts_by(records, |r| format!("{} → {}", value(t, r, Some(before)), value(t, r, Some(after))));
        let mut rows = vec![vec!["前地类 → 现地类".to_string(), "图斑数".into(), "面积(亩)".into()]];
        rows.extend(m.iter().map(|(k, (c, a))| vec![k.clone(), c.to_string(), format!("{:.2}", m2_to_mu(*a))]));
        pg.table(f, &[80.0, 25.0, 30.0], &rows);
    }
}

/// Table 1: patches, area and verdicts per township.
fn by_township_table(doc: &Doc<'_>, pg: &mut PageBuilder, summary: &ProjectSummary) {
    let (t, f) = (doc.p.template(), &doc.font);
    pg.text_at(f, MARGIN, pg.y, 11.0, "表1 按乡镇统计");
    pg.y += 6.0;
    let codes: Vec<String> =
        t.field(&t.roles().verdict).map(|fd| fd.codes().iter().map(|c| c.code.clone()).collect()).unwrap_or_default();
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
    pg.table(f, &widths, &rows);
}

/// Section 4: the ledger's rates per township and the counts that need attention.
fn ledger(doc: &mut Doc<'_>, pg: &mut PageBuilder) -> Result<(), ReportError> {
    doc.heading(pg, "四、违法图斑查处整改");
    let l = doc.p.ledger()?;
    let f = &doc.font;
    let mut rows = vec![["乡镇", "违法宗数", "面积(亩)", "查处到位率", "整改到位率", "立案率", "结案率"]
        .map(str::to_string)
        .to_vec()];
    for (town, r) in l.rows() {
        rows.push(vec![
            town.map_or("合计", |t| if t.is_empty() { "（未填）" } else { t }).to_string(),
            r.cases.to_string(),
            format!("{:.2}", m2_to_mu(r.illegal_area_m2)),
            pct(r.investigation_rate()),
            pct(r.rectification_rate()),
            pct(r.filing_rate()),
            pct(r.conclusion_rate()),
        ]);
    }
    pg.table(f, &[36.0, 18.0, 22.0, 24.0, 24.0, 23.0, 23.0], &rows);
    pg.para(
        f,
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
    Ok(())
}

/// Section 5: the latest spot-check's agreement.
fn spot_check(doc: &mut Doc<'_>, pg: &mut PageBuilder) -> Result<(), ReportError> {
    doc.heading(pg, "五、自查抽查与质量控制");
    match doc.p.latest_spot_check()? {
        Some(id) => {
            let r = doc.p.spot_check_result(id)?;
            let rate = pct((r.reviewed > 0).then(|| r.agreed as f64 / r.reviewed as f64));
            let kappa = r.kappa.map(|k| format!("{k:.3}")).unwrap_or_else(|| "—".into());
            pg.para(&doc.font, 11.0, &format!("随机分层抽取已核查图斑{}个，已复核{}个，结论一致{}个，一致率{rate}，Kappa 系数{kappa}。不一致图斑{}个，已逐一核对。", r.sampled, r.reviewed, r.agreed, r.disagreements.len()));
        }
        None => pg.para(&doc.font, 11.0, "尚未开展抽查复核。"),
    }
    pg.y += 4.0;
    Ok(())
}

/// Section 6: problems and suggestions; this report's text, else the project's.
fn problems(doc: &mut Doc<'_>, pg: &mut PageBuilder, opts: &ReportOptions) -> Result<(), ReportError> {
    doc.heading(pg, "六、存在问题与建议");
    let problems = match &opts.problems_text {
        Some(t) => Some(t.clone()),
        None => doc.p.report_text(ReportText::Problems)?,
    };
    pg.para(&doc.font, 11.0, problems.as_deref().unwrap_or("（请在此填写存在的问题与建议。）"));
    Ok(())
}
