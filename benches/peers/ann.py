"""ANN peers on quarry's own vectors: hnswlib, faiss (HNSW, and a flat
BLAS scan), usearch.

Reads what `quarry bench ann --export DIR` wrote (KIND.f32, KIND-queries.f32,
KIND.json) and measures each library as quarry's sweep measures its own
index: M=16, ef_construction 200, build on every core, then one query at a
time on one thread; recall@10 counts a hit at least as similar as the
exact 10th best (as ann-benchmarks and quarry's sweep do). Prints JSON rows.

    python ann.py DIR [--ef 16,32,64,128,256] [--m 16] [--ef-construction 200]
"""
import argparse
import json
import os
import sys
import time

# One thread per query for every library (set before numpy and faiss load).
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def percentile(times, p):
    return float(np.percentile(np.asarray(times), p))


def exact_floor(base, queries):
    """Each query's exact 10th-best similarity, less 1e-5 (ties count)."""
    floors = []
    for start in range(0, len(queries), 64):
        sims = queries[start:start + 64] @ base.T
        k = min(10, base.shape[0])
        floors.extend(np.partition(-sims, k - 1, axis=1)[:, k - 1] * -1 - 1e-5)
    return np.asarray(floors)


def score(base, queries, floors, search):
    """recall@10, p50 µs, p99 µs of `search(query) -> ids` one at a time."""
    times, found = [], 0
    for q, floor in zip(queries, floors):
        t = time.perf_counter()
        ids = search(q)
        times.append((time.perf_counter() - t) * 1e6)
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[ids >= 0]
        found += int(np.count_nonzero(base[ids] @ q >= floor))
    total = len(queries) * min(10, base.shape[0])
    return found / max(total, 1), percentile(times, 50), percentile(times, 99)


def peers(args):
    import faiss
    import hnswlib
    from usearch.index import Index

    threads = os.cpu_count() or 1

    def build_hnswlib(base):
        index = hnswlib.Index(space="ip", dim=base.shape[1])
        index.init_index(max_elements=base.shape[0], M=args.m, ef_construction=args.ef_construction)
        index.add_items(base, np.arange(base.shape[0]), num_threads=threads)
        index.set_num_threads(1)

        def search(ef):
            index.set_ef(max(ef, 10))
            return lambda q: index.knn_query(q, k=10)[0][0]
        return index, search

    def build_faiss(base):
        faiss.omp_set_num_threads(threads)
        index = faiss.IndexHNSWFlat(base.shape[1], args.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = args.ef_construction
        index.add(base)
        faiss.omp_set_num_threads(1)

        def search(ef):
            index.hnsw.efSearch = max(ef, 10)
            return lambda q: index.search(q.reshape(1, -1), 10)[1][0]
        return index, search

    def build_usearch(base):
        index = Index(ndim=base.shape[1], metric="ip", dtype="f32", connectivity=args.m,
                      expansion_add=args.ef_construction)
        index.add(np.arange(base.shape[0]), base, threads=threads)

        def search(ef):
            index.expansion_search = max(ef, 10)
            return lambda q: index.search(q, 10, threads=1).keys
        return index, search

    return {"hnswlib": build_hnswlib, "faiss": build_faiss, "usearch": build_usearch}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--ef", default="16,32,64,128,256")
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=200)
    args = parser.parse_args()
    efs = [int(e) for e in args.ef.split(",")]
    rows = []
    builders = peers(args)
    for kind in ("text", "synthetic"):
        shape_path = os.path.join(args.dir, f"{kind}.json")
        if not os.path.exists(shape_path):
            continue
        with open(shape_path) as f:
            shape = json.load(f)
        dims = shape["dims"]
        all_base = np.fromfile(os.path.join(args.dir, f"{kind}.f32"), dtype="<f4").reshape(-1, dims)
        queries = np.fromfile(os.path.join(args.dir, f"{kind}-queries.f32"), dtype="<f4").reshape(-1, dims)
        for n in shape["sizes"]:
            base = np.ascontiguousarray(all_base[:n])
            floors = exact_floor(base, queries)

            def flat(q, base=base):
                sims = base @ q
                return np.argpartition(-sims, min(9, len(sims) - 1))[:10]
            recall, p50, p99 = score(base, queries, floors, flat)
            rows.append({"library": "numpy-blas-scan", "kind": kind, "vectors": n, "ef": 0,
                         "recall_at_10": recall, "p50_us": p50, "p99_us": p99,
                         "build_s": 0.0, "bytes_per_vector": dims * 4.0})
            for name, build in builders.items():
                before = rss_bytes()
                t = time.perf_counter()
                index, search = build(base)
                build_s = time.perf_counter() - t
                added = max(rss_bytes() - before, 0)
                for ef in efs:
                    recall, p50, p99 = score(base, queries, floors, search(ef))
                    rows.append({"library": name, "kind": kind, "vectors": n, "ef": ef,
                                 "recall_at_10": recall, "p50_us": p50, "p99_us": p99,
                                 "build_s": build_s, "bytes_per_vector": added / n})
                    print(f"peers: {name} {n} {kind}, ef {ef}: recall@10 {recall:.3f}, "
                          f"p50 {p50:.0f} µs, build {build_s:.1f} s", file=sys.stderr)
                del index, search
    json.dump(rows, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
