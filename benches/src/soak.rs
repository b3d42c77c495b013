//! A long soak: `quarry serve` in a process of its own on 127.0.0.1, with
//! query clients and article writers (create, replace, delete) at once for
//! a fixed time. Per time window: requests, errors, p50/p99 of queries and
//! of writes, and the server's resident memory; at the end, the totals and
//! `quarry check` on the data folder (do the store and both indexes still
//! agree after all those writes?).

use crate::load::ServeProcess;
use crate::{Error, Latency, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// The quarry binary, and the global arguments it gets before `serve`.
    pub exe: PathBuf,
    pub args: Vec<OsString>,
    /// Folder with `docs/` (ingested first) and `queries.jsonl`.
    pub corpus: PathBuf,
    pub duration: Duration,
    /// One report row per window.
    pub window: Duration,
    pub query_clients: usize,
    pub writers: usize,
    /// Distinct article ids each writer cycles through.
    pub articles_per_writer: usize,
}

/// One window of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoakWindow {
    /// Seconds since the start, at the window's end.
    pub at_s: f64,
    pub queries: usize,
    pub writes: usize,
    pub errors: usize,
    pub query_p50_ms: f64,
    pub query_p99_ms: f64,
    pub write_p50_ms: f64,
    pub write_p99_ms: f64,
    /// The server's resident memory at the window's end, MB, and the part
    /// of it that is anonymous (heap: not mapped files such as the keyword
    /// index's segments).
    pub rss_mb: f64,
    pub rss_anon_mb: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoakReport {
    pub seconds: f64,
    pub query_clients: usize,
    pub writers: usize,
    pub windows: Vec<SoakWindow>,
    pub queries: Latency,
    pub writes: Latency,
    /// Errors by kind ("http 503", "transport", ...).
    pub errors: BTreeMap<String, usize>,
    pub rss_first_mb: f64,
    pub rss_last_mb: f64,
    pub rss_peak_mb: f64,
    /// Articles that exist at the end (the writers' own count).
    pub articles: usize,
    /// `quarry check` after the server stopped: consistent or not, and its
    /// report.
    pub consistent: bool,
    pub check: serde_json::Value,
}

impl SoakReport {
    pub fn error_count(&self) -> usize {
        self.errors.values().sum()
    }
}

/// One finished request: when it ended (s since start), how long it took,
/// and its error kind.
struct Sample {
    at: f64,
    ms: f64,
    write: bool,
    error: Option<String>,
}

fn error_kind(e: &ureq::Error) -> String {
    match e {
        ureq::Error::StatusCode(code) => format!("http {code}"),
        ureq::Error::Timeout(_) => "timeout".into(),
        _ => "transport".into(),
    }
}

/// Words the writers make article text from, so each revision embeds
/// differently and replaces real chunks.
const WORDS: &[&str] = &[
    "refund",
    "invoice",
    "shipping",
    "warranty",
    "password",
    "account",
    "delivery",
    "return",
    "exchange",
    "subscription",
    "discount",
    "voucher",
    "tracking",
    "parcel",
    "billing",
    "address",
    "payment",
    "order",
    "cancel",
    "upgrade",
];

fn article_body(writer: usize, id: usize, revision: u64) -> serde_json::Value {
    let pick = |k: u64| WORDS[((revision * 7 + k * 13 + id as u64) % WORDS.len() as u64) as usize];
    let sentences: Vec<String> = (0..6)
        .map(|k| {
            format!(
                "Revision {revision} of article {writer}-{id}: the {} and {} policy covers the {} within {} days.",
                pick(k),
                pick(k + 1),
                pick(k + 2),
                14 + (revision + k) % 30
            )
        })
        .collect();
    serde_json::json!({
        "title": format!("Soak article {writer}-{id}"),
        "body": format!("<h1>Soak article {writer}-{id}</h1><p>{}</p>", sentences.join(" ")),
        "url": format!("https://help.example.com/soak/{writer}-{id}"),
    })
}

