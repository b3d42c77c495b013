//! `quarry check`: whether the store, the keyword index and the vector
//! index of a knowledge base agree, and a repair from the store (the source
//! of truth) when they do not.
//!
//! Checked: the store's own integrity (SQLite `quick_check`, chunks without
//! a document or a vector); chunk ids in the keyword index against the
//! store's; chunk ids in the vector index and the in-memory live set
//! against the store's; the vector snapshot's files against the BLAKE3
//! checksums of its manifest. On the shared backend the keyword and vector
//! indexes are columns of the chunk rows, so the store check covers them.

use super::KnowledgeBase;
use crate::vector::verify_snapshot;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Ids listed per difference at most.
const SAMPLE: usize = 10;

/// What `check` found (and repaired).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckReport {
    /// Chunks in the store.
    pub chunks: usize,
    /// Problems inside the store; a repair cannot fix these (restore a
    /// backup), but the indexes are rebuilt from what is there.
    pub store: Vec<String>,
    /// `None` on the shared backend.
    pub keyword: Option<Agreement>,
    pub vector: Option<Agreement>,
    pub snapshot: Option<SnapshotState>,
    /// What the repair did.
    pub repaired: Vec<String>,
    /// Everything agrees (after the repair, when one ran).
    pub consistent: bool,
}

/// How an index's chunk ids compare with the store's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Agreement {
    /// Entries in the index.
    pub entries: usize,
    /// Stored chunks the index lacks (searches miss them).
    pub missing: usize,
    /// Entries for chunks the store no longer has. For the vector index
    /// these are removed points kept until compaction (tombstones), which
    /// searches skip: not an error.
    pub extra: usize,
    pub sample_missing: Vec<u64>,
    pub sample_extra: Vec<u64>,
}

impl Agreement {
    fn of(live: &HashSet<u64>, ids: Vec<u64>) -> Self {
        let entries = ids.len();
        let have: HashSet<u64> = ids.into_iter().collect();
        let mut missing: Vec<u64> = live.difference(&have).copied().collect();
        let mut extra: Vec<u64> = have.difference(live).copied().collect();
        missing.sort_unstable();
        extra.sort_unstable();
        Self {
            entries,
            missing: missing.len(),
            extra: extra.len(),
            sample_missing: missing.into_iter().take(SAMPLE).collect(),
            sample_extra: extra.into_iter().take(SAMPLE).collect(),
        }
    }
}

/// The vector snapshot on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotState {
    /// The snapshot `CURRENT` names; `None` when none was written yet.
    pub name: Option<String>,
    pub points: usize,
    /// Why it cannot be loaded (a checksum that differs, a missing file).
    pub error: Option<String>,
}

/// One pass of the comparison, with the facts a repair needs.
struct Findings {
    report: CheckReport,
    live_set_differs: bool,
}

impl KnowledgeBase {
    /// Compares the store with the indexes; with `repair`, rebuilds what
    /// differs from the store and checks again.
    pub fn check(&self, repair: bool) -> Result<CheckReport> {
        let first = self.compare()?;
        if !repair || first.report.consistent {
            return Ok(first.report);
        }
        let mut repaired = Vec::new();
        let r = &first.report;
        if let Some(local) = self.local() {
            if r.keyword
                .as_ref()
                .is_some_and(|k| k.missing > 0 || k.extra > 0)
            {
                let _writer = local.writer.lock().map_err(|_| super::poisoned())?;
                let mut texts = Vec::new();
                let mut highest = 0;
                self.store.texts_after(0, &mut |id, text| {
                    highest = highest.max(id);
                    texts.push((id, text));
                })?;
                local.keywords.replace_all(&texts, highest)?;
                repaired.push(format!(
                    "keyword index rebuilt from the store ({} chunks)",
                    texts.len()
                ));
            }
            let vector_off = r.vector.as_ref().is_some_and(|v| v.missing > 0);
            let snapshot_bad = r.snapshot.as_ref().is_some_and(|s| s.error.is_some());
            if vector_off || snapshot_bad || first.live_set_differs {
                *local.live.write().map_err(|_| super::poisoned())? = self.store.live_ids()?;
                self.compact()?;
                repaired.push("vector index rebuilt from the store and saved".into());
            }
        }
        let mut after = self.compare()?.report;
        after.repaired = repaired;
        Ok(after)
    }

    fn compare(&self) -> Result<Findings> {
        let store = self.store.integrity()?;
        let Some(local) = self.local() else {
            let chunks = self.store.stats()?.chunks;
            return Ok(Findings {
                report: CheckReport {
                    chunks,
                    consistent: store.is_empty(),
                    store,
                    keyword: None,
                    vector: None,
                    snapshot: None,
                    repaired: Vec::new(),
                },
                live_set_differs: false,
            });
        };
        // No commit between reading the store and the indexes.
        let writer = local.writer.lock().map_err(|_| super::poisoned())?;
        let live = self.store.live_ids()?;
        let keyword = Agreement::of(&live, local.keywords.ids()?);
        let index = local.vectors.read().map_err(|_| super::poisoned())?.clone();
        let vector = Agreement::of(&live, index.ids());
        let live_set_differs = *local.live.read().map_err(|_| super::poisoned())? != live;
        drop(writer);
        let snapshot = if index.is_exact() {
            None
        } else {
            Some(
                match verify_snapshot(&self.snapshot_dir(), self.embedder.model_id()) {
                    Ok(Some((name, points))) => SnapshotState {
                        name: Some(name),
                        points,
                        error: None,
                    },
                    Ok(None) => SnapshotState {
                        name: None,
                        points: 0,
                        error: None,
                    },
                    Err(e @ (Error::Corrupt { .. } | Error::Io { .. })) => SnapshotState {
                        name: None,
                        points: 0,
                        error: Some(e.to_string()),
                    },
                    Err(e) => return Err(e),
                },
            )
        };
        let consistent = store.is_empty()
            && keyword.missing == 0
            && keyword.extra == 0
            && vector.missing == 0
            && !live_set_differs
            && snapshot.as_ref().is_none_or(|s| s.error.is_none());
        Ok(Findings {
            report: CheckReport {
                chunks: live.len(),
                store,
                keyword: Some(keyword),
                vector: Some(vector),
                snapshot,
                repaired: Vec::new(),
                consistent,
            },
            live_set_differs,
        })
    }
}
