//! The knowledge-base suite on both backends, with the same assertions:
//! embedded (SQLite + in-process indexes) and shared (PostgreSQL +
//! pgvector). The shared runs need a PostgreSQL server with pgvector in
//! `QUARRY_TEST_DATABASE_URL` (`scripts/test.sh` starts one); each test gets
//! a database of its own.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use quarry_formats::Locator;
use quarry_index::store::postgres::{PgDatabase, PgOptions, create_database};
use quarry_index::{
    ContentHash, DocumentMeta, Embedder, Error, Gap, GapStatus, HashEmbedder, IndexOptions,
    JobStatus, KnowledgeBase, LoggedQuestion, NewChunk, SourceKind, SourceRecord, SourceSettings,
    SourceSpec, SourceStatus, StoredConflict, WriteOp,
};

use std::sync::Arc;

/// Where a knowledge base lives; `open` may be called again (a restart, or
/// on the shared backend a second node).
enum Backend {
    Local(tempfile::TempDir),
    Shared { url: String, dir: tempfile::TempDir },
}

fn admin_url() -> String {
    std::env::var("QUARRY_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "QUARRY_TEST_DATABASE_URL is not set: the shared-backend tests need a PostgreSQL server with pgvector; run scripts/test.sh, which starts one (scripts/pg.sh)"
        )
    })
}

impl Backend {
    fn local() -> Self {
        Backend::Local(tempfile::tempdir().unwrap())
    }

    fn shared(test: &str) -> Self {
        let name = format!("kb_{test}_{}", std::process::id());
        Backend::Shared {
            url: create_database(&admin_url(), &name).unwrap(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn database(url: &str) -> Arc<PgDatabase> {
        let mut options = PgOptions::new(url);
        options.pool_size = 4;
        options.job_lease_secs = 2;
        Arc::new(PgDatabase::connect(options).unwrap())
    }

    fn try_open(&self, e: Arc<dyn Embedder>) -> quarry_index::Result<KnowledgeBase> {
        let options = IndexOptions {
            full_scan_threshold: 0,
            compact_min: 2,
            compact_ratio: 0.5,
            ..IndexOptions::default()
        };
        match self {
            Backend::Local(dir) => KnowledgeBase::open(dir.path(), e, options),
            Backend::Shared { url, dir } => {
                let name = e.model_id().to_owned();
                KnowledgeBase::open_shared(
                    Self::database(url),
                    "default",
                    &dir.path().join("default"),
                    &name,
                    e,
                    options,
                )
            }
        }
    }

    fn open(&self, e: Arc<dyn Embedder>) -> KnowledgeBase {
        self.try_open(e).unwrap()
    }
}

fn embedder() -> Arc<dyn Embedder> {
    Arc::new(HashEmbedder::new(64))
}

fn doc(uri: &str, texts: &[&str], e: &dyn Embedder) -> WriteOp {
    let chunks = texts
        .iter()
        .enumerate()
        .map(|(i, t)| NewChunk {
            chunk_id: format!("{uri}#{i}:{}", ContentHash::of(t.as_bytes())),
            content_hash: ContentHash::of(t.as_bytes()),
            heading_path: vec!["Help".into()],
            text: (*t).into(),
            locator: Locator::Lines {
                start: i as u32 + 1,
                end: i as u32 + 1,
            },
            vector: Some(e.embed_passages(&[t]).unwrap().remove(0)),
        })
        .collect();
    WriteOp::Upsert {
        doc: DocumentMeta {
            uri: uri.into(),
            source_id: "test".into(),
            title: Some(uri.into()),
            format: "text".into(),
            language: None,
            content_hash: ContentHash::of(texts.join("\n").as_bytes()),
            pipeline: "p1".into(),
            citable: true,
            url: Some(format!("https://help.example.com/{uri}")),
        },
        chunks,
    }
}

/// `op` with its chunks' vectors left out (to be found in the cache).
fn without_vectors(mut op: WriteOp) -> WriteOp {
    if let WriteOp::Upsert { chunks, .. } = &mut op {
        for c in chunks {
            c.vector = None;
        }
    }
    op
}

fn top_uris(kb: &KnowledgeBase, query: &str, k: usize) -> Vec<String> {
    let q = kb.embedder().embed_query(query).unwrap();
    kb.search(&q, k, None)
        .unwrap()
        .into_iter()
        .map(|h| h.chunk.doc_uri)
        .collect()
}

fn keyword_uris(kb: &KnowledgeBase, query: &str) -> Vec<String> {
    let ids: Vec<u64> = kb
        .keyword_candidates(query, 5)
        .unwrap()
        .into_iter()
        .map(|h| h.0)
        .collect();
    kb.chunks(&ids)
        .unwrap()
        .into_iter()
        .map(|c| c.doc_uri)
        .collect()
}

/// Two tests per scenario: `NAME::embedded` and `NAME::shared`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn embedded() {
                super::$name(super::Backend::local());
            }
            #[test]
            fn shared() {
                super::$name(super::Backend::shared(stringify!($name)));
            }
        }
    )*};
}

