//! Compares pdf-extract with lopdf's own `extract_text` on the sample PDFs:
//! time per file, lines per page, and a sample of page 2 from each.
//!
//! `cargo run --release -p quarry-bench --example pdf_compare`

use std::path::Path;
use std::time::Instant;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/formats/pdf");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let t = Instant::now();
        let pages = pdf_extract::extract_text_from_mem_by_pages(&bytes).unwrap_or_default();
        let t_extract = t.elapsed();
        let t = Instant::now();
        let lopdf_pages: Vec<String> = match pdf_extract::Document::load_mem(&bytes) {
            Ok(doc) => doc
                .get_pages()
                .keys()
                .map(|&n| doc.extract_text(&[n]).unwrap_or_default())
                .collect(),
            Err(_) => Vec::new(),
        };
        let t_lopdf = t.elapsed();
        let lines = |p: &[String]| {
            p.iter().map(|s| s.lines().count()).sum::<usize>() as f64 / p.len().max(1) as f64
        };
        println!(
            "== {}",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        );
        println!(
            "pdf-extract: {:>7.1} ms, {:>5.1} lines/page | lopdf: {:>7.1} ms, {:>5.1} lines/page",
            t_extract.as_secs_f64() * 1e3,
            lines(&pages),
            t_lopdf.as_secs_f64() * 1e3,
            lines(&lopdf_pages)
        );
        let sample = |p: &[String]| {
            p.get(1)
                .map(|s| s.chars().take(240).collect::<String>().replace('\n', "⏎"))
                .unwrap_or_default()
        };
        println!("  pdf-extract p2: {}", sample(&pages));
        println!("  lopdf       p2: {}", sample(&lopdf_pages));
    }
}
