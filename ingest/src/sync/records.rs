//! Helpers on source records that the management code and the kinds of
//! source share: ids and specs of new sources, upload pairing, writing a
//! source.

use crate::crawl::CrawlTarget;
use crate::source::media_kind;
use crate::{Error, Result};
use quarry_index::{KnowledgeBase, SourceBlob, SourceRecord, SourceSettings, SourceSpec, WriteOp};
use std::path::Path;

/// The crawl a `url` or `site` spec asks for.
pub(super) fn crawl_target(spec: &SourceSpec) -> Option<CrawlTarget> {
    match spec {
        SourceSpec::Url { url } => Some(CrawlTarget {
            url: url.clone(),
            follow_links: false,
            ..CrawlTarget::default()
        }),
        SourceSpec::Site {
            url,
            max_pages,
            max_depth,
            include,
            exclude,
            subdomains,
        } => Some(CrawlTarget {
            url: url.clone(),
            follow_links: true,
            max_pages: *max_pages,
            max_depth: *max_depth,
            include: include.clone(),
            exclude: exclude.clone(),
            subdomains: *subdomains,
        }),
        _ => None,
    }
}

/// Id and normalised spec of a `url` or `site` source: one source per
/// start URL and kind, so importing a site twice updates it.
pub(super) fn web_source(spec: &SourceSpec) -> Result<(String, SourceSpec)> {
    let target = crawl_target(spec).ok_or_else(|| Error::Invalid("not a web source".into()))?;
    let url = crate::crawl::urls::normalize(&target.url).ok_or_else(|| {
        Error::Invalid(format!(
            "not an absolute http(s) URL: {:?}",
            target.url.trim()
        ))
    })?;
    let mut spec = spec.clone();
    let kind = match &mut spec {
        SourceSpec::Url { url: u } => {
            *u = url.to_string();
            "url"
        }
        SourceSpec::Site { url: u, .. } => {
            *u = url.to_string();
            "site"
        }
        _ => unreachable!("crawl_target accepted it"),
    };
    Ok((format!("{kind}:{url}"), spec))
}

/// Name of the stored crawl state of a web source.
pub(crate) const CRAWL_STATE: &str = "crawl-state.json";

/// A source's record with a new spec: the stored one (keeping its id,
/// schedule and status, and its settings when `settings` is `None`), or a
/// new one with id `new_id`.
pub(super) fn with_spec(
    existing: Option<SourceRecord>,
    new_id: String,
    spec: SourceSpec,
    settings: Option<SourceSettings>,
) -> SourceRecord {
    match existing {
        Some(s) => SourceRecord {
            spec,
            settings: settings.unwrap_or(s.settings),
            ..s
        },
        None => SourceRecord::new(new_id, spec, settings.unwrap_or_default()),
    }
}

/// Id and spec of the source for a file or folder on this machine, by its
/// canonical path (so a later symlink change cannot move it).
pub(super) fn path_source(path: &Path) -> Result<(String, SourceSpec)> {
    let root = std::fs::canonicalize(path)
        .map_err(|e| Error::Source(format!("{}: {e}", path.display())))?;
    let spec = SourceSpec::File {
        path: Some(root.display().to_string()),
        upload: None,
    };
    Ok((crate::source::file_uri(&root), spec))
}

/// The upload that pairs with upload `name`: for a video, its subtitles
/// (`intro.vtt` / `intro.srt` for `intro.mp4`); for subtitles, their video.
/// Paired subtitles are the video's sidecar, not a document of their own.
pub(super) fn upload_partner(kb: &KnowledgeBase, name: &str) -> Result<Option<SourceRecord>> {
    let Some((stem, kind)) = media_kind(name) else {
        return Ok(None);
    };
    Ok(kb.sources()?.into_iter().find(|s| {
        upload_name(s)
            .and_then(media_kind)
            .is_some_and(|(other_stem, other)| other_stem == stem && other != kind)
    }))
}

pub(super) fn upload_name(record: &SourceRecord) -> Option<&str> {
    match &record.spec {
        SourceSpec::File {
            upload: Some(n), ..
        } => Some(n),
        _ => None,
    }
}

/// Writes a source (and its stored content) in one commit.
pub(crate) fn put_source(
    kb: &KnowledgeBase,
    record: &SourceRecord,
    blob: Option<SourceBlob>,
) -> Result<()> {
    kb.commit(&[WriteOp::PutSource {
        source: Box::new(record.clone()),
        blob,
    }])?;
    Ok(())
}
