//! dns01-gandi against the Gandi LiveDNS emulator of dns01-testkit: the core conformance
//! suite, what resolvers see (hickory-based probe and `dig`), and what it costs in API calls.
//!
//! The harness observes and seeds through the emulator's state directly, never through the
//! store, so a bug in the store cannot hide itself. `dig` checks are skipped with a notice
//! when `/usr/bin/dig` is missing, and fail when `CI` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use async_trait::async_trait;
use dns01_core::conformance::{self, Harness};
use dns01_core::{Coordinator, Error, Fqdn, Provider, Result, TxtRecord, TxtValue, ZoneName};
use dns01_gandi::{Credentials, GandiConfig};
use dns01_testkit::emulator::probe::{self, Transport};
use dns01_testkit::emulator::{Emulator, Fault, Token, routes};
use url::Url;

const ZONE: &str = "example.com";
const PAT: &str = "emulated-pat-0123456789abcdef0123456789ab";

async fn emulator() -> Emulator {
    Emulator::builder()
        .zone(ZONE)
        .token(Token::pat(PAT))
        .start()
        .await
        .expect("emulator starts")
}

fn config(emu: &Emulator) -> GandiConfig {
    GandiConfig::new(Credentials::personal_access_token(PAT))
        .with_base_url(Url::parse(&emu.api_url()).expect("api url"))
}

fn provider(emu: &Emulator) -> Coordinator {
    dns01_gandi::provider(config(emu)).expect("provider builds")
}

fn record(name: &str, value: &str) -> TxtRecord {
    TxtRecord::new(Fqdn::parse(name).unwrap(), TxtValue::new(value).unwrap())
}

/// A record whose zone the caller already knows (cert-manager passes `resolvedZone`).
fn record_in_zone(name: &str, value: &str) -> TxtRecord {
    record(name, value)
        .in_zone(ZoneName::parse(ZONE).unwrap())
        .unwrap()
}

struct EmulatorHarness {
    emu: Emulator,
    provider: Arc<dyn Provider>,
}

#[async_trait]
impl Harness for EmulatorHarness {
    fn provider(&self) -> Arc<dyn Provider> {
        self.provider.clone()
    }

    fn zone(&self) -> ZoneName {
        ZoneName::parse(ZONE).unwrap()
    }

    async fn observe(&self, name: &Fqdn) -> Result<Vec<TxtValue>> {
        self.emu
            .decoded_txt(ZONE, &name.to_absolute_string())
            .into_iter()
            .map(TxtValue::new)
            .collect()
    }

    async fn seed_foreign(&self, name: &Fqdn, value: &TxtValue) -> Result<()> {
        let absolute = name.to_absolute_string();
        let mut values = self.emu.txt_values(ZONE, &absolute);
        values.push(value.as_str().to_owned());
        self.emu
            .seed_rrset(ZONE, &absolute, "TXT", 300, values)
            .map_err(|e| Error::other(format!("seeding the emulator: {e}")))
    }
}

#[tokio::test]
async fn the_gandi_provider_passes_the_conformance_suite_against_the_emulator() {
    let emu = emulator().await;
    let harness = EmulatorHarness {
        provider: Arc::new(provider(&emu)),
        emu,
    };
    match conformance::run_all(&harness).await {
        Ok(report) => assert_eq!(report.passed.len(), conformance::CASES.len()),
        Err(failure) => panic!("{failure}"),
    }
}

#[tokio::test]
async fn resolvers_see_a_presented_value_and_stop_seeing_it_after_cleanup() {
    let emu = emulator().await;
    let p = provider(&emu);
    let name = "_acme-challenge.www.example.com";
    let r = record(name, "LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ");
    p.present(&r).await.unwrap();

    for transport in [Transport::Udp, Transport::Tcp] {
        let a = probe::query(emu.dns_addr(), name, "TXT", transport)
            .await
            .unwrap();
        assert_eq!(a.txt_values(), [r.value.as_str()], "{transport:?}");
    }
    if let Some(out) = probe::dig(emu.dns_addr(), &["+short", "TXT", name])
        .await
        .unwrap()
    {
        assert_eq!(out.trim(), format!("\"{}\"", r.value.as_str()));
    }

    p.cleanup(&r).await.unwrap();
    for transport in [Transport::Udp, Transport::Tcp] {
        let a = probe::query(emu.dns_addr(), name, "TXT", transport)
            .await
            .unwrap();
        assert!(a.txt_values().is_empty(), "{transport:?}");
        assert!(a.is_nxdomain(), "{transport:?}: rrset deleted, not emptied");
    }
    if let Some(out) = probe::dig(emu.dns_addr(), &["+short", "TXT", name])
        .await
        .unwrap()
    {
        assert_eq!(out.trim(), "");
    }
}

