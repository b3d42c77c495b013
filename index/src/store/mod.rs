//! The chunk and document store: the source of truth of a knowledge base.
//!
//! [`ChunkStore`] is the extension point: [`SqliteStore`] is the embedded
//! backend, [`postgres::PgStore`] the shared one (PostgreSQL + pgvector,
//! for several stateless nodes). SQLite because one writer with many
//! readers is exactly its WAL mode, its transactions make every ingest batch
//! all-or-nothing across documents, chunks and vectors, the file can be
//! inspected with the `sqlite3` shell, and relational queries (documents of a
//! source, jobs, reports) come for free. redb would give the first two but not
//! the last two.
//!
//! Vectors live here too, keyed by the content hash of the embedded text: that
//! is the embedding cache, and the vector index can always be rebuilt from it.

use crate::source::{JobRecord, SourceBlob, SourceRecord, SourceState};
use crate::vector::Point;
use crate::{ContentHash, Result};
use quarry_formats::Locator;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

pub mod postgres;
mod rows;
pub mod sqlite;

/// What is known of a document when it is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentMeta {
    /// Stable identity: `file:///abs/path`, `https://…`.
    pub uri: String,
    /// The source that brought it in (an ingested folder, a site).
    pub source_id: String,
    pub title: Option<String>,
    pub format: String,
    pub language: Option<String>,
    /// Hash of the raw bytes: unchanged bytes are not parsed again.
    pub content_hash: ContentHash,
    /// Chunker + model settings the chunks were made with; a change re-chunks.
    pub pipeline: String,
    /// False for private sources: passages are returned without citation.
    pub citable: bool,
    /// Where the document is published, when that is not `uri` (an article's
    /// page on the customer's help centre). Citations link here.
    #[serde(default)]
    pub url: Option<String>,
}

/// A stored document with its bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentRecord {
    #[serde(flatten)]
    pub meta: DocumentMeta,
    pub chunk_count: usize,
    /// Unix seconds of the last write.
    pub indexed_at: i64,
}

/// A chunk to write. `vector` may be `None` when the embedding cache already
/// holds one for `content_hash`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChunk {
    /// Deterministic id derived from the document and the content.
    pub chunk_id: String,
    /// Hash of the embedded text (heading context + text).
    pub content_hash: ContentHash,
    pub heading_path: Vec<String>,
    pub text: String,
    pub locator: Locator,
    pub vector: Option<Vec<f32>>,
}

/// A stored chunk with what a citation needs of its document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRecord {
    /// Internal id, also the vector index id; never reused.
    pub vid: u64,
    pub chunk_id: String,
    pub doc_uri: String,
    pub ordinal: usize,
    pub content_hash: ContentHash,
    pub heading_path: Vec<String>,
    pub text: String,
    pub locator: Locator,
    pub source_id: String,
    pub title: Option<String>,
    pub citable: bool,
    /// The document's published address, if not `doc_uri`.
    pub url: Option<String>,
    /// The document's format (`html`, `pdf`, …, `short_answer`).
    pub format: String,
}

/// One change to the knowledge base.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Insert or replace a document and exactly these chunks.
    Upsert {
        doc: DocumentMeta,
        chunks: Vec<NewChunk>,
    },
    /// Remove a document and all its chunks.
    Delete { uri: String },
    /// Insert or replace a source (its documents take its citation setting),
    /// with its stored content when it has some (an uploaded file, an
    /// article's body); `None` keeps what is stored.
    PutSource {
        source: Box<SourceRecord>,
        blob: Option<SourceBlob>,
    },
    /// Remove a source, its stored content and every document it brought in.
    DeleteSource { id: String },
}

/// What a committed batch changed in the derived indexes.
#[derive(Debug, Default)]
pub struct CommitOutcome {
    pub added: Vec<Point>,
    /// Keyword text of each added chunk (see [`keyword_text`]).
    pub added_text: Vec<(u64, String)>,
    pub removed: Vec<u64>,
}

/// What the keyword index sees of a chunk: title, headings and text.
pub fn keyword_text(title: Option<&str>, heading_path: &[String], text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for part in title
        .into_iter()
        .chain(heading_path.iter().map(String::as_str))
    {
        out.push_str(part);
        out.push('\n');
    }
    out.push_str(text);
    out
}

