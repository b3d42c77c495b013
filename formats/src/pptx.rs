//! PPTX (zip + quick-xml): per slide, in presentation order, its title, body
//! text in reading order, tables (rows as `cell | cell` lines) and speaker
//! notes. Locator: slide number.

use crate::archive::{Archive, OfficeKind};
use crate::xmlevents::{XmlEvent, parse};
use crate::{Document, Error, Format, Input, Limits, Locator, Result, Section};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, Default)]
pub struct Pptx;

impl Format for Pptx {
    fn name(&self) -> &'static str {
        "pptx"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["pptx"]
    }

    fn media_types(&self) -> &'static [&'static str] {
        &["application/vnd.openxmlformats-officedocument.presentationml.presentation"]
    }

    fn sniff(&self, bytes: &[u8]) -> bool {
        crate::archive::office_kind(bytes) == Some(OfficeKind::Pptx)
    }

    fn parse(&self, input: &Input<'_>) -> Result<Document> {
        if crate::archive::is_ole2(input.bytes) {
            return Err(Error::Encrypted(
                "PowerPoint file (or a legacy .ppt, which is not supported)",
            ));
        }
        let depth = input.limits.max_depth;
        let mut zip = Archive::open(input.bytes, &input.limits, "pptx")?;
        let missing = |part: &str| Error::Malformed {
            format: "pptx",
            reason: format!("missing {part}"),
        };
        let presentation = zip
            .read_text("ppt/presentation.xml")?
            .ok_or_else(|| missing("ppt/presentation.xml"))?;
        let rels = zip
            .read_text("ppt/_rels/presentation.xml.rels")?
            .ok_or_else(|| missing("presentation rels"))?;
        let targets = relationships(&rels, depth)?;
        let slides: Vec<String> = parse(&presentation, depth, "pptx")?
            .into_iter()
            .filter_map(|e| match e {
                XmlEvent::Start { name, attrs } if name == "sldId" => attrs
                    .into_iter()
                    .find(|(k, _)| k.ends_with(":id"))
                    .map(|(_, v)| v),
                _ => None,
            })
            .filter_map(|rid| targets.get(&rid).cloned())
            .map(|t| resolve("ppt", &t))
            .collect();
        Limits::check(slides.len(), input.limits.max_slides, "slides")?;
        let mut sections = Vec::new();
        let mut title = None;
        for (i, part) in slides.iter().enumerate() {
            let Some(xml) = zip.read_text(part)? else {
                continue;
            };
            let slide = slide_text(&parse(&xml, depth, "pptx")?);
            let notes = match notes_part(&mut zip, part, depth)? {
                Some(n) => Some(slide_text(&parse(&n, depth, "pptx")?).body)
                    .filter(|n| !n.trim().is_empty()),
                None => None,
            };
            let mut text = slide.body.trim().to_owned();
            if let Some(notes) = notes {
                if !text.is_empty() {
                    text.push_str("\n\n");
                }
                text.push_str("Speaker notes: ");
                text.push_str(notes.trim());
            }
            if text.is_empty() && slide.title.is_none() {
                continue;
            }
            if i == 0 {
                title = slide.title.clone();
            }
            let heading = slide
                .title
                .clone()
                .unwrap_or_else(|| format!("Slide {}", i + 1));
            let text = if text.is_empty() {
                heading.clone()
            } else {
                text
            };
            sections.push(Section::new(
                vec![heading],
                text,
                Locator::Slide {
                    slide: i as u32 + 1,
                },
            ));
        }
        Ok(Document {
            title,
            format: "pptx".into(),
            language: None,
            sections,
        })
    }
}

/// `Id` → `Target` of a relationships part.
fn relationships(xml: &str, depth: usize) -> Result<HashMap<String, String>> {
    Ok(parse(xml, depth, "pptx")?
        .into_iter()
        .filter_map(|e| match e {
            XmlEvent::Start { name, attrs } if name == "Relationship" => {
                let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                Some((get("Id")?, get("Target")?))
            }
            _ => None,
        })
        .collect())
}

/// Resolves a relationship target relative to the folder of its source part.
fn resolve(base_dir: &str, target: &str) -> String {
    if let Some(abs) = target.strip_prefix('/') {
        return abs.to_owned();
    }
    let mut parts: Vec<&str> = base_dir.split('/').filter(|p| !p.is_empty()).collect();
    for seg in target.split('/') {
        match seg {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            s => parts.push(s),
        }
    }
    parts.join("/")
}

fn notes_part(zip: &mut Archive<'_>, slide: &str, depth: usize) -> Result<Option<String>> {
    let (dir, file) = slide.rsplit_once('/').unwrap_or(("", slide));
    let Some(rels) = zip.read_text(&format!("{dir}/_rels/{file}.rels"))? else {
        return Ok(None);
    };
    let notes = parse(&rels, depth, "pptx")?
        .into_iter()
        .find_map(|e| match e {
            XmlEvent::Start { name, attrs } if name == "Relationship" => {
                let is_notes = attrs
                    .iter()
                    .any(|(k, v)| k == "Type" && v.ends_with("/notesSlide"));
                let target = attrs
                    .iter()
                    .find(|(k, _)| k == "Target")
                    .map(|(_, v)| v.clone());
                if is_notes { target } else { None }
            }
            _ => None,
        });
    match notes {
        Some(t) => zip.read_text(&resolve(dir, &t)),
        None => Ok(None),
    }
}

