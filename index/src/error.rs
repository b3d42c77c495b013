use thiserror::Error;

/// Errors of the persistent layer. `Model` and `InvalidInput` are the user's
/// to fix (a missing model file, a wrong setting); the rest are internal.
#[derive(Debug, Error)]
pub enum Error {
    #[error("embedding model: {0}")]
    Model(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error(
        "knowledge base at {path} was built with embedding model {built_with}, but {configured} is configured: re-ingest into a new data directory or configure the original model"
    )]
    ModelMismatch {
        path: String,
        built_with: String,
        configured: String,
    },
    /// Another process has this knowledge base open.
    #[error("{0}")]
    InUse(String),
    #[error("storage: {0}")]
    Store(rusqlite::Error),
    /// No space (or quota) left where the data lives: nothing was written.
    #[error("disk full: {0}")]
    DiskFull(String),
    #[error("i/o on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The shared database cannot be reached (down, restarting, out of
    /// connections): retry later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The shared database refused a statement.
    #[error("database: {0}")]
    Database(String),
    #[error("corrupt {what}: {reason}")]
    Corrupt { what: String, reason: String },
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => Error::DiskFull(format!("the store: {e}")),
            _ => Error::Store(e),
        }
    }
}

/// Whether an I/O error means the disk (or the quota) is full.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(28 | 122))
}

impl Error {
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        let path = path.as_ref().display().to_string();
        if is_disk_full(&source) {
            return Error::DiskFull(format!("{path}: {source}"));
        }
        Error::Io { path, source }
    }

    /// Stable machine-readable code (the HTTP layer maps it to a status).
    pub fn code(&self) -> &'static str {
        if self.is_user_error() {
            "invalid_request"
        } else if matches!(self, Error::Unavailable(_)) {
            "unavailable"
        } else if matches!(self, Error::DiskFull(_)) {
            "disk_full"
        } else {
            "index_error"
        }
    }

    /// True for errors the caller caused (bad settings, bad input).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            Error::Model(_)
                | Error::InvalidInput(_)
                | Error::ModelMismatch { .. }
                | Error::InUse(_)
        )
    }
}

pub type Result<T> = std::result::Result<T, Error>;
