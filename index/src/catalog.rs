//! [`Catalog`]: the knowledge bases of a data directory, one folder each
//! under `kb/` (`kb/default` always exists). Every knowledge base has its own
//! store, vector index, keyword index, sources and settings, and its own
//! embedding model, chosen from [`Models`] when it is created and recorded
//! in its folder (`MODEL`). Knowledge bases on the same model share it.
//!
//! On the shared backend ([`Catalog::open_shared`]) the list of knowledge
//! bases and their models is a table of the database, read on every lookup,
//! so a knowledge base created or deleted through one node is seen by all.

use crate::kb::{IndexOptions, KnowledgeBase};
use crate::models::Models;
use crate::store::postgres::PgDatabase;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The knowledge base every server has.
pub const DEFAULT_KB: &str = "default";

/// Checks a knowledge base name: 1–64 of `a-z 0-9 - _`, starting with a
/// letter or digit (it names a folder and a URL segment).
pub fn validate_kb_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "knowledge base name {name:?} must be 1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"
        )))
    }
}

/// The folder of knowledge base `name` in `data_dir`.
pub fn kb_dir(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("kb").join(name)
}

/// All knowledge bases of a data directory, opened.
pub struct Catalog {
    data_dir: PathBuf,
    models: Arc<Models>,
    options: IndexOptions,
    kbs: RwLock<BTreeMap<String, Arc<KnowledgeBase>>>,
    /// The shared database, when knowledge bases live there.
    db: Option<Arc<PgDatabase>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("data_dir", &self.data_dir)
            .field("kbs", &self.names())
            .finish()
    }
}

fn poisoned() -> Error {
    Error::Corrupt {
        what: "catalog".into(),
        reason: "a thread panicked while holding it".into(),
    }
}

impl Catalog {
    /// Opens every knowledge base in `data_dir`, creating `default`.
    pub fn open(data_dir: &Path, models: Arc<Models>, options: IndexOptions) -> Result<Self> {
        let root = data_dir.join("kb");
        std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        let catalog = Self {
            data_dir: data_dir.to_owned(),
            models,
            options,
            kbs: RwLock::new(BTreeMap::new()),
            db: None,
        };
        let mut names = vec![DEFAULT_KB.to_owned()];
        for entry in std::fs::read_dir(&root).map_err(|e| Error::io(&root, e))? {
            let entry = entry.map_err(|e| Error::io(&root, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() && validate_kb_name(&name).is_ok() && name != DEFAULT_KB {
                names.push(name);
            }
        }
        for name in names {
            catalog.create(&name)?;
        }
        Ok(catalog)
    }

    /// Opens every knowledge base of the shared database, creating
    /// `default`. `data_dir` holds only this node's own files.
    pub fn open_shared(
        data_dir: &Path,
        models: Arc<Models>,
        options: IndexOptions,
        db: Arc<PgDatabase>,
    ) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::io(data_dir, e))?;
        let catalog = Self {
            data_dir: data_dir.to_owned(),
            models,
            options,
            kbs: RwLock::new(BTreeMap::new()),
            db: Some(db),
        };
        catalog.create(DEFAULT_KB)?;
        catalog.refresh()?;
        Ok(catalog)
    }

    /// The shared database, if knowledge bases live there.
    pub fn database(&self) -> Option<&Arc<PgDatabase>> {
        self.db.as_ref()
    }

