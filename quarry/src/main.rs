//! `quarry`: the composition root. Parses the command line and the layered
//! configuration once, opens the knowledge bases, and runs one of `ingest`,
//! `sync`, `sources`, `query`, `serve`, `status`, `kb` or `bench`.

mod api;
mod config;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use config::Config;
use quarry_formats::Registry;
use quarry_index::{Catalog, Embedder, JobRecord, OnnxEmbedder, SourceSettings, SourceSpec};
use quarry_ingest::crawl::{CrawlProgress, CrawlReport, UrlOutcome, UrlReport};
use quarry_ingest::{IngestReport, Outcome, Progress, Syncer};
use quarry_query::{Auth, QueryRequest, QueryService};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

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
    /// Knowledge base to work on.
    #[arg(long, global = true, env = "QUARRY_KB", default_value = "default")]
    kb: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ingest files, folders (recursively), web pages and whole sites as
    /// sources of the knowledge base; unchanged documents are skipped,
    /// documents removed at the source leave the index. The sources are
    /// re-synced on schedule by `serve`, or by `sync`.
    Ingest {
        /// Paths, or `http(s)://` URLs (one page; a whole site with `--crawl`).
        #[arg(required = true)]
        paths: Vec<String>,
        /// Private content: passages are returned without citations.
        #[arg(long)]
        private: bool,
        /// Keep documents that disappeared from the folder or site.
        #[arg(long)]
        no_prune: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        crawl: CrawlArgs,
    },
    /// Sync sources now: every scheduled source of the knowledge base, or
    /// the one named.
    Sync {
        /// Source id (see `quarry sources`).
        source: Option<String>,
        /// Only this document of the source.
        #[arg(long, requires = "source")]
        uri: Option<String>,
        /// Only sources whose scheduled sync is due.
        #[arg(long, conflicts_with = "source")]
        due: bool,
        #[arg(long)]
        json: bool,
    },
    /// List the knowledge base's sources.
    Sources {
        #[arg(long)]
        json: bool,
    },
    /// Manage knowledge bases.
    #[command(subcommand)]
    Kb(KbCommand),
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
        #[command(subcommand)]
        what: Option<BenchCommand>,
        #[arg(long, default_value = "corpora/sqlite-sample")]
        corpus: PathBuf,
        /// Query-path calls to time.
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Small run for CI: fewer raw-embedder chunks and queries.
        #[arg(long)]
        quick: bool,
        /// Time the raw embedder on the first N chunks only (default: all;
        /// a large corpus needs a few thousand for a stable figure).
        #[arg(long)]
        raw_chunks: Option<usize>,
        /// Build the knowledge base in this new or empty folder and keep it
        /// (for `bench load --existing`); default: a temporary folder.
        #[arg(long)]
        keep: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Fail when recall@10 of the configured fusion falls below this
        /// (a quality regression guard for CI, not a timing).
        #[arg(long)]
        min_recall_at_10: Option<f64>,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Concurrent HTTP load on `POST /v1/query` against `quarry serve` in a
    /// process of its own, with the query cache off and on, and its memory.
    Load {
        #[arg(long, default_value = "corpora/sqlite-sample")]
        corpus: PathBuf,
        /// Concurrent clients, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
        clients: Vec<usize>,
        /// Requests per level (each level also stops after 120 s).
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Small run for CI (100 requests per level).
        #[arg(long)]
        quick: bool,
        /// Serve the knowledge base already in the data folder (e.g. built
        /// by `quarry bench --keep DIR`) instead of ingesting the corpus'
        /// docs/; the corpus then only supplies the questions.
        #[arg(long)]
        existing: bool,
        #[arg(long)]
        json: bool,
    },
    /// Retrieval quality on the dev sets (corpora/dev, built by
    /// scripts/fetch-devsets.sh): recall, nDCG, decision accuracy and
    /// calibration per set and fusion mode.
    Eval {
        /// Dev set folders (default: every set under corpora/dev).
        sets: Vec<PathBuf>,
        /// Keep each set's knowledge base here between runs (reruns resync).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Only the configured fusion mode (no BM25 / vector / blend rows).
        #[arg(long)]
        quick: bool,
        /// Fit the confidence model on these sets and write the parameter
        /// file here (query/confidence/MODEL.json are the shipped ones).
        #[arg(long)]
        fit: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Fail when any set's recall@10 (configured fusion) falls below this.
        #[arg(long)]
        min_recall_at_10: Option<f64>,
    },
    /// HNSW against exact search: recall@10, latency, build time and memory
    /// per vector over an ef sweep, at several sizes.
    Ann {
        /// Numbers of vectors.
        #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
        sizes: Vec<usize>,
        #[arg(long, value_delimiter = ',', default_value = "16,32,64,128,256")]
        ef: Vec<usize>,
        /// Query vectors.
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Real text vectors: a knowledge-base data directory (`quarry bench
        /// --keep DIR`), or a folder of them (`quarry bench eval --data DIR`
        /// leaves one per dev set); queries
        /// are then the dev sets' questions. Sizes beyond them are synthetic.
        #[arg(long)]
        real: Option<PathBuf>,
        /// Write the recall-vs-latency plot here (SVG).
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Small run for CI (2,000 synthetic vectors, ef 16 and 64).
        #[arg(long)]
        quick: bool,
        #[arg(long)]
        json: bool,
    },
    /// Crawl throughput: serve a generated help site on 127.0.0.1 and crawl
    /// it twice (full, then conditional requests).
    Crawl {
        /// Help pages in the generated site.
        #[arg(long, default_value_t = 2000)]
        pages: usize,
        /// Small site for CI (200 pages).
        #[arg(long)]
        quick: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KbCommand {
    /// List knowledge bases with their counts.
    List,
    /// Create a knowledge base and print its own admin and query tokens.
    Create {
        name: String,
        /// Embedding model (default: `models.default` of the config,
        /// multilingual-e5-small; all-MiniLM-L6-v2 is the fast English one).
        #[arg(long)]
        model: Option<String>,
    },
    /// Delete a knowledge base and everything in it.
    Delete { name: String },
    /// Issue new tokens for a knowledge base (the old ones stop working).
    Tokens { name: String },
    /// Change a knowledge base's embedding model: every source is synced
    /// again on the new model (re-chunked, re-embedded) into a new copy that
    /// replaces the old one only when all of them synced. Stop `quarry
    /// serve` first.
    SetModel {
        name: String,
        /// The new model (a name in `models.available`).
        model: String,
    },
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // html5ever warns about every malformed table it repairs:
                // noise about the input, not about quarry.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new("warn,quarry=info,html5ever=error")
                }),
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
    let config_path = cli.config.clone();
    if let Some(dir) = cli.data_dir {
        config.data_dir = dir;
    }
    let kb = cli.kb;
    quarry_index::validate_kb_name(&kb)?;
    match cli.command {
        Command::Ingest {
            paths,
            private,
            no_prune,
            json,
            crawl,
        } => ingest(&config, &kb, &paths, private, no_prune, json, &crawl),
        Command::Sync {
            source,
            uri,
            due,
            json,
        } => sync(&config, &kb, source, uri, due, json),
        Command::Sources { json } => sources(&config, &kb, json),
        Command::Kb(command) => kb_command(&config, command),
        Command::Query {
            question,
            top_k,
            json,
        } => query(&config, &kb, question, top_k, json),
        Command::Serve { addr } => serve(&config, addr.unwrap_or(config.server.addr)),
        Command::Status => status(&config, &kb),
        Command::Bench {
            what:
                Some(BenchCommand::Eval {
                    sets,
                    data,
                    quick,
                    fit,
                    json,
                    min_recall_at_10,
                }),
            ..
        } => bench_eval(&config, sets, data, quick, fit, json, min_recall_at_10),
        Command::Bench {
            what:
                Some(BenchCommand::Ann {
                    sizes,
                    ef,
                    queries,
                    real,
                    svg,
                    quick,
                    json,
                }),
            ..
        } => {
            let (sizes, ef, queries) = if quick {
                (vec![2_000], vec![16, 64], 50)
            } else {
                (sizes, ef, queries)
            };
            bench_ann(&config, &sizes, &ef, queries, real, svg, json)
        }
        Command::Bench {
            what: Some(BenchCommand::Crawl { pages, quick, json }),
            ..
        } => bench_crawl(&config, if quick { 200 } else { pages }, json),
        Command::Bench {
            what:
                Some(BenchCommand::Load {
                    corpus,
                    clients,
                    requests,
                    quick,
                    existing,
                    json,
                }),
            ..
        } => bench_load(
            &config,
            quarry_bench::load::LoadOptions {
                exe: std::env::current_exe().context("locating the quarry binary")?,
                args: config_path
                    .iter()
                    .flat_map(|p| [std::ffi::OsString::from("--config"), p.into()])
                    .collect(),
                corpus,
                existing: existing.then(|| config.data_dir.clone()),
                clients,
                requests: if quick { requests.min(100) } else { requests },
                cache_size: config.query.cache_size.max(1_000),
            },
            json,
        ),
        Command::Bench {
            what: None,
            corpus,
            queries,
            quick,
            raw_chunks,
            keep,
            json,
            min_recall_at_10,
        } => bench(
            &config,
            quarry_bench::BenchOptions {
                corpus,
                queries: if quick { queries.min(20) } else { queries },
                max_raw_chunks: if quick {
                    64
                } else {
                    raw_chunks.unwrap_or(usize::MAX)
                },
                ingest: config.ingest,
                embed_workers: config.ingest.embed_workers,
                keep,
            },
            json,
            min_recall_at_10,
        ),
    }
}

