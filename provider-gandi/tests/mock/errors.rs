//! One test per upstream error status: the kind, and a message that names the route, the
//! status, Gandi's message, the trace id and the fix, and never the credential.

use dns01_core::{ErrorKind, RrsetStore, TxtRrset, TxtValue};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::support::*;

fn one_value(ttl: u32) -> TxtRrset {
    TxtRrset {
        ttl,
        values: vec![TxtValue::new("k1").unwrap()],
    }
}

async fn mount(server: &MockServer, http_method: &str, route: String, status: u16, body: &str) {
    Mock::given(method(http_method))
        .and(path(route))
        .respond_with(gandi(status, body))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_400_in_shape_a_is_invalid_input_with_gandis_message() {
    let server = MockServer::start().await;
    mount(
        &server,
        "POST",
        format!("{BASE}/domains/example.com/records"),
        400,
        BODY_400_A,
    )
    .await;
    let store = store(&server);
    let e = store
        .create_txt(&zone(), &name(), &one_value(300))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_message(
        &e,
        &[
            "POST example.com/_acme-challenge.app/TXT",
            "HTTP 400",
            "Absolute rrset_name must end with example.com.",
            TRACE,
            "names the field to fix",
        ],
    );
    assert_store_redacted(&store);
}

#[tokio::test]
async fn a_400_in_shape_b_names_the_field_and_its_description() {
    let server = MockServer::start().await;
    mount(&server, "PUT", rrset_path(), 400, BODY_400_B).await;
    let store = store(&server);
    let e = store
        .replace_txt(&zone(), &name(), &one_value(300))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_message(
        &e,
        &[
            "PUT example.com/_acme-challenge.app/TXT",
            "HTTP 400",
            "rrset_ttl: 60 is less than minimum value 300",
            TRACE,
            "names the field to fix",
        ],
    );
    assert_store_redacted(&store);
}

#[tokio::test]
async fn a_401_for_a_bad_or_expired_token_is_an_authentication_error() {
    let server = MockServer::start().await;
    mount(&server, "GET", rrset_path(), 401, BODY_401).await;
    let store = store(&server);
    let e = store.read_txt(&zone(), &name()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_message(
        &e,
        &[
            "GET example.com/_acme-challenge.app/TXT",
            "HTTP 401",
            "your access token has expired",
            TRACE,
            "check the token; personal access tokens expire",
        ],
    );
    assert_store_redacted(&store);
}

#[tokio::test]
async fn a_401_without_a_code_field_is_an_authentication_error_too() {
    let server = MockServer::start().await;
    mount(
        &server,
        "DELETE",
        rrset_path(),
        401,
        BODY_401_NO_CREDENTIALS,
    )
    .await;
    let store = store(&server);
    let e = store.delete_txt(&zone(), &name()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_message(
        &e,
        &[
            "DELETE example.com/_acme-challenge.app/TXT",
            "HTTP 401",
            "You must provide an access token or an API Key.",
            TRACE,
            "check the token",
        ],
    );
    assert_store_redacted(&store);
}

#[tokio::test]
async fn a_403_is_a_permission_error_naming_the_permission_to_grant() {
    let server = MockServer::start().await;
    mount(&server, "PUT", rrset_path(), 403, BODY_403).await;
    let store = store(&server);
    let e = store
        .replace_txt(&zone(), &name(), &one_value(300))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Permission);
    assert_message(
        &e,
        &[
            "PUT example.com/_acme-challenge.app/TXT",
            "HTTP 403",
            "Access was denied to this resource.",
            TRACE,
            "'Manage domain name technical configurations' permission",
        ],
    );
    assert_store_redacted(&store);
}

#[tokio::test]
async fn a_404_unknown_domain_on_a_read_is_zone_not_found_with_the_sharing_id_hint() {
    let server = MockServer::start().await;
    mount(&server, "GET", rrset_path(), 404, BODY_404_DOMAIN).await;
    let store = store(&server);
    let e = store.read_txt(&zone(), &name()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ZoneNotFound);
    assert_message(
        &e,
        &[
            "GET example.com/_acme-challenge.app/TXT",
            "HTTP 404",
            "Unknown domain",
            TRACE,
            "set sharing_id if it belongs to another organisation",
        ],
    );
    assert_store_redacted(&store);
}

#[tokio::test]
async fn a_404_for_a_missing_rrset_reads_as_none() {
    let server = MockServer::start().await;
    mount(&server, "GET", rrset_path(), 404, BODY_404_RESOURCE).await;
    assert_eq!(
        store(&server).read_txt(&zone(), &name()).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_404_for_a_missing_rrset_makes_delete_succeed() {
    let server = MockServer::start().await;
    mount(&server, "DELETE", rrset_path(), 404, BODY_404_RESOURCE).await;
    store(&server).delete_txt(&zone(), &name()).await.unwrap();
}

#[tokio::test]
async fn a_404_unknown_domain_on_a_delete_is_not_mistaken_for_success() {
    let server = MockServer::start().await;
    mount(&server, "DELETE", rrset_path(), 404, BODY_404_DOMAIN).await;
    let store = store(&server);
    let e = store.delete_txt(&zone(), &name()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ZoneNotFound);
    assert_message(
        &e,
        &[
            "DELETE example.com/_acme-challenge.app/TXT",
            "Unknown domain",
            TRACE,
        ],
    );
    assert_store_redacted(&store);
}

#[tokio::test]
async fn a_404_that_is_not_from_livedns_points_at_the_base_url() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(wiremock::ResponseTemplate::new(404).set_body_string("404 page not found"))
        .mount(&server)
        .await;
    let store = store(&server);
    let e = store.read_txt(&zone(), &name()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other);
    assert_message(&e, &["HTTP 404", "404 page not found", "check base_url"]);
    assert_store_redacted(&store);
}

#[tokio::test]
async fn a_409_on_replace_is_a_conflict() {
    let server = MockServer::start().await;
    mount(&server, "PUT", rrset_path(), 409, BODY_409).await;
    let store = store(&server);
    let e = store
        .replace_txt(&zone(), &name(), &one_value(300))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_message(
        &e,
        &[
            "PUT example.com/_acme-challenge.app/TXT",
            "HTTP 409",
            "already exists",
            TRACE,
            "retry",
        ],
    );
    assert_store_redacted(&store);
}

#[tokio::test]
async fn a_4xx_other_than_429_is_never_retried() {
    let server = MockServer::start().await;
    // `mount` expects exactly one request although the policy allows three attempts.
    mount(&server, "PUT", rrset_path(), 403, BODY_403).await;
    let (store, recorder) = observed_store(&server);
    store
        .replace_txt(&zone(), &name(), &one_value(300))
        .await
        .unwrap_err();
    assert!(recorder.retries.lock().unwrap().is_empty());
    assert_eq!(
        *recorder.calls.lock().unwrap(),
        [("replace_txt", Some(403))]
    );
}
