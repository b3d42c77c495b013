//! Syncing one source: files through [`FileSource`], stored content
//! (uploads, articles) through [`StoredSource`], web sources through the
//! crawler, each into the pipeline; a short answer as its one chunk.

use super::sources::{CRAWL_STATE, crawl_target, put_source, upload_name, upload_partner};
use super::syncer::Syncer;
use crate::crawl::{CrawlProgress, CrawlState, CrawlTarget};
use crate::pipeline::{IngestOptions, Pipeline};
use crate::report::{IngestReport, Outcome, Progress};
use crate::source::{FileSource, ItemRef, MediaKind, OneItem, RawItem, Source, media_kind};
use crate::{Error, Result};
use quarry_formats::Locator;
use quarry_index::{
    ContentHash, DocumentMeta, KnowledgeBase, NewChunk, SHORT_ANSWER_FORMAT, SourceBlob,
    SourceRecord, SourceSpec, WriteOp,
};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A source whose one document the store keeps (an uploaded file, an
/// article's body).
pub(super) struct StoredSource<'a> {
    kb: &'a KnowledgeBase,
    record: &'a SourceRecord,
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

/// Remembers each document's outcome by name (a crawled page's name is its
/// URL) for the crawl report, and passes progress on.
pub(super) struct OutcomeRecorder<'a> {
    outcomes: &'a Mutex<std::collections::HashMap<String, Outcome>>,
    outer: &'a dyn Progress,
}

impl Progress for OutcomeRecorder<'_> {
    fn started(&self, documents: usize) {
        self.outer.started(documents);
    }

    fn finished(&self, name: &str, outcome: &Outcome) {
        if let Ok(mut o) = self.outcomes.lock() {
            o.insert(name.to_owned(), outcome.clone());
        }
        self.outer.finished(name, outcome);
    }

    fn crawling(&self, progress: &CrawlProgress) {
        self.outer.crawling(progress);
    }
}

