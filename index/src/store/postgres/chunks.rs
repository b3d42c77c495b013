//! [`PgStore`]: one knowledge base's schema as a [`ChunkStore`], with its
//! vector and full-text searches.

use super::PgDatabase;
use super::rows::{SOURCE_COLUMNS, corrupt, ids, source_from_row};
use super::schema::{SCHEMA_VERSION, migrations};
use super::text::{query_configs, tsquery_sql, tsquery_terms};
use crate::source::{JobRecord, SourceBlob, SourceRecord, SourceState};
use crate::store::{
    ChunkRecord, ChunkStore, CommitOutcome, DocumentMeta, DocumentRecord, StoreStats, WriteOp,
    keyword_text,
};
use crate::vector::Point;
use crate::{ContentHash, Error, Result};
use pgvector::Vector;
use postgres::Transaction;
use postgres::types::ToSql;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A knowledge base in the shared database.
pub struct PgStore {
    pub(super) db: Arc<PgDatabase>,
    pub(super) kb: String,
    /// The quoted schema name.
    pub(super) s: String,
    pub(super) dims: usize,
    /// The schema's name, unquoted.
    pub(super) schema: String,
    /// Knowledge bases of at most this many chunks are searched exactly.
    pub(super) full_scan_threshold: usize,
    /// PostgreSQL's row estimate of the chunks table and when it was read:
    /// a planning hint (exact scan or HNSW), re-read every few seconds.
    pub(super) estimate: std::sync::Mutex<Option<(std::time::Instant, f64)>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("kb", &self.kb).finish()
    }
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
    pub(super) fn tx<T: Send>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> std::result::Result<T, postgres::Error> + Send,
    ) -> Result<T> {
        self.db.tx(f)
    }

    pub(super) fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>> {
        self.db
            .with(|c| c.query(sql, params).map_err(|e| self.db.err(e)))
    }

    pub(super) fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
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

    fn integrity(&self) -> Result<Vec<String>> {
        let s = &self.s;
        let r = &self.query(
            &format!(
                "SELECT (SELECT count(*) FROM {s}.documents d WHERE NOT EXISTS (SELECT 1 FROM {s}.chunks c WHERE c.doc_uri = d.uri)), \
                 (SELECT count(*) FROM {s}.chunks c WHERE c.tsv IS NULL OR c.embedding IS NULL)"
            ),
            &[],
        )?[0];
        let mut problems = Vec::new();
        for (i, what) in [
            "documents without chunks",
            "chunks without a vector or keywords",
        ]
        .into_iter()
        .enumerate()
        {
            let n = r.get::<_, i64>(i);
            if n > 0 {
                problems.push(format!("{n} {what}"));
            }
        }
        Ok(problems)
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
        self.enqueue_due_jobs(now)
    }

    fn create_job(&self, source_id: &str, uri: Option<&str>, trigger: &str) -> Result<JobRecord> {
        self.create_queued_job(source_id, uri, trigger)
    }

    fn update_job(&self, job: &JobRecord) -> Result<()> {
        self.write_job(job)
    }

    fn heartbeat_job(&self, id: u64) -> Result<()> {
        self.renew_claim(id)
    }

    fn job(&self, id: u64) -> Result<Option<JobRecord>> {
        self.job_by_id(id)
    }

    fn jobs(&self, limit: usize) -> Result<Vec<JobRecord>> {
        self.newest_jobs(limit)
    }

    fn next_queued_job(&self) -> Result<Option<JobRecord>> {
        self.oldest_queued_job()
    }

    fn claim_job(&self) -> Result<Option<JobRecord>> {
        self.claim(self.db.options().job_lease_secs)
    }

    fn requeue_running(&self) -> Result<usize> {
        self.requeue_expired()
    }
}
