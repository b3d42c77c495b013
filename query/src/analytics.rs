//! Analytics from the question log ([`analytics`]): answer / clarify /
//! hand-off counts per day, the most-cited documents, and the documents no
//! answer cited. A question *cites* the document of its top passage when
//! it was decided `answer`: that is the page the visitor was answered from.

use crate::Result;
use quarry_index::{DayCounts, KnowledgeBase, unix_now};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// A document and how often it was cited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CitedDocument {
    pub uri: String,
    pub title: Option<String>,
    /// Where it is published, when known.
    pub url: Option<String>,
    /// Questions answered from it (its passage first).
    pub citations: u64,
}

/// `GET /v1/kb/{kb}/analytics` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analytics {
    pub days: u32,
    pub questions: u64,
    pub per_day: Vec<DayCounts>,
    /// At most 20, most cited first.
    pub most_cited: Vec<CitedDocument>,
    /// Documents no question was answered from in the window (at most 100).
    pub never_cited: Vec<CitedDocument>,
    pub never_cited_total: usize,
}

fn describe(kb: &KnowledgeBase, uri: &str, citations: u64) -> Result<CitedDocument> {
    let doc = kb.document(uri)?;
    Ok(CitedDocument {
        uri: uri.to_owned(),
        title: doc.as_ref().and_then(|d| d.meta.title.clone()),
        url: doc.and_then(|d| d.meta.url),
        citations,
    })
}

/// The last `days` days of `kb`'s log.
pub fn analytics(kb: &KnowledgeBase, days: u32) -> Result<Analytics> {
    let since = unix_now() - i64::from(days) * 86_400;
    let questions = kb.questions().questions_since(since)?;
    let mut cited: HashMap<String, u64> = HashMap::new();
    for q in questions.iter().filter(|q| q.decision == "answer") {
        if let Some(d) = q.documents.first() {
            *cited.entry(d.clone()).or_default() += 1;
        }
    }
    let live: HashSet<String> = kb.all_documents()?.into_iter().collect();
    let mut top: Vec<(String, u64)> = cited
        .iter()
        .filter(|(d, _)| live.contains(*d))
        .map(|(d, n)| (d.clone(), *n))
        .collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let most_cited = top
        .iter()
        .take(20)
        .map(|(d, n)| describe(kb, d, *n))
        .collect::<Result<Vec<_>>>()?;
    let mut never: Vec<&String> = live.iter().filter(|d| !cited.contains_key(*d)).collect();
    never.sort();
    let never_cited = never
        .iter()
        .take(100)
        .map(|d| describe(kb, d, 0))
        .collect::<Result<Vec<_>>>()?;
    Ok(Analytics {
        days,
        questions: questions.len() as u64,
        per_day: kb.questions().daily_counts(since)?,
        most_cited,
        never_cited,
        never_cited_total: never.len(),
    })
}
