//! `quarry ingest`: files, folders, pages and sites, synced inline.

use anyhow::{Context, Result, bail};
use quarry::app::{open_catalog, syncer};
use quarry::config::Config;
use quarry::render::{Bar, bar, job_report, print_report};
use quarry_index::{SourceSettings, SourceSpec};

/// How `ingest URL` crawls.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CrawlArgs {
    /// Import related URLs: crawl the site behind each URL, not just the page.
    #[arg(long)]
    crawl: bool,
    /// Pages fetched at most (default: `crawl.max_pages`, 5000).
    #[arg(long, requires = "crawl")]
    max_pages: Option<usize>,
    /// Link hops from the start URL.
    #[arg(long, requires = "crawl")]
    max_depth: Option<usize>,
    /// Only URLs matching one of these patterns (`*` wildcards, matched
    /// anywhere in the URL); repeatable.
    #[arg(long, requires = "crawl")]
    include: Vec<String>,
    /// Skip URLs matching any of these patterns; repeatable.
    #[arg(long, requires = "crawl")]
    exclude: Vec<String>,
    /// Follow links to other subdomains of the same domain.
    #[arg(long, requires = "crawl")]
    subdomains: bool,
    /// Let the crawler reach this host although it resolves to a private,
    /// loopback or link-local address; repeatable. Adds to
    /// `crawl.allow_hosts` for this run.
    #[arg(long)]
    allow_host: Vec<String>,
}

impl CrawlArgs {
    pub fn spec(&self, url: &str) -> SourceSpec {
        if self.crawl {
            SourceSpec::Site {
                url: url.to_owned(),
                max_pages: self.max_pages,
                max_depth: self.max_depth,
                include: self.include.clone(),
                exclude: self.exclude.clone(),
                subdomains: self.subdomains.then_some(true),
            }
        } else {
            SourceSpec::Url {
                url: url.to_owned(),
            }
        }
    }
}

pub fn is_web(arg: &str) -> bool {
    let lower = arg.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

pub fn ingest(
    config: &Config,
    kb: &str,
    paths: &[String],
    private: bool,
    no_prune: bool,
    crawl: &CrawlArgs,
) -> Result<Vec<quarry_ingest::IngestReport>> {
    if crawl.crawl && !paths.iter().any(|p| is_web(p)) {
        bail!("--crawl needs an http(s) URL to start from");
    }
    let mut config = config.clone();
    config
        .crawl
        .allow_hosts
        .extend(crawl.allow_host.iter().cloned());
    let catalog = open_catalog(&config)?;
    if catalog.create(kb)?.1 {
        eprintln!("created knowledge base {kb:?}");
    }
    let syncer = syncer(&config, catalog);
    let settings = SourceSettings {
        private,
        ..SourceSettings::default()
    };
    let mut reports = Vec::new();
    for path in paths {
        let spec = if is_web(path) {
            crawl.spec(path)
        } else {
            SourceSpec::File {
                path: Some(path.clone()),
                upload: None,
            }
        };
        let bar = bar();
        let (_, job) = syncer
            .ingest_spec(kb, spec, settings, !no_prune, &Bar(bar.clone()))
            .with_context(|| format!("cannot ingest {path}"))?;
        bar.finish_and_clear();
        let report = job_report(&job).with_context(|| format!("ingesting {path}"))?;
        reports.push(report);
    }
    Ok(reports)
}

/// Prints the reports; an error when documents failed, unless partial
/// success is allowed.
pub fn finish(
    reports: &[quarry_ingest::IngestReport],
    json: bool,
    allow_partial: bool,
) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(reports)?);
    } else {
        reports.iter().for_each(print_report);
    }
    let failed: usize = reports.iter().map(|r| r.failed.len()).sum();
    let seen: usize = reports.iter().map(|r| r.documents).sum();
    if failed > 0 && !allow_partial {
        bail!("{failed} of {seen} documents failed (listed above; --allow-partial exits 0)");
    }
    Ok(())
}
