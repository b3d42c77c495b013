//! Syncing one source now: its pipeline, then what its kind does
//! (`kinds/`, chosen in `dispatch.rs`).

use super::dispatch::kind_of;
use super::syncer::Syncer;
use crate::Result;
use crate::pipeline::{IngestOptions, Pipeline};
use crate::report::{IngestReport, Progress};
use quarry_index::{KnowledgeBase, SourceRecord};
use std::sync::Arc;

impl Syncer {
    /// Syncs a source now, on this thread. Callers hold the stored-content
    /// guard for kinds whose content the store keeps.
    pub(super) fn sync_now(
        &self,
        kb: &Arc<KnowledgeBase>,
        record: &SourceRecord,
        uri: Option<&str>,
        progress: &dyn Progress,
        prune: bool,
    ) -> Result<IngestReport> {
        let options = IngestOptions {
            citable: record.settings.citable(),
            prune,
            ..self.ingest
        };
        let pipeline = Pipeline::new(kb.clone(), self.registry.clone(), options);
        kind_of(&record.spec).sync(self, kb, record, uri, progress, &pipeline)
    }
}
