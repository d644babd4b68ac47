//! The tables every spreadsheet-like export shares (the ledger workbook and the CSV files):
//! patches, cases and the rates per township, as typed cells, so the workbook stores a count
//! as a number, a date as a date and a code as text, and the CSV prints the same values.

use std::fmt;

use chrono::NaiveDate;
use tuban_model::units::m2_to_mu;
use tuban_model::{Field, FieldKind, Value};

use super::ExportError;
use crate::store::Project;

/// One cell, typed as an Excel user expects it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    /// Nothing.
    Empty,
    /// Text, codes and ids (kept as text: a village code 0101 keeps its zero).
    Text(String),
    /// A whole number (counts).
    Int(i64),
    /// A decimal number with this many decimals shown.
    Num { value: f64, decimals: u8 },
    /// A date.
    Date(NaiveDate),
    /// A share shown as a percentage; `None` when its denominator is 0.
    Rate(Option<f64>),
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Empty | Cell::Rate(None) => Ok(()),
            Cell::Text(t) => f.write_str(t),
            Cell::Int(n) => write!(f, "{n}"),
            Cell::Num { value, decimals } => write!(f, "{value:.*}", usize::from(*decimals)),
            Cell::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Cell::Rate(Some(r)) => write!(f, "{r:.4}"),
        }
    }
}

/// A table: its sheet or file name, header labels and rows.
pub(crate) struct Table {
    /// Sheet name (and CSV file suffix).
    pub name: &'static str,
    /// Column labels.
    pub header: Vec<String>,
    /// Rows of cells, as many as the header.
    pub rows: Vec<Vec<Cell>>,
    /// A note for the reader, shown beside the header (the workbook) or not at all (CSV).
    pub note: Option<&'static str>,
}

fn text(s: impl Into<String>) -> Cell {
    let s = s.into();
    if s.is_empty() {
        Cell::Empty
    } else {
        Cell::Text(s)
    }
}

