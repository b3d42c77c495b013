//! The ingest pipeline: parse in parallel → embed in parallel batches → one
//! writer.
//!
//! ```text
//! scan ─▶ parse workers ─▶ batcher ─▶ embed workers ─┐
//!              │  (unchanged, failed)      │ (docs)   ▼
//!              └──────────────────────────────────▶ writer (this thread) ─▶ KnowledgeBase::commit
//! ```
//!
//! Every channel is bounded, so a slow embedder slows parsing down instead of
//! filling memory. The batcher looks every chunk up in the embedding cache
//! and sends each missing text to the embedder once per run, however many
//! documents share it. A document that fails (unreadable, unsupported,
//! malformed, parser panic, embedding error) is recorded in the report with its
//! reason and the run goes on; what was indexed before stays as it was.

use crate::chunk::{ChunkOptions, Chunker};
use crate::report::{Failure, IngestReport, Outcome, Progress};
use crate::source::{ItemRef, Source};
use crate::{Error, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use quarry_formats::{Document, Input, Registry};
use quarry_index::{ContentHash, DocumentMeta, KnowledgeBase, NewChunk, WriteOp};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Settings of an ingest run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestOptions {
    pub chunk: ChunkOptions,
    /// Parser threads; 0 = one per core.
    pub parse_workers: usize,
    /// Concurrent embedding batches; 0 = one per core. Pair with the
    /// embedder's session count.
    pub embed_workers: usize,
    /// Texts per embedding job handed to an embed worker (the model then
    /// runs them `model.batch_size` at a time).
    pub embed_batch: usize,
    /// Documents per store transaction.
    pub commit_documents: usize,
    /// Passages of this source carry citations.
    pub citable: bool,
    /// Remove documents the source no longer lists.
    pub prune: bool,
    /// Seconds one document may take to parse before it fails.
    pub parse_timeout_secs: u64,
    /// The same for videos, whose speech-to-text runs at about real time.
    pub media_timeout_secs: u64,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            chunk: ChunkOptions::default(),
            parse_workers: 0,
            embed_workers: 0,
            embed_batch: 8,
            commit_documents: 64,
            citable: true,
            prune: true,
            parse_timeout_secs: 60,
            media_timeout_secs: 4 * 3600,
        }
    }
}

/// A parsed, chunked document waiting for vectors.
struct Prepared {
    item: ItemRef,
    meta: DocumentMeta,
    chunks: Vec<NewChunk>,
    /// What the model embeds for each chunk (heading context + text).
    embed_texts: Vec<String>,
}

enum WriterMsg {
    Done(ItemRef, Outcome),
    Doc(Box<Prepared>, Vec<ContentHash>),
    Vectors(Vec<(ContentHash, Vec<f32>)>),
    EmbedFailed(Vec<ContentHash>, String),
}

struct EmbedJob(Vec<(ContentHash, String)>);

/// Runs sources into a knowledge base.
pub struct Pipeline {
    kb: Arc<KnowledgeBase>,
    registry: Arc<Registry>,
    options: IngestOptions,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("options", &self.options)
            .finish()
    }
}

