//! Golden tests over `corpora/formats/` (two or more real files per format),
//! the hostile corpus, and a property test that every format keeps every
//! piece of text in exactly one non-empty section.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use proptest::prelude::*;
use quarry_formats::{Document, Error, Input, Locator, Registry};
use std::fmt::Write;
use std::path::{Path, PathBuf};

fn corpus(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpora")
        .join(sub)
}

fn locator(l: &Locator) -> String {
    match l {
        Locator::Document => "document".into(),
        Locator::Anchor { id } => format!("#{id}"),
        Locator::Lines { start, end } => format!("lines {start}-{end}"),
        Locator::Pages { start, end } => format!("pages {start}-{end}"),
        Locator::Paragraphs { start, end } => format!("paragraphs {start}-{end}"),
        Locator::Slide { slide } => format!("slide {slide}"),
        Locator::Sheet {
            sheet,
            first_row,
            last_row,
        } => format!("sheet {sheet:?} rows {first_row}-{last_row}"),
        Locator::Time { start_ms, end_ms } => format!("time {start_ms}-{end_ms} ms"),
        Locator::Path { path } => format!("path {path}"),
    }
}

/// A reviewable summary: every section's heading path, locator, kind, size,
/// the start of its text, and its first and last mark.
fn summary(doc: &Document) -> String {
    let mut out = String::new();
    writeln!(out, "title: {:?}", doc.title).unwrap();
    writeln!(
        out,
        "format: {}, language: {:?}, sections: {}",
        doc.format,
        doc.language,
        doc.sections.len()
    )
    .unwrap();
    for (i, s) in doc.sections.iter().enumerate().take(40) {
        let head: String = s
            .text
            .chars()
            .take(90)
            .collect::<String>()
            .replace('\n', "⏎");
        writeln!(
            out,
            "[{i}] {} | {} | {:?} | {} chars | {} marks",
            s.heading_path.join(" › "),
            locator(&s.locator),
            s.kind,
            s.text.chars().count(),
            s.marks.len()
        )
        .unwrap();
        writeln!(out, "    {head}").unwrap();
        if let (Some(first), Some(last)) = (s.marks.first(), s.marks.last()) {
            writeln!(
                out,
                "    marks: {} … {}",
                locator(&first.locator),
                locator(&last.locator)
            )
            .unwrap();
        }
    }
    if doc.sections.len() > 40 {
        writeln!(out, "… {} more sections", doc.sections.len() - 40).unwrap();
    }
    out
}

#[test]
fn golden_sections_and_locators() {
    let registry = Registry::default();
    let root = corpus("formats");
    let mut files: Vec<PathBuf> = walk(&root)
        .into_iter()
        .filter(|p| !p.starts_with(root.join("tools")))
        .collect();
    files.sort();
    let mut per_format = std::collections::BTreeMap::<String, usize>::new();
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let doc = registry
            .parse(&Input::new(&name, &bytes))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            doc.sections.iter().all(|s| !s.text.trim().is_empty()),
            "{name}: empty section"
        );
        *per_format.entry(doc.format.clone()).or_default() += 1;
        let rel = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace(['/', '.'], "_");
        insta::assert_snapshot!(rel, summary(&doc));
    }
    for format in [
        "html",
        "markdown",
        "text",
        "pdf",
        "docx",
        "pptx",
        "spreadsheet",
        "csv",
        "json",
        "xml",
        "rst",
        "config",
        "subtitles",
    ] {
        assert!(
            per_format.get(format).copied().unwrap_or(0) >= 2,
            "fewer than two {format} files: {per_format:?}"
        );
    }
}

