//! Short answers (a question and its answer): `GET|POST
//! /v1/kb/{kb}/short-answers`, `PUT|DELETE /v1/kb/{kb}/short-answers/{id}`.

use super::Item;
use crate::AdminState;
use crate::error::{ApiResult, blocking, body};
use crate::guard::KbAdmin;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use quarry_ingest::ShortAnswerInput;
use serde_json::{Value, json};

async fn list(State(s): State<AdminState>, KbAdmin { kb }: KbAdmin) -> ApiResult<Json<Value>> {
    blocking(move || {
        let answers = s.syncer.short_answers(&kb)?;
        Ok(Json(json!({ "short_answers": answers })))
    })
    .await
}

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

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/v1/kb/{kb}/short-answers", get(list).post(create))
        .route(
            "/v1/kb/{kb}/short-answers/{id}",
            put(put_one).delete(delete),
        )
}
