use crate::archive::is_ole2;
use crate::cfg::Config;
use crate::delimited::Delimited;
use crate::docx::Docx;
use crate::html::Html;
use crate::json::Json;
use crate::markdown::Markdown;
use crate::media::{Media, MediaOptions};
use crate::pdf::Pdf;
use crate::pptx::Pptx;
use crate::rst::Rst;
use crate::sheet::Spreadsheet;
use crate::subtitles::Subtitles;
use crate::text::{PlainText, looks_binary};
use crate::xml::Xml;
use crate::{Document, Error, Format, Input, Limits, Result};

/// Picks the [`Format`] for an input and parses it.
///
/// Order: a strong byte signature wins (a PDF named `.txt` is a PDF), then the
/// declared media type, then the extension. Text without a known extension is
/// read as plain text; binary without one is unsupported.
pub struct Registry {
    formats: Vec<Box<dyn Format>>,
    limits: Limits,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field(
                "formats",
                &self.formats.iter().map(|x| x.name()).collect::<Vec<_>>(),
            )
            .field("limits", &self.limits)
            .finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        // Order matters for sniffing: specific signatures first.
        Self::new(vec![
            Box::new(Pdf),
            Box::new(Docx),
            Box::new(Pptx),
            Box::new(Spreadsheet),
            Box::new(Media::default()),
            Box::new(Subtitles),
            Box::new(Html),
            Box::new(Markdown),
            Box::new(Rst),
            Box::new(Delimited),
            Box::new(Json),
            Box::new(Xml),
            Box::new(Config),
            Box::new(PlainText),
        ])
    }
}

/// Signatures of common formats quarry does not read, so a PNG named
/// `manual.pdf` is reported as what it is.
const FOREIGN: &[(&[u8], &str)] = &[
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xFF\xD8\xFF", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1F\x8B", "gzip-compressed data"),
    (b"\x7FELF", "an executable"),
    (b"MZ", "an executable"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xBC\xAF\x27\x1C", "a 7-Zip archive"),
];

impl Registry {
    pub fn new(formats: Vec<Box<dyn Format>>) -> Self {
        Self {
            formats,
            limits: Limits::default(),
        }
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.limits.max_bytes = max_bytes;
        self
    }

    /// Reads videos with these settings (ffmpeg paths, duration limit) and,
    /// for videos without subtitles, this speech-to-text.
    pub fn with_media(
        mut self,
        options: MediaOptions,
        speech: Option<std::sync::Arc<dyn crate::media::SpeechToText>>,
    ) -> Self {
        for f in &mut self.formats {
            if f.name() == "media" {
                *f = Box::new(Media {
                    options: options.clone(),
                    speech: speech.clone(),
                });
            }
        }
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn by_name(&self, name: &str) -> Option<&dyn Format> {
        self.formats
            .iter()
            .find(|f| f.name() == name)
            .map(|f| f.as_ref())
    }

    /// Every extension some format claims, sorted; for error messages and the
    /// file walker.
    pub fn supported_extensions(&self) -> Vec<&'static str> {
        let mut exts: Vec<_> = self
            .formats
            .iter()
            .flat_map(|f| f.extensions().iter().copied())
            .collect();
        exts.sort_unstable();
        exts.dedup();
        exts
    }

    pub fn supports_extension(&self, ext: &str) -> bool {
        let ext = ext.to_ascii_lowercase();
        self.formats
            .iter()
            .any(|f| f.extensions().contains(&ext.as_str()))
    }

    /// Whether some format claims the media type (parameters such as
    /// `; charset=utf-8` are ignored).
    pub fn supports_media_type(&self, media_type: &str) -> bool {
        let essence = media_type
            .split(';')
            .next()
            .unwrap_or(media_type)
            .trim()
            .to_ascii_lowercase();
        self.formats
            .iter()
            .any(|f| f.media_types().contains(&essence.as_str()))
    }

