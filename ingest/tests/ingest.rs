//! Integration tests of the write path: chunker invariants (property tests)
//! and the pipeline over real files, with the model-free hashing embedder.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use proptest::prelude::*;
use quarry_formats::{Document, Locator, Mark, Registry, Section};
use quarry_index::{Embedder, HashEmbedder, IndexOptions, KnowledgeBase};
use quarry_ingest::{ChunkOptions, Chunker, FileSource, IngestOptions, NoProgress, Pipeline};
use std::path::Path;
use std::sync::Arc;

/// Writes a `secs`-second test-pattern video with a sine tone (MPEG-4
/// video, `audio_codec` audio) to `path`. Needs `ffmpeg` (scripts/deps.sh).
fn test_video(path: &Path, secs: u32, audio_codec: &str) {
    let out = std::process::Command::new("ffmpeg")
        .args(["-y", "-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size=96x64:rate=25:duration={secs}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=duration={secs}"))
        .args(["-c:v", "mpeg4", "-c:a", audio_codec])
        .arg(path)
        .output()
        .expect("ffmpeg is needed: run scripts/deps.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn section_strategy() -> impl Strategy<Value = Section> {
    let word = prop::sample::select(vec![
        "alpha",
        "beta",
        "gamma",
        "delta.",
        "epsilon,",
        "zeta?",
        "eta!",
        "internationalisation",
        "x",
        "42",
        "über",
        "naïve",
        "a-b-c",
        "(paren)",
    ]);
    let sep = prop::sample::select(vec![" ", " ", " ", " ", "\n", "\n\n", "  ", "\t"]);
    prop::collection::vec((word, sep), 1..400).prop_map(|parts| {
        let text: String = parts
            .into_iter()
            .flat_map(|(w, s)| [w, s])
            .collect::<String>()
            .trim()
            .to_owned();
        let mut s = Section::new(
            vec!["Head".into()],
            text.clone(),
            Locator::Lines { start: 1, end: 1 },
        );
        // A mark per line, so chunk locators are line ranges.
        let mut offset = 0;
        for (i, line) in text.split_inclusive('\n').enumerate() {
            s.marks.push(Mark {
                offset,
                locator: Locator::Lines {
                    start: i as u32 + 1,
                    end: i as u32 + 1,
                },
            });
            offset += line.len();
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn chunker_invariants(section in section_strategy(), target in 8usize..120, overlap in 0usize..20) {
        let e = HashEmbedder::new(16);
        let chunker = Chunker::new(ChunkOptions { target_tokens: target, overlap_tokens: overlap }, &e);
        let doc = Document { title: Some("T".into()), format: "text".into(), language: None, sections: vec![section.clone()] };
        let chunks = chunker.chunk(&doc);
        let text = &section.text;
        let mut covered = vec![false; text.len()];
        for c in &chunks {
            // Spans lie inside the section and are the chunk's text.
            prop_assert!(c.span.end <= text.len() && c.span.start < c.span.end);
            prop_assert_eq!(&text[c.span.clone()], c.text.as_str());
            // Size limit, measured with the embedder's tokenizer.
            prop_assert!(e.count_tokens(&c.text) <= target.max(8), "{} tokens > {}", e.count_tokens(&c.text), target);
            prop_assert!(c.tokens + 2 <= e.max_tokens());
            // Citations point inside the source.
            prop_assert_eq!(&c.locator, &section.locate(c.span.start, c.span.end));
            prop_assert!(c.embed_text.ends_with(&c.text) && c.embed_text.starts_with("T › Head"));
            covered[c.span.clone()].iter_mut().for_each(|b| *b = true);
        }
        // Every character of the section lands in some chunk.
        for (i, ch) in text.char_indices() {
            prop_assert!(ch.is_whitespace() || covered[i], "byte {} ({:?}) not in any chunk", i, ch);
        }
        // Chunks are in order and make progress.
        for pair in chunks.windows(2) {
            prop_assert!(pair[1].span.start > pair[0].span.start);
        }
    }
}

fn write(dir: &Path, name: &str, content: &[u8]) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn pipeline(data: &Path) -> Pipeline {
    let kb = KnowledgeBase::open(
        data,
        Arc::new(HashEmbedder::new(64)),
        IndexOptions::default(),
    )
    .unwrap();
    Pipeline::new(
        Arc::new(kb),
        Arc::new(Registry::default()),
        IngestOptions::default(),
    )
}

fn sample(dir: &Path) {
    let body: String = (0..60)
        .map(|i| format!("Paragraph {i} explains configuration option number {i}.\n\n"))
        .collect();
    write(
        dir,
        "guide.md",
        format!("# Guide\n\n## Options\n\n{body}").as_bytes(),
    );
    write(
        dir,
        "faq.html",
        b"<html><head><title>FAQ</title></head><body><h1>FAQ</h1><h2 id=\"refund\">Refunds</h2><p>Refunds take five days.</p></body></html>",
    );
    write(
        dir,
        "sub/notes.txt",
        b"Shared boilerplate paragraph about the company.\n\nNotes text.",
    );
    write(
        dir,
        "sub/more.txt",
        b"Shared boilerplate paragraph about the company.\n\nMore text here.",
    );
    write(dir, "broken.md", b"\x00\x01\x02 binary junk");
    write(dir, "picture.png", b"\x89PNG\r\n\x1a\n\x00\x00");
}

#[test]
fn folder_ingest_reports_failures_and_resyncs_incrementally() {
    let docs = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    sample(docs.path());
    let source = FileSource::new(docs.path()).unwrap();

    let report = pipeline(data.path()).run(&source, &NoProgress).unwrap();
    assert_eq!(report.documents, 6);
    assert_eq!(report.indexed, 4, "{report:#?}");
    let mut failed: Vec<_> = report
        .failed
        .iter()
        .map(|f| (f.name.as_str(), f.reason.as_str()))
        .collect();
    failed.sort();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0].0, "broken.md");
    assert!(failed[0].1.contains("binary content"), "{}", failed[0].1);
    assert_eq!(failed[1].0, "picture.png");
    assert!(
        failed[1].1.starts_with("unsupported format (.png)"),
        "{}",
        failed[1].1
    );
    // Every chunk's text is distinct (titles differ), so each was embedded once.
    assert_eq!((report.embedded, report.reused), (report.chunks, 0));
    assert!(report.chunks > 5);

    // Nothing changed: nothing is parsed or embedded again.
    let again = pipeline(data.path()).run(&source, &NoProgress).unwrap();
    assert_eq!(
        (again.indexed, again.unchanged, again.embedded),
        (0, 4, 0),
        "{again:#?}"
    );

    // Edit one paragraph of the guide, delete the FAQ.
    let body: String = (0..60)
        .map(|i| {
            if i == 30 {
                "Paragraph 30 was rewritten to say something new.\n\n".to_string()
            } else {
                format!("Paragraph {i} explains configuration option number {i}.\n\n")
            }
        })
        .collect();
    write(
        docs.path(),
        "guide.md",
        format!("# Guide\n\n## Options\n\n{body}").as_bytes(),
    );
    std::fs::remove_file(docs.path().join("faq.html")).unwrap();
    let edit = pipeline(data.path()).run(&source, &NoProgress).unwrap();
    assert_eq!(
        (edit.indexed, edit.unchanged, edit.removed),
        (1, 2, 1),
        "{edit:#?}"
    );
    assert!(
        edit.embedded >= 1 && edit.embedded < edit.chunks,
        "only changed chunks re-embed: {edit:#?}"
    );

    let kb = KnowledgeBase::open(
        data.path(),
        Arc::new(HashEmbedder::new(64)),
        IndexOptions::default(),
    )
    .unwrap();
    let q = kb.embedder().embed_query("refunds take five days").unwrap();
    assert!(
        kb.search(&q, 10, None)
            .unwrap()
            .iter()
            .all(|h| !h.chunk.doc_uri.ends_with("faq.html"))
    );
    let q = kb
        .embedder()
        .embed_query("rewritten to say something new")
        .unwrap();
    let top = &kb.search(&q, 1, None).unwrap()[0].chunk;
    assert!(top.text.contains("rewritten"), "{top:?}");
    assert!(matches!(top.locator, Locator::Lines { .. }));
    assert_eq!(
        top.heading_path,
        vec!["Guide".to_string(), "Options".to_string()]
    );
}

/// A video beside its subtitles: one document (the subtitles are its
/// sidecar, not a document of their own), whose chunk about the reset
/// button cites the seconds it is said at; editing the subtitles re-indexes
/// the video. Needs `ffmpeg` (scripts/deps.sh).
#[test]
fn a_video_with_sidecar_subtitles_is_cited_by_time() {
    let docs = tempfile::tempdir().unwrap();
    let video = docs.path().join("reset.avi");
    test_video(&video, 20, "mp3");
    let srt = |last: &str| {
        format!(
            "1\n00:00:01,000 --> 00:00:04,000\nWelcome to the router video.\n\n\
             2\n00:00:10,000 --> 00:00:14,500\nHold the recessed pinhole button for fifteen seconds.\n\n\
             3\n00:00:15,000 --> 00:00:18,000\n{last}\n"
        )
    };
    write(
        docs.path(),
        "reset.srt",
        srt("The lamp blinks amber.").as_bytes(),
    );
    let data = tempfile::tempdir().unwrap();
    let embedder: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(64));
    let kb = Arc::new(
        KnowledgeBase::open(data.path(), embedder.clone(), IndexOptions::default()).unwrap(),
    );
    let pipeline = Pipeline::new(
        kb.clone(),
        Arc::new(Registry::default()),
        IngestOptions::default(),
    );
    let source = FileSource::new(docs.path()).unwrap();
    let report = pipeline.run(&source, &NoProgress).unwrap();
    assert_eq!((report.documents, report.indexed), (1, 1), "{report:#?}");
    let q = embedder.embed_query("recessed pinhole button").unwrap();
    let top = kb.search(&q, 1, None).unwrap().remove(0).chunk;
    assert!(top.doc_uri.ends_with("/reset.avi"), "{top:?}");
    assert_eq!(top.format, "media");
    match &top.locator {
        Locator::Time { start_ms, end_ms } => {
            assert!(
                *start_ms <= 10_000 && *end_ms >= 14_500,
                "{start_ms}-{end_ms}"
            );
        }
        other => panic!("not a time locator: {other:?}"),
    }
    // A changed sidecar re-indexes the video; an unchanged one does not.
    assert_eq!(pipeline.run(&source, &NoProgress).unwrap().indexed, 0);
    write(
        docs.path(),
        "reset.srt",
        srt("The lamp turns solid green.").as_bytes(),
    );
    assert_eq!(pipeline.run(&source, &NoProgress).unwrap().indexed, 1);
}

#[test]
fn identical_text_across_documents_is_embedded_once() {
    let docs = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    for i in 0..20 {
        write(
            docs.path(),
            &format!("copy{i}.txt"),
            b"The very same sentence in every file.",
        );
    }
    let report = pipeline(data.path())
        .run(&FileSource::new(docs.path()).unwrap(), &NoProgress)
        .unwrap();
    assert_eq!(report.indexed, 20);
    assert_eq!(report.chunks, 20);
    // The embedded text starts with the title (here the file name), so these differ.
    assert_eq!(report.embedded, 20);

    let data2 = tempfile::tempdir().unwrap();
    let docs2 = tempfile::tempdir().unwrap();
    for i in 0..20 {
        write(
            &docs2.path().join(format!("d{i}")),
            "page.txt",
            b"The very same sentence in every file.",
        );
    }
    let report = pipeline(data2.path())
        .run(&FileSource::new(docs2.path()).unwrap(), &NoProgress)
        .unwrap();
    assert_eq!(
        (
            report.indexed,
            report.chunks,
            report.embedded,
            report.reused
        ),
        (20, 20, 1, 19),
        "{report:#?}"
    );
}

#[test]
fn a_hostile_folder_finishes_with_the_valid_files_indexed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora");
    let docs = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root.join("hostile")).unwrap().flatten() {
        std::fs::copy(entry.path(), docs.path().join(entry.file_name())).unwrap();
    }
    std::fs::copy(
        root.join("formats/pdf/wal.pdf"),
        docs.path().join("wal.pdf"),
    )
    .unwrap();
    std::fs::copy(
        root.join("formats/docx/whentouse.docx"),
        docs.path().join("whentouse.docx"),
    )
    .unwrap();
    // 200 MB, sparse: refused by size before anything is read.
    std::fs::File::create(docs.path().join("huge.txt"))
        .unwrap()
        .set_len(200 * 1024 * 1024)
        .unwrap();

    let data = tempfile::tempdir().unwrap();
    let report = pipeline(data.path())
        .run(&FileSource::new(docs.path()).unwrap(), &NoProgress)
        .unwrap();
    let failed: std::collections::BTreeMap<&str, &str> = report
        .failed
        .iter()
        .map(|f| (f.name.as_str(), f.reason.as_str()))
        .collect();
    // dangling-ref.pdf refers to a font the file lacks: read as a reader
    // would, with a standard font.
    let valid = [
        "wal.pdf",
        "whentouse.docx",
        "invalid-utf8.txt",
        "deep.html",
        "dangling-ref.pdf",
    ];
    for valid in valid {
        assert!(
            !failed.contains_key(valid),
            "{valid} failed: {:?}",
            failed.get(valid)
        );
    }
    assert_eq!(report.indexed, valid.len(), "{report:#?}");
    assert_eq!(report.failed.len(), report.documents - valid.len());
    assert!(
        failed["huge.txt"].starts_with("too large"),
        "{}",
        failed["huge.txt"]
    );
    assert!(
        failed["zip-bomb.docx"].contains("zip bomb"),
        "{}",
        failed["zip-bomb.docx"]
    );
    assert!(
        failed["encrypted.pdf"].contains("password"),
        "{}",
        failed["encrypted.pdf"]
    );
    // Every failure names its own reason; none is a crash.
    assert!(
        report
            .failed
            .iter()
            .all(|f| !f.reason.is_empty() && !f.reason.contains("crashed")),
        "{report:#?}"
    );
}

