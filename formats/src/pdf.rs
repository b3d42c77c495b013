//! PDF: text per page in reading order (pdf-extract, which keeps lines,
//! paragraphs and word spacing better than lopdf's own extractor), NFKC
//! normalised (ligatures such as "ﬁ" become "fi"), with the outline
//! (bookmarks) as the heading path. One section per page, split further where
//! a bookmark's title starts on the page, so a citation names its page.

use crate::{Document, Error, Format, Input, Limits, Locator, Result, Section};
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, Copy, Default)]
pub struct Pdf;

fn malformed(reason: impl Into<String>) -> Error {
    Error::Malformed {
        format: "pdf",
        reason: reason.into(),
    }
}

impl Format for Pdf {
    fn name(&self) -> &'static str {
        "pdf"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["pdf"]
    }

    fn media_types(&self) -> &'static [&'static str] {
        &["application/pdf"]
    }

    fn sniff(&self, bytes: &[u8]) -> bool {
        let head = &bytes[..bytes.len().min(1024)];
        head.windows(5).any(|w| w == b"%PDF-")
    }

    fn parse(&self, input: &Input<'_>) -> Result<Document> {
        // pdf-extract and lopdf panic on some malformed files; contain that here
        // so the caller gets a per-document error.
        crate::error::contained("pdf", || parse_pdf(input))
    }
}

/// One outline entry: its depth (1 = top), title and 1-based page.
#[derive(Debug, Clone)]
struct Bookmark {
    level: usize,
    title: String,
    page: u32,
}

fn parse_pdf(input: &Input<'_>) -> Result<Document> {
    let mut doc =
        pdf_extract::Document::load_mem(input.bytes).map_err(|e| malformed(e.to_string()))?;
    if doc.is_encrypted() {
        // Many PDFs are "encrypted" with an empty user password only to set
        // permissions; those open fine. Anything else needs the password.
        if doc.decrypt("").is_err() {
            return Err(Error::Encrypted("PDF"));
        }
    }
    let page_count = doc.get_pages().len();
    Limits::check(page_count, input.limits.max_pages, "pages")?;
    let title = doc_title(&doc);
    let bookmarks = outline(&doc);
    // pdf-extract panics on a reference to an object the file lacks
    // ("missing object reference"): such references become null first, as
    // a PDF reader treats them.
    drop_dangling_references(&mut doc);
    drop_deep_cmaps(&mut doc);
    make_drawing_finite(&mut doc);
    let mut pages = Vec::with_capacity(page_count);
    for page in 1..=page_count as u32 {
        let mut text = String::new();
        // A page that cannot be read is left empty; the others still count.
        if pdf_extract::output_doc_page(
            &doc,
            &mut pdf_extract::PlainTextOutput::new(&mut text),
            page,
        )
        .is_err()
        {
            text.clear();
        }
        pages.push(text);
    }
    if pages.iter().all(|p| p.trim().is_empty()) {
        return Err(Error::NoTextLayer);
    }
    let mut sections = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut next_bookmark = 0;
    for (i, raw) in pages.iter().enumerate() {
        let page_no = i as u32 + 1;
        let text = tidy(&raw.nfkc().collect::<String>());
        // Cut points on this page: bookmarks pointing here whose title we can find.
        let mut cuts: Vec<(usize, usize)> = Vec::new(); // (byte offset, bookmark index)
        while next_bookmark < bookmarks.len() && bookmarks[next_bookmark].page <= page_no {
            let b = &bookmarks[next_bookmark];
            let at = if b.page == page_no {
                find_title(&text, &b.title)
            } else {
                None
            };
            cuts.push((at.unwrap_or(0), next_bookmark));
            next_bookmark += 1;
        }
        cuts.sort_by_key(|c| c.0);
        let mut start = 0;
        for (offset, bookmark) in cuts {
            push(&mut sections, &path, &text[start..offset], page_no);
            start = offset;
            let b = &bookmarks[bookmark];
            while path.last().is_some_and(|(l, _)| *l >= b.level) {
                path.pop();
            }
            path.push((b.level, b.title.clone()));
        }
        push(&mut sections, &path, &text[start..], page_no);
    }
    Ok(Document {
        title,
        format: "pdf".into(),
        language: None,
        sections,
    })
}

