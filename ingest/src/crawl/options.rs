//! What a crawl is asked to do ([`CrawlOptions`], [`CrawlTarget`]) and what it
//! remembers between syncs ([`CrawlState`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