mod sync {
    use super::*;
    use quarry_index::{Catalog, JobStatus, SourceSettings, SourceStatus};
    use quarry_ingest::{ArticleInput, ShortAnswerInput, SyncOptions, Syncer, Upload};

    fn syncer(data: &Path, interval_secs: u64) -> Syncer {
        let embedder = Arc::new(HashEmbedder::new(64));
        let catalog = Arc::new(
            Catalog::open(
                data,
                Arc::new(quarry_index::Models::of(embedder)),
                IndexOptions::default(),
            )
            .unwrap(),
        );
        Syncer::new(
            catalog,
            Arc::new(Registry::default()),
            IngestOptions::default(),
            SyncOptions {
                interval_secs,
                tick_secs: 1,
                retry_secs: 10,
            },
        )
    }

    /// Paragraph `i` of the test article: distinct words, about 40 tokens.
    fn paragraph(i: usize, variant: &str) -> String {
        format!(
            "Paragraph {i} explains setting number {i} of the appliance{variant}. \
             Open the panel marked {i}, hold the dial for {i} seconds and wait until \
             the light labelled p{i}q turns green; then the setting p{i}z is saved \
             and the appliance restarts with profile w{i}k in effect."
        )
    }

    /// 160 paragraphs under a heading every `heading_every` of them.
    fn article_with(edited: Option<usize>, heading_every: usize) -> String {
        let mut out = String::from("# Appliance manual\n\n");
        for i in 0..160 {
            if i % heading_every == 0 {
                out.push_str(&format!("## Settings group {}\n\n", i / 6));
            }
            let variant = if Some(i) == edited {
                " (revised in the spring edition)"
            } else {
                ""
            };
            out.push_str(&paragraph(i, variant));
            out.push_str("\n\n");
        }
        out
    }

