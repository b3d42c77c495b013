//! Fault injection on the real binary: a crash (SIGKILL after unsynced
//! writes are lost or torn) at fsyncs and renames spread over an ingest, a
//! failing fsync, and kill -9 loops over a server taking article writes and
//! upload jobs. The index runs with small thresholds so that the HNSW
//! snapshot and the compaction (at 20,000 new points and 1,000 tombstones
//! by default) happen inside these small workloads.
//!
//! Each loop is small here; `QUARRY_FAULT_ROUNDS=N` (scripts/faults.sh)
//! multiplies them for the long run.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

mod common;

use common::*;
use serde_json::{Value, json};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Snapshot after 10 new points, compact above 5 tombstones and 5 %, and
/// always a graph (no exact scan): every durable step of the vector index
/// happens in a workload of a few dozen chunks.
const SMALL_INDEX: [(&str, &str); 4] = [
    ("QUARRY__INDEX__FULL_SCAN_THRESHOLD", "0"),
    ("QUARRY__INDEX__SNAPSHOT_EVERY", "10"),
    ("QUARRY__INDEX__COMPACT_MIN", "5"),
    ("QUARRY__INDEX__COMPACT_RATIO", "0.05"),
];

fn rounds() -> usize {
    std::env::var("QUARRY_FAULT_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
        .max(1)
}

fn small(cmd: &mut Command) -> &mut Command {
    cmd.envs(SMALL_INDEX)
}

/// Product pages: `first..=last` at `revision` (the code word changes with
/// it).
fn write_products(dir: &Path, first: usize, last: usize, revision: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in first..=last {
        std::fs::write(
            dir.join(format!("product-{i}.md")),
            format!(
                "# Product {i}\n\nThe code word for product {i} is {}. It ships within {} days.\n\n\
                 ## Care\n\nClean product {i} with a dry cloth; revision {revision} of this page.\n",
                code_word(i, revision),
                i % 9 + 2
            ),
        )
        .unwrap();
    }
}

fn code_word(product: usize, revision: usize) -> String {
    const WORDS: [&str; 8] = [
        "amber", "birch", "cobalt", "dune", "ember", "fjord", "granite", "harbor",
    ];
    format!(
        "{}{}",
        WORDS[(product + revision * 3) % 8],
        product * 10 + revision
    )
}

/// `quarry check --json` of the default knowledge base, which must agree.
fn assert_consistent(data: &Path, context: &str) -> Value {
    let out = quarry(data).args(["check", "--json"]).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{context}: quarry check printed no report: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success() && report["default"]["consistent"] == true,
        "{context}: inconsistent after the fault\n{report:#}"
    );
    report["default"].clone()
}

/// The top passage's file and text for a question (CLI, no server).
fn top(data: &Path, question: &str) -> (String, String) {
    let out = run_ok(quarry(data).args(["query", "--json", question]));
    let answer: Value = serde_json::from_str(&out).unwrap();
    let p = &answer["passages"][0];
    (
        file_of(p),
        p["text"].as_str().unwrap_or_default().to_owned(),
    )
}

fn faulty(data: &Path, fault: &str) -> Command {
    let mut cmd = quarry(data);
    small(&mut cmd)
        .env("LD_PRELOAD", faultfs())
        .env("QUARRY_FAULT", fault)
        .env("QUARRY_FAULT_PREFIX", data);
    cmd
}

/// Fsyncs and renames `quarry ingest docs` makes on `data` (a copy).
fn count_ops(data: &Path, docs: &Path) -> (usize, usize) {
    let out = faulty(data, "count")
        .arg("ingest")
        .arg(docs)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let line = err
        .lines()
        .find_map(|l| l.strip_prefix("faultfs: "))
        .unwrap_or_else(|| panic!("no counts from the fault layer: {err}"));
    let n: Vec<usize> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (n[0], n[1])
}

#[test]
fn crashes_at_fsyncs_and_renames_keep_the_last_committed_state() {
    let work = tempfile::tempdir().unwrap();
    let docs = work.path().join("docs");
    let base = work.path().join("base");
    // The committed state: products 1-30.
    write_products(&docs, 1, 30, 1);
    run_ok(small(quarry(&base).arg("ingest").arg(&docs)));
    let committed = assert_consistent(&base, "baseline")["chunks"]
        .as_u64()
        .unwrap();
    // The workload: 1-10 as they were, 11-30 rewritten (their old chunks
    // become tombstones: compaction), 31-50 new (snapshots).
    write_products(&docs, 11, 30, 2);
    write_products(&docs, 31, 50, 2);
    let probe = work.path().join("probe");
    copy_dir(&base, &probe);
    let (fsyncs, renames) = count_ops(&probe, &docs);
    assert!(
        fsyncs >= 8 && renames >= 2,
        "{fsyncs} fsyncs, {renames} renames"
    );
    // Crash points spread over the run, each also torn.
    let mut faults = Vec::new();
    let spread = 3 * rounds();
    for k in 1..=spread {
        let n = (fsyncs * k / (spread + 1)).max(1);
        faults.push(format!(
            "crash:fsync:{n}{}",
            if k % 2 == 0 { ":torn" } else { "" }
        ));
    }
    for n in 1..=renames.min(2 * rounds()) {
        faults.push(format!(
            "crash:rename:{n}{}",
            if n % 2 == 1 { ":torn" } else { "" }
        ));
    }
    let mut crashed = 0;
    for (i, fault) in faults.iter().enumerate() {
        let data = work.path().join(format!("run-{i}"));
        copy_dir(&base, &data);
        let out = faulty(&data, fault)
            .arg("ingest")
            .arg(&docs)
            .output()
            .unwrap();
        let context = format!("{fault}: {}", String::from_utf8_lossy(&out.stderr).trim());
        if out.status.signal() == Some(9) {
            crashed += 1;
        } else {
            assert!(out.status.success(), "{context}");
        }
        // Reopened without the fault: consistent, and nothing committed
        // before is lost.
        let report = assert_consistent(&data, &context);
        assert!(
            report["chunks"].as_u64().unwrap() >= committed,
            "{context}: chunks lost\n{report:#}"
        );
        let (file, text) = top(&data, "What is the code word for product 7?");
        assert_eq!(file, "product-7.md", "{context}: {text}");
        assert!(text.contains(&code_word(7, 1)), "{context}: {text}");
        // The interrupted ingest finishes on the next run.
        run_ok(small(quarry(&data).arg("ingest").arg(&docs)));
        assert_consistent(&data, &format!("{context}, resumed"));
        let (file, text) = top(&data, "What is the code word for product 42?");
        assert_eq!(file, "product-42.md", "{context}, resumed: {text}");
        let (_, text) = top(&data, "What is the code word for product 17?");
        assert!(
            text.contains(&code_word(17, 2)),
            "{context}, resumed: {text}"
        );
        std::fs::remove_dir_all(&data).unwrap();
    }
    assert!(
        crashed * 2 >= faults.len(),
        "only {crashed} of {} runs reached their crash point",
        faults.len()
    );
}

