//! Configuration files (`.cfg`, `.conf`, `.ini`): `[section]` headers become
//! headings, each `key = value` line is kept with the comment lines above it
//! as its description, and every entry carries its line range.

use crate::lines::LineSections;
use crate::text::decode;
use crate::{Document, Format, Input, Result};

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
    let mut out = LineSections::default();
    // Comment lines waiting for the setting they describe: (first line, text).
    let mut pending: Option<(u32, Vec<String>)> = None;
    // A comment block not followed by a setting describes nothing in
    // particular: it is kept as text of its own.
    let standalone =
        |out: &mut LineSections, pending: &mut Option<(u32, Vec<String>)>, end: u32| {
            if let Some((start, lines)) = pending.take() {
                out.entry(&lines.join(" "), start, end, "\n");
            }
        };
    let mut last = 0;
    for (i, line) in source.lines().enumerate() {
        let no = i as u32 + 1;
        last = no;
        if let Some(c) = comment(line) {
            let (_, lines) = pending.get_or_insert_with(|| (no, Vec::new()));
            if !c.is_empty() {
                lines.push(c.to_owned());
            }
        } else if line.trim().is_empty() {
            standalone(&mut out, &mut pending, no - 1);
        } else if let Some(name) = section_header(line) {
            out.heading(1, &name);
            standalone(&mut out, &mut pending, no - 1);
        } else {
            let setting = line.trim();
            match pending.take() {
                Some((start, lines)) if !lines.is_empty() => {
                    out.entry(&format!("{setting} — {}", lines.join(" ")), start, no, "\n")
                }
                _ => out.entry(setting, no, no, "\n"),
            }
        }
    }
    standalone(&mut out, &mut pending, last);
    Document {
        title: None,
        format: "config".into(),
        language: None,
        sections: out.finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Locator;

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
