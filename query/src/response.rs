//! What a question and its answer look like on the wire: [`QueryRequest`]
//! in, [`QueryResponse`] of cited [`Passage`]s out. In a module of their
//! own so the retriever, the insights and the log all use them without
//! importing each other.

use crate::confidence::{Decision, DecisionDetails};
use quarry_index::Locator;
use serde::{Deserialize, Serialize};

/// `POST /v1/query` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    pub query: String,
    #[serde(default)]
    pub top_k: Option<usize>,
    /// Knowledge base name (default `"default"`).
    #[serde(default)]
    pub kb: Option<String>,
    /// The page the visitor is on (logged; suggestions for that page use
    /// the questions answered there).
    #[serde(default)]
    pub page_url: Option<String>,
    /// Return `insights`: why the passages and the decision came out as
    /// they did.
    #[serde(default)]
    pub explain: bool,
    /// `false`: do not log this question (default: logged, when the
    /// knowledge base logs questions).
    #[serde(default)]
    pub log: Option<bool>,
}

impl QueryRequest {
    pub fn new(query: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            top_k: None,
            kb: None,
            page_url: None,
            explain: false,
            log: None,
        }
    }
}

/// Where a passage comes from, precisely enough to link to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Citation {
    pub source_id: String,
    /// The document (`file:///…`, `https://…`, `article://…`).
    pub uri: String,
    /// A link to the exact place: the document's published address (or
    /// `uri`) with the locator's fragment.
    pub url: String,
    pub title: Option<String>,
    pub heading_path: Vec<String>,
    #[schema(value_type = Object)]
    pub locator: Locator,
}

/// How a passage's score came about.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueryResponse {
    pub passages: Vec<Passage>,
    /// The question's language (ISO 639-1), for the answering layer to
    /// reply in; English when the question is too short to tell.
    pub language: String,
    /// Probability-like confidence that the top passage answers the question.
    pub confidence: f32,
    pub decision: Decision,
    pub details: DecisionDetails,
    pub timings: Timings,
    /// Why the response came out as it did (with `explain: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insights: Option<Insights>,
}

/// One feature's part in the confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeatureContribution {
    pub feature: String,
    /// The feature's value as the model reads it.
    pub value: f32,
    pub weight: f32,
    /// `weight × value`: what it added to the log-odds.
    pub contribution: f32,
}

/// One passage's way to its place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PassageInsight {
    pub id: String,
    pub rank: usize,
    pub vector_rank: Option<usize>,
    pub vector_similarity: f32,
    pub keyword_rank: Option<usize>,
    pub keyword_score: Option<f32>,
    /// The fused score the passages were ordered by.
    pub fused: f32,
    /// Its relevance in [0, 1] (`score`).
    pub score: f32,
    /// Passages with the same or nearly the same text folded into it.
    pub duplicates_folded: usize,
    /// A short answer: the question it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_answer_question: Option<String>,
}

/// `insights` of a query response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Insights {
    /// The question's language (ISO 639-1), which passages in that language
    /// were preferred for.
    pub language: String,
    pub passages: Vec<PassageInsight>,
    /// The confidence model's bias (log-odds before any feature).
    pub bias: f32,
    /// The features of the top passage, largest effect first.
    pub features: Vec<FeatureContribution>,
    pub confidence: f32,
    pub answer_at: f32,
    pub clarify_at: f32,
    /// The decision, and the rule that gave it.
    pub decision: Decision,
    pub reason: String,
    /// The short answer whose question matched, when one decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_answer: Option<String>,
    /// Synonyms added to the keyword search (`term → synonym`).
    pub synonyms_applied: Vec<String>,
}
