//! [`KnowledgeBase`]: the store, the vector index and the embedder of one data
//! directory, with a single writer.
//!
//! Two backends ([`Engine`]): embedded (SQLite, and in-process HNSW and
//! tantivy indexes derived from it) and shared (PostgreSQL with pgvector,
//! where searches run in the database and nothing is kept per process).
//!
//! Crash safety: the store is the source of truth and commits each batch
//! atomically. The vector index is derived state: a snapshot records the
//! highest id it holds (its watermark), and opening replays every stored
//! vector above the watermark, or rebuilds from the store when the snapshot is
//! missing or damaged. A crash anywhere leaves the last committed batch
//! readable and searchable.

use crate::embed::Embedder;
use crate::questions::QuestionLog;
use crate::source::{JobRecord, SourceBlob, SourceRecord, SourceState};
use crate::store::postgres::{PgDatabase, PgQuestions, PgStore};
use crate::store::sqlite::SqliteStore;
use crate::store::{ChunkRecord, ChunkStore, DocumentRecord, StoreStats, WriteOp};
use crate::vector::{ExactIndex, HnswIndex, HnswOptions, VectorIndex};
use crate::{ContentHash, Error, Result};
use local::{Local, WriterState, check_model, lock_dir, open_keywords};

mod check;
mod local;
pub use check::{Agreement, CheckReport, SnapshotState};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Which vector index serves searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VectorBackend {
    #[default]
    Hnsw,
    /// Brute force: exact, for small knowledge bases and as a test oracle.
    Exact,
}

/// Settings of the persistent index.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexOptions {
    pub backend: VectorBackend,
    pub hnsw: HnswOptions,
    /// Rebuild the graph when removed points exceed this share of all points…
    pub compact_ratio: f64,
    /// …and this many.
    pub compact_min: usize,
    /// Snapshot the graph after this many new points (and on `flush`).
    pub snapshot_every: usize,
    /// With the HNSW backend, knowledge bases of at most this many live
    /// chunks are searched exactly (like Qdrant's `full_scan_threshold`): a
    /// scan of 10,000 vectors costs about a millisecond, and small graphs are
    /// where HNSW can leave an outlier point unreachable. Crossing it builds
    /// the graph; 0 means always HNSW.
    pub full_scan_threshold: usize,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self {
            backend: VectorBackend::Hnsw,
            hnsw: HnswOptions::default(),
            compact_ratio: 0.25,
            compact_min: 1_000,
            snapshot_every: 20_000,
            full_scan_threshold: 10_000,
        }
    }
}

/// Counts for status output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct KbStats {
    #[serde(flatten)]
    pub store: StoreStats,
    /// Points in the vector index, removed ones included.
    pub vector_points: usize,
    pub tombstones: usize,
    /// Work done since the knowledge base was opened.
    pub counters: KbCounters,
}

/// What the write path did since the knowledge base was opened: how
/// incremental a resync really was is read here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KbCounters {
    /// Texts the model embedded for this knowledge base.
    pub passages_embedded: u64,
    /// Chunk rows written (new text; a cached vector may have been reused).
    pub chunks_added: u64,
    pub chunks_removed: u64,
    pub commits: u64,
}

#[derive(Debug, Default)]
struct Counters {
    passages_embedded: AtomicU64,
    chunks_added: AtomicU64,
    chunks_removed: AtomicU64,
    commits: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> KbCounters {
        KbCounters {
            passages_embedded: self.passages_embedded.load(Ordering::Relaxed),
            chunks_added: self.chunks_added.load(Ordering::Relaxed),
            chunks_removed: self.chunks_removed.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
        }
    }
}

/// A search hit: the chunk and its cosine similarity to the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub chunk: ChunkRecord,
    pub similarity: f32,
}

