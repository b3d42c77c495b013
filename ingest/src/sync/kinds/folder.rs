//! A file or folder on the server, walked by [`FileSource`], resynced on
//! schedule.

use crate::Error;
use crate::Result;
use crate::pipeline::Pipeline;
use crate::report::{IngestReport, Progress};
use crate::source::FileSource;
use crate::sync::kind::{Kind, run};
use crate::sync::records::path_source;
use crate::sync::syncer::Syncer;
use quarry_index::{KnowledgeBase, SourceRecord, SourceSpec};
use std::path::Path;
use std::sync::Arc;

pub(in crate::sync) struct Folder;

impl Kind for Folder {
    fn identify(&self, spec: &SourceSpec) -> Result<(String, SourceSpec)> {
        match spec {
            SourceSpec::File {
                path: Some(path), ..
            } => path_source(Path::new(path)),
            _ => Err(Error::Invalid("not a file source with a path".into())),
        }
    }

    fn retitle_resyncs(&self) -> bool {
        true
    }

    fn sync(
        &self,
        syncer: &Syncer,
        _: &Arc<KnowledgeBase>,
        record: &SourceRecord,
        uri: Option<&str>,
        progress: &dyn Progress,
        pipeline: &Pipeline,
    ) -> Result<IngestReport> {
        let SourceSpec::File {
            path: Some(path), ..
        } = &record.spec
        else {
            return Err(Error::Invalid(format!(
                "{} is not a folder source",
                record.id
            )));
        };
        let source = FileSource::with_id(Path::new(path), Some(&record.id))?
            .with_max_bytes(syncer.registry.limits().max_bytes as u64);
        run(pipeline, &source, uri, progress)
    }
}
