//! The shared backend: PostgreSQL with pgvector, for stateless quarry nodes
//! over one database ([`PgDatabase`]).
//!
//! Every knowledge base is a PostgreSQL schema (`kb_NAME`) holding what the
//! embedded backend keeps in its folder: documents, chunks with their
//! vectors (pgvector, HNSW on cosine) and full-text vectors (GIN), the
//! embedding cache, sources and their blobs, jobs, settings, the question
//! log, gaps and conflicts. Nothing is cached per node: a write through one
//! node is read by every other at once. A schema per knowledge base is also
//! the partitioning unit: its own HNSW graph and dimension, dropped in one
//! statement, movable to its own server.
//!
//! Migrations are versioned (`quarry.migrations` for the shared catalog,
//! `meta.schema_version` per knowledge base) and applied at start under an
//! advisory lock, so nodes starting together apply each once.

mod chunks;
mod jobs;
mod questions;
mod rows;
mod schema;
mod text;
mod write;

pub use chunks::PgStore;
pub use questions::PgQuestions;
pub use text::{pg_config_of, tsquery_terms};

use crate::{Error, Result};
use r2d2_postgres::PostgresConnectionManager;
use r2d2_postgres::postgres::NoTls;
use std::time::Duration;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
pub(crate) type Conn = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// Connection settings of the shared backend.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgresql://user:password@host:port/database` (or `host=/socket/dir`).
    pub url: String,
    /// Connections per node.
    pub pool_size: u32,
    /// How long a node waits for a connection (and for the database to come
    /// back) before an operation fails as unavailable.
    pub connect_timeout: Duration,
    /// A running job whose node has not reported for this long is taken
    /// over by another node.
    pub job_lease_secs: i64,
}

impl PgOptions {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            pool_size: 16,
            connect_timeout: Duration::from_secs(10),
            job_lease_secs: 60,
        }
    }
}

/// One PostgreSQL database shared by every node: the pool, this node's
/// identity and the catalog of knowledge bases.
pub struct PgDatabase {
    pool: Pool,
    options: PgOptions,
    /// Names this node's job claims (`host:pid:random`).
    node: String,
}

impl std::fmt::Debug for PgDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDatabase")
            .field("url", &redact(&self.options.url))
            .field("node", &self.node)
            .finish()
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

pub(crate) fn unavailable(url: &str, e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("database {}: {e}", redact(url)))
}

const CATALOG_SCHEMA: &str = r#"
CREATE SCHEMA IF NOT EXISTS quarry;
CREATE TABLE IF NOT EXISTS quarry.migrations (
    scope TEXT NOT NULL,
    version INTEGER NOT NULL,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (scope, version)
);
"#;

/// Migrations of the shared catalog, in order; each runs once.
const CATALOG_MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE EXTENSION IF NOT EXISTS vector;
     CREATE TABLE quarry.knowledge_bases (
         name TEXT PRIMARY KEY,
         model TEXT NOT NULL,
         created_at BIGINT NOT NULL
     );",
)];

impl PgDatabase {
    /// Connects, retrying until `connect_timeout`, and applies the catalog's
    /// migrations.
    pub fn connect(options: PgOptions) -> Result<Self> {
        let config: r2d2_postgres::postgres::Config = options.url.parse().map_err(|e| {
            Error::InvalidInput(format!("database URL {}: {e}", redact(&options.url)))
        })?;
        let mut config = config;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        config.application_name("quarry");
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(options.connect_timeout)
            // Connections a database restart killed are found and replaced
            // at checkout (one empty query), not handed to a request to fail.
            .test_on_check_out(true)
            .error_handler(Box::new(r2d2::LoggingErrorHandler))
            .build(manager)
            .map_err(|e| unavailable(&options.url, e))?;
        let node = format!(
            "{}:{}:{:08x}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "node".into()),
            std::process::id(),
            rand_u32()
        );
        let db = Self {
            pool,
            options,
            node,
        };
        db.migrate_catalog()?;
        Ok(db)
    }

    pub fn options(&self) -> &PgOptions {
        &self.options
    }

    /// This node's name in job claims.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// A pooled connection; a database that is down fails as
    /// [`Error::Unavailable`] after the pool's timeout.
    pub(crate) fn conn(&self) -> Result<Conn> {
        self.pool
            .get()
            .map_err(|e| unavailable(&self.options.url, e))
    }

