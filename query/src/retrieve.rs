//! Question → ranked, cited passages and a decision.

use crate::confidence::{ConfidenceOptions, Decision};
use crate::response::{Citation, Passage, QueryRequest, QueryResponse, ScoreDetails, Timings};
use crate::{Error, Result};
use quarry_index::{ChunkRecord, ContentHash, KnowledgeBase};
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
    /// Weight of the vector side in `blend` fusion (the keyword side gets
    /// the rest); unset, the weight chosen for the knowledge base's model
    /// (`query/confidence/MODEL.json`: 0.7 for multilingual-e5-small, 0.5
    /// for all-MiniLM-L6-v2).
    pub blend_vector_weight: Option<f32>,
    /// Passages whose embeddings are at least this similar to a better-ranked
    /// passage are folded into it (the same paragraph on many pages, lightly
    /// edited). Above 1.0 only identical text is folded.
    pub near_duplicate_similarity: f32,
    /// A short answer whose question is at least this similar to the query
    /// goes first and decides `answer`.
    /// Unset: the model's (`query/confidence/MODEL.json`: 0.9 for
    /// multilingual-e5-small, whose unrelated questions reach 0.86; 0.8 for
    /// all-MiniLM-L6-v2).
    pub short_answer_similarity: Option<f32>,
    /// The confidence reported for such a match (at least).
    pub short_answer_confidence: f32,
    /// Passages in another language than the question yield to their
    /// translation in the question's language: a passage that is their
    /// mutual nearest neighbour among the best 20, at least this similar.
    pub translation_similarity: f32,
    /// The confidence model; unset, each knowledge base uses the parameters
    /// fitted for its embedding model (`query/confidence/MODEL.json`).
    pub confidence: Option<ConfidenceOptions>,
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
            blend_vector_weight: None,
            near_duplicate_similarity: 0.97,
            short_answer_similarity: None,
            short_answer_confidence: 0.95,
            translation_similarity: 0.8,
            confidence: None,
            cache_size: 10_000,
        }
    }
}

pub use quarry_index::SHORT_ANSWER_FORMAT;

/// Answers questions from one knowledge base.
#[derive(Debug, Clone)]
pub struct Retriever {
    kb: Arc<KnowledgeBase>,
    options: QueryOptions,
    /// `options.confidence`, or the knowledge base's model's parameters.
    confidence: ConfidenceOptions,
    cache: Option<Arc<crate::cache::QueryCache>>,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

impl Retriever {
    pub fn new(kb: Arc<KnowledgeBase>, mut options: QueryOptions) -> Result<Self> {
        let confidence = options
            .confidence
            .unwrap_or_else(|| ConfidenceOptions::for_model(kb.model()));
        let tuned = crate::confidence::ModelTuning::for_model(kb.model());
        options.blend_vector_weight = options
            .blend_vector_weight
            .or(Some(tuned.blend_vector_weight));
        options.short_answer_similarity = options
            .short_answer_similarity
            .or(Some(tuned.short_answer_similarity));
        confidence
            .validate()
            .map_err(|m| Error::bad_request("invalid_config", m))?;
        Ok(Self {
            kb,
            options,
            confidence,
            cache: None,
        })
    }

