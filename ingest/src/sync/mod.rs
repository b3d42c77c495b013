//! Keeping knowledge bases in step with their sources: [`Syncer`].
//!
//! - Articles and short answers are indexed as their `PUT` arrives, on the
//!   caller's thread: searchable as soon as the call returns.
//! - Every other source is synced by a job: persisted in the knowledge
//!   base's store, run one at a time by [`Syncer::run_pending`] (the server's
//!   sync thread, or the CLI inline), and scheduled again `interval_secs`
//!   after it finishes. The schedule lives in the store, so a restart neither
//!   loses a due sync nor repeats one; jobs a crash left running are queued
//!   again on start.
//! - Only changed documents are parsed again, and only chunks whose text
//!   changed are embedded again (the pipeline's content hashes); documents a
//!   source no longer lists, and everything of a deleted source, leave the
//!   store, the vector index and the keyword index in one commit.

mod dispatch;
mod jobs;
mod kind;
mod kinds;
mod model_change;
mod records;
mod run;
mod sources;
mod syncer;

pub use model_change::ModelChange;
pub use sources::{
    Applied, ArticleInput, SHORT_ANSWER_FORMAT, ShortAnswerInput, Upload, article_source_id,
    short_answer_source_id, validate_external_id,
};
pub use syncer::{SyncOptions, Syncer};
