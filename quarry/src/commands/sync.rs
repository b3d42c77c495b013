//! `quarry sync` and `quarry sources`.

use anyhow::Result;
use quarry::app::{existing_kb, open_catalog, syncer};
use quarry::config::Config;
use quarry::render::{Bar, bar, print_sync_reports};

pub fn sync(
    config: &Config,
    kb: &str,
    source: Option<String>,
    uri: Option<String>,
    due: bool,
    json: bool,
) -> Result<()> {
    let catalog = open_catalog(config)?;
    let handle = existing_kb(&catalog, kb)?;
    let syncer = syncer(config, catalog);
    syncer.recover()?;
    let ids: Vec<String> = match source {
        Some(id) => vec![id],
        None if due => handle.due_sources(quarry_index::unix_now())?,
        None => handle
            .sources()?
            .into_iter()
            .filter(|s| s.kind.is_scheduled())
            .map(|s| s.id)
            .collect(),
    };
    let jobs = ids.into_iter().map(|id| {
        let job = syncer.enqueue(kb, &id, uri.as_deref(), "cli")?;
        let bar = bar();
        let job = syncer.run_job(&handle, job, &Bar(bar.clone()))?;
        bar.finish_and_clear();
        Ok(job)
    });
    print_sync_reports(jobs, json)
}

pub fn sources(config: &Config, kb: &str, json: bool) -> Result<()> {
    let catalog = open_catalog(config)?;
    let handle = existing_kb(&catalog, kb)?;
    let sources = handle.sources()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&sources)?);
        return Ok(());
    }
    quarry::render::print_sources(&sources, quarry_index::unix_now());
    Ok(())
}
