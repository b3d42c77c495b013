//! Question → ranked, cited passages and a decision.

use crate::confidence::{ConfidenceOptions, Decision, DecisionDetails};
use crate::{Error, Result};
use quarry_index::{ChunkRecord, ContentHash, KnowledgeBase, Locator};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// How the vector and keyword rankings become one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Fusion {
    /// Reciprocal rank fusion: Σ 1 / (k + rank) over both rankings.
    Rrf,
    /// Min-max normalised scores, weighted (`blend_vector_weight`): the
    /// default, better than RRF on every dev set (README).
    #[default]
    Blend,
    /// Vector search alone.
    Vector,
    /// BM25 alone.
    Keyword,
}

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
    pub fusion: Fusion,
    /// The `k` of reciprocal rank fusion (60 in the original paper).
    pub rrf_k: f32,
    /// Weight of the vector side in `blend` fusion (the keyword side gets the rest).
    pub blend_vector_weight: f32,
    /// Passages whose embeddings are at least this similar to a better-ranked
    /// passage are folded into it (the same paragraph on many pages, lightly
    /// edited). Above 1.0 only identical text is folded.
    pub near_duplicate_similarity: f32,
    /// A short answer whose question is at least this similar to the query
    /// goes first and decides `answer`.
    pub short_answer_similarity: f32,
    /// The confidence reported for such a match (at least).
    pub short_answer_confidence: f32,
    pub confidence: ConfidenceOptions,
    /// Query embeddings kept for repeated questions (0 = no cache).
    pub cache_size: usize,
}

