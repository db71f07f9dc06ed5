//! The chaos run: 300 challenge lifecycles through the webhook against a Gandi emulator that
//! fails about a fifth of its answers (500, 502, 503, 429 with and without `Retry-After`,
//! dropped connections, on top of added latency on every answer).
//!
//! The test plays cert-manager: it retries every `success: false` after a short pause, as
//! cert-manager does, and checks that each Present and CleanUp ends in success within its
//! deadline or in a clear failure that a retry fixes, that a successful Present really wrote
//! the value and a successful CleanUp really removed it, and, at the end, that every foreign
//! value is intact and nothing of ours is left.
//!
//! Reproducibility: every random choice (names, keys, which names are pre-seeded, which answers
//! fail, latency, rate-limit episodes) comes from fixed seeds. Requests run concurrently, so
//! which request meets which fault varies between runs; the fault mix does not.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use dns01_testkit::emulator::{Fault, FaultConfig, Latency, RateLimit};
use futures::StreamExt as _;

use crate::support::*;

/// Lifecycles in all.
const LIFECYCLES: usize = 300;
/// Names shared by two lifecycles (an apex and a wildcard order for the same domain); the
/// other lifecycles have a name each.
const SHARED_NAMES: usize = 50;
/// One name in this many is pre-seeded with someone else's values.
const FOREIGN_EVERY: usize = 4;
/// Lifecycle groups (one name each) in flight at once.
const CONCURRENCY: usize = 16;
/// The webhook's deadline per request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How late an answer may come back after the deadline (scheduling slack).
const DEADLINE_SLACK: Duration = Duration::from_secs(1);
/// Tries per action before the test gives up (cert-manager would go on for ever).
const MAX_TRIES: u32 = 10;
/// Chance that the test queues a bare 429 (no `Retry-After`) before one of its requests.
const P_BARE_429: f64 = 0.06;
/// Seed of every random choice.
const SEED: u64 = 0x0008_C4A0_5EED;

/// One challenge: an order's domain and its key.
#[derive(Debug, Clone)]
struct Lifecycle {
    dns_name: String,
    key: String,
    seed: u64,
}

/// One name and the lifecycles that use it (one, or two at once).
#[derive(Debug, Clone)]
struct Group {
    /// The name relative to [`ZONE`], e.g. `_acme-challenge.host7`.
    relative: String,
    lifecycles: Vec<Lifecycle>,
    /// Someone else's values at the name, seeded before the run.
    foreign: Vec<String>,
}

impl Group {
    fn fqdn(&self) -> String {
        format!("{}.{ZONE}.", self.relative)
    }
}

fn plan() -> Vec<Group> {
    let mut rng = Rng::new(SEED);
    let mut groups = Vec::new();
    let mut index = 0;
    let mut lifecycle = |dns_name: String, rng: &mut Rng| {
        index += 1;
        Lifecycle {
            dns_name,
            key: rng.key(index),
            seed: rng.next_u64(),
        }
    };
    for s in 0..SHARED_NAMES {
        let host = format!("site{s}.{ZONE}");
        let apex = lifecycle(host.clone(), &mut rng);
        let wildcard = lifecycle(format!("*.{host}"), &mut rng);
        groups.push(Group {
            relative: format!("_acme-challenge.site{s}"),
            lifecycles: vec![apex, wildcard],
            foreign: Vec::new(),
        });
    }
    for h in 0..LIFECYCLES - 2 * SHARED_NAMES {
        let one = lifecycle(format!("host{h}.{ZONE}"), &mut rng);
        groups.push(Group {
            relative: format!("_acme-challenge.host{h}"),
            lifecycles: vec![one],
            foreign: Vec::new(),
        });
    }
    // Shuffle (Fisher-Yates), then pre-seed every FOREIGN_EVERY-th name.
    for i in (1..groups.len()).rev() {
        let j = usize::try_from(rng.below(i as u64 + 1)).unwrap();
        groups.swap(i, j);
    }
    for (g, group) in groups.iter_mut().enumerate() {
        if g % FOREIGN_EVERY == 0 {
            group.foreign = vec![
                format!("google-site-verification=foreign-{g}"),
                format!("owner \"{g}\" keeps this \\ value"),
            ];
        }
    }
    assert_eq!(
        groups.iter().map(|g| g.lifecycles.len()).sum::<usize>(),
        LIFECYCLES
    );
    groups
}

