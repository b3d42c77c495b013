//! Dify's External Knowledge API: `POST /retrieval`.
//!
//! Dify sends `{"knowledge_id", "query", "retrieval_setting": {"top_k",
//! "score_threshold"}, "metadata_condition"?}` with `Authorization: Bearer
//! KEY`; the key is a query (or admin) token of the knowledge base named by
//! `knowledge_id`, or a server-wide one. The answer is `{"records": [{"content",
//! "score", "title", "metadata"}]}`; errors are `{"error_code",
//! "error_msg"}`: 1001 malformed Authorization header, 1002 authorization
//! failed (403), 2001 no such knowledge base (404).
//!
//! `score` is the passage's absolute score in [0, 1] (the confidence
//! function on its own features), so `score_threshold` means the same on
//! every question. `metadata_condition` filters on the metadata quarry
//! has: `source` (source id), `kind` (file, url, site, article,
//! short_answer), `language` (ISO 639-1) and `url`.

use crate::ReadState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use quarry_query::{Passage, QueryRequest, QueryResponse, Scope};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The request, as Dify sends it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RetrievalRequest {
    /// The knowledge-base name.
    pub knowledge_id: String,
    pub query: String,
    pub retrieval_setting: RetrievalSetting,
    #[serde(default)]
    pub metadata_condition: Option<MetadataCondition>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RetrievalSetting {
    pub top_k: usize,
    /// Records scoring below it are left out (0–1).
    #[serde(default)]
    pub score_threshold: f32,
}

/// Dify's metadata filter.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MetadataCondition {
    /// `and` (default) or `or`.
    #[serde(default)]
    pub logical_operator: Option<String>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Condition {
    /// Metadata names (`source`, `kind`, `language`, `url`); any may match.
    pub name: Vec<String>,
    /// `is`, `is not`, `contains`, `not contains`, `start with`, `end with`,
    /// `empty`, `not empty`, `=`, `≠`.
    pub comparison_operator: String,
    #[serde(default)]
    pub value: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RetrievalResponse {
    pub records: Vec<Record>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Record {
    pub content: String,
    /// 0–1.
    pub score: f32,
    pub title: String,
    /// Always an object: url, locator, heading_path, source_id, kind,
    /// language, citable, confidence, decision, passage_id.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, Value>,
}

/// Dify's error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct DifyError {
    pub error_code: u32,
    pub error_msg: String,
}

fn error(status: StatusCode, code: u32, message: impl Into<String>) -> Response {
    crate::metrics::error(match code {
        1001 => "dify_bad_authorization",
        1002 => "dify_forbidden",
        2001 => "dify_unknown_knowledge",
        _ => "dify_invalid_request",
    });
    let body = DifyError {
        error_code: code,
        error_msg: message.into(),
    };
    (status, Json(body)).into_response()
}

/// Retrieves passages for Dify (External Knowledge API).
#[utoipa::path(
    post,
    path = "/retrieval",
    tag = "dify",
    request_body = RetrievalRequest,
    responses(
        (status = 200, description = "Records that passed the threshold and the metadata filter", body = RetrievalResponse),
        (status = 400, description = "A malformed request", body = DifyError),
        (status = 403, description = "1001 malformed Authorization header, 1002 authorization failed", body = DifyError),
        (status = 404, description = "2001 no such knowledge base", body = DifyError),
    ),
    security(("bearer" = []))
)]
async fn retrieval(State(s): State<ReadState>, headers: HeaderMap, raw: Bytes) -> Response {
    let auth = s.service.auth().is_enabled();
    let token = match headers.get(header::AUTHORIZATION).map(|v| v.to_str()) {
        None if !auth => None,
        None => {
            return error(
                StatusCode::FORBIDDEN,
                1001,
                "Invalid Authorization header format. Expected 'Bearer <api-key>' format.",
            );
        }
        Some(value) => match value.ok().and_then(|v| v.strip_prefix("Bearer ")) {
            Some(t) if !t.trim().is_empty() && !t.contains(' ') => Some(t.trim().to_owned()),
            _ => {
                return error(
                    StatusCode::FORBIDDEN,
                    1001,
                    "Invalid Authorization header format. Expected 'Bearer <api-key>' format.",
                );
            }
        },
    };
    let request: RetrievalRequest = match serde_json::from_slice(&raw) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                400,
                format!("invalid request body: {e}"),
            );
        }
    };
    let filter = match Filter::parse(request.metadata_condition.as_ref()) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, 400, e),
    };
    let service = s.service.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let kb = request.knowledge_id.clone();
        if let Err(e) =
            service
                .auth()
                .check(service.catalog(), token.as_deref(), Some(&kb), Scope::Query)
        {
            return Err(Box::new(error(
                StatusCode::FORBIDDEN,
                1002,
                format!("Authorization failed: {e}"),
            )));
        }
        let Ok(Some(handle)) = service.catalog().get(&kb) else {
            return Err(Box::new(error(
                StatusCode::NOT_FOUND,
                2001,
                format!("The knowledge does not exist: {kb:?}"),
            )));
        };
        let max = service.options().max_top_k;
        let top_k = request.retrieval_setting.top_k.clamp(1, max);
        // A filter may drop passages: ask for more, cut after filtering.
        let depth = if filter.is_empty() { top_k } else { max };
        let query = QueryRequest {
            top_k: Some(depth),
            kb: Some(kb),
            ..QueryRequest::new(request.query)
        };
        let response = service
            .query(token.as_deref(), &query)
            .map_err(|e| Box::new(error(StatusCode::BAD_REQUEST, 400, e.to_string())))?;
        crate::metrics::query(&response);
        let threshold = request.retrieval_setting.score_threshold;
        let records = response
            .passages
            .iter()
            .filter(|p| p.score >= threshold)
            .map(|p| (p, metadata(&handle, &response, p)))
            .filter(|(_, m)| filter.matches(m))
            .take(top_k)
            .map(|(p, metadata)| record(p, metadata))
            .collect();
        Ok(RetrievalResponse { records })
    })
    .await;
    match outcome {
        Ok(Ok(body)) => Json(body).into_response(),
        Ok(Err(response)) => *response,
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            500,
            format!("retrieval failed: {e}"),
        ),
    }
}

