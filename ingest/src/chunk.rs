//! Section-aware chunking with the model's own token budget.
//!
//! Each section is cut into chunks of at most `target_tokens` model tokens
//! (never more than the model's window minus the special tokens and the
//! heading context), preferring to cut at section marks (rows, cues), then
//! paragraph breaks, line breaks, sentence ends and, last, word boundaries.
//! Consecutive chunks of a section overlap by about `overlap_tokens`. The
//! embedded text is the heading context (title › headings) followed by the
//! chunk text, so a chunk is found by the topic of its section.

use quarry_formats::{Document, Locator, Section};
use quarry_index::{ContentHash, Embedder};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Chunk size settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChunkOptions {
    /// Tokens of chunk text per chunk (the heading context comes on top).
    pub target_tokens: usize,
    /// Tokens repeated at the start of the next chunk of the same section.
    pub overlap_tokens: usize,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        Self {
            target_tokens: 200,
            overlap_tokens: 24,
        }
    }
}

impl ChunkOptions {
    /// A string that changes whenever chunks would come out differently.
    pub fn fingerprint(&self) -> String {
        format!("chunk-v1/{}/{}", self.target_tokens, self.overlap_tokens)
    }
}

/// One piece of a document, ready to embed.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Index of the section in the document.
    pub section: usize,
    /// Byte range of `text` in the section text.
    pub span: Range<usize>,
    pub text: String,
    pub heading_path: Vec<String>,
    pub locator: Locator,
    /// What the model sees: heading context, blank line, text.
    pub embed_text: String,
    /// Hash of `embed_text`: the embedding cache key.
    pub content_hash: ContentHash,
    /// Model tokens of `embed_text`, special tokens excluded.
    pub tokens: usize,
}

/// Special tokens the model adds around every input ([CLS] … [SEP]).
const SPECIAL_TOKENS: usize = 2;

/// Cuts documents into chunks measured with an embedder's tokenizer.
pub struct Chunker<'a> {
    options: ChunkOptions,
    embedder: &'a dyn Embedder,
}

impl std::fmt::Debug for Chunker<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunker")
            .field("options", &self.options)
            .finish()
    }
}

/// Where a cut may go, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Boundary {
    Word,
    Sentence,
    Line,
    Paragraph,
}

impl<'a> Chunker<'a> {
    pub fn new(options: ChunkOptions, embedder: &'a dyn Embedder) -> Self {
        Self { options, embedder }
    }

    /// The most chunk-text tokens the model can take after `context_tokens`.
    fn budget(&self, context_tokens: usize) -> usize {
        let window = self.embedder.max_tokens().saturating_sub(SPECIAL_TOKENS);
        self.options
            .target_tokens
            .min(window.saturating_sub(context_tokens))
            .max(8)
    }

    /// Heading context for a section: title and headings, without repeats,
    /// shortened from the outside in until it takes at most a third of the window.
    fn context(&self, title: Option<&str>, heading_path: &[String]) -> (String, usize) {
        let mut parts: Vec<&str> = Vec::new();
        for p in title
            .into_iter()
            .chain(heading_path.iter().map(String::as_str))
        {
            let p = p.trim();
            if !p.is_empty() && parts.last() != Some(&p) {
                parts.push(p);
            }
        }
        let limit = self.embedder.max_tokens() / 3;
        while !parts.is_empty() {
            let context = parts.join(" › ");
            let tokens = self.embedder.count_tokens(&context);
            if tokens <= limit {
                return (context, tokens);
            }
            parts.remove(0);
        }
        (String::new(), 0)
    }

    pub fn chunk(&self, doc: &Document) -> Vec<Chunk> {
        let mut out = Vec::new();
        for (index, section) in doc.sections.iter().enumerate() {
            self.chunk_section(doc.title.as_deref(), index, section, &mut out);
        }
        out
    }

    fn chunk_section(
        &self,
        title: Option<&str>,
        index: usize,
        section: &Section,
        out: &mut Vec<Chunk>,
    ) {
        let text = section.text.as_str();
        let tokens = self.embedder.tokenize(text);
        if tokens.is_empty() {
            return;
        }
        let (context, context_tokens) = self.context(title, &section.heading_path);
        let budget = self.budget(context_tokens);
        let overlap = self.options.overlap_tokens.min(budget / 2);
        let boundaries = boundaries(section);
        let mut start_tok = 0;
        loop {
            let start = tokens[start_tok].start;
            let remaining = tokens.len() - start_tok;
            let end = if remaining <= budget {
                text.len()
            } else {
                // Less than two chunks' worth left: cut near the middle so
                // the last chunk is not a stub that only its headings describe.
                let (lo, hi) = if remaining < 2 * budget {
                    (remaining / 3, (remaining * 2 / 3).min(budget))
                } else {
                    (budget / 2, budget)
                };
                let limit = tokens[start_tok + hi].start;
                let earliest = tokens[start_tok + lo].start;
                best_cut(&boundaries, earliest, limit).unwrap_or(limit)
            };
            let end_tok = tokens.partition_point(|t| t.start < end);
            self.push(out, index, section, start..end, &context, context_tokens);
            if end_tok >= tokens.len() {
                break;
            }
            let back = end_tok.saturating_sub(overlap).max(start_tok + 1);
            start_tok = align_start(text, &tokens, &boundaries, back, end_tok);
        }
    }

