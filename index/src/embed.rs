//! Text → vectors. [`Embedder`] is the extension point; [`OnnxEmbedder`] runs a
//! sentence-transformers ONNX model (multilingual-e5-small or all-MiniLM-L6-v2) through
//! fastembed and a dynamically loaded ONNX Runtime; [`HashEmbedder`] is a tiny
//! deterministic embedder for tests that must not need the model files.

use crate::{Error, Result};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// Turns text into unit-length vectors, and counts tokens the way the model
/// does so chunks fit its window.
pub trait Embedder: Send + Sync {
    /// Identifies the model and every setting that changes its vectors.
    fn model_id(&self) -> &str;
    fn dimensions(&self) -> usize;
    /// The model's window, special tokens included.
    fn max_tokens(&self) -> usize;
    /// Byte ranges of the model's tokens in `text` (special tokens excluded).
    fn tokenize(&self, text: &str) -> Vec<Range<usize>>;
    fn count_tokens(&self, text: &str) -> usize {
        self.tokenize(text).len()
    }
    /// Embeds passages (documents); may run batches in parallel.
    fn embed_passages(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
    /// Embeds one query (queries may take a different prefix than passages).
    fn embed_query(&self, text: &str) -> Result<Vec<f32>>;
}

/// Scales `v` to unit length (zero vectors stay zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Dot product; the cosine similarity of unit vectors. Uses AVX2 and FMA
/// where the CPU has them (checked once per call: one cached flag), else
/// the portable form.
#[inline]
#[allow(unsafe_code)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: dot_fma needs only AVX2 and FMA, present on this CPU.
        return unsafe { dot_fma(a, b) };
    }
    dot_lanes(a, b)
}

/// Four 8-lane multiply-add chains, so one's latency overlaps the next's.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(unsafe_code)]
unsafe fn dot_fma(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut i = 0;
    // SAFETY: every load reads 8 floats at an offset at most n - 8 of both
    // slices (n is the shorter length).
    unsafe {
        let (mut s0, mut s1, mut s2, mut s3) = (
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
        );
        while i + 32 <= n {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), s0);
            s1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 8)),
                s1,
            );
            s2 = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i + 16)),
                _mm256_loadu_ps(pb.add(i + 16)),
                s2,
            );
            s3 = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i + 24)),
                _mm256_loadu_ps(pb.add(i + 24)),
                s3,
            );
            i += 32;
        }
        while i + 8 <= n {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), s0);
            i += 8;
        }
        let s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
        let x = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
        let x = _mm_add_ps(x, _mm_movehl_ps(x, x));
        let x = _mm_add_ss(x, _mm_shuffle_ps::<1>(x, x));
        let mut sum = _mm_cvtss_f32(x);
        while i < n {
            sum += a[i] * b[i];
            i += 1;
        }
        sum
    }
}

/// Eight independent sums: an in-order f32 sum cannot be vectorised
/// (addition is not associative), eight lanes compile to SIMD.
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (ca, ta) = a.as_chunks::<8>();
    let (cb, tb) = b.as_chunks::<8>();
    let mut acc = [0.0f32; 8];
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ta.iter().zip(tb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// How token vectors become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    Mean,
    Cls,
}

/// Settings of an ONNX sentence-embedding model directory.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelOptions {
    /// Folder with `model.onnx`, `tokenizer.json`, `config.json`,
    /// `special_tokens_map.json`, `tokenizer_config.json`.
    pub dir: PathBuf,
    pub onnx_file: String,
    /// ONNX Runtime shared library (≥ 1.24).
    pub runtime: PathBuf,
    /// Sequence length the model was trained with (256 for MiniLM).
    pub max_length: usize,
    pub pooling: Pooling,
    /// Texts per ONNX run. A batch is padded to its longest text, and on
    /// CPU the padding costs more than batching saves: 1 measured fastest
    /// and leanest on 2 cores (README: ingest batch size).
    pub batch_size: usize,
    /// Parallel ONNX sessions (each single-threaded); 0 = one per core.
    pub sessions: usize,
    /// Threads of the session that embeds a question while nothing else
    /// is embedding (an idle server answers one visitor on every core;
    /// under load, questions share the single-threaded sessions). 0 = one
    /// per core; 1 = no such session (it costs one more copy of the model
    /// in memory).
    pub query_threads: usize,
    /// Prepended to queries / passages (e5 models want `query: ` / `passage: `).
    pub query_prefix: String,
    pub passage_prefix: String,
    /// Where the files were looked for when they were not found (filled in
    /// by the binary's model search; named in the error).
    #[serde(skip)]
    pub looked_in: Vec<PathBuf>,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("models/all-MiniLM-L6-v2"),
            onnx_file: "model.onnx".into(),
            runtime: PathBuf::from("models/onnxruntime/libonnxruntime.so.1.24.4"),
            max_length: 256,
            pooling: Pooling::Mean,
            batch_size: 1,
            sessions: 0,
            query_threads: 0,
            query_prefix: String::new(),
            passage_prefix: String::new(),
            looked_in: Vec::new(),
        }
    }
}

