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

mod crawler;
pub mod fetch;
mod options;
mod output;
pub mod page;
pub mod robots;
pub mod urls;
mod visit;

pub use crate::report::{CrawlProgress, CrawlReport, SkipReason, UrlOutcome, UrlReport};
pub use crawler::crawl;
pub use options::{AGENT_TOKEN, CrawlOptions, CrawlState, CrawlTarget, PageState};
pub use output::{Crawl, CrawlSource};