on_both!(
    commit_search_delete_and_reopen,
    editing_keeps_unchanged_chunks,
    cached_embeddings_are_reused,
    wrong_model_is_refused,
    keyword_search_follows_commits,
    sources_and_jobs,
    question_log_gaps_and_conflicts,
);

fn commit_search_delete_and_reopen(backend: Backend) {
    let e = embedder();
    {
        let kb = backend.open(e.clone());
        kb.commit(&[
            doc(
                "a",
                &["reset your password from the login page"],
                e.as_ref(),
            ),
            doc(
                "b",
                &[
                    "invoices are emailed monthly",
                    "change billing address in settings",
                ],
                e.as_ref(),
            ),
        ])
        .unwrap();
        assert_eq!(top_uris(&kb, "password reset", 1), ["a"]);
        kb.flush().unwrap();
    }
    let kb = backend.open(e.clone());
    assert_eq!(kb.stats().unwrap().store.chunks, 3);
    assert_eq!(top_uris(&kb, "password reset", 1), ["a"]);
    let chunks = kb.chunks_of_document("b").unwrap();
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[1].text, "change billing address in settings");
    assert_eq!(
        kb.documents_at(&["https://help.example.com/b"]).unwrap(),
        ["b"]
    );
    kb.commit(&[WriteOp::Delete { uri: "a".into() }]).unwrap();
    assert!(!top_uris(&kb, "password reset", 10).contains(&"a".to_string()));
    assert!(kb.document("a").unwrap().is_none());
    assert_eq!(kb.all_documents().unwrap(), ["b"]);
}

fn editing_keeps_unchanged_chunks(backend: Backend) {
    let e = embedder();
    let kb = backend.open(e.clone());
    kb.commit(&[doc("a", &["one fish", "two fish", "red fish"], e.as_ref())])
        .unwrap();
    let before = kb.chunks_of_document("a").unwrap();
    kb.commit(&[doc("a", &["one fish", "two fish", "blue fish"], e.as_ref())])
        .unwrap();
    let after = kb.chunks_of_document("a").unwrap();
    assert_eq!(
        before[0].vid, after[0].vid,
        "an unchanged chunk keeps its row"
    );
    assert_eq!(before[1].vid, after[1].vid);
    assert_ne!(before[2].vid, after[2].vid);
    assert_eq!(kb.stats().unwrap().store.chunks, 3);
    let hits = kb
        .search(&e.embed_query("red fish").unwrap(), 10, None)
        .unwrap();
    assert!(hits.iter().all(|h| h.chunk.text != "red fish"));
    assert_eq!(hits.len(), 3);
    kb.commit(&[doc("a", &["green eggs", "and ham"], e.as_ref())])
        .unwrap();
    kb.compact().unwrap();
    let stats = kb.stats().unwrap();
    assert_eq!((stats.store.chunks, stats.store.embeddings), (2, 2));
}

fn cached_embeddings_are_reused(backend: Backend) {
    let e = embedder();
    let kb = backend.open(e.clone());
    kb.commit(&[doc("a", &["shared paragraph"], e.as_ref())])
        .unwrap();
    let h = ContentHash::of(b"shared paragraph");
    assert!(kb.cached_embeddings(&[h]).unwrap().contains_key(&h));
    let b = without_vectors(doc("b", &["shared paragraph"], e.as_ref()));
    kb.commit(&[b]).unwrap();
    assert_eq!(kb.stats().unwrap().store.chunks, 2);
    // A chunk with no vector and nothing cached fails, and the batch with it.
    let c = without_vectors(doc("c", &["never embedded"], e.as_ref()));
    let err = kb
        .commit(&[doc("d", &["fine text"], e.as_ref()), c])
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert!(
        kb.document("d").unwrap().is_none(),
        "the batch is all or nothing"
    );
}

