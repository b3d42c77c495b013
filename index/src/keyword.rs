//! The keyword side of hybrid search: a tantivy BM25 index beside HNSW.
//!
//! Language-aware: each chunk's language is detected (whatlang, restricted to
//! the languages with a stemmer here) and its text goes into that language's
//! field, analysed with the language's stop words and stemmer. A query is
//! parsed against every field, each analysing it its own way, so "résiliation"
//! matches French text and "cancelled" English text without guessing the
//! language of a three-word question.
//!
//! Like the vector index this is derived state: the commit payload records the
//! highest chunk id it holds, and opening replays the store above it.
//! Searches filter ids against the live set, so a removal that has not reached
//! this index yet is never shown.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Mutex;
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};

/// Languages with their own analyser: (field suffix, tantivy language, whatlang language).
const LANGUAGES: &[(&str, Language, whatlang::Lang)] = &[
    ("en", Language::English, whatlang::Lang::Eng),
    ("nl", Language::Dutch, whatlang::Lang::Nld),
    ("da", Language::Danish, whatlang::Lang::Dan),
    ("fr", Language::French, whatlang::Lang::Fra),
    ("it", Language::Italian, whatlang::Lang::Ita),
    ("de", Language::German, whatlang::Lang::Deu),
    ("es", Language::Spanish, whatlang::Lang::Spa),
    ("pt", Language::Portuguese, whatlang::Lang::Por),
    ("sv", Language::Swedish, whatlang::Lang::Swe),
    ("no", Language::Norwegian, whatlang::Lang::Nob),
];

/// The language code of `text` among [`LANGUAGES`] (English when unsure).
pub fn detect_language(text: &str) -> &'static str {
    let allow: Vec<whatlang::Lang> = LANGUAGES.iter().map(|l| l.2).collect();
    let detector = whatlang::Detector::with_allowlist(allow);
    detector
        .detect(text)
        .filter(|info| info.confidence() > 0.2)
        .and_then(|info| LANGUAGES.iter().find(|l| l.2 == info.lang()))
        .map_or("en", |l| l.0)
}

/// The languages visitors write in most (the brief's): preferred on ties.
const VISITOR_LANGUAGES: &[&str] = &["en", "nl", "da", "fr", "it", "de"];

/// The language of a question among [`LANGUAGES`] (English when nothing
/// tells). Questions are short, and character statistics alone (whatlang)
/// misread them ("How do I send a product back?" scores as Portuguese), so
/// the words that carry a question's grammar decide first: each language
/// scores the stop words its analyser removes from the question, and
/// whatlang's guess breaks ties. A question with no stop word of any
/// language is English unless whatlang is sure.
pub fn detect_query_language(text: &str) -> &'static str {
    static COUNTERS: std::sync::OnceLock<Vec<(&'static str, TextAnalyzer)>> =
        std::sync::OnceLock::new();
    let counters = COUNTERS.get_or_init(|| {
        LANGUAGES
            .iter()
            .map(|(code, language, _)| (*code, stop_words_only(*language)))
            .collect()
    });
    let mut words = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(LowerCaser)
        .build();
    let total = count_tokens(&mut words, text);
    if total == 0 {
        return "en";
    }
    let guess = whatlang::Detector::with_allowlist(LANGUAGES.iter().map(|l| l.2).collect())
        .detect_lang(text);
    let mut best = ("en", 0.0f32);
    for (code, counter) in counters {
        let kept = count_tokens(&mut counter.clone(), text);
        let mut score = total.saturating_sub(kept) as f32;
        if guess.is_some_and(|g| LANGUAGES.iter().any(|l| l.0 == *code && l.2 == g)) {
            score += 0.5;
        }
        // The support languages quarry is tuned for win near-ties against
        // their close relatives (Danish against Norwegian, whose stop-word
        // list also holds "hvordan").
        if VISITOR_LANGUAGES.contains(code) {
            score += 1.0;
        }
        if score > best.1 {
            best = (code, score);
        }
    }
    best.0
}

