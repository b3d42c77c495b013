//! CSV and TSV (`csv` crate): encoding and delimiter sniffed, header row
//! detected, rows rendered as records with their row numbers.

use crate::text::decode;
use crate::{Document, Error, Format, Input, Limits, Result, records};

#[derive(Debug, Clone, Copy, Default)]
pub struct Delimited;

/// The delimiter that splits the first lines into the most columns, the
/// same number on every line.
fn sniff_delimiter(text: &str) -> u8 {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(20)
        .collect();
    let mut best = (b',', 0usize, false);
    for d in [b',', b';', b'\t', b'|'] {
        let counts: Vec<usize> = lines.iter().map(|l| l.matches(d as char).count()).collect();
        let first = counts.first().copied().unwrap_or(0);
        let consistent = first > 0 && counts.iter().all(|&c| c == first);
        if (consistent, first) > (best.2, best.1) {
            best = (d, first, consistent);
        }
    }
    best.0
}

impl Format for Delimited {
    fn name(&self) -> &'static str {
        "csv"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["csv", "tsv"]
    }

    fn media_types(&self) -> &'static [&'static str] {
        &["text/csv", "text/tab-separated-values"]
    }

    fn sniff(&self, _bytes: &[u8]) -> bool {
        false
    }

    fn parse(&self, input: &Input<'_>) -> Result<Document> {
        let text = decode(input.bytes, None, "csv")?;
        let delimiter = if input.extension().as_deref() == Some("tsv") {
            b'\t'
        } else {
            sniff_delimiter(&text)
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| Error::Malformed {
                format: "csv",
                reason: e.to_string(),
            })?;
            rows.push(record.iter().map(str::to_owned).collect::<Vec<_>>());
            Limits::check(rows.len(), input.limits.max_rows, "rows")?;
        }
        let sheet = input.stem().to_owned();
        Ok(Document {
            title: None,
            format: "csv".into(),
            language: None,
            sections: records::section(&sheet, Vec::new(), &rows, 1)
                .into_iter()
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Locator;

    #[test]
    fn semicolons_and_quotes() {
        let csv = "Name;City;Note\n\"Smith; J.\";Paris;\"multi\nline\"\nDoe;Rome;\n";
        let doc = Delimited
            .parse(&Input::new("people.csv", csv.as_bytes()))
            .unwrap();
        let s = &doc.sections[0];
        assert_eq!(
            s.text,
            "Name: Smith; J.; City: Paris; Note: multi line\nName: Doe; City: Rome"
        );
        assert_eq!(
            s.locate(0, 3),
            Locator::Sheet {
                sheet: "people".into(),
                first_row: 2,
                last_row: 2
            }
        );
    }

    #[test]
    fn delimiter_sniffing() {
        assert_eq!(sniff_delimiter("a\tb\tc\n1\t2\t3"), b'\t');
        assert_eq!(sniff_delimiter("a,b;c\n1,2;3\n4,5;6,7"), b';');
    }
}