    fn article(edited: Option<usize>) -> String {
        article_with(edited, 6)
    }

    fn put(s: &Syncer, body: String) -> quarry_ingest::IngestReport {
        s.put_article(
            "default",
            "manual-1",
            ArticleInput {
                title: "Appliance manual".into(),
                body,
                url: Some("https://help.example.com/manual".into()),
                format: None,
                settings: None,
            },
        )
        .unwrap()
        .report
    }

    fn chunk_texts(s: &Syncer) -> Vec<String> {
        let kb = s.kb("default").unwrap();
        let ids: Vec<u64> = (0..10_000).collect();
        kb.chunks(&ids)
            .unwrap()
            .into_iter()
            .map(|c| c.text)
            .collect()
    }

    #[test]
    fn editing_one_paragraph_re_embeds_only_the_chunks_around_it() {
        // Short sections, and one long section where only the chunker's
        // cut choices can bring the chunk sequence back in step.
        for heading_every in [6, 1000] {
            edit_one_paragraph(heading_every);
        }
    }

    fn edit_one_paragraph(heading_every: usize) {
        let article = |edited| article_with(edited, heading_every);
        let data = tempfile::tempdir().unwrap();
        let s = syncer(data.path(), 3600);
        let first = put(&s, article(None));
        assert!(first.chunks >= 50, "{} chunks", first.chunks);
        assert_eq!(put(&s, article(None)).embedded, 0, "same content again");
        let kb = s.kb("default").unwrap();
        let before = kb.stats().unwrap().counters.passages_embedded;
        let edited = 61;
        let old_chunks = chunk_texts(&s);
        // A chunk touches the paragraph if it holds any part of it (the
        // overlap carries a paragraph's tail into the next chunk).
        let parts = [
            format!("number {edited} of"),
            format!("marked {edited},"),
            format!("p{edited}q"),
            format!("p{edited}z"),
            format!("w{edited}k"),
        ];
        let touching = old_chunks
            .iter()
            .filter(|t| parts.iter().any(|p| t.contains(p.as_str())))
            .count();
        assert!(touching >= 1);

        let second = put(&s, article(Some(edited)));
        let embedded = kb.stats().unwrap().counters.passages_embedded - before;
        assert_eq!(embedded as usize, second.embedded);
        // The edit makes the paragraph longer, so the chunk holding it no
        // longer has room for its last paragraph, which moves into the next
        // chunk: one neighbour changes too. Chunks never cross a heading, so
        // the change stops at the section's end at the latest.
        assert!(
            embedded as usize <= touching + 1,
            "{embedded} chunks re-embedded; {touching} chunks hold the edited paragraph"
        );
        assert!(second.chunks >= 50);
        let texts = chunk_texts(&s);
        assert!(
            texts
                .iter()
                .any(|t| t.contains("revised in the spring edition"))
        );
        assert!(
            !texts
                .iter()
                .any(|t| t.contains(&format!("appliance. Open the panel marked {edited},"))),
            "the old paragraph is gone"
        );
        assert_eq!(texts.len(), old_chunks.len());
    }

