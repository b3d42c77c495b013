//! [`Models`]: the embedding models a data directory's knowledge bases may
//! use, by name. Each knowledge base is built with one of them (chosen when
//! it is created, recorded in its folder); the ONNX ones are loaded on first
//! use and then shared by every knowledge base that names them.

use crate::embed::{Embedder, ModelOptions, OnnxEmbedder};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The multilingual default (multilingual-e5-small, built by
/// `scripts/fetch-models.sh`).
pub const MULTILINGUAL_MODEL: &str = "multilingual-e5-small";
/// The fast English model.
pub const ENGLISH_MODEL: &str = "all-MiniLM-L6-v2";

/// The models quarry ships, with the settings each was trained with.
pub fn builtin_models() -> BTreeMap<String, ModelOptions> {
    let runtime = PathBuf::from("models/onnxruntime/libonnxruntime.so.1.24.4");
    BTreeMap::from([
        (
            MULTILINGUAL_MODEL.to_owned(),
            ModelOptions {
                dir: PathBuf::from("models/multilingual-e5-small"),
                runtime: runtime.clone(),
                // e5 was trained on 512 tokens; quarry's chunks stay far
                // below it, so the window only bounds questions.
                max_length: 512,
                // Without these prefixes e5's cross-language matching breaks.
                query_prefix: "query: ".into(),
                passage_prefix: "passage: ".into(),
                ..ModelOptions::default()
            },
        ),
        (
            ENGLISH_MODEL.to_owned(),
            ModelOptions {
                runtime,
                ..ModelOptions::default()
            },
        ),
    ])
}

enum Slot {
    Onnx(ModelOptions, Option<Arc<dyn Embedder>>),
    Ready(Arc<dyn Embedder>),
}

/// Named embedding models, loaded lazily.
pub struct Models {
    default: String,
    slots: Mutex<BTreeMap<String, Slot>>,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Models")
            .field("default", &self.default)
            .field("names", &self.names())
            .finish()
    }
}

impl Models {
    /// ONNX models by name; `default` is the model of new knowledge bases.
    pub fn new(available: BTreeMap<String, ModelOptions>, default: &str) -> Result<Self> {
        if !available.contains_key(default) {
            return Err(Error::InvalidInput(format!(
                "the default model {default:?} is not one of the configured models ({})",
                available.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let slots = available
            .into_iter()
            .map(|(name, options)| (name, Slot::Onnx(options, None)))
            .collect();
        Ok(Self {
            default: default.to_owned(),
            slots: Mutex::new(slots),
        })
    }

    /// One ready embedder under `name`, the default (tests and benchmarks).
    pub fn single(name: &str, embedder: Arc<dyn Embedder>) -> Self {
        Self {
            default: name.to_owned(),
            slots: Mutex::new(BTreeMap::from([(name.to_owned(), Slot::Ready(embedder))])),
        }
    }

    /// One ready embedder, named after its model id's folder part.
    pub fn of(embedder: Arc<dyn Embedder>) -> Self {
        let id = embedder.model_id();
        let name = id.split('@').next().unwrap_or(id).to_owned();
        Self::single(&name, embedder)
    }

    /// Adds (or replaces) a ready embedder under `name`.
    pub fn with(self, name: &str, embedder: Arc<dyn Embedder>) -> Self {
        if let Ok(mut slots) = self.slots.lock() {
            slots.insert(name.to_owned(), Slot::Ready(embedder));
        }
        self
    }

    pub fn default_name(&self) -> &str {
        &self.default
    }

    pub fn names(&self) -> Vec<String> {
        self.slots
            .lock()
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether `name` is a configured model.
    pub fn contains(&self, name: &str) -> bool {
        self.slots.lock().is_ok_and(|s| s.contains_key(name))
    }

    /// The embedder called `name`, loading it on first use.
    pub fn get(&self, name: &str) -> Result<Arc<dyn Embedder>> {
        let mut slots = self.slots.lock().map_err(|_| Error::Corrupt {
            what: "model registry".into(),
            reason: "a thread panicked while loading a model".into(),
        })?;
        let Some(slot) = slots.get(name) else {
            return Err(Error::InvalidInput(format!(
                "unknown model {name:?}; configured models: {}",
                slots.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        };
        match slot {
            Slot::Ready(e) | Slot::Onnx(_, Some(e)) => Ok(e.clone()),
            Slot::Onnx(options, None) => {
                let embedder: Arc<dyn Embedder> = Arc::new(OnnxEmbedder::load(options.clone())?);
                let options = options.clone();
                slots.insert(name.to_owned(), Slot::Onnx(options, Some(embedder.clone())));
                Ok(embedder)
            }
        }
    }

    /// The name of the model whose id is `model_id` (a knowledge base built
    /// before models were recorded by name carries only the id, which starts
    /// with the model folder's name).
    pub fn name_of_id(&self, model_id: &str) -> Option<String> {
        let slots = self.slots.lock().ok()?;
        slots.iter().find_map(|(name, slot)| {
            let matches = match slot {
                Slot::Ready(e) | Slot::Onnx(_, Some(e)) => e.model_id() == model_id,
                Slot::Onnx(options, None) => options
                    .dir
                    .file_name()
                    .is_some_and(|d| model_id.starts_with(&format!("{}@", d.to_string_lossy()))),
            };
            matches.then(|| name.clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HashEmbedder;

    #[test]
    fn unknown_models_are_named_in_the_error() {
        let models = Models::single("hash", Arc::new(HashEmbedder::new(8)));
        let err = models.get("nope").err().unwrap().to_string();
        assert!(err.contains("nope") && err.contains("hash"), "{err}");
        assert!(Models::new(builtin_models(), "nope").is_err());
        let builtin = Models::new(builtin_models(), MULTILINGUAL_MODEL).unwrap();
        assert_eq!(builtin.names(), [ENGLISH_MODEL, MULTILINGUAL_MODEL]);
        assert_eq!(
            builtin
                .name_of_id("all-MiniLM-L6-v2@0123456789ab/Mean/len256/|")
                .as_deref(),
            Some(ENGLISH_MODEL)
        );
    }
}
