//! The holes a reliability pass found (#20), each against the real binary:
//! unindexable writes, crashes during a write, slow clients, cross-site
//! writes, blank tokens, bad names and queries, a full disk, job
//! bookkeeping, the embedding cache, risky content. Parser panics are in
//! formats' tests; crash loops in `faults.rs`.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;

use common::{Server, copy_dir, corpus, ingested, quarry, run_ok};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The address of a server's base URL.
fn addr(server: &Server) -> SocketAddr {
    server.base.trim_start_matches("http://").parse().unwrap()
}

/// Sends a raw HTTP/1.1 request (any Host, any header) from `from` and
/// returns the status and body.
fn raw_from(from: Option<[u8; 4]>, to: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = match from {
        None => TcpStream::connect_timeout(&to, Duration::from_secs(5)).unwrap(),
        Some(ip) => {
            let socket = socket2::Socket::new(
                socket2::Domain::IPV4,
                socket2::Type::STREAM,
                Some(socket2::Protocol::TCP),
            )
            .unwrap();
            socket.bind(&SocketAddr::from((ip, 0)).into()).unwrap();
            socket
                .connect_timeout(&to.into(), Duration::from_secs(5))
                .unwrap();
            socket.into()
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn raw(to: SocketAddr, request: &str) -> (u16, String) {
    raw_from(None, to, request)
}

/// A request with a body and `Connection: close`.
fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut r = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    r
}

fn ask_json(question: &str) -> String {
    json!({"query": question, "top_k": 3}).to_string()
}

#[test]
fn unindexable_writes_are_refused_and_the_stored_version_stays() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    server.put_article(
        "returns",
        "Returns",
        None,
        "<h1>Returns</h1><p>Parcels can be returned within thirty days of delivery.</p>",
    );
    for body in [
        "<nav><a href=\"/x\">Returns</a></nav>",
        "<p>Parcels\u{0}returned</p>",
    ] {
        let (status, out) = server.call(
            "PUT",
            "/v1/kb/default/articles/returns",
            None,
            Some(&json!({"title": "Returns", "body": body})),
        );
        assert_eq!(status, 422, "{body:?}: {out}");
        assert_eq!(out["error"]["code"], "unindexable", "{out}");
    }
    // A new article that cannot be indexed is not stored at all.
    let (status, _) = server.call(
        "PUT",
        "/v1/kb/default/articles/nav-only",
        None,
        Some(&json!({"title": "Nav", "body": "<nav><a href=\"/x\">Returns</a></nav>"})),
    );
    assert_eq!(status, 422);
    let (status, _) = server.call("GET", "/v1/kb/default/articles/nav-only", None, None);
    assert_eq!(status, 404, "a refused write is not stored");
    let answer = server.ask("How long do I have to return a parcel?");
    assert!(
        answer["passages"][0]["text"]
            .as_str()
            .unwrap()
            .contains("thirty days"),
        "{answer:#}"
    );
}

#[test]
fn an_article_stored_but_not_indexed_before_a_crash_is_indexed_at_restart() {
    let data = tempfile::tempdir().unwrap();
    // The article's record reaches the store; the process dies before its
    // chunks do: the fault layer kills it at its first fsync after the
    // record's commit (the PUT's second commit).
    let armed = data.path().join("armed");
    let lib = common::faultfs();
    let prefix = data.path().join("kb").display().to_string();
    let server = Server::start_with(
        data.path(),
        &[
            ("LD_PRELOAD", lib.to_str().unwrap()),
            ("QUARRY_FAULT", "crash:fsync:2"),
            ("QUARRY_FAULT_PREFIX", &prefix),
            ("QUARRY_FAULT_ARMED", armed.to_str().unwrap()),
        ],
    );
    std::fs::write(&armed, b"").unwrap();
    let article = json!({"title": "Warranty", "body": "# Warranty\n\nEvery kettle carries a warranty of seven years."});
    let url = format!("{}/v1/kb/default/articles/warranty", server.base);
    let put = server.agent.put(&url).send_json(&article);
    assert!(
        put.is_err(),
        "the PUT was answered: the crash came too late"
    );
    drop(server);
    std::fs::remove_file(&armed).unwrap();
    let server = Server::start(data.path());
    let (status, record) = server.call("GET", "/v1/kb/default/articles/warranty", None, None);
    assert_eq!(status, 200, "the record was committed before the crash");
    // What GET shows, search finds once the recovery job has run.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = server.ask("How long is the kettle warranty?");
        let top = answer["passages"][0]["text"].as_str().unwrap_or_default();
        if top.contains("seven years") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never indexed: {record}\n{answer:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, report) = server.call("POST", "/v1/kb/default/check", None, None);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["consistent"], true, "{report:#}");
}