    #[test]
    fn deleting_a_source_removes_its_text_for_good() {
        let data = tempfile::tempdir().unwrap();
        let docs = tempfile::tempdir().unwrap();
        write(
            docs.path(),
            "kept.md",
            b"# Kept\n\nThe kept page talks about invoices.\n",
        );
        {
            let s = syncer(data.path(), 3600);
            put(&s, article(None));
            s.ingest_path(
                "default",
                docs.path(),
                SourceSettings::default(),
                true,
                &NoProgress,
            )
            .unwrap();
            let (upload, job) = s
                .upload(
                    "default",
                    Upload {
                        name: "guide.md".into(),
                        bytes: b"# Guide\n\nThe uploaded guide explains zebra crossings.\n"
                            .to_vec(),
                        media_type: None,
                        title: None,
                        settings: SourceSettings::default(),
                    },
                )
                .unwrap();
            assert_eq!(job.status, JobStatus::Queued);
            assert_eq!(s.run_pending(&NoProgress).unwrap(), 1);
            // Uploading the same name again replaces it: no duplicate.
            let (again, _) = s
                .upload(
                    "default",
                    Upload {
                        name: "guide.md".into(),
                        bytes: b"# Guide\n\nThe uploaded guide explains pelican crossings.\n"
                            .to_vec(),
                        media_type: None,
                        title: None,
                        settings: SourceSettings::default(),
                    },
                )
                .unwrap();
            assert_eq!(again.id, upload.id);
            s.run_pending(&NoProgress).unwrap();
            let texts = chunk_texts(&s);
            assert!(texts.iter().any(|t| t.contains("pelican")));
            assert!(!texts.iter().any(|t| t.contains("zebra")));

            s.delete_article("default", "manual-1").unwrap();
            s.delete_source("default", &upload.id).unwrap();
            let texts = chunk_texts(&s);
            assert!(
                !texts
                    .iter()
                    .any(|t| t.contains("appliance") || t.contains("pelican"))
            );
            assert!(texts.iter().any(|t| t.contains("invoices")));
        }
        // After a restart, still gone, from the store and from both indexes.
        let s = syncer(data.path(), 3600);
        let kb = s.kb("default").unwrap();
        let q = kb.embedder().embed_query("appliance panel dial").unwrap();
        let hits = kb.search(&q, 10, None).unwrap();
        assert!(hits.iter().all(|h| !h.chunk.text.contains("appliance")));
        assert!(
            kb.keyword_candidates("appliance pelican", 10)
                .unwrap()
                .is_empty()
        );
        assert_eq!(kb.stats().unwrap().store.sources, 1);
    }