fn metadata(
    kb: &quarry_index::KnowledgeBase,
    response: &QueryResponse,
    p: &Passage,
) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("passage_id".into(), json!(p.id));
    m.insert("citable".into(), json!(p.citable));
    m.insert("confidence".into(), json!(response.confidence));
    m.insert("decision".into(), json!(response.decision));
    if let Some(q) = &p.question {
        m.insert("question".into(), json!(q));
    }
    if let Some(c) = &p.citation {
        m.insert("url".into(), json!(c.url));
        m.insert("uri".into(), json!(c.uri));
        m.insert("source".into(), json!(c.source_id));
        m.insert("source_id".into(), json!(c.source_id));
        m.insert("heading_path".into(), json!(c.heading_path));
        m.insert("locator".into(), json!(c.locator));
        if let Ok(Some(source)) = kb.source(&c.source_id) {
            m.insert("kind".into(), json!(source.kind.as_str()));
        }
        if let Ok(Some(doc)) = kb.document(&c.uri)
            && let Some(language) = &doc.meta.language
        {
            m.insert("language".into(), json!(language));
        }
    }
    m
}

fn record(p: &Passage, metadata: serde_json::Map<String, Value>) -> Record {
    let title = p
        .citation
        .as_ref()
        .and_then(|c| c.title.clone().or_else(|| c.heading_path.last().cloned()))
        .or_else(|| p.question.clone())
        .unwrap_or_default();
    Record {
        content: p.text.clone(),
        score: p.score.clamp(0.0, 1.0),
        title,
        metadata,
    }
}

