//! Two `quarry serve` nodes on one PostgreSQL database (the shared
//! backend): a write through one is answered by the other, a sync job
//! whose node is killed is finished by the other, and two schedulers run
//! each due sync once. Needs `QUARRY_TEST_DATABASE_URL` (a PostgreSQL
//! server with pgvector; `scripts/test.sh` starts one).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

mod common;

use common::{Server, fresh_database, test_server};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

fn database() -> String {
    assert!(
        test_server().is_some(),
        "QUARRY_TEST_DATABASE_URL is not set: the two-node tests need a PostgreSQL server with pgvector; run scripts/test.sh, which starts one (scripts/pg.sh)"
    );
    fresh_database("scale")
}

/// A node on `db`, with its own data directory and extra settings.
fn node(db: &str, data: &Path, env: &[(&str, &str)]) -> Server {
    let mut all = vec![("QUARRY_DATABASE_URL", db)];
    all.extend_from_slice(env);
    Server::start_with(data, &all)
}

fn passages_text(answer: &Value) -> String {
    answer["passages"]
        .as_array()
        .map(|p| {
            p.iter()
                .map(|p| p["text"].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[test]
fn a_write_through_one_node_is_answered_by_the_other() {
    let db = database();
    let (da, db_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(&db, da.path(), &[]);
    let b = node(&db, db_dir.path(), &[]);
    let (status, body) = a.call(
        "PUT",
        "/v1/kb/default/articles/returns",
        None,
        Some(&json!({
            "title": "Returns",
            "body": "<h1>Returns</h1><p>Return a parcel from any Posten office within thirty days of delivery.</p>",
            "url": "https://help.example.com/returns"
        })),
    );
    assert_eq!(status, 200, "{body}");
    // At once: no cache on B to go stale.
    let answer = b.ask("How long do I have to return a parcel?");
    assert!(passages_text(&answer).contains("thirty days"), "{answer}");
    assert_eq!(
        answer["passages"][0]["citation"]["url"], "https://help.example.com/returns",
        "{answer}"
    );
    // Deleted through B: gone through A.
    let (status, _) = b.call("DELETE", "/v1/kb/default/articles/returns", None, None);
    assert!(status == 200 || status == 204, "{status}");
    let answer = a.ask("How long do I have to return a parcel?");
    assert!(!passages_text(&answer).contains("thirty days"), "{answer}");
    // A knowledge base made through A exists on B, and is gone from B once
    // A deletes it.
    let (status, made) = a.call("PUT", "/v1/kb/brand-b", None, Some(&json!({})));
    assert_eq!(status, 201, "{made}");
    let (status, _) = b.get("/v1/kb/brand-b");
    assert_eq!(status, 200);
    let (status, _) = a.call("DELETE", "/v1/kb/brand-b", None, None);
    assert!(status == 200 || status == 204, "{status}");
    let (status, _) = b.get("/v1/kb/brand-b");
    assert_eq!(status, 404);
}

fn import_config(root: &Path) -> std::path::PathBuf {
    let config = root.join("quarry.toml");
    std::fs::write(
        &config,
        format!("[server]\nimport_roots = [\"{}\"]\n", root.display()),
    )
    .unwrap();
    config
}

#[test]
fn a_job_whose_node_is_killed_is_finished_by_the_other() {
    let db = database();
    let root = tempfile::tempdir().unwrap();
    let docs = root.path().join("docs");
    common::copy_dir(&common::corpus(), &docs);
    let config = import_config(root.path());
    let env = [
        ("QUARRY_CONFIG", config.to_str().unwrap()),
        ("QUARRY__STORAGE__JOB_LEASE_SECS", "5"),
        ("QUARRY__SYNC__TICK_SECS", "1"),
    ];
    let (da, dbd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = node(&db, da.path(), &env);
    let (status, created) = a.post(
        "/v1/kb/default/sources",
        &json!({"kind": "file", "path": docs.display().to_string(), "title": "Docs"}),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["job"]["id"].as_u64().unwrap();
    // Killed once the job has made progress (26 documents take ~30 s).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, job) = a.get(&format!("/v1/kb/default/jobs/{id}"));
        if job["status"] == "running" && job["done"].as_u64().unwrap_or(0) >= 2 {
            break;
        }
        assert!(
            job["status"] != "done",
            "the job ended before the kill: {job}"
        );
        assert!(Instant::now() < deadline, "the job never ran: {job}");
        std::thread::sleep(Duration::from_millis(100));
    }
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let b = node(&db, dbd.path(), &env);
    let (_, job) = b.get(&format!("/v1/kb/default/jobs/{id}"));
    assert_eq!(
        job["status"], "running",
        "A's claim is held until its lease ends: {job}"
    );
    let job = b.wait_job("default", id);
    assert_eq!(job["status"], "done", "{job}");
    // What A committed before it died is unchanged for B; the rest B indexes.
    let report = &job["report"];
    assert_eq!(
        report["indexed"].as_u64().unwrap() + report["unchanged"].as_u64().unwrap(),
        26,
        "{job}"
    );
    assert!(
        report["unchanged"].as_u64().unwrap() >= 1,
        "A's work is kept: {job}"
    );
    assert!(
        job["done"].as_u64().unwrap() <= job["total"].as_u64().unwrap(),
        "progress restarts with the new claim: {job}"
    );
    let answer = b.ask("How do I enable foreign key support?");
    assert!(
        passages_text(&answer).to_lowercase().contains("foreign"),
        "{answer}"
    );
    // One job: B took A's over instead of starting another.
    let (_, jobs) = b.get("/v1/kb/default/jobs");
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1, "{jobs}");
}

#[test]
fn two_schedulers_run_each_due_sync_once() {
    let db = database();
    let root = tempfile::tempdir().unwrap();
    let docs = root.path().join("help");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(
        docs.join("hours.md"),
        "# Opening hours\n\nThe Bergen store opens at nine.\n",
    )
    .unwrap();
    let config = import_config(root.path());
    let env = [
        ("QUARRY_CONFIG", config.to_str().unwrap()),
        ("QUARRY__SYNC__INTERVAL_SECS", "2"),
        ("QUARRY__SYNC__TICK_SECS", "1"),
    ];
    let (da, dbd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(&db, da.path(), &env);
    let b = node(&db, dbd.path(), &env);
    let (status, created) = a.post(
        "/v1/kb/default/sources",
        &json!({"kind": "file", "path": docs.display().to_string()}),
    );
    assert_eq!(status, 201, "{created}");
    std::thread::sleep(Duration::from_secs(12));
    let (_, jobs) = b.get("/v1/kb/default/jobs");
    let jobs = jobs["jobs"].as_array().unwrap().clone();
    let scheduled: Vec<&Value> = jobs.iter().filter(|j| j["trigger"] == "schedule").collect();
    // Every 2 s after a sync for ~12 s: about five, never two at once.
    assert!(
        (2..=7).contains(&scheduled.len()),
        "{} scheduled jobs: {jobs:?}",
        scheduled.len()
    );
    let mut spans: Vec<(i64, i64)> = scheduled
        .iter()
        .filter(|j| j["status"] == "done")
        .map(|j| {
            (
                j["started_at"].as_i64().unwrap(),
                j["finished_at"].as_i64().unwrap(),
            )
        })
        .collect();
    spans.sort_unstable();
    for w in spans.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "two syncs of one source overlapped: {spans:?}"
        );
    }
    assert!(
        scheduled
            .iter()
            .all(|j| j["status"] == "done" || j["status"] == "queued" || j["status"] == "running"),
        "{jobs:?}"
    );
}

/// `scripts/pg.sh CMD DIR`: a PostgreSQL server of this test's own.
fn pg(cmd: &str, dir: &Path) -> String {
    let out = std::process::Command::new(common::root().join("scripts/pg.sh"))
        .arg(cmd)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg.sh {cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn a_database_that_goes_away_gives_503_and_the_node_recovers() {
    // A server of its own, to stop and start (stopped however the test ends).
    struct Stop(tempfile::TempDir);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = std::process::Command::new(common::root().join("scripts/pg.sh"))
                .arg("stop")
                .arg(self.0.path())
                .output();
        }
    }
    let guard = Stop(tempfile::tempdir().unwrap());
    let dir = &guard.0;
    let admin = pg("start", dir.path());
    let db = quarry_index::store::postgres::create_database(&admin, "outage").unwrap();
    let data = tempfile::tempdir().unwrap();
    let a = node(
        &db,
        data.path(),
        &[("QUARRY__STORAGE__CONNECT_TIMEOUT_SECS", "2")],
    );
    a.put_article(
        "returns",
        "Returns",
        None,
        "<p>Return a parcel from any Posten office within thirty days.</p>",
    );
    pg("stop", dir.path());
    let (status, body) = a.post("/v1/query", &json!({"query": "How do I return a parcel?"}));
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    let (status, ready) = a.get("/readyz");
    assert_eq!(status, 503, "{ready}");
    assert_eq!(a.get("/healthz").0, 200, "the node stays up");
    pg("start", dir.path());
    let answer = a.ask("How do I return a parcel?");
    assert!(passages_text(&answer).contains("thirty days"), "{answer}");
    assert_eq!(a.get("/readyz").0, 200);
    drop(a);
}
