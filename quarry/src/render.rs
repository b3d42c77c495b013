//! Reports on a terminal: the progress bar, ingest and crawl reports.

use anyhow::{Result, bail};
use quarry_index::{JobRecord, SourceRecord};
use quarry_ingest::crawl::{CrawlProgress, CrawlReport, UrlOutcome, UrlReport};
use quarry_ingest::{IngestReport, Outcome, Progress};
use quarry_query::QueryResponse;

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

/// The reports of sync jobs (`quarry sync`, locally or through a server):
/// each as it ends, or all as JSON; a job without a report is an error line.
pub fn print_sync_reports(
    jobs: impl IntoIterator<Item = Result<JobRecord>>,
    json: bool,
) -> Result<()> {
    let mut reports = Vec::new();
    for job in jobs {
        match job_report(&job?) {
            Ok(report) => {
                if !json {
                    print_report(&report);
                }
                reports.push(report);
            }
            Err(e) => eprintln!("error: {e:#}"),
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else if reports.is_empty() {
        println!("nothing to sync");
    }
    Ok(())
}

/// A query response for a terminal: the decision, then each passage with
/// its citation.
pub fn print_answer(response: &QueryResponse) {
    println!(
        "decision: {} (confidence {:.2}, top similarity {:.3}, language {})",
        decision_word(response),
        response.confidence,
        response.details.top_similarity,
        response.language
    );
    for (i, p) in response.passages.iter().enumerate() {
        println!();
        match &p.citation {
            Some(c) => println!(
                "[{}] {:.3}  {}  ({})",
                i + 1,
                p.score,
                c.url,
                std::iter::once(c.title.clone().unwrap_or_default())
                    .chain(c.heading_path.iter().cloned())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" › ")
            ),
            None => println!(
                "[{}] {:.3}  (citations off for this source)",
                i + 1,
                p.score
            ),
        }
        if let Some(q) = &p.question {
            println!("    short answer to: {q}");
        }
        let text: String = p.text.chars().take(400).collect();
        let ellipsis = if p.text.chars().count() > 400 {
            " …"
        } else {
            ""
        };
        println!("    {}{ellipsis}", text.replace('\n', "\n    "));
    }
}

fn decision_word(response: &QueryResponse) -> String {
    serde_json::to_value(response.decision)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The sources, one line each, with readable times.
pub fn print_sources(sources: &[SourceRecord], now: i64) {
    let when = |t: Option<i64>| t.map_or_else(|| "-".to_owned(), |t| when(t, now));
    for s in sources {
        println!(
            "{}  {}  {}  last sync {}  next {}{}",
            s.id,
            s.kind.as_str(),
            s.status.as_str(),
            when(s.last_sync_at),
            when(s.next_sync_at),
            s.last_error
                .as_ref()
                .map(|e| format!("  error: {e}"))
                .unwrap_or_default()
        );
    }
}

/// `2026-12-05 04:36 UTC (3 h ago)` / `(in 6 d)`.
pub fn when(t: i64, now: i64) -> String {
    let secs = t.rem_euclid(86_400);
    let delta = t - now;
    let span = |s: i64| match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    };
    let relative = if delta.abs() < 5 {
        "now".to_owned()
    } else if delta < 0 {
        format!("{} ago", span(-delta))
    } else {
        format!("in {}", span(delta))
    };
    format!(
        "{} {:02}:{:02} UTC ({relative})",
        quarry_index::questions::day_of(t),
        secs / 3600,
        secs % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_dates_with_a_relative_hint() {
        assert_eq!(super::when(0, 0), "1970-01-01 00:00 UTC (now)");
        assert_eq!(
            super::when(1_796_445_360, 1_796_445_360 - 7200),
            "2026-12-05 04:36 UTC (in 2 h)"
        );
        assert_eq!(
            super::when(951_782_400, 951_782_400 + 3 * 86_400),
            "2000-02-29 00:00 UTC (3 d ago)"
        );
    }
}