fn push(sections: &mut Vec<Section>, path: &[(usize, String)], text: &str, page: u32) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    sections.push(Section::new(
        path.iter().map(|(_, t)| t.clone()).collect(),
        text.to_owned(),
        Locator::Pages {
            start: page,
            end: page,
        },
    ));
}

/// Replaces references to objects missing from `doc` with null, as a PDF
/// reader treats them, and a font that is missing or not a dictionary with
/// Helvetica, as a reader substitutes one: pdf-extract expects both to exist
/// and panics otherwise. Returns how many it replaced.
fn drop_dangling_references(doc: &mut pdf_extract::Document) -> usize {
    use pdf_extract::{Dictionary, Object};
    use std::collections::BTreeSet;
    fn standard_font() -> Object {
        let mut font = Dictionary::new();
        font.set("Type", Object::Name(b"Font".to_vec()));
        font.set("Subtype", Object::Name(b"Type1".to_vec()));
        font.set("BaseFont", Object::Name(b"Helvetica".to_vec()));
        Object::Dictionary(font)
    }
    fn is_dict(o: &Object, doc_dicts: &BTreeSet<pdf_extract::ObjectId>) -> bool {
        match o {
            Object::Dictionary(_) => true,
            Object::Reference(r) => doc_dicts.contains(r),
            _ => false,
        }
    }
    /// Font entries of a resource dictionary's inline /Font dictionary.
    fn fix_fonts(d: &mut Dictionary, dicts: &BTreeSet<pdf_extract::ObjectId>) -> usize {
        let mut n = 0;
        if let Ok(Object::Dictionary(fonts)) = d.get_mut(b"Font") {
            for (_, font) in fonts.iter_mut() {
                if !is_dict(font, dicts) {
                    *font = standard_font();
                    n += 1;
                }
            }
        }
        n
    }
    fn walk(
        o: &mut Object,
        ids: &BTreeSet<pdf_extract::ObjectId>,
        dicts: &BTreeSet<pdf_extract::ObjectId>,
    ) -> usize {
        match o {
            Object::Reference(r) if !ids.contains(r) => {
                *o = Object::Null;
                1
            }
            Object::Array(items) => items.iter_mut().map(|i| walk(i, ids, dicts)).sum(),
            Object::Dictionary(d) => {
                fix_fonts(d, dicts)
                    + d.iter_mut()
                        .map(|(_, v)| walk(v, ids, dicts))
                        .sum::<usize>()
            }
            Object::Stream(s) => {
                fix_fonts(&mut s.dict, dicts)
                    + s.dict
                        .iter_mut()
                        .map(|(_, v)| walk(v, ids, dicts))
                        .sum::<usize>()
            }
            _ => 0,
        }
    }
    let ids: BTreeSet<_> = doc.objects.keys().copied().collect();
    let dicts: BTreeSet<_> = doc
        .objects
        .iter()
        .filter(|(_, o)| matches!(o, Object::Dictionary(_)))
        .map(|(id, _)| *id)
        .collect();
    let mut n = 0;
    for object in doc.objects.values_mut() {
        n += walk(object, &ids, &dicts);
    }
    n += doc
        .trailer
        .iter_mut()
        .map(|(_, v)| walk(v, &ids, &dicts))
        .sum::<usize>();
    n
}

/// The Info dictionary's Title, when it is a real title.
fn doc_title(doc: &pdf_extract::Document) -> Option<String> {
    let info = doc.trailer.get(b"Info").ok()?;
    let info = match info {
        pdf_extract::Object::Reference(id) => doc.get_object(*id).ok()?,
        other => other,
    };
    let title = info.as_dict().ok()?.get(b"Title").ok()?;
    let bytes = title.as_str().ok()?;
    let text = if bytes.starts_with(&[0xFE, 0xFF]) {
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        bytes.iter().map(|&b| b as char).collect()
    };
    let text = text.trim().to_owned();
    (!text.is_empty() && !text.eq_ignore_ascii_case("untitled")).then_some(text)
}

/// Byte offset of `title` in `text`, matching case- and whitespace-insensitively
/// at a line start.
fn find_title(text: &str, title: &str) -> Option<usize> {
    let want: String = title
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let norm: String = line
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        if !want.is_empty() && norm.starts_with(&want) {
            return Some(offset + (line.len() - line.trim_start().len()));
        }
        offset += line.len();
    }
    None
}

