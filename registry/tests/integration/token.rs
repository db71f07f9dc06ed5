//! Distribution in `auth.token` mode, with this crate's `jwt` module minting the tokens:
//! a small token endpoint (axum, its own thread) grants `alice` what she asks for and
//! anonymous callers nothing. Distribution accepting the tokens shows the libtrust `kid`,
//! the string `aud` and the ES256 signature are what it checks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dns01_registry::auth::parse_scopes;
use dns01_registry::jwt::{Access, Claims, SigningKey};
use dns01_registry::{Client, Credentials, Error, Reference, TokenResponse};
use dns01_testkit::registry::{Registry, RegistryConfig, TokenAuth};

use crate::support::{image, repo};

const SERVICE: &str = "dns01-test-registry";
const ISSUER: &str = "dns01-test-issuer";
const PASSWORD: &str = "alice-s3cr3t";

/// What the token endpoint was asked.
#[derive(Debug, Clone)]
struct Asked {
    account: Option<String>,
    user: Option<String>,
    scopes: Vec<String>,
}

struct Issuer {
    key: SigningKey,
    asked: Mutex<Vec<Asked>>,
}

async fn token(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let scope_values = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.as_str());
    let Ok(scopes) = parse_scopes(scope_values) else {
        return (StatusCode::BAD_REQUEST, "bad scope").into_response();
    };
    let user = match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        None => None,
        Some(v) => {
            let decoded = v
                .strip_prefix("Basic ")
                .and_then(|b| data_encoding::BASE64.decode(b.as_bytes()).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            match decoded.as_deref().and_then(|d| d.split_once(':')) {
                Some(("alice", PASSWORD)) => Some("alice".to_owned()),
                _ => return (StatusCode::UNAUTHORIZED, "bad credentials").into_response(),
            }
        }
    };
    issuer.asked.lock().unwrap().push(Asked {
        account: pairs
            .iter()
            .find(|(k, _)| k == "account")
            .map(|(_, v)| v.clone()),
        user: user.clone(),
        scopes: scopes.iter().map(ToString::to_string).collect(),
    });
    let access: Vec<Access> = if user.is_some() {
        scopes.iter().map(Access::from).collect()
    } else {
        Vec::new()
    };
    let claims = Claims::new(
        ISSUER,
        SERVICE,
        user.as_deref().unwrap_or(""),
        access,
        Duration::from_secs(300),
    );
    let jwt = issuer.key.sign(&claims).unwrap();
    (
        [("content-type", "application/json")],
        TokenResponse::new(&jwt, 300, None).to_json(),
    )
        .into_response()
}

