//! The read side: `POST /v1/query` (the token is checked by
//! [`QueryService::query`] against the knowledge base the body names) and
//! `GET /healthz`.

use crate::Limits;
use crate::error::{ApiError, ApiResult, body};
use crate::guard::bearer;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use quarry_query::{QueryRequest, QueryResponse, QueryService};
use serde_json::{Value, json};
use std::sync::Arc;

async fn query(
    State(service): State<Arc<QueryService>>,
    headers: HeaderMap,
    request: std::result::Result<Json<QueryRequest>, JsonRejection>,
) -> ApiResult<Json<QueryResponse>> {
    let token = bearer(&headers);
    let request = body(request)?;
    // Embedding is CPU work: keep it off the async workers.
    let response = tokio::task::spawn_blocking(move || service.query(token.as_deref(), &request))
        .await
        .map_err(|e| ApiError::internal(format!("query task failed: {e}")))??;
    Ok(Json(response))
}

/// Liveness, without authentication and without revealing content counts.
async fn healthz(State(service): State<Arc<QueryService>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "knowledge_bases": service.catalog().names().len(),
    }))
}

pub fn router(service: Arc<QueryService>, limits: Limits) -> Router {
    Router::new()
        .route("/v1/query", post(query))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(limits.query_bytes))
        .with_state(service)
}
