//! PDF: text per page in reading order (pdf-extract, which keeps lines,
//! paragraphs and word spacing better than lopdf's own extractor), NFKC
//! normalised (ligatures such as "ﬁ" become "fi"), with the outline
//! (bookmarks) as the heading path. One section per page, split further where
//! a bookmark's title starts on the page, so a citation names its page.

use crate::{Document, Error, Format, Input, Limits, Locator, Result, Section};
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, Copy, Default)]
pub struct Pdf;

fn malformed(reason: impl Into<String>) -> Error {
    Error::Malformed {
        format: "pdf",
        reason: reason.into(),
    }
}

impl Format for Pdf {
    fn name(&self) -> &'static str {
        "pdf"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["pdf"]
    }

    fn media_types(&self) -> &'static [&'static str] {
        &["application/pdf"]
    }

    fn sniff(&self, bytes: &[u8]) -> bool {
        let head = &bytes[..bytes.len().min(1024)];
        head.windows(5).any(|w| w == b"%PDF-")
    }

    fn parse(&self, input: &Input<'_>) -> Result<Document> {
        // pdf-extract and lopdf panic on some malformed files; contain that here
        // so the caller gets a per-document error.
        crate::error::contained("pdf", || parse_pdf(input))
    }
}

/// One outline entry: its depth (1 = top), title and 1-based page.
#[derive(Debug, Clone)]
struct Bookmark {
    level: usize,
    title: String,
    page: u32,
}

fn parse_pdf(input: &Input<'_>) -> Result<Document> {
    let mut doc =
        pdf_extract::Document::load_mem(input.bytes).map_err(|e| malformed(e.to_string()))?;
    if doc.is_encrypted() {
        // Many PDFs are "encrypted" with an empty user password only to set
        // permissions; those open fine. Anything else needs the password.
        if doc.decrypt("").is_err() {
            return Err(Error::Encrypted("PDF"));
        }
    }
    let page_count = doc.get_pages().len();
    Limits::check(page_count, input.limits.max_pages, "pages")?;
    let title = doc_title(&doc);
    let bookmarks: Vec<Bookmark> = doc
        .get_toc()
        .map(|toc| {
            toc.toc
                .into_iter()
                .filter(|t| !t.title.trim().is_empty())
                .map(|t| Bookmark {
                    level: t.level.max(1),
                    title: t.title.split_whitespace().collect::<Vec<_>>().join(" "),
                    page: t.page as u32,
                })
                .collect()
        })
        .unwrap_or_default();
    // pdf-extract panics on a reference to an object the file lacks
    // ("missing object reference"): such references become null first, as
    // a PDF reader treats them.
    drop_dangling_references(&mut doc);
    let mut pages = Vec::with_capacity(page_count);
    for page in 1..=page_count as u32 {
        let mut text = String::new();
        // A page that cannot be read is left empty; the others still count.
        if pdf_extract::output_doc_page(
            &doc,
            &mut pdf_extract::PlainTextOutput::new(&mut text),
            page,
        )
        .is_err()
        {
            text.clear();
        }
        pages.push(text);
    }
    if pages.iter().all(|p| p.trim().is_empty()) {
        return Err(Error::NoTextLayer);
    }
    let mut sections = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut next_bookmark = 0;
    for (i, raw) in pages.iter().enumerate() {
        let page_no = i as u32 + 1;
        let text = tidy(&raw.nfkc().collect::<String>());
        // Cut points on this page: bookmarks pointing here whose title we can find.
        let mut cuts: Vec<(usize, usize)> = Vec::new(); // (byte offset, bookmark index)
        while next_bookmark < bookmarks.len() && bookmarks[next_bookmark].page <= page_no {
            let b = &bookmarks[next_bookmark];
            let at = if b.page == page_no {
                find_title(&text, &b.title)
            } else {
                None
            };
            cuts.push((at.unwrap_or(0), next_bookmark));
            next_bookmark += 1;
        }
        cuts.sort_by_key(|c| c.0);
        let mut start = 0;
        for (offset, bookmark) in cuts {
            push(&mut sections, &path, &text[start..offset], page_no);
            start = offset;
            let b = &bookmarks[bookmark];
            while path.last().is_some_and(|(l, _)| *l >= b.level) {
                path.pop();
            }
            path.push((b.level, b.title.clone()));
        }
        push(&mut sections, &path, &text[start..], page_no);
    }
    Ok(Document {
        title,
        format: "pdf".into(),
        language: None,
        sections,
    })
}

fn push(sections: &mut Vec<Section>, path: &[(usize, String)], text: &str, page: u32) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    sections.push(Section::new(
        path.iter().map(|(_, t)| t.clone()).collect(),
        text.to_owned(),
        Locator::Pages {
            start: page,
            end: page,
        },
    ));
}

