//! Keeping knowledge bases in step with their sources: [`Syncer`].
//!
//! - Articles and short answers are indexed as their `PUT` arrives, on the
//!   caller's thread: searchable as soon as the call returns.
//! - Every other source is synced by a job: persisted in the knowledge
//!   base's store, run one at a time by [`Syncer::run_pending`] (the server's
//!   sync thread, or the CLI inline), and scheduled again `interval_secs`
//!   after it finishes. The schedule lives in the store, so a restart neither
//!   loses a due sync nor repeats one; jobs a crash left running are queued
//!   again on start.
//! - Only changed documents are parsed again, and only chunks whose text
//!   changed are embedded again (the pipeline's content hashes); documents a
//!   source no longer lists, and everything of a deleted source, leave the
//!   store, the vector index and the keyword index in one commit.

use crate::crawl::{CrawlOptions, CrawlProgress, CrawlState, CrawlTarget};
use crate::pipeline::{IngestOptions, IngestReport, Outcome, Pipeline, Progress};
use crate::source::{FileSource, ItemRef, MediaKind, OneItem, RawItem, Source, media_kind};
use crate::{Error, Result};
use quarry_formats::{Locator, Registry};
use quarry_index::{
    Catalog, ContentHash, DocumentMeta, JobRecord, JobStatus, KnowledgeBase, NewChunk, SourceBlob,
    SourceKind, SourceRecord, SourceSettings, SourceSpec, SourceState, SourceStatus, WriteOp,
    unix_now,
};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Settings of the resync machinery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncOptions {
    /// Seconds between two syncs of a scheduled source (a week by default).
    pub interval_secs: u64,
    /// How often the server looks for due sources, in seconds.
    pub tick_secs: u64,
    /// After a failed sync, the next try comes this many seconds later (or
    /// at the regular interval, if that is sooner).
    pub retry_secs: u64,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            interval_secs: 7 * 24 * 3600,
            tick_secs: 60,
            retry_secs: 3600,
        }
    }
}

/// An article as the customer's CMS pushes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticleInput {
    pub title: String,
    /// HTML or Markdown (see `format`).
    pub body: String,
    /// Where the article is published; citations link here.
    #[serde(default)]
    pub url: Option<String>,
    /// `html` or `markdown`; guessed from the body when absent.
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub settings: Option<SourceSettings>,
}

/// An admin-written question and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShortAnswerInput {
    pub question: String,
    pub answer: String,
    #[serde(default)]
    pub settings: Option<SourceSettings>,
}

/// An uploaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub name: String,
    pub bytes: Vec<u8>,
    pub media_type: Option<String>,
    pub title: Option<String>,
    pub settings: SourceSettings,
}

/// What an immediate write (article, short answer) did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    pub source: SourceRecord,
    pub report: IngestReport,
}

/// Longest article or short-answer body accepted, in bytes.
const MAX_TEXT_BYTES: usize = 4 * 1024 * 1024;

/// Checks a caller-chosen id (an article's, a short answer's): 1–200 of
/// `A-Z a-z 0-9 . _ ~ : -`, so it is safe in a URL path.
pub fn validate_external_id(what: &str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 200
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} id {id:?} must be 1-200 characters of A-Z, a-z, 0-9, '.', '_', '~', ':' and '-'"
        )))
    }
}

/// Source id of the article with the customer's id `article_id`.
pub fn article_source_id(article_id: &str) -> String {
    format!("article:{article_id}")
}

/// Source id of the short answer `id`.
pub fn short_answer_source_id(id: &str) -> String {
    format!("short-answer:{id}")
}

pub use quarry_index::SHORT_ANSWER_FORMAT;

