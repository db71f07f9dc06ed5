//! Retries of 429, 5xx and timeouts, and nothing else.

use std::time::{Duration, Instant};

use dns01_core::retry::RateLimiter;
use dns01_core::{ErrorKind, RrsetStore};
use dns01_gandi::{Credentials, GandiConfig, GandiStore};
use serde_json::json;
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

fn rrset_answer() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"rrset_ttl": 300, "rrset_values": ["\"k\""]}))
}

/// Mounts `first` for the first `times` requests to the rrset, then a 200.
async fn fail_then_succeed(server: &MockServer, first: ResponseTemplate, times: u64) {
    Mock::given(method("GET"))
        .and(path(rrset_path()))
        .respond_with(first)
        .up_to_n_times(times)
        .expect(times)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(rrset_path()))
        .respond_with(rrset_answer())
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_after_the_wait_and_then_succeeds() {
    let server = MockServer::start().await;
    fail_then_succeed(
        &server,
        gandi(429, BODY_429).insert_header("Retry-After", "1"),
        1,
    )
    .await;
    let (store, recorder) = observed_store(&server);
    let started = Instant::now();
    let got = store.read_txt(&zone(), &name()).await.unwrap().unwrap();
    assert_eq!(got.values[0].as_str(), "k");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert_eq!(*recorder.retries.lock().unwrap(), ["read_txt"]);
    assert_eq!(
        *recorder.calls.lock().unwrap(),
        [("read_txt", Some(429)), ("read_txt", Some(200))]
    );
}

#[tokio::test]
async fn a_429_without_retry_after_is_retried_with_backoff_and_then_succeeds() {
    let server = MockServer::start().await;
    fail_then_succeed(&server, gandi(429, BODY_429), 2).await;
    let got = store(&server).read_txt(&zone(), &name()).await.unwrap();
    assert!(got.is_some());
}

#[tokio::test]
async fn a_429_that_persists_gives_up_as_rate_limited_with_the_wait_asked_for() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(gandi(429, BODY_429).insert_header("Retry-After", "1"))
        .expect(2)
        .mount(&server)
        .await;
    let store = GandiStore::new(config(&server).with_retry(fast_retry(2))).unwrap();
    let e = store.read_txt(&zone(), &name()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
    assert_message(
        &e,
        &[
            "GET example.com/_acme-challenge.app/TXT",
            "HTTP 429",
            "Too Many Requests",
            TRACE,
            "1000 requests per minute",
        ],
    );
    assert_store_redacted(&store);
}

#[tokio::test]
async fn a_500_is_retried_and_then_succeeds() {
    let server = MockServer::start().await;
    fail_then_succeed(&server, gandi(500, BODY_500), 1).await;
    let got = store(&server).read_txt(&zone(), &name()).await.unwrap();
    assert!(got.is_some());
}

#[tokio::test]
async fn a_500_that_persists_gives_up_as_transient_after_every_attempt() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(gandi(500, BODY_500))
        .expect(3)
        .mount(&server)
        .await;
    let store = store(&server);
    let rrset = dns01_core::TxtRrset {
        ttl: 300,
        values: vec![dns01_core::TxtValue::new("k").unwrap()],
    };
    let e = store
        .replace_txt(&zone(), &name(), &rrset)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert_message(
        &e,
        &[
            "PUT example.com/_acme-challenge.app/TXT",
            "HTTP 500",
            "The server has either erred",
            TRACE,
            "Gandi support",
        ],
    );
    assert_store_redacted(&store);
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_fails_fast_as_transient() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(rrset_answer().set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let store = GandiStore::new(
        config(&server)
            .with_timeout(Duration::from_millis(200))
            .with_retry(fast_retry(2)),
    )
    .unwrap();
    let started = Instant::now();
    let e = store.read_txt(&zone(), &name()).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert_message(
        &e,
        &[
            "GET example.com/_acme-challenge.app/TXT",
            "no answer from Gandi within 200ms",
        ],
    );
    assert_store_redacted(&store);
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    // Bind and drop a listener to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config =
        dns01_gandi::GandiConfig::new(dns01_gandi::Credentials::personal_access_token(TOKEN))
            .with_base_url(Url::parse(&format!("http://127.0.0.1:{port}{BASE}")).unwrap())
            .with_retry(fast_retry(1));
    let store = GandiStore::new(config).unwrap();
    let e = store.probe_zone(&zone()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert_message(&e, &["GET example.com", "could not connect to Gandi"]);
    assert_store_redacted(&store);
}

/// Two stores with different credentials, as two tenants of one process, each with a limiter
/// from `limiter` (or one of its own, of one call per minute): the first reads the rrset, then
/// the second tries to. Whether the second was held back.
async fn two_tenants(limiter: impl Fn() -> Option<RateLimiter>) -> (MockServer, bool) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(rrset_path()))
        .respond_with(rrset_answer())
        .mount(&server)
        .await;
    let stores = [
        config(&server),
        config_with(&server, Credentials::api_key(API_KEY)),
    ]
    .map(|config| {
        let config = match limiter() {
            Some(limiter) => config.with_shared_rate_limiter(limiter),
            None => config.with_rate_limit_per_minute(1),
        };
        GandiStore::new(config).unwrap()
    });
    stores[0].read_txt(&zone(), &name()).await.unwrap();
    // Time enough to go out if no limiter holds it back; the tests check what the server
    // received, not this wait.
    let (zone, name) = (zone(), name());
    let second = stores[1].read_txt(&zone, &name);
    let held_back = tokio::time::timeout(Duration::from_millis(500), second)
        .await
        .is_err();
    (server, held_back)
}

#[tokio::test]
async fn clients_given_one_shared_limiter_share_its_slots_across_credentials() {
    // One call per minute for the whole process: the second tenant's call waits for the
    // first tenant's slot to come back, and nothing reaches Gandi meanwhile.
    let shared = RateLimiter::per_minute(1);
    let (server, held_back) = two_tenants(|| Some(shared.clone())).await;
    assert!(held_back, "the second tenant did not wait");
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(
        received[0].headers["authorization"],
        format!("Bearer {TOKEN}").as_str()
    );

    // Limiters of their own (one call per minute each): both go out at once.
    let (server, held_back) = two_tenants(|| None).await;
    assert!(!held_back);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[test]
fn a_shared_limiter_stands_in_for_a_zero_rate_limit() {
    let base = GandiConfig::new(Credentials::personal_access_token(TOKEN))
        .with_base_url(Url::parse(&format!("http://127.0.0.1:9{BASE}")).unwrap())
        .with_rate_limit_per_minute(0);
    assert!(GandiStore::new(base.clone()).is_err());
    let shared = base.with_shared_rate_limiter(RateLimiter::per_minute(10));
    assert!(GandiStore::new(shared).is_ok());
}
