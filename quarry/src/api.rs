//! The admin HTTP routes (the write path), merged into the read routes of
//! `quarry_query::http`. Everything under `/v1/kb/{kb}/…` needs an admin
//! token for that knowledge base; creating, listing and deleting knowledge
//! bases needs the server-wide admin token. See the README for the table.

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use quarry_index::{JobRecord, SourceRecord, SourceSettings, SourceSpec};
use quarry_ingest::{Applied, ArticleInput, ShortAnswerInput, Syncer, Upload};
use quarry_query::http::{ApiError, bearer, rejection};
use quarry_query::{Error, QueryService, Scope};
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

/// What the admin routes work with.
#[derive(Debug, Clone)]
pub struct AdminState {
    pub service: Arc<QueryService>,
    pub syncer: Arc<Syncer>,
    /// Server folders that `file` sources with a `path` may read from.
    pub import_roots: Vec<PathBuf>,
}

type ApiResult<T> = std::result::Result<T, ApiError>;

/// An ingest error as the HTTP status a caller expects.
fn ingest_error(e: quarry_ingest::Error) -> ApiError {
    use quarry_ingest::Error as E;
    ApiError(match e {
        E::NotFound(m) => Error::NotFound(m),
        E::Invalid(m) | E::Source(m) => Error::bad_request("invalid_request", m),
        E::Index(e) => Error::Index(e),
        other => Error::Internal(other.to_string()),
    })
}

/// Runs blocking work (SQLite, embedding, parsing) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError(Error::Internal(format!("task failed: {e}"))))?
}

impl AdminState {
    fn allow(&self, headers: &HeaderMap, kb: Option<&str>) -> ApiResult<()> {
        let token = bearer(headers);
        self.service
            .auth()
            .check(self.service.catalog(), token.as_deref(), kb, Scope::Admin)
            .map_err(ApiError)
    }
}

fn body<T>(b: std::result::Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    b.map(|Json(v)| v).map_err(rejection)
}

