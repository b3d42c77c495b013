//! How sure quarry is that the top passage answers the question, and what the
//! answering layer should do about it.
//!
//! The confidence is a logistic regression over five features of the result:
//!
//! `p = σ(bias + w_sim·similarity + w_margin·margin + w_kw·ln(1 + bm25)
//!        + w_agree·agreement + w_cov·coverage)`
//!
//! The weights and the `answer` / `clarify` thresholds are fitted offline on
//! the dev sets in `corpora/dev/` by `quarry bench eval --fit`, per embedding
//! model (similarities mean different things in different models), and
//! shipped in `query/confidence/MODEL.json` ([`ConfidenceOptions::for_model`]);
//! a config can override them (`[query.confidence]`). See the README's "Retrieval quality" section for how they were
//! fitted and how well they are calibrated.

use serde::{Deserialize, Serialize};

/// What the answering layer should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Answer from the passages.
    Answer,
    /// Related content exists but is not a clear match: ask the visitor to clarify.
    Clarify,
    /// The content does not cover it: hand off to a human.
    Handoff,
}

/// What the confidence is computed from, all about the top passage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Features {
    /// Cosine similarity of the query and the top passage.
    pub similarity: f32,
    /// The top passage's similarity minus the best similarity among the
    /// other passages (negative when another passage is closer).
    pub margin: f32,
    /// The top passage's BM25 score (0 when the keyword search missed it).
    pub keyword_score: f32,
    /// Agreement of the two rankings on the top passage: the mean of
    /// 1/rank in the vector and the keyword ranking (0 where it is absent),
    /// 1.0 when both put it first.
    pub agreement: f32,
    /// Share of the question's content words (stemmed, stop words out) the
    /// top passage contains.
    pub coverage: f32,
}

impl Features {
    /// The model's inputs, in the order of [`ConfidenceOptions::weights`].
    pub fn inputs(&self) -> [f64; 5] {
        [
            f64::from(self.similarity),
            f64::from(self.margin),
            f64::from(self.keyword_score.max(0.0)).ln_1p(),
            f64::from(self.agreement),
            f64::from(self.coverage),
        ]
    }
}

/// Names of [`Features::inputs`], for reports and the parameter file.
pub const FEATURE_NAMES: [&str; 5] = [
    "similarity",
    "margin",
    "ln(1+bm25)",
    "agreement",
    "coverage",
];

/// Weights of the confidence model and the decision thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfidenceOptions {
    pub bias: f32,
    pub weight_similarity: f32,
    pub weight_margin: f32,
    /// Weight of ln(1 + BM25 score of the top passage).
    pub weight_keyword: f32,
    pub weight_agreement: f32,
    pub weight_coverage: f32,
    /// Confidence at or above which the decision is `answer`…
    pub answer_at: f32,
    /// …and at or above which it is `clarify` (below: `handoff`).
    pub clarify_at: f32,
}

/// `query/confidence/MODEL.json`: the fitted options and how they were fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceFile {
    pub options: ConfidenceOptions,
    /// The `blend` fusion weight of the vector side for this model
    /// ([`ModelTuning`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blend_vector_weight: Option<f32>,
    /// The short-answer threshold for this model ([`ModelTuning`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_answer_similarity: Option<f32>,
    /// Free-form provenance: dev sets, sample counts, cross-validated scores.
    #[serde(default)]
    pub fit: serde_json::Value,
}

/// The parameter files compiled into the binary, by model name.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        quarry_index::MULTILINGUAL_MODEL,
        include_str!("../confidence/multilingual-e5-small.json"),
    ),
    (
        quarry_index::ENGLISH_MODEL,
        include_str!("../confidence/all-MiniLM-L6-v2.json"),
    ),
];

/// The read path's settings that depend on the embedding model (its
/// similarities have their own scale), chosen on the dev sets and shipped
/// in `query/confidence/MODEL.json` beside the confidence model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelTuning {
    pub confidence: ConfidenceOptions,
    /// Weight of the vector side in `blend` fusion (0.5 when absent).
    pub blend_vector_weight: f32,
    /// A short answer whose question is at least this similar to the query
    /// goes first (0.8 when absent).
    pub short_answer_similarity: f32,
}

