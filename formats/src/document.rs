use serde::{Deserialize, Serialize};

/// A parsed document: what every format turns its bytes into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// The document's own title (`<title>`, first heading, file metadata).
    pub title: Option<String>,
    /// Name of the format that parsed it (`"html"`, `"markdown"`, …).
    pub format: String,
    /// BCP-47-ish language code when the format declares one (`<html lang>`).
    pub language: Option<String>,
    pub sections: Vec<Section>,
}

impl Document {
    /// Total characters of section text; zero means nothing to index.
    pub fn text_len(&self) -> usize {
        self.sections.iter().map(|s| s.text.len()).sum()
    }
}

/// A run of text under one heading path, with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// Headings from the outermost to the innermost (`["Install", "On Linux"]`).
    pub heading_path: Vec<String>,
    pub text: String,
    pub kind: SectionKind,
    /// Where the whole section is in the source.
    pub locator: Locator,
    /// Finer locators for parts of `text` (lines, rows, cues), sorted by offset.
    /// Mark `i` covers `text[marks[i].offset..marks[i + 1].offset]`. A chunk's
    /// locator is the merge of the marks it overlaps; mark offsets are also the
    /// preferred places to cut (a table is never cut mid-row).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<Mark>,
}

impl Section {
    pub fn new(heading_path: Vec<String>, text: String, locator: Locator) -> Self {
        Self {
            heading_path,
            text,
            kind: SectionKind::Prose,
            locator,
            marks: Vec::new(),
        }
    }

    /// The locator of the byte range `start..end` of `text`: the merge of the
    /// marks it overlaps, or the section's own locator when it has none.
    pub fn locate(&self, start: usize, end: usize) -> Locator {
        let mut covering = self.marks.iter().enumerate().filter(|(i, m)| {
            let mark_end = self.marks.get(i + 1).map_or(self.text.len(), |n| n.offset);
            m.offset < end.max(start + 1) && mark_end > start
        });
        match covering.next() {
            None => self.locator.clone(),
            Some((_, first)) => {
                covering.fold(first.locator.clone(), |acc, (_, m)| acc.merge(&m.locator))
            }
        }
    }
}

/// What kind of text a section holds; chunkers treat them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionKind {
    Prose,
    Code,
    Table,
    /// Spreadsheet / CSV rows rendered as `header: value` records.
    Records,
    Transcript,
}

/// A finer locator that applies from `offset` (bytes into the section text) on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub offset: usize,
    pub locator: Locator,
}

/// Where a piece of text is in its source, precisely enough to cite it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Locator {
    /// The document as a whole (no finer position known).
    Document,
    /// An HTML fragment identifier: `uri#id`.
    Anchor { id: String },
    /// 1-based inclusive line range of a text file.
    Lines { start: u32, end: u32 },
    /// 1-based inclusive page range.
    Pages { start: u32, end: u32 },
    /// 1-based inclusive paragraph range of a word-processing document.
    Paragraphs { start: u32, end: u32 },
    /// 1-based slide number.
    Slide { slide: u32 },
    /// A spreadsheet sheet and its 1-based inclusive row range.
    Sheet {
        sheet: String,
        first_row: u32,
        last_row: u32,
    },
    /// Media time range in milliseconds.
    Time { start_ms: u64, end_ms: u64 },
    /// A key path in structured data (`faq[3].answer`, `/config/server`).
    Path { path: String },
}

impl Locator {
    /// The smallest locator covering both; ranges of the same kind widen, and
    /// anything else keeps `self` (a chunk is cited where it starts).
    pub fn merge(&self, other: &Locator) -> Locator {
        use Locator::*;
        match (self, other) {
            (Lines { start: a, end: b }, Lines { start: c, end: d }) => Lines {
                start: *a.min(c),
                end: *b.max(d),
            },
            (Pages { start: a, end: b }, Pages { start: c, end: d }) => Pages {
                start: *a.min(c),
                end: *b.max(d),
            },
            (Paragraphs { start: a, end: b }, Paragraphs { start: c, end: d }) => Paragraphs {
                start: *a.min(c),
                end: *b.max(d),
            },
            (Path { path: a }, Path { path: b }) if a != b => {
                let first = a.split(" … ").next().unwrap_or(a);
                let last = b.rsplit(" … ").next().unwrap_or(b);
                Path {
                    path: format!("{first} … {last}"),
                }
            }
            (
                Sheet {
                    sheet,
                    first_row: a,
                    last_row: b,
                },
                Sheet {
                    sheet: other_sheet,
                    first_row: c,
                    last_row: d,
                },
            ) if sheet == other_sheet => Sheet {
                sheet: sheet.clone(),
                first_row: *a.min(c),
                last_row: *b.max(d),
            },
            (
                Time {
                    start_ms: a,
                    end_ms: b,
                },
                Time {
                    start_ms: c,
                    end_ms: d,
                },
            ) => Time {
                start_ms: *a.min(c),
                end_ms: *b.max(d),
            },
            _ => self.clone(),
        }
    }

    /// The URL fragment that points a browser at this place, where one exists
    /// (`#id`, `#page=3`, `#t=134,140`).
    pub fn fragment(&self) -> Option<String> {
        match self {
            Locator::Anchor { id } => Some(id.clone()),
            Locator::Pages { start, .. } => Some(format!("page={start}")),
            Locator::Time { start_ms, end_ms } => {
                Some(format!("t={},{}", start_ms / 1000, end_ms.div_ceil(1000)))
            }
            Locator::Lines { start, end } => Some(format!("L{start}-L{end}")),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_merges_overlapping_marks() {
        let mut s = Section::new(
            vec![],
            "aaa\nbbb\nccc\n".into(),
            Locator::Lines { start: 1, end: 3 },
        );
        s.marks = (0..3)
            .map(|i| Mark {
                offset: i * 4,
                locator: Locator::Lines {
                    start: i as u32 + 1,
                    end: i as u32 + 1,
                },
            })
            .collect();
        assert_eq!(s.locate(0, 3), Locator::Lines { start: 1, end: 1 });
        assert_eq!(s.locate(2, 6), Locator::Lines { start: 1, end: 2 });
        assert_eq!(s.locate(8, 12), Locator::Lines { start: 3, end: 3 });
    }

    #[test]
    fn locator_serialises_with_type_tag() {
        let json = serde_json::to_string(&Locator::Sheet {
            sheet: "Prices".into(),
            first_row: 2,
            last_row: 9,
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"type":"sheet","sheet":"Prices","first_row":2,"last_row":9}"#
        );
    }

    #[test]
    fn path_ranges_keep_their_ends() {
        let p = |s: &str| Locator::Path { path: s.into() };
        let merged = p("/r/e[1]").merge(&p("/r/e[2]")).merge(&p("/r/e[3]"));
        assert_eq!(merged, p("/r/e[1] … /r/e[3]"));
    }

    #[test]
    fn merge_of_different_kinds_keeps_the_start() {
        let a = Locator::Anchor { id: "x".into() };
        assert_eq!(a.merge(&Locator::Document), a);
    }
}
