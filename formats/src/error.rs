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

/// The message of a panic payload (`panic!` with a literal or a formatted
/// string), if it has one.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}

/// Runs a third-party parser that may panic on a damaged file (pdf-extract,
/// lopdf, calamine, docx-rs) and turns the panic into this document's
/// `Malformed` error, so one bad file fails alone. Panics in quarry's own
/// code are bugs and are not wrapped; the fuzzers report what this contains
/// (see fuzz/src/lib.rs).
pub(crate) fn contained<T>(format: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let reason = panic_message(p.as_ref()).unwrap_or_else(|| "the parser panicked".into());
        Err(Error::Malformed { format, reason })
    })
}
