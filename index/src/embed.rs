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

/// Dot product; the cosine similarity of unit vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent sums: an in-order f32 sum cannot be vectorised
    // (addition is not associative), eight lanes compile to SIMD.
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
/// batches embed in parallel on separate cores.
pub struct OnnxEmbedder {
    sessions: Vec<Mutex<fastembed::TextEmbedding>>,
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
        let pooling = match options.pooling {
            Pooling::Mean => fastembed::Pooling::Mean,
            Pooling::Cls => fastembed::Pooling::Cls,
        };
        let mut sessions = Vec::with_capacity(count);
        for _ in 0..count {
            let model = fastembed::UserDefinedEmbeddingModel::new(onnx.clone(), files.clone())
                .with_pooling(pooling.clone());
            let init = fastembed::InitOptionsUserDefined::new()
                .with_max_length(options.max_length)
                .with_intra_threads(1);
            let session = fastembed::TextEmbedding::try_new_from_user_defined(model, init)
                .map_err(|e| Error::Model(format!("cannot load {}: {e}", options.dir.display())))?;
            sessions.push(Mutex::new(session));
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
        let mut guard = (0..n)
            .find_map(|i| self.sessions[(start + i) % n].try_lock().ok())
            .map_or_else(|| self.sessions[start % n].lock(), Ok)
            .map_err(|_| Error::Model("an embedding session panicked earlier".into()))?;
        let mut out = guard
            .embed(texts, Some(self.options.batch_size))
            .map_err(|e| Error::Model(format!("embedding failed: {e}")))?;
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
        let mut v = self.run(&[format!("{}{text}", self.options.query_prefix)])?;
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
