//! [`QuestionLogger`]: writes asked questions to their knowledge base's
//! [`QuestionLog`](quarry_index::QuestionLog) on a thread of its own, off
//! the request path, and clusters the unanswered ones into knowledge gaps
//! as they arrive ([`crate::gaps::assign`]).
//!
//! The queue is bounded: when the writer falls behind, a question is
//! dropped and counted rather than slowing the visitor's answer. Readers of
//! the log ([`QuestionLogger::flush`]) first wait for what is queued.

use crate::confidence::Decision;
use crate::response::{QueryRequest, QueryResponse};
use quarry_index::{KnowledgeBase, LoggedQuestion, unix_now};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `[analytics]`: the question log and knowledge gaps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsOptions {
    /// Log questions at all (each knowledge base can also switch it off).
    pub enabled: bool,
    /// Questions older than this are removed.
    pub retention_days: u32,
    /// Cosine similarity at or above which an unanswered question joins
    /// the nearest open gap (else it starts a new one). Chosen on the
    /// labelled clustering set (`quarry bench gaps`).
    pub gap_similarity: f32,
    /// Questions waiting to be written; more are dropped (and counted).
    pub queue: usize,
}

impl Default for AnalyticsOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            retention_days: 90,
            gap_similarity: 0.86,
            queue: 4096,
        }
    }
}

enum Message {
    Log(Arc<KnowledgeBase>, Box<LoggedQuestion>),
    Flush(std::sync::mpsc::Sender<()>),
}

/// The background writer of the question logs.
pub struct QuestionLogger {
    sender: Mutex<Option<SyncSender<Message>>>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
    dropped: Arc<AtomicU64>,
    options: AnalyticsOptions,
}

impl std::fmt::Debug for QuestionLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuestionLogger")
            .field("options", &self.options)
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish()
    }
}

/// What a response contributes to the log.
pub fn entry(
    request: &QueryRequest,
    response: &QueryResponse,
    vector: &[f32],
    query: &str,
) -> LoggedQuestion {
    let mut documents: Vec<String> = Vec::new();
    for p in &response.passages {
        if let Some(c) = &p.citation
            && !documents.contains(&c.uri)
        {
            documents.push(c.uri.clone());
        }
    }
    LoggedQuestion {
        id: 0,
        at: unix_now(),
        text: query.trim().to_owned(),
        language: response.language.clone(),
        decision: decision_name(response.decision).to_owned(),
        confidence: response.confidence,
        passages: response.passages.iter().map(|p| p.id.clone()).collect(),
        documents,
        page_url: request.page_url.clone(),
        vector: vector.to_vec(),
        gap_id: None,
    }
}

pub fn decision_name(d: Decision) -> &'static str {
    match d {
        Decision::Answer => "answer",
        Decision::Clarify => "clarify",
        Decision::Handoff => "handoff",
    }
}

/// Writes a batch of one knowledge base's questions: gaps first (each
/// unanswered question in order), then all in one transaction.
fn write(kb: &KnowledgeBase, mut batch: Vec<LoggedQuestion>, options: &AnalyticsOptions) {
    for q in batch.iter_mut().filter(|q| q.decision != "answer") {
        match crate::gaps::assign(kb.questions(), &q.vector, q.at, options.gap_similarity) {
            Ok(gap) => q.gap_id = Some(gap),
            Err(e) => tracing::warn!("cannot cluster a question into the gaps: {e}"),
        }
    }
    if let Err(e) = kb.questions().append_all(&batch) {
        tracing::warn!("cannot log {} questions: {e}", batch.len());
    }
}

/// Most questions written in one transaction.
const BATCH: usize = 256;

fn run(receiver: Receiver<Message>, options: AnalyticsOptions) {
    let retention = i64::from(options.retention_days) * 86_400;
    let mut last_prune: std::collections::HashMap<String, i64> = Default::default();
    while let Ok(first) = receiver.recv() {
        // Take what else is queued (up to a flush), one transaction per
        // knowledge base: fewer commits, less CPU taken from queries.
        let mut pending = vec![first];
        while pending.len() < BATCH && !matches!(pending.last(), Some(Message::Flush(_))) {
            match receiver.try_recv() {
                Ok(m) => pending.push(m),
                Err(_) => break,
            }
        }
        let mut batches: Vec<(Arc<KnowledgeBase>, Vec<LoggedQuestion>)> = Vec::new();
        let mut flushes = Vec::new();
        for message in pending {
            match message {
                Message::Log(kb, q) => {
                    match batches.iter_mut().find(|(k, _)| Arc::ptr_eq(k, &kb)) {
                        Some((_, batch)) => batch.push(*q),
                        None => batches.push((kb, vec![*q])),
                    }
                }
                Message::Flush(done) => flushes.push(done),
            }
        }
        for (kb, batch) in batches {
            let now = batch.iter().map(|q| q.at).max().unwrap_or_else(unix_now);
            write(&kb, batch, &options);
            let key = kb.dir().display().to_string();
            if last_prune.get(&key).is_none_or(|t| now - t > 3_600) {
                last_prune.insert(key, now);
                if let Err(e) = kb.questions().prune(now - retention) {
                    tracing::warn!("cannot prune the question log: {e}");
                }
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

impl QuestionLogger {
    pub fn start(options: AnalyticsOptions) -> Self {
        let (sender, receiver) = sync_channel(options.queue.max(1));
        let worker = std::thread::Builder::new()
            .name("quarry-question-log".into())
            .spawn(move || run(receiver, options))
            .ok();
        if worker.is_none() {
            tracing::error!("cannot start the question-log thread: questions are not logged");
        }
        Self {
            sender: Mutex::new(worker.as_ref().map(|_| sender)),
            worker: Mutex::new(worker),
            dropped: Arc::new(AtomicU64::new(0)),
            options,
        }
    }

    pub fn options(&self) -> &AnalyticsOptions {
        &self.options
    }

    /// Questions dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Queues a question for `kb`'s log; never blocks.
    pub fn log(&self, kb: Arc<KnowledgeBase>, q: LoggedQuestion) {
        let Ok(sender) = self.sender.lock() else {
            return;
        };
        if let Some(sender) = sender.as_ref() {
            match sender.try_send(Message::Log(kb, Box::new(q))) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }

    /// Waits (up to 10 s) until every question queued before the call is
    /// written.
    pub fn flush(&self) {
        let (done, wait) = std::sync::mpsc::channel();
        let sent = match self.sender.lock() {
            Ok(sender) => sender
                .as_ref()
                .is_some_and(|s| s.send(Message::Flush(done)).is_ok()),
            Err(_) => false,
        };
        if sent {
            let _ = wait.recv_timeout(Duration::from_secs(10));
        }
    }
}

impl Drop for QuestionLogger {
    fn drop(&mut self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        if let Ok(mut worker) = self.worker.lock()
            && let Some(worker) = worker.take()
        {
            let _ = worker.join();
        }
    }
}
