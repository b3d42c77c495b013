//! Helpers of the end-to-end test binaries: the real `quarry` binary, the
//! bundled sample corpus, a running server.

#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "shared by several test binaries, each using a part; a failed unwrap is a failed test"
)]

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

pub fn corpus() -> PathBuf {
    root().join("corpora/sqlite-sample/docs")
}

/// `quarry` run from the workspace root (where `models/` is), with `data`.
pub fn quarry(data: &Path) -> Command {
    assert!(
        root()
            .join("models/multilingual-e5-small/model.onnx")
            .is_file(),
        "model files missing: run scripts/fetch-models.sh first"
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quarry"));
    cmd.current_dir(root())
        .env("QUARRY_DATA_DIR", data)
        .env_remove("QUARRY_CONFIG")
        .env_remove("QUARRY_DATABASE_URL")
        .env("RUST_LOG", "warn");
    if let Some(url) = database_of(data) {
        cmd.env("QUARRY_DATABASE_URL", url);
    }
    cmd
}

/// Whether this run tests the shared backend: `QUARRY_TEST_BACKEND=postgres`
/// with `QUARRY_TEST_DATABASE_URL` naming a PostgreSQL server with pgvector
/// (`scripts/test.sh` starts one).
pub fn on_postgres() -> bool {
    std::env::var("QUARRY_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// The PostgreSQL server tests may make databases on, if any.
pub fn test_server() -> Option<String> {
    std::env::var("QUARRY_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A name no other database of this run has.
fn fresh_database_name(tag: &str) -> String {
    format!(
        "t_{tag}_{}_{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// A fresh database on the test server.
pub fn fresh_database(tag: &str) -> String {
    let admin = test_server().expect("QUARRY_TEST_DATABASE_URL names no PostgreSQL server");
    quarry_index::store::postgres::create_database(&admin, &fresh_database_name(tag)).unwrap()
}

type DatabaseMap = std::sync::Mutex<std::collections::HashMap<PathBuf, String>>;

fn databases() -> std::sync::MutexGuard<'static, std::collections::HashMap<PathBuf, String>> {
    static DATABASES: OnceLock<DatabaseMap> = OnceLock::new();
    DATABASES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// On the shared backend, the database standing for data directory `data`
/// (one per directory, as if each were its own deployment).
fn database_of(data: &Path) -> Option<String> {
    if !on_postgres() {
        return None;
    }
    Some(
        databases()
            .entry(data.to_path_buf())
            .or_insert_with(|| fresh_database("e2e"))
            .clone(),
    )
}

/// The name of the database in a URL.
fn name_of(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

/// Freezes data directory `data`'s database as the template its copies
/// are made from (a database with open connections cannot be copied).
fn snapshot_database(data: &Path) {
    let Some(source) = databases().get(data).cloned() else {
        return;
    };
    let template = format!("{}_tpl", name_of(&source));
    quarry_index::store::postgres::create_database_from(
        &test_server().unwrap(),
        &template,
        Some(&name_of(&source)),
    )
    .unwrap();
    let mut key = data.as_os_str().to_owned();
    key.push("#template");
    databases().insert(PathBuf::from(key), template);
}

/// On the shared backend, a copy of data directory `from`'s database for
/// `to` (a copied data directory is a copied deployment).
fn copy_database(from: &Path, to: &Path) {
    let mut key = from.as_os_str().to_owned();
    key.push("#template");
    let template = match databases().get(Path::new(&key)).cloned() {
        Some(t) => t,
        None => match databases().get(from).cloned() {
            Some(source) => name_of(&source),
            None => return,
        },
    };
    let admin = test_server().unwrap();
    static COPIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COPIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("{}_copy_{n}", name_of(&fresh_database_name("c")));
    let url = quarry_index::store::postgres::create_database_from(&admin, &name, Some(&template))
        .unwrap();
    databases().insert(to.to_path_buf(), url);
}

pub fn run_ok(cmd: &mut Command) -> String {
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

/// `quarry check` on a data directory (through its server when one holds
/// it): the store, the keyword index and the vector index must agree.
pub fn assert_check(data: &Path) {
    let out = run_ok(quarry(data).arg("check"));
    assert!(out.contains(": ok"), "{out}");
}

/// The sample corpus, ingested once.
pub fn ingested() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, String)> = OnceLock::new();
    let (dir, report) = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let report = run_ok(quarry(dir.path()).arg("ingest").arg(corpus()));
        // Copies start from this state (a database nobody is connected to).
        if on_postgres() {
            snapshot_database(dir.path());
        }
        (dir, report)
    });
    assert!(report.contains("26 indexed"), "{report}");
    assert!(report.contains("0 failed"), "{report}");
    dir.path()
}

/// Copies a folder; a data directory's database goes with it on the
/// shared backend.
pub fn copy_dir(from: &Path, to: &Path) {
    copy_files(from, to);
    if on_postgres() {
        copy_database(from, to);
    }
}

fn copy_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_files(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A running `quarry serve`, stopped on drop.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub agent: ureq::Agent,
}

impl Server {
    pub fn start(data: &Path) -> Self {
        Self::start_with(data, &[])
    }

    /// With extra environment variables (tokens, sync settings).
    pub fn start_with(data: &Path, env: &[(&str, &str)]) -> Self {
        let mut cmd = quarry(data);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
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

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let mut r = self
            .agent
            .post(format!("{}{path}", self.base))
            .send_json(body)
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_json().unwrap())
    }

    pub fn post_raw(&self, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        let mut r = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .send(body)
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_json().unwrap())
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let mut r = self
            .agent
            .get(format!("{}{path}", self.base))
            .call()
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_json().unwrap())
    }

    /// Any method, with an optional bearer token and JSON body; a body-less
    /// answer (204) reads as `null`.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let auth = token.map(|t| format!("Bearer {t}"));
        let result = match method {
            "GET" | "DELETE" => {
                let mut r = if method == "GET" {
                    self.agent.get(&url)
                } else {
                    self.agent.delete(&url)
                };
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                r.call()
            }
            _ => {
                let mut r = match method {
                    "POST" => self.agent.post(&url),
                    "PUT" => self.agent.put(&url),
                    "PATCH" => self.agent.patch(&url),
                    other => panic!("method {other}"),
                };
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                match body {
                    Some(b) => r.send_json(b),
                    None => r.send_empty(),
                }
            }
        };
        let mut r = result.unwrap();
        let text = r.body_mut().read_to_string().unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (r.status().as_u16(), value)
    }

    /// `POST /v1/kb/{kb}/files` as a browser sends it.
    pub fn upload(&self, kb: &str, name: &str, content: &str, private: bool) -> (u16, Value) {
        let boundary = "quarry-test-boundary";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"private\"\r\n\r\n{private}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n{content}\r\n--{boundary}--\r\n"
        );
        self.post_raw(
            &format!("/v1/kb/{kb}/files"),
            &format!("multipart/form-data; boundary={boundary}"),
            &body,
        )
    }

    /// Waits for a job to finish and returns it.
    pub fn wait_job(&self, kb: &str, id: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, job) = self.get(&format!("/v1/kb/{kb}/jobs/{id}"));
            assert_eq!(status, 200, "{job}");
            if job["status"] == "done" || job["status"] == "failed" {
                return job;
            }
            assert!(Instant::now() < deadline, "job did not finish: {job}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `PUT /v1/kb/default/articles/{id}`, which must succeed.
    pub fn put_article(&self, id: &str, title: &str, url: Option<&str>, body: &str) {
        let mut article = json!({"title": title, "body": body});
        if let Some(url) = url {
            article["url"] = json!(url);
        }
        let path = format!("/v1/kb/default/articles/{id}");
        let (status, out) = self.call("PUT", &path, None, Some(&article));
        assert_eq!(status, 200, "{out}");
    }

    pub fn ask(&self, question: &str) -> Value {
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

pub fn file_of(passage: &Value) -> String {
    let uri = passage["citation"]["uri"].as_str().unwrap_or_default();
    uri.rsplit('/').next().unwrap_or_default().to_owned()
}

/// The LD_PRELOAD fault layer (`tests/faults/faultfs.c`), built once.
pub fn faultfs() -> PathBuf {
    static LIB: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, lib) = LIB.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libfaultfs.so");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/faults/faultfs.c");
        let status = Command::new("cc")
            .args(["-shared", "-fPIC", "-O2", "-o"])
            .arg(&lib)
            .arg(&source)
            .arg("-ldl")
            .status()
            .expect("a C compiler (cc) builds the fault layer");
        assert!(status.success(), "building {}", source.display());
        (dir, lib)
    });
    lib.clone()
}