/// A parsed `metadata_condition`.
#[derive(Debug, Default)]
struct Filter {
    any: bool,
    conditions: Vec<(Vec<String>, Op, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Is,
    IsNot,
    Contains,
    NotContains,
    StartsWith,
    EndsWith,
    Empty,
    NotEmpty,
}

const FIELDS: [&str; 4] = ["source", "kind", "language", "url"];

impl Filter {
    fn parse(condition: Option<&MetadataCondition>) -> Result<Self, String> {
        let Some(c) = condition else {
            return Ok(Self::default());
        };
        let any = match c.logical_operator.as_deref().map(str::to_ascii_lowercase) {
            None => false,
            Some(op) if op == "and" => false,
            Some(op) if op == "or" => true,
            Some(op) => return Err(format!("logical_operator must be and or or, not {op:?}")),
        };
        let mut conditions = Vec::new();
        for cond in &c.conditions {
            if let Some(bad) = cond.name.iter().find(|n| !FIELDS.contains(&n.as_str())) {
                return Err(format!(
                    "metadata {bad:?} is not filterable; quarry filters on {}",
                    FIELDS.join(", ")
                ));
            }
            let op = match cond.comparison_operator.as_str() {
                "is" | "=" => Op::Is,
                "is not" | "≠" | "!=" => Op::IsNot,
                "contains" => Op::Contains,
                "not contains" => Op::NotContains,
                "start with" => Op::StartsWith,
                "end with" => Op::EndsWith,
                "empty" => Op::Empty,
                "not empty" => Op::NotEmpty,
                other => {
                    return Err(format!(
                        "comparison_operator {other:?} is not supported on text metadata"
                    ));
                }
            };
            let value = match &cond.value {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            };
            conditions.push((cond.name.clone(), op, value));
        }
        Ok(Self { any, conditions })
    }

    fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }

    fn matches(&self, metadata: &serde_json::Map<String, Value>) -> bool {
        if self.conditions.is_empty() {
            return true;
        }
        let one = |(names, op, value): &(Vec<String>, Op, String)| {
            names.iter().any(|name| {
                let field = metadata.get(name).and_then(Value::as_str).unwrap_or("");
                match op {
                    Op::Is => field == value,
                    Op::IsNot => field != value,
                    Op::Contains => field.contains(value.as_str()),
                    Op::NotContains => !field.contains(value.as_str()),
                    Op::StartsWith => field.starts_with(value.as_str()),
                    Op::EndsWith => field.ends_with(value.as_str()),
                    Op::Empty => field.is_empty(),
                    Op::NotEmpty => !field.is_empty(),
                }
            })
        };
        if self.any {
            self.conditions.iter().any(one)
        } else {
            self.conditions.iter().all(one)
        }
    }
}

pub fn router() -> OpenApiRouter<ReadState> {
    OpenApiRouter::new().routes(routes!(retrieval))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(v: Value) -> MetadataCondition {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn metadata_conditions_filter_on_source_kind_language_and_url() {
        let meta: serde_json::Map<String, Value> = serde_json::from_value(json!({
            "source": "file-1", "kind": "file", "language": "nl",
            "url": "https://example.com/help/returns#refunds"
        }))
        .unwrap_or_default();
        let check = |v: Value| {
            Filter::parse(Some(&condition(v)))
                .map(|f| f.matches(&meta))
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let c = |name: &str, op: &str, value: &str| json!({"name": [name], "comparison_operator": op, "value": value});
        assert!(check(json!({"conditions": [c("language", "is", "nl")]})));
        assert!(!check(json!({"conditions": [c("language", "is", "de")]})));
        assert!(check(
            json!({"conditions": [c("url", "contains", "/help/")]})
        ));
        assert!(check(
            json!({"conditions": [c("url", "start with", "https://example.com")]})
        ));
        assert!(!check(json!({"conditions": [c("kind", "is not", "file")]})));
        assert!(check(json!({"logical_operator": "or",
            "conditions": [c("kind", "is", "site"), c("source", "=", "file-1")]})));
        assert!(!check(json!({"logical_operator": "and",
            "conditions": [c("kind", "is", "site"), c("source", "=", "file-1")]})));
        assert!(check(
            json!({"conditions": [{"name": ["language"], "comparison_operator": "not empty"}]})
        ));
        let bad = condition(json!({"conditions": [c("author", "is", "x")]}));
        assert!(Filter::parse(Some(&bad)).unwrap_err().contains("author"));
        let bad = condition(json!({"conditions": [c("url", "after", "x")]}));
        assert!(Filter::parse(Some(&bad)).is_err());
    }
}
