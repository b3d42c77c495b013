//! The job queue: enqueue, recover after a crash, schedule due sources,
//! run jobs one at a time and record their outcome, and the sync loop.

use super::dispatch::kind_of;
use super::syncer::{Syncer, source_record};
use crate::crawl::CrawlProgress;
use crate::report::{IngestReport, NoProgress, Outcome, Progress};
use crate::{Error, Result};
use quarry_index::{
    JobRecord, JobStatus, KnowledgeBase, SourceState, SourceStatus, WriteOp, unix_now,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Writes a running job's progress to the store, at most twice a second,
/// and passes it on.
pub(super) struct JobProgress<'a> {
    kb: &'a KnowledgeBase,
    job: Mutex<(JobRecord, Instant)>,
    outer: &'a dyn Progress,
}

impl JobProgress<'_> {
    pub(super) fn update(&self, f: impl FnOnce(&mut JobRecord), force: bool) {
        if let Ok(mut guard) = self.job.lock() {
            f(&mut guard.0);
            if force || guard.1.elapsed() > Duration::from_millis(500) {
                guard.1 = Instant::now();
                if let Err(e) = self.kb.update_job(&guard.0) {
                    tracing::warn!("cannot record job progress: {e}");
                }
            }
        }
    }
}

impl JobProgress<'_> {
    fn job_id(&self) -> u64 {
        self.job.lock().map_or(0, |g| g.0.id)
    }
}

/// How often a running job tells other nodes it is alive.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// Runs `f` while a thread keeps job `id`'s claim alive, so other nodes
/// take it over only if this one dies.
fn with_heartbeat<T>(kb: &KnowledgeBase, id: u64, f: impl FnOnce() -> T) -> T {
    let done = (Mutex::new(false), std::sync::Condvar::new());
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let Ok(mut stop) = done.0.lock() else {
                return;
            };
            while !*stop {
                stop = match done.1.wait_timeout(stop, HEARTBEAT) {
                    Ok((g, _)) => g,
                    Err(_) => return,
                };
                if !*stop && let Err(e) = kb.heartbeat_job(id) {
                    tracing::warn!(job = id, "cannot renew the job's claim: {e}");
                }
            }
        });
        let out = f();
        if let Ok(mut stop) = done.0.lock() {
            *stop = true;
        }
        done.1.notify_all();
        out
    })
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

