//! A knowledge-base article pushed by its owner, kept in the store and
//! synced before the call returns (`PUT /v1/kb/{kb}/articles/{id}`).

use super::stored::Stored;

pub(in crate::sync) static ARTICLE: Stored = Stored {
    written_with: "articles are written with PUT /v1/kb/{kb}/articles/{id}",
};
