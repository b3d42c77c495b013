//! The crawler against a generated website on 127.0.0.1: the outcome of
//! every awkward URL, the exact page limit, the private-address guard, and
//! resync (nothing re-embedded when nothing changed; an edited page alone
//! re-indexed; a deleted page gone from results). Model-free (hashing
//! embedder), so it runs in the default test suite.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use quarry_formats::Registry;
use quarry_index::{Catalog, HashEmbedder, IndexOptions, JobRecord, SourceSettings, SourceSpec};
use quarry_ingest::crawl::{CrawlOptions, CrawlReport, SkipReason, UrlOutcome};
use quarry_ingest::{IngestOptions, IngestReport, NoProgress, SyncOptions, Syncer};
use quarry_testsite::{self as testsite, TestSite};
use std::path::Path;
use std::sync::Arc;

fn pdf() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/formats/pdf/wal.pdf"))
        .unwrap()
}

fn options(allow_local: bool) -> CrawlOptions {
    CrawlOptions {
        allow_hosts: if allow_local {
            vec!["127.0.0.1".into()]
        } else {
            Vec::new()
        },
        timeout_secs: 1,
        max_bytes: 1024 * 1024,
        max_shape_chain: 10,
        concurrency: 4,
        ..CrawlOptions::default()
    }
}

fn syncer(data: &Path, crawl: CrawlOptions) -> Syncer {
    let embedder = Arc::new(HashEmbedder::new(64));
    let catalog = Arc::new(
        Catalog::open(
            data,
            Arc::new(quarry_index::Models::of(embedder)),
            IndexOptions::default(),
        )
        .unwrap(),
    );
    Syncer::new(
        catalog,
        Arc::new(Registry::default()),
        IngestOptions::default(),
        SyncOptions::default(),
    )
    .with_crawl(crawl)
}

fn site_spec(url: String, max_pages: Option<usize>) -> SourceSpec {
    SourceSpec::Site {
        url,
        max_pages,
        max_depth: None,
        include: Vec::new(),
        exclude: Vec::new(),
        subdomains: None,
    }
}

fn report(job: &JobRecord) -> IngestReport {
    assert!(job.error.is_none(), "job failed: {:?}", job.error);
    serde_json::from_value(job.report.clone().unwrap()).unwrap()
}

/// Ingests a web source whose job must fail (nothing worked), and returns
/// the report it keeps.
fn import_failing(syncer: &Syncer, spec: SourceSpec) -> (IngestReport, String) {
    let (source, job) = syncer
        .ingest_spec(
            "default",
            spec,
            SourceSettings::default(),
            true,
            &NoProgress,
        )
        .unwrap();
    assert_eq!(job.status, quarry_index::JobStatus::Failed, "{job:?}");
    let kb = syncer.kb("default").unwrap();
    let state = kb.source(&source.id).unwrap().unwrap();
    assert_eq!(state.status, quarry_index::SourceStatus::Error, "{state:?}");
    let report = serde_json::from_value(job.report.clone().unwrap()).unwrap();
    (report, job.error.unwrap_or_default())
}

/// Ingests a web source as the CLI does and returns the job's report.
fn import(syncer: &Syncer, spec: SourceSpec) -> IngestReport {
    let (_, job) = syncer
        .ingest_spec(
            "default",
            spec,
            SourceSettings::default(),
            true,
            &NoProgress,
        )
        .unwrap();
    report(&job)
}

fn crawl_of(r: &IngestReport) -> &CrawlReport {
    r.crawl.as_ref().unwrap()
}

fn outcome<'a>(c: &'a CrawlReport, url: &str) -> &'a UrlOutcome {
    &c.get(url)
        .unwrap_or_else(|| panic!("{url} is not in the report"))
        .outcome
}

fn is_skipped(o: &UrlOutcome, reason: SkipReason) -> bool {
    matches!(o, UrlOutcome::Skipped { reason: r, .. } if *r == reason)
}

fn top_uri(syncer: &Syncer, query: &str) -> String {
    let kb = syncer.kb("default").unwrap();
    let q = kb.embedder().embed_query(query).unwrap();
    kb.search(&q, 1, None).unwrap()[0].chunk.doc_uri.clone()
}

