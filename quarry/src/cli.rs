//! The options every command of both binaries takes ([`Globals`]).

use crate::config::Config;
use anyhow::Result;
use std::path::PathBuf;

/// `--data-dir`, `--config`, `--kb` (and their environment variables).
#[derive(Debug, Clone, clap::Args)]
pub struct Globals {
    /// Knowledge base directory.
    #[arg(long, global = true, env = "QUARRY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file (default: ./quarry.toml if present).
    #[arg(long, global = true, env = "QUARRY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Knowledge base to work on.
    #[arg(long, global = true, env = "QUARRY_KB", default_value = "default")]
    pub kb: String,
    /// Talk to this quarry server (http://host:port) instead of opening the
    /// data directory: query, status, sources, sync and ingest. Without
    /// it, a server running on the data directory is used by itself.
    #[arg(long, global = true, env = "QUARRY_SERVER")]
    pub server: Option<String>,
    /// Bearer token for --server (default: QUARRY_ADMIN_TOKEN).
    #[arg(long, global = true, env = "QUARRY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Log format on stderr: text (coloured on a terminal) or json.
    #[arg(long, global = true, env = "QUARRY_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Starts logging to stderr: `RUST_LOG` filters (default: warnings, quarry's
/// info and the access log); colour only when stderr is a terminal.
pub fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // html5ever warns about every malformed table it repairs: noise
        // about the input, not about quarry.
        tracing_subscriber::EnvFilter::new("warn,quarry=info,html5ever=error")
    });
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().with_current_span(true).init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

impl Globals {
    /// The configuration, with `--data-dir` over the file's.
    pub fn load(&self) -> Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        Ok(config)
    }

    /// The server the CLI should talk to: `--server`, else one running on
    /// the data directory; `None`: open the data directory.
    pub fn remote(&self, config: &Config) -> Option<crate::remote::Remote> {
        let token = self
            .token
            .clone()
            .or_else(|| config.auth.admin_token.clone());
        if let Some(url) = &self.server {
            return Some(crate::remote::Remote::new(url, token));
        }
        // A server that announced itself but does not answer (killed, its
        // pid reused) is ignored: the data directory is opened instead.
        let url = crate::remote::discover(&config.data_dir)?;
        let remote = crate::remote::Remote::new(&url, token);
        remote.is_up().then_some(remote)
    }
}
