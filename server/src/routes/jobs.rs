//! Sync jobs: `GET /v1/kb/{kb}/jobs[?limit=N]`, `GET /v1/kb/{kb}/jobs/{id}`.

use super::Item;
use crate::AdminState;
use crate::error::{ApiError, ApiResult, blocking};
use crate::guard::KbAdmin;
use axum::Json;
use axum::extract::{Path, Query, State};
use quarry_index::JobRecord;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Debug, Deserialize)]
struct JobsQuery {
    #[serde(default)]
    limit: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/v1/kb/{kb}/jobs",
    tag = "jobs",
    summary = "Recent sync jobs.",
    params(("kb" = String, Path, description = "Knowledge-base name"), ("limit" = Option<usize>, Query, description = "At most this many (default 50)")),
    responses(
        (status = 200, description = "Jobs", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    Query(q): Query<JobsQuery>,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let limit = q.limit.unwrap_or(50).clamp(1, 1000);
        let jobs = s.syncer.jobs(&kb, limit)?;
        Ok(Json(json!({ "jobs": jobs })))
    })
    .await
}

#[utoipa::path(
    get,
    path = "/v1/kb/{kb}/jobs/{id}",
    tag = "jobs",
    summary = "One sync job, with its report when finished.",
    params(("kb" = String, Path, description = "Knowledge-base name"), ("id" = u64, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn get_one(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    Path(Item { id }): Path<Item<u64>>,
) -> ApiResult<Json<JobRecord>> {
    blocking(move || {
        s.syncer
            .job(&kb, id)?
            .map(Json)
            .ok_or_else(|| ApiError::not_found(format!("job {id} does not exist")))
    })
    .await
}

pub fn routes() -> OpenApiRouter<AdminState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_one))
}
