//! Knowledge-gap clustering quality (`quarry bench gaps`): the gap
//! clustering rule ([`quarry_query::gaps::cluster`]) run over labelled
//! questions, pairwise precision and recall per similarity threshold.
//!
//! Two labelled sets, one to choose the threshold on and one to report:
//! - `corpora/gaps/support-questions.jsonl`: 61 visitor-style questions in
//!   six languages, 12 intents (written for this project, not from any
//!   visitor log);
//! - the GNOME help page titles of the dev sets (`corpora/dev/gnome-LL`),
//!   the same page's title in six languages as one intent (~300 intents,
//!   ~1,800 titles; built by `scripts/fetch-devsets.sh`).
//!
//! Questions arrive in a fixed pseudo-random order (by a hash of the text),
//! as they would from visitors.

use crate::{Error, Result};
use quarry_index::Embedder;
use serde::Serialize;
use std::path::Path;

/// Precision and recall at one threshold.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Point {
    pub threshold: f32,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub clusters: usize,
}

/// One labelled set's sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SetSweep {
    pub name: String,
    pub questions: usize,
    pub intents: usize,
    pub points: Vec<Point>,
}

/// Labelled questions: (intent, text).
pub type Labelled = Vec<(String, String)>;

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `corpora/gaps/support-questions.jsonl`.
pub fn support_set(path: &Path) -> Result<Labelled> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Setup(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::Setup(format!("{}: {e}", path.display())))?;
        let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        out.push((field("intent"), field("text")));
    }
    Ok(out)
}

/// The GNOME page titles of `corpora/dev/gnome-{en,de,fr,nl,da,it}`, the
/// page as the intent (empty when the dev sets are not built).
pub fn gnome_set(dev: &Path) -> Result<Labelled> {
    let mut out = Vec::new();
    for lang in ["en", "de", "fr", "nl", "da", "it"] {
        let path = dev.join(format!("gnome-{lang}/queries.jsonl"));
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let prefix = format!("gnome-{lang}-");
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let (Some(id), Some(t)) = (v["_id"].as_str(), v["text"].as_str()) else {
                continue;
            };
            if let Some(page) = id.strip_prefix(&prefix) {
                out.push((page.to_owned(), t.to_owned()));
            }
        }
    }
    Ok(out)
}

/// Clusters `set` at every threshold.
pub fn sweep(
    embedder: &dyn Embedder,
    name: &str,
    mut set: Labelled,
    thresholds: &[f32],
) -> Result<SetSweep> {
    set.sort_by_key(|(_, t)| fnv(t));
    let mut vectors = Vec::with_capacity(set.len());
    for (_, text) in &set {
        vectors.push(embedder.embed_query(text)?);
    }
    let truth: Vec<&str> = set.iter().map(|(i, _)| i.as_str()).collect();
    let mut intents = truth.clone();
    intents.sort_unstable();
    intents.dedup();
    let mut points = Vec::new();
    for &t in thresholds {
        let predicted = quarry_query::gaps::cluster(&vectors, t);
        let (precision, recall) = quarry_query::gaps::pairwise_scores(&truth, &predicted);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        points.push(Point {
            threshold: t,
            precision,
            recall,
            f1,
            clusters: predicted.iter().max().map_or(0, |m| m + 1),
        });
    }
    Ok(SetSweep {
        name: name.to_owned(),
        questions: set.len(),
        intents: intents.len(),
        points,
    })
}

/// The sweeps as a Markdown table.
pub fn table(sweeps: &[SetSweep]) -> String {
    let mut out = String::new();
    for s in sweeps {
        out.push_str(&format!(
            "\n### {} — {} questions, {} intents\n\n| threshold | precision | recall | F1 | clusters |\n|---|---|---|---|---|\n",
            s.name, s.questions, s.intents
        ));
        for p in &s.points {
            out.push_str(&format!(
                "| {:.2} | {:.3} | {:.3} | {:.3} | {} |\n",
                p.threshold, p.precision, p.recall, p.f1, p.clusters
            ));
        }
    }
    out
}
