//! Suggested questions for a page:
//! `GET /v1/kb/{kb}/suggestions?url=PAGE_URL[&language=xx]` (query token).

use crate::AdminState;
use crate::error::{ApiResult, blocking};
use crate::guard::{KbQuery, bearer};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use quarry_query::suggest::Suggestions;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Debug, Deserialize)]
struct SuggestionsQuery {
    url: String,
    /// The language for general prompts when the page is unknown.
    #[serde(default)]
    language: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/kb/{kb}/suggestions",
    tag = "answering",
    summary = "Three suggested questions for a page (a query token will do).",
    params(("kb" = String, Path, description = "Knowledge-base name"), ("url" = String, Query, description = "The page the visitor is on"), ("language" = Option<String>, Query, description = "Language of general prompts")),
    responses(
        (status = 200, description = "Suggestions", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn suggestions(
    State(s): State<AdminState>,
    KbQuery { kb }: KbQuery,
    headers: HeaderMap,
    Query(q): Query<SuggestionsQuery>,
) -> ApiResult<Json<Suggestions>> {
    let token = bearer(&headers);
    blocking(move || {
        Ok(Json(s.service.suggestions(
            token.as_deref(),
            &kb,
            &q.url,
            q.language.as_deref(),
        )?))
    })
    .await
}

pub fn routes() -> OpenApiRouter<AdminState> {
    OpenApiRouter::new().routes(routes!(suggestions))
}
