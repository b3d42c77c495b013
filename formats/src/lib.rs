//! Bytes + media type → [`Document`] of [`Section`]s with [`Locator`]s.
//!
//! Pure and synchronous: no network, no filesystem walking. A [`Registry`]
//! picks a [`Format`] by sniffing the bytes, then by media type, then by file
//! extension, and the format parses the bytes into sections that keep their
//! heading path and an exact locator (page, slide, sheet + rows, time range,
//! HTML anchor, line or paragraph range, key path) so every passage can be
//! cited. [`Limits`] bound what one input may cost (size, zip expansion,
//! pages, rows, nesting).
//!
//! Formats: HTML/HTM/XHTML, Markdown, plain text, PDF, DOCX, PPTX,
//! XLS/XLSX/ODS, CSV/TSV, JSON, XML, reStructuredText, CFG/CONF/INI.
//!
//! ```
//! use quarry_formats::{Input, Registry};
//!
//! let registry = Registry::default();
//! let html = b"<html><head><title>Help</title></head><body>\
//!     <h1 id=\"reset\">Reset your password</h1><p>Click Forgot password.</p></body></html>";
//! let doc = registry.parse(&Input::new("help.html", html)).unwrap();
//! assert_eq!(doc.title.as_deref(), Some("Help"));
//! assert_eq!(doc.sections[0].heading_path, vec!["Reset your password".to_string()]);
//! ```

mod archive;
pub mod cfg;
pub mod delimited;
mod document;
pub mod docx;
mod error;
mod format;
pub mod html;
pub mod json;
mod lines;
pub mod markdown;
pub mod media;
pub mod pdf;
pub mod pptx;
mod records;
mod registry;
pub mod rst;
pub mod sheet;
pub mod subtitles;
pub mod text;
#[cfg(feature = "whisper")]
pub mod whisper;
pub mod xml;
pub mod xmlevents;

pub use document::{Document, Locator, Mark, Section, SectionKind};
pub use error::{Error, Result, panic_message};
pub use format::{Format, Input, Limits};
pub use registry::Registry;