/// Trims trailing spaces, joins words hyphenated across lines, and keeps at
/// most one blank line in a row.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            if blank > 0 {
                out.push_str("\n\n");
            } else if out.ends_with('-') && line.starts_with(|c: char| c.is_lowercase()) {
                out.pop();
            } else {
                out.push('\n');
            }
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

/// How deeply a font's CMap may nest arrays, dictionaries and strings;
/// real CMaps nest two or three levels.
const MAX_CMAP_NESTING: usize = 32;

/// pdf-extract reads a font's `/ToUnicode` CMap, and a Type0 font's
/// `/Encoding` CMap stream, with adobe-cmap-parser, and a Type1 font
/// program (`/FontFile`) with type1-encoding-parser: recursive parsers
/// with no depth limit, so a damaged stream of thousands of `[` overflows
/// the stack and aborts the process (CI's fuzz run found it). A stream
/// nesting deeper than [`MAX_CMAP_NESTING`] is dropped from its font or
/// descriptor, as a reader ignores what it cannot read: the text then maps
/// through the font's encoding. Returns how many were dropped.
fn drop_deep_cmaps(doc: &mut pdf_extract::Document) -> usize {
    use pdf_extract::{Dictionary, Object, ObjectId};
    use std::collections::BTreeSet;
    const KEYS: [&[u8]; 3] = [b"ToUnicode", b"Encoding", b"FontFile"];
    /// Deepest nesting of arrays, dictionaries, procedures and strings.
    fn too_deep(bytes: &[u8]) -> bool {
        let (mut depth, mut max) = (0usize, 0usize);
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 1,
                b'[' | b'(' | b'{' => depth += 1,
                b'<' if bytes.get(i + 1) == Some(&b'<') => {
                    depth += 1;
                    i += 1;
                }
                b']' | b')' | b'}' => depth = depth.saturating_sub(1),
                b'>' if bytes.get(i + 1) == Some(&b'>') => {
                    depth = depth.saturating_sub(1);
                    i += 1;
                }
                _ => {}
            }
            max = max.max(depth);
            i += 1;
        }
        max > MAX_CMAP_NESTING
    }
    /// Every dictionary in `o`, nested ones too (fonts and their
    /// descriptors are often inline), to `depth` levels.
    fn each_dict(o: &mut Object, depth: usize, f: &mut dyn FnMut(&mut Dictionary)) {
        if depth == 0 {
            return;
        }
        let dict = match o {
            Object::Dictionary(d) => d,
            Object::Stream(s) => &mut s.dict,
            Object::Array(items) => {
                items.iter_mut().for_each(|i| each_dict(i, depth - 1, f));
                return;
            }
            _ => return,
        };
        f(dict);
        for (_, v) in dict.iter_mut() {
            each_dict(v, depth - 1, f);
        }
    }
    // Only the streams fonts name are read (not every image).
    let mut named: BTreeSet<ObjectId> = BTreeSet::new();
    for object in doc.objects.values_mut() {
        each_dict(object, 16, &mut |d| {
            named.extend(
                KEYS.iter()
                    .filter_map(|k| d.get(k).and_then(Object::as_reference).ok()),
            );
        });
    }
    let deep: BTreeSet<ObjectId> = named
        .into_iter()
        .filter(|id| match doc.objects.get(id) {
            Some(Object::Stream(s)) => {
                let bytes = s
                    .decompressed_content()
                    .unwrap_or_else(|_| s.content.clone());
                // A Type1 font program is read as text up to its encrypted part.
                let clear = bytes
                    .windows(5)
                    .position(|w| w == b"eexec")
                    .map_or(&bytes[..], |at| &bytes[..at]);
                too_deep(clear)
            }
            _ => false,
        })
        .collect();
    if deep.is_empty() {
        return 0;
    }
    let mut n = 0;
    for object in doc.objects.values_mut() {
        each_dict(object, 16, &mut |d| {
            for key in KEYS {
                if let Ok(Object::Reference(r)) = d.get(key)
                    && deep.contains(r)
                {
                    d.remove(key);
                    n += 1;
                }
            }
        });
    }
    n
}

