//! The write path of a knowledge base in the shared database: one
//! transaction per commit, serialised across nodes by an advisory lock.

use super::chunks::PgStore;
use super::rows::{SOURCE_COLUMNS, json};
use super::text::pg_config_of;
use super::{Conn, write_lock};
use crate::keyword::detect_language;
use crate::source::{SourceBlob, SourceRecord, unix_now};
use crate::store::{CommitOutcome, DocumentMeta, NewChunk, WriteOp, keyword_text};
use crate::{Error, Result};
use pgvector::Vector;
use postgres::Transaction;
use std::collections::{HashMap, HashSet};

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
    pub(super) fn commit_on(&self, c: &mut Conn, ops: &[WriteOp]) -> Result<CommitOutcome> {
        let mut tx = c.transaction().map_err(|e| self.db.err(e))?;
        let result = (|| -> Result<CommitOutcome> {
            let pg = |e| self.db.err(e);
            // Writers of one knowledge base take turns, across nodes.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                &[&write_lock(&self.kb)],
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
