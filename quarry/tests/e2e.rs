//! End-to-end tests: the real `quarry` binary, the real embedding model, the
//! bundled sample corpus, and HTTP on 127.0.0.1.
//!
//! The corpus is ingested once per test binary; tests that change a
//! knowledge base work on their own copy of that data directory.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

mod common;

use common::*;
use serde_json::{Value, json};
use std::process::Command;
use std::process::Stdio;
use std::time::{Duration, Instant};

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
    // The decision explains itself: every feature of the confidence model.
    let feature = |r: &serde_json::Value, name: &str| r["details"][name].as_f64().unwrap();
    for name in ["top_similarity", "coverage", "agreement"] {
        assert!(
            feature(&off_topic, name) < feature(&on_topic, name),
            "{name}: {off_topic:#} vs {on_topic:#}"
        );
    }
    assert!(feature(&on_topic, "keyword_score") > 0.0);
    assert!(feature(&on_topic, "margin").is_finite());
}

#[test]
fn http_errors_are_json_with_the_right_status() {
    let data = tempfile::tempdir().unwrap();
    copy_dir(ingested(), data.path());
    let server = Server::start(data.path());
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

    // A second process reads through the server that holds the knowledge
    // base; one that must open it itself is refused, clearly (embedded), or
    // works beside it (shared database: any number of processes).
    let status = run_ok(quarry(data.path()).arg("status"));
    assert!(
        status.contains("server:") && status.contains("documents:  26"),
        "{status}"
    );
    let out = quarry(data.path()).args(["kb", "list"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if on_postgres() {
        assert!(out.status.success(), "{err}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("default"));
    } else {
        assert!(!out.status.success());
        assert!(err.contains("open in another quarry process"), "{err}");
    }
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
    // Failed documents make the exit status say so; what could be indexed is.
    let failed = quarry(data.path())
        .arg("ingest")
        .arg(docs.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&failed.stdout).into_owned();
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{out}");
    assert!(err.contains("3 of 6 documents failed"), "{err}");
    assert!(out.contains("6 seen, 3 indexed"), "{out}");
    let again = run_ok(
        quarry(data.path())
            .args(["ingest", "--allow-partial"])
            .arg(docs.path()),
    );
    assert!(again.contains("6 seen, 0 indexed, 3 unchanged"), "{again}");
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

/// The document count `quarry status` prints.
fn documents(status: &str) -> Option<usize> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("documents:"))
        .and_then(|n| n.trim().parse().ok())
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
    // Kill once some batches are committed but well before the end: on
    // SQLite when its log has grown, on PostgreSQL (no local log) when
    // `quarry status` counts a few documents.
    let db = data.path().join("kb/default/quarry.db");
    let deadline = Instant::now() + Duration::from_secs(60);
    let committed_some = || {
        if on_postgres() {
            let out = quarry(data.path()).arg("status").output().unwrap();
            documents(&String::from_utf8_lossy(&out.stdout)).is_some_and(|n| n >= 2)
        } else {
            std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len()) >= 200_000
        }
    };
    while Instant::now() < deadline && !committed_some() {
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let status = run_ok(quarry(data.path()).arg("status"));
    let committed = documents(&status).unwrap_or_else(|| panic!("{status}"));
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
    assert_check(data.path());
}

/// Every passage text of an answer, joined.
fn texts(answer: &Value) -> String {
    answer["passages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn articles_short_answers_and_uploads_stay_in_step_over_http() {
    let data = tempfile::tempdir().unwrap();
    let article = |fact: &str| {
        json!({
            "title": "Shipping to Norway",
            "body": format!("# Shipping to Norway\n\n## Delivery times\n\n{fact}\n\n## Customs\n\nNorwegian customs may charge import VAT on parcels.\n"),
            "url": "https://help.example.com/shipping-norway",
        })
    };
    {
        let server = Server::start(data.path());
        let (status, put) = server.call(
            "PUT",
            "/v1/kb/default/articles/ship-no",
            None,
            Some(&article("Parcels to Oslo arrive in four working days.")),
        );
        assert_eq!(status, 200, "{put}");
        assert!(put["report"]["embedded"].as_u64().unwrap() >= 1);
        let answer = server.ask("How long does delivery to Oslo take?");
        assert!(texts(&answer).contains("four working days"), "{answer:#}");
        let top = &answer["passages"][0];
        assert!(
            top["citation"]["url"]
                .as_str()
                .unwrap()
                .starts_with("https://help.example.com/shipping-norway"),
            "{top:#}"
        );

        // The same content again: nothing is embedded.
        let (_, again) = server.call(
            "PUT",
            "/v1/kb/default/articles/ship-no",
            None,
            Some(&article("Parcels to Oslo arrive in four working days.")),
        );
        assert_eq!(again["report"]["embedded"], 0, "{again}");
        assert_eq!(again["report"]["unchanged"], 1);
        // An edit is searchable as soon as the PUT returns; the old text is gone.
        let (status, _) = server.call(
            "PUT",
            "/v1/kb/default/articles/ship-no",
            None,
            Some(&article(
                "Parcels to Oslo arrive in seven working days since March.",
            )),
        );
        assert_eq!(status, 200);
        let answer = server.ask("How long does delivery to Oslo take?");
        let all = texts(&answer);
        assert!(
            all.contains("seven working days") && !all.contains("four working days"),
            "{all}"
        );

        let (status, sa) = server.call(
            "PUT",
            "/v1/kb/default/short-answers/refunds",
            None,
            Some(&json!({
                "question": "How long do refunds take?",
                "answer": "Refunds reach your card within five business days."
            })),
        );
        assert_eq!(status, 200, "{sa}");
        let answer = server.ask("how long does a refund take");
        assert_eq!(
            answer["passages"][0]["question"], "How long do refunds take?",
            "{answer:#}"
        );
        assert_eq!(answer["decision"], "answer");
        assert_eq!(answer["details"]["short_answer"], true);

        let (status, up) = server.upload(
            "default",
            "escalation.md",
            "# Escalation\n\nEscalate chargeback disputes to the billing lead named Ingrid.\n",
            true,
        );
        assert_eq!(status, 202, "{up}");
        let job = server.wait_job("default", up["job"]["id"].as_u64().unwrap());
        assert_eq!(job["status"], "done", "{job}");
        assert_eq!(job["report"]["indexed"], 1, "{job}");
        let answer = server.ask("Who handles chargeback disputes?");
        let top = &answer["passages"][0];
        assert!(
            top["text"].as_str().unwrap().contains("Ingrid"),
            "{answer:#}"
        );
        assert_eq!(top["citable"], false, "private upload");
        assert!(top["citation"].is_null());

        let (status, sources) = server.get("/v1/kb/default/sources");
        assert_eq!(status, 200);
        assert_eq!(
            sources["sources"].as_array().unwrap().len(),
            3,
            "{sources:#}"
        );
        assert_eq!(
            server
                .call("DELETE", "/v1/kb/default/articles/ship-no", None, None)
                .0,
            204
        );
        let upload_id = up["source"]["id"].as_str().unwrap();
        assert_eq!(
            server
                .call(
                    "DELETE",
                    &format!("/v1/kb/default/sources/{upload_id}"),
                    None,
                    None
                )
                .0,
            204
        );
        assert_eq!(
            server
                .call("DELETE", "/v1/kb/default/articles/ship-no", None, None)
                .0,
            404
        );
        let all = texts(&server.ask("delivery to Oslo, chargeback disputes"));
        assert!(!all.contains("Oslo") && !all.contains("Ingrid"), "{all}");
    }
    // After a restart: deleted stays deleted, the short answer stays.
    let server = Server::start(data.path());
    let all = texts(&server.ask("delivery to Oslo, chargeback disputes, Ingrid"));
    assert!(!all.contains("Oslo") && !all.contains("Ingrid"), "{all}");
    assert_eq!(
        server.ask("how long does a refund take")["details"]["short_answer"],
        true
    );
    assert_check(data.path());
}

#[test]
fn tokens_guard_the_api_and_isolate_knowledge_bases() {
    let data = tempfile::tempdir().unwrap();
    let (admin, query) = ("admin-secret-0123456789", "query-secret-0123456789");
    let server = Server::start_with(
        data.path(),
        &[("QUARRY_ADMIN_TOKEN", admin), ("QUARRY_QUERY_TOKEN", query)],
    );
    let ask = json!({"query": "What colour is the Ardent kettle?"});
    assert_eq!(server.call("POST", "/v1/query", None, Some(&ask)).0, 401);
    assert_eq!(
        server
            .call(
                "POST",
                "/v1/query",
                Some("wrong-token-0123456789"),
                Some(&ask)
            )
            .0,
        401
    );
    assert_eq!(
        server.call("POST", "/v1/query", Some(query), Some(&ask)).0,
        200
    );
    assert_eq!(
        server
            .call("GET", "/v1/kb/default/sources", Some(query), None)
            .0,
        403
    );
    assert_eq!(
        server
            .call("GET", "/v1/kb/default/sources", Some(admin), None)
            .0,
        200
    );
    assert_eq!(server.get("/healthz").0, 200, "health needs no token");

    let (status, a) = server.call("PUT", "/v1/kb/brand-a", Some(admin), None);
    assert_eq!(status, 201, "{a}");
    let (status, b) = server.call("PUT", "/v1/kb/brand-b", Some(admin), None);
    assert_eq!(status, 201, "{b}");
    let token = |v: &Value, k: &str| v[k].as_str().unwrap().to_owned();
    let (a_admin, a_query, b_query) = (
        token(&a, "admin_token"),
        token(&a, "query_token"),
        token(&b, "query_token"),
    );
    // A knowledge base's own admin token cannot create knowledge bases.
    assert_eq!(
        server.call("PUT", "/v1/kb/brand-c", Some(&a_admin), None).0,
        403
    );

    let article = json!({"title": "Ardent kettle", "body": "# Ardent kettle\n\nThe Ardent kettle comes in copper orange and boils a litre in ninety seconds.\n"});
    assert_eq!(
        server
            .call(
                "PUT",
                "/v1/kb/brand-a/articles/kettle",
                Some(&a_admin),
                Some(&article)
            )
            .0,
        200
    );
    assert_eq!(
        server
            .call(
                "PUT",
                "/v1/kb/brand-b/articles/kettle",
                Some(&a_admin),
                Some(&article)
            )
            .0,
        403
    );
    assert_eq!(
        server
            .call("GET", "/v1/kb/brand-b/sources", Some(&a_admin), None)
            .0,
        403
    );
    assert_eq!(
        server
            .call("GET", "/v1/kb/brand-a/sources", Some(&a_query), None)
            .0,
        403,
        "query token on an admin route"
    );

    let in_a = json!({"query": "What colour is the Ardent kettle?", "kb": "brand-a"});
    let in_b = json!({"query": "What colour is the Ardent kettle?", "kb": "brand-b"});
    let (status, answer) = server.call("POST", "/v1/query", Some(&a_query), Some(&in_a));
    assert_eq!(status, 200);
    assert!(texts(&answer).contains("copper orange"), "{answer:#}");
    assert_eq!(
        server
            .call("POST", "/v1/query", Some(&a_query), Some(&in_b))
            .0,
        403
    );
    let (status, answer) = server.call("POST", "/v1/query", Some(&b_query), Some(&in_b));
    assert_eq!(status, 200);
    assert!(
        !texts(&answer).contains("copper"),
        "B cannot see A's article: {answer:#}"
    );
    let (_, default) = server.call("POST", "/v1/query", Some(query), Some(&ask));
    assert!(
        !texts(&default).contains("copper"),
        "nor can the default knowledge base"
    );
    assert_eq!(
        server
            .call(
                "POST",
                "/v1/query",
                Some(query),
                Some(&json!({"query": "x", "kb": "nope"}))
            )
            .0,
        404
    );
}

#[test]
fn scheduled_resync_picks_up_a_changed_file_while_serving() {
    let docs = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let page = docs.path().join("opening-hours.md");
    std::fs::write(
        &page,
        "# Opening hours\n\nThe Bergen store opens at nine in the morning.\n",
    )
    .unwrap();
    let fast = [
        ("QUARRY__SYNC__INTERVAL_SECS", "2"),
        ("QUARRY__SYNC__TICK_SECS", "1"),
    ];
    let mut cmd = quarry(data.path());
    for (k, v) in fast {
        cmd.env(k, v);
    }
    run_ok(cmd.arg("ingest").arg(docs.path()));
    let server = Server::start_with(data.path(), &fast);
    std::fs::write(
        &page,
        "# Opening hours\n\nThe Bergen store opens at ten in the morning since May.\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let all = texts(&server.ask("When does the Bergen store open?"));
        if all.contains("ten in the morning") {
            assert!(!all.contains("nine"), "{all}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the scheduled sync never ran: {all}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let (_, jobs) = server.get("/v1/kb/default/jobs");
    let triggers: Vec<&str> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["trigger"].as_str().unwrap())
        .collect();
    assert!(
        triggers.contains(&"schedule") && triggers.contains(&"cli"),
        "{triggers:?}"
    );
    assert_check(data.path());
}

/// A path segment, percent-encoded (as the CLI encodes source ids).
fn encode(id: &str) -> String {
    quarry::remote::segment(id)
}

#[test]
fn folder_sources_over_http_sync_resync_one_document_and_change_settings() {
    let root = tempfile::tempdir().unwrap();
    let docs = root.path().join("help");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(
        docs.join("returns.md"),
        "# Returns\n\nReturn a parcel from any Posten office within thirty days.\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("gift-cards.md"),
        "# Gift cards\n\nGift cards never expire and work in every store.\n",
    )
    .unwrap();
    let outside = tempfile::tempdir().unwrap();
    let config = root.path().join("quarry.toml");
    std::fs::write(
        &config,
        format!("[server]\nimport_roots = [\"{}\"]\n", root.path().display()),
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), &[("QUARRY_CONFIG", config.to_str().unwrap())]);

    let (status, created) = server.call(
        "POST",
        "/v1/kb/default/sources",
        None,
        Some(&json!({
            "kind": "file", "path": docs.display().to_string(), "title": "Help folder"
        })),
    );
    assert_eq!(status, 201, "{created}");
    let job = server.wait_job("default", created["job"]["id"].as_u64().unwrap());
    assert_eq!(job["report"]["indexed"], 2, "{job}");
    let id = created["source"]["id"].as_str().unwrap().to_owned();
    let (status, source) = server.get(&format!("/v1/kb/default/sources/{}", encode(&id)));
    assert_eq!(status, 200, "{source}");
    assert_eq!(source["status"], "ready");
    assert!(source["next_sync_at"].as_i64().unwrap() > source["last_sync_at"].as_i64().unwrap());

    let refused = |body: Value| {
        server
            .call("POST", "/v1/kb/default/sources", None, Some(&body))
            .0
    };
    assert_eq!(
        refused(json!({"kind": "file", "path": outside.path().display().to_string()})),
        403
    );
    assert_eq!(
        refused(json!({"kind": "site", "url": "ftp://example.com/"})),
        400
    );
    assert_eq!(
        refused(json!({"kind": "file", "path": "/x", "colour": "red"})),
        400
    );

    // Resync one document: only it is looked at.
    std::fs::write(
        docs.join("returns.md"),
        "# Returns\n\nReturn a parcel from any Posten office within sixty days.\n",
    )
    .unwrap();
    let uri = format!(
        "file://{}",
        docs.join("returns.md").canonicalize().unwrap().display()
    );
    let (status, job) = server.call(
        "POST",
        &format!("/v1/kb/default/sources/{}/sync", encode(&id)),
        None,
        Some(&json!({"uri": uri})),
    );
    assert_eq!(status, 202, "{job}");
    let job = server.wait_job("default", job["id"].as_u64().unwrap());
    assert_eq!(
        (
            job["report"]["documents"].clone(),
            job["report"]["indexed"].clone()
        ),
        (json!(1), json!(1)),
        "{job}"
    );
    let answer = server.ask("How long do I have to return a parcel?");
    assert!(texts(&answer).contains("sixty days"), "{answer:#}");
    assert_eq!(answer["passages"][0]["citable"], true);

    // Turning citations off applies to what is indexed at once.
    let (status, patched) = server.call(
        "PATCH",
        &format!("/v1/kb/default/sources/{}", encode(&id)),
        None,
        Some(&json!({"settings": {"citations": false}})),
    );
    assert_eq!(status, 200, "{patched}");
    let answer = server.ask("How long do I have to return a parcel?");
    assert_eq!(answer["passages"][0]["citable"], false, "{answer:#}");
    assert!(answer["passages"][0]["citation"].is_null());
    let (_, stats) = server.get("/v1/kb/default");
    assert_eq!(stats["stats"]["documents"], 2);
    assert_check(data.path());
}

/// A site imported over the admin API: the crawl runs as a job, its per-URL
/// report comes back with the job, the pages are answered with their URL as
/// the citation; a private address needs the server's allow-list.
#[test]
fn sites_are_crawled_through_the_api_with_a_per_url_report() {
    use quarry_testsite::{self as testsite, TestSite};
    let pages = 25;
    let pdf = std::fs::read(root().join("corpora/formats/pdf/wal.pdf")).unwrap();
    let site = TestSite::serve(testsite::build(pages, pdf)).unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        data.path(),
        &[
            ("QUARRY__CRAWL__ALLOW_HOSTS", "[\"127.0.0.1\"]"),
            ("QUARRY__CRAWL__TIMEOUT_SECS", "1"),
            ("QUARRY__CRAWL__MAX_BYTES", "1000000"),
        ],
    );
    let (status, created) = server.call(
        "POST",
        "/v1/kb/default/sources",
        None,
        Some(&json!({"kind": "site", "url": site.url("/"), "max_pages": 60, "exclude": ["/calendar/"]})),
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["source"]["kind"], "site");
    let job = server.wait_job("default", created["job"]["id"].as_u64().unwrap());
    assert_eq!(job["status"], "done", "{job}");
    let crawl = &job["report"]["crawl"];
    let entry = |path: &str| {
        crawl["urls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["url"] == site.url(path))
            .cloned()
            .unwrap_or_else(|| panic!("{path} not in {crawl:#}"))
    };
    assert_eq!(entry("/docs/page-3")["outcome"], "indexed");
    assert_eq!(entry("/private/secret")["reason"], "robots");
    assert_eq!(entry("/missing")["status"], 404);
    assert_eq!(entry("/calendar/2026/11")["reason"], "excluded");
    assert!(
        crawl["counts"]["indexed"].as_u64().unwrap() > pages as u64,
        "{crawl:#}"
    );

    let answer = server.ask("Which button resets the quarry12 setting?");
    assert_eq!(
        answer["passages"][0]["citation"]["uri"],
        site.url("/docs/page-12"),
        "{answer:#}"
    );
    assert!(texts(&answer).contains("button12"));

    // A second server without the allow-list refuses the same site.
    let data2 = tempfile::tempdir().unwrap();
    let strict = Server::start(data2.path());
    let before = site.requests();
    let (status, created) = strict.call(
        "POST",
        "/v1/kb/default/sources",
        None,
        Some(&json!({"kind": "url", "url": site.url("/docs/page-1")})),
    );
    assert_eq!(status, 201, "{created}");
    let job = strict.wait_job("default", created["job"]["id"].as_u64().unwrap());
    assert_eq!(
        job["report"]["crawl"]["counts"]["error:refused"], 1,
        "{job:#}"
    );
    assert_eq!(site.requests(), before, "nothing fetched");
}

/// A how-to video without subtitles, ingested by the CLI: the binary's
/// speech-to-text (Whisper) transcribes it, and a question about what is
/// said is answered from the video with a citation to the second
/// (`#t=…`), next to a video whose sidecar subtitles are used instead.
#[test]
fn videos_are_transcribed_and_cited_to_the_second() {
    let docs = tempfile::tempdir().unwrap();
    let wav = docs.path().join("speech.wav");
    let said = "To pair the headset, hold the power button until the lamp flashes purple.";
    let out = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "150", "-w"])
        .arg(&wav)
        .arg(said)
        .output()
        .expect("espeak-ng is needed: run scripts/deps.sh");
    assert!(out.status.success());
    let ffmpeg = |args: &[&str]| {
        let out = Command::new("ffmpeg")
            .args(["-y", "-v", "error"])
            .args(args)
            .output()
            .expect("ffmpeg is needed: run scripts/deps.sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let video = docs.path().join("pairing.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=96x64:rate=25:duration=12",
        "-i",
        wav.to_str().unwrap(),
        "-filter_complex",
        "[1:a]adelay=3000:all=1,apad=whole_dur=12[a]",
        "-map",
        "0:v",
        "-map",
        "[a]",
        "-c:v",
        "mpeg4",
        "-c:a",
        "aac",
        "-t",
        "12",
        video.to_str().unwrap(),
    ]);
    std::fs::remove_file(&wav).unwrap();
    let other = docs.path().join("warranty.webm");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=96x64:rate=25:duration=8",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=8",
        "-c:v",
        "libvpx",
        "-c:a",
        "libvorbis",
        other.to_str().unwrap(),
    ]);
    std::fs::write(
        docs.path().join("warranty.vtt"),
        "WEBVTT\n\n00:00:02.000 --> 00:00:05.000\nThe warranty covers water damage for two years.\n",
    )
    .unwrap();

    let data = tempfile::tempdir().unwrap();
    let report = run_ok(quarry(data.path()).arg("ingest").arg(docs.path()));
    assert!(report.contains("2 seen, 2 indexed"), "{report}");
    let answer: Value = serde_json::from_str(&run_ok(
        quarry(data.path())
            .args(["query", "--json"])
            .arg("How do I pair the headset?"),
    ))
    .unwrap();
    let top = &answer["passages"][0];
    let url = top["citation"]["url"].as_str().unwrap_or_default();
    assert!(url.contains("pairing.mp4#t="), "{answer:#}");
    assert_eq!(top["citation"]["locator"]["type"], "time", "{answer:#}");
    let start = top["citation"]["locator"]["start_ms"].as_u64().unwrap();
    assert!(
        (2_000..=4_000).contains(&start),
        "spoken from 3 s: {answer:#}"
    );
    let text = top["text"].as_str().unwrap_or_default().to_lowercase();
    assert!(text.contains("power button"), "{answer:#}");

    let answer: Value = serde_json::from_str(&run_ok(
        quarry(data.path())
            .args(["query", "--json"])
            .arg("Does the warranty cover water damage?"),
    ))
    .unwrap();
    let url = answer["passages"][0]["citation"]["url"]
        .as_str()
        .unwrap_or_default();
    assert!(url.contains("warranty.webm#t=2,5"), "{answer:#}");
}

