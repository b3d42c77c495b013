"""The pipeline a user would build instead of quarry, measured against it.

The peer: HTML text (html.parser) -> an 800-character splitter with 100
characters of overlap -> the same ONNX model quarry uses, through
onnxruntime (default threads), batches of 32 -> Chroma (persistent, cosine
HNSW). Questions: the same model embeds them, Chroma returns 10 passages.

`compare` runs quarry and the peer on the same folder and questions,
interleaved, and prints one JSON report (and a table on stderr):
  - ingest: seconds and peak memory for the folder (fresh stores each
    round, rounds alternate);
  - single client: per-question latency, quarry over HTTP against the peer
    in this process (no HTTP) and the peer over HTTP;
  - throughput at 1, 8 and 64 clients: quarry's /v1/query against the peer
    behind a threaded HTTP server (Python's, as a user would start with).

    python pipeline.py compare --quarry target/release/quarry \
        --corpus corpora/sqlite-sample --model models/multilingual-e5-small \
        [--rounds 2] [--queries 200] [--requests 1000] [--clients 1,8,64]
"""
import argparse
import html.parser
import http.client
import http.server
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "


# ---------------------------------------------------------------- the peer

class _Text(html.parser.HTMLParser):
    SKIP = {"script", "style", "nav", "head"}

    def __init__(self):
        super().__init__()
        self.parts, self.skipping = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in ("p", "div", "br", "li", "h1", "h2", "h3", "h4", "tr", "pre"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def document_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        raw = f.read()
    if path.endswith((".html", ".htm")):
        parser = _Text()
        parser.feed(raw)
        raw = "".join(parser.parts)
    lines = (" ".join(line.split()) for line in raw.splitlines())
    return "\n".join(line for line in lines if line)


def split(text, size=800, overlap=100):
    """Chunks of at most `size` characters, cut at a line or a space."""
    chunks, start = [], 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            cut = max(text.rfind("\n", start, end), text.rfind(" ", start, end))
            if cut > start + size // 2:
                end = cut
        chunk = text[start:end].strip()
        if chunk:
            chunks.append(chunk)
        if end >= len(text):
            break
        start = max(end - overlap, start + 1)
    return chunks


class Embedder:
    def __init__(self, model_dir):
        import numpy as np
        import onnxruntime as ort
        from tokenizers import Tokenizer
        self.np = np
        self.tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.tokenizer.enable_truncation(512)
        self.tokenizer.enable_padding()
        self.session = ort.InferenceSession(os.path.join(model_dir, "model.onnx"),
                                            providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}

    def embed(self, texts):
        np = self.np
        encoded = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feed)[0]
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        vectors = summed / mask.sum(axis=1, keepdims=True)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def chroma(db_dir):
    import chromadb
    from chromadb.config import Settings
    client = chromadb.PersistentClient(path=db_dir, settings=Settings(anonymized_telemetry=False))
    return client.get_or_create_collection("docs", embedding_function=None,
                                           metadata={"hnsw:space": "cosine"})


def peer_ingest(docs, db_dir, model_dir):
    started = time.perf_counter()
    embedder = Embedder(model_dir)
    collection = chroma(db_dir)
    ids, texts, sources = [], [], []
    for root, _, files in os.walk(docs):
        for name in sorted(files):
            path = os.path.join(root, name)
            for i, chunk in enumerate(split(document_text(path))):
                ids.append(f"{os.path.relpath(path, docs)}#{i}")
                texts.append(chunk)
                sources.append({"source": os.path.relpath(path, docs)})
    for start in range(0, len(texts), 32):
        batch = texts[start:start + 32]
        vectors = embedder.embed([PASSAGE_PREFIX + t for t in batch])
        collection.add(ids=ids[start:start + 32], embeddings=vectors.tolist(),
                       documents=batch, metadatas=sources[start:start + 32])
    return {"chunks": len(texts), "seconds": time.perf_counter() - started}


class Peer:
    def __init__(self, db_dir, model_dir):
        self.embedder = Embedder(model_dir)
        self.collection = chroma(db_dir)

    def query(self, question):
        vector = self.embedder.embed([QUERY_PREFIX + question])[0]
        found = self.collection.query(query_embeddings=[vector.tolist()], n_results=10)
        return [{"id": i, "text": t, "distance": d}
                for i, t, d in zip(found["ids"][0], found["documents"][0], found["distances"][0])]