/// Replaces references to objects missing from `doc` with null, as a PDF
/// reader treats them, and a font that is missing or not a dictionary with
/// Helvetica, as a reader substitutes one: pdf-extract expects both to exist
/// and panics otherwise. Returns how many it replaced.
fn drop_dangling_references(doc: &mut pdf_extract::Document) -> usize {
    use pdf_extract::{Dictionary, Object};
    use std::collections::BTreeSet;
    fn standard_font() -> Object {
        let mut font = Dictionary::new();
        font.set("Type", Object::Name(b"Font".to_vec()));
        font.set("Subtype", Object::Name(b"Type1".to_vec()));
        font.set("BaseFont", Object::Name(b"Helvetica".to_vec()));
        Object::Dictionary(font)
    }
    fn is_dict(o: &Object, doc_dicts: &BTreeSet<pdf_extract::ObjectId>) -> bool {
        match o {
            Object::Dictionary(_) => true,
            Object::Reference(r) => doc_dicts.contains(r),
            _ => false,
        }
    }
    /// Font entries of a resource dictionary's inline /Font dictionary.
    fn fix_fonts(d: &mut Dictionary, dicts: &BTreeSet<pdf_extract::ObjectId>) -> usize {
        let mut n = 0;
        if let Ok(Object::Dictionary(fonts)) = d.get_mut(b"Font") {
            for (_, font) in fonts.iter_mut() {
                if !is_dict(font, dicts) {
                    *font = standard_font();
                    n += 1;
                }
            }
        }
        n
    }
    fn walk(
        o: &mut Object,
        ids: &BTreeSet<pdf_extract::ObjectId>,
        dicts: &BTreeSet<pdf_extract::ObjectId>,
    ) -> usize {
        match o {
            Object::Reference(r) if !ids.contains(r) => {
                *o = Object::Null;
                1
            }
            Object::Array(items) => items.iter_mut().map(|i| walk(i, ids, dicts)).sum(),
            Object::Dictionary(d) => {
                fix_fonts(d, dicts)
                    + d.iter_mut()
                        .map(|(_, v)| walk(v, ids, dicts))
                        .sum::<usize>()
            }
            Object::Stream(s) => {
                fix_fonts(&mut s.dict, dicts)
                    + s.dict
                        .iter_mut()
                        .map(|(_, v)| walk(v, ids, dicts))
                        .sum::<usize>()
            }
            _ => 0,
        }
    }
    let ids: BTreeSet<_> = doc.objects.keys().copied().collect();
    let dicts: BTreeSet<_> = doc
        .objects
        .iter()
        .filter(|(_, o)| matches!(o, Object::Dictionary(_)))
        .map(|(id, _)| *id)
        .collect();
    let mut n = 0;
    for object in doc.objects.values_mut() {
        n += walk(object, &ids, &dicts);
    }
    n += doc
        .trailer
        .iter_mut()
        .map(|(_, v)| walk(v, &ids, &dicts))
        .sum::<usize>();
    n
}

/// The Info dictionary's Title, when it is a real title.
fn doc_title(doc: &pdf_extract::Document) -> Option<String> {
    let info = doc.trailer.get(b"Info").ok()?;
    let info = match info {
        pdf_extract::Object::Reference(id) => doc.get_object(*id).ok()?,
        other => other,
    };
    let title = info.as_dict().ok()?.get(b"Title").ok()?;
    let bytes = title.as_str().ok()?;
    let text = if bytes.starts_with(&[0xFE, 0xFF]) {
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        bytes.iter().map(|&b| b as char).collect()
    };
    let text = text.trim().to_owned();
    (!text.is_empty() && !text.eq_ignore_ascii_case("untitled")).then_some(text)
}

/// Byte offset of `title` in `text`, matching case- and whitespace-insensitively
/// at a line start.
fn find_title(text: &str, title: &str) -> Option<usize> {
    let want: String = title
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let norm: String = line
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        if !want.is_empty() && norm.starts_with(&want) {
            return Some(offset + (line.len() - line.trim_start().len()));
        }
        offset += line.len();
    }
    None
}

/// Trims trailing spaces, joins words hyphenated across lines, and keeps at
/// most one blank line in a row.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            if blank > 0 {
                out.push_str("\n\n");
            } else if out.ends_with('-') && line.starts_with(|c: char| c.is_lowercase()) {
                out.pop();
            } else {
                out.push('\n');
            }
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_joins_hyphenation_and_blank_runs() {
        assert_eq!(
            tidy("infor-\nmation here  \n\n\n\nnext"),
            "information here\n\nnext"
        );
    }

    #[test]
    fn titles_are_found_at_line_starts() {
        let text = "intro\n  2.1  Getting   Started\nbody";
        assert_eq!(find_title(text, "2.1 Getting Started"), Some(8));
        assert_eq!(find_title(text, "Missing"), None);
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let err = Pdf
            .parse(&Input::new("x.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog"))
            .unwrap_err();
        assert!(
            matches!(err, Error::Malformed { format: "pdf", .. }),
            "{err}"
        );
    }
}