    /// The confidence model this retriever applies.
    pub fn confidence(&self) -> &ConfidenceOptions {
        &self.confidence
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
        let cleaned = strip_invisible(&req.query);
        let query = cleaned.trim();
        // Zero-width characters, NULs or punctuation alone give the models
        // nothing to match, yet would still return the nearest passages.
        if !query.chars().any(char::is_alphanumeric) {
            return Err(Error::bad_request(
                "empty_query",
                "query must contain a letter or a digit",
            ));
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
        Ok(self.query_with_vector(req)?.0)
    }

    /// [`Retriever::query`], and the question's embedding (for the log).
    pub fn query_with_vector(&self, req: &QueryRequest) -> Result<(QueryResponse, Arc<Vec<f32>>)> {
        let started = Instant::now();
        let (query, top_k) = self.validate(req)?;
        let language = quarry_index::keyword::detect_query_language(&query);
        let t = Instant::now();
        let embedder = self.kb.embedder();
        let embed = || embedder.embed_query(&query);
        let (vector, embed_cached) = match &self.cache {
            // Embeddings depend on the model: knowledge bases on different
            // models share the cache without sharing entries.
            Some(cache) => {
                cache.get_or_embed(&format!("{}\u{1}{query}", embedder.model_id()), embed)?
            }
            None => (Arc::new(embed()?), false),
        };
        let embed_ms = ms(t);
        // Scores and features never depend on `top_k`: fusion normalises
        // over a fixed-depth prefix of each ranking, and the features are
        // read off every candidate, before the result is cut to `top_k`.
        let n = (top_k * self.options.oversample.max(1)).max(FUSION_DEPTH);
        let fusion = self.options.fusion;
        let t = Instant::now();
        let by_vector = match fusion {
            Fusion::Keyword => Vec::new(),
            _ => self.kb.vector_candidates(&vector, n, None)?,
        };
        let search_ms = ms(t);
        let t = Instant::now();
        let (keyword_query, synonyms_applied) =
            crate::synonyms::Synonyms::of(&self.kb)?.expand(&query);
        let by_keyword = match fusion {
            Fusion::Vector => Vec::new(),
            _ => self.kb.keyword_candidates(&keyword_query, n)?,
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
        let identifiers = identifiers(&query);
        let near = self.options.near_duplicate_similarity;
        let mut ranked = collapse(candidates, chunks, &vectors, near, &identifiers);
        put_identifiers_first(&mut ranked, &identifiers);
        prefer_language(
            &mut ranked,
            language,
            &vectors,
            self.options.translation_similarity,
        );
        let short_answer = prefer_short_answer(
            &mut ranked,
            self.options.short_answer_similarity.unwrap_or(0.8),
        );
        let mut passages: Vec<Passage> = ranked.into_iter().map(|r| r.passage).collect();
        let features = features(&query, &passages);
        let (mut decision, mut details) = self.confidence.assess(features.as_ref());
        let best = BestTwo::of(&passages);
        passages.truncate(top_k);
        score_passages(&query, &mut passages, &self.confidence, best);
        if short_answer {
            decision = Decision::Answer;
            details.short_answer = true;
            details.confidence = details.confidence.max(self.options.short_answer_confidence);
            if let Some(top) = passages.first_mut() {
                top.score = top.score.max(details.confidence);
            }
        }
        let mut response = QueryResponse {
            insights: None,
            passages,
            language: language.to_owned(),
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
        };
        if req.explain {
            response.insights = Some(crate::insights::explain(
                &response,
                features.as_ref(),
                &self.confidence,
                synonyms_applied,
            ));
        }
        Ok((response, vector))
    }
}

/// Ranks deep enough that the normalisation of each side (min–max over its
/// first `FUSION_DEPTH` results) is the same whatever `top_k` asked for.
const FUSION_DEPTH: usize = 20;

/// Each passage's `score`: the confidence model applied to the passage's
/// own features (its margin over the best other candidate), a probability
/// that it answers the question, comparable across queries. The top
/// passage's score is the response's confidence. `best` are the two highest
/// similarities among all candidates (before the cut to `top_k`), with the
/// index of the highest.
fn score_passages(query: &str, passages: &mut [Passage], model: &ConfidenceOptions, best: BestTwo) {
    for (i, p) in passages.iter_mut().enumerate() {
        let others = if i == best.index {
            best.second
        } else {
            best.first
        };
        let margin = p.score_details.vector_similarity - others.unwrap_or(0.0);
        p.score = model.probability(&passage_features(query, p, margin));
    }
}

/// The two highest vector similarities of a ranking.
#[derive(Debug, Clone, Copy, Default)]
struct BestTwo {
    first: Option<f32>,
    index: usize,
    second: Option<f32>,
}

impl BestTwo {
    fn of(passages: &[Passage]) -> Self {
        let mut best = Self::default();
        for (i, p) in passages.iter().enumerate() {
            let s = p.score_details.vector_similarity;
            if best.first.is_none_or(|f| s > f) {
                best.second = best.first;
                best.first = Some(s);
                best.index = i;
            } else if best.second.is_none_or(|f| s > f) {
                best.second = Some(s);
            }
        }
        best
    }
}

fn passage_features(query: &str, p: &Passage, margin: f32) -> crate::Features {
    let d = &p.score_details;
    let inverse = |rank: Option<usize>| rank.map_or(0.0, |r| 1.0 / r as f32);
    // A short answer's question is what it matched on; its text is the answer.
    let text = p.question.as_deref().unwrap_or(&p.text);
    crate::Features {
        similarity: d.vector_similarity,
        margin,
        keyword_score: d.keyword_score.unwrap_or(0.0),
        agreement: (inverse(d.vector_rank) + inverse(d.keyword_rank)) / 2.0,
        coverage: quarry_index::keyword::term_coverage(query, text),
    }
}

/// What the confidence model reads off a result (`None` without passages):
/// the top passage's features, its margin taken over every other passage.
pub fn features(query: &str, passages: &[Passage]) -> Option<crate::Features> {
    let top = passages.first()?;
    let runner_up = passages[1..]
        .iter()
        .map(|p| p.score_details.vector_similarity)
        .reduce(f32::max);
    let margin = top.score_details.vector_similarity - runner_up.unwrap_or(0.0);
    Some(passage_features(query, top, margin))
}

/// Moves the short answer whose question best matches the query to the
/// front when it matches closely enough; true if one did.
fn prefer_short_answer(passages: &mut Vec<Ranked>, threshold: f32) -> bool {
    let best = passages
        .iter()
        .map(|r| &r.passage)
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
    // Min–max over the first FUSION_DEPTH results of each side: a deeper
    // search (a larger top_k) must not move the scale. Below the depth a
    // score may fall under 0; it is clamped.
    let range = |xs: &[(u64, f32)]| {
        let head = &xs[..xs.len().min(FUSION_DEPTH)];
        let max = head.iter().map(|x| x.1).fold(f32::MIN, f32::max);
        let min = head.iter().map(|x| x.1).fold(f32::MAX, f32::min);
        (min, max - min)
    };
    // A side whose head is flat (one keyword hit, or ties) puts its hits at
    // the top of the scale: a lone exact match must not count as nothing.
    let scale = |s: f32, (min, span): (f32, f32)| {
        if span <= 1e-6 {
            1.0
        } else {
            ((s - min) / span).max(0.0)
        }
    };
    let v_range = range(by_vector);
    let k_range = range(by_keyword);
    let k_max = by_keyword.first().map_or(1.0, |x| x.1).max(1e-6);
    let rrf = |rank: Option<usize>| rank.map_or(0.0, |r| 1.0 / (options.rrf_k + r as f32));
    for c in all.values_mut() {
        c.fused = match options.fusion {
            // Scaled so a passage first in both rankings scores 1.
            Fusion::Rrf => {
                (rrf(c.vector_rank) + rrf(c.keyword_rank)) / (2.0 / (options.rrf_k + 1.0))
            }
            Fusion::Blend => {
                let v = c.similarity.map_or(0.0, |s| scale(s, v_range));
                let k = c.keyword_score.map_or(0.0, |s| scale(s, k_range));
                let w = options.blend_vector_weight.unwrap_or(0.5);
                w * v + (1.0 - w) * k
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

/// A passage with the content hash of its embedding.
#[derive(Debug, Clone)]
struct Ranked {
    passage: Passage,
    hash: ContentHash,
}

/// Keeps the best of passages whose text is the same, or whose embeddings are
/// near-identical (boilerplate repeated across pages), in fused order. A
/// passage holding one of the question's `identifiers` that the better one
/// lacks is never folded into it: near-identical pages that differ only in an
/// order number are exactly the ones a visitor tells apart by it.
fn collapse(
    candidates: Vec<Candidate>,
    chunks: Vec<ChunkRecord>,
    vectors: &HashMap<ContentHash, Vec<f32>>,
    near_duplicate: f32,
    identifiers: &[String],
) -> Vec<Ranked> {
    let mut by_id: HashMap<u64, ChunkRecord> = chunks.into_iter().map(|c| (c.vid, c)).collect();
    let mut first_of: HashMap<ContentHash, usize> = HashMap::new();
    // Vectors of the passages kept so far, with their index in `out`.
    let mut kept: Vec<(usize, &Vec<f32>)> = Vec::new();
    let mut out: Vec<Ranked> = Vec::new();
    for cand in candidates {
        // A chunk removed between search and fetch is simply skipped.
        let Some(c) = by_id.remove(&cand.id) else {
            continue;
        };
        let key = ContentHash::of(normalise(&c.text).as_bytes());
        let vector = vectors.get(&c.content_hash);
        let ids_here = held_identifiers(&c.text, identifiers);
        let near = vector.and_then(|v| {
            kept.iter()
                .find(|(idx, w)| {
                    quarry_index::embed::dot(v, w) >= near_duplicate
                        && ids_here.iter().all(|i| {
                            held_identifiers(&out[*idx].passage.text, identifiers).contains(i)
                        })
                })
                .map(|(idx, _)| *idx)
        });
        if let Some(idx) = first_of.get(&key).copied().or(near) {
            out[idx].passage.score_details.duplicates_collapsed += 1;
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
        out.push(Ranked {
            hash: c.content_hash,
            passage: Passage {
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
            },
        });
    }
    out
}

/// The question's exact identifiers: order numbers, error codes, SKUs,
/// versions — words of at least four characters with two or more digits
/// mixed with letters or separators (`ORD4821K`, `E-1042`, `0x80070005`,
/// `2.4.1`), or runs of five or more digits. Lower-cased. Words like `mp3`
/// or `IPv6` are vocabulary, not identifiers.
pub fn identifiers(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in query.split(|c: char| c.is_whitespace() || ",;:!?()[]{}\"'«»“”".contains(c)) {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric());
        let digits = word.chars().filter(char::is_ascii_digit).count();
        let letters = word.chars().filter(|c| c.is_alphabetic()).count();
        let separators = word.chars().filter(|c| "-_./#".contains(*c)).count();
        let is_id = word.chars().count() >= 4
            && digits >= 2
            && (letters > 0 || separators > 0 || digits >= 5)
            && word
                .chars()
                .all(|c| c.is_alphanumeric() || "-_./#".contains(c));
        let word = word.to_lowercase();
        if is_id && !out.contains(&word) {
            out.push(word);
        }
    }
    out
}

/// The `identifiers` that occur in `text` as whole words (case-insensitive).
fn held_identifiers<'a>(text: &str, identifiers: &'a [String]) -> Vec<&'a String> {
    if identifiers.is_empty() {
        return Vec::new();
    }
    let lower = text.to_lowercase();
    identifiers
        .iter()
        .filter(|id| {
            lower.match_indices(id.as_str()).any(|(at, m)| {
                let before = lower[..at].chars().next_back();
                let after = lower[at + m.len()..].chars().next();
                !before.is_some_and(char::is_alphanumeric)
                    && !after.is_some_and(char::is_alphanumeric)
            })
        })
        .collect()
}

/// Passages that contain the question's identifiers verbatim go first (the
/// more of them, the earlier), in fused order otherwise: a visitor who types
/// an order number or an error code means that one.
fn put_identifiers_first(passages: &mut [Ranked], identifiers: &[String]) {
    if identifiers.is_empty() {
        return;
    }
    // Stable: equal counts keep their fused order.
    passages.sort_by_cached_key(|r| {
        std::cmp::Reverse(held_identifiers(&r.passage.text, identifiers).len())
    });
}

/// A passage in another language than the question's yields its place to
/// the passage in the question's language that says the same: the same
/// article translated. Translations are recognised as mutual nearest
/// neighbours among the first [`FUSION_DEPTH`] passages (so the order never
/// depends on `top_k`) whose similarity is at least `threshold`: an absolute
/// similarity alone cannot tell a translation from a sibling page (with
/// multilingual-e5-small both score 0.85–0.95).
fn prefer_language(
    passages: &mut [Ranked],
    language: &str,
    vectors: &HashMap<ContentHash, Vec<f32>>,
    threshold: f32,
) {
    let depth = passages.len().min(FUSION_DEPTH);
    let head = &passages[..depth];
    // Told from each passage's opening (see `passage_language`).
    let langs: Vec<&str> = head
        .iter()
        .map(|r| quarry_index::keyword::passage_language(&r.passage.text))
        .collect();
    if !langs.contains(&language) || langs.iter().all(|l| *l == language) {
        return;
    }
    let vecs: Vec<Option<&Vec<f32>>> = head.iter().map(|r| vectors.get(&r.hash)).collect();
    let nearest = |i: usize| -> Option<(usize, f32)> {
        let v = vecs[i]?;
        (0..depth)
            .filter(|&j| j != i)
            .filter_map(|j| vecs[j].map(|w| (j, quarry_index::embed::dot(v, w))))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    };
    let partner: Vec<Option<(usize, f32)>> = (0..depth).map(nearest).collect();
    let mut order: Vec<usize> = (0..depth).collect();
    for i in 0..depth {
        if langs[i] == language {
            continue;
        }
        let Some((j, sim)) = partner[i] else { continue };
        let mutual = partner[j].is_some_and(|(k, _)| k == i);
        if j > i && mutual && sim >= threshold && langs[j] == language {
            // Move j just before i.
            let (pi, pj) = (
                order.iter().position(|&x| x == i),
                order.iter().position(|&x| x == j),
            );
            if let (Some(pi), Some(pj)) = (pi, pj)
                && pj > pi
            {
                let moved = order.remove(pj);
                order.insert(pi, moved);
            }
        }
    }
    let reordered: Vec<Ranked> = order.iter().map(|&i| passages[i].clone()).collect();
    passages[..depth].clone_from_slice(&reordered);
}

fn normalise(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The query without control and zero-width (format) characters, which
/// carry no meaning for retrieval and can hide an empty query.
fn strip_invisible(query: &str) -> String {
    query
        .chars()
        .filter(|c| {
            !(c.is_control() && !c.is_whitespace()
                || matches!(*c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarry_index::Locator;

    fn order(fusion: Fusion, v: &[(u64, f32)], k: &[(u64, f32)]) -> Vec<u64> {
        let options = QueryOptions {
            fusion,
            ..QueryOptions::default()
        };
        fuse(v, k, &options).into_iter().map(|c| c.id).collect()
    }

    #[test]
    fn invisible_characters_do_not_make_a_query() {
        for q in [
            "\u{200B}\u{200C}\u{FEFF}",
            "\0\0\0",
            "\u{2060} \0 ?!",
            "\u{00AD}",
        ] {
            assert!(
                !strip_invisible(q).chars().any(char::is_alphanumeric),
                "{q:?}"
            );
        }
        assert_eq!(
            strip_invisible("re\u{200B}turns\0 policy"),
            "returns policy"
        );
        assert_eq!(strip_invisible("retour\tbeleid"), "retour\tbeleid");
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
        let passages = collapse(candidates.clone(), chunks.clone(), &vectors, 0.97, &[]);
        let ids: Vec<&str> = passages.iter().map(|r| r.passage.id.as_str()).collect();
        assert_eq!(ids, ["c1", "c3"]);
        assert_eq!(passages[0].passage.score_details.duplicates_collapsed, 2);
        // Above 1.0 only identical text folds.
        let exact = collapse(candidates.clone(), chunks.clone(), &vectors, 1.01, &[]);
        assert_eq!(exact.len(), 3);
        // A passage holding the question's identifier is not folded into
        // one without it.
        let ids = identifiers("what about 2022?");
        assert!(ids.is_empty(), "a bare year is no identifier: {ids:?}");
        let ids = vec!["help@example.com".to_owned()];
        let kept = collapse(candidates, chunks, &vectors, 0.97, &ids);
        assert_eq!(kept.len(), 2, "both hold it: folded as before");
    }

    #[test]
    fn identifiers_are_codes_not_words() {
        assert_eq!(
            identifiers("Where is order ORD4821K? Error E-1042, 0x80070005 on 2.4.1"),
            ["ord4821k", "e-1042", "0x80070005", "2.4.1"]
        );
        assert_eq!(identifiers("tracking 1234567 please"), ["1234567"]);
        assert!(identifiers("How do I play mp3 files over IPv6 in 2 steps?").is_empty());
        let ids = identifiers("ORD4821K");
        assert_eq!(held_identifiers("Order ORD4821K shipped.", &ids).len(), 1);
        assert!(held_identifiers("Order ORD4821KX shipped.", &ids).is_empty());
    }

    #[test]
    fn a_lone_keyword_hit_is_not_scored_zero() {
        let blend = QueryOptions::default();
        let v = [(1, 0.6), (3, 0.55), (2, 0.5)];
        let fused = fuse(&v, &[(3, 7.5)], &blend);
        let three = fused.iter().find(|c| c.id == 3).unwrap();
        assert!(three.fused > 0.7, "{three:?}");
        assert_eq!(
            fused[0].id, 3,
            "the only keyword match, close on vectors, leads"
        );
    }

    #[test]
    fn fusion_scale_does_not_depend_on_how_deep_the_search_went() {
        let blend = QueryOptions::default();
        let v: Vec<(u64, f32)> = (0..60).map(|i| (i, 0.9 - i as f32 * 0.01)).collect();
        let k: Vec<(u64, f32)> = (0..60).map(|i| (59 - i, 20.0 - i as f32 * 0.3)).collect();
        let shallow = fuse(&v[..FUSION_DEPTH], &k[..FUSION_DEPTH], &blend);
        let deep = fuse(&v, &k, &blend);
        for c in &shallow {
            let d = deep.iter().find(|d| d.id == c.id).unwrap();
            assert_eq!(c.fused, d.fused, "{c:?} vs {d:?}");
        }
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