fn workers(n: usize) -> usize {
    match n {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    quarry_formats::panic_message(p).unwrap_or_else(|| "unknown panic".into())
}

impl Pipeline {
    pub fn new(kb: Arc<KnowledgeBase>, registry: Arc<Registry>, options: IngestOptions) -> Self {
        Self {
            kb,
            registry,
            options,
        }
    }

    /// What a document's chunks depend on besides its bytes.
    pub fn fingerprint(&self) -> String {
        format!(
            "{}|{}",
            self.options.chunk.fingerprint(),
            self.kb.embedder().model_id()
        )
    }

    /// Syncs `source` into the knowledge base.
    pub fn run(&self, source: &dyn Source, progress: &dyn Progress) -> Result<IngestReport> {
        let started = Instant::now();
        let items = source.scan()?;
        progress.started(items.len());
        let mut report = IngestReport {
            source_id: source.id().to_owned(),
            documents: items.len(),
            ..IngestReport::default()
        };
        let scanned: HashSet<String> = items.iter().map(|i| i.uri.clone()).collect();
        let embed_busy = AtomicU64::new(0);
        let embedded = AtomicU64::new(0);
        let parse_workers = workers(self.options.parse_workers);
        let embed_workers = workers(self.options.embed_workers);

        let (item_tx, item_rx) = bounded::<ItemRef>(items.len().max(1));
        for item in items {
            item_tx
                .send(item)
                .map_err(|_| Error::Pipeline("item queue closed".into()))?;
        }
        drop(item_tx);
        let (prep_tx, prep_rx) = bounded::<Prepared>(4 * parse_workers);
        let (job_tx, job_rx) = bounded::<EmbedJob>(2 * embed_workers);
        let (writer_tx, writer_rx) = bounded::<WriterMsg>(256);

        std::thread::scope(|scope| -> Result<()> {
            for _ in 0..parse_workers {
                let (item_rx, prep_tx, writer_tx) =
                    (item_rx.clone(), prep_tx.clone(), writer_tx.clone());
                scope.spawn(move || self.parse_worker(source, item_rx, prep_tx, writer_tx));
            }
            drop((prep_tx, item_rx));
            {
                let writer_tx = writer_tx.clone();
                scope.spawn(move || self.batcher(prep_rx, job_tx, writer_tx));
            }
            for _ in 0..embed_workers {
                let (job_rx, writer_tx) = (job_rx.clone(), writer_tx.clone());
                let (busy, embedded) = (&embed_busy, &embedded);
                scope.spawn(move || self.embed_worker(job_rx, writer_tx, busy, embedded));
            }
            drop((job_rx, writer_tx));
            self.writer(writer_rx, progress, &mut report)
        })?;

        if self.options.prune && source.is_complete() {
            let gone: Vec<WriteOp> = self
                .kb
                .documents_of_source(source.id())?
                .into_iter()
                .filter(|uri| !scanned.contains(uri))
                .map(|uri| WriteOp::Delete { uri })
                .collect();
            self.kb.commit(&gone)?;
            report.removed = gone.len();
        }
        self.kb.flush()?;
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        report.embed_busy_ms = embed_busy.load(Ordering::Relaxed) / 1_000_000;
        report.embedded = embedded.load(Ordering::Relaxed) as usize;
        report.reused = report.chunks.saturating_sub(report.embedded);
        Ok(report)
    }

    fn parse_worker(
        &self,
        source: &dyn Source,
        items: Receiver<ItemRef>,
        out: Sender<Prepared>,
        writer: Sender<WriterMsg>,
    ) {
        let chunker = Chunker::new(self.options.chunk, self.kb.embedder().as_ref());
        let fingerprint = self.fingerprint();
        for item in items {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.prepare(source, &item, &chunker, &fingerprint)
            }))
            .unwrap_or_else(|p| {
                Err(Error::Document(format!(
                    "parser crashed: {}",
                    panic_message(p.as_ref())
                )))
            });
            let sent = match result {
                Ok(Some(prepared)) => out.send(prepared).is_ok(),
                Ok(None) => writer
                    .send(WriterMsg::Done(item, Outcome::Unchanged))
                    .is_ok(),
                Err(e) => writer
                    .send(WriterMsg::Done(
                        item,
                        Outcome::Failed {
                            reason: e.to_string(),
                        },
                    ))
                    .is_ok(),
            };
            if !sent {
                return;
            }
        }
    }

    /// Reads, parses and chunks one item; `None` when it is unchanged.
    fn prepare(
        &self,
        source: &dyn Source,
        item: &ItemRef,
        chunker: &Chunker<'_>,
        fingerprint: &str,
    ) -> Result<Option<Prepared>> {
        let current = |meta: &DocumentMeta| {
            meta.pipeline == fingerprint
                && meta.citable == self.options.citable
                && meta.source_id == source.id()
        };
        if item.unchanged
            && let Some(existing) = self.kb.document(&item.uri)?
            && current(&existing.meta)
        {
            return Ok(None);
        }
        let raw = source.fetch(item)?;
        // What the source says of the document is part of its content: a
        // new title changes every chunk's heading context.
        let content_hash = match (&item.title, &item.url, &raw.sidecar) {
            (None, None, None) => ContentHash::of(&raw.bytes),
            (title, url, sidecar) => ContentHash::of_parts(&[
                &raw.bytes,
                title.as_deref().unwrap_or_default().as_bytes(),
                url.as_deref().unwrap_or_default().as_bytes(),
                sidecar.as_ref().map_or(&[][..], |s| s.1.as_slice()),
            ]),
        };
        if let Some(existing) = self.kb.document(&item.uri)?
            && existing.meta.content_hash == content_hash
            && current(&existing.meta)
        {
            return Ok(None);
        }
        let mut doc = self.parse_with_budget(&item.name, raw.bytes, raw.media_type, raw.sidecar)?;
        if let Some(title) = &item.title {
            doc.title = Some(title.clone());
        }
        title_from_name(&mut doc, &item.name);
        let chunks = chunker.chunk(&doc);
        if chunks.is_empty() {
            return Err(Error::Document("no text content".into()));
        }
        let mut seen: HashMap<ContentHash, u32> = HashMap::new();
        let embed_texts = chunks.iter().map(|c| c.embed_text.clone()).collect();
        let chunks = chunks
            .into_iter()
            .map(|c| {
                let dup = seen.entry(c.content_hash).or_insert(0);
                let id = ContentHash::of_parts(&[
                    item.uri.as_bytes(),
                    c.content_hash.to_hex().as_bytes(),
                    &dup.to_le_bytes(),
                ]);
                *dup += 1;
                NewChunk {
                    chunk_id: id.to_hex(),
                    content_hash: c.content_hash,
                    heading_path: c.heading_path,
                    text: c.text,
                    locator: c.locator,
                    vector: None,
                }
            })
            .collect();
        Ok(Some(Prepared {
            item: item.clone(),
            meta: DocumentMeta {
                uri: item.uri.clone(),
                source_id: source.id().to_owned(),
                title: doc.title,
                format: doc.format,
                language: doc.language,
                content_hash,
                pipeline: fingerprint.to_owned(),
                citable: self.options.citable,
                url: item.url.clone(),
            },
            chunks,
            embed_texts,
        }))
    }

    /// Parses and chunks content the caller is about to store (a pushed
    /// article): [`Error::Unindexable`] when it would index to nothing, so
    /// the write is refused instead of acknowledged and left unsearchable.
    pub fn check_indexable(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let doc = self
            .parse_with_budget(name, bytes.to_vec(), None, None)
            .map_err(|e| Error::Unindexable(format!("{name}: {e}")))?;
        let chunker = Chunker::new(self.options.chunk, self.kb.embedder().as_ref());
        if chunker.chunk(&doc).is_empty() {
            return Err(Error::Unindexable(format!(
                "{name}: no text content to index (markup or whitespace only)"
            )));
        }
        Ok(())
    }

    /// Parses on a thread of its own, with a large stack (a last guard
    /// against deep recursion in third-party parsers) and a time budget: a
    /// document that takes longer fails, and its thread is left to finish in
    /// the background with nobody waiting for it.
    fn parse_with_budget(
        &self,
        name: &str,
        bytes: Vec<u8>,
        media_type: Option<String>,
        sidecar: Option<(String, Vec<u8>)>,
    ) -> Result<Document> {
        let registry = self.registry.clone();
        let name_owned = name.to_owned();
        let media_type_is_video = media_type
            .as_deref()
            .is_some_and(|m| m.to_ascii_lowercase().starts_with("video/"));
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::Builder::new()
            .name("quarry-parse".into())
            .stack_size(64 * 1024 * 1024)
            .spawn(move || {
                let mut input = Input::new(&name_owned, &bytes);
                if let Some(mt) = media_type.as_deref() {
                    input = input.with_media_type(mt);
                }
                if let Some((name, bytes)) = &sidecar {
                    input = input.with_sidecar(name, bytes);
                }
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    registry.parse(&input)
                }));
                let _ = tx.send(result);
            })
            .map_err(|e| Error::Pipeline(format!("cannot start a parser thread: {e}")))?;
        let video = media_type_is_video
            || crate::source::media_kind(name)
                .is_some_and(|(_, k)| k == crate::source::MediaKind::Video);
        let secs = if video {
            self.options.media_timeout_secs
        } else {
            self.options.parse_timeout_secs
        };
        let budget = Duration::from_secs(secs.max(1));
        match rx.recv_timeout(budget) {
            Ok(Ok(parsed)) => parsed.map_err(|e| Error::Document(e.to_string())),
            Ok(Err(p)) => Err(Error::Document(format!(
                "parser crashed: {}",
                panic_message(p.as_ref())
            ))),
            Err(RecvTimeoutError::Timeout) => Err(Error::Document(format!(
                "parsing took longer than the budget of {} s",
                budget.as_secs()
            ))),
            Err(RecvTimeoutError::Disconnected) => {
                Err(Error::Document("parser thread died".into()))
            }
        }
    }

    fn batcher(&self, docs: Receiver<Prepared>, jobs: Sender<EmbedJob>, writer: Sender<WriterMsg>) {
        let batch_size = self.options.embed_batch.clamp(1, 256);
        let mut requested: HashSet<ContentHash> = HashSet::new();
        let mut pending: Vec<(ContentHash, String)> = Vec::new();
        loop {
            let doc = match docs.recv_timeout(Duration::from_millis(25)) {
                Ok(doc) => doc,
                Err(RecvTimeoutError::Timeout) => {
                    if !pending.is_empty()
                        && jobs.send(EmbedJob(std::mem::take(&mut pending))).is_err()
                    {
                        return;
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let hashes: Vec<ContentHash> = doc.chunks.iter().map(|c| c.content_hash).collect();
            let cached = match self.kb.cached_embeddings(&hashes) {
                Ok(c) => c,
                Err(e) => {
                    let failed = WriterMsg::Done(
                        doc.item,
                        Outcome::Failed {
                            reason: e.to_string(),
                        },
                    );
                    if writer.send(failed).is_err() {
                        return;
                    }
                    continue;
                }
            };
            let mut missing = Vec::new();
            for (chunk, text) in doc.chunks.iter().zip(&doc.embed_texts) {
                if cached.contains_key(&chunk.content_hash) || missing.contains(&chunk.content_hash)
                {
                    continue;
                }
                missing.push(chunk.content_hash);
                if requested.insert(chunk.content_hash) {
                    pending.push((chunk.content_hash, text.clone()));
                }
            }
            if writer.send(WriterMsg::Doc(Box::new(doc), missing)).is_err() {
                return;
            }
            while pending.len() >= batch_size {
                let rest = pending.split_off(batch_size);
                if jobs
                    .send(EmbedJob(std::mem::replace(&mut pending, rest)))
                    .is_err()
                {
                    return;
                }
            }
        }
        if !pending.is_empty() {
            let _ = jobs.send(EmbedJob(pending));
        }
    }

    fn embed_worker(
        &self,
        jobs: Receiver<EmbedJob>,
        writer: Sender<WriterMsg>,
        busy: &AtomicU64,
        embedded: &AtomicU64,
    ) {
        for EmbedJob(items) in jobs {
            let texts: Vec<&str> = items.iter().map(|(_, t)| t.as_str()).collect();
            let t0 = Instant::now();
            let result = self.kb.embed_passages(&texts);
            busy.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
            if result.is_ok() {
                embedded.fetch_add(items.len() as u64, Ordering::Relaxed);
            }
            let hashes = items.iter().map(|(h, _)| *h);
            let msg = match result {
                Ok(vectors) if vectors.len() == items.len() => {
                    WriterMsg::Vectors(hashes.zip(vectors).collect())
                }
                Ok(vectors) => WriterMsg::EmbedFailed(
                    hashes.collect(),
                    format!(
                        "embedder returned {} vectors for {} texts",
                        vectors.len(),
                        items.len()
                    ),
                ),
                Err(e) => WriterMsg::EmbedFailed(hashes.collect(), e.to_string()),
            };
            if writer.send(msg).is_err() {
                return;
            }
        }
    }

    fn writer(
        &self,
        rx: Receiver<WriterMsg>,
        progress: &dyn Progress,
        report: &mut IngestReport,
    ) -> Result<()> {
        let mut w = WriterState::default();
        let mut last_commit = Instant::now();
        loop {
            let msg = match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            match msg {
                Some(WriterMsg::Done(item, outcome)) => record(report, progress, &item, &outcome),
                Some(WriterMsg::Doc(doc, missing)) => w.add_doc(*doc, missing, report, progress),
                Some(WriterMsg::Vectors(vectors)) => w.add_vectors(vectors),
                Some(WriterMsg::EmbedFailed(hashes, reason)) => {
                    w.fail_hashes(hashes, &reason, report, progress)
                }
                None => {}
            }
            let chunks: usize = w.ready.iter().map(|d| d.chunks.len()).sum();
            let due = w.ready.len() >= self.options.commit_documents.max(1)
                || chunks >= 2048
                || (!w.ready.is_empty() && last_commit.elapsed() > Duration::from_secs(2));
            if due {
                self.commit_ready(&mut w, report, progress);
                last_commit = Instant::now();
            }
        }
        self.commit_ready(&mut w, report, progress);
        for (_, (doc, _)) in w.docs.drain() {
            let outcome = Outcome::Failed {
                reason: "embedding did not complete".into(),
            };
            record(report, progress, &doc.item, &outcome);
        }
        Ok(())
    }

    fn commit_ready(
        &self,
        w: &mut WriterState,
        report: &mut IngestReport,
        progress: &dyn Progress,
    ) {
        if w.ready.is_empty() {
            return;
        }
        let ready = std::mem::take(&mut w.ready);
        let ops: Vec<WriteOp> = ready
            .iter()
            .map(|d| WriteOp::Upsert {
                doc: d.meta.clone(),
                chunks: d.chunks.clone(),
            })
            .collect();
        let results: Vec<Result<()>> = match self.kb.commit(&ops) {
            Ok(()) => ready.iter().map(|_| Ok(())).collect(),
            // Find the document that broke the batch: commit one by one.
            Err(_) => ops
                .chunks(1)
                .map(|op| self.kb.commit(op).map_err(Error::from))
                .collect(),
        };
        for (doc, result) in ready.iter().zip(results) {
            let outcome = match result {
                Ok(()) => {
                    report.chunks += doc.chunks.len();
                    Outcome::Indexed {
                        chunks: doc.chunks.len(),
                    }
                }
                Err(e) => Outcome::Failed {
                    reason: e.to_string(),
                },
            };
            for c in &doc.chunks {
                if c.vector.is_some() {
                    w.vectors.remove(&c.content_hash);
                }
            }
            record(report, progress, &doc.item, &outcome);
        }
    }
}

/// Without a title of its own, a file is known by its name, which then also
/// gives its chunks their context.
pub fn title_from_name(doc: &mut Document, name: &str) {
    if doc.title.is_none() {
        doc.title = std::path::Path::new(name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned());
    }
}

fn record(report: &mut IngestReport, progress: &dyn Progress, item: &ItemRef, outcome: &Outcome) {
    match outcome {
        Outcome::Indexed { .. } => report.indexed += 1,
        Outcome::Unchanged => report.unchanged += 1,
        Outcome::Failed { reason } => report.failed.push(Failure {
            uri: item.uri.clone(),
            name: item.name.clone(),
            reason: reason.clone(),
        }),
    }
    progress.finished(&item.name, outcome);
}

/// The writer's bookkeeping of documents waiting for vectors.
#[derive(Default)]
struct WriterState {
    next_seq: u64,
    docs: HashMap<u64, (Prepared, usize)>,
    waiting: HashMap<ContentHash, Vec<(u64, usize)>>,
    /// Vectors computed in this run and not yet committed.
    vectors: HashMap<ContentHash, Vec<f32>>,
    /// Hashes whose vectors arrived (committed ones are in the store).
    arrived: HashSet<ContentHash>,
    failed: HashMap<ContentHash, String>,
    ready: Vec<Prepared>,
}

impl WriterState {
    fn add_doc(
        &mut self,
        mut doc: Prepared,
        missing: Vec<ContentHash>,
        report: &mut IngestReport,
        progress: &dyn Progress,
    ) {
        if let Some(reason) = missing.iter().find_map(|h| self.failed.get(h)) {
            let outcome = Outcome::Failed {
                reason: reason.clone(),
            };
            record(report, progress, &doc.item, &outcome);
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut remaining = 0;
        for (idx, chunk) in doc.chunks.iter_mut().enumerate() {
            if !missing.contains(&chunk.content_hash) {
                continue;
            }
            if let Some(v) = self.vectors.get(&chunk.content_hash) {
                chunk.vector = Some(v.clone());
            } else if !self.arrived.contains(&chunk.content_hash) {
                self.waiting
                    .entry(chunk.content_hash)
                    .or_default()
                    .push((seq, idx));
                remaining += 1;
            }
        }
        if remaining == 0 {
            self.ready.push(doc);
        } else {
            self.docs.insert(seq, (doc, remaining));
        }
    }

    fn add_vectors(&mut self, vectors: Vec<(ContentHash, Vec<f32>)>) {
        for (hash, vector) in vectors {
            self.arrived.insert(hash);
            for (seq, idx) in self.waiting.remove(&hash).unwrap_or_default() {
                if let Some((doc, remaining)) = self.docs.get_mut(&seq) {
                    doc.chunks[idx].vector = Some(vector.clone());
                    *remaining -= 1;
                    if *remaining == 0
                        && let Some((doc, _)) = self.docs.remove(&seq)
                    {
                        self.ready.push(doc);
                    }
                }
            }
            self.vectors.insert(hash, vector);
        }
    }

    fn fail_hashes(
        &mut self,
        hashes: Vec<ContentHash>,
        reason: &str,
        report: &mut IngestReport,
        progress: &dyn Progress,
    ) {
        let reason = format!("embedding failed: {reason}");
        for hash in hashes {
            for (seq, _) in self.waiting.remove(&hash).unwrap_or_default() {
                if let Some((doc, _)) = self.docs.remove(&seq) {
                    let outcome = Outcome::Failed {
                        reason: reason.clone(),
                    };
                    record(report, progress, &doc.item, &outcome);
                }
            }
            self.failed.insert(hash, reason.clone());
        }
    }
}
