"""Ratios of quarry's ANN index against the peers, at equal recall.

    python compare.py QUARRY_ANN.json PEERS_ANN.json [--targets 0.95,0.99]

QUARRY_ANN.json is `quarry bench ann --json --export DIR`'s output,
PEERS_ANN.json is `ann.py DIR`'s, on the same vectors and questions. For each
size and recall target, each index's latency is the lowest p50 among the
ef values that reach the target; the ratio is quarry's over the best of
hnswlib and faiss (the issue's yardstick; usearch is listed too). Build time
and memory per vector are compared the same way, and quarry's exact scan
against a BLAS matrix-vector product. Prints JSON, a table on stderr.
Standard library only.
"""
import argparse
import json
import sys

YARDSTICK = ("hnswlib", "faiss")


def at_recall(rows, target):
    """The lowest p50 (and its row) among rows reaching `target`."""
    reaching = [r for r in rows if r["recall_at_10"] >= target]
    return min(reaching, key=lambda r: r["p50_us"]) if reaching else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("quarry")
    parser.add_argument("peers")
    parser.add_argument("--targets", default="0.95,0.99")
    args = parser.parse_args()
    with open(args.quarry) as f:
        quarry = json.load(f)
    with open(args.peers) as f:
        peers = json.load(f)
    targets = [float(t) for t in args.targets.split(",")]
    out = []
    for kind, n in sorted({(r["kind"], r["vectors"]) for r in quarry}):
        mine = [r for r in quarry if r["kind"] == kind and r["vectors"] == n]
        theirs = [r for r in peers if r["kind"] == kind and r["vectors"] == n]
        libraries = sorted({r["library"] for r in theirs} - {"numpy-blas-scan"})
        if not libraries:
            continue
        row = {"kind": kind, "vectors": n, "search": [], "libraries": libraries}
        for target in targets:
            q = at_recall(mine, target)
            entry = {"recall": target, "quarry_p50_us": q and q["p50_us"],
                     "quarry_ef": q and q["ef"]}
            best = None
            for lib in libraries:
                p = at_recall([r for r in theirs if r["library"] == lib], target)
                entry[f"{lib}_p50_us"] = p and p["p50_us"]
                if lib in YARDSTICK and p and (best is None or p["p50_us"] < best[1]):
                    best = (lib, p["p50_us"])
            entry["best"] = best and best[0]
            entry["ratio"] = (q["p50_us"] / best[1]) if q and best else None
            row["search"].append(entry)
        build = {lib: next(r["build_s"] for r in theirs if r["library"] == lib) for lib in libraries}
        memory = {lib: next(r["bytes_per_vector"] for r in theirs if r["library"] == lib)
                  for lib in libraries}
        best_build = min(build[lib] for lib in YARDSTICK if lib in build)
        row["build_s"] = {"quarry": mine[0]["build_s"], **build,
                          "ratio": mine[0]["build_s"] / best_build if best_build else None}
        raw = mine[0]["raw_bytes_per_vector"]
        row["bytes_per_vector"] = {"quarry": mine[0]["bytes_per_vector"], **memory, "raw": raw}
        # Raw bytes plus the graph's links: hnswlib's layout is exactly that
        # (its measured bytes per vector), the issue's yardstick.
        links = memory.get("hnswlib", raw)
        row["bytes_per_vector"]["ratio_to_raw_plus_links"] = mine[0]["bytes_per_vector"] / links
        blas = next((r for r in theirs if r["library"] == "numpy-blas-scan"), None)
        if blas:
            row["exact_scan_us"] = {"quarry": mine[0]["exact_p50_us"], "blas": blas["p50_us"],
                                    "ratio": mine[0]["exact_p50_us"] / blas["p50_us"]}
        out.append(row)
    print(table(out), file=sys.stderr)
    json.dump(out, sys.stdout, indent=1)


def table(rows):
    fmt = lambda x, spec=".0f": "—" if x is None else format(x, spec)  # noqa: E731
    lines = ["| vectors | recall@10 | quarry p50 µs (ef) | hnswlib | faiss | usearch | "
             "quarry / best of hnswlib, faiss |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        for s in r["search"]:
            lines.append(
                f"| {r['vectors']} {r['kind']} | {s['recall']} | {fmt(s['quarry_p50_us'])} "
                f"({fmt(s['quarry_ef'], 'd')}) | {fmt(s.get('hnswlib_p50_us'))} | "
                f"{fmt(s.get('faiss_p50_us'))} | {fmt(s.get('usearch_p50_us'))} | "
                f"{fmt(s['ratio'], '.2f')}x |")
    lines += ["", "| vectors | build s quarry / hnswlib / faiss (ratio) | bytes per vector quarry / "
              "hnswlib (ratio) | exact scan µs quarry / BLAS (ratio) |", "|---|---|---|---|"]
    for r in rows:
        b, m, e = r["build_s"], r["bytes_per_vector"], r.get("exact_scan_us", {})
        lines.append(
            f"| {r['vectors']} {r['kind']} | {b['quarry']:.1f} / {fmt(b.get('hnswlib'), '.1f')} / "
            f"{fmt(b.get('faiss'), '.1f')} ({fmt(b['ratio'], '.2f')}x) | {m['quarry']:.0f} / "
            f"{fmt(m.get('hnswlib'))} ({m['ratio_to_raw_plus_links']:.2f}x) | "
            f"{fmt(e.get('quarry'))} / {fmt(e.get('blas'))} ({fmt(e.get('ratio'), '.2f')}x) |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
