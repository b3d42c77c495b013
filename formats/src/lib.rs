//! Bytes + media type → [`Document`] of [`Section`]s with [`Locator`]s.
//!
//! Pure and synchronous: no network, no filesystem walking. A [`Registry`]
//! picks a [`Format`] by sniffing the bytes, then by media type, then by file
//! extension, and the format parses the bytes into sections that keep their
//! heading path and an exact locator (page, slide, sheet + rows, time range,
//! HTML anchor, line range) so every passage can be cited.
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

mod document;
mod error;
mod format;
pub mod html;
pub mod markdown;
mod registry;
pub mod text;

pub use document::{Document, Locator, Mark, Section, SectionKind};
pub use error::{Error, Result};
pub use format::{Format, Input};
pub use registry::Registry;
