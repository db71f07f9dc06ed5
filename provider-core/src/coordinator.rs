//! Turns any [`RrsetStore`] into a value-level [`Provider`].
//!
//! A store can only read and replace whole TXT rrsets; callers want to add or remove one value
//! at a time without disturbing the others (two challenges for `example.com` and
//! `*.example.com` share one name, and the zone owner may keep values of their own there).
//! [`Coordinator`] does that translation once, for every store:
//!
//! - **Per-name serialisation.** Work on one `(zone, relative name)` is never interleaved, so
//!   a read-merge-write can never lose a value another caller just wrote. Different names are
//!   fully independent.
//! - **Coalescing.** Operations that arrive while a batch for their name is in flight queue up
//!   and all go into the next single read-merge-write, in arrival order. Every caller in a batch
//!   gets that batch's result. A hundred concurrent `present` calls on one name cost at most
//!   four store calls.
//! - **Batching window.** A store whose calls are slow can declare a
//!   [`StoreLimits::batch_window`]: each batch then waits that long after its first operation
//!   before it takes the operations queued on its name, so callers that arrive spread over a
//!   few milliseconds (through a webhook, say) still share one read-merge-write. With the
//!   default zero window a batch runs as soon as the operations that arrived together (in the
//!   same task or scheduler tick) have joined it.
//! - **No useless writes.** A batch that changes nothing (a value already there, a cleanup of a
//!   value that is gone) only reads; a batch that removes the last value deletes the rrset
//!   rather than writing an empty one.
//!
//! Per batch, the store sees:
//!
//! | batch                                       | store calls                                  |
//! |---------------------------------------------|----------------------------------------------|
//! | presents only, store supports create, absent | `create_txt`                                |
//! | presents only, rrset exists                  | `create_txt` (if supported and not known to find the rrset), `read_txt`, then `replace_txt` or nothing |
//! | any cleanup                                  | `read_txt`, then `replace_txt`, `delete_txt` or nothing |
//!
//! "Known to find the rrset": while a name stays busy, each batch tells the next whether the
//! rrset exists, so a batch of presents queued behind one that wrote the rrset goes straight to
//! `read_txt`. Nothing is cached beyond that: every batch that writes reads the rrset first.
//!
//! **Several processes.** The serialisation above holds inside one process. When several
//! processes write the same rrsets (webhook replicas), give each coordinator the same
//! [`RrsetLock`] ([`Coordinator::with_lock`]): each batch then holds the rrset's lock for its
//! read-merge-write and releases it at once, and the existence hint is not used (another
//! process may have changed the rrset since). A lock that cannot be taken fails the batch;
//! nothing is written without it.
//!
//! A caller whose future is dropped while it waits does not stall the others: leadership of a
//! name passes on to the next waiting caller, and callers whose batch was abandoned submit their
//! (idempotent) operation again.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use tokio::sync::oneshot;

use crate::error::{Error, ErrorKind, Result};
use crate::lock::RrsetLock;
use crate::name::{RelativeName, ZoneName};
use crate::provider::{CreateOutcome, Provider, RrsetStore, StoreLimits};
use crate::record::{DEFAULT_TTL, TxtRecord, TxtRrset, TxtValue};

/// The unit of serialisation: one rrset.
type Key = (ZoneName, RelativeName);

/// What one caller asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Present,
    Cleanup,
}

/// One caller's operation on one rrset.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Op {
    kind: OpKind,
    value: TxtValue,
    ttl: u32,
}

/// What a waiting caller is told.
enum Signal {
    /// Its operation was part of a batch that finished with this result.
    Done(Result<()>),
    /// It is now the leader for its name: it runs the next batch.
    Lead,
}

/// A caller queued behind the batch in flight.
struct Waiter {
    op: Op,
    tx: oneshot::Sender<Signal>,
}

/// The state of a busy name. A name is in the map exactly while some caller leads it (or
/// leadership is being handed over); idle names are removed, so the map only holds names with
/// work in flight.
#[derive(Default)]
struct Slot {
    queue: VecDeque<Waiter>,
    /// Whether the rrset existed after the previous batch on this name, while the name stays
    /// busy: a batch of presents then skips a `create_txt` that is known to find the rrset.
    /// Only a hint: every batch that writes reads first.
    exists: Option<bool>,
}

