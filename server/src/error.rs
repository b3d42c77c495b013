//! [`ApiError`]: the one place where every crate's errors become an HTTP
//! status and a stable code, as `{"error": {"code", "message"}}`. A caller's
//! mistake is a 4xx, never a 500.

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error on its way out as an HTTP response.
#[derive(Debug)]
pub enum ApiError {
    Query(quarry_query::Error),
    Ingest(quarry_ingest::Error),
    Index(quarry_index::Error),
    /// An error of the HTTP layer itself (a bad body, no such route).
    Http {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
}

/// The result of a handler.
pub type ApiResult<T> = std::result::Result<T, ApiError>;

impl From<quarry_query::Error> for ApiError {
    fn from(e: quarry_query::Error) -> Self {
        ApiError::Query(e)
    }
}

impl From<quarry_ingest::Error> for ApiError {
    fn from(e: quarry_ingest::Error) -> Self {
        ApiError::Ingest(e)
    }
}

impl From<quarry_index::Error> for ApiError {
    fn from(e: quarry_index::Error) -> Self {
        ApiError::Index(e)
    }
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::http(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::http(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::http(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::http(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn http(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Http {
            status,
            code,
            message: message.into(),
        }
    }

    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Query(e) => e.code(),
            ApiError::Ingest(e) => e.code(),
            ApiError::Index(e) => e.code(),
            ApiError::Http { code, .. } => code,
        }
    }

    pub fn status(&self) -> StatusCode {
        use quarry_ingest::Error as I;
        use quarry_query::Error as Q;
        let index = |e: &quarry_index::Error| {
            if e.is_user_error() {
                StatusCode::BAD_REQUEST
            } else if matches!(e, quarry_index::Error::Unavailable(_)) {
                // The shared database is down or out of connections: retry.
                StatusCode::SERVICE_UNAVAILABLE
            } else if matches!(e, quarry_index::Error::DiskFull(_)) {
                StatusCode::INSUFFICIENT_STORAGE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        match self {
            ApiError::Query(e) => match e {
                Q::BadRequest { .. } => StatusCode::BAD_REQUEST,
                Q::NotFound(_) => StatusCode::NOT_FOUND,
                Q::Unauthorized(_) => StatusCode::UNAUTHORIZED,
                Q::Forbidden(_) => StatusCode::FORBIDDEN,
                Q::Conflict(_) => StatusCode::CONFLICT,
                Q::Index(e) => index(e),
                Q::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::Ingest(e) => match e {
                I::NotFound(_) => StatusCode::NOT_FOUND,
                I::Invalid(_) | I::Source(_) => StatusCode::BAD_REQUEST,
                I::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                I::Unindexable(_) => StatusCode::UNPROCESSABLE_ENTITY,
                I::Index(e) => index(e),
                I::Document(_) | I::Pipeline(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::Index(e) => index(e),
            ApiError::Http { status, .. } => *status,
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::Query(e) => e.to_string(),
            ApiError::Ingest(e) => e.to_string(),
            ApiError::Index(e) => e.to_string(),
            ApiError::Http { message, .. } => message.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

/// The body of every error: `{"error": {"code", "message", "request_id"}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    /// Stable, machine-readable (`not_found`, `invalid_request`, …).
    code: &'a str,
    message: String,
    /// The request's `x-request-id`, also in the server's access log.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!("request failed: {self}");
        }
        crate::metrics::error(self.code());
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.message(),
                request_id: crate::request_id::current().filter(|id| !id.is_empty()),
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

/// A JSON body the extractor refused, as a 4xx.
pub fn rejection(r: JsonRejection) -> ApiError {
    let code = match r {
        JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
        JsonRejection::JsonSyntaxError(_) => "invalid_json",
        _ => "invalid_request",
    };
    ApiError::bad_request(code, r.body_text())
}

/// The body of a request, or the 4xx its rejection means.
pub fn body<T>(b: std::result::Result<axum::Json<T>, JsonRejection>) -> ApiResult<T> {
    b.map(|axum::Json(v)| v).map_err(rejection)
}

/// Runs blocking work (SQLite, embedding, parsing) off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_crates_errors_map_to_a_code_and_a_status() {
        let cases: Vec<(ApiError, StatusCode, &str)> = vec![
            (
                quarry_query::Error::Unauthorized("no".into()).into(),
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            ),
            (
                quarry_ingest::Error::NotFound("source x".into()).into(),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                quarry_ingest::Error::Invalid("bad".into()).into(),
                StatusCode::BAD_REQUEST,
                "invalid_request",
            ),
            (
                quarry_ingest::Error::Pipeline("writer".into()).into(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "pipeline_error",
            ),
            (
                quarry_index::Error::InvalidInput("x".into()).into(),
                StatusCode::BAD_REQUEST,
                "invalid_request",
            ),
            (
                quarry_ingest::Error::Index(quarry_index::Error::Corrupt {
                    what: "graph".into(),
                    reason: "short".into(),
                })
                .into(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "index_error",
            ),
            (
                ApiError::not_found("no such route"),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
        ];
        for (error, status, code) in cases {
            assert_eq!((error.status(), error.code()), (status, code), "{error}");
        }
    }
}
