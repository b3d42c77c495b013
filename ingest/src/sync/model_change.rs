//! Changing a knowledge base's embedding model: [`Syncer::change_model`].
//!
//! Vectors of two models cannot be mixed, and chunks are cut with the
//! model's own tokenizer, so a new model means new chunks and new vectors
//! for everything. The job builds a complete knowledge base on the new model
//! beside the old one (every source copied and synced again: files re-read,
//! uploads and articles from the store, sites crawled afresh, short answers
//! re-embedded), and only when every source synced does it replace the old
//! folder. Until then the old knowledge base is untouched; if a source
//! fails, the job fails naming it and nothing changes.

use super::records::{CRAWL_STATE, put_source};
use super::syncer::Syncer;
use crate::report::Progress;
use crate::{Error, Result};
use quarry_index::{JobStatus, KnowledgeBase, kb_dir, record_model};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a model change did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelChange {
    pub kb: String,
    pub from: String,
    pub to: String,
    pub sources: usize,
    pub documents: usize,
    pub chunks: usize,
    pub elapsed_ms: u64,
}

/// The folder a knowledge base is rebuilt in (not a valid knowledge base
/// name, so never opened as one).
fn staging_dir(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("kb").join(format!(".model-change-{name}"))
}

impl Syncer {
    /// Rebuilds knowledge base `name` on `model`, reporting each source's
    /// sync to `progress`, then swaps it in. Call with nothing else writing
    /// to the knowledge base (the CLI holds its lock).
    pub fn change_model(
        &self,
        name: &str,
        model: &str,
        progress: &dyn Progress,
    ) -> Result<ModelChange> {
        let started = std::time::Instant::now();
        let catalog = self.catalog().clone();
        let old = self.kb(name)?;
        let from = old.model().to_owned();
        if from == model {
            return Err(Error::Invalid(format!(
                "knowledge base {name:?} already uses model {model:?}"
            )));
        }
        let embedder = catalog.models().get(model)?;
        let staging = staging_dir(catalog.data_dir(), name);
        // On the shared backend the replacement is a schema beside the live one.
        let db = old.database().cloned();
        let schema = format!(
            "model_change_{}",
            &quarry_index::ContentHash::of(name.as_bytes()).to_hex()[..16]
        );
        match &db {
            Some(db) => db.drop_schema(&schema)?,
            None => remove_dir(&staging)?,
        }
        let outcome = (|| -> Result<(usize, usize, usize)> {
            let new = Arc::new(match &db {
                Some(db) => KnowledgeBase::open_shared_in(
                    db.clone(),
                    &format!("{name}#model-change"),
                    &schema,
                    &staging,
                    model,
                    embedder,
                    *old.options(),
                )?,
                None => KnowledgeBase::open_with_model(&staging, model, embedder, *old.options())?,
            });
            // Tokens and other settings of the knowledge base.
            for (key, value) in old.all_meta()? {
                if new.meta(&key)?.is_none() {
                    new.set_meta(&key, &value)?;
                }
            }
            let sources = old.sources()?;
            let _writes = self.guard()?;
            for record in &sources {
                // A site's crawl state (ETags) would make the new crawl skip
                // every unchanged page: the rebuild fetches them all.
                let blob = old
                    .source_blob(&record.id)?
                    .filter(|b| b.name != CRAWL_STATE);
                put_source(&new, record, blob)?;
            }
            drop(_writes);
            let mut failed = Vec::new();
            for record in &sources {
                let job = new.create_job(&record.id, None, "model-change")?;
                let job = self.run_job_with(&new, job, progress, true)?;
                if job.status != JobStatus::Done {
                    failed.push(format!(
                        "{}: {}",
                        record.id,
                        job.error.as_deref().unwrap_or("failed")
                    ));
                }
            }
            if !failed.is_empty() {
                return Err(Error::Invalid(format!(
                    "the model change of {name:?} stopped, nothing was changed: {} of {} sources failed to sync on {model}: {}",
                    failed.len(),
                    sources.len(),
                    failed.join("; ")
                )));
            }
            new.flush()?;
            let stats = new.stats()?;
            if db.is_none() {
                record_model(&staging, model)?;
            }
            Ok((sources.len(), stats.store.documents, stats.store.chunks))
        })();
        let (sources, documents, chunks) = match outcome {
            Ok(counts) => counts,
            Err(e) => {
                let _ = match &db {
                    Some(db) => db.drop_schema(&schema).map_err(Error::from),
                    None => remove_dir(&staging),
                };
                return Err(e);
            }
        };
        drop(old);
        match &db {
            Some(db) => db.swap_in(name, &schema, model)?,
            None => {
                // Swap the folders: the old one moves aside, the new one in.
                catalog.close(name)?;
                let live = kb_dir(catalog.data_dir(), name);
                let aside = catalog
                    .data_dir()
                    .join("kb")
                    .join(format!(".model-change-old-{name}"));
                remove_dir(&aside)?;
                std::fs::rename(&live, &aside).map_err(|e| quarry_index::Error::io(&live, e))?;
                std::fs::rename(&staging, &live)
                    .map_err(|e| quarry_index::Error::io(&staging, e))?;
                remove_dir(&aside)?;
            }
        }
        catalog.reopen(name)?;
        Ok(ModelChange {
            kb: name.to_owned(),
            from,
            to: model.to_owned(),
            sources,
            documents,
            chunks,
            elapsed_ms: started.elapsed().as_millis() as u64,
        })
    }
}

fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(quarry_index::Error::io(dir, e).into()),
    }
}