/// How `ingest URL` crawls.
#[derive(Debug, Clone, Default, clap::Args)]
struct CrawlArgs {
    /// Import related URLs: crawl the site behind each URL, not just the page.
    #[arg(long)]
    crawl: bool,
    /// Pages fetched at most (default: `crawl.max_pages`, 5000).
    #[arg(long, requires = "crawl")]
    max_pages: Option<usize>,
    /// Link hops from the start URL.
    #[arg(long, requires = "crawl")]
    max_depth: Option<usize>,
    /// Only URLs matching one of these patterns (`*` wildcards, matched
    /// anywhere in the URL); repeatable.
    #[arg(long, requires = "crawl")]
    include: Vec<String>,
    /// Skip URLs matching any of these patterns; repeatable.
    #[arg(long, requires = "crawl")]
    exclude: Vec<String>,
    /// Follow links to other subdomains of the same domain.
    #[arg(long, requires = "crawl")]
    subdomains: bool,
    /// Let the crawler reach this host although it resolves to a private,
    /// loopback or link-local address; repeatable. Adds to
    /// `crawl.allow_hosts` for this run.
    #[arg(long)]
    allow_host: Vec<String>,
}

impl CrawlArgs {
    fn spec(&self, url: &str) -> SourceSpec {
        if self.crawl {
            SourceSpec::Site {
                url: url.to_owned(),
                max_pages: self.max_pages,
                max_depth: self.max_depth,
                include: self.include.clone(),
                exclude: self.exclude.clone(),
                subdomains: self.subdomains.then_some(true),
            }
        } else {
            SourceSpec::Url {
                url: url.to_owned(),
            }
        }
    }
}

