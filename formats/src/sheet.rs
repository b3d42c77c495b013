//! Spreadsheets: XLS, XLSX, ODS (calamine). Per sheet, the header row is
//! detected and each row becomes a `header: value; …` record; the locator is
//! the sheet name and row range, with spreadsheet row numbers (1-based).

use crate::archive::{Archive, Compound, OfficeKind, is_ole2, le_u16, le_u32, office_kind};
use crate::{Document, Error, Format, Input, Limits, Result, records};
use calamine::{Data, Reader};

#[derive(Debug, Clone, Copy, Default)]
pub struct Spreadsheet;

/// calamine lays each .xls sheet out as a dense grid from its first to its
/// last cell (and reserves what the DIMENSIONS record claims), so a damaged
/// or hostile file naming one cell at A1 and one at column 65,535 asks for
/// 137 GB and aborts the process. Sheets whose grid would exceed this many
/// cells (128 MB of cells) are refused before calamine reads them.
const MAX_XLS_CELLS: usize = 4_000_000;

/// The largest grid (rows × columns) any substream of an .xls workbook
/// stream would need: the bounds of its cell records and its DIMENSIONS
/// record, computed as calamine computes them.
fn xls_sheet_area(stream: &[u8]) -> usize {
    let u16_at = |d: &[u8], at: usize| u32::from(le_u16(d, at));
    let grid = |rows: u32, cols: u32| (rows as usize).saturating_mul(cols as usize);
    let mut largest = 0usize;
    let mut bounds: Option<(u32, u32, u32, u32)> = None;
    let close = |bounds: &mut Option<(u32, u32, u32, u32)>, largest: &mut usize| {
        if let Some((r0, r1, c0, c1)) = bounds.take() {
            *largest = (*largest).max(grid(r1 - r0 + 1, c1 - c0 + 1));
        }
    };
    let cell = |bounds: &mut Option<(u32, u32, u32, u32)>, row: u32, first: u32, last: u32| {
        let (r0, r1, c0, c1) = bounds.get_or_insert((row, row, first, last));
        *r0 = (*r0).min(row);
        *r1 = (*r1).max(row);
        *c0 = (*c0).min(first);
        *c1 = (*c1).max(last);
    };
    let mut at = 0usize;
    while at + 4 <= stream.len() {
        let kind = u16_at(stream, at);
        let len = u16_at(stream, at + 2) as usize;
        let Some(d) = stream.get(at + 4..at + 4 + len) else {
            break;
        };
        at += 4 + len;
        match kind {
            0x0809 | 0x000A => close(&mut bounds, &mut largest),
            0x0200 => {
                let (rf, rl, mut cf, cl) = match d.len() {
                    10 => (u16_at(d, 0), u16_at(d, 2), u16_at(d, 4), u16_at(d, 6)),
                    14 | 16 => (le_u32(d, 0), le_u32(d, 4), u16_at(d, 8), u16_at(d, 10)),
                    _ => continue,
                };
                if cf > 0xFF || cl < cf {
                    cf = 0;
                }
                if rl >= 1 && cl >= 1 {
                    let rows = (rl - 1).wrapping_sub(rf).wrapping_add(1);
                    largest = largest.max(grid(rows, cl - cf));
                }
            }
            0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD | 0x0006 | 0x0201
                if d.len() >= 4 =>
            {
                cell(&mut bounds, u16_at(d, 0), u16_at(d, 2), u16_at(d, 2));
            }
            0x00BD | 0x00BE if d.len() >= 6 => {
                let last = u16_at(d, d.len() - 2);
                cell(
                    &mut bounds,
                    u16_at(d, 0),
                    u16_at(d, 2),
                    last.max(u16_at(d, 2)),
                );
            }
            _ => {}
        }
    }
    close(&mut bounds, &mut largest);
    largest
}

fn cell(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Error(_) => String::new(),
        other => other.to_string(),
    }
}

impl Format for Spreadsheet {
    fn name(&self) -> &'static str {
        "spreadsheet"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["xls", "xlsx", "xlsm", "ods"]
    }

    fn media_types(&self) -> &'static [&'static str] {
        &[
            "application/vnd.ms-excel",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.oasis.opendocument.spreadsheet",
        ]
    }

    fn sniff(&self, bytes: &[u8]) -> bool {
        is_ole2(bytes) || matches!(office_kind(bytes), Some(OfficeKind::Xlsx | OfficeKind::Ods))
    }

    fn parse(&self, input: &Input<'_>) -> Result<Document> {
        let ole2 = is_ole2(input.bytes);
        if ole2 && matches!(input.extension().as_deref(), Some("xlsx" | "xlsm")) {
            return Err(Error::Encrypted("Excel workbook"));
        }
        if ole2 {
            let file = Compound::open(input.bytes).map_err(|reason| Error::Malformed {
                format: "spreadsheet",
                reason: format!("damaged compound file: {reason}"),
            })?;
            if let Some(stream) = file.stream("Workbook").or_else(|| file.stream("Book")) {
                Limits::check(
                    xls_sheet_area(&stream),
                    MAX_XLS_CELLS,
                    "cell area of a sheet",
                )?;
            }
        } else {
            Archive::open(input.bytes, &input.limits, "spreadsheet")?;
        }
        // Anything the check above misses that still panics in calamine is
        // this file's error, not the caller's.
        crate::error::contained("spreadsheet", || read_book(input))
    }
}

fn read_book(input: &Input<'_>) -> Result<Document> {
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(input.bytes))
        .map_err(|e| {
            let reason = e.to_string();
            if reason.to_lowercase().contains("password")
                || reason.to_lowercase().contains("encrypt")
            {
                Error::Encrypted("spreadsheet")
            } else {
                Error::Malformed {
                    format: "spreadsheet",
                    reason,
                }
            }
        })?;
    let names = book.sheet_names();
    Limits::check(names.len(), input.limits.max_sheets, "sheets")?;
    let mut sections = Vec::new();
    let mut total_rows = 0usize;
    for name in names {
        let range = book.worksheet_range(&name).map_err(|e| Error::Malformed {
            format: "spreadsheet",
            reason: format!("sheet {name:?}: {e}"),
        })?;
        let first_row = range.start().map_or(1, |(r, _)| r + 1);
        let rows: Vec<Vec<String>> = range.rows().map(|r| r.iter().map(cell).collect()).collect();
        total_rows += rows.len();
        Limits::check(total_rows, input.limits.max_rows, "rows")?;
        if let Some(s) = records::section(&name, vec![name.clone()], &rows, first_row) {
            sections.push(s);
        }
    }
    Ok(Document {
        title: None,
        format: "spreadsheet".into(),
        language: None,
        sections,
    })
}
