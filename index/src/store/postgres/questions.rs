//! [`PgQuestions`]: a knowledge base's question log, gaps and conflicts in
//! its schema of the shared database.

use super::PgDatabase;
use crate::Result;
use crate::questions::{Gap, GapStatus, LoggedQuestion, QuestionStore, StoredConflict};
use postgres::types::ToSql;
use std::sync::Arc;

/// The question-log tables of schema `s` (part of its first migration).
pub(super) fn schema(s: &str) -> String {
    format!(
        r#"
CREATE TABLE {s}.questions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    text TEXT NOT NULL,
    language TEXT NOT NULL,
    decision TEXT NOT NULL,
    confidence REAL NOT NULL,
    passages TEXT[] NOT NULL,
    documents TEXT[] NOT NULL,
    page_url TEXT,
    vector REAL[],
    gap_id BIGINT
);
CREATE INDEX ON {s}.questions (at);
CREATE INDEX ON {s}.questions (gap_id);
CREATE INDEX ON {s}.questions (page_url);
CREATE TABLE {s}.gaps (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    centroid REAL[] NOT NULL,
    count BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    status TEXT NOT NULL,
    short_answer TEXT
);
CREATE TABLE {s}.conflicts (
    a BIGINT NOT NULL,
    b BIGINT NOT NULL,
    kind TEXT NOT NULL,
    why TEXT NOT NULL,
    similarity REAL NOT NULL,
    found_at BIGINT NOT NULL,
    PRIMARY KEY (a, b)
);
CREATE TABLE {s}.state (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
"#
    )
}

/// The question log of one knowledge base in the shared database.
pub struct PgQuestions {
    db: Arc<PgDatabase>,
    s: String,
}

impl std::fmt::Debug for PgQuestions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgQuestions")
            .field("schema", &self.s)
            .finish()
    }
}

const COLUMNS: &str =
    "id, at, text, language, decision, confidence, passages, documents, page_url, gap_id";

fn question(r: &postgres::Row) -> LoggedQuestion {
    LoggedQuestion {
        id: r.get(0),
        at: r.get(1),
        text: r.get(2),
        language: r.get(3),
        decision: r.get(4),
        confidence: r.get(5),
        passages: r.get(6),
        documents: r.get(7),
        page_url: r.get(8),
        vector: Vec::new(),
        gap_id: r.get(9),
    }
}

const INSERT: &str = "INSERT INTO {s}.questions (at, text, language, decision, confidence, passages, documents, page_url, vector, gap_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id";

impl PgQuestions {
    /// The log in knowledge base `kb`'s schema (made by
    /// [`super::PgStore::open`]).
    pub fn new(db: Arc<PgDatabase>, kb: &str) -> Self {
        Self::in_schema(db, &format!("kb_{kb}"))
    }

    /// The log in schema `schema` (checked by [`super::PgStore::open_in`]).
    pub fn in_schema(db: Arc<PgDatabase>, schema: &str) -> Self {
        Self {
            db,
            s: format!("\"{schema}\""),
        }
    }

    fn sql(&self, template: &str) -> String {
        template.replace("{s}", &self.s)
    }

    fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<postgres::Row>> {
        let sql = self.sql(sql);
        self.db
            .with(|c| c.query(&sql, params).map_err(|e| self.db.err(e)))
    }
}

fn params(q: &LoggedQuestion) -> [Box<dyn ToSql + Sync + '_>; 10] {
    [
        Box::new(q.at),
        Box::new(&q.text),
        Box::new(&q.language),
        Box::new(&q.decision),
        Box::new(q.confidence),
        Box::new(&q.passages),
        Box::new(&q.documents),
        Box::new(&q.page_url),
        Box::new(&q.vector),
        Box::new(q.gap_id),
    ]
}

fn refs<'a>(p: &'a [Box<dyn ToSql + Sync + 'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    p.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect()
}

impl QuestionStore for PgQuestions {
    fn append_all(&self, questions: &[LoggedQuestion]) -> Result<()> {
        let sql = self.sql(INSERT);
        self.db.tx(|tx| {
            let st = tx.prepare(&sql)?;
            for q in questions {
                let p = params(q);
                tx.query_one(&st, &refs(&p))?;
            }
            Ok(())
        })
    }

    fn append(&self, q: &LoggedQuestion) -> Result<i64> {
        let p = params(q);
        Ok(self.query(INSERT, &refs(&p))?[0].get(0))
    }

    fn questions_since(&self, since: i64) -> Result<Vec<LoggedQuestion>> {
        Ok(self
            .query(
                &format!("SELECT {COLUMNS} FROM {{s}}.questions WHERE at >= $1 ORDER BY id"),
                &[&since],
            )?
            .iter()
            .map(question)
            .collect())
    }