/// Confidence, decision and every passage's score are the same whatever
/// `top_k` the caller asks for (they are read off all candidates before the
/// cut), and scores are absolute: in [0, 1], the top one equal to the
/// confidence, an off-topic question's best passage below an on-topic one's.
#[test]
fn confidence_decision_and_scores_do_not_depend_on_top_k() {
    let server = Server::start(ingested());
    let mut best_on_topic = 0.0;
    for question in [
        "json functions",
        "How do I create an AUTOINCREMENT field?",
        "What is a virtual table?",
        "What is a good recipe for chocolate chip cookies?",
    ] {
        let answers: Vec<Value> = [1, 3, 10, 30]
            .iter()
            .map(|k| {
                let (status, body) =
                    server.post("/v1/query", &json!({"query": question, "top_k": k}));
                assert_eq!(status, 200, "{body}");
                body
            })
            .collect();
        for a in &answers[1..] {
            assert_eq!(
                a["confidence"], answers[0]["confidence"],
                "{question}: {a:#}"
            );
            assert_eq!(a["decision"], answers[0]["decision"], "{question}");
            assert_eq!(a["details"], answers[0]["details"], "{question}");
            // The passages both results hold score alike.
            assert_eq!(a["passages"][0], answers[0]["passages"][0], "{question}");
        }
        let deepest = answers[3]["passages"].as_array().unwrap();
        assert!(deepest.len() > 3, "{question}: {deepest:?}");
        for p in deepest {
            let s = p["score"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&s), "{question}: score {s}");
            let fused = p["score_details"]["fused"].as_f64().unwrap();
            assert!(fused.is_finite());
        }
        let top = deepest[0]["score"].as_f64().unwrap();
        let confidence = answers[0]["confidence"].as_f64().unwrap();
        assert!(
            (top - confidence).abs() < 1e-6,
            "{question}: {top} vs {confidence}"
        );
        if question.contains("cookies") {
            assert!(
                top < best_on_topic,
                "off-topic {top} vs on-topic {best_on_topic}"
            );
        } else {
            best_on_topic = f64::max(best_on_topic, top);
        }
    }
}

