//! HTML, HTM and XHTML: title, heading hierarchy with anchor ids, and the main
//! content without navigation, footers, scripts or styles.
//!
//! Sections start at every heading and at every empty anchor marker
//! (`<a name="q1"></a>`, `<span id="x"></span>`), so FAQ-style pages that
//! mark each answer with an anchor get one citable section per answer.

use crate::text::{clean, decode};
use crate::{Document, Format, Input, Locator, Result, Section, SectionKind};
use scraper::node::Element;
use scraper::{ElementRef, Html as HtmlDoc, Node, Selector};

#[derive(Debug, Clone, Copy, Default)]
pub struct Html;

impl Format for Html {
    fn name(&self) -> &'static str {
        "html"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["html", "htm", "xhtml"]
    }

    fn media_types(&self) -> &'static [&'static str] {
        &["text/html", "application/xhtml+xml"]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        let start = head
            .iter()
            .position(|b| !b.is_ascii_whitespace() && *b != 0xEF && *b != 0xBB && *b != 0xBF);
        let Some(start) = start else { return false };
        let head = &head[start..head.len().min(start + 256)];
        let lower: Vec<u8> = head.iter().map(|b| b.to_ascii_lowercase()).collect();
        lower.starts_with(b"<!doctype html")
            || lower.starts_with(b"<html")
            || (lower.starts_with(b"<?xml") && contains(&lower, b"<html"))
    }

    fn parse(&self, input: &Input<'_>) -> Result<Document> {
        let charset = declared_charset(input.bytes);
        let source = decode(input.bytes, charset.as_deref(), "html")?;
        Ok(parse_html_with_depth(&source, input.limits.max_depth))
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `<meta charset=…>` or `content="…; charset=…"` in the first 2 KiB.
fn declared_charset(bytes: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(2048)]).to_ascii_lowercase();
    let at = head.find("charset=")? + "charset=".len();
    let value: String = head[at..]
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!value.is_empty()).then_some(value)
}

fn selector(css: &str) -> Option<Selector> {
    Selector::parse(css).ok()
}

/// Parses already-decoded HTML.
pub fn parse_html(source: &str) -> Document {
    parse_html_with_depth(source, crate::Limits::default().max_depth)
}

/// Parses already-decoded HTML; elements nested deeper than `max_depth` are
/// flattened to their text instead of walked (the walk is recursive).
pub fn parse_html_with_depth(source: &str, max_depth: usize) -> Document {
    let dom = HtmlDoc::parse_document(source);
    let title = selector("title")
        .and_then(|s| dom.select(&s).next())
        .map(|t| collapse(&t.text().collect::<String>()))
        .filter(|t| !t.is_empty());
    let language = selector("html")
        .and_then(|s| dom.select(&s).next())
        .and_then(|h| h.value().attr("lang"))
        .map(|l| l.trim().to_ascii_lowercase())
        .filter(|l| !l.is_empty());
    let root = ["main", "[role=main]", "article", "body"]
        .iter()
        .filter_map(|css| selector(css))
        .find_map(|s| dom.select(&s).next())
        .unwrap_or_else(|| dom.root_element());
    let mut walker = Walker::new(root.value().name() == "body", max_depth);
    walker.walk(root);
    walker.flush();
    let title = title.or_else(|| walker.first_heading.clone());
    Document {
        title,
        format: "html".into(),
        language,
        sections: walker.sections,
    }
}

/// Collapses runs of whitespace to one space and trims.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "aside", "form", "svg", "button", "iframe",
    "select", "input", "textarea", "head", "title", "object", "canvas",
];
/// Skipped only when we had to fall back to `<body>` as the content root:
/// inside `<main>`/`<article>` a header usually holds the page title.
const SKIPPED_IN_BODY: &[&str] = &["header", "footer"];
const BOILERPLATE_TOKENS: &[&str] = &[
    "nav",
    "navbar",
    "menu",
    "mainmenu",
    "submenu",
    "sidebar",
    "breadcrumb",
    "breadcrumbs",
    "footer",
    "cookie",
    "banner",
    "skip-link",
    "toc",
    "searchmenu",
    "nosearch",
];
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "blockquote",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "li",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "pre",
    "figure",
    "figcaption",
    "details",
    "summary",
    "address",
    "hr",
    "header",
    "footer",
    "center",
];