fn wrong_model_is_refused(backend: Backend) {
    backend.open(Arc::new(HashEmbedder::new(64)));
    // Same name, other size: a different model id.
    let err = backend
        .try_open(Arc::new(HashEmbedder::new(32)))
        .unwrap_err();
    assert!(matches!(err, Error::ModelMismatch { .. }), "{err}");
}

fn keyword_search_follows_commits(backend: Backend) {
    let e = embedder();
    let kb = backend.open(e.clone());
    kb.commit(&[
        doc(
            "a",
            &["reset your password from the login page"],
            e.as_ref(),
        ),
        doc("b", &["invoices are emailed monthly"], e.as_ref()),
        doc(
            "fr",
            &["la résiliation du contrat se fait en ligne"],
            e.as_ref(),
        ),
    ])
    .unwrap();
    assert_eq!(keyword_uris(&kb, "passwords"), ["a"], "stemmed match");
    assert_eq!(keyword_uris(&kb, "monthly invoice"), ["b"]);
    assert_eq!(keyword_uris(&kb, "résiliation"), ["fr"]);
    assert!(keyword_uris(&kb, "what's C++ & (x | !y)?").is_empty());
    kb.commit(&[WriteOp::Delete { uri: "a".into() }]).unwrap();
    assert!(keyword_uris(&kb, "passwords").is_empty());
}

fn source(id: &str, next: Option<i64>) -> SourceRecord {
    SourceRecord {
        id: id.into(),
        kind: SourceKind::Url,
        title: None,
        spec: SourceSpec::Url {
            url: format!("https://example.com/{id}"),
        },
        settings: SourceSettings::default(),
        created_at: 1,
        last_sync_at: None,
        next_sync_at: next,
        status: SourceStatus::Ready,
        last_error: None,
    }
}

fn sources_and_jobs(backend: Backend) {
    let e = embedder();
    let kb = backend.open(e.clone());
    kb.commit(&[
        WriteOp::PutSource {
            source: Box::new(source("due", Some(100))),
            blob: None,
        },
        WriteOp::PutSource {
            source: Box::new(source("later", Some(10_000))),
            blob: Some(quarry_index::SourceBlob {
                name: "x.txt".into(),
                media_type: Some("text/plain".into()),
                bytes: b"bytes".to_vec(),
            }),
        },
    ])
    .unwrap();
    assert_eq!(kb.sources().unwrap().len(), 2);
    assert_eq!(kb.source_blob("later").unwrap().unwrap().bytes, b"bytes");
    // Scheduling is once per due source.
    let jobs = kb.enqueue_due(200).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].source_id, "due");
    assert!(kb.enqueue_due(200).unwrap().is_empty());
    // Claims take each job once.
    let claimed = kb.claim_job().unwrap().unwrap();
    assert_eq!(
        (claimed.id, claimed.status),
        (jobs[0].id, JobStatus::Running)
    );
    assert!(kb.claim_job().unwrap().is_none());
    let mut done = claimed;
    done.status = JobStatus::Done;
    done.done = 3;
    done.total = 3;
    kb.update_job(&done).unwrap();
    assert_eq!(kb.job(done.id).unwrap().unwrap().status, JobStatus::Done);
    let manual = kb.create_job("later", None, "api").unwrap();
    assert_eq!(kb.jobs(10).unwrap()[0].id, manual.id);
    kb.commit(&[WriteOp::DeleteSource { id: "later".into() }])
        .unwrap();
    assert!(kb.source_blob("later").unwrap().is_none());
    kb.set_meta("k", "v").unwrap();
    assert_eq!(kb.meta("k").unwrap().as_deref(), Some("v"));
}

