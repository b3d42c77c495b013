//! A fetch worker's loop: take a URL off the frontier, fetch it (following
//! redirects, each hop checked), and record the page, its links and its
//! state.

use super::crawler::{Crawler, Fetch, Queued, is_html};
use super::fetch::{FetchError, Validators};
use super::options::{AGENT_TOKEN, PageState};
use super::output::Fetched;
use super::{page, urls};
use crate::report::{SkipReason, UrlOutcome, UrlReport};
use std::time::Instant;
use url::Url;

impl Crawler<'_> {
    /// A fetch worker: takes URLs until the frontier is empty and nothing
    /// is in flight, or time is up.
    pub(super) fn work(&self) {
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
    pub(super) fn fetch_following(&self, url: &Url, previous: Option<&PageState>) -> Fetch {
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
    pub(super) fn visit(&self, url: &Url, depth: usize, from: Option<&str>) -> bool {
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
