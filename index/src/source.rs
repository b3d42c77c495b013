//! Sources and jobs as the store keeps them: what a knowledge base is kept in
//! step with ([`SourceRecord`]), and the persisted work that does it
//! ([`JobRecord`]). The write path (`ingest`) gives them behaviour; here they
//! are data, so the store can hold them in the same transactions as the
//! documents they bring in.

use serde::{Deserialize, Serialize};

/// The format a short answer's document is stored with: the write path
/// writes it, the read path returns such passages with their question.
pub const SHORT_ANSWER_FORMAT: &str = "short_answer";

/// The five kinds of source a support team manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// One public page.
    Url,
    /// A whole site, crawled.
    Site,
    /// An uploaded file, or a file or folder on the server's disk.
    File,
    /// A knowledge-base article pushed by the customer's CMS.
    Article,
    /// An admin-written question and answer.
    ShortAnswer,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Url => "url",
            SourceKind::Site => "site",
            SourceKind::File => "file",
            SourceKind::Article => "article",
            SourceKind::ShortAnswer => "short_answer",
        }
    }

    /// Sources that change behind quarry's back and are re-synced on a
    /// schedule. Articles and short answers change only through the API,
    /// which re-indexes them at once.
    pub fn is_scheduled(self) -> bool {
        matches!(self, SourceKind::Url | SourceKind::Site | SourceKind::File)
    }
}

impl std::str::FromStr for SourceKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "url" => SourceKind::Url,
            "site" => SourceKind::Site,
            "file" => SourceKind::File,
            "article" => SourceKind::Article,
            "short_answer" => SourceKind::ShortAnswer,
            other => return Err(format!("unknown source kind {other:?}")),
        })
    }
}

/// Kind-specific description of a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceSpec {
    /// One public page.
    Url { url: String },
    /// A whole site crawled from `url` ("import related URLs"); the other
    /// fields narrow it (unset: the server's `[crawl]` settings).
    Site {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_pages: Option<usize>,
        /// Link hops from `url`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_depth: Option<usize>,
        /// URL patterns (`*` wildcards, matched anywhere in the URL): only
        /// pages matching one of them are crawled, besides `url` itself.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        include: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        exclude: Vec<String>,
        /// Follow links to other subdomains of the same registrable domain.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subdomains: Option<bool>,
    },
    /// Exactly one of `path` (a file or folder on the server, read again at
    /// every sync) and `upload` (the name of an uploaded file, whose bytes
    /// the store keeps).
    File {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upload: Option<String>,
    },
    /// The article's body is kept with the source (see
    /// [`crate::ChunkStore::source_blob`]); `url` is where it is published.
    Article {
        article_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    ShortAnswer {
        question: String,
        answer: String,
        /// Other wordings of the question that it also answers (a gap's
        /// questions, when made from one).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        variants: Vec<String>,
    },
}

impl SourceSpec {
    pub fn kind(&self) -> SourceKind {
        match self {
            SourceSpec::Url { .. } => SourceKind::Url,
            SourceSpec::Site { .. } => SourceKind::Site,
            SourceSpec::File { .. } => SourceKind::File,
            SourceSpec::Article { .. } => SourceKind::Article,
            SourceSpec::ShortAnswer { .. } => SourceKind::ShortAnswer,
        }
    }
}

/// Citation settings of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceSettings {
    /// Passages carry a citation (URI, locator).
    pub citations: bool,
    /// Private content: citations are always off, whatever `citations` says.
    pub private: bool,
}

impl Default for SourceSettings {
    fn default() -> Self {
        Self {
            citations: true,
            private: false,
        }
    }
}

impl SourceSettings {
    pub fn citable(&self) -> bool {
        self.citations && !self.private
    }
}

/// Where a source stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    /// Created, never synced.
    Pending,
    /// A sync job is queued or running.
    Syncing,
    /// Last sync succeeded (some documents may have failed: see the job report).
    Ready,
    /// Last sync failed as a whole (`last_error` says why).
    Error,
}

impl SourceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceStatus::Pending => "pending",
            SourceStatus::Syncing => "syncing",
            SourceStatus::Ready => "ready",
            SourceStatus::Error => "error",
        }
    }
}

impl std::str::FromStr for SourceStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => SourceStatus::Pending,
            "syncing" => SourceStatus::Syncing,
            "ready" => SourceStatus::Ready,
            "error" => SourceStatus::Error,
            other => return Err(format!("unknown source status {other:?}")),
        })
    }
}

/// A source of a knowledge base.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    pub id: String,
    pub kind: SourceKind,
    pub title: Option<String>,
    pub spec: SourceSpec,
    pub settings: SourceSettings,
    /// Unix seconds.
    pub created_at: i64,
    pub last_sync_at: Option<i64>,
    /// When the scheduler syncs it next (scheduled kinds only).
    pub next_sync_at: Option<i64>,
    pub status: SourceStatus,
    pub last_error: Option<String>,
}

impl SourceRecord {
    /// A new, never-synced source.
    pub fn new(id: impl Into<String>, spec: SourceSpec, settings: SourceSettings) -> Self {
        Self {
            id: id.into(),
            kind: spec.kind(),
            title: None,
            spec,
            settings,
            created_at: unix_now(),
            last_sync_at: None,
            next_sync_at: None,
            status: SourceStatus::Pending,
            last_error: None,
        }
    }
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Done | JobStatus::Failed)
    }
}

impl std::str::FromStr for JobStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "done" => JobStatus::Done,
            "failed" => JobStatus::Failed,
            other => return Err(format!("unknown job status {other:?}")),
        })
    }
}

/// A persisted sync of one source (or of one document of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: u64,
    pub source_id: String,
    /// Only this document of the source, when set.
    pub uri: Option<String>,
    /// What started it: `api`, `schedule`, `cli`, `upload`.
    pub trigger: String,
    pub status: JobStatus,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// Documents finished so far, of `total`.
    pub done: usize,
    pub total: usize,
    /// The ingest report of a finished job.
    pub report: Option<serde_json::Value>,
    pub error: Option<String>,
}

/// Content the store keeps for a source that has no other home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceBlob {
    /// File name, which also tells the parser the format.
    pub name: String,
    pub media_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// The sync bookkeeping of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceState {
    pub status: SourceStatus,
    pub last_error: Option<String>,
    pub last_sync_at: Option<i64>,
    pub next_sync_at: Option<i64>,
}

/// Unix seconds now: the clock of every timestamp quarry stores.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
