//! End-to-end tests: the real `quarry` binary, the real embedding model, the
//! bundled sample corpus, and HTTP on 127.0.0.1.
//!
//! The corpus is ingested once per test binary; tests that change a
//! knowledge base work on their own copy of that data directory.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

fn corpus() -> PathBuf {
    root().join("corpora/sqlite-sample/docs")
}

/// `quarry` run from the workspace root (where `models/` is), with `data`.
fn quarry(data: &Path) -> Command {
    assert!(
        root().join("models/all-MiniLM-L6-v2/model.onnx").is_file(),
        "model files missing: run scripts/fetch-models.sh first"
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quarry"));
    cmd.current_dir(root())
        .env("QUARRY_DATA_DIR", data)
        .env_remove("QUARRY_CONFIG")
        .env("RUST_LOG", "warn");
    cmd
}

fn run_ok(cmd: &mut Command) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr),
    );
    assert!(
        status.success(),
        "quarry failed: {status}\nstdout:\n{out}\nstderr:\n{err}"
    );
    out.into_owned()
}

/// The sample corpus, ingested once.
fn ingested() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, String)> = OnceLock::new();
    let (dir, report) = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let report = run_ok(quarry(dir.path()).arg("ingest").arg(corpus()));
        (dir, report)
    });
    assert!(report.contains("26 indexed"), "{report}");
    assert!(report.contains("0 failed"), "{report}");
    dir.path()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A running `quarry serve`, stopped on drop.
struct Server {
    child: Child,
    base: String,
    agent: ureq::Agent,
}

