//! Sources: `GET|POST /v1/kb/{kb}/sources`,
//! `GET|PATCH|DELETE /v1/kb/{kb}/sources/{id}`,
//! `POST /v1/kb/{kb}/sources/{id}/sync`.

use super::Item;
use crate::AdminState;
use crate::error::{ApiError, ApiResult, blocking, body};
use crate::guard::KbAdmin;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use quarry_index::{JobRecord, SourceRecord, SourceSettings, SourceSpec};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[utoipa::path(
    get,
    path = "/v1/kb/{kb}/sources",
    tag = "sources",
    summary = "List sources.",
    params(("kb" = String, Path, description = "Knowledge-base name")),
    responses(
        (status = 200, description = "Sources", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list(State(s): State<AdminState>, KbAdmin { kb }: KbAdmin) -> ApiResult<Json<Value>> {
    blocking(move || {
        let sources = s.syncer.sources(&kb)?;
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

#[utoipa::path(
    post,
    path = "/v1/kb/{kb}/sources",
    tag = "sources",
    summary = "Add a source (file folder, url, site, short_answer…) and queue its first sync.",
    params(("kb" = String, Path, description = "Knowledge-base name")),
    request_body = Object,
    responses(
        (status = 201, description = "The source and its job", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    req: std::result::Result<Json<Value>, JsonRejection>,
) -> ApiResult<Response> {
    let req =
        NewSource::parse(body(req)?).map_err(|e| ApiError::bad_request("invalid_request", e))?;
    if let SourceSpec::File {
        path: Some(path), ..
    } = &req.spec
    {
        let real = std::fs::canonicalize(path)
            .map_err(|e| ApiError::bad_request("invalid_request", format!("{path}: {e}")))?;
        if !s.import_roots.iter().any(|root| real.starts_with(root)) {
            return Err(ApiError::forbidden(format!(
                "{path} is outside the server's import roots (server.import_roots)"
            )));
        }
    }
    blocking(move || {
        let (source, job) = s
            .syncer
            .create_source(&kb, req.title, req.spec, req.settings)?;
        Ok((
            StatusCode::CREATED,
            Json(json!({"source": source, "job": job})),
        )
            .into_response())
    })
    .await
}

#[utoipa::path(
    get,
    path = "/v1/kb/{kb}/sources/{id}",
    tag = "sources",
    summary = "One source.",
    params(("kb" = String, Path, description = "Knowledge-base name"), ("id" = String, Path, description = "Id")),
    responses(
        (status = 200, description = "The source", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn get_one(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    Path(Item { id }): Path<Item>,
) -> ApiResult<Json<SourceRecord>> {
    blocking(move || Ok(Json(s.syncer.source(&kb, &id)?))).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourcePatch {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    settings: Option<SourceSettings>,
}

#[utoipa::path(
    patch,
    path = "/v1/kb/{kb}/sources/{id}",
    tag = "sources",
    summary = "Change a source's title or settings.",
    params(("kb" = String, Path, description = "Knowledge-base name"), ("id" = String, Path, description = "Id")),
    request_body = Object,
    responses(
        (status = 200, description = "The source", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn update(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    Path(Item { id }): Path<Item>,
    req: std::result::Result<Json<SourcePatch>, JsonRejection>,
) -> ApiResult<Json<SourceRecord>> {
    let patch = body(req)?;
    blocking(move || {
        let record = s
            .syncer
            .update_source(&kb, &id, patch.title, patch.settings)?;
        Ok(Json(record))
    })
    .await
}

#[utoipa::path(
    delete,
    path = "/v1/kb/{kb}/sources/{id}",
    tag = "sources",
    summary = "Delete a source and its documents.",
    params(("kb" = String, Path, description = "Knowledge-base name"), ("id" = String, Path, description = "Id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn delete(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    Path(Item { id }): Path<Item>,
) -> ApiResult<StatusCode> {
    blocking(move || {
        s.syncer.delete_source(&kb, &id)?;
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

#[utoipa::path(
    post,
    path = "/v1/kb/{kb}/sources/{id}/sync",
    tag = "sources",
    summary = "Queue a sync of the source (or of one document with uri).",
    params(("kb" = String, Path, description = "Knowledge-base name"), ("id" = String, Path, description = "Id")),
    request_body = Option<Object>,
    responses(
        (status = 202, description = "The queued job", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn sync(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    Path(Item { id }): Path<Item>,
    req: Option<Json<SyncRequest>>,
) -> ApiResult<(StatusCode, Json<JobRecord>)> {
    let uri = req.and_then(|Json(r)| r.uri);
    blocking(move || {
        let job = s.syncer.enqueue(&kb, &id, uri.as_deref(), "api")?;
        Ok((StatusCode::ACCEPTED, Json(job)))
    })
    .await
}

pub fn routes() -> OpenApiRouter<AdminState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(sync))
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
