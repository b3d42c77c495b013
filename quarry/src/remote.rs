//! The CLI beside a running server: `quarry serve` announces its address in
//! `DATA_DIR/SERVER.json`; `query`, `status`, `sources`, `sync` and
//! `ingest` then talk to it over HTTP instead of opening the knowledge base
//! (which the server holds). `--server URL` (`QUARRY_SERVER`) picks a
//! server explicitly, on this machine or another; `--token`
//! (`QUARRY_TOKEN`, else `QUARRY_ADMIN_TOKEN`) authenticates.

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

const FILE: &str = "SERVER.json";

/// Records that this process serves `data_dir` at `addr`.
pub fn announce(data_dir: &Path, addr: SocketAddr) {
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        addr.ip().to_string()
    };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let body = serde_json::json!({
        "url": format!("http://{host}:{}", addr.port()),
        "pid": std::process::id(),
    });
    let path = data_dir.join(FILE);
    let part = data_dir.join(format!("{FILE}.part"));
    let written =
        std::fs::write(&part, body.to_string()).and_then(|()| std::fs::rename(&part, &path));
    if let Err(e) = written {
        tracing::warn!(
            "cannot write {}: {e} (the CLI will not find this server by itself)",
            path.display()
        );
    }
}

/// Removes this process's announcement.
pub fn withdraw(data_dir: &Path) {
    let path = data_dir.join(FILE);
    if announced(data_dir).is_some_and(|(_, pid)| pid == std::process::id()) {
        let _ = std::fs::remove_file(path);
    }
}

fn announced(data_dir: &Path) -> Option<(String, u32)> {
    let text = std::fs::read_to_string(data_dir.join(FILE)).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    let url = v.get("url")?.as_str()?.to_owned();
    let pid = u32::try_from(v.get("pid")?.as_u64()?).ok()?;
    Some((url, pid))
}

/// The URL of a live server that announced itself in `data_dir`.
pub fn discover(data_dir: &Path) -> Option<String> {
    let (url, pid) = announced(data_dir)?;
    let alive = PathBuf::from(format!("/proc/{pid}")).exists();
    alive.then_some(url)
}

/// `id` as one URL path segment (source ids are URIs).
pub fn segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An HTTP client of one quarry server.
#[derive(Debug, Clone)]
pub struct Remote {
    pub base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Remote {
    pub fn new(base: &str, token: Option<String>) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .new_agent();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token: token.filter(|t| !t.trim().is_empty()),
            agent,
        }
    }

    /// Whether the server answers `/healthz` within two seconds.
    pub fn is_up(&self) -> bool {
        self.agent
            .get(self.url("/healthz"))
            .config()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .call()
            .is_ok_and(|r| r.status().is_success())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn auth(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("Bearer {t}"))
    }

    fn finish<T: DeserializeOwned>(
        &self,
        what: &str,
        response: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T> {
        let mut response =
            response.map_err(|e| anyhow!("{what}: cannot reach {}: {e}", self.base))?;
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .with_context(|| format!("{what}: reading the response"))?;
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    let e = v.get("error")?;
                    Some(format!(
                        "{} ({})",
                        e.get("message")?.as_str()?,
                        e.get("code")?.as_str()?
                    ))
                })
                .unwrap_or(text);
            bail!("{what}: the server answered {status}: {message}");
        }
        let body = if text.trim().is_empty() {
            "null"
        } else {
            &text
        };
        serde_json::from_str(body).with_context(|| format!("{what}: unexpected response"))
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let mut req = self.agent.get(self.url(path));
        if let Some(a) = self.auth() {
            req = req.header("authorization", a);
        }
        self.finish(&format!("GET {path}"), req.call())
    }

    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        let mut req = self.agent.post(self.url(path));
        if let Some(a) = self.auth() {
            req = req.header("authorization", a);
        }
        self.finish(&format!("POST {path}"), req.send_json(body))
    }

    /// Uploads one file (`POST /v1/kb/{kb}/files`).
    pub fn upload(&self, kb: &str, file: &Path, private: bool) -> Result<Value> {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().replace(['"', '\r', '\n'], "_"))
            .unwrap_or_else(|| "upload".into());
        let boundary = format!("quarry-{:016x}", fnv(&bytes));
        let mut body = Vec::with_capacity(bytes.len() + 512);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"private\"\r\n\r\n{private}\r\n--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{name}\"\r\ncontent-type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let path = format!("/v1/kb/{kb}/files");
        let mut req = self.agent.post(self.url(&path)).header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        );
        if let Some(a) = self.auth() {
            req = req.header("authorization", a);
        }
        self.finish(
            &format!("uploading {}", file.display()),
            req.send(&body[..]),
        )
    }
}

/// A boundary derived from the content (FNV-1a of its first MiB).
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes.iter().take(1 << 20) {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_announcement_is_found_and_a_stale_one_is_not() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(discover(dir.path()), None);
        announce(dir.path(), SocketAddr::from(([0, 0, 0, 0], 7701)));
        assert_eq!(
            discover(dir.path()).as_deref(),
            Some("http://127.0.0.1:7701")
        );
        withdraw(dir.path());
        assert_eq!(discover(dir.path()), None);
        // A dead process's file is ignored.
        let stale = serde_json::json!({"url": "http://127.0.0.1:1", "pid": u32::MAX - 1});
        std::fs::write(dir.path().join(FILE), stale.to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(discover(dir.path()), None);
    }
}