#[test]
fn every_awkward_url_gets_its_outcome() {
    let pages = 300;
    let site = TestSite::serve(testsite::build(pages, pdf())).unwrap();
    let data = tempfile::tempdir().unwrap();
    let syncer = syncer(data.path(), options(true));
    let r = import(&syncer, site_spec(site.url("/"), None));
    let c = crawl_of(&r);
    assert!(c.complete);
    let u = |p: &str| site.url(p);

    for i in 0..pages {
        assert!(
            matches!(outcome(c, &u(&format!("/docs/page-{i}"))), UrlOutcome::Indexed { chunks } if *chunks > 0),
            "page {i}: {:?}",
            c.get(&u(&format!("/docs/page-{i}")))
        );
    }
    assert!(matches!(outcome(c, &u("/")), UrlOutcome::Indexed { .. }));
    assert!(is_skipped(
        outcome(c, &u("/private/secret")),
        SkipReason::Robots
    ));
    assert_eq!(site.hits("/private/secret"), 0, "robots.txt is honoured");
    // The chain /r1 → /r2 → /r3 → /landing is one page, indexed once.
    let r1 = c.get(&u("/r1")).unwrap();
    assert!(matches!(r1.outcome, UrlOutcome::Indexed { .. }), "{r1:?}");
    assert_eq!(r1.final_url.as_deref(), Some(u("/landing").as_str()));
    assert!(
        matches!(outcome(c, &u("/loop-a")), UrlOutcome::Error { message, .. } if message.contains("redirect loop"))
    );
    assert!(is_skipped(
        outcome(c, &u("/docs/page-5-print")),
        SkipReason::Canonical
    ));
    assert!(is_skipped(outcome(c, &u("/internal")), SkipReason::Noindex));
    assert!(
        c.urls
            .iter()
            .any(|x| x.url.contains("/calendar/") && is_skipped(&x.outcome, SkipReason::Trap)),
        "the calendar is cut off as a trap"
    );
    assert!(
        c.urls
            .iter()
            .filter(|x| x.url.contains("/calendar/"))
            .count()
            <= 23,
        "the trap does not eat the budget"
    );
    assert!(
        matches!(outcome(c, &u("/slow")), UrlOutcome::Error { message, .. } if message.contains("timed out")),
        "{:?}",
        outcome(c, &u("/slow"))
    );
    assert!(matches!(
        outcome(c, &u("/missing")),
        UrlOutcome::Error {
            status: Some(404),
            ..
        }
    ));
    assert!(is_skipped(outcome(c, &u("/huge")), SkipReason::TooLarge));
    assert!(
        matches!(outcome(c, &u("/files/guide.pdf")), UrlOutcome::Indexed { chunks } if *chunks > 1),
        "linked documents are parsed: {:?}",
        outcome(c, &u("/files/guide.pdf"))
    );
    assert!(is_skipped(
        outcome(c, &u("/logo.png")),
        SkipReason::UnsupportedType
    ));
    assert_eq!(site.hits("/logo.png"), 0);
    assert!(is_skipped(
        outcome(c, "https://example.org/elsewhere"),
        SkipReason::OffDomain
    ));
    let orphan = c.get(&u("/orphan-from-sitemap")).unwrap();
    assert!(matches!(orphan.outcome, UrlOutcome::Indexed { .. }));
    assert!(orphan.found_on.is_none(), "seeded by the sitemap");
    // Tracking parameters and fragments collapse onto the page itself.
    assert!(
        c.urls
            .iter()
            .all(|x| !x.url.contains("utm_") && !x.url.contains('#'))
    );
    assert_eq!(site.hits("/docs/page-1"), 1);
    // Every URL once in the report, and the counts add up.
    let mut urls: Vec<&str> = c.urls.iter().map(|x| x.url.as_str()).collect();
    urls.sort_unstable();
    let n = urls.len();
    urls.dedup();
    assert_eq!(urls.len(), n, "no URL twice");
    assert_eq!(c.counts.values().sum::<usize>(), n);
    assert_eq!(c.counts["skipped:robots"], 1);

    // Searchable, with the page URL as the document.
    assert_eq!(
        top_uri(&syncer, "quarry137 setting button137"),
        u("/docs/page-137")
    );
}

#[test]
fn the_page_limit_is_exact() {
    let pages = 120;
    let site = TestSite::serve(testsite::build(pages, pdf())).unwrap();
    let data = tempfile::tempdir().unwrap();
    let syncer = syncer(data.path(), options(true));
    let r = import(&syncer, site_spec(site.url("/"), Some(40)));
    let c = crawl_of(&r);
    assert_eq!(c.fetched, 40);
    let took_a_slot = c
        .urls
        .iter()
        .filter(|x| {
            !matches!(
                x.outcome,
                UrlOutcome::Skipped {
                    reason: SkipReason::LimitReached
                        | SkipReason::Robots
                        | SkipReason::OffDomain
                        | SkipReason::UnsupportedType
                        | SkipReason::Trap
                        | SkipReason::Excluded,
                    ..
                }
            )
        })
        .count();
    assert_eq!(took_a_slot, 40);
    assert!(c.counts["skipped:limit_reached"] > 0);
    let kb = syncer.kb("default").unwrap();
    assert!(kb.stats().unwrap().store.documents <= 40);
    // Page requests: the 40 pages plus redirect hops, robots.txt, sitemap.
    assert!(site.requests() <= 40 + 10, "{} requests", site.requests());
}

