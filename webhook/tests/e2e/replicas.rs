//! Several replicas, no lost value: two `dns01-webhook` processes sharing one fake Kubernetes
//! API, writing the same Gandi rrsets (the emulator, with latency) at the same moments, as the
//! kube-apiserver's Service spreads cert-manager's requests over a Deployment's pods.

use std::time::{Duration, Instant};

use dns01_testkit::acmetest::{Action, ChallengeRequest, Outcome};
use dns01_testkit::emulator::{Emulator, FaultConfig, Latency, Token};
use futures::future::join_all;

use crate::support::{ClusterCas, GROUP, SOLVER, Webhook};

const ZONE: &str = "platform.test";
const TOKEN: &str = "replica-test-token";
const NAMESPACE: &str = "team-a";
/// Names written at once, each for [`ROUNDS`] rounds: 200 rounds in all.
const NAMES: usize = 20;
const ROUNDS: usize = 10;
const FOREIGN: &str = "kept-by-another-tool";

async fn emulator() -> Emulator {
    let mut builder = Emulator::builder()
        .zone(ZONE)
        .token(Token::pat(TOKEN))
        .faults(FaultConfig {
            latency: Latency::Range(Duration::ZERO, Duration::from_millis(30)),
            ..FaultConfig::default()
        });
    for i in 0..NAMES {
        builder = builder.rrset(ZONE, &name(i), "TXT", 300, &[&format!("\"{FOREIGN}\"")]);
    }
    builder.start().await.expect("emulator")
}

fn name(i: usize) -> String {
    format!("_acme-challenge.app{i}")
}

