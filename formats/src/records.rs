//! Tabular data (sheets, CSV) as text: a header row is detected and each row
//! becomes one `header: value; …` line with a mark carrying its row number, so
//! chunks hold whole rows and cite their row range.

use crate::{Locator, Mark, Section, SectionKind};

/// A row counts as a header when most of its cells are filled, none looks
/// like a number, and the values are distinct.
fn is_header(row: &[String]) -> bool {
    let filled: Vec<&String> = row.iter().filter(|c| !c.trim().is_empty()).collect();
    if filled.len() < 2 || filled.len() * 2 < row.len() {
        return false;
    }
    let numeric = filled.iter().any(|c| {
        c.trim()
            .replace([',', '.', '-', '%', '$'], "")
            .parse::<f64>()
            .is_ok()
    });
    let mut distinct: Vec<&str> = filled.iter().map(|c| c.trim()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    !numeric && distinct.len() == filled.len()
}

/// Renders `rows` (1-based row `first_row` first) of sheet `sheet` as a
/// Records section; `None` when there is nothing in it.
pub fn section(
    sheet: &str,
    heading_path: Vec<String>,
    rows: &[Vec<String>],
    first_row: u32,
) -> Option<Section> {
    let first = rows
        .iter()
        .position(|r| r.iter().any(|c| !c.trim().is_empty()))?;
    let header: Option<Vec<String>> =
        is_header(&rows[first]).then(|| rows[first].iter().map(|c| c.trim().to_owned()).collect());
    let start = if header.is_some() { first + 1 } else { first };
    let mut text = String::new();
    let mut marks = Vec::new();
    let (mut lo, mut hi) = (u32::MAX, 0);
    for (i, row) in rows.iter().enumerate().skip(start) {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.trim().is_empty())
            .map(|(j, c)| {
                let value = c.split_whitespace().collect::<Vec<_>>().join(" ");
                match header
                    .as_ref()
                    .and_then(|h| h.get(j))
                    .filter(|h| !h.is_empty())
                {
                    Some(h) => format!("{h}: {value}"),
                    None => value,
                }
            })
            .collect();
        if cells.is_empty() {
            continue;
        }
        let row_no = first_row + i as u32;
        if !text.is_empty() {
            text.push('\n');
        }
        marks.push(Mark {
            offset: text.len(),
            locator: Locator::Sheet {
                sheet: sheet.to_owned(),
                first_row: row_no,
                last_row: row_no,
            },
        });
        text.push_str(&cells.join("; "));
        lo = lo.min(row_no);
        hi = hi.max(row_no);
    }
    if text.is_empty() {
        return None;
    }
    let mut s = Section::new(
        heading_path,
        text,
        Locator::Sheet {
            sheet: sheet.to_owned(),
            first_row: lo,
            last_row: hi,
        },
    );
    s.kind = SectionKind::Records;
    s.marks = marks;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(data: &[&[&str]]) -> Vec<Vec<String>> {
        data.iter()
            .map(|r| r.iter().map(|c| (*c).to_owned()).collect())
            .collect()
    }

    #[test]
    fn header_rows_label_values_and_rows_are_marked() {
        let r = rows(&[
            &["Plan", "Price", "Seats"],
            &["Pro", "10", "5"],
            &["", "", ""],
            &["Team", "25", ""],
        ]);
        let s = section("Prices", vec!["Prices".into()], &r, 1).unwrap();
        assert_eq!(
            s.text,
            "Plan: Pro; Price: 10; Seats: 5\nPlan: Team; Price: 25"
        );
        assert_eq!(
            s.locate(0, 5),
            Locator::Sheet {
                sheet: "Prices".into(),
                first_row: 2,
                last_row: 2
            }
        );
        assert_eq!(
            s.locator,
            Locator::Sheet {
                sheet: "Prices".into(),
                first_row: 2,
                last_row: 4
            }
        );
    }

    #[test]
    fn numeric_first_rows_are_data() {
        let r = rows(&[&["1", "2"], &["3", "4"]]);
        assert_eq!(section("S", vec![], &r, 1).unwrap().text, "1; 2\n3; 4");
    }
}
