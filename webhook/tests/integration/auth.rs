//! Authentication and authorisation over real TLS, with the Kubernetes API faked.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: panics are failures

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Extension, Request};
use axum::routing::{get, post};
use dns01_testkit::kubefake::{FakeUser, KubeFake, SarRule, authentication_configmap};
use dns01_testkit::pki::{TestCa, TestCert};
use dns01_webhook::auth::{self, AuthConfigSource, Authenticator, UserInfo};
use dns01_webhook::server::ServeOptions;
use dns01_webhook::tls;
use serde_json::Value;

use crate::tls::{TestServer, start_server};

const GROUP: &str = "acme.example.com";
const SOLVE: &str = "/apis/acme.example.com/v1alpha1/gandi";
const FRONT_PROXY_CN: &str = "front-proxy-client";

struct Env {
    fake: KubeFake,
    front_ca: TestCa,
    client_ca: TestCa,
    serving_ca: TestCa,
    hits: Arc<AtomicUsize>,
    server: TestServer,
    source: Arc<AuthConfigSource>,
    authenticator: Arc<Authenticator>,
}

async fn handler(
    hits: Arc<AtomicUsize>,
    user: Option<Extension<Arc<UserInfo>>>,
    req: Request,
) -> axum::Json<Value> {
    hits.fetch_add(1, Ordering::SeqCst);
    axum::Json(serde_json::json!({
        "user": user.map(|Extension(u)| UserInfo::clone(&u)),
        "sawRemoteUser": req.headers().contains_key("x-remote-user"),
        "sawAuthorization": req.headers().contains_key("authorization"),
        "sawPeerCertificates": req.extensions().get::<tls::PeerCertificates>().is_some(),
    }))
}

async fn env_with(allowed_names: &[&str]) -> Env {
    env_with_options(allowed_names, auth::AuthOptions::default()).await
}

async fn env_with_options(allowed_names: &[&str], options: auth::AuthOptions) -> Env {
    env_serving(allowed_names, options, |authenticator, hits| {
        let (h1, h2) = (hits.clone(), hits);
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(|| async { "ok" }))
            .route(SOLVE, post(move |u, r| handler(h1, u, r)))
            .route(
                "/apis/acme.example.com/v1alpha1",
                get(move |u, r| handler(h2, u, r)),
            )
            .layer(axum::middleware::from_fn_with_state(
                auth::AuthState { authenticator },
                auth::middleware,
            ))
    })
    .await
}

/// A server of `app`, made from the authenticator and the handlers' hit counter.
async fn env_serving(
    allowed_names: &[&str],
    options: auth::AuthOptions,
    app: impl FnOnce(Arc<Authenticator>, Arc<AtomicUsize>) -> Router,
) -> Env {
    let fake = KubeFake::start().await;
    let front_ca = TestCa::new("front-proxy-ca");
    let client_ca = TestCa::new("cluster client ca");
    let serving_ca = TestCa::new("serving ca");
    fake.set_configmap(
        "kube-system",
        "extension-apiserver-authentication",
        authentication_configmap(Some(&front_ca), Some(&client_ca), allowed_names),
    );
    let kube = crate::common::kube_client(&fake);
    let source = AuthConfigSource::from_configmap(kube.clone())
        .await
        .unwrap();
    let authenticator = Arc::new(Authenticator::with_options(
        source.clone(),
        Some(kube),
        options,
    ));
    let hits = Arc::new(AtomicUsize::new(0));
    let router = app(authenticator.clone(), hits.clone());
    let serving = serving_ca.server_cert(&[]);
    let key = tls::certified_key_from_pem(serving.cert_pem.as_bytes(), serving.key_pem.as_bytes())
        .unwrap();
    let config =
        tls::server_config(Arc::new(rustls::sign::SingleCertAndKey::from(key)), true).unwrap();
    let server = start_server(config, router, ServeOptions::default()).await;
    Env {
        fake,
        front_ca,
        client_ca,
        serving_ca,
        hits,
        server,
        source,
        authenticator,
    }
}

