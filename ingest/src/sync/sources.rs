//! Managing sources: files and folders on this machine, web pages and
//! sites, uploads, articles and short answers. Articles and short answers
//! are synced before the call returns; the rest get a job.

use super::dispatch::kind_of;
use super::records::{put_source, upload_name, upload_partner, with_spec};
use super::syncer::{Syncer, source_record};
use crate::pipeline::Pipeline;
use crate::report::{IngestReport, NoProgress, Progress};
use crate::{Error, Result};
use quarry_index::{
    JobRecord, KnowledgeBase, SourceBlob, SourceKind, SourceRecord, SourceSettings, SourceSpec,
    SourceStatus, WriteOp,
};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

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
    /// Other wordings of the question that should match too.
    #[serde(default)]
    pub variants: Vec<String>,
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

/// Prunes the embedding cache after a write; a failure only delays it.
pub(super) fn collect_garbage(kb: &KnowledgeBase) {
    if let Err(e) = kb.collect_garbage() {
        tracing::warn!("pruning the embedding cache failed: {e}");
    }
}

/// Longest uploaded file name, in bytes (a file system's NAME_MAX).
const MAX_FILE_NAME_BYTES: usize = 255;

/// Longest citation URL accepted with an article.
const MAX_URL_BYTES: usize = 2048;

/// An article's citation URL: absolute http(s) only, since clients render
/// it as a link (`javascript:` and `data:` would run in the visitor's page).
fn validate_citation_url(url: &str) -> Result<()> {
    let parsed = url::Url::parse(url.trim())
        .map_err(|e| Error::Invalid(format!("article url {url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::Invalid(format!(
            "article url must be an http or https URL, not {:?}",
            parsed.scheme()
        )));
    }
    if url.len() > MAX_URL_BYTES {
        return Err(Error::Invalid(format!(
            "article url is {} bytes; the limit is {MAX_URL_BYTES}",
            url.len()
        )));
    }
    Ok(())
}

/// Most variants one short answer takes.
const MAX_VARIANTS: usize = 50;

