//! The id of the request being handled (a task-local set by the layers),
//! for error bodies.

use axum::http::HeaderName;

/// The request-id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT_ID: String;
}

/// The id of the request this task is handling, if any.
pub fn current() -> Option<String> {
    CURRENT_ID.try_with(Clone::clone).ok()
}

/// Runs `f` with `id` as the current request id.
pub async fn scope<F: std::future::Future>(id: String, f: F) -> F::Output {
    CURRENT_ID.scope(id, f).await
}
