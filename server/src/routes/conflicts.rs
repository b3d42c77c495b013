//! `GET /v1/kb/{kb}/conflicts`: passages of different documents that seem
//! to contradict each other (different durations, prices, percentages; a
//! denial) or say nearly the same thing, each with both citations. Found
//! after syncs; the call checks what was added since.

use crate::AdminState;
use crate::error::{ApiResult, blocking};
use crate::guard::KbAdmin;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

async fn list(State(s): State<AdminState>, KbAdmin { kb }: KbAdmin) -> ApiResult<Json<Value>> {
    blocking(move || Ok(Json(json!({ "conflicts": s.syncer.conflicts(&kb)? })))).await
}

pub fn routes() -> Router<AdminState> {
    Router::new().route("/v1/kb/{kb}/conflicts", get(list))
}
