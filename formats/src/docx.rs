//! DOCX (docx-rs): paragraphs with heading levels from their styles, list
//! items, and tables kept as tables (each row a `header: value; …` line that
//! is never cut). Locator: paragraph range (1-based, counting body paragraphs
//! and table rows in document order).

use crate::archive::Archive;
use crate::{Document, Error, Format, Input, Locator, Mark, Result, Section, SectionKind};
use docx_rs::{
    DocumentChild, Paragraph, ParagraphChild, RunChild, Table, TableCellContent, TableChild,
    TableRowChild,
};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, Default)]
pub struct Docx;

impl Format for Docx {
    fn name(&self) -> &'static str {
        "docx"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["docx"]
    }

    fn media_types(&self) -> &'static [&'static str] {
        &["application/vnd.openxmlformats-officedocument.wordprocessingml.document"]
    }

    fn sniff(&self, bytes: &[u8]) -> bool {
        crate::archive::office_kind(bytes) == Some(crate::archive::OfficeKind::Docx)
    }

    fn parse(&self, input: &Input<'_>) -> Result<Document> {
        if crate::archive::is_ole2(input.bytes) {
            return Err(Error::Encrypted(
                "Word document (or a legacy .doc, which is not supported)",
            ));
        }
        // Checks size, entry count and ratio before docx-rs inflates anything.
        // docx-rs unwraps its reads: a damaged entry (bad CRC, broken
        // deflate stream) would panic inside it, so each is read here first.
        Archive::open(input.bytes, &input.limits, "docx")?.verify_entries()?;
        // Some damaged files still reach an unwrap in docx-rs (fuzz
        // regression docx/crash-dabc8cdd…): that is this file's error.
        let docx = crate::error::contained("docx", || {
            docx_rs::read_docx(input.bytes).map_err(|e| Error::Malformed {
                format: "docx",
                reason: e.to_string(),
            })
        })?;
        let headings = docx.styles.create_heading_style_map();
        let mut b = Builder {
            headings,
            title_styles: docx
                .styles
                .styles
                .iter()
                .filter(|s| {
                    s.style_id == "Title"
                        || (s.name.starts_with("Title")
                            && s.style_type == docx_rs::StyleType::Paragraph)
                })
                .map(|s| s.style_id.clone())
                .collect(),
            ..Builder::default()
        };
        for child in &docx.document.children {
            match child {
                DocumentChild::Paragraph(p) => b.paragraph(p),
                DocumentChild::Table(t) => b.table(t),
                _ => {}
            }
        }
        b.flush();
        let title = b.title.clone().or_else(|| b.first_heading.clone());
        Ok(Document {
            title,
            format: "docx".into(),
            language: None,
            sections: b.sections,
        })
    }
}

#[derive(Default)]
struct Builder {
    headings: HashMap<String, usize>,
    title_styles: Vec<String>,
    sections: Vec<Section>,
    path: Vec<(usize, String)>,
    text: String,
    marks: Vec<Mark>,
    kind: Option<SectionKind>,
    paragraph: u32,
    title: Option<String>,
    first_heading: Option<String>,
}

/// Text of a paragraph's runs, hyperlinks included (docx-rs' `raw_text`
/// drops hyperlink text).
fn paragraph_text(p: &Paragraph) -> String {
    let mut out = String::new();
    children_text(&p.children, &mut out);
    out
}

