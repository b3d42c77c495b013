//! `quarry`: the composition root. Parses the command line and the layered
//! configuration once, builds the knowledge base, and runs one of `ingest`,
//! `query`, `serve`, `status` or `bench`.

mod config;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use config::Config;
use quarry_formats::Registry;
use quarry_index::{Embedder, KnowledgeBase, OnnxEmbedder};
use quarry_ingest::{FileSource, IngestReport, Outcome, Pipeline, Progress};
use quarry_query::{QueryRequest, Retriever};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "quarry",
    version,
    about = "Grounded, cited passages from your content for AI support agents"
)]
struct Cli {
    /// Knowledge base directory.
    #[arg(long, global = true, env = "QUARRY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Configuration file (default: ./quarry.toml if present).
    #[arg(long, global = true, env = "QUARRY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ingest files and folders (recursively); unchanged files are skipped,
    /// files removed from an ingested folder leave the index.
    Ingest {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Private content: passages are returned without citations.
        #[arg(long)]
        private: bool,
        /// Keep documents that disappeared from the folder.
        #[arg(long)]
        no_prune: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Ask a question.
    Query {
        question: String,
        #[arg(long)]
        top_k: Option<usize>,
        /// Print the full response as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Serve the HTTP API.
    Serve {
        /// Address to listen on (default from config: 127.0.0.1:7700).
        #[arg(long)]
        addr: Option<SocketAddr>,
    },
    /// Counts of documents, chunks and vectors.
    Status,
    /// Measure embedder and ingest throughput, query latency and hit@3 on a corpus.
    Bench {
        #[arg(long, default_value = "corpora/sqlite-sample")]
        corpus: PathBuf,
        /// Query-path calls to time.
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Small run for CI: fewer raw-embedder chunks and queries.
        #[arg(long)]
        quick: bool,
        #[arg(long)]
        json: bool,
        /// Fail when recall@10 of the configured fusion falls below this
        /// (a quality regression guard for CI, not a timing).
        #[arg(long)]
        min_recall_at_10: Option<f64>,
    },
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,quarry=info")),
        )
        .init();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(dir) = cli.data_dir {
        config.data_dir = dir;
    }
    match cli.command {
        Command::Ingest {
            paths,
            private,
            no_prune,
            json,
        } => ingest(&config, &paths, private, no_prune, json),
        Command::Query {
            question,
            top_k,
            json,
        } => query(&config, question, top_k, json),
        Command::Serve { addr } => serve(&config, addr.unwrap_or(config.server.addr)),
        Command::Status => status(&config),
        Command::Bench {
            corpus,
            queries,
            quick,
            json,
            min_recall_at_10,
        } => bench(&config, corpus, queries, quick, json, min_recall_at_10),
    }
}

fn embedder(config: &Config) -> Result<Arc<dyn Embedder>> {
    let e = OnnxEmbedder::load(config.model.clone()).context("loading the embedding model")?;
    Ok(Arc::new(e))
}

fn open_kb(config: &Config) -> Result<Arc<KnowledgeBase>> {
    let kb = KnowledgeBase::open(&config.data_dir, embedder(config)?, config.index).with_context(
        || {
            format!(
                "opening the knowledge base in {}",
                config.data_dir.display()
            )
        },
    )?;
    Ok(Arc::new(kb))
}

/// Draws a progress bar on a terminal; silent otherwise.
struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn started(&self, documents: usize) {
        self.0.set_length(documents as u64);
    }

    fn finished(&self, name: &str, outcome: &Outcome) {
        if let Outcome::Failed { reason } = outcome {
            self.0.println(format!("failed: {name}: {reason}"));
        }
        self.0.set_message(name.to_owned());
        self.0.inc(1);
    }
}