/// Runs the soak; the data folder is a temporary one, filled from the
/// corpus' docs/ first.
pub fn run_soak(
    embedder: std::sync::Arc<dyn quarry_index::Embedder>,
    index: quarry_index::IndexOptions,
    ingest: quarry_ingest::IngestOptions,
    options: &SoakOptions,
) -> Result<SoakReport> {
    use quarry_ingest::{FileSource, NoProgress, Pipeline};
    let queries: Vec<String> = crate::load_query_set(&options.corpus)?
        .into_iter()
        .map(|c| c.query)
        .collect();
    if queries.is_empty() {
        return Err(Error::Setup("soak: the corpus has no questions".into()));
    }
    let temp = crate::temp_dir()?;
    {
        let (_, kb) = crate::open_default_kb(temp.path(), embedder, index)?;
        Pipeline::new(
            kb,
            std::sync::Arc::new(quarry_formats::Registry::default()),
            ingest,
        )
        .run(&FileSource::new(&options.corpus.join("docs"))?, &NoProgress)?;
    }
    let mut args = options.args.clone();
    args.extend([OsString::from("--data-dir"), temp.path().into()]);
    // The server's access log would drown the report.
    let server = ServeProcess::start(
        &options.exe,
        &args,
        &[("RUST_LOG", "warn".to_owned())],
        Duration::from_secs(600),
    )?;
    let query_url = server.query_url();
    let article_url =
        |w: usize, i: usize| format!("{}/v1/kb/default/articles/soak-{w}-{i}", server.base);
    let samples: Mutex<Vec<Sample>> = Mutex::new(Vec::new());
    let memory: Mutex<Vec<(f64, (u64, u64))>> = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let live = Mutex::new(0usize);
    let started = Instant::now();
    let deadline = started + options.duration;
    let agent = || -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into()
    };
    let record = |write: bool, t: Instant, result: std::result::Result<(), ureq::Error>| {
        let sample = Sample {
            at: started.elapsed().as_secs_f64(),
            ms: t.elapsed().as_secs_f64() * 1000.0,
            write,
            error: result.err().map(|e| error_kind(&e)),
        };
        if let Ok(mut s) = samples.lock() {
            s.push(sample);
        }
    };
    std::thread::scope(|s| {
        for c in 0..options.query_clients {
            let (agent, record, queries, query_url) = (agent(), &record, &queries, &query_url);
            s.spawn(move || {
                let mut i = c * 7;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let body = serde_json::json!({"query": queries[i % queries.len()]});
                    let result = agent
                        .post(query_url)
                        .send_json(&body)
                        .and_then(|mut r| r.body_mut().read_to_string())
                        .map(|_| ());
                    record(false, t, result);
                    i += 1;
                }
            });
        }
        for w in 0..options.writers {
            let (agent, record, article_url, live) = (agent(), &record, &article_url, &live);
            let n = options.articles_per_writer.max(1);
            s.spawn(move || {
                let mut exists = vec![false; n];
                let mut revision = 0u64;
                while Instant::now() < deadline {
                    revision += 1;
                    let id = (revision as usize * 31) % n;
                    let url = article_url(w, id);
                    let t = Instant::now();
                    // One write in eight deletes an existing article; the
                    // rest create or replace.
                    let result = if exists[id] && revision.is_multiple_of(8) {
                        let r = agent.delete(&url).call().map(|_| ());
                        if r.is_ok() {
                            exists[id] = false;
                        }
                        r
                    } else {
                        let r = agent
                            .put(&url)
                            .send_json(article_body(w, id, revision))
                            .and_then(|mut r| r.body_mut().read_to_string())
                            .map(|_| ());
                        if r.is_ok() {
                            exists[id] = true;
                        }
                        r
                    };
                    record(true, t, result);
                }
                if let Ok(mut l) = live.lock() {
                    *l += exists.iter().filter(|e| **e).count();
                }
            });
        }
        let (server, memory, stop) = (&server, &memory, &stop);
        s.spawn(move || {
            let mut next = started + options.window;
            while !stop.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    if let Ok(mut m) = memory.lock() {
                        m.push((started.elapsed().as_secs_f64(), rss_and_anon(server)));
                    }
                    next += options.window;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        // The sampler stops once the clients have (they end at the deadline).
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
    });
    let seconds = started.elapsed().as_secs_f64();
    let (_, peak) = server.memory();
    let last_rss = rss_and_anon(&server);
    drop(server); // SIGTERM, and wait: the data folder is closed before the check.
    let samples = samples.into_inner().unwrap_or_default();
    let mut memory = memory.into_inner().unwrap_or_default();
    // The requests that ended after the last reading, unless there are none.
    if samples
        .iter()
        .any(|s| s.at >= memory.last().map_or(0.0, |m| m.0))
    {
        memory.push((seconds, last_rss));
    }
    let mb = |b: u64| b as f64 / 1e6;
    let mut windows = Vec::new();
    let mut from = 0.0;
    for (k, &(at, rss)) in memory.iter().enumerate() {
        // The last window takes whatever ended after the last reading.
        let end = if k + 1 == memory.len() { f64::MAX } else { at };
        let in_window: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.at >= from && s.at < end)
            .collect();
        let latency = |write: bool| {
            Latency::of(
                &in_window
                    .iter()
                    .filter(|s| s.write == write && s.error.is_none())
                    .map(|s| s.ms)
                    .collect::<Vec<_>>(),
            )
        };
        let (q, w) = (latency(false), latency(true));
        windows.push(SoakWindow {
            at_s: at,
            queries: in_window.iter().filter(|s| !s.write).count(),
            writes: in_window.iter().filter(|s| s.write).count(),
            errors: in_window.iter().filter(|s| s.error.is_some()).count(),
            query_p50_ms: q.p50_ms,
            query_p99_ms: q.p99_ms,
            write_p50_ms: w.p50_ms,
            write_p99_ms: w.p99_ms,
            rss_mb: mb(rss.0),
            rss_anon_mb: mb(rss.1),
        });
        from = end;
    }
    let mut errors = BTreeMap::new();
    for e in samples.iter().filter_map(|s| s.error.as_ref()) {
        *errors.entry(e.clone()).or_insert(0) += 1;
    }
    let ok = |write: bool| {
        samples
            .iter()
            .filter(|s| s.write == write && s.error.is_none())
            .map(|s| s.ms)
            .collect::<Vec<_>>()
    };
    let check = check_data(&options.exe, &args)?;
    Ok(SoakReport {
        seconds,
        query_clients: options.query_clients,
        writers: options.writers,
        rss_first_mb: memory.first().map_or(0.0, |m| mb(m.1.0)),
        rss_last_mb: mb(last_rss.0),
        rss_peak_mb: mb(peak),
        windows,
        queries: Latency::of(&ok(false)),
        writes: Latency::of(&ok(true)),
        errors,
        articles: live.into_inner().unwrap_or_default(),
        consistent: check.as_object().is_some_and(|kbs| {
            !kbs.is_empty()
                && kbs
                    .values()
                    .all(|r| r["consistent"].as_bool() == Some(true))
        }),
        check,
    })
}

