//! [`QueryService`]: questions routed to the knowledge bases of a
//! [`Catalog`], behind [`Auth`].

use crate::auth::{Auth, Scope};
use crate::retrieve::{QueryOptions, QueryRequest, QueryResponse, Retriever};
use crate::{Error, Result};
use quarry_index::{Catalog, DEFAULT_KB};
use std::sync::Arc;

/// The read side of a server: every knowledge base, one set of options.
#[derive(Debug)]
pub struct QueryService {
    catalog: Arc<Catalog>,
    options: QueryOptions,
    auth: Auth,
}

impl QueryService {
    pub fn new(catalog: Arc<Catalog>, options: QueryOptions, auth: Auth) -> Result<Self> {
        options
            .confidence
            .validate()
            .map_err(|m| Error::bad_request("invalid_config", m))?;
        Ok(Self {
            catalog,
            options,
            auth,
        })
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The retriever of knowledge base `kb`.
    pub fn retriever(&self, kb: &str) -> Result<Retriever> {
        let kb = self
            .catalog
            .get(kb)?
            .ok_or_else(|| Error::NotFound(format!("knowledge base {kb:?} does not exist")))?;
        Retriever::new(kb, self.options)
    }

    /// Checks the caller's token, then answers from the request's knowledge
    /// base (`default` when it names none).
    pub fn query(&self, token: Option<&str>, request: &QueryRequest) -> Result<QueryResponse> {
        let kb = request.kb.as_deref().unwrap_or(DEFAULT_KB);
        self.auth
            .check(&self.catalog, token, Some(kb), Scope::Query)?;
        self.retriever(kb)?.query(request)
    }
}
