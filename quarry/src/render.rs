//! Reports on a terminal: the progress bar, ingest and crawl reports.

use anyhow::{Result, bail};
use quarry_index::JobRecord;
use quarry_ingest::crawl::{CrawlProgress, CrawlReport, UrlOutcome, UrlReport};
use quarry_ingest::{IngestReport, Outcome, Progress};

/// Draws a progress bar on a terminal; silent otherwise.
pub struct Bar(pub indicatif::ProgressBar);

impl std::fmt::Debug for Bar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bar").finish_non_exhaustive()
    }
}

impl Progress for Bar {
    fn started(&self, documents: usize) {
        self.0.set_length(documents as u64);
    }

    fn finished(&self, name: &str, outcome: &Outcome) {
        if let Outcome::Failed { reason } = outcome {
            self.0.println(format!("failed: {name}: {reason}"));
        }
        self.0.set_message(name.to_owned());
        self.0.inc(1);
    }

    fn crawling(&self, p: &CrawlProgress) {
        self.0.set_length((p.fetched + p.queued) as u64);
        self.0.set_position(p.fetched as u64);
        self.0.set_message(format!(
            "crawling: {} fetched, {} queued, {} skipped, {} errors",
            p.fetched, p.queued, p.skipped, p.errors
        ));
    }
}

pub fn bar() -> indicatif::ProgressBar {
    indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:30}] {pos}/{len} documents {wide_msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    )
}

/// The report of a finished job, or its error.
pub fn job_report(job: &JobRecord) -> Result<IngestReport> {
    match (&job.report, &job.error) {
        (Some(report), _) => Ok(serde_json::from_value(report.clone())?),
        (None, Some(error)) => bail!("sync of {} failed: {error}", job.source_id),
        (None, None) => bail!("job {} has no report", job.id),
    }
}

pub fn print_report(r: &IngestReport) {
    println!("ingested {}", r.source_id);
    println!(
        "  documents: {} seen, {} indexed, {} unchanged, {} removed, {} failed",
        r.documents,
        r.indexed,
        r.unchanged,
        r.removed,
        r.failed.len()
    );
    println!(
        "  chunks:    {} written, {} embedded, {} reused from cache",
        r.chunks, r.embedded, r.reused
    );
    if r.indexed + r.removed == 0 && r.failed.is_empty() {
        println!("  nothing changed: no text was embedded");
    }
    let time = if r.elapsed_ms < 10_000 {
        format!("{} ms", r.elapsed_ms)
    } else {
        format!("{:.1} s", r.elapsed_ms as f64 / 1000.0)
    };
    println!(
        "  time:      {time} ({:.1} chunks/s)",
        r.chunks_per_second()
    );
    if let Some(crawl) = &r.crawl {
        print_crawl(crawl);
    }
    for f in &r.failed {
        println!("  error: {}: {}", f.name, f.reason);
    }
}

/// The crawl summary: counts by outcome, then the URLs that need a look
/// (errors, and skips other than the routine ones), at most 30.
pub fn print_crawl(c: &CrawlReport) {
    println!(
        "  crawl:     {} URLs seen, {} fetched ({:.1} MB) in {:.1} s{}",
        c.urls.len(),
        c.fetched,
        c.bytes as f64 / 1e6,
        c.elapsed_ms as f64 / 1000.0,
        if c.complete {
            String::new()
        } else {
            " (time budget reached: pages not reached were kept)".into()
        }
    );
    for (key, n) in &c.counts {
        println!("    {key:<28} {n}");
    }
    let notable: Vec<&UrlReport> = c
        .urls
        .iter()
        .filter(|u| matches!(u.outcome, UrlOutcome::Error { .. }))
        .collect();
    for u in notable.iter().take(30) {
        if let UrlOutcome::Error { message, .. } = &u.outcome {
            println!("    error: {}: {message}", u.url);
        }
    }
    if notable.len() > 30 {
        println!("    … {} more errors (see --json)", notable.len() - 30);
    }
}
