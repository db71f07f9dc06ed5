//! Leader election on the fake API's Leases (resourceVersion optimistic concurrency).

use std::time::Duration;

use dns01_domains::leader::{Elector, Timings};
use dns01_testkit::kubefake::KubeFake;

const TIMINGS: Timings = Timings {
    lease_duration: Duration::from_millis(1500),
    renew_every: Duration::from_millis(200),
    retry_every: Duration::from_millis(100),
};

fn elector(fake: &KubeFake, identity: &str) -> Elector {
    let client =
        kube::Client::try_from(kube::Config::new(fake.url().as_str().parse().unwrap())).unwrap();
    Elector::new(client, "dns01", "dns01-domains", identity, TIMINGS)
}

fn holder(fake: &KubeFake) -> String {
    fake.lease("dns01", "dns01-domains").unwrap()["spec"]["holderIdentity"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn one_replica_leads_and_another_takes_over_only_after_the_holder_stops_renewing() {
    let fake = KubeFake::start().await;
    let (a, b) = (elector(&fake, "replica-a"), elector(&fake, "replica-b"));
    a.acquire().await.unwrap();
    let holding = tokio::spawn({
        let a = a.clone();
        async move { a.hold().await }
    });
    // While a renews, b waits well past the lease duration.
    let waiting = tokio::time::timeout(Duration::from_secs(3), b.acquire()).await;
    assert!(waiting.is_err(), "b must not lead while a renews");
    assert_eq!(holder(&fake), "replica-a");
    // a dies without releasing: b takes over once a lease duration has passed without renewal.
    holding.abort();
    let started = tokio::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), b.acquire())
        .await
        .expect("b leads")
        .unwrap();
    assert!(started.elapsed() >= TIMINGS.lease_duration - TIMINGS.renew_every);
    assert_eq!(holder(&fake), "replica-b");
    let lease = fake.lease("dns01", "dns01-domains").unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    // a's hold ends once it sees b's name on the Lease.
    tokio::time::timeout(Duration::from_secs(2), a.hold())
        .await
        .expect("a notices it lost the Lease");
}

#[tokio::test]
async fn a_released_lease_is_taken_at_once() {
    let fake = KubeFake::start().await;
    let (a, b) = (elector(&fake, "replica-a"), elector(&fake, "replica-b"));
    a.acquire().await.unwrap();
    a.release().await.unwrap();
    let started = tokio::time::Instant::now();
    b.acquire().await.unwrap();
    assert!(
        started.elapsed() < TIMINGS.lease_duration,
        "no wait for expiry"
    );
    assert_eq!(holder(&fake), "replica-b");
}