    fn push(
        &self,
        out: &mut Vec<Chunk>,
        index: usize,
        section: &Section,
        span: Range<usize>,
        context: &str,
        context_tokens: usize,
    ) {
        let raw = &section.text[span.clone()];
        let lead = raw.len() - raw.trim_start().len();
        let span = span.start + lead..span.start + raw.trim_end().len();
        let text = section.text[span.clone()].to_owned();
        if text.is_empty() {
            return;
        }
        let embed_text = if context.is_empty() {
            text.clone()
        } else {
            format!("{context}\n\n{text}")
        };
        let tokens = context_tokens + self.embedder.count_tokens(&text);
        out.push(Chunk {
            section: index,
            locator: section.locate(span.start, span.end),
            span,
            heading_path: section.heading_path.clone(),
            content_hash: ContentHash::of(embed_text.as_bytes()),
            embed_text,
            text,
            tokens,
        });
    }
}

/// Candidate cut positions (byte offsets) of a section with their strength.
fn boundaries(section: &Section) -> Vec<(usize, Boundary)> {
    let text = &section.text;
    let bytes = text.as_bytes();
    let mut out: Vec<(usize, Boundary)> = section
        .marks
        .iter()
        .map(|m| (m.offset, Boundary::Paragraph))
        .collect();
    for (i, c) in text.char_indices() {
        if !c.is_whitespace() {
            continue;
        }
        let kind = if c == '\n' {
            if bytes.get(i + 1) == Some(&b'\n') || (i > 0 && bytes[i - 1] == b'\n') {
                Boundary::Paragraph
            } else {
                Boundary::Line
            }
        } else if i > 0 && matches!(bytes[i - 1], b'.' | b'?' | b'!' | b';' | b':') {
            Boundary::Sentence
        } else {
            Boundary::Word
        };
        out.push((i, kind));
    }
    out.sort_unstable();
    out
}

/// The strongest boundary in `earliest..=limit`, the latest among equals.
fn best_cut(boundaries: &[(usize, Boundary)], earliest: usize, limit: usize) -> Option<usize> {
    let from = boundaries.partition_point(|b| b.0 < earliest);
    let to = boundaries.partition_point(|b| b.0 <= limit);
    boundaries[from..to]
        .iter()
        .filter(|b| b.0 > 0)
        .max_by_key(|b| (b.1, b.0))
        .map(|b| b.0)
}

