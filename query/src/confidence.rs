//! How sure quarry is that the top passage answers the question, and what the
//! answering layer should do about it.
//!
//! This first version is a logistic function of two retrieval features, the
//! top cosine similarity and its margin over the runner-up:
//!
//! `p = σ(w_sim · (s₁ − center) + w_margin · (s₁ − s₂))`
//!
//! Defaults were set by hand from the bundled sample corpus (see the README):
//! with all-MiniLM-L6-v2, questions the corpus answers put the right passage at
//! s₁ ≈ 0.55–0.8, off-topic questions top out around 0.1–0.35. A later version
//! fits these weights on labelled dev sets.

use serde::{Deserialize, Serialize};

/// What the answering layer should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Answer from the passages.
    Answer,
    /// Related content exists but is not a clear match: ask the visitor to clarify.
    Clarify,
    /// The content does not cover it: hand off to a human.
    Handoff,
}

/// Weights of the confidence function and the decision thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfidenceOptions {
    pub center: f32,
    pub weight_similarity: f32,
    pub weight_margin: f32,
    /// Confidence at or above which the decision is `answer`…
    pub answer_at: f32,
    /// …and at or above which it is `clarify` (below: `handoff`).
    pub clarify_at: f32,
}

impl Default for ConfidenceOptions {
    fn default() -> Self {
        Self {
            center: 0.45,
            weight_similarity: 12.0,
            weight_margin: 4.0,
            answer_at: 0.6,
            clarify_at: 0.3,
        }
    }
}

/// The inputs and output of a decision, returned with every response so a
/// reader can see why quarry answered or handed off.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DecisionDetails {
    pub top_similarity: f32,
    pub margin: f32,
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
        Ok(())
    }

    /// Confidence from the similarities of the ranked passages (best first).
    pub fn assess(&self, similarities: &[f32]) -> (Decision, DecisionDetails) {
        let top = similarities.first().copied().unwrap_or(0.0);
        let margin = match similarities.get(1) {
            Some(second) => top - second,
            None => top,
        };
        let confidence = if similarities.is_empty() {
            0.0
        } else {
            let z = self.weight_similarity * (top - self.center) + self.weight_margin * margin;
            1.0 / (1.0 + (-z).exp())
        };
        let decision = if confidence >= self.answer_at {
            Decision::Answer
        } else if confidence >= self.clarify_at {
            Decision::Clarify
        } else {
            Decision::Handoff
        };
        (
            decision,
            DecisionDetails {
                top_similarity: top,
                margin,
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

    #[test]
    fn confidence_rises_with_similarity_and_margin() {
        let c = ConfidenceOptions::default();
        let (d_hi, hi) = c.assess(&[0.75, 0.5]);
        let (d_mid, mid) = c.assess(&[0.45, 0.44]);
        let (d_lo, lo) = c.assess(&[0.15, 0.14]);
        assert!(hi.confidence > mid.confidence && mid.confidence > lo.confidence);
        assert_eq!((d_hi, d_lo), (Decision::Answer, Decision::Handoff));
        assert_eq!(d_mid, Decision::Clarify);
        assert!(c.assess(&[0.6, 0.59]).1.confidence < c.assess(&[0.6, 0.3]).1.confidence);
    }

    #[test]
    fn no_passages_means_handoff() {
        let (d, details) = ConfidenceOptions::default().assess(&[]);
        assert_eq!((d, details.confidence), (Decision::Handoff, 0.0));
    }

    #[test]
    fn thresholds_are_validated() {
        let bad = ConfidenceOptions {
            answer_at: 0.2,
            clarify_at: 0.5,
            ..ConfidenceOptions::default()
        };
        assert!(bad.validate().is_err());
    }
}
