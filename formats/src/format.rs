use crate::{Document, Result};

/// One input to parse: the bytes and what is known about them.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// File name or URL path; its extension is a hint, not the truth.
    pub name: &'a str,
    pub bytes: &'a [u8],
    /// Declared media type (an HTTP `Content-Type`), if any.
    pub media_type: Option<&'a str>,
}

impl<'a> Input<'a> {
    pub fn new(name: &'a str, bytes: &'a [u8]) -> Self {
        Self {
            name,
            bytes,
            media_type: None,
        }
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
    /// True when the leading bytes carry this format's signature. Only strong
    /// signatures count (magic numbers, `<!DOCTYPE html`): a weak guess would
    /// let a sniff override a correct extension.
    fn sniff(&self, head: &[u8]) -> bool;
    fn parse(&self, input: &Input<'_>) -> Result<Document>;
}