#[test]
fn pptx_keeps_tables_and_speaker_notes() {
    let bytes = std::fs::read(corpus("formats/pptx/sqlite-faq.pptx")).unwrap();
    let doc = Registry::default()
        .parse(&Input::new("sqlite-faq.pptx", &bytes))
        .unwrap();
    let slide = |n: u32| {
        doc.sections
            .iter()
            .find(|s| s.locator == Locator::Slide { slide: n })
            .unwrap()
    };
    assert!(slide(2).text.ends_with(
        "Speaker notes: Point people at the autoinc page when they ask about gaps in ids."
    ));
    assert!(
        slide(3)
            .text
            .contains("Storage class | Holds\nINTEGER | signed integers up to 8 bytes"),
        "{}",
        slide(3).text
    );
    assert_eq!(slide(3).heading_path, vec!["Datatypes".to_string()]);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Parses `bytes` with a panic hook that counts panics on this thread
/// (parsers may still catch theirs: each one cost a thread's unwinding and a
/// backtrace in the server's log).
fn parse_counting_panics(name: &str, bytes: &[u8]) -> (Result<Document, Error>, usize) {
    use std::cell::Cell;
    thread_local!(static PANICS: Cell<usize> = const { Cell::new(0) });
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| PANICS.with(|p| p.set(p.get() + 1))));
    PANICS.with(|p| p.set(0));
    let result = Registry::default().parse(&Input::new(name, bytes));
    let panics = PANICS.with(Cell::get);
    std::panic::set_hook(previous);
    (result, panics)
}

#[test]
fn damaged_files_are_errors_without_a_panic() {
    let dir = corpus("hostile");
    // A damaged zip entry: docx-rs unwraps its read of it.
    let bytes = std::fs::read(dir.join("damaged-entry.docx")).unwrap();
    let (result, panics) = parse_counting_panics("damaged-entry.docx", &bytes);
    assert_eq!(panics, 0, "docx-rs panicked");
    let err = result.map(|d| summary(&d)).unwrap_err().to_string();
    assert!(err.contains("word/document.xml"), "{err}");
    // A reference to a missing object: pdf-extract expects it to exist. The
    // reference reads as null, and the page's text is still there.
    let bytes = std::fs::read(dir.join("dangling-ref.pdf")).unwrap();
    let (result, panics) = parse_counting_panics("dangling-ref.pdf", &bytes);
    assert_eq!(panics, 0, "pdf-extract panicked");
    match result {
        Ok(doc) => assert!(summary(&doc).contains("thirty days"), "{}", summary(&doc)),
        Err(e) => assert!(
            matches!(e, Error::Malformed { .. } | Error::NoTextLayer),
            "{e}"
        ),
    }
    // Every crash the fuzzers found (fuzz/regressions/TARGET/*): an answer,
    // never a panic that reaches the caller (truncated .xls files made
    // calamine's compound-file reader index past its buffer; the file is
    // checked before it now).
    let regressions = corpus("../fuzz/regressions");
    for file in walk(&regressions) {
        let bytes = std::fs::read(&file).unwrap();
        let target = file
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy();
        let name = format!("input.{target}");
        let parsed = std::panic::catch_unwind(|| parse_counting_panics(&name, &bytes));
        let Ok((result, panics)) = parsed else {
            panic!("{} panicked in quarry's code", file.display());
        };
        // A panic contained inside a third-party parser (docx-rs still
        // unwraps on one damaged file) must be that file's malformed error.
        if panics > 0 {
            let err = result.map(|d| summary(&d)).unwrap_err();
            assert!(
                matches!(err, Error::Malformed { .. }),
                "{}: {err}",
                file.display()
            );
        }
    }
}

