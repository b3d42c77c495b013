//! JSON: flattened key paths (`faq[3].answer`) with their values. Arrays of
//! objects are records, one line per object with a `path` locator; each
//! top-level key is a section.

use crate::text::decode;
use crate::{Document, Error, Format, Input, Locator, Mark, Result, Section, SectionKind};
use serde_json::Value;

#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl Format for Json {
    fn name(&self) -> &'static str {
        "json"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["json"]
    }

    fn media_types(&self) -> &'static [&'static str] {
        &["application/json"]
    }

    fn sniff(&self, _bytes: &[u8]) -> bool {
        false
    }

    fn parse(&self, input: &Input<'_>) -> Result<Document> {
        // JSON is UTF-8 by definition (RFC 8259); only a UTF-16 BOM says otherwise.
        let text =
            if input.bytes.starts_with(&[0xFF, 0xFE]) || input.bytes.starts_with(&[0xFE, 0xFF]) {
                decode(input.bytes, None, "json")?
            } else {
                let body = input
                    .bytes
                    .strip_prefix(b"\xEF\xBB\xBF")
                    .unwrap_or(input.bytes);
                std::str::from_utf8(body)
                    .map_err(|e| Error::Malformed {
                        format: "json",
                        reason: format!("not valid UTF-8 (at byte {})", e.valid_up_to()),
                    })?
                    .to_owned()
            };
        // serde_json refuses nesting deeper than 128, which bounds recursion here.
        let value: Value = serde_json::from_str(&text).map_err(|e| Error::Malformed {
            format: "json",
            reason: e.to_string(),
        })?;
        let mut sections = Vec::new();
        let mut loose = Lines::default();
        match &value {
            Value::Object(map) => {
                for (key, v) in map {
                    match v {
                        Value::Object(_) | Value::Array(_) => {
                            let mut lines = Lines::default();
                            lines.add_value(key, v);
                            sections.extend(lines.into_section(vec![key.clone()], key));
                        }
                        scalar => loose.add(key, &format!("{key}: {}", scalar_text(scalar))),
                    }
                }
            }
            other => loose.add_value("", other),
        }
        sections.splice(0..0, loose.into_section(Vec::new(), ""));
        let title = value
            .get("title")
            .or_else(|| value.get("name"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(Document {
            title,
            format: "json".into(),
            language: None,
            sections,
        })
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Flattens `v` under `prefix` into (relative path, text) pairs.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&join(prefix, k), v, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), item, out);
            }
        }
        Value::Null => {}
        scalar => out.push((prefix.to_owned(), scalar_text(scalar))),
    }
}

#[derive(Default)]
struct Lines {
    text: String,
    marks: Vec<Mark>,
    records: bool,
}

impl Lines {
    fn add(&mut self, path: &str, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.marks.push(Mark {
            offset: self.text.len(),
            locator: Locator::Path {
                path: path.to_owned(),
            },
        });
        self.text.push_str(line);
    }

    /// Objects in arrays become one `key: value; …` line each; everything
    /// else one `path: value` line per scalar.
    fn add_value(&mut self, path: &str, v: &Value) {
        match v {
            Value::Array(items) if items.iter().any(Value::is_object) => {
                self.records = true;
                for (i, item) in items.iter().enumerate() {
                    let mut fields = Vec::new();
                    flatten("", item, &mut fields);
                    let line: Vec<String> = fields
                        .into_iter()
                        .filter(|(_, t)| !t.trim().is_empty())
                        .map(|(k, t)| if k.is_empty() { t } else { format!("{k}: {t}") })
                        .collect();
                    self.add(&format!("{path}[{i}]"), &line.join("; "));
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    self.add_value(&join(path, k), v);
                }
            }
            _ => {
                let mut fields = Vec::new();
                flatten(path, v, &mut fields);
                for (p, t) in fields {
                    let label = p.rsplit('.').next().unwrap_or(&p).to_owned();
                    self.add(&p, &format!("{label}: {t}"));
                }
            }
        }
    }

    fn into_section(self, heading_path: Vec<String>, path: &str) -> Option<Section> {
        if self.text.trim().is_empty() {
            return None;
        }
        let mut s = Section::new(
            heading_path,
            self.text,
            Locator::Path {
                path: path.to_owned(),
            },
        );
        s.kind = if self.records {
            SectionKind::Records
        } else {
            SectionKind::Prose
        };
        s.marks = self.marks;
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_paths() {
        let json = r#"{"title": "Help", "faq": [{"q": "Refunds?", "a": "Within 30 days."}, {"q": "Trial?", "a": "14 days", "tags": ["billing"]}],
                       "contact": {"email": "help@example.com", "hours": {"weekdays": "9-17"}}}"#;
        let doc = Json.parse(&Input::new("h.json", json.as_bytes())).unwrap();
        assert_eq!(doc.title.as_deref(), Some("Help"));
        let faq = doc
            .sections
            .iter()
            .find(|s| s.heading_path == ["faq"])
            .unwrap();
        assert_eq!(
            faq.text,
            "q: Refunds?; a: Within 30 days.\nq: Trial?; a: 14 days; tags[0]: billing"
        );
        assert_eq!(
            faq.locate(40, 45),
            Locator::Path {
                path: "faq[1]".into()
            }
        );
        let contact = doc
            .sections
            .iter()
            .find(|s| s.heading_path == ["contact"])
            .unwrap();
        assert_eq!(contact.text, "email: help@example.com\nweekdays: 9-17");
        assert_eq!(
            contact.locate(30, 35),
            Locator::Path {
                path: "contact.hours.weekdays".into()
            }
        );
        assert_eq!(doc.sections[0].text, "title: Help");
    }

    #[test]
    fn deep_nesting_is_a_clear_error() {
        let deep = "[".repeat(500) + &"]".repeat(500);
        let err = Json
            .parse(&Input::new("d.json", deep.as_bytes()))
            .unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }
}
