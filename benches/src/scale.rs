//! The scale-out benchmark (`quarry bench scale`): the embedded backend
//! against the shared one (PostgreSQL + pgvector) on the same chunks and
//! questions, at sizes up to ~100k chunks.
//!
//! Per backend and size: the storage side of ingest (chunks with their
//! vectors precomputed, committed in batches of 500, as the ingest
//! pipeline does after embedding; embedding costs the same on both),
//! vector search recall@10 against exact search and its latency at each
//! `ef_search`, keyword search latency, and query throughput from one or
//! two nodes (two handles with pools of their own, standing in for two
//! processes) at a few client counts.

use crate::ann::synthetic;
use crate::{Error, Latency, Result};
use quarry_formats::Locator;
use quarry_index::store::postgres::{PgDatabase, PgOptions, create_database};
use quarry_index::vector::{ExactIndex, VectorIndex};
use quarry_index::{
    ContentHash, DocumentMeta, Embedder, HashEmbedder, IndexOptions, KnowledgeBase, NewChunk,
    WriteOp,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct ScaleOptions {
    pub sizes: Vec<usize>,
    pub ef: Vec<usize>,
    pub queries: usize,
    pub clients: Vec<usize>,
    /// A PostgreSQL server with pgvector (admin URL): each size gets a new
    /// database on it.
    pub database: String,
    /// Real text vectors (and dims) to use first; synthetic beyond them.
    pub base: Vec<Vec<f32>>,
    pub query_vectors: Vec<Vec<f32>>,
    pub dims: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRow {
    pub backend: String,
    pub chunks: usize,
    pub ef: usize,
    pub recall_at_10: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeRow {
    pub backend: String,
    pub chunks: usize,
    pub ingest_s: f64,
    pub chunks_per_s: f64,
    pub keyword_p50_ms: f64,
    pub keyword_p99_ms: f64,
    /// Bytes the backend keeps on disk for these chunks.
    pub disk_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThroughputRow {
    pub backend: String,
    pub chunks: usize,
    pub nodes: usize,
    pub clients: usize,
    pub queries_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleReport {
    pub sizes: Vec<SizeRow>,
    pub search: Vec<SearchRow>,
    pub throughput: Vec<ThroughputRow>,
    /// "text" when the vectors are real embeddings, else "synthetic".
    pub vectors: String,
}

/// Text with a Zipf-like word distribution over 20,000 made-up words, so
/// keyword queries match a realistic share of chunks.
fn text_of(i: usize) -> String {
    const SYLLABLES: &[&str] = &[
        "ka", "lo", "mer", "tis", "an", "vel", "dor", "pi", "sun", "gra", "fe", "nol", "ru", "bex",
        "ta", "quin", "os", "lem", "hy", "dra",
    ];
    let mut x = i as u64 * 2_654_435_761 + 1;
    (0..60)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x % 1_000_000) as f64 / 1_000_000.0;
            let mut rank = (u.powi(4) * 20_000.0) as usize;
            let mut word = String::new();
            for _ in 0..3 {
                word.push_str(SYLLABLES[rank % SYLLABLES.len()]);
                rank /= SYLLABLES.len();
            }
            word
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Batches of 500 chunks, 10 per document.
fn batches(vectors: &[Vec<f32>]) -> Vec<Vec<WriteOp>> {
    let docs: Vec<WriteOp> = vectors
        .chunks(10)
        .enumerate()
        .map(|(d, vs)| {
            let uri = format!("https://help.example.com/doc-{d}");
            let chunks = vs
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let text = text_of(d * 10 + i);
                    NewChunk {
                        chunk_id: format!("{uri}#{i}"),
                        content_hash: ContentHash::of(format!("{d}:{i}:{text}").as_bytes()),
                        heading_path: vec![format!("Doc {d}")],
                        text,
                        locator: Locator::Lines {
                            start: i as u32 + 1,
                            end: i as u32 + 1,
                        },
                        vector: Some(v.clone()),
                    }
                })
                .collect();
            WriteOp::Upsert {
                doc: DocumentMeta {
                    uri: uri.clone(),
                    source_id: "bench".into(),
                    title: Some(format!("Doc {d}")),
                    format: "html".into(),
                    language: Some("en".into()),
                    content_hash: ContentHash::of(uri.as_bytes()),
                    pipeline: "bench".into(),
                    citable: true,
                    url: None,
                },
                chunks,
            }
        })
        .collect();
    docs.chunks(50).map(<[WriteOp]>::to_vec).collect()
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    walkdir::WalkDir::new(path)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn pg_bytes(url: &str) -> u64 {
    let Ok(mut c) = postgres::Client::connect(url, postgres::NoTls) else {
        return 0;
    };
    c.query_one("SELECT pg_database_size(current_database())", &[])
        .map_or(0, |r| r.get::<_, i64>(0) as u64)
}

/// Runs the benchmark.
pub fn run(options: &ScaleOptions) -> Result<ScaleReport> {
    let max = options.sizes.iter().copied().max().unwrap_or(0);
    let mut base = options.base.clone();
    let real = base.len();
    if base.len() < max {
        base.extend(synthetic(max - base.len(), options.dims, 1_000, 7));
    }
    base.truncate(max);
    let queries: Vec<Vec<f32>> = if options.query_vectors.is_empty() {
        synthetic(options.queries, options.dims, 1_000, 11)
    } else {
        options
            .query_vectors
            .iter()
            .take(options.queries)
            .cloned()
            .collect()
    };
    let keyword_queries: Vec<String> = (0..queries.len())
        .map(|i| {
            text_of(1_000_000 + i)
                .split(' ')
                .take(4)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let embedder: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(options.dims));
    let mut report = ScaleReport {
        sizes: Vec::new(),
        search: Vec::new(),
        throughput: Vec::new(),
        vectors: if real >= max {
            "text"
        } else if real > 0 {
            "text+synthetic"
        } else {
            "synthetic"
        }
        .into(),
    };
    for &n in &options.sizes {
        let vectors = &base[..n];
        // Exact truth: the 10th best similarity per query.
        let exact = ExactIndex::default();
        exact.insert(
            &vectors
                .iter()
                .enumerate()
                .map(|(i, v)| (i as u64, v.clone()))
                .collect::<Vec<_>>(),
        )?;
        let truth: Vec<f32> = queries
            .iter()
            .map(|q| {
                exact
                    .search(q, 10, 0, &|_| true)
                    .map(|h| h.last().map_or(f32::MIN, |h| h.1) - 1e-5)
            })
            .collect::<quarry_index::Result<_>>()?;
        drop(exact);
        for backend in ["embedded", "postgres"] {
            let dir = crate::temp_dir()?;
            let index = IndexOptions::default();
            let mut url = String::new();
            let open = |url: &str| -> Result<KnowledgeBase> {
                Ok(match backend {
                    "embedded" => KnowledgeBase::open(dir.path(), embedder.clone(), index)?,
                    _ => KnowledgeBase::open_shared(
                        Arc::new(PgDatabase::connect(PgOptions::new(url))?),
                        "default",
                        dir.path(),
                        embedder.model_id(),
                        embedder.clone(),
                        index,
                    )?,
                })
            };
            if backend == "postgres" {
                url = create_database(
                    &options.database,
                    &format!("scale_{n}_{}", std::process::id()),
                )?;
            }
            let kb = open(&url)?;
            let t = Instant::now();
            for batch in batches(vectors) {
                kb.commit(&batch)?;
            }
            kb.flush()?;
            let ingest_s = t.elapsed().as_secs_f64();
            eprintln!("scale: {backend} ingested {n} chunks in {ingest_s:.1} s");
            let mut kw = Vec::new();
            for q in &keyword_queries {
                let t = Instant::now();
                kb.keyword_candidates(q, 40)?;
                kw.push(t.elapsed().as_secs_f64() * 1e3);
            }
            let kw = Latency::of(&kw);
            report.sizes.push(SizeRow {
                backend: backend.into(),
                chunks: n,
                ingest_s,
                chunks_per_s: n as f64 / ingest_s.max(1e-9),
                keyword_p50_ms: kw.p50_ms,
                keyword_p99_ms: kw.p99_ms,
                disk_bytes: if backend == "embedded" {
                    dir_bytes(dir.path())
                } else {
                    pg_bytes(&url)
                },
            });
            for &ef in &options.ef {
                let mut times = Vec::with_capacity(queries.len());
                let mut found = 0usize;
                for (q, want) in queries.iter().zip(&truth) {
                    let t = Instant::now();
                    let hits = kb.vector_candidates(q, 10, Some(ef))?;
                    times.push(t.elapsed().as_secs_f64() * 1e3);
                    found += hits.iter().filter(|h| h.1 >= *want).count();
                }
                let l = Latency::of(&times);
                report.search.push(SearchRow {
                    backend: backend.into(),
                    chunks: n,
                    ef,
                    recall_at_10: found as f64 / (queries.len() * 10.min(n)) as f64,
                    p50_ms: l.p50_ms,
                    p99_ms: l.p99_ms,
                });
            }
            // Throughput: one node, and on the shared backend two.
            let nodes_list: &[usize] = if backend == "postgres" { &[1, 2] } else { &[1] };
            let second = if backend == "postgres" {
                Some(open(&url)?)
            } else {
                None
            };
            for &nodes in nodes_list {
                for &clients in &options.clients {
                    let handles: Vec<&KnowledgeBase> = match (&second, nodes) {
                        (Some(b), 2) => vec![&kb, b],
                        _ => vec![&kb],
                    };
                    let times = std::sync::Mutex::new(Vec::new());
                    let t = Instant::now();
                    std::thread::scope(|scope| {
                        for c in 0..clients {
                            let kb = handles[c % handles.len()];
                            let times = &times;
                            let queries = &queries;
                            scope.spawn(move || {
                                let mut mine = Vec::new();
                                for q in queries.iter().skip(c).step_by(clients) {
                                    let t = Instant::now();
                                    if kb.vector_candidates(q, 10, None).is_ok() {
                                        mine.push(t.elapsed().as_secs_f64() * 1e3);
                                    }
                                }
                                if let Ok(mut all) = times.lock() {
                                    all.extend(mine);
                                }
                            });
                        }
                    });
                    let wall = t.elapsed().as_secs_f64();
                    let times = times
                        .into_inner()
                        .map_err(|_| Error::Setup("poisoned".into()))?;
                    let l = Latency::of(&times);
                    report.throughput.push(ThroughputRow {
                        backend: backend.into(),
                        chunks: n,
                        nodes,
                        clients,
                        queries_per_s: times.len() as f64 / wall.max(1e-9),
                        p50_ms: l.p50_ms,
                        p99_ms: l.p99_ms,
                    });
                }
            }
        }
    }
    Ok(report)
}

/// The report as text tables.
pub fn table(r: &ScaleReport) -> String {
    let mut out = format!(
        "vectors: {}\n\nbackend   chunks   ingest s  chunks/s  kw p50 ms  kw p99 ms  disk MiB\n",
        r.vectors
    );
    for s in &r.sizes {
        out += &format!(
            "{:<9} {:>7} {:>9.1} {:>9.0} {:>10.2} {:>10.2} {:>9.1}\n",
            s.backend,
            s.chunks,
            s.ingest_s,
            s.chunks_per_s,
            s.keyword_p50_ms,
            s.keyword_p99_ms,
            s.disk_bytes as f64 / 1_048_576.0
        );
    }
    out += "\nbackend   chunks    ef  recall@10  p50 ms  p99 ms\n";
    for s in &r.search {
        out += &format!(
            "{:<9} {:>7} {:>5} {:>10.3} {:>7.2} {:>7.2}\n",
            s.backend, s.chunks, s.ef, s.recall_at_10, s.p50_ms, s.p99_ms
        );
    }
    out += "\nbackend   chunks  nodes  clients    q/s  p50 ms  p99 ms\n";
    for s in &r.throughput {
        out += &format!(
            "{:<9} {:>7} {:>6} {:>8} {:>6.0} {:>7.2} {:>7.2}\n",
            s.backend, s.chunks, s.nodes, s.clients, s.queries_per_s, s.p50_ms, s.p99_ms
        );
    }
    out
}
