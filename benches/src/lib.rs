//! Benchmarks and the eval harness over `corpora/`.
//!
//! [`run`] measures, in one process and on the same corpus: the raw embedder
//! throughput (the ceiling), the whole ingest pipeline's throughput against
//! it, a resync of the unchanged corpus, query latency percentiles over the
//! real query path, and hit@3 / decision accuracy on the corpus' labelled
//! questions. `quarry bench` prints the [`BenchReport`] as a table or JSON.

pub mod ann;
pub mod conflicts;
pub mod crawl;
pub mod eval;
pub mod gaps;
pub mod load;
pub mod scale;
pub mod soak;

use quarry_formats::{Input, Registry};
use quarry_index::{Catalog, DEFAULT_KB, Embedder};
use quarry_ingest::{
    Chunker, FileSource, IngestOptions, IngestReport, NoProgress, Pipeline, Source, title_from_name,
};
use quarry_query::{Auth, Fusion, QueryOptions, QueryRequest, QueryService, Retriever};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bench: {0}")]
    Setup(String),
    #[error(transparent)]
    Index(#[from] quarry_index::Error),
    #[error(transparent)]
    Ingest(#[from] quarry_ingest::Error),
    #[error(transparent)]
    Query(#[from] quarry_query::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// One labelled question of a corpus' query set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryCase {
    pub id: String,
    pub query: String,
    /// File names of documents that answer it; empty = not answerable.
    pub expect: Vec<String>,
    /// Graded relevance of each `expect` entry (BEIR qrels scores); empty =
    /// all 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grades: Vec<f64>,
}

impl QueryCase {
    /// The relevance grade of document `name` (0 = not relevant).
    pub fn grade(&self, name: &str) -> f64 {
        self.expect
            .iter()
            .position(|e| e == name)
            .map_or(0.0, |i| self.grades.get(i).copied().unwrap_or(1.0))
    }
}

/// A corpus folder's query set, in either of two layouts:
///
/// - BEIR: `queries.jsonl` with `{"_id", "text"}` lines plus `qrels.tsv` (or
///   `qrels/test.tsv`) with `query-id  corpus-id  score` rows, where the
///   corpus id is a file name under `docs/` and a score above 0 means
///   relevant (the score is the grade nDCG uses). Queries without a relevant
///   row are the ones the corpus cannot answer (hand-off cases).
/// - quarry's own: `queries.jsonl` with `{"id", "query", "expect": [file…]}`.
pub fn load_query_set(corpus: &Path) -> Result<Vec<QueryCase>> {
    let queries = corpus.join("queries.jsonl");
    let qrels = [corpus.join("qrels.tsv"), corpus.join("qrels/test.tsv")]
        .into_iter()
        .find(|p| p.is_file());
    match qrels {
        Some(qrels) => load_beir(&queries, &qrels),
        None => load_queries(&queries),
    }
}

#[derive(Deserialize)]
struct BeirQuery {
    #[serde(rename = "_id")]
    id: String,
    text: String,
}

fn load_beir(queries: &Path, qrels: &Path) -> Result<Vec<QueryCase>> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| Error::Setup(format!("{}: {e}", p.display())))
    };
    let mut relevant: std::collections::HashMap<String, Vec<(String, f64)>> =
        std::collections::HashMap::new();
    for (i, line) in read(qrels)?.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').map(str::trim).collect();
        if line.trim().is_empty() || (i == 0 && cols.first() == Some(&"query-id")) {
            continue;
        }
        let [query, doc, score] = cols[..] else {
            return Err(Error::Setup(format!(
                "{}:{}: expected query-id, corpus-id, score",
                qrels.display(),
                i + 1
            )));
        };
        let score: f64 = score
            .parse()
            .map_err(|e| Error::Setup(format!("{}:{}: score: {e}", qrels.display(), i + 1)))?;
        if score > 0.0 {
            relevant
                .entry(query.to_owned())
                .or_default()
                .push((doc.to_owned(), score));
        }
    }
    read(queries)?
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let q: BeirQuery = serde_json::from_str(l)
                .map_err(|e| Error::Setup(format!("{}:{}: {e}", queries.display(), i + 1)))?;
            let (expect, grades) = relevant
                .remove(&q.id)
                .unwrap_or_default()
                .into_iter()
                .unzip();
            Ok(QueryCase {
                expect,
                grades,
                id: q.id,
                query: q.text,
            })
        })
        .collect()
}

