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
