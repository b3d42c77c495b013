//! Search-term variations: `GET|PUT /v1/kb/{kb}/synonyms` (Meilisearch's
//! shape: `{"tv": ["television"], "television": ["tv"]}`); applied to
//! keyword matching at once, nothing re-embedded.

use crate::AdminState;
use crate::error::{ApiResult, blocking, body};
use crate::guard::KbAdmin;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use quarry_query::synonyms::Synonyms;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[utoipa::path(
    get,
    path = "/v1/kb/{kb}/synonyms",
    tag = "answering",
    summary = "The synonyms (Meilisearch shape: word → list).",
    params(("kb" = String, Path, description = "Knowledge-base name")),
    responses(
        (status = 200, description = "Synonyms", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn get_all(
    State(s): State<AdminState>,
    KbAdmin { kb }: KbAdmin,
) -> ApiResult<Json<Synonyms>> {
    blocking(move || Ok(Json(Synonyms::of(&*s.syncer.kb(&kb)?)?))).await
}

#[utoipa::path(
    put,
    path = "/v1/kb/{kb}/synonyms",
    tag = "answering",
    summary = "Replace the synonyms.",
    params(("kb" = String, Path, description = "Knowledge-base name")),
    request_body = Object,
    responses(
        (status = 200, description = "Synonyms", body = Object),
        (status = "4XX", description = "A caller error", body = crate::error::ErrorBody),
        (status = "5XX", description = "A server error", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
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

pub fn routes() -> OpenApiRouter<AdminState> {
    OpenApiRouter::new().routes(routes!(get_all, put_all))
}