impl Default for QueryOptions {
    fn default() -> Self {
        Self {
            top_k: 8,
            max_top_k: 50,
            max_query_chars: 2_000,
            oversample: 3,
            fusion: Fusion::Blend,
            rrf_k: 60.0,
            blend_vector_weight: 0.5,
            near_duplicate_similarity: 0.97,
            short_answer_similarity: 0.8,
            short_answer_confidence: 0.95,
            confidence: ConfidenceOptions::default(),
            cache_size: 10_000,
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
    /// Knowledge base name (default `"default"`).
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
    /// The document (`file:///…`, `https://…`, `article://…`).
    pub uri: String,
    /// A link to the exact place: the document's published address (or
    /// `uri`) with the locator's fragment.
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
    /// 1-based rank in the vector search, if it found this passage.
    pub vector_rank: Option<usize>,
    /// BM25 score, if the keyword search found this passage.
    pub keyword_score: Option<f32>,
    /// 1-based rank in the keyword search.
    pub keyword_rank: Option<usize>,
    /// The fused score the passages are ordered by (also `score`).
    pub fused: f32,
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
    /// False for sources with citations off (always for private ones):
    /// `citation` is then absent.
    pub citable: bool,
    pub citation: Option<Citation>,
    /// For a short answer: the admin-written question it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    pub score_details: ScoreDetails,
}

/// Milliseconds spent in each step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub embed_ms: f64,
    /// The query's embedding came from the cache.
    #[serde(default)]
    pub embed_cached: bool,
    /// Vector search.
    pub search_ms: f64,
    pub keyword_ms: f64,
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

pub use quarry_index::SHORT_ANSWER_FORMAT;

/// Answers questions from one knowledge base.
#[derive(Debug, Clone)]
pub struct Retriever {
    kb: Arc<KnowledgeBase>,
    options: QueryOptions,
    cache: Option<Arc<crate::cache::QueryCache>>,
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
        Ok(Self {
            kb,
            options,
            cache: None,
        })
    }

    /// Shares a query-embedding cache (one per server: embeddings depend
    /// on the model only).
    pub fn with_cache(mut self, cache: Option<Arc<crate::cache::QueryCache>>) -> Self {
        self.cache = cache;
        self
    }

    pub fn kb(&self) -> &Arc<KnowledgeBase> {
        &self.kb
    }

    pub fn options(&self) -> &QueryOptions {
        &self.options
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
        Ok((query.to_owned(), top_k))
    }

    pub fn query(&self, req: &QueryRequest) -> Result<QueryResponse> {
        let started = Instant::now();
        let (query, top_k) = self.validate(req)?;
        let t = Instant::now();
        let embed = || self.kb.embedder().embed_query(&query);
        let (vector, embed_cached) = match &self.cache {
            Some(cache) => cache.get_or_embed(&query, embed)?,
            None => (Arc::new(embed()?), false),
        };
        let embed_ms = ms(t);
        let n = (top_k * self.options.oversample.max(1)).max(20);
        let fusion = self.options.fusion;
        let t = Instant::now();
        let by_vector = match fusion {
            Fusion::Keyword => Vec::new(),
            _ => self.kb.vector_candidates(&vector, n, None)?,
        };
        let search_ms = ms(t);
        let t = Instant::now();
        let by_keyword = match fusion {
            Fusion::Vector => Vec::new(),
            _ => self.kb.keyword_candidates(&query, n)?,
        };
        let keyword_ms = ms(t);
        let mut candidates = fuse(&by_vector, &by_keyword, &self.options);
        candidates.truncate(n);
        let chunks = self
            .kb
            .chunks(&candidates.iter().map(|c| c.id).collect::<Vec<_>>())?;
        let hashes: Vec<ContentHash> = chunks.iter().map(|c| c.content_hash).collect();
        let vectors = self.kb.cached_embeddings(&hashes)?;
        fill_similarities(&vector, &mut candidates, &chunks, &vectors);
        let near = self.options.near_duplicate_similarity;
        let mut passages = collapse(candidates, chunks, &vectors, top_k, near);
        let short_answer = prefer_short_answer(&mut passages, self.options.short_answer_similarity);
        let features = features(&query, &passages);
        let (mut decision, mut details) = self.options.confidence.assess(features.as_ref());
        if short_answer {
            decision = Decision::Answer;
            details.short_answer = true;
            details.confidence = details.confidence.max(self.options.short_answer_confidence);
        }
        Ok(QueryResponse {
            passages,
            confidence: details.confidence,
            decision,
            details,
            timings: Timings {
                embed_ms,
                embed_cached,
                search_ms,
                keyword_ms,
                total_ms: ms(started),
            },
        })
    }
}

/// What the confidence model reads off a result (`None` without passages).
pub fn features(query: &str, passages: &[Passage]) -> Option<crate::Features> {
    let top = passages.first()?;
    let d = &top.score_details;
    let runner_up = passages[1..]
        .iter()
        .map(|p| p.score_details.vector_similarity)
        .reduce(f32::max);
    let inverse = |rank: Option<usize>| rank.map_or(0.0, |r| 1.0 / r as f32);
    // A short answer's question is what it matched on; its text is the answer.
    let text = top.question.as_deref().unwrap_or(&top.text);
    Some(crate::Features {
        similarity: d.vector_similarity,
        margin: d.vector_similarity - runner_up.unwrap_or(0.0),
        keyword_score: d.keyword_score.unwrap_or(0.0),
        agreement: (inverse(d.vector_rank) + inverse(d.keyword_rank)) / 2.0,
        coverage: quarry_index::keyword::term_coverage(query, text),
    })
}

/// Moves the short answer whose question best matches the query to the
/// front when it matches closely enough; true if one did.
fn prefer_short_answer(passages: &mut Vec<Passage>, threshold: f32) -> bool {
    let best = passages
        .iter()
        .enumerate()
        .filter(|(_, p)| p.question.is_some() && p.score_details.vector_similarity >= threshold)
        .max_by(|a, b| {
            a.1.score_details
                .vector_similarity
                .total_cmp(&b.1.score_details.vector_similarity)
        })
        .map(|(i, _)| i);
    match best {
        Some(i) => {
            let p = passages.remove(i);
            passages.insert(0, p);
            true
        }
        None => false,
    }
}

/// Candidates the vector search did not return get their similarity from the
/// stored embeddings, so confidence and score details are complete.
fn fill_similarities(
    query: &[f32],
    candidates: &mut [Candidate],
    chunks: &[ChunkRecord],
    vectors: &HashMap<ContentHash, Vec<f32>>,
) {
    let hash_of: HashMap<u64, ContentHash> =
        chunks.iter().map(|c| (c.vid, c.content_hash)).collect();
    for c in candidates.iter_mut().filter(|c| c.similarity.is_none()) {
        c.similarity = hash_of
            .get(&c.id)
            .and_then(|h| vectors.get(h))
            .map(|v| quarry_index::embed::dot(query, v));
    }
}

/// One chunk on its way to becoming a passage.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    id: u64,
    fused: f32,
    similarity: Option<f32>,
    vector_rank: Option<usize>,
    keyword_score: Option<f32>,
    keyword_rank: Option<usize>,
}

