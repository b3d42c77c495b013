//! Everything persistent in quarry: the chunk store, the embedder, the HNSW
//! vector index, snapshots. The read and write API of a knowledge base.
//!
//! Main types: [`Catalog`] (the knowledge bases of a data directory),
//! [`KnowledgeBase`] (one of them; [`KnowledgeBase::commit`] is the single
//! write path, [`KnowledgeBase::search`] the read path), [`SourceRecord`] and
//! [`JobRecord`] (sources and sync jobs as stored),
//! [`Models`] (the named embedding models a knowledge base can be built with),
//! [`Embedder`] ([`OnnxEmbedder`] for multilingual-e5-small and
//! all-MiniLM-L6-v2, [`HashEmbedder`] for tests), [`VectorIndex`] ([`HnswIndex`], [`ExactIndex`]) and [`ChunkStore`]
//! ([`SqliteStore`]).
//!
//! ```
//! use std::sync::Arc;
//! use quarry_formats::Locator;
//! use quarry_index::{ContentHash, DocumentMeta, Embedder, HashEmbedder, IndexOptions, KnowledgeBase, NewChunk, WriteOp};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let embedder = Arc::new(HashEmbedder::new(64));
//! let kb = KnowledgeBase::open(dir.path(), embedder.clone(), IndexOptions::default()).unwrap();
//! let text = "Reset your password from the login page.";
//! kb.commit(&[WriteOp::Upsert {
//!     doc: DocumentMeta {
//!         uri: "file:///help.md".into(), source_id: "docs".into(), title: Some("Help".into()),
//!         format: "markdown".into(), language: None, content_hash: ContentHash::of(text.as_bytes()),
//!         pipeline: "v1".into(), citable: true, url: None,
//!     },
//!     chunks: vec![NewChunk {
//!         chunk_id: "c1".into(), content_hash: ContentHash::of(text.as_bytes()), heading_path: vec![],
//!         text: text.into(), locator: Locator::Lines { start: 1, end: 1 },
//!         vector: Some(embedder.embed_passages(&[text]).unwrap().remove(0)),
//!     }],
//! }]).unwrap();
//! let q = embedder.embed_query("reset password").unwrap();
//! assert_eq!(kb.search(&q, 1, None).unwrap()[0].chunk.chunk_id, "c1");
//! ```

mod catalog;
pub mod embed;
mod error;
mod hash;
mod kb;
pub mod keyword;
pub mod models;
pub mod questions;
pub mod source;
pub mod store;
pub mod vector;
pub mod web;

pub use catalog::{
    Catalog, DEFAULT_KB, MODEL_FILE, kb_dir, record_model, recorded_model, validate_kb_name,
};
pub use embed::{Embedder, HashEmbedder, ModelOptions, OnnxEmbedder, Pooling};
pub use error::{Error, Result};
pub use hash::ContentHash;
pub use kb::{
    Agreement, CheckReport, Hit, IndexOptions, KbCounters, KbStats, KnowledgeBase, SnapshotState,
    VectorBackend,
};
pub use models::{ENGLISH_MODEL, MULTILINGUAL_MODEL, Models, builtin_models};
/// Re-exported so the read path can name locators without depending on `formats`.
pub use quarry_formats::Locator;
pub use questions::{DayCounts, Gap, GapStatus, LoggedQuestion, QuestionLog, StoredConflict};
pub use source::{
    JobRecord, JobStatus, SHORT_ANSWER_FORMAT, SourceBlob, SourceKind, SourceRecord,
    SourceSettings, SourceSpec, SourceState, SourceStatus, unix_now,
};
pub use store::{
    ChunkRecord, ChunkStore, DocumentMeta, DocumentRecord, NewChunk, StoreStats, WriteOp,
    sqlite::SqliteStore,
};
pub use vector::{ExactIndex, HnswIndex, HnswOptions, VectorIndex};
