//! Conflicts and duplicates between sources, found after syncs, not per
//! query ([`update`]).
//!
//! Every chunk added since the last check (chunk ids only grow, so a
//! watermark is enough) is compared with its nearest neighbours from other
//! documents:
//! - **duplicate**: cosine similarity ≥ `duplicate_similarity`: two pages
//!   say nearly the same thing (content to merge);
//! - **contradiction**: about the same thing (similarity ≥
//!   `topic_similarity`) and stating different facts — a duration, a price,
//!   a percentage (normalised: "2 hours" = "120 minutes") that differs
//!   while the words just before both facts overlap ("valid for 41
//!   minutes" / "valid for 2 hours"), or one denying what the other says in
//!   otherwise near-identical words.
//!
//! Found pairs are kept in the knowledge base's `questions.db`; [`list`]
//! returns them with both passages' text and citation and drops pairs whose
//! chunks are gone (a deleted or changed document).

use crate::Result;
use quarry_index::{ChunkRecord, KnowledgeBase, StoredConflict, unix_now};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Settings of the check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConflictOptions {
    pub enabled: bool,
    /// Similarity from which two passages of different documents are
    /// duplicates.
    pub duplicate_similarity: f32,
    /// Similarity from which two passages are about the same thing.
    pub topic_similarity: f32,
    /// Neighbours compared per new chunk.
    pub neighbours: usize,
}

impl Default for ConflictOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            duplicate_similarity: 0.97,
            topic_similarity: 0.85,
            neighbours: 5,
        }
    }
}

/// What a quantity measures, and its value in a common unit.
#[derive(Debug, Clone, PartialEq)]
struct Fact {
    dimension: &'static str,
    value: f64,
    /// As written ("41 minutes").
    text: String,
    /// Content words just before it.
    context: Vec<String>,
}

/// Seconds per duration unit, in the six support languages.
fn duration_unit(word: &str) -> Option<f64> {
    let w = word.trim_end_matches('.');
    Some(match w {
        "second" | "seconds" | "sec" | "secs" | "s" | "sekunden" | "seconden" | "secondes"
        | "sekunder" | "secondi" => 1.0,
        "minute" | "minutes" | "min" | "mins" | "minuten" | "minuut" | "minutter" | "minut"
        | "minuti" | "minuto" => 60.0,
        "hour" | "hours" | "hr" | "hrs" | "h" | "stunde" | "stunden" | "uur" | "uren" | "heure"
        | "heures" | "time" | "timer" | "ora" | "ore" => 3_600.0,
        "day" | "days" | "tag" | "tage" | "tagen" | "dag" | "dagen" | "jour" | "jours" | "dage"
        | "giorno" | "giorni" | "werktage" | "werkdagen" | "hverdage" => 86_400.0,
        "week" | "weeks" | "woche" | "wochen" | "weken" | "semaine" | "semaines" | "uge"
        | "uger" | "settimana" | "settimane" => 604_800.0,
        "month" | "months" | "monat" | "monate" | "monaten" | "maand" | "maanden" | "mois"
        | "måned" | "måneder" | "mese" | "mesi" => 2_592_000.0,
        "year" | "years" | "jahr" | "jahre" | "jahren" | "jaar" | "jaren" | "an" | "ans"
        | "année" | "années" | "år" | "anno" | "anni" => 31_536_000.0,
        _ => return None,
    })
}

fn number_word(word: &str) -> Option<f64> {
    let n = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    n.iter().position(|w| *w == word).map(|i| i as f64)
}

fn parse_number(word: &str) -> Option<f64> {
    let w = word.trim_matches(|c: char| !c.is_ascii_digit());
    if w.is_empty()
        || !word
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || "€$£".contains(c))
    {
        return number_word(word);
    }
    w.replace(',', ".").parse().ok()
}

const CURRENCIES: &[(&str, &str)] = &[
    ("€", "EUR"),
    ("eur", "EUR"),
    ("euro", "EUR"),
    ("euros", "EUR"),
    ("$", "USD"),
    ("usd", "USD"),
    ("dollar", "USD"),
    ("dollars", "USD"),
    ("£", "GBP"),
    ("gbp", "GBP"),
    ("kr", "DKK"),
    ("dkk", "DKK"),
];