    fn unsupported(&self, detail: Option<String>) -> Error {
        Error::Unsupported {
            detail,
            supported: self
                .supported_extensions()
                .iter()
                .map(|e| format!(".{e}"))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// The format that will parse `input`.
    pub fn detect(&self, input: &Input<'_>) -> Result<&dyn Format> {
        let head = &input.bytes[..input.bytes.len().min(4096)];
        let ext = input.extension();
        // An OLE2 file named .docx/.pptx is an encrypted Office file (or a
        // legacy .doc/.ppt): let that format say so.
        if is_ole2(head)
            && let Some(f) = match ext.as_deref() {
                Some("docx" | "doc") => self.by_name("docx"),
                Some("pptx" | "ppt") => self.by_name("pptx"),
                _ => None,
            }
        {
            return Ok(f);
        }
        if let Some(f) = self.formats.iter().find(|f| f.sniff(input.bytes)) {
            return Ok(f.as_ref());
        }
        // Content that contradicts a supported extension (a PNG named .pdf)
        // is named for what it is; an unsupported extension speaks for itself.
        if let Some((_, what)) = FOREIGN.iter().find(|(sig, _)| head.starts_with(sig))
            && ext.as_deref().is_none_or(|e| self.supports_extension(e))
        {
            let named = ext
                .as_deref()
                .map(|e| format!(" named .{e}"))
                .unwrap_or_default();
            return Err(self.unsupported(Some(format!("the content is {what}{named}"))));
        }
        if let Some(mt) = input.media_type {
            let essence = mt
                .split(';')
                .next()
                .unwrap_or(mt)
                .trim()
                .to_ascii_lowercase();
            if let Some(f) = self
                .formats
                .iter()
                .find(|f| f.media_types().contains(&essence.as_str()))
            {
                return Ok(f.as_ref());
            }
        }
        match ext {
            Some(ext) => {
                if let Some(f) = self
                    .formats
                    .iter()
                    .find(|f| f.extensions().contains(&ext.as_str()))
                {
                    return Ok(f.as_ref());
                }
                Err(self.unsupported(Some(format!(".{ext}"))))
            }
            None if !looks_binary(head) => self
                .formats
                .iter()
                .find(|f| f.name() == "text")
                .map(|f| f.as_ref())
                .ok_or_else(|| self.unsupported(None)),
            None => Err(self.unsupported(Some("binary content".into()))),
        }
    }

    /// Detects the format and parses; an empty result is an error, not a
    /// silent success.
    pub fn parse(&self, input: &Input<'_>) -> Result<Document> {
        if input.bytes.len() > self.limits.max_bytes {
            return Err(Error::TooLarge {
                size: input.bytes.len(),
                limit: self.limits.max_bytes,
            });
        }
        if input.bytes.is_empty() {
            return Err(Error::Empty);
        }
        let input = input.with_limits(self.limits);
        let doc = self.detect(&input)?.parse(&input)?;
        if doc.sections.iter().all(|s| s.text.trim().is_empty()) {
            return Err(Error::Empty);
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_beats_a_wrong_extension() {
        let r = Registry::default();
        let f = r
            .detect(&Input::new(
                "page.txt",
                b"<!DOCTYPE html><html><body>x</body></html>",
            ))
            .unwrap();
        assert_eq!(f.name(), "html");
    }

    #[test]
    fn unknown_binary_is_unsupported_and_lists_formats() {
        let r = Registry::default();
        let err = r
            .parse(&Input::new("tool.exe", b"MZ\x90\x00\x03\x00\x00\x00"))
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("unsupported format (.exe)"), "{msg}");
        assert!(msg.contains(".md") && msg.contains(".html"), "{msg}");
    }

    #[test]
    fn foreign_content_is_named() {
        let r = Registry::default();
        let err = r
            .parse(&Input::new("manual.pdf", b"\x89PNG\r\n\x1a\n\x00\x00"))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("the content is a PNG image named .pdf"),
            "{err}"
        );
    }

    #[test]
    fn text_without_extension_is_plain_text() {
        let r = Registry::default();
        assert_eq!(
            r.detect(&Input::new("README", b"hello there"))
                .unwrap()
                .name(),
            "text"
        );
    }

    #[test]
    fn empty_documents_are_errors() {
        let r = Registry::default();
        assert_eq!(r.parse(&Input::new("a.txt", b"  \n\n ")), Err(Error::Empty));
    }

    #[test]
    fn size_limit_is_enforced() {
        let r = Registry::default().with_max_bytes(4);
        assert!(matches!(
            r.parse(&Input::new("a.txt", b"hello")),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn media_type_is_used_when_extension_is_missing() {
        let r = Registry::default();
        let input = Input::new("https://x.test/page", b"# Title\n\ntext")
            .with_media_type("text/markdown; charset=utf-8");
        assert_eq!(r.detect(&input).unwrap().name(), "markdown");
    }
}