    fn questions_of_gap(&self, gap: i64, limit: usize) -> Result<Vec<LoggedQuestion>> {
        Ok(self
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM {{s}}.questions WHERE gap_id = $1 ORDER BY id DESC LIMIT $2"
                ),
                &[&gap, &(limit as i64)],
            )?
            .iter()
            .map(question)
            .collect())
    }

    fn vector(&self, id: i64) -> Result<Option<Vec<f32>>> {
        Ok(self
            .query("SELECT vector FROM {s}.questions WHERE id = $1", &[&id])?
            .first()
            .and_then(|r| r.get::<_, Option<Vec<f32>>>(0)))
    }

    fn gaps(&self) -> Result<Vec<Gap>> {
        self.query(
            "SELECT id, centroid, count, first_seen, last_seen, status, short_answer FROM {s}.gaps ORDER BY id",
            &[],
        )?
        .iter()
        .map(|r| {
            Ok(Gap {
                id: r.get(0),
                centroid: r.get(1),
                count: r.get::<_, i64>(2) as u64,
                first_seen: r.get(3),
                last_seen: r.get(4),
                status: GapStatus::parse(&r.get::<_, String>(5))?,
                short_answer: r.get(6),
            })
        })
        .collect()
    }

    fn put_gap(&self, gap: &Gap) -> Result<i64> {
        let count = gap.count as i64;
        let status = gap.status.as_str();
        if gap.id == 0 {
            Ok(self.query(
                "INSERT INTO {s}.gaps (centroid, count, first_seen, last_seen, status, short_answer) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[&gap.centroid, &count, &gap.first_seen, &gap.last_seen, &status, &gap.short_answer],
            )?[0]
                .get(0))
        } else {
            self.query(
                "UPDATE {s}.gaps SET centroid = $2, count = $3, first_seen = $4, last_seen = $5, status = $6, short_answer = $7 WHERE id = $1",
                &[&gap.id, &gap.centroid, &count, &gap.first_seen, &gap.last_seen, &status, &gap.short_answer],
            )?;
            Ok(gap.id)
        }
    }

    fn conflicts_checked_up_to(&self) -> Result<u64> {
        Ok(self
            .query(
                "SELECT value FROM {s}.state WHERE key = 'conflicts_watermark'",
                &[],
            )?
            .first()
            .map_or(0, |r| r.get::<_, i64>(0) as u64))
    }

    fn add_conflicts(&self, found: &[StoredConflict], checked_up_to: u64) -> Result<()> {
        let put = self.sql(
            "INSERT INTO {s}.conflicts (a, b, kind, why, similarity, found_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (a, b) DO UPDATE SET kind = excluded.kind, why = excluded.why, similarity = excluded.similarity, found_at = excluded.found_at",
        );
        let mark = self.sql(
            "INSERT INTO {s}.state (key, value) VALUES ('conflicts_watermark', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        );
        self.db.tx(|tx| {
            for f in found {
                tx.execute(
                    &put,
                    &[
                        &(f.a as i64),
                        &(f.b as i64),
                        &f.kind,
                        &f.why,
                        &f.similarity,
                        &f.found_at,
                    ],
                )?;
            }
            tx.execute(&mark, &[&(checked_up_to as i64)])?;
            Ok(())
        })
    }

    fn conflicts(&self) -> Result<Vec<StoredConflict>> {
        Ok(self
            .query(
                "SELECT a, b, kind, why, similarity, found_at FROM {s}.conflicts ORDER BY found_at DESC, a, b",
                &[],
            )?
            .iter()
            .map(|r| StoredConflict {
                a: r.get::<_, i64>(0) as u64,
                b: r.get::<_, i64>(1) as u64,
                kind: r.get(2),
                why: r.get(3),
                similarity: r.get(4),
                found_at: r.get(5),
            })
            .collect())
    }

    fn forget_conflicts(&self, gone: &[(u64, u64)]) -> Result<()> {
        let del = self.sql("DELETE FROM {s}.conflicts WHERE a = $1 AND b = $2");
        self.db.tx(|tx| {
            for (a, b) in gone {
                tx.execute(&del, &[&(*a as i64), &(*b as i64)])?;
            }
            Ok(())
        })
    }

    fn prune(&self, before: i64) -> Result<usize> {
        let del = self.sql("DELETE FROM {s}.questions WHERE at < $1");
        let gaps = self.sql(
            "DELETE FROM {s}.gaps g WHERE status = 'open' AND NOT EXISTS (SELECT 1 FROM {s}.questions q WHERE q.gap_id = g.id)",
        );
        self.db.tx(|tx| {
            let n = tx.execute(&del, &[&before])?;
            tx.execute(&gaps, &[])?;
            Ok(n as usize)
        })
    }
}
