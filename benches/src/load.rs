//! Concurrent HTTP load on `POST /v1/query`: `clients` threads, each with
//! its own keep-alive connection, share a fixed number of requests (bounded
//! in count and in time). Latency percentiles, requests per second, and the
//! server-side split (embedding, vector search, keyword search) from each
//! response's `timings`.

use crate::{Error, Latency, Result};
use quarry_query::QueryService;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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
}

/// Serves `service` on 127.0.0.1 and runs each of `clients` against it,
/// `requests` requests per level (at most `max_secs` each), cycling through
/// `queries`.
pub fn http_load(
    service: Arc<QueryService>,
    cache: bool,
    queries: &[String],
    clients: &[usize],
    requests: usize,
    max_secs: u64,
) -> Result<Vec<LoadRun>> {
    if queries.is_empty() {
        return Err(Error::Setup("no queries".into()));
    }
    let served = crate::Served::start(service)?;
    let url = served.query_url();
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
        });
    }
    served.stop()?;
    Ok(runs)
}

/// The runs as a Markdown table.
pub fn table(runs: &[LoadRun]) -> String {
    let mut out = String::from(
        "| clients | cache | requests | req/s | p50 ms | p99 ms | p99.9 ms | server p50: embed / vector / keyword / total ms |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        out.push_str(&format!(
            "| {} | {} | {}{} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2} / {:.2} / {:.2} / {:.2} |\n",
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
            r.server_p50_ms
        ));
    }
    out
}

/// Ingests `corpus/docs` into a temporary knowledge base and runs
/// [`http_load`] with the query cache off, then on, over the corpus'
/// questions (cycled: repeated questions, as support traffic has).
pub fn run_load(
    embedder: Arc<dyn quarry_index::Embedder>,
    index: quarry_index::IndexOptions,
    query: quarry_query::QueryOptions,
    ingest: quarry_ingest::IngestOptions,
    corpus: &std::path::Path,
    clients: &[usize],
    requests: usize,
) -> Result<Vec<LoadRun>> {
    use quarry_ingest::{FileSource, NoProgress, Pipeline};
    let queries: Vec<String> = crate::load_query_set(corpus)?
        .into_iter()
        .map(|c| c.query)
        .collect();
    let data = tempfile::tempdir().map_err(|e| Error::Setup(format!("temp dir: {e}")))?;
    let catalog = Arc::new(quarry_index::Catalog::open(data.path(), embedder, index)?);
    let kb = catalog
        .get(quarry_index::DEFAULT_KB)?
        .ok_or_else(|| Error::Setup("no default knowledge base".into()))?;
    Pipeline::new(kb, Arc::new(quarry_formats::Registry::default()), ingest)
        .run(&FileSource::new(&corpus.join("docs"))?, &NoProgress)?;
    let mut runs = Vec::new();
    for cache in [false, true] {
        let options = quarry_query::QueryOptions {
            cache_size: if cache {
                query.cache_size.max(1_000)
            } else {
                0
            },
            ..query
        };
        let service = Arc::new(QueryService::new(
            catalog.clone(),
            options,
            quarry_query::Auth::default(),
        )?);
        runs.extend(http_load(service, cache, &queries, clients, requests, 120)?);
    }
    Ok(runs)
}
