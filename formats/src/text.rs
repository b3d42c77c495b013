//! Plain text (`.txt`, `.text`) and the text decoding every text format shares.

use crate::{Document, Error, Format, Input, Locator, Mark, Result, Section};
use unicode_normalization::UnicodeNormalization;

/// True when the bytes are not text: NUL bytes (outside UTF-16) are the tell.
pub fn looks_binary(head: &[u8]) -> bool {
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return false;
    }
    head.contains(&0)
}

/// Decodes text bytes: BOM first (UTF-8/16), then UTF-8, then the declared
/// `charset` label, then windows-1252 (what mislabelled "latin-1" files are).
/// Line endings become `\n`; the result is NFC-normalised.
pub fn decode(bytes: &[u8], charset: Option<&str>, format: &'static str) -> Result<String> {
    let head = &bytes[..bytes.len().min(8192)];
    if looks_binary(head) {
        return Err(Error::Malformed {
            format,
            reason: "binary content where text was expected".into(),
        });
    }
    let text = if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        enc.decode_without_bom_handling(&bytes[bom_len..])
            .0
            .into_owned()
    } else if let Ok(s) = std::str::from_utf8(bytes) {
        s.to_owned()
    } else {
        let enc = charset
            .and_then(|c| encoding_rs::Encoding::for_label(c.trim().as_bytes()))
            .filter(|e| *e != encoding_rs::UTF_8)
            .unwrap_or(encoding_rs::WINDOWS_1252);
        enc.decode_without_bom_handling(bytes).0.into_owned()
    };
    Ok(clean(&text))
}

/// NFC, `\r\n` → `\n`, and no control characters but `\n` and `\t`.
pub fn clean(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .nfc()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

/// Splits text into paragraphs (runs of non-blank lines), returning for each its
/// byte range in `text` and its 1-based inclusive line range.
pub fn paragraphs(text: &str) -> Vec<(std::ops::Range<usize>, u32, u32)> {
    let mut out = Vec::new();
    let mut start: Option<(usize, u32)> = None;
    let mut offset = 0;
    let mut last_end = (0, 0);
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let line_no = i as u32 + 1;
        if line.trim().is_empty() {
            if let Some((s, l)) = start.take() {
                out.push((s..last_end.0, l, last_end.1));
            }
        } else {
            if start.is_none() {
                start = Some((offset, line_no));
            }
            last_end = (offset + line.trim_end().len(), line_no);
        }
        offset += line.len();
    }
    if let Some((s, l)) = start {
        out.push((s..last_end.0, l, last_end.1));
    }
    out
}

/// `.txt` / `.text`: one section whose paragraphs carry line-range marks.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainText;

impl Format for PlainText {
    fn name(&self) -> &'static str {
        "text"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["txt", "text"]
    }

    fn media_types(&self) -> &'static [&'static str] {
        &["text/plain"]
    }

    fn sniff(&self, _head: &[u8]) -> bool {
        false
    }

    fn parse(&self, input: &Input<'_>) -> Result<Document> {
        let raw = decode(input.bytes, None, "text")?;
        let paras = paragraphs(&raw);
        let mut text = String::with_capacity(raw.len());
        let mut marks = Vec::with_capacity(paras.len());
        for (range, start, end) in &paras {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            marks.push(Mark {
                offset: text.len(),
                locator: Locator::Lines {
                    start: *start,
                    end: *end,
                },
            });
            text.push_str(&raw[range.clone()]);
        }
        let last_line = paras.last().map_or(1, |p| p.2);
        let mut section = Section::new(
            Vec::new(),
            text,
            Locator::Lines {
                start: 1,
                end: last_line,
            },
        );
        section.marks = marks;
        Ok(Document {
            title: None,
            format: self.name().into(),
            language: None,
            sections: vec![section],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_carry_line_ranges() {
        let doc = PlainText
            .parse(&Input::new(
                "a.txt",
                b"first line\nsecond line\n\n\nthird para\r\n",
            ))
            .unwrap();
        let s = &doc.sections[0];
        assert_eq!(s.text, "first line\nsecond line\n\nthird para");
        assert_eq!(s.locate(0, 5), Locator::Lines { start: 1, end: 2 });
        assert_eq!(s.locate(25, 30), Locator::Lines { start: 5, end: 5 });
    }

    #[test]
    fn latin1_falls_back_to_windows_1252() {
        let doc = PlainText
            .parse(&Input::new("a.txt", b"caf\xe9 cr\xe8me"))
            .unwrap();
        assert_eq!(doc.sections[0].text, "café crème");
    }

    #[test]
    fn utf16_with_bom_decodes() {
        let bytes: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("hé".encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        assert_eq!(
            PlainText
                .parse(&Input::new("a.txt", &bytes))
                .unwrap()
                .sections[0]
                .text,
            "hé"
        );
    }

    #[test]
    fn binary_is_rejected() {
        assert!(matches!(
            PlainText.parse(&Input::new("a.txt", b"\x00\x01\x02abc")),
            Err(Error::Malformed { .. })
        ));
    }
}