fn question_log_gaps_and_conflicts(backend: Backend) {
    let kb = backend.open(embedder());
    let log = kb.questions();
    let q = |text: &str, at: i64| LoggedQuestion {
        id: 0,
        at,
        text: text.into(),
        language: "en".into(),
        decision: "handoff".into(),
        confidence: 0.25,
        passages: vec!["c1".into()],
        documents: vec!["https://help.example.com/a".into()],
        page_url: Some("https://shop.example.com/".into()),
        vector: vec![1.0, 0.0],
        gap_id: None,
    };
    let id = log.append(&q("bitcoin?", 100)).unwrap();
    log.append_all(&[q("crypto?", 200), q("ether?", 86_400 * 3)])
        .unwrap();
    assert_eq!(log.vector(id).unwrap().unwrap(), [1.0, 0.0]);
    assert_eq!(log.questions_since(150).unwrap().len(), 2);
    let gap = log
        .put_gap(&Gap {
            id: 0,
            centroid: vec![0.5, 0.5],
            count: 2,
            first_seen: 100,
            last_seen: 200,
            status: GapStatus::Open,
            short_answer: None,
        })
        .unwrap();
    assert_eq!(log.gap(gap).unwrap().unwrap().count, 2);
    assert_eq!(log.daily_counts(0).unwrap().len(), 2);
    log.add_conflicts(
        &[StoredConflict {
            a: 1,
            b: 2,
            kind: "contradiction".into(),
            why: "30 vs 14 days".into(),
            similarity: 0.9,
            found_at: 5,
        }],
        7,
    )
    .unwrap();
    assert_eq!(log.conflicts_checked_up_to().unwrap(), 7);
    assert_eq!(log.conflicts().unwrap().len(), 1);
    log.forget_conflicts(&[(1, 2)]).unwrap();
    assert!(log.conflicts().unwrap().is_empty());
    assert_eq!(log.prune(1_000).unwrap(), 2);
    assert!(
        log.gaps().unwrap().is_empty(),
        "an open gap without questions goes"
    );
}

/// Two handles on one knowledge base in the shared database stand for two
/// nodes: what one writes the other reads at once, each job is claimed
/// once, and a job whose node went quiet is taken over.
#[test]
fn shared_nodes_see_each_other_and_claim_jobs_once() {
    let backend = Backend::shared("two_nodes");
    let e = embedder();
    let a = backend.open(e.clone());
    let b = backend.open(e.clone());
    a.commit(&[doc(
        "a",
        &["reset your password from the login page"],
        e.as_ref(),
    )])
    .unwrap();
    assert_eq!(top_uris(&b, "password reset", 1), ["a"]);
    assert_eq!(keyword_uris(&b, "password"), ["a"]);
    b.commit(&[WriteOp::Delete { uri: "a".into() }]).unwrap();
    assert!(top_uris(&a, "password reset", 5).is_empty());

    a.commit(&[WriteOp::PutSource {
        source: Box::new(source("s", None)),
        blob: None,
    }])
    .unwrap();
    for i in 0..20 {
        a.create_job("s", Some(&format!("u{i}")), "api").unwrap();
    }
    // Four workers on two nodes claim concurrently: every job exactly once.
    let claimed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for (node, kb) in [(0, &a), (1, &b), (0, &a), (1, &b)] {
            let claimed = &claimed;
            scope.spawn(move || {
                while let Some(job) = kb.claim_job().unwrap() {
                    claimed.lock().unwrap().push((node, job));
                }
            });
        }
    });
    let claimed = claimed.into_inner().unwrap();
    let mut ids: Vec<u64> = claimed.iter().map(|(_, j)| j.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((claimed.len(), ids.len()), (20, 20));
    for (node, mut job) in claimed {
        job.status = JobStatus::Done;
        [&a, &b][node].update_job(&job).unwrap();
    }
    assert!(
        a.jobs(100)
            .unwrap()
            .iter()
            .all(|j| j.status == JobStatus::Done),
        "each node finishes the jobs it claimed"
    );

    // A running job whose node stops renewing its claim is taken over after
    // the lease (2 s here), and only then.
    let job = a.create_job("s", None, "api").unwrap();
    let c = backend.open(e.clone());
    let mine = c.claim_job().unwrap().unwrap();
    assert_eq!(mine.id, job.id);
    assert!(
        b.claim_job().unwrap().is_none(),
        "a live claim is respected"
    );
    c.heartbeat_job(job.id).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3_100));
    let taken = b.claim_job().unwrap().unwrap();
    assert_eq!(taken.id, job.id);
    // The node that lost it can no longer write it.
    let mut stale = mine;
    stale.status = JobStatus::Failed;
    c.update_job(&stale).unwrap();
    assert_eq!(b.job(job.id).unwrap().unwrap().status, JobStatus::Running);
}
