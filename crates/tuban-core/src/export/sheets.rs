//! The ledger workbook (rust_xlsxwriter) and the CSV files, both written from the typed tables
//! of `tables`: in the workbook codes and ids are text, counts and areas numbers with number
//! formats, dates dates and rates percentages (blank, with a note, where the denominator is 0).

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{ExcelDateTime, Format as XFormat, Note, Workbook, Worksheet};

use super::tables::{self, Cell, Table};
use super::{stem, werr, werr_io, ExportError};
use crate::store::Project;

/// The three tables of the ledger, in sheet order.
fn all(p: &Project) -> Result<[Table; 3], ExportError> {
    Ok([tables::patches(p)?, tables::cases(p)?, tables::rates(p)?])
}

/// Number formats of the workbook, made once.
struct Formats {
    header: XFormat,
    text: XFormat,
    int: XFormat,
    num2: XFormat,
    num4: XFormat,
    date: XFormat,
    pct: XFormat,
}

impl Formats {
    fn new() -> Formats {
        Formats {
            header: XFormat::new()
                .set_bold()
                .set_background_color(rust_xlsxwriter::Color::RGB(0xDDEBF7))
                .set_border(rust_xlsxwriter::FormatBorder::Thin),
            text: XFormat::new().set_num_format("@"),
            int: XFormat::new().set_num_format("0"),
            num2: XFormat::new().set_num_format("0.00"),
            num4: XFormat::new().set_num_format("0.0000"),
            date: XFormat::new().set_num_format("yyyy-mm-dd"),
            pct: XFormat::new().set_num_format("0.0%"),
        }
    }

    fn decimals(&self, decimals: u8) -> &XFormat {
        match decimals {
            0 => &self.int,
            1 | 2 => &self.num2,
            _ => &self.num4,
        }
    }
}

/// Writes one cell by its type.
fn write_cell(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    cell: &Cell,
    f: &Formats,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    match cell {
        Cell::Empty | Cell::Rate(None) => {}
        Cell::Text(s) => {
            ws.write_string_with_format(row, col, s, &f.text)?;
        }
        Cell::Int(n) => {
            ws.write_number_with_format(row, col, *n as f64, &f.int)?;
        }
        Cell::Num { value, decimals } => {
            ws.write_number_with_format(row, col, *value, f.decimals(*decimals))?;
        }
        Cell::Date(d) => {
            use chrono::Datelike;
            let (y, m, day) = (u16::try_from(d.year()).unwrap_or(1900), d.month() as u8, d.day() as u8);
            ws.write_datetime_with_format(row, col, ExcelDateTime::from_ymd(y, m, day)?, &f.date)?;
        }
        Cell::Rate(Some(r)) => {
            ws.write_number_with_format(row, col, *r, &f.pct)?;
        }
    }
    Ok(())
}

/// Writes one table as a sheet: header, typed rows, column widths, a frozen header row.
fn sheet(wb: &mut Workbook, table: &Table, f: &Formats, path: &Path) -> Result<(), ExportError> {
    let e = |err| werr(path, err);
    let ws = wb.add_worksheet();
    ws.set_name(table.name).map_err(e)?;
    for (c, h) in table.header.iter().enumerate() {
        let col = u16::try_from(c).unwrap_or(u16::MAX);
        ws.write_string_with_format(0, col, h, &f.header).map_err(e)?;
        let width = table
            .rows
            .iter()
            .map(|r| r.get(c).map_or(0, |v| tuban_model::value::gbk_len(&v.to_string())))
            .chain(std::iter::once(tuban_model::value::gbk_len(h)))
            .max()
            .unwrap_or(8);
        ws.set_column_width(col, (width as f64 + 2.0).min(60.0)).map_err(e)?;
    }
    for (r, row) in table.rows.iter().enumerate() {
        let rr = u32::try_from(r + 1).unwrap_or(u32::MAX);
        for (c, cell) in row.iter().enumerate() {
            write_cell(ws, rr, u16::try_from(c).unwrap_or(u16::MAX), cell, f).map_err(e)?;
        }
    }
    if let Some(note) = table.note {
        ws.insert_note(0, 0, &Note::new(note).set_author("tuban")).map_err(e)?;
    }
    ws.set_freeze_panes(1, 0).map_err(e)?;
    Ok(())
}

/// The ledger workbook: patches, cases and rates per township, one sheet each.
pub(crate) fn xlsx(p: &Project, tmp: &Path) -> Result<Vec<PathBuf>, ExportError> {
    let path = tmp.join(format!("{}_台账.xlsx", stem(p)));
    let mut wb = Workbook::new();
    let f = Formats::new();
    for table in all(p)? {
        sheet(&mut wb, &table, &f, &path)?;
    }
    // Into memory first: the file is then written by one call whose error says what happened
    // (saving straight to a file reports a full disk only as "i/o error").
    let bytes = wb.save_to_buffer().map_err(|e| werr(&path, e))?;
    std::fs::write(&path, bytes).map_err(|e| werr_io(&path, e))?;
    Ok(vec![path])
}

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// The same three tables as CSV files (UTF-8 with a BOM, so Excel on Chinese Windows reads them).
pub(crate) fn csv(p: &Project, tmp: &Path) -> Result<Vec<PathBuf>, ExportError> {
    let mut out = Vec::new();
    for table in all(p)? {
        let path = tmp.join(format!("{}_{}.csv", stem(p), table.name));
        let mut text = String::from("\u{feff}");
        text.push_str(&table.header.iter().map(|h| csv_field(h)).collect::<Vec<_>>().join(","));
        text.push_str("\r\n");
        for row in &table.rows {
            text.push_str(&row.iter().map(|c| csv_field(&c.to_string())).collect::<Vec<_>>().join(","));
            text.push_str("\r\n");
        }
        std::fs::write(&path, text).map_err(|e| werr_io(&path, e))?;
        out.push(path);
    }
    Ok(out)
}