/// quarry's own query set format (see [`load_query_set`]).
pub fn load_queries(path: &Path) -> Result<Vec<QueryCase>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Setup(format!("{}: {e}", path.display())))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| Error::Setup(format!("{}:{}: {e}", path.display(), i + 1)))
        })
        .collect()
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub count: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    #[serde(default)]
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(samples: &[f64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        let at = |q: f64| s[((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
        Self {
            count: s.len(),
            mean_ms: s.iter().sum::<f64>() / s.len() as f64,
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            p999_ms: at(0.999),
            max_ms: s[s.len() - 1],
        }
    }
}

/// Retrieval quality of one fusion mode on a corpus' labelled questions.
/// Relevance is per document: a question is answered at rank r when the
/// r-th passage cites one of its expected documents. `recall_at_k` is the
/// share of answerable questions with a relevant document in the top k
/// (success@k, the usual measure for question answering).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModeEval {
    pub fusion: Fusion,
    pub recall_at_1: f64,
    pub recall_at_3: f64,
    pub recall_at_5: f64,
    pub recall_at_10: f64,
    pub mrr: f64,
    /// Graded relevance (qrels scores as gains) over distinct documents in
    /// the top 10.
    pub ndcg_at_10: f64,
    /// Share of questions whose decision is right (see
    /// [`Outcome::decided_right`]).
    pub decision_accuracy: f64,
    /// Share of out-of-domain questions not answered (hand-off or clarify).
    #[serde(default)]
    pub out_of_domain_not_answered: f64,
    pub mean_confidence_answerable: f64,
    pub mean_confidence_offtopic: f64,
    /// Expected calibration error of the confidence (10 equal-width bins)
    /// against "the top passage cites a relevant document".
    pub ece: f64,
    /// Query latency in process (embedding included; no cache).
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
}

/// Expected calibration error: the bin-weighted gap between mean confidence
/// and observed accuracy, over `bins` equal-width confidence bins.
pub fn expected_calibration_error(samples: &[(f64, bool)], bins: usize) -> f64 {
    let bins = bins.max(1);
    let mut sums = vec![(0.0f64, 0.0f64, 0usize); bins];
    for &(p, correct) in samples {
        let b = ((p.clamp(0.0, 1.0) * bins as f64) as usize).min(bins - 1);
        sums[b].0 += p;
        sums[b].1 += f64::from(u8::from(correct));
        sums[b].2 += 1;
    }
    let n = samples.len().max(1) as f64;
    sums.iter()
        .filter(|b| b.2 > 0)
        .map(|(p, y, count)| (*count as f64 / n) * (p / *count as f64 - y / *count as f64).abs())
        .sum()
}

/// What happened to one question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub id: String,
    pub answerable: bool,
    /// 0-based rank of the first passage citing a relevant document.
    pub first_relevant: Option<usize>,
    pub ndcg_at_10: f64,
    pub latency_ms: f64,
    /// The confidence model's inputs (`None`: no passage came back).
    pub features: Option<quarry_query::Features>,
    /// A short answer decided the result (its confidence is not the model's).
    pub short_answer: bool,
    pub confidence: f64,
}

impl Outcome {
    /// The label the confidence is calibrated against.
    pub fn top_is_relevant(&self) -> bool {
        self.first_relevant == Some(0)
    }

    /// Whether deciding `answer` (or not) is right for this question:
    /// answering is right when the top passage answers it; handing off (or
    /// asking to clarify) is right when it does not — the question is out of
    /// domain, or retrieval missed. The same label the confidence is
    /// calibrated against, so a calibrated model answers at p ≥ 0.5.
    pub fn decided_right(&self, answer: bool) -> bool {
        answer == self.top_is_relevant()
    }
}

/// Runs every labelled question through `retriever` (asking for 10 passages).
pub fn run_cases(retriever: &Retriever, cases: &[QueryCase]) -> Result<Vec<Outcome>> {
    let mut out = Vec::with_capacity(cases.len());
    for case in cases {
        let request = QueryRequest {
            top_k: Some(10),
            ..QueryRequest::new(case.query.clone())
        };
        let t = Instant::now();
        let r = retriever.query(&request)?;
        let latency_ms = t.elapsed().as_secs_f64() * 1000.0;
        let docs: Vec<&str> = r
            .passages
            .iter()
            .map(|p| p.citation.as_ref().map_or("", |c| file_name(&c.uri)))
            .collect();
        let mut seen = std::collections::HashSet::new();
        let dcg: f64 = docs
            .iter()
            .enumerate()
            .filter(|(_, d)| case.grade(d) > 0.0 && seen.insert(**d))
            .map(|(i, d)| case.grade(d) / ((i as f64) + 2.0).log2())
            .sum();
        let mut ideal: Vec<f64> = (0..case.expect.len())
            .map(|i| case.grades.get(i).copied().unwrap_or(1.0))
            .collect();
        ideal.sort_by(|a, b| b.total_cmp(a));
        let idcg: f64 = ideal
            .iter()
            .take(10)
            .enumerate()
            .map(|(i, g)| g / ((i as f64) + 2.0).log2())
            .sum();
        let d = &r.details;
        out.push(Outcome {
            id: case.id.clone(),
            answerable: !case.expect.is_empty(),
            first_relevant: docs.iter().position(|d| case.grade(d) > 0.0),
            ndcg_at_10: if idcg > 0.0 { dcg / idcg } else { 0.0 },
            latency_ms,
            features: (!r.passages.is_empty()).then_some(quarry_query::Features {
                similarity: d.top_similarity,
                margin: d.margin,
                keyword_score: d.keyword_score,
                agreement: d.agreement,
                coverage: d.coverage,
            }),
            short_answer: d.short_answer,
            confidence: f64::from(r.confidence),
        });
    }
    Ok(out)
}

/// Scores outcomes; `confidence` gives each one's confidence (the one the
/// query returned, or a refitted model's) and `answer_at` the threshold of
/// the `answer` decision.
pub fn score(
    fusion: Fusion,
    outcomes: &[Outcome],
    confidence: &dyn Fn(&Outcome) -> f64,
    answer_at: f64,
) -> ModeEval {
    let answerable: Vec<&Outcome> = outcomes.iter().filter(|o| o.answerable).collect();
    let n = answerable.len().max(1) as f64;
    let within = |k: usize| {
        answerable
            .iter()
            .filter(|o| o.first_relevant.is_some_and(|r| r < k))
            .count() as f64
            / n
    };
    let mean = |v: Vec<f64>| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let calibration: Vec<(f64, bool)> = outcomes
        .iter()
        .map(|o| (confidence(o), o.top_is_relevant()))
        .collect();
    let right = outcomes
        .iter()
        .filter(|o| o.decided_right(confidence(o) >= answer_at))
        .count();
    let latency = Latency::of(&outcomes.iter().map(|o| o.latency_ms).collect::<Vec<_>>());
    ModeEval {
        fusion,
        recall_at_1: within(1),
        recall_at_3: within(3),
        recall_at_5: within(5),
        recall_at_10: within(10),
        mrr: answerable
            .iter()
            .filter_map(|o| o.first_relevant)
            .map(|r| 1.0 / (r as f64 + 1.0))
            .sum::<f64>()
            / n,
        ndcg_at_10: answerable.iter().map(|o| o.ndcg_at_10).sum::<f64>() / n,
        decision_accuracy: right as f64 / outcomes.len().max(1) as f64,
        out_of_domain_not_answered: {
            let ood: Vec<&Outcome> = outcomes.iter().filter(|o| !o.answerable).collect();
            ood.iter().filter(|o| confidence(o) < answer_at).count() as f64
                / ood.len().max(1) as f64
        },
        mean_confidence_answerable: mean(answerable.iter().map(|o| confidence(o)).collect()),
        mean_confidence_offtopic: mean(
            outcomes
                .iter()
                .filter(|o| !o.answerable)
                .map(confidence)
                .collect(),
        ),
        ece: expected_calibration_error(&calibration, 10),
        latency_p50_ms: latency.p50_ms,
        latency_p99_ms: latency.p99_ms,
    }
}

/// Runs every labelled question through `retriever` and scores the
/// confidence and decisions it returned.
pub fn evaluate(retriever: &Retriever, fusion: Fusion, cases: &[QueryCase]) -> Result<ModeEval> {
    let outcomes = run_cases(retriever, cases)?;
    let answer_at = f64::from(retriever.confidence().answer_at);
    Ok(score(fusion, &outcomes, &|o| o.confidence, answer_at))
}

/// Everything one bench run measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub corpus: String,
    pub documents: usize,
    pub chunks: usize,
    pub cores: usize,
    /// Passages per second embedding the corpus' chunks directly, with the
    /// same parallelism as the pipeline.
    pub embedder_passages_per_s: f64,
    pub ingest_chunks_per_s: f64,
    /// Pipeline throughput / raw embedder throughput (1.0 = the pipeline
    /// adds nothing on top of embedding).
    pub ingest_vs_embedder: f64,
    pub ingest: IngestReport,
    pub resync_ms: u64,
    pub resync_embedded: usize,
    pub query: Latency,
    /// The same questions through `POST /v1/query` on 127.0.0.1, one client.
    pub http_query: Latency,
    pub query_embed: Latency,
    pub query_search: Latency,
    /// Answerable questions with an expected document in the top 3.
    pub hit_at_3: f64,
    pub answerable: usize,
    /// Share of questions whose decision is right: `answer` for answerable,
    /// anything but `answer` for off-topic ones.
    pub decision_accuracy: f64,
    pub mean_confidence_answerable: f64,
    pub mean_confidence_offtopic: f64,
    /// The same questions under each fusion mode.
    pub modes: Vec<ModeEval>,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Corpus folder with `docs/` and a query set (see [`load_query_set`]).
    pub corpus: PathBuf,
    /// Query-path calls to time (cycling over the query set).
    pub queries: usize,
    /// Embed at most this many chunks in the raw-throughput run.
    pub max_raw_chunks: usize,
    pub ingest: IngestOptions,
    /// Embedding parallelism of the raw run (0 = one per core); use the
    /// pipeline's embed worker count.
    pub embed_workers: usize,
    /// Build the knowledge base in this (new or empty) folder and keep it,
    /// e.g. for `bench load --existing`; `None`: a temporary folder.
    pub keep: Option<PathBuf>,
}

