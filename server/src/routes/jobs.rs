//! Sync jobs: `GET /v1/kb/{kb}/jobs[?limit=N]`, `GET /v1/kb/{kb}/jobs/{id}`.

use super::Item;
use crate::AdminState;
use crate::error::{ApiError, ApiResult, blocking};
use crate::guard::KbAdmin;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use quarry_index::JobRecord;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
struct JobsQuery {
    #[serde(default)]
    limit: Option<usize>,
}

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

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/v1/kb/{kb}/jobs", get(list))
        .route("/v1/kb/{kb}/jobs/{id}", get(get_one))
}
