//! [`SqliteStore`]: the embedded [`ChunkStore`], SQLite in WAL mode.

use super::rows::{
    JOB_COLUMNS, SOURCE_COLUMNS, blob_to_vector, collect, corrupt, document_from_row, job_from_row,
    json, source_from_row, vector_to_blob,
};
use super::{
    ChunkRecord, ChunkStore, CommitOutcome, DocumentMeta, DocumentRecord, NewChunk, StoreStats,
    WriteOp, keyword_text,
};
use crate::source::{JobRecord, SourceBlob, SourceRecord, SourceState, unix_now};
use crate::vector::Point;
use crate::{ContentHash, Error, Result};
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    uri TEXT PRIMARY KEY,
    source_id TEXT NOT NULL,
    title TEXT,
    format TEXT NOT NULL,
    language TEXT,
    content_hash TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    citable INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL,
    indexed_at INTEGER NOT NULL,
    url TEXT
);
CREATE INDEX IF NOT EXISTS documents_source ON documents(source_id);
CREATE TABLE IF NOT EXISTS chunks (
    vid INTEGER PRIMARY KEY AUTOINCREMENT,
    chunk_id TEXT NOT NULL UNIQUE,
    doc_uri TEXT NOT NULL REFERENCES documents(uri) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    heading_path TEXT NOT NULL,
    text TEXT NOT NULL,
    locator TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_uri);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(content_hash);
CREATE TABLE IF NOT EXISTS embeddings (content_hash TEXT PRIMARY KEY, vector BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT,
    spec TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_sync_at INTEGER,
    next_sync_at INTEGER,
    status TEXT NOT NULL,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS source_blobs (
    source_id TEXT PRIMARY KEY REFERENCES sources(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    media_type TEXT,
    bytes BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id TEXT NOT NULL,
    uri TEXT,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    report TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, id);
"#;

/// Version 2 added sources, jobs and documents.url.
const SCHEMA_VERSION: &str = "2";
const READERS: usize = 4;

/// SQLite in WAL mode: one writer connection, a few reader connections.
pub struct SqliteStore {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("readers", &self.readers.len())
            .finish()
    }
}

fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a committed batch survives power loss, not just a process crash.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self> {
        let writer = open_connection(path)?;
        writer.execute_batch(SCHEMA)?;
        let version: Option<String> = writer
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match version.as_deref() {
            None => {
                writer.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION],
                )?;
            }
            Some(SCHEMA_VERSION) => {}
            Some("1") => {
                writer.execute_batch(
                    "ALTER TABLE documents ADD COLUMN url TEXT; \
                     UPDATE meta SET value = '2' WHERE key = 'schema_version';",
                )?;
            }
            Some(other) => {
                return Err(corrupt(
                    "store",
                    format!("schema version {other}, this quarry reads {SCHEMA_VERSION}"),
                ));
            }
        }
        let readers = (0..READERS)
            .map(|_| open_connection(path).map(Mutex::new))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let n = self.readers.len();
        let guard = (0..n)
            .find_map(|i| self.readers[(start + i) % n].try_lock().ok())
            .map_or_else(|| self.readers[start % n].lock(), Ok)
            .map_err(|_| corrupt("store", "a reader panicked"))?;
        f(&guard)
    }

    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut guard = self
            .writer
            .lock()
            .map_err(|_| corrupt("store", "the writer panicked"))?;
        f(&mut guard)
    }
}

impl ChunkStore for SqliteStore {
    fn document(&self, uri: &str) -> Result<Option<DocumentRecord>> {
        self.read(|c| {
            let row = c
                .query_row(
                    "SELECT uri, source_id, title, format, language, content_hash, pipeline, citable, chunk_count, indexed_at, url \
                     FROM documents WHERE uri = ?1",
                    [uri],
                    document_from_row,
                )
                .optional()?;
            row.map(|(mut doc, hash)| {
                doc.meta.content_hash = hash.parse().map_err(|e| corrupt("document hash", e))?;
                Ok(doc)
            })
            .transpose()
        })
    }

