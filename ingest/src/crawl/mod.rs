//! The crawler: one public page (`url` sources) or a whole site (`site`
//! sources, "import related URLs"), politely and safely, with a report of
//! what happened to every URL it saw.
//!
//! ```text
//! robots.txt ─▶ sitemaps ─▶ frontier (BFS by link hops) ─▶ N fetch workers
//!                               ▲            │ links            │ documents
//!                               └────────────┘                  ▼
//!                                              spool (temp files) ─▶ CrawlSource ─▶ Pipeline
//! ```
//!
//! A crawl fetches first and hands the pages to the ingest [`Pipeline`]
//! as a [`Source`]: parsing, chunking, embedding and the per-document
//! change detection are the same as for files. Fetching is cheap next to
//! embedding (hundreds of pages a second on loopback), so the two phases
//! cost about what a fully overlapped design would.
//!
//! - **Scope**: the start host (with or without `www.`), optionally its
//!   subdomains (same registrable domain by the public suffix list); URLs are
//!   normalised ([`urls::normalize`]); include/exclude patterns; a maximum
//!   depth in link hops; an exact page limit.
//! - **Politeness**: robots.txt (honoured by default, its crawl-delay too),
//!   a delay between requests, a concurrency limit, a request timeout, a
//!   maximum response size, a total time budget, a clear user agent.
//! - **Traps**: over-long URLs, deep or repetitive paths, too many query
//!   parameters, and chains of more than `max_shape_chain` pages that differ
//!   only in numbers, each linked from the one before (calendars, endless
//!   pagination), are skipped as traps; session parameters are stripped by
//!   normalisation.
//! - **Safety**: targets that resolve to loopback, private, link-local or
//!   metadata addresses are refused, checked after DNS resolution and on
//!   every redirect hop, unless the host is allow-listed.
//! - **Resync**: ETag / Last-Modified per URL, sent as conditional requests;
//!   a 304 or an unchanged content hash re-parses and re-embeds nothing; a
//!   sitemap `lastmod` older than the last fetch skips the request; 404/410
//!   removes the page; other errors keep what was indexed.
//!
//! [`Pipeline`]: crate::Pipeline

pub mod fetch;
pub mod page;
pub mod robots;
pub mod testsite;
pub mod urls;

use crate::pipeline::Outcome;
use crate::source::{ItemRef, RawItem, Source};
use crate::{Error, Result};
use fetch::{AllowList, Client, FetchError, Validators};
use quarry_formats::Registry;
use robots::Robots;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};
use url::Url;
use urls::{Pattern, Scope};

/// The user agent's product token, matched against robots.txt groups.
pub const AGENT_TOKEN: &str = "quarry";

/// Crawler settings (`[crawl]` in the config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrawlOptions {
    /// Pages fetched per crawl at most (each URL fetched counts once,
    /// errors included; redirects count as one).
    pub max_pages: usize,
    /// Link hops from the start URL; `None` = unlimited.
    pub max_depth: Option<usize>,
    /// Follow links to other subdomains of the start host's registrable
    /// domain (`docs.example.com` from `www.example.com`).
    pub subdomains: bool,
    /// Honour robots.txt and `noindex` / `nofollow`.
    pub respect_robots: bool,
    /// Seed the crawl from the site's sitemaps.
    pub sitemaps: bool,
    /// Requests in flight at once (one site, so this is per host).
    pub concurrency: usize,
    /// Milliseconds between two requests to the site; a robots.txt
    /// `Crawl-delay` raises it (up to `max_delay_ms`).
    pub delay_ms: u64,
    pub max_delay_ms: u64,
    /// Seconds one request may take, body included.
    pub timeout_secs: u64,
    /// Largest response read, in bytes.
    pub max_bytes: u64,
    /// Seconds a whole crawl may take; pages not reached by then keep what
    /// was indexed before.
    pub time_budget_secs: u64,
    pub max_redirects: usize,
    /// Longest chain of pages of one shape (URLs equal but for their
    /// numbers), each found on the one before: a calendar's "next month" or
    /// endless pagination. Longer chains are skipped as traps.
    pub max_shape_chain: usize,
    pub user_agent: String,
    /// Hosts (names or addresses) that may resolve to private, loopback or
    /// link-local addresses. Empty: none may.
    pub allow_hosts: Vec<String>,
}

impl Default for CrawlOptions {
    fn default() -> Self {
        Self {
            max_pages: 5_000,
            max_depth: None,
            subdomains: false,
            respect_robots: true,
            sitemaps: true,
            concurrency: 4,
            delay_ms: 0,
            max_delay_ms: 10_000,
            timeout_secs: 20,
            max_bytes: 32 * 1024 * 1024,
            time_budget_secs: 3_600,
            max_redirects: 10,
            max_shape_chain: 100,
            user_agent: format!(
                "{AGENT_TOKEN}/{} (support-content crawler; +https://example.invalid/quarry)",
                env!("CARGO_PKG_VERSION")
            ),
            allow_hosts: Vec::new(),
        }
    }
}