/// An order number, error code or SKU that appears verbatim in one passage
/// puts that passage first, even among near-identical pages.
#[test]
fn exact_identifiers_put_their_passage_first() {
    let docs = tempfile::tempdir().unwrap();
    let ids = [
        "ORD4821K",
        "ORD4822K",
        "ORD5310Q",
        "ERR-1042",
        "ERR-1043",
        "SKU-88310",
        "SKU-88311",
        "INV20260114",
        "0x80070005",
        "RMA7731B",
    ];
    for (i, id) in ids.iter().enumerate() {
        std::fs::write(
            docs.path().join(format!("case-{i}.md")),
            format!(
                "# Support case\n\nThe customer wrote to support about a delayed delivery and \
                 asked for a refund. Reference {id} was checked against the warehouse records \
                 and the parcel was found at the depot. The refund was approved and the \
                 customer was told by email.\n"
            ),
        )
        .unwrap();
    }
    let data = tempfile::tempdir().unwrap();
    run_ok(quarry(data.path()).arg("ingest").arg(docs.path()));
    let server = Server::start(data.path());
    for (i, id) in ids.iter().enumerate() {
        for question in [id.to_string(), format!("what happened with {id}?")] {
            let body = server.ask(&question);
            let top = &body["passages"][0];
            assert_eq!(file_of(top), format!("case-{i}.md"), "{question}: {body:#}");
            assert!(top["text"].as_str().unwrap().contains(id));
        }
    }
}