/// Where searches run.
enum Engine {
    /// In this process: indexes derived from the embedded store.
    Local(Box<Local>),
    /// In the shared database (pgvector HNSW, full-text search): nothing
    /// per node to go stale.
    Shared(Arc<PgStore>),
}

/// One knowledge base: its store, indexes, embedder and question log.
pub struct KnowledgeBase {
    dir: PathBuf,
    store: Arc<dyn ChunkStore>,
    engine: Engine,
    embedder: Arc<dyn Embedder>,
    /// The name of the model in [`crate::Models`] (its confidence
    /// parameters are looked up by it).
    model: String,
    options: IndexOptions,
    counters: Counters,
    questions: QuestionLog,
}

impl std::fmt::Debug for KnowledgeBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnowledgeBase")
            .field("dir", &self.dir)
            .field("model", &self.embedder.model_id())
            .finish()
    }
}

fn poisoned() -> Error {
    Error::Corrupt {
        what: "knowledge base".into(),
        reason: "a writer panicked earlier".into(),
    }
}

/// Store meta key of the question-logging switch.
const LOGGING_KEY: &str = "log_questions";

impl KnowledgeBase {
    /// Opens (or creates) the knowledge base in `dir`, naming its model
    /// after the model id's folder part.
    pub fn open(dir: &Path, embedder: Arc<dyn Embedder>, options: IndexOptions) -> Result<Self> {
        let id = embedder.model_id();
        let name = id.split('@').next().unwrap_or(id).to_owned();
        Self::open_with_model(dir, &name, embedder, options)
    }

