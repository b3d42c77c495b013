//! quarry's HTTP layer: every route, over the read path (`quarry-query`)
//! and the write path (`quarry-ingest`).
//!
//! - [`router`] builds the axum service: `POST /v1/query` and `GET /healthz`
//!   always, the admin routes under `/v1/kb` when given an [`AdminState`].
//! - One file per resource in `routes/`; [`guard`]'s extractors decide who
//!   may call an admin route; [`ApiError`] maps every crate's errors to a
//!   stable code and a status.
//! - [`serve`] runs it until a shutdown future resolves.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn demo(service: Arc<quarry_query::QueryService>) {
//! let app = quarry_server::router(service, None, quarry_server::Limits::default());
//! # }
//! ```

mod error;
pub mod guard;
mod routes;

pub use error::{ApiError, ApiResult};

use axum::Router;
use quarry_ingest::Syncer;
use quarry_query::QueryService;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// What the admin routes work with.
#[derive(Debug, Clone)]
pub struct AdminState {
    pub service: Arc<QueryService>,
    pub syncer: Arc<Syncer>,
    /// Server folders that `file` sources with a `path` may read from
    /// (canonical paths).
    pub import_roots: Vec<PathBuf>,
}

/// Request body limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A question (`POST /v1/query`).
    pub query_bytes: usize,
    /// Any admin request but a file upload (articles, short answers, …).
    pub admin_bytes: usize,
    /// A file upload (`POST /v1/kb/{kb}/files`).
    pub upload_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            query_bytes: 64 * 1024,
            admin_bytes: 8 * 1024 * 1024,
            upload_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The whole service: the read routes, the admin routes when `admin` is
/// given, and JSON 404 / 405 answers for everything else.
pub fn router(service: Arc<QueryService>, admin: Option<AdminState>, limits: Limits) -> Router {
    let mut app = routes::query::router(service, limits);
    if let Some(admin) = admin {
        app = app.merge(routes::admin(admin, limits));
    }
    app.fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
}

/// Serves `app` until `shutdown` resolves. `on_bound` learns the real
/// address (port 0 picks a free one).
pub async fn serve(
    addr: SocketAddr,
    app: Router,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    on_bound(listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
