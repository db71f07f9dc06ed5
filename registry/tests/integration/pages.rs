//! What Distribution 2.8 cannot show: `tags/list` pagination (it ignores `n`), a 429 with
//! `Retry-After`, a Basic challenge. A wiremock server answers as the spec says.

use std::time::Duration;

use dns01_registry::{Client, Credentials, Error, ErrorCode};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::repo;

#[tokio::test]
async fn tags_follow_relative_link_headers_to_the_last_page() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/proj/app/tags/list"))
        .and(query_param("last", "b"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(r#"{"name":"proj/app","tags":["c"]}"#),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/proj/app/tags/list"))
        .and(query_param("n", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", r#"</v2/proj/app/tags/list?n=2&last=b>; rel="next""#)
                .set_body_string(r#"{"name":"proj/app","tags":["a","b"]}"#),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let client = Client::builder(&server.uri()).build().unwrap();
    let tags: Vec<String> = client
        .tags(&repo("proj/app"), Some(2))
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(tags, ["a", "b", "c"]);
}

#[tokio::test]
async fn a_429_is_rate_limited_with_its_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "7")
                .insert_header("content-type", "application/json")
                .set_body_string(
                    r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#,
                ),
        )
        .mount(&server)
        .await;
    let e = Client::builder(&server.uri())
        .build()
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    let Error::RateLimited {
        retry_after,
        message,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(*retry_after, Some(Duration::from_secs(7)));
    assert_eq!(message, "TOOMANYREQUESTS: slow down");
}

#[tokio::test]
async fn a_500_keeps_its_status_code_and_message() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(
            ResponseTemplate::new(500)
                .insert_header("content-type", "application/json")
                .set_body_string(r#"{"errors":[{"code":"UNKNOWN","message":"unknown error","detail":{"e":"x"}}]}"#),
        )
        .mount(&server)
        .await;
    let e = Client::builder(&server.uri())
        .build()
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    let Error::Upstream {
        status,
        code,
        message,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(*status, 500);
    assert_eq!(code.as_ref(), Some(&ErrorCode::Other("UNKNOWN".into())));
    assert_eq!(message, "UNKNOWN: unknown error");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn a_basic_challenge_gets_the_credentials_and_they_stay_for_later_requests() {
    let server = MockServer::start().await;
    // "alice:pw" in base64.
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .and(header("authorization", "Basic YWxpY2U6cHc="))
        .respond_with(ResponseTemplate::new(200))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("www-authenticate", r#"Basic realm="registry""#),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::builder(&server.uri())
        .credentials(Credentials::new("alice", "pw"))
        .build()
        .unwrap();
    client.ping().await.unwrap();
    client.ping().await.unwrap();
}

#[tokio::test]
async fn a_blob_redirect_is_followed_relative_or_to_another_host_without_the_credentials() {
    let registry = MockServer::start().await;
    let storage = MockServer::start().await;
    let content = b"blob content".to_vec();
    let digest = dns01_registry::Digest::sha256_of(&content);
    // "alice:pw" in base64; the Basic challenge makes the client send it from then on.
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .and(header("authorization", "Basic YWxpY2U6cHc="))
        .respond_with(ResponseTemplate::new(200))
        .mount(&registry)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("www-authenticate", r#"Basic realm="r""#),
        )
        .mount(&registry)
        .await;
    // The first blob answers with a relative Location (as Artifact Registry does), the
    // second sends the client to another host.
    let relative = format!("/v2/proj/app/blobs/{digest}");
    Mock::given(method("GET"))
        .and(path(relative.as_str()))
        .respond_with(
            ResponseTemplate::new(307).insert_header("location", "/artifacts-downloads/one"),
        )
        .mount(&registry)
        .await;
    Mock::given(method("GET"))
        .and(path("/artifacts-downloads/one"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(content.clone()))
        .mount(&registry)
        .await;
    let elsewhere = format!("/v2/proj/other/blobs/{digest}");
    Mock::given(method("GET"))
        .and(path(elsewhere.as_str()))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/bucket/one", storage.uri()).as_str()),
        )
        .mount(&registry)
        .await;
    Mock::given(method("GET"))
        .and(path("/bucket/one"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(content.clone()))
        .expect(1)
        .mount(&storage)
        .await;

    let client = Client::builder(&registry.uri())
        .credentials(Credentials::new("alice", "pw"))
        .build()
        .unwrap();
    client.ping().await.unwrap();
    for name in ["proj/app", "proj/other"] {
        let blob = client.blob_get(&repo(name), &digest).await.unwrap();
        let chunks: Vec<_> = futures::StreamExt::collect(blob).await;
        let got: Vec<u8> = chunks
            .into_iter()
            .flat_map(|c| c.unwrap().to_vec())
            .collect();
        assert_eq!(got, content, "{name}");
    }
    let at_storage = storage.received_requests().await.unwrap();
    assert_eq!(at_storage.len(), 1);
    assert!(
        !at_storage[0].headers.contains_key("authorization"),
        "credentials followed the redirect to another host"
    );
    let at_registry = registry.received_requests().await.unwrap();
    let followed = at_registry
        .iter()
        .find(|r| r.url.path() == "/artifacts-downloads/one")
        .unwrap();
    assert!(
        followed.headers.contains_key("authorization"),
        "same host keeps them"
    );
}

#[tokio::test]
async fn a_blob_whose_content_does_not_match_its_digest_ends_with_a_mismatch() {
    let server = MockServer::start().await;
    let digest = dns01_registry::Digest::sha256_of(b"the real content");
    Mock::given(method("GET"))
        .and(path(format!("/v2/proj/app/blobs/{digest}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"tampered".to_vec()))
        .mount(&server)
        .await;
    let client = Client::builder(&server.uri()).build().unwrap();
    let blob = client.blob_get(&repo("proj/app"), &digest).await.unwrap();
    let items: Vec<_> = futures::StreamExt::collect(blob).await;
    assert_eq!(items.len(), 2, "the content, then the error");
    assert_eq!(&items[0].as_ref().unwrap()[..], b"tampered");
    let Err(Error::DigestMismatch { expected, .. }) = &items[1] else {
        panic!("{:?}", items[1])
    };
    assert_eq!(expected, digest.as_str());
}