/// Keyed by name on every request; foldhash (seeded per map) hashes a name several times
/// faster than the default SipHash.
/// Keys are shared with the callers working on them, so a busy name costs no copy of its key.
type SlotMap = HashMap<Arc<Key>, Slot, foldhash::fast::RandomState>;

type Slots = Mutex<SlotMap>;

fn lock(slots: &Slots) -> MutexGuard<'_, SlotMap> {
    // The map is consistent after every critical section (no code in one can panic halfway),
    // so a poisoned lock still holds usable state.
    slots.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A value-level provider over an rrset store: serialises work per `(zone, name)` and
/// coalesces concurrent operations into one read-merge-write (see the [module docs](self)).
///
/// Clones share their state: make one coordinator per store and clone it freely.
#[derive(Clone)]
pub struct Coordinator {
    store: Arc<dyn RrsetStore>,
    slots: Arc<Slots>,
    lock: Option<Arc<dyn RrsetLock>>,
}

impl fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coordinator")
            .field("store", &self.store)
            .field("busy_names", &self.busy_names())
            .field("lock", &self.lock)
            .finish()
    }
}

impl Coordinator {
    /// A coordinator over `store`.
    pub fn new(store: Arc<dyn RrsetStore>) -> Self {
        Self {
            store,
            slots: Arc::new(Mutex::new(SlotMap::default())),
            lock: None,
        }
    }

    /// The same coordinator, holding `lock`'s lock on an rrset for each batch on it: for
    /// stores written by several processes (see the [module docs](self)).
    #[must_use]
    pub fn with_lock(mut self, lock: Arc<dyn RrsetLock>) -> Self {
        self.lock = Some(lock);
        self
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn RrsetStore> {
        &self.store
    }

    /// How many names have work in flight right now (0 when idle: no state is kept for idle
    /// names).
    pub fn busy_names(&self) -> usize {
        lock(&self.slots).len()
    }

    async fn submit(&self, record: &TxtRecord, kind: OpKind) -> Result<()> {
        let zone = match &record.zone {
            Some(zone) => zone.clone(),
            None => self.store.find_zone(&record.name).await?,
        };
        let name = record.name.relative_to(&zone)?;
        let key = Arc::new((zone, name));
        let op = Op {
            kind,
            value: record.value.clone(),
            ttl: record.ttl,
        };
        loop {
            let rx = {
                let mut slots = lock(&self.slots);
                match slots.get_mut(&key) {
                    None => {
                        slots.insert(key.clone(), Slot::default());
                        None
                    }
                    Some(slot) => {
                        let (tx, rx) = oneshot::channel();
                        slot.queue.push_back(Waiter { op: op.clone(), tx });
                        Some(rx)
                    }
                }
            };
            let Some(rx) = rx else {
                return self.lead(&key, op).await;
            };
            let mut wait = Wait {
                rx: Some(rx),
                coordinator: self,
                key: &key,
            };
            match wait.recv().await {
                Some(Signal::Done(result)) => return result,
                Some(Signal::Lead) => return self.lead(&key, op).await,
                // The leader was dropped with our operation in its batch; the operation may or
                // may not have been applied. Operations are idempotent: submit it again.
                None => {}
            }
        }
    }

    /// Runs one batch for `key`, made of `own` and everything queued behind it, then hands
    /// leadership to the next waiter (or forgets the name when nobody waits).
    async fn lead(&self, key: &Key, own: Op) -> Result<()> {
        let mut leader = Leader {
            coordinator: self,
            key,
            waiters: Vec::new(),
            exists: None,
        };
        // Let callers that arrive together (in the same task or the same scheduler tick) join
        // this batch rather than the next one. Tokio's yield runs the other ready tasks first
        // without waking an idle worker thread to steal this one (a self-wake would), which
        // matters when every request leads its own batch.
        tokio::task::yield_now().await;
        // And, where the store asks for it, callers that arrive a little later.
        let window = self.store.limits().batch_window;
        if !window.is_zero() {
            tokio::time::sleep(window).await;
        }
        let mut ops = vec![own];
        let mut exists = None;
        {
            let mut slots = lock(&self.slots);
            if let Some(slot) = slots.get_mut(key) {
                exists = slot.exists;
                for waiter in slot.queue.drain(..) {
                    // A caller that has gone away no longer wants its operation.
                    if !waiter.tx.is_closed() {
                        ops.push(waiter.op);
                        leader.waiters.push(waiter.tx);
                    }
                }
            }
        }
        tracing::debug!(
            zone = %key.0,
            name = %key.1,
            operations = ops.len(),
            "applying a batch of TXT operations"
        );
        let outcome = match &self.lock {
            None => run_batch(self.store.as_ref(), &key.0, &key.1, &ops, exists).await,
            Some(lock) => locked_batch(lock.as_ref(), self.store.as_ref(), key, &ops).await,
        };
        leader.exists = outcome.as_ref().ok().copied();
        let result = outcome.map(|_| ());
        for tx in leader.waiters.drain(..) {
            let copy = match &result {
                Ok(()) => Ok(()),
                Err(err) => Err(duplicate_error(err)),
            };
            // A waiter that has gone away does not need its answer.
            let _ = tx.send(Signal::Done(copy));
        }
        drop(leader);
        result
    }

    /// Passes leadership of `key` to the first waiter still listening (with what the last
    /// batch learnt about the rrset's existence), or forgets `key`.
    fn hand_off(&self, key: &Key, exists: Option<bool>) {
        let mut slots = lock(&self.slots);
        let Some(slot) = slots.get_mut(key) else {
            return;
        };
        slot.exists = exists;
        while let Some(waiter) = slot.queue.pop_front() {
            if waiter.tx.send(Signal::Lead).is_ok() {
                return;
            }
        }
        slots.remove(key);
    }
}

/// The leader's hold on a name. Dropping it (normally, or because the leading caller's future
/// was dropped mid-batch) hands leadership on; waiters whose batch was abandoned see their
/// channel close and submit again.
struct Leader<'a> {
    coordinator: &'a Coordinator,
    key: &'a Key,
    waiters: Vec<oneshot::Sender<Signal>>,
    /// Whether the rrset exists after this batch, once known.
    exists: Option<bool>,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        self.waiters.clear();
        self.coordinator.hand_off(self.key, self.exists);
    }
}