/// Counts for status output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    pub sources: usize,
    pub documents: usize,
    pub chunks: usize,
    pub embeddings: usize,
}

/// Persistent documents, chunks and vectors.
pub trait ChunkStore: Send + Sync {
    fn document(&self, uri: &str) -> Result<Option<DocumentRecord>>;
    /// URIs of a source's documents.
    fn documents_of_source(&self, source_id: &str) -> Result<Vec<String>>;
    /// URIs of the documents published at, or identified by, any of `urls`.
    fn documents_at(&self, urls: &[&str]) -> Result<Vec<String>>;
    /// URIs of every document.
    fn all_documents(&self) -> Result<Vec<String>>;
    /// Ids of a document's chunks, in document order.
    fn chunk_ids_of_document(&self, uri: &str) -> Result<Vec<u64>>;
    /// Cached vectors for these content hashes (missing ones are absent).
    fn embeddings(&self, hashes: &[ContentHash]) -> Result<HashMap<ContentHash, Vec<f32>>>;
    fn chunks(&self, vids: &[u64]) -> Result<Vec<ChunkRecord>>;
    /// Ids of every chunk in the store.
    fn live_ids(&self) -> Result<HashSet<u64>>;
    /// Every (id, vector) with id greater than `after`, in id order.
    fn points_after(&self, after: u64, sink: &mut dyn FnMut(Point)) -> Result<()>;
    /// Every (id, keyword text) with id greater than `after`, in id order.
    fn texts_after(&self, after: u64, sink: &mut dyn FnMut(u64, String)) -> Result<()>;
    /// Applies all ops in one transaction.
    fn commit(&self, ops: &[WriteOp]) -> Result<CommitOutcome>;
    fn stats(&self) -> Result<StoreStats>;
    /// Drops cached vectors no chunk uses; returns how many.
    fn prune_embeddings(&self) -> Result<usize>;
    /// What is wrong inside the store (`quarry check`): the database's own
    /// integrity check, chunks whose document or vector is missing,
    /// documents without chunks. Empty when sound.
    fn integrity(&self) -> Result<Vec<String>>;
    fn meta(&self, key: &str) -> Result<Option<String>>;
    fn set_meta(&self, key: &str, value: &str) -> Result<()>;
    /// Every metadata entry (key, value), sorted by key.
    fn all_meta(&self) -> Result<Vec<(String, String)>>;

    /// Every source, oldest first.
    fn sources(&self) -> Result<Vec<SourceRecord>>;
    fn source(&self, id: &str) -> Result<Option<SourceRecord>>;
    fn source_blob(&self, id: &str) -> Result<Option<SourceBlob>>;
    /// Records a sync's outcome on a source (no-op for a deleted source).
    fn set_source_state(&self, id: &str, state: &SourceState) -> Result<()>;
    /// Scheduled sources whose next sync is due at `now` and that have no
    /// queued or running job.
    fn due_sources(&self, now: i64) -> Result<Vec<String>>;
    /// Queues a job for every scheduled source due at `now` that has none
    /// queued or running, atomically: with several nodes scheduling, each
    /// due source gets one job. Returns the new jobs.
    fn enqueue_due(&self, now: i64) -> Result<Vec<JobRecord>>;

    /// Queues a job; returns it with its id.
    fn create_job(&self, source_id: &str, uri: Option<&str>, trigger: &str) -> Result<JobRecord>;
    fn update_job(&self, job: &JobRecord) -> Result<()>;
    fn job(&self, id: u64) -> Result<Option<JobRecord>>;
    /// The most recent jobs, newest first.
    fn jobs(&self, limit: usize) -> Result<Vec<JobRecord>>;
    /// The oldest queued job.
    fn next_queued_job(&self) -> Result<Option<JobRecord>>;
    /// Jobs left running by a crash go back to the queue; returns how many.
    fn requeue_running(&self) -> Result<usize>;
    /// Takes the oldest runnable job and marks it running, atomically (two
    /// workers never take the same job).
    fn claim_job(&self) -> Result<Option<JobRecord>>;
    /// Tells other nodes a running job's worker is alive (the shared
    /// backend takes over jobs whose worker went quiet).
    fn heartbeat_job(&self, _id: u64) -> Result<()> {
        Ok(())
    }
}
