//! What users of a search service expect on day one (issue 18), end to end
//! on the real binary: models found from any folder, the CLI beside a
//! running server, OpenAPI, metrics and readiness, HTTP hygiene, Dify's
//! External Knowledge API, honest outcomes, the playground in headless
//! Chromium, completions and the man page.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "admin-token-0123456789abcdef";

fn fails(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "expected a failure: {out:?}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn raw_get(
    server: &Server,
    path: &str,
    headers: &[(&str, &str)],
) -> ureq::http::Response<ureq::Body> {
    let mut req = server.agent.get(format!("{}{path}", server.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.call().unwrap()
}

#[test]
fn models_are_found_from_any_folder_and_doctor_names_every_place() {
    let elsewhere = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    copy_dir(ingested(), data.path());
    let home = tempfile::tempdir().unwrap();
    let from_elsewhere = |cmd: &mut Command| {
        cmd.current_dir(elsewhere.path())
            .env("HOME", home.path())
            .env_remove("XDG_DATA_HOME")
            .env_remove("QUARRY_MODELS_DIR");
    };
    // From a folder with no models/: the binary's checkout has them.
    let mut q = quarry(data.path());
    from_elsewhere(&mut q);
    let answer = run_ok(q.args(["query", "What does the VACUUM command do?"]));
    assert!(answer.contains("lang_vacuum.html"), "{answer}");
    let mut d = quarry(data.path());
    from_elsewhere(&mut d);
    let doctor = run_ok(d.arg("doctor"));
    assert!(
        doctor.contains("ok       model multilingual-e5-small:")
            && doctor.contains("(the binary's checkout)"),
        "{doctor}"
    );
    // QUARRY_MODELS_DIR comes before the checkout.
    let mut d = quarry(data.path());
    from_elsewhere(&mut d);
    let doctor = run_ok(
        d.env("QUARRY_MODELS_DIR", root().join("models"))
            .arg("doctor"),
    );
    assert!(doctor.contains("(QUARRY_MODELS_DIR)"), "{doctor}");
    // A config file's folder comes first; a model found nowhere names every
    // place looked in.
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("quarry.toml");
    std::fs::write(
        &conf,
        "[models]\ndefault = \"custom\"\n[models.available.custom]\ndir = \"models/custom-model\"\n",
    )
    .unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let mut q = quarry(fresh.path());
    from_elsewhere(&mut q);
    let (_, err) = fails(q.arg("--config").arg(&conf).args(["query", "hello"]));
    let expect = conf_dir.path().join("models/custom-model");
    assert!(err.contains("looked in:"), "{err}");
    assert!(err.contains(&expect.display().to_string()), "{err}");
    assert!(
        err.contains(
            &home
                .path()
                .join(".local/share/quarry/models/custom-model")
                .display()
                .to_string()
        ),
        "{err}"
    );
}

#[test]
fn the_cli_works_beside_a_running_server() {
    let data = tempfile::tempdir().unwrap();
    copy_dir(ingested(), data.path());
    let server = Server::start(data.path());
    // Found by itself through the data dir.
    let answer =
        run_ok(quarry(data.path()).args(["query", "What does the VACUUM command do?", "--json"]));
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(file_of(&answer["passages"][0]), "lang_vacuum.html");
    let text = run_ok(quarry(data.path()).args(["query", "What does the VACUUM command do?"]));
    let decision = answer["decision"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("decision: {decision} (")),
        "{text}"
    );
    let sources = run_ok(quarry(data.path()).arg("sources"));
    assert!(
        sources.contains(" UTC (") && (sources.contains("ago)") || sources.contains("(now)")),
        "{sources}"
    );
    assert!(
        sources.contains("(in 6 d)") || sources.contains("(in 7 d)"),
        "{sources}"
    );
    // Ingest through the server: a folder is uploaded file by file; an
    // unsupported file fails alone and the exit status says so.
    let docs = tempfile::tempdir().unwrap();
    std::fs::write(
        docs.path().join("hours.md"),
        "# Opening hours\n\nThe shop opens at nine on Saturdays.\n",
    )
    .unwrap();
    std::fs::write(docs.path().join("setup.exe"), b"MZ\x90\x00\x03\x00\x00\x00").unwrap();
    let (out, err) = fails(quarry(data.path()).arg("ingest").arg(docs.path()));
    assert!(err.contains("1 of 2 documents failed"), "{out}\n{err}");
    assert!(out.contains("setup.exe"), "{out}");
    let answer = run_ok(quarry(data.path()).args([
        "query",
        "When does the shop open on Saturday?",
        "--json",
    ]));
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert!(
        answer["passages"][0]["text"]
            .as_str()
            .unwrap()
            .contains("nine"),
        "{answer:#}"
    );
    // --server from anywhere, with another data dir.
    let other = tempfile::tempdir().unwrap();
    let status = run_ok(quarry(other.path()).args(["--server", &server.base, "status"]));
    assert!(status.contains("documents:  27"), "{status}");
    let synced = run_ok(quarry(other.path()).args(["--server", &server.base, "sync", "--json"]));
    let synced: Value = serde_json::from_str(&synced).unwrap();
    assert!(synced.as_array().is_some_and(|a| !a.is_empty()), "{synced}");
}

/// Every `$ref` in `v` resolves in `doc`.
fn check_refs(doc: &Value, v: &Value, missing: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                let name = r.trim_start_matches("#/components/schemas/");
                if doc["components"]["schemas"].get(name).is_none() {
                    missing.push(r.clone());
                }
            }
            map.values().for_each(|x| check_refs(doc, x, missing));
        }
        Value::Array(a) => a.iter().for_each(|x| check_refs(doc, x, missing)),
        _ => {}
    }
}

