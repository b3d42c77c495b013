//! The HTTP service: `POST /v1/query`, `GET /healthz`.
//!
//! Errors are JSON `{"error": {"code", "message"}}` with the matching status:
//! a caller's mistake is a 4xx, never a 500.

use crate::retrieve::{QueryRequest, QueryResponse, Retriever};
use crate::{Error, Result};
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// Largest accepted request body.
const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
}

/// An [`Error`] on its way out as an HTTP response.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!("request failed: {}", self.0);
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.0.code(),
                message: self.0.to_string(),
            },
        };
        (status, axum::Json(body)).into_response()
    }
}

fn rejection(r: JsonRejection) -> ApiError {
    let code = match r {
        JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
        JsonRejection::JsonSyntaxError(_) => "invalid_json",
        JsonRejection::JsonDataError(_) => "invalid_request",
        _ => "invalid_request",
    };
    ApiError(Error::bad_request(code, r.body_text()))
}

async fn query(
    State(retriever): State<Arc<Retriever>>,
    body: std::result::Result<axum::Json<QueryRequest>, JsonRejection>,
) -> std::result::Result<axum::Json<QueryResponse>, ApiError> {
    let axum::Json(request) = body.map_err(rejection)?;
    // Embedding is CPU work: keep it off the async workers.
    let response = tokio::task::spawn_blocking(move || retriever.query(&request))
        .await
        .map_err(|e| Error::Internal(format!("query task failed: {e}")))??;
    Ok(axum::Json(response))
}

async fn healthz(
    State(retriever): State<Arc<Retriever>>,
) -> std::result::Result<Response, ApiError> {
    let stats = retriever.kb().stats().map_err(Error::from)?;
    Ok(axum::Json(serde_json::json!({
        "status": "ok",
        "documents": stats.store.documents,
        "chunks": stats.store.chunks,
    }))
    .into_response())
}

async fn not_found() -> ApiError {
    ApiError(Error::NotFound("no such route".into()))
}

async fn method_not_allowed() -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: "method_not_allowed",
            message: "method not allowed on this route".into(),
        },
    };
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

/// The service's routes.
pub fn router(retriever: Arc<Retriever>) -> Router {
    Router::new()
        .route("/v1/query", post(query))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(retriever)
}

/// Serves until `shutdown` resolves. `on_bound` learns the real address (port
/// 0 picks a free one).
pub async fn serve(
    addr: SocketAddr,
    retriever: Arc<Retriever>,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::bad_request("bind_failed", format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Internal(format!("local address: {e}")))?;
    on_bound(bound);
    axum::serve(listener, router(retriever))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Error::Internal(format!("server: {e}")))
}
