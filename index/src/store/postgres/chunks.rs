//! [`PgStore`]: one knowledge base's schema as a [`ChunkStore`], with its
//! vector and full-text searches.

use super::text::{pg_config_of, query_configs, tsquery_sql, tsquery_terms};
use super::{Conn, PgDatabase};
use crate::keyword::detect_language;
use crate::source::{JobRecord, SourceBlob, SourceRecord, SourceState, unix_now};
use crate::store::{
    ChunkRecord, ChunkStore, CommitOutcome, DocumentMeta, DocumentRecord, NewChunk, StoreStats,
    WriteOp, keyword_text,
};
use crate::vector::Point;
use crate::{ContentHash, Error, Result};
use pgvector::Vector;
use postgres::Transaction;
use postgres::types::ToSql;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Version of a knowledge base's schema; [`migrations`] brings older ones
/// up to it.
const SCHEMA_VERSION: i32 = 1;

/// The migrations of a knowledge base's schema `s` for vectors of `dims`.
fn migrations(s: &str, dims: usize) -> Vec<(i32, String)> {
    vec![(
        1,
        format!(
            r#"
CREATE TABLE {s}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE {s}.documents (
    uri TEXT PRIMARY KEY,
    source_id TEXT NOT NULL,
    title TEXT,
    format TEXT NOT NULL,
    language TEXT,
    content_hash TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    citable BOOLEAN NOT NULL,
    chunk_count BIGINT NOT NULL,
    indexed_at BIGINT NOT NULL,
    url TEXT
);
CREATE INDEX ON {s}.documents (source_id);
CREATE INDEX ON {s}.documents (url);
CREATE TABLE {s}.embeddings (content_hash TEXT PRIMARY KEY, vector vector({dims}) NOT NULL);
CREATE TABLE {s}.chunks (
    vid BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    doc_uri TEXT NOT NULL REFERENCES {s}.documents(uri) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    heading_path TEXT NOT NULL,
    text TEXT NOT NULL,
    locator TEXT NOT NULL,
    embedding vector({dims}) NOT NULL,
    tsv tsvector NOT NULL
);
CREATE INDEX ON {s}.chunks (doc_uri);
CREATE INDEX ON {s}.chunks (content_hash);
CREATE INDEX chunks_embedding ON {s}.chunks USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 200);
CREATE INDEX chunks_tsv ON {s}.chunks USING gin (tsv);
CREATE TABLE {s}.sources (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT,
    spec TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_sync_at BIGINT,
    next_sync_at BIGINT,
    status TEXT NOT NULL,
    last_error TEXT
);
CREATE TABLE {s}.source_blobs (
    source_id TEXT PRIMARY KEY REFERENCES {s}.sources(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    media_type TEXT,
    bytes BYTEA NOT NULL
);
CREATE TABLE {s}.jobs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id TEXT NOT NULL,
    uri TEXT,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    done BIGINT NOT NULL DEFAULT 0,
    total BIGINT NOT NULL DEFAULT 0,
    report TEXT,
    error TEXT,
    node TEXT,
    heartbeat_at BIGINT
);
CREATE INDEX ON {s}.jobs (status, id);
CREATE UNIQUE INDEX jobs_one_queued ON {s}.jobs (source_id, coalesce(uri, '')) WHERE status = 'queued';
{questions}
"#,
            questions = super::questions::schema(s)
        ),
    )]
}

/// A knowledge base in the shared database.
pub struct PgStore {
    db: Arc<PgDatabase>,
    kb: String,
    /// The quoted schema name.
    s: String,
    dims: usize,
    /// The schema's name, unquoted.
    schema: String,
    /// Knowledge bases of at most this many chunks are searched exactly.
    full_scan_threshold: usize,
    /// PostgreSQL's row estimate of the chunks table and when it was read:
    /// a planning hint (exact scan or HNSW), re-read every few seconds.
    estimate: std::sync::Mutex<Option<(std::time::Instant, f64)>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("kb", &self.kb).finish()
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Corrupt {
        what: what.into(),
        reason: e.to_string(),
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| corrupt("json", e))
}