def peer_serve(db_dir, model_dir, port):
    peer = Peer(db_dir, model_dir)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle's algorithm the
        # second waits for the client's delayed ACK (40 ms a request).
        disable_nagle_algorithm = True

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            out = json.dumps({"passages": peer.query(body["query"])}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


# ------------------------------------------------------------- measurement

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, path, body, seconds=600):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"no answer on port {port} within {seconds} s")


def http_load(port, path, questions, clients, requests, limit_s=120):
    """`requests` POSTs from `clients` threads on kept-alive connections."""
    lock, latencies, errors = threading.Lock(), [], [0]
    counter = iter(range(requests))
    stop = time.time() + limit_s

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.time() < stop:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            body = json.dumps({"query": questions[i % len(questions)]})
            t = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                ok = False
            with lock:
                if ok:
                    latencies.append((time.perf_counter() - t) * 1000)
                else:
                    errors[0] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return summary(latencies, wall, errors[0])


def summary(latencies, wall, errors=0):
    ordered = sorted(latencies) or [float("nan")]
    pick = lambda p: ordered[min(len(ordered) - 1, int(p * len(ordered)))]  # noqa: E731
    return {"requests": len(latencies), "errors": errors, "req_per_s": len(latencies) / wall,
            "p50_ms": statistics.median(ordered), "p99_ms": pick(0.99)}