impl ModelTuning {
    /// `model`'s settings (the default model's for a model without a file),
    /// parsed once: a retriever is made per request.
    pub fn for_model(model: &str) -> Self {
        static PARSED: std::sync::OnceLock<Vec<(&'static str, ModelTuning)>> =
            std::sync::OnceLock::new();
        let all = PARSED.get_or_init(|| {
            SHIPPED
                .iter()
                .map(|(name, text)| {
                    let value = serde_json::from_str::<serde_json::Value>(text).ok();
                    let number = |key: &str, default: f32| {
                        value
                            .as_ref()
                            .and_then(|v| v[key].as_f64())
                            .map_or(default, |w| w as f32)
                    };
                    let tuning = ModelTuning {
                        confidence: ConfidenceOptions::parse_shipped(text),
                        blend_vector_weight: number("blend_vector_weight", 0.5),
                        short_answer_similarity: number("short_answer_similarity", 0.8),
                    };
                    (*name, tuning)
                })
                .collect()
        });
        all.iter().find(|s| s.0 == model).unwrap_or(&all[0]).1
    }
}

impl Default for ConfidenceOptions {
    /// The default model's fitted parameters.
    fn default() -> Self {
        Self::for_model(quarry_index::MULTILINGUAL_MODEL)
    }
}

impl ConfidenceOptions {
    /// The parameters fitted for `model`; a model without its own file gets
    /// the default model's.
    pub fn for_model(model: &str) -> Self {
        ModelTuning::for_model(model).confidence
    }

    fn parse_shipped(text: &str) -> Self {
        // Not through `ConfidenceFile`: its `#[serde(default)]` options would
        // call `default()` again for their defaults.
        #[derive(Deserialize)]
        struct Shipped {
            options: Fitted,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fitted {
            bias: f32,
            weight_similarity: f32,
            weight_margin: f32,
            weight_keyword: f32,
            weight_agreement: f32,
            weight_coverage: f32,
            answer_at: f32,
            clarify_at: f32,
        }
        let f = serde_json::from_str::<Shipped>(text)
            .expect("query/confidence/*.json are valid (tested)")
            .options;
        Self {
            bias: f.bias,
            weight_similarity: f.weight_similarity,
            weight_margin: f.weight_margin,
            weight_keyword: f.weight_keyword,
            weight_agreement: f.weight_agreement,
            weight_coverage: f.weight_coverage,
            answer_at: f.answer_at,
            clarify_at: f.clarify_at,
        }
    }
}

/// The inputs and output of a decision, returned with every response so a
/// reader can see why quarry answered or handed off.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionDetails {
    pub top_similarity: f32,
    pub margin: f32,
    pub keyword_score: f32,
    pub agreement: f32,
    pub coverage: f32,
    pub confidence: f32,
    pub answer_at: f32,
    pub clarify_at: f32,
    /// The top passage is a short answer whose question matched the query
    /// closely; the decision is then `answer`.
    #[serde(default)]
    pub short_answer: bool,
}

impl ConfidenceOptions {
    pub fn validate(&self) -> Result<(), String> {
        let unit = 0.0..=1.0;
        if !unit.contains(&self.answer_at)
            || !unit.contains(&self.clarify_at)
            || self.clarify_at > self.answer_at
        {
            return Err("confidence thresholds need 0 ≤ clarify_at ≤ answer_at ≤ 1".into());
        }
        let weights = [self.bias].into_iter().chain(self.weights());
        if weights.into_iter().any(|w| !w.is_finite()) {
            return Err("confidence weights must be finite numbers".into());
        }
        Ok(())
    }

    /// The feature weights, in the order of [`Features::inputs`].
    pub fn weights(&self) -> [f32; 5] {
        [
            self.weight_similarity,
            self.weight_margin,
            self.weight_keyword,
            self.weight_agreement,
            self.weight_coverage,
        ]
    }