#[test]
fn the_openapi_document_describes_every_route_and_every_error() {
    let data = tempfile::tempdir().unwrap();
    copy_dir(ingested(), data.path());
    let server = Server::start(data.path());
    let (status, doc) = server.get("/v1/openapi.json");
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let mut missing = Vec::new();
    check_refs(&doc, &doc, &mut missing);
    assert!(missing.is_empty(), "unresolved: {missing:?}");
    let mut operation_ids = BTreeSet::new();
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "put", "post", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(
                operation_ids.insert(id.clone()),
                "duplicate operationId {id}"
            );
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
            if path.starts_with("/v1/kb") {
                let errors =
                    &op["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(errors, "#/components/schemas/ErrorBody", "{method} {path}");
            }
            operations.push((method.to_uppercase(), path.clone()));
        }
    }
    // Every route the server answers is described …
    let expected = [
        ("POST", "/v1/query"),
        ("POST", "/retrieval"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/v1/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/"),
        ("GET", "/v1/kb"),
        ("PUT", "/v1/kb/{kb}"),
        ("GET", "/v1/kb/{kb}"),
        ("PATCH", "/v1/kb/{kb}"),
        ("DELETE", "/v1/kb/{kb}"),
        ("POST", "/v1/kb/{kb}/tokens"),
        ("POST", "/v1/kb/{kb}/check"),
        ("GET", "/v1/kb/{kb}/sources"),
        ("POST", "/v1/kb/{kb}/sources"),
        ("GET", "/v1/kb/{kb}/sources/{id}"),
        ("PATCH", "/v1/kb/{kb}/sources/{id}"),
        ("DELETE", "/v1/kb/{kb}/sources/{id}"),
        ("POST", "/v1/kb/{kb}/sources/{id}/sync"),
        ("POST", "/v1/kb/{kb}/files"),
        ("PUT", "/v1/kb/{kb}/articles/{id}"),
        ("GET", "/v1/kb/{kb}/articles/{id}"),
        ("DELETE", "/v1/kb/{kb}/articles/{id}"),
        ("GET", "/v1/kb/{kb}/short-answers"),
        ("POST", "/v1/kb/{kb}/short-answers"),
        ("PUT", "/v1/kb/{kb}/short-answers/{id}"),
        ("DELETE", "/v1/kb/{kb}/short-answers/{id}"),
        ("GET", "/v1/kb/{kb}/jobs"),
        ("GET", "/v1/kb/{kb}/jobs/{id}"),
        ("GET", "/v1/kb/{kb}/gaps"),
        ("POST", "/v1/kb/{kb}/gaps/{id}/short-answer"),
        ("POST", "/v1/kb/{kb}/gaps/{id}/dismiss"),
        ("GET", "/v1/kb/{kb}/suggestions"),
        ("GET", "/v1/kb/{kb}/synonyms"),
        ("PUT", "/v1/kb/{kb}/synonyms"),
        ("GET", "/v1/kb/{kb}/conflicts"),
        ("GET", "/v1/kb/{kb}/analytics"),
    ];
    let described: BTreeSet<(String, String)> = operations.iter().cloned().collect();
    for (m, p) in expected {
        assert!(
            described.contains(&(m.to_owned(), p.to_owned())),
            "{m} {p} is not in the document"
        );
    }
    // … and every described operation is served (not the 404/405 fallback).
    for (method, path) in &operations {
        let concrete = path.replace("{kb}", "nosuchkb").replace("{id}", "1");
        let url = format!("{}{concrete}", server.base);
        let mut r = match method.as_str() {
            "GET" => server.agent.get(&url).call(),
            "DELETE" => server.agent.delete(&url).call(),
            "POST" => server.agent.post(&url).send_json(json!({})),
            "PUT" => server.agent.put(&url).send_json(json!({})),
            _ => server.agent.patch(&url).send_json(json!({})),
        }
        .unwrap();
        let status = r.status().as_u16();
        let answer: Value =
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap_or(Value::Null);
        let fallback =
            (status == 404 && answer["error"]["message"] == "no such route") || status == 405;
        assert!(
            !fallback,
            "{method} {path} is described but not served: {status} {answer}"
        );
    }
    assert_eq!(operations.len(), expected.len(), "{operations:?}");
}

