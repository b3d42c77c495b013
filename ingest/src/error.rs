use thiserror::Error;

/// Errors of the write path. `Document` errors belong to one document and end
/// up in the ingest report; the others stop a run.
#[derive(Debug, Error)]
pub enum Error {
    #[error("source: {0}")]
    Source(String),
    #[error("{0}")]
    Document(String),
    #[error(transparent)]
    Index(#[from] quarry_index::Error),
    #[error("ingest pipeline: {0}")]
    Pipeline(String),
}

pub type Result<T> = std::result::Result<T, Error>;