fn currency(word: &str) -> Option<&'static str> {
    CURRENCIES
        .iter()
        .find(|(w, _)| *w == word || word.starts_with(w) && w.len() == 1 && !w.is_empty())
        .map(|(_, c)| *c)
}

/// Lower-case tokens: words, numbers (with their `,` / `.`), `%` and
/// currency signs on their own.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, out: &mut Vec<String>| {
        let t = current.trim_end_matches(['.', ',']).to_lowercase();
        if !t.is_empty() {
            out.push(t);
        }
        current.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() || ((c == '.' || c == ',') && !current.is_empty()) {
            current.push(c);
        } else {
            flush(&mut current, &mut out);
            if "%€$£".contains(c) {
                out.push(c.to_string());
            }
        }
    }
    flush(&mut current, &mut out);
    out
}

/// Words between a number and its unit.
const QUALIFIERS: &[&str] = &["working", "business", "calendar", "full", "whole"];

/// Function words that say nothing about what a fact is about.
const CONTEXT_STOP_WORDS: &[&str] = &[
    "within",
    "after",
    "before",
    "from",
    "with",
    "your",
    "that",
    "this",
    "will",
    "have",
    "them",
    "then",
    "than",
    "when",
    "each",
    "every",
    "into",
    "over",
    "only",
    "also",
    "until",
    "about",
    "innerhalb",
    "nach",
    "nachdem",
    "einer",
    "einen",
    "eine",
    "sich",
    "binnen",
    "binnen",
    "voor",
    "deze",
    "naar",
    "dans",
    "avec",
    "pour",
    "sont",
    "votre",
    "après",
    "entro",
    "dopo",
    "inden",
    "efter",
    "jeres",
];

/// Durations, prices and percentages stated in `text`.
fn facts(text: &str) -> Vec<Fact> {
    let t = tokens(text);
    let mut out = Vec::new();
    // Words around the fact (not the number and its unit): what it is about.
    let context = |i: usize| -> Vec<String> {
        t[i.saturating_sub(4)..i]
            .iter()
            .chain(&t[(i + 2).min(t.len())..(i + 5).min(t.len())])
            .filter(|w| {
                w.chars().count() >= 4
                    && w.chars().all(char::is_alphabetic)
                    && !CONTEXT_STOP_WORDS.contains(&w.as_str())
            })
            .cloned()
            .collect()
    };
    for i in 0..t.len() {
        let Some(n) = parse_number(&t[i]) else {
            continue;
        };
        let mut next = t.get(i + 1).map(String::as_str).unwrap_or_default();
        // "5 working days", "3 Werktage" (already a unit), "2 full hours".
        if QUALIFIERS.contains(&next) {
            next = t.get(i + 2).map(String::as_str).unwrap_or_default();
        }
        let prev = if i > 0 { t[i - 1].as_str() } else { "" };
        let (dimension, value, text) = if let Some(unit) = duration_unit(next) {
            ("duration", n * unit, format!("{} {next}", t[i]))
        } else if next == "%" || next == "percent" || next == "procent" || next == "prozent" {
            ("percentage", n, format!("{}%", t[i]))
        } else if let Some(c) = currency(next).or_else(|| currency(prev)) {
            (
                // Prices in different currencies are not compared.
                match c {
                    "EUR" => "price EUR",
                    "USD" => "price USD",
                    "GBP" => "price GBP",
                    _ => "price DKK",
                },
                n,
                format!("{} {c}", t[i]),
            )
        } else {
            continue;
        };
        out.push(Fact {
            dimension,
            value,
            text,
            context: context(if currency(prev).is_some() { i - 1 } else { i }),
        });
    }
    out
}

const NEGATIONS: &[&str] = &[
    "not", "no", "never", "cannot", "can't", "don't", "doesn't", "won't", "nicht", "kein", "keine",
    "niet", "geen", "nooit", "pas", "jamais", "ikke", "aldrig", "non", "mai",
];