fn ingest(
    config: &Config,
    paths: &[PathBuf],
    private: bool,
    no_prune: bool,
    json: bool,
) -> Result<()> {
    let kb = open_kb(config)?;
    let mut options = config.ingest;
    options.citable = !private;
    options.prune = !no_prune;
    let registry = Registry::default().with_limits(config.formats);
    let pipeline = Pipeline::new(kb.clone(), Arc::new(registry), options);
    let mut reports = Vec::new();
    for path in paths {
        let source =
            FileSource::new(path).with_context(|| format!("cannot ingest {}", path.display()))?;
        let bar = indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{bar:30}] {pos}/{len} documents {wide_msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let report = pipeline.run(&source, &Bar(bar.clone()))?;
        bar.finish_and_clear();
        if !json {
            print_report(&report);
        }
        reports.push(report);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(())
}

fn print_report(r: &IngestReport) {
    println!("ingested {}", r.source_id);
    println!(
        "  documents: {} seen, {} indexed, {} unchanged, {} removed, {} failed",
        r.documents,
        r.indexed,
        r.unchanged,
        r.removed,
        r.failed.len()
    );
    println!(
        "  chunks:    {} written, {} embedded, {} reused from cache",
        r.chunks, r.embedded, r.reused
    );
    if r.indexed + r.removed == 0 && r.failed.is_empty() {
        println!("  nothing changed: no text was embedded");
    }
    println!(
        "  time:      {:.1} s ({:.1} chunks/s)",
        r.elapsed_ms as f64 / 1000.0,
        r.chunks_per_second()
    );
    for f in &r.failed {
        println!("  error: {}: {}", f.name, f.reason);
    }
}

fn query(config: &Config, question: String, top_k: Option<usize>, json: bool) -> Result<()> {
    let retriever = Retriever::new(open_kb(config)?, config.query)?;
    let request = QueryRequest {
        top_k,
        ..QueryRequest::new(question)
    };
    let response = retriever.query(&request)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&response)?);
        return Ok(());
    }
    println!(
        "decision: {:?} (confidence {:.2}, top similarity {:.3})",
        response.decision, response.confidence, response.details.top_similarity
    );
    for (i, p) in response.passages.iter().enumerate() {
        println!();
        match &p.citation {
            Some(c) => println!(
                "[{}] {:.3}  {}  ({})",
                i + 1,
                p.score,
                c.url,
                std::iter::once(c.title.clone().unwrap_or_default())
                    .chain(c.heading_path.iter().cloned())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" › ")
            ),
            None => println!("[{}] {:.3}  (private source, no citation)", i + 1, p.score),
        }
        let text: String = p.text.chars().take(400).collect();
        let ellipsis = if p.text.chars().count() > 400 {
            " …"
        } else {
            ""
        };
        println!("    {}{ellipsis}", text.replace('\n', "\n    "));
    }
    Ok(())
}

fn serve(config: &Config, addr: SocketAddr) -> Result<()> {
    let kb = open_kb(config)?;
    let retriever = Arc::new(Retriever::new(kb.clone(), config.query)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        quarry_query::http::serve(
            addr,
            retriever,
            |bound| {
                println!("quarry listening on http://{bound}");
                if !bound.ip().is_loopback() {
                    println!("warning: the API has no authentication yet; bind to 127.0.0.1 unless a proxy guards it");
                }
                let _ = std::io::stdout().flush();
            },
            shutdown_signal(),
        )
        .await
    })?;
    kb.flush()?;
    println!("quarry stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn status(config: &Config) -> Result<()> {
    let kb = open_kb(config)?;
    let stats = kb.stats()?;
    println!("data dir:   {}", config.data_dir.display());
    println!("model:      {}", kb.embedder().model_id());
    println!("documents:  {}", stats.store.documents);
    println!("chunks:     {}", stats.store.chunks);
    println!("embeddings: {} cached", stats.store.embeddings);
    println!(
        "vectors:    {} ({} removed, awaiting compaction)",
        stats.vector_points, stats.tombstones
    );
    Ok(())
}

fn bench(
    config: &Config,
    corpus: PathBuf,
    queries: usize,
    quick: bool,
    json: bool,
    min_recall_at_10: Option<f64>,
) -> Result<()> {
    if !corpus.join("docs").is_dir() {
        bail!("{} has no docs/ folder", corpus.display());
    }
    let options = quarry_bench::BenchOptions {
        corpus,
        queries: if quick { queries.min(20) } else { queries },
        max_raw_chunks: if quick { 64 } else { usize::MAX },
        ingest: config.ingest,
        embed_workers: config.ingest.embed_workers,
    };
    let report = quarry_bench::run(embedder(config)?, config.index, config.query, &options)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report.table());
        println!();
        println!("{}", report.modes_table());
    }
    if let Some(floor) = min_recall_at_10 {
        let configured = report
            .modes
            .iter()
            .find(|m| m.fusion == config.query.fusion)
            .context("the configured fusion mode was not evaluated")?;
        if configured.recall_at_10 < floor {
            bail!(
                "recall@10 of {:?} fusion is {:.3}, below the floor of {floor}",
                configured.fusion,
                configured.recall_at_10
            );
        }
        println!(
            "recall@10 {:.3} ≥ floor {floor}: ok",
            configured.recall_at_10
        );
    }
    Ok(())
}