    fn documents_at(&self, urls: &[&str]) -> Result<Vec<String>> {
        let marks = vec!["?"; urls.len().max(1)].join(",");
        let sql = format!(
            "SELECT uri FROM documents WHERE url IN ({marks}) OR uri IN ({marks}) ORDER BY uri"
        );
        let both: Vec<&str> = urls.iter().chain(urls).copied().collect();
        self.read(|c| {
            Ok(c.prepare(&sql)?
                .query_map(params_from_iter(both), |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn all_documents(&self) -> Result<Vec<String>> {
        self.read(|c| {
            Ok(c.prepare("SELECT uri FROM documents ORDER BY uri")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn chunk_ids_of_document(&self, uri: &str) -> Result<Vec<u64>> {
        let sql = "SELECT vid FROM chunks WHERE doc_uri = ?1 ORDER BY ordinal";
        self.read(|c| {
            Ok(c.prepare(sql)?
                .query_map([uri], |r| r.get::<_, i64>(0).map(|v| v as u64))?
                .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn documents_of_source(&self, source_id: &str) -> Result<Vec<String>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT uri FROM documents WHERE source_id = ?1 ORDER BY uri")?;
            let rows = stmt.query_map([source_id], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
    }

    fn embeddings(&self, hashes: &[ContentHash]) -> Result<HashMap<ContentHash, Vec<f32>>> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT vector FROM embeddings WHERE content_hash = ?1")?;
            let mut out = HashMap::new();
            for h in hashes {
                let blob: Option<Vec<u8>> =
                    stmt.query_row([h.to_hex()], |r| r.get(0)).optional()?;
                if let Some(b) = blob {
                    out.insert(*h, blob_to_vector(&b)?);
                }
            }
            Ok(out)
        })
    }

    fn chunks(&self, vids: &[u64]) -> Result<Vec<ChunkRecord>> {
        if vids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|c| {
            let placeholders = vec!["?"; vids.len()].join(",");
            let sql = format!(
                "SELECT c.vid, c.chunk_id, c.doc_uri, c.ordinal, c.content_hash, c.heading_path, c.text, c.locator, \
                 d.source_id, d.title, d.citable, d.url, d.format FROM chunks c JOIN documents d ON d.uri = c.doc_uri \
                 WHERE c.vid IN ({placeholders})"
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(params_from_iter(vids.iter().map(|v| *v as i64)), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, Option<String>>(9)?,
                    r.get::<_, bool>(10)?,
                    r.get::<_, Option<String>>(11)?,
                    r.get::<_, String>(12)?,
                ))
            })?;
            let mut by_vid = HashMap::new();
            for row in rows {
                let (vid, chunk_id, doc_uri, ordinal, hash, path, text, locator, source_id, title, citable, url, format) = row?;
                by_vid.insert(
                    vid as u64,
                    ChunkRecord {
                        vid: vid as u64,
                        chunk_id,
                        doc_uri,
                        ordinal: ordinal as usize,
                        content_hash: hash.parse().map_err(|e| corrupt("chunk hash", e))?,
                        heading_path: serde_json::from_str(&path).map_err(|e| corrupt("heading path", e))?,
                        text,
                        locator: serde_json::from_str(&locator).map_err(|e| corrupt("locator", e))?,
                        source_id,
                        title,
                        citable,
                        url,
                        format,
                    },
                );
            }
            Ok(vids.iter().filter_map(|v| by_vid.remove(v)).collect())
        })
    }

    fn live_ids(&self) -> Result<HashSet<u64>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT vid FROM chunks")?;
            let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
            rows.map(|r| r.map(|v| v as u64).map_err(Error::from))
                .collect()
        })
    }

    fn points_after(&self, after: u64, sink: &mut dyn FnMut(Point)) -> Result<()> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT c.vid, e.vector FROM chunks c JOIN embeddings e ON e.content_hash = c.content_hash \
                 WHERE c.vid > ?1 ORDER BY c.vid",
            )?;
            let mut rows = stmt.query([after as i64])?;
            while let Some(r) = rows.next()? {
                let vid: i64 = r.get(0)?;
                let blob: Vec<u8> = r.get(1)?;
                sink((vid as u64, blob_to_vector(&blob)?));
            }
            Ok(())
        })
    }

