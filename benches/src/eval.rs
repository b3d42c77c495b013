//! The eval harness over the dev sets (`quarry bench eval`), and the offline
//! fit of the confidence model.
//!
//! Each dev set (a folder with `docs/` and a BEIR query set, see
//! `corpora/tools/make_devsets.py`) is ingested into a knowledge base of its
//! own, and every question runs through the real query path under each
//! fusion mode. For each set and mode the report has recall@1/3/5/10, MRR,
//! nDCG@10, latency, and — for the decision — accuracy of answer vs
//! hand-off and the expected calibration error (ECE) of the confidence.
//!
//! Confidence is reported two ways: as shipped (the model in
//! `query/confidence/MODEL.json`, fitted on these very sets, so in-sample), and
//! cross-validated (5 folds over all sets' questions pooled: the model and
//! its `answer` threshold are fitted on four folds and score the fifth), the
//! honest estimate for content the model has not seen.

use crate::{Error, ModeEval, Outcome, Result, load_query_set, run_cases, score};
use quarry_formats::Registry;
use quarry_index::Embedder;
use quarry_ingest::{FileSource, IngestOptions, NoProgress, Pipeline};
use quarry_query::{ConfidenceFile, ConfidenceOptions, Features, Fusion, QueryOptions, Retriever};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Dev set folders.
    pub sets: Vec<PathBuf>,
    /// Keep each set's knowledge base under `data/NAME` between runs (a
    /// rerun then only resyncs); `None`: a temporary directory.
    pub data: Option<PathBuf>,
    pub ingest: IngestOptions,
    /// Fusion modes to compare; the configured one is always included.
    pub fusions: Vec<Fusion>,
}

/// One dev set's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetEval {
    pub name: String,
    pub documents: usize,
    pub chunks: usize,
    pub ingest_ms: u64,
    pub answerable: usize,
    pub out_of_domain: usize,
    /// Each fusion mode, confidence as shipped.
    pub modes: Vec<ModeEval>,
    /// Decision accuracy and ECE per mode with the confidence model
    /// cross-validated (fitted without this question's fold).
    pub cross_validated: Vec<Calibration>,
}

/// Decision accuracy and calibration of one fusion mode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub fusion: Fusion,
    pub decision_accuracy: f64,
    pub ece: f64,
}

/// Everything `quarry bench eval` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The embedding model's name.
    pub model: String,
    /// The `blend` weight of the vector side the sets ran with.
    pub blend_vector_weight: f32,
    /// The short-answer threshold in force (the sets have none; carried
    /// into the parameter file).
    pub short_answer_similarity: f32,
    /// The configured fusion mode (the one `--fit` fits for).
    pub fusion: Fusion,
    pub sets: Vec<SetEval>,
    /// Decision accuracy and ECE over every set's questions together, per
    /// fusion mode: as shipped, and cross-validated.
    pub pooled: Vec<Calibration>,
    pub pooled_cross_validated: Vec<Calibration>,
    /// Every question's outcome, per fusion mode, per set (for refitting).
    #[serde(skip)]
    pub outcomes: BTreeMap<(String, Fusion), Vec<Outcome>>,
}

/// The dev sets under `root` (folders with a `docs/` folder and a query set), sorted.
pub fn find_sets(root: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(root).map_err(|e| {
        Error::Setup(format!(
            "{}: {e} (build the dev sets with scripts/fetch-devsets.sh)",
            root.display()
        ))
    })?;
    let mut sets: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("docs").is_dir() && p.join("queries.jsonl").is_file())
        .collect();
    sets.sort();
    Ok(sets)
}