/// Words, lower-cased, without the stop words of `language` (not folded:
/// the lists spell "på" and "für" with their accents).
fn stop_words_only(language: Language) -> TextAnalyzer {
    let base = TextAnalyzer::builder(SimpleTokenizer::default()).filter(LowerCaser);
    let stop = match language {
        Language::English => Some(StopWordFilter::remove(
            ENGLISH_STOP_WORDS.iter().map(|w| w.to_string()),
        )),
        other => StopWordFilter::new(other),
    };
    match stop {
        Some(stop) => base.filter(stop).build(),
        None => base.build(),
    }
}

fn count_tokens(analyzer: &mut TextAnalyzer, text: &str) -> usize {
    let mut stream = analyzer.token_stream(text);
    let mut n = 0;
    while stream.advance() {
        n += 1;
    }
    n
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Payload {
    watermark: u64,
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    let reason = e.to_string();
    // tantivy wraps the I/O error in its own types: a full disk is not a
    // damaged index, and must not make the caller rebuild it.
    if reason.contains("No space left on device") || reason.contains("Disk quota exceeded") {
        return Error::DiskFull(format!("keyword index: {reason}"));
    }
    Error::Corrupt {
        what: "keyword index".into(),
        reason,
    }
}

/// A BM25 index of chunk texts keyed by chunk id.
pub struct KeywordIndex {
    index: Index,
    /// Made at open, or at the first write when the disk was full then
    /// (reads work without one).
    writer: Mutex<Option<IndexWriter>>,
    reader: IndexReader,
    vid: Field,
    fields: Vec<(&'static str, Field)>,
    parser: QueryParser,
}

impl std::fmt::Debug for KeywordIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeywordIndex").finish()
    }
}

fn schema() -> (Schema, Field, Vec<(&'static str, Field)>) {
    let mut b = Schema::builder();
    // Fast (a column): a search reads each hit's id from the column instead
    // of decompressing its stored document (that took half a question's
    // keyword time).
    let vid = b.add_u64_field(
        "vid",
        NumericOptions::default()
            .set_indexed()
            .set_stored()
            .set_fast(),
    );
    let fields = LANGUAGES
        .iter()
        .map(|(code, _, _)| {
            let indexing = TextFieldIndexing::default()
                .set_tokenizer(&format!("quarry_{code}"))
                .set_index_option(IndexRecordOption::WithFreqsAndPositions);
            (
                *code,
                b.add_text_field(
                    &format!("body_{code}"),
                    TextOptions::default().set_indexing_options(indexing),
                ),
            )
        })
        .collect();
    (b.build(), vid, fields)
}

/// English stop words: tantivy's list for English is Lucene's 33 words,
/// which keeps "how", "do", "i", "my", "what", "can"… — the words every
/// support question starts with. This is Snowball's English list (the other
/// languages' lists in tantivy are Snowball's already), plus "can".
const ENGLISH_STOP_WORDS: &[&str] = &[
    "i",
    "me",
    "my",
    "myself",
    "we",
    "our",
    "ours",
    "ourselves",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "he",
    "him",
    "his",
    "himself",
    "she",
    "her",
    "hers",
    "herself",
    "it",
    "its",
    "itself",
    "they",
    "them",
    "their",
    "theirs",
    "themselves",
    "what",
    "which",
    "who",
    "whom",
    "this",
    "that",
    "these",
    "those",
    "am",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "having",
    "do",
    "does",
    "did",
    "doing",
    "would",
    "should",
    "could",
    "ought",
    "can",
    "a",
    "an",
    "the",
    "and",
    "but",
    "if",
    "or",
    "because",
    "as",
    "until",
    "while",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "against",
    "between",
    "into",
    "through",
    "during",
    "before",
    "after",
    "above",
    "below",
    "to",
    "from",
    "up",
    "down",
    "in",
    "out",
    "on",
    "off",
    "over",
    "under",
    "again",
    "further",
    "then",
    "once",
    "here",
    "there",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "not",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "s",
    "t",
    "don",
    "doesn",
    "isn",
    "aren",
    "can't",
    "cannot",
    "i'm",
];

/// The analyser of one language: words, lower-cased and ASCII-folded, stop
/// words out, stemmed.
fn analyzer(language: Language) -> TextAnalyzer {
    let base = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter);
    let stop = match language {
        Language::English => Some(StopWordFilter::remove(
            ENGLISH_STOP_WORDS.iter().map(|w| w.to_string()),
        )),
        other => StopWordFilter::new(other),
    };
    match stop {
        Some(stop) => base.filter(stop).filter(Stemmer::new(language)).build(),
        None => base.filter(Stemmer::new(language)).build(),
    }
}

