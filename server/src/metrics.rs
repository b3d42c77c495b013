//! Prometheus metrics (the `metrics` facade, rendered by
//! `metrics-exporter-prometheus` at `GET /metrics`) and readiness.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `quarry_http_requests_total` | counter | route, method, status |
//! | `quarry_http_request_duration_seconds` | histogram | route |
//! | `quarry_http_errors_total` | counter | code |
//! | `quarry_query_stage_seconds` | histogram | stage (embed, vector, keyword, total) |
//! | `quarry_query_decisions_total` | counter | decision |
//! | `quarry_query_confidence` | histogram | |
//! | `quarry_query_embedding_cache_total` | counter | result (hit, miss) |
//! | `quarry_job_duration_seconds`, `quarry_jobs_total` | histogram, counter | status (quarry-ingest) |
//! | `quarry_crawl_urls_total` | counter | outcome (quarry-ingest) |
//! | `quarry_kb_chunks`, `quarry_kb_vectors`, `quarry_kb_documents` | gauge | kb (read at scrape) |
//!
//! Without an installed recorder (tests, the benchmarks) every call is a
//! no-op.

use axum::http::{Method, StatusCode};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use quarry_query::QueryResponse;
use std::sync::OnceLock;
use std::time::Duration;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls return
/// the same handle).
pub fn install() -> Option<PrometheusHandle> {
    if let Some(h) = HANDLE.get() {
        return Some(h.clone());
    }
    let latency = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    let jobs = [0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0];
    let confidence = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full("quarry_job_duration_seconds".into()), &jobs)
        })
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full("quarry_query_confidence".into()), &confidence)
        })
        .ok()?
        .build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        return HANDLE.get().cloned();
    }
    let _ = HANDLE.set(handle.clone());
    describe();
    Some(handle)
}

/// Drains recorded histogram samples into their buckets every few seconds.
/// The recorder keeps every sample until then (`build_recorder` starts no
/// upkeep of its own), so without it a server nobody scrapes grows by a
/// few histogram samples per request, for ever (found by the soak:
/// 4.7 MB a minute of heap under 440 queries a second).
pub(crate) fn spawn_upkeep() {
    if let Some(handle) = handle() {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        });
    }
}

/// The handle, when [`install`] ran.
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE.get().cloned()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "quarry_http_requests_total",
        "HTTP requests by route, method and status"
    );
    describe_histogram!(
        "quarry_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by route"
    );
    describe_counter!("quarry_http_errors_total", "Error responses by error code");
    describe_counter!(
        "quarry_http_connections_refused_total",
        "Connections closed at once because a connection cap was reached"
    );
    describe_histogram!(
        "quarry_query_stage_seconds",
        Unit::Seconds,
        "Query latency by stage: embed, vector, keyword, total"
    );
    describe_counter!("quarry_query_decisions_total", "Query decisions");
    describe_histogram!("quarry_query_confidence", "Confidence of answered queries");
    describe_counter!(
        "quarry_query_embedding_cache_total",
        "Question embeddings served from the cache (hit) or computed (miss)"
    );
    describe_gauge!("quarry_kb_chunks", "Chunks per knowledge base");
    describe_gauge!("quarry_kb_vectors", "Live vectors per knowledge base");
    describe_gauge!("quarry_kb_documents", "Documents per knowledge base");
}

/// One HTTP request (the middleware in `layers`).
pub fn http_request(route: &str, method: &Method, status: StatusCode, took: Duration) {
    metrics::counter!(
        "quarry_http_requests_total",
        "route" => route.to_owned(),
        "method" => method.as_str().to_owned(),
        "status" => status.as_u16().to_string()
    )
    .increment(1);
    metrics::histogram!("quarry_http_request_duration_seconds", "route" => route.to_owned())
        .record(took.as_secs_f64());
}

/// One error response, by code.
/// A connection over a cap, closed unserved.
pub fn connection_refused() {
    metrics::counter!("quarry_http_connections_refused_total").increment(1);
}

pub fn error(code: &'static str) {
    metrics::counter!("quarry_http_errors_total", "code" => code).increment(1);
}

/// One answered query.
pub fn query(response: &QueryResponse) {
    let t = &response.timings;
    for (stage, ms) in [
        ("embed", t.embed_ms),
        ("vector", t.search_ms),
        ("keyword", t.keyword_ms),
        ("total", t.total_ms),
    ] {
        metrics::histogram!("quarry_query_stage_seconds", "stage" => stage).record(ms / 1000.0);
    }
    let decision = match response.decision {
        quarry_query::Decision::Answer => "answer",
        quarry_query::Decision::Clarify => "clarify",
        quarry_query::Decision::Handoff => "handoff",
    };
    metrics::counter!("quarry_query_decisions_total", "decision" => decision).increment(1);
    metrics::histogram!("quarry_query_confidence").record(f64::from(response.confidence));
    let result = if t.embed_cached { "hit" } else { "miss" };
    metrics::counter!("quarry_query_embedding_cache_total", "result" => result).increment(1);
}

/// Sets the per-knowledge-base gauges (at scrape time).
pub fn knowledge_bases(catalog: &quarry_index::Catalog) {
    for (name, kb) in catalog.all() {
        if let Ok(stats) = kb.stats() {
            metrics::gauge!("quarry_kb_chunks", "kb" => name.clone())
                .set(stats.store.chunks as f64);
            metrics::gauge!("quarry_kb_documents", "kb" => name.clone())
                .set(stats.store.documents as f64);
            metrics::gauge!("quarry_kb_vectors", "kb" => name)
                .set(stats.vector_points.saturating_sub(stats.tombstones) as f64);
        }
    }
}
