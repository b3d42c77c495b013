//! [`QueryService`]: questions routed to the knowledge bases of a
//! [`Catalog`], behind [`Auth`].

use crate::auth::{Auth, Scope};
use crate::cache::QueryCache;
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
    cache: Option<Arc<QueryCache>>,
}

impl QueryService {
    pub fn new(catalog: Arc<Catalog>, options: QueryOptions, auth: Auth) -> Result<Self> {
        if let Some(confidence) = &options.confidence {
            confidence
                .validate()
                .map_err(|m| Error::bad_request("invalid_config", m))?;
        }
        Ok(Self {
            catalog,
            options,
            auth,
            cache: (options.cache_size > 0).then(|| Arc::new(QueryCache::new(options.cache_size))),
        })
    }

    /// Hits and misses of the query-embedding cache (`None` when off).
    pub fn cache_stats(&self) -> Option<crate::cache::CacheStats> {
        self.cache.as_ref().map(|c| c.stats())
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
        Ok(Retriever::new(kb, self.options)?.with_cache(self.cache.clone()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use quarry_index::{HashEmbedder, IndexOptions};

    #[test]
    fn repeated_questions_reuse_the_cached_embedding() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Arc::new(
            Catalog::open(
                dir.path(),
                Arc::new(quarry_index::Models::of(Arc::new(HashEmbedder::new(32)))),
                IndexOptions::default(),
            )
            .unwrap(),
        );
        let service =
            QueryService::new(catalog.clone(), QueryOptions::default(), Auth::default()).unwrap();
        let ask = |q: &str| service.query(None, &QueryRequest::new(q)).unwrap();
        assert!(!ask("How do I reset my password?").timings.embed_cached);
        assert!(ask("how do I  reset my password?").timings.embed_cached);
        let stats = service.cache_stats().unwrap();
        assert_eq!((stats.hits, stats.misses), (1, 1));
        let off = QueryService::new(
            catalog,
            QueryOptions {
                cache_size: 0,
                ..QueryOptions::default()
            },
            Auth::default(),
        )
        .unwrap();
        assert!(off.cache_stats().is_none());
        let r = off.query(None, &QueryRequest::new("How do I reset my password?"));
        assert!(!r.unwrap().timings.embed_cached);
    }
}
