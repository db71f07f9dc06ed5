//! Zone discovery: walking up the labels, stopping on credential errors, caching.

use dns01_core::{ErrorKind, Fqdn, RrsetStore, ZoneName};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

async fn domain(server: &MockServer, fqdn: &str, answer: ResponseTemplate, times: u64) {
    Mock::given(method("GET"))
        .and(path(format!("{BASE}/domains/{fqdn}")))
        .respond_with(answer)
        .expect(times)
        .mount(server)
        .await;
}

#[tokio::test]
async fn find_zone_walks_up_past_404s_to_the_registered_domain_and_caches_it() {
    let server = MockServer::start().await;
    domain(
        &server,
        "_acme-challenge.app.example.co.uk",
        gandi(404, BODY_404_DOMAIN),
        1,
    )
    .await;
    domain(&server, "app.example.co.uk", gandi(404, BODY_404_DOMAIN), 1).await;
    domain(
        &server,
        "example.co.uk",
        ResponseTemplate::new(200).set_body_json(json!({"fqdn": "example.co.uk"})),
        1,
    )
    .await;
    let store = store(&server);
    let name = Fqdn::parse("_acme-challenge.app.example.co.uk").unwrap();
    let zone = store.find_zone(&name).await.unwrap();
    assert_eq!(zone.as_str(), "example.co.uk");
    // Second lookup: answered from the caches, no request (the mocks expect exactly one each).
    assert_eq!(store.find_zone(&name).await.unwrap(), zone);
    assert!(
        store.clone().probe_zone(&zone).await.unwrap(),
        "clones share the cache"
    );
}

#[tokio::test]
async fn find_zone_stops_at_the_first_401() {
    let server = MockServer::start().await;
    domain(&server, "a.b.example.com", gandi(401, BODY_401), 1).await;
    domain(&server, "b.example.com", ResponseTemplate::new(200), 0).await;
    let store = store(&server);
    let e = store
        .find_zone(&Fqdn::parse("a.b.example.com").unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_message(
        &e,
        &["GET a.b.example.com", "HTTP 401", TRACE, "check the token"],
    );
    assert_store_redacted(&store);
}

#[tokio::test]
async fn find_zone_stops_at_the_first_403() {
    let server = MockServer::start().await;
    domain(&server, "a.example.com", gandi(403, BODY_403), 1).await;
    domain(&server, "example.com", ResponseTemplate::new(200), 0).await;
    let store = store(&server);
    let e = store
        .find_zone(&Fqdn::parse("a.example.com").unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Permission);
}

#[tokio::test]
async fn find_zone_of_an_unknown_name_says_what_it_tried_and_how_to_fix_it() {
    let server = MockServer::start().await;
    domain(&server, "x.example.org", gandi(404, BODY_404_DOMAIN), 1).await;
    domain(&server, "example.org", gandi(404, BODY_404_DOMAIN), 1).await;
    let store = store(&server);
    let e = store
        .find_zone(&Fqdn::parse("x.example.org").unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ZoneNotFound);
    assert_message(
        &e,
        &[
            "tried x.example.org, example.org",
            "Unknown domain",
            TRACE,
            "set sharing_id",
        ],
    );
    assert_store_redacted(&store);
}

#[tokio::test]
async fn probe_zone_answers_true_for_200_and_false_for_404() {
    let server = MockServer::start().await;
    domain(
        &server,
        "example.com",
        ResponseTemplate::new(200).set_body_json(json!({"fqdn": "example.com"})),
        1,
    )
    .await;
    domain(&server, "example.net", gandi(404, BODY_404_DOMAIN), 1).await;
    let store = store(&server);
    assert!(store.probe_zone(&zone()).await.unwrap());
    assert!(
        store.probe_zone(&zone()).await.unwrap(),
        "second probe from the cache"
    );
    assert!(
        !store
            .probe_zone(&ZoneName::parse("example.net").unwrap())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn verify_zone_explains_a_missing_zone() {
    let server = MockServer::start().await;
    domain(&server, "example.net", gandi(404, BODY_404_DOMAIN), 1).await;
    let store = store(&server);
    let e = store
        .verify_zone(&ZoneName::parse("example.net").unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ZoneNotFound);
    assert_message(
        &e,
        &[
            "GET example.net",
            "HTTP 404",
            "Unknown domain",
            TRACE,
            "sharing_id",
        ],
    );
    assert_store_redacted(&store);
}
