use crate::{Document, Error, Result};
use serde::{Deserialize, Serialize};

/// Bounds on what one input may make a parser do. Every parser checks the
/// ones that apply; exceeding one fails that document with a clear error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest input, in bytes.
    pub max_bytes: usize,
    /// Largest total uncompressed size of a zip container (docx, pptx, xlsx, ods).
    pub max_uncompressed_bytes: u64,
    /// Largest uncompressed/compressed ratio of a zip container (zip bombs).
    pub max_compression_ratio: u64,
    pub max_pages: usize,
    pub max_slides: usize,
    pub max_sheets: usize,
    pub max_rows: usize,
    /// Deepest element nesting in HTML/XML/JSON.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            max_uncompressed_bytes: 512 * 1024 * 1024,
            max_compression_ratio: 200,
            max_pages: 5_000,
            max_slides: 2_000,
            max_sheets: 200,
            max_rows: 200_000,
            max_depth: 256,
        }
    }
}

impl Limits {
    /// `count` against `limit`, as a [`Error::LimitExceeded`] naming `what`.
    pub fn check(count: usize, limit: usize, what: &str) -> Result<()> {
        if count > limit {
            return Err(Error::LimitExceeded {
                what: format!("{what} ({count})"),
                limit: limit.to_string(),
            });
        }
        Ok(())
    }
}

/// One input to parse: the bytes and what is known about them.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// File name or URL path; its extension is a hint, not the truth.
    pub name: &'a str,
    pub bytes: &'a [u8],
    /// Declared media type (an HTTP `Content-Type`), if any.
    pub media_type: Option<&'a str>,
    pub limits: Limits,
    /// A companion file: subtitles (`name.vtt` / `name.srt`) stored beside
    /// a video, as (file name, bytes).
    pub sidecar: Option<(&'a str, &'a [u8])>,
}

impl<'a> Input<'a> {
    pub fn new(name: &'a str, bytes: &'a [u8]) -> Self {
        Self {
            name,
            bytes,
            media_type: None,
            limits: Limits::default(),
            sidecar: None,
        }
    }

    pub fn with_sidecar(mut self, name: &'a str, bytes: &'a [u8]) -> Self {
        self.sidecar = Some((name, bytes));
        self
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The file name without folders and extension.
    pub fn stem(&self) -> &str {
        let file = self.name.rsplit(['/', '\\']).next().unwrap_or(self.name);
        file.rsplit_once('.').map_or(file, |(stem, _)| stem)
    }

    pub fn with_media_type(mut self, media_type: &'a str) -> Self {
        self.media_type = Some(media_type);
        self
    }

    /// Lower-cased extension of `name`, without the dot.
    pub fn extension(&self) -> Option<String> {
        let file = self.name.rsplit(['/', '\\']).next().unwrap_or(self.name);
        let file = file.split(['?', '#']).next().unwrap_or(file);
        file.rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase())
    }
}

/// A file format quarry can parse. Open set: each format is a module.
pub trait Format: Send + Sync {
    /// Short stable name stored with each document (`"html"`).
    fn name(&self) -> &'static str;
    /// Extensions this format claims, lower case, without the dot.
    fn extensions(&self) -> &'static [&'static str];
    /// Media types this format claims (`text/html`).
    fn media_types(&self) -> &'static [&'static str];
    /// True when the bytes carry this format's signature. Only strong
    /// signatures count (magic numbers, `<!DOCTYPE html`, a zip's part names):
    /// a weak guess would let a sniff override a correct extension.
    fn sniff(&self, bytes: &[u8]) -> bool;
    fn parse(&self, input: &Input<'_>) -> Result<Document>;
}
