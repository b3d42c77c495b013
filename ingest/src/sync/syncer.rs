//! [`Syncer`]: the knowledge bases of a catalog and their sources, and
//! the settings of the resync machinery.

use crate::conflicts::ConflictOptions;
use crate::crawl::CrawlOptions;
use crate::pipeline::IngestOptions;
use crate::{Error, Result};
use quarry_formats::Registry;
use quarry_index::{Catalog, ContentHash, JobRecord, KnowledgeBase, SourceRecord};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// Settings of the resync machinery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncOptions {
    /// Seconds between two syncs of a scheduled source (a week by default).
    pub interval_secs: u64,
    /// How often the server looks for due sources, in seconds.
    pub tick_secs: u64,
    /// After a failed sync, the next try comes this many seconds later (or
    /// at the regular interval, if that is sooner).
    pub retry_secs: u64,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            interval_secs: 7 * 24 * 3600,
            tick_secs: 60,
            retry_secs: 3600,
        }
    }
}

/// Applies source changes to the knowledge bases of a [`Catalog`] and runs
/// their sync jobs.
pub struct Syncer {
    pub(super) catalog: Arc<Catalog>,
    pub(super) registry: Arc<Registry>,
    pub(super) ingest: IngestOptions,
    pub(super) options: SyncOptions,
    pub(super) crawl: CrawlOptions,
    pub(super) conflicts: ConflictOptions,
    /// Serialises writes of stored content with the jobs that read it, so a
    /// resync never indexes an article's previous body over a newer one.
    pub(super) stored_writes: Mutex<()>,
    pub(super) wake: (Mutex<bool>, Condvar),
    pub(super) ids: AtomicU64,
}

impl std::fmt::Debug for Syncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syncer")
            .field("options", &self.options)
            .finish()
    }
}

impl Syncer {
    pub fn new(
        catalog: Arc<Catalog>,
        registry: Arc<Registry>,
        ingest: IngestOptions,
        options: SyncOptions,
    ) -> Self {
        Self {
            catalog,
            registry,
            ingest,
            options,
            crawl: CrawlOptions::default(),
            conflicts: ConflictOptions::default(),
            stored_writes: Mutex::new(()),
            wake: (Mutex::new(false), Condvar::new()),
            ids: AtomicU64::new(0),
        }
    }

    /// Crawler settings for `url` and `site` sources.
    pub fn with_crawl(mut self, crawl: CrawlOptions) -> Self {
        self.crawl = crawl;
        self
    }

    /// Settings of the conflict check that follows every sync.
    pub fn with_conflicts(mut self, conflicts: ConflictOptions) -> Self {
        self.conflicts = conflicts;
        self
    }

    /// Conflicts and duplicates between the sources of `kb_name`
    /// ([`crate::conflicts::list`]).
    pub fn conflicts(&self, kb_name: &str) -> Result<Vec<crate::conflicts::Conflict>> {
        crate::conflicts::list(&*self.kb(kb_name)?, &self.conflicts)
    }

    /// Checks what the last sync added for conflicts; a failure is logged,
    /// never the sync's.
    pub(super) fn check_conflicts(&self, kb: &KnowledgeBase) {
        if let Err(e) = crate::conflicts::update(kb, &self.conflicts) {
            tracing::warn!("conflict check failed: {e}");
        }
    }

    pub fn crawl_options(&self) -> &CrawlOptions {
        &self.crawl
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    pub fn options(&self) -> &SyncOptions {
        &self.options
    }

    /// The knowledge base `name`, or a not-found error.
    pub fn kb(&self, name: &str) -> Result<Arc<KnowledgeBase>> {
        self.catalog
            .get(name)?
            .ok_or_else(|| Error::NotFound(format!("knowledge base {name:?} does not exist")))
    }

    /// The source `id` of knowledge base `kb_name`, or a not-found error.
    pub fn source(&self, kb_name: &str, id: &str) -> Result<SourceRecord> {
        source_record(&*self.kb(kb_name)?, id)
    }

    /// Every source of knowledge base `kb_name`.
    pub fn sources(&self, kb_name: &str) -> Result<Vec<SourceRecord>> {
        Ok(self.kb(kb_name)?.sources()?)
    }

    /// The newest `limit` sync jobs of knowledge base `kb_name`.
    pub fn jobs(&self, kb_name: &str, limit: usize) -> Result<Vec<JobRecord>> {
        Ok(self.kb(kb_name)?.jobs(limit)?)
    }

    /// Sync job `id` of knowledge base `kb_name`, if it exists.
    pub fn job(&self, kb_name: &str, id: u64) -> Result<Option<JobRecord>> {
        Ok(self.kb(kb_name)?.job(id)?)
    }

    pub(super) fn new_id(&self, prefix: &str) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let hash = ContentHash::of_parts(&[
            &nanos.to_le_bytes(),
            &n.to_le_bytes(),
            &std::process::id().to_le_bytes(),
        ]);
        format!("{prefix}-{}", &hash.to_hex()[..12])
    }

    pub(super) fn guard(&self) -> Result<std::sync::MutexGuard<'_, ()>> {
        self.stored_writes
            .lock()
            .map_err(|_| Error::Pipeline("a sync panicked earlier".into()))
    }
}

/// The source `id` of `kb`, or a not-found error.
pub(super) fn source_record(kb: &KnowledgeBase, id: &str) -> Result<SourceRecord> {
    kb.source(id)?
        .ok_or_else(|| Error::NotFound(format!("source {id:?} does not exist")))
}