fn register_analyzers(index: &Index) {
    for (code, language, _) in LANGUAGES {
        index
            .tokenizers()
            .register(&format!("quarry_{code}"), analyzer(*language));
    }
}

/// The analyser of language `code` (English if unknown), built once.
fn analyzer_for(code: &str) -> TextAnalyzer {
    static ANALYZERS: std::sync::OnceLock<Vec<(&'static str, TextAnalyzer)>> =
        std::sync::OnceLock::new();
    let all = ANALYZERS.get_or_init(|| LANGUAGES.iter().map(|l| (l.0, analyzer(l.1))).collect());
    all.iter()
        .find(|a| a.0 == code)
        .unwrap_or(&all[0])
        .1
        .clone()
}

/// The terms `text` is indexed under in the language `code` (English if unknown).
fn terms(code: &str, text: &str) -> std::collections::HashSet<String> {
    let mut analyzer = analyzer_for(code);
    let mut stream = analyzer.token_stream(text);
    let mut out = std::collections::HashSet::new();
    while let Some(token) = stream.next() {
        out.insert(token.text.clone());
    }
    out
}

/// Characters of a passage's opening that tell its language.
const LANGUAGE_SAMPLE_CHARS: usize = 240;
/// Passages whose language is remembered; the memo starts over past this.
const LANGUAGE_MEMO: usize = 1 << 16;

/// The language of a passage, told from its opening and remembered by the
/// opening's hash: a question reads the language of twenty candidates
/// twice, and popular passages come back question after question. Before
/// the memo, whatlang was a quarter of a cached question's server time.
pub fn passage_language(text: &str) -> &'static str {
    use std::hash::{Hash, Hasher};
    type Memo = std::collections::HashMap<u64, &'static str>;
    static MEMO: std::sync::OnceLock<std::sync::Mutex<Memo>> = std::sync::OnceLock::new();
    let end = text
        .char_indices()
        .nth(LANGUAGE_SAMPLE_CHARS)
        .map_or(text.len(), |(i, _)| i);
    let sample = &text[..end];
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    sample.hash(&mut hasher);
    let key = hasher.finish();
    let memo = MEMO.get_or_init(Default::default);
    if let Some(code) = memo.lock().ok().and_then(|m| m.get(&key).copied()) {
        return code;
    }
    let code = detect_language(sample);
    if let Ok(mut m) = memo.lock() {
        if m.len() >= LANGUAGE_MEMO {
            m.clear();
        }
        m.insert(key, code);
    }
    code
}

/// Share of the query's distinct terms that `text` contains, both analysed
/// like `text` is indexed (its language's stop words and stemmer): 1.0 when
/// every content word of the question occurs in the passage. A query of stop
/// words only covers nothing.
pub fn term_coverage(query: &str, text: &str) -> f32 {
    let code = passage_language(text);
    let wanted = terms(code, query);
    if wanted.is_empty() {
        return 0.0;
    }
    let have = terms(code, text);
    wanted.iter().filter(|t| have.contains(*t)).count() as f32 / wanted.len() as f32
}

fn new_writer(index: &Index) -> Result<IndexWriter> {
    index.writer(32 * 1024 * 1024).map_err(corrupt)
}

