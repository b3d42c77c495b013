//! Approximate nearest-neighbour search over unit vectors.
//!
//! [`VectorIndex`] is the extension point. [`HnswIndex`] (hnsw_rs) is the real
//! one; [`ExactIndex`] scans every vector and is the oracle HNSW recall is
//! measured against (and a fine choice below a few thousand chunks).
//!
//! hnsw_rs cannot delete. Ids are never reused (the store hands out a new id
//! per chunk version), removed ids are filtered out at search time by the
//! caller's `accept` predicate, and the knowledge base rebuilds the graph when
//! tombstones pile up.

use crate::{Error, Result};
use hnsw_rs::api::AnnT;
use hnsw_rs::hnswio::HnswIo;
use hnsw_rs::prelude::{Distance, Hnsw};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// A point: its id and its unit vector.
pub type Point = (u64, Vec<f32>);

/// Nearest-neighbour search over unit vectors, by cosine similarity.
pub trait VectorIndex: Send + Sync {
    /// Adds points; ids must be new.
    fn insert(&self, points: &[Point]) -> Result<()>;
    /// Up to `k` accepted ids with their cosine similarity, best first. `ef`
    /// is the search breadth (ignored by exact search).
    fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: &dyn Fn(u64) -> bool,
    ) -> Result<Vec<(u64, f32)>>;
    /// Points inserted, removed ones included.
    fn len(&self) -> usize;
    /// Ids of every point inserted, removed ones included (`quarry check`).
    fn ids(&self) -> Vec<u64>;
    /// Whether searches scan every point (results are exact).
    fn is_exact(&self) -> bool {
        false
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Persists the index under `root` as complete up to id `watermark`.
    /// Indexes rebuilt from the store on open keep the default no-op.
    fn save(&self, _root: &Path, _watermark: u64, _model_id: &str) -> Result<()> {
        Ok(())
    }
}

/// `1 − cos` for unit vectors, clamped to `[0, 2]`. hnsw_rs' own `DistDot`
/// asserts on rounding error (a query equal to a stored vector), this does not.
#[derive(Debug, Clone, Copy, Default)]
pub struct CosineDistance;

impl Distance<f32> for CosineDistance {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - crate::embed::dot(a, b)).clamp(0.0, 2.0)
    }
}

/// HNSW graph parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HnswOptions {
    /// Links per node (M).
    pub m: usize,
    pub ef_construction: usize,
    /// Default search breadth. 256: the smallest of 16…256 with recall@10
    /// ≥ 0.95 against exact search for the dev sets' questions over their
    /// 23k chunk vectors (0.96 at 1.2 ms; 64 gave 0.82), README.
    pub ef_search: usize,
}

impl Default for HnswOptions {
    fn default() -> Self {
        Self {
            m: 16,
            ef_construction: 200,
            ef_search: 256,
        }
    }
}

impl HnswOptions {
    pub fn validate(&self) -> Result<()> {
        if !(2..=255).contains(&self.m) || self.ef_construction == 0 || self.ef_search == 0 {
            return Err(Error::InvalidInput(
                "index.hnsw: m must be 2..=255 and ef_construction, ef_search at least 1".into(),
            ));
        }
        Ok(())
    }
}

const MAX_LAYERS: usize = 16;
/// Points with at most max(2, m / this) incoming links get a self-search in
/// the orphan walk.
const WEAKLY_LINKED_DIVISOR: usize = 2;
const BASENAME: &str = "vectors";

/// hnsw_rs behind [`VectorIndex`], with crash-safe snapshots.
///
/// hnsw_rs links a new point back from its neighbours and, when a
/// neighbour's list is full, drops the farthest entry. A point far from
/// everything (the one page about a unique topic) can so lose every incoming
/// link and become unreachable: no `ef` finds it. Such orphans are tracked
/// and scanned exactly beside the graph, so recall never silently loses a
/// document. They are found cheaply when inserted (a self-search of each new
/// point) and completely by a reachability walk over the graph after large
/// inserts, on load, and before a snapshot that follows small inserts.
pub struct HnswIndex {
    graph: Hnsw<'static, f32, CosineDistance>,
    orphans: RwLock<Vec<Point>>,
    ef_check: usize,
    /// Small inserts happened since the last reachability walk: they may
    /// have cost older points their last incoming link.
    unwalked: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("points", &self.len())
            .finish()
    }
}