/// Merges the two rankings (each best first) into one, best first.
fn fuse(
    by_vector: &[(u64, f32)],
    by_keyword: &[(u64, f32)],
    options: &QueryOptions,
) -> Vec<Candidate> {
    let mut all: HashMap<u64, Candidate> = HashMap::new();
    for (rank, (id, sim)) in by_vector.iter().enumerate() {
        let c = all.entry(*id).or_insert_with(|| Candidate::new(*id));
        c.similarity = Some(*sim);
        c.vector_rank = Some(rank + 1);
    }
    for (rank, (id, score)) in by_keyword.iter().enumerate() {
        let c = all.entry(*id).or_insert_with(|| Candidate::new(*id));
        c.keyword_score = Some(*score);
        c.keyword_rank = Some(rank + 1);
    }
    let range = |xs: &[(u64, f32)]| {
        let max = xs.iter().map(|x| x.1).fold(f32::MIN, f32::max);
        let min = xs.iter().map(|x| x.1).fold(f32::MAX, f32::min);
        (min, (max - min).max(1e-6))
    };
    let (v_min, v_span) = range(by_vector);
    let (k_min, k_span) = range(by_keyword);
    let k_max = by_keyword.first().map_or(1.0, |x| x.1).max(1e-6);
    let rrf = |rank: Option<usize>| rank.map_or(0.0, |r| 1.0 / (options.rrf_k + r as f32));
    for c in all.values_mut() {
        c.fused = match options.fusion {
            // Scaled so a passage first in both rankings scores 1.
            Fusion::Rrf => {
                (rrf(c.vector_rank) + rrf(c.keyword_rank)) / (2.0 / (options.rrf_k + 1.0))
            }
            Fusion::Blend => {
                let v = c.similarity.map_or(0.0, |s| (s - v_min) / v_span);
                let k = c.keyword_score.map_or(0.0, |s| (s - k_min) / k_span);
                options.blend_vector_weight * v + (1.0 - options.blend_vector_weight) * k
            }
            Fusion::Vector => c.similarity.unwrap_or(0.0),
            Fusion::Keyword => c.keyword_score.unwrap_or(0.0) / k_max,
        };
    }
    let mut out: Vec<Candidate> = all.into_values().collect();
    out.sort_by(|a, b| b.fused.total_cmp(&a.fused).then(a.id.cmp(&b.id)));
    out
}

impl Candidate {
    fn new(id: u64) -> Self {
        Self {
            id,
            fused: 0.0,
            similarity: None,
            vector_rank: None,
            keyword_score: None,
            keyword_rank: None,
        }
    }
}

