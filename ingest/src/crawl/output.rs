//! The result of a crawl ([`Crawl`]) and its pages as a pipeline
//! [`Source`] ([`CrawlSource`]).

use super::fetch::{Client, Validators};
use super::options::CrawlState;
use crate::report::{CrawlReport, Outcome};
use crate::source::{ItemRef, RawItem, Source};
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::PathBuf;

/// A fetched document waiting for the pipeline.
#[derive(Debug, Clone)]
pub(super) struct Fetched {
    pub(super) url: String,
    /// Spooled body; `None` for a page known to be unchanged.
    pub(super) path: Option<PathBuf>,
    pub(super) size: u64,
    pub(super) media_type: Option<String>,
}

/// The result of a crawl: the report, the documents, the new state.
#[derive(Debug)]
pub struct Crawl {
    pub report: CrawlReport,
    pub state: CrawlState,
    pub(super) documents: Vec<Fetched>,
    /// URLs indexed before that this crawl did not reach but must keep.
    pub(super) kept: Vec<String>,
    pub(super) _spool: tempfile::TempDir,
    pub(super) client: Client,
    pub(super) source_id: String,
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
