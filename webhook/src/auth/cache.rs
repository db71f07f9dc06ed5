//! A small time-bounded cache for authentication and authorisation decisions, and
//! [`SingleFlight`], which makes concurrent misses for one key share one computation.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

/// A map whose entries expire after a per-entry time to live, bounded in size.
///
/// When full, expired entries are dropped first; if it is still full, the whole cache is
/// cleared (decisions are cheap to recompute and the bound only guards memory).
#[derive(Debug)]
pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// An empty cache holding at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::default()),
            capacity: capacity.max(1),
        }
    }

    /// The cached value for `key`, if present and not expired; an expired entry is removed.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((expires, value)) if *expires > Instant::now() => Some(value.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Stores `value` for `key` for `ttl`; a zero `ttl` stores nothing.
    pub fn insert(&self, key: K, value: V, ttl: Duration) {
        let now = Instant::now();
        let Some(expires) = now.checked_add(ttl).filter(|_| !ttl.is_zero()) else {
            return;
        };
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, (expires, _)| *expires > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (expires, value));
    }

    /// Number of entries currently held (expired ones included until touched).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

type Flights<K, V> = Mutex<HashMap<K, Arc<OnceCell<V>>>>;

/// At most one computation in flight per key: callers that ask for a key while its
/// computation runs wait for it and get a clone of its result.
///
/// Nothing is remembered once a computation finishes (pair it with a [`TtlCache`] for that).
/// If the caller running the computation is cancelled, one of the waiting callers runs its
/// own computation instead, so a dropped request never leaves the others hanging.
#[derive(Debug)]
pub struct SingleFlight<K, V> {
    flights: Flights<K, V>,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self {
            flights: Mutex::new(HashMap::default()),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> SingleFlight<K, V> {
    /// An empty set of flights.
    pub fn new() -> Self {
        Self::default()
    }

    /// The result of `compute` for `key`, or of the computation already running for `key`.
    pub async fn run<F, Fut>(&self, key: K, compute: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let cell = self
            .flights
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let flight = Flight {
            flights: &self.flights,
            key,
            cell,
        };
        flight.cell.get_or_init(compute).await.clone()
    }

    /// Number of keys with a computation in flight.
    pub fn in_flight(&self) -> usize {
        self.flights.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// One caller's share of a flight; forgets the flight when it is over (finished, or abandoned
/// by every caller).
struct Flight<'a, K: Eq + Hash, V> {
    flights: &'a Flights<K, V>,
    key: K,
    cell: Arc<OnceCell<V>>,
}

impl<K: Eq + Hash, V> Drop for Flight<'_, K, V> {
    fn drop(&mut self) {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        // Clones of the cell are only made under this lock, so the count is exact: 2 means
        // the map and this caller, i.e. no one else is waiting.
        let over = self.cell.initialized() || Arc::strong_count(&self.cell) <= 2;
        if over
            && flights
                .get(&self.key)
                .is_some_and(|current| Arc::ptr_eq(current, &self.cell))
        {
            flights.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn entries_expire_after_their_ttl() {
        let cache = TtlCache::new(10);
        cache.insert("a", 1, Duration::from_millis(30));
        assert_eq!(cache.get(&"a"), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&"a"), None);
    }

    #[test]
    fn a_zero_ttl_stores_nothing() {
        let cache = TtlCache::new(10);
        cache.insert("a", 1, Duration::ZERO);
        assert_eq!(cache.get(&"a"), None);
        assert!(cache.is_empty());
    }

    #[test]
    fn a_full_cache_stays_within_its_capacity() {
        let cache = TtlCache::new(2);
        for i in 0..5 {
            cache.insert(i, i, Duration::from_secs(60));
        }
        assert!(cache.len() <= 2);
        assert_eq!(cache.get(&4), Some(4));
    }

    #[tokio::test]
    async fn concurrent_callers_for_one_key_share_one_computation() {
        let flights = SingleFlight::<&str, usize>::new();
        let runs = AtomicUsize::new(0);
        let gate = tokio::sync::Notify::new();
        let callers = (0..50).map(|_| {
            flights.run("k", || async {
                gate.notified().await;
                runs.fetch_add(1, Ordering::SeqCst) + 7
            })
        });
        let all = futures::future::join_all(callers);
        tokio::pin!(all);
        // Let every caller join the flight before the computation may finish.
        assert!(
            tokio::time::timeout(Duration::from_millis(20), &mut all)
                .await
                .is_err()
        );
        gate.notify_one();
        let results = all.await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(results.iter().all(|r| *r == 7));
        assert_eq!(flights.in_flight(), 0, "a finished flight is forgotten");
        assert_eq!(flights.run("k", || async { 1 }).await, 1, "and not reused");
    }

    #[tokio::test]
    async fn a_cancelled_leader_hands_the_computation_to_a_waiter() {
        let flights = SingleFlight::<u8, u8>::new();
        let leader = flights.run(1, std::future::pending);
        // The leader starts the computation, then is dropped mid-flight.
        assert!(
            tokio::time::timeout(Duration::from_millis(10), leader)
                .await
                .is_err()
        );
        assert_eq!(flights.in_flight(), 0, "an abandoned flight is forgotten");
        let mut leader = Box::pin(flights.run(2, std::future::pending));
        let mut waiter = Box::pin(flights.run(2, || async { 9 }));
        assert!(futures::poll!(leader.as_mut()).is_pending());
        assert!(futures::poll!(waiter.as_mut()).is_pending());
        assert_eq!(flights.in_flight(), 1, "both callers are on one flight");
        drop(leader);
        assert_eq!(flights.in_flight(), 1, "the waiter keeps the flight");
        assert_eq!(waiter.await, 9);
    }
}