/// (VmRSS, RssAnon) of the server in bytes (Linux; zeros elsewhere).
fn rss_and_anon(server: &ServeProcess) -> (u64, u64) {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("RssAnon:"))
}

/// `quarry [args] check --all --json` (args name the data folder): each
/// knowledge base's report by name.
fn check_data(exe: &std::path::Path, args: &[OsString]) -> Result<serde_json::Value> {
    let out = Command::new(exe)
        .args(args)
        .args(["check", "--all", "--json"])
        .output()
        .map_err(|e| Error::Setup(format!("running quarry check: {e}")))?;
    serde_json::from_slice(&out.stdout).map_err(|e| {
        Error::Setup(format!(
            "quarry check printed no report ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    })
}

/// The report as Markdown: one row per window, then the totals.
pub fn table(r: &SoakReport) -> String {
    let mut out = String::from(
        "| at s | queries | writes | errors | query p50 / p99 ms | write p50 / p99 ms | serve RSS MB (heap) |\n|---|---|---|---|---|---|---|\n",
    );
    for w in &r.windows {
        out.push_str(&format!(
            "| {:.0} | {} | {} | {} | {:.1} / {:.1} | {:.1} / {:.1} | {:.0} ({:.0}) |\n",
            w.at_s,
            w.queries,
            w.writes,
            w.errors,
            w.query_p50_ms,
            w.query_p99_ms,
            w.write_p50_ms,
            w.write_p99_ms,
            w.rss_mb,
            w.rss_anon_mb
        ));
    }
    out.push_str(&format!(
        "\n{:.0} s, {} query clients, {} writers: {} queries (p50 {:.1} ms, p99 {:.1} ms, max {:.0} ms), {} writes (p50 {:.1} ms, p99 {:.1} ms, max {:.0} ms), {} errors{}\nserve RSS: {:.0} MB at the first window, {:.0} MB at the end, peak {:.0} MB; {} articles at the end; quarry check: {}\n",
        r.seconds,
        r.query_clients,
        r.writers,
        r.queries.count,
        r.queries.p50_ms,
        r.queries.p99_ms,
        r.queries.max_ms,
        r.writes.count,
        r.writes.p50_ms,
        r.writes.p99_ms,
        r.writes.max_ms,
        r.error_count(),
        if r.errors.is_empty() {
            String::new()
        } else {
            format!(" {:?}", r.errors)
        },
        r.rss_first_mb,
        r.rss_last_mb,
        r.rss_peak_mb,
        r.articles,
        if r.consistent {
            "consistent".to_owned()
        } else {
            format!("INCONSISTENT {}", r.check)
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_of_an_article_differ_and_stay_valid_html() {
        let a = article_body(0, 3, 1);
        let b = article_body(0, 3, 2);
        assert_ne!(a["body"], b["body"]);
        assert!(
            a["body"]
                .as_str()
                .unwrap()
                .starts_with("<h1>Soak article 0-3</h1>")
        );
        assert!(a["url"].as_str().unwrap().starts_with("https://"));
    }
}
