//! An upstream that never answers: the webhook answers `success: false` with a timeout message
//! before the caller's deadline, and the next call succeeds once the upstream recovers.

use std::time::Duration;

use dns01_testkit::emulator::{Emulator, Fault, FaultConfig};

use crate::support::*;

const NAME: &str = "_acme-challenge.hang";
const FQDN: &str = "_acme-challenge.hang.example.com.";
const KEY: &str = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ";

fn payload(action: &str) -> serde_json::Value {
    challenge(action, "hang.example.com", FQDN, KEY, gandi_config())
}

fn hang_everything() -> FaultConfig {
    FaultConfig {
        hang: 1.0,
        ..FaultConfig::default()
    }
}

#[tokio::test]
async fn the_default_request_deadline_is_shorter_than_cert_managers_client_timeout() {
    // cert-manager gives up on a webhook call after 30 s; our answer must come first.
    assert!(dns01_webhook::DEFAULT_REQUEST_TIMEOUT < Duration::from_secs(30));
    let defaults = dns01_webhook::solver::gandi::GandiSettings::default();
    assert!(
        defaults.retry.deadline < dns01_webhook::DEFAULT_REQUEST_TIMEOUT,
        "retries give up ({:?}) before the request deadline",
        defaults.retry.deadline
    );
}

#[tokio::test]
async fn a_hung_present_is_answered_with_a_timeout_before_the_deadline_and_then_succeeds() {
    let deadline = Duration::from_secs(1);
    // Default upstream timeout (10 s) and retries: only the request deadline can end the wait.
    let rig = gandi_rig(Emulator::builder().zone(ZONE), deadline, |s| {
        s.rate_limit_per_minute = 1_000_000;
    })
    .await;
    rig.emu.faults().set(hang_everything());

    let answer = post(&rig.app, &solver_path("gandi"), &payload("Present")).await;
    let message = answer.failure_message();
    assert!(
        answer.elapsed >= deadline && answer.elapsed < deadline + Duration::from_millis(500),
        "answered after {:?}",
        answer.elapsed
    );
    assert!(message.contains("did not finish within 1s"), "{message}");
    assert!(message.contains(FQDN), "{message}");
    assert!(message.contains("Present"), "{message}");
    assert!(
        rig.emu.counters().with_status(0) >= 1,
        "the upstream was hanging"
    );
    assert!(rig.emu.txt_values(ZONE, NAME).is_empty());

    rig.emu.faults().clear();
    let answer = post(&rig.app, &solver_path("gandi"), &payload("Present")).await;
    assert!(answer.success(), "{}", answer.body);
    assert!(answer.elapsed < deadline, "{:?}", answer.elapsed);
    assert_eq!(rig.emu.decoded_txt(ZONE, NAME), [KEY]);

    let answer = post(&rig.app, &solver_path("gandi"), &payload("CleanUp")).await;
    assert!(answer.success(), "{}", answer.body);
    assert!(!rig.emu.has_rrset(ZONE, NAME, "TXT"));
}

#[tokio::test]
async fn a_cleanup_whose_write_hangs_times_out_then_removes_only_our_value() {
    let deadline = Duration::from_millis(800);
    let builder =
        Emulator::builder()
            .zone(ZONE)
            .rrset(ZONE, NAME, "TXT", 3600, &["\"someone else\""]);
    let rig = gandi_rig(builder, deadline, |s| {
        s.rate_limit_per_minute = 1_000_000;
    })
    .await;
    let answer = post(&rig.app, &solver_path("gandi"), &payload("Present")).await;
    assert!(answer.success(), "{}", answer.body);
    assert_eq!(rig.emu.decoded_txt(ZONE, NAME), ["someone else", KEY]);

    // Reads answer, writes hang: the CleanUp reads the rrset, then its PUT never returns.
    rig.emu.faults().set(FaultConfig {
        writes_only: true,
        ..hang_everything()
    });
    let answer = post(&rig.app, &solver_path("gandi"), &payload("CleanUp")).await;
    let message = answer.failure_message();
    assert!(answer.elapsed < deadline + Duration::from_millis(500));
    assert!(message.contains("CleanUp"), "{message}");
    assert!(message.contains("did not finish within 800ms"), "{message}");
    assert_eq!(rig.emu.decoded_txt(ZONE, NAME), ["someone else", KEY]);

    rig.emu.faults().clear();
    let answer = post(&rig.app, &solver_path("gandi"), &payload("CleanUp")).await;
    assert!(answer.success(), "{}", answer.body);
    assert_eq!(rig.emu.decoded_txt(ZONE, NAME), ["someone else"]);
    assert_eq!(rig.emu.rrsets(ZONE)[0].ttl, 3600, "the foreign TTL is kept");
}

#[tokio::test]
async fn when_the_upstream_timeout_gives_up_first_the_message_says_gandi_did_not_answer() {
    let rig = gandi_rig(
        Emulator::builder().zone(ZONE),
        Duration::from_secs(5),
        |s| {
            s.timeout = Duration::from_millis(200);
            s.retry = quick_retry(2, Duration::from_secs(2));
            s.rate_limit_per_minute = 1_000_000;
        },
    )
    .await;
    rig.emu.faults().set(hang_everything());
    let answer = post(&rig.app, &solver_path("gandi"), &payload("Present")).await;
    let message = answer.failure_message();
    assert!(
        answer.elapsed < Duration::from_secs(2),
        "{:?}",
        answer.elapsed
    );
    assert!(
        message.contains("no answer from Gandi within 200ms"),
        "{message}"
    );
    assert!(message.contains("gave up after 2 attempts"), "{message}");
    assert!(message.contains(FQDN), "{message}");

    rig.emu.faults().clear();
    let answer = post(&rig.app, &solver_path("gandi"), &payload("Present")).await;
    assert!(answer.success(), "{}", answer.body);
    assert_eq!(rig.emu.decoded_txt(ZONE, NAME), [KEY]);
}

#[tokio::test]
async fn a_single_hung_answer_is_retried_away_within_the_deadline() {
    let rig = gandi_rig(
        Emulator::builder().zone(ZONE),
        Duration::from_secs(5),
        |s| {
            s.timeout = Duration::from_millis(200);
            s.retry = quick_retry(3, Duration::from_secs(2));
            s.rate_limit_per_minute = 1_000_000;
        },
    )
    .await;
    rig.emu.faults().fail_next(1, Fault::Hang);
    let answer = post(&rig.app, &solver_path("gandi"), &payload("Present")).await;
    assert!(answer.success(), "{}", answer.body);
    assert!(answer.elapsed >= Duration::from_millis(200));
    assert_eq!(rig.emu.decoded_txt(ZONE, NAME), [KEY]);
    assert_eq!(rig.calls.tally().retries, 1);
    assert_eq!(rig.calls.tally().by_status.get(&0), Some(&1));
}