    fn texts_after(&self, after: u64, sink: &mut dyn FnMut(u64, String)) -> Result<()> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT c.vid, d.title, c.heading_path, c.text FROM chunks c JOIN documents d ON d.uri = c.doc_uri \
                 WHERE c.vid > ?1 ORDER BY c.vid",
            )?;
            let mut rows = stmt.query([after as i64])?;
            while let Some(r) = rows.next()? {
                let vid: i64 = r.get(0)?;
                let title: Option<String> = r.get(1)?;
                let path: Vec<String> =
                    serde_json::from_str(&r.get::<_, String>(2)?).map_err(|e| corrupt("heading path", e))?;
                let text: String = r.get(3)?;
                sink(vid as u64, keyword_text(title.as_deref(), &path, &text));
            }
            Ok(())
        })
    }

    fn commit(&self, ops: &[WriteOp]) -> Result<CommitOutcome> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            let mut outcome = CommitOutcome::default();
            for op in ops {
                match op {
                    WriteOp::Delete { uri } => delete_document(&tx, uri, &mut outcome)?,
                    WriteOp::Upsert { doc, chunks } => upsert(&tx, doc, chunks, &mut outcome)?,
                    WriteOp::PutSource { source, blob } => put_source(&tx, source, blob.as_ref())?,
                    WriteOp::DeleteSource { id } => {
                        let uris = {
                            let mut stmt = tx
                                .prepare_cached("SELECT uri FROM documents WHERE source_id = ?1")?;
                            stmt.query_map([id], |r| r.get::<_, String>(0))?
                                .collect::<rusqlite::Result<Vec<_>>>()?
                        };
                        for uri in &uris {
                            delete_document(&tx, uri, &mut outcome)?;
                        }
                        tx.execute("DELETE FROM source_blobs WHERE source_id = ?1", [id])?;
                        tx.execute("DELETE FROM sources WHERE id = ?1", [id])?;
                    }
                }
            }
            tx.commit()?;
            Ok(outcome)
        })
    }

    fn stats(&self) -> Result<StoreStats> {
        self.read(|c| {
            let count = |table: &str| -> Result<usize> {
                Ok(
                    c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| {
                        r.get::<_, i64>(0)
                    })? as usize,
                )
            };
            Ok(StoreStats {
                sources: count("sources")?,
                documents: count("documents")?,
                chunks: count("chunks")?,
                embeddings: count("embeddings")?,
            })
        })
    }

    fn integrity(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut problems = Vec::new();
            let mut stmt = c.prepare("PRAGMA quick_check")?;
            for line in stmt.query_map([], |r| r.get::<_, String>(0))? {
                let line = line?;
                if line != "ok" {
                    problems.push(format!("sqlite: {line}"));
                }
            }
            for (what, sql) in [
                (
                    "chunks without their document",
                    "SELECT count(*) FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.uri = c.doc_uri)",
                ),
                (
                    "chunks without a stored vector",
                    "SELECT count(*) FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.content_hash = c.content_hash)",
                ),
                (
                    "documents without chunks",
                    "SELECT count(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.doc_uri = d.uri)",
                ),
            ] {
                let n: i64 = c.query_row(sql, [], |r| r.get(0))?;
                if n > 0 {
                    problems.push(format!("{n} {what}"));
                }
            }
            Ok(problems)
        })
    }

    fn prune_embeddings(&self) -> Result<usize> {
        self.write(|c| {
            Ok(c.execute(
                "DELETE FROM embeddings WHERE content_hash NOT IN (SELECT content_hash FROM chunks)",
                [],
            )?)
        })
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    fn all_meta(&self) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT key, value FROM meta ORDER BY key")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        })
    }

    fn sources(&self) -> Result<Vec<SourceRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {SOURCE_COLUMNS} FROM sources ORDER BY created_at, id"
            ))?;
            collect(&mut stmt, [], source_from_row)
        })
    }

    fn source(&self, id: &str) -> Result<Option<SourceRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {SOURCE_COLUMNS} FROM sources WHERE id = ?1"
            ))?;
            Ok(collect(&mut stmt, [id], source_from_row)?.pop())
        })
    }

    fn source_blob(&self, id: &str) -> Result<Option<SourceBlob>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT name, media_type, bytes FROM source_blobs WHERE source_id = ?1",
                [id],
                |r| {
                    Ok(SourceBlob {
                        name: r.get(0)?,
                        media_type: r.get(1)?,
                        bytes: r.get(2)?,
                    })
                },
            )
            .optional()?)
        })
    }

    fn set_source_state(&self, id: &str, state: &SourceState) -> Result<()> {
        self.write(|c| {
            c.execute(
                "UPDATE sources SET status = ?1, last_error = ?2, last_sync_at = ?3, next_sync_at = ?4 WHERE id = ?5",
                params![
                    state.status.as_str(),
                    state.last_error,
                    state.last_sync_at,
                    state.next_sync_at,
                    id
                ],
            )?;
            Ok(())
        })
    }

    fn due_sources(&self, now: i64) -> Result<Vec<String>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT s.id FROM sources s WHERE s.next_sync_at IS NOT NULL AND s.next_sync_at <= ?1 \
                 AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.source_id = s.id AND j.status IN ('queued', 'running')) \
                 ORDER BY s.next_sync_at, s.id",
            )?;
            let rows = stmt.query_map([now], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn enqueue_due(&self, now: i64) -> Result<Vec<JobRecord>> {
        let ids = self.write(|c| {
            let tx = c.transaction()?;
            let due: Vec<String> = {
                let mut stmt = tx.prepare(
                    "SELECT s.id FROM sources s WHERE s.next_sync_at IS NOT NULL AND s.next_sync_at <= ?1 \
                     AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.source_id = s.id AND j.status IN ('queued', 'running')) \
                     ORDER BY s.next_sync_at, s.id",
                )?;
                stmt.query_map([now], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<_>>()?
            };
            let mut ids = Vec::new();
            for id in &due {
                tx.execute(
                    "INSERT INTO jobs (source_id, uri, trigger, status, created_at) VALUES (?1, NULL, 'schedule', 'queued', ?2)",
                    params![id, now],
                )?;
                ids.push(tx.last_insert_rowid() as u64);
            }
            tx.commit()?;
            Ok(ids)
        })?;
        ids.into_iter()
            .map(|id| {
                self.job(id)?
                    .ok_or_else(|| corrupt("jobs", "a job vanished as it was created"))
            })
            .collect()
    }

    fn claim_job(&self) -> Result<Option<JobRecord>> {
        self.write(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "UPDATE jobs SET status = 'running', started_at = coalesce(started_at, ?1), done = 0 \
                 WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1) RETURNING {JOB_COLUMNS}"
            ))?;
            Ok(collect(&mut stmt, [unix_now()], job_from_row)?.pop())
        })
    }

    fn create_job(&self, source_id: &str, uri: Option<&str>, trigger: &str) -> Result<JobRecord> {
        let id = self.write(|c| {
            c.execute(
                "INSERT INTO jobs (source_id, uri, trigger, status, created_at) VALUES (?1, ?2, ?3, 'queued', ?4)",
                params![source_id, uri, trigger, unix_now()],
            )?;
            Ok(c.last_insert_rowid() as u64)
        })?;
        self.job(id)?
            .ok_or_else(|| corrupt("jobs", "a job vanished as it was created"))
    }

    fn update_job(&self, job: &JobRecord) -> Result<()> {
        let report = job.report.as_ref().map(json).transpose()?;
        self.write(|c| {
            c.execute(
                "UPDATE jobs SET status = ?1, started_at = ?2, finished_at = ?3, done = ?4, total = ?5, report = ?6, error = ?7 \
                 WHERE id = ?8",
                params![
                    job.status.as_str(),
                    job.started_at,
                    job.finished_at,
                    job.done as i64,
                    job.total as i64,
                    report,
                    job.error,
                    job.id as i64
                ],
            )?;
            Ok(())
        })
    }

    fn job(&self, id: u64) -> Result<Option<JobRecord>> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"))?;
            Ok(collect(&mut stmt, [id as i64], job_from_row)?.pop())
        })
    }

    fn jobs(&self, limit: usize) -> Result<Vec<JobRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT ?1"
            ))?;
            collect(&mut stmt, [limit as i64], job_from_row)
        })
    }

    fn next_queued_job(&self) -> Result<Option<JobRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1"
            ))?;
            Ok(collect(&mut stmt, [], job_from_row)?.pop())
        })
    }

    fn requeue_running(&self) -> Result<usize> {
        self.write(|c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE jobs SET status = 'queued', started_at = NULL WHERE status = 'running'",
                [],
            )?;
            // Their sources are no longer syncing either.
            tx.execute(
                "UPDATE sources SET status = 'pending' WHERE status = 'syncing'",
                [],
            )?;
            tx.commit()?;
            Ok(n)
        })
    }
}

