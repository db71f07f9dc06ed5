//! The coordinator: value-level semantics and call budgets over a counting store.

use std::sync::Arc;
use std::time::Duration;

use dns01_core::memory::MemoryStore;
use dns01_core::{Coordinator, Error, ErrorKind, Provider, StoreLimits, TxtRrset};
use futures::future::join_all;

use crate::support::{CountingStore, Method, fqdn, memory, record, rel, value, zone};

const NAME: &str = "_acme-challenge.example.com";

fn setup() -> (Arc<CountingStore>, Coordinator) {
    let store = CountingStore::new(memory());
    let coordinator = Coordinator::new(store.clone());
    (store, coordinator)
}

fn values(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:03}")).collect()
}

#[tokio::test]
async fn an_isolated_present_then_cleanup_costs_three_store_calls() {
    let (store, c) = setup();
    c.present(&record(NAME, "token")).await.unwrap();
    let after_present = store.counts();
    assert_eq!((after_present.create, after_present.rrset_calls()), (1, 1));
    assert_eq!(store.inner.values(&fqdn(NAME)), vec![value("token")]);

    c.cleanup(&record(NAME, "token")).await.unwrap();
    let after = store.counts();
    assert_eq!((after.read, after.delete, after.replace), (1, 1, 0));
    assert_eq!(after.rrset_calls(), 3);
    assert!(store.inner.snapshot().is_empty());
}

#[tokio::test]
async fn concurrent_presents_in_one_task_are_coalesced_into_one_create() {
    for k in [2, 10, 100] {
        let (store, c) = setup();
        let vals = values(k, "v");
        join_all(vals.iter().map(|v| c.present_owned(record(NAME, v)))).await;
        let counts = store.counts();
        assert_eq!(counts.rrset_calls(), 1, "k = {k}: {counts:?}");
        assert_eq!(store.inner.values(&fqdn(NAME)).len(), k);
    }
}