async fn env() -> Env {
    env_with(&[FRONT_PROXY_CN]).await
}

impl Env {
    /// Sends the golden Present payload to `path` with `method`, as alice through the front
    /// proxy when `identity` is its certificate; the status, `Allow` header and JSON body.
    async fn present_as_alice(
        &self,
        method: reqwest::Method,
        path: &str,
        identity: Option<&TestCert>,
    ) -> (u16, Option<reqwest::header::HeaderValue>, Value) {
        let present = crate::support::golden("challenge/present.json").to_string();
        let mut request = self
            .client(identity)
            .request(method, self.url(path))
            .body(present);
        for (k, v) in alice_headers() {
            request = request.header(k, v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let allow = response.headers().get("allow").cloned();
        (status, allow, response.json::<Value>().await.unwrap())
    }

    fn client(&self, identity: Option<&TestCert>) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.serving_ca.cert_pem().as_bytes()).unwrap(),
            );
        if let Some(cert) = identity {
            builder = builder
                .identity(reqwest::Identity::from_pem(cert.identity_pem().as_bytes()).unwrap());
        }
        builder.build().unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.server.addr.port())
    }

    fn front_proxy_cert(&self) -> TestCert {
        self.front_ca.client_cert(FRONT_PROXY_CN, &[])
    }

    async fn post(&self, identity: Option<&TestCert>, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self.client(identity).post(self.url(SOLVE)).body("{}");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn alice_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("X-Remote-User", "alice"),
        ("X-Remote-Group", "team-a"),
        ("X-Remote-Extra-Scopes", "dns"),
    ]
}

fn assert_unauthorized(status: u16, body: &Value) {
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "Unauthorized");
    assert_eq!(body["code"], 401);
}

#[tokio::test]
async fn a_front_proxy_certificate_with_an_allowed_cn_authenticates_the_header_user() {
    let env = env().await;
    env.fake
        .allow(SarRule::user("alice", "create", GROUP, "gandi"));
    let (status, body) = env
        .post(Some(&env.front_proxy_cert()), &alice_headers())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["username"], "alice");
    assert_eq!(body["user"]["groups"], serde_json::json!(["team-a"]));
    assert_eq!(body["user"]["extra"]["scopes"], serde_json::json!(["dns"]));
    assert_eq!(
        body["sawRemoteUser"], false,
        "identity headers reached the handler"
    );
    assert_eq!(body["sawPeerCertificates"], true);
    let sars = env.fake.sar_requests();
    assert_eq!(sars.len(), 1);
    assert_eq!(sars[0]["user"], "alice");
    assert_eq!(sars[0]["groups"], serde_json::json!(["team-a"]));
    assert_eq!(sars[0]["resourceAttributes"]["verb"], "create");
    assert_eq!(sars[0]["resourceAttributes"]["group"], GROUP);
    assert_eq!(sars[0]["resourceAttributes"]["resource"], "gandi");
}