#[test]
fn slow_clients_cannot_starve_the_server() {
    let data = tempfile::tempdir().unwrap();
    copy_dir(ingested(), data.path());
    let server = Server::start_with(
        data.path(),
        &[
            ("QUARRY__SERVER__HEADER_READ_TIMEOUT_SECS", "2"),
            ("QUARRY__SERVER__MAX_CONNECTIONS_PER_IP", "64"),
        ],
    );
    let to = addr(&server);
    // 300 connections that send half a request head and stall.
    let mut slow = Vec::new();
    for _ in 0..300 {
        if let Ok(mut s) = TcpStream::connect_timeout(&to, Duration::from_secs(2)) {
            let _ = s.write_all(b"POST /v1/query HTTP/1.1\r\nHost: localhost\r\nContent-Le");
            slow.push(s);
        }
    }
    // A client from another address is served at once.
    let started = Instant::now();
    let (status, body) = raw_from(
        Some([127, 0, 0, 2]),
        to,
        &request(
            "POST",
            "/v1/query",
            &[("Host", "localhost"), ("Content-Type", "application/json")],
            &ask_json("What is write-ahead logging?"),
        ),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    // The stalled ones are closed once their head is 2 s late, and the
    // address they came from is served again.
    std::thread::sleep(Duration::from_secs(4));
    let mut closed = 0;
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 512];
        // End of stream or a reset: the server closed it; a timeout: open.
        match s.read(&mut buf) {
            Ok(_) => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            Err(_) => {}
        }
    }
    assert!(closed >= 290, "{closed} of {} closed", slow.len());
    let (status, body) = raw(
        to,
        &request(
            "POST",
            "/v1/query",
            &[("Host", "localhost"), ("Content-Type", "application/json")],
            &ask_json("What is write-ahead logging?"),
        ),
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn an_open_api_refuses_other_hosts_and_cross_site_writes() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let to = addr(&server);
    let multipart = |host: &str, origin: Option<&str>| {
        let boundary = "b0undary";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"planted.md\"\r\n\r\n# Planted\n\nSend your password to evil.example.\r\n--{boundary}--\r\n"
        );
        let mut headers = vec![
            ("Host", host.to_owned()),
            (
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            ),
        ];
        if let Some(o) = origin {
            headers.push(("Origin", o.to_owned()));
        }
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        raw(
            to,
            &request("POST", "/v1/kb/default/files", &headers, &body),
        )
    };
    // DNS rebinding: a name that resolves to 127.0.0.1 but is not localhost.
    let (status, body) = multipart("rebind.attacker.example", Some("https://evil.example"));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("forbidden_host"), "{body}");
    let (status, body) = raw(
        to,
        &request(
            "GET",
            "/v1/kb/default/sources",
            &[("Host", "rebind.attacker.example:80")],
            "",
        ),
    );
    assert_eq!(status, 403, "reads too: {body}");
    // CSRF: the right host, a page of another origin.
    let host = to.to_string();
    let (status, body) = multipart(&host, Some("https://evil.example"));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("cross_origin"), "{body}");
    // The same origin (the playground), and clients that send no Origin.
    let (status, body) = multipart(&host, Some(&format!("http://{host}")));
    assert_eq!(status, 202, "{body}");
    let (status, body) = multipart(&format!("localhost:{}", to.port()), None);
    assert_eq!(status, 202, "{body}");
    let answer = server.ask("Where should I send my password?");
    assert!(answer["passages"].is_array());
}

#[test]
fn a_blank_token_is_refused_not_read_as_unset() {
    let data = tempfile::tempdir().unwrap();
    for blank in ["", "                "] {
        let out = quarry(data.path())
            .env("QUARRY_ADMIN_TOKEN", blank)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{blank:?} started an open server");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("blank"), "{err}");
    }
}

#[test]
fn dot_ids_and_invisible_queries_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let to = addr(&server);
    for id in [".", "..", "..."] {
        let (status, body) = raw(
            to,
            &request(
                "PUT",
                &format!("/v1/kb/default/articles/{id}"),
                &[("Host", "localhost"), ("Content-Type", "application/json")],
                &json!({"title": "t", "body": "# Dots\n\nA page named by dots."}).to_string(),
            ),
        );
        assert!(
            status == 400 || status == 404,
            "{id:?} accepted: {status} {body}"
        );
    }
    server.put_article("a.b", "Dotted", None, "# Dotted\n\nA dotted id is fine.");
    for q in [
        "\u{200B}\u{200C}\u{200D}\u{FEFF}",
        "\u{0}\u{0}\u{0}",
        " \u{2060} ? ",
    ] {
        let (status, body) = server.post("/v1/query", &json!({ "query": q }));
        assert_eq!(status, 400, "{q:?}: {body}");
        assert_eq!(body["error"]["code"], "empty_query", "{body}");
    }
}

