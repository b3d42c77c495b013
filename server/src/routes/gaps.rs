//! Knowledge gaps: `GET /v1/kb/{kb}/gaps[?all=true]`,
//! `POST /v1/kb/{kb}/gaps/{id}/short-answer` (improve response: the gap's
//! questions become a short answer, the gap is resolved),
//! `POST /v1/kb/{kb}/gaps/{id}/dismiss`.

use super::Item;
use crate::AdminState;
use crate::error::{ApiResult, blocking, body};
use crate::guard::KbAdmin;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use quarry_index::SourceSettings;
use quarry_ingest::ShortAnswerInput;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Debug, Default, Deserialize)]
struct GapsQuery {
    #[serde(default)]
    all: bool,
}

#[utoipa::path(
    get,
    path = "/v1/kb/{kb}/gaps",
    tag = "answering",
    summary = "Knowledge gaps: clusters of questions the content could not answer.",
    params(("kb" = String, Path, description = "Knowledge-base name"), ("all" = Option<bool>, Query, description = "Include closed gaps")),
    responses(
        (status = 200, description = "Gaps", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    Query(q): Query<GapsQuery>,
) -> ApiResult<Json<Value>> {
    blocking(move || Ok(Json(json!({ "gaps": s.service.gaps(&kb, q.all)? })))).await
}

/// `POST …/gaps/{id}/short-answer` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Improve {
    answer: String,
    /// The question to show (default: the gap's representative question).
    #[serde(default)]
    question: Option<String>,
    #[serde(default)]
    settings: Option<SourceSettings>,
}

#[utoipa::path(
    post,
    path = "/v1/kb/{kb}/gaps/{id}/short-answer",
    tag = "answering",
    summary = "Improve the response: answer a gap with a short answer (its questions become variants).",
    params(("kb" = String, Path, description = "Knowledge-base name"), ("id" = i64, Path, description = "Id")),
    request_body = Object,
    responses(
        (status = 201, description = "The closed gap and the short answer", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn short_answer(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    Path(Item { id }): Path<Item<i64>>,
    req: std::result::Result<Json<Improve>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req = body(req)?;
    blocking(move || {
        let mut questions = s.service.gap_questions(&kb, id)?;
        let question = match req.question {
            Some(q) => q,
            None if !questions.is_empty() => questions.remove(0),
            None => String::new(),
        };
        let input = ShortAnswerInput {
            question,
            answer: req.answer,
            variants: questions,
            settings: req.settings,
        };
        let applied = s.syncer.put_short_answer(&kb, None, input)?;
        let gap = s
            .service
            .close_gap(&kb, id, Some(applied.source.id.clone()))?;
        Ok((
            StatusCode::CREATED,
            Json(json!({"gap": gap, "short_answer": applied})),
        ))
    })
    .await
}

#[utoipa::path(
    post,
    path = "/v1/kb/{kb}/gaps/{id}/dismiss",
    tag = "answering",
    summary = "Dismiss a gap.",
    params(("kb" = String, Path, description = "Knowledge-base name"), ("id" = i64, Path, description = "Id")),
    responses(
        (status = 200, description = "The closed gap", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn dismiss(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    Path(Item { id }): Path<Item<i64>>,
) -> ApiResult<Json<Value>> {
    blocking(move || Ok(Json(json!({"gap": s.service.close_gap(&kb, id, None)?})))).await
}

pub fn routes() -> OpenApiRouter<AdminState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(short_answer))
        .routes(routes!(dismiss))
}