fn lock_flags(identity: &str, lock: &str) -> Vec<String> {
    [
        "--rrset-lock",
        lock,
        "--lease-namespace",
        "dns01",
        "--lease-identity",
        identity,
        "--rrset-lease-duration",
        "2s",
        // Thousands of Gandi calls in a few seconds: past the default client-side limit.
        "--gandi-rate-limit-per-minute",
        "1000000",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Two replicas of the webhook with `--rrset-lock <lock>`, the Gandi token in a Secret.
async fn replicas(emu: &Emulator, lock: &str) -> (Webhook, Webhook) {
    let a = Webhook::start_with_args(
        &emu.api_url(),
        ClusterCas::FrontProxyOnly,
        &lock_flags("replica-a", lock),
    )
    .await
    .expect("replica a");
    let b = a
        .start_replica(&emu.api_url(), &lock_flags("replica-b", lock))
        .await
        .expect("replica b");
    a.kube
        .set_secret(NAMESPACE, "gandi", &[("api-token", TOKEN.as_bytes())]);
    (a, b)
}

fn request(i: usize, action: Action, key: &str) -> ChallengeRequest {
    ChallengeRequest {
        action,
        dns_name: format!("app{i}.customer.test"),
        key: key.to_owned(),
        resource_namespace: NAMESPACE.to_owned(),
        resolved_fqdn: format!("{}.{ZONE}.", name(i)),
        resolved_zone: format!("{ZONE}."),
        allow_ambient_credentials: false,
        config: serde_json::json!({"patSecretRef": {"name": "gandi"}, "ttl": 300}),
    }
}

async fn call(webhook: &Webhook, request: ChallengeRequest) {
    let outcome = webhook
        .client
        .call(GROUP, SOLVER, &request)
        .await
        .expect("answer");
    if outcome != Outcome::Success {
        std::fs::write(
            format!("/tmp/replica-{}.log", std::process::id()),
            webhook.log(),
        )
        .ok();
    }
    assert_eq!(outcome, Outcome::Success, "{request:?}\n{}", webhook.log());
}

/// The values of `expected` missing at name `i`, and values present that should not be.
fn check(emu: &Emulator, i: usize, expected: &[&str]) -> usize {
    let held = emu.decoded_txt(ZONE, &name(i));
    let missing = expected
        .iter()
        .filter(|v| !held.iter().any(|h| h == *v))
        .count();
    let extra = held
        .iter()
        .filter(|h| !expected.contains(&h.as_str()))
        .count();
    missing + extra
}

/// [`ROUNDS`] rounds on name `i`: the apex and wildcard Presents at once, one per replica;
/// then a CleanUp on one racing a Present on the other; then both cleaned up. Returns the
/// values lost (or left behind) over all rounds.
async fn rounds_on(emu: &Emulator, a: &Webhook, b: &Webhook, i: usize, rounds: usize) -> usize {
    let mut wrong = 0;
    for round in 0..rounds {
        let (apex, wildcard, late) = (
            format!("apex-{round}"),
            format!("wild-{round}"),
            format!("late-{round}"),
        );
        tokio::join!(
            call(a, request(i, Action::Present, &apex)),
            call(b, request(i, Action::Present, &wildcard))
        );
        wrong += check(emu, i, &[FOREIGN, &apex, &wildcard]);
        tokio::join!(
            call(a, request(i, Action::CleanUp, &apex)),
            call(b, request(i, Action::Present, &late))
        );
        wrong += check(emu, i, &[FOREIGN, &wildcard, &late]);
        tokio::join!(
            call(b, request(i, Action::CleanUp, &wildcard)),
            call(a, request(i, Action::CleanUp, &late))
        );
        wrong += check(emu, i, &[FOREIGN]);
    }
    wrong
}

#[tokio::test]
async fn two_replicas_sharing_rrset_leases_lose_no_value_in_200_racing_rounds() {
    let emu = emulator().await;
    let (a, b) = replicas(&emu, "lease").await;
    let wrong: usize = join_all((0..NAMES).map(|i| rounds_on(&emu, &a, &b, i, ROUNDS)))
        .await
        .into_iter()
        .sum();
    assert_eq!(wrong, 0, "values lost or left behind\n{}", a.log());
    for i in 0..NAMES {
        assert_eq!(emu.decoded_txt(ZONE, &name(i)), [FOREIGN], "{}", name(i));
    }
    assert!(
        a.kube
            .request_count("/apis/coordination.k8s.io/v1/namespaces/dns01/leases")
            > 0,
        "no Lease was used"
    );
    assert_eq!(a.kube.lease_count(), 0, "every Lease was released");
}

#[tokio::test]
async fn without_the_lease_lock_the_same_races_lose_values() {
    // The failure the Leases prevent: proof that the test above can fail.
    let emu = emulator().await;
    let (a, b) = replicas(&emu, "none").await;
    let wrong: usize = join_all((0..NAMES).map(|i| rounds_on(&emu, &a, &b, i, 2)))
        .await
        .into_iter()
        .sum();
    assert!(wrong > 0, "interleaved read-merge-writes lost nothing");
    assert_eq!(
        a.kube.request_count("/apis/coordination.k8s.io"),
        0,
        "no Lease call without the lock"
    );
}

#[tokio::test]
async fn a_replica_killed_while_holding_a_lease_is_overtaken_after_the_lease_expires() {
    let emu = emulator().await;
    let (mut a, b) = replicas(&emu, "lease").await;
    // Warm replica a's Gandi client (zone discovery happens outside the lock).
    call(&a, request(1, Action::Present, "warm")).await;
    call(&a, request(1, Action::CleanUp, "warm")).await;

    // Replica a's next Gandi call never returns: it holds the Lease of name 0 meanwhile.
    emu.faults()
        .fail_next(1, dns01_testkit::emulator::Fault::Hang);
    let client = a.client.clone();
    let stuck = tokio::spawn(async move {
        client
            .call(GROUP, SOLVER, &request(0, Action::Present, "from-a"))
            .await
    });
    let start = Instant::now();
    while a.kube.lease_count() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "replica a never took the Lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.kill();
    let killed_at = Instant::now();

    call(&b, request(0, Action::Present, "from-b")).await;
    let waited = killed_at.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "b wrote after {waited:?}, before a's Lease could expire"
    );
    assert!(waited < Duration::from_secs(15), "b waited {waited:?}");
    let held = emu.decoded_txt(ZONE, &name(0));
    assert!(
        held.contains(&"from-b".to_owned()) && held.contains(&FOREIGN.to_owned()),
        "{held:?}"
    );
    // Replica a's own request died with it.
    stuck.abort();
    call(&b, request(0, Action::CleanUp, "from-b")).await;
    assert_eq!(emu.decoded_txt(ZONE, &name(0)), [FOREIGN]);
}