/// What one crawl covers: the start URL and, for a site, its scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrawlTarget {
    pub url: String,
    /// Follow links (a site) or fetch the one page (a URL).
    pub follow_links: bool,
    pub max_pages: Option<usize>,
    pub max_depth: Option<usize>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub subdomains: Option<bool>,
}

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
            UrlOutcome::Error { message, .. } if message.starts_with(fetch::REFUSED) => {
                "error:refused".into()
            }
            UrlOutcome::Error { .. } => "error".into(),
        }
    }

    fn skipped(reason: SkipReason, detail: impl Into<Option<String>>) -> Self {
        UrlOutcome::Skipped {
            reason,
            detail: detail.into(),
        }
    }

    fn error(status: Option<u16>, message: impl Into<String>) -> Self {
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

/// What the crawler remembers about a page between syncs (kept with the
/// source): validators for conditional requests and what the page was, so
/// a 304 still yields its links.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// Unix seconds of the fetch these validators came from.
    pub fetched_at: i64,
    /// `document`, `noindex` or `canonical`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
}

/// Per-URL state of a crawled source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrawlState {
    pub pages: BTreeMap<String, PageState>,
}

/// A fetched document waiting for the pipeline.
#[derive(Debug, Clone)]
struct Fetched {
    url: String,
    /// Spooled body; `None` for a page known to be unchanged.
    path: Option<PathBuf>,
    size: u64,
    media_type: Option<String>,
}

/// The result of a crawl: the report, the documents, the new state.
#[derive(Debug)]
pub struct Crawl {
    pub report: CrawlReport,
    pub state: CrawlState,
    documents: Vec<Fetched>,
    /// URLs indexed before that this crawl did not reach but must keep.
    kept: Vec<String>,
    _spool: tempfile::TempDir,
    client: Client,
    source_id: String,
}

/// A URL waiting to be fetched.
struct Queued {
    url: Url,
    depth: usize,
    from: Option<String>,
    /// Pages of this URL's shape in the chain that led here.
    chain: usize,
}

struct Frontier {
    queue: VecDeque<Queued>,
    seen: HashSet<String>,
    /// Chain length of every fetched page, for its links.
    chains: HashMap<String, usize>,
    claimed: usize,
    in_flight: usize,
    next_request: Instant,
    report: Vec<UrlReport>,
    documents: Vec<Fetched>,
    state: CrawlState,
    progress: CrawlProgress,
    bytes: u64,
    out_of_time: bool,
}

/// A crawl in progress.
struct Crawler<'a> {
    options: &'a CrawlOptions,
    target: &'a CrawlTarget,
    registry: &'a Registry,
    client: Client,
    robots: Robots,
    /// Origin of the start URL, whose robots.txt is `robots`.
    start_origin: String,
    /// robots.txt of other hosts in scope (`subdomains`), fetched when a
    /// first URL of theirs is met; an unreachable one disallows the host.
    other_robots: Mutex<HashMap<String, Robots>>,
    scope: Scope,
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
    max_pages: usize,
    delay: Duration,
    deadline: Instant,
    previous: &'a CrawlState,
    spool: PathBuf,
    frontier: Mutex<Frontier>,
    wake: Condvar,
    progress: &'a (dyn Fn(CrawlProgress) + Sync),
}

