//! An uploaded file, kept in the store (`POST /v1/kb/{kb}/files`).

use super::stored::StoredSource;
use crate::Error;
use crate::Result;
use crate::pipeline::Pipeline;
use crate::report::{IngestReport, Progress};
use crate::sync::kind::{Kind, run};
use crate::sync::syncer::Syncer;
use quarry_index::{KnowledgeBase, SourceRecord, SourceSpec};
use std::sync::Arc;

pub(in crate::sync) struct Uploaded;

impl Kind for Uploaded {
    fn identify(&self, _: &SourceSpec) -> Result<(String, SourceSpec)> {
        Err(Error::Invalid("a file source needs a \"path\" on the server; upload files with POST /v1/kb/{kb}/files".into()))
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