#[test]
fn a_failing_fsync_fails_the_write_and_keeps_what_was_committed() {
    let work = tempfile::tempdir().unwrap();
    let docs = work.path().join("docs");
    let data = work.path().join("data");
    write_products(&docs, 1, 10, 1);
    run_ok(small(quarry(&data).arg("ingest").arg(&docs)));
    write_products(&docs, 11, 20, 1);
    let Output { status, stderr, .. } = faulty(&data, "fsync-eio")
        .arg("ingest")
        .arg(&docs)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&stderr);
    assert!(
        !status.success(),
        "an ingest whose fsyncs failed reported success: {err}"
    );
    assert!(
        err.contains("I/O") || err.contains("disk") || err.contains("Input/output"),
        "{err}"
    );
    assert_consistent(&data, "after fsync EIO");
    let (file, _) = top(&data, "What is the code word for product 3?");
    assert_eq!(file, "product-3.md");
    run_ok(small(quarry(&data).arg("ingest").arg(&docs)));
    let (file, _) = top(&data, "What is the code word for product 15?");
    assert_eq!(file, "product-15.md");
}

/// A server taking article writes (and an upload job) is killed with
/// SIGKILL at a random moment, again and again: every write it
/// acknowledged is there after the restart, indexed, and the indexes agree.
#[test]
fn kill_9_loops_lose_no_acknowledged_article() {
    let data = tempfile::tempdir().unwrap();
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let loops = 3 * rounds();
    let mut seed = 0x2545_f491_u64;
    for round in 0..loops {
        let server = Server::start_with(data.path(), &SMALL_INDEX);
        // An upload: a job that writes while the articles do.
        let doc = (1..=40)
            .map(|k| {
                format!("## Part {k}\n\nUpload {round} paragraph {k} about the return window.\n")
            })
            .collect::<String>();
        let (status, _) = server.upload("default", &format!("upload-{round}.md"), &doc, false);
        assert_eq!(status, 202);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (agent, base) = (server.agent.clone(), server.base.clone());
            let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                for k in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    let id = format!("r{round}-a{k}");
                    let word = code_word(round * 100 + k, 3);
                    let body = json!({
                        "title": format!("Notice {id}"),
                        "body": format!("# Notice {id}\n\nThe pass phrase of notice {id} is {word}."),
                    });
                    let url = format!("{base}/v1/kb/default/articles/{id}");
                    match agent.put(&url).send_json(&body) {
                        Ok(r) if r.status() == 200 => acknowledged.lock().unwrap().push((id, word)),
                        _ => return, // the server is gone
                    }
                }
            })
        };
        // Kill somewhere between 0.5 and 3 s in.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(500 + seed % 2500));
        let mut server = server;
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap();
    }
    // Restart: the recovery jobs index whatever was stored but not indexed.
    let server = Server::start_with(data.path(), &SMALL_INDEX);
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(!acknowledged.is_empty(), "no write was acknowledged");
    let deadline = Instant::now() + Duration::from_secs(120);
    for (id, _) in &acknowledged {
        loop {
            let (status, record) = server.get(&format!("/v1/kb/default/articles/{id}"));
            assert_eq!(status, 200, "acknowledged article {id} lost: {record}");
            if record["status"] == "ready" {
                break;
            }
            assert!(Instant::now() < deadline, "{id} never indexed: {record}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // Jobs the kills interrupted finish.
    let (_, jobs) = server.get("/v1/kb/default/jobs");
    for job in jobs["jobs"].as_array().unwrap() {
        let done = server.wait_job("default", job["id"].as_u64().unwrap());
        assert_eq!(done["status"], "done", "{done:#}");
    }
    let (status, report) = server.call("POST", "/v1/kb/default/check", None, None);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["consistent"], true, "{report:#}");
    // Searchable, not only stored: a sample of the acknowledged articles.
    for (id, word) in acknowledged.iter().step_by((acknowledged.len() / 5).max(1)) {
        let answer = server.ask(&format!("What is the pass phrase of notice {id}?"));
        let found = answer["passages"].as_array().unwrap().iter().any(|p| {
            p["text"]
                .as_str()
                .unwrap_or_default()
                .contains(word.as_str())
        });
        assert!(found, "{id} ({word}) is not found: {answer:#}");
    }
}