/// A temporary folder (for a knowledge base that is not kept).
pub(crate) fn temp_dir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| Error::Setup(format!("temp dir: {e}")))
}

/// With `QUARRY_DATABASE_URL` set, benchmarks build their knowledge bases
/// on that PostgreSQL server (the shared backend): a database of its own for
/// each data folder, named after the folder, so a kept folder finds its
/// database again.
pub fn shared_database(
    dir: &Path,
) -> Result<Option<Arc<quarry_index::store::postgres::PgDatabase>>> {
    use quarry_index::store::postgres::{PgDatabase, PgOptions, create_database};
    let Some(admin) = std::env::var("QUARRY_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        return Ok(None);
    };
    let key = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let hex = quarry_index::ContentHash::of(key.display().to_string().as_bytes()).to_hex();
    let url = create_database(&admin, &format!("bench_{}", &hex[..16]))?;
    Ok(Some(Arc::new(PgDatabase::connect(PgOptions::new(&url))?)))
}

/// Opens (or creates) the catalog in `dir` and its default knowledge base.
pub(crate) fn open_default_kb(
    dir: &Path,
    embedder: Arc<dyn Embedder>,
    index: quarry_index::IndexOptions,
) -> Result<(Arc<Catalog>, Arc<quarry_index::KnowledgeBase>)> {
    let models = Arc::new(quarry_index::Models::of(embedder));
    let catalog = Arc::new(match shared_database(dir)? {
        Some(db) => Catalog::open_shared(dir, models, index, db)?,
        None => Catalog::open(dir, models, index)?,
    });
    let kb = catalog
        .get(DEFAULT_KB)?
        .ok_or_else(|| Error::Setup("no default knowledge base".into()))?;
    Ok((catalog, kb))
}