#[test]
fn metrics_readiness_request_ids_cors_and_json_errors() {
    let data = tempfile::tempdir().unwrap();
    copy_dir(ingested(), data.path());
    let server = Server::start_with(
        data.path(),
        &[(
            "QUARRY__SERVER__CORS_ORIGINS",
            "[\"https://help.example.com\"]",
        )],
    );
    server.ask("What does the VACUUM command do?");
    server.ask("What does the VACUUM command do?");
    let (status, ready) = server.get("/readyz");
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["checks"]["sync_thread"], "ok");
    assert_eq!(ready["checks"]["model"], "ok");
    let mut metrics = raw_get(&server, "/metrics", &[]);
    assert_eq!(metrics.status(), 200);
    let text = metrics.body_mut().read_to_string().unwrap();
    for needle in [
        "quarry_http_requests_total{route=\"/v1/query\",method=\"POST\",status=\"200\"} 2",
        "quarry_query_stage_seconds_bucket{stage=\"embed\"",
        "quarry_query_stage_seconds_bucket{stage=\"vector\"",
        "quarry_query_stage_seconds_bucket{stage=\"keyword\"",
        "quarry_query_decisions_total{decision=",
        "quarry_query_confidence_bucket",
        "quarry_query_embedding_cache_total{result=\"hit\"} 1",
        "quarry_kb_chunks{kb=\"default\"}",
        "quarry_kb_vectors{kb=\"default\"}",
        "quarry_http_request_duration_seconds_bucket{route=\"/v1/query\"",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    // Request ids: made when absent, kept when sent, in error bodies.
    let r = raw_get(&server, "/healthz", &[]);
    assert_eq!(r.headers()["x-request-id"].to_str().unwrap().len(), 36);
    let mut r = raw_get(
        &server,
        "/v1/kb/default/jobs/abc",
        &[("x-request-id", "trace-me-42")],
    );
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-request-id"], "trace-me-42");
    let body: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["error"]["request_id"], "trace-me-42", "{body}");
    assert_eq!(body["error"]["code"], "invalid_request", "{body}");
    // axum's own rejections are JSON too: query strings, multipart.
    let (status, body) = server.get("/v1/kb/default/jobs?limit=lots");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    let (status, body) = server.post_raw("/v1/kb/default/files", "multipart/form-data", "x");
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    // CORS from config: the configured origin may, another may not.
    let preflight = |origin: &str| {
        server
            .agent
            .run(
                ureq::http::Request::builder()
                    .method("OPTIONS")
                    .uri(format!("{}/v1/query", server.base))
                    .header("origin", origin)
                    .header("access-control-request-method", "POST")
                    .header(
                        "access-control-request-headers",
                        "authorization,content-type",
                    )
                    .body(())
                    .unwrap(),
            )
            .unwrap()
    };
    let ok = preflight("https://help.example.com");
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://help.example.com"
    );
    let other = preflight("https://evil.example");
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn logs_are_json_on_request_and_never_coloured_in_a_file() {
    let data = tempfile::tempdir().unwrap();
    copy_dir(ingested(), data.path());
    let logs = tempfile::tempdir().unwrap();
    for (format, name) in [("json", "json.log"), ("text", "text.log")] {
        let file = std::fs::File::create(logs.path().join(name)).unwrap();
        let mut child = quarry(data.path())
            .env("RUST_LOG", "info")
            .args(["--log-format", format, "serve", "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(file)
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        // Keep reading so the server never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let base = line
            .trim()
            .strip_prefix("quarry listening on ")
            .unwrap()
            .to_owned();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        agent
            .get(format!("{base}/healthz"))
            .header("x-request-id", "log-me-7")
            .call()
            .unwrap();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let _ = child.wait();
    }
    let json_log = std::fs::read_to_string(logs.path().join("json.log")).unwrap();
    let lines: Vec<Value> = json_log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["status"] == 200 && l["span"]["request_id"] == "log-me-7"),
        "{json_log}"
    );
    let text_log = std::fs::read_to_string(logs.path().join("text.log")).unwrap();
    assert!(
        text_log.contains("log-me-7") && !text_log.contains('\u{1b}'),
        "{text_log}"
    );
}

