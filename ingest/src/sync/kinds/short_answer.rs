//! A short answer (a question, its variants and the answer): one chunk
//! per wording, embedded as the wording, with the answer as text; synced
//! before the call returns (`/v1/kb/{kb}/short-answers`).

use crate::Error;
use crate::Result;
use crate::pipeline::Pipeline;
use crate::report::{IngestReport, Progress};
use crate::sync::kind::Kind;
use crate::sync::syncer::Syncer;
use quarry_formats::Locator;
use quarry_index::{ContentHash, DocumentMeta, NewChunk, SHORT_ANSWER_FORMAT, WriteOp};
use quarry_index::{KnowledgeBase, SourceRecord, SourceSpec};
use std::sync::Arc;
use std::time::Instant;

pub(in crate::sync) struct ShortAnswer;

impl Kind for ShortAnswer {
    fn identify(&self, _: &SourceSpec) -> Result<(String, SourceSpec)> {
        Err(Error::Invalid(
            "short answers are written with PUT /v1/kb/{kb}/short-answers/{id}".into(),
        ))
    }

    fn sync(
        &self,
        _: &Syncer,
        kb: &Arc<KnowledgeBase>,
        record: &SourceRecord,
        _: Option<&str>,
        _: &dyn Progress,
        _: &Pipeline,
    ) -> Result<IngestReport> {
        index(kb, record)
    }
}

/// A short answer is one chunk: the answer as its text, the question as
/// what is embedded (questions are matched against questions), both for
/// keywords.
fn index(kb: &KnowledgeBase, record: &SourceRecord) -> Result<IngestReport> {
    let started = Instant::now();
    let SourceSpec::ShortAnswer {
        question,
        answer,
        variants,
    } = &record.spec
    else {
        return Err(Error::Invalid(format!(
            "{} is not a short answer",
            record.id
        )));
    };
    let uri = format!(
        "short-answer://{}",
        record.id.trim_start_matches("short-answer:")
    );
    // One chunk per wording: the answer as its text, the wording as
    // what is embedded (questions are matched against questions).
    let wordings: Vec<&String> = std::iter::once(question).chain(variants).collect();
    let hash_of = |q: &str| {
        ContentHash::of_parts(&[
            SHORT_ANSWER_FORMAT.as_bytes(),
            q.as_bytes(),
            answer.as_bytes(),
        ])
    };
    let hashes: Vec<ContentHash> = wordings.iter().map(|q| hash_of(q)).collect();
    // Without variants the document hash is the one chunk's, as before.
    let hash = if variants.is_empty() {
        hashes[0]
    } else {
        let hexes: Vec<String> = hashes.iter().map(|h| h.to_hex()).collect();
        let parts: Vec<&[u8]> = hexes.iter().map(|h| h.as_bytes()).collect();
        ContentHash::of_parts(&parts)
    };
    let mut report = IngestReport {
        source_id: record.id.clone(),
        documents: 1,
        ..IngestReport::default()
    };
    let citable = record.settings.citable();
    if let Some(existing) = kb.document(&uri)?
        && existing.meta.content_hash == hash
        && existing.meta.citable == citable
    {
        report.unchanged = 1;
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        return Ok(report);
    }
    let cached = kb.cached_embeddings(&hashes)?;
    let missing: Vec<usize> = (0..hashes.len())
        .filter(|i| !cached.contains_key(&hashes[*i]))
        .collect();
    let texts: Vec<&str> = missing.iter().map(|i| wordings[*i].as_str()).collect();
    let mut fresh = if texts.is_empty() {
        Vec::new()
    } else {
        kb.embed_passages(&texts)?
    }
    .into_iter();
    report.embedded = missing.len();
    let mut chunks = Vec::with_capacity(hashes.len());
    let mut seen = std::collections::HashSet::new();
    for (i, h) in hashes.iter().enumerate() {
        let vector = if missing.contains(&i) {
            fresh.next()
        } else {
            None
        };
        if !seen.insert(*h) {
            continue;
        }
        chunks.push(NewChunk {
            chunk_id: ContentHash::of_parts(&[uri.as_bytes(), h.to_hex().as_bytes()]).to_hex(),
            content_hash: *h,
            heading_path: Vec::new(),
            text: answer.clone(),
            locator: Locator::Document,
            vector,
        });
    }
    let written = chunks.len();
    kb.commit(&[WriteOp::Upsert {
        doc: DocumentMeta {
            uri: uri.clone(),
            source_id: record.id.clone(),
            title: Some(question.clone()),
            format: SHORT_ANSWER_FORMAT.into(),
            language: None,
            content_hash: hash,
            pipeline: SHORT_ANSWER_FORMAT.into(),
            citable,
            url: None,
        },
        chunks,
    }])?;
    report.indexed = 1;
    report.chunks = written;
    report.reused = written.saturating_sub(report.embedded);
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}
