//! The ANN sweep (`quarry bench ann`): HNSW recall@10 against exact search,
//! search latency at several `ef`, build time and memory per vector, at
//! several sizes.
//!
//! Vectors are real text embeddings where there are enough: the chunks of
//! knowledge bases already built (e.g. by `quarry bench eval --data DIR`),
//! with the dev sets' questions embedded as queries. Sizes beyond them use
//! clustered synthetic unit vectors (Gaussian clusters around random
//! centres, a spread chosen so nearest-neighbour similarities resemble text
//! embeddings'), labelled as such in the report.

use crate::{Error, Latency, Result};
use quarry_index::vector::{ExactIndex, HnswIndex, HnswOptions, Point, VectorIndex};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// One size × ef measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnRow {
    pub vectors: usize,
    /// "text" (real embeddings) or "synthetic".
    pub kind: String,
    pub ef: usize,
    /// Mean share of the exact top 10 that HNSW returned.
    pub recall_at_10: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// The exact scan's latency at this size, for comparison.
    pub exact_p50_us: f64,
    pub build_s: f64,
    /// Resident memory the built graph added, per vector (the vector's own
    /// 4 bytes × dimensions included).
    pub bytes_per_vector: f64,
    pub raw_bytes_per_vector: usize,
    /// Points no graph search can reach, scanned exactly beside the graph.
    pub orphans: usize,
}

/// Deterministic pseudo-random numbers (SplitMix64), so every run uses the
/// same synthetic vectors.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f32 {
        let u = self.uniform().max(1e-7);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
}

/// `n` unit vectors of `dims` dimensions, clustered two levels deep like
/// chunks of documents on topics: `clusters` topic centres, each with its own
/// 16-dimensional subspace in which its 20 document centres and their points
/// spread (text embeddings have a low intrinsic dimension; uniform noise in
/// all 384 would be a much harder, unrealistic case), plus a little noise in
/// every dimension. Nearest neighbours sit at cosine ≈ 0.8–0.95.
pub fn synthetic(n: usize, dims: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
    const SUBSPACE: usize = 16;
    let mut rng = Rng(seed);
    let unit = |rng: &mut Rng| {
        let mut v: Vec<f32> = (0..dims).map(|_| rng.normal()).collect();
        normalise(&mut v);
        v
    };
    // (topic centre, its subspace basis)
    let topics: Vec<(Vec<f32>, Vec<Vec<f32>>)> = (0..clusters.max(1))
        .map(|_| {
            (
                unit(&mut rng),
                (0..SUBSPACE).map(|_| unit(&mut rng)).collect(),
            )
        })
        .collect();
    let within = |rng: &mut Rng, centre: &[f32], basis: &[Vec<f32>], spread: f32, noise: f32| {
        let mut v = centre.to_vec();
        for b in basis {
            let g = spread * rng.normal() / (SUBSPACE as f32).sqrt();
            v.iter_mut().zip(b).for_each(|(x, y)| *x += g * y);
        }
        let scale = noise / (dims as f32).sqrt();
        v.iter_mut().for_each(|x| *x += scale * rng.normal());
        normalise(&mut v);
        v
    };
    let documents: Vec<(usize, Vec<f32>)> = topics
        .iter()
        .enumerate()
        .flat_map(|(t, (centre, basis))| {
            (0..20)
                .map(|_| (t, within(&mut rng, centre, basis, 0.8, 0.0)))
                .collect::<Vec<_>>()
        })
        .collect();
    (0..n)
        .map(|_| {
            let (t, doc) = &documents[(rng.next() % documents.len() as u64) as usize];
            within(&mut rng, doc, &topics[*t].1, 0.4, 0.15)
        })
        .collect()
}

