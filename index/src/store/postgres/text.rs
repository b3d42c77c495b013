//! Full-text search in PostgreSQL, language-aware like the embedded
//! tantivy index: each chunk is analysed with the text-search
//! configuration of its detected language (stemmer and stop words) plus
//! `simple` (exact words, any language), and a query is analysed with
//! every configuration and matches any of its words (OR, like BM25), so
//! "résiliation" finds French text and "cancelled" English text.

/// PostgreSQL's text-search configuration for a language code of
/// [`crate::keyword::detect_language`] (`simple` when it has none).
pub fn pg_config_of(code: &str) -> &'static str {
    match code {
        "en" => "english",
        "nl" => "dutch",
        "da" => "danish",
        "fr" => "french",
        "it" => "italian",
        "de" => "german",
        "es" => "spanish",
        "pt" => "portuguese",
        "sv" => "swedish",
        "no" => "norwegian",
        _ => "simple",
    }
}

/// The configurations a query is analysed with: its own language's (as
/// [`crate::keyword::detect_query_language`] reads it), English (most help
/// content), and `simple` (exact words: names, codes, any language). Fewer
/// than the embedded index's every-language parse, because each
/// configuration costs PostgreSQL a dictionary pass per query.
pub(crate) fn query_configs(query: &str) -> Vec<&'static str> {
    let mut configs = vec![pg_config_of(crate::keyword::detect_query_language(query))];
    for c in ["english", "simple"] {
        if !configs.contains(&c) {
            configs.push(c);
        }
    }
    configs
}

/// The words of a query as an OR `to_tsquery` expression (`a | b | c`),
/// keeping letters and digits only, so no user text reaches the tsquery
/// parser as syntax. `None` when no word is left.
pub fn tsquery_terms(query: &str) -> Option<String> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.chars().count() <= 64)
        .map(|w| w.to_lowercase())
        .take(64)
        .collect();
    if words.is_empty() {
        None
    } else {
        Some(words.join(" | "))
    }
}

/// SQL for the tsquery of `param` (an expression from [`tsquery_terms`])
/// under each of `configs`, OR-ed.
pub(crate) fn tsquery_sql(param: &str, configs: &[&str]) -> String {
    configs
        .iter()
        .map(|c| format!("to_tsquery('{c}', {param})"))
        .collect::<Vec<_>>()
        .join(" || ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_words_cannot_inject_syntax() {
        assert_eq!(
            tsquery_terms("What's C++ & (x | !y)?").as_deref(),
            Some("what | s | c | x | y")
        );
        assert_eq!(tsquery_terms("  ?!  "), None);
        assert_eq!(tsquery_terms("Rückgabe"), Some("rückgabe".into()));
        assert_eq!(
            query_configs("Wie kann ich meine Bestellung zurückgeben?"),
            ["german", "english", "simple"]
        );
        assert_eq!(
            query_configs("How do I return an order?"),
            ["english", "simple"]
        );
    }
}
