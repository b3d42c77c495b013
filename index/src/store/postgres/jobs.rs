//! Jobs of a knowledge base in the shared database: queueing, claims with
//! leases (`FOR UPDATE SKIP LOCKED`), scheduling once per due source.

use super::chunks::PgStore;
use super::rows::{JOB_COLUMNS, corrupt, job_from_row, json};
use crate::Result;
use crate::source::{JobRecord, unix_now};

impl PgStore {
    /// Takes the oldest queued job, or a running one whose node stopped
    /// reporting for `lease_secs`, and marks it running on this node.
    /// `FOR UPDATE SKIP LOCKED`: nodes claiming together get different jobs.
    pub fn claim(&self, lease_secs: i64) -> Result<Option<JobRecord>> {
        let now = unix_now();
        let rows = self.query(
            &format!(
                "UPDATE {s}.jobs SET status = 'running', started_at = coalesce(started_at, $1), node = $2, heartbeat_at = $1, done = 0 \
                 WHERE id = (SELECT id FROM {s}.jobs WHERE status = 'queued' OR (status = 'running' AND coalesce(heartbeat_at, 0) < $3) \
                 ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING {JOB_COLUMNS}",
                s = self.s
            ),
            &[&now, &self.db.node(), &(now - lease_secs)],
        )?;
        rows.first().map(job_from_row).transpose()
    }

    pub(super) fn enqueue_due_jobs(&self, now: i64) -> Result<Vec<JobRecord>> {
        // One transaction under the knowledge base's scheduler lock: a due
        // source gets one job and stops being due (its sync sets the next
        // time), however many nodes schedule at once.
        let s = &self.s;
        let rows = self.tx(|tx| {
            tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&format!("quarry-schedule:{}", self.kb)])?;
            tx.query(
                &format!(
                    "WITH due AS (UPDATE {s}.sources s SET next_sync_at = NULL WHERE s.next_sync_at IS NOT NULL AND s.next_sync_at <= $1 \
                     AND NOT EXISTS (SELECT 1 FROM {s}.jobs j WHERE j.source_id = s.id AND j.status IN ('queued', 'running')) RETURNING s.id) \
                     INSERT INTO {s}.jobs (source_id, uri, trigger, status, created_at) SELECT id, NULL, 'schedule', 'queued', $1 FROM due \
                     ON CONFLICT DO NOTHING RETURNING {JOB_COLUMNS}"
                ),
                &[&now],
            )
        })?;
        rows.iter().map(job_from_row).collect()
    }

    pub(super) fn create_queued_job(
        &self,
        source_id: &str,
        uri: Option<&str>,
        trigger: &str,
    ) -> Result<JobRecord> {
        let s = &self.s;
        let rows = self.query(
            &format!(
                "INSERT INTO {s}.jobs (source_id, uri, trigger, status, created_at) VALUES ($1, $2, $3, 'queued', $4) \
                 ON CONFLICT DO NOTHING RETURNING {JOB_COLUMNS}"
            ),
            &[&source_id, &uri, &trigger, &unix_now()],
        )?;
        if let Some(r) = rows.first() {
            return job_from_row(r);
        }
        // Already queued (by this node or another): that job.
        self.query(
            &format!(
                "SELECT {JOB_COLUMNS} FROM {s}.jobs WHERE status = 'queued' AND source_id = $1 AND coalesce(uri, '') = coalesce($2, '') ORDER BY id LIMIT 1"
            ),
            &[&source_id, &uri],
        )?
        .first()
        .map(job_from_row)
        .transpose()?
        .ok_or_else(|| corrupt("jobs", "a queued job vanished as it was created"))
    }

    pub(super) fn write_job(&self, job: &JobRecord) -> Result<()> {
        let report = job.report.as_ref().map(json).transpose()?;
        // A job another node took over is no longer this node's to write.
        self.execute(
            &format!(
                "UPDATE {}.jobs SET status = $1, started_at = $2, finished_at = $3, done = $4, total = $5, report = $6, error = $7, \
                 heartbeat_at = $10 WHERE id = $8 AND (node IS NULL OR node = $9)",
                self.s
            ),
            &[
                &job.status.as_str(),
                &job.started_at,
                &job.finished_at,
                &(job.done as i64),
                &(job.total as i64),
                &report,
                &job.error,
                &(job.id as i64),
                &self.db.node(),
                &unix_now(),
            ],
        )?;
        Ok(())
    }

    pub(super) fn renew_claim(&self, id: u64) -> Result<()> {
        self.execute(
            &format!("UPDATE {}.jobs SET heartbeat_at = $1 WHERE id = $2 AND node = $3 AND status = 'running'", self.s),
            &[&unix_now(), &(id as i64), &self.db.node()],
        )?;
        Ok(())
    }

    pub(super) fn job_by_id(&self, id: u64) -> Result<Option<JobRecord>> {
        self.query(
            &format!("SELECT {JOB_COLUMNS} FROM {}.jobs WHERE id = $1", self.s),
            &[&(id as i64)],
        )?
        .first()
        .map(job_from_row)
        .transpose()
    }

    pub(super) fn newest_jobs(&self, limit: usize) -> Result<Vec<JobRecord>> {
        self.query(
            &format!(
                "SELECT {JOB_COLUMNS} FROM {}.jobs ORDER BY id DESC LIMIT $1",
                self.s
            ),
            &[&(limit as i64)],
        )?
        .iter()
        .map(job_from_row)
        .collect()
    }

    pub(super) fn oldest_queued_job(&self) -> Result<Option<JobRecord>> {
        self.query(
            &format!(
                "SELECT {JOB_COLUMNS} FROM {}.jobs WHERE status = 'queued' ORDER BY id LIMIT 1",
                self.s
            ),
            &[],
        )?
        .first()
        .map(job_from_row)
        .transpose()
    }

    pub(super) fn requeue_expired(&self) -> Result<usize> {
        // Only jobs whose node stopped reporting: others are running now.
        let stale = unix_now() - self.db.options().job_lease_secs;
        Ok(self.execute(
            &format!(
                "UPDATE {}.jobs SET status = 'queued', started_at = NULL, node = NULL WHERE status = 'running' AND coalesce(heartbeat_at, 0) < $1",
                self.s
            ),
            &[&stale],
        )? as usize)
    }
}
