//! Sources whose one document the store keeps (an uploaded file, an
//! article's body): [`StoredSource`] reads it for the pipeline, and
//! [`Stored`] is their kind (`upload.rs` and `article.rs` each name one).

use crate::pipeline::Pipeline;
use crate::report::{IngestReport, Progress};
use crate::source::{ItemRef, MediaKind, RawItem, Source, media_kind};
use crate::sync::kind::{Kind, run};
use crate::sync::records::{upload_name, upload_partner};
use crate::sync::syncer::Syncer;
use crate::{Error, Result};
use quarry_index::{KnowledgeBase, SourceBlob, SourceRecord, SourceSpec};
use std::sync::Arc;

/// A source whose one document the store keeps (an uploaded file, an
/// article's body).
pub(in crate::sync) struct StoredSource<'a> {
    pub(in crate::sync) kb: &'a KnowledgeBase,
    pub(in crate::sync) record: &'a SourceRecord,
}

impl StoredSource<'_> {
    pub(super) fn item(&self, blob: &SourceBlob) -> ItemRef {
        let (uri, title, url) = match &self.record.spec {
            SourceSpec::Article { article_id, url } => (
                format!("article://{article_id}"),
                self.record.title.clone(),
                url.clone(),
            ),
            _ => (
                format!("upload://{}/{}", self.record.id, blob.name),
                self.record.title.clone(),
                None,
            ),
        };
        ItemRef {
            title,
            url,
            ..ItemRef::new(uri, blob.name.clone(), blob.bytes.len() as u64)
        }
    }

    pub(super) fn blob(&self) -> Result<SourceBlob> {
        self.kb.source_blob(&self.record.id)?.ok_or_else(|| {
            Error::Source(format!("source {} has no stored content", self.record.id))
        })
    }
}

impl Source for StoredSource<'_> {
    fn id(&self) -> &str {
        &self.record.id
    }

    fn scan(&self) -> Result<Vec<ItemRef>> {
        // Subtitles uploaded for a video are that video's sidecar.
        if let Some(name) = upload_name(self.record)
            && media_kind(name).is_some_and(|(_, k)| k == MediaKind::Subtitles)
            && upload_partner(self.kb, name)?.is_some()
        {
            return Ok(Vec::new());
        }
        Ok(vec![self.item(&self.blob()?)])
    }

    fn fetch(&self, item: &ItemRef) -> Result<RawItem> {
        let blob = self.blob()?;
        let sidecar = match upload_name(self.record) {
            Some(name) if media_kind(name).is_some_and(|(_, k)| k == MediaKind::Video) => {
                match upload_partner(self.kb, name)? {
                    Some(partner) => self.kb.source_blob(&partner.id)?.map(|b| (b.name, b.bytes)),
                    None => None,
                }
            }
            _ => None,
        };
        Ok(RawItem {
            item: item.clone(),
            media_type: blob.media_type,
            bytes: blob.bytes,
            sidecar,
        })
    }
}

/// A kind whose one document the store keeps (uploads, articles): synced
/// from the store, never created through the generic source routes.
pub(in crate::sync) struct Stored {
    /// Why `identify` refuses: where sources of this kind are written.
    pub(in crate::sync) written_with: &'static str,
}

impl Kind for Stored {
    fn identify(&self, _: &SourceSpec) -> Result<(String, SourceSpec)> {
        Err(Error::Invalid(self.written_with.into()))
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