/// Parses and chunks a folder exactly like the pipeline, returning the texts
/// the model would embed.
pub fn embed_texts(
    source: &FileSource,
    registry: &Registry,
    ingest: &IngestOptions,
    embedder: &dyn Embedder,
) -> Result<Vec<String>> {
    let chunker = Chunker::new(ingest.chunk, embedder);
    let mut out = Vec::new();
    for item in source.scan()? {
        let raw = source.fetch(&item)?;
        if let Ok(mut doc) = registry.parse(&Input::new(&item.name, &raw.bytes)) {
            title_from_name(&mut doc, &item.name);
            out.extend(chunker.chunk(&doc).into_iter().map(|c| c.embed_text));
        }
    }
    Ok(out)
}

/// Passages per second embedding `texts` in batches of `batch` on `workers` threads.
pub fn embedder_throughput(
    embedder: &dyn Embedder,
    texts: &[String],
    workers: usize,
    batch: usize,
) -> Result<f64> {
    let workers = workers.max(1);
    let batches: Vec<Vec<&str>> = texts
        .chunks(batch.max(1))
        .map(|b| b.iter().map(String::as_str).collect())
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(b) = batches.get(i) else {
                            return Ok(());
                        };
                        embedder.embed_passages(b)?;
                    }
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| Error::Setup("embed thread panicked".into()))??;
        }
        Ok(())
    })?;
    Ok(texts.len() as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

fn file_name(uri: &str) -> &str {
    uri.rsplit('/').next().unwrap_or(uri)
}

/// `service` behind the HTTP router on 127.0.0.1 (a free port), on a
/// runtime of its own, until [`Served::stop`].
pub struct Served {
    pub addr: std::net::SocketAddr,
    runtime: tokio::runtime::Runtime,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served").field("addr", &self.addr).finish()
    }
}