/// Checks a caller-chosen id (an article's, a short answer's): 1–200 of
/// `A-Z a-z 0-9 . _ ~ : -`, not dots alone, so it is safe in a URL path
/// (clients and proxies resolve `.` and `..` segments away).
pub fn validate_external_id(what: &str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 200
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~:-".contains(&b))
        && !id.bytes().all(|b| b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} id {id:?} must be 1-200 characters of A-Z, a-z, 0-9, '.', '_', '~', ':' and '-', and not dots alone"
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

impl Syncer {
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
        let (id, spec) = kind_of(&spec).identify(&spec)?;
        let mut record = with_spec(kb.source(&id)?, id, spec, Some(settings));
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
        let mut record = source_record(&kb, id)?;
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
        if retitled && kind_of(&record.spec).retitle_resyncs() {
            self.enqueue(kb_name, id, None, "update")?;
        }
        Ok(record)
    }

    /// Removes a source and everything it brought in, in one commit.
    pub fn delete_source(&self, kb_name: &str, id: &str) -> Result<()> {
        let kb = self.kb(kb_name)?;
        let _guard = self.guard()?;
        let record = source_record(&kb, id)?;
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
        // The name becomes the document's URI and citation: keep it to what
        // a file system holds.
        if name.len() > MAX_FILE_NAME_BYTES || name.chars().any(char::is_control) {
            let shown: String = name.chars().take(60).collect();
            return Err(Error::Invalid(format!(
                "file name {shown:?}… must be at most {MAX_FILE_NAME_BYTES} bytes without control characters"
            )));
        }
        // A format known to be unreadable is refused now, not acknowledged
        // and failed later.
        let input = quarry_formats::Input {
            name: &name,
            bytes: &upload.bytes,
            media_type: upload.media_type.as_deref(),
            limits: *self.registry.limits(),
            sidecar: None,
        };
        if let Err(e @ quarry_formats::Error::Unsupported { .. }) = self.registry.detect(&input) {
            return Err(Error::Unsupported(format!("{name}: {e}")));
        }
        let existing = kb
            .sources()?
            .into_iter()
            .find(|s| matches!(&s.spec, SourceSpec::File { upload: Some(n), .. } if *n == name));
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
        if let Some(url) = &input.url {
            validate_citation_url(url)?;
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
        let mut record = with_spec(kb.source(&id)?, id, spec, input.settings);
        record.title = Some(input.title.trim().to_owned());
        let blob = SourceBlob {
            name: format!("{article_id}.{extension}"),
            media_type: None,
            bytes: input.body.into_bytes(),
        };
        self.apply_now(&kb, &record, Some(blob))
    }

    /// The write path of articles and short answers: stores the source,
    /// syncs it on this thread through [`Syncer::sync_now`] (the path every
    /// job takes), and records the outcome. The caller holds the
    /// stored-content guard.
    fn apply_now(
        &self,
        kb: &Arc<KnowledgeBase>,
        record: &SourceRecord,
        blob: Option<SourceBlob>,
    ) -> Result<Applied> {
        if let Some(blob) = &blob {
            if blob.bytes.contains(&0) {
                return Err(Error::Unindexable(format!(
                    "{}: the text contains NUL characters",
                    blob.name
                )));
            }
            Pipeline::new(kb.clone(), self.registry.clone(), self.ingest)
                .check_indexable(&blob.name, &blob.bytes)?;
        }
        // Pending until indexed: a crash in between leaves it for
        // [`Syncer::recover`] to index at the next start.
        let record = &SourceRecord {
            status: SourceStatus::Pending,
            ..record.clone()
        };
        put_source(kb, record, blob)?;
        let report = self.sync_now(kb, record, None, &NoProgress, self.ingest.prune);
        self.finish_source(kb, &record.id, &report)?;
        let report = report?;
        collect_garbage(kb);
        self.check_conflicts(kb);
        let source = source_record(kb, &record.id)?;
        Ok(Applied { source, report })
    }

    /// The article with the customer's id `article_id`, as its source.
    pub fn article(&self, kb_name: &str, article_id: &str) -> Result<SourceRecord> {
        self.source(kb_name, &article_source_id(article_id))
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
        let mut variants: Vec<String> = Vec::new();
        for v in input.variants.iter().map(|v| v.trim()) {
            if !v.is_empty()
                && !v.eq_ignore_ascii_case(question)
                && !variants.iter().any(|w| w.eq_ignore_ascii_case(v))
            {
                variants.push(v.to_owned());
            }
        }
        if variants.len() > MAX_VARIANTS {
            return Err(Error::Invalid(format!(
                "a short answer takes at most {MAX_VARIANTS} variants of its question"
            )));
        }
        let total: usize = variants.iter().map(String::len).sum();
        if question.len() + answer.len() + total > MAX_TEXT_BYTES {
            return Err(Error::Invalid("short answer is too long".into()));
        }
        let kb = self.kb(kb_name)?;
        let source_id = short_answer_source_id(&id);
        let spec = SourceSpec::ShortAnswer {
            question: question.to_owned(),
            answer: answer.to_owned(),
            variants,
        };
        let _guard = self.guard()?;
        let existing = kb.source(&source_id)?;
        let mut record = with_spec(existing, source_id, spec, input.settings);
        record.title = Some(question.to_owned());
        self.apply_now(&kb, &record, None)
    }

    /// Short answers of a knowledge base.
    pub fn short_answers(&self, kb_name: &str) -> Result<Vec<SourceRecord>> {
        let kb = self.kb(kb_name)?;
        Ok(kb
            .sources()?
            .into_iter()
            .filter(|s| s.kind == SourceKind::ShortAnswer)
            .collect())
    }

    pub fn delete_short_answer(&self, kb_name: &str, id: &str) -> Result<()> {
        validate_external_id("short answer", id)?;
        self.delete_source(kb_name, &short_answer_source_id(id))
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
        let (id, spec) = kind_of(&spec).identify(&spec)?;
        let record = with_spec(kb.source(&id)?, id, spec, Some(settings));
        put_source(&kb, &record, None)?;
        let job = kb.create_job(&record.id, None, "cli")?;
        let job = self.run_job_with(&kb, job, progress, prune)?;
        let record = source_record(&kb, &record.id)?;
        Ok((record, job))
    }
}
