//! A generated help-centre website served on 127.0.0.1, for the crawler's
//! tests and the crawl benchmark: a few hundred interlinked pages, a PDF,
//! robots.txt, a sitemap, and the awkward cases a real site has (redirect
//! chains and loops, a canonical duplicate, a noindex page, a calendar trap,
//! a slow page, a 404, an oversized page, tracking parameters, off-site
//! links). It answers conditional requests (ETag, 304), and pages can be
//! edited and deleted while it runs.
//!
//! A plain HTTP/1.1 server on `std::net`, one thread per connection, so
//! tests need no async runtime.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One response of the site.
#[derive(Debug, Clone)]
pub struct Resource {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// `Location` of a redirect.
    pub location: Option<String>,
    /// Seconds to wait before answering.
    pub delay_secs: u64,
}

impl Resource {
    pub fn html(body: String) -> Self {
        Self {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: body.into_bytes(),
            location: None,
            delay_secs: 0,
        }
    }

    fn redirect(status: u16, to: &str) -> Self {
        Self {
            status,
            content_type: "text/plain",
            body: Vec::new(),
            location: Some(to.to_owned()),
            delay_secs: 0,
        }
    }
}

/// The sentence on help page `i`: a fact a query can find.
pub fn fact(i: usize) -> String {
    format!(
        "Help page {i}: the quarry{i} setting controls feature number {i}, and it is reset by pressing button{i}."
    )
}

fn page(title: &str, body: &str, links: &[String]) -> String {
    let links: String = links
        .iter()
        .map(|l| format!("<li><a href=\"{l}\">{l}</a></li>"))
        .collect();
    format!(
        "<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1>\
         <p>{body}</p><nav><ul>{links}</ul></nav></body></html>"
    )
}

/// Builds the site: `pages` help pages under `/docs/`, and `pdf` served as
/// `/files/guide.pdf`.
pub fn build(pages: usize, pdf: Vec<u8>) -> HashMap<String, Resource> {
    let mut site = HashMap::new();
    let mut home_links: Vec<String> = (0..pages.min(10))
        .map(|i| format!("/docs/page-{i}"))
        .collect();
    home_links.extend(
        [
            "/private/secret",
            "/r1",
            "/loop-a",
            "/docs/page-5-print",
            "/internal",
            "/calendar/2026/11",
            "/slow",
            "/missing",
            "/huge",
            "/files/guide.pdf",
            "/logo.png",
            "https://example.org/elsewhere",
            "/docs/page-1?utm_source=newsletter&utm_medium=email",
            "/docs/page-2#install",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    site.insert(
        "/".into(),
        Resource::html(page(
            "Help centre",
            "Welcome to the help centre.",
            &home_links,
        )),
    );
    for i in 0..pages {
        let links: Vec<String> = [i + 1, i + 2, i + 7]
            .iter()
            .filter(|&&j| j < pages)
            .map(|j| format!("/docs/page-{j}"))
            .chain(std::iter::once("/".to_owned()))
            .collect();
        site.insert(
            format!("/docs/page-{i}"),
            Resource::html(page(&format!("Help page {i}"), &fact(i), &links)),
        );
    }
    site.insert(
        "/docs/page-5-print".into(),
        Resource::html(format!(
            "<html><head><title>Print</title><link rel=\"canonical\" href=\"/docs/page-5\"></head><body><p>{}</p></body></html>",
            fact(5)
        )),
    );
    site.insert(
        "/robots.txt".into(),
        Resource {
            content_type: "text/plain",
            ..Resource::html("User-agent: *\nDisallow: /private/\n\nSitemap: /sitemap.xml\n".into())
        },
    );
    site.insert(
        "/private/secret".into(),
        Resource::html(page("Secret", "Never crawled.", &[])),
    );
    site.insert("/r1".into(), Resource::redirect(301, "/r2"));
    site.insert("/r2".into(), Resource::redirect(302, "/r3"));
    site.insert("/r3".into(), Resource::redirect(307, "/landing"));
    site.insert(
        "/landing".into(),
        Resource::html(page(
            "Landing",
            "The landing page is reached through three redirects.",
            &[],
        )),
    );
    site.insert("/loop-a".into(), Resource::redirect(301, "/loop-b"));
    site.insert("/loop-b".into(), Resource::redirect(301, "/loop-a"));
    site.insert(
        "/internal".into(),
        Resource::html(
            "<html><head><meta name=\"robots\" content=\"noindex\"><title>Internal</title></head>\
             <body><p>Staff only.</p><a href=\"/docs/page-3\">3</a></body></html>"
                .into(),
        ),
    );
    site.insert(
        "/slow".into(),
        Resource {
            delay_secs: 3,
            ..Resource::html(page("Slow", "This page is slow.", &[]))
        },
    );
    site.insert(
        "/huge".into(),
        Resource::html(format!(
            "<html><body><p>{}</p></body></html>",
            "big ".repeat(600_000)
        )),
    );
    site.insert(
        "/files/guide.pdf".into(),
        Resource {
            status: 200,
            content_type: "application/pdf",
            body: pdf,
            location: None,
            delay_secs: 0,
        },
    );
    site.insert(
        "/orphan-from-sitemap".into(),
        Resource::html(page(
            "Only in the sitemap",
            "This page is linked from nowhere; the sitemap lists it.",
            &[],
        )),
    );
    site
}

/// The sitemap of the site as it is now: every help page and the page only
/// the sitemap links, each with its `lastmod` (pages are from 2001 until
/// [`TestSite::set`] changes them).
fn sitemap(
    base: &str,
    resources: &HashMap<String, Resource>,
    modified: &HashMap<String, String>,
) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    let mut paths: Vec<&String> = resources
        .keys()
        .filter(|p| {
            (p.starts_with("/docs/page-") && !p.ends_with("-print")) || *p == "/orphan-from-sitemap"
        })
        .collect();
    paths.sort();
    for path in paths {
        let lastmod = modified.get(path).map_or("2001-01-01", String::as_str);
        xml.push_str(&format!(
            "<url><loc>{base}{path}</loc><lastmod>{lastmod}</lastmod></url>\n"
        ));
    }
    xml.push_str("</urlset>\n");
    xml
}

/// Today as `YYYY-MM-DD` (UTC).
fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A running test site.
#[derive(Debug)]
pub struct TestSite {
    pub addr: SocketAddr,
    resources: Arc<Mutex<HashMap<String, Resource>>>,
    /// `lastmod` of changed pages.
    modified: Arc<Mutex<HashMap<String, String>>>,
    /// Requests answered, by path.
    hits: Arc<Mutex<HashMap<String, usize>>>,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl TestSite {
    /// Serves `resources` on 127.0.0.1 (a free port); `/sitemap.xml` lists
    /// the help pages.
    pub fn serve(resources: HashMap<String, Resource>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let site = Self {
            addr,
            resources: Arc::new(Mutex::new(resources)),
            modified: Arc::new(Mutex::new(HashMap::new())),
            hits: Arc::new(Mutex::new(HashMap::new())),
            requests: Arc::new(AtomicUsize::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let server = Server {
            base: format!("http://{addr}"),
            resources: site.resources.clone(),
            modified: site.modified.clone(),
            hits: site.hits.clone(),
            requests: site.requests.clone(),
        };
        let stop = site.stop.clone();
        std::thread::spawn(move || {
            let server = Arc::new(server);
            for stream in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let server = server.clone();
                std::thread::spawn(move || {
                    let _ = server.handle(stream);
                });
            }
        });
        Ok(site)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Replaces (or adds) a page; its sitemap `lastmod` becomes today.
    pub fn set(&self, path: &str, resource: Resource) {
        if let Ok(mut r) = self.resources.lock() {
            r.insert(path.to_owned(), resource);
        }
        if let Ok(mut m) = self.modified.lock() {
            m.insert(path.to_owned(), today());
        }
    }

    /// Deletes a page: it answers 404 from now on.
    pub fn remove(&self, path: &str) {
        if let Ok(mut r) = self.resources.lock() {
            r.remove(path);
        }
    }

    /// Requests answered so far (all paths).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn hits(&self, path: &str) -> usize {
        self.hits
            .lock()
            .map_or(0, |h| h.get(path).copied().unwrap_or(0))
    }
}

impl Drop for TestSite {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees `stop`.
        let _ = TcpStream::connect(self.addr);
    }
}

fn etag(body: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:016x}\"")
}