/// Resident set size of this process in bytes (Linux; 0 elsewhere).
/// Writes `base` and `queries` for the peer libraries: `KIND.f32` and
/// `KIND-queries.f32` (rows of little-endian f32) and `KIND.json` (their
/// shapes and the sizes measured), in `dir`.
pub fn export(
    dir: &std::path::Path,
    kind: &str,
    base: &[Vec<f32>],
    sizes: &[usize],
    queries: &[Vec<f32>],
) -> Result<()> {
    let io = |e: std::io::Error| Error::Setup(format!("ann: writing {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let rows = |vectors: &[Vec<f32>]| -> Vec<u8> {
        vectors
            .iter()
            .flat_map(|v| v.iter().flat_map(|x| x.to_le_bytes()))
            .collect()
    };
    let n = sizes.iter().copied().max().unwrap_or(0).min(base.len());
    std::fs::write(dir.join(format!("{kind}.f32")), rows(&base[..n])).map_err(io)?;
    std::fs::write(dir.join(format!("{kind}-queries.f32")), rows(queries)).map_err(io)?;
    let shape = serde_json::json!({
        "kind": kind,
        "dims": base.first().map_or(0, Vec::len),
        "vectors": n,
        "queries": queries.len(),
        "sizes": sizes,
    });
    std::fs::write(dir.join(format!("{kind}.json")), shape.to_string()).map_err(io)?;
    Ok(())
}

pub fn rss_bytes() -> u64 {
    crate::load::proc_memory(std::process::id()).0
}

/// Measures HNSW against exact search on `base` (the first `n` of which
/// are indexed for each `n` in `sizes`), querying with `queries`.
pub fn sweep(
    base: &[Vec<f32>],
    kind: &str,
    sizes: &[usize],
    queries: &[Vec<f32>],
    efs: &[usize],
    hnsw: &HnswOptions,
) -> Result<Vec<AnnRow>> {
    let dims = base.first().map_or(0, Vec::len);
    if queries.is_empty() || dims == 0 {
        return Err(Error::Setup("ann: no vectors or no queries".into()));
    }
    let accept = |_: u64| true;
    let mut rows = Vec::new();
    for &n in sizes {
        let n = n.min(base.len());
        let points: Vec<Point> = base[..n]
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u64 + 1, v.clone()))
            .collect();
        let exact = ExactIndex::default();
        exact.insert(&points)?;
        // The exact 10th-best similarity per query: a hit at least this
        // similar counts as found (duplicates of a chunk tie, and either
        // one is a right answer), as in ann-benchmarks.
        let mut truth = Vec::with_capacity(queries.len());
        let mut exact_times = Vec::with_capacity(queries.len());
        for q in queries {
            let t = Instant::now();
            let hits = exact.search(q, 10, 0, &accept)?;
            exact_times.push(t.elapsed().as_secs_f64() * 1e6);
            truth.push(hits.last().map_or(f32::MIN, |h| h.1) - 1e-5);
        }
        let before = rss_bytes();
        let t = Instant::now();
        // One insert, as the knowledge base builds its graph (compaction):
        // one orphan walk at the end.
        let graph = HnswIndex::new(hnsw, n);
        graph.insert(&points)?;
        let build_s = t.elapsed().as_secs_f64();
        // The points were cloned into the graph: what the graph holds is
        // its own copy plus links.
        let added = rss_bytes().saturating_sub(before) as f64;
        drop(points);
        for &ef in efs {
            let mut times = Vec::with_capacity(queries.len());
            let mut found = 0usize;
            for (q, want) in queries.iter().zip(&truth) {
                let t = Instant::now();
                let hits = graph.search(q, 10, ef, &accept)?;
                times.push(t.elapsed().as_secs_f64() * 1e6);
                found += hits.iter().filter(|h| h.1 >= *want).count();
            }
            let total = queries.len() * 10.min(n);
            let l = Latency::of(&times);
            let row = AnnRow {
                vectors: n,
                kind: kind.to_owned(),
                ef,
                recall_at_10: found as f64 / total.max(1) as f64,
                p50_us: l.p50_ms,
                p99_us: l.p99_ms,
                exact_p50_us: Latency::of(&exact_times).p50_ms,
                build_s,
                bytes_per_vector: added / n.max(1) as f64,
                raw_bytes_per_vector: dims * 4,
                orphans: graph.orphans(),
            };
            // Long runs (1M vectors: about an hour here) report as they go.
            eprintln!(
                "ann: {} {kind} vectors, ef {ef}: recall@10 {:.3}, p50 {:.0} µs, build {:.1} s",
                n, row.recall_at_10, row.p50_us, row.build_s
            );
            rows.push(row);
        }
    }
    Ok(rows)
}

