//! [`QueryService`]: questions routed to the knowledge bases of a
//! [`Catalog`], behind [`Auth`].

use crate::auth::{Auth, Scope};
use crate::cache::QueryCache;
use crate::log::QuestionLogger;
use crate::response::{QueryRequest, QueryResponse};
use crate::retrieve::{QueryOptions, Retriever};
use crate::{Error, Result};
use quarry_index::{Catalog, DEFAULT_KB, KnowledgeBase};
use std::sync::Arc;

/// The read side of a server: every knowledge base, one set of options.
#[derive(Debug)]
pub struct QueryService {
    catalog: Arc<Catalog>,
    options: QueryOptions,
    auth: Auth,
    cache: Option<Arc<QueryCache>>,
    logger: Option<Arc<QuestionLogger>>,
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
            logger: None,
        })
    }

    /// Logs the questions asked through [`QueryService::query`] (off the
    /// request path; see [`QuestionLogger`]).
    pub fn with_logger(mut self, logger: Arc<QuestionLogger>) -> Self {
        self.logger = Some(logger);
        self
    }

    pub fn logger(&self) -> Option<&Arc<QuestionLogger>> {
        self.logger.as_ref()
    }

    /// Waits until the questions asked so far are in their logs.
    pub fn flush_log(&self) {
        if let Some(logger) = &self.logger {
            logger.flush();
        }
    }

    fn kb(&self, name: &str) -> Result<Arc<KnowledgeBase>> {
        self.catalog
            .get(name)?
            .ok_or_else(|| Error::NotFound(format!("knowledge base {name:?} does not exist")))
    }

    /// Knowledge gaps of `kb` (`all`: resolved and dismissed ones too).
    pub fn gaps(&self, kb: &str, all: bool) -> Result<Vec<crate::gaps::GapView>> {
        self.flush_log();
        let retriever = self.retriever(kb)?;
        crate::gaps::list(&retriever, self.kb(kb)?.questions(), all)
    }

    /// The questions of open gap `id` of `kb`, the representative first.
    pub fn gap_questions(&self, kb: &str, id: i64) -> Result<Vec<String>> {
        self.flush_log();
        let handle = self.kb(kb)?;
        let gap = crate::gaps::open_gap(handle.questions(), id)?;
        Ok(crate::gaps::questions(handle.questions(), &gap, 20)?.0)
    }

    /// Closes open gap `id`: resolved by `short_answer`, or dismissed.
    pub fn close_gap(
        &self,
        kb: &str,
        id: i64,
        short_answer: Option<String>,
    ) -> Result<quarry_index::Gap> {
        crate::gaps::close(self.kb(kb)?.questions(), id, short_answer)
    }

    /// Three suggested questions for a page of `kb`, for a caller with a
    /// query (or admin) token.
    pub fn suggestions(
        &self,
        token: Option<&str>,
        kb: &str,
        page_url: &str,
        language: Option<&str>,
    ) -> Result<crate::suggest::Suggestions> {
        self.auth
            .check(&self.catalog, token, Some(kb), Scope::Query)?;
        self.flush_log();
        crate::suggest::suggest(&*self.kb(kb)?, page_url, language)
    }

    /// Analytics of the last `days` days of `kb`.
    pub fn analytics(&self, kb: &str, days: u32) -> Result<crate::analytics::Analytics> {
        self.flush_log();
        crate::analytics::analytics(&*self.kb(kb)?, days)
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

    /// The query options the service was built with.
    pub fn options(&self) -> &QueryOptions {
        &self.options
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
        let retriever = self.retriever(kb)?;
        let (response, vector) = retriever.query_with_vector(request)?;
        if let Some(logger) = &self.logger
            && logger.options().enabled
            && request.log != Some(false)
            && retriever.kb().logging()?
        {
            let entry = crate::log::entry(request, &response, &vector, &request.query);
            logger.log(retriever.kb().clone(), entry);
        }
        Ok(response)
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