#[tokio::test]
async fn a_request_without_certificate_or_token_gets_401_with_a_status_body() {
    let env = env().await;
    let (status, body) = env.post(None, &[]).await;
    assert_unauthorized(status, &body);
    assert_eq!(env.hits(), 0);
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_gets_401_and_the_handler_never_runs() {
    let env = env().await;
    env.fake.allow(SarRule {
        subject: dns01_testkit::kubefake::SarSubject::Any,
        verb: "*".into(),
        group: "*".into(),
        resource: "*".into(),
    });
    let stranger = TestCa::new("front-proxy-ca").client_cert(FRONT_PROXY_CN, &["system:masters"]);
    let (status, body) = env.post(Some(&stranger), &alice_headers()).await;
    assert_unauthorized(status, &body);
    assert_eq!(env.hits(), 0);
    assert_eq!(env.fake.sar_count(), 0);
}

#[tokio::test]
async fn a_requestheader_certificate_with_a_disallowed_cn_gets_401() {
    let env = env().await;
    env.fake
        .allow(SarRule::user("alice", "create", GROUP, "gandi"));
    let other = env.front_ca.client_cert("someone-else", &[]);
    let (status, body) = env.post(Some(&other), &alice_headers()).await;
    assert_unauthorized(status, &body);
    assert_eq!(env.hits(), 0);
}

#[tokio::test]
async fn an_empty_allowed_names_list_accepts_any_cn_the_requestheader_ca_signed() {
    let env = env_with(&[]).await;
    env.fake
        .allow(SarRule::user("alice", "create", GROUP, "gandi"));
    let other = env.front_ca.client_cert("any-proxy", &[]);
    let (status, body) = env.post(Some(&other), &alice_headers()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["username"], "alice");
}

#[tokio::test]
async fn forged_identity_headers_without_a_certificate_get_401_and_never_reach_sar() {
    let env = env().await;
    env.fake
        .allow(SarRule::user("admin", "create", GROUP, "gandi"));
    let (status, body) = env
        .post(
            None,
            &[
                ("X-Remote-User", "admin"),
                ("X-Remote-Group", "system:masters"),
            ],
        )
        .await;
    assert_unauthorized(status, &body);
    assert_eq!(env.fake.sar_count(), 0);
    assert_eq!(env.hits(), 0);
}

#[tokio::test]
async fn a_client_ca_certificate_authenticates_as_cn_and_o_and_headers_are_ignored() {
    let env = env().await;
    env.fake
        .allow(SarRule::user("bob", "create", GROUP, "gandi"));
    let bob = env.client_ca.client_cert("bob", &["ops"]);
    let (status, body) = env
        .post(
            Some(&bob),
            &[
                ("X-Remote-User", "admin"),
                ("X-Remote-Group", "system:masters"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["username"], "bob");
    assert_eq!(body["user"]["groups"], serde_json::json!(["ops"]));
    let sars = env.fake.sar_requests();
    assert_eq!(
        sars.len(),
        1,
        "system:masters from a header must not skip SAR"
    );
    assert_eq!(sars[0]["user"], "bob");
}

#[tokio::test]
async fn a_client_ca_certificate_named_like_the_front_proxy_cannot_assert_identity_headers() {
    let env = env().await;
    env.fake
        .allow(SarRule::user("alice", "create", GROUP, "gandi"));
    let impostor = env.client_ca.client_cert(FRONT_PROXY_CN, &[]);
    let (status, body) = env.post(Some(&impostor), &alice_headers()).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains(FRONT_PROXY_CN),
        "{body}"
    );
    assert_eq!(env.fake.sar_requests()[0]["user"], FRONT_PROXY_CN);
    assert_eq!(env.hits(), 0);
}

#[tokio::test]
async fn bearer_tokens_are_checked_with_a_cached_token_review() {
    let env = env().await;
    env.fake.add_token(
        "good-token",
        FakeUser::new(
            "system:serviceaccount:cert-manager:cert-manager",
            &["system:serviceaccounts"],
        ),
    );
    env.fake.allow(SarRule::group(
        "system:serviceaccounts",
        "create",
        GROUP,
        "gandi",
    ));
    let good = [("Authorization", "Bearer good-token")];
    let (status, body) = env.post(None, &good).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["user"]["username"],
        "system:serviceaccount:cert-manager:cert-manager"
    );
    assert_eq!(body["sawAuthorization"], false);
    let (status, _) = env.post(None, &good).await;
    assert_eq!(status, 200);
    assert_eq!(
        env.fake.token_review_count(),
        1,
        "the second request should use the cache"
    );

    let (status, body) = env
        .post(None, &[("Authorization", "Bearer bad-token")])
        .await;
    assert_unauthorized(status, &body);
    assert_eq!(env.fake.token_review_count(), 2);
    assert_eq!(env.hits(), 2);
}

#[tokio::test]
async fn a_sar_denial_gives_403_with_a_status_naming_user_verb_group_and_resource() {
    let env = env().await;
    let (status, body) = env
        .post(Some(&env.front_proxy_cert()), &alice_headers())
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "Forbidden");
    let message = body["message"].as_str().unwrap();
    for part in [
        "\"alice\"",
        "create",
        GROUP,
        "\"gandi\"",
        "no fake rule allows it",
    ] {
        assert!(message.contains(part), "{message} lacks {part}");
    }
    assert_eq!(body["details"]["group"], GROUP);
    assert_eq!(body["details"]["kind"], "gandi");
    assert_eq!(env.hits(), 0);
}

