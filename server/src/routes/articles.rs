//! Knowledge-base articles pushed by their owner:
//! `PUT|GET|DELETE /v1/kb/{kb}/articles/{id}` (re-indexed on every change).

use super::Item;
use crate::AdminState;
use crate::error::{ApiResult, blocking, body};
use crate::guard::KbAdmin;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::put;
use axum::{Json, Router};
use quarry_index::SourceRecord;
use quarry_ingest::{Applied, ArticleInput};

async fn put_one(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    Path(Item { id }): Path<Item>,
    req: std::result::Result<Json<ArticleInput>, JsonRejection>,
) -> ApiResult<Json<Applied>> {
    let input = body(req)?;
    blocking(move || Ok(Json(s.syncer.put_article(&kb, &id, input)?))).await
}

async fn get_one(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    Path(Item { id }): Path<Item>,
) -> ApiResult<Json<SourceRecord>> {
    blocking(move || Ok(Json(s.syncer.article(&kb, &id)?))).await
}

async fn delete(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    Path(Item { id }): Path<Item>,
) -> ApiResult<StatusCode> {
    blocking(move || {
        s.syncer.delete_article(&kb, &id)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

pub fn routes() -> Router<AdminState> {
    Router::new().route(
        "/v1/kb/{kb}/articles/{id}",
        put(put_one).get(get_one).delete(delete),
    )
}