    /// Options with `bias` and `weights` (in the order of [`Features::inputs`]).
    pub fn with_weights(self, bias: f64, weights: &[f64; 5]) -> Self {
        Self {
            bias: bias as f32,
            weight_similarity: weights[0] as f32,
            weight_margin: weights[1] as f32,
            weight_keyword: weights[2] as f32,
            weight_agreement: weights[3] as f32,
            weight_coverage: weights[4] as f32,
            ..self
        }
    }

    /// The probability that the top passage answers the question.
    pub fn probability(&self, features: &Features) -> f32 {
        let z = f64::from(self.bias)
            + features
                .inputs()
                .iter()
                .zip(self.weights())
                .map(|(x, w)| x * f64::from(w))
                .sum::<f64>();
        (1.0 / (1.0 + (-z).exp())) as f32
    }

    pub fn decide(&self, confidence: f32) -> Decision {
        if confidence >= self.answer_at {
            Decision::Answer
        } else if confidence >= self.clarify_at {
            Decision::Clarify
        } else {
            Decision::Handoff
        }
    }

    /// Confidence and decision for a result whose top passage has
    /// `features` (`None`: no passage at all, a hand-off).
    pub fn assess(&self, features: Option<&Features>) -> (Decision, DecisionDetails) {
        let f = features.copied().unwrap_or_default();
        let confidence = features.map_or(0.0, |f| self.probability(f));
        (
            self.decide(confidence),
            DecisionDetails {
                top_similarity: f.similarity,
                margin: f.margin,
                keyword_score: f.keyword_score,
                agreement: f.agreement,
                coverage: f.coverage,
                confidence,
                answer_at: self.answer_at,
                clarify_at: self.clarify_at,
                short_answer: false,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(similarity: f32, margin: f32, coverage: f32) -> Features {
        Features {
            similarity,
            margin,
            keyword_score: 10.0 * coverage,
            agreement: coverage,
            coverage,
        }
    }

    #[test]
    fn every_shipped_parameter_file_is_valid_and_found_by_its_model() {
        for (model, text) in SHIPPED {
            let file: ConfidenceFile = serde_json::from_str(text).unwrap();
            file.options.validate().unwrap();
            let weight = file
                .blend_vector_weight
                .expect("the file sets the blend weight");
            let short = file
                .short_answer_similarity
                .expect("the file sets the short-answer threshold");
            assert!((0.0..=1.0).contains(&weight) && (0.0..=1.0).contains(&short));
            let tuning = ModelTuning::for_model(model);
            assert_eq!(
                (tuning.blend_vector_weight, tuning.short_answer_similarity),
                (weight, short)
            );
            assert_eq!(file.options, ConfidenceOptions::for_model(model));
            assert!(
                file.fit.get("samples").is_some(),
                "{model}: the file says what it was fitted on"
            );
        }
        assert_eq!(
            ConfidenceOptions::default(),
            ConfidenceOptions::for_model(quarry_index::MULTILINGUAL_MODEL)
        );
        assert_eq!(
            ConfidenceOptions::for_model("unknown"),
            ConfidenceOptions::default()
        );
    }

    #[test]
    fn confidence_rises_with_the_evidence() {
        let c = ConfidenceOptions::default();
        let hi = c.probability(&features(0.75, 0.2, 1.0));
        let mid = c.probability(&features(0.45, 0.02, 0.5));
        let lo = c.probability(&features(0.15, 0.0, 0.0));
        assert!(hi > mid && mid > lo, "{hi} {mid} {lo}");
        assert_eq!(c.decide(hi), Decision::Answer);
        assert_eq!(c.decide(lo), Decision::Handoff);
        assert_eq!(c.decide(c.clarify_at), Decision::Clarify);
    }

    #[test]
    fn no_passages_means_handoff() {
        let (d, details) = ConfidenceOptions::default().assess(None);
        assert_eq!((d, details.confidence), (Decision::Handoff, 0.0));
    }

    #[test]
    fn thresholds_and_weights_are_validated() {
        let bad = ConfidenceOptions {
            answer_at: 0.2,
            clarify_at: 0.5,
            ..ConfidenceOptions::default()
        };
        assert!(bad.validate().is_err());
        let nan = ConfidenceOptions {
            weight_margin: f32::NAN,
            ..ConfidenceOptions::default()
        };
        assert!(nan.validate().is_err());
    }
}