impl Syncer {
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
        source_record(&kb, source_id)?;
        let queued = kb.jobs(64)?.into_iter().find(|j| {
            j.status == JobStatus::Queued && j.source_id == source_id && j.uri.as_deref() == uri
        });
        let job = match queued {
            Some(job) => job,
            None => kb.create_job(source_id, uri, trigger)?,
        };
        self.notify();
        Ok(job)
    }

    pub(super) fn notify(&self) {
        if let Ok(mut woken) = self.wake.0.lock() {
            *woken = true;
            self.wake.1.notify_all();
        }
    }

    /// Queues a sync of every scheduled source due at `now`; returns the jobs.
    pub fn schedule_due(&self, now: i64) -> Result<Vec<(String, JobRecord)>> {
        let mut out = Vec::new();
        for (name, kb) in self.catalog.all() {
            for job in kb.enqueue_due(now)? {
                out.push((name.clone(), job));
            }
        }
        Ok(out)
    }

    /// Jobs a crash left running go back to the queue (a sync is idempotent,
    /// so running it again from the start is safe), and content stored by a
    /// write the crash cut short (an article PUT, an upload) gets a job, so
    /// what GET shows is also what search finds. Returns how many jobs.
    pub fn recover(&self) -> Result<usize> {
        let mut n = 0;
        for (_, kb) in self.catalog.all() {
            n += kb.requeue_running()?;
            let waiting: Vec<JobRecord> = kb
                .jobs(256)?
                .into_iter()
                .filter(|j| matches!(j.status, JobStatus::Queued | JobStatus::Running))
                .collect();
            for source in kb.sources()? {
                if kind_of(&source.spec).stored()
                    && source.status == SourceStatus::Pending
                    && !waiting.iter().any(|j| j.source_id == source.id)
                {
                    tracing::info!(source = %source.id, "an interrupted write is indexed again");
                    kb.create_job(&source.id, None, "recover")?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Runs queued jobs, oldest first, until none is left; returns how many
    /// ran. Each job is claimed before it runs, so with several nodes on
    /// one database each job runs on one of them.
    pub fn run_pending(&self, progress: &dyn Progress) -> Result<usize> {
        let mut ran = 0;
        loop {
            let all = self.catalog.all();
            let mut oldest: Option<(Arc<KnowledgeBase>, JobRecord)> = None;
            for (_, kb) in &all {
                if let Some(job) = kb.next_queued_job()?
                    && oldest
                        .as_ref()
                        .is_none_or(|(_, j)| (job.created_at, job.id) < (j.created_at, j.id))
                {
                    oldest = Some((kb.clone(), job));
                }
            }
            // The knowledge base with the oldest queued job first; then any
            // (a job another node stopped running is not "queued").
            let kbs: Vec<Arc<KnowledgeBase>> = oldest
                .map(|(kb, _)| kb)
                .into_iter()
                .chain(all.into_iter().map(|(_, kb)| kb))
                .collect();
            let mut claimed = None;
            for kb in kbs {
                if let Some(job) = kb.claim_job()? {
                    claimed = Some((kb, job));
                    break;
                }
            }
            let Some((kb, job)) = claimed else {
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

    pub(super) fn run_job_with(
        &self,
        kb: &Arc<KnowledgeBase>,
        mut job: JobRecord,
        progress: &dyn Progress,
        prune: bool,
    ) -> Result<JobRecord> {
        job.status = JobStatus::Running;
        job.started_at = Some(unix_now());
        kb.update_job(&job)?;
        let Some(record) = kb.source(&job.source_id)? else {
            job.status = JobStatus::Failed;
            job.error = Some(format!("source {} was deleted", job.source_id));
            job.finished_at = Some(unix_now());
            kb.update_job(&job)?;
            return Ok(job);
        };
        kb.set_source_state(
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
        let stored = kind_of(&record.spec).stored();
        let mut result = {
            let _guard = if stored { Some(self.guard()?) } else { None };
            with_heartbeat(kb, tracker.job_id(), || {
                self.sync_now(kb, &record, uri.as_deref(), &tracker, prune)
            })
        };
        let nothing_worked = match &mut result {
            Ok(report) => report.fail_if_nothing_worked(),
            Err(_) => None,
        };
        let mut job = tracker
            .job
            .into_inner()
            .map_err(|_| Error::Pipeline("job progress poisoned".into()))?
            .0;
        // Deleted while it ran: whatever the run wrote goes too.
        if kb.source(&record.id)?.is_none() {
            kb.commit(&[WriteOp::DeleteSource {
                id: record.id.clone(),
            }])?;
        }
        job.finished_at = Some(unix_now());
        match (&result, &nothing_worked) {
            (Ok(report), None) => {
                job.status = JobStatus::Done;
                job.report = serde_json::to_value(report).ok();
            }
            (Ok(report), Some(why)) => {
                job.status = JobStatus::Failed;
                job.report = serde_json::to_value(report).ok();
                job.error = Some(why.clone());
            }
            (Err(e), _) => {
                job.status = JobStatus::Failed;
                job.error = Some(e.to_string());
            }
        }
        record_metrics(&job, result.as_ref().ok());
        kb.update_job(&job)?;
        super::sources::collect_garbage(kb);
        let outcome = match nothing_worked {
            Some(why) => Err(Error::Source(why)),
            None => result,
        };
        self.finish_source(kb, &record.id, &outcome)?;
        let result = outcome;
        if result.is_ok() {
            self.check_conflicts(kb);
        }
        Ok(job)
    }

    /// Records a sync's outcome on its source and schedules the next one.
    pub(super) fn finish_source(
        &self,
        kb: &KnowledgeBase,
        id: &str,
        result: &Result<IngestReport>,
    ) -> Result<()> {
        let Some(record) = kb.source(id)? else {
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
        kb.set_source_state(id, &state)?;
        Ok(())
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
            if let Err(e) = self.run_pending(&NoProgress) {
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

/// Job and crawl metrics (Prometheus through the `metrics` facade; no-ops
/// without a recorder).
pub(crate) fn record_metrics(job: &JobRecord, report: Option<&IngestReport>) {
    let status = match job.status {
        JobStatus::Failed => "failed",
        _ => "done",
    };
    metrics::counter!("quarry_jobs_total", "status" => status).increment(1);
    if let (Some(start), Some(end)) = (job.started_at, job.finished_at) {
        metrics::histogram!("quarry_job_duration_seconds", "status" => status)
            .record((end - start).max(0) as f64);
    }
    if let Some(crawl) = report.and_then(|r| r.crawl.as_ref()) {
        for (outcome, n) in &crawl.counts {
            metrics::counter!("quarry_crawl_urls_total", "outcome" => outcome.clone())
                .increment(*n as u64);
        }
    }
    if let Some(r) = report {
        metrics::counter!("quarry_documents_total", "outcome" => "indexed")
            .increment(r.indexed as u64);
        metrics::counter!("quarry_documents_total", "outcome" => "failed")
            .increment(r.failed.len() as u64);
    }
}
