//! Where documents come from. [`Source`] is the extension point; the crawler
//! and pushed articles plug in here later. [`FileSource`] walks files and
//! folders.

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// One item a source can fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRef {
    /// Stable identity of the document (`file:///abs/path`).
    pub uri: String,
    /// Human-readable name for reports (a relative path); its extension
    /// helps pick the parser.
    pub name: String,
    pub size: u64,
    /// A title the source knows (an article's), preferred over the
    /// document's own.
    pub title: Option<String>,
    /// Where the document is published, when that is not `uri`.
    pub url: Option<String>,
    /// The source knows the document has not changed since the last sync
    /// (an HTTP 304): unless the pipeline's own settings changed, it is
    /// neither fetched nor parsed.
    pub unchanged: bool,
    /// Subtitles stored beside a video (`name.vtt` / `name.srt`): its URI.
    pub sidecar: Option<String>,
}

impl ItemRef {
    pub fn new(uri: impl Into<String>, name: impl Into<String>, size: u64) -> Self {
        Self {
            uri: uri.into(),
            name: name.into(),
            size,
            title: None,
            url: None,
            unchanged: false,
            sidecar: None,
        }
    }
}

/// An item's bytes.
#[derive(Debug, Clone)]
pub struct RawItem {
    pub item: ItemRef,
    pub bytes: Vec<u8>,
    pub media_type: Option<String>,
    /// The sidecar's file name and bytes, when the item has one.
    pub sidecar: Option<(String, Vec<u8>)>,
}

/// Videos and subtitle files, which pair by name (`intro.mp4` +
/// `intro.vtt`): the subtitles become the video's sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaKind {
    Video,
    Subtitles,
}

/// The stem of a file name or URI and whether it names a video or
/// subtitles (by extension, as the formats crate reads them).
pub(crate) fn media_kind(name: &str) -> Option<(&str, MediaKind)> {
    let (stem, ext) = name.rsplit_once('.')?;
    if stem.is_empty() || stem.ends_with('/') {
        return None;
    }
    let ext = ext.to_ascii_lowercase();
    if quarry_formats::media::VIDEO_EXTENSIONS.contains(&ext.as_str()) {
        Some((stem, MediaKind::Video))
    } else if quarry_formats::subtitles::SUBTITLE_EXTENSIONS.contains(&ext.as_str()) {
        Some((stem, MediaKind::Subtitles))
    } else {
        None
    }
}

/// Pairs videos with subtitles of the same stem in the same folder
/// (`intro.mp4` + `intro.vtt` or `intro.srt`): the subtitles become the
/// video's sidecar instead of a document of their own.
fn pair_sidecars(items: Vec<ItemRef>) -> Vec<ItemRef> {
    let subtitles: std::collections::HashMap<&str, String> = items
        .iter()
        .filter_map(|i| match media_kind(&i.uri)? {
            (stem, MediaKind::Subtitles) => Some((stem, i.uri.clone())),
            _ => None,
        })
        .collect();
    let sidecars: Vec<Option<String>> = items
        .iter()
        .map(|i| match media_kind(&i.uri) {
            Some((stem, MediaKind::Video)) => subtitles.get(stem).cloned(),
            _ => None,
        })
        .collect();
    let used: std::collections::HashSet<String> = sidecars.iter().flatten().cloned().collect();
    let mut items: Vec<ItemRef> = items
        .into_iter()
        .zip(sidecars)
        .map(|(mut i, sidecar)| {
            i.sidecar = sidecar;
            i
        })
        .collect();
    items.retain(|i| !used.contains(&i.uri));
    items
}

/// A collection of documents that is synced as a whole.
pub trait Source: Send + Sync {
    /// Stable id; documents remember which source brought them in.
    fn id(&self) -> &str;
    /// Everything the source holds now.
    fn scan(&self) -> Result<Vec<ItemRef>>;
    fn fetch(&self, item: &ItemRef) -> Result<RawItem>;
    /// True when `scan` lists everything, so documents it no longer lists
    /// were removed at the source and must leave the index.
    fn is_complete(&self) -> bool {
        true
    }
}

/// A file or a folder (recursive; hidden files and folders skipped).
#[derive(Debug, Clone)]
pub struct FileSource {
    root: PathBuf,
    id: String,
    max_bytes: u64,
}

/// A source narrowed to one of its documents (a resync of one URI); it is
/// never complete, so nothing else is pruned.
#[derive(Clone, Copy)]
pub struct OneItem<'a> {
    pub source: &'a dyn Source,
    pub uri: &'a str,
}

impl std::fmt::Debug for OneItem<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneItem")
            .field("source", &self.source.id())
            .field("uri", &self.uri)
            .finish()
    }
}

