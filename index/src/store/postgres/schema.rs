//! The versioned schema of a knowledge base in the shared database.

/// Version of a knowledge base's schema; [`migrations`] brings older ones
/// up to it.
pub(super) const SCHEMA_VERSION: i32 = 1;

/// The migrations of a knowledge base's schema `s` for vectors of `dims`.
pub(super) fn migrations(s: &str, dims: usize) -> Vec<(i32, String)> {
    vec![(
        1,
        format!(
            r#"
CREATE TABLE {s}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE {s}.documents (
    uri TEXT PRIMARY KEY,
    source_id TEXT NOT NULL,
    title TEXT,
    format TEXT NOT NULL,
    language TEXT,
    content_hash TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    citable BOOLEAN NOT NULL,
    chunk_count BIGINT NOT NULL,
    indexed_at BIGINT NOT NULL,
    url TEXT
);
CREATE INDEX ON {s}.documents (source_id);
CREATE INDEX ON {s}.documents (url);
CREATE TABLE {s}.embeddings (content_hash TEXT PRIMARY KEY, vector vector({dims}) NOT NULL);
CREATE TABLE {s}.chunks (
    vid BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    doc_uri TEXT NOT NULL REFERENCES {s}.documents(uri) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    heading_path TEXT NOT NULL,
    text TEXT NOT NULL,
    locator TEXT NOT NULL,
    embedding vector({dims}) NOT NULL,
    tsv tsvector NOT NULL
);
CREATE INDEX ON {s}.chunks (doc_uri);
CREATE INDEX ON {s}.chunks (content_hash);
CREATE INDEX chunks_embedding ON {s}.chunks USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 200);
CREATE INDEX chunks_tsv ON {s}.chunks USING gin (tsv);
CREATE TABLE {s}.sources (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT,
    spec TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_sync_at BIGINT,
    next_sync_at BIGINT,
    status TEXT NOT NULL,
    last_error TEXT
);
CREATE TABLE {s}.source_blobs (
    source_id TEXT PRIMARY KEY REFERENCES {s}.sources(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    media_type TEXT,
    bytes BYTEA NOT NULL
);
CREATE TABLE {s}.jobs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id TEXT NOT NULL,
    uri TEXT,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    done BIGINT NOT NULL DEFAULT 0,
    total BIGINT NOT NULL DEFAULT 0,
    report TEXT,
    error TEXT,
    node TEXT,
    heartbeat_at BIGINT
);
CREATE INDEX ON {s}.jobs (status, id);
CREATE UNIQUE INDEX jobs_one_queued ON {s}.jobs (source_id, coalesce(uri, '')) WHERE status = 'queued';
{questions}
"#,
            questions = super::questions::schema(s)
        ),
    )]
}