/// Questions come back with their language, and when the same content
/// exists in several languages the passage in the visitor's comes first.
#[test]
fn the_visitors_language_is_detected_and_preferred() {
    let docs = tempfile::tempdir().unwrap();
    std::fs::write(
        docs.path().join("returns-en.md"),
        "# Returns\n\nYou can return any product within 30 days of delivery. Print the \
         return label from your account page, pack the product in its original box and \
         drop it at any post office. We refund the purchase price within five working days.\n",
    )
    .unwrap();
    std::fs::write(
        docs.path().join("returns-nl.md"),
        "# Retourneren\n\nU kunt elk product binnen 30 dagen na levering retourneren. Print \
         het retourlabel vanaf uw accountpagina, verpak het product in de originele doos en \
         lever het in bij een postkantoor. We betalen de aankoopprijs binnen vijf werkdagen terug.\n",
    )
    .unwrap();
    std::fs::write(
        docs.path().join("shipping-en.md"),
        "# Shipping\n\nOrders placed before 2 pm ship the same day. Delivery takes one to \
         three working days within the country.\n",
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    run_ok(quarry(data.path()).arg("ingest").arg(docs.path()));
    let server = Server::start(data.path());
    for (question, language, file) in [
        ("Hoe kan ik een product terugsturen?", "nl", "returns-nl.md"),
        ("How do I send a product back?", "en", "returns-en.md"),
        ("Wie kann ich ein Produkt zurückschicken?", "de", ""),
        ("Comment retourner un produit ?", "fr", ""),
    ] {
        let body = server.ask(question);
        assert_eq!(body["language"], language, "{question}: {body:#}");
        let top = file_of(&body["passages"][0]);
        if file.is_empty() {
            // No German or French page: the question still finds returns.
            assert!(top.starts_with("returns-"), "{question}: {body:#}");
        } else {
            assert_eq!(top, file, "{question}: {body:#}");
        }
    }
}

/// A knowledge base's model is chosen when it is created (CLI and API),
/// remembered, and shown; asking for another one later is refused.
#[test]
fn each_knowledge_base_has_its_own_model() {
    let data = tempfile::tempdir().unwrap();
    let out = run_ok(quarry(data.path()).args([
        "kb",
        "create",
        "english",
        "--model",
        "all-MiniLM-L6-v2",
    ]));
    assert!(out.contains("admin token"), "{out}");
    let list = run_ok(quarry(data.path()).args(["kb", "list"]));
    assert!(list.contains("english  all-MiniLM-L6-v2"), "{list}");
    assert!(list.contains("default  multilingual-e5-small"), "{list}");
    // Changing the model is an explicit job that re-embeds every source.
    let docs = tempfile::tempdir().unwrap();
    std::fs::write(
        docs.path().join("returns.md"),
        "# Returns\n\nYou can return any product within 30 days of delivery.\n",
    )
    .unwrap();
    run_ok(
        quarry(data.path())
            .args(["--kb", "english", "ingest"])
            .arg(docs.path()),
    );
    let err = quarry(data.path())
        .args(["kb", "set-model", "english", "all-MiniLM-L6-v2"])
        .output()
        .unwrap();
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("already uses"));
    let out =
        run_ok(quarry(data.path()).args(["kb", "set-model", "english", "multilingual-e5-small"]));
    assert!(
        out.contains("now uses multilingual-e5-small: 1 sources, 1 documents"),
        "{out}"
    );
    let list = run_ok(quarry(data.path()).args(["kb", "list"]));
    assert!(
        list.contains("english  multilingual-e5-small  1 sources  1 documents"),
        "{list}"
    );
    let answer = run_ok(quarry(data.path()).args([
        "--kb",
        "english",
        "query",
        "--json",
        "Kan ik een product terugsturen?",
    ]));
    assert!(answer.contains("returns.md"), "{answer}");
    run_ok(quarry(data.path()).args(["kb", "set-model", "english", "all-MiniLM-L6-v2"]));
    let server = Server::start(data.path());
    let (status, body) = server.call(
        "PUT",
        "/v1/kb/brand-nl",
        None,
        Some(&json!({"model": "multilingual-e5-small"})),
    );
    assert_eq!(
        (status, body["model"].as_str()),
        (201, Some("multilingual-e5-small")),
        "{body}"
    );
    let (status, body) = server.call(
        "PUT",
        "/v1/kb/english",
        None,
        Some(&json!({"model": "multilingual-e5-small"})),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("set-model"), "{body}");
    let (status, body) = server.call("PUT", "/v1/kb/other", None, Some(&json!({"model": "nope"})));
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.get("/v1/kb");
    assert_eq!(status, 200);
    let models: Vec<(String, String)> = body["knowledge_bases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["name"].as_str().unwrap().to_owned(),
                k["model"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        models.contains(&("english".into(), "all-MiniLM-L6-v2".into())),
        "{models:?}"
    );
}

/// The answering layer's tools over HTTP with the real model: questions
/// are logged (not with `log: false`), unanswered ones cluster into gaps
/// across languages, a gap becomes a short answer that then answers, a
/// page gets three suggestions in its language, analytics count it, and
/// insights explain a response consistently.
#[test]
fn gaps_suggestions_and_analytics_come_from_the_question_log() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let article = |id: &str, title: &str, url: &str, body: &str| {
        server.put_article(id, title, Some(url), body);
    };
    article(
        "returns",
        "Returns",
        "https://help.example.com/returns",
        "# Returns\n\n## How do I return a product?\n\nYou can return any product within 30 days \
         of delivery. Print the return label from your account page, pack the product in its \
         original box and drop it at any post office.\n\n## Refunds\n\nWe refund the purchase \
         price within five working days after the parcel arrives at our warehouse.\n",
    );
    article(
        "retourneren",
        "Retourneren",
        "https://help.example.com/nl/retourneren",
        "# Retourneren\n\n## Retourlabel\n\nU kunt elk product binnen 30 dagen na ontvangst \
         retourneren. Print het retourlabel vanaf uw accountpagina en breng het pakket naar \
         een postkantoor.\n",
    );
    article(
        "password",
        "Password reset",
        "https://help.example.com/account/password",
        "# Password reset\n\n## Reset link\n\nRequest a reset link on the sign-in page. The \
         link in the e-mail is valid for 41 minutes.\n",
    );
    let ask = |question: &str, extra: Value| {
        let mut body = json!({"query": question, "top_k": 3});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, out) = server.post("/v1/query", &body);
        assert_eq!(status, 200, "{out}");
        out
    };
    // Answered from the returns page, while the visitor is on it.
    let page = "https://help.example.com/returns?utm_source=newsletter#refunds";
    let answered = ask("How can I send a product back?", json!({"page_url": page}));
    assert_eq!(answered["decision"], "answer", "{answered:#}");
    assert!(answered.get("insights").is_none(), "only when asked for");
    // Insights agree with the response they explain.
    let explained = ask(
        "How can I send a product back?",
        json!({"explain": true, "log": false}),
    );
    let insights = &explained["insights"];
    assert_eq!(insights["decision"], explained["decision"], "{explained:#}");
    assert_eq!(insights["confidence"], explained["confidence"]);
    assert_eq!(insights["language"], explained["language"]);
    assert_eq!(insights["answer_at"], explained["details"]["answer_at"]);
    let ids = |v: &Value| -> Vec<Value> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].clone())
            .collect()
    };
    assert_eq!(ids(&insights["passages"]), ids(&explained["passages"]));
    assert_eq!(
        insights["passages"][0]["vector_rank"],
        explained["passages"][0]["score_details"]["vector_rank"]
    );
    let features = insights["features"].as_array().unwrap();
    assert_eq!(features.len(), 5, "{insights:#}");
    let logit = insights["bias"].as_f64().unwrap()
        + features
            .iter()
            .map(|f| f["contribution"].as_f64().unwrap())
            .sum::<f64>();
    let confidence = explained["confidence"].as_f64().unwrap();
    assert!(
        (1.0 / (1.0 + (-logit).exp()) - confidence).abs() < 1e-3,
        "the contributions add up to the confidence: {insights:#}"
    );
    assert!(insights["reason"].as_str().unwrap().contains("answer_at"));
    // Three questions about shipping to Norway (en, en, nl) and two about
    // paying with Bitcoin (en, de): none answered by the content.
    let unanswered = [
        "Do you ship to Norway?",
        "Can I pay with Bitcoin?",
        "Is delivery to Oslo possible?",
        "Kann ich mit Bitcoin bezahlen?",
        "Leveren jullie ook in Noorwegen?",
    ];
    for q in unanswered {
        let out = ask(q, json!({}));
        assert_ne!(out["decision"], "answer", "{q}: {out:#}");
    }
    // Not logged.
    ask("Do you ship to Norway?", json!({"log": false}));

    let (status, gaps) = server.get("/v1/kb/default/gaps");
    assert_eq!(status, 200, "{gaps}");
    let gaps = gaps["gaps"].as_array().unwrap().clone();
    let norway = gaps
        .iter()
        .find(|g| {
            g["questions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|q| q == "Do you ship to Norway?")
        })
        .unwrap_or_else(|| panic!("no Norway gap: {gaps:#?}"));
    let texts = |g: &Value| -> Vec<String> {
        g["questions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q.as_str().unwrap().to_owned())
            .collect()
    };
    let mut norway_questions = texts(norway);
    norway_questions.sort();
    assert_eq!(
        norway_questions,
        vec![
            "Do you ship to Norway?",
            "Is delivery to Oslo possible?",
            "Leveren jullie ook in Noorwegen?"
        ],
        "one gap across languages: {gaps:#?}"
    );
    assert_eq!(norway["count"], 3, "the log: false question is not counted");
    assert_eq!(norway["status"], "open");
    let languages: Vec<&str> = norway["languages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        languages.contains(&"en") && languages.contains(&"nl"),
        "{norway:#}"
    );
    assert!(
        !norway["nearest"].as_array().unwrap().is_empty(),
        "{norway:#}"
    );
    let bitcoin = gaps
        .iter()
        .find(|g| texts(g).contains(&"Can I pay with Bitcoin?".to_owned()))
        .unwrap();
    assert_ne!(bitcoin["id"], norway["id"], "{gaps:#?}");
    assert!(
        texts(bitcoin).contains(&"Kann ich mit Bitcoin bezahlen?".to_owned()),
        "{gaps:#?}"
    );

    // Improve response: the gap becomes a short answer, and the next such
    // question is answered.
    let id = norway["id"].as_i64().unwrap();
    let (status, made) = server.post(
        &format!("/v1/kb/default/gaps/{id}/short-answer"),
        &json!({"answer": "Yes: we ship to Norway; parcels to Oslo take four to six working days."}),
    );
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["gap"]["status"], "resolved");
    let next = ask("Do you deliver to Norway?", json!({}));
    assert_eq!(next["decision"], "answer", "{next:#}");
    assert!(
        next["passages"][0]["text"]
            .as_str()
            .unwrap()
            .contains("ship to Norway"),
        "{next:#}"
    );
    let (_, open) = server.get("/v1/kb/default/gaps");
    assert!(
        open["gaps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["id"] != id),
        "{open:#}"
    );
    let (status, again) = server.post(&format!("/v1/kb/default/gaps/{id}/dismiss"), &json!({}));
    assert_eq!(status, 409, "a resolved gap is not dismissed: {again}");
    let (status, missing) = server.post("/v1/kb/default/gaps/999999/dismiss", &json!({}));
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["error"]["code"], "not_found");
    let (status, dismissed) = server.post(
        &format!("/v1/kb/default/gaps/{}/dismiss", bitcoin["id"]),
        &json!({}),
    );
    assert_eq!(status, 200, "{dismissed}");
    assert_eq!(dismissed["gap"]["status"], "dismissed");

    // Three suggestions for the returns page (tracking parameters and the
    // fragment ignored): the question answered there first, then the
    // page's question heading, then one formed from a heading.
    let (status, s) = server.get(&format!(
        "/v1/kb/default/suggestions?url={}",
        "https%3A%2F%2Fhelp.example.com%2Freturns%3Futm_source%3Dnewsletter%23refunds"
    ));
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["source"], "page", "{s:#}");
    let questions = s["questions"].as_array().unwrap();
    assert_eq!(questions.len(), 3, "{s:#}");
    assert_eq!(questions[0], "How can I send a product back?", "{s:#}");
    assert_eq!(questions[1], "How do I return a product?", "{s:#}");
    // The Dutch page: suggestions in Dutch.
    let (_, nl) = server.get(&format!(
        "/v1/kb/default/suggestions?url={}",
        "https%3A%2F%2Fhelp.example.com%2Fnl%2Fretourneren"
    ));
    assert_eq!(nl["source"], "page", "{nl:#}");
    assert_eq!(nl["language"], "nl", "{nl:#}");
    assert_eq!(nl["questions"].as_array().unwrap().len(), 3, "{nl:#}");
    assert!(
        nl["questions"][0]
            .as_str()
            .unwrap()
            .starts_with("Wat moet ik weten over"),
        "{nl:#}"
    );
    // A page quarry does not know: general prompts, the most answered first.
    let (_, general) = server.get("/v1/kb/default/suggestions?url=https%3A%2F%2Fexample.org%2F");
    assert_eq!(general["source"], "general", "{general:#}");
    assert_eq!(general["questions"].as_array().unwrap().len(), 3);
    let (status, bad) = server.get("/v1/kb/default/suggestions?url=not-a-url");
    assert_eq!(status, 400, "{bad}");

    // Analytics from the same log.
    let (status, a) = server.get("/v1/kb/default/analytics?days=7");
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["questions"], 7, "{a:#}");
    let day = &a["per_day"][0];
    assert_eq!(
        day["answer"].as_u64().unwrap()
            + day["clarify"].as_u64().unwrap()
            + day["handoff"].as_u64().unwrap(),
        7,
        "{a:#}"
    );
    assert!(day["answer"].as_u64().unwrap() >= 2, "{a:#}");
    let most = a["most_cited"].as_array().unwrap();
    assert!(
        most.iter().any(|d| d["uri"] == "article://returns"),
        "{a:#}"
    );
    let never = a["never_cited"].as_array().unwrap();
    assert!(
        never.iter().any(|d| d["uri"] == "article://password"),
        "{a:#}"
    );

    // Logging can be switched off per knowledge base.
    let (status, off) = server.call(
        "PATCH",
        "/v1/kb/default",
        None,
        Some(&json!({"log_questions": false})),
    );
    assert_eq!(status, 200, "{off}");
    assert_eq!(off["log_questions"], false);
    ask("Do you ship to Sweden?", json!({}));
    let (_, a2) = server.get("/v1/kb/default/analytics?days=7");
    assert_eq!(a2["questions"], 7, "{a2:#}");
}

