//! Search-term variations per knowledge base ([`Synonyms`]), in
//! Meilisearch's shape: a term (one word or several) and the terms it also
//! searches for. `{"tv": ["television"], "television": ["tv"]}` is mutual;
//! listing one direction only is one-way. They are applied to the keyword
//! side of a query ([`Synonyms::expand`]), so changing them takes effect at
//! once, without re-embedding anything. Stored with the knowledge base (its
//! store's settings), so they are backed up with it.

use crate::{Error, Result};
use quarry_index::KnowledgeBase;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Store setting key.
const KEY: &str = "synonyms";
/// Most terms in one knowledge base's synonyms.
const MAX_TERMS: usize = 10_000;
/// Longest term, in characters.
const MAX_TERM_CHARS: usize = 100;

/// Term → the terms it also searches for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Synonyms(pub BTreeMap<String, Vec<String>>);

/// Lower-case words of a text (letters and digits; everything else splits).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl Synonyms {
    /// Checks the sets: non-empty terms of at most 100 characters that have
    /// a word in them, at most 10,000 terms.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::bad_request("invalid_synonyms", m));
        let count = self.0.len() + self.0.values().map(Vec::len).sum::<usize>();
        if count > MAX_TERMS {
            return bad(format!("at most {MAX_TERMS} terms; got {count}"));
        }
        for (term, alternatives) in &self.0 {
            for t in std::iter::once(term).chain(alternatives) {
                if words(t).is_empty() || t.chars().count() > MAX_TERM_CHARS {
                    return bad(format!(
                        "synonym term {t:?} must have a word in it and at most {MAX_TERM_CHARS} characters"
                    ));
                }
            }
            if alternatives.is_empty() {
                return bad(format!("{term:?} lists no synonyms"));
            }
        }
        Ok(())
    }

    /// The synonyms of `kb` (none when never set).
    pub fn of(kb: &KnowledgeBase) -> Result<Self> {
        match kb.meta(KEY)? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| Error::Internal(format!("stored synonyms: {e}"))),
            None => Ok(Self::default()),
        }
    }

    /// Replaces the synonyms of `kb`.
    pub fn save(&self, kb: &KnowledgeBase) -> Result<()> {
        self.validate()?;
        let json = serde_json::to_string(self).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(kb.set_meta(KEY, &json)?)
    }

    /// The keyword query for `query`: the question, then every synonym of a
    /// term it contains (whole words; several-word terms as phrases).
    /// Returns it and the applied `term → synonym` pairs.
    pub fn expand(&self, query: &str) -> (String, Vec<String>) {
        if self.0.is_empty() {
            return (query.to_owned(), Vec::new());
        }
        let q = words(query);
        let mut out = query.to_owned();
        let mut applied = Vec::new();
        for (term, alternatives) in &self.0 {
            let t = words(term);
            if t.is_empty() || !q.windows(t.len()).any(|w| w == t.as_slice()) {
                continue;
            }
            for alternative in alternatives {
                let a = words(alternative);
                out.push(' ');
                if a.len() > 1 {
                    out.push_str(&format!("\"{}\"", a.join(" ")));
                } else {
                    out.push_str(&a.join(" "));
                }
                applied.push(format!("{term} → {alternative}"));
            }
        }
        (out, applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_terms_expand_one_way_or_both() {
        let s: Synonyms = serde_json::from_str(
            r#"{"zx3k": ["Zorblax 3000"], "tv": ["television"], "television": ["tv"], "phone case": ["cover"]}"#,
        )
        .unwrap();
        s.validate().unwrap();
        let (q, applied) = s.expand("Does the ZX3K support WPA3?");
        assert_eq!(q, "Does the ZX3K support WPA3? \"zorblax 3000\"");
        assert_eq!(applied, vec!["zx3k → Zorblax 3000"]);
        assert_eq!(
            s.expand("my phone case broke").0,
            "my phone case broke cover"
        );
        assert_eq!(
            s.expand("my phone broke").1,
            Vec::<String>::new(),
            "whole terms only"
        );
        assert_eq!(s.expand("a TV stand").0, "a TV stand television");
        assert!(s.expand("the zorblax 3000").1.is_empty(), "one-way");
        let bad: Synonyms = serde_json::from_str(r#"{"tv": []}"#).unwrap();
        assert!(bad.validate().is_err());
        let bad: Synonyms = serde_json::from_str(r#"{"--": ["x"]}"#).unwrap();
        assert!(bad.validate().is_err());
    }
}