#[test]
fn difys_external_knowledge_api() {
    let data = tempfile::tempdir().unwrap();
    copy_dir(ingested(), data.path());
    let server = Server::start_with(data.path(), &[("QUARRY_ADMIN_TOKEN", ADMIN)]);
    let (status, tokens) = server.call("POST", "/v1/kb/default/tokens", Some(ADMIN), None);
    assert_eq!(status, 200, "{tokens}");
    let key = tokens["query_token"].as_str().unwrap().to_owned();
    let retrieve = |auth: Option<&str>, body: Value| -> (u16, Value) {
        let mut req = server.agent.post(format!("{}/retrieval", server.base));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let mut r = req.send_json(&body).unwrap();
        (r.status().as_u16(), r.body_mut().read_json().unwrap())
    };
    let bearer = format!("Bearer {key}");
    let ask = |extra: Value| {
        let mut body = json!({"knowledge_id": "default", "query": "What does the VACUUM command do?",
            "retrieval_setting": {"top_k": 3, "score_threshold": 0.0}});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let (status, out) = retrieve(Some(&bearer), ask(json!({})));
    assert_eq!(status, 200, "{out}");
    let records = out["records"].as_array().unwrap();
    assert!(!records.is_empty() && records.len() <= 3, "{out}");
    let first = &records[0];
    assert!(
        first["content"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("vacuum"),
        "{first}"
    );
    assert!(
        first["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{first}"
    );
    let scores: Vec<f64> = records
        .iter()
        .map(|r| r["score"].as_f64().unwrap())
        .collect();
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)), "{out}");
    let score = scores.iter().copied().fold(0.0, f64::max);
    let m = &first["metadata"];
    assert!(
        m["url"].as_str().unwrap().contains("lang_vacuum.html"),
        "{m}"
    );
    assert_eq!(m["kind"], "file");
    assert_eq!(m["citable"], true);
    assert!(
        ["answer", "clarify", "handoff"].contains(&m["decision"].as_str().unwrap()),
        "{m}"
    );
    assert!(m["confidence"].is_number(), "{m}");
    assert!(
        m["source_id"].is_string() && m["locator"].is_object() && m["heading_path"].is_array(),
        "{m}"
    );
    // The threshold is on the absolute score: above every record → none.
    let (_, none) = retrieve(
        Some(&bearer),
        ask(json!({"retrieval_setting": {"top_k": 3, "score_threshold": score + 0.001}})),
    );
    assert_eq!(none, json!({"records": []}));
    // Metadata conditions on the metadata quarry has.
    let cond = |name: &str, op: &str, value: &str| {
        json!({"metadata_condition": {"logical_operator": "and",
            "conditions": [{"name": [name], "comparison_operator": op, "value": value}]}})
    };
    let (_, only) = retrieve(Some(&bearer), ask(cond("url", "contains", "lang_vacuum")));
    let only = only["records"].as_array().unwrap().clone();
    assert!(
        !only.is_empty()
            && only.iter().all(|r| r["metadata"]["url"]
                .as_str()
                .unwrap()
                .contains("lang_vacuum"))
    );
    let (_, german) = retrieve(Some(&bearer), ask(cond("language", "is", "de")));
    assert_eq!(german, json!({"records": []}));
    let (_, files) = retrieve(Some(&bearer), ask(cond("kind", "is", "file")));
    assert!(!files["records"].as_array().unwrap().is_empty());
    let (status, bad) = retrieve(Some(&bearer), ask(cond("author", "is", "x")));
    assert_eq!(status, 400, "{bad}");
    // Dify's error codes.
    for (auth, status_want, code) in [
        (None, 403, 1001),
        (Some("Basic abc".to_owned()), 403, 1001),
        (Some("Bearer wrong-key-0123456789".to_owned()), 403, 1002),
    ] {
        let (status, e) = retrieve(auth.as_deref(), ask(json!({})));
        assert_eq!(
            (status, e["error_code"].as_i64()),
            (status_want, Some(code)),
            "{e}"
        );
        assert!(e["error_msg"].is_string());
    }
    let (status, e) = retrieve(
        Some(&format!("Bearer {ADMIN}")),
        ask(json!({"knowledge_id": "nope"})),
    );
    assert_eq!((status, e["error_code"].as_i64()), (404, Some(2001)), "{e}");
    // The knowledge base's own query token does not open another one.
    let (status, e) = retrieve(Some(&bearer), ask(json!({"knowledge_id": "nope"})));
    assert!(status == 403 || status == 404, "{status} {e}");
}

