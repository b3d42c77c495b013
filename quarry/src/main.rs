//! The `quarry` binary: parses the command line, reads the configuration
//! and hands over to one module per command (`commands/`).

mod commands;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};
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
        /// Exit 0 even when some documents failed (they are still listed).
        #[arg(long)]
        allow_partial: bool,
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
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the knowledge base's sources.
    Sources {
        /// Print the sources as JSON (times as Unix seconds).
        #[arg(long)]
        json: bool,
    },
    /// Manage knowledge bases.
    #[command(subcommand)]
    Kb(commands::kb::KbCommand),
    /// Ask a question.
    Query {
        /// The question, in any of the model's languages.
        question: String,
        /// Passages to return (default: query.top_k, 5; at most
        /// query.max_top_k).
        #[arg(long)]
        top_k: Option<usize>,
        /// Print the full response as JSON (the HTTP API's shape).
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
    /// Whether the store, the keyword index and the vector index agree
    /// (counts, ids, snapshot checksums); exits 1 when they do not.
    Check {
        /// Rebuild what differs from the store, then check again.
        #[arg(long)]
        repair: bool,
        /// Every knowledge base, not only `--kb`'s.
        #[arg(long)]
        all: bool,
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Where the configuration, the data and every model file were found
    /// (or every place looked in), and whether a server holds the data.
    Doctor,
    /// Shell completions on stdout (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// The man page (roff) on stdout: `quarry man > quarry.1`.
    Man,
    /// Benchmarks and the dev-set evaluation: runs the `quarry-bench`
    /// binary beside this one with the same options (`quarry bench --help`).
    #[command(disable_help_flag = true)]
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    quarry::cli::init_logging(cli.globals.log_format);
    match run(cli) {
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
    match &cli.command {
        Command::Completions { shell } => {
            let mut command = Cli::command();
            clap_complete::generate(*shell, &mut command, "quarry", &mut std::io::stdout());
            return Ok(());
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            return Ok(());
        }
        _ => {}
    }
    let config = cli.globals.load()?;
    let kb = cli.globals.kb.clone();
    quarry_index::validate_kb_name(&kb)?;
    let remote = match &cli.command {
        Command::Query { .. }
        | Command::Status
        | Command::Check { all: false, .. }
        | Command::Sources { .. }
        | Command::Sync { .. }
        | Command::Ingest { .. } => cli.globals.remote(&config),
        _ => None,
    };
    if let Some(r) = &remote {
        tracing::debug!("talking to the server at {}", r.base);
    }
    match cli.command {
        Command::Ingest {
            paths,
            private,
            no_prune,
            json,
            allow_partial,
            crawl,
        } => {
            let reports = match &remote {
                Some(r) => {
                    let web = |p: &str| commands::ingest::is_web(p).then(|| crawl.spec(p));
                    commands::remote::ingest(r, &kb, &paths, private, web)?
                }
                None => commands::ingest::ingest(&config, &kb, &paths, private, no_prune, &crawl)?,
            };
            commands::ingest::finish(&reports, json, allow_partial)
        }
        Command::Sync {
            source,
            uri,
            due,
            json,
        } => match &remote {
            Some(r) => commands::remote::sync(r, &kb, source, uri, due, json),
            None => commands::sync::sync(&config, &kb, source, uri, due, json),
        },
        Command::Sources { json } => match &remote {
            Some(r) => commands::remote::sources(r, &kb, json),
            None => commands::sync::sources(&config, &kb, json),
        },
        Command::Kb(command) => commands::kb::kb_command(&config, command),
        Command::Query {
            question,
            top_k,
            json,
        } => match &remote {
            Some(r) => commands::remote::query(r, &kb, question, top_k, json),
            None => commands::query::query(&config, &kb, question, top_k, json),
        },
        Command::Serve { addr } => {
            commands::serve::serve(&config, addr.unwrap_or(config.server.addr))
        }
        Command::Status => match &remote {
            Some(r) => commands::remote::status(r, &kb),
            None => commands::status::status(&config, &kb),
        },
        Command::Check { repair, all, json } => match &remote {
            Some(r) => commands::check::remote(r, &kb, repair, json),
            None => commands::check::check(&config, &kb, all, repair, json),
        },
        Command::Doctor => commands::status::doctor(&config),
        Command::Bench { .. } | Command::Completions { .. } | Command::Man => {
            unreachable!("dispatched before the configuration is read")
        }
    }
}
