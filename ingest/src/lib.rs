//! The write path: sources, the chunker, and the ingest pipeline.
//!
//! Main types: [`Source`] (where documents come from; [`FileSource`] walks
//! folders), [`Chunker`] (section-aware, token-budgeted with the model's own
//! tokenizer), [`Pipeline`] (parse in parallel → embed in batches → one
//! writer) and the [`IngestReport`] it returns, and [`Syncer`] (sources of a
//! knowledge base kept in step: articles and short answers at once, the
//! rest through persisted, scheduled jobs).
//!
//! ```no_run
//! use std::sync::Arc;
//! use quarry_formats::Registry;
//! use quarry_index::{HashEmbedder, IndexOptions, KnowledgeBase};
//! use quarry_ingest::{FileSource, IngestOptions, NoProgress, Pipeline};
//!
//! let kb = Arc::new(KnowledgeBase::open("data".as_ref(), Arc::new(HashEmbedder::new(64)), IndexOptions::default())?);
//! let pipeline = Pipeline::new(kb, Arc::new(Registry::default()), IngestOptions::default());
//! let report = pipeline.run(&FileSource::new("docs".as_ref())?, &NoProgress)?;
//! println!("{} indexed, {} failed", report.indexed, report.failed.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod chunk;
pub mod conflicts;
pub mod crawl;
mod error;
pub mod pipeline;
pub mod report;
pub mod source;
pub mod sync;

pub use chunk::{Chunk, ChunkOptions, Chunker};
pub use conflicts::ConflictOptions;
pub use error::{Error, Result};
pub use pipeline::{IngestOptions, Pipeline, title_from_name};
pub use report::{Failure, IngestReport, NoProgress, Outcome, Progress};
pub use source::{FileSource, ItemRef, OneItem, RawItem, Source, file_uri};
pub use sync::{
    Applied, ArticleInput, ModelChange, SHORT_ANSWER_FORMAT, ShortAnswerInput, SyncOptions, Syncer,
    Upload,
};
