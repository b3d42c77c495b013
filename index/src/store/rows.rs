//! Rows of the SQLite store to records and back: the column lists and
//! decoders [`super::sqlite`] shares between its queries.

use super::{DocumentMeta, DocumentRecord};
use crate::source::{JobRecord, SourceRecord};
use crate::{ContentHash, Error, Result};
use serde::Serialize;

pub(super) fn vector_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(super) fn blob_to_vector(b: &[u8]) -> Result<Vec<f32>> {
    if !b.len().is_multiple_of(4) {
        return Err(Error::Corrupt {
            what: "embedding".into(),
            reason: format!("{} bytes is not a whole number of f32", b.len()),
        });
    }
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

pub(super) fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Corrupt {
        what: what.into(),
        reason: e.to_string(),
    }
}

pub(super) fn json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| corrupt("json", e))
}

pub(super) fn document_from_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(DocumentRecord, String)> {
    Ok((
        DocumentRecord {
            meta: DocumentMeta {
                uri: r.get(0)?,
                source_id: r.get(1)?,
                title: r.get(2)?,
                format: r.get(3)?,
                language: r.get(4)?,
                content_hash: ContentHash::of(b""),
                pipeline: r.get(6)?,
                citable: r.get(7)?,
                url: r.get(10)?,
            },
            chunk_count: r.get::<_, i64>(8)? as usize,
            indexed_at: r.get(9)?,
        },
        r.get(5)?,
    ))
}

pub(super) const SOURCE_COLUMNS: &str =
    "id, kind, title, spec, settings, created_at, last_sync_at, next_sync_at, status, last_error";

pub(super) fn source_from_row(r: &rusqlite::Row<'_>) -> Result<SourceRecord> {
    let kind: String = r.get(1)?;
    let spec: String = r.get(3)?;
    let settings: String = r.get(4)?;
    let status: String = r.get(8)?;
    Ok(SourceRecord {
        id: r.get(0)?,
        kind: kind.parse().map_err(|e| corrupt("source kind", e))?,
        title: r.get(2)?,
        spec: serde_json::from_str(&spec).map_err(|e| corrupt("source spec", e))?,
        settings: serde_json::from_str(&settings).map_err(|e| corrupt("source settings", e))?,
        created_at: r.get(5)?,
        last_sync_at: r.get(6)?,
        next_sync_at: r.get(7)?,
        status: status.parse().map_err(|e| corrupt("source status", e))?,
        last_error: r.get(9)?,
    })
}

pub(super) const JOB_COLUMNS: &str = "id, source_id, uri, trigger, status, created_at, started_at, finished_at, done, total, report, error";

pub(super) fn job_from_row(r: &rusqlite::Row<'_>) -> Result<JobRecord> {
    let status: String = r.get(4)?;
    let report: Option<String> = r.get(10)?;
    Ok(JobRecord {
        id: r.get::<_, i64>(0)? as u64,
        source_id: r.get(1)?,
        uri: r.get(2)?,
        trigger: r.get(3)?,
        status: status.parse().map_err(|e| corrupt("job status", e))?,
        created_at: r.get(5)?,
        started_at: r.get(6)?,
        finished_at: r.get(7)?,
        done: r.get::<_, i64>(8)? as usize,
        total: r.get::<_, i64>(9)? as usize,
        report: report
            .map(|r| serde_json::from_str(&r))
            .transpose()
            .map_err(|e| corrupt("job report", e))?,
        error: r.get(11)?,
    })
}

pub(super) fn collect<T>(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
    f: fn(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(f(r)?);
    }
    Ok(out)
}