    #[test]
    fn the_schedule_survives_a_restart_without_losing_or_repeating_a_sync() {
        let data = tempfile::tempdir().unwrap();
        let docs = tempfile::tempdir().unwrap();
        write(docs.path(), "a.md", b"# A\n\nFirst version.\n");
        let next = {
            let s = syncer(data.path(), 100);
            let (record, job) = s
                .ingest_path(
                    "default",
                    docs.path(),
                    SourceSettings::default(),
                    true,
                    &NoProgress,
                )
                .unwrap();
            assert_eq!(job.status, JobStatus::Done);
            assert_eq!(record.status, SourceStatus::Ready);
            let (last, next) = (record.last_sync_at.unwrap(), record.next_sync_at.unwrap());
            assert_eq!(next, last + 100);
            next
        };
        write(docs.path(), "a.md", b"# A\n\nSecond version of the page.\n");
        let s = syncer(data.path(), 100);
        assert!(s.schedule_due(next - 1).unwrap().is_empty(), "not due yet");
        let due = s.schedule_due(next).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1.trigger, "schedule");
        assert!(s.schedule_due(next + 5).unwrap().is_empty(), "queued once");
        drop(s);
        // A crash while the job runs: it is queued again, not lost.
        let s = syncer(data.path(), 100);
        let kb = s.kb("default").unwrap();
        let mut job = kb.next_queued_job().unwrap().unwrap();
        job.status = JobStatus::Running;
        kb.update_job(&job).unwrap();
        drop((s, kb));
        let s = syncer(data.path(), 100);
        // Opening the knowledge base (its lock is this process's now)
        // queues the dead process's job again.
        let reopened = s.kb("default").unwrap().job(job.id).unwrap().unwrap();
        assert_eq!(reopened.status, JobStatus::Queued, "{reopened:?}");
        s.recover().unwrap();
        assert_eq!(s.run_pending(&NoProgress).unwrap(), 1);
        let kb = s.kb("default").unwrap();
        let done = kb.job(job.id).unwrap().unwrap();
        assert_eq!(done.status, JobStatus::Done, "{done:?}");
        assert_eq!(done.report.unwrap()["indexed"], 1);
        let source = kb.sources().unwrap().remove(0);
        assert!(source.last_sync_at.unwrap() >= next - 100);
        assert_eq!(
            source.next_sync_at.unwrap(),
            source.last_sync_at.unwrap() + 100
        );
        assert!(chunk_texts(&s).iter().any(|t| t.contains("Second version")));