impl KeywordIndex {
    /// Opens or creates the index in `dir`; returns it and its watermark.
    /// A damaged or incompatible index is an error: the caller rebuilds.
    pub fn open(dir: &Path) -> Result<(Self, u64)> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let (schema, vid, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir).map_err(corrupt)?;
        let index = Index::open_or_create(directory, schema).map_err(corrupt)?;
        register_analyzers(&index);
        let watermark = index
            .load_metas()
            .map_err(corrupt)?
            .payload
            .and_then(|p| serde_json::from_str::<Payload>(&p).ok())
            .map_or(0, |p| p.watermark);
        let writer = match new_writer(&index) {
            Ok(w) => Some(w),
            Err(Error::DiskFull(why)) => {
                tracing::warn!("keyword index opened read-only: {why}");
                None
            }
            Err(e) => return Err(e),
        };
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(corrupt)?;
        // Disjunctive: any word may match, and BM25 ranks chunks matching
        // more (and rarer) words higher. A question is not a boolean query.
        let parser = QueryParser::for_index(&index, fields.iter().map(|f| f.1).collect());
        Ok((
            Self {
                index,
                writer: Mutex::new(writer),
                reader,
                vid,
                fields,
                parser,
            },
            watermark,
        ))
    }

    /// Removes `removed`, adds `added` (id, text), and commits with
    /// `watermark` as the highest id now included.
    pub fn apply(&self, added: &[(u64, String)], removed: &[u64], watermark: u64) -> Result<()> {
        let mut slot = self.writer.lock().map_err(|_| corrupt("writer poisoned"))?;
        if slot.is_none() {
            *slot = Some(new_writer(&self.index)?);
        }
        let Some(writer) = slot.as_mut() else {
            return Err(corrupt("no writer"));
        };
        for id in removed {
            writer.delete_term(Term::from_field_u64(self.vid, *id));
        }
        for (id, text) in added {
            let code = detect_language(text);
            let field = self
                .fields
                .iter()
                .find(|f| f.0 == code)
                .map_or(self.fields[0].1, |f| f.1);
            writer
                .add_document(doc!(self.vid => *id, field => text.as_str()))
                .map_err(corrupt)?;
        }
        let payload = serde_json::to_string(&Payload { watermark }).map_err(corrupt)?;
        let mut prepared = writer.prepare_commit().map_err(corrupt)?;
        prepared.set_payload(&payload);
        prepared.commit().map_err(corrupt)?;
        self.reader.reload().map_err(corrupt)?;
        Ok(())
    }

    /// Up to `k` accepted ids with their BM25 score, best first.
    pub fn search(
        &self,
        query: &str,
        k: usize,
        accept: &dyn Fn(u64) -> bool,
    ) -> Result<Vec<(u64, f32)>> {
        if k == 0 || query.trim().is_empty() {
            return Ok(Vec::new());
        }
        // Lenient: a question like "what's C++?" is not a query syntax error.
        let (query, _) = self.parser.parse_query_lenient(query);
        let searcher = self.reader.searcher();
        let top = searcher
            .search(&query, &TopDocs::with_limit(k * 2).order_by_score())
            .map_err(corrupt)?;
        let mut out = Vec::with_capacity(k);
        let mut columns: Vec<Option<tantivy::columnar::Column<u64>>> =
            vec![None; searcher.segment_readers().len()];
        for (score, address) in top {
            let segment = address.segment_ord as usize;
            if columns[segment].is_none() {
                columns[segment] = Some(
                    searcher
                        .segment_reader(address.segment_ord)
                        .fast_fields()
                        .u64("vid")
                        .map_err(corrupt)?,
                );
            }
            if let Some(id) = columns[segment]
                .as_ref()
                .and_then(|c| c.first(address.doc_id))
                && accept(id)
            {
                out.push((id, score));
                if out.len() == k {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The chunk id of every live document (`quarry check`).
    pub fn ids(&self) -> Result<Vec<u64>> {
        let searcher = self.reader.searcher();
        let all = searcher
            .search(
                &tantivy::query::AllQuery,
                &tantivy::collector::DocSetCollector,
            )
            .map_err(corrupt)?;
        let mut out = Vec::with_capacity(all.len());
        for address in all {
            let doc: TantivyDocument = searcher.doc(address).map_err(corrupt)?;
            if let Some(id) = doc.get_first(self.vid).and_then(|v| v.as_u64()) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Replaces the whole index with `added` (a repair from the store).
    pub fn replace_all(&self, added: &[(u64, String)], watermark: u64) -> Result<()> {
        {
            let mut slot = self.writer.lock().map_err(|_| corrupt("writer poisoned"))?;
            if slot.is_none() {
                *slot = Some(new_writer(&self.index)?);
            }
            if let Some(writer) = slot.as_mut() {
                writer.delete_all_documents().map_err(corrupt)?;
            }
        }
        self.apply(added, &[], watermark)
    }

    /// Documents in the index, deleted ones not yet merged away included.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The index directory's on-disk schema matches this build's.
    pub fn schema_matches(&self) -> bool {
        self.index.schema() == schema().0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_questions_get_their_language() {
        for (q, lang) in [
            ("How do I send a product back?", "en"),
            ("Hoe kan ik een product terugsturen?", "nl"),
            ("Wie kann ich ein Produkt zurückschicken?", "de"),
            ("Comment retourner un produit ?", "fr"),
            ("Come posso restituire un prodotto?", "it"),
            ("Hvordan sender jeg et produkt tilbage?", "da"),
            ("Skift tekststørrelse på skærmen", "da"),
            ("Läs mer om för och nackdelar", "sv"),
            ("ORD4821K", "en"),
            ("", "en"),
        ] {
            assert_eq!(detect_query_language(q), lang, "{q}");
        }
    }

    #[test]
    fn languages_are_detected_among_the_supported_ones() {
        assert_eq!(
            detect_language("How do I cancel my subscription and get a refund for this month?"),
            "en"
        );
        assert_eq!(
            detect_language("Hoe kan ik mijn abonnement opzeggen en mijn geld terugkrijgen?"),
            "nl"
        );
        assert_eq!(
            detect_language(
                "Comment puis-je résilier mon abonnement et obtenir un remboursement ?"
            ),
            "fr"
        );
        assert_eq!(
            detect_language(
                "Wie kann ich mein Abonnement kündigen und eine Rückerstattung erhalten?"
            ),
            "de"
        );
    }

    #[test]
    fn coverage_counts_content_words_after_stemming() {
        let text = "To cancel a subscription, open Billing and choose Cancel plan. \
                    Refunds are paid within five days.";
        assert_eq!(
            term_coverage("How do I cancel my subscriptions?", text),
            1.0
        );
        assert_eq!(term_coverage("cancelled refund", text), 1.0);
        assert!((term_coverage("cancel the router firmware", text) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(term_coverage("how do I", text), 0.0, "stop words only");
        assert!(term_coverage("what is the refund policy", text) == 0.5);
        let de =
            "Um das Abonnement zu kündigen, öffnen Sie die Abrechnung und wählen Sie Kündigen.";
        assert_eq!(
            term_coverage("Wie kann ich mein Abonnement kündigen?", de),
            1.0
        );
    }

    #[test]
    fn stemming_per_language_and_live_filtering() {
        let dir = tempfile::tempdir().unwrap();
        let (idx, watermark) = KeywordIndex::open(dir.path()).unwrap();
        assert_eq!(watermark, 0);
        idx.apply(
            &[
                (1, "Cancelling subscriptions: you can cancel your subscription at any time from the billing page.".into()),
                (2, "Wij verwerken terugbetalingen binnen vijf werkdagen na de opzegging van uw abonnement.".into()),
                (3, "Invoices are emailed monthly to the account owner.".into()),
            ],
            &[],
            3,
        )
        .unwrap();
        let ids = |q: &str| {
            idx.search(q, 5, &|_| true)
                .unwrap()
                .into_iter()
                .map(|h| h.0)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("cancelled subscription")[0], 1, "English stemming");
        assert_eq!(ids("terugbetaling abonnementen")[0], 2, "Dutch stemming");
        assert_eq!(ids("invoice")[0], 3);
        assert!(idx.search("invoice", 5, &|id| id != 3).unwrap().is_empty());
        assert!(
            idx.search("what's C++ (or \"quotes\"?", 5, &|_| true)
                .is_ok()
        );
        idx.apply(&[], &[3], 3).unwrap();
        drop(idx);
        let (idx, watermark) = KeywordIndex::open(dir.path()).unwrap();
        assert_eq!(watermark, 3);
        assert!(idx.search("invoice", 5, &|_| true).unwrap().is_empty());
        assert!(idx.schema_matches());
    }
}