/// The crawl a `url` or `site` spec asks for.
fn crawl_target(spec: &SourceSpec) -> Option<CrawlTarget> {
    match spec {
        SourceSpec::Url { url } => Some(CrawlTarget {
            url: url.clone(),
            follow_links: false,
            ..CrawlTarget::default()
        }),
        SourceSpec::Site {
            url,
            max_pages,
            max_depth,
            include,
            exclude,
            subdomains,
        } => Some(CrawlTarget {
            url: url.clone(),
            follow_links: true,
            max_pages: *max_pages,
            max_depth: *max_depth,
            include: include.clone(),
            exclude: exclude.clone(),
            subdomains: *subdomains,
        }),
        _ => None,
    }
}

/// Id and normalised spec of a `url` or `site` source: one source per
/// start URL and kind, so importing a site twice updates it.
fn web_source(spec: &SourceSpec) -> Result<(String, SourceSpec)> {
    let target = crawl_target(spec).ok_or_else(|| Error::Invalid("not a web source".into()))?;
    let url = crate::crawl::urls::normalize(&target.url).ok_or_else(|| {
        Error::Invalid(format!(
            "not an absolute http(s) URL: {:?}",
            target.url.trim()
        ))
    })?;
    let mut spec = spec.clone();
    let kind = match &mut spec {
        SourceSpec::Url { url: u } => {
            *u = url.to_string();
            "url"
        }
        SourceSpec::Site { url: u, .. } => {
            *u = url.to_string();
            "site"
        }
        _ => unreachable!("crawl_target accepted it"),
    };
    Ok((format!("{kind}:{url}"), spec))
}

/// Name of the stored crawl state of a web source.
pub(crate) const CRAWL_STATE: &str = "crawl-state.json";

/// A source's record with a new spec: the stored one (keeping its id,
/// schedule and status, and its settings when `settings` is `None`), or a
/// new one with id `new_id`.
fn with_spec(
    existing: Option<SourceRecord>,
    new_id: String,
    spec: SourceSpec,
    settings: Option<SourceSettings>,
) -> SourceRecord {
    match existing {
        Some(s) => SourceRecord {
            spec,
            settings: settings.unwrap_or(s.settings),
            ..s
        },
        None => SourceRecord::new(new_id, spec, settings.unwrap_or_default()),
    }
}

/// Id and spec of the source for a file or folder on this machine, by its
/// canonical path (so a later symlink change cannot move it).
fn path_source(path: &Path) -> Result<(String, SourceSpec)> {
    let root = std::fs::canonicalize(path)
        .map_err(|e| Error::Source(format!("{}: {e}", path.display())))?;
    let spec = SourceSpec::File {
        path: Some(root.display().to_string()),
        upload: None,
    };
    Ok((crate::source::file_uri(&root), spec))
}

/// The upload that pairs with upload `name`: for a video, its subtitles
/// (`intro.vtt` / `intro.srt` for `intro.mp4`); for subtitles, their video.
/// Paired subtitles are the video's sidecar, not a document of their own.
fn upload_partner(kb: &KnowledgeBase, name: &str) -> Result<Option<SourceRecord>> {
    let Some((stem, kind)) = media_kind(name) else {
        return Ok(None);
    };
    Ok(kb.store().sources()?.into_iter().find(|s| {
        upload_name(s)
            .and_then(media_kind)
            .is_some_and(|(other_stem, other)| other_stem == stem && other != kind)
    }))
}

fn upload_name(record: &SourceRecord) -> Option<&str> {
    match &record.spec {
        SourceSpec::File {
            upload: Some(n), ..
        } => Some(n),
        _ => None,
    }
}

/// Writes a source (and its stored content) in one commit.
pub(crate) fn put_source(
    kb: &KnowledgeBase,
    record: &SourceRecord,
    blob: Option<SourceBlob>,
) -> Result<()> {
    kb.commit(&[WriteOp::PutSource {
        source: Box::new(record.clone()),
        blob,
    }])?;
    Ok(())
}

/// A source whose one document the store keeps (an uploaded file, an
/// article's body).
struct StoredSource<'a> {
    kb: &'a KnowledgeBase,
    record: &'a SourceRecord,
}