    /// Opens (or creates) the knowledge base in `dir` with the model called
    /// `model`. A knowledge base built with another model is refused
    /// ([`Error::ModelMismatch`]): changing it is a re-embedding
    /// ([`crate::reembed`]).
    pub fn open_with_model(
        dir: &Path,
        model: &str,
        embedder: Arc<dyn Embedder>,
        options: IndexOptions,
    ) -> Result<Self> {
        options.hnsw.validate()?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let lock = lock_dir(dir)?;
        let store = SqliteStore::open(&dir.join("quarry.db"))?;
        check_model(&store, &dir.display().to_string(), &*embedder)?;
        let live = store.live_ids()?;
        let (keywords, keyword_watermark) = open_keywords(&dir.join("keywords"))?;
        let kb = Self {
            dir: dir.to_owned(),
            store: Arc::new(store),
            engine: Engine::Local(Box::new(Local {
                vectors: RwLock::new(Arc::new(ExactIndex::default())),
                live: RwLock::new(live),
                keywords,
                writer: Mutex::new(WriterState {
                    watermark: 0,
                    unsaved: 0,
                }),
                _lock: lock,
            })),
            embedder,
            model: model.to_owned(),
            options,
            counters: Counters::default(),
            questions: QuestionLog::open(&dir.join("questions.db"))?,
        };
        kb.load_vectors()?;
        kb.catch_up_keywords(keyword_watermark)?;
        // The lock is ours, so a job still marked running belongs to a
        // process that died (a killed `quarry ingest`): queue it again.
        // Best effort: a read on a full disk must still open.
        match kb.store.requeue_running() {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "jobs of a process that stopped are queued again"),
            Err(e) => tracing::warn!("cannot queue interrupted jobs again: {e}"),
        }
        Ok(kb)
    }

    /// Opens (or creates) knowledge base `name` in the shared database,
    /// with the model called `model`. Any number of processes may have it
    /// open; `dir` is where this node keeps files of its own (none yet).
    pub fn open_shared(
        db: Arc<PgDatabase>,
        name: &str,
        dir: &Path,
        model: &str,
        embedder: Arc<dyn Embedder>,
        options: IndexOptions,
    ) -> Result<Self> {
        crate::validate_kb_name(name)?;
        Self::open_shared_in(
            db,
            name,
            &format!("kb_{name}"),
            dir,
            model,
            embedder,
            options,
        )
    }

    /// Like [`KnowledgeBase::open_shared`], kept in schema `schema` (where
    /// a model change builds the replacement).
    pub fn open_shared_in(
        db: Arc<PgDatabase>,
        name: &str,
        schema: &str,
        dir: &Path,
        model: &str,
        embedder: Arc<dyn Embedder>,
        options: IndexOptions,
    ) -> Result<Self> {
        options.hnsw.validate()?;
        let store = Arc::new(PgStore::open_in(
            db.clone(),
            name,
            schema,
            embedder.dimensions(),
            options.full_scan_threshold,
        )?);
        check_model(
            &*store,
            &format!("knowledge base {name} (database)"),
            &*embedder,
        )?;
        Ok(Self {
            dir: dir.to_owned(),
            store: store.clone(),
            engine: Engine::Shared(store),
            embedder,
            model: model.to_owned(),
            options,
            counters: Counters::default(),
            questions: QuestionLog::new(Box::new(PgQuestions::in_schema(db, schema))),
        })
    }

    /// Whether this knowledge base lives in the shared database.
    pub fn is_shared(&self) -> bool {
        matches!(self.engine, Engine::Shared(_))
    }

    /// The shared database this knowledge base lives in, if any.
    pub fn database(&self) -> Option<&Arc<PgDatabase>> {
        match &self.engine {
            Engine::Shared(pg) => Some(pg.database()),
            Engine::Local(_) => None,
        }
    }

    /// The embedded engine, or an error naming what the shared one lacks.
    fn local(&self) -> Option<&Local> {
        match &self.engine {
            Engine::Local(l) => Some(l),
            Engine::Shared(_) => None,
        }
    }

    /// Whether a knowledge base of `live` chunks is searched by a full scan.
    fn scans_exactly(&self, live: usize) -> bool {
        self.options.backend == VectorBackend::Exact || live <= self.options.full_scan_threshold
    }

    fn live_count(&self) -> usize {
        self.local()
            .map_or(0, |l| l.live.read().map_or(0, |l| l.len()))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// The name of this knowledge base's model.
    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn options(&self) -> &IndexOptions {
        &self.options
    }

    /// The question log and the knowledge gaps.
    pub fn questions(&self) -> &QuestionLog {
        &self.questions
    }

    /// Whether questions asked of this knowledge base are logged (on
    /// unless switched off with [`KnowledgeBase::set_logging`]).
    pub fn logging(&self) -> Result<bool> {
        Ok(self.store.meta(LOGGING_KEY)?.as_deref() != Some("off"))
    }

    pub fn set_logging(&self, on: bool) -> Result<()> {
        self.store
            .set_meta(LOGGING_KEY, if on { "on" } else { "off" })
    }

    /// Every source, by id.
    pub fn sources(&self) -> Result<Vec<SourceRecord>> {
        self.store.sources()
    }

    pub fn source(&self, id: &str) -> Result<Option<SourceRecord>> {
        self.store.source(id)
    }

    /// The content the store keeps for a source (an upload, an article's
    /// body, a site's crawl state).
    pub fn source_blob(&self, id: &str) -> Result<Option<SourceBlob>> {
        self.store.source_blob(id)
    }

    /// Records a source's sync status and schedule (not its content).
    pub fn set_source_state(&self, id: &str, state: &SourceState) -> Result<()> {
        self.store.set_source_state(id, state)
    }

    /// Ids of the scheduled sources due at `now` (unix seconds).
    pub fn due_sources(&self, now: i64) -> Result<Vec<String>> {
        self.store.due_sources(now)
    }

    /// Queues a sync job of a source (or of one of its documents).
    pub fn create_job(
        &self,
        source_id: &str,
        uri: Option<&str>,
        trigger: &str,
    ) -> Result<JobRecord> {
        self.store.create_job(source_id, uri, trigger)
    }

    pub fn update_job(&self, job: &JobRecord) -> Result<()> {
        self.store.update_job(job)
    }

    pub fn job(&self, id: u64) -> Result<Option<JobRecord>> {
        self.store.job(id)
    }

    /// The newest `limit` jobs, newest first.
    pub fn jobs(&self, limit: usize) -> Result<Vec<JobRecord>> {
        self.store.jobs(limit)
    }

    /// The oldest queued job.
    pub fn next_queued_job(&self) -> Result<Option<JobRecord>> {
        self.store.next_queued_job()
    }

    /// Takes the oldest runnable job and marks it running (atomically:
    /// with several nodes, each job runs once).
    pub fn claim_job(&self) -> Result<Option<JobRecord>> {
        self.store.claim_job()
    }

    /// Keeps a running job's claim alive.
    pub fn heartbeat_job(&self, id: u64) -> Result<()> {
        self.store.heartbeat_job(id)
    }

    /// Queues a job for each scheduled source due at `now` (once, however
    /// many nodes schedule); returns the new jobs.
    pub fn enqueue_due(&self, now: i64) -> Result<Vec<JobRecord>> {
        self.store.enqueue_due(now)
    }

    /// Jobs a crash left running go back to the queue; returns how many.
    pub fn requeue_running(&self) -> Result<usize> {
        self.store.requeue_running()
    }

    /// A setting kept with the knowledge base (token hashes, …).
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.store.meta(key)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.store.set_meta(key, value)
    }

    /// Every setting kept with the knowledge base.
    pub fn all_meta(&self) -> Result<Vec<(String, String)>> {
        self.store.all_meta()
    }

    /// Embeds passages for this knowledge base, counting them.
    pub fn embed_passages(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let vectors = self.embedder.embed_passages(texts)?;
        self.counters
            .passages_embedded
            .fetch_add(texts.len() as u64, Ordering::Relaxed);
        Ok(vectors)
    }

    pub fn document(&self, uri: &str) -> Result<Option<DocumentRecord>> {
        self.store.document(uri)
    }

    /// URIs of the documents published at, or identified by, any of `urls`
    /// (pass canonical forms: [`crate::web::normalize`]).
    pub fn documents_at(&self, urls: &[&str]) -> Result<Vec<String>> {
        self.store.documents_at(urls)
    }

    /// URIs of every document.
    pub fn all_documents(&self) -> Result<Vec<String>> {
        self.store.all_documents()
    }

    /// A document's chunks, in document order.
    pub fn chunks_of_document(&self, uri: &str) -> Result<Vec<ChunkRecord>> {
        self.chunks(&self.store.chunk_ids_of_document(uri)?)
    }

    pub fn documents_of_source(&self, source_id: &str) -> Result<Vec<String>> {
        self.store.documents_of_source(source_id)
    }

    /// Every stored chunk's id and vector, in id order (benchmarks read real
    /// text vectors here).
    pub fn for_each_vector(&self, sink: &mut dyn FnMut(crate::vector::Point)) -> Result<()> {
        self.store.points_after(0, sink)
    }

    /// Every stored chunk's id and vector above id `after`, in id order
    /// (ids only grow: what was added since a check).
    pub fn for_each_vector_after(
        &self,
        after: u64,
        sink: &mut dyn FnMut(crate::vector::Point),
    ) -> Result<()> {
        self.store.points_after(after, sink)
    }

    /// Cached vectors for these content hashes: text embedded before is never
    /// embedded again.
    pub fn cached_embeddings(
        &self,
        hashes: &[ContentHash],
    ) -> Result<HashMap<ContentHash, Vec<f32>>> {
        self.store.embeddings(hashes)
    }

    /// Applies a batch atomically, then makes it searchable. This is the one
    /// write path: callers serialise on it.
    pub fn commit(&self, ops: &[WriteOp]) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let dims = self.embedder.dimensions();
        for op in ops {
            if let WriteOp::Upsert { doc, chunks } = op
                && let Some(bad) = chunks
                    .iter()
                    .find(|c| c.vector.as_ref().is_some_and(|v| v.len() != dims))
            {
                return Err(Error::InvalidInput(format!(
                    "chunk {} of {} has a vector of the wrong size (model has {dims})",
                    bad.chunk_id, doc.uri
                )));
            }
        }
        let Some(local) = self.local() else {
            // The database indexes what it stores, in the same transaction.
            let outcome = self.store.commit(ops)?;
            self.count(&outcome);
            return Ok(());
        };
        let mut state = local.writer.lock().map_err(|_| poisoned())?;
        let outcome = self.store.commit(ops)?;
        self.count(&outcome);
        let index = local.vectors.read().map_err(|_| poisoned())?.clone();
        if let Err(e) = index.insert(&outcome.added) {
            // Committed: the next open rebuilds the index from the store.
            tracing::error!("vector index update failed (rebuilt on next open): {e}");
        }
        let watermark = outcome
            .added
            .iter()
            .map(|p| p.0)
            .max()
            .unwrap_or(0)
            .max(state.watermark);
        if let Err(e) = local
            .keywords
            .apply(&outcome.added_text, &outcome.removed, watermark)
        {
            // The store has the batch; the next open replays it into the
            // keyword index, and searches filter removed ids meanwhile.
            tracing::error!("keyword index update failed (replayed on next open): {e}");
        }
        {
            let mut live = local.live.write().map_err(|_| poisoned())?;
            for vid in &outcome.removed {
                live.remove(vid);
            }
            live.extend(outcome.added.iter().map(|p| p.0));
        }
        if let Some(max) = outcome.added.iter().map(|p| p.0).max() {
            state.watermark = state.watermark.max(max);
        }
        state.unsaved += outcome.added.len();
        let total = index.len();
        let live = self.live_count();
        let dead = total.saturating_sub(live);
        let outgrew_scan = index.is_exact() && !self.scans_exactly(live);
        if outgrew_scan
            || (dead > self.options.compact_min
                && dead as f64 > self.options.compact_ratio * total as f64)
        {
            drop(state);
            return self.compact();
        }
        let due = state.unsaved >= self.options.snapshot_every;
        drop(state);
        if due { self.flush() } else { Ok(()) }
    }

    fn count(&self, outcome: &crate::store::CommitOutcome) {
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        self.counters
            .chunks_added
            .fetch_add(outcome.added.len() as u64, Ordering::Relaxed);
        self.counters
            .chunks_removed
            .fetch_add(outcome.removed.len() as u64, Ordering::Relaxed);
    }

    /// Writes a vector snapshot if anything changed since the last one.
    pub fn flush(&self) -> Result<()> {
        let Some(local) = self.local() else {
            return Ok(());
        };
        let mut state = local.writer.lock().map_err(|_| poisoned())?;
        if state.unsaved == 0 {
            return Ok(());
        }
        // Indexes that are rebuilt from the store on open save nothing.
        let index = local.vectors.read().map_err(|_| poisoned())?.clone();
        index.save(
            &self.snapshot_dir(),
            state.watermark,
            self.embedder.model_id(),
        )?;
        state.unsaved = 0;
        Ok(())
    }

    /// Drops cached vectors no chunk uses any more (replaced or removed
    /// text), once they exceed a tenth of the chunks (at least 64), so
    /// the cache stays bounded by what is indexed. Returns how many.
    pub fn collect_garbage(&self) -> Result<usize> {
        let stats = self.store.stats()?;
        let slack = (stats.chunks / 10).max(64);
        if stats.embeddings <= stats.chunks + slack {
            return Ok(0);
        }
        let pruned = self.store.prune_embeddings()?;
        tracing::debug!(pruned_embeddings = pruned, "embedding cache pruned");
        Ok(pruned)
    }

    /// Rebuilds the vector index from the live chunks, dropping tombstones and
    /// unused cached vectors.
    pub fn compact(&self) -> Result<()> {
        let Some(local) = self.local() else {
            // PostgreSQL keeps its HNSW graph itself (VACUUM); what is left
            // is the embedding cache.
            let pruned = self.store.prune_embeddings()?;
            tracing::info!(pruned_embeddings = pruned, "embedding cache pruned");
            return Ok(());
        };
        let mut state = local.writer.lock().map_err(|_| poisoned())?;
        let live = self.live_count();
        let index: Arc<dyn VectorIndex> = if self.scans_exactly(live) {
            Arc::new(ExactIndex::default())
        } else {
            Arc::new(HnswIndex::new(&self.options.hnsw, live))
        };
        let mut points = Vec::new();
        self.store.points_after(0, &mut |p| points.push(p))?;
        let count = points.len();
        index.insert(&points)?;
        *local.vectors.write().map_err(|_| poisoned())? = index;
        state.unsaved = count.max(1);
        drop(state);
        let pruned = self.store.prune_embeddings()?;
        tracing::info!(
            points = count,
            pruned_embeddings = pruned,
            "vector index compacted"
        );
        self.flush()
    }

    /// The `k` nearest live chunks to a query vector.
    pub fn search(&self, query: &[f32], k: usize, ef: Option<usize>) -> Result<Vec<Hit>> {
        let hits = self.vector_candidates(query, k, ef)?;
        let ids: Vec<u64> = hits.iter().map(|h| h.0).collect();
        let mut chunks: HashMap<u64, ChunkRecord> = self
            .store
            .chunks(&ids)?
            .into_iter()
            .map(|c| (c.vid, c))
            .collect();
        // A chunk deleted between the search and the fetch is simply dropped.
        Ok(hits
            .into_iter()
            .filter_map(|(id, similarity)| {
                chunks.remove(&id).map(|chunk| Hit { chunk, similarity })
            })
            .collect())
    }

    /// The `k` nearest live chunk ids to a query vector, with similarity.
    pub fn vector_candidates(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
    ) -> Result<Vec<(u64, f32)>> {
        if query.len() != self.embedder.dimensions() {
            return Err(Error::InvalidInput(format!(
                "query vector has {} dimensions, the model {}",
                query.len(),
                self.embedder.dimensions()
            )));
        }
        let ef = ef.unwrap_or(self.options.hnsw.ef_search);
        match &self.engine {
            Engine::Shared(pg) => pg.vector_search(query, k, ef),
            Engine::Local(local) => {
                let index = local.vectors.read().map_err(|_| poisoned())?.clone();
                let live = local.live.read().map_err(|_| poisoned())?;
                index.search(query, k, ef, &|id| live.contains(&id))
            }
        }
    }

    /// The `k` best live chunk ids for a text query by BM25, with score.
    pub fn keyword_candidates(&self, query: &str, k: usize) -> Result<Vec<(u64, f32)>> {
        match &self.engine {
            Engine::Shared(pg) => pg.keyword_search(query, k),
            Engine::Local(local) => {
                let live = local.live.read().map_err(|_| poisoned())?;
                local.keywords.search(query, k, &|id| live.contains(&id))
            }
        }
    }

    /// Chunks by id, in the order asked (ids no longer stored are skipped).
    pub fn chunks(&self, ids: &[u64]) -> Result<Vec<ChunkRecord>> {
        self.store.chunks(ids)
    }

    pub fn stats(&self) -> Result<KbStats> {
        let store = self.store.stats()?;
        let (vector_points, tombstones) = match self.local() {
            Some(local) => {
                let points = local.vectors.read().map_err(|_| poisoned())?.len();
                (points, points.saturating_sub(self.live_count()))
            }
            None => (store.chunks, 0),
        };
        Ok(KbStats {
            store,
            vector_points,
            tombstones,
            counters: self.counters.snapshot(),
        })
    }
}
