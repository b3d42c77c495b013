//! Who may call a knowledge-base route: [`ServerAdmin`] (the server-wide
//! admin token), [`KbAdmin`] (an admin token of the knowledge base the path
//! names, or the server-wide one) and [`KbQuery`] (a query token will do), as extractors — the check runs before the
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

fn check(
    parts: &Parts,
    state: &AdminState,
    kb: Option<&str>,
    scope: Scope,
) -> Result<(), ApiError> {
    let token = bearer(&parts.headers);
    let service = &state.service;
    service
        .auth()
        .check(service.catalog(), token.as_deref(), kb, scope)?;
    Ok(())
}

async fn kb_of(parts: &mut Parts, state: &AdminState) -> Result<String, ApiError> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::internal(e.body_text()))?;
    params
        .iter()
        .find(|(name, _)| *name == "kb")
        .map(|(_, value)| value.to_owned())
        .ok_or_else(|| ApiError::internal("a knowledge-base route without {kb}"))
}

/// A request made with the server-wide admin token (or to an open server).
#[derive(Debug)]
pub struct ServerAdmin;

impl FromRequestParts<AdminState> for ServerAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, ApiError> {
        check(parts, state, None, Scope::Admin)?;
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
        let kb = kb_of(parts, state).await?;
        check(parts, state, Some(&kb), Scope::Admin)?;
        Ok(KbAdmin { kb })
    }
}

/// A request allowed to query the knowledge base named by the route's
/// `{kb}` segment (its query or admin token, or a server-wide one).
#[derive(Debug)]
pub struct KbQuery {
    pub kb: String,
}

impl FromRequestParts<AdminState> for KbQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, ApiError> {
        let kb = kb_of(parts, state).await?;
        check(parts, state, Some(&kb), Scope::Query)?;
        Ok(KbQuery { kb })
    }
}
