//! Knowledge gaps: what visitors asked that the content could not answer.
//!
//! A question that ends in `clarify` or `handoff` joins the open gap it is
//! closest to on average — its mean cosine similarity to the gap's
//! questions, which is its dot product with the gap's mean embedding —
//! when that reaches the threshold, or starts a gap of its own ([`assign`]):
//! incremental average-linkage clustering, one comparison per open gap. (A
//! normalised centroid instead drifts: with e5's compressed similarities a
//! large gap's centroid ends up near everything and swallows the rest.) The embedding model is multilingual, so "Do you ship to
//! Norway?" and "Leveren jullie ook in Noorwegen?" meet in one gap.
//! [`list`] ranks the open gaps by count, then recency, with example
//! questions, their languages and the passages nearest to them now (a
//! deleted document is gone from them at once).

use crate::response::{Passage, QueryRequest};
use crate::retrieve::Retriever;
use crate::{Error, Result};
use quarry_index::{Gap, GapStatus, QuestionLog};
use serde::{Deserialize, Serialize};

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The centroid (mean embedding) nearest to `v`, and `v`'s mean cosine
/// similarity to its questions (embeddings are normalised).
pub fn nearest<'a>(centroids: impl Iterator<Item = &'a [f32]>, v: &[f32]) -> Option<(usize, f32)> {
    centroids
        .enumerate()
        .map(|(i, c)| (i, dot(c, v)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// The mean embedding of `count` questions after one more, `v`.
pub fn merged(centroid: &[f32], count: u64, v: &[f32]) -> Vec<f32> {
    let n = count as f32;
    centroid
        .iter()
        .zip(v)
        .map(|(c, x)| (c * n + x) / (n + 1.0))
        .collect()
}

/// In-memory clustering with the same rule as the log (the labelled-set
/// evaluation runs it): returns each vector's cluster, in order.
pub fn cluster(vectors: &[Vec<f32>], threshold: f32) -> Vec<usize> {
    let mut centroids: Vec<(Vec<f32>, u64)> = Vec::new();
    let mut out = Vec::with_capacity(vectors.len());
    for v in vectors {
        match nearest(centroids.iter().map(|c| c.0.as_slice()), v) {
            Some((i, s)) if s >= threshold => {
                let (c, n) = &centroids[i];
                centroids[i] = (merged(c, *n, v), n + 1);
                out.push(i);
            }
            _ => {
                centroids.push((v.clone(), 1));
                out.push(centroids.len() - 1);
            }
        }
    }
    out
}

/// Pairwise precision and recall of `predicted` clusters against `truth`
/// labels: of the pairs put together, the share that belong together; of
/// the pairs that belong together, the share put together.
pub fn pairwise_scores<T: PartialEq>(truth: &[T], predicted: &[usize]) -> (f64, f64) {
    let (mut both, mut pred, mut real) = (0u64, 0u64, 0u64);
    for i in 0..truth.len() {
        for j in i + 1..truth.len() {
            let p = predicted[i] == predicted[j];
            let t = truth[i] == truth[j];
            both += u64::from(p && t);
            pred += u64::from(p);
            real += u64::from(t);
        }
    }
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    (ratio(both, pred), ratio(both, real))
}

/// Puts an unanswered question (its embedding `v`, asked at `at`) into its
/// gap; returns the gap's id.
pub fn assign(log: &QuestionLog, v: &[f32], at: i64, threshold: f32) -> Result<i64> {
    let open: Vec<Gap> = log
        .gaps()?
        .into_iter()
        .filter(|g| g.status == GapStatus::Open && g.centroid.len() == v.len())
        .collect();
    let gap = match nearest(open.iter().map(|g| g.centroid.as_slice()), v) {
        Some((i, s)) if s >= threshold => {
            let g = &open[i];
            Gap {
                centroid: merged(&g.centroid, g.count, v),
                count: g.count + 1,
                last_seen: at.max(g.last_seen),
                ..g.clone()
            }
        }
        _ => Gap {
            id: 0,
            centroid: v.to_vec(),
            count: 1,
            first_seen: at,
            last_seen: at,
            status: GapStatus::Open,
            short_answer: None,
        },
    };
    Ok(log.put_gap(&gap)?)
}

/// A gap as the API lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GapView {
    pub id: i64,
    /// Questions in it (in the retention window).
    pub count: u64,
    /// The question nearest its centroid first, then the newest others,
    /// without repeats (at most 10).
    pub questions: Vec<String>,
    /// Languages of its questions (ISO 639-1), most frequent first.
    pub languages: Vec<String>,
    pub first_seen: i64,
    pub last_seen: i64,
    /// The passages nearest to its representative question, now.
    pub nearest: Vec<Passage>,
    pub status: GapStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_answer: Option<String>,
}

/// A gap's questions, the representative one (nearest the centroid) first.
pub fn questions(log: &QuestionLog, gap: &Gap, limit: usize) -> Result<(Vec<String>, Vec<String>)> {
    let logged = log.questions_of_gap(gap.id, 200)?;
    let mut best: Option<(f32, usize)> = None;
    for (i, q) in logged.iter().enumerate().take(50) {
        if let Some(v) = log.vector(q.id)? {
            let s = dot(&v, &gap.centroid);
            if best.is_none_or(|b| s > b.0) {
                best = Some((s, i));
            }
        }
    }
    let mut texts: Vec<String> = Vec::new();
    let order = best
        .map(|b| b.1)
        .into_iter()
        .chain((0..logged.len()).filter(|i| Some(*i) != best.map(|b| b.1)));
    for i in order {
        let t = &logged[i].text;
        if !texts.iter().any(|x| x.eq_ignore_ascii_case(t)) {
            texts.push(t.clone());
        }
        if texts.len() == limit {
            break;
        }
    }
    let mut languages: Vec<(String, usize)> = Vec::new();
    for q in &logged {
        match languages.iter_mut().find(|(l, _)| *l == q.language) {
            Some(entry) => entry.1 += 1,
            None => languages.push((q.language.clone(), 1)),
        }
    }
    languages.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok((texts, languages.into_iter().map(|l| l.0).collect()))
}

/// The gaps of a knowledge base, open ones ranked by count then recency
/// (`all`: resolved and dismissed ones after them).
pub fn list(retriever: &Retriever, log: &QuestionLog, all: bool) -> Result<Vec<GapView>> {
    let mut gaps: Vec<Gap> = log
        .gaps()?
        .into_iter()
        .filter(|g| all || g.status == GapStatus::Open)
        .collect();
    gaps.sort_by(|a, b| {
        (a.status != GapStatus::Open)
            .cmp(&(b.status != GapStatus::Open))
            .then(b.count.cmp(&a.count))
            .then(b.last_seen.cmp(&a.last_seen))
            .then(a.id.cmp(&b.id))
    });
    let mut out = Vec::with_capacity(gaps.len());
    for gap in gaps {
        let (questions, languages) = questions(log, &gap, 10)?;
        let nearest = match questions.first() {
            Some(q) => {
                let request = QueryRequest {
                    top_k: Some(3),
                    log: Some(false),
                    ..QueryRequest::new(q.clone())
                };
                retriever.query(&request)?.passages
            }
            None => Vec::new(),
        };
        out.push(GapView {
            id: gap.id,
            count: gap.count,
            questions,
            languages,
            first_seen: gap.first_seen,
            last_seen: gap.last_seen,
            nearest,
            status: gap.status,
            short_answer: gap.short_answer,
        });
    }
    Ok(out)
}

/// The open gap `id`, or a not-found error.
pub fn open_gap(log: &QuestionLog, id: i64) -> Result<Gap> {
    match log.gap(id)? {
        Some(g) if g.status == GapStatus::Open => Ok(g),
        Some(g) => Err(Error::Conflict(format!(
            "gap {id} is {} already",
            g.status.as_str()
        ))),
        None => Err(Error::NotFound(format!("gap {id} does not exist"))),
    }
}

/// Marks gap `id` resolved by short answer `short_answer`, or dismissed.
pub fn close(log: &QuestionLog, id: i64, short_answer: Option<String>) -> Result<Gap> {
    let gap = Gap {
        status: if short_answer.is_some() {
            GapStatus::Resolved
        } else {
            GapStatus::Dismissed
        },
        short_answer,
        ..open_gap(log, id)?
    };
    log.put_gap(&gap)?;
    Ok(gap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalised(mut v: Vec<f32>) -> Vec<f32> {
        let n = dot(&v, &v).sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        v
    }

    #[test]
    fn close_vectors_share_a_cluster_and_far_ones_do_not() {
        let v = |x: f32, y: f32| normalised(vec![x, y]);
        let vectors = [v(1.0, 0.0), v(0.98, 0.2), v(0.0, 1.0), v(0.1, 1.0)];
        let clusters = cluster(&vectors, 0.9);
        assert_eq!(clusters, vec![0, 0, 1, 1]);
        let (p, r) = pairwise_scores(&["a", "a", "b", "b"], &clusters);
        assert_eq!((p, r), (1.0, 1.0));
        let (p, r) = pairwise_scores(&["a", "a", "b", "b"], &[0, 0, 0, 0]);
        assert!((p - 2.0 / 6.0).abs() < 1e-9 && r == 1.0);
    }

    #[test]
    fn gaps_grow_incrementally_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = QuestionLog::open(&dir.path().join("q.db")).unwrap();
        let a = assign(&log, &normalised(vec![1.0, 0.0]), 10, 0.9).unwrap();
        let b = assign(&log, &normalised(vec![0.99, 0.1]), 20, 0.9).unwrap();
        let c = assign(&log, &normalised(vec![0.0, 1.0]), 30, 0.9).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let gap = log.gap(a).unwrap().unwrap();
        assert_eq!((gap.count, gap.first_seen, gap.last_seen), (2, 10, 20));
        close(&log, a, None).unwrap();
        assert!(close(&log, a, None).is_err(), "closed once");
        let d = assign(&log, &normalised(vec![1.0, 0.0]), 40, 0.9).unwrap();
        assert_ne!(d, a, "a dismissed gap takes no new questions");
    }
}
