//! Message insights (`explain: true`): why a response came out as it did —
//! each passage's ranks and scores in both searches, what each confidence
//! feature added to the decision, the thresholds, a short-answer match,
//! the question's language, the synonyms applied and the near-duplicates
//! folded away. The test
//! playground shows this.

use crate::confidence::{ConfidenceOptions, Decision, FEATURE_NAMES, Features};
use crate::response::{FeatureContribution, Insights, PassageInsight, QueryResponse};

/// The insights of a response.
pub fn explain(
    response: &QueryResponse,
    features: Option<&Features>,
    model: &ConfidenceOptions,
    synonyms_applied: Vec<String>,
) -> Insights {
    let (language, passages) = (response.language.as_str(), &response.passages);
    let (confidence, decision) = (response.confidence, response.decision);
    let short_answer = response.details.short_answer;
    let mut contributions: Vec<FeatureContribution> = match features {
        Some(f) => f
            .inputs()
            .iter()
            .zip(model.weights())
            .zip(FEATURE_NAMES)
            .map(|((x, w), name)| FeatureContribution {
                feature: name.to_owned(),
                value: *x as f32,
                weight: w,
                contribution: *x as f32 * w,
            })
            .collect(),
        None => Vec::new(),
    };
    contributions.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
    let top_question = passages.first().and_then(|p| p.question.clone());
    let reason = if short_answer {
        format!(
            "the question matched short answer {:?} closely",
            top_question.as_deref().unwrap_or_default()
        )
    } else if passages.is_empty() {
        "no passage was found".to_owned()
    } else {
        match decision {
            Decision::Answer => format!(
                "confidence {confidence:.2} ≥ answer_at {:.2}",
                model.answer_at
            ),
            Decision::Clarify => format!(
                "clarify_at {:.2} ≤ confidence {confidence:.2} < answer_at {:.2}",
                model.clarify_at, model.answer_at
            ),
            Decision::Handoff => format!(
                "confidence {confidence:.2} < clarify_at {:.2}",
                model.clarify_at
            ),
        }
    };
    Insights {
        language: language.to_owned(),
        passages: passages
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let d = &p.score_details;
                PassageInsight {
                    id: p.id.clone(),
                    rank: i + 1,
                    vector_rank: d.vector_rank,
                    vector_similarity: d.vector_similarity,
                    keyword_rank: d.keyword_rank,
                    keyword_score: d.keyword_score,
                    fused: d.fused,
                    score: p.score,
                    duplicates_folded: d.duplicates_collapsed,
                    short_answer_question: p.question.clone(),
                }
            })
            .collect(),
        bias: model.bias,
        features: contributions,
        confidence,
        answer_at: model.answer_at,
        clarify_at: model.clarify_at,
        decision,
        reason,
        short_answer: short_answer.then_some(top_question).flatten(),
        synonyms_applied,
    }
}
