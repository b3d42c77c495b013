//! The question log of a knowledge base ([`QuestionLog`]): every logged
//! question with its language, decision, confidence, cited passages, the
//! page it was asked on and its embedding, and the knowledge gaps
//! ([`Gap`]) the unanswered ones are clustered into; and the conflicts
//! between passages found after syncs ([`StoredConflict`]).
//!
//! It lives in its own SQLite file (`questions.db` beside `quarry.db`), so
//! writing it never waits for the index writer and the index never waits
//! for it; it goes with its knowledge base's folder. It is analytics, not
//! content: `synchronous=NORMAL` (a power cut may lose the last questions,
//! never corrupt the file).

use crate::{Error, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Mutex;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    text TEXT NOT NULL,
    language TEXT NOT NULL,
    decision TEXT NOT NULL,
    confidence REAL NOT NULL,
    passages TEXT NOT NULL,
    documents TEXT NOT NULL,
    page_url TEXT,
    vector BLOB,
    gap_id INTEGER
);
CREATE INDEX IF NOT EXISTS questions_at ON questions(at);
CREATE INDEX IF NOT EXISTS questions_gap ON questions(gap_id);
CREATE INDEX IF NOT EXISTS questions_page ON questions(page_url);
CREATE TABLE IF NOT EXISTS gaps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    centroid BLOB NOT NULL,
    count INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    status TEXT NOT NULL,
    short_answer TEXT
);
CREATE TABLE IF NOT EXISTS conflicts (
    a INTEGER NOT NULL,
    b INTEGER NOT NULL,
    kind TEXT NOT NULL,
    why TEXT NOT NULL,
    similarity REAL NOT NULL,
    found_at INTEGER NOT NULL,
    PRIMARY KEY (a, b)
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"#;

/// A pair of chunks that say nearly the same thing, or seem to contradict
/// each other (found by the write path after syncs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredConflict {
    /// Chunk ids (vector ids), `a < b`.
    pub a: u64,
    pub b: u64,
    /// `contradiction` or `duplicate`.
    pub kind: String,
    pub why: String,
    pub similarity: f32,
    pub found_at: i64,
}

/// One logged question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedQuestion {
    /// 0 until logged.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    pub text: String,
    /// ISO 639-1.
    pub language: String,
    /// `answer`, `clarify` or `handoff`.
    pub decision: String,
    pub confidence: f32,
    /// Chunk ids of the returned passages, best first.
    pub passages: Vec<String>,
    /// Documents of the returned passages (their published URL, else their
    /// URI), best first, without repeats.
    pub documents: Vec<String>,
    /// The page the visitor was on.
    pub page_url: Option<String>,
    /// The question's embedding (not returned by listings).
    #[serde(skip)]
    pub vector: Vec<f32>,
    pub gap_id: Option<i64>,
}

/// What became of a knowledge gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapStatus {
    Open,
    /// Answered by a short answer made from it.
    Resolved,
    Dismissed,
}

impl GapStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GapStatus::Open => "open",
            GapStatus::Resolved => "resolved",
            GapStatus::Dismissed => "dismissed",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self> {
        match s {
            "open" => Ok(GapStatus::Open),
            "resolved" => Ok(GapStatus::Resolved),
            "dismissed" => Ok(GapStatus::Dismissed),
            other => Err(Error::Corrupt {
                what: "gap status".into(),
                reason: other.into(),
            }),
        }
    }
}

/// A cluster of questions the content could not answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// 0 until stored.
    pub id: i64,
    /// The mean of its questions' embeddings.
    #[serde(skip)]
    pub centroid: Vec<f32>,
    pub count: u64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub status: GapStatus,
    /// The short answer made from it.
    pub short_answer: Option<String>,
}

/// Counts of one day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCounts {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub answer: u64,
    pub clarify: u64,
    pub handoff: u64,
}

