//! What a run reports: [`IngestReport`] (one sync of a source, with its
//! [`CrawlReport`] for web sources), the per-document [`Outcome`]s, and the
//! [`Progress`] a caller watches. The pipeline, the crawler and the syncer
//! all write these; they live here so none of those imports another for
//! its report.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Prefix of the error a refused address produces (the crawler's SSRF
/// guard), recognised in reports.
pub const REFUSED: &str = "refused: resolves to a private or reserved address";

/// What happened to one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Indexed { chunks: usize },
    Unchanged,
    Failed { reason: String },
}

/// A document that could not be ingested, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub uri: String,
    pub name: String,
    pub reason: String,
}

/// The result of one run, printed by the CLI and returned by the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    pub source_id: String,
    /// Documents the source listed.
    pub documents: usize,
    pub indexed: usize,
    pub unchanged: usize,
    pub removed: usize,
    pub failed: Vec<Failure>,
    /// Chunks written for the indexed documents.
    pub chunks: usize,
    /// Texts the model embedded in this run.
    pub embedded: usize,
    /// Chunks written whose vector was not computed for them: from the
    /// embedding cache, or shared with an identical chunk of this run.
    pub reused: usize,
    pub elapsed_ms: u64,
    /// Time the embed workers spent in the model, summed over workers.
    pub embed_busy_ms: u64,
    /// For `url` and `site` sources: what happened to every URL seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crawl: Option<CrawlReport>,
}

impl IngestReport {
    /// Why the run as a whole failed although it ran: every document it
    /// listed failed (an unsupported upload, an article with no text), or
    /// a crawl fetched nothing because every URL it tried was an error
    /// (a refused address, a 404). That error is added to `failed` so
    /// every report reader sees it. `None` when something was indexed,
    /// unchanged or removed.
    pub fn fail_if_nothing_worked(&mut self) -> Option<String> {
        if self.indexed + self.unchanged + self.removed > 0 {
            return None;
        }
        if let Some(crawl) = &self.crawl
            && self.failed.is_empty()
            && self.documents == 0
        {
            let errors: Vec<&UrlReport> = crawl
                .urls
                .iter()
                .filter(|u| matches!(u.outcome, UrlOutcome::Error { .. }))
                .collect();
            let first = errors.first()?;
            let UrlOutcome::Error { message, .. } = &first.outcome else {
                return None;
            };
            self.failed.push(Failure {
                uri: first.url.clone(),
                name: first.url.clone(),
                reason: message.clone(),
            });
            self.documents = self.documents.max(1);
        }
        if self.failed.is_empty() || self.failed.len() < self.documents {
            return None;
        }
        let reasons: Vec<String> = self
            .failed
            .iter()
            .take(3)
            .map(|f| format!("{}: {}", f.name, f.reason))
            .collect();
        let more = self.failed.len().saturating_sub(3);
        Some(if more > 0 {
            format!("{} (and {more} more)", reasons.join("; "))
        } else {
            reasons.join("; ")
        })
    }

    /// Chunks written per second of wall time.
    pub fn chunks_per_second(&self) -> f64 {
        self.chunks as f64 / (self.elapsed_ms.max(1) as f64 / 1000.0)
    }
}

/// Receives progress; the CLI draws a bar with it.
pub trait Progress: Send + Sync {
    fn started(&self, _documents: usize) {}
    fn finished(&self, _name: &str, _outcome: &Outcome) {}
    /// A crawl's counters, while it fetches (before `started`).
    fn crawling(&self, _progress: &CrawlProgress) {}
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Why a URL was not fetched or not indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Disallowed by robots.txt.
    Robots,
    /// Matched an exclude pattern, or no include pattern.
    Excluded,
    OffDomain,
    /// The page limit was reached.
    LimitReached,
    /// Deeper than `max_depth` link hops.
    TooDeep,
    /// Reached by another URL already (a redirect target).
    Duplicate,
    /// Its canonical URL is another page.
    Canonical,
    Noindex,
    TooLarge,
    UnsupportedType,
    /// Looks like a spider trap.
    Trap,
    /// The crawl's time budget ran out first.
    TimeBudget,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Robots => "robots",
            SkipReason::Excluded => "excluded",
            SkipReason::OffDomain => "off_domain",
            SkipReason::LimitReached => "limit_reached",
            SkipReason::TooDeep => "too_deep",
            SkipReason::Duplicate => "duplicate",
            SkipReason::Canonical => "canonical",
            SkipReason::Noindex => "noindex",
            SkipReason::TooLarge => "too_large",
            SkipReason::UnsupportedType => "unsupported_type",
            SkipReason::Trap => "trap",
            SkipReason::TimeBudget => "time_budget",
        }
    }
}