#[tokio::test]
async fn system_masters_skips_the_subject_access_review() {
    let env = env().await;
    let (status, body) = env
        .post(
            Some(&env.front_proxy_cert()),
            &[
                ("X-Remote-User", "kube-admin"),
                ("X-Remote-Group", "system:masters"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(env.fake.sar_count(), 0);
}

#[tokio::test]
async fn allow_and_deny_decisions_are_cached() {
    let env = env().await;
    env.fake
        .allow(SarRule::user("alice", "create", GROUP, "gandi"));
    let proxy = env.front_proxy_cert();
    assert_eq!(env.post(Some(&proxy), &alice_headers()).await.0, 200);
    assert_eq!(env.post(Some(&proxy), &alice_headers()).await.0, 200);
    assert_eq!(env.fake.sar_count(), 1);
    let mallory = [("X-Remote-User", "mallory")];
    assert_eq!(env.post(Some(&proxy), &mallory).await.0, 403);
    assert_eq!(env.post(Some(&proxy), &mallory).await.0, 403);
    assert_eq!(env.fake.sar_count(), 2);
}

#[tokio::test]
async fn repeated_requests_through_one_front_proxy_keep_their_own_identity() {
    let env = env().await;
    for user in ["alice", "bob"] {
        env.fake
            .allow(SarRule::user(user, "create", GROUP, "gandi"));
    }
    let proxy = env.front_proxy_cert();
    // The first request asks for a decision, the others find it cached.
    for round in 0..3 {
        let (status, body) = env.post(Some(&proxy), &alice_headers()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["user"]["username"], "alice", "round {round}");
        assert_eq!(body["user"]["extra"]["scopes"], serde_json::json!(["dns"]));
        assert_eq!(
            body["sawRemoteUser"], false,
            "identity headers reached the handler"
        );
    }
    assert_eq!(env.fake.sar_count(), 1);
    // Same front proxy, same path: another user, or the same user with another group, is
    // another identity, decided on its own.
    let bob = [("X-Remote-User", "bob"), ("X-Remote-Group", "team-a")];
    let (status, body) = env.post(Some(&proxy), &bob).await;
    assert_eq!(
        (status, &body["user"]["username"]),
        (200, &Value::from("bob"))
    );
    let mut alice_more = alice_headers();
    alice_more.push(("X-Remote-Group", "team-b"));
    let (status, body) = env.post(Some(&proxy), &alice_more).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["user"]["groups"],
        serde_json::json!(["team-a", "team-b"])
    );
    let sars = env.fake.sar_requests();
    assert_eq!(sars.len(), 3);
    assert_eq!(sars[1]["user"], "bob");
    assert_eq!(sars[2]["groups"], serde_json::json!(["team-a", "team-b"]));
    let mallory = [("X-Remote-User", "mallory")];
    for _ in 0..3 {
        assert_eq!(env.post(Some(&proxy), &mallory).await.0, 403);
    }
}

/// Allows alice, and sends her request until her decision is cached; returns the front
/// proxy's certificate it was sent with.
async fn allow_alice(env: &Env) -> TestCert {
    env.fake
        .allow(SarRule::user("alice", "create", GROUP, "gandi"));
    let proxy = env.front_proxy_cert();
    for _ in 0..2 {
        assert_eq!(env.post(Some(&proxy), &alice_headers()).await.0, 200);
    }
    assert_eq!(env.fake.sar_count(), 1);
    proxy
}

#[tokio::test]
async fn a_revoked_permission_applies_once_the_cached_decision_expires() {
    let options = auth::AuthOptions {
        allow_cache_ttl: Duration::from_millis(300),
        ..auth::AuthOptions::default()
    };
    let env = env_with_options(&[FRONT_PROXY_CN], options).await;
    let proxy = allow_alice(&env).await;
    env.fake.revoke_all();
    // Still allowed while the decision is cached...
    assert_eq!(env.post(Some(&proxy), &alice_headers()).await.0, 200);
    tokio::time::sleep(Duration::from_millis(350)).await;
    // ...and asked again once it expires.
    let (status, body) = env.post(Some(&proxy), &alice_headers()).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(env.fake.sar_count(), 2);
}

/// The webhook's state with a memory solver under each of `names`, checked by `authenticator`.
fn memory_solvers(authenticator: Arc<Authenticator>, names: &[&str]) -> dns01_webhook::AppState {
    use dns01_webhook::solver::{Solvers, memory::MemorySolver};

    let zone = dns01_core::ZoneName::parse("example.com").unwrap();
    let mut solvers = Solvers::new();
    for name in names {
        solvers.insert(
            (*name).into(),
            Arc::new(MemorySolver::new(vec![zone.clone()])),
        );
    }
    let mut state = dns01_webhook::AppState::new(GROUP, solvers);
    state.auth = Some(authenticator);
    state
}

/// The webhook's router as the binary serves it: a challenge request is refused without
/// credentials (401) and without permission (403, before the method is looked at), answered
/// once allowed, refused again once the permission is revoked and its cached decision expired,
/// and a GET allowed by RBAC is a 405 naming POST.
#[tokio::test]
async fn the_webhooks_solver_route_is_authenticated_and_authorised() {
    // Denials are not cached, so that alice is let through as soon as she is allowed.
    let options = auth::AuthOptions {
        allow_cache_ttl: Duration::from_millis(300),
        deny_cache_ttl: Duration::ZERO,
        ..auth::AuthOptions::default()
    };
    let env = env_serving(&[FRONT_PROXY_CN], options, |authenticator, _| {
        dns01_webhook::router(memory_solvers(authenticator, &["gandi"]))
    })
    .await;
    let proxy = env.front_proxy_cert();
    for method in [reqwest::Method::POST, reqwest::Method::GET] {
        let (status, _, body) = env.present_as_alice(method.clone(), SOLVE, None).await;
        assert_unauthorized(status, &body);
        let (status, _, body) = env.present_as_alice(method, SOLVE, Some(&proxy)).await;
        assert_eq!(status, 403, "{body}");
    }
    env.fake.allow(SarRule::user("alice", "create", GROUP, "*"));
    // Allowed to create, not to read: the method is refused by authorisation first.
    let (status, _, body) = env
        .present_as_alice(reqwest::Method::POST, SOLVE, Some(&proxy))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["response"]["success"], true, "{body}");
    let (status, _, body) = env
        .present_as_alice(reqwest::Method::GET, SOLVE, Some(&proxy))
        .await;
    assert_eq!(status, 403, "{body}");
    env.fake.revoke_all();
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (status, _, body) = env
        .present_as_alice(reqwest::Method::POST, SOLVE, Some(&proxy))
        .await;
    assert_eq!(status, 403, "{body}");
    // Allowed to read, the wrong method is a 405 naming the right one.
    env.fake.allow(SarRule::user("alice", "*", GROUP, "*"));
    let (status, allow, body) = env
        .present_as_alice(reqwest::Method::GET, SOLVE, Some(&proxy))
        .await;
    assert_eq!(
        (status, allow),
        (405, Some("POST".parse().unwrap())),
        "{body}"
    );
    assert_eq!(body["reason"], "MethodNotAllowed", "{body}");
}

/// A solver name with escaped characters reaches the router's parametrised route, which serves
/// the decoded name; authorisation reads the path decoded too, as kube-apiserver does, so the
/// RBAC rule that counts is the one for the name served, never one for the escaped spelling.
#[tokio::test]
async fn an_escaped_solver_name_is_authorised_as_the_solver_it_is_served_as() {
    let options = auth::AuthOptions {
        allow_cache_ttl: Duration::ZERO,
        deny_cache_ttl: Duration::ZERO,
        ..auth::AuthOptions::default()
    };
    let env = env_serving(&[FRONT_PROXY_CN], options, |authenticator, _| {
        dns01_webhook::router(memory_solvers(authenticator, &["gandi"]))
    })
    .await;
    let escaped = "/apis/acme.example.com/v1alpha1/g%61ndi";
    let proxy = env.front_proxy_cert();
    let post = || async {
        let (status, _, body) = env
            .present_as_alice(reqwest::Method::POST, escaped, Some(&proxy))
            .await;
        (status, body)
    };
    // Allowed to create only the escaped spelling: refused.
    env.fake
        .allow(SarRule::user("alice", "create", GROUP, "g%61ndi"));
    let (status, body) = post().await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("\"gandi\""),
        "the refusal names the decoded resource: {body}"
    );
    // Allowed to create `gandi`: served, by the `gandi` solver.
    env.fake.revoke_all();
    env.fake
        .allow(SarRule::user("alice", "create", GROUP, "gandi"));
    let (status, body) = post().await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["response"]["success"], true, "{body}");
}

