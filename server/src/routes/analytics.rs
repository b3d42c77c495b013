//! `GET /v1/kb/{kb}/analytics?days=N`: answer / clarify / hand-off counts
//! per day, the most-cited documents, and documents never cited.

use crate::AdminState;
use crate::error::{ApiResult, blocking};
use crate::guard::KbAdmin;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use quarry_query::analytics::Analytics;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct AnalyticsQuery {
    #[serde(default)]
    days: Option<u32>,
}

async fn analytics(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    Query(q): Query<AnalyticsQuery>,
) -> ApiResult<Json<Analytics>> {
    let days = q.days.unwrap_or(30).clamp(1, 3650);
    blocking(move || Ok(Json(s.service.analytics(&kb, days)?))).await
}

pub fn routes() -> Router<AdminState> {
    Router::new().route("/v1/kb/{kb}/analytics", get(analytics))
}
