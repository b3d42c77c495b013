//! The `quarry-bench` binary (also run as `quarry bench …`): ingest and
//! query throughput on a corpus, HTTP load against `quarry serve`, the
//! dev-set evaluation, HNSW against exact search, crawl throughput.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use quarry::app::embedder;
use quarry::config::Config;
use quarry_index::Catalog;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Measure embedder and ingest throughput, query latency and hit@3 on a
/// corpus, or run one of the benchmarks below.
#[derive(Debug, Parser)]
#[command(name = "quarry-bench", version)]
struct Cli {
    /// `--kb` is accepted so `quarry bench` can pass its options on; the
    /// benchmarks build knowledge bases of their own.
    #[command(flatten)]
    globals: quarry::cli::Globals,
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
        /// Also write the vectors and questions measured here to this
        /// folder, for the peer libraries (benches/peers/ann.py) to measure
        /// on the same data.
        #[arg(long)]
        export: Option<PathBuf>,
        /// Small run for CI (2,000 synthetic vectors, ef 16 and 64).
        #[arg(long)]
        quick: bool,
        #[arg(long)]
        json: bool,
    },
    /// Conflict and duplicate detection: precision and recall on labelled
    /// passage pairs (corpora/conflicts); with --data, what it flags in
    /// existing knowledge bases.
    Conflicts {
        /// Data directories whose default knowledge base to scan.
        #[arg(long)]
        data: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Knowledge-gap clustering: pairwise precision and recall per
    /// similarity threshold on labelled questions (corpora/gaps and the
    /// GNOME titles of the dev sets).
    Gaps {
        /// Thresholds to sweep.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "0.80,0.82,0.84,0.86,0.88,0.90,0.92,0.94"
        )]
        thresholds: Vec<f32>,
        #[arg(long)]
        json: bool,
    },
    /// The embedded backend against PostgreSQL + pgvector on the same
    /// chunks: storage-side ingest, vector recall@10 and latency per
    /// ef_search, keyword latency, throughput from one and two nodes.
    Scale {
        /// A PostgreSQL server with pgvector to make databases on (default:
        /// QUARRY_DATABASE_URL).
        #[arg(long, env = "QUARRY_DATABASE_URL")]
        database: String,
        /// Numbers of chunks.
        #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
        sizes: Vec<usize>,
        #[arg(long, value_delimiter = ',', default_value = "40,100,200,400")]
        ef: Vec<usize>,
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Concurrent clients for the throughput rows.
        #[arg(long, value_delimiter = ',', default_value = "1,4")]
        clients: Vec<usize>,
        /// Vector dimensions (384: the default model's).
        #[arg(long, default_value_t = 384)]
        dims: usize,
        /// Small run for CI (2,000 chunks, ef 40).
        #[arg(long)]
        quick: bool,
        #[arg(long)]
        json: bool,
    },
    /// A long soak: query clients and article writers at once against
    /// `quarry serve` for a fixed time; errors, p50/p99 and the server's
    /// memory per window, then `quarry check` on the data. Fails on any
    /// error or an inconsistent index.
    Soak {
        #[arg(long, default_value = "corpora/sqlite-sample")]
        corpus: PathBuf,
        #[arg(long, default_value_t = 30.0)]
        minutes: f64,
        /// Seconds per report row.
        #[arg(long, default_value_t = 60)]
        window_secs: u64,
        #[arg(long, default_value_t = 4)]
        clients: usize,
        #[arg(long, default_value_t = 2)]
        writers: usize,
        /// Distinct articles each writer creates, replaces and deletes.
        #[arg(long, default_value_t = 50)]
        articles: usize,
        /// Small run for CI: 30 s, 5 s windows, 2 clients, 1 writer.
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

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,html5ever=error")),
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

/// The `quarry` binary `bench load` serves with: beside this one.
fn quarry_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating quarry-bench")?;
    let quarry = exe.with_file_name("quarry");
    if !quarry.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p quarry`",
            quarry.display()
        );
    }
    Ok(quarry)
}

fn run(cli: Cli) -> Result<()> {
    let config = cli.globals.load()?;
    let config_path = cli.globals.config.clone();
    match cli {
        Cli {
            what:
                Some(BenchCommand::Scale {
                    database,
                    sizes,
                    ef,
                    queries,
                    clients,
                    dims,
                    quick,
                    json,
                }),
            ..
        } => {
            let (sizes, ef, queries, clients) = if quick {
                (vec![2_000], vec![40], 50, vec![2])
            } else {
                (sizes, ef, queries, clients)
            };
            let report = quarry_bench::scale::run(&quarry_bench::scale::ScaleOptions {
                sizes,
                ef,
                queries,
                clients,
                database,
                base: Vec::new(),
                query_vectors: Vec::new(),
                dims,
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", quarry_bench::scale::table(&report));
            }
            Ok(())
        }
        Cli {
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
        Cli {
            what:
                Some(BenchCommand::Ann {
                    sizes,
                    ef,
                    queries,
                    real,
                    svg,
                    export,
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
            bench_ann(
                &config,
                &sizes,
                &ef,
                queries,
                real,
                AnnFiles { svg, export },
                json,
            )
        }
        Cli {
            what: Some(BenchCommand::Conflicts { data, json }),
            ..
        } => bench_conflicts(&config, &data, json),
        Cli {
            what: Some(BenchCommand::Gaps { thresholds, json }),
            ..
        } => bench_gaps(&config, &thresholds, json),
        Cli {
            what:
                Some(BenchCommand::Soak {
                    corpus,
                    minutes,
                    window_secs,
                    clients,
                    writers,
                    articles,
                    quick,
                    json,
                }),
            ..
        } => bench_soak(
            &config,
            quarry_bench::soak::SoakOptions {
                exe: quarry_binary()?,
                args: config_path
                    .iter()
                    .flat_map(|p| [std::ffi::OsString::from("--config"), p.into()])
                    .collect(),
                corpus,
                duration: Duration::from_secs_f64(if quick { 30.0 } else { minutes * 60.0 }),
                window: Duration::from_secs(if quick { 5 } else { window_secs.max(1) }),
                query_clients: if quick { 2 } else { clients },
                writers: if quick { 1 } else { writers },
                articles_per_writer: articles,
            },
            json,
        ),
        Cli {
            what: Some(BenchCommand::Crawl { pages, quick, json }),
            ..
        } => bench_crawl(&config, if quick { 200 } else { pages }, json),
        Cli {
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
                exe: quarry_binary()?,
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
        Cli {
            what: None,
            corpus,
            queries,
            quick,
            raw_chunks,
            keep,
            json,
            min_recall_at_10,
            ..
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

fn bench_soak(config: &Config, options: quarry_bench::soak::SoakOptions, json: bool) -> Result<()> {
    let report =
        quarry_bench::soak::run_soak(embedder(config)?, config.index, config.ingest, &options)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", quarry_bench::soak::table(&report));
    }
    if report.error_count() > 0 || !report.consistent {
        bail!(
            "soak: {} errors, index {}",
            report.error_count(),
            if report.consistent {
                "consistent"
            } else {
                "inconsistent"
            }
        );
    }
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

/// What `bench ann` writes besides its report.
struct AnnFiles {
    /// The recall-vs-latency plot.
    svg: Option<PathBuf>,
    /// The vectors and questions, for the peer libraries.
    export: Option<PathBuf>,
}

fn bench_ann(
    config: &Config,
    sizes: &[usize],
    efs: &[usize],
    queries: usize,
    real: Option<PathBuf>,
    AnnFiles { svg, export }: AnnFiles,
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
        if let Some(dir) = &export {
            ann::export(dir, "text", &base, &real_sizes, &query_vectors)?;
        }
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
        if let Some(dir) = &export {
            ann::export(dir, "synthetic", &base, &synthetic_sizes, &query_vectors)?;
        }
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

fn bench_gaps(config: &Config, thresholds: &[f32], json: bool) -> Result<()> {
    let embedder = embedder(config)?;
    let support = quarry_bench::gaps::support_set("corpora/gaps/support-questions.jsonl".as_ref())?;
    let mut sweeps = vec![quarry_bench::gaps::sweep(
        embedder.as_ref(),
        "support questions (corpora/gaps)",
        support,
        thresholds,
    )?];
    let gnome = quarry_bench::gaps::gnome_set("corpora/dev".as_ref())?;
    if gnome.is_empty() {
        eprintln!("gaps: no GNOME dev sets (scripts/fetch-devsets.sh): support questions only");
    } else {
        sweeps.push(quarry_bench::gaps::sweep(
            embedder.as_ref(),
            "GNOME page titles, six languages (corpora/dev)",
            gnome,
            thresholds,
        )?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&sweeps)?);
    } else {
        print!("{}", quarry_bench::gaps::table(&sweeps));
    }
    Ok(())
}

fn bench_conflicts(config: &Config, data: &[PathBuf], json: bool) -> Result<()> {
    let embedder = embedder(config)?;
    let eval = quarry_bench::conflicts::eval(
        embedder.as_ref(),
        "corpora/conflicts/pairs.jsonl".as_ref(),
        &config.conflicts,
    )?;
    let mut scans = Vec::new();
    for dir in data {
        let models = Arc::new(config.models.registry()?);
        let catalog = Catalog::open(dir, models, config.index)?;
        let kb = catalog
            .get(quarry_index::DEFAULT_KB)?
            .with_context(|| format!("no default knowledge base in {}", dir.display()))?;
        let t = std::time::Instant::now();
        let found = quarry_ingest::conflicts::list(&kb, &config.conflicts)?;
        let stats = kb.stats()?;
        scans.push(serde_json::json!({
            "data": dir.display().to_string(),
            "chunks": stats.store.chunks,
            "contradictions": found.iter().filter(|c| c.kind == "contradiction").count(),
            "duplicates": found.iter().filter(|c| c.kind == "duplicate").count(),
            "check_ms": t.elapsed().as_millis() as u64,
            "examples": found.iter().take(6).map(|c| serde_json::json!({"kind": c.kind, "why": c.why, "a": c.passages[0].text, "b": c.passages[1].text})).collect::<Vec<_>>(),
        }));
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"labelled": eval, "scans": scans}))?
        );
    } else {
        print!("{}", quarry_bench::conflicts::table(&eval));
        for s in &scans {
            println!("\n{}", serde_json::to_string_pretty(s)?);
        }
    }
    Ok(())
}
