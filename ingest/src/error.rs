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
    /// No such knowledge base, source, article or job.
    #[error("{0}")]
    NotFound(String),
    /// A request that cannot be carried out as asked.
    #[error("{0}")]
    Invalid(String),
    /// Content in a format quarry cannot read.
    #[error("{0}")]
    Unsupported(String),
    /// Content that parses to nothing searchable (markup without text, a
    /// body the parser rejects): refused before anything is stored.
    #[error("{0}")]
    Unindexable(String),
}

impl Error {
    /// Stable machine-readable code (the HTTP layer maps it to a status).
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "not_found",
            Error::Invalid(_) | Error::Source(_) => "invalid_request",
            Error::Unsupported(_) => "unsupported_format",
            Error::Unindexable(_) => "unindexable",
            Error::Index(e) => e.code(),
            Error::Document(_) => "document_error",
            Error::Pipeline(_) => "pipeline_error",
        }
    }

    /// True for errors the caller caused and can fix.
    pub fn is_user_error(&self) -> bool {
        match self {
            Error::NotFound(_)
            | Error::Invalid(_)
            | Error::Source(_)
            | Error::Unsupported(_)
            | Error::Unindexable(_) => true,
            Error::Index(e) => e.is_user_error(),
            Error::Document(_) | Error::Pipeline(_) => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