#[tokio::test]
async fn a_new_configuration_applies_to_an_identity_already_allowed() {
    let env = env().await;
    let proxy = allow_alice(&env).await;
    env.fake.set_configmap(
        "kube-system",
        "extension-apiserver-authentication",
        authentication_configmap(Some(&env.front_ca), Some(&env.client_ca), &["new-proxy"]),
    );
    assert!(env.source.refresh().await.unwrap());
    let (status, body) = env.post(Some(&proxy), &alice_headers()).await;
    assert_unauthorized(status, &body);
}

#[tokio::test]
async fn health_paths_answer_without_authentication() {
    let env = env().await;
    for path in ["/healthz", "/readyz"] {
        let response = env.client(None).get(env.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
    assert!(
        env.fake
            .requests()
            .iter()
            .all(|r| !r.path.contains("review"))
    );
}

#[tokio::test]
async fn discovery_is_open_to_any_authenticated_user_and_closed_to_anonymous() {
    let env = env().await;
    let url = env.url("/apis/acme.example.com/v1alpha1");
    let anonymous = env.client(None).get(&url).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let response = env
        .client(Some(&env.front_proxy_cert()))
        .get(&url)
        .header("X-Remote-User", "someone")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(env.fake.sar_count(), 0);
}

#[tokio::test]
async fn a_changed_configmap_is_picked_up_on_refresh() {
    let env = env().await;
    env.fake
        .allow(SarRule::user("alice", "create", GROUP, "gandi"));
    let new_proxy = env.front_ca.client_cert("new-proxy", &[]);
    assert_eq!(env.post(Some(&new_proxy), &alice_headers()).await.0, 401);
    env.fake.set_configmap(
        "kube-system",
        "extension-apiserver-authentication",
        authentication_configmap(Some(&env.front_ca), Some(&env.client_ca), &["new-proxy"]),
    );
    assert!(env.source.refresh().await.unwrap());
    assert!(
        !env.source.refresh().await.unwrap(),
        "an unchanged ConfigMap is not a change"
    );
    assert_eq!(env.post(Some(&new_proxy), &alice_headers()).await.0, 200);
    assert_eq!(
        env.post(Some(&env.front_proxy_cert()), &alice_headers())
            .await
            .0,
        401
    );
}

/// The webhook follows the ConfigMap with a watch: a new requestheader CA and new allowed
/// names apply within seconds, without a restart and without anyone calling `refresh`.
#[tokio::test]
async fn a_configmap_change_is_followed_by_the_watch_without_a_restart() {
    let env = env().await;
    env.fake
        .allow(SarRule::user("alice", "create", GROUP, "gandi"));
    let _watch = env.source.spawn_watch();
    let new_front_ca = TestCa::new("rotated front-proxy-ca");
    let new_proxy = new_front_ca.client_cert("new-proxy", &[]);
    assert_eq!(env.post(Some(&new_proxy), &alice_headers()).await.0, 401);
    assert_eq!(
        env.post(Some(&env.front_proxy_cert()), &alice_headers())
            .await
            .0,
        200
    );
    env.fake.set_configmap(
        "kube-system",
        "extension-apiserver-authentication",
        authentication_configmap(Some(&new_front_ca), Some(&env.client_ca), &["new-proxy"]),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while env.post(Some(&new_proxy), &alice_headers()).await.0 != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new CA and name were not in force within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        env.post(Some(&env.front_proxy_cert()), &alice_headers())
            .await
            .0,
        401,
        "the old front proxy is refused"
    );
    // An invalid update and a deletion keep the configuration in force.
    let mut broken = authentication_configmap(Some(&env.front_ca), None, &[FRONT_PROXY_CN]);
    broken.insert("requestheader-allowed-names".into(), "not json".into());
    env.fake
        .set_configmap("kube-system", "extension-apiserver-authentication", broken);
    env.fake
        .delete_configmap("kube-system", "extension-apiserver-authentication");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.post(Some(&new_proxy), &alice_headers()).await.0, 200);
    let watches = env
        .fake
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/namespaces/kube-system/configmaps")
        .count();
    assert!(watches >= 2, "a list, then a watch: {watches}");
}

#[tokio::test]
async fn an_invalid_configmap_update_keeps_the_previous_configuration() {
    let env = env().await;
    env.fake
        .allow(SarRule::user("alice", "create", GROUP, "gandi"));
    let mut broken =
        authentication_configmap(Some(&env.front_ca), Some(&env.client_ca), &[FRONT_PROXY_CN]);
    broken.insert("requestheader-allowed-names".into(), "not json".into());
    env.fake
        .set_configmap("kube-system", "extension-apiserver-authentication", broken);
    assert!(env.source.refresh().await.is_err());
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        env.post(Some(&env.front_proxy_cert()), &alice_headers())
            .await
            .0,
        200
    );
}

