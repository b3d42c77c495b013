//! One module per resource. A new endpoint is a handler in its resource's
//! file plus a line in that file's `routes`.

mod analytics;
mod articles;
mod conflicts;
pub mod dify;
mod files;
mod gaps;
mod jobs;
mod kbs;
pub mod ops;
pub mod query;
mod short_answers;
mod sources;
mod suggestions;
mod synonyms;

use crate::error::ApiError;
use crate::{AdminState, Limits};
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;

/// `{id}` of a route under `/v1/kb/{kb}/…` (the `{kb}` goes to the guard).
#[derive(Debug, Deserialize)]
struct Item<T = String> {
    id: T,
}

/// The admin routes, every one behind [`crate::guard`].
pub fn admin(state: AdminState, limits: Limits) -> OpenApiRouter {
    OpenApiRouter::new()
        .merge(kbs::routes())
        .merge(sources::routes())
        .merge(articles::routes())
        .merge(short_answers::routes())
        .merge(jobs::routes())
        .merge(gaps::routes())
        .merge(suggestions::routes())
        .merge(synonyms::routes())
        .merge(conflicts::routes())
        .merge(analytics::routes())
        .layer(DefaultBodyLimit::max(limits.admin_bytes))
        .merge(files::routes(limits))
        .with_state(state)
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::http(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}