/// What happened to one URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum UrlOutcome {
    /// Fetched; the ingest outcome is not known yet.
    Fetched,
    Indexed {
        chunks: usize,
    },
    /// Not modified (304, sitemap `lastmod`, or the same content).
    Unchanged,
    Skipped {
        reason: SkipReason,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// HTTP error, network error, refused address, redirect loop, or a
    /// document that failed to parse.
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        message: String,
    },
}

impl UrlOutcome {
    /// `indexed`, `unchanged`, `skipped:robots`, `error:404`, `error`…
    pub fn key(&self) -> String {
        match self {
            UrlOutcome::Fetched => "fetched".into(),
            UrlOutcome::Indexed { .. } => "indexed".into(),
            UrlOutcome::Unchanged => "unchanged".into(),
            UrlOutcome::Skipped { reason, .. } => format!("skipped:{}", reason.as_str()),
            UrlOutcome::Error {
                status: Some(s), ..
            } => format!("error:{s}"),
            UrlOutcome::Error { message, .. } if message.starts_with(REFUSED) => {
                "error:refused".into()
            }
            UrlOutcome::Error { .. } => "error".into(),
        }
    }

    pub(crate) fn skipped(reason: SkipReason, detail: impl Into<Option<String>>) -> Self {
        UrlOutcome::Skipped {
            reason,
            detail: detail.into(),
        }
    }

    pub(crate) fn error(status: Option<u16>, message: impl Into<String>) -> Self {
        UrlOutcome::Error {
            status,
            message: message.into(),
        }
    }
}

/// One line of the crawl report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlReport {
    pub url: String,
    #[serde(flatten)]
    pub outcome: UrlOutcome,
    /// Where redirects ended, when elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_url: Option<String>,
    /// Link hops from the start URL.
    pub depth: usize,
    /// The page that linked here (none for seeds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_on: Option<String>,
}

/// What a crawl did, URL by URL: printed by the CLI, kept with the job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CrawlReport {
    pub start_url: String,
    /// Count per outcome key (see [`UrlOutcome::key`]).
    pub counts: BTreeMap<String, usize>,
    /// Pages requested (robots.txt and sitemaps not counted; a refused
    /// address is not requested).
    pub fetched: usize,
    pub bytes: u64,
    pub sitemap_urls: usize,
    /// False when the time budget ran out: pages not reached were kept.
    pub complete: bool,
    pub elapsed_ms: u64,
    pub urls: Vec<UrlReport>,
}

impl CrawlReport {
    /// Recomputes `counts` from `urls`.
    pub fn recount(&mut self) {
        self.counts.clear();
        for u in &self.urls {
            *self.counts.entry(u.outcome.key()).or_default() += 1;
        }
    }

    /// Sets the ingest outcome of fetched documents (by URL).
    pub fn apply_ingest(&mut self, outcomes: &HashMap<String, Outcome>) {
        for u in &mut self.urls {
            let key = u.final_url.as_ref().unwrap_or(&u.url);
            if let Some(o) = outcomes.get(key)
                && matches!(u.outcome, UrlOutcome::Fetched | UrlOutcome::Unchanged)
            {
                u.outcome = match o {
                    Outcome::Indexed { chunks } => UrlOutcome::Indexed { chunks: *chunks },
                    Outcome::Unchanged => UrlOutcome::Unchanged,
                    Outcome::Failed { reason } => UrlOutcome::error(None, reason.clone()),
                };
            }
        }
        self.recount();
    }

    /// The one entry for a URL (tests and the API).
    pub fn get(&self, url: &str) -> Option<&UrlReport> {
        self.urls.iter().find(|u| u.url == url)
    }
}

/// Counters for a progress display.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrawlProgress {
    pub fetched: usize,
    pub queued: usize,
    pub skipped: usize,
    pub errors: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_keys_and_json() {
        let o = UrlOutcome::skipped(SkipReason::Robots, "Disallow: /private/".to_owned());
        assert_eq!(o.key(), "skipped:robots");
        let r = UrlReport {
            url: "https://x.com/p".into(),
            outcome: o,
            final_url: None,
            depth: 2,
            found_on: None,
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["outcome"], "skipped");
        assert_eq!(v["reason"], "robots");
        assert_eq!(UrlOutcome::error(Some(404), "HTTP 404").key(), "error:404");
    }
}