/// Where a question log is kept: [`SqliteQuestions`] (embedded) or
/// [`crate::store::postgres::PgQuestions`] (the shared database).
pub trait QuestionStore: Send + Sync {
    /// Logs questions in one transaction.
    fn append_all(&self, questions: &[LoggedQuestion]) -> Result<()>;
    /// Logs a question; returns its id.
    fn append(&self, q: &LoggedQuestion) -> Result<i64>;
    /// Questions logged at or after `since`, oldest first (no vectors).
    fn questions_since(&self, since: i64) -> Result<Vec<LoggedQuestion>>;
    /// The newest `limit` questions of a gap, newest first.
    fn questions_of_gap(&self, gap: i64, limit: usize) -> Result<Vec<LoggedQuestion>>;
    /// The stored embedding of question `id`.
    fn vector(&self, id: i64) -> Result<Option<Vec<f32>>>;
    /// Every gap, any status.
    fn gaps(&self) -> Result<Vec<Gap>>;
    /// Stores a new gap (`id` 0) or updates one; returns its id.
    fn put_gap(&self, gap: &Gap) -> Result<i64>;
    /// The highest chunk id already checked for conflicts.
    fn conflicts_checked_up_to(&self) -> Result<u64>;
    /// Records found conflicts and how far the check got, in one
    /// transaction.
    fn add_conflicts(&self, found: &[StoredConflict], checked_up_to: u64) -> Result<()>;
    /// Every recorded conflict, newest first.
    fn conflicts(&self) -> Result<Vec<StoredConflict>>;
    /// Forgets conflicts of chunks that are gone.
    fn forget_conflicts(&self, gone: &[(u64, u64)]) -> Result<()>;
    /// Removes questions older than `before` (unix seconds), and open gaps
    /// left without questions; returns how many questions went.
    fn prune(&self, before: i64) -> Result<usize>;

    fn gap(&self, id: i64) -> Result<Option<Gap>> {
        Ok(self.gaps()?.into_iter().find(|g| g.id == id))
    }

    /// Answer / clarify / hand-off counts per day since `since`.
    fn daily_counts(&self, since: i64) -> Result<Vec<DayCounts>> {
        let mut days: Vec<DayCounts> = Vec::new();
        for q in self.questions_since(since)? {
            let day = day_of(q.at);
            if days.last().is_none_or(|d| d.day != day) {
                days.push(DayCounts {
                    day,
                    ..DayCounts::default()
                });
            }
            if let Some(d) = days.last_mut() {
                match q.decision.as_str() {
                    "answer" => d.answer += 1,
                    "clarify" => d.clarify += 1,
                    _ => d.handoff += 1,
                }
            }
        }
        Ok(days)
    }
}

/// The question log of one knowledge base, on either backend.
pub struct QuestionLog(Box<dyn QuestionStore>);

impl std::fmt::Debug for QuestionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuestionLog").finish_non_exhaustive()
    }
}

impl QuestionLog {
    /// The embedded log in its own SQLite file.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self(Box::new(SqliteQuestions::open(path)?)))
    }

    pub fn new(store: Box<dyn QuestionStore>) -> Self {
        Self(store)
    }
}

impl std::ops::Deref for QuestionLog {
    type Target = dyn QuestionStore;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

/// The embedded question log: a SQLite file beside the store.
pub struct SqliteQuestions {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteQuestions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQuestions").finish_non_exhaustive()
    }
}

fn blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn unblob(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Corrupt {
        what: what.into(),
        reason: e.to_string(),
    }
}

const QUESTION_COLUMNS: &str =
    "id, at, text, language, decision, confidence, passages, documents, page_url, gap_id";

fn question_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LoggedQuestion> {
    let list = |s: String| serde_json::from_str::<Vec<String>>(&s).unwrap_or_default();
    Ok(LoggedQuestion {
        id: r.get(0)?,
        at: r.get(1)?,
        text: r.get(2)?,
        language: r.get(3)?,
        decision: r.get(4)?,
        confidence: r.get::<_, f64>(5)? as f32,
        passages: list(r.get(6)?),
        documents: list(r.get(7)?),
        page_url: r.get(8)?,
        vector: Vec::new(),
        gap_id: r.get(9)?,
    })
}

fn gap_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Gap, String)> {
    Ok((
        Gap {
            id: r.get(0)?,
            centroid: unblob(&r.get::<_, Vec<u8>>(1)?),
            count: r.get::<_, i64>(2)? as u64,
            first_seen: r.get(3)?,
            last_seen: r.get(4)?,
            status: GapStatus::Open,
            short_answer: r.get(6)?,
        },
        r.get(5)?,
    ))
}

/// `YYYY-MM-DD` of unix seconds `t` (UTC).
pub fn day_of(t: i64) -> String {
    // Civil from days (Howard Hinnant's algorithm).
    let z = t.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

impl SqliteQuestions {
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| corrupt("question log", "a writer panicked"))?;
        f(&mut conn)
    }
}

