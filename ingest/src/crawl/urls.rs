//! URL normalisation, crawl scope, patterns and spider-trap heuristics.

pub use quarry_index::web::{normalize, normalize_url};
use url::Url;

/// Extensions of files the formats crate cannot read: skipped before any
/// request is made.
const SKIPPED_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "webp", "svg", "ico", "bmp", "tif", "tiff", "avif", "css", "js",
    "mjs", "map", "woff", "woff2", "ttf", "otf", "eot", "zip", "gz", "tgz", "bz2", "xz", "7z",
    "rar", "tar", "exe", "msi", "dmg", "pkg", "deb", "rpm", "apk", "iso", "bin", "mp3", "wav",
    "ogg", "flac", "m4a", "aac", "woff", "swf", "jar", "wasm",
];

/// Resolves `href` against `base` and normalises it.
pub fn resolve(base: &Url, href: &str) -> Option<Url> {
    let href = href.trim();
    if href.is_empty()
        || href.starts_with('#')
        || href.starts_with("javascript:")
        || href.starts_with("mailto:")
        || href.starts_with("tel:")
        || href.starts_with("data:")
    {
        return None;
    }
    let mut url = base.join(href).ok()?;
    normalize_url(&mut url).then_some(url)
}

/// The registrable domain of a host (`help.example.co.uk` →
/// `example.co.uk`) by the public suffix list; IP addresses and single-label
/// hosts are their own domain.
pub fn registrable_domain(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') || !host.contains('.') {
        return host;
    }
    psl::domain_str(&host).map_or(host.clone(), str::to_owned)
}

/// Which hosts a crawl may enter.
#[derive(Debug, Clone)]
pub struct Scope {
    start_host: String,
    domain: String,
    subdomains: bool,
    /// Port of the start URL: another port on the same host is another site.
    port: Option<u16>,
}

impl Scope {
    pub fn new(start: &Url, subdomains: bool) -> Self {
        let host = start.host_str().unwrap_or_default().to_ascii_lowercase();
        Self {
            domain: registrable_domain(&host),
            start_host: host,
            subdomains,
            port: start.port_or_known_default(),
        }
    }

    /// True when `url` is on the crawled site: the start host (with or
    /// without `www.`), or with `subdomains` any host of the registrable
    /// domain. `http` and `https` of the same host are one site.
    pub fn contains(&self, url: &Url) -> bool {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return false;
        };
        if url.port_or_known_default() != self.port
            && !(is_default(url) && is_default_port(self.port))
        {
            return false;
        }
        let bare = |h: &str| h.strip_prefix("www.").unwrap_or(h).to_owned();
        if bare(&host) == bare(&self.start_host) {
            return true;
        }
        self.subdomains && (host == self.domain || host.ends_with(&format!(".{}", self.domain)))
    }
}

fn is_default(url: &Url) -> bool {
    url.port().is_none()
}

fn is_default_port(port: Option<u16>) -> bool {
    matches!(port, Some(80 | 443))
}

/// A URL pattern, matched anywhere in the URL: `/blog/` matches every blog
/// page, `*` matches any run of characters and a final `$` anchors the end
/// (`.pdf$`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    pub fn new(p: &str) -> Self {
        Self(p.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, url: &str) -> bool {
        if self.0.contains('*') || self.0.ends_with('$') {
            wildcard_match(format!("*{}", self.0).as_bytes(), url.as_bytes(), false)
        } else {
            url.contains(&self.0)
        }
    }
}

