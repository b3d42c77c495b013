//! Configuration: defaults → `quarry.toml` (or `--config FILE`) → `QUARRY__*`
//! environment variables (`QUARRY__SERVER__ADDR=0.0.0.0:7700`) → command-line
//! flags. Parsed and validated once at start-up, then passed down as typed
//! options; the libraries never read the environment.

use anyhow::{Context, Result, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use quarry_formats::Limits;
use quarry_formats::media::MediaOptions;
use quarry_index::{IndexOptions, ModelOptions, Models};
use quarry_ingest::crawl::CrawlOptions;
use quarry_ingest::{ConflictOptions, IngestOptions, SyncOptions};
use quarry_query::{AnalyticsOptions, QueryOptions};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    /// Largest file accepted by `POST /v1/kb/{kb}/files`.
    pub max_upload_bytes: usize,
    /// Server folders that `file` sources created over the API may read.
    /// Empty: none (upload files instead).
    pub import_roots: Vec<PathBuf>,
    /// Origins a browser may call the API from (`https://help.example.com`;
    /// `*` for any). Empty: same-origin only (the playground).
    pub cors_origins: Vec<String>,
    /// Longest a request may take before it is answered 408.
    pub request_timeout_secs: u64,
    /// Longest a client may take to send a request's head; slower
    /// connections are closed (slowloris).
    pub header_read_timeout_secs: u64,
    /// Open connections at most; more are closed at once.
    pub max_connections: usize,
    /// Open connections from one address at most (raise it behind a
    /// reverse proxy, where every client has the proxy's address).
    pub max_connections_per_ip: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 7700)),
            max_upload_bytes: 64 * 1024 * 1024,
            import_roots: Vec::new(),
            cors_origins: Vec::new(),
            request_timeout_secs: 60,
            header_read_timeout_secs: 10,
            max_connections: 1024,
            max_connections_per_ip: 256,
        }
    }
}

/// Server-wide bearer tokens. `QUARRY_ADMIN_TOKEN` and `QUARRY_QUERY_TOKEN`
/// override these. With neither set, the API is open and binds to
/// loopback only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub admin_token: Option<String>,
    pub query_token: Option<String>,
}

/// Where knowledge bases are kept. Unset, each is a folder of the data
/// directory (SQLite, in-process indexes: one process per data directory).
/// With `database_url` (or `QUARRY_DATABASE_URL`), every knowledge base
/// lives in that PostgreSQL database (15 or newer, with the `vector`
/// extension available), and any number of `quarry serve` nodes can share it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `postgresql://USER:PASSWORD@HOST:PORT/DATABASE`.
    pub database_url: Option<String>,
    /// Connections per node.
    pub pool_size: u32,
    /// How long an operation waits for the database before failing as
    /// unavailable (503).
    pub connect_timeout_secs: u64,
    /// A running sync job whose node has been silent this long is taken
    /// over by another node.
    pub job_lease_secs: i64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            database_url: None,
            pool_size: 16,
            connect_timeout_secs: 10,
            job_lease_secs: 60,
        }
    }
}

/// The embedding models knowledge bases can be built with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// The model of new knowledge bases (`quarry kb create --model` and the
    /// admin API choose another).
    pub default: String,
    /// Models by name: `multilingual-e5-small` (the default: Dutch, Danish,
    /// French, Italian, German, English and ~90 more, across languages) and
    /// `all-MiniLM-L6-v2` (English only, about twice as fast). More can be
    /// added as `[models.available.NAME]` with the folder of an ONNX export.
    pub available: BTreeMap<String, ModelOptions>,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        Self {
            default: quarry_index::MULTILINGUAL_MODEL.into(),
            available: quarry_index::builtin_models(),
        }
    }
}