async fn list_kbs(State(s): State<AdminState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    s.allow(&headers, None)?;
    blocking(move || {
        let catalog = s.service.catalog();
        let mut out = Vec::new();
        for (name, kb) in catalog.all() {
            out.push(json!({
                "name": name,
                "model": kb.model(),
                "stats": kb.stats().map_err(Error::from)?,
            }));
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

async fn create_kb(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path(kb): Path<String>,
    raw: axum::body::Bytes,
) -> ApiResult<Response> {
    s.allow(&headers, None)?;
    let req: CreateKb = if raw.iter().all(u8::is_ascii_whitespace) {
        CreateKb::default()
    } else {
        serde_json::from_slice(&raw).map_err(|e| {
            ApiError(Error::bad_request(
                "invalid_body",
                format!("invalid JSON body: {e}"),
            ))
        })?
    };
    blocking(move || {
        let catalog = s.service.catalog();
        let (handle, created) = catalog
            .create_with_model(&kb, req.model.as_deref())
            .map_err(Error::from)?;
        let model = handle.model().to_owned();
        if !created {
            return Ok(Json(json!({"name": kb, "created": false, "model": model})).into_response());
        }
        let (admin, query) = quarry_query::issue_kb_tokens(&handle).map_err(ApiError)?;
        let body = json!({
            "name": kb, "created": true, "model": model,
            "admin_token": admin, "query_token": query,
            "note": "the tokens are shown once; only their hashes are stored",
        });
        Ok((StatusCode::CREATED, Json(body)).into_response())
    })
    .await
}

async fn delete_kb(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path(kb): Path<String>,
) -> ApiResult<StatusCode> {
    s.allow(&headers, None)?;
    blocking(move || match s.service.catalog().remove(&kb) {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(ApiError(Error::NotFound(format!(
            "knowledge base {kb:?} does not exist"
        )))),
        Err(e) => Err(ApiError(e.into())),
    })
    .await
}

async fn kb_stats(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path(kb): Path<String>,
) -> ApiResult<Json<Value>> {
    s.allow(&headers, Some(&kb))?;
    blocking(move || {
        let handle = s.syncer.kb(&kb).map_err(ingest_error)?;
        let stats = handle.stats().map_err(Error::from)?;
        Ok(Json(json!({"name": kb, "stats": stats})))
    })
    .await
}

async fn rotate_tokens(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path(kb): Path<String>,
) -> ApiResult<Json<Value>> {
    s.allow(&headers, Some(&kb))?;
    blocking(move || {
        let handle = s.syncer.kb(&kb).map_err(ingest_error)?;
        let (admin, query) = quarry_query::issue_kb_tokens(&handle).map_err(ApiError)?;
        Ok(Json(
            json!({"name": kb, "admin_token": admin, "query_token": query}),
        ))
    })
    .await
}

async fn list_sources(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path(kb): Path<String>,
) -> ApiResult<Json<Value>> {
    s.allow(&headers, Some(&kb))?;
    blocking(move || {
        let handle = s.syncer.kb(&kb).map_err(ingest_error)?;
        let sources = handle.store().sources().map_err(Error::from)?;
        Ok(Json(json!({ "sources": sources })))
    })
    .await
}

/// `POST /v1/kb/{kb}/sources` body: the spec's fields (`kind`, `path`, …)
/// beside an optional `title` and `settings`.
#[derive(Debug, PartialEq)]
struct NewSource {
    title: Option<String>,
    spec: SourceSpec,
    settings: SourceSettings,
}

impl NewSource {
    /// Splits the body; unknown fields are errors (the spec refuses them).
    fn parse(mut body: Value) -> std::result::Result<Self, String> {
        let object = body
            .as_object_mut()
            .ok_or_else(|| "the body must be a JSON object".to_owned())?;
        let title = match object.remove("title") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(t),
            Some(_) => return Err("title must be a string".into()),
        };
        let settings = match object.remove("settings") {
            None | Some(Value::Null) => SourceSettings::default(),
            Some(v) => serde_json::from_value(v).map_err(|e| format!("settings: {e}"))?,
        };
        let spec = serde_json::from_value(body).map_err(|e| e.to_string())?;
        Ok(Self {
            title,
            spec,
            settings,
        })
    }
}

async fn create_source(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path(kb): Path<String>,
    req: std::result::Result<Json<Value>, JsonRejection>,
) -> ApiResult<Response> {
    s.allow(&headers, Some(&kb))?;
    let req = NewSource::parse(body(req)?)
        .map_err(|e| ApiError(Error::bad_request("invalid_request", e)))?;
    if let SourceSpec::File {
        path: Some(path), ..
    } = &req.spec
    {
        let real = std::fs::canonicalize(path).map_err(|e| {
            ApiError(Error::bad_request(
                "invalid_request",
                format!("{path}: {e}"),
            ))
        })?;
        if !s.import_roots.iter().any(|root| real.starts_with(root)) {
            return Err(ApiError(Error::Forbidden(format!(
                "{path} is outside the server's import roots (server.import_roots)"
            ))));
        }
    }
    blocking(move || {
        let (source, job) = s
            .syncer
            .create_source(&kb, req.title, req.spec, req.settings)
            .map_err(ingest_error)?;
        Ok((
            StatusCode::CREATED,
            Json(json!({"source": source, "job": job})),
        )
            .into_response())
    })
    .await
}

async fn get_source(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<Json<SourceRecord>> {
    s.allow(&headers, Some(&kb))?;
    blocking(move || {
        let handle = s.syncer.kb(&kb).map_err(ingest_error)?;
        Ok(Json(s.syncer.source(&handle, &id).map_err(ingest_error)?))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourcePatch {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    settings: Option<SourceSettings>,
}

async fn update_source(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path((kb, id)): Path<(String, String)>,
    req: std::result::Result<Json<SourcePatch>, JsonRejection>,
) -> ApiResult<Json<SourceRecord>> {
    s.allow(&headers, Some(&kb))?;
    let patch = body(req)?;
    blocking(move || {
        let record = s
            .syncer
            .update_source(&kb, &id, patch.title, patch.settings)
            .map_err(ingest_error)?;
        Ok(Json(record))
    })
    .await
}

async fn delete_source(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.allow(&headers, Some(&kb))?;
    blocking(move || {
        s.syncer.delete_source(&kb, &id).map_err(ingest_error)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncRequest {
    /// Only this document of the source.
    #[serde(default)]
    uri: Option<String>,
}

async fn sync_source(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path((kb, id)): Path<(String, String)>,
    req: Option<Json<SyncRequest>>,
) -> ApiResult<(StatusCode, Json<JobRecord>)> {
    s.allow(&headers, Some(&kb))?;
    let uri = req.and_then(|Json(r)| r.uri);
    blocking(move || {
        let job = s
            .syncer
            .enqueue(&kb, &id, uri.as_deref(), "api")
            .map_err(ingest_error)?;
        Ok((StatusCode::ACCEPTED, Json(job)))
    })
    .await
}

/// `multipart/form-data`: a `file` part, and optional `title`, `private`
/// and `citations` fields.
async fn upload_file(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path(kb): Path<String>,
    mut form: Multipart,
) -> ApiResult<Response> {
    s.allow(&headers, Some(&kb))?;
    let bad = |m: String| ApiError(Error::bad_request("invalid_upload", m));
    let mut file: Option<(String, Option<String>, Vec<u8>)> = None;
    let mut title = None;
    let mut settings = SourceSettings::default();
    while let Some(field) = form.next_field().await.map_err(|e| bad(e.body_text()))? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => {
                let file_name = field
                    .file_name()
                    .map(str::to_owned)
                    .ok_or_else(|| bad("the file part has no file name".into()))?;
                let media_type = field.content_type().map(str::to_owned);
                let bytes = field.bytes().await.map_err(|e| bad(e.body_text()))?;
                file = Some((file_name, media_type, bytes.to_vec()));
            }
            "title" | "private" | "citations" => {
                let value = field.text().await.map_err(|e| bad(e.body_text()))?;
                let flag = || matches!(value.trim(), "true" | "1" | "on" | "yes");
                match name.as_str() {
                    "title" => title = Some(value.clone()),
                    "private" => settings.private = flag(),
                    _ => settings.citations = flag(),
                }
            }
            other => return Err(bad(format!("unexpected form field {other:?}"))),
        }
    }
    let (name, media_type, bytes) = file.ok_or_else(|| bad("no \"file\" part".into()))?;
    // Browsers label unknown files application/octet-stream: let the
    // registry sniff instead.
    let media_type = media_type.filter(|m| m != "application/octet-stream");
    blocking(move || {
        let upload = Upload {
            name,
            bytes,
            media_type,
            title,
            settings,
        };
        let (source, job) = s.syncer.upload(&kb, upload).map_err(ingest_error)?;
        Ok((
            StatusCode::ACCEPTED,
            Json(json!({"source": source, "job": job})),
        )
            .into_response())
    })
    .await
}

async fn put_article(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path((kb, id)): Path<(String, String)>,
    req: std::result::Result<Json<ArticleInput>, JsonRejection>,
) -> ApiResult<Json<Applied>> {
    s.allow(&headers, Some(&kb))?;
    let input = body(req)?;
    blocking(move || {
        let applied = s
            .syncer
            .put_article(&kb, &id, input)
            .map_err(ingest_error)?;
        Ok(Json(applied))
    })
    .await
}

async fn get_article(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<Json<SourceRecord>> {
    s.allow(&headers, Some(&kb))?;
    blocking(move || {
        let handle = s.syncer.kb(&kb).map_err(ingest_error)?;
        let source_id = quarry_ingest::sync::article_source_id(&id);
        Ok(Json(
            s.syncer.source(&handle, &source_id).map_err(ingest_error)?,
        ))
    })
    .await
}

async fn delete_article(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.allow(&headers, Some(&kb))?;
    blocking(move || {
        s.syncer.delete_article(&kb, &id).map_err(ingest_error)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

async fn list_short_answers(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path(kb): Path<String>,
) -> ApiResult<Json<Value>> {
    s.allow(&headers, Some(&kb))?;
    blocking(move || {
        let answers = s.syncer.short_answers(&kb).map_err(ingest_error)?;
        Ok(Json(json!({ "short_answers": answers })))
    })
    .await
}

async fn create_short_answer(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path(kb): Path<String>,
    req: std::result::Result<Json<ShortAnswerInput>, JsonRejection>,
) -> ApiResult<Response> {
    s.allow(&headers, Some(&kb))?;
    let input = body(req)?;
    blocking(move || {
        let applied = s
            .syncer
            .put_short_answer(&kb, None, input)
            .map_err(ingest_error)?;
        Ok((StatusCode::CREATED, Json(applied)).into_response())
    })
    .await
}

async fn put_short_answer(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path((kb, id)): Path<(String, String)>,
    req: std::result::Result<Json<ShortAnswerInput>, JsonRejection>,
) -> ApiResult<Response> {
    s.allow(&headers, Some(&kb))?;
    let input = body(req)?;
    blocking(move || {
        let applied = s
            .syncer
            .put_short_answer(&kb, Some(&id), input)
            .map_err(ingest_error)?;
        Ok(Json(applied).into_response())
    })
    .await
}

async fn delete_short_answer(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.allow(&headers, Some(&kb))?;
    blocking(move || {
        s.syncer
            .delete_short_answer(&kb, &id)
            .map_err(ingest_error)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[derive(Debug, Deserialize)]
struct JobsQuery {
    #[serde(default)]
    limit: Option<usize>,
}

async fn list_jobs(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path(kb): Path<String>,
    Query(q): Query<JobsQuery>,
) -> ApiResult<Json<Value>> {
    s.allow(&headers, Some(&kb))?;
    blocking(move || {
        let handle = s.syncer.kb(&kb).map_err(ingest_error)?;
        let limit = q.limit.unwrap_or(50).clamp(1, 1000);
        let jobs = handle.store().jobs(limit).map_err(Error::from)?;
        Ok(Json(json!({ "jobs": jobs })))
    })
    .await
}

async fn get_job(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Path((kb, id)): Path<(String, u64)>,
) -> ApiResult<Json<JobRecord>> {
    s.allow(&headers, Some(&kb))?;
    blocking(move || {
        let handle = s.syncer.kb(&kb).map_err(ingest_error)?;
        handle
            .store()
            .job(id)
            .map_err(Error::from)?
            .map(Json)
            .ok_or_else(|| ApiError(Error::NotFound(format!("job {id} does not exist"))))
    })
    .await
}

/// The admin routes.
pub fn router(state: AdminState, max_upload_bytes: usize) -> Router {
    Router::new()
        .route("/v1/kb", get(list_kbs))
        .route(
            "/v1/kb/{kb}",
            put(create_kb).delete(delete_kb).get(kb_stats),
        )
        .route("/v1/kb/{kb}/tokens", post(rotate_tokens))
        .route("/v1/kb/{kb}/sources", get(list_sources).post(create_source))
        .route(
            "/v1/kb/{kb}/sources/{id}",
            get(get_source).patch(update_source).delete(delete_source),
        )
        .route("/v1/kb/{kb}/sources/{id}/sync", post(sync_source))
        .route(
            "/v1/kb/{kb}/files",
            post(upload_file).layer(DefaultBodyLimit::max(max_upload_bytes)),
        )
        .route(
            "/v1/kb/{kb}/articles/{id}",
            put(put_article).get(get_article).delete(delete_article),
        )
        .route(
            "/v1/kb/{kb}/short-answers",
            get(list_short_answers).post(create_short_answer),
        )
        .route(
            "/v1/kb/{kb}/short-answers/{id}",
            put(put_short_answer).delete(delete_short_answer),
        )
        .route("/v1/kb/{kb}/jobs", get(list_jobs))
        .route("/v1/kb/{kb}/jobs/{id}", get(get_job))
        .layer(DefaultBodyLimit::max(8 * 1024 * 1024))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_source_body_splits_into_title_settings_and_spec() {
        let parsed = NewSource::parse(json!({
            "kind": "file", "path": "/srv/help", "title": "Help", "settings": {"private": true}
        }))
        .unwrap();
        assert_eq!(parsed.title.as_deref(), Some("Help"));
        assert!(parsed.settings.private && !parsed.settings.citable());
        assert_eq!(
            parsed.spec,
            SourceSpec::File {
                path: Some("/srv/help".into()),
                upload: None
            }
        );
        assert!(NewSource::parse(json!({"kind": "file", "path": "/x", "colour": 1})).is_err());
        assert!(NewSource::parse(json!({"kind": "nope"})).is_err());
        assert!(NewSource::parse(json!([1])).is_err());
    }
}
