//! File uploads: `POST /v1/kb/{kb}/files` (`multipart/form-data`: a `file`
//! part, and optional `title`, `private` and `citations` fields).

use crate::error::{ApiError, ApiResult, blocking};
use crate::guard::KbAdmin;
use crate::{AdminState, Limits};
use axum::Json;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use quarry_index::SourceSettings;
use quarry_ingest::Upload;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[utoipa::path(
    post,
    path = "/v1/kb/{kb}/files",
    tag = "sources",
    summary = "Upload a file (multipart: file, title, private, citations); 415 for a format quarry cannot read.",
    params(("kb" = String, Path, description = "Knowledge-base name")),
    request_body(content = Object, content_type = "multipart/form-data") ,
    responses(
        (status = 202, description = "The source and its job", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn upload(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    mut form: Multipart,
) -> ApiResult<Response> {
    let bad = |m: String| ApiError::bad_request("invalid_upload", m);
    let mut file: Option<(String, Option<String>, Vec<u8>)> = None;
    let mut title = None;
    let mut settings = SourceSettings::default();
    let mut seen = std::collections::HashSet::new();
    while let Some(field) = form.next_field().await.map_err(|e| bad(e.body_text()))? {
        let name = field.name().unwrap_or_default().to_owned();
        // One of each part: a second `file` would silently replace the first.
        if !seen.insert(name.clone()) {
            return Err(bad(format!("the form has more than one {name:?} part")));
        }
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
        let (source, job) = s.syncer.upload(&kb, upload)?;
        Ok((
            StatusCode::ACCEPTED,
            Json(json!({"source": source, "job": job})),
        )
            .into_response())
    })
    .await
}

pub fn routes(limits: Limits) -> OpenApiRouter<AdminState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .layer(DefaultBodyLimit::max(limits.upload_bytes))
}
