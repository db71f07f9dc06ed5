//! The router without a socket (`tower::ServiceExt::oneshot`): the gateway's own answers on
//! authentication, before any upstream is involved.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use dns01_registry_gateway::{Config, router};
use tower::ServiceExt as _;

use crate::support::{Files, sha256_hex};

const TOKEN: &str = "router-test-token";

fn app(files: &Files) -> axum::Router {
    let tokens = files.write(
        "tokens.yaml",
        &format!(
            "tokens: [{{principal: ci-a, sha256: {}, projects: {{proj-a: [pull]}}}}]\n",
            sha256_hex(TOKEN)
        ),
    );
    let yaml = format!(
        "auth: {{tokens_file: '{}'}}\nroutes: [{{name: a, host: images.example, upstream: 'http://127.0.0.1:1', upstream_prefix: proj-a}}, {{name: b, host: other.example, upstream: 'http://127.0.0.1:1', upstream_prefix: proj-b}}]\n",
        tokens.display()
    );
    router(dns01_registry_gateway::State::new(Config::from_yaml(&yaml).unwrap()).unwrap())
}

async fn call(
    app: &axum::Router,
    host: &str,
    uri: &str,
    auth: Option<String>,
) -> (StatusCode, String, serde_json::Value) {
    let mut req = Request::get(uri).header("host", host);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        challenge,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[tokio::test]
async fn the_gateway_challenges_issues_trimmed_tokens_and_refuses_with_reasons() {
    let files = Files::new();
    let app = app(&files);

    // No token: a challenge pointing at this host's token endpoint, with the scope needed.
    let (status, challenge, body) =
        call(&app, "images.example", "/v2/app/manifests/v1", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge,
        r#"Bearer realm="http://images.example/token",service="images.example",scope="repository:app:pull""#
    );
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");

    // The token endpoint: no credentials, wrong ones, good ones.
    let (status, challenge, _) = call(
        &app,
        "images.example",
        "/token?service=images.example",
        None,
    )
    .await;
    assert_eq!(
        (status, challenge.as_str()),
        (
            StatusCode::UNAUTHORIZED,
            r#"Basic realm="dns01-registry-gateway""#
        )
    );
    let (status, _, body) = call(
        &app,
        "images.example",
        "/token?service=images.example",
        Some(basic("ci-a", "wrong")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("match no principal"),
        "{body}"
    );
    let (status, _, body) = call(
        &app,
        "images.example",
        "/token?service=images.example&scope=repository:app:pull,push",
        Some(basic("ci-a", TOKEN)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(body["access_token"], token.as_str());
    let claims = crate::support::claims(&token);
    assert_eq!(
        claims["access"],
        serde_json::json!([{"type": "repository", "name": "app", "actions": ["pull"]}])
    );
    assert_eq!(claims["aud"], "images.example");

    // The token works for the ping on its host, not on another host.
    let (status, _, _) = call(
        &app,
        "images.example:443",
        "/v2/",
        Some(format!("Bearer {token}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, challenge, body) = call(
        &app,
        "other.example",
        "/v2/",
        Some(format!("Bearer {token}")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("issued for another host")
    );

    // Pushing with a pull-only principal: 403 with what it may do, not a new challenge.
    let req = Request::put("/v2/app/manifests/v1")
        .header("host", "images.example")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = serde_json::from_slice(
        &axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        body["errors"][0]["message"],
        "ci-a may not push images.example/app (project proj-a); it may: pull on proj-a"
    );

    // Anything else is an OCI error too.
    let (status, _, body) = call(&app, "images.example", "/robots.txt", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["errors"][0]["code"], "UNSUPPORTED");
}

const SA_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJidWlsZGVyIn0.c2lnbmF0dXJl";

#[tokio::test]
async fn a_service_account_token_gets_its_namespace_as_project_through_token_review() {
    let fake = dns01_testkit::kubefake::KubeFake::start().await;
    fake.add_token(
        SA_TOKEN,
        dns01_testkit::kubefake::FakeUser::new("system:serviceaccount:proj-a:builder", &[]),
    );
    let kube =
        kube::Client::try_from(kube::Config::new(fake.url().as_str().parse().unwrap())).unwrap();
    let files = Files::new();
    let tokens = files.write("tokens.yaml", "tokens: []\n");
    let yaml = format!(
        "auth: {{tokens_file: '{}', kubernetes: {{permissions: [pull, push]}}}}\nroutes: [{{name: a, host: images.example, upstream: 'http://127.0.0.1:1', upstream_prefix: proj-a}}, {{name: b, host: other.example, upstream: 'http://127.0.0.1:1', upstream_prefix: proj-b}}]\n",
        tokens.display()
    );
    let config = Config::from_yaml(&yaml).unwrap();
    assert!(
        dns01_registry_gateway::State::new(config.clone()).is_err(),
        "a client is required"
    );
    let app = router(dns01_registry_gateway::State::with_kubernetes(config, Some(kube)).unwrap());

    for (host, access) in [
        (
            "images.example",
            serde_json::json!([{"type": "repository", "name": "app", "actions": ["pull", "push"]}]),
        ),
        ("other.example", serde_json::json!([])),
    ] {
        let (status, _, body) = call(
            &app,
            host,
            &format!("/token?service={host}&scope=repository:app:pull,push,delete"),
            Some(basic("builder", SA_TOKEN)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let claims = crate::support::claims(body["token"].as_str().unwrap());
        assert_eq!(claims["access"], access, "{host}");
        assert_eq!(claims["sub"], "system:serviceaccount:proj-a:builder");
    }
    assert_eq!(fake.token_review_count(), 1, "the review is cached");

    let (status, _, body) = call(
        &app,
        "images.example",
        "/token?service=images.example&scope=repository:app:pull",
        Some(basic(
            "builder",
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvdGhlciJ9.c2ln",
        )),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("TokenReview"),
        "{body}"
    );
}

#[test]
fn no_credential_appears_in_the_states_debug_output() {
    let files = Files::new();
    let (key_pem, _, _) = crate::support::signing_key();
    let key = files.write("key.pem", &key_pem);
    let pw = files.write("pw", "upstream-password-in-a-file");
    let tokens = files.write(
        "tokens.yaml",
        &format!(
            "tokens: [{{principal: ci, sha256: {}}}]\n",
            sha256_hex(TOKEN)
        ),
    );
    let yaml = format!(
        "auth: {{tokens_file: '{}'}}\nroutes:\n  - {{name: b, host: b.example, upstream: 'http://127.0.0.1:1', credentials: {{kind: basic, username: u, password_file: '{}'}}}}\n  - {{name: t, host: t.example, upstream: 'http://127.0.0.1:1', credentials: {{kind: bearer, username: u, password_file: '{}'}}}}\n  - {{name: d, host: d.example, upstream: 'http://127.0.0.1:1', credentials: {{kind: distribution, issuer: i, service: s, key_file: '{}'}}}}\n",
        tokens.display(),
        pw.display(),
        pw.display(),
        key.display()
    );
    let state = dns01_registry_gateway::State::new(Config::from_yaml(&yaml).unwrap()).unwrap();
    let debug = format!("{state:?}");
    assert!(debug.contains("Basic(u, <redacted>)"), "{debug}");
    let key_body: String = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for secret in ["upstream-password-in-a-file", TOKEN, &key_body[..32]] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
}

/// A gateway whose `auth` section is `auth_extra` beside the token file of `app`.
fn app_with(files: &Files, auth_extra: &str) -> axum::Router {
    let tokens = files.write(
        "tokens.yaml",
        &format!(
            "tokens: [{{principal: ci-a, sha256: {}, projects: {{proj-a: [pull]}}}}, {{principal: ci-b, sha256: {}, projects: {{proj-a: [pull]}}}}]\n",
            sha256_hex(TOKEN),
            sha256_hex(TOKEN)
        ),
    );
    let yaml = format!(
        "auth: {{tokens_file: '{}', {auth_extra}}}\nroutes: [{{name: a, host: images.example, upstream: 'http://127.0.0.1:1', upstream_prefix: proj-a}}]\n",
        tokens.display()
    );
    router(dns01_registry_gateway::State::new(Config::from_yaml(&yaml).unwrap()).unwrap())
}

async fn token_of(app: &axum::Router) -> String {
    let (status, _, body) = call(
        app,
        "images.example",
        "/token?service=images.example&scope=repository:app:pull",
        Some(basic("ci-a", TOKEN)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn two_gateways_with_one_key_file_accept_each_others_tokens_and_with_two_keys_do_not() {
    let files = Files::new();
    let shared = files.write(
        "shared.key",
        "k2V0aGlzIGlzIGEgc2hhcmVkIGtleSBvZiBlbm91Z2ggYnl0ZXM=\n",
    );
    let other = files.write(
        "other.key",
        "b3RoZXIga2V5LCBhbHNvIGxvbmcgZW5vdWdoIGZvciBITUFD\n",
    );
    let with = |p: &std::path::Path| format!("signing_key_file: '{}'", p.display());
    let a = app_with(&files, &with(&shared));
    let b = app_with(&files, &with(&shared));
    let c = app_with(&files, &with(&other));
    let token = token_of(&a).await;
    let bearer = Some(format!("Bearer {token}"));
    for (app, want) in [
        (&a, StatusCode::OK),
        (&b, StatusCode::OK),
        (&c, StatusCode::UNAUTHORIZED),
    ] {
        let (status, challenge, _) = call(app, "images.example", "/v2/", bearer.clone()).await;
        assert_eq!(status, want, "{challenge}");
    }
    // Without a key file each process draws its own key: no sharing.
    let d = app_with(&files, "token_lifetime_seconds: 300");
    let e = app_with(&files, "token_lifetime_seconds: 300");
    let token = token_of(&d).await;
    let (status, _, _) = call(
        &e,
        "images.example",
        "/v2/",
        Some(format!("Bearer {token}")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// `/token` from `addr` (as the ingress's `X-Forwarded-For` says) for `user`.
async fn login(
    app: &axum::Router,
    addr: &str,
    user: &str,
    password: &str,
) -> (StatusCode, Option<String>, serde_json::Value) {
    let req = Request::get("/token?service=images.example")
        .header("host", "images.example")
        .header("x-forwarded-for", format!("203.0.113.250, {addr}"))
        .header("authorization", basic(user, password))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        retry,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn failed_logins_are_limited_per_client_address_and_per_user_name() {
    let files = Files::new();
    let app = app_with(
        &files,
        "failed_logins: {max_failures: 3, window_seconds: 120, client_address_header: X-Forwarded-For}",
    );
    for _ in 0..3 {
        let (status, retry, _) = login(&app, "192.0.2.1", "ci-a", "guess").await;
        assert_eq!((status, retry), (StatusCode::UNAUTHORIZED, None));
    }
    // The fourth try is refused before the credentials are looked at, even the right ones.
    let (status, retry, body) = login(&app, "192.0.2.1", "ci-a", TOKEN).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let retry: u64 = retry.unwrap().parse().unwrap();
    assert!((119..=120).contains(&retry), "{retry}");
    assert_eq!(body["errors"][0]["code"], "TOOMANYREQUESTS");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too many failed logins"),
        "{body}"
    );
    // Per user: ci-a from another address is refused too.
    let (status, _, _) = login(&app, "192.0.2.2", "ci-a", TOKEN).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Per address: another user from the same address is refused.
    let (status, _, _) = login(&app, "192.0.2.1", "ci-b", TOKEN).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Another user from another address is not affected (the first X-Forwarded-For entry,
    // which a client can write, is not the address).
    let (status, _, _) = login(&app, "192.0.2.2", "ci-b", TOKEN).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn without_a_header_the_peer_address_is_the_client_address() {
    let files = Files::new();
    let app = app_with(
        &files,
        "failed_logins: {max_failures: 1, window_seconds: 60}",
    );
    let send = |peer: [u8; 4], user: &str, password: &str| {
        let mut req = Request::get("/token?service=images.example")
            .header("host", "images.example")
            .header("authorization", basic(user, password))
            .body(Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                peer, 40000,
            ))));
        app.clone().oneshot(req)
    };
    let resp = send([192, 0, 2, 1], "ci-a", "guess").await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = send([192, 0, 2, 1], "ci-b", TOKEN).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let resp = send([192, 0, 2, 9], "ci-b", TOKEN).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn auth_settings_are_reloaded_and_tokens_already_issued_stay_valid() {
    let files = Files::new();
    let tokens = files.write(
        "tokens.yaml",
        &format!(
            "tokens: [{{principal: ci-a, sha256: {}, projects: {{proj-a: [pull]}}}}]\n",
            sha256_hex(TOKEN)
        ),
    );
    let config = |auth: &str| {
        let auth = if auth.is_empty() {
            String::new()
        } else {
            format!("auth: {{tokens_file: '{}', {auth}}}\n", tokens.display())
        };
        Config::from_yaml(&format!(
            "{auth}routes: [{{name: a, host: images.example, upstream: 'http://127.0.0.1:1', upstream_prefix: proj-a}}]\n"
        ))
        .unwrap()
    };
    let state = dns01_registry_gateway::State::new(config("token_lifetime_seconds: 300")).unwrap();
    let app = router(state.clone());
    let lifetime = |app: &axum::Router| {
        let app = app.clone();
        async move {
            let (status, _, body) = call(
                &app,
                "images.example",
                "/token?service=images.example",
                Some(basic("ci-a", TOKEN)),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["expires_in"].as_u64().unwrap()
        }
    };
    assert_eq!(lifetime(&app).await, 300);
    let before = token_of(&app).await;

    state
        .reload(config(
            "token_lifetime_seconds: 600, failed_logins: {max_failures: 1, window_seconds: 60}",
        ))
        .unwrap();
    assert_eq!(lifetime(&app).await, 600);
    // The per-process key is kept: a token issued before the reload still works.
    let (status, _, _) = call(
        &app,
        "images.example",
        "/v2/",
        Some(format!("Bearer {before}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The new limit applies at once.
    let (status, _, _) = call(
        &app,
        "images.example",
        "/token?service=images.example",
        Some(basic("ci-a", "wrong")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(
        &app,
        "images.example",
        "/token?service=images.example",
        Some(basic("ci-a", TOKEN)),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // A configuration that cannot load changes nothing: no Kubernetes client here.
    let refused = state
        .reload(config("kubernetes: {permissions: [pull]}"))
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("auth.kubernetes") && refused.contains("restart"),
        "{refused}"
    );
    let (status, _, _) = call(
        &app,
        "images.example",
        "/token?service=images.example",
        Some(basic("ci-a", TOKEN)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the running limiter stays"
    );

    // Without `auth` the gateway turns anonymous.
    state.reload(config("")).unwrap();
    let (status, _, _) = call(&app, "images.example", "/v2/", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) =
        call(&app, "images.example", "/token", Some(basic("ci-a", TOKEN))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[test]
fn the_configuration_the_helm_chart_renders_loads() {
    // deploy/tests checks this file equals the chart's rendering with its example values.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/registry-gateway/chart-config.yaml"
    ))
    .unwrap();
    let config = Config::from_yaml(&text).unwrap();
    let auth = config.auth.unwrap();
    assert_eq!(
        auth.tokens_file,
        std::path::Path::new("/etc/gateway/tokens/tokens.yaml")
    );
    assert_eq!(
        auth.signing_key_file.as_deref(),
        Some(std::path::Path::new("/etc/gateway/signing-key/key"))
    );
    assert_eq!(auth.failed_logins.max_failures, 5);
    assert_eq!(
        auth.failed_logins.client_address_header.unwrap().as_str(),
        "x-forwarded-for"
    );
    assert!(auth.kubernetes.is_some());
    assert_eq!(config.routes.len(), 2);
    assert_eq!(config.timeouts.upstream_read_seconds, 120);
}