/// Where the next chunk starts: the strongest boundary between `back` and
/// `end_tok` (earliest among equals, so the overlap is as long as allowed),
/// snapped to the first token after it; without one, the first token of a word.
fn align_start(
    text: &str,
    tokens: &[Range<usize>],
    boundaries: &[(usize, Boundary)],
    back: usize,
    end_tok: usize,
) -> usize {
    let (lo, hi) = (
        tokens[back].start,
        tokens[end_tok.min(tokens.len() - 1)].start,
    );
    let from = boundaries.partition_point(|b| b.0 < lo);
    let to = boundaries.partition_point(|b| b.0 < hi);
    let strongest = boundaries[from..to].iter().map(|b| b.1).max();
    if let Some(kind) = strongest.filter(|k| *k > Boundary::Word)
        && let Some(at) = boundaries[from..to].iter().find(|b| b.1 == kind)
    {
        let tok = tokens.partition_point(|t| t.start <= at.0);
        if tok > back.saturating_sub(1) && tok < end_tok.max(back + 1) {
            return tok.max(back);
        }
    }
    (back..end_tok.max(back + 1))
        .find(|&i| {
            let s = tokens[i].start;
            s == 0 || text[..s].ends_with(char::is_whitespace)
        })
        .unwrap_or(back)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarry_formats::{Mark, SectionKind};
    use quarry_index::HashEmbedder;

    fn doc(sections: Vec<Section>) -> Document {
        Document {
            title: Some("Guide".into()),
            format: "text".into(),
            language: None,
            sections,
        }
    }

    fn long_text(sentences: usize) -> String {
        (0..sentences)
            .map(|i| {
                format!(
                    "Sentence number {i} talks about topic {} in some detail.",
                    i % 5
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn short_section_is_one_chunk_with_context() {
        let e = HashEmbedder::new(32);
        let chunker = Chunker::new(ChunkOptions::default(), &e);
        let s = Section::new(
            vec!["Install".into()],
            "Run the installer.".into(),
            Locator::Document,
        );
        let chunks = chunker.chunk(&doc(vec![s]));
        assert_eq!(chunks.len(), 1);
        assert_eq!(
            chunks[0].embed_text,
            "Guide › Install\n\nRun the installer."
        );
        assert_eq!(chunks[0].heading_path, vec!["Install".to_string()]);
    }

    #[test]
    fn long_sections_split_at_sentences_within_budget_with_overlap() {
        let e = HashEmbedder::new(32);
        let options = ChunkOptions {
            target_tokens: 60,
            overlap_tokens: 10,
        };
        let chunker = Chunker::new(options, &e);
        let text = long_text(40);
        let chunks = chunker.chunk(&doc(vec![Section::new(
            vec![],
            text.clone(),
            Locator::Document,
        )]));
        assert!(chunks.len() > 5);
        for (i, c) in chunks.iter().enumerate() {
            assert!(e.count_tokens(&c.text) <= 60, "chunk {i} too long");
            if i + 1 < chunks.len() {
                assert!(
                    c.text.ends_with('.'),
                    "chunk {i} not cut at a sentence: {:?}",
                    c.text
                );
                assert!(
                    chunks[i + 1].span.start < c.span.end,
                    "chunks {i} and {} do not overlap",
                    i + 1
                );
            }
        }
        assert_eq!(chunks.last().unwrap().span.end, text.len());
    }

    #[test]
    fn marks_give_locators_and_rows_are_not_split() {
        let e = HashEmbedder::new(32);
        let chunker = Chunker::new(
            ChunkOptions {
                target_tokens: 30,
                overlap_tokens: 0,
            },
            &e,
        );
        let mut text = String::new();
        let mut marks = Vec::new();
        for row in 2..40u32 {
            marks.push(Mark {
                offset: text.len(),
                locator: Locator::Sheet {
                    sheet: "Prices".into(),
                    first_row: row,
                    last_row: row,
                },
            });
            text.push_str(&format!("plan: p{row}, price: {row}0 dollars\n"));
        }
        let mut s = Section::new(vec![], text.trim_end().into(), Locator::Document);
        s.kind = SectionKind::Records;
        s.marks = marks;
        let chunks = chunker.chunk(&doc(vec![s]));
        assert!(chunks.len() > 3);
        for c in &chunks {
            assert!(
                c.text.starts_with("plan:") && c.text.ends_with("dollars"),
                "{:?}",
                c.text
            );
            assert!(
                matches!(c.locator, Locator::Sheet { first_row, last_row, .. } if last_row > first_row)
            );
        }
    }

    #[test]
    fn the_last_chunk_is_not_a_stub() {
        let e = HashEmbedder::new(32);
        let chunker = Chunker::new(
            ChunkOptions {
                target_tokens: 100,
                overlap_tokens: 0,
            },
            &e,
        );
        // 108 tokens: a greedy cut would leave an 8-token tail.
        let text = (0..12)
            .map(|i| format!("Sentence {i} has exactly nine tokens in it."))
            .collect::<Vec<_>>()
            .join(" ");
        let chunks = chunker.chunk(&doc(vec![Section::new(vec![], text, Locator::Document)]));
        assert_eq!(chunks.len(), 2);
        let sizes: Vec<usize> = chunks.iter().map(|c| e.count_tokens(&c.text)).collect();
        assert!(sizes.iter().all(|&n| n >= 30), "{sizes:?}");
    }

    #[test]
    fn text_without_spaces_is_still_cut() {
        let e = HashEmbedder::new(32);
        let chunker = Chunker::new(
            ChunkOptions {
                target_tokens: 20,
                overlap_tokens: 4,
            },
            &e,
        );
        let text = "a,".repeat(100);
        let chunks = chunker.chunk(&doc(vec![Section::new(vec![], text, Locator::Document)]));
        assert!(chunks.len() >= 10);
        assert!(chunks.iter().all(|c| e.count_tokens(&c.text) <= 20));
    }

    #[test]
    fn identical_text_has_identical_hashes() {
        let e = HashEmbedder::new(32);
        let chunker = Chunker::new(ChunkOptions::default(), &e);
        let a = chunker.chunk(&doc(vec![Section::new(
            vec!["H".into()],
            "same".into(),
            Locator::Document,
        )]));
        let b = chunker.chunk(&doc(vec![Section::new(
            vec!["H".into()],
            "same".into(),
            Locator::Document,
        )]));
        assert_eq!(a[0].content_hash, b[0].content_hash);
    }
}