/// ` (looked in: a, b, c)` when a search preceded, else empty.
fn looked_in(places: &[PathBuf]) -> String {
    if places.is_empty() {
        return String::new();
    }
    let list: Vec<String> = places.iter().map(|p| p.display().to_string()).collect();
    format!("; looked in: {}", list.join(", "))
}

fn read(path: PathBuf, places: &[PathBuf]) -> Result<Vec<u8>> {
    std::fs::read(&path).map_err(|e| {
        Error::Model(format!(
            "cannot read {}: {e}{} (run scripts/fetch-models.sh, set QUARRY_MODELS_DIR, or set the model's dir)",
            path.display(),
            looked_in(places)
        ))
    })
}

/// Loads ONNX Runtime once per process; later calls return the first outcome.
fn init_runtime(path: &std::path::Path, places: &[PathBuf]) -> Result<()> {
    static RUNTIME: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            if !path.is_file() {
                return Err(format!(
                    "ONNX Runtime library not found at {}{} (run scripts/fetch-models.sh, set QUARRY_MODELS_DIR, or set the model's runtime)",
                    path.display(),
                    looked_in(places)
                ));
            }
            ort::init_from(path)
                .map(drop)
                .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", path.display()))
        })
        .clone()
        .map_err(Error::Model)
}

/// fastembed + ONNX Runtime, with a pool of single-threaded sessions so that
/// batches embed in parallel on separate cores, and a multi-threaded
/// session for a question asked while no other text is embedding.
pub struct OnnxEmbedder {
    sessions: Vec<Mutex<fastembed::TextEmbedding>>,
    /// Runs of ONNX in progress on any session.
    running: AtomicUsize,
    /// Made at the first question (a batch ingest never asks one, and
    /// the session costs one more copy of the model); None when
    /// `query_threads` is 1 or it could not be made.
    query_session: OnceLock<Option<Mutex<fastembed::TextEmbedding>>>,
    files: fastembed::TokenizerFiles,
    next: AtomicUsize,
    tokenizer: tokenizers::Tokenizer,
    options: ModelOptions,
    model_id: String,
    dimensions: usize,
}

impl std::fmt::Debug for OnnxEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxEmbedder")
            .field("model_id", &self.model_id)
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

/// One ONNX session of the model with `threads` intra-op threads.
fn session(
    onnx: &[u8],
    files: &fastembed::TokenizerFiles,
    options: &ModelOptions,
    threads: usize,
) -> Result<Mutex<fastembed::TextEmbedding>> {
    let pooling = match options.pooling {
        Pooling::Mean => fastembed::Pooling::Mean,
        Pooling::Cls => fastembed::Pooling::Cls,
    };
    let model = fastembed::UserDefinedEmbeddingModel::new(onnx.to_vec(), files.clone())
        .with_pooling(pooling);
    let init = fastembed::InitOptionsUserDefined::new()
        .with_max_length(options.max_length)
        .with_intra_threads(threads);
    fastembed::TextEmbedding::try_new_from_user_defined(model, init)
        .map(Mutex::new)
        .map_err(|e| Error::Model(format!("cannot load {}: {e}", options.dir.display())))
}

