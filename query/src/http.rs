//! The HTTP service's read side: `POST /v1/query`, `GET /healthz`, and the
//! plumbing other routes share ([`ApiError`], [`rejection`], [`bearer`]).
//! The binary merges the admin routes (the write path) into [`router`].
//!
//! Errors are JSON `{"error": {"code", "message"}}` with the matching status:
//! a caller's mistake is a 4xx, never a 500.

use crate::auth::Auth;
use crate::retrieve::{QueryRequest, QueryResponse};
use crate::service::QueryService;
use crate::{Error, Result};
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
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
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The bearer token of a request, if it sent one.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    Auth::bearer(value).map(str::to_owned)
}

/// A JSON body the extractor refused, as a 4xx [`ApiError`].
pub fn rejection(r: JsonRejection) -> ApiError {
    let code = match r {
        JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
        JsonRejection::JsonSyntaxError(_) => "invalid_json",
        JsonRejection::JsonDataError(_) => "invalid_request",
        _ => "invalid_request",
    };
    ApiError(Error::bad_request(code, r.body_text()))
}

async fn query(
    State(service): State<Arc<QueryService>>,
    headers: HeaderMap,
    body: std::result::Result<axum::Json<QueryRequest>, JsonRejection>,
) -> std::result::Result<axum::Json<QueryResponse>, ApiError> {
    let token = bearer(&headers);
    let axum::Json(request) = body.map_err(rejection)?;
    // Embedding is CPU work: keep it off the async workers.
    let response = tokio::task::spawn_blocking(move || service.query(token.as_deref(), &request))
        .await
        .map_err(|e| Error::Internal(format!("query task failed: {e}")))??;
    Ok(axum::Json(response))
}

/// Liveness, without authentication and without revealing content counts.
async fn healthz(
    State(service): State<Arc<QueryService>>,
) -> std::result::Result<Response, ApiError> {
    Ok(axum::Json(serde_json::json!({
        "status": "ok",
        "knowledge_bases": service.catalog().names().len(),
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

/// The read routes, with the JSON 404 and 405 fallbacks; merge other routes
/// into it.
pub fn router(service: Arc<QueryService>) -> Router {
    Router::new()
        .route("/v1/query", post(query))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(service)
}

/// Serves `app` until `shutdown` resolves. `on_bound` learns the real
/// address (port 0 picks a free one).
pub async fn serve(
    addr: SocketAddr,
    app: Router,
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
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Error::Internal(format!("server: {e}")))
}