impl Served {
    pub fn start(service: Arc<QueryService>) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::Setup(format!("runtime: {e}")))?;
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = runtime.spawn(quarry_server::serve(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            quarry_server::router(service, None, quarry_server::Options::default()),
            quarry_server::ConnectionLimits::default(),
            move |addr| {
                let _ = addr_tx.send(addr);
            },
            async move {
                let _ = stop_rx.await;
            },
        ));
        let addr = addr_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .map_err(|_| Error::Setup("server did not start".into()))?;
        Ok(Self {
            addr,
            runtime,
            server,
            stop,
        })
    }

    /// The URL of the query route.
    pub fn query_url(&self) -> String {
        format!("http://{}/v1/query", self.addr)
    }

    /// Shuts the server down and reports how it ended.
    pub fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.runtime
            .block_on(self.server)
            .map_err(|e| Error::Setup(format!("server task: {e}")))?
            .map_err(|e| Error::Setup(format!("server: {e}")))?;
        Ok(())
    }
}

/// Serves `service` on 127.0.0.1 and times `n` sequential `POST /v1/query`
/// calls from one client (connection reused), cycling over `cases`.
pub fn http_latency(service: Arc<QueryService>, cases: &[QueryCase], n: usize) -> Result<Latency> {
    let served = Served::start(service)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    let url = served.query_url();
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let body = serde_json::json!({"query": cases[i % cases.len()].query});
        let t = Instant::now();
        let mut response = agent
            .post(&url)
            .send_json(&body)
            .map_err(|e| Error::Setup(format!("POST {url}: {e}")))?;
        let _: serde_json::Value = response
            .body_mut()
            .read_json()
            .map_err(|e| Error::Setup(format!("response: {e}")))?;
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    served.stop()?;
    Ok(Latency::of(&samples))
}