fn is_web(arg: &str) -> bool {
    let lower = arg.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The default model's embedder (benchmarks; `QUARRY__MODELS__DEFAULT`
/// picks another).
fn embedder(config: &Config) -> Result<Arc<dyn Embedder>> {
    let name = &config.models.default;
    let options = config
        .models
        .available
        .get(name)
        .with_context(|| format!("models.default {name:?} is not configured"))?;
    let e = OnnxEmbedder::load(options.clone())
        .with_context(|| format!("loading the embedding model {name}"))?;
    Ok(Arc::new(e))
}

fn open_catalog(config: &Config) -> Result<Arc<Catalog>> {
    let models = Arc::new(config.models.registry()?);
    let catalog = Catalog::open(&config.data_dir, models, config.index).with_context(|| {
        format!(
            "opening the knowledge bases in {}",
            config.data_dir.display()
        )
    })?;
    Ok(Arc::new(catalog))
}

fn registry(config: &Config) -> Arc<Registry> {
    let media = &config.media;
    let speech: Option<Arc<dyn quarry_formats::media::SpeechToText>> =
        media.speech_to_text.then(|| {
            Arc::new(quarry_formats::whisper::Whisper::new(
                media.whisper_model.clone(),
                Some(media.language.clone()),
                media.threads,
            )) as _
        });
    Arc::new(
        Registry::default()
            .with_limits(config.formats)
            .with_media(media.clone(), speech),
    )
}

fn syncer(config: &Config, catalog: Arc<Catalog>) -> Syncer {
    Syncer::new(catalog, registry(config), config.ingest, config.sync)
        .with_crawl(config.crawl.clone())
}

/// The knowledge base `name`, which must exist (except `default`, which
/// always does).
fn existing_kb(catalog: &Catalog, name: &str) -> Result<Arc<quarry_index::KnowledgeBase>> {
    catalog.get(name)?.with_context(|| {
        format!("knowledge base {name:?} does not exist (create it with `quarry kb create {name}`)")
    })
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

    fn crawling(&self, p: &CrawlProgress) {
        self.0.set_length((p.fetched + p.queued) as u64);
        self.0.set_position(p.fetched as u64);
        self.0.set_message(format!(
            "crawling: {} fetched, {} queued, {} skipped, {} errors",
            p.fetched, p.queued, p.skipped, p.errors
        ));
    }
}

fn bar() -> indicatif::ProgressBar {
    indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:30}] {pos}/{len} documents {wide_msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    )
}