#[tokio::test]
async fn a_value_seeded_by_someone_else_survives_present_and_cleanup() {
    let emu = emulator().await;
    emu.seed_rrset(ZONE, "_acme-challenge", "TXT", 300, ["someone-else"])
        .unwrap();
    let p = provider(&emu);
    let r = record("_acme-challenge.example.com", "ours");
    p.present(&r).await.unwrap();
    let mut seen = emu.decoded_txt(ZONE, "_acme-challenge");
    seen.sort();
    assert_eq!(seen, ["ours", "someone-else"]);
    p.cleanup(&r).await.unwrap();
    assert_eq!(emu.decoded_txt(ZONE, "_acme-challenge"), ["someone-else"]);
}

#[tokio::test]
async fn apex_and_wildcard_challenges_coexist_on_one_name() {
    // example.com and *.example.com both validate at _acme-challenge.example.com.
    let emu = emulator().await;
    let p = provider(&emu);
    let apex = record("_acme-challenge.example.com", "apex-key-authorisation");
    let wildcard = record("_acme-challenge.example.com", "wildcard-key-authorisation");
    let (a, b) = tokio::join!(p.present(&apex), p.present(&wildcard));
    a.unwrap();
    b.unwrap();
    let answer = probe::query(
        emu.dns_addr(),
        "_acme-challenge.example.com",
        "TXT",
        Transport::Udp,
    )
    .await
    .unwrap();
    let mut served = answer.txt_values();
    served.sort();
    assert_eq!(
        served,
        ["apex-key-authorisation", "wildcard-key-authorisation"]
    );
    p.cleanup(&apex).await.unwrap();
    assert_eq!(
        emu.decoded_txt(ZONE, "_acme-challenge"),
        ["wildcard-key-authorisation"]
    );
}

#[tokio::test]
async fn removing_the_last_value_deletes_the_rrset_instead_of_emptying_it() {
    let emu = emulator().await;
    let p = provider(&emu);
    let r = record("_acme-challenge.last.example.com", "only");
    p.present(&r).await.unwrap();
    assert!(emu.has_rrset(ZONE, "_acme-challenge.last", "TXT"));
    p.cleanup(&r).await.unwrap();
    assert!(
        !emu.has_rrset(ZONE, "_acme-challenge.last", "TXT"),
        "no empty rrset left behind: {:?}",
        emu.rrsets(ZONE)
    );
}

/// Warms the store's zone cache so that counts below measure rrset work only.
async fn warm(p: &Coordinator, emu: &Emulator) {
    let r = record("_acme-challenge.warm.example.com", "warm");
    p.present(&r).await.unwrap();
    p.cleanup(&r).await.unwrap();
    emu.reset_counters();
}

#[tokio::test]
async fn an_isolated_present_and_cleanup_cost_at_most_three_api_calls() {
    let emu = emulator().await;
    let p = provider(&emu);
    warm(&p, &emu).await;
    let r = record_in_zone("_acme-challenge.cost.example.com", "value");
    p.present(&r).await.unwrap();
    p.cleanup(&r).await.unwrap();
    let counters = emu.counters();
    assert!(
        counters.total() <= 3,
        "present + cleanup took {} calls: {:?}",
        counters.total(),
        counters.entries
    );
    assert_eq!(
        counters.count("GET", routes::DOMAIN,),
        0,
        "zone discovery is cached"
    );
}

#[tokio::test]
async fn without_a_zone_hint_a_present_and_cleanup_cost_three_calls_once_the_domain_is_known() {
    let emu = emulator().await;
    let p = provider(&emu);
    // The first record below the domain pays for discovery once.
    let first = record("_acme-challenge.first.example.com", "value");
    p.present(&first).await.unwrap();
    p.cleanup(&first).await.unwrap();
    assert!(
        emu.count("GET", routes::DOMAIN) >= 1,
        "discovery probed Gandi"
    );
    emu.reset_counters();
    // Every later record, at any depth below it, goes straight to the rrset routes.
    let r = record("_acme-challenge.deep.cost.example.com", "value");
    p.present(&r).await.unwrap();
    p.cleanup(&r).await.unwrap();
    let counters = emu.counters();
    assert_eq!(
        counters.count("GET", routes::DOMAIN),
        0,
        "a known domain is not probed again: {:?}",
        counters.entries
    );
    assert!(
        counters.total() <= 3,
        "present + cleanup took {} calls: {:?}",
        counters.total(),
        counters.entries
    );
}