        // A source that cannot be read fails its job and is retried sooner.
        drop(docs);
        let job = s.enqueue("default", &source.id, None, "api").unwrap();
        s.run_pending(&NoProgress).unwrap();
        let failed = kb.job(job.id).unwrap().unwrap();
        assert_eq!(failed.status, JobStatus::Failed, "{failed:?}");
        let source = kb.sources().unwrap().remove(0);
        assert_eq!(source.status, SourceStatus::Error);
        assert!(source.last_error.is_some());
        assert_eq!(
            source.next_sync_at.unwrap(),
            source.last_sync_at.unwrap() + 10
        );
    }

    #[test]
    fn citation_settings_and_short_answers() {
        let data = tempfile::tempdir().unwrap();
        let s = syncer(data.path(), 3600);
        let applied = s
            .put_short_answer(
                "default",
                Some("refunds"),
                ShortAnswerInput {
                    question: "How long do refunds take?".into(),
                    answer: "Refunds reach your card within five business days.".into(),
                    variants: Vec::new(),
                    settings: None,
                },
            )
            .unwrap();
        assert_eq!(applied.report.embedded, 1);
        let kb = s.kb("default").unwrap();
        let chunk = kb.chunks(&[1]).unwrap().remove(0);
        assert_eq!(chunk.format, quarry_ingest::SHORT_ANSWER_FORMAT);
        assert_eq!(chunk.title.as_deref(), Some("How long do refunds take?"));
        assert!(chunk.citable);
        // Going private turns citations off for what is indexed already.
        s.update_source(
            "default",
            &applied.source.id,
            None,
            Some(SourceSettings {
                citations: true,
                private: true,
            }),
        )
        .unwrap();
        assert!(!kb.chunks(&[1]).unwrap().remove(0).citable);
        assert!(
            s.put_short_answer(
                "default",
                Some("bad id/x"),
                ShortAnswerInput {
                    question: "q".into(),
                    answer: "a".into(),
                    variants: Vec::new(),
                    settings: None,
                }
            )
            .is_err()
        );
        assert!(s.kb("nope").is_err());
    }

    /// Subtitles uploaded for an uploaded video (either order) are its
    /// sidecar: one document, the video, cited by time; the subtitles are
    /// not a document of their own. Needs `ffmpeg`.
    #[test]
    fn uploaded_subtitles_pair_with_their_video() {
        let tmp = tempfile::tempdir().unwrap();
        let video = tmp.path().join("setup.mp4");
        test_video(&video, 10, "aac");
        let data = tempfile::tempdir().unwrap();
        let s = syncer(data.path(), 3600);
        let upload = |name: &str, bytes: Vec<u8>| {
            s.upload(
                "default",
                Upload {
                    name: name.into(),
                    bytes,
                    media_type: None,
                    title: None,
                    settings: SourceSettings::default(),
                },
            )
            .unwrap()
        };
        let subtitles = b"1\n00:00:02,000 --> 00:00:05,000\nTwist the dial to the snowflake for the freezer mode.\n".to_vec();
        // Subtitles first: indexed on their own until the video arrives.
        upload("setup.srt", subtitles);
        s.run_pending(&NoProgress).unwrap();
        let kb = s.kb("default").unwrap();
        assert_eq!(kb.stats().unwrap().store.documents, 1);
        upload("setup.mp4", std::fs::read(&video).unwrap());
        s.run_pending(&NoProgress).unwrap();
        let stats = kb.stats().unwrap();
        assert_eq!(
            stats.store.documents, 1,
            "the subtitles are the video's, not a document"
        );
        let q = kb.embedder().embed_query("snowflake freezer dial").unwrap();
        let top = kb.search(&q, 1, None).unwrap().remove(0).chunk;
        assert!(top.doc_uri.ends_with("/setup.mp4"), "{top:?}");
        assert_eq!(
            top.locator,
            Locator::Time {
                start_ms: 2_000,
                end_ms: 5_000
            }
        );
    }
}