/// Calendar pages `/calendar/Y/M`, generated: each links to its neighbours.
fn calendar(path: &str) -> Option<Resource> {
    let rest = path.strip_prefix("/calendar/")?;
    let (y, m) = rest.split_once('/')?;
    let (y, m): (i32, i32) = (y.parse().ok()?, m.parse().ok()?);
    let next = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let prev = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    Some(Resource::html(page(
        &format!("Events {y}-{m:02}"),
        "No events this month.",
        &[
            format!("/calendar/{}/{}", next.0, next.1),
            format!("/calendar/{}/{}", prev.0, prev.1),
        ],
    )))
}

struct Server {
    base: String,
    resources: Arc<Mutex<HashMap<String, Resource>>>,
    modified: Arc<Mutex<HashMap<String, String>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    requests: Arc<AtomicUsize>,
}

impl Server {
    fn resource(&self, path: &str) -> Option<Resource> {
        let resources = self.resources.lock().ok()?;
        if path == "/sitemap.xml" {
            let modified = self.modified.lock().ok()?;
            return Some(Resource {
                content_type: "application/xml",
                ..Resource::html(sitemap(&self.base, &resources, &modified))
            });
        }
        resources.get(path).cloned().or_else(|| calendar(path))
    }

    fn handle(&self, stream: TcpStream) -> std::io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut stream = stream;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let mut headers = HashMap::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                }
            }
            if let Some(len) = headers
                .get("content-length")
                .and_then(|l| l.parse::<u64>().ok())
            {
                std::io::copy(&mut (&mut reader).take(len), &mut std::io::sink())?;
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let path = target.split('?').next().unwrap_or("/").to_owned();
            if let Ok(mut h) = self.hits.lock() {
                *h.entry(path.clone()).or_default() += 1;
            }
            let resource = self.resource(&path);
            let mut out: Vec<u8> = Vec::new();
            match resource {
                None => {
                    let body = b"not found";
                    write!(
                        out,
                        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )?;
                    out.extend_from_slice(body);
                }
                Some(r) => {
                    if r.delay_secs > 0 {
                        std::thread::sleep(Duration::from_secs(r.delay_secs));
                    }
                    let tag = etag(&r.body);
                    if r.status == 200 && headers.get("if-none-match") == Some(&tag) {
                        write!(out, "HTTP/1.1 304 Not Modified\r\nETag: {tag}\r\n\r\n")?;
                    } else {
                        write!(
                            out,
                            "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nETag: {tag}\r\n",
                            r.status,
                            r.content_type,
                            r.body.len()
                        )?;
                        if let Some(l) = &r.location {
                            write!(out, "Location: {l}\r\n")?;
                        }
                        out.extend_from_slice(b"\r\n");
                        out.extend_from_slice(&r.body);
                    }
                }
            }
            if stream.write_all(&out).is_err() {
                return Ok(());
            }
            if headers
                .get("connection")
                .is_some_and(|c| c.eq_ignore_ascii_case("close"))
            {
                return Ok(());
            }
        }
    }
}
