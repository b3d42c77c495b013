//! `quarry status`: counts of one knowledge base.

use anyhow::Result;
use quarry::app::{existing_kb, open_catalog};
use quarry::config::Config;

pub fn status(config: &Config, name: &str) -> Result<()> {
    let catalog = open_catalog(config)?;
    let kb = existing_kb(&catalog, name)?;
    let stats = kb.stats()?;
    println!("data dir:   {}", config.data_dir.display());
    println!("kb:         {name} ({} sources)", stats.store.sources);
    println!("model:      {} ({})", kb.model(), kb.embedder().model_id());
    println!("documents:  {}", stats.store.documents);
    println!("chunks:     {}", stats.store.chunks);
    println!("embeddings: {} cached", stats.store.embeddings);
    println!(
        "vectors:    {} ({} removed, awaiting compaction)",
        stats.vector_points, stats.tombstones
    );
    Ok(())
}