/// How deep form XObjects may nest (a form drawing a form …) before the
/// innermost draw is dropped; real documents nest a few levels.
const MAX_FORM_DEPTH: usize = 12;
/// How many form draws one document may make across its pages (pdf-extract
/// redraws a form each time it is used, so a form that draws another twice,
/// ten levels deep, is a thousand draws).
const MAX_FORM_DRAWS: usize = 5_000;
/// Outline entries read at most, and how deep.
const MAX_OUTLINE_ENTRIES: usize = 10_000;
const MAX_OUTLINE_DEPTH: usize = 64;

/// pdf-extract follows a page's /Parent chain for /Resources and /MediaBox,
/// and draws a form XObject by recursing into it, without checking for
/// loops: a damaged file whose /Parent chain or forms loop overflows the
/// stack, which aborts the process (the fuzzers found it). This puts the
/// inherited /Resources and /MediaBox on each page (found with a loop
/// check; a missing MediaBox becomes US Letter, as readers assume) and
/// removes a form's `Do` operators that would draw a form drawing it, or
/// nest past [`MAX_FORM_DEPTH`]; past [`MAX_FORM_DRAWS`] no form draws
/// another. Returns how many forms lost draws.
fn make_drawing_finite(doc: &mut pdf_extract::Document) -> usize {
    use pdf_extract::{Dictionary, Object, ObjectId};
    use std::collections::{BTreeMap, BTreeSet};

    fn inherited(doc: &pdf_extract::Document, page: ObjectId, key: &[u8]) -> Option<Object> {
        let mut seen = BTreeSet::new();
        let mut id = page;
        while seen.insert(id) {
            let dict = doc.get_dictionary(id).ok()?;
            if let Ok(o) = dict.get(key) {
                let resolved = doc.dereference(o).ok()?.1;
                if !matches!(resolved, Object::Null) {
                    return Some(o.clone());
                }
            }
            id = dict.get(b"Parent").and_then(Object::as_reference).ok()?;
        }
        None
    }
    let pages: Vec<ObjectId> = doc.get_pages().into_values().collect();
    for &page in &pages {
        let resources = inherited(doc, page, b"Resources")
            .filter(|o| doc.dereference(o).is_ok_and(|(_, d)| d.as_dict().is_ok()))
            .unwrap_or_else(|| Object::Dictionary(Dictionary::new()));
        let media_box = inherited(doc, page, b"MediaBox")
            .filter(|o| {
                doc.dereference(o).is_ok_and(|(_, a)| {
                    a.as_array()
                        .is_ok_and(|a| a.len() == 4 && a.iter().all(|n| n.as_float().is_ok()))
                })
            })
            .unwrap_or_else(|| {
                Object::Array([0, 0, 612, 792].into_iter().map(Object::Integer).collect())
            });
        if let Some(Object::Dictionary(d)) = doc.objects.get_mut(&page) {
            d.set("Resources", resources);
            d.set("MediaBox", media_box);
        }
    }

    /// Forms, each with the names whose `Do` must go (None: every `Do`).
    type Cuts = BTreeMap<ObjectId, Option<BTreeSet<Vec<u8>>>>;
    /// Walks what pdf-extract would draw: `content` with `resources`, the
    /// forms on `stack` drawing it. A draw that loops or nests too deep is
    /// added to `cut` (the drawing form, the name it draws); false when the
    /// draw budget ran out.
    fn walk<'a>(
        doc: &'a pdf_extract::Document,
        content: &[u8],
        resources: &'a Dictionary,
        stack: &mut Vec<ObjectId>,
        cut: &mut Cuts,
        draws: &mut usize,
    ) -> bool {
        let Ok(content) = pdf_extract::content::Content::decode(content) else {
            return true;
        };
        for op in content.operations.iter().filter(|op| op.operator == "Do") {
            let Some(name) = op.operands.first().and_then(|n| n.as_name().ok()) else {
                continue;
            };
            let Some(xobjects) = resources
                .get(b"XObject")
                .ok()
                .and_then(|x| doc.dereference(x).ok())
                .and_then(|(_, x)| x.as_dict().ok())
            else {
                continue;
            };
            let Ok(Object::Reference(id)) = xobjects.get(name) else {
                continue;
            };
            let Ok(Object::Stream(form)) = doc.get_object(*id) else {
                continue;
            };
            if form.dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Form") {
                continue;
            }
            if stack.contains(id) || stack.len() >= MAX_FORM_DEPTH {
                if let Some(&caller) = stack.last()
                    && let Some(names) = cut.entry(caller).or_insert_with(|| Some(BTreeSet::new()))
                {
                    names.insert(name.to_vec());
                }
                continue;
            }
            *draws += 1;
            if *draws > MAX_FORM_DRAWS {
                return false;
            }
            let inner = form
                .dict
                .get(b"Resources")
                .ok()
                .and_then(|r| doc.dereference(r).ok())
                .and_then(|(_, r)| r.as_dict().ok())
                .unwrap_or(resources);
            let bytes = form
                .decompressed_content()
                .unwrap_or_else(|_| form.content.clone());
            stack.push(*id);
            let finished = walk(doc, &bytes, inner, stack, cut, draws);
            stack.pop();
            if !finished {
                return false;
            }
        }
        true
    }
    let mut cut = Cuts::new();
    let mut draws = 0;
    let mut finished = true;
    for &page in &pages {
        let Ok(content) = doc.get_page_content(page) else {
            continue;
        };
        let Some(resources) = doc
            .get_dictionary(page)
            .ok()
            .and_then(|p| p.get(b"Resources").ok())
            .and_then(|r| doc.dereference(r).ok())
            .and_then(|(_, r)| r.as_dict().ok())
        else {
            continue;
        };
        if !walk(
            doc,
            &content,
            resources,
            &mut Vec::new(),
            &mut cut,
            &mut draws,
        ) {
            finished = false;
            break;
        }
    }
    if !finished {
        // Past the budget: no form draws another.
        cut = doc
            .objects
            .iter()
            .filter(|(_, o)| {
                matches!(o, Object::Stream(s)
                    if s.dict.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Form"))
            })
            .map(|(id, _)| (*id, None))
            .collect();
    }
    let mut n = 0;
    for (id, names) in cut {
        let Some(Object::Stream(form)) = doc.objects.get_mut(&id) else {
            continue;
        };
        let bytes = form
            .decompressed_content()
            .unwrap_or_else(|_| form.content.clone());
        let Ok(mut content) = pdf_extract::content::Content::decode(&bytes) else {
            continue;
        };
        let before = content.operations.len();
        content.operations.retain(|op| {
            op.operator != "Do"
                || names.as_ref().is_some_and(|names| {
                    op.operands
                        .first()
                        .and_then(|n| n.as_name().ok())
                        .is_some_and(|n| !names.contains(n))
                })
        });
        if content.operations.len() == before {
            continue;
        }
        if let Ok(encoded) = content.encode() {
            form.dict.remove(b"Filter");
            form.dict.remove(b"DecodeParms");
            form.set_content(encoded);
            n += 1;
        }
    }
    n
}

