//! reStructuredText: heading hierarchy from underline / overline adornments
//! (levels in order of first appearance, as docutils does), paragraphs and
//! literal blocks kept whole, comments and link targets dropped. Every
//! paragraph carries its line range.

use crate::lines::LineSections;
use crate::text::decode;
use crate::{Document, Format, Input, Result};

#[derive(Debug, Clone, Copy, Default)]
pub struct Rst;

impl Format for Rst {
    fn name(&self) -> &'static str {
        "rst"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["rst", "rest"]
    }

    fn media_types(&self) -> &'static [&'static str] {
        &["text/x-rst"]
    }

    fn sniff(&self, _bytes: &[u8]) -> bool {
        false
    }

    fn parse(&self, input: &Input<'_>) -> Result<Document> {
        Ok(parse_rst(&decode(input.bytes, None, "rst")?))
    }
}

const ADORNMENT: &str = "=-`:'\"~^_*+#<>.";

/// The adornment character if `line` is a run of one punctuation character.
fn adornment(line: &str) -> Option<char> {
    let line = line.trim_end();
    let c = line.chars().next()?;
    (line.chars().count() >= 3 && ADORNMENT.contains(c) && line.chars().all(|x| x == c))
        .then_some(c)
}

fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t == ".."
        || (t.starts_with(".. ") && !t.contains("::"))
        || t.starts_with(".. _")
        || t.starts_with("__ ")
}

/// Appends a paragraph (source lines from `first_line`) as one entry.
fn paragraph(out: &mut LineSections, lines: &[&str], first_line: u32) {
    if !lines.is_empty() {
        out.entry(
            &lines.join("\n"),
            first_line,
            first_line + lines.len() as u32 - 1,
            "\n\n",
        );
    }
}

pub fn parse_rst(source: &str) -> Document {
    let lines: Vec<&str> = source.lines().collect();
    let mut styles: Vec<(char, bool)> = Vec::new();
    let mut b = LineSections::default();
    let mut title = None;
    let mut block: Vec<&str> = Vec::new();
    let mut block_start = 1u32;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        // Heading with overline: adornment, title, same adornment.
        let over = adornment(line).filter(|&c| {
            i + 2 < lines.len()
                && !lines[i + 1].trim().is_empty()
                && adornment(lines[i + 2]) == Some(c)
        });
        // Heading with underline only: title, adornment at least as long.
        let under = (!line.trim().is_empty() && adornment(line).is_none() && block.is_empty())
            .then(|| lines.get(i + 1).and_then(|n| adornment(n)))
            .flatten()
            .filter(|_| lines[i + 1].trim_end().chars().count() >= line.trim().chars().count());
        let heading = match (over, under) {
            (Some(c), _) => Some((c, true, lines[i + 1].trim(), 3)),
            (None, Some(c)) => Some((c, false, line.trim(), 2)),
            _ => None,
        };
        if let Some((c, overline, text, consumed)) = heading {
            paragraph(&mut b, &block, block_start);
            block.clear();
            let level = match styles.iter().position(|s| *s == (c, overline)) {
                Some(l) => l + 1,
                None => {
                    styles.push((c, overline));
                    styles.len()
                }
            };
            b.heading(level, text);
            title.get_or_insert_with(|| text.to_owned());
            i += consumed;
            block_start = i as u32 + 1;
            continue;
        }
        if line.trim().is_empty() {
            // A blank line ends a paragraph, but not a literal block that
            // continues indented.
            let literal = block.first().is_some_and(|l| l.starts_with([' ', '\t']))
                && lines.get(i + 1).is_some_and(|n| n.starts_with([' ', '\t']));
            if literal {
                block.push("");
            } else {
                paragraph(&mut b, &block, block_start);
                block.clear();
                block_start = i as u32 + 2;
            }
        } else if is_comment(line) && block.is_empty() {
            // Skip the comment and its indented continuation.
            while i + 1 < lines.len() && lines[i + 1].starts_with([' ', '\t']) {
                i += 1;
            }
            block_start = i as u32 + 2;
        } else {
            if block.is_empty() {
                block_start = i as u32 + 1;
            }
            block.push(line.trim_end());
        }
        i += 1;
    }
    paragraph(&mut b, &block, block_start);
    Document {
        title,
        format: "rst".into(),
        language: None,
        sections: b.finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Locator;

    #[test]
    fn adornment_levels_and_line_ranges() {
        let rst = "=====\nGuide\n=====\n\nIntro line.\n\nInstall\n-------\n\nRun::\n\n    pip install x\n    x --help\n\n.. comment here\n   continued\n\nUsage\n-----\n\nText.\n";
        let doc = parse_rst(rst);
        assert_eq!(doc.title.as_deref(), Some("Guide"));
        let paths: Vec<_> = doc
            .sections
            .iter()
            .map(|s| s.heading_path.join(" > "))
            .collect();
        assert_eq!(paths, ["Guide", "Guide > Install", "Guide > Usage"]);
        assert_eq!(doc.sections[0].locator, Locator::Lines { start: 5, end: 5 });
        assert_eq!(
            doc.sections[1].text,
            "Run::\n\n    pip install x\n    x --help"
        );
        assert!(!doc.sections.iter().any(|s| s.text.contains("comment")));
    }
}