/// The report of a finished job, or its error.
fn job_report(job: &JobRecord) -> Result<IngestReport> {
    match (&job.report, &job.error) {
        (Some(report), _) => Ok(serde_json::from_value(report.clone())?),
        (None, Some(error)) => bail!("sync of {} failed: {error}", job.source_id),
        (None, None) => bail!("job {} has no report", job.id),
    }
}

fn ingest(
    config: &Config,
    kb: &str,
    paths: &[String],
    private: bool,
    no_prune: bool,
    json: bool,
    crawl: &CrawlArgs,
) -> Result<()> {
    if crawl.crawl && !paths.iter().any(|p| is_web(p)) {
        bail!("--crawl needs an http(s) URL to start from");
    }
    let mut config = config.clone();
    config
        .crawl
        .allow_hosts
        .extend(crawl.allow_host.iter().cloned());
    let catalog = open_catalog(&config)?;
    if catalog.create(kb)?.1 {
        eprintln!("created knowledge base {kb:?}");
    }
    let syncer = syncer(&config, catalog);
    let settings = SourceSettings {
        private,
        ..SourceSettings::default()
    };
    let mut reports = Vec::new();
    for path in paths {
        let spec = if is_web(path) {
            crawl.spec(path)
        } else {
            SourceSpec::File {
                path: Some(path.clone()),
                upload: None,
            }
        };
        let bar = bar();
        let (_, job) = syncer
            .ingest_spec(kb, spec, settings, !no_prune, &Bar(bar.clone()))
            .with_context(|| format!("cannot ingest {path}"))?;
        bar.finish_and_clear();
        let report = job_report(&job).with_context(|| format!("ingesting {path}"))?;
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

fn sync(
    config: &Config,
    kb: &str,
    source: Option<String>,
    uri: Option<String>,
    due: bool,
    json: bool,
) -> Result<()> {
    let catalog = open_catalog(config)?;
    let handle = existing_kb(&catalog, kb)?;
    let syncer = syncer(config, catalog);
    syncer.recover()?;
    let ids: Vec<String> = match source {
        Some(id) => vec![id],
        None if due => handle.store().due_sources(quarry_index::unix_now())?,
        None => handle
            .store()
            .sources()?
            .into_iter()
            .filter(|s| s.kind.is_scheduled())
            .map(|s| s.id)
            .collect(),
    };
    let mut reports = Vec::new();
    for id in ids {
        let job = syncer.enqueue(kb, &id, uri.as_deref(), "cli")?;
        let bar = bar();
        let job = syncer.run_job(&handle, job, &Bar(bar.clone()))?;
        bar.finish_and_clear();
        match job_report(&job) {
            Ok(report) => {
                if !json {
                    print_report(&report);
                }
                reports.push(report);
            }
            Err(e) => eprintln!("error: {e:#}"),
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else if reports.is_empty() {
        println!("nothing to sync");
    }
    Ok(())
}

fn sources(config: &Config, kb: &str, json: bool) -> Result<()> {
    let catalog = open_catalog(config)?;
    let handle = existing_kb(&catalog, kb)?;
    let sources = handle.store().sources()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&sources)?);
        return Ok(());
    }
    let when = |t: Option<i64>| t.map_or_else(|| "-".to_owned(), |t| t.to_string());
    for s in sources {
        println!(
            "{}  {}  {}  last sync {}  next {}{}",
            s.id,
            s.kind.as_str(),
            s.status.as_str(),
            when(s.last_sync_at),
            when(s.next_sync_at),
            s.last_error
                .map(|e| format!("  error: {e}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn kb_command(config: &Config, command: KbCommand) -> Result<()> {
    let catalog = open_catalog(config)?;
    let print_tokens = |name: &str, (admin, query): (String, String)| {
        println!("knowledge base {name}");
        println!("  admin token: {admin}");
        println!("  query token: {query}");
        println!("  (shown once; only their hashes are stored)");
    };
    match command {
        KbCommand::List => {
            for (name, kb) in catalog.all() {
                let stats = kb.stats()?;
                println!(
                    "{name}  {}  {} sources  {} documents  {} chunks",
                    kb.model(),
                    stats.store.sources,
                    stats.store.documents,
                    stats.store.chunks
                );
            }
        }
        KbCommand::Create { name, model } => {
            let (handle, created) = catalog.create_with_model(&name, model.as_deref())?;
            if !created {
                bail!(
                    "knowledge base {name:?} exists already (new tokens: `quarry kb tokens {name}`)"
                );
            }
            print_tokens(&name, quarry_query::issue_kb_tokens(&handle)?);
        }
        KbCommand::Delete { name } => {
            if !catalog.remove(&name)? {
                bail!("knowledge base {name:?} does not exist");
            }
            println!("deleted knowledge base {name}");
        }
        KbCommand::Tokens { name } => {
            let handle = existing_kb(&catalog, &name)?;
            print_tokens(&name, quarry_query::issue_kb_tokens(&handle)?);
        }
        KbCommand::SetModel { name, model } => {
            let handle = existing_kb(&catalog, &name)?;
            let sources = handle.store().sources()?.len();
            eprintln!(
                "re-embedding knowledge base {name:?} ({sources} sources) from {} to {model}",
                handle.model()
            );
            drop(handle);
            let syncer = syncer(config, catalog);
            let bar = bar();
            let change = syncer.change_model(&name, &model, &Bar(bar.clone()))?;
            bar.finish_and_clear();
            println!(
                "knowledge base {name} now uses {}: {} sources, {} documents, {} chunks re-embedded in {:.1} s",
                change.to,
                change.sources,
                change.documents,
                change.chunks,
                change.elapsed_ms as f64 / 1000.0
            );
        }
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
    let time = if r.elapsed_ms < 10_000 {
        format!("{} ms", r.elapsed_ms)
    } else {
        format!("{:.1} s", r.elapsed_ms as f64 / 1000.0)
    };
    println!(
        "  time:      {time} ({:.1} chunks/s)",
        r.chunks_per_second()
    );
    if let Some(crawl) = &r.crawl {
        print_crawl(crawl);
    }
    for f in &r.failed {
        println!("  error: {}: {}", f.name, f.reason);
    }
}

/// The crawl summary: counts by outcome, then the URLs that need a look
/// (errors, and skips other than the routine ones), at most 30.
fn print_crawl(c: &CrawlReport) {
    println!(
        "  crawl:     {} URLs seen, {} fetched ({:.1} MB) in {:.1} s{}",
        c.urls.len(),
        c.fetched,
        c.bytes as f64 / 1e6,
        c.elapsed_ms as f64 / 1000.0,
        if c.complete {
            String::new()
        } else {
            " (time budget reached: pages not reached were kept)".into()
        }
    );
    for (key, n) in &c.counts {
        println!("    {key:<28} {n}");
    }
    let notable: Vec<&UrlReport> = c
        .urls
        .iter()
        .filter(|u| matches!(u.outcome, UrlOutcome::Error { .. }))
        .collect();
    for u in notable.iter().take(30) {
        if let UrlOutcome::Error { message, .. } = &u.outcome {
            println!("    error: {}: {message}", u.url);
        }
    }
    if notable.len() > 30 {
        println!("    … {} more errors (see --json)", notable.len() - 30);
    }
}

fn query(
    config: &Config,
    kb: &str,
    question: String,
    top_k: Option<usize>,
    json: bool,
) -> Result<()> {
    let service = QueryService::new(open_catalog(config)?, config.query, Auth::default())?;
    let request = QueryRequest {
        top_k,
        kb: Some(kb.to_owned()),
        ..QueryRequest::new(question)
    };
    let response = service.query(None, &request)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&response)?);
        return Ok(());
    }
    println!(
        "decision: {:?} (confidence {:.2}, top similarity {:.3}, language {})",
        response.decision, response.confidence, response.details.top_similarity, response.language
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
            None => println!(
                "[{}] {:.3}  (citations off for this source)",
                i + 1,
                p.score
            ),
        }
        if let Some(q) = &p.question {
            println!("    short answer to: {q}");
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
    let catalog = open_catalog(config)?;
    let auth = Auth::new(
        config.auth.admin_token.as_deref(),
        config.auth.query_token.as_deref(),
    );
    let open = !auth.is_enabled();
    let addr = if open && !addr.ip().is_loopback() {
        eprintln!(
            "no admin or query token is configured: listening on 127.0.0.1 only (set QUARRY_ADMIN_TOKEN / QUARRY_QUERY_TOKEN to serve on {addr})"
        );
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    let service = Arc::new(QueryService::new(catalog.clone(), config.query, auth)?);
    let syncer = Arc::new(syncer(config, catalog.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    {
        let (syncer, stop) = (syncer.clone(), stop.clone());
        std::thread::Builder::new()
            .name("quarry-sync".into())
            .spawn(move || {
                syncer.run_loop(&stop);
                let _ = done_tx.send(());
            })
            .context("starting the sync thread")?;
    }
    let import_roots = config
        .server
        .import_roots
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    let admin = api::AdminState {
        service: service.clone(),
        syncer: syncer.clone(),
        import_roots,
    };
    let app = quarry_query::http::router(service)
        .merge(api::router(admin, config.server.max_upload_bytes));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        quarry_query::http::serve(
            addr,
            app,
            |bound| {
                println!("quarry listening on http://{bound}");
                if open {
                    println!("no tokens configured: the API is open to this machine only");
                }
                let _ = std::io::stdout().flush();
            },
            shutdown_signal(),
        )
        .await
    })?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    syncer.shutdown();
    // A running sync is not interrupted mid-document; if it does not end
    // soon, it is queued again at the next start.
    if done_rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .is_err()
    {
        eprintln!("a sync job is still running; it will be resumed at the next start");
    }
    catalog.flush()?;
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

fn status(config: &Config, name: &str) -> Result<()> {
    let catalog = open_catalog(config)?;
    let kb = existing_kb(&catalog, name)?;
    let stats = kb.stats()?;
    println!("data dir:   {}", config.data_dir.display());
    println!("kb:         {name} ({} sources)", stats.store.sources);
    println!("model:      {} ({})", kb.model(), kb.embedder().model_id());
    println!("documents:  {}", stats.store.documents);
    println!("chunks:     {}", stats.store.chunks);
    println!("embeddings: {} cached", stats.store.embeddings);
    println!(
        "vectors:    {} ({} removed, awaiting compaction)",
        stats.vector_points, stats.tombstones
    );
    Ok(())
}

fn bench_load(config: &Config, options: quarry_bench::load::LoadOptions, json: bool) -> Result<()> {
    let embedder = embedder(config)?;
    if let Some(dir) = &options.existing {
        let models = Arc::new(quarry_index::Models::of(embedder.clone()));
        let catalog = Catalog::open(dir, models, config.index)?;
        let kb = catalog
            .get(quarry_index::DEFAULT_KB)?
            .context("no default knowledge base in the data folder")?;
        let stats = kb.stats()?;
        eprintln!(
            "load: serving {} ({} chunks, {} vectors: {:.0} MB of raw f32)",
            dir.display(),
            stats.store.chunks,
            stats.vector_points,
            (stats.vector_points * embedder.dimensions() * 4) as f64 / 1e6
        );
    }
    let runs = quarry_bench::load::run_load(embedder, config.index, config.ingest, &options)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
    } else {
        print!("{}", quarry_bench::load::table(&runs));
    }
    Ok(())
}

fn bench_eval(
    config: &Config,
    sets: Vec<PathBuf>,
    data: Option<PathBuf>,
    quick: bool,
    fit: Option<PathBuf>,
    json: bool,
    min_recall_at_10: Option<f64>,
) -> Result<()> {
    use quarry_query::Fusion;
    let sets = if sets.is_empty() {
        quarry_bench::eval::find_sets(std::path::Path::new("corpora/dev"))?
    } else {
        sets
    };
    if sets.is_empty() {
        bail!(
            "no dev sets: run scripts/fetch-devsets.sh (builds corpora/dev/) or name set folders"
        );
    }
    let options = quarry_bench::eval::EvalOptions {
        sets,
        data,
        ingest: config.ingest,
        fusions: if quick {
            Vec::new()
        } else {
            vec![Fusion::Keyword, Fusion::Vector, Fusion::Rrf, Fusion::Blend]
        },
    };
    let report =
        quarry_bench::eval::run_eval(embedder(config)?, config.index, config.query, &options)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    if let Some(path) = fit {
        let id = report.model.clone();
        let base = config
            .query
            .confidence
            .unwrap_or_else(|| quarry_query::ConfidenceOptions::for_model(&id));
        let file = report.fit_file(base);
        std::fs::write(&path, serde_json::to_string_pretty(&file)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "confidence model written to {}: {:?}",
            path.display(),
            file.options
        );
    }
    if let Some(floor) = min_recall_at_10 {
        for set in &report.sets {
            check_recall_floor(&set.name, report.configured(set), floor)?;
        }
    }
    Ok(())
}

/// The quality guard CI runs: fails when recall@10 of the configured fusion
/// mode on `what` is below `floor`. Reported on stderr, so that `--json`
/// output stays one JSON document.
fn check_recall_floor(what: &str, mode: Option<quarry_bench::ModeEval>, floor: f64) -> Result<()> {
    let m = mode.context("the configured fusion mode was not evaluated")?;
    if m.recall_at_10 < floor {
        bail!(
            "{what}: recall@10 of {:?} fusion is {:.3}, below the floor of {floor}",
            m.fusion,
            m.recall_at_10
        );
    }
    eprintln!(
        "{what}: recall@10 {:.3} ≥ floor {floor}: ok",
        m.recall_at_10
    );
    Ok(())
}

fn bench_ann(
    config: &Config,
    sizes: &[usize],
    efs: &[usize],
    queries: usize,
    real: Option<PathBuf>,
    svg: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    use quarry_bench::ann;
    let mut rows = Vec::new();
    let mut largest_real = 0;
    if let Some(dir) = real {
        let embedder = embedder(config)?;
        let mut base = Vec::new();
        let mut dirs: Vec<PathBuf> = if dir.join("kb").is_dir() {
            vec![dir.clone()]
        } else {
            std::fs::read_dir(&dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("kb").is_dir())
                .collect()
        };
        dirs.sort();
        for d in &dirs {
            let models = Arc::new(quarry_index::Models::of(embedder.clone()));
            let catalog = quarry_index::Catalog::open(d, models, config.index)?;
            if let Some(kb) = catalog.get(quarry_index::DEFAULT_KB)? {
                kb.for_each_vector(&mut |(_, v)| base.push(v))?;
            }
        }
        let sets = quarry_bench::eval::find_sets(std::path::Path::new("corpora/dev"))?;
        let mut texts = Vec::new();
        for set in &sets {
            texts.extend(
                quarry_bench::load_query_set(set)?
                    .into_iter()
                    .map(|c| c.query),
            );
        }
        let step = (texts.len() / queries.max(1)).max(1);
        let query_vectors: Vec<Vec<f32>> = texts
            .iter()
            .step_by(step)
            .take(queries)
            .map(|t| embedder.embed_query(t))
            .collect::<std::result::Result<_, _>>()?;
        // Every requested size the real vectors cover, and all of them.
        let mut real_sizes: Vec<usize> =
            sizes.iter().copied().filter(|n| *n < base.len()).collect();
        real_sizes.push(base.len());
        eprintln!(
            "ann: {} text vectors from {} knowledge bases, {} questions",
            base.len(),
            dirs.len(),
            query_vectors.len()
        );
        largest_real = base.len();
        rows.extend(ann::sweep(
            &base,
            "text",
            &real_sizes,
            &query_vectors,
            efs,
            &config.index.hnsw,
        )?);
    }
    let synthetic_sizes: Vec<usize> = sizes
        .iter()
        .copied()
        .filter(|n| *n > largest_real)
        .collect();
    if let Some(max) = synthetic_sizes.iter().copied().max() {
        let mut base = ann::synthetic(max + queries, 384, 1_000, 42);
        let query_vectors = base.split_off(max);
        rows.extend(ann::sweep(
            &base,
            "synthetic",
            &synthetic_sizes,
            &query_vectors,
            efs,
            &config.index.hnsw,
        )?);
    }
    if let Some(path) = svg {
        std::fs::write(&path, ann::svg(&rows))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", ann::table(&rows));
    }
    Ok(())
}

fn bench_crawl(config: &Config, pages: usize, json: bool) -> Result<()> {
    let pdf = std::fs::read("corpora/formats/pdf/wal.pdf").context(
        "the crawl benchmark serves corpora/formats/pdf/wal.pdf: run it from the repository root",
    )?;
    let report = quarry_bench::crawl::crawl_bench(pages, pdf, &config.crawl)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

fn bench(
    config: &Config,
    options: quarry_bench::BenchOptions,
    json: bool,
    min_recall_at_10: Option<f64>,
) -> Result<()> {
    if !options.corpus.join("docs").is_dir() {
        bail!("{} has no docs/ folder", options.corpus.display());
    }
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
            .find(|m| m.fusion == config.query.fusion);
        check_recall_floor(&report.corpus, configured.copied(), floor)?;
    }
    Ok(())
}