impl HnswIndex {
    pub fn new(options: &HnswOptions, capacity: usize) -> Self {
        let mut graph = Hnsw::new(
            options.m,
            capacity.max(1024),
            MAX_LAYERS,
            options.ef_construction,
            CosineDistance,
        );
        // hnsw_rs can fill neighbour lists with the candidates its heuristic
        // pruned. Measured on 10k real text vectors (`quarry bench ann
        // --real`), that wrecks the graph: full lists make every later
        // back-link evict one, 14% of the points lost all incoming links,
        // and recall@10 at ef 64 fell from 0.97 to 0.67. Off.
        graph.set_keeping_pruned(false);
        Self::from_graph(graph, options.ef_search)
    }

    fn from_graph(graph: Hnsw<'static, f32, CosineDistance>, ef_check: usize) -> Self {
        Self {
            graph,
            orphans: RwLock::new(Vec::new()),
            ef_check: ef_check.max(16),
            unwalked: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Points the graph search cannot reach (see the type's documentation).
    pub fn orphans(&self) -> usize {
        self.orphans.read().map_or(0, |o| o.len())
    }

    /// Recomputes the orphans by a walk from the top layer down through
    /// every layer's links: O(points × M).
    pub fn find_orphans(&self) {
        let indexation = self.graph.get_point_indexation();
        let mut links: std::collections::HashMap<usize, Vec<usize>> =
            std::collections::HashMap::with_capacity(self.graph.get_nb_point());
        let mut incoming: std::collections::HashMap<usize, usize> =
            std::collections::HashMap::with_capacity(self.graph.get_nb_point());
        let mut top: Vec<usize> = Vec::new();
        let mut top_level = 0u8;
        for point in indexation {
            let id = point.get_origin_id();
            let level = point.get_point_id().0;
            if level > top_level {
                top_level = level;
                top.clear();
            }
            if level == top_level {
                top.push(id);
            }
            let out: Vec<usize> = point
                .get_neighborhood_id()
                .into_iter()
                .flatten()
                .map(|n| n.d_id)
                .collect();
            for &n in &out {
                *incoming.entry(n).or_default() += 1;
            }
            links.insert(id, out);
        }
        let mut seen: std::collections::HashSet<usize> = top.iter().copied().collect();
        let mut stack = top;
        while let Some(id) = stack.pop() {
            for &next in links.get(&id).map_or(&[][..], Vec::as_slice) {
                if seen.insert(next) {
                    stack.push(next);
                }
            }
        }
        // Reachable is not enough: a point with only a link or two into it
        // (far from everything) may never be on a greedy search's path.
        // Those are checked the way a query would find them, on every core
        // (a graph of 1M points has tens of thousands of them).
        let weak = (usize::from(self.graph.get_max_nb_connection()) / WEAKLY_LINKED_DIVISOR).max(2);
        let points: Vec<_> = indexation.into_iter().collect();
        let orphans: Vec<Point> = points
            .into_par_iter()
            .filter(|p| {
                let id = p.get_origin_id();
                !seen.contains(&id)
                    || (incoming.get(&id).copied().unwrap_or(0) <= weak
                        && !self.finds_itself(id as u64, p.get_v()))
            })
            .map(|p| (p.get_origin_id() as u64, p.get_v().to_vec()))
            .collect();
        if !orphans.is_empty() {
            tracing::debug!(
                orphans = orphans.len(),
                "graph points only reachable by scan"
            );
        }
        if let Ok(mut slot) = self.orphans.write() {
            *slot = orphans;
        }
        self.unwalked
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a search for `v` finds point `id` among its closest.
    fn finds_itself(&self, id: u64, v: &[f32]) -> bool {
        self.graph
            .search_filter(v, 8, self.ef_check, None)
            .iter()
            .any(|n| n.d_id as u64 == id)
    }

    /// Adds the new points a search for their own vector does not find.
    fn check_new_points(&self, points: &[Point]) {
        let lost: Vec<Point> = points
            .par_iter()
            .filter(|(id, v)| !self.finds_itself(*id, v))
            .cloned()
            .collect();
        if !lost.is_empty()
            && let Ok(mut orphans) = self.orphans.write()
        {
            orphans.extend(lost);
        }
    }
}

impl VectorIndex for HnswIndex {
    fn ids(&self) -> Vec<u64> {
        self.graph
            .get_point_indexation()
            .into_iter()
            .map(|p| p.get_origin_id() as u64)
            .collect()
    }

    fn insert(&self, points: &[Point]) -> Result<()> {
        if points.len() >= 64 {
            let refs: Vec<(&[f32], usize)> = points
                .iter()
                .map(|(id, v)| (v.as_slice(), *id as usize))
                .collect();
            self.graph.parallel_insert_slice(&refs);
        } else {
            for (id, v) in points {
                self.graph.insert_slice((v, *id as usize));
            }
        }
        // A walk costs O(points); a self-search per new point is cheaper
        // for small additions to a large graph.
        if points.len() * 64 >= self.graph.get_nb_point() {
            self.find_orphans();
        } else {
            self.check_new_points(points);
            self.unwalked
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: &dyn Fn(u64) -> bool,
    ) -> Result<Vec<(u64, f32)>> {
        if k == 0 {
            return Ok(Vec::new());
        }
        // Filtered after the search, not inside it: hnsw_rs' filtered search
        // skips its early exit and walks on until the candidate heap is
        // empty (slower than an exact scan on 10k text vectors, and no
        // better). Removed points are few (the knowledge base rebuilds the
        // graph when they pile up); when they crowd the results out, the
        // search widens.
        let mut ef = ef.max(k);
        let mut hits: Vec<(u64, f32)> = loop {
            let found = self.graph.search_filter(query, ef, ef, None);
            let complete = found.len() < ef || ef >= self.graph.get_nb_point();
            let accepted: Vec<(u64, f32)> = found
                .into_iter()
                .map(|n| (n.d_id as u64, 1.0 - n.distance))
                .filter(|(id, _)| accept(*id))
                .collect();
            if accepted.len() >= k || complete {
                break accepted;
            }
            ef *= 4;
        };
        hits.truncate(k);
        if let Ok(orphans) = self.orphans.read()
            && !orphans.is_empty()
        {
            for (id, v) in orphans.iter() {
                if accept(*id) && !hits.iter().any(|h| h.0 == *id) {
                    hits.push((*id, crate::embed::dot(query, v)));
                }
            }
            hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            hits.truncate(k);
        }
        Ok(hits)
    }

    fn len(&self) -> usize {
        self.graph.get_nb_point()
    }

    fn save(&self, root: &Path, watermark: u64, model_id: &str) -> Result<()> {
        // Links dropped by small inserts can have orphaned older points;
        // a large insert walked the graph already.
        if self.unwalked.load(std::sync::atomic::Ordering::Relaxed) {
            self.find_orphans();
        }
        save_snapshot(self, root, watermark, model_id)
    }
}

/// Brute-force cosine search: exact, `O(n·d)` per query. The vectors lie
/// in one contiguous array (row `i` is the vector of `ids[i]`), read in
/// order by the SIMD dot product, so a scan streams memory instead of
/// chasing one allocation per vector.
#[derive(Debug, Default)]
pub struct ExactIndex {
    rows: RwLock<Rows>,
}

#[derive(Debug, Default)]
struct Rows {
    dims: usize,
    ids: Vec<u64>,
    data: Vec<f32>,
}

fn poisoned() -> Error {
    Error::Corrupt {
        what: "vector index".into(),
        reason: "a writer panicked".into(),
    }
}

impl VectorIndex for ExactIndex {
    fn ids(&self) -> Vec<u64> {
        self.rows.read().map(|r| r.ids.clone()).unwrap_or_default()
    }

    fn insert(&self, points: &[Point]) -> Result<()> {
        let mut rows = self.rows.write().map_err(|_| poisoned())?;
        for (id, v) in points {
            if rows.ids.is_empty() {
                rows.dims = v.len();
            }
            if v.len() != rows.dims {
                return Err(Error::InvalidInput(format!(
                    "vector of {} dimensions in an index of {}",
                    v.len(),
                    rows.dims
                )));
            }
            rows.ids.push(*id);
            rows.data.extend_from_slice(v);
        }
        Ok(())
    }

    fn search(
        &self,
        query: &[f32],
        k: usize,
        _ef: usize,
        accept: &dyn Fn(u64) -> bool,
    ) -> Result<Vec<(u64, f32)>> {
        if k == 0 {
            return Ok(Vec::new());
        }
        let rows = self.rows.read().map_err(|_| poisoned())?;
        if rows.ids.is_empty() {
            return Ok(Vec::new());
        }
        // The k best so far, worst first: most rows lose to the k-th best
        // score and cost one comparison.
        let by_score = |a: &(u64, f32), b: &(u64, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        let mut best: Vec<(u64, f32)> = Vec::with_capacity(k + 1);
        let mut floor = f32::NEG_INFINITY;
        for (id, v) in rows.ids.iter().zip(rows.data.chunks_exact(rows.dims)) {
            let score = crate::embed::dot(query, v);
            if best.len() == k && score < floor {
                continue;
            }
            if !accept(*id) {
                continue;
            }
            let at = best.partition_point(|h| by_score(h, &(*id, score)).is_lt());
            best.insert(at, (*id, score));
            if best.len() > k {
                best.pop();
            }
            if best.len() == k {
                floor = best[k - 1].1;
            }
        }
        Ok(best)
    }

    fn len(&self) -> usize {
        self.rows.read().map_or(0, |r| r.ids.len())
    }

    fn is_exact(&self) -> bool {
        true
    }
}

/// What a snapshot holds, written last so a half-written snapshot is ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    basename: String,
    /// Every point with an id ≤ watermark is in the snapshot.
    watermark: u64,
    points: usize,
    model_id: String,
    /// File name → BLAKE3 hex of its bytes.
    files: BTreeMap<String, String>,
}

fn file_hash(path: &Path) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(std::fs::File::open(path).map_err(|e| Error::io(path, e))?)
        .map_err(|e| Error::io(path, e))?;
    Ok(hasher.finalize().to_hex().to_string())
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Writes a snapshot of `index` into `root/snap-<watermark>-<n>/` and then
/// points `root/CURRENT` at it (atomic rename), removing older snapshots.
pub fn save_snapshot(index: &HnswIndex, root: &Path, watermark: u64, model_id: &str) -> Result<()> {
    std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
    let name = format!("snap-{watermark}-{}", index.len());
    let tmp = root.join(format!("{name}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let basename = index
        .graph
        .file_dump(&tmp, BASENAME)
        .map_err(|e| Error::Corrupt {
            what: "vector snapshot".into(),
            reason: format!("dump failed: {e}"),
        })?;
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&tmp).map_err(|e| Error::io(&tmp, e))? {
        let path = entry.map_err(|e| Error::io(&tmp, e))?.path();
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(&path, e))?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.insert(file_name, file_hash(&path)?);
    }
    let manifest = Manifest {
        format: 1,
        basename,
        watermark,
        points: index.len(),
        model_id: model_id.to_owned(),
        files,
    };
    let manifest_path = tmp.join("manifest.json");
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Corrupt {
        what: "vector manifest".into(),
        reason: e.to_string(),
    })?;
    write_synced(&manifest_path, &json)?;
    sync_dir(&tmp)?;
    let dir = root.join(&name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    std::fs::rename(&tmp, &dir).map_err(|e| Error::io(&dir, e))?;
    let current_tmp = root.join("CURRENT.tmp");
    write_synced(&current_tmp, name.as_bytes())?;
    std::fs::rename(&current_tmp, root.join("CURRENT")).map_err(|e| Error::io(root, e))?;
    sync_dir(root)?;
    for entry in std::fs::read_dir(root)
        .map_err(|e| Error::io(root, e))?
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != name.as_str()) {
            // Old snapshots are garbage once CURRENT moved; failing to delete
            // one wastes disk but loses nothing.
            let _ = std::fs::remove_dir_all(&path);
        }
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

fn load_graph(
    io: &'static mut HnswIo,
) -> std::result::Result<Hnsw<'static, f32, CosineDistance>, String> {
    io.load_hnsw::<f32, CosineDistance>()
        .map_err(|e| e.to_string())
}

/// A loaded snapshot: the index and the watermark it is complete up to.
#[derive(Debug)]
pub struct Snapshot {
    pub index: HnswIndex,
    pub watermark: u64,
}

/// Checks the snapshot `root/CURRENT` points at against its manifest's
/// checksums without loading it: its name and point count, `None` when
/// there is none, an error naming what differs.
pub fn verify_snapshot(root: &Path, model_id: &str) -> Result<Option<(String, usize)>> {
    Ok(checked_manifest(root, model_id)?.map(|(dir, m)| {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (name, m.points)
    }))
}

/// The directory and manifest of the snapshot `root/CURRENT` names, once
/// every file matches its checksum; `None` when there is no snapshot.
fn checked_manifest(root: &Path, model_id: &str) -> Result<Option<(PathBuf, Manifest)>> {
    let current = root.join("CURRENT");
    let name = match std::fs::read_to_string(&current) {
        Ok(n) => n.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&current, e)),
    };
    let dir: PathBuf = root.join(&name);
    let corrupt = |reason: String| Error::Corrupt {
        what: format!("vector snapshot {}", dir.display()),
        reason,
    };
    let manifest_path = dir.join("manifest.json");
    let bytes = std::fs::read(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if manifest.model_id != model_id {
        return Err(corrupt(format!("built with model {}", manifest.model_id)));
    }
    for (file, want) in &manifest.files {
        if &file_hash(&dir.join(file))? != want {
            return Err(corrupt(format!("{file} does not match its checksum")));
        }
    }
    Ok(Some((dir, manifest)))
}

/// Loads the snapshot `root/CURRENT` points at. `Ok(None)` when there is none;
/// an error when it exists but is damaged or from another model (the caller
/// rebuilds from the store).
pub fn load_snapshot(
    root: &Path,
    model_id: &str,
    options: &HnswOptions,
) -> Result<Option<Snapshot>> {
    let Some((dir, manifest)) = checked_manifest(root, model_id)? else {
        return Ok(None);
    };
    let corrupt = |reason: String| Error::Corrupt {
        what: format!("vector snapshot {}", dir.display()),
        reason,
    };
    // The loaded graph borrows its `HnswIo` for its whole life (the lifetime
    // exists for mmap, which we do not use). Leaking the small reader once per
    // load gives the `'static` graph the knowledge base keeps.
    let io: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(&dir, &manifest.basename)));
    // hnsw_rs asserts on malformed dumps; checksums make that unlikely, and
    // catching the panic turns the rest into a rebuild instead of a crash.
    let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let io = io;
        load_graph(io)
    }))
    .map_err(|_| corrupt("reader panicked".into()))?
    .map_err(corrupt)?;
    if loaded.get_nb_point() != manifest.points {
        return Err(corrupt(format!(
            "{} points, manifest says {}",
            loaded.get_nb_point(),
            manifest.points
        )));
    }
    let mut loaded = loaded;
    loaded.set_keeping_pruned(true);
    let index = HnswIndex::from_graph(loaded, options.ef_search);
    index.find_orphans();
    Ok(Some(Snapshot {
        index,
        watermark: manifest.watermark,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::normalize;

    fn random_points(n: usize, dims: usize, seed: u64) -> Vec<Point> {
        let mut state = seed;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 10_000) as f32 / 5_000.0 - 1.0
        };
        (0..n as u64)
            .map(|id| {
                let mut v: Vec<f32> = (0..dims).map(|_| next()).collect();
                normalize(&mut v);
                (id + 1, v)
            })
            .collect()
    }

    #[test]
    fn hnsw_matches_exact_search_on_random_vectors() {
        let points = random_points(2_000, 32, 7);
        let hnsw = HnswIndex::new(&HnswOptions::default(), points.len());
        let exact = ExactIndex::default();
        hnsw.insert(&points).unwrap();
        exact.insert(&points).unwrap();
        let queries = random_points(50, 32, 99);
        let mut hits = 0;
        for (_, q) in &queries {
            let truth: Vec<u64> = exact
                .search(q, 10, 0, &|_| true)
                .unwrap()
                .iter()
                .map(|h| h.0)
                .collect();
            let got = hnsw.search(q, 10, 128, &|_| true).unwrap();
            hits += got.iter().filter(|h| truth.contains(&h.0)).count();
        }
        let recall = hits as f64 / (queries.len() * 10) as f64;
        assert!(recall >= 0.9, "recall@10 = {recall}");
    }

    /// A tight cluster fills every neighbour list; points far from it then
    /// lose their incoming links in hnsw_rs. They must still be found.
    #[test]
    fn outliers_pushed_out_of_the_graph_are_still_found() {
        let dims = 32;
        let mut cluster = random_points(1, dims, 5)[0].1.clone();
        let mut points: Vec<Point> = Vec::new();
        for (id, noise) in random_points(200, dims, 11) {
            let mut v: Vec<f32> = cluster
                .iter()
                .zip(&noise)
                .map(|(c, n)| c + 0.05 * n)
                .collect();
            normalize(&mut v);
            points.push((id, v));
        }
        // Outliers: each one axis, far from the cluster and from each other.
        let outliers: Vec<Point> = (0..dims as u64)
            .map(|i| {
                let mut v = vec![0.0; dims];
                v[i as usize] = if i % 2 == 0 { 1.0 } else { -1.0 };
                (10_000 + i, v)
            })
            .collect();
        cluster.clear();
        // The default graph. (A much sparser one, m = 4, still misses some
        // of these outliers: each is orthogonal to every other point, so all
        // candidates tie at distance 1 and the greedy search has nothing to
        // follow. Text vectors are never that flat; see the ANN benchmark.)
        for options in [HnswOptions::default()] {
            let hnsw = HnswIndex::new(&options, 1024);
            hnsw.insert(&points).unwrap();
            // One by one, as article updates arrive, then more cluster points.
            for o in &outliers {
                hnsw.insert(std::slice::from_ref(o)).unwrap();
            }
            for (id, v) in random_points(300, dims, 13) {
                let near: Vec<f32> = points[0]
                    .1
                    .iter()
                    .zip(&v)
                    .map(|(c, n)| c + 0.05 * n)
                    .collect();
                let mut near = near;
                normalize(&mut near);
                hnsw.insert(&[(20_000 + id, near)]).unwrap();
            }
            hnsw.find_orphans();
            for (id, v) in &outliers {
                // At the default breadth; a narrow search (ef 16) can stop in
                // the cluster before reaching a sparsely linked outlier.
                let top = hnsw
                    .search(v, 1, HnswOptions::default().ef_search, &|_| true)
                    .unwrap();
                assert_eq!(top[0].0, *id, "outlier {id} found (m = {})", options.m);
            }
        }
    }

    #[test]
    fn filter_hides_removed_ids_and_self_query_is_safe() {
        let points = random_points(300, 16, 3);
        let hnsw = HnswIndex::new(&HnswOptions::default(), 300);
        hnsw.insert(&points).unwrap();
        let (id, v) = &points[10];
        let top = hnsw.search(v, 1, 64, &|_| true).unwrap();
        assert_eq!(top[0].0, *id);
        assert!((top[0].1 - 1.0).abs() < 1e-4);
        let without = hnsw.search(v, 5, 64, &|x| x != *id).unwrap();
        assert!(without.iter().all(|h| h.0 != *id));
    }

    #[test]
    fn snapshot_round_trips_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let points = random_points(500, 16, 5);
        let hnsw = HnswIndex::new(&HnswOptions::default(), 500);
        hnsw.insert(&points).unwrap();
        save_snapshot(&hnsw, dir.path(), 500, "m").unwrap();
        let snap = load_snapshot(dir.path(), "m", &HnswOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(snap.watermark, 500);
        assert_eq!(snap.index.len(), 500);
        let q = &points[42].1;
        assert_eq!(
            snap.index.search(q, 1, 64, &|_| true).unwrap()[0].0,
            points[42].0
        );
        assert!(load_snapshot(dir.path(), "other-model", &HnswOptions::default()).is_err());

        // Save again (a new snapshot replaces the old), then damage the data file.
        save_snapshot(&snap.index, dir.path(), 501, "m").unwrap();
        let current = std::fs::read_to_string(dir.path().join("CURRENT")).unwrap();
        let snap_dir = dir.path().join(current.trim());
        let data = std::fs::read_dir(&snap_dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(".hnsw.data"))
            .unwrap();
        let mut bytes = std::fs::read(&data).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xFF;
        std::fs::write(&data, bytes).unwrap();
        assert!(matches!(
            load_snapshot(dir.path(), "m", &HnswOptions::default()),
            Err(Error::Corrupt { .. })
        ));
        assert_eq!(
            std::fs::read_dir(dir.path())
                .unwrap()
                .flatten()
                .filter(|e| e.path().is_dir())
                .count(),
            1
        );
    }

    #[test]
    fn no_snapshot_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            load_snapshot(dir.path(), "m", &HnswOptions::default())
                .unwrap()
                .is_none()
        );
    }
}
