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

/// `quarry doctor`: what this process would use, and where it came from.
pub fn doctor(config: &Config) -> Result<()> {
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    println!("working folder: {cwd}");
    match &config.file {
        Some(f) => println!("config file:    {}", f.display()),
        None => println!("config file:    none (defaults and QUARRY__* variables)"),
    }
    println!("data dir:       {}", config.data_dir.display());
    match config
        .storage
        .database_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    {
        None => println!("storage:        embedded (SQLite in the data dir, one process)"),
        Some(url) => {
            let url = quarry_index::store::postgres::redact(url);
            match quarry::app::database(config) {
                Ok(Some(db)) => println!(
                    "storage:        PostgreSQL {url}: reachable, knowledge bases: {}",
                    db.knowledge_bases()
                        .map(|k| k
                            .into_iter()
                            .map(|(n, m)| format!("{n} ({m})"))
                            .collect::<Vec<_>>()
                            .join(", "))
                        .unwrap_or_else(|e| format!("cannot list: {e}"))
                ),
                Ok(None) => {}
                Err(e) => println!("storage:        PostgreSQL {url}: NOT reachable: {e:#}"),
            }
        }
    }
    match quarry::remote::discover(&config.data_dir) {
        Some(url) => println!("server:         {url} holds the data dir (the CLI talks to it)"),
        None => println!("server:         none running on this data dir"),
    }
    println!(
        "default model:  {} (configured: {})",
        config.models.default,
        config
            .models
            .available
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    let search = quarry::locate::Search::new(config.file.as_deref().and_then(|f| f.parent()));
    println!("model search order:");
    for place in &search.places {
        println!("  {:<22} {}", place.label, place.base.display());
    }
    let mut missing = 0;
    for l in &config.located {
        match &l.found {
            Some((path, place)) => println!("ok       {}: {} ({place})", l.what, path.display()),
            None => {
                missing += 1;
                println!(
                    "missing  {}: {}; looked in:",
                    l.what,
                    l.configured.display()
                );
                for t in &l.tried {
                    println!("           {}", t.display());
                }
            }
        }
    }
    let ffmpeg = std::process::Command::new(&config.media.ffmpeg)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    println!(
        "{}  ffmpeg ({}): {}",
        if ffmpeg { "ok     " } else { "missing" },
        config.media.ffmpeg,
        if ffmpeg {
            "found"
        } else {
            "not found: videos cannot be read"
        }
    );
    if missing > 0 {
        println!(
            "{missing} model file(s) missing: run scripts/fetch-models.sh, or set QUARRY_MODELS_DIR to a folder holding them"
        );
    }
    Ok(())
}