impl OnnxEmbedder {
    pub fn load(options: ModelOptions) -> Result<Self> {
        if !(1..=512).contains(&options.max_length) || options.batch_size == 0 {
            return Err(Error::InvalidInput(
                "model.max_length must be 1..=512 and model.batch_size at least 1".into(),
            ));
        }
        init_runtime(&options.runtime, &options.looked_in)?;
        let onnx = read(options.dir.join(&options.onnx_file), &options.looked_in)?;
        let files = fastembed::TokenizerFiles {
            tokenizer_file: read(options.dir.join("tokenizer.json"), &options.looked_in)?,
            config_file: read(options.dir.join("config.json"), &options.looked_in)?,
            special_tokens_map_file: read(
                options.dir.join("special_tokens_map.json"),
                &options.looked_in,
            )?,
            tokenizer_config_file: read(
                options.dir.join("tokenizer_config.json"),
                &options.looked_in,
            )?,
        };
        let mut tokenizer = tokenizers::Tokenizer::from_bytes(&files.tokenizer_file)
            .map_err(|e| Error::Model(format!("tokenizer.json: {e}")))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::Model(format!("tokenizer.json: {e}")))?;
        let count = match options.sessions {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut sessions = Vec::with_capacity(count);
        for _ in 0..count {
            sessions.push(session(&onnx, &files, &options, 1)?);
        }
        let onnx_hash = crate::ContentHash::of(&onnx);
        let name = options
            .dir
            .file_name()
            .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
        let model_id = format!(
            "{name}@{}/{:?}/len{}/{}|{}",
            &onnx_hash.to_hex()[..12],
            options.pooling,
            options.max_length,
            options.query_prefix,
            options.passage_prefix
        );
        let mut embedder = Self {
            sessions,
            running: AtomicUsize::new(0),
            query_session: OnceLock::new(),
            files,
            next: AtomicUsize::new(0),
            tokenizer,
            options,
            model_id,
            dimensions: 0,
        };
        embedder.dimensions = embedder.run(&["dimension probe".to_owned()])?[0].len();
        Ok(embedder)
    }

    fn run(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.sessions.len();
        // Take a free session if there is one; otherwise wait for "ours".
        let guard = (0..n)
            .find_map(|i| self.sessions[(start + i) % n].try_lock().ok())
            .map_or_else(|| self.sessions[start % n].lock(), Ok)
            .map_err(|_| Error::Model("an embedding session panicked earlier".into()))?;
        self.embed_on(guard, texts)
    }

    /// A question: on the multi-threaded session when nothing else is
    /// embedding (its threads would otherwise compete with the others' for
    /// the cores), else like any text.
    fn run_query(&self, text: String) -> Result<Vec<Vec<f32>>> {
        let session = self.query_session.get_or_init(|| {
            let threads = match self.options.query_threads {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            };
            // The model is read again rather than kept: hundreds of MB.
            (threads > 1)
                .then(|| {
                    let onnx = read(
                        self.options.dir.join(&self.options.onnx_file),
                        &self.options.looked_in,
                    )?;
                    session(&onnx, &self.files, &self.options, threads)
                })
                .and_then(|made| {
                    made.inspect_err(|e| tracing::warn!("no multi-threaded query session: {e}"))
                        .ok()
                })
        });
        if let Some(session) = session
            && self.running.load(Ordering::Acquire) == 0
            && let Ok(guard) = session.try_lock()
        {
            return self.embed_on(guard, &[text]);
        }
        self.run(&[text])
    }

    fn embed_on(
        &self,
        mut session: std::sync::MutexGuard<'_, fastembed::TextEmbedding>,
        texts: &[String],
    ) -> Result<Vec<Vec<f32>>> {
        self.running.fetch_add(1, Ordering::AcqRel);
        let out = session.embed(texts, Some(self.options.batch_size));
        self.running.fetch_sub(1, Ordering::AcqRel);
        let mut out = out.map_err(|e| Error::Model(format!("embedding failed: {e}")))?;
        out.iter_mut().for_each(|v| normalize(v));
        Ok(out)
    }
}

impl Embedder for OnnxEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn max_tokens(&self) -> usize {
        self.options.max_length
    }

    fn tokenize(&self, text: &str) -> Vec<Range<usize>> {
        match self.tokenizer.encode(text, false) {
            Ok(enc) => enc.get_offsets().iter().map(|&(s, e)| s..e).collect(),
            // The BERT tokenizer does not fail on valid UTF-8; if a custom one
            // does, a whitespace split keeps the chunker going.
            Err(_) => words(text),
        }
    }

    fn embed_passages(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let prefixed: Vec<String> = texts
            .iter()
            .map(|t| format!("{}{t}", self.options.passage_prefix))
            .collect();
        let mut out = Vec::with_capacity(texts.len());
        for batch in prefixed.chunks(self.options.batch_size) {
            out.extend(self.run(batch)?);
        }
        Ok(out)
    }

    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        let mut v = self.run_query(format!("{}{text}", self.options.query_prefix))?;
        v.pop()
            .ok_or_else(|| Error::Model("model returned no vector".into()))
    }
}