impl QuestionStore for SqliteQuestions {
    fn append_all(&self, questions: &[LoggedQuestion]) -> Result<()> {
        let json = |v: &Vec<String>| serde_json::to_string(v).map_err(|e| corrupt("json", e));
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare(
                    "INSERT INTO questions (at, text, language, decision, confidence, passages, documents, page_url, vector, gap_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?;
                for q in questions {
                    st.execute(params![
                        q.at,
                        q.text,
                        q.language,
                        q.decision,
                        f64::from(q.confidence),
                        json(&q.passages)?,
                        json(&q.documents)?,
                        q.page_url,
                        blob(&q.vector),
                        q.gap_id
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Logs a question; returns its id.
    fn append(&self, q: &LoggedQuestion) -> Result<i64> {
        let json = |v: &Vec<String>| serde_json::to_string(v).map_err(|e| corrupt("json", e));
        let (passages, documents) = (json(&q.passages)?, json(&q.documents)?);
        self.with(|c| {
            c.execute(
                "INSERT INTO questions (at, text, language, decision, confidence, passages, documents, page_url, vector, gap_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    q.at,
                    q.text,
                    q.language,
                    q.decision,
                    f64::from(q.confidence),
                    passages,
                    documents,
                    q.page_url,
                    blob(&q.vector),
                    q.gap_id
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Questions logged at or after `since`, oldest first (no vectors).
    fn questions_since(&self, since: i64) -> Result<Vec<LoggedQuestion>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {QUESTION_COLUMNS} FROM questions WHERE at >= ?1 ORDER BY id"
            ))?;
            let rows = st.query_map([since], question_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The newest `limit` questions of a gap, newest first.
    fn questions_of_gap(&self, gap: i64, limit: usize) -> Result<Vec<LoggedQuestion>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {QUESTION_COLUMNS} FROM questions WHERE gap_id = ?1 ORDER BY id DESC LIMIT ?2"
            ))?;
            let rows = st.query_map(params![gap, limit as i64], question_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The stored embedding of question `id`.
    fn vector(&self, id: i64) -> Result<Option<Vec<f32>>> {
        self.with(|c| {
            let b: Option<Option<Vec<u8>>> = c
                .query_row("SELECT vector FROM questions WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?;
            Ok(b.flatten().map(|b| unblob(&b)))
        })
    }

    /// Every gap, any status.
    fn gaps(&self) -> Result<Vec<Gap>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT id, centroid, count, first_seen, last_seen, status, short_answer FROM gaps ORDER BY id",
            )?;
            let rows = st.query_map([], gap_from_row)?;
            let mut out = Vec::new();
            for row in rows {
                let (mut gap, status) = row?;
                gap.status = GapStatus::parse(&status)?;
                out.push(gap);
            }
            Ok(out)
        })
    }

    /// Stores a new gap (`id` 0) or updates one; returns its id.
    fn put_gap(&self, gap: &Gap) -> Result<i64> {
        self.with(|c| {
            if gap.id == 0 {
                c.execute(
                    "INSERT INTO gaps (centroid, count, first_seen, last_seen, status, short_answer)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        blob(&gap.centroid),
                        gap.count as i64,
                        gap.first_seen,
                        gap.last_seen,
                        gap.status.as_str(),
                        gap.short_answer
                    ],
                )?;
                Ok(c.last_insert_rowid())
            } else {
                c.execute(
                    "UPDATE gaps SET centroid = ?2, count = ?3, first_seen = ?4, last_seen = ?5, status = ?6, short_answer = ?7 WHERE id = ?1",
                    params![
                        gap.id,
                        blob(&gap.centroid),
                        gap.count as i64,
                        gap.first_seen,
                        gap.last_seen,
                        gap.status.as_str(),
                        gap.short_answer
                    ],
                )?;
                Ok(gap.id)
            }
        })
    }

    /// The highest chunk id already checked for conflicts.
    fn conflicts_checked_up_to(&self) -> Result<u64> {
        self.with(|c| {
            let v: Option<i64> = c
                .query_row(
                    "SELECT value FROM state WHERE key = 'conflicts_watermark'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(v.unwrap_or(0) as u64)
        })
    }

    /// Records found conflicts and how far the check got, in one
    /// transaction.
    fn add_conflicts(&self, found: &[StoredConflict], checked_up_to: u64) -> Result<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            for f in found {
                tx.execute(
                    "INSERT OR REPLACE INTO conflicts (a, b, kind, why, similarity, found_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![f.a as i64, f.b as i64, f.kind, f.why, f64::from(f.similarity), f.found_at],
                )?;
            }
            tx.execute(
                "INSERT OR REPLACE INTO state (key, value) VALUES ('conflicts_watermark', ?1)",
                [checked_up_to as i64],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Every recorded conflict, newest first.
    fn conflicts(&self) -> Result<Vec<StoredConflict>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT a, b, kind, why, similarity, found_at FROM conflicts ORDER BY found_at DESC, a, b",
            )?;
            let rows = st.query_map([], |r| {
                Ok(StoredConflict {
                    a: r.get::<_, i64>(0)? as u64,
                    b: r.get::<_, i64>(1)? as u64,
                    kind: r.get(2)?,
                    why: r.get(3)?,
                    similarity: r.get::<_, f64>(4)? as f32,
                    found_at: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Forgets conflicts of chunks that are gone.
    fn forget_conflicts(&self, gone: &[(u64, u64)]) -> Result<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            for (a, b) in gone {
                tx.execute(
                    "DELETE FROM conflicts WHERE a = ?1 AND b = ?2",
                    params![*a as i64, *b as i64],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Removes questions older than `before` (unix seconds), and gaps left
    /// without questions; returns how many questions went.
    fn prune(&self, before: i64) -> Result<usize> {
        self.with(|c| {
            let tx = c.transaction()?;
            let n = tx.execute("DELETE FROM questions WHERE at < ?1", [before])?;
            tx.execute(
                "DELETE FROM gaps WHERE status = 'open' AND id NOT IN (SELECT DISTINCT gap_id FROM questions WHERE gap_id IS NOT NULL)",
                [],
            )?;
            tx.commit()?;
            Ok(n)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(text: &str, decision: &str, at: i64) -> LoggedQuestion {
        LoggedQuestion {
            id: 0,
            at,
            text: text.into(),
            language: "en".into(),
            decision: decision.into(),
            confidence: 0.5,
            passages: vec!["c1".into()],
            documents: vec!["https://help.example.com/a".into()],
            page_url: None,
            vector: vec![1.0, 0.0],
            gap_id: None,
        }
    }

    #[test]
    fn questions_and_gaps_survive_reopening_and_old_ones_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("questions.db");
        {
            let log = QuestionLog::open(&path).unwrap();
            let gap = log
                .put_gap(&Gap {
                    id: 0,
                    centroid: vec![1.0, 0.0],
                    count: 1,
                    first_seen: 100,
                    last_seen: 100,
                    status: GapStatus::Open,
                    short_answer: None,
                })
                .unwrap();
            let mut q = question("Do you ship to Norway?", "handoff", 100);
            q.gap_id = Some(gap);
            log.append(&q).unwrap();
            log.append(&question("How do I reset my password?", "answer", 90_000))
                .unwrap();
        }
        let log = QuestionLog::open(&path).unwrap();
        assert_eq!(log.questions_since(0).unwrap().len(), 2);
        let gaps = log.gaps().unwrap();
        assert_eq!(gaps.len(), 1);
        assert_eq!(gaps[0].centroid, vec![1.0, 0.0]);
        let of_gap = log.questions_of_gap(gaps[0].id, 10).unwrap();
        assert_eq!(of_gap[0].text, "Do you ship to Norway?");
        assert_eq!(log.vector(of_gap[0].id).unwrap(), Some(vec![1.0, 0.0]));
        let days = log.daily_counts(0).unwrap();
        assert_eq!(days.len(), 2);
        assert_eq!((days[0].day.as_str(), days[0].handoff), ("1970-01-01", 1));
        assert_eq!((days[1].day.as_str(), days[1].answer), ("1970-01-02", 1));
        assert_eq!(log.prune(1_000).unwrap(), 1);
        assert!(
            log.gaps().unwrap().is_empty(),
            "a gap without questions goes"
        );
        assert_eq!(log.questions_since(0).unwrap().len(), 1);
    }

    #[test]
    fn days_are_civil_dates() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(1_796_342_400), "2026-12-04");
        assert_eq!(day_of(951_782_400), "2000-02-29");
    }
}