fn configmap_config(front_ca: &TestCa, client_ca: &TestCa) -> auth::AuthConfig {
    auth::AuthConfig::from_configmap_data(&authentication_configmap(
        Some(front_ca),
        Some(client_ca),
        &[FRONT_PROXY_CN],
    ))
    .unwrap()
}

/// Chains are verified per request against the configuration in force then: a rotated
/// front-proxy CA refuses the old chain at the next request and accepts the new one, and
/// rotating back accepts the old chain again.
#[tokio::test]
async fn a_changed_front_proxy_ca_applies_to_the_next_request() {
    let env = env().await;
    env.fake
        .allow(SarRule::user("alice", "create", GROUP, "gandi"));
    let proxy = env.front_proxy_cert();
    // Each post uses a new client, hence a new TLS connection presenting the same chain.
    for _ in 0..2 {
        assert_eq!(env.post(Some(&proxy), &alice_headers()).await.0, 200);
    }
    let rotated = TestCa::new("front-proxy-ca");
    env.source
        .replace(configmap_config(&rotated, &env.client_ca))
        .unwrap();
    let (status, body) = env.post(Some(&proxy), &alice_headers()).await;
    assert_unauthorized(status, &body);
    let new_proxy = rotated.client_cert(FRONT_PROXY_CN, &[]);
    assert_eq!(env.post(Some(&new_proxy), &alice_headers()).await.0, 200);
    env.source
        .replace(configmap_config(&env.front_ca, &env.client_ca))
        .unwrap();
    assert_eq!(env.post(Some(&proxy), &alice_headers()).await.0, 200);
    let (status, body) = env.post(Some(&new_proxy), &alice_headers()).await;
    assert_unauthorized(status, &body);
    assert_eq!(env.hits(), 4);
}

