//! The read side: `POST /v1/query` (the token is checked by
//! [`QueryService::query`] against the knowledge base the body names),
//! `GET /healthz` and `GET /readyz`.

use crate::error::{ApiError, ApiResult, ErrorBody, body};
use crate::guard::bearer;
use crate::{Limits, ReadState};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use quarry_query::{QueryRequest, QueryResponse};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Retrieves cited passages for a question, with a confidence and a
/// decision (answer, clarify, handoff) in the question's language.
#[utoipa::path(
    post,
    path = "/v1/query",
    tag = "query",
    request_body = QueryRequest,
    responses(
        (status = 200, description = "Passages, confidence and decision", body = QueryResponse),
        (status = "4XX", description = "A caller error", body = ErrorBody),
        (status = "5XX", description = "A server error", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
async fn query(
    State(s): State<ReadState>,
    headers: HeaderMap,
    request: std::result::Result<Json<QueryRequest>, JsonRejection>,
) -> ApiResult<Json<QueryResponse>> {
    let token = bearer(&headers);
    let request = body(request)?;
    let service = s.service.clone();
    // Embedding is CPU work: keep it off the async workers.
    let response = tokio::task::spawn_blocking(move || service.query(token.as_deref(), &request))
        .await
        .map_err(|e| ApiError::internal(format!("query task failed: {e}")))??;
    crate::metrics::query(&response);
    Ok(Json(response))
}

/// Liveness, without authentication and without revealing content counts.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is up", body = Object))
)]
async fn healthz(State(s): State<ReadState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "knowledge_bases": s.service.catalog().names().len(),
    }))
}

/// Readiness: the default model loads, every knowledge base opens, and the
/// sync thread (when this server runs one) is alive. 503 with the failed
/// checks otherwise.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready, with each check", body = Object),
        (status = 503, description = "Not ready, with each check", body = Object),
    )
)]
async fn readyz(State(s): State<ReadState>) -> (StatusCode, Json<Value>) {
    let ready = s.clone();
    let checks = tokio::task::spawn_blocking(move || {
        let catalog = ready.service.catalog();
        let models = catalog.models();
        let model = models
            .get(models.default_name())
            .map(|_| ())
            .map_err(|e| e.to_string());
        let mut kbs = Ok(());
        for (name, kb) in catalog.all() {
            if let Err(e) = kb.stats() {
                kbs = Err(format!("{name}: {e}"));
                break;
            }
        }
        let sync = match &ready.sync_alive {
            None => Ok(()),
            Some(alive) if alive.load(std::sync::atomic::Ordering::Relaxed) => Ok(()),
            Some(_) => Err("the sync thread is not running".to_owned()),
        };
        [
            ("model", model),
            ("knowledge_bases", kbs),
            ("sync_thread", sync),
        ]
    })
    .await
    .map_err(|e| e.to_string());
    let checks = match checks {
        Ok(c) => c,
        Err(e) => {
            let body = json!({"status": "not_ready", "checks": {"task": e}});
            return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
        }
    };
    let ok = checks.iter().all(|(_, r)| r.is_ok());
    let detail: serde_json::Map<String, Value> = checks
        .into_iter()
        .map(|(k, r)| (k.to_owned(), r.map_or_else(Value::String, |()| json!("ok"))))
        .collect();
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = if ok { "ready" } else { "not_ready" };
    (status, Json(json!({"status": word, "checks": detail})))
}

pub fn router(limits: Limits) -> OpenApiRouter<ReadState> {
    OpenApiRouter::new()
        .routes(routes!(query))
        .layer(DefaultBodyLimit::max(limits.query_bytes))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}
