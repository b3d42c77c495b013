use thiserror::Error;

/// Errors of the read path, each with a stable code (the HTTP layer,
/// `quarry-server`, maps them to statuses).
#[derive(Debug, Error)]
pub enum Error {
    /// The caller's request is wrong (400).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// No such route or resource (404).
    #[error("{0}")]
    NotFound(String),
    /// No token, or one that is not valid (401).
    #[error("{0}")]
    Unauthorized(String),
    /// A valid token without the right to do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// The request conflicts with what exists (409).
    #[error("{0}")]
    Conflict(String),
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
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::Conflict(_) => "conflict",
            Error::Index(e) => e.code(),
            Error::Internal(_) => "internal",
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
