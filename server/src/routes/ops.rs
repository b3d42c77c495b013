//! Operations: `GET /metrics` (Prometheus), `GET /v1/openapi.json`, and the
//! playground page at `/` (plain HTML, CSS and JS compiled into the binary).

use crate::error::{ApiError, ErrorBody};
use crate::guard::bearer;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use quarry_query::{QueryService, Scope};
use std::sync::Arc;
use utoipa::OpenApi;

#[derive(Clone)]
struct OpsState {
    service: Arc<QueryService>,
    document: Arc<String>,
}

/// Prometheus text format. With tokens configured, the server-wide admin
/// token is required (Prometheus: `authorization: {credentials: …}`).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String),
        (status = "4XX", description = "A caller error", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
async fn metrics(State(s): State<OpsState>, headers: HeaderMap) -> Response {
    let token = bearer(&headers);
    if let Err(e) =
        s.service
            .auth()
            .check(s.service.catalog(), token.as_deref(), None, Scope::Admin)
    {
        return ApiError::from(e).into_response();
    }
    let Some(handle) = crate::metrics::handle() else {
        return ApiError::http(
            StatusCode::NOT_FOUND,
            "not_found",
            "metrics are not enabled in this process",
        )
        .into_response();
    };
    let service = s.service.clone();
    let _ = tokio::task::spawn_blocking(move || crate::metrics::knowledge_bases(service.catalog()))
        .await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// This document (OpenAPI 3.1).
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
async fn openapi_json(State(s): State<OpsState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        s.document.as_str().to_owned(),
    )
        .into_response()
}

const PAGE: &str = include_str!("../../assets/playground.html");
const SCRIPT: &str = include_str!("../../assets/playground.js");
const STYLE: &str = include_str!("../../assets/playground.css");
const REFERENCE: &str = include_str!("../../assets/reference.html");
const REFERENCE_SCRIPT: &str = include_str!("../../assets/reference.js");

/// The playground: ask a knowledge base a question and see the cited
/// passages, the decision, the insights, suggestions and gaps.
#[utoipa::path(
    get,
    path = "/",
    tag = "operations",
    responses((status = 200, description = "The playground page", content_type = "text/html", body = String))
)]
async fn playground() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

/// A reference of this document: operations by tag, with their
/// parameters, bodies and responses.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "operations",
    responses((status = 200, description = "The API reference page", content_type = "text/html", body = String))
)]
async fn reference() -> Response {
    asset("text/html; charset=utf-8", REFERENCE)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

/// The paths of this module, for the document.
#[derive(OpenApi)]
#[openapi(paths(metrics, openapi_json, playground, reference))]
struct OpsDoc;

/// `api` with this module's paths, as served.
pub fn document(api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut api = api;
    api.merge(OpsDoc::openapi());
    // Handler names repeat across resources (`list`, `get_one`): name each
    // operation after its method and path instead, which is unique.
    for (path, item) in api.paths.paths.iter_mut() {
        let slug: String = path
            .split(['/', '{', '}', '-', '.'])
            .filter(|s| !s.is_empty())
            .map(|s| {
                let mut c = s.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect();
        for (method, op) in [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
        ] {
            if let Some(op) = op {
                op.operation_id = Some(format!(
                    "{method}{}",
                    if slug.is_empty() {
                        "Root".into()
                    } else {
                        slug.clone()
                    }
                ));
            }
        }
    }
    api
}

pub fn router(service: Arc<QueryService>, api: utoipa::openapi::OpenApi) -> Router {
    let document = document(api).to_pretty_json().unwrap_or_else(|e| {
        tracing::error!("cannot render the OpenAPI document: {e}");
        "{}".to_owned()
    });
    let state = OpsState {
        service,
        document: Arc::new(document),
    };
    Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi_json))
        .route("/", get(playground))
        .route("/docs", get(reference))
        .route(
            "/reference.js",
            get(|| async { asset("text/javascript; charset=utf-8", REFERENCE_SCRIPT) }),
        )
        .route(
            "/playground.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/playground.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .with_state(state)
}