def run_measured(cmd, env=None):
    """Runs cmd; its seconds and peak RSS (MB) from /proc via wait4."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, out


def load_questions(corpus):
    with open(os.path.join(corpus, "queries.jsonl")) as f:
        return [row.get("query") or row.get("text") for row in map(json.loads, f)]


def compare(args):
    questions = load_questions(args.corpus)
    docs = os.path.join(args.corpus, "docs")
    work = tempfile.mkdtemp(prefix="quarry-peers-")
    env = dict(os.environ, QUARRY__QUERY__CACHE_SIZE="0", QUARRY_LOG_FORMAT="json", RUST_LOG="warn")
    report = {"corpus": args.corpus, "model": args.model, "questions": len(questions)}
    procs = []
    try:
        # Ingest, interleaved rounds on fresh stores.
        quarry_runs, peer_runs = [], []
        for r in range(args.rounds):
            qdir = os.path.join(work, f"quarry-{r}")
            s, rss, _ = run_measured([args.quarry, "ingest", "--data-dir", qdir, docs, "--json"], env)
            quarry_runs.append((s, rss))
            pdir = os.path.join(work, f"chroma-{r}")
            s, rss, out = run_measured([sys.executable, __file__, "ingest", docs, pdir, args.model])
            peer_runs.append((s, rss, json.loads(out)["chunks"]))
            print(f"peers: ingest round {r + 1}: quarry {quarry_runs[-1][0]:.1f} s, "
                  f"peer {peer_runs[-1][0]:.1f} s", file=sys.stderr)
        med = lambda xs: statistics.median(xs)  # noqa: E731
        report["ingest"] = {
            "quarry_s": med([s for s, _ in quarry_runs]),
            "quarry_peak_mb": med([m for _, m in quarry_runs]),
            "peer_s": med([s for s, _, _ in peer_runs]),
            "peer_peak_mb": med([m for _, m, _ in peer_runs]),
            "peer_chunks": peer_runs[-1][2],
        }
        report["ingest"]["speed_ratio"] = report["ingest"]["peer_s"] / report["ingest"]["quarry_s"]
        report["ingest"]["memory_ratio"] = report["ingest"]["peer_peak_mb"] / report["ingest"]["quarry_peak_mb"]

        # Servers on the last round's stores.
        qport, pport = free_port(), free_port()
        procs.append(subprocess.Popen(
            [args.quarry, "serve", "--data-dir", os.path.join(work, f"quarry-{args.rounds - 1}"),
             "--addr", f"127.0.0.1:{qport}"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        served = os.path.join(work, "chroma-served")
        shutil.copytree(os.path.join(work, f"chroma-{args.rounds - 1}"), served)
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "serve", served, args.model, str(pport)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(qport, "/v1/query", {"query": questions[0]})
        wait_for(pport, "/query", {"query": questions[0]})

        # Single client: quarry over HTTP, the peer in this process and over
        # HTTP, in alternating blocks.
        peer = Peer(os.path.join(work, f"chroma-{args.rounds - 1}"), args.model)
        for q in questions[:5]:
            peer.query(q)
        lat = {"quarry_http": [], "peer_in_process": [], "peer_http": []}
        blocks = 4
        per = max(1, args.queries // blocks)
        for b in range(blocks):
            qs = [questions[(b * per + i) % len(questions)] for i in range(per)]
            lat["quarry_http"].append(http_load(qport, "/v1/query", qs, 1, per))
            times = []
            for q in qs:
                t = time.perf_counter()
                peer.query(q)
                times.append((time.perf_counter() - t) * 1000)
            lat["peer_in_process"].append({"p50_ms": statistics.median(times),
                                           "p99_ms": sorted(times)[int(0.99 * (len(times) - 1))]})
            lat["peer_http"].append(http_load(pport, "/query", qs, 1, per))
        del peer
        single = {k: {"p50_ms": med([r["p50_ms"] for r in v]), "p99_ms": med([r["p99_ms"] for r in v])}
                  for k, v in lat.items()}
        single["p50_ratio_peer_in_process_over_quarry"] = (
            single["peer_in_process"]["p50_ms"] / single["quarry_http"]["p50_ms"])
        single["p50_ratio_peer_http_over_quarry"] = (
            single["peer_http"]["p50_ms"] / single["quarry_http"]["p50_ms"])
        report["single_client"] = single

        # Throughput at each concurrency, quarry and the peer alternating.
        rows = []
        for clients in args.clients:
            qrun = http_load(qport, "/v1/query", questions, clients, args.requests)
            prun = http_load(pport, "/query", questions, clients, args.requests)
            rows.append({"clients": clients, "quarry": qrun, "peer": prun,
                         "throughput_ratio": qrun["req_per_s"] / max(prun["req_per_s"], 1e-9)})
            print(f"peers: {clients} clients: quarry {qrun['req_per_s']:.0f} req/s, "
                  f"peer {prun['req_per_s']:.0f} req/s", file=sys.stderr)
        report["throughput"] = rows
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)
    print(table(report), file=sys.stderr)
    json.dump(report, sys.stdout, indent=1)


def table(report):
    i, s = report["ingest"], report["single_client"]
    lines = [
        "| measure | quarry | peer (onnxruntime + Chroma) | ratio |",
        "|---|---|---|---|",
        f"| ingest s (peak MB) | {i['quarry_s']:.1f} ({i['quarry_peak_mb']:.0f}) | "
        f"{i['peer_s']:.1f} ({i['peer_peak_mb']:.0f}) | {i['speed_ratio']:.2f}x faster, "
        f"{i['memory_ratio']:.2f}x less memory |",
        f"| one client p50 ms | {s['quarry_http']['p50_ms']:.1f} (HTTP) | "
        f"{s['peer_in_process']['p50_ms']:.1f} in process, {s['peer_http']['p50_ms']:.1f} HTTP | "
        f"peer/quarry {s['p50_ratio_peer_in_process_over_quarry']:.2f} / "
        f"{s['p50_ratio_peer_http_over_quarry']:.2f} |",
    ]
    for r in report["throughput"]:
        lines.append(f"| {r['clients']} clients req/s | {r['quarry']['req_per_s']:.0f} | "
                     f"{r['peer']['req_per_s']:.0f} | {r['throughput_ratio']:.2f}x |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ingest")
    p.add_argument("docs")
    p.add_argument("db")
    p.add_argument("model")
    p = sub.add_parser("serve")
    p.add_argument("db")
    p.add_argument("model")
    p.add_argument("port", type=int)
    p = sub.add_parser("compare")
    p.add_argument("--quarry", required=True)
    p.add_argument("--corpus", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--clients", default="1,8,64")
    args = parser.parse_args()
    if args.command == "ingest":
        print(json.dumps(peer_ingest(args.docs, args.db, args.model)))
    elif args.command == "serve":
        peer_serve(args.db, args.model, args.port)
    else:
        args.clients = [int(c) for c in args.clients.split(",")]
        compare(args)


if __name__ == "__main__":
    main()
