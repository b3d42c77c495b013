//! One module per kind of source, each implementing [`super::kind::Kind`].

pub(super) mod article;
pub(super) mod folder;
pub(super) mod short_answer;
pub(super) mod stored;
pub(super) mod upload;
pub(super) mod web;
