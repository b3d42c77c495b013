//! Builds the libraries' parts from the configuration: the embedder, the
//! catalog of knowledge bases, the format registry, the syncer.

use crate::config::Config;
use anyhow::{Context, Result};
use quarry_formats::Registry;
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
    let catalog = Catalog::open(&config.data_dir, models, config.index).with_context(|| {
        format!(
            "opening the knowledge bases in {}",
            config.data_dir.display()
        )
    })?;
    Ok(Arc::new(catalog))
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
