//! The upstream's own Bearer token dance (wiremock as the exact contract): the gateway
//! learns the challenge from `/v2/`, fetches a token with its Basic credentials for exactly
//! the upstream scope, caches it, and never shows it to the client.

use wiremock::matchers::{basic_auth, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{Files, Gateway, bind, seen};

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_does_the_upstream_token_dance_once_and_caches_the_token() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(
            ResponseTemplate::new(401).insert_header(
                "www-authenticate",
                format!(
                    "Bearer realm=\"{}/auth\",service=\"upstream.example\"",
                    upstream.uri()
                )
                .as_str(),
            ),
        )
        .expect(1)
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path("/auth"))
        .and(basic_auth("vendor", "vendor-pa55"))
        .and(query_param("service", "upstream.example"))
        .and(query_param("scope", "repository:org/app:pull"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"token": "upstream-bearer-tok", "expires_in": 300}),
            ),
        )
        .expect(1)
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/org/app/manifests/v1"))
        .and(header("authorization", "Bearer upstream-bearer-tok"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/vnd.oci.image.manifest.v1+json")
                .set_body_string("{\"schemaVersion\":2}"),
        )
        .expect(2)
        .mount(&upstream)
        .await;

    let files = Files::new();
    let pw = files.write("pw", "vendor-pa55");
    let gateway = Gateway::serve(
        bind(),
        &format!(
            "routes: [{{name: mirror, path: proxy/app1/upstream.example, upstream: '{}', credentials: {{kind: bearer, username: vendor, password_file: '{}'}}}}]",
            upstream.uri(),
            pw.display()
        ),
    );
    let base = gateway.url("localhost");
    for _ in 0..2 {
        let (status, text, body) = seen(
            reqwest::get(format!(
                "{base}/v2/proxy/app1/upstream.example/org/app/manifests/v1"
            ))
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(body["schemaVersion"], 2);
        assert!(
            !text.contains("upstream-bearer-tok") && !text.contains("vendor-pa55"),
            "{text}"
        );
    }
    assert!(!gateway.logs.text().contains("upstream-bearer-tok"));
    // `expect` counts are checked when the mock server drops.
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_without_credentials_does_the_anonymous_token_dance_of_a_public_registry() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(
            ResponseTemplate::new(401).insert_header(
                "www-authenticate",
                format!(
                    "Bearer realm=\"{}/token\",service=\"public.example\"",
                    upstream.uri()
                )
                .as_str(),
            ),
        )
        .expect(1)
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path("/token"))
        .and(query_param("scope", "repository:library/alpine:pull"))
        .respond_with(move |req: &wiremock::Request| {
            // Anonymous: the gateway sends no credentials of its own.
            assert!(req.headers.get("authorization").is_none());
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"token": "anonymous-tok", "expires_in": 300}))
        })
        .expect(1)
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/library/alpine/manifests/3"))
        .and(header("authorization", "Bearer anonymous-tok"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"schemaVersion\":2}"))
        .expect(1)
        .mount(&upstream)
        .await;
    let gateway = Gateway::serve(
        bind(),
        &format!(
            "routes: [{{name: hub, path: hub, upstream: '{}'}}]",
            upstream.uri()
        ),
    );
    let (status, text, _) = seen(
        reqwest::get(format!(
            "{}/v2/hub/library/alpine/manifests/3",
            gateway.url("localhost")
        ))
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{text}");
}
