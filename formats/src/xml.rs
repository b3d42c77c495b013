//! XML: the root's children are grouped by element name; each child becomes
//! one line of `sub/path: text` and `@attribute: value` pairs, with an
//! XPath-like locator (`/root/entry[3]`). Heading path: root and child names.

use crate::text::decode;
use crate::xmlevents::{XmlEvent, parse};
use crate::{Document, Format, Input, Locator, Mark, Result, Section, SectionKind};

#[derive(Debug, Clone, Copy, Default)]
pub struct Xml;

impl Format for Xml {
    fn name(&self) -> &'static str {
        "xml"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["xml"]
    }

    fn media_types(&self) -> &'static [&'static str] {
        &["application/xml", "text/xml"]
    }

    fn sniff(&self, _bytes: &[u8]) -> bool {
        false
    }

    fn parse(&self, input: &Input<'_>) -> Result<Document> {
        let text = decode(input.bytes, None, "xml")?;
        let events = parse(&text, input.limits.max_depth, "xml")?;
        let mut root = String::new();
        let mut sections: Vec<Section> = Vec::new();
        let mut depth = 0usize;
        // Current child of the root: its name, index among same-named siblings, fields.
        let mut child: Option<(String, usize, Vec<String>)> = None;
        let mut sub: Vec<String> = Vec::new();
        let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut root_text = String::new();
        for e in events {
            match e {
                XmlEvent::Start { name, attrs } => {
                    depth += 1;
                    if depth == 1 {
                        root = name;
                        continue;
                    }
                    if depth == 2 {
                        let n = counts.entry(name.clone()).or_insert(0);
                        *n += 1;
                        child = Some((name, *n, Vec::new()));
                        sub.clear();
                    } else {
                        sub.push(name);
                    }
                    if let Some((_, _, fields)) = child.as_mut() {
                        for (k, v) in attrs {
                            let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
                            if !v.is_empty() && !k.starts_with("xmlns") {
                                let path = sub
                                    .iter()
                                    .chain(std::iter::once(&format!("@{k}")))
                                    .cloned()
                                    .collect::<Vec<_>>()
                                    .join("/");
                                fields.push(format!("{path}: {v}"));
                            }
                        }
                    }
                }
                XmlEvent::Text(t) => {
                    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
                    if t.is_empty() {
                        continue;
                    }
                    match child.as_mut() {
                        Some((_, _, fields)) if sub.is_empty() => fields.push(t),
                        Some((_, _, fields)) => fields.push(format!("{}: {t}", sub.join("/"))),
                        None => {
                            root_text.push_str(&t);
                            root_text.push(' ');
                        }
                    }
                }
                XmlEvent::End { .. } => {
                    if depth == 2
                        && let Some((name, index, fields)) = child.take()
                    {
                        add_line(&mut sections, &root, &name, index, &fields.join("; "));
                    } else if depth > 2 {
                        sub.pop();
                    }
                    depth = depth.saturating_sub(1);
                }
            }
        }
        if !root_text.trim().is_empty() {
            sections.insert(
                0,
                Section::new(
                    vec![root.clone()],
                    root_text.trim().to_owned(),
                    Locator::Path {
                        path: format!("/{root}"),
                    },
                ),
            );
        }
        Ok(Document {
            title: None,
            format: "xml".into(),
            language: None,
            sections,
        })
    }
}

/// Appends a child's line to the section of its element name (consecutive
/// siblings of one name form one records section).
fn add_line(sections: &mut Vec<Section>, root: &str, name: &str, index: usize, line: &str) {
    if line.trim().is_empty() {
        return;
    }
    let heading = vec![root.to_owned(), name.to_owned()];
    let locator = Locator::Path {
        path: format!("/{root}/{name}[{index}]"),
    };
    match sections.last_mut() {
        Some(s) if s.heading_path == heading => {
            s.text.push('\n');
            s.marks.push(Mark {
                offset: s.text.len(),
                locator: locator.clone(),
            });
            s.text.push_str(line);
            s.locator = s.locator.merge(&locator);
            s.kind = SectionKind::Records;
        }
        _ => {
            let mut s = Section::new(heading, line.to_owned(), locator.clone());
            s.marks.push(Mark { offset: 0, locator });
            sections.push(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_become_records_with_paths() {
        let xml = r#"<?xml version="1.0"?><entries xmlns="urn:x"><entry code="AD" name="Andorra"/><entry code="AE"><name>United Arab Emirates</name></entry><note>Codes are ISO.</note></entries>"#;
        let doc = Xml.parse(&Input::new("c.xml", xml.as_bytes())).unwrap();
        assert_eq!(doc.sections.len(), 2);
        assert_eq!(
            doc.sections[0].heading_path,
            vec!["entries".to_string(), "entry".to_string()]
        );
        assert_eq!(
            doc.sections[0].text,
            "@code: AD; @name: Andorra\n@code: AE; name: United Arab Emirates"
        );
        assert_eq!(
            doc.sections[0].locate(30, 40),
            Locator::Path {
                path: "/entries/entry[2]".into()
            }
        );
        assert_eq!(doc.sections[1].text, "Codes are ISO.");
    }
}