/// What the run saw, from the caller's side.
#[derive(Debug, Default)]
struct Seen {
    /// Webhook requests sent.
    attempts: u64,
    /// Requests that were retries of a `success: false`.
    retries: u64,
    /// `success: false` answers, by kind.
    failures: u64,
    failures_by_kind: std::collections::BTreeMap<&'static str, u64>,
    /// Bare 429s the test queued at the emulator.
    queued_bare_429: u64,
    /// Longest answer.
    slowest: Duration,
    /// Most tries one action needed.
    most_tries: u32,
}

/// Which kind of trouble a failure message reports; `None` when it is not clear.
fn failure_kind(message: &str) -> Option<&'static str> {
    let kinds = [
        ("did not finish within", "request deadline"),
        ("HTTP 429", "429"),
        ("HTTP 500", "500"),
        ("HTTP 502", "502"),
        ("HTTP 503", "503"),
        ("failed before an answer came back", "connection dropped"),
        ("no answer from Gandi within", "upstream timeout"),
    ];
    kinds
        .iter()
        .find(|(needle, _)| message.contains(needle))
        .map(|(_, kind)| *kind)
}

/// Sends one action until it succeeds, as cert-manager would; returns the number of tries.
async fn drive(
    rig: &GandiRig,
    group: &Group,
    lc: &Lifecycle,
    action: &str,
    rng: &mut Rng,
    seen: &Mutex<Seen>,
) -> u32 {
    let fqdn = group.fqdn();
    let payload = challenge(action, &lc.dns_name, &fqdn, &lc.key, gandi_config());
    let mut last = String::new();
    for attempt in 1..=MAX_TRIES {
        let bare_429 = rng.chance(P_BARE_429);
        if bare_429 {
            rig.emu.faults().fail_next(1, Fault::Status(429));
        }
        let answer = post(&rig.app, &solver_path("gandi"), &payload).await;
        assert!(
            answer.elapsed <= REQUEST_TIMEOUT + DEADLINE_SLACK,
            "{action} {fqdn} took {:?}, past its {REQUEST_TIMEOUT:?} deadline",
            answer.elapsed
        );
        let ok = answer.success();
        let message = (!ok).then(|| answer.failure_message());
        {
            let mut s = seen.lock().unwrap_or_else(PoisonError::into_inner);
            s.attempts += 1;
            s.queued_bare_429 += u64::from(bare_429);
            s.retries += u64::from(attempt > 1);
            s.slowest = s.slowest.max(answer.elapsed);
            if let Some(message) = &message {
                s.failures += 1;
                let kind = failure_kind(message).unwrap_or("unclear");
                *s.failures_by_kind.entry(kind).or_insert(0) += 1;
            }
            if ok {
                s.most_tries = s.most_tries.max(attempt);
            }
        }
        let Some(message) = message else {
            return attempt;
        };
        // A clear failure: it names the record and says what went wrong upstream.
        assert!(
            message.contains(&fqdn),
            "{action}: the failure does not name {fqdn}: {message}"
        );
        assert!(
            failure_kind(&message).is_some(),
            "{action} {fqdn}: unclear failure message: {message}"
        );
        assert!(
            !message.contains(TOKEN),
            "{action}: the token leaked: {message}"
        );
        last = message;
        tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
    }
    panic!("{action} {fqdn} still failed after {MAX_TRIES} tries: {last}");
}