/// Runs the whole benchmark in a temporary data directory.
pub fn run(
    embedder: Arc<dyn Embedder>,
    index: quarry_index::IndexOptions,
    query: quarry_query::QueryOptions,
    options: &BenchOptions,
) -> Result<BenchReport> {
    let docs = options.corpus.join("docs");
    let cases = load_query_set(&options.corpus)?;
    let registry = Arc::new(Registry::default());
    let source = FileSource::new(&docs)?;
    let workers = match options.embed_workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };

    let texts = embed_texts(&source, &registry, &options.ingest, embedder.as_ref())?;
    let sample: Vec<String> = texts
        .iter()
        .take(options.max_raw_chunks.max(1))
        .cloned()
        .collect();
    let raw = embedder_throughput(
        embedder.as_ref(),
        &sample,
        workers,
        options.ingest.embed_batch,
    )?;

    let temp;
    let data = match &options.keep {
        Some(dir) => {
            let used = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
            if used {
                return Err(Error::Setup(format!(
                    "{} is not empty: the ingest must start from nothing to be timed",
                    dir.display()
                )));
            }
            dir.clone()
        }
        None => {
            temp = temp_dir()?;
            temp.path().to_owned()
        }
    };
    let (catalog, kb) = open_default_kb(&data, embedder.clone(), index)?;
    let pipeline = Pipeline::new(kb.clone(), registry, options.ingest);
    let ingest = pipeline.run(&source, &NoProgress)?;
    let resync = pipeline.run(&source, &NoProgress)?;

    let mut modes = Vec::new();
    for fusion in [Fusion::Vector, Fusion::Keyword, Fusion::Rrf, Fusion::Blend] {
        let options = QueryOptions { fusion, ..query };
        modes.push(evaluate(
            &Retriever::new(kb.clone(), options)?,
            fusion,
            &cases,
        )?);
    }
    let retriever = Retriever::new(kb, query)?;
    // No query cache: the 200 calls cycle over a few dozen questions, and
    // this row is about the uncached path (`bench load` measures the cache).
    let uncached = QueryOptions {
        cache_size: 0,
        ..query
    };
    let service = QueryService::new(catalog, uncached, Auth::default())?;
    let http = http_latency(Arc::new(service), &cases, options.queries)?;
    let (mut total, mut embed, mut search) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..options.queries {
        let case = &cases[i % cases.len()];
        let t = Instant::now();
        let r = retriever.query(&QueryRequest::new(case.query.clone()))?;
        total.push(t.elapsed().as_secs_f64() * 1000.0);
        embed.push(r.timings.embed_ms);
        search.push(r.timings.search_ms);
    }

    // The headline quality figures are those of the configured fusion mode.
    let configured = modes
        .iter()
        .find(|m| m.fusion == query.fusion)
        .copied()
        .ok_or_else(|| Error::Setup("the configured fusion mode was not evaluated".into()))?;
    let answerable = cases.iter().filter(|c| !c.expect.is_empty()).count();
    let ingest_rate = ingest.chunks_per_second();
    Ok(BenchReport {
        corpus: options.corpus.display().to_string(),
        documents: ingest.documents,
        chunks: ingest.chunks,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        embedder_passages_per_s: raw,
        ingest_chunks_per_s: ingest_rate,
        ingest_vs_embedder: ingest_rate / raw.max(1e-9),
        resync_ms: resync.elapsed_ms,
        resync_embedded: resync.embedded,
        ingest,
        query: Latency::of(&total),
        http_query: http,
        query_embed: Latency::of(&embed),
        query_search: Latency::of(&search),
        hit_at_3: configured.recall_at_3,
        answerable,
        decision_accuracy: configured.decision_accuracy,
        mean_confidence_answerable: configured.mean_confidence_answerable,
        mean_confidence_offtopic: configured.mean_confidence_offtopic,
        modes,
    })
}