impl Source for OneItem<'_> {
    fn id(&self) -> &str {
        self.source.id()
    }

    fn scan(&self) -> Result<Vec<ItemRef>> {
        let items: Vec<ItemRef> = self
            .source
            .scan()?
            .into_iter()
            .filter(|i| i.uri == self.uri)
            .collect();
        if items.is_empty() {
            return Err(Error::NotFound(format!(
                "{} is not a document of source {}",
                self.uri,
                self.source.id()
            )));
        }
        Ok(items)
    }

    fn fetch(&self, item: &ItemRef) -> Result<RawItem> {
        self.source.fetch(item)
    }

    fn is_complete(&self) -> bool {
        false
    }
}

/// `file://` URI of an absolute path.
pub fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

impl FileSource {
    /// `root` is made absolute; the source id is its `file://` URI.
    pub fn new(root: &Path) -> Result<Self> {
        Self::with_id(root, None)
    }

    /// As [`FileSource::new`], with the id of a stored source.
    pub fn with_id(root: &Path, id: Option<&str>) -> Result<Self> {
        let root = std::fs::canonicalize(root)
            .map_err(|e| Error::Source(format!("{}: {e}", root.display())))?;
        Ok(Self {
            id: id.map_or_else(|| file_uri(&root), str::to_owned),
            root,
            max_bytes: 64 * 1024 * 1024,
        })
    }

    /// Files above this size are reported, not read.
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn is_hidden(entry: &walkdir::DirEntry) -> bool {
    entry.depth() > 0 && entry.file_name().to_string_lossy().starts_with('.')
}

impl Source for FileSource {
    fn id(&self) -> &str {
        &self.id
    }

    fn scan(&self) -> Result<Vec<ItemRef>> {
        let base = if self.root.is_file() {
            self.root.parent().unwrap_or(&self.root).to_owned()
        } else {
            self.root.clone()
        };
        let mut items = Vec::new();
        for entry in walkdir::WalkDir::new(&self.root)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| !is_hidden(e))
        {
            let entry = entry
                .map_err(|e| Error::Source(format!("walking {}: {e}", self.root.display())))?;
            if !entry.file_type().is_file() {
                continue;
            }
            let path = entry.path();
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            let name = path.strip_prefix(&base).unwrap_or(path).display();
            items.push(ItemRef::new(file_uri(path), name.to_string(), size));
        }
        Ok(pair_sidecars(items))
    }

    fn fetch(&self, item: &ItemRef) -> Result<RawItem> {
        let path = Path::new(item.uri.strip_prefix("file://").unwrap_or(&item.uri));
        if item.size > self.max_bytes {
            return Err(Error::Document(format!(
                "too large: {} bytes exceeds the limit of {} bytes",
                item.size, self.max_bytes
            )));
        }
        let bytes =
            std::fs::read(path).map_err(|e| Error::Document(format!("cannot read: {e}")))?;
        let sidecar = match &item.sidecar {
            Some(uri) => {
                let path = Path::new(uri.strip_prefix("file://").unwrap_or(uri));
                let bytes = std::fs::read(path).map_err(|e| {
                    Error::Document(format!("cannot read the subtitles {}: {e}", path.display()))
                })?;
                let name = path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                Some((name, bytes))
            }
            None => None,
        };
        Ok(RawItem {
            item: item.clone(),
            bytes,
            media_type: None,
            sidecar,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_recursively_skipping_hidden() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub/.git")).unwrap();
        std::fs::write(dir.path().join("a.md"), "# A").unwrap();
        std::fs::write(dir.path().join("sub/b.txt"), "b").unwrap();
        std::fs::write(dir.path().join("sub/.git/config"), "x").unwrap();
        std::fs::write(dir.path().join(".hidden"), "x").unwrap();
        let src = FileSource::new(dir.path()).unwrap();
        let names: Vec<_> = src.scan().unwrap().into_iter().map(|i| i.name).collect();
        assert_eq!(names, ["a.md", "sub/b.txt"]);
    }

    #[test]
    fn a_single_file_is_a_source() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("one.txt");
        std::fs::write(&file, "hello").unwrap();
        let src = FileSource::new(&file).unwrap();
        let items = src.scan().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].name, "one.txt");
        assert_eq!(src.fetch(&items[0]).unwrap().bytes, b"hello");
    }

    #[test]
    fn subtitles_beside_a_video_are_its_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "intro.mp4",
            "intro.vtt",
            "notes.srt",
            "talk.webm",
            "talk.srt",
        ] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        let src = FileSource::new(dir.path()).unwrap();
        let items = src.scan().unwrap();
        let names: Vec<_> = items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["intro.mp4", "notes.srt", "talk.webm"]);
        assert!(items[0].sidecar.as_deref().unwrap().ends_with("/intro.vtt"));
        assert!(items[1].sidecar.is_none());
        let raw = src.fetch(&items[2]).unwrap();
        assert_eq!(raw.sidecar.unwrap().0, "talk.srt");
    }

    #[test]
    fn missing_root_is_an_error() {
        assert!(FileSource::new(Path::new("/nonexistent/quarry")).is_err());
    }
}