/// The rows as a Markdown table.
pub fn table(rows: &[AnnRow]) -> String {
    let mut out = vec![
        "| vectors | kind | ef | recall@10 | p50 µs | p99 µs | exact p50 µs | build s | bytes/vector (raw) | orphans |".to_string(),
        "|---|---|---|---|---|---|---|---|---|---|".to_string(),
    ];
    for r in rows {
        out.push(format!(
            "| {} | {} | {} | {:.3} | {:.0} | {:.0} | {:.0} | {:.1} | {:.0} ({}) | {} |",
            r.vectors,
            r.kind,
            r.ef,
            r.recall_at_10,
            r.p50_us,
            r.p99_us,
            r.exact_p50_us,
            r.build_s,
            r.bytes_per_vector,
            r.raw_bytes_per_vector,
            r.orphans
        ));
    }
    out.join("\n") + "\n"
}

/// Recall against p50 latency, one line per size, as an SVG document.
pub fn svg(rows: &[AnnRow]) -> String {
    let (w, h, left, bottom, top, right) = (720.0, 440.0, 70.0, 60.0, 30.0, 170.0);
    let max_us = rows.iter().map(|r| r.p50_us).fold(1.0f64, f64::max) * 1.1;
    let min_recall = (rows.iter().map(|r| r.recall_at_10).fold(1.0f64, f64::min) - 0.02).max(0.0);
    let x = |us: f64| left + (us / max_us) * (w - left - right);
    let y =
        |r: f64| top + (1.0 - (r - min_recall) / (1.0 - min_recall).max(1e-9)) * (h - top - bottom);
    let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">HNSW recall@10 vs. search latency (ef sweep, 1 thread)</text>\n",
        (w - right + left) / 2.0
    );
    // Axes, ticks and labels.
    s += &format!(
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>\n",
        h - bottom,
        w - right,
        h - bottom,
        h - bottom
    );
    for i in 0..=5 {
        let us = max_us * f64::from(i) / 5.0;
        let r = min_recall + (1.0 - min_recall) * f64::from(i) / 5.0;
        s += &format!(
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{:.0}</text>\n<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{:.3}</text>\n<line x1=\"{left}\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\n",
            x(us),
            h - bottom + 18.0,
            us,
            left - 6.0,
            y(r) + 4.0,
            r,
            y(r),
            w - right,
            y(r)
        );
    }
    s += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">p50 latency (µs)</text>\n<text x=\"18\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {})\">recall@10 vs exact</text>\n",
        (w - right + left) / 2.0,
        h - 15.0,
        (h - bottom + top) / 2.0,
        (h - bottom + top) / 2.0
    );
    let mut series: Vec<(usize, String)> =
        rows.iter().map(|r| (r.vectors, r.kind.clone())).collect();
    series.dedup();
    for (i, (n, kind)) in series.iter().enumerate() {
        let c = colours[i % colours.len()];
        let pts: Vec<&AnnRow> = rows
            .iter()
            .filter(|r| r.vectors == *n && &r.kind == kind)
            .collect();
        let line: Vec<String> = pts
            .iter()
            .map(|r| format!("{:.1},{:.1}", x(r.p50_us), y(r.recall_at_10)))
            .collect();
        s += &format!(
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>\n",
            line.join(" ")
        );
        for r in &pts {
            s += &format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{c}\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">ef {}</text>\n",
                x(r.p50_us),
                y(r.recall_at_10),
                x(r.p50_us) + 5.0,
                y(r.recall_at_10) - 5.0,
                r.ef
            );
        }
        s += &format!(
            "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{c}\"/><text x=\"{}\" y=\"{}\">{} {}</text>\n",
            w - right + 15.0,
            top + 20.0 * i as f64,
            w - right + 32.0,
            top + 10.0 + 20.0 * i as f64,
            n,
            kind
        );
    }
    s + "</svg>\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_sweep_measures_recall_against_exact_search() {
        let mut base = synthetic(3_050, 32, 30, 7);
        let queries = base.split_off(3_000);
        let rows = sweep(
            &base,
            "synthetic",
            &[3_000],
            &queries,
            &[10, 200],
            &HnswOptions::default(),
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert!(
            rows.iter()
                .all(|r| r.recall_at_10 > 0.0 && r.recall_at_10 <= 1.0)
        );
        assert!(
            rows[1].recall_at_10 >= rows[0].recall_at_10,
            "wider search, no worse recall"
        );
        assert!(rows[1].recall_at_10 > 0.95, "{rows:?}");
        let svg = svg(&rows);
        assert!(
            svg.starts_with("<svg")
                && svg.contains("polyline")
                && svg.trim_end().ends_with("</svg>")
        );
        assert!(table(&rows).lines().count() == 4);
    }
}