struct SlideText {
    title: Option<String>,
    body: String,
}

/// Walks a slide's shapes: the title placeholder's text becomes the title,
/// other text frames and tables the body. Slide-number and date placeholders
/// are skipped.
fn slide_text(events: &[XmlEvent]) -> SlideText {
    let mut title: Option<String> = None;
    let mut body = String::new();
    let mut shape = String::new();
    let mut paragraph = String::new();
    let mut in_text = false;
    let mut is_title = false;
    let mut skip_shape = false;
    let mut in_table = 0usize;
    let mut row: Vec<String> = Vec::new();
    let mut cell = String::new();
    for e in events {
        match e {
            XmlEvent::Start { name, attrs } => match name.as_str() {
                "sp" => {
                    shape.clear();
                    is_title = false;
                    skip_shape = false;
                }
                "ph" => {
                    let kind = attrs
                        .iter()
                        .find(|(k, _)| k == "type")
                        .map(|(_, v)| v.as_str());
                    is_title = matches!(kind, Some("title" | "ctrTitle"));
                    skip_shape = matches!(kind, Some("sldNum" | "dt" | "ftr" | "hdr" | "sldImg"));
                }
                "tbl" => {
                    in_table += 1;
                    if !body.is_empty() {
                        body.push_str("\n\n");
                    }
                }
                "tr" => row.clear(),
                "tc" => cell.clear(),
                "p" => paragraph.clear(),
                "t" => in_text = true,
                "br" => paragraph.push('\n'),
                _ => {}
            },
            XmlEvent::Text(t) if in_text => {
                paragraph.push_str(t);
            }
            XmlEvent::End { name } => match name.as_str() {
                "t" => in_text = false,
                "p" => {
                    let p = paragraph.trim();
                    if in_table > 0 {
                        if !p.is_empty() {
                            if !cell.is_empty() {
                                cell.push(' ');
                            }
                            cell.push_str(p);
                        }
                    } else if !p.is_empty() {
                        if !shape.is_empty() {
                            shape.push('\n');
                        }
                        shape.push_str(p);
                    }
                    paragraph.clear();
                }
                "tc" => row.push(std::mem::take(&mut cell)),
                "tr" if row.iter().any(|c| !c.is_empty()) => {
                    if !body.is_empty() && !body.ends_with('\n') {
                        body.push('\n');
                    }
                    body.push_str(&row.join(" | "));
                }
                "tbl" => in_table = in_table.saturating_sub(1),
                "sp" => {
                    let text = shape.trim();
                    if !text.is_empty() && !skip_shape {
                        if is_title && title.is_none() {
                            title = Some(text.split_whitespace().collect::<Vec<_>>().join(" "));
                        } else {
                            if !body.is_empty() {
                                body.push_str("\n\n");
                            }
                            body.push_str(text);
                        }
                    }
                    shape.clear();
                }
                _ => {}
            },
            _ => {}
        }
    }
    SlideText {
        title,
        body: body.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_targets_resolve() {
        assert_eq!(resolve("ppt", "slides/slide1.xml"), "ppt/slides/slide1.xml");
        assert_eq!(
            resolve("ppt/slides", "../notesSlides/notesSlide1.xml"),
            "ppt/notesSlides/notesSlide1.xml"
        );
        assert_eq!(
            resolve("ppt", "/ppt/slides/slide2.xml"),
            "ppt/slides/slide2.xml"
        );
    }

    #[test]
    fn slide_title_body_and_table() {
        let xml = r#"<p:sld><p:cSld><p:spTree>
            <p:sp><p:nvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>Pricing</a:t></a:r></a:p></p:txBody></p:sp>
            <p:sp><p:txBody><a:p><a:r><a:t>Two plans</a:t></a:r><a:r><a:t> for teams.</a:t></a:r></a:p><a:p><a:r><a:t>Cancel anytime.</a:t></a:r></a:p></p:txBody></p:sp>
            <p:graphicFrame><a:tbl><a:tr><a:tc><a:txBody><a:p><a:r><a:t>Plan</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>Price</a:t></a:r></a:p></a:txBody></a:tc></a:tr>
            <a:tr><a:tc><a:txBody><a:p><a:r><a:t>Pro</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>$10</a:t></a:r></a:p></a:txBody></a:tc></a:tr></a:tbl></p:graphicFrame>
            <p:sp><p:nvSpPr><p:nvPr><p:ph type="sldNum"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>7</a:t></a:r></a:p></p:txBody></p:sp>
            </p:spTree></p:cSld></p:sld>"#;
        let s = slide_text(&parse(xml, 64, "pptx").unwrap());
        assert_eq!(s.title.as_deref(), Some("Pricing"));
        assert_eq!(
            s.body,
            "Two plans for teams.\nCancel anytime.\n\nPlan | Price\nPro | $10"
        );
    }
}