impl Syncer {
    /// A short answer is one chunk: the answer as its text, the question as
    /// what is embedded (questions are matched against questions), both for
    /// keywords.
    pub(super) fn index_short_answer(
        &self,
        kb: &KnowledgeBase,
        record: &SourceRecord,
    ) -> Result<IngestReport> {
        let started = Instant::now();
        let SourceSpec::ShortAnswer {
            question,
            answer,
            variants,
        } = &record.spec
        else {
            return Err(Error::Invalid(format!(
                "{} is not a short answer",
                record.id
            )));
        };
        let uri = format!(
            "short-answer://{}",
            record.id.trim_start_matches("short-answer:")
        );
        // One chunk per wording: the answer as its text, the wording as
        // what is embedded (questions are matched against questions).
        let wordings: Vec<&String> = std::iter::once(question).chain(variants).collect();
        let hash_of = |q: &str| {
            ContentHash::of_parts(&[
                SHORT_ANSWER_FORMAT.as_bytes(),
                q.as_bytes(),
                answer.as_bytes(),
            ])
        };
        let hashes: Vec<ContentHash> = wordings.iter().map(|q| hash_of(q)).collect();
        // Without variants the document hash is the one chunk's, as before.
        let hash = if variants.is_empty() {
            hashes[0]
        } else {
            let hexes: Vec<String> = hashes.iter().map(|h| h.to_hex()).collect();
            let parts: Vec<&[u8]> = hexes.iter().map(|h| h.as_bytes()).collect();
            ContentHash::of_parts(&parts)
        };
        let mut report = IngestReport {
            source_id: record.id.clone(),
            documents: 1,
            ..IngestReport::default()
        };
        let citable = record.settings.citable();
        if let Some(existing) = kb.document(&uri)?
            && existing.meta.content_hash == hash
            && existing.meta.citable == citable
        {
            report.unchanged = 1;
            report.elapsed_ms = started.elapsed().as_millis() as u64;
            return Ok(report);
        }
        let cached = kb.cached_embeddings(&hashes)?;
        let missing: Vec<usize> = (0..hashes.len())
            .filter(|i| !cached.contains_key(&hashes[*i]))
            .collect();
        let texts: Vec<&str> = missing.iter().map(|i| wordings[*i].as_str()).collect();
        let mut fresh = if texts.is_empty() {
            Vec::new()
        } else {
            kb.embed_passages(&texts)?
        }
        .into_iter();
        report.embedded = missing.len();
        let mut chunks = Vec::with_capacity(hashes.len());
        let mut seen = std::collections::HashSet::new();
        for (i, h) in hashes.iter().enumerate() {
            let vector = if missing.contains(&i) {
                fresh.next()
            } else {
                None
            };
            if !seen.insert(*h) {
                continue;
            }
            chunks.push(NewChunk {
                chunk_id: ContentHash::of_parts(&[uri.as_bytes(), h.to_hex().as_bytes()]).to_hex(),
                content_hash: *h,
                heading_path: Vec::new(),
                text: answer.clone(),
                locator: Locator::Document,
                vector,
            });
        }
        let written = chunks.len();
        kb.commit(&[WriteOp::Upsert {
            doc: DocumentMeta {
                uri: uri.clone(),
                source_id: record.id.clone(),
                title: Some(question.clone()),
                format: SHORT_ANSWER_FORMAT.into(),
                language: None,
                content_hash: hash,
                pipeline: SHORT_ANSWER_FORMAT.into(),
                citable,
                url: None,
            },
            chunks,
        }])?;
        report.indexed = 1;
        report.chunks = written;
        report.reused = written.saturating_sub(report.embedded);
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }

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
        let run = |source: &dyn Source| match uri {
            Some(uri) => pipeline.run(&OneItem { source, uri }, progress),
            None => pipeline.run(source, progress),
        };
        match &record.spec {
            SourceSpec::File {
                path: Some(path), ..
            } => {
                let source = FileSource::with_id(Path::new(path), Some(&record.id))?
                    .with_max_bytes(self.registry.limits().max_bytes as u64);
                run(&source)
            }
            SourceSpec::File { .. } | SourceSpec::Article { .. } => {
                run(&StoredSource { kb, record })
            }
            SourceSpec::ShortAnswer { .. } => self.index_short_answer(kb, record),
            SourceSpec::Url { .. } | SourceSpec::Site { .. } => {
                self.sync_web(kb, record, uri, progress, &pipeline)
            }
        }
    }

    /// Crawls a `url` or `site` source and runs what it fetched through the
    /// pipeline; the crawl report goes into the ingest report, the per-URL
    /// validators into the source's stored state.
    pub(super) fn sync_web(
        &self,
        kb: &Arc<KnowledgeBase>,
        record: &SourceRecord,
        uri: Option<&str>,
        progress: &dyn Progress,
        pipeline: &Pipeline,
    ) -> Result<IngestReport> {
        let mut target = crawl_target(&record.spec)
            .ok_or_else(|| Error::Invalid(format!("source {} is not a web source", record.id)))?;
        if let Some(uri) = uri {
            // One page of the site again, as a single URL.
            target = CrawlTarget {
                url: uri.to_owned(),
                follow_links: false,
                ..CrawlTarget::default()
            };
        }
        let previous: CrawlState = kb
            .source_blob(&record.id)?
            .filter(|b| b.name == CRAWL_STATE)
            .and_then(|b| serde_json::from_slice(&b.bytes).ok())
            .unwrap_or_default();
        let on_progress = |p: CrawlProgress| progress.crawling(&p);
        let mut crawl = crate::crawl::crawl(
            &target,
            &self.crawl,
            &self.registry,
            &previous,
            &record.id,
            &on_progress,
        )?;
        let outcomes = Mutex::new(std::collections::HashMap::new());
        let recorder = OutcomeRecorder {
            outcomes: &outcomes,
            outer: progress,
        };
        let source = crawl.source();
        let mut report = match uri {
            Some(uri) => pipeline.run(
                &OneItem {
                    source: &source,
                    uri,
                },
                &recorder,
            )?,
            None => pipeline.run(&source, &recorder)?,
        };
        let outcomes = outcomes
            .into_inner()
            .map_err(|_| Error::Pipeline("crawl outcome recorder poisoned".into()))?;
        crawl.settle(&outcomes);
        let mut state = crawl.state.clone();
        if uri.is_some() {
            // A one-page resync updates that page's state only.
            let mut merged = previous;
            merged.pages.extend(std::mem::take(&mut state.pages));
            state = merged;
        }
        let bytes =
            serde_json::to_vec(&state).map_err(|e| Error::Pipeline(format!("crawl state: {e}")))?;
        if let Some(current) = kb.source(&record.id)? {
            put_source(
                kb,
                &current,
                Some(SourceBlob {
                    name: CRAWL_STATE.into(),
                    media_type: Some("application/json".into()),
                    bytes,
                }),
            )?;
        }
        report.crawl = Some(crawl.report);
        Ok(report)
    }
}