impl Server {
    fn start(data: &Path) -> Self {
        let mut child = quarry(data)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("server exited before listening")
                .unwrap();
            if let Some(url) = line.strip_prefix("quarry listening on ") {
                break url.trim().to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Server { child, base, agent }
    }

    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let mut r = self
            .agent
            .post(format!("{}{path}", self.base))
            .send_json(body)
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_json().unwrap())
    }

    fn post_raw(&self, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        let mut r = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .send(body)
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_json().unwrap())
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let mut r = self
            .agent
            .get(format!("{}{path}", self.base))
            .call()
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_json().unwrap())
    }

    fn ask(&self, question: &str) -> Value {
        let (status, body) = self.post("/v1/query", &json!({"query": question, "top_k": 5}));
        assert_eq!(status, 200, "{body}");
        body
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn file_of(passage: &Value) -> String {
    let uri = passage["citation"]["uri"].as_str().unwrap_or_default();
    uri.rsplit('/').next().unwrap_or_default().to_owned()
}

#[test]
fn http_query_cites_the_right_document_and_hands_off_off_topic_questions() {
    let server = Server::start(ingested());
    let (status, health) = server.get("/healthz");
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let (status, kb) = server.get("/v1/kb/default");
    assert_eq!(status, 200, "{kb}");
    assert_eq!(kb["stats"]["documents"], 26);
    assert_eq!(kb["stats"]["sources"], 1);

    let on_topic = server.ask("How do I create an AUTOINCREMENT field?");
    let passages = on_topic["passages"].as_array().unwrap();
    assert!(!passages.is_empty() && passages.len() <= 5);
    let hit = passages
        .iter()
        .take(3)
        .find(|p| file_of(p) == "faq.html" || file_of(p) == "autoinc.html")
        .unwrap_or_else(|| panic!("expected faq.html or autoinc.html in the top 3: {on_topic:#}"));
    assert_eq!(hit["citable"], true);
    let path: Vec<&str> = hit["citation"]["heading_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(
        path == ["Frequently Asked Questions"]
            || path
                .iter()
                .any(|h| h.contains("AUTOINCREMENT") || h.contains("Background")),
        "{path:?}"
    );
    assert_eq!(hit["citation"]["locator"]["type"], "anchor");
    assert!(hit["citation"]["url"].as_str().unwrap().contains('#'));
    assert!(
        hit["text"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("integer primary key")
    );
    assert_eq!(on_topic["decision"], "answer");

    let off_topic = server.ask("What is a good recipe for chocolate chip cookies?");
    let (c_on, c_off) = (
        on_topic["confidence"].as_f64().unwrap(),
        off_topic["confidence"].as_f64().unwrap(),
    );
    assert!(
        c_off < c_on,
        "off-topic confidence {c_off} should be below {c_on}"
    );
    assert_ne!(off_topic["decision"], "answer", "{off_topic:#}");
    assert!(
        off_topic["details"]["top_similarity"].as_f64().unwrap()
            < on_topic["details"]["top_similarity"].as_f64().unwrap()
    );
}

#[test]
fn http_errors_are_json_with_the_right_status() {
    let server = Server::start(ingested());
    let cases = [
        (
            server.post("/v1/query", &json!({"query": "   "})),
            400,
            "empty_query",
        ),
        (
            server.post("/v1/query", &json!({"query": "x", "top_k": 0})),
            400,
            "invalid_top_k",
        ),
        (
            server.post("/v1/query", &json!({"query": "x", "top_k": 100000})),
            400,
            "invalid_top_k",
        ),
        (
            server.post("/v1/query", &json!({"question": "x"})),
            400,
            "invalid_request",
        ),
        (
            server.post("/v1/query", &json!({"query": "x".repeat(5000)})),
            400,
            "query_too_long",
        ),
        (
            server.post("/v1/query", &json!({"query": "x", "kb": "nope"})),
            404,
            "not_found",
        ),
        (
            server.post_raw("/v1/query", "application/json", "{not json"),
            400,
            "invalid_json",
        ),
        (
            server.post_raw("/v1/query", "text/plain", "{}"),
            400,
            "unsupported_media_type",
        ),
        (server.get("/v1/nothing"), 404, "not_found"),
        (server.get("/v1/query"), 405, "method_not_allowed"),
    ];
    for (i, ((status, body), want_status, want_code)) in cases.into_iter().enumerate() {
        assert_eq!(status, want_status, "case {i}: {body}");
        assert_eq!(body["error"]["code"], want_code, "case {i}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    // The server is still up after all of that.
    assert_eq!(server.get("/healthz").0, 200);
}

#[test]
fn restart_keeps_the_knowledge_base_and_unchanged_reingest_embeds_nothing() {
    let data = tempfile::tempdir().unwrap();
    copy_dir(ingested(), data.path());
    let again = run_ok(quarry(data.path()).arg("ingest").arg(corpus()));
    assert!(again.contains("0 indexed, 26 unchanged"), "{again}");
    assert!(again.contains("0 embedded"), "{again}");
    assert!(again.contains("nothing changed"), "{again}");

    // Two server lifetimes over the same directory answer the same way.
    let first = Server::start(data.path()).ask("What does the VACUUM command do?");
    let second = Server::start(data.path()).ask("What does the VACUUM command do?");
    assert_eq!(
        file_of(&first["passages"][0]),
        "lang_vacuum.html",
        "{first:#}"
    );
    assert_eq!(first["passages"][0]["id"], second["passages"][0]["id"]);

    let status = run_ok(quarry(data.path()).arg("status"));
    assert!(status.contains("documents:  26"), "{status}");
}

#[test]
fn a_corrupt_or_unsupported_file_fails_alone() {
    let docs = tempfile::tempdir().unwrap();
    for f in ["faq.html", "lang_vacuum.html"] {
        std::fs::copy(corpus().join(f), docs.path().join(f)).unwrap();
    }
    std::fs::write(
        docs.path().join("notes.md"),
        "# Notes\n\nCall support on weekdays.\n",
    )
    .unwrap();
    std::fs::write(
        docs.path().join("broken.txt"),
        b"\x00\x00\x00\xff\xfe garbage \x00",
    )
    .unwrap();
    std::fs::write(
        docs.path().join("manual.pdf"),
        b"%PDF-1.7\n%\xe2\xe3 broken",
    )
    .unwrap();
    std::fs::write(
        docs.path().join("diagram.png"),
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR",
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = run_ok(quarry(data.path()).arg("ingest").arg(docs.path()));
    assert!(out.contains("6 seen, 3 indexed"), "{out}");
    let errors: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 3, "{out}");
    assert!(
        errors
            .iter()
            .any(|l| l.contains("broken.txt") && l.contains("binary content")),
        "{out}"
    );
    assert!(
        errors
            .iter()
            .any(|l| l.contains("manual.pdf") && l.contains("malformed pdf")),
        "{out}"
    );
    assert!(
        errors
            .iter()
            .any(|l| l.contains("diagram.png") && l.contains("unsupported format (.png)")),
        "{out}"
    );
    let answer = run_ok(quarry(data.path()).args(["query", "When can I call support?", "--json"]));
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(file_of(&answer["passages"][0]), "notes.md");
    assert_eq!(
        answer["passages"][0]["citation"]["locator"]["type"],
        "lines"
    );
}

#[test]
fn private_sources_are_returned_without_citations() {
    let docs = tempfile::tempdir().unwrap();
    std::fs::write(
        docs.path().join("internal.md"),
        "# Escalation\n\nEscalate refund disputes to the billing lead.\n",
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    run_ok(
        quarry(data.path())
            .arg("ingest")
            .arg("--private")
            .arg(docs.path()),
    );
    let out = run_ok(quarry(data.path()).args(["query", "Who handles refund disputes?", "--json"]));
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["passages"][0]["citable"], false);
    assert!(answer["passages"][0]["citation"].is_null());
    assert!(
        answer["passages"][0]["text"]
            .as_str()
            .unwrap()
            .contains("billing lead")
    );
}

#[test]
fn a_killed_ingest_leaves_a_readable_knowledge_base_that_resumes() {
    let data = tempfile::tempdir().unwrap();
    let mut child = quarry(data.path())
        .arg("ingest")
        .arg(corpus())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once some batches are committed but well before the end.
    let db = data.path().join("kb/default/quarry.db");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline
        && std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len()) < 200_000
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let status = run_ok(quarry(data.path()).arg("status"));
    let committed: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("documents:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{status}"));
    assert!(
        committed < 26,
        "the kill came too late to test anything: {status}"
    );

    let resumed = run_ok(quarry(data.path()).arg("ingest").arg(corpus()));
    assert!(
        resumed.contains(&format!(
            "{} indexed, {committed} unchanged",
            26 - committed
        )),
        "{resumed}"
    );
    let answer =
        run_ok(quarry(data.path()).args(["query", "What is write-ahead logging?", "--json"]));
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(file_of(&answer["passages"][0]), "wal.html", "{answer:#}");
}