impl StoredSource<'_> {
    fn item(&self, blob: &SourceBlob) -> ItemRef {
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

    fn blob(&self) -> Result<SourceBlob> {
        self.kb
            .store()
            .source_blob(&self.record.id)?
            .ok_or_else(|| {
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
                    Some(partner) => self
                        .kb
                        .store()
                        .source_blob(&partner.id)?
                        .map(|b| (b.name, b.bytes)),
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
struct OutcomeRecorder<'a> {
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

/// Writes a running job's progress to the store, at most twice a second,
/// and passes it on.
struct JobProgress<'a> {
    kb: &'a KnowledgeBase,
    job: Mutex<(JobRecord, Instant)>,
    outer: &'a dyn Progress,
}

impl JobProgress<'_> {
    fn update(&self, f: impl FnOnce(&mut JobRecord), force: bool) {
        if let Ok(mut guard) = self.job.lock() {
            f(&mut guard.0);
            if force || guard.1.elapsed() > Duration::from_millis(500) {
                guard.1 = Instant::now();
                if let Err(e) = self.kb.store().update_job(&guard.0) {
                    tracing::warn!("cannot record job progress: {e}");
                }
            }
        }
    }
}

impl Progress for JobProgress<'_> {
    fn started(&self, documents: usize) {
        self.update(|j| j.total = documents, true);
        self.outer.started(documents);
    }

    fn crawling(&self, progress: &CrawlProgress) {
        self.update(|j| j.total = progress.fetched + progress.queued, false);
        self.outer.crawling(progress);
    }

    fn finished(&self, name: &str, outcome: &Outcome) {
        self.update(|j| j.done += 1, false);
        self.outer.finished(name, outcome);
    }
}

/// Applies source changes to the knowledge bases of a [`Catalog`] and runs
/// their sync jobs.
pub struct Syncer {
    catalog: Arc<Catalog>,
    registry: Arc<Registry>,
    ingest: IngestOptions,
    options: SyncOptions,
    crawl: CrawlOptions,
    /// Serialises writes of stored content with the jobs that read it, so a
    /// resync never indexes an article's previous body over a newer one.
    stored_writes: Mutex<()>,
    wake: (Mutex<bool>, Condvar),
    ids: AtomicU64,
}

impl std::fmt::Debug for Syncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syncer")
            .field("options", &self.options)
            .finish()
    }
}

impl Syncer {
    pub fn new(
        catalog: Arc<Catalog>,
        registry: Arc<Registry>,
        ingest: IngestOptions,
        options: SyncOptions,
    ) -> Self {
        Self {
            catalog,
            registry,
            ingest,
            options,
            crawl: CrawlOptions::default(),
            stored_writes: Mutex::new(()),
            wake: (Mutex::new(false), Condvar::new()),
            ids: AtomicU64::new(0),
        }
    }

    /// Crawler settings for `url` and `site` sources.
    pub fn with_crawl(mut self, crawl: CrawlOptions) -> Self {
        self.crawl = crawl;
        self
    }

    pub fn crawl_options(&self) -> &CrawlOptions {
        &self.crawl
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    pub fn options(&self) -> &SyncOptions {
        &self.options
    }

    /// The knowledge base `name`, or a not-found error.
    pub fn kb(&self, name: &str) -> Result<Arc<KnowledgeBase>> {
        self.catalog
            .get(name)?
            .ok_or_else(|| Error::NotFound(format!("knowledge base {name:?} does not exist")))
    }

    /// The source `id` of `kb`, or a not-found error.
    pub fn source(&self, kb: &KnowledgeBase, id: &str) -> Result<SourceRecord> {
        kb.store()
            .source(id)?
            .ok_or_else(|| Error::NotFound(format!("source {id:?} does not exist")))
    }

    fn new_id(&self, prefix: &str) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let hash = ContentHash::of_parts(&[
            &nanos.to_le_bytes(),
            &n.to_le_bytes(),
            &std::process::id().to_le_bytes(),
        ]);
        format!("{prefix}-{}", &hash.to_hex()[..12])
    }