/// A queued caller's wait. If the caller's future is dropped after it was made leader but
/// before it noticed, leadership is passed on rather than lost.
struct Wait<'a> {
    rx: Option<oneshot::Receiver<Signal>>,
    coordinator: &'a Coordinator,
    key: &'a Key,
}

impl Wait<'_> {
    /// The signal, or `None` if the leader went away without sending one.
    async fn recv(&mut self) -> Option<Signal> {
        let rx = self.rx.as_mut()?;
        let signal = rx.await.ok();
        self.rx = None;
        signal
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            // After `close`, no signal can arrive any more: either one is here already, or the
            // sender will see the channel closed and try the next waiter.
            rx.close();
            if let Ok(Signal::Lead) = rx.try_recv() {
                self.coordinator.hand_off(self.key, None);
            }
        }
    }
}

#[async_trait]
impl Provider for Coordinator {
    async fn present(&self, record: &TxtRecord) -> Result<()> {
        self.submit(record, OpKind::Present).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<()> {
        self.submit(record, OpKind::Cleanup).await
    }
}

/// Applies `ops` in order to `values`: a present appends its value if absent (existing values
/// keep their order), a cleanup removes its value.
fn apply(mut values: Vec<TxtValue>, ops: &[Op]) -> Vec<TxtValue> {
    for op in ops {
        match op.kind {
            OpKind::Present => {
                if !values.contains(&op.value) {
                    values.push(op.value.clone());
                }
            }
            OpKind::Cleanup => values.retain(|v| v != &op.value),
        }
    }
    values
}

/// The TTL for a new rrset: the largest TTL the batch asked for, clamped into the store's
/// bounds (with a warning when that changes it).
fn new_rrset_ttl(ops: &[Op], limits: &StoreLimits, zone: &ZoneName, name: &RelativeName) -> u32 {
    let requested = ops
        .iter()
        .filter(|op| op.kind == OpKind::Present)
        .map(|op| op.ttl)
        .max()
        .unwrap_or(DEFAULT_TTL);
    let ttl = limits.clamp_ttl(requested);
    if ttl != requested {
        tracing::warn!(
            %zone,
            %name,
            requested,
            used = ttl,
            min = limits.min_ttl,
            max = limits.max_ttl,
            "requested TTL is outside what the store accepts; using the nearest accepted TTL"
        );
    }
    ttl
}

/// What a batch must write after reading the rrset.
#[derive(Debug, PartialEq, Eq)]
enum Write {
    /// The rrset already is what the batch wants.
    Nothing,
    /// The batch removed the last value.
    Delete,
    /// The rrset must become this.
    Replace(TxtRrset),
}

/// Decides the write for a batch, given the rrset as read (`None`: absent).
fn plan_write(
    current: Option<TxtRrset>,
    ops: &[Op],
    limits: &StoreLimits,
    zone: &ZoneName,
    name: &RelativeName,
) -> Write {
    match current {
        None => {
            let values = apply(Vec::new(), ops);
            if values.is_empty() {
                Write::Nothing
            } else {
                Write::Replace(TxtRrset {
                    ttl: new_rrset_ttl(ops, limits, zone, name),
                    values,
                })
            }
        }
        Some(rrset) => {
            let values = apply(rrset.values.clone(), ops);
            if values == rrset.values {
                Write::Nothing
            } else if values.is_empty() {
                Write::Delete
            } else {
                Write::Replace(TxtRrset {
                    ttl: rrset.ttl,
                    values,
                })
            }
        }
    }
}

/// One read-merge-write for `ops` on one rrset; `exists` is what the previous batch left (if
/// known). Returns whether the rrset exists afterwards.
async fn run_batch(
    store: &dyn RrsetStore,
    zone: &ZoneName,
    name: &RelativeName,
    ops: &[Op],
    exists: Option<bool>,
) -> Result<bool> {
    let limits = store.limits();
    if limits.supports_create
        && exists != Some(true)
        && ops.iter().all(|op| op.kind == OpKind::Present)
    {
        let rrset = TxtRrset {
            ttl: new_rrset_ttl(ops, &limits, zone, name),
            values: apply(Vec::new(), ops),
        };
        match store.create_txt(zone, name, &rrset).await? {
            CreateOutcome::Created => return Ok(true),
            CreateOutcome::AlreadyExists => {}
        }
    }
    let current = store.read_txt(zone, name).await?;
    let existed = current.is_some();
    match plan_write(current, ops, &limits, zone, name) {
        Write::Nothing => Ok(existed),
        Write::Delete => store.delete_txt(zone, name).await.map(|()| false),
        Write::Replace(rrset) => store.replace_txt(zone, name, &rrset).await.map(|()| true),
    }
}

/// [`run_batch`] while holding `lock` on the rrset; the existence hint of earlier batches is
/// not used, since another process may have changed the rrset in between.
async fn locked_batch(
    lock: &dyn RrsetLock,
    store: &dyn RrsetStore,
    key: &Key,
    ops: &[Op],
) -> Result<bool> {
    let lease = lock.acquire(&key.0, &key.1).await?;
    let outcome = run_batch(store, &key.0, &key.1, ops, None).await;
    if let Err(e) = lease.release().await {
        // The batch is done either way; the lock frees itself when it expires.
        tracing::warn!(
            zone = %key.0,
            name = %key.1,
            error = %e.report(),
            "could not release the rrset lock; it frees itself when it expires"
        );
    }
    outcome
}

/// The text of an error's causes, kept when an error is copied for another waiter.
#[derive(Debug)]
struct CauseText(String);

impl fmt::Display for CauseText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CauseText {}

/// An equivalent error for another caller of the same batch: same kind, message and retry
/// hint; the causes are kept as text.
fn duplicate_error(err: &Error) -> Error {
    let message = err.message().to_owned();
    let copy = match err.kind() {
        ErrorKind::Authentication => Error::authentication(message),
        ErrorKind::Permission => Error::permission(message),
        ErrorKind::ZoneNotFound => Error::zone_not_found(message),
        ErrorKind::Conflict => Error::conflict(message),
        ErrorKind::RateLimited => Error::rate_limited(message, err.retry_after()),
        ErrorKind::InvalidInput => Error::invalid_input(message),
        ErrorKind::Transient => Error::transient(message),
        ErrorKind::Other => Error::other(message),
    };
    match std::error::Error::source(err) {
        Some(cause) => copy.with_source(CauseText(crate::error::report(cause))),
        None => copy,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn v(s: &str) -> TxtValue {
        TxtValue::new(s).unwrap()
    }

    fn present(s: &str) -> Op {
        Op {
            kind: OpKind::Present,
            value: v(s),
            ttl: 300,
        }
    }

    fn cleanup(s: &str) -> Op {
        Op {
            kind: OpKind::Cleanup,
            value: v(s),
            ttl: 300,
        }
    }

    fn key() -> (ZoneName, RelativeName) {
        (
            ZoneName::parse("example.com").unwrap(),
            RelativeName::parse("_acme-challenge").unwrap(),
        )
    }

    fn plan(current: Option<TxtRrset>, ops: &[Op], limits: StoreLimits) -> Write {
        let (zone, name) = key();
        plan_write(current, ops, &limits, &zone, &name)
    }

    fn rrset(ttl: u32, values: &[&str]) -> TxtRrset {
        TxtRrset {
            ttl,
            values: values.iter().map(|s| v(s)).collect(),
        }
    }

    #[test]
    fn presents_append_new_values_after_the_existing_ones_without_duplicates() {
        let merged = apply(
            vec![v("b"), v("a")],
            &[present("c"), present("a"), present("c"), present("d")],
        );
        assert_eq!(merged, vec![v("b"), v("a"), v("c"), v("d")]);
    }

    #[test]
    fn operations_in_one_batch_apply_in_arrival_order() {
        assert_eq!(apply(vec![], &[present("v"), cleanup("v")]), vec![]);
        assert_eq!(apply(vec![], &[cleanup("v"), present("v")]), vec![v("v")]);
        assert_eq!(
            apply(vec![v("x")], &[present("v"), cleanup("x"), present("x")]),
            vec![v("v"), v("x")]
        );
    }

    #[test]
    fn cleanup_removes_only_its_own_value() {
        let merged = apply(vec![v("a"), v("b"), v("c")], &[cleanup("b"), cleanup("zz")]);
        assert_eq!(merged, vec![v("a"), v("c")]);
    }

    #[test]
    fn an_unchanged_rrset_is_not_written() {
        let limits = StoreLimits::default();
        assert_eq!(
            plan(Some(rrset(600, &["a", "b"])), &[present("b")], limits),
            Write::Nothing
        );
        assert_eq!(
            plan(Some(rrset(600, &["a"])), &[cleanup("gone")], limits),
            Write::Nothing
        );
        assert_eq!(plan(None, &[cleanup("gone")], limits), Write::Nothing);
        assert_eq!(
            plan(None, &[present("a"), cleanup("a")], limits),
            Write::Nothing
        );
    }

    #[test]
    fn removing_the_last_value_deletes_the_rrset_instead_of_writing_it_empty() {
        let limits = StoreLimits::default();
        assert_eq!(
            plan(
                Some(rrset(600, &["a", "b"])),
                &[cleanup("a"), cleanup("b")],
                limits
            ),
            Write::Delete
        );
    }

    #[test]
    fn an_existing_rrset_keeps_its_ttl() {
        let limits = StoreLimits::new(300, 3600);
        let ops = [Op {
            ttl: 60,
            ..present("b")
        }];
        assert_eq!(
            plan(Some(rrset(1200, &["a"])), &ops, limits),
            Write::Replace(rrset(1200, &["a", "b"]))
        );
    }

    #[test]
    fn a_new_rrset_gets_the_largest_requested_ttl_clamped_into_the_store_bounds() {
        let limits = StoreLimits::new(300, 3600);
        let with_ttl = |s: &str, ttl| Op { ttl, ..present(s) };
        assert_eq!(
            plan(None, &[with_ttl("a", 400), with_ttl("b", 900)], limits),
            Write::Replace(rrset(900, &["a", "b"]))
        );
        assert_eq!(
            plan(None, &[with_ttl("a", 60)], limits),
            Write::Replace(rrset(300, &["a"]))
        );
        assert_eq!(
            plan(None, &[with_ttl("a", 86_400)], limits),
            Write::Replace(rrset(3600, &["a"]))
        );
    }

    #[test]
    fn copied_errors_keep_kind_message_retry_hint_and_cause_text() {
        let original =
            Error::rate_limited("slow down on example.com", Some(Duration::from_secs(9)))
                .with_source(std::io::Error::other("429 from upstream"));
        let copy = duplicate_error(&original);
        assert_eq!(copy.kind(), ErrorKind::RateLimited);
        assert_eq!(copy.message(), original.message());
        assert_eq!(copy.retry_after(), Some(Duration::from_secs(9)));
        assert_eq!(copy.report(), original.report());

        let plain = duplicate_error(&Error::permission("no rights on zone example.com"));
        assert_eq!(plain.kind(), ErrorKind::Permission);
        assert!(std::error::Error::source(&plain).is_none());
    }
}