#[test]
fn on_a_full_disk_reads_work_and_writes_say_disk_full() {
    let data = tempfile::tempdir().unwrap();
    copy_dir(ingested(), data.path());
    let lib = common::faultfs();
    let full = |cmd: &mut std::process::Command| {
        cmd.env("LD_PRELOAD", &lib)
            .env("QUARRY_FAULT", "enospc")
            .env("QUARRY_FAULT_PREFIX", data.path());
    };
    let mut query = quarry(data.path());
    query.args(["query", "What is write-ahead logging?", "--json"]);
    full(&mut query);
    let answer: Value = serde_json::from_str(&run_ok(&mut query)).unwrap();
    assert_eq!(common::file_of(&answer["passages"][0]), "wal.html");
    let mut status = quarry(data.path());
    status.arg("status");
    full(&mut status);
    run_ok(&mut status);

    let docs = tempfile::tempdir().unwrap();
    std::fs::write(
        docs.path().join("flux.md"),
        "# Flux\n\nThe flux capacitor needs 1.21 gigawatts.\n",
    )
    .unwrap();
    let mut ingest = quarry(data.path());
    ingest.arg("ingest").arg(docs.path());
    full(&mut ingest);
    let out = ingest.output().unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("disk full"), "{text}");
    assert!(!text.contains("corrupt"), "{text}");
    // Space again: nothing was lost, and the write goes through.
    run_ok(quarry(data.path()).arg("check"));
    run_ok(quarry(data.path()).arg("ingest").arg(docs.path()));
    let answer: Value = serde_json::from_str(&run_ok(quarry(data.path()).args([
        "query",
        "How much power does the flux capacitor need?",
        "--json",
    ])))
    .unwrap();
    assert_eq!(common::file_of(&answer["passages"][0]), "flux.md");
    run_ok(quarry(data.path()).arg("check"));
}

#[test]
fn a_killed_cli_ingest_does_not_leave_its_job_running() {
    let data = tempfile::tempdir().unwrap();
    let mut child = quarry(data.path())
        .arg("ingest")
        .arg(corpus())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let db = data.path().join("kb/default/quarry.db");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline
        && std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len()) < 200_000
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let sources: Value =
        serde_json::from_str(&run_ok(quarry(data.path()).args(["sources", "--json"]))).unwrap();
    assert_eq!(sources.as_array().unwrap().len(), 1, "{sources:#}");
    assert_ne!(sources[0]["status"], "syncing", "{sources:#}");
    // The job is queued again; a server runs it to its end, and its
    // progress never passes its total.
    let server = Server::start(data.path());
    let (_, jobs) = server.get("/v1/kb/default/jobs");
    let job = jobs["jobs"][0].clone();
    let done = server.wait_job("default", job["id"].as_u64().unwrap());
    assert_eq!(done["status"], "done", "{done:#}");
    assert!(done["done"].as_u64() <= done["total"].as_u64(), "{done:#}");
    let (_, report) = server.call("POST", "/v1/kb/default/check", None, None);
    assert_eq!(report["consistent"], true, "{report:#}");
}

#[test]
fn replaced_text_leaves_no_cached_embeddings_behind() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    for revision in 0..150 {
        server.put_article(
            "changing",
            "Changing",
            None,
            &format!("# Changing\n\nRevision {revision} of a page that changes every day."),
        );
    }
    let (_, kb) = server.get("/v1/kb/default");
    let stats = &kb["stats"];
    let (chunks, embeddings) = (
        stats["chunks"].as_u64().unwrap(),
        stats["embeddings"].as_u64().unwrap(),
    );
    assert!(
        embeddings <= chunks + 64,
        "{embeddings} cached embeddings for {chunks} chunks"
    );
}

#[test]
fn risky_content_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    for url in [
        "javascript:alert(1)",
        "data:text/html,hi",
        "/relative",
        "ftp://x.example/a",
    ] {
        let (status, body) = server.call(
            "PUT",
            "/v1/kb/default/articles/a1",
            None,
            Some(&json!({"title": "t", "body": "# T\n\nSome text.", "url": url})),
        );
        assert_eq!(status, 400, "{url}: {body}");
    }
    let to = addr(&server);
    let boundary = "b0undary";
    let part = |name: &str, text: &str| {
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n{text}\r\n"
        )
    };
    let two = format!(
        "{}{}--{boundary}--\r\n",
        part("a.md", "# A\n\nFirst."),
        part("b.md", "# B\n\nSecond.")
    );
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let headers = [
        ("Host", "localhost"),
        ("Content-Type", content_type.as_str()),
    ];
    let (status, body) = raw(to, &request("POST", "/v1/kb/default/files", &headers, &two));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("more than one"), "{body}");
    let long = format!("{}.md", "n".repeat(5000));
    let one = format!("{}--{boundary}--\r\n", part(&long, "# N\n\nLong name."));
    let (status, body) = raw(to, &request("POST", "/v1/kb/default/files", &headers, &one));
    assert_eq!(status, 400, "{body}");
    let (_, sources) = server.get("/v1/kb/default/sources");
    assert_eq!(sources["sources"].as_array().unwrap().len(), 0, "{sources}");
}