const SOURCE_COLUMNS: &str =
    "id, kind, title, spec, settings, created_at, last_sync_at, next_sync_at, status, last_error";
const JOB_COLUMNS: &str = "id, source_id, uri, trigger, status, created_at, started_at, finished_at, done, total, report, error";

fn source_from_row(r: &postgres::Row) -> Result<SourceRecord> {
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

fn job_from_row(r: &postgres::Row) -> Result<JobRecord> {
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

fn ids(vids: &[u64]) -> Vec<i64> {
    vids.iter().map(|v| *v as i64).collect()
}

impl PgStore {
    /// Opens knowledge base `kb` (vectors of `dims`), creating or migrating
    /// its schema.
    pub fn open(
        db: Arc<PgDatabase>,
        kb: &str,
        dims: usize,
        full_scan_threshold: usize,
    ) -> Result<Self> {
        crate::validate_kb_name(kb)?;
        Self::open_in(db, kb, &format!("kb_{kb}"), dims, full_scan_threshold)
    }

    /// Opens a knowledge base kept in schema `schema` (a model change builds
    /// one beside the live schema); `kb` names it in locks and messages.
    pub fn open_in(
        db: Arc<PgDatabase>,
        kb: &str,
        schema: &str,
        dims: usize,
        full_scan_threshold: usize,
    ) -> Result<Self> {
        if !schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            || schema.len() > 63
        {
            return Err(Error::InvalidInput(format!("schema name {schema:?}")));
        }
        let store = Self {
            s: format!("\"{schema}\""),
            schema: schema.to_owned(),
            kb: kb.to_owned(),
            db,
            dims,
            full_scan_threshold,
            estimate: std::sync::Mutex::new(None),
        };
        store.migrate()?;
        Ok(store)
    }

    pub fn database(&self) -> &Arc<PgDatabase> {
        &self.db
    }

    fn migrate(&self) -> Result<()> {
        let s = &self.s;
        self.tx(|tx| {
            tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&format!("quarry-migrate:{}", self.kb)])?;
            tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {s}"))?;
            let has_meta = tx
                .query_opt(
                    "SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'meta'",
                    &[&self.schema],
                )?
                .is_some();
            let version: i32 = if has_meta {
                tx.query_opt(&format!("SELECT value FROM {s}.meta WHERE key = 'schema_version'"), &[])?
                    .and_then(|r| r.get::<_, String>(0).parse().ok())
                    .unwrap_or(0)
            } else {
                0
            };
            if version > SCHEMA_VERSION {
                return Ok(Err(corrupt(
                    "database schema",
                    format!("knowledge base {} is at version {version}, this quarry reads {SCHEMA_VERSION}", self.kb),
                )));
            }
            for (v, sql) in migrations(s, self.dims) {
                if v > version {
                    tx.batch_execute(&sql)?;
                    tx.execute(
                        &format!("INSERT INTO {s}.meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
                        &[&v.to_string()],
                    )?;
                    tracing::info!(kb = self.kb, version = v, "knowledge base schema migrated");
                }
            }
            Ok(Ok(()))
        })?
    }

    /// Runs `f` in a transaction (committed when it returns `Ok`).
    fn tx<T: Send>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> std::result::Result<T, postgres::Error> + Send,
    ) -> Result<T> {
        self.db.with(|c| {
            let mut tx = c.transaction().map_err(|e| self.db.err(e))?;
            let out = f(&mut tx).map_err(|e| self.db.err(e))?;
            tx.commit().map_err(|e| self.db.err(e))?;
            Ok(out)
        })
    }

    fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<postgres::Row>> {
        self.db
            .with(|c| c.query(sql, params).map_err(|e| self.db.err(e)))
    }

    fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        self.db
            .with(|c| c.execute(sql, params).map_err(|e| self.db.err(e)))
    }

    /// PostgreSQL's estimate of the chunks in this knowledge base (never
    /// analysed: small), read at most every 5 s.
    fn estimated_chunks(&self) -> Result<f64> {
        let mut cached = self
            .estimate
            .lock()
            .map_err(|_| corrupt("estimate", "poisoned"))?;
        if let Some((at, n)) = *cached
            && at.elapsed() < std::time::Duration::from_secs(5)
        {
            return Ok(n);
        }
        let rows: f32 = self.query(
            &format!(
                "SELECT reltuples FROM pg_class WHERE oid = '{}.chunks'::regclass",
                self.s
            ),
            &[],
        )?[0]
            .get(0);
        let n = f64::from(rows);
        *cached = Some((std::time::Instant::now(), n));
        Ok(n)
    }

    /// The `k` nearest chunks to `query` by cosine similarity: pgvector's
    /// HNSW with `ef_search = ef`, or an exact scan for small knowledge bases.
    /// One round trip: the settings and the search go as one simple query.
    pub fn vector_search(&self, query: &[f32], k: usize, ef: usize) -> Result<Vec<(u64, f32)>> {
        if k == 0 {
            return Ok(Vec::new());
        }
        if query.len() != self.dims || query.iter().any(|x| !x.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "query vector must have {} finite values",
                self.dims
            )));
        }
        let ef = ef.clamp(k.min(1000), 1000);
        let exact = self.estimated_chunks()? <= self.full_scan_threshold as f64;
        let literal = format!(
            "'[{}]'::vector",
            query
                .iter()
                .map(|x| format!("{x:e}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let sql = format!(
            "SET enable_indexscan = {}; SET hnsw.ef_search = {ef}; \
             SELECT vid, 1 - (embedding <=> {literal}) FROM {}.chunks ORDER BY embedding <=> {literal} LIMIT {k}",
            if exact { "off" } else { "on" },
            self.s
        );
        let messages = self
            .db
            .with(|c| c.simple_query(&sql).map_err(|e| self.db.err(e)))?;
        let mut out = Vec::with_capacity(k);
        for m in messages {
            if let postgres::SimpleQueryMessage::Row(r) = m {
                let vid = r.get(0).and_then(|v| v.parse::<u64>().ok());
                let sim = r.get(1).and_then(|v| v.parse::<f32>().ok());
                match (vid, sim) {
                    (Some(v), Some(s)) => out.push((v, s)),
                    _ => return Err(corrupt("vector search", "an unreadable row")),
                }
            }
        }
        Ok(out)
    }

    /// The `k` best chunks for a text query by PostgreSQL full-text rank.
    pub fn keyword_search(&self, query: &str, k: usize) -> Result<Vec<(u64, f32)>> {
        let Some(terms) = tsquery_terms(query) else {
            return Ok(Vec::new());
        };
        if k == 0 {
            return Ok(Vec::new());
        }
        let rows = self.query(
            &format!(
                "WITH q AS (SELECT ({}) AS q) \
                 SELECT vid, ts_rank(tsv, q.q, 1) AS score FROM {}.chunks, q WHERE tsv @@ q.q \
                 ORDER BY score DESC, vid LIMIT $2",
                tsquery_sql("$1", &query_configs(query)),
                self.s
            ),
            &[&terms, &(k as i64)],
        )?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, f32>(1)))
            .collect())
    }

    /// Chunks in the knowledge base (for status).
    pub fn chunk_count(&self) -> Result<usize> {
        Ok(
            self.query(&format!("SELECT count(*) FROM {}.chunks", self.s), &[])?[0].get::<_, i64>(0)
                as usize,
        )
    }

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
}