fn negated(text: &str) -> bool {
    tokens(text).iter().any(|w| NEGATIONS.contains(&w.as_str()))
}

/// Jaccard overlap of the two texts' word sets.
fn word_overlap(a: &str, b: &str) -> f64 {
    let (wa, wb): (
        std::collections::HashSet<String>,
        std::collections::HashSet<String>,
    ) = (
        tokens(a).into_iter().collect(),
        tokens(b).into_iter().collect(),
    );
    let union = wa.union(&wb).count();
    if union == 0 {
        return 0.0;
    }
    wa.intersection(&wb).count() as f64 / union as f64
}

/// Why two passages about the same thing contradict each other, if they
/// seem to.
fn contradiction(a: &str, b: &str, similarity: f32) -> Option<String> {
    let (fa, fb) = (facts(a), facts(b));
    for x in &fa {
        let same: Vec<&Fact> = fb.iter().filter(|y| y.dimension == x.dimension).collect();
        if same.is_empty() || same.iter().any(|y| (y.value - x.value).abs() < 1e-9) {
            continue;
        }
        if let Some(y) = same
            .iter()
            .find(|y| y.context.iter().any(|w| x.context.contains(w)))
        {
            // The other passage states the same fact too: no contradiction.
            if fa
                .iter()
                .any(|z| z.dimension == y.dimension && (z.value - y.value).abs() < 1e-9)
            {
                continue;
            }
            let shared: Vec<&String> = y.context.iter().filter(|w| x.context.contains(w)).collect();
            return Some(format!(
                "different {}: \"{}\" and \"{}\" (both about \"{}\")",
                x.dimension.split(' ').next().unwrap_or(x.dimension),
                x.text,
                y.text,
                shared
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
    }
    if similarity >= 0.92 && negated(a) != negated(b) && word_overlap(a, b) >= 0.5 {
        return Some("one denies what the other says in nearly the same words".into());
    }
    None
}

/// What two passages of different documents are to each other, if
/// anything: (`kind`, why).
pub fn classify(
    a: &str,
    b: &str,
    similarity: f32,
    options: &ConflictOptions,
) -> Option<(&'static str, String)> {
    if similarity < options.topic_similarity {
        return None;
    }
    if let Some(why) = contradiction(a, b, similarity) {
        return Some(("contradiction", why));
    }
    (similarity >= options.duplicate_similarity).then(|| {
        (
            "duplicate",
            format!("nearly the same text (similarity {similarity:.2})"),
        )
    })
}

/// Checks the chunks added since the last check; returns how many
/// conflicts were found.
pub fn update(kb: &KnowledgeBase, options: &ConflictOptions) -> Result<usize> {
    if !options.enabled {
        return Ok(0);
    }
    let log = kb.questions();
    let since = log.conflicts_checked_up_to()?;
    let mut new_points = Vec::new();
    kb.for_each_vector_after(since, &mut |p| new_points.push(p))?;
    let Some(last) = new_points.iter().map(|p| p.0).max() else {
        return Ok(0);
    };
    let mut found = Vec::new();
    let now = unix_now();
    for (id, vector) in &new_points {
        let hits = kb.search(vector, options.neighbours + 1, None)?;
        let Some(me) = hits
            .iter()
            .find(|h| h.chunk.vid == *id)
            .map(|h| h.chunk.clone())
            .or_else(|| kb.chunks(&[*id]).ok().and_then(|mut c| c.pop()))
        else {
            continue;
        };
        for hit in hits
            .iter()
            .filter(|h| h.chunk.vid != *id && h.chunk.doc_uri != me.doc_uri)
        {
            if let Some((kind, why)) = classify(&me.text, &hit.chunk.text, hit.similarity, options)
            {
                let (a, b) = (me.vid.min(hit.chunk.vid), me.vid.max(hit.chunk.vid));
                found.push(StoredConflict {
                    a,
                    b,
                    kind: kind.to_owned(),
                    why,
                    similarity: hit.similarity,
                    found_at: now,
                });
            }
        }
    }
    log.add_conflicts(&found, last)?;
    Ok(found.len())
}

/// One side of a conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictPassage {
    pub id: String,
    pub text: String,
    pub document: String,
    pub title: Option<String>,
    /// Where to read it: the published URL with the locator's fragment.
    pub citation: Option<String>,
    pub heading_path: Vec<String>,
}

/// `GET /v1/kb/{kb}/conflicts` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub kind: String,
    pub passages: Vec<ConflictPassage>,
    pub why: String,
    pub similarity: f32,
    pub found_at: i64,
}

fn side(c: &ChunkRecord) -> ConflictPassage {
    let base = c.url.as_deref().unwrap_or(&c.doc_uri);
    ConflictPassage {
        id: c.chunk_id.clone(),
        text: c.text.clone(),
        document: c.doc_uri.clone(),
        title: c.title.clone(),
        citation: c.citable.then(|| match c.locator.fragment() {
            Some(f) => format!("{base}#{f}"),
            None => base.to_owned(),
        }),
        heading_path: c.heading_path.clone(),
    }
}

/// The conflicts of `kb` (checked up to now first), contradictions first;
/// pairs whose chunks are gone are dropped.
pub fn list(kb: &KnowledgeBase, options: &ConflictOptions) -> Result<Vec<Conflict>> {
    update(kb, options)?;
    let stored = kb.questions().conflicts()?;
    let mut ids: Vec<u64> = stored.iter().flat_map(|c| [c.a, c.b]).collect();
    ids.sort_unstable();
    ids.dedup();
    let chunks: HashMap<u64, ChunkRecord> =
        kb.chunks(&ids)?.into_iter().map(|c| (c.vid, c)).collect();
    let mut out = Vec::new();
    let mut gone = Vec::new();
    for c in stored {
        match (chunks.get(&c.a), chunks.get(&c.b)) {
            (Some(a), Some(b)) => out.push(Conflict {
                kind: c.kind,
                passages: vec![side(a), side(b)],
                why: c.why,
                similarity: c.similarity,
                found_at: c.found_at,
            }),
            _ => gone.push((c.a, c.b)),
        }
    }
    kb.questions().forget_conflicts(&gone)?;
    out.sort_by_key(|c| c.kind != "contradiction");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_normalised_and_compared_in_context() {
        let o = ConflictOptions::default();
        let a = "The password reset link is valid for 41 minutes.";
        let b = "A reset link stays valid for 2 hours after you request it.";
        let (kind, why) = classify(a, b, 0.9, &o).unwrap();
        assert_eq!(kind, "contradiction");
        assert!(
            why.contains("41 minutes") && why.contains("2 hours"),
            "{why}"
        );
        // The same duration in other units is no contradiction.
        let c = "A reset link stays valid for 41 minutes after you request it.";
        assert!(classify(a, c, 0.95, &o).is_none());
        // Different facts about different things are not either.
        let d = "Refunds arrive within 5 days.";
        let e = "Delivery takes 2 days within the country.";
        assert!(classify(d, e, 0.88, &o).is_none());
        // Prices, and percentages, in several languages.
        assert!(
            classify(
                "Shipping costs €5 per order.",
                "Shipping costs €7 per order.",
                0.93,
                &o
            )
            .is_some()
        );
        assert!(
            classify(
                "Der Versand kostet 5 €.",
                "Der Versand kostet 5 €.",
                0.99,
                &o
            )
            .map(|k| k.0)
                == Some("duplicate")
        );
        assert!(
            classify(
                "Students get a 10% discount.",
                "Students get a 15 % discount.",
                0.95,
                &o
            )
            .is_some()
        );
        // Unrelated passages are never compared.
        assert!(classify(a, b, 0.5, &o).is_none());
        assert_eq!(
            classify(
                "You can return opened products.",
                "You cannot return opened products.",
                0.95,
                &o
            )
            .unwrap()
            .0,
            "contradiction"
        );
    }
}
