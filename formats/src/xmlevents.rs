//! A flat, entity-resolved view of an XML document for the XML-based formats
//! (XML itself, PPTX parts). Element names are local (namespace prefixes
//! dropped; attribute names keep theirs, since `id` and `r:id` differ),
//! empty elements come as a start and an end, and nesting is bounded.

use crate::{Error, Result};
use quick_xml::events::{BytesRef, BytesStart, Event};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlEvent {
    Start {
        name: String,
        attrs: Vec<(String, String)>,
    },
    End {
        name: String,
    },
    Text(String),
}

fn local(name: &str) -> String {
    name.rsplit(':').next().unwrap_or(name).to_owned()
}

fn start(e: &BytesStart<'_>) -> XmlEvent {
    let attrs = e
        .attributes()
        .flatten()
        .map(|a| {
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(|v| v.into_owned())
                .unwrap_or_default();
            (a.key.as_ref().to_owned(), value)
        })
        .collect();
    XmlEvent::Start {
        name: local(e.local_name().as_ref()),
        attrs,
    }
}

fn entity(r: &BytesRef<'_>) -> String {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return c.to_string();
    }
    match r.xml10_content().as_ref() {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => "\u{a0}",
        _ => "",
    }
    .to_owned()
}

/// Parses `xml` into events; `format` names the format in errors.
pub fn parse(xml: &str, max_depth: usize, format: &'static str) -> Result<Vec<XmlEvent>> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let mut depth = 0usize;
    let malformed = |e: String| Error::Malformed { format, reason: e };
    loop {
        let event = reader
            .read_event()
            .map_err(|e| malformed(format!("at byte {}: {e}", reader.buffer_position())))?;
        match event {
            Event::Start(e) => {
                depth += 1;
                if depth > max_depth {
                    return Err(Error::LimitExceeded {
                        what: "element nesting depth".into(),
                        limit: max_depth.to_string(),
                    });
                }
                out.push(start(&e));
            }
            Event::Empty(e) => {
                let s = start(&e);
                if let XmlEvent::Start { name, .. } = &s {
                    let end = XmlEvent::End { name: name.clone() };
                    out.push(s);
                    out.push(end);
                }
            }
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                out.push(XmlEvent::End {
                    name: local(e.local_name().as_ref()),
                });
            }
            Event::Text(t) => push_text(&mut out, &t.xml10_content()),
            Event::CData(t) => push_text(&mut out, &t),
            Event::GeneralRef(r) => push_text(&mut out, &entity(&r)),
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 {
        return Err(malformed(
            "unexpected end of document (unclosed elements)".into(),
        ));
    }
    Ok(out)
}

fn push_text(out: &mut Vec<XmlEvent>, text: &str) {
    if let Some(XmlEvent::Text(prev)) = out.last_mut() {
        prev.push_str(text);
    } else {
        out.push(XmlEvent::Text(text.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_and_empty_elements() {
        let ev = parse(
            "<a:r x=\"1 &amp; 2\"><t>Fish &amp; chips &#233;</t><br/></a:r>",
            10,
            "xml",
        )
        .unwrap();
        assert_eq!(
            ev,
            vec![
                XmlEvent::Start {
                    name: "r".into(),
                    attrs: vec![("x".into(), "1 & 2".into())]
                },
                XmlEvent::Start {
                    name: "t".into(),
                    attrs: vec![]
                },
                XmlEvent::Text("Fish & chips é".into()),
                XmlEvent::End { name: "t".into() },
                XmlEvent::Start {
                    name: "br".into(),
                    attrs: vec![]
                },
                XmlEvent::End { name: "br".into() },
                XmlEvent::End { name: "r".into() },
            ]
        );
    }

    #[test]
    fn depth_is_bounded_and_truncation_is_an_error() {
        let deep = "<a>".repeat(50) + &"</a>".repeat(50);
        assert!(matches!(
            parse(&deep, 20, "xml"),
            Err(Error::LimitExceeded { .. })
        ));
        assert!(matches!(
            parse("<a><b>text", 20, "xml"),
            Err(Error::Malformed { .. })
        ));
    }
}
