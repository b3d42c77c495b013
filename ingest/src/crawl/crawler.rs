//! The crawl itself: [`crawl`] sets up a [`Crawler`] (scope, robots.txt,
//! sitemaps, the frontier) and runs its fetch workers (`visit.rs`).

use super::fetch::{AllowList, Client, FetchError, Validators};
use super::options::{AGENT_TOKEN, CrawlOptions, CrawlState, CrawlTarget, PageState};
use super::output::{Crawl, Fetched};
use super::robots::Robots;
use super::urls::{Pattern, Scope};
use super::{fetch, page, urls};
use crate::report::{CrawlProgress, CrawlReport, SkipReason, UrlOutcome, UrlReport};
use crate::{Error, Result};
use quarry_formats::Registry;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};
use url::Url;

/// A URL waiting to be fetched.
pub(super) struct Queued {
    pub(super) url: Url,
    pub(super) depth: usize,
    pub(super) from: Option<String>,
    /// Pages of this URL's shape in the chain that led here.
    pub(super) chain: usize,
}

pub(super) struct Frontier {
    pub(super) queue: VecDeque<Queued>,
    pub(super) seen: HashSet<String>,
    /// Chain length of every fetched page, for its links.
    pub(super) chains: HashMap<String, usize>,
    pub(super) claimed: usize,
    pub(super) in_flight: usize,
    pub(super) next_request: Instant,
    pub(super) report: Vec<UrlReport>,
    pub(super) documents: Vec<Fetched>,
    pub(super) state: CrawlState,
    pub(super) progress: CrawlProgress,
    pub(super) bytes: u64,
    pub(super) out_of_time: bool,
}

/// A crawl in progress.
pub(super) struct Crawler<'a> {
    pub(super) options: &'a CrawlOptions,
    pub(super) target: &'a CrawlTarget,
    pub(super) registry: &'a Registry,
    pub(super) client: Client,
    pub(super) robots: Robots,
    /// Origin of the start URL, whose robots.txt is `robots`.
    pub(super) start_origin: String,
    /// robots.txt of other hosts in scope (`subdomains`), fetched when a
    /// first URL of theirs is met; an unreachable one disallows the host.
    pub(super) other_robots: Mutex<HashMap<String, Robots>>,
    pub(super) scope: Scope,
    pub(super) include: Vec<Pattern>,
    pub(super) exclude: Vec<Pattern>,
    pub(super) max_pages: usize,
    pub(super) delay: Duration,
    pub(super) deadline: Instant,
    pub(super) previous: &'a CrawlState,
    pub(super) spool: PathBuf,
    pub(super) frontier: Mutex<Frontier>,
    pub(super) wake: Condvar,
    pub(super) progress: &'a (dyn Fn(CrawlProgress) + Sync),
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
pub(super) fn fetch_robots(client: &Client, start: &Url) -> Result<Robots> {
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
pub(super) enum Fetch {
    Done {
        final_url: Url,
        response: fetch::Response,
    },
    Stopped(UrlOutcome, Option<String>),
}

pub(super) fn is_html(media_type: Option<&str>) -> bool {
    media_type.is_some_and(|m| {
        let m = m.to_ascii_lowercase();
        m.starts_with("text/html") || m.starts_with("application/xhtml")
    })
}

/// `YYYY-MM-DD…` as days since 1970-01-01.
pub(super) fn days_from_date(s: &str) -> Option<i64> {
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
pub(super) fn unchanged_since(lastmod: &str, fetched_at: i64) -> bool {
    days_from_date(lastmod.trim()).is_some_and(|d| (d + 1) * 86_400 + 14 * 3_600 <= fetched_at)
}

impl Crawler<'_> {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Frontier> {
        self.frontier
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a URL that will not be fetched.
    pub(super) fn skip(
        f: &mut Frontier,
        url: &str,
        depth: usize,
        from: Option<&str>,
        outcome: UrlOutcome,
    ) {
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
    pub(super) fn refuse(
        &self,
        url: &Url,
        depth: usize,
        chain: usize,
        seed: bool,
    ) -> Option<UrlOutcome> {
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

    pub(super) fn robots_check(&self, url: &Url) -> std::result::Result<(), String> {
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
    pub(super) fn discover(&self, url: &Url, depth: usize, from: Option<&str>, seed: bool) {
        let mut f = self.lock();
        self.discover_locked(&mut f, url, depth, from, seed);
    }

    /// The shape chain of `url` found on `from` (see `max_shape_chain`).
    pub(super) fn chain(f: &Frontier, url: &Url, from: Option<&str>) -> usize {
        match from.and_then(|p| Url::parse(p).ok()) {
            Some(parent) if urls::shape(&parent) == urls::shape(url) => {
                f.chains.get(parent.as_str()).copied().unwrap_or(0) + 1
            }
            _ => 0,
        }
    }

    pub(super) fn discover_locked(
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
    pub(super) fn unchanged_seed(&self, url: &Url, lastmod: Option<&str>) -> Option<PageState> {
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
    pub(super) fn sitemap_pages(&self, start: &Url) -> Vec<(Url, Option<String>)> {
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

    pub(super) fn follow_stored(&self, f: &mut Frontier, url: &Url, depth: usize, p: &PageState) {
        if !self.target.follow_links {
            return;
        }
        for link in &p.links {
            if let Some(l) = urls::normalize(link) {
                self.discover_locked(f, &l, depth + 1, Some(url.as_str()), false);
            }
        }
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
}