impl ModelsConfig {
    /// The registry the knowledge bases take their models from.
    pub fn registry(&self) -> Result<Models> {
        Models::new(self.available.clone(), &self.default).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the knowledge base lives.
    pub data_dir: PathBuf,
    /// The shared database, if any (see [`StorageConfig`]).
    pub storage: StorageConfig,
    pub models: ModelsConfig,
    /// Bounds on what one input file may cost to parse.
    pub formats: Limits,
    /// How videos are turned into transcripts (ffmpeg).
    pub media: MediaOptions,
    pub index: IndexOptions,
    pub ingest: IngestOptions,
    pub query: QueryOptions,
    /// The question log, knowledge gaps, suggestions and analytics.
    pub analytics: AnalyticsOptions,
    /// Conflicts and duplicates between sources, checked after syncs.
    pub conflicts: ConflictOptions,
    pub sync: SyncOptions,
    /// The crawler of `url` and `site` sources.
    pub crawl: CrawlOptions,
    pub server: ServerConfig,
    pub auth: AuthConfig,
    /// The config file read, if any.
    #[serde(skip)]
    pub file: Option<PathBuf>,
    /// Where each model file was found or looked for ([`crate::locate`]).
    #[serde(skip)]
    pub located: Vec<crate::locate::Located>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("quarry-data"),
            storage: StorageConfig::default(),
            models: ModelsConfig::default(),
            formats: Limits::default(),
            media: MediaOptions::default(),
            index: IndexOptions::default(),
            ingest: IngestOptions::default(),
            query: QueryOptions::default(),
            analytics: AnalyticsOptions::default(),
            conflicts: ConflictOptions::default(),
            sync: SyncOptions::default(),
            crawl: CrawlOptions::default(),
            server: ServerConfig::default(),
            auth: AuthConfig::default(),
            file: None,
            located: Vec::new(),
        }
    }
}