impl ChunkStore for PgStore {
    fn document(&self, uri: &str) -> Result<Option<DocumentRecord>> {
        let rows = self.query(
            &format!(
                "SELECT uri, source_id, title, format, language, content_hash, pipeline, citable, chunk_count, indexed_at, url \
                 FROM {}.documents WHERE uri = $1",
                self.s
            ),
            &[&uri],
        )?;
        rows.first()
            .map(|r| {
                let hash: String = r.get(5);
                Ok(DocumentRecord {
                    meta: DocumentMeta {
                        uri: r.get(0),
                        source_id: r.get(1),
                        title: r.get(2),
                        format: r.get(3),
                        language: r.get(4),
                        content_hash: hash.parse().map_err(|e| corrupt("document hash", e))?,
                        pipeline: r.get(6),
                        citable: r.get(7),
                        url: r.get(10),
                    },
                    chunk_count: r.get::<_, i64>(8) as usize,
                    indexed_at: r.get(9),
                })
            })
            .transpose()
    }

    fn documents_of_source(&self, source_id: &str) -> Result<Vec<String>> {
        let rows = self.query(
            &format!(
                "SELECT uri FROM {}.documents WHERE source_id = $1 ORDER BY uri",
                self.s
            ),
            &[&source_id],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn documents_at(&self, urls: &[&str]) -> Result<Vec<String>> {
        let urls: Vec<String> = urls.iter().map(|u| (*u).to_owned()).collect();
        let rows = self.query(
            &format!(
                "SELECT uri FROM {}.documents WHERE url = ANY($1) OR uri = ANY($1) ORDER BY uri",
                self.s
            ),
            &[&urls],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn all_documents(&self) -> Result<Vec<String>> {
        let rows = self.query(
            &format!("SELECT uri FROM {}.documents ORDER BY uri", self.s),
            &[],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn chunk_ids_of_document(&self, uri: &str) -> Result<Vec<u64>> {
        let rows = self.query(
            &format!(
                "SELECT vid FROM {}.chunks WHERE doc_uri = $1 ORDER BY ordinal",
                self.s
            ),
            &[&uri],
        )?;
        Ok(rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect())
    }

    fn embeddings(&self, hashes: &[ContentHash]) -> Result<HashMap<ContentHash, Vec<f32>>> {
        if hashes.is_empty() {
            return Ok(HashMap::new());
        }
        let hex: Vec<String> = hashes.iter().map(|h| h.to_hex()).collect();
        let rows = self.query(
            &format!(
                "SELECT content_hash, vector FROM {}.embeddings WHERE content_hash = ANY($1)",
                self.s
            ),
            &[&hex],
        )?;
        rows.iter()
            .map(|r| {
                let h: String = r.get(0);
                let v: Vector = r.get(1);
                Ok((
                    h.parse().map_err(|e| corrupt("embedding hash", e))?,
                    v.to_vec(),
                ))
            })
            .collect()
    }

    fn chunks(&self, vids: &[u64]) -> Result<Vec<ChunkRecord>> {
        if vids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.query(
            &format!(
                "SELECT c.vid, c.chunk_id, c.doc_uri, c.ordinal, c.content_hash, c.heading_path, c.text, c.locator, \
                 d.source_id, d.title, d.citable, d.url, d.format FROM {s}.chunks c JOIN {s}.documents d ON d.uri = c.doc_uri \
                 WHERE c.vid = ANY($1)",
                s = self.s
            ),
            &[&ids(vids)],
        )?;
        let mut by_vid = HashMap::new();
        for r in &rows {
            let vid = r.get::<_, i64>(0) as u64;
            let hash: String = r.get(4);
            let path: String = r.get(5);
            let locator: String = r.get(7);
            by_vid.insert(
                vid,
                ChunkRecord {
                    vid,
                    chunk_id: r.get(1),
                    doc_uri: r.get(2),
                    ordinal: r.get::<_, i32>(3) as usize,
                    content_hash: hash.parse().map_err(|e| corrupt("chunk hash", e))?,
                    heading_path: serde_json::from_str(&path)
                        .map_err(|e| corrupt("heading path", e))?,
                    text: r.get(6),
                    locator: serde_json::from_str(&locator).map_err(|e| corrupt("locator", e))?,
                    source_id: r.get(8),
                    title: r.get(9),
                    citable: r.get(10),
                    url: r.get(11),
                    format: r.get(12),
                },
            );
        }
        Ok(vids.iter().filter_map(|v| by_vid.remove(v)).collect())
    }

    fn live_ids(&self) -> Result<HashSet<u64>> {
        let rows = self.query(&format!("SELECT vid FROM {}.chunks", self.s), &[])?;
        Ok(rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect())
    }

    fn points_after(&self, after: u64, sink: &mut dyn FnMut(Point)) -> Result<()> {
        let mut after = after as i64;
        loop {
            let rows = self.query(
                &format!(
                    "SELECT vid, embedding FROM {}.chunks WHERE vid > $1 ORDER BY vid LIMIT 4096",
                    self.s
                ),
                &[&after],
            )?;
            for r in &rows {
                after = r.get(0);
                sink((after as u64, r.get::<_, Vector>(1).to_vec()));
            }
            if rows.len() < 4096 {
                return Ok(());
            }
        }
    }

    fn texts_after(&self, after: u64, sink: &mut dyn FnMut(u64, String)) -> Result<()> {
        let rows = self.query(
            &format!(
                "SELECT c.vid, d.title, c.heading_path, c.text FROM {s}.chunks c JOIN {s}.documents d ON d.uri = c.doc_uri \
                 WHERE c.vid > $1 ORDER BY c.vid",
                s = self.s
            ),
            &[&(after as i64)],
        )?;
        for r in &rows {
            let title: Option<String> = r.get(1);
            let path: Vec<String> = serde_json::from_str(&r.get::<_, String>(2))
                .map_err(|e| corrupt("heading path", e))?;
            sink(
                r.get::<_, i64>(0) as u64,
                keyword_text(title.as_deref(), &path, &r.get::<_, String>(3)),
            );
        }
        Ok(())
    }

    fn commit(&self, ops: &[WriteOp]) -> Result<CommitOutcome> {
        self.db.with(|c| self.commit_on(c, ops))
    }

    fn stats(&self) -> Result<StoreStats> {
        let s = &self.s;
        let r = &self.query(
            &format!(
                "SELECT (SELECT count(*) FROM {s}.sources), (SELECT count(*) FROM {s}.documents), \
                 (SELECT count(*) FROM {s}.chunks), (SELECT count(*) FROM {s}.embeddings)"
            ),
            &[],
        )?[0];
        Ok(StoreStats {
            sources: r.get::<_, i64>(0) as usize,
            documents: r.get::<_, i64>(1) as usize,
            chunks: r.get::<_, i64>(2) as usize,
            embeddings: r.get::<_, i64>(3) as usize,
        })
    }

    fn prune_embeddings(&self) -> Result<usize> {
        Ok(self.execute(
            &format!(
                "DELETE FROM {s}.embeddings e WHERE NOT EXISTS (SELECT 1 FROM {s}.chunks c WHERE c.content_hash = e.content_hash)",
                s = self.s
            ),
            &[],
        )? as usize)
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        let rows = self.query(
            &format!("SELECT value FROM {}.meta WHERE key = $1", self.s),
            &[&key],
        )?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.execute(
            &format!("INSERT INTO {}.meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", self.s),
            &[&key, &value],
        )?;
        Ok(())
    }

    fn all_meta(&self) -> Result<Vec<(String, String)>> {
        let rows = self.query(
            &format!("SELECT key, value FROM {}.meta ORDER BY key", self.s),
            &[],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn sources(&self) -> Result<Vec<SourceRecord>> {
        self.query(
            &format!(
                "SELECT {SOURCE_COLUMNS} FROM {}.sources ORDER BY created_at, id",
                self.s
            ),
            &[],
        )?
        .iter()
        .map(source_from_row)
        .collect()
    }

    fn source(&self, id: &str) -> Result<Option<SourceRecord>> {
        self.query(
            &format!(
                "SELECT {SOURCE_COLUMNS} FROM {}.sources WHERE id = $1",
                self.s
            ),
            &[&id],
        )?
        .first()
        .map(source_from_row)
        .transpose()
    }

    fn source_blob(&self, id: &str) -> Result<Option<SourceBlob>> {
        Ok(self
            .query(
                &format!(
                    "SELECT name, media_type, bytes FROM {}.source_blobs WHERE source_id = $1",
                    self.s
                ),
                &[&id],
            )?
            .first()
            .map(|r| SourceBlob {
                name: r.get(0),
                media_type: r.get(1),
                bytes: r.get(2),
            }))
    }

    fn set_source_state(&self, id: &str, state: &SourceState) -> Result<()> {
        self.execute(
            &format!("UPDATE {}.sources SET status = $1, last_error = $2, last_sync_at = $3, next_sync_at = $4 WHERE id = $5", self.s),
            &[&state.status.as_str(), &state.last_error, &state.last_sync_at, &state.next_sync_at, &id],
        )?;
        Ok(())
    }

    fn due_sources(&self, now: i64) -> Result<Vec<String>> {
        let rows = self.query(
            &format!(
                "SELECT s.id FROM {s}.sources s WHERE s.next_sync_at IS NOT NULL AND s.next_sync_at <= $1 \
                 AND NOT EXISTS (SELECT 1 FROM {s}.jobs j WHERE j.source_id = s.id AND j.status IN ('queued', 'running')) \
                 ORDER BY s.next_sync_at, s.id",
                s = self.s
            ),
            &[&now],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn enqueue_due(&self, now: i64) -> Result<Vec<JobRecord>> {
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

    fn create_job(&self, source_id: &str, uri: Option<&str>, trigger: &str) -> Result<JobRecord> {
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

    fn update_job(&self, job: &JobRecord) -> Result<()> {
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

    fn heartbeat_job(&self, id: u64) -> Result<()> {
        self.execute(
            &format!("UPDATE {}.jobs SET heartbeat_at = $1 WHERE id = $2 AND node = $3 AND status = 'running'", self.s),
            &[&unix_now(), &(id as i64), &self.db.node()],
        )?;
        Ok(())
    }

    fn job(&self, id: u64) -> Result<Option<JobRecord>> {
        self.query(
            &format!("SELECT {JOB_COLUMNS} FROM {}.jobs WHERE id = $1", self.s),
            &[&(id as i64)],
        )?
        .first()
        .map(job_from_row)
        .transpose()
    }

    fn jobs(&self, limit: usize) -> Result<Vec<JobRecord>> {
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

    fn next_queued_job(&self) -> Result<Option<JobRecord>> {
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

    fn claim_job(&self) -> Result<Option<JobRecord>> {
        self.claim(self.db.options().job_lease_secs)
    }

    fn requeue_running(&self) -> Result<usize> {
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

impl PgStore {
    fn delete_document(
        &self,
        tx: &mut Transaction<'_>,
        uri: &str,
        outcome: &mut CommitOutcome,
    ) -> Result<()> {
        let pg = |e| self.db.err(e);
        let rows = tx
            .query(
                &format!(
                    "DELETE FROM {}.chunks WHERE doc_uri = $1 RETURNING vid",
                    self.s
                ),
                &[&uri],
            )
            .map_err(pg)?;
        outcome
            .removed
            .extend(rows.iter().map(|r| r.get::<_, i64>(0) as u64));
        tx.execute(
            &format!("DELETE FROM {}.documents WHERE uri = $1", self.s),
            &[&uri],
        )
        .map_err(pg)?;
        Ok(())
    }

    fn put_source(
        &self,
        tx: &mut Transaction<'_>,
        src: &SourceRecord,
        blob: Option<&SourceBlob>,
    ) -> Result<()> {
        let pg = |e| self.db.err(e);
        let s = &self.s;
        tx.execute(
            &format!(
                "INSERT INTO {s}.sources ({SOURCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, title = excluded.title, spec = excluded.spec, \
                 settings = excluded.settings, last_sync_at = excluded.last_sync_at, next_sync_at = excluded.next_sync_at, \
                 status = excluded.status, last_error = excluded.last_error"
            ),
            &[
                &src.id,
                &src.kind.as_str(),
                &src.title,
                &json(&src.spec)?,
                &json(&src.settings)?,
                &src.created_at,
                &src.last_sync_at,
                &src.next_sync_at,
                &src.status.as_str(),
                &src.last_error,
            ],
        )
        .map_err(pg)?;
        tx.execute(
            &format!("UPDATE {s}.documents SET citable = $1 WHERE source_id = $2"),
            &[&src.settings.citable(), &src.id],
        )
        .map_err(pg)?;
        if let Some(b) = blob {
            tx.execute(
                &format!(
                    "INSERT INTO {s}.source_blobs (source_id, name, media_type, bytes) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (source_id) DO UPDATE SET name = excluded.name, media_type = excluded.media_type, bytes = excluded.bytes"
                ),
                &[&src.id, &b.name, &b.media_type, &b.bytes],
            )
            .map_err(pg)?;
        }
        Ok(())
    }

    /// Replaces a document's chunks, keeping the rows (and ids) of chunks
    /// whose id is unchanged.
    fn upsert(
        &self,
        tx: &mut Transaction<'_>,
        doc: &DocumentMeta,
        chunks: &[NewChunk],
        outcome: &mut CommitOutcome,
    ) -> Result<()> {
        let pg = |e| self.db.err(e);
        let s = &self.s;
        let mut existing: HashMap<String, u64> = tx
            .query(
                &format!("SELECT chunk_id, vid FROM {s}.chunks WHERE doc_uri = $1"),
                &[&doc.uri],
            )
            .map_err(pg)?
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
            .collect();
        tx.execute(
            &format!(
                "INSERT INTO {s}.documents (uri, source_id, title, format, language, content_hash, pipeline, citable, chunk_count, indexed_at, url) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (uri) DO UPDATE SET source_id = excluded.source_id, title = excluded.title, format = excluded.format, \
                 language = excluded.language, content_hash = excluded.content_hash, pipeline = excluded.pipeline, \
                 citable = excluded.citable, chunk_count = excluded.chunk_count, indexed_at = excluded.indexed_at, url = excluded.url"
            ),
            &[
                &doc.uri,
                &doc.source_id,
                &doc.title,
                &doc.format,
                &doc.language,
                &doc.content_hash.to_hex(),
                &doc.pipeline,
                &doc.citable,
                &(chunks.len() as i64),
                &unix_now(),
                &doc.url,
            ],
        )
        .map_err(pg)?;
        let put_embedding = tx
            .prepare(&format!("INSERT INTO {s}.embeddings (content_hash, vector) VALUES ($1, $2) ON CONFLICT DO NOTHING"))
            .map_err(pg)?;
        let cached = tx
            .prepare(&format!(
                "SELECT vector FROM {s}.embeddings WHERE content_hash = $1"
            ))
            .map_err(pg)?;
        let moved = tx
            .prepare(&format!(
                "UPDATE {s}.chunks SET ordinal = $1, heading_path = $2, locator = $3 WHERE vid = $4"
            ))
            .map_err(pg)?;
        let insert = tx
            .prepare(&format!(
                "INSERT INTO {s}.chunks (chunk_id, doc_uri, ordinal, content_hash, heading_path, text, locator, embedding, tsv) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, to_tsvector($9::text::regconfig, $10) || to_tsvector('simple', $10)) RETURNING vid"
            ))
            .map_err(pg)?;
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
                if v.len() != self.dims {
                    return Err(Error::InvalidInput(format!(
                        "chunk {} has {} dimensions, the knowledge base {}",
                        chunk.chunk_id,
                        v.len(),
                        self.dims
                    )));
                }
                tx.execute(&put_embedding, &[&hash, &Vector::from(v.clone())])
                    .map_err(pg)?;
            }
            let path = json(&chunk.heading_path)?;
            let locator = json(&chunk.locator)?;
            let ordinal = ordinal as i32;
            if let Some(vid) = existing.remove(&chunk.chunk_id) {
                tx.execute(&moved, &[&ordinal, &path, &locator, &(vid as i64)])
                    .map_err(pg)?;
                continue;
            }
            let vector = match &chunk.vector {
                Some(v) => v.clone(),
                None => tx
                    .query_opt(&cached, &[&hash])
                    .map_err(pg)?
                    .map(|r| r.get::<_, Vector>(0).to_vec())
                    .ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "chunk {} has no vector and none is cached",
                            chunk.chunk_id
                        ))
                    })?,
            };
            let text = keyword_text(doc.title.as_deref(), &chunk.heading_path, &chunk.text);
            let config = pg_config_of(detect_language(&text));
            let vid: i64 = tx
                .query_one(
                    &insert,
                    &[
                        &chunk.chunk_id,
                        &doc.uri,
                        &ordinal,
                        &hash,
                        &path,
                        &chunk.text,
                        &locator,
                        &Vector::from(vector.clone()),
                        &config,
                        &text,
                    ],
                )
                .map_err(pg)?
                .get(0);
            outcome.added.push((vid as u64, vector));
            outcome.added_text.push((vid as u64, text));
        }
        let gone: Vec<i64> = existing.into_values().map(|v| v as i64).collect();
        if !gone.is_empty() {
            tx.execute(
                &format!("DELETE FROM {s}.chunks WHERE vid = ANY($1)"),
                &[&gone],
            )
            .map_err(pg)?;
            outcome.removed.extend(gone.iter().map(|v| *v as u64));
        }
        Ok(())
    }
}

impl PgStore {
    fn commit_on(&self, c: &mut Conn, ops: &[WriteOp]) -> Result<CommitOutcome> {
        let mut tx = c.transaction().map_err(|e| self.db.err(e))?;
        let result = (|| -> Result<CommitOutcome> {
            let pg = |e| self.db.err(e);
            // Writers of one knowledge base take turns, across nodes.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                &[&format!("quarry-write:{}", self.kb)],
            )
            .map_err(pg)?;
            let mut outcome = CommitOutcome::default();
            for op in ops {
                match op {
                    WriteOp::Delete { uri } => self.delete_document(&mut tx, uri, &mut outcome)?,
                    WriteOp::Upsert { doc, chunks } => {
                        self.upsert(&mut tx, doc, chunks, &mut outcome)?
                    }
                    WriteOp::PutSource { source, blob } => {
                        self.put_source(&mut tx, source, blob.as_ref())?
                    }
                    WriteOp::DeleteSource { id } => {
                        let uris: Vec<String> = tx
                            .query(
                                &format!(
                                    "SELECT uri FROM {}.documents WHERE source_id = $1",
                                    self.s
                                ),
                                &[id],
                            )
                            .map_err(pg)?
                            .iter()
                            .map(|r| r.get(0))
                            .collect();
                        for uri in &uris {
                            self.delete_document(&mut tx, uri, &mut outcome)?;
                        }
                        tx.execute(
                            &format!("DELETE FROM {}.sources WHERE id = $1", self.s),
                            &[id],
                        )
                        .map_err(pg)?;
                    }
                }
            }
            Ok(outcome)
        })();
        let outcome = result?;
        tx.commit().map_err(|e| self.db.err(e))?;
        Ok(outcome)
    }
}