fn heading_level(name: &str) -> Option<usize> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

fn is_boilerplate(el: &Element) -> bool {
    if el.attr("hidden").is_some() || el.attr("aria-hidden") == Some("true") {
        return true;
    }
    if matches!(
        el.attr("role"),
        Some("navigation" | "banner" | "contentinfo" | "search")
    ) {
        return true;
    }
    let tokens = el.classes().chain(el.id());
    tokens
        .flat_map(|t| t.split(['-', '_']).chain(std::iter::once(t)))
        .any(|t| BOILERPLATE_TOKENS.contains(&t.to_ascii_lowercase().as_str()))
}

/// A list that is mostly links (a table of contents, a menu) is navigation.
fn is_link_list(el: ElementRef<'_>) -> bool {
    let items = el
        .children()
        .filter_map(ElementRef::wrap)
        .filter(|c| c.value().name() == "li")
        .count();
    if items < 3 {
        return false;
    }
    let total: usize = el.text().map(|t| t.trim().len()).sum();
    let linked: usize = selector("a")
        .map(|a| {
            el.select(&a)
                .flat_map(|a| a.text())
                .map(|t| t.trim().len())
                .sum()
        })
        .unwrap_or(0);
    total > 0 && linked * 10 >= total * 8
}

struct Walker {
    sections: Vec<Section>,
    headings: Vec<(usize, String)>,
    anchor: Option<String>,
    buf: String,
    pre_depth: usize,
    table_depth: usize,
    skip_in_body: bool,
    first_heading: Option<String>,
    depth: usize,
    max_depth: usize,
}

impl Walker {
    fn new(root_is_body: bool, max_depth: usize) -> Self {
        Self {
            sections: Vec::new(),
            headings: Vec::new(),
            anchor: None,
            buf: String::new(),
            pre_depth: 0,
            table_depth: 0,
            skip_in_body: root_is_body,
            first_heading: None,
            depth: 0,
            max_depth,
        }
    }

    fn flush(&mut self) {
        let text = clean(self.buf.trim());
        self.buf.clear();
        if text.is_empty() {
            return;
        }
        let locator = match &self.anchor {
            Some(id) => Locator::Anchor { id: id.clone() },
            None => Locator::Document,
        };
        let mut section = Section::new(
            self.headings.iter().map(|(_, h)| h.clone()).collect(),
            text,
            locator,
        );
        if self.table_depth > 0 {
            section.kind = SectionKind::Table;
        }
        self.sections.push(section);
    }