/// Crawls `target`. `previous` is the state of the last sync (validators);
/// `progress` is called as pages are fetched.
pub fn crawl(
    target: &CrawlTarget,
    options: &CrawlOptions,
    registry: &Registry,
    previous: &CrawlState,
    source_id: &str,
    progress: &(dyn Fn(CrawlProgress) + Sync),
) -> Result<Crawl> {
    let started = Instant::now();
    let start = urls::normalize(&target.url).ok_or_else(|| {
        Error::Invalid(format!(
            "not an absolute http(s) URL: {:?}",
            target.url.trim()
        ))
    })?;
    let client = Client::new(
        &options.user_agent,
        Duration::from_secs(options.timeout_secs.max(1)),
        options.max_bytes,
        AllowList::new(&options.allow_hosts),
    );
    let spool = tempfile::Builder::new()
        .prefix("quarry-crawl-")
        .tempdir()
        .map_err(|e| Error::Source(format!("cannot create a spool folder: {e}")))?;
    let robots = if options.respect_robots {
        fetch_robots(&client, &start)?
    } else {
        Robots::allow_all()
    };
    let delay_ms = robots
        .crawl_delay
        .map(|d| (d * 1000.0) as u64)
        .unwrap_or(0)
        .max(options.delay_ms)
        .min(options.max_delay_ms.max(options.delay_ms));
    let crawler = Crawler {
        options,
        target,
        registry,
        client: client.clone(),
        scope: Scope::new(&start, target.subdomains.unwrap_or(options.subdomains)),
        include: target.include.iter().map(|p| Pattern::new(p)).collect(),
        exclude: target.exclude.iter().map(|p| Pattern::new(p)).collect(),
        max_pages: if target.follow_links {
            target.max_pages.unwrap_or(options.max_pages).max(1)
        } else {
            1
        },
        delay: Duration::from_millis(delay_ms),
        deadline: started + Duration::from_secs(options.time_budget_secs.max(1)),
        previous,
        spool: spool.path().to_owned(),
        robots,
        start_origin: start.origin().ascii_serialization(),
        other_robots: Mutex::new(HashMap::new()),
        frontier: Mutex::new(Frontier {
            queue: VecDeque::new(),
            seen: HashSet::new(),
            chains: HashMap::new(),
            claimed: 0,
            in_flight: 0,
            next_request: Instant::now(),
            report: Vec::new(),
            documents: Vec::new(),
            state: CrawlState::default(),
            progress: CrawlProgress::default(),
            bytes: 0,
            out_of_time: false,
        }),
        wake: Condvar::new(),
        progress,
    };
    crawler.discover(&start, 0, None, true);
    let mut sitemap_urls = 0;
    if target.follow_links && options.sitemaps {
        let pages = crawler.sitemap_pages(&start);
        sitemap_urls = pages.len();
        let unchanged: Vec<(Url, PageState)> = pages
            .iter()
            .filter_map(|(url, lastmod)| {
                crawler
                    .unchanged_seed(url, lastmod.as_deref())
                    .map(|p| (url.clone(), p))
            })
            .collect();
        for (url, _) in &pages {
            crawler.discover(url, 1, None, false);
        }
        let mut f = crawler.lock();
        for (url, p) in &unchanged {
            crawler.follow_stored(&mut f, url, 1, p);
        }
    }
    let workers = if target.follow_links {
        options.concurrency.max(1)
    } else {
        1
    };
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| crawler.work());
        }
    });
    let frontier = crawler
        .frontier
        .into_inner()
        .map_err(|_| Error::Pipeline("a crawl worker panicked".into()))?;
    let complete = !frontier.out_of_time;
    let reached: HashSet<&str> = frontier.documents.iter().map(|d| d.url.as_str()).collect();
    // Pages indexed before and not reached: kept when the crawl was cut
    // short by time, or when this one URL failed for a passing reason.
    let transient: HashSet<&str> = frontier
        .report
        .iter()
        .filter(|u| match &u.outcome {
            UrlOutcome::Error { status, .. } => !matches!(status, Some(404 | 410)),
            UrlOutcome::Skipped { reason, .. } => *reason == SkipReason::TimeBudget,
            _ => false,
        })
        .map(|u| u.url.as_str())
        .collect();
    let kept: Vec<String> = previous
        .pages
        .iter()
        .filter(|(url, p)| {
            p.kind == "document"
                && !reached.contains(url.as_str())
                && (!complete || transient.contains(url.as_str()))
        })
        .map(|(url, _)| url.clone())
        .collect();
    let mut state = frontier.state;
    for url in &kept {
        if let Some(p) = previous.pages.get(url) {
            state.pages.insert(url.clone(), p.clone());
        }
    }
    let mut report = CrawlReport {
        start_url: start.to_string(),
        counts: BTreeMap::new(),
        fetched: frontier.progress.fetched,
        bytes: frontier.bytes,
        sitemap_urls,
        complete,
        elapsed_ms: started.elapsed().as_millis() as u64,
        urls: frontier.report,
    };
    report.recount();
    Ok(Crawl {
        report,
        state,
        documents: frontier.documents,
        kept,
        _spool: spool,
        client,
        source_id: source_id.to_owned(),
    })
}

