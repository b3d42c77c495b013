//! Knowledge bases: `GET /v1/kb`, `PUT|GET|DELETE /v1/kb/{kb}`,
//! `POST /v1/kb/{kb}/tokens`.

use crate::AdminState;
use crate::error::{ApiError, ApiResult, blocking};
use crate::guard::{KbAdmin, ServerAdmin};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

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

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/v1/kb", get(list))
        .route(
            "/v1/kb/{kb}",
            axum::routing::put(create)
                .delete(delete)
                .get(stats)
                .patch(update),
        )
        .route("/v1/kb/{kb}/tokens", post(rotate_tokens))
}