impl BenchReport {
    /// A Markdown table, as quoted in the README.
    pub fn table(&self) -> String {
        let q = &self.query;
        [
            format!("| corpus | {} ({} documents, {} chunks) |", self.corpus, self.documents, self.chunks),
            "|---|---|".to_string(),
            format!("| raw embedder | {:.1} passages/s ({} cores) |", self.embedder_passages_per_s, self.cores),
            format!(
                "| ingest pipeline | {:.1} chunks/s = {:.2} × embedder ({} ms) |",
                self.ingest_chunks_per_s, self.ingest_vs_embedder, self.ingest.elapsed_ms
            ),
            format!("| resync, unchanged | {} ms, {} chunks re-embedded |", self.resync_ms, self.resync_embedded),
            format!(
                "| query, in process ({} queries) | p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms |",
                q.count, q.p50_ms, q.p90_ms, q.p99_ms, q.max_ms
            ),
            format!(
                "| HTTP `POST /v1/query` ({} queries, 1 client) | p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms |",
                self.http_query.count, self.http_query.p50_ms, self.http_query.p90_ms, self.http_query.p99_ms, self.http_query.max_ms
            ),
            format!(
                "| of which embed / search | p50 {:.1} / {:.2} ms, p99 {:.1} / {:.2} ms |",
                self.query_embed.p50_ms, self.query_search.p50_ms, self.query_embed.p99_ms, self.query_search.p99_ms
            ),
            format!("| hit@3 | {:.2} over {} answerable questions |", self.hit_at_3, self.answerable),
            format!(
                "| decision accuracy | {:.2} (mean confidence {:.2} answerable, {:.2} off-topic) |",
                self.decision_accuracy, self.mean_confidence_answerable, self.mean_confidence_offtopic
            ),
        ]
        .join("\n")
    }

    /// Retrieval quality per fusion mode, as a Markdown table.
    pub fn modes_table(&self) -> String {
        let mut out = vec![
            "| fusion | recall@1 | recall@3 | recall@10 | MRR | nDCG@10 | decision acc. | ECE |"
                .to_string(),
            "|---|---|---|---|---|---|---|---|".to_string(),
        ];
        for m in &self.modes {
            out.push(format!(
                "| {:?} | {:.2} | {:.2} | {:.2} | {:.3} | {:.3} | {:.2} | {:.3} |",
                m.fusion,
                m.recall_at_1,
                m.recall_at_3,
                m.recall_at_10,
                m.mrr,
                m.ndcg_at_10,
                m.decision_accuracy,
                m.ece
            ));
        }
        out.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let l = Latency::of(&samples);
        assert_eq!(
            (l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms),
            (50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(Latency::of(&[]).count, 0);
    }

    #[test]
    fn ece_of_perfect_and_overconfident_predictions() {
        assert_eq!(
            expected_calibration_error(&[(1.0, true), (0.0, false)], 10),
            0.0
        );
        let overconfident = [(0.9, false); 4];
        assert!((expected_calibration_error(&overconfident, 10) - 0.9).abs() < 1e-9);
        let mixed = [(0.75, true), (0.75, true), (0.75, true), (0.75, false)];
        assert!(expected_calibration_error(&mixed, 10).abs() < 1e-9);
    }

    #[test]
    fn beir_query_sets_load_with_unanswerable_questions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("qrels")).unwrap();
        std::fs::write(
            dir.path().join("queries.jsonl"),
            "{\"_id\": \"1\", \"text\": \"How do I vacuum?\"}\n{\"_id\": \"2\", \"text\": \"Cookie recipe?\"}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("qrels/test.tsv"),
            "query-id\tcorpus-id\tscore\n1\tlang_vacuum.html\t1\n1\tfaq.html\t0\n",
        )
        .unwrap();
        let cases = load_query_set(dir.path()).unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].expect, ["lang_vacuum.html"]);
        assert_eq!(cases[0].grade("lang_vacuum.html"), 1.0);
        assert_eq!(cases[0].grade("faq.html"), 0.0);
        assert!(cases[1].expect.is_empty(), "no relevant row: hand-off case");
        std::fs::write(dir.path().join("qrels/test.tsv"), "1\tx\n").unwrap();
        assert!(load_query_set(dir.path()).is_err());
    }

    #[test]
    fn bundled_query_set_parses() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/sqlite-sample/queries.jsonl");
        let cases = load_queries(&path).unwrap();
        assert!(cases.iter().filter(|c| c.expect.is_empty()).count() >= 5);
        assert!(cases.iter().filter(|c| !c.expect.is_empty()).count() >= 20);
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/sqlite-sample/docs");
        for c in &cases {
            for e in &c.expect {
                assert!(docs.join(e).is_file(), "{} expects missing {e}", c.id);
            }
        }
    }
}
