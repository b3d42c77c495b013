//! What wraps every route (tower-http and two small axum middlewares):
//!
//! - a request id: `x-request-id` taken from the request or made (UUID),
//!   echoed on the response, in the access log's span, and in error bodies;
//! - an access log (`tower_http::trace`, target `quarry::access`);
//! - CORS for the configured origins (none: same-origin only);
//! - with an open API (no token), requests for other host names and
//!   writes from other origins are refused (DNS rebinding, CSRF);
//! - a request timeout (408);
//! - every error as JSON: axum's own rejections (path, query string,
//!   multipart, body limit) and tower-http's answers become
//!   `{"error": {"code", "message", "request_id"}}`;
//! - request counts and latencies for `/metrics` by matched route.

use crate::error::ApiError;
use crate::{metrics, request_id};
use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::{Duration, Instant};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use crate::request_id::REQUEST_ID;

/// Settings of the layers.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Origins allowed to call the API from a browser (`*` for any).
    pub cors_origins: Vec<String>,
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// The API is open (no token) and serves this machine only: refuse
    /// requests addressed to another host name (DNS rebinding) and writes
    /// from a page of another origin (cross-site requests need no
    /// preflight for a form or multipart upload).
    pub local_only: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            request_timeout: Duration::from_secs(60),
            local_only: false,
        }
    }
}

/// Wraps `app` in the layers, outermost first: request id, access log,
/// CORS, JSON errors and metrics, timeout.
pub fn wrap(app: Router, options: &HttpOptions) -> Router {
    let cors = cors(&options.cors_origins);
    let trace = TraceLayer::new_for_http().make_span_with(|request: &Request| {
        let id = request
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!(
            target: "quarry::access",
            "request",
            method = %request.method(),
            uri = %request.uri().path(),
            request_id = %id,
        )
    });
    let trace = trace
        .on_request(())
        .on_response(
            |response: &Response, latency: Duration, _span: &tracing::Span| {
                tracing::info!(
                    target: "quarry::access",
                    status = response.status().as_u16(),
                    latency_ms = latency.as_secs_f64() * 1000.0,
                    "served"
                );
            },
        )
        .on_failure(());
    let mut app = app
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            options.request_timeout,
        ))
        .layer(axum::middleware::from_fn(json_errors_and_metrics));
    if options.local_only {
        let allowed = options.cors_origins.clone();
        app = app.layer(axum::middleware::from_fn(move |r, n| {
            local_only(allowed.clone(), r, n)
        }));
    }
    if let Some(cors) = cors {
        app = app.layer(cors);
    }
    app.layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, REQUEST_ID])
            .expose_headers([REQUEST_ID])
            .max_age(Duration::from_secs(600)),
    )
}

/// Whether `host` (a Host header's name, without the port) names this
/// machine.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The host name of a Host header or an origin's authority, without port.
fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

/// See [`HttpOptions::local_only`].
async fn local_only(allowed: Vec<String>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default()
        .to_owned();
    if !is_loopback_host(host_name(&host)) {
        return ApiError::http(
            StatusCode::FORBIDDEN,
            "forbidden_host",
            format!(
                "Host {host:?} is not this machine; an API without tokens answers only requests to localhost (set QUARRY_ADMIN_TOKEN to serve other hosts)"
            ),
        )
        .into_response();
    }
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
        && !safe
    {
        let authority = origin.split_once("://").map_or("", |(_, a)| a);
        let same = authority.eq_ignore_ascii_case(&host);
        let listed = allowed
            .iter()
            .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin));
        if !same && !listed {
            return ApiError::http(
                StatusCode::FORBIDDEN,
                "cross_origin",
                format!("a page of {origin} may not change this API (not in server.cors_origins)"),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Runs the request with its id in scope; turns any non-JSON error into the
/// JSON shape; counts it by matched route.
async fn json_errors_and_metrics(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_owned();
    let method = request.method().clone();
    let started = Instant::now();
    let response = request_id::scope(id.clone(), next.run(request)).await;
    let response = request_id::scope(id, as_json_error(response)).await;
    metrics::http_request(&route, &method, response.status(), started.elapsed());
    response
}

async fn as_json_error(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::BAD_REQUEST => "invalid_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_request",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::UNAUTHORIZED => "unauthorized",
        s if s.is_server_error() => "internal",
        _ => "invalid_request",
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase()
    } else {
        text
    };
    let mut out = ApiError::http(status, code, message).into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}
