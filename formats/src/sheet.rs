//! Spreadsheets: XLS, XLSX, ODS (calamine). Per sheet, the header row is
//! detected and each row becomes a `header: value; …` record; the locator is
//! the sheet name and row range, with spreadsheet row numbers (1-based).

use crate::archive::{Archive, OfficeKind, check_compound_file, is_ole2, office_kind};
use crate::{Document, Error, Format, Input, Limits, Result, records};
use calamine::{Data, Reader};

#[derive(Debug, Clone, Copy, Default)]
pub struct Spreadsheet;

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
            check_compound_file(input.bytes).map_err(|reason| Error::Malformed {
                format: "spreadsheet",
                reason: format!("damaged compound file: {reason}"),
            })?;
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
