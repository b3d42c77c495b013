//! Parse throughput (MB/s of input) per format over `corpora/formats/`.
//!
//! `cargo bench -p quarry-bench --bench parse`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quarry_formats::{Input, Registry};
use std::collections::BTreeMap;
use std::path::Path;

fn corpus() -> BTreeMap<String, Vec<(String, Vec<u8>)>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/formats");
    let mut by_format: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for dir in dirs
        .into_iter()
        .filter(|d| d.is_dir() && !d.ends_with("tools"))
    {
        let label = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for file in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if let Ok(bytes) = std::fs::read(file.path()) {
                let name = file.file_name().to_string_lossy().into_owned();
                by_format
                    .entry(label.clone())
                    .or_default()
                    .push((name, bytes));
            }
        }
    }
    by_format
}

fn parse_throughput(c: &mut Criterion) {
    let registry = Registry::default();
    let mut group = c.benchmark_group("parse");
    group.sample_size(10);
    for (format, files) in corpus() {
        let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(&format, |b| {
            b.iter(|| {
                for (name, data) in &files {
                    let doc = registry.parse(&Input::new(name, data));
                    std::hint::black_box(doc.map(|d| d.sections.len()).unwrap_or(0));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse_throughput);
criterion_main!(benches);
