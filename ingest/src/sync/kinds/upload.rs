//! An uploaded file, kept in the store (`POST /v1/kb/{kb}/files`).

use super::stored::Stored;

pub(in crate::sync) static UPLOADED: Stored = Stored {
    written_with: "a file source needs a \"path\" on the server; upload files with POST /v1/kb/{kb}/files",
};
