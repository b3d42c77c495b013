//! Markdown (`.md`, `.markdown`): heading hierarchy, code blocks kept whole,
//! lists and tables; every block carries its source line range.

use crate::text::decode;
use crate::{Document, Format, Input, Locator, Mark, Result, Section, SectionKind};
use pulldown_cmark::{Event, MetadataBlockKind, Options, Parser, Tag, TagEnd};

#[derive(Debug, Clone, Copy, Default)]
pub struct Markdown;

impl Format for Markdown {
    fn name(&self) -> &'static str {
        "markdown"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["md", "markdown", "mdown", "mkd"]
    }

    fn media_types(&self) -> &'static [&'static str] {
        &["text/markdown", "text/x-markdown"]
    }

    fn sniff(&self, _head: &[u8]) -> bool {
        false
    }

    fn parse(&self, input: &Input<'_>) -> Result<Document> {
        let source = decode(input.bytes, None, "markdown")?;
        Ok(parse_markdown(&source))
    }
}

/// Maps byte offsets of the source to 1-based line numbers.
struct Lines(Vec<usize>);

impl Lines {
    fn new(s: &str) -> Self {
        Self(s.match_indices('\n').map(|(i, _)| i).collect())
    }

    fn line(&self, offset: usize) -> u32 {
        (self.0.partition_point(|&nl| nl < offset) + 1) as u32
    }
}

struct Builder {
    sections: Vec<Section>,
    headings: Vec<(usize, String)>,
    buf: String,
    marks: Vec<Mark>,
    kind: SectionKind,
    span: Option<(u32, u32)>,
}

impl Builder {
    fn flush(&mut self) {
        let text = self.buf.trim_end().to_owned();
        self.buf.clear();
        let marks = std::mem::take(&mut self.marks);
        let span = self.span.take();
        let kind = std::mem::replace(&mut self.kind, SectionKind::Prose);
        if text.trim().is_empty() {
            return;
        }
        let (start, end) = span.unwrap_or((1, 1));
        let mut section = Section::new(
            self.headings.iter().map(|(_, h)| h.clone()).collect(),
            text,
            Locator::Lines { start, end },
        );
        section.kind = kind;
        section.marks = marks
            .into_iter()
            .filter(|m| m.offset < section.text.len())
            .collect();
        self.sections.push(section);
    }

    fn mark(&mut self, start: u32, end: u32) {
        self.span = Some(match self.span {
            Some((s, e)) => (s.min(start), e.max(end)),
            None => (start, end),
        });
        let locator = Locator::Lines { start, end };
        let offset = self.buf.len();
        if let Some(last) = self.marks.last_mut()
            && last.offset == offset
        {
            last.locator = last.locator.merge(&locator);
            return;
        }
        self.marks.push(Mark { offset, locator });
    }

    fn block_break(&mut self) {
        let t = self.buf.trim_end_matches([' ', '\t']).len();
        self.buf.truncate(t);
        if !self.buf.is_empty() && !self.buf.ends_with("\n\n") {
            self.buf.push_str(if self.buf.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            });
        }
    }

    fn line_break(&mut self) {
        if !self.buf.is_empty() && !self.buf.ends_with('\n') {
            self.buf.push('\n');
        }
    }
}

