//! What the crawler reads from an HTML page: its links, its canonical URL
//! and its robots directives; and sitemaps.

use super::urls;
use scraper::{Html, Selector};
use url::Url;

/// Robots directives of a page (`<meta name="robots">`, a meta for our own
/// agent, or the `X-Robots-Tag` header).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Directives {
    pub noindex: bool,
    pub nofollow: bool,
}

impl Directives {
    /// Adds the directives of a `content` attribute or header value; ones
    /// addressed to another agent (`otherbot: noindex`) are ignored.
    pub fn add(&mut self, content: &str, agent: &str) {
        for token in content.split(',').map(|t| t.trim().to_ascii_lowercase()) {
            let token = match token.split_once(':') {
                Some((who, what)) if who.trim() == agent => what.trim().to_owned(),
                Some(_) => continue,
                None => token,
            };
            match token.as_str() {
                "noindex" => self.noindex = true,
                "nofollow" => self.nofollow = true,
                "none" => {
                    self.noindex = true;
                    self.nofollow = true;
                }
                _ => {}
            }
        }
    }
}

/// An HTML page as the crawler sees it.
#[derive(Debug, Clone, Default)]
pub struct PageInfo {
    /// Normalised absolute links, in document order, without duplicates;
    /// `rel=nofollow` links left out.
    pub links: Vec<Url>,
    pub canonical: Option<Url>,
    pub directives: Directives,
}

/// Reads links, canonical and robots meta from an HTML page at `base`
/// (a `<base href>` in the page wins).
pub fn analyse(html: &str, base: &Url, agent: &str) -> PageInfo {
    let doc = Html::parse_document(html);
    let sel = |s: &str| Selector::parse(s).expect("static selector");
    let base = doc
        .select(&sel("base[href]"))
        .next()
        .and_then(|b| b.value().attr("href"))
        .and_then(|h| base.join(h).ok())
        .unwrap_or_else(|| base.clone());
    let mut info = PageInfo::default();
    for meta in doc.select(&sel("meta[name][content]")) {
        let name = meta
            .value()
            .attr("name")
            .unwrap_or_default()
            .to_ascii_lowercase();
        if name == "robots" || name == agent {
            info.directives
                .add(meta.value().attr("content").unwrap_or_default(), agent);
        }
    }
    info.canonical = doc
        .select(&sel("link[rel][href]"))
        .find(|l| {
            l.value().attr("rel").is_some_and(|r| {
                r.split_whitespace()
                    .any(|t| t.eq_ignore_ascii_case("canonical"))
            })
        })
        .and_then(|l| urls::resolve(&base, l.value().attr("href").unwrap_or_default()));
    if info.directives.nofollow {
        return info;
    }
    let mut seen = std::collections::HashSet::new();
    for a in doc.select(&sel("a[href], area[href], iframe[src], frame[src]")) {
        let v = a.value();
        if v.attr("rel").is_some_and(|r| {
            r.split_whitespace()
                .any(|t| t.eq_ignore_ascii_case("nofollow"))
        }) {
            continue;
        }
        let Some(href) = v.attr("href").or_else(|| v.attr("src")) else {
            continue;
        };
        if let Some(url) = urls::resolve(&base, href)
            && seen.insert(url.as_str().to_owned())
        {
            info.links.push(url);
        }
    }
    info
}

/// One `<url>` or `<sitemap>` entry of a sitemap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitemapEntry {
    pub loc: String,
    pub lastmod: Option<String>,
}

/// A parsed sitemap: page entries, or (a sitemap index) nested sitemaps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sitemap {
    pub pages: Vec<SitemapEntry>,
    pub sitemaps: Vec<SitemapEntry>,
}

/// Parses a sitemap or sitemap index (XML; a plain list of URLs, one per
/// line, is accepted too).
pub fn parse_sitemap(bytes: &[u8]) -> Sitemap {
    let mut map = Sitemap::default();
    let text = String::from_utf8_lossy(bytes);
    if !text.trim_start().starts_with('<') {
        map.pages = text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("http"))
            .map(|l| SitemapEntry {
                loc: l.to_owned(),
                lastmod: None,
            })
            .collect();
        return map;
    }
    use quarry_formats::xmlevents::{XmlEvent, parse};
    let Ok(events) = parse(&text, 16, "sitemap") else {
        return map;
    };
    let mut path: Vec<&str> = Vec::new();
    let (mut loc, mut lastmod) = (None::<String>, None::<String>);
    for event in &events {
        match event {
            XmlEvent::Start { name, .. } => {
                if name == "url" || name == "sitemap" {
                    loc = None;
                    lastmod = None;
                }
                path.push(name);
            }
            XmlEvent::End { name } => {
                path.pop();
                if let (Some(l), "url" | "sitemap") = (&loc, name.as_str()) {
                    let entry = SitemapEntry {
                        loc: l.clone(),
                        lastmod: lastmod.clone(),
                    };
                    if name == "url" {
                        map.pages.push(entry);
                    } else {
                        map.sitemaps.push(entry);
                    }
                }
            }
            XmlEvent::Text(t) => match path.last().copied() {
                Some("loc") => loc = Some(t.trim().to_owned()),
                Some("lastmod") => lastmod = Some(t.trim().to_owned()),
                _ => {}
            },
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_canonical_and_robots() {
        let base = Url::parse("https://x.com/docs/page").unwrap();
        let html = r##"<html><head><link rel="canonical" href="/docs/main">
            <meta name="robots" content="noindex, follow"></head><body>
            <a href="a">A</a><a href="/b#frag">B</a><a href="/b">B again</a>
            <a href="https://other.org/">off</a><a rel="nofollow" href="/secret">no</a>
            <a href="mailto:x@y">mail</a></body></html>"##;
        let info = analyse(html, &base, "quarry");
        assert_eq!(info.canonical.unwrap().as_str(), "https://x.com/docs/main");
        assert!(info.directives.noindex && !info.directives.nofollow);
        let links: Vec<&str> = info.links.iter().map(Url::as_str).collect();
        assert_eq!(
            links,
            [
                "https://x.com/docs/a",
                "https://x.com/b",
                "https://other.org/"
            ]
        );
        let nofollow = analyse(
            r#"<meta name="robots" content="nofollow"><a href="/x">x</a>"#,
            &base,
            "quarry",
        );
        assert!(nofollow.links.is_empty());
        let mut d = Directives::default();
        d.add("otherbot: none", "quarry");
        assert!(!d.noindex);
        d.add("quarry: noindex", "quarry");
        assert!(d.noindex && !d.nofollow);
    }

    #[test]
    fn sitemaps_and_indexes() {
        let map = parse_sitemap(
            br#"<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
            <url><loc> https://x.com/a </loc><lastmod>2026-01-02</lastmod></url>
            <url><loc>https://x.com/b</loc></url></urlset>"#,
        );
        assert_eq!(map.pages.len(), 2);
        assert_eq!(map.pages[0].loc, "https://x.com/a");
        assert_eq!(map.pages[0].lastmod.as_deref(), Some("2026-01-02"));
        let index = parse_sitemap(
            br#"<sitemapindex><sitemap><loc>https://x.com/s1.xml</loc></sitemap></sitemapindex>"#,
        );
        assert_eq!(index.sitemaps[0].loc, "https://x.com/s1.xml");
        assert_eq!(
            parse_sitemap(b"https://x.com/p\nhttps://x.com/q\n")
                .pages
                .len(),
            2
        );
    }
}