impl Config {
    /// Loads the layers. `file` must exist when given; otherwise `quarry.toml`
    /// in the working directory is read if present.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let file = match file {
            Some(path) => {
                if !path.is_file() {
                    bail!("config file {} not found", path.display());
                }
                Some(path.to_path_buf())
            }
            None if Path::new("quarry.toml").is_file() => Some(PathBuf::from("quarry.toml")),
            None => None,
        };
        if let Some(path) = &file {
            figment = figment.merge(Toml::file(path));
        }
        let mut config: Config = figment
            .merge(Env::prefixed("QUARRY__").split("__"))
            .extract()
            .context("invalid configuration")?;
        for (var, slot) in [
            ("QUARRY_ADMIN_TOKEN", &mut config.auth.admin_token),
            ("QUARRY_QUERY_TOKEN", &mut config.auth.query_token),
            ("QUARRY_DATABASE_URL", &mut config.storage.database_url),
        ] {
            if let Ok(token) = std::env::var(var) {
                *slot = Some(token);
            }
        }
        config.validate()?;
        let config_dir = file
            .as_deref()
            .map(|f| f.parent().unwrap_or(Path::new("")))
            .map(|d| {
                if d.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    d
                }
            });
        config.locate_models(&crate::locate::Search::new(config_dir));
        config.file = file;
        Ok(config)
    }

    /// Resolves the relative model paths (embedding models, ONNX Runtime,
    /// Whisper) through `search`, recording where each was found or looked
    /// for. A file found nowhere keeps its configured path, and its model
    /// names every place in the error it raises when loaded.
    pub fn locate_models(&mut self, search: &crate::locate::Search) {
        let mut located = Vec::new();
        for (name, model) in self.models.available.iter_mut() {
            let onnx = model.onnx_file.clone();
            let dir = search.find(&format!("model {name}"), &model.dir, |p| {
                p.join(&onnx).is_file()
            });
            let runtime = search.find(&format!("ONNX Runtime for {name}"), &model.runtime, |p| {
                p.is_file()
            });
            model.looked_in.clear();
            for (slot, found) in [(&mut model.dir, &dir), (&mut model.runtime, &runtime)] {
                match &found.found {
                    Some((path, _)) => *slot = path.clone(),
                    None => model.looked_in.extend(found.tried.iter().cloned()),
                }
            }
            located.extend([dir, runtime]);
        }
        if self.media.speech_to_text {
            let whisper = search.find("Whisper model", &self.media.whisper_model, |p| p.is_file());
            if let Some((path, _)) = &whisper.found {
                self.media.whisper_model = path.clone();
            }
            located.push(whisper);
        }
        self.located = located;
    }

    pub fn validate(&self) -> Result<()> {
        self.index
            .hnsw
            .validate()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(confidence) = &self.query.confidence {
            confidence
                .validate()
                .map_err(|e| anyhow::anyhow!("query.confidence: {e}"))?;
        }
        if !self.models.available.contains_key(&self.models.default) {
            bail!(
                "models.default {:?} is not one of models.available ({})",
                self.models.default,
                self.models
                    .available
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let window = self
            .models
            .available
            .values()
            .map(|m| m.max_length.saturating_sub(2))
            .min()
            .unwrap_or(0);
        if self.ingest.chunk.target_tokens == 0 || self.ingest.chunk.target_tokens > window {
            bail!(
                "ingest.chunk.target_tokens must be between 1 and {window} (the smallest model window less its special tokens)"
            );
        }
        if self.ingest.chunk.overlap_tokens >= self.ingest.chunk.target_tokens {
            bail!("ingest.chunk.overlap_tokens must be smaller than target_tokens");
        }
        if self.ingest.embed_batch == 0 || self.ingest.embed_batch > 256 {
            bail!("ingest.embed_batch must be between 1 and 256");
        }
        if self.query.top_k == 0 || self.query.top_k > self.query.max_top_k {
            bail!("query.top_k must be between 1 and query.max_top_k");
        }
        if self.sync.interval_secs == 0 || self.sync.tick_secs == 0 {
            bail!("sync.interval_secs and sync.tick_secs must be at least 1");
        }
        let a = &self.analytics;
        if a.retention_days == 0 || !(0.0..=1.0).contains(&a.gap_similarity) || a.queue == 0 {
            bail!(
                "analytics: retention_days and queue must be at least 1, gap_similarity between 0 and 1"
            );
        }
        let server = &self.server;
        if server.header_read_timeout_secs == 0
            || server.max_connections == 0
            || server.max_connections_per_ip == 0
        {
            bail!(
                "server: header_read_timeout_secs, max_connections and max_connections_per_ip must be at least 1"
            );
        }
        for (name, token) in [
            ("admin_token", &self.auth.admin_token),
            ("query_token", &self.auth.query_token),
        ] {
            let Some(token) = token else { continue };
            // A blank token must not read as "no token" (an open API): the
            // operator meant to close it.
            if token.trim().is_empty() {
                bail!(
                    "auth.{name} (QUARRY_{}) is set but blank; set a token of at least 16 characters, or remove the setting for an open API",
                    name.to_ascii_uppercase()
                );
            }
            if token.trim().len() < 16 {
                bail!("auth tokens must be at least 16 characters");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn file_layer_overrides_defaults_and_unknown_keys_fail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.toml");
        std::fs::write(&path, "data_dir = \"/tmp/kb\"\n[server]\naddr = \"127.0.0.1:9000\"\n[ingest.chunk]\ntarget_tokens = 120\n").unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/tmp/kb"));
        assert_eq!(c.server.addr.port(), 9000);
        assert_eq!(c.ingest.chunk.target_tokens, 120);
        std::fs::write(&path, "[server]\nport = 1\n").unwrap();
        assert!(Config::load(Some(&path)).is_err());
    }

    #[test]
    fn models_are_chosen_by_name_and_the_default_must_exist() {
        let c = Config::default();
        assert_eq!(c.models.default, "multilingual-e5-small");
        assert!(c.models.available.contains_key("all-MiniLM-L6-v2"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.toml");
        std::fs::write(&path, "[models]\ndefault = \"all-MiniLM-L6-v2\"\n[models.available.all-MiniLM-L6-v2]\nsessions = 1\n").unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.models.default, "all-MiniLM-L6-v2");
        let minilm = &c.models.available["all-MiniLM-L6-v2"];
        assert_eq!(
            (minilm.sessions, minilm.max_length),
            (1, 256),
            "merged over the built-in entry"
        );
        assert!(c.models.available.contains_key("multilingual-e5-small"));
        std::fs::write(&path, "[models]\ndefault = \"nope\"\n").unwrap();
        assert!(Config::load(Some(&path)).is_err());
    }

    #[test]
    fn oversized_chunks_are_refused() {
        let mut c = Config::default();
        c.ingest.chunk.target_tokens = 300;
        assert!(c.validate().is_err());
    }
    #[test]
    fn blank_tokens_are_refused_not_read_as_unset() {
        for blank in ["", "                ", "\t\n"] {
            let mut c = Config::default();
            c.auth.admin_token = Some(blank.into());
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("blank"), "{e}");
            let mut c = Config::default();
            c.auth.query_token = Some(blank.into());
            assert!(c.validate().is_err());
        }
        let mut c = Config::default();
        c.auth.admin_token = Some("0123456789abcdef".into());
        c.validate().unwrap();
    }
}
