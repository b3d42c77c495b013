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
}
