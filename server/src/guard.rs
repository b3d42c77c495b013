//! Who may call an admin route: [`ServerAdmin`] (the server-wide admin
//! token) and [`KbAdmin`] (an admin token of the knowledge base the path
//! names, or the server-wide one), as extractors — the check runs before the
//! handler and before its body is read, as Meilisearch's `GuardedData` does.

use crate::AdminState;
use crate::error::ApiError;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use quarry_query::{Auth, Scope};

/// The bearer token of a request, if it sent one.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    Auth::bearer(value).map(str::to_owned)
}

fn check(parts: &Parts, state: &AdminState, kb: Option<&str>) -> Result<(), ApiError> {
    let token = bearer(&parts.headers);
    let service = &state.service;
    service
        .auth()
        .check(service.catalog(), token.as_deref(), kb, Scope::Admin)?;
    Ok(())
}

/// A request made with the server-wide admin token (or to an open server).
#[derive(Debug)]
pub struct ServerAdmin;

impl FromRequestParts<AdminState> for ServerAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, ApiError> {
        check(parts, state, None)?;
        Ok(ServerAdmin)
    }
}

/// A request allowed to administer the knowledge base named by the route's
/// `{kb}` segment.
#[derive(Debug)]
pub struct KbAdmin {
    /// The knowledge base's name.
    pub kb: String,
}

impl FromRequestParts<AdminState> for KbAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::internal(e.body_text()))?;
        let kb = params
            .iter()
            .find(|(name, _)| *name == "kb")
            .map(|(_, value)| value.to_owned())
            .ok_or_else(|| ApiError::internal("a knowledge-base route without {kb}"))?;
        check(parts, state, Some(&kb))?;
        Ok(KbAdmin { kb })
    }
}