/// robots.txt of the start URL's origin: 2xx parsed, 4xx (none) allows
/// everything, anything else stops the crawl (RFC 9309: an unreachable
/// robots.txt means "do not crawl now").
fn fetch_robots(client: &Client, start: &Url) -> Result<Robots> {
    let Ok(url) = start.join("/robots.txt") else {
        return Ok(Robots::allow_all());
    };
    let mut current = url;
    for _ in 0..5 {
        let response = match client.get(current.as_str(), &Validators::default(), &|_, _| true) {
            Ok(r) => r,
            // The pages will be refused too, each an error in the report.
            Err(FetchError::Refused(_)) => return Ok(Robots::allow_all()),
            Err(e) => {
                return Err(Error::Source(format!(
                    "{current}: {e}: the site cannot be crawled now; the sync is retried later"
                )));
            }
        };
        match response.status {
            200..=299 => {
                return Ok(Robots::parse(
                    &String::from_utf8_lossy(&response.body),
                    AGENT_TOKEN,
                ));
            }
            301 | 302 | 303 | 307 | 308 => {
                match response.location.and_then(|l| current.join(&l).ok()) {
                    Some(next) => current = next,
                    None => return Ok(Robots::allow_all()),
                }
            }
            400..=499 => return Ok(Robots::allow_all()),
            status => {
                return Err(Error::Source(format!(
                    "{current} answered {status}: the site asks not to be crawled now; the sync is retried later"
                )));
            }
        }
    }
    Ok(Robots::allow_all())
}

/// A fetch that ended somewhere: the final URL and response, or why not.
enum Fetch {
    Done {
        final_url: Url,
        response: fetch::Response,
    },
    Stopped(UrlOutcome, Option<String>),
}

fn is_html(media_type: Option<&str>) -> bool {
    media_type.is_some_and(|m| {
        let m = m.to_ascii_lowercase();
        m.starts_with("text/html") || m.starts_with("application/xhtml")
    })
}