#[test]
fn hostile_inputs_fail_with_their_own_clear_error() {
    let registry = Registry::default();
    let dir = corpus("hostile");
    let expect: &[(&str, &str)] = &[
        ("truncated.pdf", "malformed pdf"),
        ("png-named.pdf", "the content is a PNG image named .pdf"),
        ("encrypted.pdf", "encrypted or password-protected PDF"),
        ("scanned.pdf", "no text layer"),
        ("zip-bomb.docx", "compression ratio"),
        (
            "encrypted.docx",
            "encrypted or password-protected Word document",
        ),
        ("invalid-utf8.json", "malformed json"),
        ("deep.json", "recursion limit"),
        ("deep.xml", "element nesting depth"),
        ("truncated.xml", "malformed xml"),
        ("empty.txt", "no text content"),
        ("binary.md", "binary content"),
        ("not-a-zip.xlsx", "malformed spreadsheet"),
        (
            "damaged-sectors.xls",
            "damaged compound file: the allocation table names sector",
        ),
    ];
    for (file, want) in expect {
        let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let err = registry
            .parse(&Input::new(file, &bytes))
            .map(|d| summary(&d))
            .unwrap_err();
        assert!(
            err.to_string().contains(want),
            "{file}: got {err:?}, want {want:?}"
        );
    }
    // Deeply nested HTML is parsed (html5ever caps its tree), not a crash.
    let deep = std::fs::read(dir.join("deep.html")).unwrap();
    match registry.parse(&Input::new("deep.html", &deep)) {
        Ok(doc) => assert!(doc.text_len() > 0),
        Err(e) => assert!(
            matches!(e, Error::Empty | Error::LimitExceeded { .. }),
            "{e}"
        ),
    }
    // Invalid UTF-8 in a text file is decoded as windows-1252, not rejected.
    let latin = std::fs::read(dir.join("invalid-utf8.txt")).unwrap();
    let doc = registry
        .parse(&Input::new("invalid-utf8.txt", &latin))
        .unwrap();
    assert!(doc.sections[0].text.contains("café"));
    // Size limit, without reading a 200 MB file from disk.
    let big = vec![b'a'; 1024];
    let small = Registry::default().with_max_bytes(1000);
    assert!(matches!(
        small.parse(&Input::new("big.txt", &big)),
        Err(Error::TooLarge { .. })
    ));
}

fn words() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-z]{3,9}", 3..40).prop_map(|ws| {
        ws.into_iter()
            .enumerate()
            .map(|(i, w)| format!("{w}{i}x"))
            .collect()
    })
}

/// Renders unique words as a document of each text format, parses it, and
/// checks each word lands in exactly one section and no section is empty.
fn check_every_word_once(name: &str, source: &str, ws: &[String]) -> Result<(), TestCaseError> {
    let doc = Registry::default()
        .parse(&Input::new(name, source.as_bytes()))
        .map_err(|e| TestCaseError::fail(format!("{name}: {e}\n{source}")))?;
    for s in &doc.sections {
        prop_assert!(!s.text.trim().is_empty(), "{}: empty section", name);
    }
    for w in ws {
        let n: usize = doc
            .sections
            .iter()
            .map(|s| s.text.matches(w.as_str()).count())
            .sum();
        prop_assert_eq!(
            n,
            1,
            "{}: {:?} found {} times in {:#?}",
            name,
            w,
            n,
            doc.sections
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_word_in_exactly_one_section(ws in words(), split in 1usize..6) {
        let groups: Vec<&[String]> = ws.chunks(split.max(1)).collect();
        let md: String = groups.iter().enumerate().map(|(i, g)| format!("## Heading {i}\n\n{}\n\n", g.join(" "))).collect();
        check_every_word_once("a.md", &md, &ws)?;
        let html = format!("<html><body>{}</body></html>", groups.iter().enumerate().map(|(i, g)| format!("<h2 id=\"h{i}\">Heading {i}</h2><p>{}</p>", g.join(" "))).collect::<String>());
        check_every_word_once("a.html", &html, &ws)?;
        let txt: String = groups.iter().map(|g| format!("{}\n\n", g.join(" "))).collect();
        check_every_word_once("a.txt", &txt, &ws)?;
        let rst: String = groups.iter().enumerate().map(|(i, g)| format!("Heading {i}\n==========\n\n{}\n\n", g.join(" "))).collect();
        check_every_word_once("a.rst", &rst, &ws)?;
        let csv: String = std::iter::once("name,value\n".to_string()).chain(groups.iter().map(|g| format!("{},{}\n", g[0], g[1..].join(" ")))).collect();
        check_every_word_once("a.csv", &csv, &ws)?;
        let json = serde_json::to_string(&serde_json::json!({"items": groups.iter().map(|g| serde_json::json!({"text": g.join(" ")})).collect::<Vec<_>>()})).unwrap();
        check_every_word_once("a.json", &json, &ws)?;
        let xml = format!("<root>{}</root>", groups.iter().map(|g| format!("<item>{}</item>", g.join(" "))).collect::<String>());
        check_every_word_once("a.xml", &xml, &ws)?;
        let cfg: String = groups.iter().enumerate().map(|(i, g)| format!("[section{i}]\n# {}\nkey = {}\n\n", g[0], g[1..].join(" "))).collect();
        check_every_word_once("a.conf", &cfg, &ws)?;
    }
}