    pub(crate) fn guard(&self) -> Result<std::sync::MutexGuard<'_, ()>> {
        self.stored_writes
            .lock()
            .map_err(|_| Error::Pipeline("a sync panicked earlier".into()))
    }

    /// Creates a source and, for the kinds that need one, queues its first
    /// sync. Articles, short answers and uploads have routes of their own.
    pub fn create_source(
        &self,
        kb_name: &str,
        title: Option<String>,
        spec: SourceSpec,
        settings: SourceSettings,
    ) -> Result<(SourceRecord, Option<JobRecord>)> {
        let kb = self.kb(kb_name)?;
        let (id, spec) = match &spec {
            SourceSpec::File {
                path: Some(path),
                upload: None,
            } => path_source(Path::new(path))?,
            SourceSpec::File { .. } => {
                return Err(Error::Invalid(
                    "a file source needs a \"path\" on the server; upload files with POST /v1/kb/{kb}/files".into(),
                ));
            }
            SourceSpec::Url { .. } | SourceSpec::Site { .. } => web_source(&spec)?,
            SourceSpec::Article { .. } | SourceSpec::ShortAnswer { .. } => {
                return Err(Error::Invalid(
                    "articles and short answers are written with PUT /v1/kb/{kb}/articles/{id} and /v1/kb/{kb}/short-answers/{id}".into(),
                ));
            }
        };
        let mut record = with_spec(kb.store().source(&id)?, id, spec, Some(settings));
        if title.is_some() {
            record.title = title;
        }
        put_source(&kb, &record, None)?;
        let job = self.enqueue(kb_name, &record.id, None, "create")?;
        Ok((record, Some(job)))
    }

    /// Changes a source's title and citation settings; documents already
    /// indexed take the new setting in the same commit.
    pub fn update_source(
        &self,
        kb_name: &str,
        id: &str,
        title: Option<String>,
        settings: Option<SourceSettings>,
    ) -> Result<SourceRecord> {
        let kb = self.kb(kb_name)?;
        let _guard = self.guard()?;
        let mut record = self.source(&kb, id)?;
        let retitled = title.is_some() && title != record.title;
        if let Some(title) = title {
            record.title = Some(title);
        }
        if let Some(settings) = settings {
            record.settings = settings;
        }
        put_source(&kb, &record, None)?;
        drop(_guard);
        // A stored document's title is part of its chunks' context.
        if retitled && matches!(record.kind, SourceKind::Article | SourceKind::File) {
            self.enqueue(kb_name, id, None, "update")?;
        }
        Ok(record)
    }

    /// Removes a source and everything it brought in, in one commit.
    pub fn delete_source(&self, kb_name: &str, id: &str) -> Result<()> {
        let kb = self.kb(kb_name)?;
        let _guard = self.guard()?;
        let record = self.source(&kb, id)?;
        kb.commit(&[WriteOp::DeleteSource { id: id.to_owned() }])?;
        kb.flush()?;
        drop(_guard);
        // A video loses (or subtitles regain) its partner: sync it again.
        if let Some(name) = upload_name(&record)
            && let Some(partner) = upload_partner(&kb, name)?
        {
            self.enqueue(kb_name, &partner.id, None, "update")?;
        }
        Ok(())
    }

    /// Stores an uploaded file as a source (replacing the upload of the same
    /// name, never duplicating it) and queues its sync.
    pub fn upload(&self, kb_name: &str, upload: Upload) -> Result<(SourceRecord, JobRecord)> {
        let kb = self.kb(kb_name)?;
        let name = Path::new(&upload.name)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty() && !n.starts_with('.'))
            .ok_or_else(|| Error::Invalid(format!("bad file name {:?}", upload.name)))?;
        let existing =
            kb.store().sources()?.into_iter().find(
                |s| matches!(&s.spec, SourceSpec::File { upload: Some(n), .. } if *n == name),
            );
        let spec = SourceSpec::File {
            path: None,
            upload: Some(name.clone()),
        };
        let mut record = with_spec(existing, self.new_id("file"), spec, Some(upload.settings));
        if upload.title.is_some() {
            record.title = upload.title;
        }
        let blob = SourceBlob {
            name,
            media_type: upload.media_type,
            bytes: upload.bytes,
        };
        {
            let _guard = self.guard()?;
            put_source(&kb, &record, Some(blob))?;
        }
        let job = self.enqueue(kb_name, &record.id, None, "upload")?;
        // Subtitles for an uploaded video (or a video for uploaded
        // subtitles): the partner is synced again to pair them.
        if let Some(partner) = upload_partner(&kb, upload_name(&record).unwrap_or_default())? {
            self.enqueue(kb_name, &partner.id, None, "upload")?;
        }
        Ok((record, job))
    }

    /// Creates or replaces an article and indexes it before returning.
    /// Idempotent: the same content again embeds nothing.
    pub fn put_article(
        &self,
        kb_name: &str,
        article_id: &str,
        input: ArticleInput,
    ) -> Result<Applied> {
        validate_external_id("article", article_id)?;
        if input.body.len() > MAX_TEXT_BYTES {
            return Err(Error::Invalid(format!(
                "article body is {} bytes; the limit is {MAX_TEXT_BYTES}",
                input.body.len()
            )));
        }
        if input.body.trim().is_empty() {
            return Err(Error::Invalid("article body is empty".into()));
        }
        let extension = match input.format.as_deref() {
            Some("html") => "html",
            Some("markdown" | "md") => "md",
            Some(other) => {
                return Err(Error::Invalid(format!(
                    "article format {other:?} is not one of html, markdown"
                )));
            }
            None if input.body.trim_start().starts_with('<') => "html",
            None => "md",
        };
        let kb = self.kb(kb_name)?;
        let id = article_source_id(article_id);
        let spec = SourceSpec::Article {
            article_id: article_id.to_owned(),
            url: input.url.clone(),
        };
        let _guard = self.guard()?;
        let mut record = with_spec(kb.store().source(&id)?, id, spec, input.settings);
        record.title = Some(input.title.trim().to_owned());
        let blob = SourceBlob {
            name: format!("{article_id}.{extension}"),
            media_type: None,
            bytes: input.body.into_bytes(),
        };
        put_source(&kb, &record, Some(blob))?;
        let report = self.sync_now(
            &kb,
            &record,
            None,
            &crate::pipeline::NoProgress,
            self.ingest.prune,
        );
        self.finish_source(&kb, &record.id, &report)?;
        let report = report?;
        let source = self.source(&kb, &record.id)?;
        Ok(Applied { source, report })
    }

    pub fn delete_article(&self, kb_name: &str, article_id: &str) -> Result<()> {
        validate_external_id("article", article_id)?;
        self.delete_source(kb_name, &article_source_id(article_id))
    }

    /// Creates or replaces a short answer (`id` of the caller's choosing;
    /// `None` makes one) and indexes it before returning.
    pub fn put_short_answer(
        &self,
        kb_name: &str,
        id: Option<&str>,
        input: ShortAnswerInput,
    ) -> Result<Applied> {
        let id = match id {
            Some(id) => {
                validate_external_id("short answer", id)?;
                id.to_owned()
            }
            None => self.new_id("sa"),
        };
        let (question, answer) = (input.question.trim(), input.answer.trim());
        if question.is_empty() || answer.is_empty() {
            return Err(Error::Invalid(
                "a short answer needs a question and an answer".into(),
            ));
        }
        if question.len() + answer.len() > MAX_TEXT_BYTES {
            return Err(Error::Invalid("short answer is too long".into()));
        }
        let kb = self.kb(kb_name)?;
        let source_id = short_answer_source_id(&id);
        let spec = SourceSpec::ShortAnswer {
            question: question.to_owned(),
            answer: answer.to_owned(),
        };
        let _guard = self.guard()?;
        let existing = kb.store().source(&source_id)?;
        let mut record = with_spec(existing, source_id, spec, input.settings);
        record.title = Some(question.to_owned());
        put_source(&kb, &record, None)?;
        let report = self.index_short_answer(&kb, &record);
        self.finish_source(&kb, &record.id, &report)?;
        let report = report?;
        let source = self.source(&kb, &record.id)?;
        Ok(Applied { source, report })
    }

    /// A short answer is one chunk: the answer as its text, the question as
    /// what is embedded (questions are matched against questions), both for
    /// keywords.
    fn index_short_answer(
        &self,
        kb: &KnowledgeBase,
        record: &SourceRecord,
    ) -> Result<IngestReport> {
        let started = Instant::now();
        let SourceSpec::ShortAnswer { question, answer } = &record.spec else {
            return Err(Error::Invalid(format!(
                "{} is not a short answer",
                record.id
            )));
        };
        let uri = format!(
            "short-answer://{}",
            record.id.trim_start_matches("short-answer:")
        );
        let hash = ContentHash::of_parts(&[
            SHORT_ANSWER_FORMAT.as_bytes(),
            question.as_bytes(),
            answer.as_bytes(),
        ]);
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
        let vector = match kb.cached_embeddings(&[hash])?.remove(&hash) {
            Some(_) => None,
            None => {
                report.embedded = 1;
                kb.embed_passages(&[question])?.pop()
            }
        };
        let chunk = NewChunk {
            chunk_id: ContentHash::of_parts(&[uri.as_bytes(), hash.to_hex().as_bytes()]).to_hex(),
            content_hash: hash,
            heading_path: Vec::new(),
            text: answer.clone(),
            locator: Locator::Document,
            vector,
        };
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
            chunks: vec![chunk],
        }])?;
        report.indexed = 1;
        report.chunks = 1;
        report.reused = 1 - report.embedded;
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }

    /// Short answers of a knowledge base.
    pub fn short_answers(&self, kb_name: &str) -> Result<Vec<SourceRecord>> {
        let kb = self.kb(kb_name)?;
        Ok(kb
            .store()
            .sources()?
            .into_iter()
            .filter(|s| s.kind == SourceKind::ShortAnswer)
            .collect())
    }

    pub fn delete_short_answer(&self, kb_name: &str, id: &str) -> Result<()> {
        validate_external_id("short answer", id)?;
        self.delete_source(kb_name, &short_answer_source_id(id))
    }

    /// Queues a sync of a source (or of one of its documents) and wakes the
    /// sync thread. A source with a job already queued gets that job back.
    pub fn enqueue(
        &self,
        kb_name: &str,
        source_id: &str,
        uri: Option<&str>,
        trigger: &str,
    ) -> Result<JobRecord> {
        let kb = self.kb(kb_name)?;
        self.source(&kb, source_id)?;
        let queued = kb.store().jobs(64)?.into_iter().find(|j| {
            j.status == JobStatus::Queued && j.source_id == source_id && j.uri.as_deref() == uri
        });
        let job = match queued {
            Some(job) => job,
            None => kb.store().create_job(source_id, uri, trigger)?,
        };
        self.notify();
        Ok(job)
    }

    fn notify(&self) {
        if let Ok(mut woken) = self.wake.0.lock() {
            *woken = true;
            self.wake.1.notify_all();
        }
    }

    /// Queues a sync of every scheduled source due at `now`; returns the jobs.
    pub fn schedule_due(&self, now: i64) -> Result<Vec<(String, JobRecord)>> {
        let mut out = Vec::new();
        for (name, kb) in self.catalog.all() {
            for id in kb.store().due_sources(now)? {
                let job = kb.store().create_job(&id, None, "schedule")?;
                out.push((name.clone(), job));
            }
        }
        Ok(out)
    }

    /// Jobs a crash left running go back to the queue (a sync is idempotent,
    /// so running it again from the start is safe). Returns how many.
    pub fn recover(&self) -> Result<usize> {
        let mut n = 0;
        for (_, kb) in self.catalog.all() {
            n += kb.store().requeue_running()?;
        }
        Ok(n)
    }

    /// Runs queued jobs, oldest first, until none is left; returns how many ran.
    pub fn run_pending(&self, progress: &dyn Progress) -> Result<usize> {
        let mut ran = 0;
        loop {
            let mut next: Option<(Arc<KnowledgeBase>, JobRecord)> = None;
            for (_, kb) in self.catalog.all() {
                if let Some(job) = kb.store().next_queued_job()?
                    && next
                        .as_ref()
                        .is_none_or(|(_, j)| (job.created_at, job.id) < (j.created_at, j.id))
                {
                    next = Some((kb, job));
                }
            }
            let Some((kb, job)) = next else {
                return Ok(ran);
            };
            self.run_job(&kb, job, progress)?;
            ran += 1;
        }
    }

    /// Runs one job to its end and records the outcome on the job and its
    /// source. A failed sync is a failed job, not an error.
    pub fn run_job(
        &self,
        kb: &Arc<KnowledgeBase>,
        job: JobRecord,
        progress: &dyn Progress,
    ) -> Result<JobRecord> {
        self.run_job_with(kb, job, progress, self.ingest.prune)
    }

    pub(crate) fn run_job_with(
        &self,
        kb: &Arc<KnowledgeBase>,
        mut job: JobRecord,
        progress: &dyn Progress,
        prune: bool,
    ) -> Result<JobRecord> {
        job.status = JobStatus::Running;
        job.started_at = Some(unix_now());
        kb.store().update_job(&job)?;
        let Some(record) = kb.store().source(&job.source_id)? else {
            job.status = JobStatus::Failed;
            job.error = Some(format!("source {} was deleted", job.source_id));
            job.finished_at = Some(unix_now());
            kb.store().update_job(&job)?;
            return Ok(job);
        };
        kb.store().set_source_state(
            &record.id,
            &SourceState {
                status: SourceStatus::Syncing,
                last_error: record.last_error.clone(),
                last_sync_at: record.last_sync_at,
                next_sync_at: record.next_sync_at,
            },
        )?;
        let uri = job.uri.clone();
        let tracker = JobProgress {
            kb,
            job: Mutex::new((job, Instant::now())),
            outer: progress,
        };
        let stored = matches!(
            record.spec,
            SourceSpec::Article { .. }
                | SourceSpec::File {
                    upload: Some(_),
                    ..
                }
        );
        let result = {
            let _guard = if stored { Some(self.guard()?) } else { None };
            self.sync_now(kb, &record, uri.as_deref(), &tracker, prune)
        };
        let mut job = tracker
            .job
            .into_inner()
            .map_err(|_| Error::Pipeline("job progress poisoned".into()))?
            .0;
        // Deleted while it ran: whatever the run wrote goes too.
        if kb.store().source(&record.id)?.is_none() {
            kb.commit(&[WriteOp::DeleteSource {
                id: record.id.clone(),
            }])?;
        }
        job.finished_at = Some(unix_now());
        match &result {
            Ok(report) => {
                job.status = JobStatus::Done;
                job.report = serde_json::to_value(report).ok();
            }
            Err(e) => {
                job.status = JobStatus::Failed;
                job.error = Some(e.to_string());
            }
        }
        kb.store().update_job(&job)?;
        self.finish_source(kb, &record.id, &result)?;
        Ok(job)
    }

    /// Records a sync's outcome on its source and schedules the next one.
    fn finish_source(
        &self,
        kb: &KnowledgeBase,
        id: &str,
        result: &Result<IngestReport>,
    ) -> Result<()> {
        let Some(record) = kb.store().source(id)? else {
            return Ok(());
        };
        let finished = unix_now();
        let state = SourceState {
            status: match result {
                Ok(_) => SourceStatus::Ready,
                Err(_) => SourceStatus::Error,
            },
            last_error: match result {
                Ok(r) if r.failed.len() == 1 && r.documents == 1 => {
                    Some(r.failed[0].reason.clone())
                }
                Ok(_) => None,
                Err(e) => Some(e.to_string()),
            },
            last_sync_at: Some(finished),
            next_sync_at: record.kind.is_scheduled().then(|| {
                let wait = match result {
                    Ok(_) => self.options.interval_secs,
                    Err(_) => self.options.retry_secs.min(self.options.interval_secs),
                };
                finished + wait as i64
            }),
        };
        kb.store().set_source_state(id, &state)?;
        Ok(())
    }

    /// Syncs a source now, on this thread. Callers hold the stored-content
    /// guard for kinds whose content the store keeps.
    fn sync_now(
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
    fn sync_web(
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
            .store()
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
        if let Some(current) = kb.store().source(&record.id)? {
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

    /// Creates (or updates) the source for a file or folder on this machine
    /// and syncs it inline: the CLI's `ingest PATH`.
    pub fn ingest_path(
        &self,
        kb_name: &str,
        path: &Path,
        settings: SourceSettings,
        prune: bool,
        progress: &dyn Progress,
    ) -> Result<(SourceRecord, JobRecord)> {
        let spec = SourceSpec::File {
            path: Some(path.display().to_string()),
            upload: None,
        };
        self.ingest_spec(kb_name, spec, settings, prune, progress)
    }

    /// Creates (or updates) a file, `url` or `site` source and syncs it
    /// inline: the CLI's `ingest`.
    pub fn ingest_spec(
        &self,
        kb_name: &str,
        spec: SourceSpec,
        settings: SourceSettings,
        prune: bool,
        progress: &dyn Progress,
    ) -> Result<(SourceRecord, JobRecord)> {
        let kb = self.kb(kb_name)?;
        let (id, spec) = match &spec {
            SourceSpec::File {
                path: Some(path), ..
            } => path_source(Path::new(path))?,
            SourceSpec::Url { .. } | SourceSpec::Site { .. } => web_source(&spec)?,
            _ => {
                return Err(Error::Invalid(
                    "only files, folders, URLs and sites are ingested this way".into(),
                ));
            }
        };
        let record = with_spec(kb.store().source(&id)?, id, spec, Some(settings));
        put_source(&kb, &record, None)?;
        let job = kb.store().create_job(&record.id, None, "cli")?;
        let job = self.run_job_with(&kb, job, progress, prune)?;
        let record = self.source(&kb, &record.id)?;
        Ok((record, job))
    }

    /// Runs the sync loop until `stop` is set: queued jobs first, then due
    /// sources every `tick_secs`; an enqueue wakes it at once.
    pub fn run_loop(&self, stop: &AtomicBool) {
        match self.recover() {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "interrupted sync jobs queued again"),
            Err(e) => tracing::error!("cannot recover interrupted jobs: {e}"),
        }
        let tick = Duration::from_secs(self.options.tick_secs.max(1));
        while !stop.load(Ordering::Relaxed) {
            if let Err(e) = self.schedule_due(unix_now()) {
                tracing::error!("scheduling due syncs failed: {e}");
            }
            if let Err(e) = self.run_pending(&crate::pipeline::NoProgress) {
                tracing::error!("sync job failed: {e}");
            }
            let Ok(woken) = self.wake.0.lock() else {
                return;
            };
            let (mut woken, _) = match self
                .wake
                .1
                .wait_timeout_while(woken, tick, |w| !*w && !stop.load(Ordering::Relaxed))
            {
                Ok(r) => r,
                Err(_) => return,
            };
            *woken = false;
        }
    }

    /// Wakes [`Syncer::run_loop`] so it sees `stop`.
    pub fn shutdown(&self) {
        self.notify();
    }
}