/// The outline (bookmarks) in document order, read with loop, depth and
/// size checks: lopdf's `get_toc` follows /Next without a loop check and
/// recurses into /First and the name tree's /Kids without a depth limit, so
/// a damaged outline hangs or overflows the stack.
fn outline(doc: &pdf_extract::Document) -> Vec<Bookmark> {
    use pdf_extract::{Dictionary, Object, ObjectId};
    use std::collections::{BTreeSet, HashMap};

    struct Reader<'a> {
        doc: &'a pdf_extract::Document,
        page_numbers: HashMap<ObjectId, u32>,
        named: HashMap<Vec<u8>, &'a Object>,
        seen: BTreeSet<ObjectId>,
        out: Vec<Bookmark>,
    }
    impl<'a> Reader<'a> {
        fn dict(&self, o: &'a Object) -> Option<&'a Dictionary> {
            self.doc.dereference(o).ok()?.1.as_dict().ok()
        }
        /// Entries of a name tree (/Names pairs, /Kids), each node once.
        fn names(&mut self, node: &'a Dictionary, depth: usize) {
            if depth > MAX_OUTLINE_DEPTH || self.named.len() > MAX_OUTLINE_ENTRIES {
                return;
            }
            if let Some(pairs) = node
                .get(b"Names")
                .ok()
                .and_then(|n| self.doc.dereference(n).ok())
                .and_then(|(_, n)| n.as_array().ok())
            {
                for pair in pairs.chunks_exact(2) {
                    if let Ok(key) = pair[0].as_str() {
                        self.named.insert(key.to_vec(), &pair[1]);
                    }
                }
            }
            if let Some(kids) = node
                .get(b"Kids")
                .ok()
                .and_then(|k| self.doc.dereference(k).ok())
                .and_then(|(_, k)| k.as_array().ok())
            {
                for kid in kids {
                    let Ok(id) = kid.as_reference() else { continue };
                    if self.seen.insert(id)
                        && let Ok(kid) = self.doc.get_dictionary(id)
                    {
                        self.names(kid, depth + 1);
                    }
                }
            }
        }
        /// The 1-based page a destination points to.
        fn page(&self, dest: &'a Object, hops: usize) -> Option<u32> {
            let dest = self.doc.dereference(dest).ok()?.1;
            match dest {
                Object::Array(a) => match a.first()? {
                    Object::Reference(id) => self.page_numbers.get(id).copied(),
                    _ => None,
                },
                Object::Name(key) | Object::String(key, _) if hops < 4 => {
                    self.page(self.named.get(key.as_slice())?, hops + 1)
                }
                Object::Dictionary(d) if hops < 4 => self.page(d.get(b"D").ok()?, hops + 1),
                _ => None,
            }
        }
        fn entries(&mut self, first: &'a Object, level: usize) {
            if level > MAX_OUTLINE_DEPTH {
                return;
            }
            let mut next = first.as_reference().ok();
            while let Some(id) = next {
                if self.out.len() >= MAX_OUTLINE_ENTRIES || !self.seen.insert(id) {
                    return;
                }
                let Ok(node) = self.doc.get_dictionary(id) else {
                    return;
                };
                let title = node
                    .get(b"Title")
                    .ok()
                    .and_then(|t| self.doc.dereference(t).ok())
                    .and_then(|(_, t)| pdf_extract::decode_text_string(t).ok())
                    .unwrap_or_default();
                let dest = node.get(b"Dest").ok().or_else(|| {
                    let action = self.dict(node.get(b"A").ok()?)?;
                    let kind = action.get(b"S").ok()?.as_name().ok()?;
                    (kind == b"GoTo").then_some(())?;
                    action.get(b"D").ok()
                });
                if let Some(page) = dest.and_then(|d| self.page(d, 0)) {
                    let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !title.is_empty() {
                        self.out.push(Bookmark { level, title, page });
                    }
                }
                if let Ok(child) = node.get(b"First") {
                    self.entries(child, level + 1);
                }
                next = node.get(b"Next").and_then(Object::as_reference).ok();
            }
        }
    }
    let Ok(catalog) = doc.catalog() else {
        return Vec::new();
    };
    let mut reader = Reader {
        doc,
        page_numbers: doc.get_pages().into_iter().map(|(n, id)| (id, n)).collect(),
        named: HashMap::new(),
        seen: BTreeSet::new(),
        out: Vec::new(),
    };
    if let Some(dests) = catalog.get(b"Dests").ok().and_then(|d| reader.dict(d)) {
        for (key, value) in dests.iter() {
            reader.named.insert(key.clone(), value);
        }
    }
    if let Some(tree) = catalog
        .get(b"Names")
        .ok()
        .and_then(|n| reader.dict(n))
        .and_then(|n| n.get(b"Dests").ok())
        .and_then(|d| reader.dict(d))
    {
        reader.names(tree, 0);
    }
    reader.seen.clear();
    if let Some(first) = catalog
        .get(b"Outlines")
        .ok()
        .and_then(|o| reader.dict(o))
        .and_then(|o| o.get(b"First").ok())
    {
        reader.entries(first, 1);
    }
    reader.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_joins_hyphenation_and_blank_runs() {
        assert_eq!(
            tidy("infor-\nmation here  \n\n\n\nnext"),
            "information here\n\nnext"
        );
    }

    #[test]
    fn titles_are_found_at_line_starts() {
        let text = "intro\n  2.1  Getting   Started\nbody";
        assert_eq!(find_title(text, "2.1 Getting Started"), Some(8));
        assert_eq!(find_title(text, "Missing"), None);
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let err = Pdf
            .parse(&Input::new("x.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog"))
            .unwrap_err();
        assert!(
            matches!(err, Error::Malformed { format: "pdf", .. }),
            "{err}"
        );
    }

    /// A file whose page tree, forms, outline and name tree all loop: each
    /// overflowed the stack (aborting the process) or hung in pdf-extract
    /// or lopdf. The text is still read, forms that loop lose only the
    /// looping draw, and the outline gives the heading.
    #[test]
    fn loops_in_a_damaged_file_end() {
        use pdf_extract::{Dictionary, Object, Stream, StringFormat};
        fn dict(entries: Vec<(&str, Object)>) -> Dictionary {
            let mut d = Dictionary::new();
            for (k, v) in entries {
                d.set(k, v);
            }
            d
        }
        fn name(n: &str) -> Object {
            Object::Name(n.as_bytes().to_vec())
        }
        fn text(t: &str) -> Object {
            Object::String(t.as_bytes().to_vec(), StringFormat::Literal)
        }
        let mut doc = pdf_extract::Document::with_version("1.5");
        let pages = doc.new_object_id();
        let page = doc.new_object_id();
        let form_a = doc.new_object_id();
        let form_b = doc.new_object_id();
        let font = doc.add_object(dict(vec![
            ("Type", name("Font")),
            ("Subtype", name("Type1")),
            ("BaseFont", name("Helvetica")),
        ]));
        let fonts = Object::Dictionary(dict(vec![("F1", Object::Reference(font))]));
        let resources = |xobjects: Vec<(&str, Object)>| {
            Object::Dictionary(dict(vec![
                ("Font", fonts.clone()),
                ("XObject", Object::Dictionary(dict(xobjects))),
            ]))
        };
        let form = |resources: Option<Object>, content: &str| {
            let mut d = dict(vec![
                ("Type", name("XObject")),
                ("Subtype", name("Form")),
                (
                    "BBox",
                    Object::Array(vec![0.into(), 0.into(), 612.into(), 792.into()]),
                ),
            ]);
            if let Some(r) = resources {
                d.set("Resources", r);
            }
            Stream::new(d, content.as_bytes().to_vec())
        };
        // A draws itself and B; B (no resources of its own) draws A through
        // the page's resources.
        doc.objects.insert(
            form_a,
            form(
                Some(resources(vec![
                    ("A", Object::Reference(form_a)),
                    ("B", Object::Reference(form_b)),
                ])),
                "BT /F1 12 Tf 72 600 Td (Inside form A) Tj ET /A Do /B Do",
            )
            .into(),
        );
        doc.objects.insert(
            form_b,
            form(None, "BT /F1 12 Tf 72 500 Td (Inside form B) Tj ET /A Do").into(),
        );
        let content = doc.add_object(Stream::new(
            Dictionary::new(),
            b"BT /F1 12 Tf 72 720 Td (Refund policy loops) Tj ET /A Do /B Do".to_vec(),
        ));
        // No /MediaBox anywhere, and the page tree's root is its own
        // parent: looking the box up went round that loop.
        doc.objects.insert(
            page,
            dict(vec![
                ("Type", name("Page")),
                ("Parent", Object::Reference(pages)),
                ("Contents", Object::Reference(content)),
            ])
            .into(),
        );
        doc.objects.insert(
            pages,
            dict(vec![
                ("Type", name("Pages")),
                ("Kids", Object::Array(vec![Object::Reference(page)])),
                ("Count", 1.into()),
                ("Parent", Object::Reference(pages)),
                (
                    "Resources",
                    resources(vec![
                        ("A", Object::Reference(form_a)),
                        ("B", Object::Reference(form_b)),
                    ]),
                ),
            ])
            .into(),
        );
        // Outline: two entries whose /Next loop, the second's /First is the
        // first; a name tree whose /Kids holds itself.
        let outlines = doc.new_object_id();
        let one = doc.new_object_id();
        let two = doc.new_object_id();
        let dest = Object::Array(vec![Object::Reference(page), name("Fit")]);
        doc.objects.insert(
            one,
            dict(vec![
                ("Title", text("Refund policy")),
                ("Parent", Object::Reference(outlines)),
                ("Dest", dest.clone()),
                ("Next", Object::Reference(two)),
            ])
            .into(),
        );
        doc.objects.insert(
            two,
            dict(vec![
                ("Title", text("Loop")),
                ("Parent", Object::Reference(outlines)),
                ("Dest", text("named")),
                ("Next", Object::Reference(one)),
                ("First", Object::Reference(one)),
            ])
            .into(),
        );
        doc.objects.insert(
            outlines,
            dict(vec![
                ("Type", name("Outlines")),
                ("First", Object::Reference(one)),
            ])
            .into(),
        );
        let tree = doc.new_object_id();
        doc.objects.insert(
            tree,
            dict(vec![
                ("Kids", Object::Array(vec![Object::Reference(tree)])),
                ("Names", Object::Array(vec![text("named"), dest])),
            ])
            .into(),
        );
        let catalog = doc.add_object(dict(vec![
            ("Type", name("Catalog")),
            ("Pages", Object::Reference(pages)),
            ("Outlines", Object::Reference(outlines)),
            (
                "Names",
                Object::Dictionary(dict(vec![("Dests", Object::Reference(tree))])),
            ),
        ]));
        doc.trailer.set("Root", Object::Reference(catalog));
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();

        let parsed = Pdf.parse(&Input::new("loops.pdf", &bytes)).unwrap();
        let all: String = parsed.sections.iter().map(|s| s.text.as_str()).collect();
        assert!(all.contains("Refund policy loops"), "{all}");
        for inside in ["Inside form A", "Inside form B"] {
            assert!(all.contains(inside), "{all}");
        }
        // Both entries point at page 1; "Loop" is reached through the
        // looping name tree and, found nowhere in the text, cuts at the top.
        let headings: Vec<_> = parsed
            .sections
            .iter()
            .map(|s| s.heading_path.clone())
            .collect();
        assert_eq!(headings, vec![vec!["Loop".to_string()]]);
    }

    /// A font whose /ToUnicode CMap is 200,000 `[` and whose font program
    /// is 200,000 `{`: adobe-cmap-parser and type1-encoding-parser recursed
    /// once per bracket and overflowed the stack, aborting the process.
    /// Both are dropped and the text maps through the font's encoding.
    #[test]
    fn font_streams_nested_too_deep_are_dropped_not_a_stack_overflow() {
        use pdf_extract::{Dictionary, Object, Stream};
        let name = |n: &str| Object::Name(n.as_bytes().to_vec());
        let mut doc = pdf_extract::Document::with_version("1.5");
        let pages = doc.new_object_id();
        let cmap = doc.add_object(Stream::new(Dictionary::new(), vec![b'['; 200_000]));
        let mut font = Dictionary::new();
        font.set("Type", name("Font"));
        font.set("Subtype", name("Type1"));
        font.set("BaseFont", name("Helvetica"));
        font.set("ToUnicode", Object::Reference(cmap));
        // And a Type1 font program of 200,000 `{` (type1-encoding-parser).
        let program = doc.add_object(Stream::new(Dictionary::new(), vec![b'{'; 200_000]));
        let mut descriptor = Dictionary::new();
        descriptor.set("Type", name("FontDescriptor"));
        descriptor.set("FontFile", Object::Reference(program));
        font.set("FontDescriptor", Object::Dictionary(descriptor));
        let font = doc.add_object(font);
        let mut fonts = Dictionary::new();
        fonts.set("F1", Object::Reference(font));
        let mut resources = Dictionary::new();
        resources.set("Font", Object::Dictionary(fonts));
        let content = doc.add_object(Stream::new(
            Dictionary::new(),
            b"BT /F1 12 Tf 72 720 Td (Returns within thirty days) Tj ET".to_vec(),
        ));
        let mut page = Dictionary::new();
        page.set("Type", name("Page"));
        page.set("Parent", Object::Reference(pages));
        page.set("Contents", Object::Reference(content));
        page.set("Resources", Object::Dictionary(resources));
        page.set(
            "MediaBox",
            Object::Array(vec![0.into(), 0.into(), 612.into(), 792.into()]),
        );
        let page = doc.add_object(page);
        let mut tree = Dictionary::new();
        tree.set("Type", name("Pages"));
        tree.set("Kids", Object::Array(vec![Object::Reference(page)]));
        tree.set("Count", Object::Integer(1));
        doc.objects.insert(pages, Object::Dictionary(tree));
        let mut catalog = Dictionary::new();
        catalog.set("Type", name("Catalog"));
        catalog.set("Pages", Object::Reference(pages));
        let catalog = doc.add_object(catalog);
        doc.trailer.set("Root", Object::Reference(catalog));
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();

        let parsed = Pdf.parse(&Input::new("deep-cmap.pdf", &bytes)).unwrap();
        let all: String = parsed.sections.iter().map(|s| s.text.as_str()).collect();
        assert!(all.contains("Returns within thirty days"), "{all}");
    }
}