/// Matches `pattern` (with `*` wildcards and, when `anchored_end`, an
/// optional trailing `$`) against all of `text`. Linear-time, no recursion.
pub fn wildcard_match(pattern: &[u8], text: &[u8], anchored_end: bool) -> bool {
    let (pattern, must_end) = match pattern.strip_suffix(b"$") {
        Some(p) => (p, true),
        None => (pattern, anchored_end),
    };
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if p == pattern.len() && !must_end {
            return true;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

/// File extension of a URL's last path segment, lower-cased.
pub fn extension(url: &Url) -> Option<String> {
    let last = url.path_segments()?.next_back()?;
    let (_, ext) = last.rsplit_once('.')?;
    (!ext.is_empty() && ext.len() <= 5).then(|| ext.to_ascii_lowercase())
}

/// True for links to files quarry cannot read (images, scripts, archives…).
pub fn skipped_by_extension(url: &Url) -> bool {
    extension(url).is_some_and(|e| SKIPPED_EXTENSIONS.contains(&e.as_str()))
}

/// Why a URL looks like a spider trap on its own, if it does: very long
/// URLs, deep paths, a path segment repeated many times (`/a/b/a/b/a/b`),
/// many query parameters. Chains of pages that differ only in numbers
/// (calendars) are caught by the crawler with [`shape`].
pub fn trap_reason(url: &Url) -> Option<&'static str> {
    if url.as_str().len() > 512 {
        return Some("URL longer than 512 characters");
    }
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if segments.len() > 24 {
        return Some("more than 24 path segments");
    }
    for s in &segments {
        if segments.iter().filter(|x| *x == s).count() > 3 {
            return Some("a path segment repeated more than 3 times");
        }
    }
    if url.query_pairs().count() > 8 {
        return Some("more than 8 query parameters");
    }
    None
}

/// The URL with digits replaced by `#`: `/cal/2026/11` and `/cal/2031/04`
/// share the shape `/cal/#/#`. Many pages of one shape whose only
/// difference is numbers (calendars, endless pagination) are a trap.
pub fn shape(url: &Url) -> String {
    let mut out = String::with_capacity(url.as_str().len());
    let mut in_digits = false;
    for c in url.as_str().chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize(s).map(|u| u.to_string()).unwrap_or_default()
    }

    #[test]
    fn normalisation() {
        assert_eq!(
            n("HTTP://Example.COM:80/a/b/#top"),
            "http://example.com/a/b"
        );
        assert_eq!(n("https://example.com:443"), "https://example.com/");
        assert_eq!(
            n("https://example.com/p?utm_source=x&b=2&a=1&fbclid=z&PHPSESSID=9"),
            "https://example.com/p?a=1&b=2"
        );
        assert_eq!(n("https://example.com/p?"), "https://example.com/p");
        assert_eq!(
            n("https://example.com/shop;jsessionid=ABC?x=1"),
            "https://example.com/shop?x=1"
        );
        assert_eq!(n("ftp://example.com/x"), "");
        let base = normalize("https://example.com/docs/a").unwrap();
        assert_eq!(
            resolve(&base, "../b/#x").unwrap().as_str(),
            "https://example.com/b"
        );
        assert!(resolve(&base, "mailto:x@y").is_none());
        assert!(resolve(&base, "#top").is_none());
    }

    #[test]
    fn scope_by_host_and_registrable_domain() {
        assert_eq!(registrable_domain("help.example.co.uk"), "example.co.uk");
        assert_eq!(registrable_domain("a.b.example.com"), "example.com");
        assert_eq!(registrable_domain("127.0.0.1"), "127.0.0.1");
        let start = normalize("https://www.example.com/help").unwrap();
        let strict = Scope::new(&start, false);
        let wide = Scope::new(&start, true);
        for (u, s, w) in [
            ("https://example.com/x", true, true),
            ("http://www.example.com/x", true, true),
            ("https://docs.example.com/x", false, true),
            ("https://example.org/x", false, false),
            ("https://notexample.com/x", false, false),
            ("https://www.example.com:8443/x", false, false),
        ] {
            let url = normalize(u).unwrap();
            assert_eq!(strict.contains(&url), s, "{u}");
            assert_eq!(wide.contains(&url), w, "{u}");
        }
        let local = Scope::new(&normalize("http://127.0.0.1:8080/").unwrap(), false);
        assert!(local.contains(&normalize("http://127.0.0.1:8080/a").unwrap()));
        assert!(!local.contains(&normalize("http://127.0.0.1:9090/a").unwrap()));
    }

    #[test]
    fn patterns_and_wildcards() {
        assert!(Pattern::new("/blog/").matches("https://x.com/blog/post"));
        assert!(!Pattern::new("/blog/").matches("https://x.com/docs"));
        assert!(Pattern::new("*.pdf").matches("https://x.com/a/b.pdf"));
        assert!(Pattern::new("/docs/*/old").matches("https://x.com/docs/v1/old/page"));
        assert!(wildcard_match(b"/a*b$", b"/axxb", false));
        assert!(!wildcard_match(b"/a*b$", b"/axxbc", false));
        assert!(wildcard_match(b"/private", b"/private/x", false));
    }

    #[test]
    fn traps_and_shapes() {
        let u = normalize("https://x.com/a/b/a/b/a/b/a/b").unwrap();
        assert!(trap_reason(&u).is_some());
        let u = normalize("https://x.com/docs/guide").unwrap();
        assert!(trap_reason(&u).is_none());
        assert_eq!(
            shape(&normalize("https://x.com/cal/2026/11?day=3").unwrap()),
            shape(&normalize("https://x.com/cal/1999/1?day=27").unwrap())
        );
        assert!(skipped_by_extension(
            &normalize("https://x.com/logo.PNG").unwrap()
        ));
        assert!(!skipped_by_extension(
            &normalize("https://x.com/guide.pdf").unwrap()
        ));
    }
}
