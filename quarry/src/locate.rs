//! Finds the model files wherever the binary runs. A relative model path
//! from the configuration (`models/multilingual-e5-small`, the ONNX Runtime
//! library, the Whisper file) is looked up, in order, under:
//!
//! 1. the config file's folder;
//! 2. the working folder;
//! 3. `$QUARRY_MODELS_DIR` (the path without its leading `models/`);
//! 4. the install location `scripts/fetch-models.sh` links:
//!    `$XDG_DATA_HOME/quarry/models` (default `~/.local/share/quarry/models`);
//! 5. beside the binary: `BIN/../share/quarry/models` (a package or the
//!    Docker image) and `BIN/../../models` (`target/release` in a checkout).
//!
//! The first place holding the file wins; when none does, every place is
//! kept so the error (and `quarry doctor`) can name them.

use std::path::{Path, PathBuf};

/// One place models are looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// What the place is, for `quarry doctor`.
    pub label: &'static str,
    pub base: PathBuf,
    /// The place is a models folder: `models/x` is looked up as `base/x`.
    pub models_folder: bool,
}

/// The result of one search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// What was looked for (`multilingual-e5-small model`, …).
    pub what: String,
    /// The path as configured.
    pub configured: PathBuf,
    /// Where it was found, with the label of the place.
    pub found: Option<(PathBuf, &'static str)>,
    /// Every path tried, in order.
    pub tried: Vec<PathBuf>,
}

/// The ordered places of one process.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub places: Vec<Place>,
}

/// `$XDG_DATA_HOME/quarry/models`, else `~/.local/share/quarry/models`.
pub fn install_dir() -> Option<PathBuf> {
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data_home.join("quarry/models"))
}

impl Search {
    /// The places for a configuration read from `config_dir` (none: no
    /// config file), from this process's environment and binary.
    pub fn new(config_dir: Option<&Path>) -> Self {
        let mut places = Vec::new();
        let mut push = |label, base: PathBuf, models_folder| {
            let place = Place {
                label,
                base,
                models_folder,
            };
            if !places.contains(&place) {
                places.push(place);
            }
        };
        if let Some(dir) = config_dir {
            push("config folder", absolute(dir), false);
        }
        if let Ok(cwd) = std::env::current_dir() {
            push("working folder", cwd, false);
        }
        if let Some(dir) = std::env::var_os("QUARRY_MODELS_DIR").filter(|v| !v.is_empty()) {
            push("QUARRY_MODELS_DIR", absolute(Path::new(&dir)), true);
        }
        if let Some(dir) = install_dir() {
            push("install location", dir, true);
        }
        if let Some(bin) = std::env::current_exe().ok().and_then(|e| {
            let e = e.canonicalize().unwrap_or(e);
            e.parent().map(Path::to_path_buf)
        }) {
            push(
                "beside the binary",
                bin.join("../share/quarry/models"),
                true,
            );
            push("the binary's checkout", bin.join("../../models"), true);
        }
        Self { places }
    }

    /// Looks `path` up; `present` says whether a candidate holds it.
    pub fn find(&self, what: &str, path: &Path, present: impl Fn(&Path) -> bool) -> Located {
        let mut located = Located {
            what: what.to_owned(),
            configured: path.to_path_buf(),
            found: None,
            tried: Vec::new(),
        };
        if path.is_absolute() {
            located.tried.push(path.to_path_buf());
            if present(path) {
                located.found = Some((path.to_path_buf(), "configured path"));
            }
            return located;
        }
        let inside_models = path.strip_prefix("models").ok();
        for place in &self.places {
            let candidate = match (place.models_folder, inside_models) {
                (true, Some(rest)) => place.base.join(rest),
                (true, None) | (false, _) => place.base.join(path),
            };
            if located.tried.contains(&candidate) {
                continue;
            }
            located.tried.push(candidate.clone());
            if present(&candidate) {
                located.found = Some((candidate, place.label));
                break;
            }
        }
        located
    }
}

fn absolute(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(places: &[(&'static str, &Path, bool)]) -> Search {
        Search {
            places: places
                .iter()
                .map(|(label, base, models_folder)| Place {
                    label,
                    base: base.to_path_buf(),
                    models_folder: *models_folder,
                })
                .collect(),
        }
    }

    #[test]
    fn the_first_place_holding_the_file_wins_and_every_place_is_named_otherwise() {
        let tmp = tempfile::tempdir().unwrap();
        let (config, models_env, installed) = (
            tmp.path().join("etc"),
            tmp.path().join("m"),
            tmp.path().join("share"),
        );
        std::fs::create_dir_all(installed.join("e5")).unwrap();
        std::fs::write(installed.join("e5/model.onnx"), b"x").unwrap();
        let s = search(&[
            ("config folder", &config, false),
            ("QUARRY_MODELS_DIR", &models_env, true),
            ("install location", &installed, true),
        ]);
        let onnx = |p: &Path| p.join("model.onnx").is_file();
        let found = s.find("e5", Path::new("models/e5"), onnx);
        assert_eq!(
            found.found,
            Some((installed.join("e5"), "install location"))
        );
        assert_eq!(
            found.tried,
            [
                config.join("models/e5"),
                models_env.join("e5"),
                installed.join("e5")
            ]
        );
        // Found in an earlier place once it is there.
        std::fs::create_dir_all(config.join("models/e5")).unwrap();
        std::fs::write(config.join("models/e5/model.onnx"), b"x").unwrap();
        let found = s.find("e5", Path::new("models/e5"), onnx);
        assert_eq!(found.found.unwrap().1, "config folder");
        let missing = s.find("minilm", Path::new("models/minilm"), onnx);
        assert!(missing.found.is_none());
        assert_eq!(missing.tried.len(), 3);
        // An absolute path is taken as it is.
        let abs = s.find("x", &tmp.path().join("nowhere"), onnx);
        assert_eq!(abs.tried, [tmp.path().join("nowhere")]);
    }
}