/// `YYYY-MM-DD…` as days since 1970-01-01.
fn days_from_date(s: &str) -> Option<i64> {
    let y: i64 = s.get(0..4)?.parse().ok()?;
    let m: i64 = s.get(5..7)?.parse().ok()?;
    let d: i64 = s.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Whether a sitemap `lastmod` says the page has not changed since
/// `fetched_at`. Conservative: the whole `lastmod` day, plus 14 hours for
/// time zones, must lie before the fetch.
fn unchanged_since(lastmod: &str, fetched_at: i64) -> bool {
    days_from_date(lastmod.trim()).is_some_and(|d| (d + 1) * 86_400 + 14 * 3_600 <= fetched_at)
}

impl Crawler<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Frontier> {
        self.frontier
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a URL that will not be fetched.
    fn skip(f: &mut Frontier, url: &str, depth: usize, from: Option<&str>, outcome: UrlOutcome) {
        f.progress.skipped += 1;
        f.report.push(UrlReport {
            url: url.to_owned(),
            outcome,
            final_url: None,
            depth,
            found_on: from.map(str::to_owned),
        });
    }

    /// Why a URL is out of bounds, if it is (before any request).
    fn refuse(&self, url: &Url, depth: usize, chain: usize, seed: bool) -> Option<UrlOutcome> {
        if !seed && !self.scope.contains(url) {
            return Some(UrlOutcome::skipped(SkipReason::OffDomain, None));
        }
        if urls::skipped_by_extension(url) {
            return Some(UrlOutcome::skipped(
                SkipReason::UnsupportedType,
                urls::extension(url).map(|e| format!(".{e}")),
            ));
        }
        let s = url.as_str();
        if let Some(p) = self.exclude.iter().find(|p| p.matches(s)) {
            return Some(UrlOutcome::skipped(
                SkipReason::Excluded,
                format!("matches exclude pattern {:?}", p.as_str()),
            ));
        }
        if !seed && !self.include.is_empty() && !self.include.iter().any(|p| p.matches(s)) {
            return Some(UrlOutcome::skipped(
                SkipReason::Excluded,
                "matches no include pattern".to_owned(),
            ));
        }
        if let Err(rule) = self.robots_check(url) {
            return Some(UrlOutcome::skipped(SkipReason::Robots, rule));
        }
        if let Some(max) = self.target.max_depth.or(self.options.max_depth)
            && depth > max
        {
            return Some(UrlOutcome::skipped(
                SkipReason::TooDeep,
                format!("{depth} links from the start, the limit is {max}"),
            ));
        }
        if let Some(why) = urls::trap_reason(url) {
            return Some(UrlOutcome::skipped(SkipReason::Trap, why.to_owned()));
        }
        if chain > self.options.max_shape_chain {
            return Some(UrlOutcome::skipped(
                SkipReason::Trap,
                format!(
                    "the {chain}th page in a row whose URL differs only in numbers from the page linking to it"
                ),
            ));
        }
        None
    }

    fn robots_check(&self, url: &Url) -> std::result::Result<(), String> {
        if !self.options.respect_robots || !self.scope.contains(url) {
            return Ok(());
        }
        let mut path = url.path().to_owned();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        let origin = url.origin().ascii_serialization();
        if origin == self.start_origin {
            return self.robots.check(&path);
        }
        let mut others = self
            .other_robots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let robots = others.entry(origin.clone()).or_insert_with(|| {
            fetch_robots(&self.client, url).unwrap_or_else(|e| {
                tracing::warn!("{origin}: robots.txt unavailable, not crawling it: {e}");
                Robots::parse("User-agent: *\nDisallow: /\n", AGENT_TOKEN)
            })
        });
        robots
            .check(&path)
            .map_err(|rule| format!("{rule} ({origin}/robots.txt)"))
    }

    /// A link (or seed) found: queued, or recorded as skipped.
    fn discover(&self, url: &Url, depth: usize, from: Option<&str>, seed: bool) {
        let mut f = self.lock();
        self.discover_locked(&mut f, url, depth, from, seed);
    }

    /// The shape chain of `url` found on `from` (see `max_shape_chain`).
    fn chain(f: &Frontier, url: &Url, from: Option<&str>) -> usize {
        match from.and_then(|p| Url::parse(p).ok()) {
            Some(parent) if urls::shape(&parent) == urls::shape(url) => {
                f.chains.get(parent.as_str()).copied().unwrap_or(0) + 1
            }
            _ => 0,
        }
    }

    fn discover_locked(
        &self,
        f: &mut Frontier,
        url: &Url,
        depth: usize,
        from: Option<&str>,
        seed: bool,
    ) {
        if !f.seen.insert(url.as_str().to_owned()) {
            return;
        }
        let chain = Self::chain(f, url, from);
        if let Some(outcome) = self.refuse(url, depth, chain, seed) {
            Self::skip(f, url.as_str(), depth, from, outcome);
            return;
        }
        f.queue.push_back(Queued {
            url: url.clone(),
            depth,
            from: from.map(str::to_owned),
            chain,
        });
        f.progress.queued += 1;
        self.wake.notify_one();
    }

    /// A sitemap URL whose `lastmod` proves it unchanged since the last
    /// fetch: recorded as unchanged without a request, and its state
    /// returned (its stored links are followed once every such page is
    /// known, so they are not requested first).
    fn unchanged_seed(&self, url: &Url, lastmod: Option<&str>) -> Option<PageState> {
        let p = self.previous.pages.get(url.as_str())?;
        if p.kind != "document" || !unchanged_since(lastmod?, p.fetched_at) {
            return None;
        }
        let mut f = self.lock();
        if f.seen.contains(url.as_str())
            || f.claimed >= self.max_pages
            || self.refuse(url, 1, 0, false).is_some()
        {
            return None;
        }
        f.seen.insert(url.as_str().to_owned());
        f.claimed += 1;
        f.report.push(UrlReport {
            url: url.to_string(),
            outcome: UrlOutcome::Unchanged,
            final_url: None,
            depth: 1,
            found_on: None,
        });
        f.documents.push(Fetched {
            url: url.to_string(),
            path: None,
            size: 0,
            media_type: p.media_type.clone(),
        });
        f.state.pages.insert(url.to_string(), p.clone());
        Some(p.clone())
    }

    /// Page URLs from robots.txt's sitemaps, or `/sitemap.xml`, following
    /// sitemap indexes (two levels, 50 sitemaps at most).
    fn sitemap_pages(&self, start: &Url) -> Vec<(Url, Option<String>)> {
        let mut queue: VecDeque<(String, usize)> = self
            .robots
            .sitemaps
            .iter()
            .map(|s| (s.clone(), 0))
            .collect();
        if queue.is_empty()
            && let Ok(u) = start.join("/sitemap.xml")
        {
            queue.push_back((u.to_string(), 0));
        }
        let mut done = HashSet::new();
        let mut pages = Vec::new();
        while let Some((loc, level)) = queue.pop_front() {
            if done.len() >= 50 || !done.insert(loc.clone()) {
                continue;
            }
            let Some(url) = start
                .join(&loc)
                .ok()
                .and_then(|u| urls::normalize(u.as_str()))
            else {
                continue;
            };
            if !self.scope.contains(&url) {
                continue;
            }
            let Ok(response) = self
                .client
                .get(url.as_str(), &Validators::default(), &|_, _| true)
            else {
                continue;
            };
            if !(200..300).contains(&response.status) {
                continue;
            }
            let map = page::parse_sitemap(&response.body);
            if level < 2 {
                queue.extend(map.sitemaps.into_iter().map(|s| (s.loc, level + 1)));
            }
            for entry in map.pages {
                if let Some(u) = urls::normalize(&entry.loc) {
                    pages.push((u, entry.lastmod));
                }
            }
        }
        pages
    }

    fn follow_stored(&self, f: &mut Frontier, url: &Url, depth: usize, p: &PageState) {
        if !self.target.follow_links {
            return;
        }
        for link in &p.links {
            if let Some(l) = urls::normalize(link) {
                self.discover_locked(f, &l, depth + 1, Some(url.as_str()), false);
            }
        }
    }

    /// A fetch worker: takes URLs until the frontier is empty and nothing
    /// is in flight, or time is up.
    fn work(&self) {
        loop {
            let mut f = self.lock();
            let (url, depth, from, wait) = loop {
                if Instant::now() >= self.deadline {
                    f.out_of_time = true;
                    while let Some(Queued {
                        url, depth, from, ..
                    }) = f.queue.pop_front()
                    {
                        Self::skip(
                            &mut f,
                            url.as_str(),
                            depth,
                            from.as_deref(),
                            UrlOutcome::skipped(SkipReason::TimeBudget, None),
                        );
                    }
                    self.wake.notify_all();
                    return;
                }
                if let Some(Queued {
                    url,
                    depth,
                    from,
                    chain,
                }) = f.queue.pop_front()
                {
                    f.progress.queued = f.queue.len();
                    if f.claimed >= self.max_pages {
                        Self::skip(
                            &mut f,
                            url.as_str(),
                            depth,
                            from.as_deref(),
                            UrlOutcome::skipped(
                                SkipReason::LimitReached,
                                format!("{} pages", self.max_pages),
                            ),
                        );
                        continue;
                    }
                    f.claimed += 1;
                    f.in_flight += 1;
                    f.chains.insert(url.to_string(), chain);
                    let now = Instant::now();
                    let at = f.next_request.max(now);
                    f.next_request = at + self.delay;
                    break (url, depth, from, at - now);
                }
                if f.in_flight == 0 {
                    self.wake.notify_all();
                    return;
                }
                let left = self.deadline.saturating_duration_since(Instant::now());
                f = match self.wake.wait_timeout(f, left) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                };
            };
            drop(f);
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            let requested = self.visit(&url, depth, from.as_deref());
            let mut f = self.lock();
            f.in_flight -= 1;
            f.progress.fetched += usize::from(requested);
            let progress = f.progress;
            self.wake.notify_all();
            drop(f);
            (self.progress)(progress);
        }
    }

    /// Follows redirects from `url`, checking scope and robots at each hop.
    fn fetch_following(&self, url: &Url, previous: Option<&PageState>) -> Fetch {
        let mut current = url.clone();
        let mut chain = vec![url.to_string()];
        let accept = |status: u16, media_type: Option<&str>| {
            (200..300).contains(&status)
                && match media_type {
                    None => true,
                    Some(m) => {
                        is_html(Some(m))
                            || self.registry.supports_media_type(m)
                            || m.starts_with("application/octet-stream")
                            || m.starts_with("text/")
                    }
                }
        };
        for _ in 0..=self.options.max_redirects {
            let validators = match previous {
                Some(p) if chain.len() == 1 => Validators {
                    etag: p.etag.as_deref(),
                    last_modified: p.last_modified.as_deref(),
                },
                _ => Validators::default(),
            };
            let response = match self.client.get(current.as_str(), &validators, &accept) {
                Ok(r) => r,
                Err(FetchError::TooLarge(limit)) => {
                    return Fetch::Stopped(
                        UrlOutcome::skipped(
                            SkipReason::TooLarge,
                            format!("larger than {limit} bytes"),
                        ),
                        (chain.len() > 1).then(|| current.to_string()),
                    );
                }
                Err(e) => {
                    return Fetch::Stopped(
                        UrlOutcome::error(None, e.to_string()),
                        (chain.len() > 1).then(|| current.to_string()),
                    );
                }
            };
            if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
                return Fetch::Done {
                    final_url: current,
                    response,
                };
            }
            let Some(next) = response
                .location
                .as_deref()
                .and_then(|l| urls::resolve(&current, l))
            else {
                return Fetch::Stopped(
                    UrlOutcome::error(Some(response.status), "redirect without a usable Location"),
                    None,
                );
            };
            if chain.iter().any(|c| c == next.as_str()) {
                chain.push(next.to_string());
                return Fetch::Stopped(
                    UrlOutcome::error(
                        Some(response.status),
                        format!("redirect loop: {}", chain.join(" → ")),
                    ),
                    None,
                );
            }
            if !self.scope.contains(&next) {
                return Fetch::Stopped(
                    UrlOutcome::skipped(SkipReason::OffDomain, format!("redirects to {next}")),
                    Some(next.to_string()),
                );
            }
            if let Err(rule) = self.robots_check(&next) {
                return Fetch::Stopped(
                    UrlOutcome::skipped(SkipReason::Robots, format!("redirects to {next}: {rule}")),
                    Some(next.to_string()),
                );
            }
            chain.push(next.to_string());
            current = next;
        }
        Fetch::Stopped(
            UrlOutcome::error(
                None,
                format!("more than {} redirects", self.options.max_redirects),
            ),
            None,
        )
    }

    /// Fetches one URL and records what it was; false when no request
    /// could be made (a refused address).
    fn visit(&self, url: &Url, depth: usize, from: Option<&str>) -> bool {
        let previous = self.previous.pages.get(url.as_str());
        let fetched = self.fetch_following(url, previous);
        let mut f = self.lock();
        let entry = |outcome: UrlOutcome, final_url: Option<String>| UrlReport {
            url: url.to_string(),
            outcome,
            final_url,
            depth,
            found_on: from.map(str::to_owned),
        };
        let (final_url, response) = match fetched {
            Fetch::Stopped(outcome, final_url) => {
                let refused = outcome.key() == "error:refused" && final_url.is_none();
                if matches!(outcome, UrlOutcome::Error { .. }) {
                    f.progress.errors += 1;
                } else {
                    f.progress.skipped += 1;
                }
                f.report.push(entry(outcome, final_url));
                return !refused;
            }
            Fetch::Done {
                final_url,
                response,
            } => (final_url, response),
        };
        let moved = (final_url != *url).then(|| final_url.to_string());
        if moved.is_some() && !f.seen.insert(final_url.to_string()) {
            f.progress.skipped += 1;
            f.report.push(entry(
                UrlOutcome::skipped(SkipReason::Duplicate, format!("same page as {final_url}")),
                moved,
            ));
            return true;
        }
        f.bytes += response.body.len() as u64;
        let status = response.status;
        if status == 304 {
            match previous.cloned() {
                Some(p) if p.kind == "document" => {
                    f.report.push(entry(UrlOutcome::Unchanged, moved));
                    f.documents.push(Fetched {
                        url: final_url.to_string(),
                        path: None,
                        size: 0,
                        media_type: p.media_type.clone(),
                    });
                    self.follow_stored(&mut f, &final_url, depth, &p);
                    f.state.pages.insert(final_url.to_string(), p);
                }
                Some(p) => {
                    let reason = if p.kind == "canonical" {
                        SkipReason::Canonical
                    } else {
                        SkipReason::Noindex
                    };
                    f.report.push(entry(
                        UrlOutcome::skipped(reason, p.canonical.clone()),
                        moved,
                    ));
                    if let Some(c) = p.canonical.as_deref().and_then(urls::normalize) {
                        self.discover_locked(&mut f, &c, depth, Some(url.as_str()), false);
                    }
                    self.follow_stored(&mut f, &final_url, depth, &p);
                    f.state.pages.insert(final_url.to_string(), p);
                }
                None => {
                    f.progress.errors += 1;
                    f.report.push(entry(
                        UrlOutcome::error(Some(304), "304 without a conditional request"),
                        moved,
                    ));
                }
            }
            return true;
        }
        if !(200..300).contains(&status) {
            f.progress.errors += 1;
            f.report.push(entry(
                UrlOutcome::error(Some(status), format!("HTTP {status}")),
                moved,
            ));
            return true;
        }
        let media_type = response.content_type.clone();
        let html = is_html(media_type.as_deref())
            || (media_type.is_none() && response.body.starts_with(b"<"));
        let supported = html
            || media_type
                .as_deref()
                .is_some_and(|m| self.registry.supports_media_type(m))
            || urls::extension(&final_url).is_some_and(|e| self.registry.supports_extension(&e));
        if !supported || (response.body.is_empty() && !html) {
            f.progress.skipped += 1;
            f.report.push(entry(
                UrlOutcome::skipped(SkipReason::UnsupportedType, media_type.clone()),
                moved,
            ));
            return true;
        }
        let mut state = PageState {
            etag: response.etag.clone(),
            last_modified: response.last_modified.clone(),
            fetched_at: quarry_index::unix_now(),
            kind: "document".into(),
            canonical: None,
            media_type: media_type.clone(),
            links: Vec::new(),
        };
        let mut directives = page::Directives::default();
        if let Some(tag) = &response.x_robots_tag {
            directives.add(tag, AGENT_TOKEN);
        }
        if html {
            drop(f);
            let info = page::analyse(
                &String::from_utf8_lossy(&response.body),
                &final_url,
                AGENT_TOKEN,
            );
            f = self.lock();
            directives.noindex |= info.directives.noindex;
            directives.nofollow |= info.directives.nofollow;
            if !(directives.nofollow && self.options.respect_robots) {
                state.links = info
                    .links
                    .iter()
                    .filter(|l| self.scope.contains(l))
                    .map(Url::to_string)
                    .collect();
                if self.target.follow_links {
                    for link in &info.links {
                        self.discover_locked(
                            &mut f,
                            link,
                            depth + 1,
                            Some(final_url.as_str()),
                            false,
                        );
                    }
                }
            }
            if let Some(c) = info.canonical
                && c != final_url
                && self.scope.contains(&c)
                && self.target.follow_links
            {
                state.kind = "canonical".into();
                state.canonical = Some(c.to_string());
                f.progress.skipped += 1;
                f.report.push(entry(
                    UrlOutcome::skipped(SkipReason::Canonical, format!("canonical is {c}")),
                    moved,
                ));
                self.discover_locked(&mut f, &c, depth, Some(final_url.as_str()), false);
                f.state.pages.insert(final_url.to_string(), state);
                return true;
            }
        }
        if directives.noindex && self.options.respect_robots {
            state.kind = "noindex".into();
            f.progress.skipped += 1;
            f.report
                .push(entry(UrlOutcome::skipped(SkipReason::Noindex, None), moved));
            f.state.pages.insert(final_url.to_string(), state);
            return true;
        }
        let path = self.spool.join(format!("{}.body", f.documents.len()));
        if let Err(e) = std::fs::write(&path, &response.body) {
            f.progress.errors += 1;
            f.report.push(entry(
                UrlOutcome::error(None, format!("cannot spool the page: {e}")),
                moved,
            ));
            return true;
        }
        f.documents.push(Fetched {
            url: final_url.to_string(),
            path: Some(path),
            size: response.body.len() as u64,
            media_type,
        });
        f.report.push(entry(UrlOutcome::Fetched, moved));
        f.state.pages.insert(final_url.to_string(), state);
        true
    }
}

