//! A bounded cache of query embeddings. Support traffic repeats itself
//! ("how do I reset my password"), and embedding the question is most of a
//! query's time (about 7 of 9 ms on 2 cores); the vectors depend only on the
//! model, so they never go stale, whatever the knowledge bases do.
//!
//! Two generations of at most `capacity / 2` entries each: lookups hit the
//! current one or promote from the previous; when the current one is full it
//! becomes the previous and the oldest generation is dropped. O(1) per call,
//! memory bounded, roughly least-recently-used.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
struct Generations {
    current: HashMap<String, Arc<Vec<f32>>>,
    previous: HashMap<String, Arc<Vec<f32>>>,
}

/// Query text → embedding.
#[derive(Debug)]
pub struct QueryCache {
    half: usize,
    maps: Mutex<Generations>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Lookups so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
}

/// The cache key: case and whitespace do not change the question.
fn key(query: &str) -> String {
    query
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl QueryCache {
    /// Holds at most `capacity` embeddings (at least 2).
    pub fn new(capacity: usize) -> Self {
        Self {
            half: (capacity / 2).max(1),
            maps: Mutex::new(Generations::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The cached embedding of `query`, or `embed`'s, which is then cached.
    /// `embed` runs without the lock held. The flag says whether it hit.
    pub fn get_or_embed<E>(
        &self,
        query: &str,
        embed: impl FnOnce() -> Result<Vec<f32>, E>,
    ) -> Result<(Arc<Vec<f32>>, bool), E> {
        let key = key(query);
        if let Ok(mut maps) = self.maps.lock() {
            if let Some(v) = maps.current.get(&key) {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok((v.clone(), true));
            }
            if let Some(v) = maps.previous.remove(&key) {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Self::insert(&mut maps, self.half, key, v.clone());
                return Ok((v, true));
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let v = Arc::new(embed()?);
        if let Ok(mut maps) = self.maps.lock() {
            Self::insert(&mut maps, self.half, key, v.clone());
        }
        Ok((v, false))
    }

    fn insert(maps: &mut Generations, half: usize, key: String, v: Arc<Vec<f32>>) {
        if maps.current.len() >= half {
            maps.previous = std::mem::take(&mut maps.current);
        }
        maps.current.insert(key, v);
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self
                .maps
                .lock()
                .map_or(0, |m| m.current.len() + m.previous.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_normalise_the_question_and_memory_stays_bounded() {
        let cache = QueryCache::new(4);
        let embed = |x: f32| move || Ok::<_, ()>(vec![x]);
        assert!(!cache.get_or_embed("Reset  password", embed(1.0)).unwrap().1);
        let (v, hit) = cache.get_or_embed("reset password ", embed(9.0)).unwrap();
        assert!(hit);
        assert_eq!(*v, vec![1.0]);
        for i in 0..100 {
            cache
                .get_or_embed(&format!("q{i}"), embed(i as f32))
                .unwrap();
        }
        let stats = cache.stats();
        assert!(stats.entries <= 4, "{stats:?}");
        assert_eq!((stats.hits, stats.misses), (1, 101));
        // A recent entry survives one generation turn by promotion.
        assert!(cache.get_or_embed("q99", embed(0.0)).unwrap().1);
        assert!(cache.get_or_embed("q98", embed(0.0)).unwrap().1);
        // Errors are not cached.
        assert!(
            cache
                .get_or_embed("bad", || Err::<Vec<f32>, _>("boom"))
                .is_err()
        );
        assert!(!cache.get_or_embed("bad", embed(2.0)).unwrap().1);
    }
}
