//! Concurrent HTTP load on `POST /v1/query` against `quarry serve` running
//! in a process of its own on 127.0.0.1: `clients` threads, each with its
//! own keep-alive connection, share a fixed number of requests (bounded in
//! count and in time). Latency percentiles, requests per second, the
//! server-side split (embedding, vector search, keyword search) from each
//! response's `timings`, and the server process's resident memory.

use crate::{Error, Latency, Result};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One load level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadRun {
    pub clients: usize,
    pub cache: bool,
    pub requests: usize,
    pub errors: usize,
    pub seconds: f64,
    pub requests_per_second: f64,
    pub latency: Latency,
    /// p50 of the server's own steps, ms.
    pub embed_p50_ms: f64,
    pub search_p50_ms: f64,
    pub keyword_p50_ms: f64,
    /// Server-side total p50; the rest of the latency is HTTP and queueing.
    pub server_p50_ms: f64,
    /// p50 of what the server's total leaves after embedding and the two
    /// searches: fusion, fetching chunks, collapsing, confidence.
    pub fusion_p50_ms: f64,
    /// p50 of each request's client-side latency minus the server's total:
    /// HTTP, JSON and queueing outside the handler.
    pub http_p50_ms: f64,
    /// The serve process's resident memory after this level, and its peak
    /// so far (VmRSS / VmHWM), MB.
    pub serve_rss_mb: f64,
    pub serve_peak_rss_mb: f64,
}

/// `quarry serve` in a child process, listening on a free port of
/// 127.0.0.1; stopped (SIGTERM, then SIGKILL after 30 s) when dropped.
#[derive(Debug)]
pub struct ServeProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl ServeProcess {
    /// Starts `exe [args] serve --addr 127.0.0.1:0` with `env` added, and
    /// waits (up to `wait`) for its "quarry listening on URL" line.
    pub fn start(
        exe: &Path,
        args: &[OsString],
        env: &[(&str, String)],
        wait: Duration,
    ) -> Result<Self> {
        let mut child = Command::new(exe)
            .args(args)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::Setup(format!("starting {} serve: {e}", exe.display())))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::Setup("serve: no stdout".into()))?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Keeps reading (and dropping) the server's output so it never
        // blocks on a full pipe.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Some(url) = line.strip_prefix("quarry listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let mut process = ServeProcess {
            child,
            base: String::new(),
        };
        match rx.recv_timeout(wait) {
            Ok(url) => process.base = url,
            Err(_) => {
                // Its output closed (it exited) or the wait ran out; give an
                // exiting process a moment to be reaped so its status shows.
                let mut status = None;
                for _ in 0..20 {
                    status = process.child.try_wait().ok().flatten();
                    if status.is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                return Err(Error::Setup(match status {
                    Some(s) => format!("quarry serve did not start listening (exited: {s})"),
                    None => format!(
                        "quarry serve did not start listening within {} s",
                        wait.as_secs()
                    ),
                }));
            }
        }
        Ok(process)
    }

    pub fn query_url(&self) -> String {
        format!("{}/v1/query", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// (VmRSS, VmHWM) of the server process in bytes (Linux; zeros
    /// elsewhere).
    pub fn memory(&self) -> (u64, u64) {
        proc_memory(self.child.id())
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// (VmRSS, VmHWM) of process `pid` in bytes, from /proc (0 elsewhere).
pub fn proc_memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Runs each of `clients` against a running `quarry serve`, `requests`
/// requests per level (at most `max_secs` each), cycling through `queries`.
pub fn http_load(
    server: &ServeProcess,
    cache: bool,
    queries: &[String],
    clients: &[usize],
    requests: usize,
    max_secs: u64,
) -> Result<Vec<LoadRun>> {
    if queries.is_empty() {
        return Err(Error::Setup("no queries".into()));
    }
    let url = server.query_url();
    let mut runs = Vec::new();
    for &c in clients {
        let next = AtomicUsize::new(0);
        let samples: Mutex<Vec<(f64, serde_json::Value)>> = Mutex::new(Vec::new());
        let errors = AtomicUsize::new(0);
        let deadline = Instant::now() + Duration::from_secs(max_secs.max(1));
        let started = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..c.max(1) {
                s.spawn(|| {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .timeout_global(Some(Duration::from_secs(60)))
                        .build()
                        .into();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= requests || Instant::now() > deadline {
                            return;
                        }
                        let body = serde_json::json!({"query": queries[i % queries.len()]});
                        let t = Instant::now();
                        let response = agent
                            .post(&url)
                            .send_json(&body)
                            .and_then(|mut r| r.body_mut().read_json::<serde_json::Value>());
                        let elapsed = t.elapsed().as_secs_f64() * 1000.0;
                        match response {
                            Ok(v) => {
                                if let Ok(mut s) = samples.lock() {
                                    s.push((elapsed, v["timings"].clone()));
                                }
                            }
                            Err(_) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                });
            }
        });
        let seconds = started.elapsed().as_secs_f64();
        let samples = samples.into_inner().unwrap_or_default();
        let p50 = |name: &str| {
            let values: Vec<f64> = samples
                .iter()
                .filter_map(|(_, t)| t[name].as_f64())
                .collect();
            Latency::of(&values).p50_ms
        };
        let latencies: Vec<f64> = samples.iter().map(|(l, _)| *l).collect();
        let step = |t: &serde_json::Value, name: &str| t[name].as_f64().unwrap_or(0.0);
        let fusion: Vec<f64> = samples
            .iter()
            .map(|(_, t)| {
                step(t, "total_ms")
                    - step(t, "embed_ms")
                    - step(t, "search_ms")
                    - step(t, "keyword_ms")
            })
            .collect();
        let http: Vec<f64> = samples
            .iter()
            .map(|(l, t)| l - step(t, "total_ms"))
            .collect();
        runs.push(LoadRun {
            clients: c,
            cache,
            requests: samples.len(),
            errors: errors.load(Ordering::Relaxed),
            seconds,
            requests_per_second: samples.len() as f64 / seconds.max(1e-9),
            latency: Latency::of(&latencies),
            embed_p50_ms: p50("embed_ms"),
            search_p50_ms: p50("search_ms"),
            keyword_p50_ms: p50("keyword_ms"),
            server_p50_ms: p50("total_ms"),
            fusion_p50_ms: Latency::of(&fusion).p50_ms,
            http_p50_ms: Latency::of(&http).p50_ms,
            serve_rss_mb: server.memory().0 as f64 / 1e6,
            serve_peak_rss_mb: server.memory().1 as f64 / 1e6,
        });
    }
    Ok(runs)
}

/// The runs as a Markdown table.
pub fn table(runs: &[LoadRun]) -> String {
    let mut out = String::from(
        "| clients | cache | requests | req/s | p50 ms | p99 ms | p99.9 ms | server p50: embed / vector / keyword / fusion+rest / total ms | HTTP p50 ms | serve RSS MB (peak) |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        out.push_str(&format!(
            "| {} | {} | {}{} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2} / {:.2} / {:.2} / {:.2} / {:.2} | {:.2} | {:.0} ({:.0}) |\n",
            r.clients,
            if r.cache { "on" } else { "off" },
            r.requests,
            if r.errors > 0 {
                format!(" ({} errors)", r.errors)
            } else {
                String::new()
            },
            r.requests_per_second,
            r.latency.p50_ms,
            r.latency.p99_ms,
            r.latency.p999_ms,
            r.embed_p50_ms,
            r.search_p50_ms,
            r.keyword_p50_ms,
            r.fusion_p50_ms,
            r.server_p50_ms,
            r.http_p50_ms,
            r.serve_rss_mb,
            r.serve_peak_rss_mb
        ));
    }
    out
}