/// A path segment, percent-encoded (as the CLI encodes source ids).
fn encode(id: &str) -> String {
    quarry::remote::segment(id)
}

#[test]
fn failures_are_reported_as_failures() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    // A format known to be unreadable is refused at upload.
    let (status, body) = server.upload("default", "foo.exe", "MZ\u{90}binary", false);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (415, Some("unsupported_format")),
        "{body}"
    );
    let (_, sources) = server.get("/v1/kb/default/sources");
    assert_eq!(sources["sources"].as_array().unwrap().len(), 0, "{sources}");
    // A known format that fails to parse: the job and the source say failed.
    let (status, up) = server.upload("default", "manual.pdf", "%PDF-1.7\n broken", false);
    assert_eq!(status, 202, "{up}");
    let job = server.wait_job("default", up["job"]["id"].as_u64().unwrap());
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["error"].as_str().unwrap().contains("manual.pdf"),
        "{job}"
    );
    let (_, source) = server.get(&format!(
        "/v1/kb/default/sources/{}",
        encode(up["source"]["id"].as_str().unwrap())
    ));
    assert_eq!(source["status"], "error", "{source}");
    // A URL the address guard refuses is an error, not a quiet success.
    let (status, created) = server.post(
        "/v1/kb/default/sources",
        &json!({"kind": "url", "url": "http://127.0.0.1:9/help"}),
    );
    assert_eq!(status, 201, "{created}");
    let job = server.wait_job("default", created["job"]["id"].as_u64().unwrap());
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("refused"), "{job}");
    let (_, source) = server.get(&format!(
        "/v1/kb/default/sources/{}",
        encode(created["source"]["id"].as_str().unwrap())
    ));
    assert_eq!(source["status"], "error", "{source}");
}