fn count(n: usize) -> Cell {
    Cell::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A field value as its cell: numbers by the field's kind, dates as dates, the rest as text.
fn value_cell(field: &Field, v: &Value) -> Cell {
    match (v, &field.kind) {
        (Value::Null, _) => Cell::Empty,
        (Value::Int(n), _) => Cell::Int(*n),
        (Value::Real(x), FieldKind::Decimal { decimals, .. }) => Cell::Num { value: *x, decimals: *decimals },
        (Value::Real(x), _) => Cell::Num { value: *x, decimals: 2 },
        (Value::Date(d), _) => Cell::Date(*d),
        (Value::Bool(b), _) => Cell::Text(if *b { "是" } else { "否" }.into()),
        (other, _) => text(other.to_string()),
    }
}

/// The patch table: every template field, then status, areas, case and photo count.
pub(crate) fn patches(p: &Project) -> Result<Table, ExportError> {
    let t = p.template();
    let mut header: Vec<String> = t.fields().iter().map(|f| format!("{}({})", f.label, f.name)).collect();
    header.extend(["核查状态", "面积(平方米)", "面积(亩)", "案件编号", "照片数"].map(str::to_string));
    let layers = p.references()?;
    let overlays = if layers.is_empty() { Default::default() } else { p.overlays()? };
    for l in &layers {
        header.push(format!("{}：类别与占比", l.title()));
        header.push(format!("{}：占比(%)", l.title()));
    }
    let mut rows = Vec::new();
    for r in p.patches_delivered()? {
        let mut row: Vec<Cell> = t.fields().iter().zip(&r.values).map(|(f, v)| value_cell(f, v)).collect();
        row.push(text(r.status.label()));
        row.push(Cell::Num { value: r.area_m2, decimals: 2 });
        row.push(Cell::Num { value: m2_to_mu(r.area_m2), decimals: 4 });
        row.push(text(p.case_of_patch(r.fid)?.unwrap_or_default()));
        row.push(count(p.photos(Some(r.fid))?.len()));
        for l in &layers {
            let of_layer: Vec<_> = overlays
                .get(&r.fid)
                .into_iter()
                .flatten()
                .filter(|o| o.layer_id == l.id && o.share_pct >= tuban_model::reference::SLIVER_SHARE_PCT)
                .collect();
            let classes: Vec<String> = of_layer.iter().map(|o| format!("{} {:.1}%", o.class, o.share_pct)).collect();
            let share: f64 = of_layer.iter().map(|o| o.share_pct).sum::<f64>().min(100.0);
            row.push(text(classes.join("；")));
            row.push(Cell::Num { value: share, decimals: 2 });
        }
        rows.push(row);
    }
    Ok(Table { name: "图斑", header, rows, note: None })
}

/// The case table: one row per case with its patches, statuses, penalty and dates.
pub(crate) fn cases(p: &Project) -> Result<Table, ExportError> {
    let header = [
        "案件编号",
        "图斑编号",
        "当事人",
        "牵头部门",
        "流程",
        "查处状态",
        "整改状态",
        "整改措施",
        "处罚文书",
        "罚款(元)",
        "整改期限",
        "销号日期",
        "三年内同类处罚",
        "附件数",
    ]
    .map(str::to_string)
    .to_vec();
    let mut rows = Vec::new();
    for c in p.cases()? {
        let keys: Vec<String> = c.patch_fids.iter().filter_map(|f| p.patch(*f).ok().flatten().map(|r| r.key)).collect();
        let attachments = p.case_attachments(&c.number)?.len();
        rows.push(vec![
            text(c.number),
            text(keys.join(";")),
            text(c.party),
            text(c.department),
            text(c.step.label()),
            text(c.investigation.label()),
            text(c.rectification.label()),
            text(c.measures),
            text(c.penalty_doc),
            c.fine_yuan.map_or(Cell::Empty, |f| Cell::Num { value: f, decimals: 2 }),
            c.deadline.map_or(Cell::Empty, Cell::Date),
            c.closed_on.map_or(Cell::Empty, Cell::Date),
            text(c.prior_penalty),
            count(attachments),
        ]);
    }
    Ok(Table { name: "案件", header, rows, note: None })
}

/// The rates per township and the total (DOMAIN §5), counts as numbers and rates as shares.
pub(crate) fn rates(p: &Project) -> Result<Table, ExportError> {
    let l = p.ledger()?;
    let header = [
        "乡镇",
        "违法宗数",
        "违法面积(亩)",
        "立案",
        "结案",
        "非立案处理",
        "整改到位",
        "查处到位率",
        "整改到位率",
        "立案率",
        "结案率",
    ]
    .map(str::to_string)
    .to_vec();
    let rows = l
        .rows()
        .map(|(town, r)| {
            vec![
                text(town.map_or("合计", |t| if t.is_empty() { "（未填）" } else { t })),
                count(r.cases),
                Cell::Num { value: m2_to_mu(r.illegal_area_m2), decimals: 4 },
                count(r.filed),
                count(r.concluded),
                count(r.handled_without_filing),
                count(r.rectified),
                Cell::Rate(r.investigation_rate()),
                Cell::Rate(r.rectification_rate()),
                Cell::Rate(r.filing_rate()),
                Cell::Rate(r.conclusion_rate()),
            ]
        })
        .collect();
    let note = Some("空白的比率：分母为 0（无违法案件或无立案），比率无意义 / a blank rate has a zero denominator");
    Ok(Table { name: "各乡镇比率", header, rows, note })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_print_as_the_csv_shows_them() {
        assert_eq!(Cell::Num { value: 2.0 / 3.0, decimals: 4 }.to_string(), "0.6667");
        assert_eq!(Cell::Int(0).to_string(), "0");
        assert_eq!(Cell::Rate(None).to_string(), "");
        assert_eq!(Cell::Date(NaiveDate::from_ymd_opt(2025, 8, 9).unwrap()).to_string(), "2025-08-09");
        assert_eq!(text("0101").to_string(), "0101");
        assert_eq!(text(""), Cell::Empty);
    }
}
