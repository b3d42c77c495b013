//! `GET /v1/kb/{kb}/analytics?days=N`: answer / clarify / hand-off counts
//! per day, the most-cited documents, and documents never cited.

use crate::AdminState;
use crate::error::{ApiResult, blocking};
use crate::guard::KbAdmin;
use axum::Json;
use axum::extract::{Query, State};
use quarry_query::analytics::Analytics;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Debug, Deserialize)]
struct AnalyticsQuery {
    #[serde(default)]
    days: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/v1/kb/{kb}/analytics",
    tag = "answering",
    summary = "Question analytics (decisions, languages, top questions, gaps).",
    params(("kb" = String, Path, description = "Knowledge-base name"), ("days" = Option<u32>, Query, description = "Window in days (default 30)")),
    responses(
        (status = 200, description = "Analytics", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn analytics(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    Query(q): Query<AnalyticsQuery>,
) -> ApiResult<Json<Analytics>> {
    let days = q.days.unwrap_or(30).clamp(1, 3650);
    blocking(move || Ok(Json(s.service.analytics(&kb, days)?))).await
}

pub fn routes() -> OpenApiRouter<AdminState> {
    OpenApiRouter::new().routes(routes!(analytics))
}