/// Ingests every set and runs its questions under each fusion mode.
pub fn run_eval(
    embedder: Arc<dyn Embedder>,
    index: quarry_index::IndexOptions,
    query: QueryOptions,
    options: &EvalOptions,
) -> Result<EvalReport> {
    let mut fusions = vec![query.fusion];
    fusions.extend(options.fusions.iter().filter(|f| **f != query.fusion));
    let id = embedder.model_id();
    let model = id.split('@').next().unwrap_or(id).to_owned();
    let confidence = query
        .confidence
        .unwrap_or_else(|| ConfidenceOptions::for_model(&model));
    let registry = Arc::new(Registry::default());
    let temp = crate::temp_dir()?;
    let mut sets = Vec::new();
    let mut outcomes = BTreeMap::new();
    for dir in &options.sets {
        let name = dir
            .file_name()
            .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into());
        let cases = load_query_set(dir)?;
        let data = options.data.as_deref().unwrap_or(temp.path()).join(&name);
        let (_, kb) = crate::open_default_kb(&data, embedder.clone(), index)?;
        let source = FileSource::new(&dir.join("docs"))?;
        let report = Pipeline::new(kb.clone(), registry.clone(), options.ingest)
            .run(&source, &NoProgress)?;
        if let Some(f) = report.failed.first() {
            eprintln!(
                "{name}: {} documents failed, e.g. {f:?}",
                report.failed.len()
            );
        }
        let stats = kb.stats()?;
        let mut modes = Vec::new();
        for fusion in &fusions {
            let retriever = Retriever::new(
                kb.clone(),
                QueryOptions {
                    fusion: *fusion,
                    ..query
                },
            )?;
            let o = run_cases(&retriever, &cases)?;
            let answer_at = f64::from(confidence.answer_at);
            modes.push(score(*fusion, &o, &|o| o.confidence, answer_at));
            outcomes.insert((name.clone(), *fusion), o);
        }
        let answerable = cases.iter().filter(|c| !c.expect.is_empty()).count();
        sets.push(SetEval {
            name,
            documents: stats.store.documents,
            chunks: stats.store.chunks,
            ingest_ms: report.elapsed_ms,
            answerable,
            out_of_domain: cases.len() - answerable,
            modes,
            cross_validated: Vec::new(),
        });
    }
    let tuning = quarry_query::ModelTuning::for_model(&model);
    let blend_vector_weight = query
        .blend_vector_weight
        .unwrap_or(tuning.blend_vector_weight);
    let short_answer_similarity = query
        .short_answer_similarity
        .unwrap_or(tuning.short_answer_similarity);
    let mut report = EvalReport {
        model,
        blend_vector_weight,
        short_answer_similarity,
        fusion: query.fusion,
        sets,
        pooled: Vec::new(),
        pooled_cross_validated: Vec::new(),
        outcomes,
    };
    let answer_at = f64::from(confidence.answer_at);
    for fusion in fusions {
        let shipped: Vec<(f64, bool, bool)> = report
            .pooled(fusion)
            .iter()
            .map(|(_, o)| {
                (
                    o.confidence,
                    o.top_is_relevant(),
                    o.decided_right(o.confidence >= answer_at),
                )
            })
            .collect();
        report.pooled.push(calibration(fusion, &shipped));
        report.cross_validate(fusion, confidence, 5);
    }
    Ok(report)
}

impl EvalReport {
    /// Pooled outcomes of one fusion mode over every set, with their set's name.
    fn pooled(&self, fusion: Fusion) -> Vec<(&str, &Outcome)> {
        self.outcomes
            .iter()
            .filter(|((_, f), _)| *f == fusion)
            .flat_map(|((set, _), o)| o.iter().map(move |o| (set.as_str(), o)))
            .collect()
    }

    /// Fills each set's `cross_validated` entry for `fusion`: `folds`-fold
    /// cross-validation over all sets' questions pooled.
    fn cross_validate(&mut self, fusion: Fusion, base: ConfidenceOptions, folds: u64) {
        let pooled = self.pooled(fusion);
        let fold_of = |o: &Outcome| fnv(o.id.as_bytes()) % folds;
        let mut predicted: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
        for fold in 0..folds {
            let train: Vec<&Outcome> = pooled
                .iter()
                .filter(|(_, o)| fold_of(o) != fold)
                .map(|(_, o)| *o)
                .collect();
            let model = fit(&train, base);
            for (set, o) in pooled.iter().filter(|(_, o)| fold_of(o) == fold) {
                let p = model_confidence(&model, o);
                predicted.insert(
                    ((*set).to_owned(), o.id.clone()),
                    (p, f64::from(model.answer_at)),
                );
            }
        }
        let judged = |set: &str, o: &Outcome| {
            let (p, answer_at) = predicted[&(set.to_owned(), o.id.clone())];
            (p, o.top_is_relevant(), o.decided_right(p >= answer_at))
        };
        let all: Vec<(f64, bool, bool)> = pooled.iter().map(|(set, o)| judged(set, o)).collect();
        self.pooled_cross_validated.push(calibration(fusion, &all));
        for set in &mut self.sets {
            let Some(outcomes) = self.outcomes.get(&(set.name.clone(), fusion)) else {
                continue;
            };
            let rows: Vec<(f64, bool, bool)> =
                outcomes.iter().map(|o| judged(&set.name, o)).collect();
            set.cross_validated.push(calibration(fusion, &rows));
        }
    }

