//! Three suggested questions for the page a visitor is on ([`suggest`]).
//!
//! Candidates, in order, until there are three:
//! 1. visitors' questions answered from that page (its document first
//!    among the cited ones), the most asked first;
//! 2. the page's own headings that are questions;
//! 3. questions formed from the page's other headings, in the page's
//!    language.
//!
//! The page is found by its canonical URL ([`quarry_index::web::normalize`]:
//! no fragment, no tracking parameters), the way the crawler stored it.
//! With nothing specific to the page, the knowledge base's most-answered
//! questions, then general prompts, are returned (`source: general`).
//! Deterministic: the same log and content give the same three.

use crate::{Error, Result};
use quarry_index::KnowledgeBase;
use serde::{Deserialize, Serialize};

/// `GET /v1/kb/{kb}/suggestions` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestions {
    /// Exactly three.
    pub questions: Vec<String>,
    /// `page` when at least one came from the page, else `general`.
    pub source: String,
    /// The language they are in (ISO 639-1).
    pub language: String,
}

/// "What should I know about {heading}?" in each support language.
fn about(language: &str, heading: &str) -> String {
    match language {
        "de" => format!("Was sollte ich über „{heading}“ wissen?"),
        "fr" => format!("Que faut-il savoir sur « {heading} » ?"),
        "nl" => format!("Wat moet ik weten over ‘{heading}’?"),
        "da" => format!("Hvad skal jeg vide om »{heading}«?"),
        "it" => format!("Cosa devo sapere su «{heading}»?"),
        _ => format!("What should I know about “{heading}”?"),
    }
}

/// General prompts when the knowledge base has no answered questions yet.
fn general_prompts(language: &str) -> [&'static str; 3] {
    match language {
        "de" => [
            "Wobei können Sie mir helfen?",
            "Wie fange ich an?",
            "Wie erreiche ich den Support?",
        ],
        "fr" => [
            "En quoi pouvez-vous m'aider ?",
            "Comment commencer ?",
            "Comment contacter le support ?",
        ],
        "nl" => [
            "Waarmee kunt u mij helpen?",
            "Hoe begin ik?",
            "Hoe neem ik contact op met support?",
        ],
        "da" => [
            "Hvad kan du hjælpe mig med?",
            "Hvordan kommer jeg i gang?",
            "Hvordan kontakter jeg support?",
        ],
        "it" => [
            "In cosa puoi aiutarmi?",
            "Come inizio?",
            "Come contatto l'assistenza?",
        ],
        _ => [
            "What can you help me with?",
            "How do I get started?",
            "How do I contact support?",
        ],
    }
}

fn push(out: &mut Vec<String>, candidate: &str) {
    let c = candidate.trim();
    if !c.is_empty() && out.len() < 3 && !out.iter().any(|q| q.to_lowercase() == c.to_lowercase()) {
        out.push(c.to_owned());
    }
}

/// Answered questions of the log, most asked first (then most recent),
/// keeping those `keep` accepts.
fn answered(kb: &KnowledgeBase, keep: impl Fn(&[String]) -> bool) -> Result<Vec<String>> {
    let mut counts: Vec<(String, usize, i64)> = Vec::new();
    for q in kb.questions().questions_since(0)? {
        if q.decision != "answer" || !keep(&q.documents) {
            continue;
        }
        match counts
            .iter_mut()
            .find(|c| c.0.to_lowercase() == q.text.to_lowercase())
        {
            Some(c) => {
                c.1 += 1;
                c.2 = c.2.max(q.at);
            }
            None => counts.push((q.text.clone(), 1, q.at)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    Ok(counts.into_iter().map(|c| c.0).collect())
}

/// Three questions for `page_url`, in the page's language (`language` when
/// the page is unknown; English by default).
pub fn suggest(kb: &KnowledgeBase, page_url: &str, language: Option<&str>) -> Result<Suggestions> {
    let canonical = quarry_index::web::normalize(page_url).ok_or_else(|| {
        Error::bad_request(
            "invalid_url",
            format!("not an absolute http(s) URL: {page_url:?}"),
        )
    })?;
    let raw = page_url.trim();
    let with_slash = format!("{}/", canonical.as_str().trim_end_matches('/'));
    let documents = kb.documents_at(&[canonical.as_str(), raw, &with_slash])?;
    let mut page_language = None;
    let mut out = Vec::new();
    if !documents.is_empty() {
        for q in answered(kb, |docs| {
            docs.first().is_some_and(|d| documents.contains(d))
        })? {
            push(&mut out, &q);
        }
        let mut headings: Vec<String> = Vec::new();
        for uri in &documents {
            let chunks = kb.chunks_of_document(uri)?;
            if let Some(doc) = kb.document(uri)? {
                // A document without a declared language (Markdown, text)
                // is read for it: its title and first passage.
                let read = || {
                    let sample = format!(
                        "{} {}",
                        doc.meta.title.as_deref().unwrap_or_default(),
                        chunks.first().map_or("", |c| c.text.as_str())
                    );
                    quarry_index::keyword::detect_query_language(&sample).to_owned()
                };
                page_language =
                    page_language.or_else(|| doc.meta.language.clone().or_else(|| Some(read())));
                headings.extend(doc.meta.title.clone());
            }
            for chunk in chunks {
                for h in chunk.heading_path {
                    if !headings.contains(&h) {
                        headings.push(h);
                    }
                }
            }
        }
        for h in headings.iter().filter(|h| h.trim_end().ends_with('?')) {
            push(&mut out, h);
        }
        let lang = page_language.as_deref().or(language).unwrap_or("en");
        for h in headings.iter().filter(|h| !h.trim_end().ends_with('?')) {
            if h.chars().count() <= 80 {
                push(&mut out, &about(lang, h.trim()));
            }
        }
    }
    let source = if out.is_empty() { "general" } else { "page" };
    let lang = page_language
        .as_deref()
        .or(language)
        .unwrap_or("en")
        .to_owned();
    for q in answered(kb, |_| true)? {
        push(&mut out, &q);
    }
    for q in general_prompts(&lang) {
        push(&mut out, q);
    }
    Ok(Suggestions {
        questions: out,
        source: source.into(),
        language: lang,
    })
}