async fn calls_for_concurrent_presents(k: usize) -> u64 {
    let emu = emulator().await;
    let p = provider(&emu);
    warm(&p, &emu).await;
    let records: Vec<TxtRecord> = (0..k)
        .map(|i| record_in_zone("_acme-challenge.many.example.com", &format!("value-{i}")))
        .collect();
    let results = futures::future::join_all(records.iter().map(|r| p.present(r))).await;
    for r in results {
        r.unwrap();
    }
    assert_eq!(emu.decoded_txt(ZONE, "_acme-challenge.many").len(), k);
    emu.total_requests()
}

#[tokio::test]
async fn concurrent_presents_on_one_name_cost_a_constant_number_of_calls() {
    let few = calls_for_concurrent_presents(4).await;
    let many = calls_for_concurrent_presents(64).await;
    assert!(few <= 4, "4 concurrent presents took {few} calls");
    assert!(
        many <= few + 2,
        "64 concurrent presents took {many} calls, 4 took {few}: calls grow with k"
    );
}

/// Runs `op` on 100 values at one name from 100 tasks, the `i`-th starting `i * 0.1 ms` late
/// (spread over about 10 ms, as requests through the webhook arrive); returns the API calls.
async fn calls_for_staggered(p: &Coordinator, emu: &Emulator, present: bool) -> u64 {
    emu.reset_counters();
    let tasks: Vec<_> = (0..100u32)
        .map(|i| {
            let p = p.clone();
            let r = record_in_zone("_acme-challenge.spread.example.com", &format!("value-{i}"));
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_micros(100) * i).await;
                if present {
                    p.present(&r).await
                } else {
                    p.cleanup(&r).await
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    emu.total_requests()
}

#[tokio::test]
async fn a_batch_window_coalesces_presents_and_cleanups_that_arrive_milliseconds_apart() {
    let emu = emulator().await;
    // A window far longer than the 10 ms spread, so that a slow test machine cannot split it.
    let window = std::time::Duration::from_millis(250);
    let p = dns01_gandi::provider(config(&emu).with_batch_window(window)).unwrap();
    warm(&p, &emu).await;
    let presents = calls_for_staggered(&p, &emu, true).await;
    assert_eq!(emu.decoded_txt(ZONE, "_acme-challenge.spread").len(), 100);
    assert!(
        presents <= 3,
        "100 staggered presents took {presents} calls"
    );
    let cleanups = calls_for_staggered(&p, &emu, false).await;
    assert!(!emu.has_rrset(ZONE, "_acme-challenge.spread", "TXT"));
    assert!(
        cleanups <= 2,
        "100 staggered cleanups took {cleanups} calls"
    );
}

#[tokio::test]
async fn a_transient_503_is_retried_and_the_value_lands_once() {
    let emu = emulator().await;
    let p = provider(&emu);
    warm(&p, &emu).await;
    emu.faults().fail_next(1, Fault::Status(503));
    let r = record_in_zone("_acme-challenge.retry.example.com", "after-503");
    p.present(&r).await.unwrap();
    assert_eq!(
        emu.decoded_txt(ZONE, "_acme-challenge.retry"),
        ["after-503"]
    );
    assert_eq!(emu.counters().with_status(503), 1);
}

#[tokio::test]
async fn a_write_whose_answer_is_lost_is_not_duplicated_on_retry() {
    let emu = emulator().await;
    let p = provider(&emu);
    warm(&p, &emu).await;
    emu.faults().update(|f| f.after_apply = true);
    emu.faults().fail_next(1, Fault::Status(502));
    let r = record_in_zone("_acme-challenge.lost.example.com", "written-once");
    p.present(&r).await.unwrap();
    assert_eq!(
        emu.decoded_txt(ZONE, "_acme-challenge.lost"),
        ["written-once"]
    );
}