/// Byte ranges of the words and punctuation marks of `text`.
fn words(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            start.get_or_insert(i);
        } else {
            if let Some(s) = start.take() {
                out.push(s..i);
            }
            if !c.is_whitespace() {
                out.push(i..i + c.len_utf8());
            }
        }
    }
    if let Some(s) = start {
        out.push(s..text.len());
    }
    out
}

/// Feature-hashing embedder: lower-cased words and their character trigrams
/// hashed into `dimensions` buckets. Deterministic, instant and model-free: a
/// weak but real lexical embedder for unit tests of the index and the chunker.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dimensions: usize,
    max_tokens: usize,
    model_id: String,
}

impl HashEmbedder {
    pub fn new(dimensions: usize) -> Self {
        Self {
            dimensions,
            max_tokens: 256,
            model_id: format!("hash-{dimensions}"),
        }
    }

    fn vector(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; self.dimensions];
        let lower = text.to_lowercase();
        for w in words(&lower).into_iter().map(|r| &lower[r]) {
            if !w.chars().any(char::is_alphanumeric) {
                continue;
            }
            let mut bump = |feature: &str, weight: f32| {
                let h = blake3::hash(feature.as_bytes());
                let bytes = h.as_bytes();
                let bucket = u64::from_le_bytes([
                    bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                ]);
                let sign = if bytes[8] & 1 == 0 { 1.0 } else { -1.0 };
                v[(bucket % self.dimensions as u64) as usize] += sign * weight;
            };
            bump(w, 1.0);
            let padded: Vec<char> = format!("#{w}#").chars().collect();
            for tri in padded.windows(3) {
                bump(&tri.iter().collect::<String>(), 0.3);
            }
        }
        normalize(&mut v);
        v
    }
}

impl Embedder for HashEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    fn tokenize(&self, text: &str) -> Vec<Range<usize>> {
        words(text)
    }

    fn embed_passages(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| self.vector(t)).collect())
    }

    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self.vector(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_embedder_is_deterministic_and_lexical() {
        let e = HashEmbedder::new(128);
        let a = e.embed_query("reset my password").unwrap();
        let b = e
            .embed_passages(&["How to reset your password", "Pricing of the pro plan"])
            .unwrap();
        assert_eq!(a, e.embed_query("reset my password").unwrap());
        assert!(dot(&a, &b[0]) > dot(&a, &b[1]));
        assert!((dot(&a, &a) - 1.0).abs() < 1e-5);
    }

    /// The SIMD dot product (AVX2/FMA where the CPU has them) against a
    /// plain sum, at every length around its 32- and 8-float steps, and on
    /// slices of unequal length (the shorter one counts).
    #[test]
    fn dot_matches_a_plain_sum_at_every_length() {
        for n in 0..100 {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0).collect();
            let b: Vec<f32> = (0..n + 3)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0)
                .collect();
            let plain: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
            let got = dot(&a, &b);
            assert!(
                (f64::from(got) - plain).abs() < 1e-4 * (1.0 + plain.abs()),
                "n={n}: {got} vs {plain}"
            );
            assert_eq!(dot(&a, &b), dot(&b, &a), "n={n}");
            let portable = dot_lanes(&a, &b);
            assert!((portable - got).abs() < 1e-4 * (1.0 + got.abs()), "n={n}");
        }
    }

    #[test]
    fn words_split_punctuation() {
        let text = "Hi, wörld!";
        let w: Vec<_> = words(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(w, ["Hi", ",", "wörld", "!"]);
    }

    #[test]
    fn missing_runtime_is_a_clear_model_error() {
        let opts = ModelOptions {
            runtime: PathBuf::from("/nonexistent/libonnxruntime.so"),
            ..ModelOptions::default()
        };
        // No other unit test in this process loads the runtime, so the
        // once-per-process loader sees this path first.
        let err = OnnxEmbedder::load(opts).unwrap_err();
        assert!(
            err.is_user_error() && err.to_string().contains("fetch-models.sh"),
            "{err}"
        );
    }
}
