//! A knowledge-base article pushed by its owner, kept in the store and synced before the call returns (`PUT /v1/kb/{kb}/articles/{id}`).

use super::stored::StoredSource;
use crate::Error;
use crate::Result;
use crate::pipeline::Pipeline;
use crate::report::{IngestReport, Progress};
use crate::sync::kind::{Kind, run};
use crate::sync::syncer::Syncer;
use quarry_index::{KnowledgeBase, SourceRecord, SourceSpec};
use std::sync::Arc;

pub(in crate::sync) struct Article;

impl Kind for Article {
    fn identify(&self, _: &SourceSpec) -> Result<(String, SourceSpec)> {
        Err(Error::Invalid(
            "articles are written with PUT /v1/kb/{kb}/articles/{id}".into(),
        ))
    }

    fn stored(&self) -> bool {
        true
    }

    fn retitle_resyncs(&self) -> bool {
        true
    }

    fn sync(
        &self,
        _: &Syncer,
        kb: &Arc<KnowledgeBase>,
        record: &SourceRecord,
        uri: Option<&str>,
        progress: &dyn Progress,
        pipeline: &Pipeline,
    ) -> Result<IngestReport> {
        run(pipeline, &StoredSource { kb, record }, uri, progress)
    }
}