#[tokio::test]
async fn a_client_certificate_gives_its_cn_and_o_identity_on_every_request() {
    let env = env().await;
    env.fake
        .allow(SarRule::user("bob", "create", GROUP, "gandi"));
    let bob = env.client_ca.client_cert("bob", &["ops"]);
    for _ in 0..2 {
        let (status, body) = env.post(Some(&bob), &alice_headers()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["user"]["username"], "bob");
        assert_eq!(body["user"]["groups"], serde_json::json!(["ops"]));
    }
}

fn alice() -> UserInfo {
    UserInfo {
        username: "alice".into(),
        groups: vec!["team-a".into()],
        ..UserInfo::default()
    }
}

fn solve_attributes() -> auth::AccessAttributes {
    auth::AccessAttributes::Resource {
        verb: "create".into(),
        group: GROUP.into(),
        version: "v1alpha1".into(),
        resource: "gandi".into(),
    }
}

#[tokio::test]
async fn fifty_concurrent_authorisations_with_an_empty_cache_send_one_subject_access_review() {
    let env = env().await;
    env.fake
        .allow(SarRule::user("alice", "create", GROUP, "gandi"));
    let (user, attributes) = (alice(), solve_attributes());
    let decisions =
        futures::future::join_all((0..50).map(|_| env.authenticator.authorize(&user, &attributes)))
            .await;
    assert!(decisions.iter().all(|d| d.as_ref().unwrap().allowed));
    assert_eq!(env.fake.sar_count(), 1);
}

