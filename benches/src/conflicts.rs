//! Conflict and duplicate detection quality (`quarry bench conflicts`):
//! [`quarry_ingest::conflicts::classify`] on labelled passage pairs
//! (`corpora/conflicts/pairs.jsonl`: 12 planted contradictions — numbers,
//! prices, durations changed, one denial; 6 duplicates; 18 related pairs
//! that do not conflict; en/de/nl/fr; written for this project), embedded
//! with the configured model as passages. Reports precision and recall per
//! kind. The neighbour search that proposes pairs in a knowledge base is
//! not part of this figure.

use crate::{Error, Result};
use quarry_index::Embedder;
use quarry_ingest::ConflictOptions;
use serde::Serialize;
use std::path::Path;

/// Precision and recall of one kind.
#[derive(Debug, Clone, Serialize)]
pub struct KindScore {
    pub kind: String,
    pub labelled: usize,
    pub flagged: usize,
    pub correct: usize,
    pub precision: f64,
    pub recall: f64,
}

/// One misclassified pair, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub label: String,
    pub predicted: String,
    pub similarity: f32,
    pub a: String,
    pub b: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConflictEval {
    pub pairs: usize,
    pub scores: Vec<KindScore>,
    pub misses: Vec<Miss>,
}

pub fn eval(
    embedder: &dyn Embedder,
    path: &Path,
    options: &ConflictOptions,
) -> Result<ConflictEval> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Setup(format!("{}: {e}", path.display())))?;
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::Setup(format!("{}: {e}", path.display())))?;
        let f = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        rows.push((f("label"), f("a"), f("b")));
    }
    let mut predicted = Vec::with_capacity(rows.len());
    let mut misses = Vec::new();
    for (label, a, b) in &rows {
        let vectors = embedder.embed_passages(&[a.as_str(), b.as_str()])?;
        let similarity = quarry_index::embed::dot(&vectors[0], &vectors[1]);
        let kind = quarry_ingest::conflicts::classify(a, b, similarity, options)
            .map_or("none", |(k, _)| k)
            .to_owned();
        if kind != *label {
            misses.push(Miss {
                label: label.clone(),
                predicted: kind.clone(),
                similarity,
                a: a.clone(),
                b: b.clone(),
            });
        }
        predicted.push(kind);
    }
    let scores = ["contradiction", "duplicate"]
        .iter()
        .map(|kind| {
            let labelled = rows.iter().filter(|r| r.0 == *kind).count();
            let flagged = predicted.iter().filter(|p| *p == kind).count();
            let correct = rows
                .iter()
                .zip(&predicted)
                .filter(|(r, p)| r.0 == *kind && *p == kind)
                .count();
            let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
            KindScore {
                kind: (*kind).to_owned(),
                labelled,
                flagged,
                correct,
                precision: ratio(correct, flagged),
                recall: ratio(correct, labelled),
            }
        })
        .collect();
    Ok(ConflictEval {
        pairs: rows.len(),
        scores,
        misses,
    })
}

pub fn table(e: &ConflictEval) -> String {
    let mut out = format!(
        "{} labelled pairs\n\n| kind | labelled | flagged | correct | precision | recall |\n|---|---|---|---|---|---|\n",
        e.pairs
    );
    for s in &e.scores {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.3} | {:.3} |\n",
            s.kind, s.labelled, s.flagged, s.correct, s.precision, s.recall
        ));
    }
    for m in &e.misses {
        out.push_str(&format!(
            "\nmissed: {} as {} (similarity {:.3})\n  a: {}\n  b: {}\n",
            m.label, m.predicted, m.similarity, m.a, m.b
        ));
    }
    out
}
