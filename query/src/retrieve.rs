//! Question → ranked, cited passages and a decision.

use crate::confidence::{ConfidenceOptions, Decision, DecisionDetails};
use crate::{Error, Result};
use quarry_index::{ContentHash, Hit, KnowledgeBase, Locator};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

/// Settings of the read path.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryOptions {
    /// Passages returned when the request does not say.
    pub top_k: usize,
    /// The most passages one request may ask for.
    pub max_top_k: usize,
    /// Longest accepted question, in characters.
    pub max_query_chars: usize,
    /// Candidates fetched per passage returned, so collapsing duplicates
    /// still leaves `top_k`.
    pub oversample: usize,
    pub confidence: ConfidenceOptions,
}

impl Default for QueryOptions {
    fn default() -> Self {
        Self {
            top_k: 8,
            max_top_k: 50,
            max_query_chars: 2_000,
            oversample: 3,
            confidence: ConfidenceOptions::default(),
        }
    }
}

/// `POST /v1/query` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    pub query: String,
    #[serde(default)]
    pub top_k: Option<usize>,
    /// Knowledge base name; only `"default"` exists for now.
    #[serde(default)]
    pub kb: Option<String>,
}

impl QueryRequest {
    pub fn new(query: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            top_k: None,
            kb: None,
        }
    }
}

/// Where a passage comes from, precisely enough to link to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    pub source_id: String,
    /// The document (`file:///…`, `https://…`).
    pub uri: String,
    /// A link to the exact place: `uri` with the locator's fragment.
    pub url: String,
    pub title: Option<String>,
    pub heading_path: Vec<String>,
    pub locator: Locator,
}

/// How a passage's score came about.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreDetails {
    /// Cosine similarity of query and passage embeddings.
    pub vector_similarity: f32,
    /// 1-based rank in the vector search.
    pub vector_rank: usize,
    /// Other passages with the same text that were folded into this one.
    pub duplicates_collapsed: usize,
}

/// One retrieved passage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// Stable chunk id.
    pub id: String,
    pub text: String,
    pub score: f32,
    /// False for private sources: `citation` is then absent.
    pub citable: bool,
    pub citation: Option<Citation>,
    pub score_details: ScoreDetails,
}

/// Milliseconds spent in each step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub embed_ms: f64,
    pub search_ms: f64,
    pub total_ms: f64,
}

/// `POST /v1/query` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryResponse {
    pub passages: Vec<Passage>,
    /// Probability-like confidence that the top passage answers the question.
    pub confidence: f32,
    pub decision: Decision,
    pub details: DecisionDetails,
    pub timings: Timings,
}

/// Answers questions from one knowledge base.
#[derive(Debug, Clone)]
pub struct Retriever {
    kb: Arc<KnowledgeBase>,
    options: QueryOptions,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

impl Retriever {
    pub fn new(kb: Arc<KnowledgeBase>, options: QueryOptions) -> Result<Self> {
        options
            .confidence
            .validate()
            .map_err(|m| Error::bad_request("invalid_config", m))?;
        Ok(Self { kb, options })
    }

    pub fn kb(&self) -> &Arc<KnowledgeBase> {
        &self.kb
    }

    fn validate(&self, req: &QueryRequest) -> Result<(String, usize)> {
        let query = req.query.trim();
        if query.is_empty() {
            return Err(Error::bad_request("empty_query", "query must not be empty"));
        }
        let chars = query.chars().count();
        if chars > self.options.max_query_chars {
            return Err(Error::bad_request(
                "query_too_long",
                format!(
                    "query has {chars} characters; the limit is {}",
                    self.options.max_query_chars
                ),
            ));
        }
        let top_k = req.top_k.unwrap_or(self.options.top_k);
        if top_k == 0 || top_k > self.options.max_top_k {
            return Err(Error::bad_request(
                "invalid_top_k",
                format!("top_k must be between 1 and {}", self.options.max_top_k),
            ));
        }
        if let Some(kb) = req.kb.as_deref()
            && kb != "default"
        {
            return Err(Error::NotFound(format!(
                "knowledge base {kb:?} does not exist"
            )));
        }
        Ok((query.to_owned(), top_k))
    }

    pub fn query(&self, req: &QueryRequest) -> Result<QueryResponse> {
        let started = Instant::now();
        let (query, top_k) = self.validate(req)?;
        let t = Instant::now();
        let vector = self.kb.embedder().embed_query(&query)?;
        let embed_ms = ms(t);
        let t = Instant::now();
        let hits = self
            .kb
            .search(&vector, top_k * self.options.oversample.max(1), None)?;
        let search_ms = ms(t);
        let passages = collapse(hits, top_k);
        let similarities: Vec<f32> = passages.iter().map(|p| p.score).collect();
        let (decision, details) = self.options.confidence.assess(&similarities);
        Ok(QueryResponse {
            passages,
            confidence: details.confidence,
            decision,
            details,
            timings: Timings {
                embed_ms,
                search_ms,
                total_ms: ms(started),
            },
        })
    }
}

/// Keeps the best of passages whose text is the same (boilerplate repeated
/// across pages), then the first `k`.
fn collapse(hits: Vec<Hit>, k: usize) -> Vec<Passage> {
    let mut seen: Vec<(ContentHash, usize)> = Vec::new();
    let mut keys = HashSet::new();
    let mut out: Vec<Passage> = Vec::new();
    for (rank, hit) in hits.into_iter().enumerate() {
        let key = ContentHash::of(normalise(&hit.chunk.text).as_bytes());
        if !keys.insert(key) {
            if let Some((_, idx)) = seen.iter().find(|(h, _)| *h == key) {
                out[*idx].score_details.duplicates_collapsed += 1;
            }
            continue;
        }
        if out.len() == k {
            continue;
        }
        seen.push((key, out.len()));
        let c = hit.chunk;
        let citation = c.citable.then(|| Citation {
            url: match c.locator.fragment() {
                Some(f) => format!("{}#{f}", c.doc_uri),
                None => c.doc_uri.clone(),
            },
            source_id: c.source_id,
            uri: c.doc_uri,
            title: c.title,
            heading_path: c.heading_path,
            locator: c.locator,
        });
        out.push(Passage {
            id: c.chunk_id,
            text: c.text,
            score: hit.similarity,
            citable: citation.is_some(),
            citation,
            score_details: ScoreDetails {
                vector_similarity: hit.similarity,
                vector_rank: rank + 1,
                duplicates_collapsed: 0,
            },
        });
    }
    out
}

fn normalise(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}
