//! Knowledge bases: `GET /v1/kb`, `PUT|GET|DELETE /v1/kb/{kb}`,
//! `POST /v1/kb/{kb}/tokens`, `POST /v1/kb/{kb}/check`.

use crate::AdminState;
use crate::error::{ApiError, ApiResult, blocking};
use crate::guard::{KbAdmin, ServerAdmin};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[utoipa::path(
    get,
    path = "/v1/kb",
    tag = "knowledge-bases",
    summary = "List knowledge bases with their model and counts (server admin).",
    responses(
        (status = 200, description = "Knowledge bases", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list(State(s): State<AdminState>, _: ServerAdmin) -> ApiResult<Json<Value>> {
    blocking(move || {
        let mut out = Vec::new();
        for (name, kb) in s.service.catalog().all() {
            out.push(json!({"name": name, "model": kb.model(), "stats": kb.stats()?}));
        }
        Ok(Json(json!({ "knowledge_bases": out })))
    })
    .await
}

/// `PUT /v1/kb/{kb}` body (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKb {
    /// Embedding model of a new knowledge base (default: the configured one).
    #[serde(default)]
    model: Option<String>,
}

#[utoipa::path(
    put,
    path = "/v1/kb/{kb}",
    tag = "knowledge-bases",
    summary = "Create a knowledge base (optionally with a model); returns its tokens once.",
    params(("kb" = String, Path, description = "Knowledge-base name")),
    request_body = Option<Object>,
    responses(
        (status = 201, description = "Created, with its admin and query tokens", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(s): State<AdminState>,
    _: ServerAdmin,
    axum::extract::Path(kb): axum::extract::Path<String>,
    raw: axum::body::Bytes,
) -> ApiResult<Response> {
    let req: CreateKb = if raw.iter().all(u8::is_ascii_whitespace) {
        CreateKb::default()
    } else {
        serde_json::from_slice(&raw)
            .map_err(|e| ApiError::bad_request("invalid_body", format!("invalid JSON body: {e}")))?
    };
    blocking(move || {
        let (handle, created) = s
            .service
            .catalog()
            .create_with_model(&kb, req.model.as_deref())?;
        let model = handle.model().to_owned();
        if !created {
            return Ok(Json(json!({"name": kb, "created": false, "model": model})).into_response());
        }
        let (admin, query) = quarry_query::issue_kb_tokens(&handle)?;
        let body = json!({
            "name": kb, "created": true, "model": model,
            "admin_token": admin, "query_token": query,
            "note": "the tokens are shown once; only their hashes are stored",
        });
        Ok((StatusCode::CREATED, Json(body)).into_response())
    })
    .await
}

#[utoipa::path(
    delete,
    path = "/v1/kb/{kb}",
    tag = "knowledge-bases",
    summary = "Delete a knowledge base and everything in it.",
    params(("kb" = String, Path, description = "Knowledge-base name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn delete(
    State(s): State<AdminState>,
    _: ServerAdmin,
    axum::extract::Path(kb): axum::extract::Path<String>,
) -> ApiResult<StatusCode> {
    blocking(move || {
        if s.service.catalog().remove(&kb)? {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::not_found(format!(
                "knowledge base {kb:?} does not exist"
            )))
        }
    })
    .await
}

#[utoipa::path(
    get,
    path = "/v1/kb/{kb}",
    tag = "knowledge-bases",
    summary = "Counts of a knowledge base.",
    params(("kb" = String, Path, description = "Knowledge-base name")),
    responses(
        (status = 200, description = "Stats", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn stats(State(s): State<AdminState>, KbAdmin { kb }: KbAdmin) -> ApiResult<Json<Value>> {
    blocking(move || {
        let stats = s.syncer.kb(&kb)?.stats()?;
        Ok(Json(json!({"name": kb, "stats": stats})))
    })
    .await
}

/// `PATCH /v1/kb/{kb}` body: settings of an existing knowledge base.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KbSettings {
    /// Log the questions asked of it (gaps, suggestions and analytics
    /// come from the log).
    #[serde(default)]
    log_questions: Option<bool>,
}

#[utoipa::path(
    patch,
    path = "/v1/kb/{kb}",
    tag = "knowledge-bases",
    summary = "Change a knowledge base's settings (log_questions).",
    params(("kb" = String, Path, description = "Knowledge-base name")),
    request_body = Object,
    responses(
        (status = 200, description = "Settings", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn update(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    req: std::result::Result<Json<KbSettings>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<Value>> {
    let req = crate::error::body(req)?;
    blocking(move || {
        let handle = s.syncer.kb(&kb)?;
        if let Some(on) = req.log_questions {
            handle.set_logging(on)?;
        }
        Ok(Json(
            json!({"name": kb, "log_questions": handle.logging()?}),
        ))
    })
    .await
}

#[utoipa::path(
    post,
    path = "/v1/kb/{kb}/tokens",
    tag = "knowledge-bases",
    summary = "Issue new admin and query tokens (the old ones stop working).",
    params(("kb" = String, Path, description = "Knowledge-base name")),
    responses(
        (status = 200, description = "New tokens", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn rotate_tokens(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let (admin, query) = quarry_query::issue_kb_tokens(&*s.syncer.kb(&kb)?)?;
        Ok(Json(
            json!({"name": kb, "admin_token": admin, "query_token": query}),
        ))
    })
    .await
}

/// `POST /v1/kb/{kb}/check` query string.
#[derive(Debug, Default, Deserialize)]
struct CheckParams {
    #[serde(default)]
    repair: bool,
}

#[utoipa::path(
    post,
    path = "/v1/kb/{kb}/check",
    tag = "knowledge-bases",
    summary = "Whether the store, keyword index and vector index agree (counts, ids, snapshot checksums); `?repair=true` rebuilds what differs from the store.",
    params(
        ("kb" = String, Path, description = "Knowledge-base name"),
        ("repair" = Option<bool>, Query, description = "Rebuild what differs"),
    ),
    responses(
        (status = 200, description = "The check report (`consistent`)", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn check(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    axum::extract::Query(params): axum::extract::Query<CheckParams>,
) -> ApiResult<Json<quarry_index::CheckReport>> {
    blocking(move || Ok(Json(s.syncer.kb(&kb)?.check(params.repair)?))).await
}

pub fn routes() -> OpenApiRouter<AdminState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(create, delete, stats, update))
        .routes(routes!(rotate_tokens))
        .routes(routes!(check))
}
