//! Short answers (a question and its answer): `GET|POST
//! /v1/kb/{kb}/short-answers`, `PUT|DELETE /v1/kb/{kb}/short-answers/{id}`.

use super::Item;
use crate::AdminState;
use crate::error::{ApiResult, blocking, body};
use crate::guard::KbAdmin;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use quarry_ingest::ShortAnswerInput;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[utoipa::path(
    get,
    path = "/v1/kb/{kb}/short-answers",
    tag = "short-answers",
    summary = "List short answers.",
    params(("kb" = String, Path, description = "Knowledge-base name")),
    responses(
        (status = 200, description = "Short answers", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list(State(s): State<AdminState>, KbAdmin { kb }: KbAdmin) -> ApiResult<Json<Value>> {
    blocking(move || {
        let answers = s.syncer.short_answers(&kb)?;
        Ok(Json(json!({ "short_answers": answers })))
    })
    .await
}

#[utoipa::path(
    post,
    path = "/v1/kb/{kb}/short-answers",
    tag = "short-answers",
    summary = "Add a short answer (question, answer, variants).",
    params(("kb" = String, Path, description = "Knowledge-base name")),
    request_body = Object,
    responses(
        (status = 201, description = "Created", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    req: std::result::Result<Json<ShortAnswerInput>, JsonRejection>,
) -> ApiResult<Response> {
    let input = body(req)?;
    blocking(move || {
        let applied = s.syncer.put_short_answer(&kb, None, input)?;
        Ok((StatusCode::CREATED, Json(applied)).into_response())
    })
    .await
}

#[utoipa::path(
    put,
    path = "/v1/kb/{kb}/short-answers/{id}",
    tag = "short-answers",
    summary = "Create or replace a short answer by id.",
    params(("kb" = String, Path, description = "Knowledge-base name"), ("id" = String, Path, description = "Id")),
    request_body = Object,
    responses(
        (status = 200, description = "Applied", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn put_one(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    Path(Item { id }): Path<Item>,
    req: std::result::Result<Json<ShortAnswerInput>, JsonRejection>,
) -> ApiResult<Response> {
    let input = body(req)?;
    blocking(move || {
        let applied = s.syncer.put_short_answer(&kb, Some(&id), input)?;
        Ok(Json(applied).into_response())
    })
    .await
}

#[utoipa::path(
    delete,
    path = "/v1/kb/{kb}/short-answers/{id}",
    tag = "short-answers",
    summary = "Delete a short answer.",
    params(("kb" = String, Path, description = "Knowledge-base name"), ("id" = String, Path, description = "Id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn delete(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    Path(Item { id }): Path<Item>,
) -> ApiResult<StatusCode> {
    blocking(move || {
        s.syncer.delete_short_answer(&kb, &id)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

pub fn routes() -> OpenApiRouter<AdminState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(put_one, delete))
}