/// Synonyms make a keyword match that the words alone cannot, at once and
/// without re-embedding; insights say which were applied.
#[test]
fn synonyms_make_a_keyword_only_match_work() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    for (id, title, body) in [
        (
            "router",
            "Zorblax 3000",
            "# Zorblax 3000\n\nThe Zorblax 3000 router supports WPA3 encryption and mesh networking.\n",
        ),
        (
            "printer",
            "Printer ink",
            "# Printer ink\n\nReplace the ink cartridge when the light blinks orange.\n",
        ),
    ] {
        server.put_article(id, title, None, body);
    }
    let router_rank = |out: &Value| -> Value {
        out["passages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["text"].as_str().unwrap().contains("Zorblax"))
            .map_or(Value::Null, |p| p["score_details"]["keyword_rank"].clone())
    };
    let query = json!({"query": "ZX3K", "top_k": 5, "explain": true, "log": false});
    let (_, before) = server.post("/v1/query", &query);
    assert_eq!(
        router_rank(&before),
        Value::Null,
        "no keyword match yet: {before:#}"
    );
    let embedded_before =
        server.get("/v1/kb/default").1["stats"]["counters"]["passages_embedded"].clone();

    let (status, bad) = server.call(
        "PUT",
        "/v1/kb/default/synonyms",
        None,
        Some(&json!({"zx3k": []})),
    );
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["error"]["code"], "invalid_synonyms");
    let synonyms = json!({"zx3k": ["Zorblax 3000"], "wifi": ["wireless"], "wireless": ["wifi"]});
    let (status, put) = server.call("PUT", "/v1/kb/default/synonyms", None, Some(&synonyms));
    assert_eq!(status, 200, "{put}");
    let (_, got) = server.get("/v1/kb/default/synonyms");
    assert_eq!(got, synonyms);

    let (_, after) = server.post("/v1/query", &query);
    assert_eq!(router_rank(&after), json!(1), "{after:#}");
    assert_eq!(
        after["insights"]["synonyms_applied"],
        json!(["zx3k → Zorblax 3000"]),
        "{after:#}"
    );
    let embedded_after =
        server.get("/v1/kb/default").1["stats"]["counters"]["passages_embedded"].clone();
    assert_eq!(embedded_before, embedded_after, "nothing re-embedded");
}