/// The worst case: the first present's create is in flight while all the others arrive.
#[tokio::test(start_paused = true)]
async fn presents_arriving_during_a_batch_cost_at_most_four_calls_whatever_their_number() {
    for k in [2, 10, 100] {
        let (store, c) = setup();
        store.hold(rel("_acme-challenge"));
        let vals = values(k, "v");
        let first = tokio::spawn(present(&c, &vals[0]));
        store.wait_until_held().await;
        let rest: Vec<_> = vals[1..]
            .iter()
            .map(|v| tokio::spawn(present(&c, v)))
            .collect();
        // With time paused, this returns only once every task is blocked: all have queued.
        tokio::time::sleep(Duration::from_millis(1)).await;
        store.release();
        first.await.unwrap().unwrap();
        for task in rest {
            task.await.unwrap().unwrap();
        }
        let counts = store.counts();
        assert!(counts.rrset_calls() <= 4, "k = {k}: {counts:?}");
        println!("k = {k}: {counts:?}");
        let mut stored = store.inner.values(&fqdn(NAME));
        stored.sort();
        let mut expected: Vec<_> = vals.iter().map(|v| value(v)).collect();
        expected.sort();
        assert_eq!(stored, expected, "k = {k}");
        assert_eq!(c.busy_names(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presents_from_many_tasks_on_a_slow_store_cost_at_most_four_calls() {
    for k in [2, 10, 100] {
        let (store, c) = setup();
        store.set_delay(Duration::from_millis(50));
        let tasks: Vec<_> = values(k, "v")
            .iter()
            .map(|v| tokio::spawn(present(&c, v)))
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let counts = store.counts();
        assert!(counts.rrset_calls() <= 4, "k = {k}: {counts:?}");
        println!("k = {k}: {counts:?}");
        assert_eq!(store.inner.values(&fqdn(NAME)).len(), k);
    }
}

/// Worst case for both phases: the first operation of each phase runs alone, the other 99
/// pile up behind it. Returns the calls made.
async fn hundred_presents_then_hundred_cleanups(foreign: bool) -> crate::support::Counts {
    let (store, c) = setup();
    let base = if foreign {
        store.inner.seed(&fqdn(NAME), &value("foreign")).unwrap();
        vec![value("foreign")]
    } else {
        vec![]
    };
    let vals = values(100, "v");
    let phases: [fn(&Coordinator, &str) -> OpFuture; 2] = [present, cleanup];
    for (phase, op) in phases.into_iter().enumerate() {
        store.hold(rel("_acme-challenge"));
        let first = tokio::spawn(op(&c, &vals[0]));
        store.wait_until_held().await;
        let rest: Vec<_> = vals[1..].iter().map(|v| tokio::spawn(op(&c, v))).collect();
        tokio::time::sleep(Duration::from_millis(1)).await;
        store.release();
        first.await.unwrap().unwrap();
        for task in rest {
            task.await.unwrap().unwrap();
        }
        let mut expected = base.clone();
        if phase == 0 {
            expected.extend(vals.iter().map(|v| value(v)));
        }
        assert_eq!(store.inner.values(&fqdn(NAME)), expected, "phase {phase}");
    }
    store.counts()
}

#[tokio::test(start_paused = true)]
async fn a_hundred_presents_then_a_hundred_cleanups_cost_at_most_eight_calls() {
    let counts = hundred_presents_then_hundred_cleanups(false).await;
    assert!(counts.rrset_calls() <= 8, "{counts:?}");
    println!("empty name: {counts:?}");
}

#[tokio::test(start_paused = true)]
async fn a_hundred_presents_then_cleanups_beside_a_foreign_value_cost_at_most_nine_calls() {
    let counts = hundred_presents_then_hundred_cleanups(true).await;
    // The first present cannot know the rrset exists: create, read, replace; then read and
    // replace for the 99 behind it, and read and replace twice for the cleanups.
    assert!(counts.rrset_calls() <= 9, "{counts:?}");
    println!("beside a foreign value: {counts:?}");
}

#[tokio::test]
async fn a_hundred_presents_then_a_hundred_cleanups_from_one_task_cost_three_calls() {
    let (store, c) = setup();
    let vals = values(100, "v");
    join_all(vals.iter().map(|v| c.present_owned(record(NAME, v)))).await;
    join_all(vals.iter().map(|v| c.cleanup_owned(record(NAME, v)))).await;
    let counts = store.counts();
    assert_eq!((counts.create, counts.read, counts.delete), (1, 1, 1));
    assert!(store.inner.snapshot().is_empty());
}

#[tokio::test]
async fn presenting_a_value_that_is_already_there_writes_nothing() {
    let (store, c) = setup();
    store.inner.seed(&fqdn(NAME), &value("token")).unwrap();
    c.present(&record(NAME, "token")).await.unwrap();
    let counts = store.counts();
    // With create support the create attempt finds the rrset and changes nothing.
    assert_eq!((counts.create, counts.read, counts.writes()), (1, 1, 0));

    let inner =
        Arc::new(MemoryStore::new([zone("example.com")]).with_limits(StoreLimits::new(1, 86_400)));
    let store = CountingStore::new(inner);
    let c = Coordinator::new(store.clone());
    store.inner.seed(&fqdn(NAME), &value("token")).unwrap();
    c.present(&record(NAME, "token")).await.unwrap();
    let counts = store.counts();
    assert_eq!((counts.read, counts.rrset_calls()), (1, 1), "{counts:?}");
}

#[tokio::test]
async fn a_store_without_create_is_read_then_replaced() {
    let inner = Arc::new(
        MemoryStore::new([zone("example.com")]).with_limits(StoreLimits::new(300, 86_400)),
    );
    let store = CountingStore::new(inner);
    let c = Coordinator::new(store.clone());
    c.present(&record(NAME, "a")).await.unwrap();
    let counts = store.counts();
    assert_eq!((counts.create, counts.read, counts.replace), (0, 1, 1));
    assert_eq!(store.inner.values(&fqdn(NAME)), vec![value("a")]);
}

#[tokio::test]
async fn cleanup_of_an_absent_rrset_is_one_read_and_success() {
    let (store, c) = setup();
    c.cleanup(&record(NAME, "never")).await.unwrap();
    let counts = store.counts();
    assert_eq!((counts.read, counts.rrset_calls()), (1, 1));
}

#[tokio::test]
async fn cleanup_keeps_other_values_on_the_same_name() {
    let (store, c) = setup();
    store.inner.seed(&fqdn(NAME), &value("foreign")).unwrap();
    c.present(&record(NAME, "apex")).await.unwrap();
    c.present(&record(NAME, "wildcard")).await.unwrap();
    assert_eq!(
        store.inner.values(&fqdn(NAME)),
        vec![value("foreign"), value("apex"), value("wildcard")]
    );
    c.cleanup(&record(NAME, "apex")).await.unwrap();
    assert_eq!(
        store.inner.values(&fqdn(NAME)),
        vec![value("foreign"), value("wildcard")]
    );
}

#[tokio::test]
async fn present_then_cleanup_of_one_value_in_the_same_batch_leaves_it_absent() {
    let (store, c) = setup();
    store.inner.seed(&fqdn(NAME), &value("foreign")).unwrap();
    let r = record(NAME, "v");
    let (p, cl) = tokio::join!(c.present(&r), c.cleanup(&r));
    p.unwrap();
    cl.unwrap();
    assert_eq!(store.inner.values(&fqdn(NAME)), vec![value("foreign")]);
    // One batch: read, nothing to write.
    let counts = store.counts();
    assert_eq!((counts.read, counts.rrset_calls()), (1, 1), "{counts:?}");
}

#[tokio::test(start_paused = true)]
async fn two_different_names_progress_in_parallel() {
    let (store, c) = setup();
    store.hold(rel("_acme-challenge.a"));
    let a = tokio::spawn(present_at(&c, "_acme-challenge.a.example.com", "on-a"));
    store.wait_until_held().await;
    tokio::time::timeout(
        Duration::from_secs(5),
        c.present(&record("_acme-challenge.b.example.com", "on-b")),
    )
    .await
    .expect("the present on name b must not wait for name a")
    .unwrap();
    assert_eq!(
        store.inner.values(&fqdn("_acme-challenge.b.example.com")),
        vec![value("on-b")]
    );
    assert!(!a.is_finished());
    assert_eq!(c.busy_names(), 1);
    store.release();
    a.await.unwrap().unwrap();
    assert_eq!(
        store.inner.values(&fqdn("_acme-challenge.a.example.com")),
        vec![value("on-a")]
    );
    assert_eq!(c.busy_names(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_store_error_reaches_every_caller_of_the_batch_and_does_not_poison_the_name() {
    let (store, c) = setup();
    store.hold(rel("_acme-challenge"));
    let first = tokio::spawn(present(&c, "first"));
    store.wait_until_held().await;
    let rest: Vec<_> = values(5, "v")
        .iter()
        .map(|v| tokio::spawn(present(&c, v)))
        .collect();
    tokio::time::sleep(Duration::from_millis(1)).await;
    // The first batch only creates; the second (the five queued presents) finds the rrset and
    // fails on its read.
    store.fail_next(
        Method::Read,
        Error::rate_limited(
            "too many requests on example.com",
            Some(Duration::from_secs(3)),
        )
        .with_source(std::io::Error::other("upstream said 429")),
    );
    store.release();
    first.await.unwrap().unwrap();
    for task in rest {
        let err = task.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::RateLimited);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(
            err.report(),
            "rate limited: too many requests on example.com: upstream said 429"
        );
    }
    assert_eq!(store.counts().read, 1, "one batch, one failed read");
    assert_eq!(store.inner.values(&fqdn(NAME)), vec![value("first")]);
    // The name still works.
    c.present(&record(NAME, "v-000")).await.unwrap();
    assert_eq!(
        store.inner.values(&fqdn(NAME)),
        vec![value("first"), value("v-000")]
    );
    assert_eq!(c.busy_names(), 0);
}

#[tokio::test]
async fn every_caller_of_a_failed_batch_gets_the_error() {
    let (store, c) = setup();
    store.fail_next(
        Method::Create,
        Error::permission("no rights on zone example.com"),
    );
    let results = join_all(
        values(10, "v")
            .iter()
            .map(|v| c.present_owned(record(NAME, v))),
    )
    .await;
    assert_eq!(store.counts().create, 1);
    for r in &results {
        let err = r.as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Permission);
        assert_eq!(err.message(), "no rights on zone example.com");
    }
    c.present(&record(NAME, "v-000")).await.unwrap();
    assert_eq!(store.inner.values(&fqdn(NAME)), vec![value("v-000")]);
}

#[tokio::test(start_paused = true)]
async fn a_leader_dropped_mid_batch_does_not_stall_the_callers_queued_behind_it() {
    let (store, c) = setup();
    store.hold(rel("_acme-challenge"));
    let leader = tokio::spawn(present(&c, "dropped"));
    store.wait_until_held().await;
    let queued: Vec<_> = ["y", "z"]
        .iter()
        .map(|v| tokio::spawn(present(&c, v)))
        .collect();
    tokio::time::sleep(Duration::from_millis(1)).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    // The queued callers take over and hit the hold again; release it.
    tokio::time::sleep(Duration::from_millis(1)).await;
    store.release();
    for task in queued {
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("queued callers must not hang")
            .unwrap()
            .unwrap();
    }
    let stored = store.inner.values(&fqdn(NAME));
    assert!(
        stored.contains(&value("y")) && stored.contains(&value("z")),
        "{stored:?}"
    );
    assert!(!stored.contains(&value("dropped")));
    assert_eq!(c.busy_names(), 0);
}

#[tokio::test]
async fn a_new_rrset_gets_the_requested_ttl_clamped_and_an_existing_one_keeps_its_ttl() {
    let inner = Arc::new(
        MemoryStore::new([zone("example.com")])
            .with_limits(StoreLimits::new(300, 3600).with_create(true)),
    );
    let c = inner.clone().provider();
    c.present(&record(NAME, "a").with_ttl(60)).await.unwrap();
    let z = zone("example.com");
    let n = rel("_acme-challenge");
    assert_eq!(inner.rrset(&z, &n).unwrap().ttl, 300);

    inner.seed_rrset(
        &z,
        &n,
        Some(TxtRrset {
            ttl: 1200,
            values: vec![value("foreign")],
        }),
    );
    c.present(&record(NAME, "b").with_ttl(3000)).await.unwrap();
    let rrset = inner.rrset(&z, &n).unwrap();
    assert_eq!(rrset.ttl, 1200);
    assert_eq!(rrset.values, vec![value("foreign"), value("b")]);
}

#[tokio::test]
async fn a_record_with_its_zone_skips_zone_discovery() {
    let (store, c) = setup();
    let r = record(NAME, "a").in_zone(zone("example.com")).unwrap();
    c.present(&r).await.unwrap();
    c.cleanup(&r).await.unwrap();
    assert_eq!(store.counts().find_zone, 0);
    c.present(&record(NAME, "a")).await.unwrap();
    assert_eq!(store.counts().find_zone, 1);
}

#[tokio::test]
async fn a_name_outside_every_zone_fails_with_zone_not_found() {
    let (_store, c) = setup();
    let err = c
        .present(&record("_acme-challenge.example.org", "a"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ZoneNotFound);
    assert!(
        err.to_string().contains("_acme-challenge.example.org"),
        "{err}"
    );
    assert_eq!(c.busy_names(), 0);
}

/// A coordinator over a counting memory store (with create) that declares `window`.
fn setup_with_window(window: Duration) -> (Arc<CountingStore>, Coordinator) {
    let limits = StoreLimits::default()
        .with_create(true)
        .with_batch_window(window);
    let inner = Arc::new(MemoryStore::new([zone("example.com")]).with_limits(limits));
    let store = CountingStore::new(inner);
    let coordinator = Coordinator::new(store.clone());
    (store, coordinator)
}

/// Runs `op` for each of `vals` in its own task, the `i`-th starting after `i * 0.1 ms` (so
/// 100 of them arrive spread over 10 ms, as through a webhook), and waits for all of them.
async fn staggered(c: &Coordinator, vals: &[String], op: fn(&Coordinator, &str) -> OpFuture) {
    let tasks: Vec<_> = vals
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let call = op(c, v);
            let delay = Duration::from_micros(100) * u32::try_from(i).unwrap();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                call.await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
}

/// Store calls for 100 staggered presents, then for 100 staggered cleanups of the same values.
async fn staggered_presents_then_cleanups(window: Duration) -> (usize, usize) {
    let (store, c) = setup_with_window(window);
    let vals = values(100, "v");
    staggered(&c, &vals, present).await;
    let mut stored = store.inner.values(&fqdn(NAME));
    stored.sort();
    let expected: Vec<_> = vals.iter().map(|v| value(v)).collect();
    assert_eq!(stored, expected);
    let presents = store.counts().rrset_calls();
    staggered(&c, &vals, cleanup).await;
    assert!(store.inner.snapshot().is_empty());
    assert_eq!(c.busy_names(), 0);
    (presents, store.counts().rrset_calls() - presents)
}

#[tokio::test(start_paused = true)]
async fn a_batch_window_coalesces_a_hundred_presents_and_cleanups_spread_over_ten_milliseconds() {
    let (presents, cleanups) = staggered_presents_then_cleanups(Duration::from_millis(20)).await;
    println!("20 ms window: {presents} calls for the presents, {cleanups} for the cleanups");
    // One batch each: create (or read and replace), then read and delete.
    assert!(presents <= 3, "{presents}");
    assert!(cleanups <= 2, "{cleanups}");

    let (without_presents, without_cleanups) =
        staggered_presents_then_cleanups(Duration::ZERO).await;
    println!(
        "no window: {without_presents} calls for the presents, {without_cleanups} for the cleanups"
    );
    assert!(
        presents + cleanups < without_presents + without_cleanups,
        "the window is what coalesces: {presents} + {cleanups} calls with it, \
         {without_presents} + {without_cleanups} without"
    );
    assert!(without_presents > 3, "{without_presents}");
}

#[tokio::test(start_paused = true)]
async fn a_batch_window_coalesces_apex_and_wildcard_challenges_arriving_apart() {
    let (store, c) = setup_with_window(Duration::from_millis(20));
    let apex = tokio::spawn(present(&c, "apex"));
    tokio::time::sleep(Duration::from_millis(5)).await;
    present(&c, "wildcard").await.unwrap();
    apex.await.unwrap().unwrap();
    assert_eq!(store.counts().rrset_calls(), 1, "{:?}", store.counts());
    let apex = tokio::spawn(cleanup(&c, "apex"));
    tokio::time::sleep(Duration::from_millis(5)).await;
    cleanup(&c, "wildcard").await.unwrap();
    apex.await.unwrap().unwrap();
    let counts = store.counts();
    assert_eq!(
        (counts.read, counts.delete, counts.rrset_calls()),
        (1, 1, 3)
    );
    assert!(store.inner.snapshot().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_batch_window_delays_a_lone_operation_by_the_window_and_no_more() {
    let (store, c) = setup_with_window(Duration::from_millis(20));
    let start = tokio::time::Instant::now();
    c.present(&record(NAME, "token")).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(20));
    assert_eq!(store.counts().rrset_calls(), 1);

    let (_store, c) = setup();
    let start = tokio::time::Instant::now();
    c.present(&record(NAME, "token")).await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO, "no window, no wait");
}

#[tokio::test(start_paused = true)]
async fn a_batch_window_on_one_name_does_not_hold_up_another_name() {
    let (store, c) = setup_with_window(Duration::from_millis(20));
    let a = tokio::spawn(present_at(&c, "_acme-challenge.a.example.com", "on-a"));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let start = tokio::time::Instant::now();
    c.present(&record("_acme-challenge.b.example.com", "on-b"))
        .await
        .unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(20),
        "b waits its own window only"
    );
    a.await.unwrap().unwrap();
    assert_eq!(store.counts().create, 2);
}

#[tokio::test(start_paused = true)]
async fn a_leader_dropped_during_its_batch_window_does_not_stall_the_callers_behind_it() {
    let (store, c) = setup_with_window(Duration::from_millis(20));
    let leader = tokio::spawn(present(&c, "dropped"));
    tokio::time::sleep(Duration::from_millis(5)).await;
    let queued: Vec<_> = ["y", "z"]
        .iter()
        .map(|v| tokio::spawn(present(&c, v)))
        .collect();
    tokio::time::sleep(Duration::from_millis(5)).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    for task in queued {
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("queued callers must not hang")
            .unwrap()
            .unwrap();
    }
    assert_eq!(
        store.inner.values(&fqdn(NAME)),
        vec![value("y"), value("z")]
    );
    assert_eq!(
        store.counts().rrset_calls(),
        1,
        "the dropped leader wrote nothing"
    );
    assert_eq!(c.busy_names(), 0);
}

type OpFuture = futures::future::BoxFuture<'static, dns01_core::Result<()>>;

/// A present of `v` at `name`, owned so that it can be spawned.
fn present_at(c: &Coordinator, name: &str, v: &str) -> OpFuture {
    let (c, r) = (c.clone(), record(name, v));
    Box::pin(async move { c.present(&r).await })
}

/// A present of `v` at [`NAME`], owned so that it can be spawned.
fn present(c: &Coordinator, v: &str) -> OpFuture {
    present_at(c, NAME, v)
}

/// A cleanup of `v` at [`NAME`], owned so that it can be spawned.
fn cleanup(c: &Coordinator, v: &str) -> OpFuture {
    let (c, r) = (c.clone(), record(NAME, v));
    Box::pin(async move { c.cleanup(&r).await })
}

/// Owned-record calls for `join_all`.
trait OwnedCalls {
    fn present_owned(
        &self,
        r: dns01_core::TxtRecord,
    ) -> impl std::future::Future<Output = dns01_core::Result<()>>;
    fn cleanup_owned(
        &self,
        r: dns01_core::TxtRecord,
    ) -> impl std::future::Future<Output = dns01_core::Result<()>>;
}

impl OwnedCalls for Coordinator {
    async fn present_owned(&self, r: dns01_core::TxtRecord) -> dns01_core::Result<()> {
        self.present(&r).await
    }
    async fn cleanup_owned(&self, r: dns01_core::TxtRecord) -> dns01_core::Result<()> {
        self.cleanup(&r).await
    }
}
