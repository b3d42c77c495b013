//! [`Kind`]: what one kind of source does — how a new one is identified,
//! whether the store keeps its content, whether a new title means a
//! resync, and how it is synced. One implementation per kind in `kinds/`,
//! chosen by `dispatch::kind_of`: a new kind of source is a `SourceSpec`
//! arm, its module there, and its line in the dispatch.

use super::syncer::Syncer;
use crate::Result;
use crate::pipeline::Pipeline;
use crate::report::{IngestReport, Progress};
use crate::source::{OneItem, Source};
use quarry_index::{KnowledgeBase, SourceRecord, SourceSpec};
use std::sync::Arc;

pub(super) trait Kind: Sync {
    /// The id and normalised spec of a source created from `spec` by
    /// `create_source` or `ingest_spec`; an error for kinds written through
    /// routes of their own, naming the route.
    fn identify(&self, spec: &SourceSpec) -> Result<(String, SourceSpec)>;

    /// The store keeps its content: writes of it and syncs of it are
    /// serialised, so a resync never indexes an older version.
    fn stored(&self) -> bool {
        false
    }

    /// Its title is part of its chunks' context: a new title syncs it again.
    fn retitle_resyncs(&self) -> bool {
        false
    }

    /// Syncs the source (or only its document `uri`) on this thread.
    fn sync(
        &self,
        syncer: &Syncer,
        kb: &Arc<KnowledgeBase>,
        record: &SourceRecord,
        uri: Option<&str>,
        progress: &dyn Progress,
        pipeline: &Pipeline,
    ) -> Result<IngestReport>;
}

/// Runs `source` (or its document `uri`) through the pipeline.
pub(super) fn run(
    pipeline: &Pipeline,
    source: &dyn Source,
    uri: Option<&str>,
    progress: &dyn Progress,
) -> Result<IngestReport> {
    match uri {
        Some(uri) => pipeline.run(&OneItem { source, uri }, progress),
        None => pipeline.run(source, progress),
    }
}
