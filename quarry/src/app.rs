//! Builds the libraries' parts from the configuration: the embedder, the
//! catalog of knowledge bases, the format registry, the syncer.

use crate::config::Config;
use anyhow::{Context, Result};
use quarry_formats::Registry;
use quarry_index::store::postgres::{PgDatabase, PgOptions, redact};
use quarry_index::{Catalog, Embedder, OnnxEmbedder};
use quarry_ingest::Syncer;
use std::sync::Arc;

/// The default model's embedder (benchmarks; `QUARRY__MODELS__DEFAULT`
/// picks another).
pub fn embedder(config: &Config) -> Result<Arc<dyn Embedder>> {
    let name = &config.models.default;
    let options = config
        .models
        .available
        .get(name)
        .with_context(|| format!("models.default {name:?} is not configured"))?;
    let e = OnnxEmbedder::load(options.clone())
        .with_context(|| format!("loading the embedding model {name}"))?;
    Ok(Arc::new(e))
}

pub fn open_catalog(config: &Config) -> Result<Arc<Catalog>> {
    let models = Arc::new(config.models.registry()?);
    if let Some(db) = database(config)? {
        let catalog = Catalog::open_shared(&config.data_dir, models, config.index, db.clone())
            .with_context(|| format!("opening the knowledge bases in {db:?}"))?;
        return Ok(Arc::new(catalog));
    }
    let catalog = Catalog::open(&config.data_dir, models, config.index).with_context(|| {
        format!(
            "opening the knowledge bases in {}",
            config.data_dir.display()
        )
    })?;
    Ok(Arc::new(catalog))
}

/// The shared database, when `storage.database_url` (or
/// `QUARRY_DATABASE_URL`) names one.
pub fn database(config: &Config) -> Result<Option<Arc<PgDatabase>>> {
    let Some(url) = config
        .storage
        .database_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    else {
        return Ok(None);
    };
    let mut options = PgOptions::new(url);
    options.pool_size = config.storage.pool_size;
    options.connect_timeout =
        std::time::Duration::from_secs(config.storage.connect_timeout_secs.max(1));
    options.job_lease_secs = config.storage.job_lease_secs.max(5);
    let db = PgDatabase::connect(options)
        .with_context(|| format!("connecting to the database {}", redact(url)))?;
    Ok(Some(Arc::new(db)))
}

pub fn registry(config: &Config) -> Arc<Registry> {
    let media = &config.media;
    let speech: Option<Arc<dyn quarry_formats::media::SpeechToText>> =
        media.speech_to_text.then(|| {
            Arc::new(quarry_formats::whisper::Whisper::new(
                media.whisper_model.clone(),
                Some(media.language.clone()),
                media.threads,
            )) as _
        });
    Arc::new(
        Registry::default()
            .with_limits(config.formats)
            .with_media(media.clone(), speech),
    )
}

pub fn syncer(config: &Config, catalog: Arc<Catalog>) -> Syncer {
    Syncer::new(catalog, registry(config), config.ingest, config.sync)
        .with_crawl(config.crawl.clone())
        .with_conflicts(config.conflicts)
}

/// The knowledge base `name`, which must exist (except `default`, which
/// always does).
pub fn existing_kb(catalog: &Catalog, name: &str) -> Result<Arc<quarry_index::KnowledgeBase>> {
    catalog.get(name)?.with_context(|| {
        format!("knowledge base {name:?} does not exist (create it with `quarry kb create {name}`)")
    })
}