    /// Runs `f` with a pooled connection. The synchronous client drives a
    /// runtime of its own, which cannot start on a thread that is already
    /// inside one (an async handler): there, `f` runs on a thread of its own.
    pub(crate) fn with<T: Send>(&self, f: impl FnOnce(&mut Conn) -> Result<T> + Send) -> Result<T> {
        let run = || {
            let mut c = self.conn()?;
            f(&mut c)
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return run();
        }
        std::thread::scope(|scope| {
            scope
                .spawn(run)
                .join()
                .unwrap_or_else(|_| Err(Error::Database("a database call panicked".into())))
        })
    }

    pub(crate) fn err(&self, e: postgres::Error) -> Error {
        db_error(&self.options.url, e)
    }

    /// Runs `f` in a transaction, committed when it returns `Ok` (see
    /// [`PgDatabase::with`]).
    pub(crate) fn tx<T: Send>(
        &self,
        f: impl FnOnce(&mut postgres::Transaction<'_>) -> std::result::Result<T, postgres::Error> + Send,
    ) -> Result<T> {
        self.with(|c| {
            let mut tx = c.transaction().map_err(|e| self.err(e))?;
            let out = f(&mut tx).map_err(|e| self.err(e))?;
            tx.commit().map_err(|e| self.err(e))?;
            Ok(out)
        })
    }

    fn migrate_catalog(&self) -> Result<()> {
        self.tx(|tx| {
            tx.batch_execute("SELECT pg_advisory_xact_lock(7199254740991)")?;
            tx.batch_execute(CATALOG_SCHEMA)?;
            for (version, sql) in CATALOG_MIGRATIONS {
                let done = tx
                    .query_opt(
                        "SELECT 1 FROM quarry.migrations WHERE scope = 'catalog' AND version = $1",
                        &[version],
                    )?
                    .is_some();
                if !done {
                    tx.batch_execute(sql)?;
                    tx.execute(
                        "INSERT INTO quarry.migrations (scope, version, applied_at) VALUES ('catalog', $1, $2)",
                        &[version, &crate::unix_now()],
                    )?;
                    tracing::info!(version, "database catalog migrated");
                }
            }
            Ok(())
        })
    }

    /// Knowledge bases with their model, by name.
    pub fn knowledge_bases(&self) -> Result<Vec<(String, String)>> {
        self.with(|c| {
            let rows = c
                .query(
                    "SELECT name, model FROM quarry.knowledge_bases ORDER BY name",
                    &[],
                )
                .map_err(|e| self.err(e))?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    /// Records a knowledge base (if new) and returns its model: the one
    /// recorded, or `model` for a new one.
    pub fn register(&self, name: &str, model: &str) -> Result<String> {
        self.with(|c| {
            c.execute(
                "INSERT INTO quarry.knowledge_bases (name, model, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                &[&name, &model, &crate::unix_now()],
            )
            .map_err(|e| self.err(e))?;
            let row = c
                .query_one(
                    "SELECT model FROM quarry.knowledge_bases WHERE name = $1",
                    &[&name],
                )
                .map_err(|e| self.err(e))?;
            Ok(row.get(0))
        })
    }

    /// The model recorded for a knowledge base, if it exists.
    pub fn model_of(&self, name: &str) -> Result<Option<String>> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT model FROM quarry.knowledge_bases WHERE name = $1",
                &[&name],
            )
            .map_err(|e| self.err(e))?
            .map(|r| r.get(0)))
        })
    }

    /// Drops a knowledge base's schema and its catalog entry, in one
    /// transaction.
    pub fn drop_knowledge_base(&self, name: &str) -> Result<bool> {
        crate::validate_kb_name(name)?;
        self.tx(|tx| {
            let n = tx.execute(
                "DELETE FROM quarry.knowledge_bases WHERE name = $1",
                &[&name],
            )?;
            tx.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                schema_of(name)
            ))?;
            Ok(n > 0)
        })
    }
}

