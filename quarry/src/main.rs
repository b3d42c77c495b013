//! The `quarry` binary: parses the command line, reads the configuration
//! and hands over to one module per command (`commands/`).

mod commands;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;

#[derive(Debug, Parser)]
#[command(
    name = "quarry",
    version,
    about = "Grounded, cited passages from your content for AI support agents"
)]
struct Cli {
    #[command(flatten)]
    globals: quarry::cli::Globals,
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
        crawl: commands::ingest::CrawlArgs,
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
    Kb(commands::kb::KbCommand),
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
    /// Benchmarks and the dev-set evaluation: runs the `quarry-bench`
    /// binary beside this one with the same options (`quarry bench --help`).
    #[command(disable_help_flag = true)]
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
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
    if let Command::Bench { args } = cli.command {
        let g = cli.globals;
        return commands::bench::forward(g.data_dir, g.config, &g.kb, args);
    }
    let config = cli.globals.load()?;
    let kb = cli.globals.kb;
    quarry_index::validate_kb_name(&kb)?;
    match cli.command {
        Command::Ingest {
            paths,
            private,
            no_prune,
            json,
            crawl,
        } => commands::ingest::ingest(&config, &kb, &paths, private, no_prune, json, &crawl),
        Command::Sync {
            source,
            uri,
            due,
            json,
        } => commands::sync::sync(&config, &kb, source, uri, due, json),
        Command::Sources { json } => commands::sync::sources(&config, &kb, json),
        Command::Kb(command) => commands::kb::kb_command(&config, command),
        Command::Query {
            question,
            top_k,
            json,
        } => commands::query::query(&config, &kb, question, top_k, json),
        Command::Serve { addr } => {
            commands::serve::serve(&config, addr.unwrap_or(config.server.addr))
        }
        Command::Status => commands::status::status(&config, &kb),
        Command::Bench { .. } => unreachable!("dispatched before the configuration is read"),
    }
}
