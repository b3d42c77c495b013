//! [`kind_of`]: the one place a source's spec picks its [`Kind`].

use super::kind::Kind;
use super::kinds::{article, folder, short_answer, upload, web};
use quarry_index::SourceSpec;

pub(super) fn kind_of(spec: &SourceSpec) -> &'static dyn Kind {
    match spec {
        SourceSpec::File { path: Some(_), .. } => &folder::Folder,
        SourceSpec::File { .. } => &upload::UPLOADED,
        SourceSpec::Url { .. } | SourceSpec::Site { .. } => &web::Web,
        SourceSpec::Article { .. } => &article::ARTICLE,
        SourceSpec::ShortAnswer { .. } => &short_answer::ShortAnswer,
    }
}