    /// The confidence model fitted on every set's questions under the
    /// configured fusion, as the parameter file `query/confidence/MODEL.json`.
    pub fn fit_file(&self, base: ConfidenceOptions) -> ConfidenceFile {
        let pooled: Vec<&Outcome> = self.pooled(self.fusion).into_iter().map(|p| p.1).collect();
        let options = fit(&pooled, base);
        let per_set: BTreeMap<&str, serde_json::Value> = self
            .sets
            .iter()
            .map(|s| {
                let cv = s.cross_validated.iter().find(|c| c.fusion == self.fusion);
                (
                    s.name.as_str(),
                    serde_json::json!({
                        "answerable": s.answerable,
                        "out_of_domain": s.out_of_domain,
                        "cv_decision_accuracy": cv.map(|c| round3(c.decision_accuracy)),
                        "cv_ece": cv.map(|c| round3(c.ece)),
                    }),
                )
            })
            .collect();
        ConfidenceFile {
            options,
            blend_vector_weight: Some(self.blend_vector_weight),
            short_answer_similarity: Some(self.short_answer_similarity),
            fit: serde_json::json!({
                "by": format!("quarry bench eval --fit query/confidence/{}.json", self.model),
                "model": "logistic regression (Newton's method, L2 1e-3) on the top passage's features",
                "features": quarry_query::FEATURE_NAMES,
                "label": "the top passage cites a document the question's qrels mark relevant",
                "fusion": self.fusion,
                "samples": pooled.len(),
                "pooled_cv": self.pooled_cross_validated.iter().find(|c| c.fusion == self.fusion).map(|c| serde_json::json!({"decision_accuracy": round3(c.decision_accuracy), "ece": round3(c.ece)})),
                "thresholds": "answer_at maximises decision accuracy; clarify_at is the highest level below which at most 10% of top passages were right",
                "sets": per_set,
            }),
        }
    }

    /// One Markdown table per set.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for s in &self.sets {
            out.push_str(&format!(
                "### {} — {} documents, {} chunks, {} answerable + {} out-of-domain questions\n\n",
                s.name, s.documents, s.chunks, s.answerable, s.out_of_domain
            ));
            out.push_str("| fusion | recall@1 | recall@5 | recall@10 | MRR | nDCG@10 | p50 / p99 ms | decision acc. | ECE | out-of-domain not answered | decision acc. (CV) | ECE (CV) |\n");
            out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
            for m in &s.modes {
                let cv = s.cross_validated.iter().find(|c| c.fusion == m.fusion);
                out.push_str(&format!(
                    "| {}{} | {:.2} | {:.2} | {:.2} | {:.3} | {:.3} | {:.1} / {:.1} | {:.2} | {:.3} | {:.2} | {} | {} |\n",
                    fusion_name(m.fusion),
                    if m.fusion == self.fusion { " (configured)" } else { "" },
                    m.recall_at_1,
                    m.recall_at_5,
                    m.recall_at_10,
                    m.mrr,
                    m.ndcg_at_10,
                    m.latency_p50_ms,
                    m.latency_p99_ms,
                    m.decision_accuracy,
                    m.ece,
                    m.out_of_domain_not_answered,
                    cv.map_or("–".into(), |c| format!("{:.2}", c.decision_accuracy)),
                    cv.map_or("–".into(), |c| format!("{:.3}", c.ece)),
                ));
            }
            out.push('\n');
        }
        out.push_str("### all sets pooled\n\n| fusion | decision acc. | ECE | decision acc. (CV) | ECE (CV) |\n|---|---|---|---|---|\n");
        for (shipped, cv) in self.pooled.iter().zip(&self.pooled_cross_validated) {
            out.push_str(&format!(
                "| {} | {:.2} | {:.3} | {:.2} | {:.3} |\n",
                fusion_name(shipped.fusion),
                shipped.decision_accuracy,
                shipped.ece,
                cv.decision_accuracy,
                cv.ece
            ));
        }
        out
    }

    /// The configured fusion mode's results for set `name`.
    pub fn configured(&self, set: &SetEval) -> Option<ModeEval> {
        set.modes.iter().find(|m| m.fusion == self.fusion).copied()
    }
}

