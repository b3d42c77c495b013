//! A web page (`url`) or a whole site (`site`): crawled, then run through
//! the pipeline; the crawl report goes into the ingest report and the
//! per-URL validators into the source's stored state.

use crate::Error;
use crate::Result;
use crate::crawl::{CrawlProgress, CrawlState, CrawlTarget};
use crate::pipeline::Pipeline;
use crate::report::Outcome;
use crate::report::{IngestReport, Progress};
use crate::source::OneItem;
use crate::sync::kind::Kind;
use crate::sync::records::{CRAWL_STATE, crawl_target, put_source, web_source};
use crate::sync::syncer::Syncer;
use quarry_index::SourceBlob;
use quarry_index::{KnowledgeBase, SourceRecord, SourceSpec};
use std::sync::Arc;
use std::sync::Mutex;

pub(in crate::sync) struct Web;

impl Kind for Web {
    fn identify(&self, spec: &SourceSpec) -> Result<(String, SourceSpec)> {
        web_source(spec)
    }

    fn sync(
        &self,
        syncer: &Syncer,
        kb: &Arc<KnowledgeBase>,
        record: &SourceRecord,
        uri: Option<&str>,
        progress: &dyn Progress,
        pipeline: &Pipeline,
    ) -> Result<IngestReport> {
        sync_web(syncer, kb, record, uri, progress, pipeline)
    }
}

/// Remembers each document's outcome by name (a crawled page's name is its
/// URL) for the crawl report, and passes progress on.
struct OutcomeRecorder<'a> {
    outcomes: &'a Mutex<std::collections::HashMap<String, Outcome>>,
    outer: &'a dyn Progress,
}

impl Progress for OutcomeRecorder<'_> {
    fn started(&self, documents: usize) {
        self.outer.started(documents);
    }

    fn finished(&self, name: &str, outcome: &Outcome) {
        if let Ok(mut o) = self.outcomes.lock() {
            o.insert(name.to_owned(), outcome.clone());
        }
        self.outer.finished(name, outcome);
    }

    fn crawling(&self, progress: &CrawlProgress) {
        self.outer.crawling(progress);
    }
}

/// Crawls a `url` or `site` source and runs what it fetched through the
/// pipeline; the crawl report goes into the ingest report, the per-URL
/// validators into the source's stored state.
fn sync_web(
    syncer: &Syncer,
    kb: &Arc<KnowledgeBase>,
    record: &SourceRecord,
    uri: Option<&str>,
    progress: &dyn Progress,
    pipeline: &Pipeline,
) -> Result<IngestReport> {
    let mut target = crawl_target(&record.spec)
        .ok_or_else(|| Error::Invalid(format!("source {} is not a web source", record.id)))?;
    if let Some(uri) = uri {
        // One page of the site again, as a single URL.
        target = CrawlTarget {
            url: uri.to_owned(),
            follow_links: false,
            ..CrawlTarget::default()
        };
    }
    let previous: CrawlState = kb
        .source_blob(&record.id)?
        .filter(|b| b.name == CRAWL_STATE)
        .and_then(|b| serde_json::from_slice(&b.bytes).ok())
        .unwrap_or_default();
    let on_progress = |p: CrawlProgress| progress.crawling(&p);
    let mut crawl = crate::crawl::crawl(
        &target,
        &syncer.crawl,
        &syncer.registry,
        &previous,
        &record.id,
        &on_progress,
    )?;
    let outcomes = Mutex::new(std::collections::HashMap::new());
    let recorder = OutcomeRecorder {
        outcomes: &outcomes,
        outer: progress,
    };
    let source = crawl.source();
    let mut report = match uri {
        Some(uri) => pipeline.run(
            &OneItem {
                source: &source,
                uri,
            },
            &recorder,
        )?,
        None => pipeline.run(&source, &recorder)?,
    };
    let outcomes = outcomes
        .into_inner()
        .map_err(|_| Error::Pipeline("crawl outcome recorder poisoned".into()))?;
    crawl.settle(&outcomes);
    let mut state = crawl.state.clone();
    if uri.is_some() {
        // A one-page resync updates that page's state only.
        let mut merged = previous;
        merged.pages.extend(std::mem::take(&mut state.pages));
        state = merged;
    }
    let bytes =
        serde_json::to_vec(&state).map_err(|e| Error::Pipeline(format!("crawl state: {e}")))?;
    if let Some(current) = kb.source(&record.id)? {
        put_source(
            kb,
            &current,
            Some(SourceBlob {
                name: CRAWL_STATE.into(),
                media_type: Some("application/json".into()),
                bytes,
            }),
        )?;
    }
    report.crawl = Some(crawl.report);
    Ok(report)
}