impl PgDatabase {
    /// Replaces knowledge base `name` by the one built in schema `staging`
    /// on `model`, in one transaction: the question log and gaps move
    /// over, the old schema goes, and the catalog records the model. Nodes
    /// reopen it when they see the new model.
    pub fn swap_in(&self, name: &str, staging: &str, model: &str) -> Result<()> {
        crate::validate_kb_name(name)?;
        let live = schema_of(name);
        let staging = format!("\"{staging}\"");
        self.tx(|tx| {
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                &[&write_lock(name)],
            )?;
            tx.batch_execute(&format!(
                "DROP TABLE {staging}.questions, {staging}.gaps; \
                 ALTER TABLE {live}.questions SET SCHEMA {staging}; \
                 ALTER TABLE {live}.gaps SET SCHEMA {staging}; \
                 DROP SCHEMA {live} CASCADE; \
                 ALTER SCHEMA {staging} RENAME TO {live};"
            ))?;
            tx.execute(
                "UPDATE quarry.knowledge_bases SET model = $2 WHERE name = $1",
                &[&name, &model],
            )?;
            Ok(())
        })
    }

    /// Drops a schema a model change left (`IF EXISTS`).
    pub fn drop_schema(&self, schema: &str) -> Result<()> {
        let schema = format!("\"{schema}\"");
        self.with(|c| {
            c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .map_err(|e| self.err(e))
        })
    }
}

/// The advisory-lock key writers of knowledge base `kb` take turns on.
pub(crate) fn write_lock(kb: &str) -> String {
    format!("quarry-write:{kb}")
}

/// The quoted schema name of a knowledge base (names are `a-z 0-9 - _`).
pub(crate) fn schema_of(kb: &str) -> String {
    format!("\"kb_{kb}\"")
}

/// A PostgreSQL error as a quarry error: lost connections and a database
/// that is starting or shutting down are [`Error::Unavailable`] (retry),
/// constraint violations are the caller's, the rest are internal.
pub(crate) fn db_error(url: &str, e: postgres::Error) -> Error {
    use postgres::error::SqlState;
    if e.is_closed() {
        return unavailable(url, e);
    }
    match e.code() {
        Some(c)
            if *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
                || *c == SqlState::CONNECTION_FAILURE
                || *c == SqlState::TOO_MANY_CONNECTIONS
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            unavailable(url, db_message(&e))
        }
        Some(c) if c.code().starts_with("23") || c.code().starts_with("22") => {
            Error::InvalidInput(db_message(&e))
        }
        Some(_) => Error::Database(db_message(&e)),
        // No SQL state: the connection failed (I/O) or a value did not fit.
        None if io_failure(&e) => unavailable(url, e),
        None => Error::Database(e.to_string()),
    }
}

fn io_failure(e: &postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    e.to_string().contains("connect")
}

fn db_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        return std::process::id().rotate_left(16) ^ crate::unix_now() as u32;
    }
    u32::from_le_bytes(b)
}

/// Creates database `name` (if missing) on the server of `admin_url` and
/// returns its URL: tests and benchmarks give each deployment a database
/// of its own.
pub fn create_database(admin_url: &str, name: &str) -> Result<String> {
    create_database_from(admin_url, name, None)
}

/// [`create_database`], as a copy of database `template` when given (which
/// must have no open connections).
pub fn create_database_from(admin_url: &str, name: &str, template: Option<&str>) -> Result<String> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(Error::InvalidInput(format!("database name {name:?}")));
    }
    let mut client = postgres::Client::connect(admin_url, postgres::NoTls)
        .map_err(|e| db_error(admin_url, e))?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .map_err(|e| db_error(admin_url, e))?
        .is_some();
    if !exists {
        let template = match template {
            Some(t)
                if t.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
            {
                format!(" TEMPLATE {t}")
            }
            Some(t) => return Err(Error::InvalidInput(format!("database name {t:?}"))),
            None => String::new(),
        };
        match client.batch_execute(&format!("CREATE DATABASE {name}{template}")) {
            Ok(()) => {}
            // Made by a concurrent caller.
            Err(e) if e.code() == Some(&postgres::error::SqlState::DUPLICATE_DATABASE) => {}
            Err(e) => return Err(db_error(admin_url, e)),
        }
    }
    let mut url = url::Url::parse(admin_url)
        .map_err(|e| Error::InvalidInput(format!("database URL {}: {e}", redact(admin_url))))?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}
