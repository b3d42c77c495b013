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
            Error::Index(e) if e.is_user_error() => "invalid_request",
            Error::Index(_) => "index_error",
            Error::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest { .. } => 400,
            Error::NotFound(_) => 404,
            Error::Unauthorized(_) => 401,
            Error::Forbidden(_) => 403,
            Error::Conflict(_) => 409,
            Error::Index(e) if e.is_user_error() => 400,
            Error::Index(_) | Error::Internal(_) => 500,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