    fn block_break(&mut self) {
        // Right after a list marker, the item's first block (`<li><p>…`)
        // belongs on the marker's line.
        if self.buf.ends_with("- ")
            && self.buf[..self.buf.len() - 2]
                .trim_end_matches(' ')
                .ends_with(['\n'])
            || self.buf == "- "
        {
            return;
        }
        let trimmed = self.buf.trim_end_matches([' ', '\t']).len();
        self.buf.truncate(trimmed);
        if !self.buf.is_empty() && !self.buf.ends_with("\n\n") {
            self.buf.push_str(if self.buf.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            });
        }
    }

    fn line_break(&mut self) {
        let trimmed = self.buf.trim_end_matches([' ', '\t']).len();
        self.buf.truncate(trimmed);
        if !self.buf.is_empty() && !self.buf.ends_with('\n') {
            self.buf.push('\n');
        }
    }

    fn push_text(&mut self, text: &str) {
        if self.pre_depth > 0 {
            self.buf.push_str(text);
            return;
        }
        let starts_ws = text.starts_with(char::is_whitespace);
        let ends_ws = text.ends_with(char::is_whitespace);
        let words = collapse(text);
        if words.is_empty() {
            if starts_ws && !self.buf.is_empty() && !self.buf.ends_with([' ', '\n']) {
                self.buf.push(' ');
            }
            return;
        }
        if starts_ws && !self.buf.is_empty() && !self.buf.ends_with([' ', '\n']) {
            self.buf.push(' ');
        }
        self.buf.push_str(&words);
        if ends_ws {
            self.buf.push(' ');
        }
    }

    fn start_section_at_anchor(&mut self, id: &str) {
        self.flush();
        self.anchor = Some(id.to_owned());
    }

    fn heading(&mut self, level: usize, el: ElementRef<'_>) {
        let text = collapse(&el.text().collect::<String>());
        if text.is_empty() {
            return;
        }
        self.flush();
        while self.headings.last().is_some_and(|(l, _)| *l >= level) {
            self.headings.pop();
        }
        self.headings.push((level, text.clone()));
        if self.first_heading.is_none() {
            self.first_heading = Some(text);
        }
        let own = el.value().id().map(str::to_owned).or_else(|| {
            el.descendants().filter_map(ElementRef::wrap).find_map(|a| {
                a.value()
                    .id()
                    .or_else(|| a.value().attr("name"))
                    .map(str::to_owned)
            })
        });
        if own.is_some() {
            self.anchor = own;
        }
    }

    fn walk(&mut self, el: ElementRef<'_>) {
        if self.depth >= self.max_depth {
            // `text()` iterates without recursion.
            let text: Vec<&str> = el.text().collect();
            self.block_break();
            self.push_text(&text.join(" "));
            self.block_break();
            return;
        }
        self.depth += 1;
        for child in el.children() {
            match child.value() {
                Node::Text(t) => self.push_text(t),
                Node::Element(e) => {
                    let Some(child_el) = ElementRef::wrap(child) else {
                        continue;
                    };
                    self.element(e, child_el);
                }
                _ => {}
            }
        }
        self.depth -= 1;
    }

    fn element(&mut self, e: &Element, el: ElementRef<'_>) {
        let name = e.name();
        if SKIPPED.contains(&name)
            || (self.skip_in_body && SKIPPED_IN_BODY.contains(&name))
            || is_boilerplate(e)
        {
            return;
        }
        if let Some(level) = heading_level(name) {
            self.heading(level, el);
            return;
        }
        let marker = e
            .id()
            .or_else(|| if name == "a" { e.attr("name") } else { None });
        if let Some(id) = marker
            && el.text().all(|t| t.trim().is_empty())
            && el.children().all(|c| !c.value().is_element())
        {
            self.start_section_at_anchor(id);
            return;
        }
        if matches!(name, "ul" | "ol") && is_link_list(el) {
            return;
        }
        match name {
            "br" => self.line_break(),
            "pre" => {
                self.block_break();
                self.pre_depth += 1;
                self.walk(el);
                self.pre_depth -= 1;
                self.block_break();
            }
            "li" => {
                self.line_break();
                self.buf.push_str("- ");
                self.walk(el);
                self.line_break();
            }
            "table" => {
                self.block_break();
                self.table_depth += 1;
                self.walk(el);
                self.table_depth -= 1;
                self.block_break();
            }
            "tr" => {
                self.line_break();
                let mut first = true;
                for cell in el.children().filter_map(ElementRef::wrap) {
                    if !matches!(cell.value().name(), "td" | "th") {
                        continue;
                    }
                    if !first {
                        self.buf.push_str(" | ");
                    }
                    first = false;
                    self.walk(cell);
                    let trimmed = self.buf.trim_end_matches([' ', '\n']).len();
                    self.buf.truncate(trimmed);
                }
                self.line_break();
            }
            "img" => {
                if let Some(alt) = e.attr("alt").map(collapse).filter(|a| !a.is_empty()) {
                    self.push_text(&format!(" {alt} "));
                }
            }
            _ if BLOCKS.contains(&name) => {
                self.block_break();
                self.walk(el);
                self.block_break();
            }
            _ => self.walk(el),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(html: &str) -> Document {
        Html.parse(&Input::new("x.html", html.as_bytes())).unwrap()
    }

    #[test]
    fn headings_build_paths_and_anchors() {
        let doc = parse(
            r#"<html lang="en"><head><title>Guide</title></head><body>
            <h1 id="top">Guide</h1><p>Intro text.</p>
            <h2 id="install">Install</h2><p>Run the   installer.</p>
            <h3><a name="linux"></a>On Linux</h3><p>Use apt.</p>
            <h2 id="use">Use</h2><p>Open it.</p></body></html>"#,
        );
        assert_eq!(doc.title.as_deref(), Some("Guide"));
        assert_eq!(doc.language.as_deref(), Some("en"));
        let paths: Vec<_> = doc
            .sections
            .iter()
            .map(|s| s.heading_path.join(" > "))
            .collect();
        assert_eq!(
            paths,
            [
                "Guide",
                "Guide > Install",
                "Guide > Install > On Linux",
                "Guide > Use"
            ]
        );
        assert_eq!(doc.sections[1].text, "Run the installer.");
        assert_eq!(
            doc.sections[2].locator,
            Locator::Anchor { id: "linux".into() }
        );
        assert_eq!(
            doc.sections[3].locator,
            Locator::Anchor { id: "use".into() }
        );
    }

    #[test]
    fn boilerplate_is_dropped() {
        let doc = parse(
            r##"<html><body><nav><a href="/">Home</a></nav>
            <div class="menu mainmenu"><ul><li><a href="a">A</a><li><a href="b">B</a><li><a href="c">C</a></ul></div>
            <script>var x = 1;</script><style>p{}</style>
            <h1>Title</h1><p>Real content here.</p>
            <ol><li><a href="#q1">Question one?</a></li><li><a href="#q2">Question two?</a></li><li><a href="#q3">Three?</a></li></ol>
            <footer>Copyright</footer></body></html>"##,
        );
        let all: String = doc.sections.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(all, "Real content here.");
    }

    #[test]
    fn anchor_markers_start_sections() {
        let doc = parse(
            r#"<html><body><h1>FAQ</h1><a name="q1"></a><p><b>(1) How?</b></p><blockquote><p>Like this.</p></blockquote>
            <a name="q2"></a><p><b>(2) Why?</b></p><p>Because.</p></body></html>"#,
        );
        assert_eq!(doc.sections.len(), 2);
        assert_eq!(doc.sections[0].locator, Locator::Anchor { id: "q1".into() });
        assert_eq!(doc.sections[0].text, "(1) How?\n\nLike this.");
        assert_eq!(doc.sections[1].heading_path, vec!["FAQ".to_string()]);
    }

    #[test]
    fn tables_and_lists_keep_structure() {
        let doc = parse(
            "<html><body><h1>T</h1><ul><li>one</li><li>two</li></ul>\
             <table><tr><th>Plan</th><th>Price</th></tr><tr><td>Pro</td><td>$10</td></tr></table>\
             <pre>a  b\n  c</pre></body></html>",
        );
        let text = &doc
            .sections
            .iter()
            .map(|s| s.text.clone())
            .collect::<Vec<_>>()
            .join("\n\n");
        assert!(text.contains("- one\n- two"), "{text}");
        assert!(text.contains("Plan | Price\nPro | $10"), "{text}");
        assert!(text.contains("a  b\n  c"), "{text}");
    }

    #[test]
    fn list_items_with_paragraphs_stay_on_the_marker_line() {
        let doc = parse(
            "<html><body><h1>T</h1><ul><li><p>one</p></li><li><p>two</p><p>more</p></li></ul></body></html>",
        );
        // Items holding paragraphs form a loose list; the marker keeps its text.
        assert_eq!(doc.sections[0].text, "- one\n\n- two\n\nmore");
    }

    #[test]
    fn declared_charset_is_honoured() {
        let bytes =
            b"<html><head><meta charset=\"iso-8859-1\"></head><body><p>caf\xe9</p></body></html>";
        let doc = Html.parse(&Input::new("x.htm", bytes)).unwrap();
        assert_eq!(doc.sections[0].text, "café");
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let html = format!(
            "<html><body>{}deep text{}</body></html>",
            "<div>".repeat(20_000),
            "</div>".repeat(20_000)
        );
        let doc = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || parse_html(&html))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(doc.sections[0].text, "deep text");
    }

    #[test]
    fn main_element_is_preferred() {
        let doc = parse(
            "<html><body><div>chrome text</div><main><h1>Doc</h1><p>Body.</p></main></body></html>",
        );
        assert_eq!(doc.sections.len(), 1);
        assert_eq!(doc.sections[0].text, "Body.");
    }
}
