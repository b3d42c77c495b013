//! Crawl throughput on the generated local site
//! ([`quarry_testsite`]): loopback networking, so the figure
//! is quarry's own cost per page (request, link extraction, URL handling,
//! spooling), not the network's.

use crate::{Error, Result};
use quarry_formats::Registry;
use quarry_ingest::crawl::{CrawlOptions, CrawlState, CrawlTarget, crawl};
use quarry_testsite::{self as testsite, TestSite};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// One crawl of the site: first (full GETs) or repeated (conditional
/// requests, 304s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrawlRun {
    pub pass: String,
    pub urls_seen: usize,
    pub pages_fetched: usize,
    pub megabytes: f64,
    pub seconds: f64,
    /// URLs handled (requested, skipped, or known unchanged) per second.
    pub urls_per_second: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrawlBench {
    pub site_pages: usize,
    pub concurrency: usize,
    pub runs: Vec<CrawlRun>,
}

impl CrawlBench {
    pub fn table(&self) -> String {
        let mut out = format!(
            "crawl of the generated local site ({} help pages + PDF and edge cases), concurrency {}\n\n| pass | URLs seen | pages requested | MB | s | URLs/s |\n|---|---|---|---|---|---|\n",
            self.site_pages, self.concurrency
        );
        for r in &self.runs {
            out.push_str(&format!(
                "| {} | {} | {} | {:.1} | {:.2} | {:.0} |\n",
                r.pass, r.urls_seen, r.pages_fetched, r.megabytes, r.seconds, r.urls_per_second
            ));
        }
        out
    }
}

/// Serves a site of `pages` help pages on 127.0.0.1 and crawls it twice.
pub fn crawl_bench(pages: usize, pdf: Vec<u8>, options: &CrawlOptions) -> Result<CrawlBench> {
    let site = TestSite::serve(testsite::build(pages, pdf))
        .map_err(|e| Error::Setup(format!("test site: {e}")))?;
    let options = CrawlOptions {
        allow_hosts: vec!["127.0.0.1".into()],
        max_pages: pages + 500,
        // The slow page waits 3 s: do not time it.
        timeout_secs: 1,
        ..options.clone()
    };
    let target = CrawlTarget {
        url: site.url("/"),
        follow_links: true,
        exclude: vec!["/slow".into()],
        ..CrawlTarget::default()
    };
    let registry = Registry::default();
    let mut runs = Vec::new();
    let mut state = CrawlState::default();
    let passes = [
        ("first crawl", true),
        (
            "recrawl, unchanged: sitemap lastmod skips, the rest 304",
            true,
        ),
        ("recrawl, unchanged, sitemaps off: every page a 304", false),
    ];
    for (pass, sitemaps) in passes {
        let options = CrawlOptions {
            sitemaps,
            ..options.clone()
        };
        let started = Instant::now();
        let result = crawl(&target, &options, &registry, &state, "bench", &|_| {})?;
        let seconds = started.elapsed().as_secs_f64();
        runs.push(CrawlRun {
            pass: pass.into(),
            urls_seen: result.report.urls.len(),
            pages_fetched: result.report.fetched,
            megabytes: result.report.bytes as f64 / 1e6,
            seconds,
            urls_per_second: result.report.urls.len() as f64 / seconds.max(1e-9),
        });
        if sitemaps {
            state = result.state;
        }
    }
    Ok(CrawlBench {
        site_pages: pages,
        concurrency: options.concurrency,
        runs,
    })
}