#[tokio::test]
async fn fifty_concurrent_denials_with_an_empty_cache_share_one_subject_access_review() {
    let env = env().await;
    let (user, attributes) = (alice(), solve_attributes());
    let decisions =
        futures::future::join_all((0..50).map(|_| env.authenticator.authorize(&user, &attributes)))
            .await;
    for decision in &decisions {
        let decision = decision.as_ref().unwrap();
        assert!(!decision.allowed);
        assert!(
            decision.reason.contains("no fake rule allows it"),
            "{decision:?}"
        );
    }
    assert_eq!(env.fake.sar_count(), 1);
}

#[tokio::test]
async fn fifty_concurrent_requests_share_one_subject_access_review_allow_or_deny() {
    let env = env().await;
    env.fake
        .allow(SarRule::user("alice", "create", GROUP, "gandi"));
    let proxy = env.front_proxy_cert();
    let client = env.client(Some(&proxy));
    let send = |user: &'static str| {
        client
            .post(env.url(SOLVE))
            .header("X-Remote-User", user)
            .body("{}")
            .send()
    };
    let allowed = futures::future::join_all((0..50).map(|_| send("alice"))).await;
    assert!(allowed.iter().all(|r| r.as_ref().unwrap().status() == 200));
    assert_eq!(env.fake.sar_count(), 1);
    let denied = futures::future::join_all((0..50).map(|_| send("mallory"))).await;
    assert!(denied.iter().all(|r| r.as_ref().unwrap().status() == 403));
    assert_eq!(env.fake.sar_count(), 2);
    assert_eq!(env.hits(), 50);
}

#[tokio::test]
async fn fifty_concurrent_requests_with_one_new_token_send_one_token_review() {
    let env = env().await;
    env.fake.add_token(
        "good-token",
        FakeUser::new("carol", &["system:serviceaccounts"]),
    );
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", "Bearer good-token".parse().unwrap());
    let users =
        futures::future::join_all((0..50).map(|_| env.authenticator.authenticate(None, &headers)))
            .await;
    for user in users {
        assert_eq!(user.unwrap().unwrap().username, "carol");
    }
    assert_eq!(env.fake.token_review_count(), 1);
}