#[test]
fn completions_and_the_man_page_come_from_the_cli_definition() {
    let data = tempfile::tempdir().unwrap();
    let bash = run_ok(quarry(data.path()).args(["completions", "bash"]));
    assert!(
        bash.contains("_quarry()") && bash.contains("doctor"),
        "{bash}"
    );
    let man = run_ok(quarry(data.path()).arg("man"));
    assert!(
        man.starts_with(".ie") || man.contains(".TH quarry"),
        "{man}"
    );
    assert!(man.contains("ingest"));
    let help = run_ok(quarry(data.path()).args(["query", "--help"]));
    assert!(
        help.contains("The question")
            && help.contains("Passages to return")
            && help.contains("as JSON"),
        "{help}"
    );
}

// ---- the playground, in headless Chromium through ChromeDriver -----------

struct Driver {
    child: std::process::Child,
    base: String,
    agent: ureq::Agent,
    session: String,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Driver {
    fn start(profile: &Path) -> Self {
        let chromedriver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("chromedriver is missing: run scripts/deps.sh (Debian's chromium and chromium-driver)");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent.get(format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut driver = Driver {
            child,
            base,
            agent,
            session: String::new(),
        };
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1100,900",
                format!("--user-data-dir={}", profile.display())]}}}});
        let session = driver.send("POST", "/session", Some(caps));
        driver.session = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("{session}"))
            .to_owned();
        driver
    }

    fn send(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let mut r = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, Some(b)) => self.agent.post(&url).send_json(&b),
            (_, None) => self.agent.post(&url).send_json(json!({})),
        }
        .unwrap();
        let v: Value = r.body_mut().read_json().unwrap();
        v["value"].clone()
    }

    fn session(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.send(method, &format!("/session/{}{path}", self.session), body)
    }

    fn find(&self, css: &str) -> Vec<String> {
        let found = self.session(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        found
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn wait_for(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(e) = self.find(css).into_iter().next() {
                return e;
            }
            let status = self
                .find("#status")
                .first()
                .map(|s| self.session("GET", &format!("/element/{s}/text"), None));
            assert!(
                Instant::now() < deadline,
                "{css} never appeared; status: {status:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .agent
                .delete(format!("{}/session/{}", self.base, self.session))
                .call();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, c)| {
            acc | (u32::from(value(*c)) << (18 - 6 * i))
        });
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    out
}

/// Where test artifacts go (`target/test-artifacts`).
fn artifacts() -> PathBuf {
    let dir = root().join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_playground_answers_with_cited_passages_in_a_real_browser() {
    let data = tempfile::tempdir().unwrap();
    copy_dir(ingested(), data.path());
    let server = Server::start(data.path());
    server.put_article(
        "returns",
        "Returns and refunds",
        Some("https://help.example.com/returns"),
        "<h2>Refunds</h2><p>Send the item back within 30 days and we refund the full price to your card.</p>",
    );
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver::start(profile.path());
    driver.session(
        "POST",
        "/url",
        Some(json!({"url": format!("{}/", server.base)})),
    );
    let question = driver.wait_for("#question");
    driver.session(
        "POST",
        &format!("/element/{question}/value"),
        Some(json!({"text": "How do I get my money back?"})),
    );
    let page = driver.wait_for("#page-url");
    driver.session(
        "POST",
        &format!("/element/{page}/value"),
        Some(json!({"text": "https://help.example.com/returns"})),
    );
    let ask = driver.wait_for("#ask");
    driver.session("POST", &format!("/element/{ask}/click"), None);
    let link = driver.wait_for("#passages .passage a.citation");
    let href = driver.session("GET", &format!("/element/{link}/attribute/href"), None);
    assert!(
        href.as_str()
            .unwrap()
            .starts_with("https://help.example.com/returns"),
        "{href}"
    );
    let text = driver.session("GET", &format!("/element/{link}/text"), None);
    assert!(
        text.as_str().unwrap().contains("Returns and refunds"),
        "{text}"
    );
    let verdict = driver.wait_for("#verdict .badge");
    let decision = driver.session("GET", &format!("/element/{verdict}/text"), None);
    assert!(
        ["ANSWER", "CLARIFY", "HANDOFF"]
            .contains(&decision.as_str().unwrap().to_uppercase().as_str()),
        "{decision}"
    );
    let insights = driver.wait_for("#insights");
    let insights = driver.session(
        "GET",
        &format!("/element/{insights}/property/textContent"),
        None,
    );
    assert!(
        insights.as_str().unwrap().contains("features")
            || insights.as_str().unwrap().contains("passages"),
        "{insights}"
    );
    // Suggestions for the page.
    let suggest = driver.wait_for("#suggest");
    driver.session("POST", &format!("/element/{suggest}/click"), None);
    driver.wait_for("#suggestions li a");
    let shot = driver.session("GET", "/screenshot", None);
    let png = base64_decode(shot.as_str().unwrap());
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(artifacts().join("playground.png"), png).unwrap();
    // The API reference renders the OpenAPI document.
    driver.session(
        "POST",
        "/url",
        Some(json!({"url": format!("{}/docs", server.base)})),
    );
    driver.wait_for(".operation");
    let operations = driver.find(".operation");
    assert!(
        operations.len() >= 38,
        "{} operations shown",
        operations.len()
    );
    let retrieval = driver.find("#postRetrieval");
    assert_eq!(retrieval.len(), 1, "the Dify route is in the reference");
}

#[test]
fn an_installed_layout_finds_its_models_beside_the_binary() {
    // The Docker image and the systemd instructions install the binary in
    // PREFIX/bin and the models in PREFIX/share/quarry/models.
    let prefix = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(prefix.path().join("bin")).unwrap();
    std::fs::create_dir_all(prefix.path().join("share/quarry")).unwrap();
    let bin = prefix.path().join("bin/quarry");
    std::fs::copy(env!("CARGO_BIN_EXE_quarry"), &bin).unwrap();
    std::os::unix::fs::symlink(
        root().join("models"),
        prefix.path().join("share/quarry/models"),
    )
    .unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let doctor = run_ok(
        Command::new(&bin)
            .arg("doctor")
            .current_dir(elsewhere.path())
            .env("HOME", home.path())
            .env("QUARRY_DATA_DIR", elsewhere.path().join("data"))
            .env_remove("XDG_DATA_HOME")
            .env_remove("QUARRY_MODELS_DIR")
            .env_remove("QUARRY_CONFIG"),
    );
    assert!(
        doctor.contains("ok       model multilingual-e5-small:")
            && doctor.contains("(beside the binary)"),
        "{doctor}"
    );
    assert!(!doctor.contains("missing  model"), "{doctor}");
    // The packaging files install it that way.
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("/usr/local/bin/quarry")
            && dockerfile.contains("/usr/local/share/quarry")
    );
    assert!(dockerfile.contains("USER quarry") && dockerfile.contains("VOLUME [\"/data\"]"));
    let unit = std::fs::read_to_string(root().join("packaging/quarry.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/quarry serve") && unit.contains("User=quarry"));
}
