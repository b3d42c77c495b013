//! Canonical web addresses: the crawler stores pages under them, and the
//! read path matches a visitor's page (`page_url`) against them, so both
//! must use this one function.

use url::Url;

/// Query parameters that only track the visitor: dropped, so the same page
/// reached from a newsletter and from the menu is one page.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "_ga", "_gl", "yclid", "igshid",
    "ref_src",
];

/// Query parameters that carry a session: dropped too (a new id per visit
/// turns one page into endless URLs).
const SESSION_PARAMS: &[&str] = &[
    "sid",
    "sessionid",
    "session_id",
    "phpsessid",
    "jsessionid",
    "aspsessionid",
    "cfid",
    "cftoken",
];

/// Parses and normalises an absolute `http(s)` URL: lower-case scheme and
/// host (url does both), no fragment, no default port, no empty query, no
/// tracking or session parameters (remaining ones sorted), `;jsessionid=`
/// path parameters removed, and a trailing slash dropped except at the root.
pub fn normalize(raw: &str) -> Option<Url> {
    let mut url = Url::parse(raw.trim()).ok()?;
    normalize_url(&mut url).then_some(url)
}

/// Normalises `url` in place (see [`normalize`]); false for anything but
/// an absolute `http(s)` URL with a host.
pub fn normalize_url(url: &mut Url) -> bool {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return false;
    }
    url.set_fragment(None);
    if url.port() == default_port(url.scheme()) {
        let _ = url.set_port(None);
    }
    let _ = url.set_username("");
    let _ = url.set_password(None);
    // `;jsessionid=…` in the path.
    let path = url.path().to_owned();
    let mut clean = match path.to_ascii_lowercase().find(";jsessionid=") {
        Some(at) => path[..at].to_owned(),
        None => path,
    };
    if clean.len() > 1 && clean.ends_with('/') {
        clean.pop();
    }
    if clean.is_empty() {
        clean.push('/');
    }
    url.set_path(&clean);
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            !k.starts_with("utm_")
                && !TRACKING_PARAMS.contains(&k.as_str())
                && !SESSION_PARAMS.contains(&k.as_str())
        })
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if pairs.is_empty() {
        url.set_query(None);
    } else {
        pairs.sort();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    true
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_fragments_and_default_ports_do_not_make_another_page() {
        let a = normalize("HTTPS://Help.Example.com:443/shipping/?utm_source=mail&b=2&a=1#top")
            .unwrap();
        let b = normalize("https://help.example.com/shipping?a=1&b=2&fbclid=x").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "https://help.example.com/shipping?a=1&b=2");
        assert!(normalize("ftp://example.com/").is_none());
        assert!(normalize("/relative").is_none());
    }
}