    /// On the shared backend, opens knowledge bases other nodes created
    /// and forgets those they deleted.
    fn refresh(&self) -> Result<()> {
        let Some(db) = &self.db else {
            return Ok(());
        };
        let listed = db.knowledge_bases()?;
        let known: Vec<String> = self
            .kbs
            .read()
            .map_err(|_| poisoned())?
            .keys()
            .cloned()
            .collect();
        for name in &known {
            if !listed.iter().any(|(n, _)| n == name) {
                self.kbs.write().map_err(|_| poisoned())?.remove(name);
            }
        }
        for (name, _) in listed {
            if !known.contains(&name) {
                self.create(&name)?;
            }
        }
        Ok(())
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn models(&self) -> &Arc<Models> {
        &self.models
    }

    /// Names, sorted.
    pub fn names(&self) -> Vec<String> {
        if let Err(e) = self.refresh() {
            tracing::warn!("cannot list knowledge bases: {e}");
        }
        self.kbs
            .read()
            .map(|k| k.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every knowledge base with its name, sorted by name.
    pub fn all(&self) -> Vec<(String, Arc<KnowledgeBase>)> {
        if let Err(e) = self.refresh() {
            tracing::warn!("cannot list knowledge bases: {e}");
        }
        self.kbs
            .read()
            .map(|k| k.iter().map(|(n, kb)| (n.clone(), kb.clone())).collect())
            .unwrap_or_default()
    }

    /// The knowledge base called `name`, if it exists.
    pub fn get(&self, name: &str) -> Result<Option<Arc<KnowledgeBase>>> {
        if let Some(db) = &self.db {
            // The database decides: another node may have made or deleted
            // it, or changed its model.
            let Some(model) = db.model_of(name)? else {
                self.kbs.write().map_err(|_| poisoned())?.remove(name);
                return Ok(None);
            };
            let stale = self
                .kbs
                .read()
                .map_err(|_| poisoned())?
                .get(name)
                .is_some_and(|kb| kb.model() != model);
            if stale {
                self.kbs.write().map_err(|_| poisoned())?.remove(name);
            }
            return self.create(name).map(|(kb, _)| Some(kb));
        }
        Ok(self.kbs.read().map_err(|_| poisoned())?.get(name).cloned())
    }

    /// Opens or creates `name` (new ones on the default model); the flag
    /// says whether it is new.
    pub fn create(&self, name: &str) -> Result<(Arc<KnowledgeBase>, bool)> {
        self.create_with_model(name, None)
    }

    /// Opens or creates `name`. A new knowledge base gets `model` (or the
    /// default); asking an existing one for another model is an error, since
    /// changing it means re-embedding everything.
    pub fn create_with_model(
        &self,
        name: &str,
        model: Option<&str>,
    ) -> Result<(Arc<KnowledgeBase>, bool)> {
        validate_kb_name(name)?;
        if let Some(m) = model
            && !self.models.contains(m)
        {
            return Err(Error::InvalidInput(format!(
                "unknown model {m:?}; configured models: {}",
                self.models.names().join(", ")
            )));
        }
        let mut kbs = self.kbs.write().map_err(|_| poisoned())?;
        if let Some(kb) = kbs.get(name) {
            return match model {
                Some(m) if m != kb.model() => Err(Error::InvalidInput(format!(
                    "knowledge base {name:?} uses model {:?}; changing it re-embeds every document (`quarry kb set-model`)",
                    kb.model()
                ))),
                _ => Ok((kb.clone(), false)),
            };
        }
        let dir = kb_dir(&self.data_dir, name);
        if let Some(db) = &self.db {
            let recorded = db.model_of(name)?;
            let model = choose_model(name, recorded.as_deref(), model, || {
                Ok(self.models.default_name().to_owned())
            })?;
            let embedder = self.models.get(&model)?;
            let kb = Arc::new(KnowledgeBase::open_shared(
                db.clone(),
                name,
                &dir,
                &model,
                embedder,
                self.options,
            )?);
            // Registered last: a knowledge base is listed once its schema exists.
            let model = db.register(name, &model)?;
            if model != kb.model() {
                return Err(Error::InvalidInput(format!(
                    "knowledge base {name:?} was created with model {model:?} by another node at the same time"
                )));
            }
            kbs.insert(name.to_owned(), kb.clone());
            return Ok((kb, recorded.is_none()));
        }
        let existed = dir.join("quarry.db").is_file();
        let recorded = recorded_model(&dir)?;
        let model = choose_model(name, recorded.as_deref(), model, || {
            if existed {
                self.legacy_model(&dir)
            } else {
                Ok(self.models.default_name().to_owned())
            }
        })?;
        let embedder = self.models.get(&model)?;
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let kb = Arc::new(KnowledgeBase::open_with_model(
            &dir,
            &model,
            embedder,
            self.options,
        )?);
        if recorded.is_none() {
            record_model(&dir, &model)?;
        }
        kbs.insert(name.to_owned(), kb.clone());
        Ok((kb, !existed))
    }

    /// The model of a knowledge base made before models were recorded by
    /// name: the one whose id its store carries.
    fn legacy_model(&self, dir: &Path) -> Result<String> {
        let store = crate::SqliteStore::open(&dir.join("quarry.db"))?;
        let id = crate::ChunkStore::meta(&store, "model_id")?;
        Ok(id
            .and_then(|id| self.models.name_of_id(&id))
            .unwrap_or_else(|| crate::models::ENGLISH_MODEL.to_owned()))
    }

    /// Replaces `name`'s entry by a knowledge base opened from its folder
    /// again (after a re-embedding swapped the folder).
    pub fn reopen(&self, name: &str) -> Result<Arc<KnowledgeBase>> {
        self.kbs.write().map_err(|_| poisoned())?.remove(name);
        Ok(self.create(name)?.0)
    }

    /// Closes `name` (its folder stays); it must not be in use elsewhere.
    pub fn close(&self, name: &str) -> Result<()> {
        self.kbs.write().map_err(|_| poisoned())?.remove(name);
        Ok(())
    }

    /// Removes a knowledge base and its folder. `default` cannot be removed.
    pub fn remove(&self, name: &str) -> Result<bool> {
        if name == DEFAULT_KB {
            return Err(Error::InvalidInput(
                "the default knowledge base cannot be deleted".into(),
            ));
        }
        let removed = self.kbs.write().map_err(|_| poisoned())?.remove(name);
        if let Some(db) = &self.db {
            return db.drop_knowledge_base(name);
        }
        let Some(kb) = removed else {
            return Ok(false);
        };
        let dir = kb.dir().to_owned();
        drop(kb);
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(true)
    }

    /// Writes every knowledge base's vector snapshot.
    pub fn flush(&self) -> Result<()> {
        let kbs: Vec<_> = self
            .kbs
            .read()
            .map_err(|_| poisoned())?
            .values()
            .cloned()
            .collect();
        for kb in kbs {
            kb.flush()?;
        }
        Ok(())
    }
}

/// The model a knowledge base opens with: the one `recorded` for it,
/// which `asked` may not contradict, else `asked`, else `unrecorded()`.
fn choose_model(
    name: &str,
    recorded: Option<&str>,
    asked: Option<&str>,
    unrecorded: impl FnOnce() -> Result<String>,
) -> Result<String> {
    match (recorded, asked) {
        (Some(r), Some(m)) if r != m => Err(Error::InvalidInput(format!(
            "knowledge base {name:?} uses model {r:?}; changing it re-embeds every document (`quarry kb set-model`)"
        ))),
        (Some(r), _) => Ok(r.to_owned()),
        (None, Some(m)) => Ok(m.to_owned()),
        (None, None) => unrecorded(),
    }
}

/// The file in a knowledge base's folder that names its model.
pub const MODEL_FILE: &str = "MODEL";

/// The model recorded in a knowledge base folder, if any.
pub fn recorded_model(dir: &Path) -> Result<Option<String>> {
    let path = dir.join(MODEL_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// Records `model` as the model of the knowledge base in `dir` (atomically).
pub fn record_model(dir: &Path, model: &str) -> Result<()> {
    let path = dir.join(MODEL_FILE);
    let part = dir.join("MODEL.part");
    std::fs::write(&part, format!("{model}\n")).map_err(|e| Error::io(&part, e))?;
    std::fs::rename(&part, &path).map_err(|e| Error::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HashEmbedder;

    #[test]
    fn names_are_checked_and_default_always_exists() {
        for bad in ["", "Big", "a/b", "..", "-x", &"x".repeat(65)] {
            assert!(validate_kb_name(bad).is_err(), "{bad:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let models = Arc::new(
            Models::single("hash-16", Arc::new(HashEmbedder::new(16)))
                .with("hash-32", Arc::new(HashEmbedder::new(32))),
        );
        let catalog = Catalog::open(dir.path(), models.clone(), IndexOptions::default()).unwrap();
        assert_eq!(catalog.names(), ["default"]);
        let (_, created) = catalog.create("brand-b").unwrap();
        assert!(created);
        let (wide, _) = catalog.create_with_model("wide", Some("hash-32")).unwrap();
        assert_eq!(
            (wide.model(), wide.embedder().dimensions()),
            ("hash-32", 32)
        );
        let err = catalog
            .create_with_model("wide", Some("hash-16"))
            .unwrap_err();
        assert!(err.to_string().contains("set-model"), "{err}");
        assert!(catalog.create_with_model("x", Some("nope")).is_err());
        drop((catalog, wide));
        let catalog = Catalog::open(dir.path(), models, IndexOptions::default()).unwrap();
        assert_eq!(catalog.names(), ["brand-b", "default", "wide"]);
        // The model is remembered per knowledge base, not taken from the default.
        let wide = catalog.get("wide").unwrap().unwrap();
        assert_eq!(wide.model(), "hash-32");
        drop(wide);
        assert!(catalog.remove("wide").unwrap());
        assert!(catalog.remove("default").is_err());
        assert!(catalog.remove("brand-b").unwrap());
        assert!(!kb_dir(dir.path(), "brand-b").exists());
        assert!(catalog.get("brand-b").unwrap().is_none());
    }
}