/// A token endpoint on its own thread and runtime (tests block on skopeo meanwhile).
fn token_server(key: SigningKey) -> (String, Arc<Issuer>) {
    let issuer = Arc::new(Issuer {
        key,
        asked: Mutex::new(Vec::new()),
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let realm = format!("http://{}/token", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/token", axum::routing::get(token))
        .with_state(issuer.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (realm, issuer)
}

/// A key pair and its self-signed certificate (the registry's `rootcertbundle`).
fn signing_key() -> (SigningKey, String) {
    let pair = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["dns01-token-signer".to_owned()])
        .unwrap()
        .self_signed(&pair)
        .unwrap();
    (
        SigningKey::from_pkcs8_der(&pair.serialize_der()).unwrap(),
        cert.pem(),
    )
}

/// A token-mode registry trusting `trusted_pem`, tokens from a server signing with `key`.
fn token_registry(key: SigningKey, trusted_pem: String) -> (Registry, Arc<Issuer>) {
    let (realm, issuer) = token_server(key);
    let registry = Registry::start(RegistryConfig {
        token: Some(TokenAuth {
            realm,
            service: SERVICE.to_owned(),
            issuer: ISSUER.to_owned(),
            root_cert_bundle_pem: trusted_pem,
        }),
        ..RegistryConfig::default()
    })
    .unwrap();
    (registry, issuer)
}

fn alice(registry: &Registry) -> Client {
    Client::builder(&registry.url())
        .credentials(Credentials::new("alice", PASSWORD))
        .build()
        .unwrap()
}

#[tokio::test]
async fn with_credentials_the_client_gets_one_token_per_scope_and_reads_what_skopeo_pushed() {
    let (key, pem) = signing_key();
    let (registry, issuer) = token_registry(key, pem);
    let layout = image(&[500]);
    layout
        .push(
            "v1",
            &format!("{}/proj-a/app:v1", registry.host()),
            Some(&format!("alice:{PASSWORD}")),
        )
        .unwrap();
    let pushes = issuer.asked.lock().unwrap().len();
    assert!(pushes > 0, "skopeo went through the token endpoint");

    let client = alice(&registry);
    client.ping().await.unwrap();
    let app = repo("proj-a/app");
    let v1 = Reference::parse("v1").unwrap();
    let m = client.manifest_get(&app, &v1).await.unwrap();
    assert_eq!(m.digest.as_str(), layout.digest("v1").unwrap());
    let after_first = issuer.asked.lock().unwrap().len();
    client.manifest_head(&app, &v1).await.unwrap();
    client.manifest_get(&app, &v1).await.unwrap();
    assert_eq!(
        issuer.asked.lock().unwrap().len(),
        after_first,
        "the pull token is cached, not fetched again"
    );
    // The cached tokens (JWTs start `eyJ`) and the password never show in the client's Debug.
    let shown = format!("{client:?}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(
        !shown.contains("eyJ") && !shown.contains(PASSWORD),
        "{shown}"
    );
    let asked = issuer.asked.lock().unwrap().clone();
    let pull = asked.last().unwrap();
    assert_eq!(pull.scopes, ["repository:proj-a/app:pull"]);
    assert_eq!(pull.account.as_deref(), Some("alice"));
    assert_eq!(pull.user.as_deref(), Some("alice"));

    let catalog = client.catalog(None).await.unwrap();
    assert_eq!(catalog, std::slice::from_ref(&app));
    assert_eq!(
        issuer.asked.lock().unwrap().last().unwrap().scopes,
        ["registry:catalog:*"]
    );
    client
        .manifest_delete(&app, &Reference::Digest(m.digest.clone()))
        .await
        .unwrap();
    assert_eq!(
        issuer.asked.lock().unwrap().last().unwrap().scopes,
        ["repository:proj-a/app:delete"]
    );
}

#[tokio::test]
async fn without_credentials_the_registry_refuses_with_its_unauthorized_body() {
    let (key, pem) = signing_key();
    let (registry, issuer) = token_registry(key, pem);
    let client = Client::builder(&registry.url()).build().unwrap();
    let e = client.tags(&repo("proj-a/app"), None).await.unwrap_err();
    let Error::Unauthorized { message, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(message, "UNAUTHORIZED: authentication required");
    let asked = issuer.asked.lock().unwrap().clone();
    assert_eq!(
        asked.len(),
        1,
        "one anonymous token request, then the 401 is final"
    );
    assert_eq!(asked[0].user, None);
}

#[tokio::test]
async fn wrong_credentials_are_refused_at_the_token_endpoint_without_the_password_in_the_error() {
    let (key, pem) = signing_key();
    let (registry, _issuer) = token_registry(key, pem);
    let client = Client::builder(&registry.url())
        .credentials(Credentials::new("alice", "wrong-password"))
        .build()
        .unwrap();
    let e = client.ping().await.unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    let shown = format!("{e} {e:?}");
    assert!(shown.contains("/token"), "{shown}");
    assert!(!shown.contains("wrong-password"), "{shown}");
}

#[tokio::test]
async fn a_token_signed_by_a_key_the_registry_does_not_trust_is_refused() {
    let (_trusted, trusted_pem) = signing_key();
    let (untrusted, _) = signing_key();
    let (registry, issuer) = token_registry(untrusted, trusted_pem);
    let e = alice(&registry).ping().await.unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    assert_eq!(
        issuer.asked.lock().unwrap().len(),
        1,
        "a token was minted and refused"
    );
    assert!(
        registry.log().contains("token"),
        "the registry logs why it refused:\n{}",
        registry.log()
    );
}