/// Where the load runs and on what.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The quarry binary that serves, and the global arguments it gets
    /// before `serve` (`--config`, ...).
    pub exe: PathBuf,
    pub args: Vec<OsString>,
    /// Folder with the questions (`queries.jsonl`, see
    /// [`crate::load_query_set`]) and, unless `existing` is set, `docs/`.
    pub corpus: PathBuf,
    /// Serve this data folder as it is; `None`: ingest `corpus/docs` into
    /// a temporary one first.
    pub existing: Option<PathBuf>,
    pub clients: Vec<usize>,
    pub requests: usize,
    /// Cache size for the cached runs.
    pub cache_size: usize,
}

/// Runs [`http_load`] against `quarry serve` with the query cache off, then
/// on (a fresh process each), over the corpus' questions (cycled: repeated
/// questions, as support traffic has).
pub fn run_load(
    embedder: std::sync::Arc<dyn quarry_index::Embedder>,
    index: quarry_index::IndexOptions,
    ingest: quarry_ingest::IngestOptions,
    options: &LoadOptions,
) -> Result<Vec<LoadRun>> {
    use quarry_ingest::{FileSource, NoProgress, Pipeline};
    let queries: Vec<String> = crate::load_query_set(&options.corpus)?
        .into_iter()
        .map(|c| c.query)
        .collect();
    let temp;
    let data = match &options.existing {
        Some(dir) => dir.clone(),
        None => {
            temp = crate::temp_dir()?;
            let (_, kb) = crate::open_default_kb(temp.path(), embedder, index)?;
            Pipeline::new(
                kb,
                std::sync::Arc::new(quarry_formats::Registry::default()),
                ingest,
            )
            .run(&FileSource::new(&options.corpus.join("docs"))?, &NoProgress)?;
            temp.path().to_owned()
        }
    };
    let mut args = options.args.clone();
    args.extend([OsString::from("--data-dir"), data.into_os_string()]);
    let mut runs = Vec::new();
    for cache in [false, true] {
        let size = if cache { options.cache_size.max(1) } else { 0 };
        let server = ServeProcess::start(
            &options.exe,
            &args,
            &[("QUARRY__QUERY__CACHE_SIZE", size.to_string())],
            Duration::from_secs(600),
        )?;
        runs.extend(http_load(
            &server,
            cache,
            &queries,
            &options.clients,
            options.requests,
            120,
        )?);
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_resident_and_peak_memory_of_a_process() {
        let (rss, peak) = proc_memory(std::process::id());
        assert!(
            rss > 1_000_000,
            "a test process holds more than 1 MB: {rss}"
        );
        assert!(peak >= rss);
        assert_eq!(proc_memory(u32::MAX), (0, 0), "no such process");
    }

    #[test]
    #[cfg(unix)]
    fn a_server_that_exits_before_listening_is_an_error_naming_its_exit() {
        let err = ServeProcess::start(Path::new("false"), &[], &[], Duration::from_secs(5))
            .expect_err("`false serve` never listens");
        let message = err.to_string();
        assert!(message.contains("did not start listening"), "{message}");
        assert!(message.contains("exited"), "{message}");
    }
}
