use thiserror::Error;

/// Errors of the read path, each with a stable code and an HTTP status.
#[derive(Debug, Error)]
pub enum Error {
    /// The caller's request is wrong (400).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// No such route or resource (404).
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Index(#[from] quarry_index::Error),
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest { code, .. } => code,
            Error::NotFound(_) => "not_found",
            Error::Index(e) if e.is_user_error() => "invalid_request",
            Error::Index(_) => "index_error",
            Error::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest { .. } => 400,
            Error::NotFound(_) => 404,
            Error::Index(e) if e.is_user_error() => 400,
            Error::Index(_) | Error::Internal(_) => 500,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