fn children_text(children: &[ParagraphChild], out: &mut String) {
    for child in children {
        match child {
            ParagraphChild::Run(run) => {
                for rc in &run.children {
                    match rc {
                        RunChild::Text(t) => out.push_str(&t.text),
                        RunChild::Tab(_) | RunChild::PTab(_) => out.push('\t'),
                        RunChild::Break(_) | RunChild::CarriageReturn(_) => out.push('\n'),
                        _ => {}
                    }
                }
            }
            ParagraphChild::Hyperlink(h) => children_text(&h.children, out),
            ParagraphChild::Insert(ins) => {
                for c in &ins.children {
                    if let docx_rs::InsertChild::Run(run) = c {
                        children_text(&[ParagraphChild::Run(run.clone())], out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn cell_text(cell: &[TableCellContent]) -> String {
    let parts: Vec<String> = cell
        .iter()
        .filter_map(|c| match c {
            TableCellContent::Paragraph(p) => Some(paragraph_text(p)),
            _ => None,
        })
        .collect();
    parts
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Builder {
    fn flush(&mut self) {
        let text = self.text.trim_end().to_owned();
        let marks = std::mem::take(&mut self.marks);
        self.text.clear();
        let kind = self.kind.take().unwrap_or(SectionKind::Prose);
        if text.trim().is_empty() {
            return;
        }
        let (start, end) = match (marks.first(), marks.last()) {
            (
                Some(Mark {
                    locator: Locator::Paragraphs { start, .. },
                    ..
                }),
                Some(Mark {
                    locator: Locator::Paragraphs { end, .. },
                    ..
                }),
            ) => (*start, *end),
            _ => (self.paragraph, self.paragraph),
        };
        let mut s = Section::new(
            self.path.iter().map(|(_, h)| h.clone()).collect(),
            text,
            Locator::Paragraphs { start, end },
        );
        s.kind = kind;
        s.marks = marks;
        self.sections.push(s);
    }

    fn line(&mut self, text: &str, separator: &str) {
        self.paragraph += 1;
        if !self.text.is_empty() {
            self.text.push_str(separator);
        }
        self.marks.push(Mark {
            offset: self.text.len(),
            locator: Locator::Paragraphs {
                start: self.paragraph,
                end: self.paragraph,
            },
        });
        self.text.push_str(text);
    }

    fn paragraph(&mut self, p: &Paragraph) {
        let text = paragraph_text(p);
        let text = text.trim();
        let style = p
            .property
            .style
            .as_ref()
            .map(|s| s.val.as_str())
            .unwrap_or("");
        if self.title_styles.iter().any(|t| t == style) {
            self.paragraph += 1;
            if !text.is_empty() && self.title.is_none() {
                self.title = Some(text.to_owned());
            }
            return;
        }
        // Styles normally say which are headings; files without style
        // definitions still use the built-in ids `Heading1`…`Heading9`.
        let level = self.headings.get(style).copied().or_else(|| {
            style
                .strip_prefix("Heading")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| (1..=9).contains(n))
        });
        if let Some(level) = level {
            self.paragraph += 1;
            if text.is_empty() {
                return;
            }
            self.flush();
            while self.path.last().is_some_and(|(l, _)| *l >= level) {
                self.path.pop();
            }
            self.path.push((level, text.to_owned()));
            self.first_heading.get_or_insert_with(|| text.to_owned());
            return;
        }
        if text.is_empty() {
            self.paragraph += 1;
            return;
        }
        if self.kind == Some(SectionKind::Table) {
            self.flush();
        }
        self.kind.get_or_insert(SectionKind::Prose);
        let line = if p.property.numbering_property.is_some() {
            format!("- {text}")
        } else {
            text.to_owned()
        };
        let list_item = line.starts_with("- ");
        self.line(&line, if list_item { "\n" } else { "\n\n" });
    }

    fn table(&mut self, t: &Table) {
        let rows: Vec<Vec<String>> = t
            .rows
            .iter()
            .map(|TableChild::TableRow(r)| {
                r.cells
                    .iter()
                    .map(|TableRowChild::TableCell(c)| cell_text(&c.children))
                    .collect()
            })
            .collect();
        if rows.iter().all(|r| r.iter().all(|c| c.is_empty())) {
            return;
        }
        self.flush();
        self.kind = Some(SectionKind::Table);
        let header: Vec<String> = rows[0].clone();
        let has_header = rows.len() > 1 && header.iter().filter(|c| !c.is_empty()).count() >= 2;
        for (i, row) in rows.iter().enumerate() {
            if has_header && i == 0 {
                self.paragraph += 1;
                continue;
            }
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.is_empty())
                .map(
                    |(j, c)| match header.get(j).filter(|h| has_header && !h.is_empty()) {
                        Some(h) => format!("{h}: {c}"),
                        None => c.clone(),
                    },
                )
                .collect();
            if cells.is_empty() {
                self.paragraph += 1;
                continue;
            }
            self.line(&cells.join("; "), "\n");
        }
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use docx_rs::{Run, TableCell, TableRow};

    fn build(docx: docx_rs::Docx) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        docx.build().pack(&mut buf).unwrap();
        buf.into_inner()
    }

    #[test]
    fn headings_lists_and_tables() {
        let doc = docx_rs::Docx::new()
            .add_paragraph(
                Paragraph::new()
                    .add_run(Run::new().add_text("Setup"))
                    .style("Heading1"),
            )
            .add_paragraph(Paragraph::new().add_run(Run::new().add_text("Install the app.")))
            .add_paragraph(
                Paragraph::new()
                    .add_run(Run::new().add_text("Pricing"))
                    .style("Heading2"),
            )
            .add_table(Table::new(vec![
                TableRow::new(vec![
                    TableCell::new()
                        .add_paragraph(Paragraph::new().add_run(Run::new().add_text("Plan"))),
                    TableCell::new()
                        .add_paragraph(Paragraph::new().add_run(Run::new().add_text("Price"))),
                ]),
                TableRow::new(vec![
                    TableCell::new()
                        .add_paragraph(Paragraph::new().add_run(Run::new().add_text("Pro"))),
                    TableCell::new()
                        .add_paragraph(Paragraph::new().add_run(Run::new().add_text("$10"))),
                ]),
            ]));
        let bytes = build(doc);
        let parsed = Docx.parse(&Input::new("a.docx", &bytes)).unwrap();
        assert_eq!(parsed.sections.len(), 2, "{:#?}", parsed.sections);
        assert_eq!(parsed.sections[0].heading_path, vec!["Setup".to_string()]);
        assert_eq!(parsed.sections[0].text, "Install the app.");
        assert_eq!(
            parsed.sections[0].locator,
            Locator::Paragraphs { start: 2, end: 2 }
        );
        assert_eq!(
            parsed.sections[1].heading_path,
            vec!["Setup".to_string(), "Pricing".to_string()]
        );
        assert_eq!(parsed.sections[1].text, "Plan: Pro; Price: $10");
        assert_eq!(parsed.sections[1].kind, SectionKind::Table);
    }

    #[test]
    fn ole2_is_reported_as_encrypted() {
        let bytes = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0];
        assert!(matches!(
            Docx.parse(&Input::new("a.docx", &bytes)),
            Err(Error::Encrypted(_))
        ));
    }
}
