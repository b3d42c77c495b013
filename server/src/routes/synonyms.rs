//! Search-term variations: `GET|PUT /v1/kb/{kb}/synonyms` (Meilisearch's
//! shape: `{"tv": ["television"], "television": ["tv"]}`); applied to
//! keyword matching at once, nothing re-embedded.

use crate::AdminState;
use crate::error::{ApiResult, blocking, body};
use crate::guard::KbAdmin;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::routing::get;
use axum::{Json, Router};
use quarry_query::synonyms::Synonyms;

async fn get_all(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
) -> ApiResult<Json<Synonyms>> {
    blocking(move || Ok(Json(Synonyms::of(&*s.syncer.kb(&kb)?)?))).await
}

async fn put_all(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
    req: std::result::Result<Json<Synonyms>, JsonRejection>,
) -> ApiResult<Json<Synonyms>> {
    let synonyms = body(req)?;
    blocking(move || {
        synonyms.save(&*s.syncer.kb(&kb)?)?;
        Ok(Json(synonyms))
    })
    .await
}

pub fn routes() -> Router<AdminState> {
    Router::new().route("/v1/kb/{kb}/synonyms", get(get_all).put(put_all))
}
