use thiserror::Error;

/// Why a document could not be parsed. Every variant is about the input, never
/// about quarry itself: the ingest report shows the message next to the file.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("unsupported format{}: supported are {supported}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Unsupported {
        detail: Option<String>,
        supported: String,
    },
    #[error("malformed {format}: {reason}")]
    Malformed {
        format: &'static str,
        reason: String,
    },
    #[error("no text content")]
    Empty,
    #[error("no text layer (a scanned PDF? OCR is not supported)")]
    NoTextLayer,
    #[error("encrypted or password-protected {0}: remove the password and upload it again")]
    Encrypted(&'static str),
    #[error("{what} exceeds the limit of {limit}")]
    LimitExceeded { what: String, limit: String },
    #[error("too large: {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
}

pub type Result<T> = std::result::Result<T, Error>;