impl Crawl {
    /// Documents for the pipeline, as a [`Source`].
    pub fn source(&self) -> CrawlSource<'_> {
        CrawlSource { crawl: self }
    }

    /// Keeps the validators only of pages whose ingest succeeded, so a
    /// failed page is fetched in full next time.
    pub fn settle(&mut self, outcomes: &HashMap<String, Outcome>) {
        self.report.apply_ingest(outcomes);
        let failed: Vec<String> = outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Failed { .. }))
            .map(|(u, _)| u.clone())
            .collect();
        for url in failed {
            self.state.pages.remove(&url);
        }
    }
}

/// The pages of a finished crawl, fed to the ingest pipeline.
#[derive(Debug)]
pub struct CrawlSource<'a> {
    crawl: &'a Crawl,
}

impl Source for CrawlSource<'_> {
    fn id(&self) -> &str {
        &self.crawl.source_id
    }

    fn scan(&self) -> Result<Vec<ItemRef>> {
        let mut items: Vec<ItemRef> = self
            .crawl
            .documents
            .iter()
            .map(|d| ItemRef {
                url: Some(d.url.clone()),
                unchanged: d.path.is_none(),
                ..ItemRef::new(d.url.clone(), d.url.clone(), d.size)
            })
            .collect();
        items.extend(self.crawl.kept.iter().map(|u| ItemRef {
            url: Some(u.clone()),
            unchanged: true,
            ..ItemRef::new(u.clone(), u.clone(), 0)
        }));
        Ok(items)
    }

    fn fetch(&self, item: &ItemRef) -> Result<RawItem> {
        let doc = self.crawl.documents.iter().find(|d| d.url == item.uri);
        if let Some(Fetched {
            path: Some(path),
            media_type,
            ..
        }) = doc
        {
            let bytes = std::fs::read(path)
                .map_err(|e| Error::Document(format!("spooled page unreadable: {e}")))?;
            return Ok(RawItem {
                item: item.clone(),
                bytes,
                media_type: media_type.clone(),
                sidecar: None,
            });
        }
        // Unchanged, but the pipeline needs the bytes (its settings
        // changed): fetch it again without validators.
        let response = self
            .crawl
            .client
            .get(&item.uri, &Validators::default(), &|_, _| true)
            .map_err(|e| Error::Document(e.to_string()))?;
        if !(200..300).contains(&response.status) {
            return Err(Error::Document(format!("HTTP {}", response.status)));
        }
        Ok(RawItem {
            item: item.clone(),
            bytes: response.body,
            media_type: response.content_type,
            sidecar: None,
        })
    }

    fn is_complete(&self) -> bool {
        // Pages not reached were added to the scan as kept, so what the
        // scan lacks is gone from the site.
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lastmod_dates() {
        assert_eq!(days_from_date("1970-01-01"), Some(0));
        assert_eq!(days_from_date("2026-11-22"), Some(20_779));
        assert!(days_from_date("2026-13-01").is_none());
        let fetched = 20_779 * 86_400 + 3 * 86_400;
        assert!(unchanged_since("2026-11-22", fetched));
        assert!(unchanged_since("2026-11-22T10:00:00+02:00", fetched));
        assert!(!unchanged_since("2026-11-25", fetched));
        assert!(!unchanged_since("garbage", fetched));
    }

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