/// Parses already-decoded Markdown.
pub fn parse_markdown(source: &str) -> Document {
    let lines = Lines::new(source);
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS
        | Options::ENABLE_HEADING_ATTRIBUTES;
    let mut b = Builder {
        sections: Vec::new(),
        headings: Vec::new(),
        buf: String::new(),
        marks: Vec::new(),
        kind: SectionKind::Prose,
        span: None,
    };
    let mut title: Option<String> = None;
    let mut heading: Option<(usize, String)> = None;
    let mut in_metadata = false;
    let mut list_depth = 0usize;
    let mut first_cell = true;
    for (event, range) in Parser::new_ext(source, options).into_offset_iter() {
        let (start, end) = (
            lines.line(range.start),
            lines.line(range.end.saturating_sub(1).max(range.start)),
        );
        match event {
            Event::Start(Tag::MetadataBlock(MetadataBlockKind::YamlStyle)) => in_metadata = true,
            Event::End(TagEnd::MetadataBlock(_)) => in_metadata = false,
            Event::Text(t) if in_metadata => {
                if let Some(v) = t.lines().find_map(|l| l.strip_prefix("title:")) {
                    title = Some(v.trim().trim_matches(['"', '\'']).to_owned());
                }
            }
            Event::Start(Tag::Heading { level, .. }) => {
                b.flush();
                heading = Some((level as usize, String::new()));
                b.span = Some((start, end));
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, text)) = heading.take() {
                    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    while b.headings.last().is_some_and(|(l, _)| *l >= level) {
                        b.headings.pop();
                    }
                    if level == 1 && title.is_none() {
                        title = Some(text.clone());
                    }
                    b.headings.push((level, text));
                }
            }
            Event::Text(t) | Event::Code(t) if heading.is_some() => {
                if let Some((_, h)) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::Start(Tag::Paragraph) if list_depth == 0 => {
                b.block_break();
                b.mark(start, end);
            }
            Event::End(TagEnd::Paragraph) => {
                if list_depth == 0 {
                    b.block_break();
                } else {
                    b.line_break();
                }
            }
            Event::Start(Tag::CodeBlock(_)) => {
                b.block_break();
                b.mark(start, end);
                if b.buf.is_empty() {
                    b.kind = SectionKind::Code;
                }
            }
            Event::End(TagEnd::CodeBlock) => b.block_break(),
            Event::Start(Tag::List(_)) => {
                if list_depth == 0 {
                    b.block_break();
                }
                list_depth += 1;
            }
            Event::End(TagEnd::List(_)) => {
                list_depth -= 1;
                if list_depth == 0 {
                    b.block_break();
                }
            }
            Event::Start(Tag::Item) => {
                b.line_break();
                b.mark(start, end);
                b.buf.push_str(&"  ".repeat(list_depth.saturating_sub(1)));
                b.buf.push_str("- ");
            }
            Event::End(TagEnd::Item) => b.line_break(),
            Event::Start(Tag::Table(_)) => {
                b.block_break();
                if b.buf.is_empty() {
                    b.kind = SectionKind::Table;
                }
            }
            Event::End(TagEnd::Table) => b.block_break(),
            Event::Start(Tag::TableHead | Tag::TableRow) => {
                b.line_break();
                b.mark(start, end);
                first_cell = true;
            }
            Event::End(TagEnd::TableHead | TagEnd::TableRow) => b.line_break(),
            Event::Start(Tag::TableCell) => {
                if !first_cell {
                    b.buf.push_str(" | ");
                }
                first_cell = false;
            }
            Event::Start(Tag::BlockQuote(_)) => b.block_break(),
            Event::End(TagEnd::BlockQuote(_)) => b.block_break(),
            Event::Text(t) | Event::Code(t) => b.buf.push_str(&t),
            Event::SoftBreak => b.buf.push(' '),
            Event::HardBreak => b.buf.push('\n'),
            Event::Rule => b.block_break(),
            Event::TaskListMarker(done) => b.buf.push_str(if done { "[x] " } else { "[ ] " }),
            _ => {}
        }
    }
    b.flush();
    Document {
        title,
        format: "markdown".into(),
        language: None,
        sections: b.sections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_lines_and_code() {
        let md = "---\ntitle: The Guide\n---\n# Guide\n\nIntro *text*.\n\n## Install\n\nRun:\n\n```sh\napt install x\n  --yes\n```\n\n- one\n- two\n  - nested\n\n## Use\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
        let doc = parse_markdown(md);
        assert_eq!(doc.title.as_deref(), Some("The Guide"));
        let paths: Vec<_> = doc
            .sections
            .iter()
            .map(|s| s.heading_path.join(" > "))
            .collect();
        assert_eq!(paths, ["Guide", "Guide > Install", "Guide > Use"]);
        assert_eq!(doc.sections[0].text, "Intro text.");
        assert_eq!(doc.sections[0].locator, Locator::Lines { start: 4, end: 6 });
        let install = &doc.sections[1];
        assert!(
            install.text.contains("apt install x\n  --yes"),
            "{}",
            install.text
        );
        assert!(
            install.text.contains("- one\n- two\n  - nested"),
            "{}",
            install.text
        );
        let code_at = install.text.find("apt install").unwrap();
        assert_eq!(
            install.locate(code_at, code_at + 5),
            Locator::Lines { start: 12, end: 15 }
        );
        assert_eq!(doc.sections[2].text, "a | b\n1 | 2");
        assert_eq!(doc.sections[2].kind, SectionKind::Table);
    }

    #[test]
    fn text_before_any_heading_has_empty_path() {
        let doc = parse_markdown("Just text.\n");
        assert!(doc.sections[0].heading_path.is_empty());
        assert_eq!(doc.sections[0].text, "Just text.");
    }
}