/// Present, let the "ACME server" look, CleanUp; checking the emulator after each step.
async fn lifecycle(rig: &GandiRig, group: &Group, lc: &Lifecycle, seen: &Mutex<Seen>) {
    let mut rng = Rng::new(lc.seed);
    drive(rig, group, lc, "Present", &mut rng, seen).await;
    let values = rig.emu.decoded_txt(ZONE, &group.relative);
    assert!(
        values.contains(&lc.key),
        "Present of {} succeeded but the value is not there: {values:?}",
        group.fqdn()
    );
    tokio::time::sleep(Duration::from_millis(rng.below(5))).await;
    drive(rig, group, lc, "CleanUp", &mut rng, seen).await;
    let values = rig.emu.decoded_txt(ZONE, &group.relative);
    assert!(
        !values.contains(&lc.key),
        "CleanUp of {} succeeded but the value is still there: {values:?}",
        group.fqdn()
    );
}

/// Rate-limit episodes: every few hundred milliseconds, for 10 ms, every request gets a 429
/// with `Retry-After: 1`.
async fn rate_limit_episodes(
    rig_faults: dns01_testkit::emulator::Faults,
    episodes: Arc<Mutex<u64>>,
) {
    let mut rng = Rng::new(SEED ^ 0x429);
    loop {
        tokio::time::sleep(Duration::from_millis(150 + rng.below(250))).await;
        rig_faults.set_rate_limit(Some(RateLimit {
            requests: 0,
            window: Duration::from_secs(1),
            retry_after: true,
        }));
        *episodes.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
        rig_faults.set_rate_limit(None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_lifecycles_survive_a_fifth_of_upstream_answers_failing() {
    let groups = plan();
    let mut builder = dns01_testkit::emulator::Emulator::builder()
        .zone(ZONE)
        .seed(SEED)
        .faults(FaultConfig {
            error_500: 0.04,
            error_502: 0.04,
            error_503: 0.04,
            drop_connection: 0.03,
            latency: Latency::Range(Duration::ZERO, Duration::from_millis(8)),
            ..FaultConfig::default()
        });
    for group in groups.iter().filter(|g| !g.foreign.is_empty()) {
        let foreign: Vec<&str> = group.foreign.iter().map(String::as_str).collect();
        builder = builder.rrset(ZONE, &group.relative, "TXT", 3600, &foreign);
    }
    let rig = gandi_rig(builder, REQUEST_TIMEOUT, |s| {
        s.retry = quick_retry(2, Duration::from_millis(2500));
        s.timeout = Duration::from_secs(2);
        s.rate_limit_per_minute = 1_000_000;
    })
    .await;
    // Seeded values are stored as the API would store them; they must read back the same.
    for group in groups.iter().filter(|g| !g.foreign.is_empty()) {
        assert_eq!(rig.emu.decoded_txt(ZONE, &group.relative), group.foreign);
    }

    let episodes = Arc::new(Mutex::new(0));
    let storms = tokio::spawn(rate_limit_episodes(rig.emu.faults(), episodes.clone()));
    let seen = Mutex::new(Seen::default());
    let started = Instant::now();
    futures::stream::iter(&groups)
        .for_each_concurrent(CONCURRENCY, |group| {
            let (rig, seen) = (&rig, &seen);
            async move {
                futures::future::join_all(
                    group
                        .lifecycles
                        .iter()
                        .map(|lc| lifecycle(rig, group, lc, seen)),
                )
                .await;
            }
        })
        .await;
    let elapsed = started.elapsed();
    storms.abort();
    let _aborted = storms.await;
    rig.emu.faults().clear();

    // Every foreign value is intact (same values, same order, same TTL); nothing of ours is
    // left anywhere in the zone, not even an empty rrset.
    let ours: std::collections::HashSet<&str> = groups
        .iter()
        .flat_map(|g| g.lifecycles.iter().map(|lc| lc.key.as_str()))
        .collect();
    let mut leftovers = Vec::new();
    for rrset in rig.emu.rrsets(ZONE).iter().filter(|r| r.rtype == "TXT") {
        let decoded: Vec<String> = rig.emu.decoded_txt(ZONE, &rrset.name);
        match groups.iter().find(|g| g.relative == rrset.name) {
            Some(group) if !group.foreign.is_empty() => {
                assert_eq!(decoded, group.foreign, "foreign values at {}", rrset.name);
                assert_eq!(rrset.ttl, 3600, "the TTL of foreign rrset {}", rrset.name);
            }
            _ => leftovers.push(format!("{} {decoded:?}", rrset.name)),
        }
        leftovers.extend(
            decoded
                .iter()
                .filter(|v| ours.contains(v.as_str()))
                .map(|v| format!("{}: {v}", rrset.name)),
        );
    }
    for group in groups.iter().filter(|g| !g.foreign.is_empty()) {
        assert!(
            rig.emu.has_rrset(ZONE, &group.relative, "TXT"),
            "the foreign rrset {} was deleted",
            group.relative
        );
    }

    let seen = seen.into_inner().unwrap_or_else(PoisonError::into_inner);
    let counters = rig.emu.counters();
    let upstream_total = counters.total();
    let by = |status| counters.with_status(status);
    let (e500, e502, e503, e429, dropped) = (by(500), by(502), by(503), by(429), by(0));
    let faulted = e500 + e502 + e503 + e429 + dropped;
    #[allow(clippy::cast_precision_loss)]
    let fault_share = faulted as f64 / upstream_total as f64;
    let tally = rig.calls.tally();
    let episodes = *episodes.lock().unwrap_or_else(PoisonError::into_inner);
    println!(
        "chaos: {LIFECYCLES} lifecycles on {} names ({SHARED_NAMES} shared by two, {} with \
         foreign values) in {elapsed:.1?}",
        groups.len(),
        groups.iter().filter(|g| !g.foreign.is_empty()).count()
    );
    println!(
        "chaos: webhook requests {} (attempts), of which retries after success:false {}; \
         failures surfaced {} {:?}; most tries for one action {}; slowest answer {:.1?}",
        seen.attempts,
        seen.retries,
        seen.failures,
        seen.failures_by_kind,
        seen.most_tries,
        seen.slowest
    );
    println!(
        "chaos: upstream requests {upstream_total}, faulted {faulted} ({:.1}%): 500 {e500}, \
         502 {e502}, 503 {e503}, 429 {e429} (bare, queued: {}; with Retry-After, in {episodes} \
         rate-limit episodes: {}), dropped connections {dropped}; client retries {}",
        fault_share * 100.0,
        seen.queued_bare_429,
        e429.saturating_sub(seen.queued_bare_429),
        tally.retries
    );
    println!("chaos: leftovers {} {leftovers:?}", leftovers.len());

    assert!(leftovers.is_empty(), "leftovers: {leftovers:?}");
    assert_eq!(
        seen.failures_by_kind.get("unclear"),
        None,
        "every failure is clear"
    );
    assert_eq!(
        seen.attempts,
        2 * LIFECYCLES as u64 + seen.retries,
        "one success per action"
    );
    // The run really was a fifth faulty, with every kind of fault, and the faults did reach
    // the caller sometimes: retries inside the webhook do not hide everything.
    assert!(
        (0.15..=0.30).contains(&fault_share),
        "fault share {fault_share:.3}"
    );
    for (kind, count) in [
        ("500", e500),
        ("502", e502),
        ("503", e503),
        ("dropped", dropped),
        ("bare 429", seen.queued_bare_429),
        (
            "429 with Retry-After",
            e429.saturating_sub(seen.queued_bare_429),
        ),
    ] {
        assert!(count > 0, "no {kind} fault was injected");
    }
    assert!(seen.failures > 0, "no failure reached the caller");
    assert!(tally.retries > 0, "the client never retried");
}
