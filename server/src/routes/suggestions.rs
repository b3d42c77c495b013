//! Suggested questions for a page:
//! `GET /v1/kb/{kb}/suggestions?url=PAGE_URL[&language=xx]` (query token).

use crate::AdminState;
use crate::error::{ApiResult, blocking};
use crate::guard::{KbQuery, bearer};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use quarry_query::suggest::Suggestions;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct SuggestionsQuery {
    url: String,
    /// The language for general prompts when the page is unknown.
    #[serde(default)]
    language: Option<String>,
}

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

pub fn routes() -> Router<AdminState> {
    Router::new().route("/v1/kb/{kb}/suggestions", get(suggestions))
}
