//! Rows of the shared database to records: column lists and decoders.

use crate::source::{JobRecord, SourceRecord};
use crate::{Error, Result};

pub(super) fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Corrupt {
        what: what.into(),
        reason: e.to_string(),
    }
}

pub(super) fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| corrupt("json", e))
}

pub(super) const SOURCE_COLUMNS: &str =
    "id, kind, title, spec, settings, created_at, last_sync_at, next_sync_at, status, last_error";
pub(super) const JOB_COLUMNS: &str = "id, source_id, uri, trigger, status, created_at, started_at, finished_at, done, total, report, error";

pub(super) fn source_from_row(r: &postgres::Row) -> Result<SourceRecord> {
    let kind: String = r.get(1);
    let spec: String = r.get(3);
    let settings: String = r.get(4);
    let status: String = r.get(8);
    Ok(SourceRecord {
        id: r.get(0),
        kind: kind.parse().map_err(|e| corrupt("source kind", e))?,
        title: r.get(2),
        spec: serde_json::from_str(&spec).map_err(|e| corrupt("source spec", e))?,
        settings: serde_json::from_str(&settings).map_err(|e| corrupt("source settings", e))?,
        created_at: r.get(5),
        last_sync_at: r.get(6),
        next_sync_at: r.get(7),
        status: status.parse().map_err(|e| corrupt("source status", e))?,
        last_error: r.get(9),
    })
}

pub(super) fn job_from_row(r: &postgres::Row) -> Result<JobRecord> {
    let status: String = r.get(4);
    let report: Option<String> = r.get(10);
    Ok(JobRecord {
        id: r.get::<_, i64>(0) as u64,
        source_id: r.get(1),
        uri: r.get(2),
        trigger: r.get(3),
        status: status.parse().map_err(|e| corrupt("job status", e))?,
        created_at: r.get(5),
        started_at: r.get(6),
        finished_at: r.get(7),
        done: r.get::<_, i64>(8) as usize,
        total: r.get::<_, i64>(9) as usize,
        report: report
            .map(|r| serde_json::from_str(&r))
            .transpose()
            .map_err(|e| corrupt("job report", e))?,
        error: r.get(11),
    })
}

pub(super) fn ids(vids: &[u64]) -> Vec<i64> {
    vids.iter().map(|v| *v as i64).collect()
}