/// A planted contradiction between two articles is listed with both
/// citations after the sync, a copied paragraph as a duplicate, and both go
/// when a document goes.
#[test]
fn conflicts_between_sources_are_listed_with_both_citations() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let put = |id: &str, title: &str, url: &str, body: &str| {
        server.put_article(id, title, Some(url), body);
    };
    put(
        "password",
        "Password reset",
        "https://help.example.com/password",
        "# Password reset\n\nRequest a reset link on the sign-in page. The reset link is valid \
         for 41 minutes; after that, request a new one.\n",
    );
    put(
        "security",
        "Account security",
        "https://help.example.com/security",
        "# Account security\n\nRequest a reset link on the sign-in page. The reset link is \
         valid for 2 hours; after that, request a new one.\n",
    );
    put(
        "shipping",
        "Shipping",
        "https://help.example.com/shipping",
        "# Shipping\n\nOrders placed before 2 pm ship the same day. Delivery takes one to three \
         working days within the country.\n",
    );
    put(
        "shipping-copy",
        "Delivery times",
        "https://help.example.com/delivery",
        "# Delivery times\n\nOrders placed before 2 pm ship the same day. Delivery takes one to \
         three working days within the country.\n",
    );
    let (status, out) = server.get("/v1/kb/default/conflicts");
    assert_eq!(status, 200, "{out}");
    let conflicts = out["conflicts"].as_array().unwrap();
    let contradiction = conflicts
        .iter()
        .find(|c| c["kind"] == "contradiction")
        .unwrap_or_else(|| panic!("{out:#}"));
    let citations: Vec<&str> = contradiction["passages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["citation"].as_str().unwrap())
        .collect();
    assert!(
        citations
            .iter()
            .any(|c| c.starts_with("https://help.example.com/password"))
            && citations
                .iter()
                .any(|c| c.starts_with("https://help.example.com/security")),
        "{out:#}"
    );
    let why = contradiction["why"].as_str().unwrap();
    assert!(
        why.contains("41 minutes") && why.contains("2 hours"),
        "{why}"
    );
    let duplicate = conflicts
        .iter()
        .find(|c| c["kind"] == "duplicate")
        .unwrap_or_else(|| panic!("{out:#}"));
    let docs: Vec<&str> = duplicate["passages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["document"].as_str().unwrap())
        .collect();
    assert!(docs.contains(&"article://shipping") && docs.contains(&"article://shipping-copy"));
    assert_eq!(conflicts.len(), 2, "nothing else flagged: {out:#}");

    let (status, _) = server.call("DELETE", "/v1/kb/default/articles/security", None, None);
    assert_eq!(status, 204);
    let (_, after) = server.get("/v1/kb/default/conflicts");
    assert!(
        after["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["kind"] != "contradiction"),
        "a deleted document leaves the conflicts: {after:#}"
    );
}
