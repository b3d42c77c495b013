//! `GET /v1/kb/{kb}/conflicts`: passages of different documents that seem
//! to contradict each other (different durations, prices, percentages; a
//! denial) or say nearly the same thing, each with both citations. Found
//! after syncs; the call checks what was added since.

use crate::AdminState;
use crate::error::{ApiResult, blocking};
use crate::guard::KbAdmin;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[utoipa::path(
    get,
    path = "/v1/kb/{kb}/conflicts",
    tag = "answering",
    summary = "Contradictions and duplicates between sources.",
    params(("kb" = String, Path, description = "Knowledge-base name")),
    responses(
        (status = 200, description = "Conflicts", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list(State(s): State<AdminState>, KbAdmin { kb }: KbAdmin) -> ApiResult<Json<Value>> {
    blocking(move || Ok(Json(json!({ "conflicts": s.syncer.conflicts(&kb)? })))).await
}

pub fn routes() -> OpenApiRouter<AdminState> {
    OpenApiRouter::new().routes(routes!(list))
}