fn delete_document(
    tx: &rusqlite::Transaction<'_>,
    uri: &str,
    outcome: &mut CommitOutcome,
) -> Result<()> {
    let mut stmt = tx.prepare_cached("SELECT vid FROM chunks WHERE doc_uri = ?1")?;
    let vids = stmt
        .query_map([uri], |r| r.get::<_, i64>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    outcome.removed.extend(vids.into_iter().map(|v| v as u64));
    tx.execute("DELETE FROM chunks WHERE doc_uri = ?1", [uri])?;
    tx.execute("DELETE FROM documents WHERE uri = ?1", [uri])?;
    Ok(())
}

fn put_source(
    tx: &rusqlite::Transaction<'_>,
    s: &SourceRecord,
    blob: Option<&SourceBlob>,
) -> Result<()> {
    tx.execute(
        "INSERT INTO sources (id, kind, title, spec, settings, created_at, last_sync_at, next_sync_at, status, last_error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, title = excluded.title, spec = excluded.spec, \
         settings = excluded.settings, last_sync_at = excluded.last_sync_at, next_sync_at = excluded.next_sync_at, \
         status = excluded.status, last_error = excluded.last_error",
        params![
            s.id,
            s.kind.as_str(),
            s.title,
            json(&s.spec)?,
            json(&s.settings)?,
            s.created_at,
            s.last_sync_at,
            s.next_sync_at,
            s.status.as_str(),
            s.last_error
        ],
    )?;
    // A changed citation setting applies to what is indexed already.
    tx.execute(
        "UPDATE documents SET citable = ?1 WHERE source_id = ?2",
        params![s.settings.citable(), s.id],
    )?;
    if let Some(b) = blob {
        tx.execute(
            "INSERT INTO source_blobs (source_id, name, media_type, bytes) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT(source_id) DO UPDATE SET name = excluded.name, media_type = excluded.media_type, bytes = excluded.bytes",
            params![s.id, b.name, b.media_type, b.bytes],
        )?;
    }
    Ok(())
}

/// Replaces a document's chunks, keeping the rows (and vector ids) of chunks
/// whose id is unchanged so an edit only adds what is new.
fn upsert(
    tx: &rusqlite::Transaction<'_>,
    doc: &DocumentMeta,
    chunks: &[NewChunk],
    outcome: &mut CommitOutcome,
) -> Result<()> {
    let mut existing: HashMap<String, u64> = {
        let mut stmt = tx.prepare_cached("SELECT chunk_id, vid FROM chunks WHERE doc_uri = ?1")?;
        stmt.query_map([&doc.uri], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    tx.execute(
        "INSERT INTO documents (uri, source_id, title, format, language, content_hash, pipeline, citable, chunk_count, indexed_at, url) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT(uri) DO UPDATE SET source_id = excluded.source_id, title = excluded.title, format = excluded.format, \
         language = excluded.language, content_hash = excluded.content_hash, pipeline = excluded.pipeline, \
         citable = excluded.citable, chunk_count = excluded.chunk_count, indexed_at = excluded.indexed_at, url = excluded.url",
        params![
            doc.uri,
            doc.source_id,
            doc.title,
            doc.format,
            doc.language,
            doc.content_hash.to_hex(),
            doc.pipeline,
            doc.citable,
            chunks.len() as i64,
            unix_now(),
            doc.url
        ],
    )?;
    let mut seen = HashSet::new();
    for (ordinal, chunk) in chunks.iter().enumerate() {
        if !seen.insert(chunk.chunk_id.as_str()) {
            return Err(Error::InvalidInput(format!(
                "duplicate chunk id {} in {}",
                chunk.chunk_id, doc.uri
            )));
        }
        let hash = chunk.content_hash.to_hex();
        if let Some(v) = &chunk.vector {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO embeddings (content_hash, vector) VALUES (?1, ?2)",
            )?
            .execute(params![hash, vector_to_blob(v)])?;
        }
        let path = json(&chunk.heading_path)?;
        let locator = json(&chunk.locator)?;
        if let Some(vid) = existing.remove(&chunk.chunk_id) {
            tx.prepare_cached(
                "UPDATE chunks SET ordinal = ?1, heading_path = ?2, locator = ?3 WHERE vid = ?4",
            )?
            .execute(params![ordinal as i64, path, locator, vid as i64])?;
            continue;
        }
        tx.prepare_cached(
            "INSERT INTO chunks (chunk_id, doc_uri, ordinal, content_hash, heading_path, text, locator) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![chunk.chunk_id, doc.uri, ordinal as i64, hash, path, chunk.text, locator])?;
        let vid = tx.last_insert_rowid() as u64;
        let vector = match &chunk.vector {
            Some(v) => v.clone(),
            None => {
                let blob: Option<Vec<u8>> = tx
                    .prepare_cached("SELECT vector FROM embeddings WHERE content_hash = ?1")?
                    .query_row([&hash], |r| r.get(0))
                    .optional()?;
                let blob = blob.ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "chunk {} has no vector and none is cached",
                        chunk.chunk_id
                    ))
                })?;
                blob_to_vector(&blob)?
            }
        };
        outcome.added.push((vid, vector));
        outcome.added_text.push((
            vid,
            keyword_text(doc.title.as_deref(), &chunk.heading_path, &chunk.text),
        ));
    }
    for (_, vid) in existing {
        tx.prepare_cached("DELETE FROM chunks WHERE vid = ?1")?
            .execute([vid as i64])?;
        outcome.removed.push(vid);
    }
    Ok(())
}