/// Keeps the best of passages whose text is the same, or whose embeddings are
/// near-identical (boilerplate repeated across pages), then the first `k`.
fn collapse(
    candidates: Vec<Candidate>,
    chunks: Vec<ChunkRecord>,
    vectors: &HashMap<ContentHash, Vec<f32>>,
    k: usize,
    near_duplicate: f32,
) -> Vec<Passage> {
    let mut by_id: HashMap<u64, ChunkRecord> = chunks.into_iter().map(|c| (c.vid, c)).collect();
    let mut first_of: HashMap<ContentHash, usize> = HashMap::new();
    // Vectors of the passages kept so far, with their index in `out`.
    let mut kept: Vec<(usize, &Vec<f32>)> = Vec::new();
    let mut out: Vec<Passage> = Vec::new();
    for cand in candidates {
        // A chunk removed between search and fetch is simply skipped.
        let Some(c) = by_id.remove(&cand.id) else {
            continue;
        };
        let key = ContentHash::of(normalise(&c.text).as_bytes());
        let vector = vectors.get(&c.content_hash);
        let near = vector.and_then(|v| {
            kept.iter()
                .find(|(_, w)| quarry_index::embed::dot(v, w) >= near_duplicate)
                .map(|(idx, _)| *idx)
        });
        if let Some(idx) = first_of.get(&key).copied().or(near) {
            out[idx].score_details.duplicates_collapsed += 1;
            continue;
        }
        if out.len() == k {
            continue;
        }
        first_of.insert(key, out.len());
        if let Some(v) = vector {
            kept.push((out.len(), v));
        }
        let question = (c.format == SHORT_ANSWER_FORMAT)
            .then(|| c.title.clone())
            .flatten();
        let citation = c.citable.then(|| Citation {
            url: {
                let base = c.url.as_deref().unwrap_or(&c.doc_uri);
                match c.locator.fragment() {
                    Some(f) => format!("{base}#{f}"),
                    None => base.to_owned(),
                }
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
            score: cand.fused,
            citable: citation.is_some(),
            citation,
            question,
            score_details: ScoreDetails {
                vector_similarity: cand.similarity.unwrap_or(0.0),
                vector_rank: cand.vector_rank,
                keyword_score: cand.keyword_score,
                keyword_rank: cand.keyword_rank,
                fused: cand.fused,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn order(fusion: Fusion, v: &[(u64, f32)], k: &[(u64, f32)]) -> Vec<u64> {
        let options = QueryOptions {
            fusion,
            ..QueryOptions::default()
        };
        fuse(v, k, &options).into_iter().map(|c| c.id).collect()
    }

    #[test]
    fn rrf_rewards_agreement() {
        let v = [(1, 0.9), (2, 0.8), (3, 0.7)];
        let k = [(3, 12.0), (4, 9.0), (1, 2.0)];
        // 1 and 3 are in both lists; 1 is higher on average.
        assert_eq!(order(Fusion::Rrf, &v, &k), vec![1, 3, 2, 4]);
        let rrf = QueryOptions {
            fusion: Fusion::Rrf,
            ..QueryOptions::default()
        };
        let top = fuse(&[(7, 0.5)], &[(7, 3.0)], &rrf)[0];
        assert!(
            (top.fused - 1.0).abs() < 1e-6,
            "first in both lists scores 1"
        );
    }

    fn chunk(vid: u64, text: &str) -> ChunkRecord {
        ChunkRecord {
            vid,
            chunk_id: format!("c{vid}"),
            doc_uri: format!("file:///doc{vid}.html"),
            ordinal: 0,
            content_hash: ContentHash::of(text.as_bytes()),
            heading_path: vec![],
            text: text.into(),
            locator: Locator::Document,
            source_id: "s".into(),
            title: None,
            citable: true,
            url: None,
            format: "html".into(),
        }
    }

    #[test]
    fn near_duplicates_fold_into_the_best_ranked() {
        let chunks = vec![
            chunk(1, "Contact support at help@example.com. Updated 2021."),
            chunk(2, "Contact support at help@example.com. Updated 2022."),
            chunk(3, "Refunds take five days."),
            chunk(4, "Contact support at help@example.com. Updated 2021."),
        ];
        let unit = |a: f32, b: f32| {
            let n = (a * a + b * b).sqrt();
            vec![a / n, b / n]
        };
        let vectors: HashMap<ContentHash, Vec<f32>> = [
            (chunks[0].content_hash, unit(1.0, 0.0)),
            (chunks[1].content_hash, unit(1.0, 0.1)),
            (chunks[2].content_hash, unit(0.0, 1.0)),
        ]
        .into_iter()
        .collect();
        let candidates: Vec<Candidate> = (1..=4).map(Candidate::new).collect();
        let passages = collapse(candidates.clone(), chunks.clone(), &vectors, 10, 0.97);
        let ids: Vec<&str> = passages.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["c1", "c3"]);
        assert_eq!(passages[0].score_details.duplicates_collapsed, 2);
        // Above 1.0 only identical text folds.
        let exact = collapse(candidates, chunks, &vectors, 10, 1.01);
        assert_eq!(exact.len(), 3);
    }

    #[test]
    fn single_sided_modes_keep_their_own_order() {
        let v = [(1, 0.9), (2, 0.8)];
        let k = [(2, 5.0), (3, 4.0)];
        assert_eq!(order(Fusion::Vector, &v, &[]), vec![1, 2]);
        assert_eq!(order(Fusion::Keyword, &[], &k), vec![2, 3]);
        // Blend: 2 is top for keywords and close to the top for vectors.
        let v = [(1, 0.9), (2, 0.85), (3, 0.5)];
        let k = [(2, 5.0), (3, 4.0), (4, 1.0)];
        assert_eq!(order(Fusion::Blend, &v, &k), vec![2, 1, 3, 4]);
    }
}
