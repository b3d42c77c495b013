//! [`Catalog`]: the knowledge bases of a data directory, one folder each
//! under `kb/` (`kb/default` always exists). Every knowledge base has its own
//! store, vector index, keyword index, sources and settings; they share the
//! embedding model.

use crate::embed::Embedder;
use crate::kb::{IndexOptions, KnowledgeBase};
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
    embedder: Arc<dyn Embedder>,
    options: IndexOptions,
    kbs: RwLock<BTreeMap<String, Arc<KnowledgeBase>>>,
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
    pub fn open(
        data_dir: &Path,
        embedder: Arc<dyn Embedder>,
        options: IndexOptions,
    ) -> Result<Self> {
        let root = data_dir.join("kb");
        std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        let catalog = Self {
            data_dir: data_dir.to_owned(),
            embedder,
            options,
            kbs: RwLock::new(BTreeMap::new()),
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

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// Names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.kbs
            .read()
            .map(|k| k.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every knowledge base with its name, sorted by name.
    pub fn all(&self) -> Vec<(String, Arc<KnowledgeBase>)> {
        self.kbs
            .read()
            .map(|k| k.iter().map(|(n, kb)| (n.clone(), kb.clone())).collect())
            .unwrap_or_default()
    }

    /// The knowledge base called `name`, if it exists.
    pub fn get(&self, name: &str) -> Result<Option<Arc<KnowledgeBase>>> {
        Ok(self.kbs.read().map_err(|_| poisoned())?.get(name).cloned())
    }

    /// Opens or creates `name`; the flag says whether it is new.
    pub fn create(&self, name: &str) -> Result<(Arc<KnowledgeBase>, bool)> {
        validate_kb_name(name)?;
        let mut kbs = self.kbs.write().map_err(|_| poisoned())?;
        if let Some(kb) = kbs.get(name) {
            return Ok((kb.clone(), false));
        }
        let dir = kb_dir(&self.data_dir, name);
        let existed = dir.join("quarry.db").is_file();
        let kb = Arc::new(KnowledgeBase::open(
            &dir,
            self.embedder.clone(),
            self.options,
        )?);
        kbs.insert(name.to_owned(), kb.clone());
        Ok((kb, !existed))
    }

    /// Removes a knowledge base and its folder. `default` cannot be removed.
    pub fn remove(&self, name: &str) -> Result<bool> {
        if name == DEFAULT_KB {
            return Err(Error::InvalidInput(
                "the default knowledge base cannot be deleted".into(),
            ));
        }
        let removed = self.kbs.write().map_err(|_| poisoned())?.remove(name);
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
        let embedder = Arc::new(HashEmbedder::new(16));
        let catalog = Catalog::open(dir.path(), embedder.clone(), IndexOptions::default()).unwrap();
        assert_eq!(catalog.names(), ["default"]);
        let (_, created) = catalog.create("brand-b").unwrap();
        assert!(created);
        drop(catalog);
        let catalog = Catalog::open(dir.path(), embedder, IndexOptions::default()).unwrap();
        assert_eq!(catalog.names(), ["brand-b", "default"]);
        assert!(catalog.remove("default").is_err());
        assert!(catalog.remove("brand-b").unwrap());
        assert!(!kb_dir(dir.path(), "brand-b").exists());
        assert!(catalog.get("brand-b").unwrap().is_none());
    }
}
