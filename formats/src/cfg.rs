//! Configuration files (`.cfg`, `.conf`, `.ini`): `[section]` headers become
//! headings, each `key = value` line is kept with the comment lines above it
//! as its description, and every entry carries its line range.

use crate::text::decode;
use crate::{Document, Format, Input, Locator, Mark, Result, Section};

#[derive(Debug, Clone, Copy, Default)]
pub struct Config;

impl Format for Config {
    fn name(&self) -> &'static str {
        "config"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["cfg", "conf", "ini"]
    }

    fn media_types(&self) -> &'static [&'static str] {
        &[]
    }

    fn sniff(&self, _bytes: &[u8]) -> bool {
        false
    }

    fn parse(&self, input: &Input<'_>) -> Result<Document> {
        Ok(parse_config(&decode(input.bytes, None, "config")?))
    }
}

fn comment(line: &str) -> Option<&str> {
    let t = line.trim_start();
    t.strip_prefix('#')
        .or_else(|| t.strip_prefix(';'))
        .map(|c| c.trim_start_matches(['#', ';']).trim())
}

fn section_header(line: &str) -> Option<String> {
    let t = line.trim();
    let inner = t.strip_prefix('[')?.strip_suffix(']')?;
    let inner = inner.trim().trim_matches('"');
    (!inner.is_empty()).then(|| inner.replace('"', ""))
}

pub fn parse_config(source: &str) -> Document {
    let mut sections = Vec::new();
    let mut heading: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut marks: Vec<Mark> = Vec::new();
    let mut span: Option<(u32, u32)> = None;
    let mut pending: Vec<String> = Vec::new();
    let mut pending_start = 0u32;

    let flush = |heading: &Vec<String>,
                 text: &mut String,
                 marks: &mut Vec<Mark>,
                 span: &mut Option<(u32, u32)>,
                 sections: &mut Vec<Section>| {
        let (start, end) = span.take().unwrap_or((1, 1));
        if !text.trim().is_empty() {
            let mut s = Section::new(
                heading.clone(),
                std::mem::take(text),
                Locator::Lines { start, end },
            );
            s.marks = std::mem::take(marks);
            sections.push(s);
        }
        text.clear();
        marks.clear();
    };
    let entry = |text: &mut String,
                 marks: &mut Vec<Mark>,
                 span: &mut Option<(u32, u32)>,
                 body: &str,
                 start: u32,
                 end: u32| {
        if !text.is_empty() {
            text.push('\n');
        }
        marks.push(Mark {
            offset: text.len(),
            locator: Locator::Lines { start, end },
        });
        text.push_str(body);
        *span = Some(span.map_or((start, end), |(s, _)| (s, end)));
    };

    for (i, line) in source.lines().enumerate() {
        let no = i as u32 + 1;
        if let Some(c) = comment(line) {
            if pending.is_empty() {
                pending_start = no;
            }
            if !c.is_empty() {
                pending.push(c.to_owned());
            }
            continue;
        }
        if line.trim().is_empty() {
            // A comment block followed by a blank line describes nothing in
            // particular: keep it as text of its own.
            if !pending.is_empty() {
                let body = pending.join(" ");
                entry(
                    &mut text,
                    &mut marks,
                    &mut span,
                    &body,
                    pending_start,
                    no - 1,
                );
                pending.clear();
            }
            continue;
        }
        if let Some(name) = section_header(line) {
            flush(&heading, &mut text, &mut marks, &mut span, &mut sections);
            heading = vec![name];
            if !pending.is_empty() {
                let body = pending.join(" ");
                entry(
                    &mut text,
                    &mut marks,
                    &mut span,
                    &body,
                    pending_start,
                    no - 1,
                );
                pending.clear();
            }
            continue;
        }
        let setting = line.trim();
        let (start, body) = if pending.is_empty() {
            (no, setting.to_owned())
        } else {
            (pending_start, format!("{setting} — {}", pending.join(" ")))
        };
        pending.clear();
        entry(&mut text, &mut marks, &mut span, &body, start, no);
    }
    if !pending.is_empty() {
        let body = pending.join(" ");
        let end = source.lines().count() as u32;
        entry(&mut text, &mut marks, &mut span, &body, pending_start, end);
    }
    flush(&heading, &mut text, &mut marks, &mut span, &mut sections);
    Document {
        title: None,
        format: "config".into(),
        language: None,
        sections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_settings_and_descriptions() {
        let conf = "# Global settings file\n\n[server]\n# Port the API listens on.\nport = 7700\nhost=localhost\n\n[paths]\n; where data lives\ndata: /var/lib/x\n";
        let doc = parse_config(conf);
        assert_eq!(doc.sections.len(), 3);
        assert_eq!(doc.sections[0].text, "Global settings file");
        assert_eq!(doc.sections[1].heading_path, vec!["server".to_string()]);
        assert_eq!(
            doc.sections[1].text,
            "port = 7700 — Port the API listens on.\nhost=localhost"
        );
        assert_eq!(
            doc.sections[1].locate(0, 4),
            Locator::Lines { start: 4, end: 5 }
        );
        assert_eq!(doc.sections[2].text, "data: /var/lib/x — where data lives");
    }
}