/// Decision accuracy and ECE of (confidence, top passage relevant, decision right) rows.
fn calibration(fusion: Fusion, rows: &[(f64, bool, bool)]) -> Calibration {
    let samples: Vec<(f64, bool)> = rows.iter().map(|r| (r.0, r.1)).collect();
    Calibration {
        fusion,
        decision_accuracy: rows.iter().filter(|r| r.2).count() as f64 / rows.len().max(1) as f64,
        ece: crate::expected_calibration_error(&samples, 10),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The name of a fusion mode in tables.
pub fn fusion_name(f: Fusion) -> &'static str {
    match f {
        Fusion::Rrf => "hybrid, RRF",
        Fusion::Blend => "hybrid, blend",
        Fusion::Vector => "vector",
        Fusion::Keyword => "BM25",
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The confidence `model` gives an outcome (a short answer keeps its own).
fn model_confidence(model: &ConfidenceOptions, o: &Outcome) -> f64 {
    match (&o.features, o.short_answer) {
        (_, true) => o.confidence,
        (Some(f), false) => f64::from(model.probability(f)),
        (None, false) => 0.0,
    }
}

/// Logistic regression of "the top passage is relevant" on the features of
/// `outcomes`, and thresholds from the fitted probabilities: `answer_at`
/// maximises decision accuracy (the middle of the best range), `clarify_at`
/// is the highest level below which at most 10% of top passages were right
/// (a hand-off there loses an answer at most one time in ten).
pub fn fit(outcomes: &[&Outcome], base: ConfidenceOptions) -> ConfidenceOptions {
    let samples: Vec<(&Outcome, &Features)> = outcomes
        .iter()
        .filter(|o| !o.short_answer)
        .filter_map(|o| o.features.as_ref().map(|f| (*o, f)))
        .collect();
    let x: Vec<[f64; 5]> = samples.iter().map(|(_, f)| f.inputs()).collect();
    let y: Vec<bool> = samples.iter().map(|(o, _)| o.top_is_relevant()).collect();
    let (bias, weights) = logistic_regression(&x, &y, 1e-3);
    let mut model = base.with_weights(bias, &weights);
    let p: Vec<f64> = outcomes
        .iter()
        .map(|o| model_confidence(&model, o))
        .collect();
    // answer_at: the best accuracy, taking the middle of the plateau.
    let grid: Vec<f64> = (5..=95).map(|i| f64::from(i) / 100.0).collect();
    let accuracy = |t: f64| {
        outcomes
            .iter()
            .zip(&p)
            .filter(|(o, p)| o.decided_right(**p >= t))
            .count()
    };
    let scores: Vec<usize> = grid.iter().map(|t| accuracy(*t)).collect();
    let best = scores.iter().copied().max().unwrap_or(0);
    let plateau: Vec<f64> = grid
        .iter()
        .zip(&scores)
        .filter(|(_, s)| **s == best)
        .map(|(t, _)| *t)
        .collect();
    let answer_at = plateau.get(plateau.len() / 2).copied().unwrap_or(0.5);
    let clarify_at = grid
        .iter()
        .copied()
        .filter(|t| *t <= answer_at)
        .filter(|t| {
            let below: Vec<bool> = outcomes
                .iter()
                .zip(&p)
                .filter(|(_, p)| **p < *t)
                .map(|(o, _)| o.top_is_relevant())
                .collect();
            below.iter().filter(|a| **a).count() as f64 <= 0.10 * below.len() as f64
        })
        .fold(0.0, f64::max);
    model.answer_at = answer_at as f32;
    model.clarify_at = clarify_at as f32;
    model
}

/// Fits `σ(b + w·x)` to `y` by Newton's method (iteratively reweighted
/// least squares) with an L2 penalty `l2` on `w`; returns `(b, w)`.
pub fn logistic_regression(x: &[[f64; 5]], y: &[bool], l2: f64) -> (f64, [f64; 5]) {
    const D: usize = 6;
    let mut beta = [0.0f64; D];
    let row = |xi: &[f64; 5]| -> [f64; D] {
        let mut r = [1.0; D];
        r[1..].copy_from_slice(xi);
        r
    };
    for _ in 0..100 {
        let mut grad = [0.0f64; D];
        let mut hess = [[0.0f64; D]; D];
        for (xi, yi) in x.iter().zip(y) {
            let r = row(xi);
            let z: f64 = r.iter().zip(&beta).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let err = p - f64::from(u8::from(*yi));
            let w = (p * (1.0 - p)).max(1e-9);
            for i in 0..D {
                grad[i] += err * r[i];
                for j in 0..D {
                    hess[i][j] += w * r[i] * r[j];
                }
            }
        }
        for i in 1..D {
            grad[i] += l2 * beta[i];
            hess[i][i] += l2;
        }
        hess[0][0] += 1e-9;
        let Some(step) = solve(hess, grad) else {
            break;
        };
        let mut change = 0.0f64;
        for i in 0..D {
            beta[i] -= step[i];
            change = change.max(step[i].abs());
        }
        if change < 1e-8 {
            break;
        }
    }
    let mut w = [0.0; 5];
    w.copy_from_slice(&beta[1..]);
    (beta[0], w)
}

/// Solves `a · x = b` by Gaussian elimination with partial pivoting.
fn solve<const D: usize>(mut a: [[f64; D]; D], mut b: [f64; D]) -> Option<[f64; D]> {
    for col in 0..D {
        let pivot = (col..D).max_by(|i, j| a[*i][col].abs().total_cmp(&a[*j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col];
        for r in col + 1..D {
            let f = a[r][col] / pivot_row[col];
            for (x, p) in a[r].iter_mut().zip(&pivot_row).skip(col) {
                *x -= f * p;
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = [0.0; D];
    for r in (0..D).rev() {
        let s: f64 = (r + 1..D).map(|c| a[r][c] * x[c]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_regression_recovers_known_weights() {
        // Labels drawn from σ(-2 + 3·x0 - 1·x4) on a deterministic grid.
        let mut x = Vec::new();
        let mut y = Vec::new();
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..20_000 {
            let xi = [next() * 2.0, next(), next(), next(), next() * 2.0];
            let p = 1.0 / (1.0 + (-(-2.0 + 3.0 * xi[0] - xi[4])).exp());
            y.push(next() < p);
            x.push(xi);
        }
        let (b, w) = logistic_regression(&x, &y, 1e-6);
        assert!((b + 2.0).abs() < 0.2, "bias {b}");
        assert!((w[0] - 3.0).abs() < 0.2, "w0 {}", w[0]);
        assert!((w[4] + 1.0).abs() < 0.2, "w4 {}", w[4]);
        assert!(w[1].abs() < 0.2 && w[2].abs() < 0.2 && w[3].abs() < 0.2);
    }

    fn outcome(id: usize, answerable: bool, similarity: f32) -> Outcome {
        Outcome {
            id: id.to_string(),
            answerable,
            first_relevant: answerable.then_some(0),
            ndcg_at_10: 0.0,
            latency_ms: 1.0,
            features: Some(Features {
                similarity,
                margin: 0.05,
                keyword_score: 5.0,
                agreement: 0.5,
                coverage: 0.5,
            }),
            short_answer: false,
            confidence: 0.5,
        }
    }

    #[test]
    fn fitted_thresholds_separate_answerable_from_off_topic() {
        // Answerable questions at similarity 0.5–0.9, off-topic 0.1–0.45.
        let outcomes: Vec<Outcome> = (0..200)
            .map(|i| {
                let answerable = i % 2 == 0;
                let s = if answerable {
                    0.5 + 0.4 * (i as f32 / 200.0)
                } else {
                    0.1 + 0.35 * (i as f32 / 200.0)
                };
                outcome(i, answerable, s)
            })
            .collect();
        let refs: Vec<&Outcome> = outcomes.iter().collect();
        let model = fit(&refs, ConfidenceOptions::default());
        model.validate().unwrap();
        let right = outcomes
            .iter()
            .filter(|o| o.decided_right(model_confidence(&model, o) >= f64::from(model.answer_at)))
            .count();
        assert_eq!(
            right,
            outcomes.len(),
            "separable data: every decision right"
        );
        assert!(model.clarify_at <= model.answer_at);
        assert!(model.weight_similarity > 0.0);
    }
}