#[test]
fn private_addresses_are_refused_without_the_allow_list() {
    let site = TestSite::serve(testsite::build(5, pdf())).unwrap();
    let data = tempfile::tempdir().unwrap();
    let syncer = syncer(data.path(), options(false));
    // Nothing could be fetched: the job fails with the reason, not `done`.
    let (r, error) = import_failing(&syncer, site_spec(site.url("/"), None));
    assert!(error.contains("refused"), "{error}");
    assert_eq!(r.failed.len(), 1, "{r:?}");
    let c = crawl_of(&r);
    assert!(
        matches!(outcome(c, &site.url("/")), UrlOutcome::Error { message, .. } if message.contains("private")),
        "{c:?}"
    );
    assert_eq!(c.counts["error:refused"], 1);
    assert_eq!(site.requests(), 0, "nothing is fetched from a refused host");
    assert_eq!(r.indexed, 0);

    // A single URL too; and a public name is no way around it.
    for url in [site.url("/docs/page-1"), "http://localhost:9/".to_owned()] {
        let (r, _) = import_failing(&syncer, SourceSpec::Url { url: url.clone() });
        assert_eq!(crawl_of(&r).counts.get("error:refused"), Some(&1), "{url}");
    }
    assert_eq!(site.requests(), 0);
}

#[test]
fn resync_reembeds_only_what_changed_and_drops_what_is_gone() {
    let pages = 30;
    let site = TestSite::serve(testsite::build(pages, pdf())).unwrap();
    let data = tempfile::tempdir().unwrap();
    let syncer = syncer(data.path(), options(true));
    let crawl = |syncer: &Syncer| import(syncer, site_spec(site.url("/"), None));
    let first = crawl(&syncer);
    assert!(first.indexed > pages);
    let kb = syncer.kb("default").unwrap();
    let documents = kb.stats().unwrap().store.documents;

    // Unchanged: pages the sitemap dates to 2001 are not requested at all;
    // the others get conditional requests, answered 304. Nothing is parsed
    // or embedded.
    let (home, page3) = (site.hits("/"), site.hits("/docs/page-3"));
    let second = crawl(&syncer);
    assert_eq!(
        site.hits("/docs/page-3"),
        page3,
        "sitemap lastmod: no request"
    );
    assert_eq!(
        site.hits("/"),
        home + 1,
        "not in the sitemap: a conditional request"
    );
    assert_eq!(second.embedded, 0, "{second:?}");
    assert_eq!(second.indexed, 0);
    assert_eq!(second.removed, 0);
    let c = crawl_of(&second);
    assert!(c.counts["unchanged"] > pages, "{:?}", c.counts);
    assert_eq!(kb.stats().unwrap().store.documents, documents);

    // One page edited: only it is indexed again.
    let mut edited = testsite::build(pages, Vec::new())["/docs/page-7"].clone();
    edited.body = String::from_utf8(edited.body)
        .unwrap()
        .replace(
            &testsite::fact(7),
            "Help page 7: the zanzibar7 switch now lives under the gearwheel7 menu.",
        )
        .into_bytes();
    site.set("/docs/page-7", edited);
    let page7 = site.hits("/docs/page-7");
    let third = crawl(&syncer);
    assert_eq!(
        site.hits("/docs/page-7"),
        page7 + 1,
        "a newer lastmod: fetched"
    );
    assert_eq!(third.indexed, 1, "{:?}", crawl_of(&third).counts);
    assert!(third.embedded >= 1 && third.embedded <= 2, "{third:?}");
    assert_eq!(
        top_uri(&syncer, "zanzibar7 gearwheel7"),
        site.url("/docs/page-7")
    );

    // One page deleted: 404, and it leaves the index.
    site.remove("/docs/page-8");
    let fourth = crawl(&syncer);
    assert_eq!(fourth.removed, 1, "{:?}", crawl_of(&fourth).counts);
    assert!(matches!(
        outcome(crawl_of(&fourth), &site.url("/docs/page-8")),
        UrlOutcome::Error {
            status: Some(404),
            ..
        }
    ));
    assert!(kb.document(&site.url("/docs/page-8")).unwrap().is_none());
    assert_ne!(
        top_uri(&syncer, "quarry8 setting button8"),
        site.url("/docs/page-8")
    );
    assert_eq!(fourth.embedded, 0);
}
