//! Knowledge-base articles pushed by their owner:
//! `PUT|GET|DELETE /v1/kb/{kb}/articles/{id}` (re-indexed on every change).

use super::Item;
use crate::AdminState;
use crate::error::{ApiResult, blocking, body};
use crate::guard::KbAdmin;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use quarry_index::SourceRecord;
use quarry_ingest::{Applied, ArticleInput};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[utoipa::path(
    put,
    path = "/v1/kb/{kb}/articles/{id}",
    tag = "articles",
    summary = "Create or replace a knowledge-base article; indexed before the response.",
    params(("kb" = String, Path, description = "Knowledge-base name"), ("id" = String, Path, description = "Id")),
    request_body = Object,
    responses(
        (status = 200, description = "What was applied", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn put_one(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    Path(Item { id }): Path<Item>,
    req: std::result::Result<Json<ArticleInput>, JsonRejection>,
) -> ApiResult<Json<Applied>> {
    let input = body(req)?;
    blocking(move || Ok(Json(s.syncer.put_article(&kb, &id, input)?))).await
}

#[utoipa::path(
    get,
    path = "/v1/kb/{kb}/articles/{id}",
    tag = "articles",
    summary = "One article's source record.",
    params(("kb" = String, Path, description = "Knowledge-base name"), ("id" = String, Path, description = "Id")),
    responses(
        (status = 200, description = "The article", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn get_one(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    Path(Item { id }): Path<Item>,
) -> ApiResult<Json<SourceRecord>> {
    blocking(move || Ok(Json(s.syncer.article(&kb, &id)?))).await
}

#[utoipa::path(
    delete,
    path = "/v1/kb/{kb}/articles/{id}",
    tag = "articles",
    summary = "Delete an article.",
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
        s.syncer.delete_article(&kb, &id)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

pub fn routes() -> OpenApiRouter<AdminState> {
    OpenApiRouter::new().routes(routes!(put_one, get_one, delete))
}
