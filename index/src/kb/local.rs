//! The embedded engine of a [`KnowledgeBase`]: in-process HNSW and tantivy
//! indexes derived from the SQLite store, the lock file, and their replay
//! after a crash.

use super::{KnowledgeBase, poisoned};
use crate::embed::Embedder;
use crate::keyword::KeywordIndex;
use crate::store::ChunkStore;
use crate::vector::{ExactIndex, HnswIndex, Point, VectorIndex, load_snapshot};
use crate::{Error, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

pub(super) struct WriterState {
    /// Highest id in the vector index.
    pub(super) watermark: u64,
    pub(super) unsaved: usize,
}

pub(super) struct Local {
    pub(super) vectors: RwLock<Arc<dyn VectorIndex>>,
    pub(super) live: RwLock<HashSet<u64>>,
    pub(super) keywords: KeywordIndex,
    pub(super) writer: Mutex<WriterState>,
    /// Held while open: one process per knowledge base.
    pub(super) _lock: std::fs::File,
}

/// Opens the keyword index, starting it afresh (to be replayed from the
/// store) when it is damaged or from an older schema.
pub(super) fn open_keywords(dir: &Path) -> Result<(KeywordIndex, u64)> {
    match KeywordIndex::open(dir) {
        Ok((index, watermark)) if index.schema_matches() => Ok((index, watermark)),
        // Not damage: rebuilding would delete a good index it cannot write.
        Err(e @ (Error::DiskFull(_) | Error::Io { .. })) => Err(e),
        result => {
            if let Err(e) = &result {
                tracing::warn!("keyword index unusable, rebuilding from the store: {e}");
            }
            drop(result);
            std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            KeywordIndex::open(dir)
        }
    }
}

/// Takes the knowledge base's lock file. Two processes writing one
/// knowledge base would each keep their own vector and keyword indexes and
/// miss the other's writes; the second one is refused instead.
pub(super) fn lock_dir(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::InUse(format!(
            "the knowledge base in {} is open in another quarry process (a running `quarry serve`?): stop it, or make the change through its HTTP API",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

/// Refuses a store built with another model than `embedder`'s (and records
/// the model in a new one).
pub(super) fn check_model(
    store: &dyn ChunkStore,
    what: &str,
    embedder: &dyn Embedder,
) -> Result<()> {
    match store.meta("model_id")? {
        Some(built) if built != embedder.model_id() => Err(Error::ModelMismatch {
            path: what.to_owned(),
            built_with: built,
            configured: embedder.model_id().to_owned(),
        }),
        Some(_) => Ok(()),
        None => store.set_meta("model_id", embedder.model_id()),
    }
}

impl KnowledgeBase {
    /// Replays what the keyword index missed when a crash came between the
    /// store's commit and the index's: chunks added since its watermark,
    /// and chunks the store removed meanwhile (found when the counts
    /// differ).
    pub(super) fn catch_up_keywords(&self, watermark: u64) -> Result<()> {
        let Some(local) = self.local() else {
            return Ok(());
        };
        let mut batch: Vec<(u64, String)> = Vec::new();
        let mut highest = watermark;
        self.store.texts_after(watermark, &mut |id, text| {
            highest = highest.max(id);
            batch.push((id, text));
        })?;
        if !batch.is_empty() {
            tracing::info!(
                chunks = batch.len(),
                "keyword index caught up from the store"
            );
            local.keywords.apply(&batch, &[], highest)?;
        }
        let live = local.live.read().map_err(|_| poisoned())?;
        if local.keywords.len() != live.len() as u64 {
            let removed: Vec<u64> = local
                .keywords
                .ids()?
                .into_iter()
                .filter(|id| !live.contains(id))
                .collect();
            if !removed.is_empty() {
                tracing::info!(
                    chunks = removed.len(),
                    "keyword index: chunks the store removed before a crash dropped"
                );
                local.keywords.apply(&[], &removed, highest)?;
            }
        }
        Ok(())
    }

    pub(super) fn snapshot_dir(&self) -> PathBuf {
        self.dir.join("vectors")
    }

    pub(super) fn load_vectors(&self) -> Result<()> {
        let Some(local) = self.local() else {
            return Ok(());
        };
        let mut state = local.writer.lock().map_err(|_| poisoned())?;
        let model_id = self.embedder.model_id().to_owned();
        let live = self.live_count();
        let (index, mut watermark): (Arc<dyn VectorIndex>, u64) = if self.scans_exactly(live) {
            (Arc::new(ExactIndex::default()), 0)
        } else {
            match load_snapshot(&self.snapshot_dir(), &model_id, &self.options.hnsw) {
                Ok(Some(snap)) => (Arc::new(snap.index), snap.watermark),
                Ok(None) => (Arc::new(HnswIndex::new(&self.options.hnsw, live)), 0),
                Err(e) => {
                    tracing::warn!("vector snapshot unusable, rebuilding from the store: {e}");
                    (Arc::new(HnswIndex::new(&self.options.hnsw, live)), 0)
                }
            }
        };
        let mut batch: Vec<Point> = Vec::new();
        let mut replayed = 0;
        let mut pending: Option<Error> = None;
        self.store.points_after(watermark, &mut |p| {
            watermark = watermark.max(p.0);
            batch.push(p);
            if batch.len() == 4096 {
                replayed += batch.len();
                pending = pending
                    .take()
                    .or(index.insert(&std::mem::take(&mut batch)).err());
            }
        })?;
        if let Some(e) = pending {
            return Err(e);
        }
        replayed += batch.len();
        index.insert(&batch)?;
        state.watermark = watermark;
        state.unsaved = replayed;
        *local.vectors.write().map_err(|_| poisoned())? = index;
        if replayed > 0 {
            tracing::info!(points = replayed, "vector index caught up from the store");
        }
        drop(state);
        if replayed > 0 {
            self.flush()?;
        }
        Ok(())
    }
}
