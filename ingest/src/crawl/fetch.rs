//! HTTP for the crawler: one `ureq` agent whose resolver refuses private
//! addresses (after DNS resolution, so a public name pointing at
//! `10.0.0.1` or `169.254.169.254` is refused too), no proxy, no automatic
//! redirects (the crawler follows them itself, checking each hop), a size
//! limit on bodies and timeouts on everything.

use crate::report::REFUSED;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// True for addresses a crawl must not reach unless allow-listed: loopback,
/// private ranges, link-local (cloud metadata at 169.254.169.254 included),
/// carrier-grade NAT, unspecified, multicast, broadcast, documentation and
/// benchmarking ranges, unique-local and IPv4-mapped forms of all of these.
pub fn is_restricted(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => restricted_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return restricted_v4(v4);
            }
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
                || (seg[0] == 0x0064 && seg[1] == 0xff9b) // NAT64 of anything
        }
    }
}

fn restricted_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (64..128).contains(&o[1])) // CGNAT 100.64/10
        || (o[0] == 198 && (o[1] == 18 || o[1] == 19)) // benchmarking
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || o[0] >= 240 // reserved
}

/// Hosts (names or IP addresses) a crawl may reach even when they resolve
/// to restricted addresses.
#[derive(Debug, Clone, Default)]
pub struct AllowList(Vec<String>);

impl AllowList {
    pub fn new(hosts: &[String]) -> Self {
        Self(
            hosts
                .iter()
                .map(|h| h.trim().trim_matches(['[', ']']).to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        )
    }

    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        self.0.contains(&host)
    }
}

#[derive(Debug)]
struct GuardedResolver {
    inner: DefaultResolver,
    allow: Arc<AllowList>,
}

impl Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addrs = self.inner.resolve(uri, config, timeout)?;
        let host = uri.host().unwrap_or_default();
        if self.allow.allows(host) {
            return Ok(addrs);
        }
        if let Some(bad) = addrs.iter().find(|a| is_restricted(a.ip())) {
            // One bad address refuses the host: a name that mixes public and
            // private answers is a rebinding attempt, not a website.
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{REFUSED} ({host} → {}); allow-list the host to crawl it",
                    bad.ip()
                ),
            )));
        }
        Ok(addrs)
    }
}

/// One response, redirects not followed.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub location: Option<String>,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub x_robots_tag: Option<String>,
    pub body: Vec<u8>,
}

/// Why a request produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The host resolves to a restricted address.
    Refused(String),
    /// The body is larger than the limit (bytes).
    TooLarge(u64),
    Timeout,
    Network(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Refused(m) => f.write_str(m),
            FetchError::TooLarge(limit) => write!(f, "response larger than {limit} bytes"),
            FetchError::Timeout => f.write_str("timed out"),
            FetchError::Network(m) => f.write_str(m),
        }
    }
}

/// The crawler's HTTP client.
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    max_bytes: u64,
}

/// Conditional request headers from the last sync.
#[derive(Debug, Clone, Default)]
pub struct Validators<'a> {
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
}

impl Client {
    pub fn new(user_agent: &str, timeout: Duration, max_bytes: u64, allow: AllowList) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .save_redirect_history(false)
            .proxy(None)
            .user_agent(user_agent)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
            .build();
        let resolver = GuardedResolver {
            inner: DefaultResolver::default(),
            allow: Arc::new(allow),
        };
        Self {
            agent: ureq::Agent::with_parts(config, DefaultConnector::default(), resolver),
            max_bytes,
        }
    }

    /// GETs `url` once. `accept_body` sees the status and content type and
    /// says whether the body is wanted (an unsupported type is not read).
    pub fn get(
        &self,
        url: &str,
        validators: &Validators<'_>,
        accept_body: &dyn Fn(u16, Option<&str>) -> bool,
    ) -> Result<Response, FetchError> {
        let mut request = self.agent.get(url).header(
            "Accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,application/pdf,*/*;q=0.8",
        );
        if let Some(etag) = validators.etag {
            request = request.header("If-None-Match", etag);
        }
        if let Some(lm) = validators.last_modified {
            request = request.header("If-Modified-Since", lm);
        }
        let mut response = request.call().map_err(map_error)?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let status = response.status().as_u16();
        let content_type = header("content-type");
        let (location, etag, last_modified, x_robots_tag) = (
            header("location"),
            header("etag"),
            header("last-modified"),
            header("x-robots-tag"),
        );
        if let Some(len) = header("content-length").and_then(|l| l.parse::<u64>().ok())
            && len > self.max_bytes
            && (200..300).contains(&status)
        {
            return Err(FetchError::TooLarge(self.max_bytes));
        }
        let mut body = Vec::new();
        if accept_body(status, content_type.as_deref()) {
            let limit = self.max_bytes;
            response
                .body_mut()
                .as_reader()
                .take(limit + 1)
                .read_to_end(&mut body)
                .map_err(|e| {
                    if e.kind() == std::io::ErrorKind::TimedOut {
                        FetchError::Timeout
                    } else {
                        FetchError::Network(e.to_string())
                    }
                })?;
            if body.len() as u64 > limit {
                return Err(FetchError::TooLarge(limit));
            }
        }
        Ok(Response {
            status,
            location,
            content_type,
            etag,
            last_modified,
            x_robots_tag,
            body,
        })
    }
}

fn map_error(e: ureq::Error) -> FetchError {
    match e {
        ureq::Error::Timeout(_) => FetchError::Timeout,
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
            FetchError::Refused(io.to_string())
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => FetchError::Timeout,
        ureq::Error::BodyExceedsLimit(limit) => FetchError::TooLarge(limit),
        other => FetchError::Network(other.to_string()),
    }
}

/// Whether a literal IP in a URL host is restricted (for reports before any
/// request is made).
pub fn literal_is_restricted(host: &str) -> bool {
    host.trim_matches(['[', ']'])
        .parse::<IpAddr>()
        .is_ok_and(is_restricted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restricted_addresses() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_restricted(a.parse().unwrap()), "{a}");
        }
        for a in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"] {
            assert!(!is_restricted(a.parse().unwrap()), "{a}");
        }
        let allow = AllowList::new(&["127.0.0.1".into(), "Intranet.Example".into()]);
        assert!(allow.allows("127.0.0.1"));
        assert!(allow.allows("intranet.example"));
        assert!(!allow.allows("10.0.0.1"));
    }
}
