//! quarry's HTTP layer: every route, over the read path (`quarry-query`)
//! and the write path (`quarry-ingest`).
//!
//! - [`router`] builds the axum service: `POST /v1/query`, Dify's
//!   `POST /retrieval`, `GET /healthz`, `/readyz`, `/metrics`,
//!   `/v1/openapi.json` and the playground at `/` always, the admin routes
//!   under `/v1/kb` when given an [`AdminState`].
//! - One file per resource in `routes/`; [`guard`]'s extractors decide who
//!   may call an admin route; [`ApiError`] maps every crate's errors to a
//!   stable code and a status.
//! - [`serve`] runs it until a shutdown future resolves.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn demo(service: Arc<quarry_query::QueryService>) {
//! let app = quarry_server::router(service, None, quarry_server::Options::default());
//! # }
//! ```

mod error;
pub mod guard;
mod layers;
mod listen;
pub mod metrics;
pub mod openapi;
mod request_id;
mod routes;

pub use error::{ApiError, ApiResult};
pub use layers::{HttpOptions, REQUEST_ID};
pub use listen::ConnectionLimits;

use axum::Router;
use quarry_ingest::Syncer;
use quarry_query::QueryService;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// What the admin routes work with.
#[derive(Debug, Clone)]
pub struct AdminState {
    pub service: Arc<QueryService>,
    pub syncer: Arc<Syncer>,
    /// Server folders that `file` sources with a `path` may read from
    /// (canonical paths).
    pub import_roots: Vec<PathBuf>,
}

/// What the read routes (query, Dify, health, metrics) work with.
#[derive(Debug, Clone)]
pub struct ReadState {
    pub service: Arc<QueryService>,
    /// Set while the server's sync thread runs (`/readyz`); `None` when the
    /// server runs none.
    pub sync_alive: Option<Arc<AtomicBool>>,
}

/// Request body limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A question (`POST /v1/query`, `POST /retrieval`).
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

/// How the router is built.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub limits: Limits,
    pub http: HttpOptions,
    /// See [`ReadState::sync_alive`].
    pub sync_alive: Option<Arc<AtomicBool>>,
}

/// The whole service: the read routes, the admin routes when `admin` is
/// given, `/metrics`, `/v1/openapi.json`, the playground at `/`, JSON
/// 404 / 405 answers for everything else, all behind [`layers`].
pub fn router(service: Arc<QueryService>, admin: Option<AdminState>, options: Options) -> Router {
    let (app, api) = api_router(service.clone(), admin, &options).split_for_parts();
    let app = app
        .merge(routes::ops::router(service, api))
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed);
    layers::wrap(app, &options.http)
}

/// The documented routes with their OpenAPI description.
fn api_router(
    service: Arc<QueryService>,
    admin: Option<AdminState>,
    options: &Options,
) -> utoipa_axum::router::OpenApiRouter {
    let read = ReadState {
        service,
        sync_alive: options.sync_alive.clone(),
    };
    let mut app = utoipa_axum::router::OpenApiRouter::with_openapi(openapi::base()).merge(
        routes::query::router(options.limits)
            .merge(routes::dify::router())
            .layer(axum::extract::DefaultBodyLimit::max(
                options.limits.query_bytes,
            ))
            .with_state(read),
    );
    if let Some(admin) = admin {
        app = app.merge(routes::admin(admin, options.limits));
    }
    app
}

/// The OpenAPI document of a server with every route (admin included).
pub fn openapi_document(
    service: Arc<QueryService>,
    syncer: Arc<Syncer>,
) -> utoipa::openapi::OpenApi {
    let admin = AdminState {
        service: service.clone(),
        syncer,
        import_roots: Vec::new(),
    };
    routes::ops::document(api_router(service, Some(admin), &Options::default()).into_openapi())
}

/// Serves `app` until `shutdown` resolves, within `limits`. `on_bound`
/// learns the real address (port 0 picks a free one).
pub async fn serve(
    addr: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    on_bound(listener.local_addr()?);
    metrics::spawn_upkeep();
    listen::run(listener, app, limits, shutdown).await
}
