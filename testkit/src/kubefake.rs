//! A fake Kubernetes API server for tests: ConfigMaps, Secrets, TokenReview and
//! SubjectAccessReview from configurable state, ConfigMaps listed and watched the way kube-rs's
//! watcher asks (list with a `fieldSelector`, then `watch=true` from the list's
//! `resourceVersion`, events as JSON lines), and `coordination.k8s.io/v1` Leases with the
//! API server's optimistic concurrency (every write bumps `metadata.resourceVersion`; a create
//! of an existing Lease is 409 `AlreadyExists`, a replace or delete carrying a stale
//! `resourceVersion` is 409 `Conflict`), over plain HTTP or TLS, recording every request so
//! tests can count calls and inspect what was asked.
//!
//! ```no_run
//! # async fn demo() {
//! use dns01_testkit::kubefake::{KubeFake, FakeUser, SarRule};
//! let fake = KubeFake::start().await;
//! fake.add_token("t0ken", FakeUser::new("alice", &["team"]));
//! fake.allow(SarRule::user("alice", "create", "acme.example.com", "gandi"));
//! # }
//! ```

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use crate::pki::{TestCa, TestCert};

/// A user the fake's TokenReview returns for a token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeUser {
    /// User name.
    pub username: String,
    /// Uid.
    pub uid: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Extra.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl FakeUser {
    /// A user with a name and groups.
    pub fn new(username: &str, groups: &[&str]) -> Self {
        Self {
            username: username.to_owned(),
            uid: format!("uid-{username}"),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            extra: BTreeMap::new(),
        }
    }
}

/// Who a [`SarRule`] applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SarSubject {
    /// A user name.
    User(String),
    /// Members of a group.
    Group(String),
    /// Everyone.
    Any,
}

/// An "allow" rule for the fake's SubjectAccessReview. `"*"` in verb, group or resource
/// matches anything. Non-resource requests match rules with an empty group and
/// `resource` = the path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SarRule {
    /// Who.
    pub subject: SarSubject,
    /// Verb.
    pub verb: String,
    /// API group.
    pub group: String,
    /// Resource (or path for non-resource requests).
    pub resource: String,
}

impl SarRule {
    /// Allows user `user` to `verb` `resource` in `group`.
    pub fn user(user: &str, verb: &str, group: &str, resource: &str) -> Self {
        Self {
            subject: SarSubject::User(user.to_owned()),
            verb: verb.to_owned(),
            group: group.to_owned(),
            resource: resource.to_owned(),
        }
    }

    /// Allows members of `group_name` to `verb` `resource` in `group`.
    pub fn group(group_name: &str, verb: &str, group: &str, resource: &str) -> Self {
        Self {
            subject: SarSubject::Group(group_name.to_owned()),
            verb: verb.to_owned(),
            group: group.to_owned(),
            resource: resource.to_owned(),
        }
    }
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// The bearer token sent, if any.
    pub bearer: Option<String>,
    /// The DER client certificate presented (TLS mode), if any.
    pub client_cert: Option<Vec<u8>>,
    /// The server name the client asked for in its TLS hello (SNI), if any (TLS mode).
    pub server_name: Option<String>,
}

#[derive(Default)]
struct FakeState {
    configmaps: HashMap<(String, String), Value>,
    /// Every ConfigMap change, oldest first: (resourceVersion, namespace, watch event).
    configmap_events: Vec<(u64, String, Value)>,
    /// Told the last resourceVersion whenever a ConfigMap changes (watches wait on it).
    configmap_changed: Option<tokio::sync::watch::Sender<u64>>,
    secrets: HashMap<(String, String), BTreeMap<String, Vec<u8>>>,
    forbidden_secrets: HashSet<(String, String)>,
    tokens: HashMap<String, FakeUser>,
    rules: Vec<SarRule>,
    required_token: Option<String>,
    requests: Vec<RecordedRequest>,
    token_reviews: usize,
    sar_requests: Vec<Value>,
    leases: HashMap<(String, String), Value>,
    /// The last `resourceVersion` handed out (one counter for every kind, as etcd's revision).
    revision: u64,
}

impl FakeState {
    fn next_revision(&mut self) -> String {
        self.revision += 1;
        self.revision.to_string()
    }

    fn configmap_changes(&mut self) -> tokio::sync::watch::Receiver<u64> {
        self.configmap_changed
            .get_or_insert_with(|| tokio::sync::watch::Sender::new(0))
            .subscribe()
    }

    /// Stores (or with `None` deletes) a ConfigMap and records the watch event.
    fn put_configmap(&mut self, ns: &str, name: &str, data: Option<BTreeMap<String, String>>) {
        let key = (ns.to_owned(), name.to_owned());
        let revision = self.next_revision();
        let (kind, object) = match data {
            Some(data) => {
                let object = json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"namespace": ns, "name": name, "resourceVersion": revision},
                    "data": data,
                });
                let kind = if self.configmaps.contains_key(&key) {
                    "MODIFIED"
                } else {
                    "ADDED"
                };
                self.configmaps.insert(key, object.clone());
                (kind, object)
            }
            None => match self.configmaps.remove(&key) {
                Some(mut object) => {
                    object["metadata"]["resourceVersion"] = json!(revision);
                    ("DELETED", object)
                }
                None => return,
            },
        };
        self.configmap_events.push((
            self.revision,
            ns.to_owned(),
            json!({"type": kind, "object": object}),
        ));
        if let Some(tx) = &self.configmap_changed {
            tx.send_replace(self.revision);
        }
    }
}

type Shared = Arc<Mutex<FakeState>>;

/// A running fake API server; stops when dropped.
#[derive(Debug)]
pub struct KubeFake {
    addr: SocketAddr,
    tls: bool,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeState").finish_non_exhaustive()
    }
}

impl Drop for KubeFake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a TLS connection told about its client: certificate and SNI.
#[derive(Clone)]
struct ClientCert {
    cert: Option<Vec<u8>>,
    server_name: Option<String>,
}

fn status(code: StatusCode, reason: &str, message: String) -> Response {
    (
        code,
        axum::Json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code.as_u16(),
        })),
    )
        .into_response()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(ToOwned::to_owned)
}

async fn record(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let tls = request.extensions().get::<ClientCert>();
    let client_cert = tls.and_then(|c| c.cert.clone());
    let server_name = tls.and_then(|c| c.server_name.clone());
    let token = bearer(request.headers());
    {
        let mut s = state.lock().unwrap();
        s.requests.push(RecordedRequest {
            method: request.method().to_string(),
            path: request.uri().path().to_owned(),
            bearer: token.clone(),
            client_cert: client_cert.clone(),
            server_name,
        });
        if let Some(required) = &s.required_token
            && client_cert.is_none()
            && token.as_deref() != Some(required.as_str())
        {
            return status(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "Unauthorized".into(),
            );
        }
    }
    next.run(request).await
}

async fn get_configmap(
    State(state): State<Shared>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    let s = state.lock().unwrap();
    match s.configmaps.get(&(ns, name.clone())) {
        Some(object) => axum::Json(object.clone()).into_response(),
        None => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("configmaps \"{name}\" not found"),
        ),
    }
}

/// The name a `fieldSelector=metadata.name=<name>` selects, if that is the selector.
fn selected_name(query: &HashMap<String, String>) -> Option<&str> {
    query.get("fieldSelector")?.strip_prefix("metadata.name=")
}

/// `GET .../configmaps`: a list, or with `watch=true` a stream of events after the given
/// `resourceVersion`, ending after `timeoutSeconds` as the API server's watches do.
async fn list_or_watch_configmaps(
    State(state): State<Shared>,
    Path(ns): Path<String>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let name = selected_name(&query).map(ToOwned::to_owned);
    let wanted = move |event_ns: &str, object: &Value| {
        event_ns == ns
            && name
                .as_deref()
                .is_none_or(|n| object["metadata"]["name"] == n)
    };
    if query.get("watch").map(String::as_str) != Some("true") {
        let s = state.lock().unwrap();
        let mut items: Vec<Value> = s
            .configmaps
            .iter()
            .filter(|((item_ns, _), object)| wanted(item_ns, object))
            .map(|(_, object)| object.clone())
            .collect();
        items.sort_by_key(|o| o["metadata"]["name"].as_str().map(ToOwned::to_owned));
        return axum::Json(json!({
            "apiVersion": "v1", "kind": "ConfigMapList",
            "metadata": {"resourceVersion": s.revision.to_string()},
            "items": items,
        }))
        .into_response();
    }
    let since: u64 = query
        .get("resourceVersion")
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0);
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .map_or(
            std::time::Duration::from_secs(290),
            std::time::Duration::from_secs,
        );
    let deadline = tokio::time::Instant::now() + timeout;
    let changes = state.lock().unwrap().configmap_changes();
    let events = futures::stream::unfold(
        (since, changes, state),
        move |(mut last, mut changes, state)| {
            let wanted = wanted.clone();
            async move {
                loop {
                    let lines: String = {
                        let s = state.lock().unwrap();
                        let fresh: Vec<&(u64, String, Value)> = s
                            .configmap_events
                            .iter()
                            .filter(|(rv, _, _)| *rv > last)
                            .collect();
                        if let Some((rv, _, _)) = fresh.last() {
                            last = *rv;
                        }
                        fresh
                            .iter()
                            .filter(|(_, event_ns, event)| wanted(event_ns, &event["object"]))
                            .map(|(_, _, event)| format!("{event}\n"))
                            .collect()
                    };
                    if !lines.is_empty() {
                        let chunk =
                            Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(lines));
                        return Some((chunk, (last, changes, state)));
                    }
                    tokio::select! {
                        changed = changes.changed() => changed.ok()?,
                        () = tokio::time::sleep_until(deadline) => return None,
                    }
                }
            }
        },
    );
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(events))
        .unwrap()
}

async fn get_secret(
    State(state): State<Shared>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    let s = state.lock().unwrap();
    let key = (ns.clone(), name.clone());
    if s.forbidden_secrets.contains(&key) {
        return status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "secrets \"{name}\" is forbidden: User \"system:serviceaccount:x:y\" cannot get \
                 resource \"secrets\" in API group \"\" in the namespace \"{ns}\""
            ),
        );
    }
    match s.secrets.get(&key) {
        Some(data) => {
            let data: BTreeMap<&String, String> = data
                .iter()
                .map(|(k, v)| (k, base64::engine::general_purpose::STANDARD.encode(v)))
                .collect();
            axum::Json(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"namespace": ns, "name": name},
                "type": "Opaque",
                "data": data,
            }))
            .into_response()
        }
        None => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("secrets \"{name}\" not found"),
        ),
    }
}

async fn token_review(
    State(state): State<Shared>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = state.lock().unwrap();
    s.token_reviews += 1;
    let token = body["spec"]["token"].as_str().unwrap_or_default();
    let status = match s.tokens.get(token) {
        Some(user) => json!({
            "authenticated": true,
            "user": {"username": user.username, "uid": user.uid, "groups": user.groups, "extra": user.extra},
        }),
        None => json!({"authenticated": false, "error": "invalid bearer token"}),
    };
    axum::Json(json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "spec": {}, "status": status,
    }))
    .into_response()
}

fn rule_matches(rule: &SarRule, spec: &Value) -> bool {
    let user = spec["user"].as_str().unwrap_or_default();
    let groups: Vec<&str> = spec["groups"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let subject_ok = match &rule.subject {
        SarSubject::User(u) => u == user,
        SarSubject::Group(g) => groups.contains(&g.as_str()),
        SarSubject::Any => true,
    };
    let (verb, group, resource) = if spec["resourceAttributes"].is_object() {
        let ra = &spec["resourceAttributes"];
        (
            ra["verb"].as_str().unwrap_or_default(),
            ra["group"].as_str().unwrap_or_default(),
            ra["resource"].as_str().unwrap_or_default(),
        )
    } else {
        let na = &spec["nonResourceAttributes"];
        (
            na["verb"].as_str().unwrap_or_default(),
            "",
            na["path"].as_str().unwrap_or_default(),
        )
    };
    let field = |want: &str, got: &str| want == "*" || want == got;
    subject_ok
        && field(&rule.verb, verb)
        && field(&rule.group, group)
        && field(&rule.resource, resource)
}

async fn subject_access_review(
    State(state): State<Shared>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = state.lock().unwrap();
    let spec = body["spec"].clone();
    s.sar_requests.push(spec.clone());
    let allowed = s.rules.iter().any(|r| rule_matches(r, &spec));
    let status = if allowed {
        json!({"allowed": true, "reason": "allowed by fake rule"})
    } else {
        json!({"allowed": false, "reason": "no fake rule allows it"})
    };
    axum::Json(json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": spec, "status": status,
    }))
    .into_response()
}

const LEASES: &str = "leases.coordination.k8s.io";

fn conflict(name: &str) -> Response {
    status(
        StatusCode::CONFLICT,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {LEASES} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again"
        ),
    )
}

fn lease_not_found(name: &str) -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("{LEASES} \"{name}\" not found"),
    )
}

async fn get_lease(
    State(state): State<Shared>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    let s = state.lock().unwrap();
    match s.leases.get(&(ns, name.clone())) {
        Some(lease) => axum::Json(lease.clone()).into_response(),
        None => lease_not_found(&name),
    }
}

async fn create_lease(
    State(state): State<Shared>,
    Path(ns): Path<String>,
    axum::Json(mut lease): axum::Json<Value>,
) -> Response {
    let Some(name) = lease["metadata"]["name"].as_str().map(ToOwned::to_owned) else {
        return status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "Lease.coordination.k8s.io \"\" is invalid: metadata.name: Required value".into(),
        );
    };
    let mut s = state.lock().unwrap();
    let key = (ns.clone(), name.clone());
    if s.leases.contains_key(&key) {
        return status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{LEASES} \"{name}\" already exists"),
        );
    }
    let revision = s.next_revision();
    lease["apiVersion"] = json!("coordination.k8s.io/v1");
    lease["kind"] = json!("Lease");
    lease["metadata"]["namespace"] = json!(ns);
    lease["metadata"]["resourceVersion"] = json!(revision);
    lease["metadata"]["uid"] = json!(format!("uid-lease-{revision}"));
    s.leases.insert(key, lease.clone());
    (StatusCode::CREATED, axum::Json(lease)).into_response()
}

async fn replace_lease(
    State(state): State<Shared>,
    Path((ns, name)): Path<(String, String)>,
    axum::Json(mut lease): axum::Json<Value>,
) -> Response {
    let mut s = state.lock().unwrap();
    let key = (ns.clone(), name.clone());
    let Some(current) = s.leases.get(&key) else {
        return lease_not_found(&name);
    };
    // Leases allow unconditional updates: only a resourceVersion that is given must match.
    let given = lease["metadata"]["resourceVersion"].as_str();
    if given.is_some_and(|rv| Some(rv) != current["metadata"]["resourceVersion"].as_str()) {
        return conflict(&name);
    }
    let uid = current["metadata"]["uid"].clone();
    let revision = s.next_revision();
    lease["apiVersion"] = json!("coordination.k8s.io/v1");
    lease["kind"] = json!("Lease");
    lease["metadata"]["name"] = json!(name);
    lease["metadata"]["namespace"] = json!(ns);
    lease["metadata"]["resourceVersion"] = json!(revision);
    lease["metadata"]["uid"] = uid;
    s.leases.insert(key, lease.clone());
    axum::Json(lease).into_response()
}

async fn delete_lease(
    State(state): State<Shared>,
    Path((ns, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let options: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut s = state.lock().unwrap();
    let key = (ns, name.clone());
    let Some(current) = s.leases.get(&key) else {
        return lease_not_found(&name);
    };
    let precondition = options["preconditions"]["resourceVersion"].as_str();
    if precondition.is_some_and(|rv| Some(rv) != current["metadata"]["resourceVersion"].as_str()) {
        return conflict(&name);
    }
    s.leases.remove(&key);
    axum::Json(json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": name, "group": "coordination.k8s.io", "kind": "leases"},
    }))
    .into_response()
}

async fn fallback() -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource".into(),
    )
}

fn app(state: Shared) -> Router {
    Router::new()
        .route(
            "/api/v1/namespaces/{ns}/configmaps/{name}",
            get(get_configmap),
        )
        .route(
            "/api/v1/namespaces/{ns}/configmaps",
            get(list_or_watch_configmaps),
        )
        .route("/api/v1/namespaces/{ns}/secrets/{name}", get(get_secret))
        .route(
            "/apis/authentication.k8s.io/v1/tokenreviews",
            post(token_review),
        )
        .route(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            post(subject_access_review),
        )
        .route(
            "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",
            post(create_lease),
        )
        .route(
            "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}",
            get(get_lease).put(replace_lease).delete(delete_lease),
        )
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(state.clone(), record))
        .with_state(state)
}

impl KubeFake {
    /// Starts the fake on `127.0.0.1:0`, plain HTTP.
    pub async fn start() -> Self {
        let state: Shared = Arc::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let router = app(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            addr,
            tls: false,
            state,
            task,
        }
    }

    /// Starts the fake on `127.0.0.1:0` over TLS with `server` as its certificate; with
    /// `client_ca`, it requests client certificates, accepts those `client_ca` signed (and
    /// clients without one), and records the certificate and the SNI name each request came
    /// with.
    pub async fn start_tls(server: &TestCert, client_ca: Option<&TestCa>) -> Self {
        use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("protocol versions");
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots
                    .add(CertificateDer::from(ca.cert_der().to_vec()))
                    .expect("client CA");
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .allow_unauthenticated()
                .build()
                .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(
                vec![CertificateDer::from(server.cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.key_der.clone())),
            )
            .expect("server certificate");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let state: Shared = Arc::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let router = app(state.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let router = router.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let connection = tls.get_ref().1;
                    let cert = ClientCert {
                        cert: connection
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .map(|c| c.to_vec()),
                        server_name: connection.server_name().map(ToOwned::to_owned),
                    };
                    let service = hyper::service::service_fn(
                        move |mut req: axum::http::Request<hyper::body::Incoming>| {
                            req.extensions_mut().insert(cert.clone());
                            router.clone().oneshot(req.map(Body::new))
                        },
                    );
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        Self {
            addr,
            tls: true,
            state,
            task,
        }
    }

    /// The fake's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL (`http://127.0.0.1:port/` or `https://127.0.0.1:port/`).
    pub fn url(&self) -> url::Url {
        let scheme = if self.tls { "https" } else { "http" };
        url::Url::parse(&format!("{scheme}://{}/", self.addr)).expect("url")
    }

    /// Stores ConfigMap `ns/name` with `data`; watches see it as ADDED or MODIFIED.
    pub fn set_configmap(&self, ns: &str, name: &str, data: BTreeMap<String, String>) {
        self.state
            .lock()
            .unwrap()
            .put_configmap(ns, name, Some(data));
    }

    /// Deletes ConfigMap `ns/name`; watches see it as DELETED.
    pub fn delete_configmap(&self, ns: &str, name: &str) {
        self.state.lock().unwrap().put_configmap(ns, name, None);
    }

    /// Stores Secret `ns/name` with `data` (raw bytes; the fake base64-encodes them).
    pub fn set_secret(&self, ns: &str, name: &str, data: &[(&str, &[u8])]) {
        let data = data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
            .collect();
        self.state
            .lock()
            .unwrap()
            .secrets
            .insert((ns.to_owned(), name.to_owned()), data);
    }

    /// Makes reads of Secret `ns/name` answer 403.
    pub fn forbid_secret(&self, ns: &str, name: &str) {
        self.state
            .lock()
            .unwrap()
            .forbidden_secrets
            .insert((ns.to_owned(), name.to_owned()));
    }

    /// Makes TokenReview authenticate `token` as `user`.
    pub fn add_token(&self, token: &str, user: FakeUser) {
        self.state
            .lock()
            .unwrap()
            .tokens
            .insert(token.to_owned(), user);
    }

    /// Adds an allow rule for SubjectAccessReview (everything else is denied).
    pub fn allow(&self, rule: SarRule) {
        self.state.lock().unwrap().rules.push(rule);
    }

    /// Removes every allow rule: from now on every SubjectAccessReview is denied.
    pub fn revoke_all(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    /// Requires every request to carry `Authorization: Bearer <token>` or (TLS mode) a
    /// verified client certificate; others get 401.
    pub fn require_bearer(&self, token: &str) {
        self.state.lock().unwrap().required_token = Some(token.to_owned());
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Number of TokenReviews received.
    pub fn token_review_count(&self) -> usize {
        self.state.lock().unwrap().token_reviews
    }

    /// The `spec` of every SubjectAccessReview received.
    pub fn sar_requests(&self) -> Vec<Value> {
        self.state.lock().unwrap().sar_requests.clone()
    }

    /// Number of SubjectAccessReviews received.
    pub fn sar_count(&self) -> usize {
        self.state.lock().unwrap().sar_requests.len()
    }

    /// Lease `ns/name` as stored, if it exists.
    pub fn lease(&self, ns: &str, name: &str) -> Option<Value> {
        self.state
            .lock()
            .unwrap()
            .leases
            .get(&(ns.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Number of Leases stored.
    pub fn lease_count(&self) -> usize {
        self.state.lock().unwrap().leases.len()
    }

    /// Number of requests whose path starts with `prefix`.
    pub fn request_count(&self, prefix: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .count()
    }
}

/// The data of ConfigMap `kube-system/extension-apiserver-authentication` as kube-apiserver
/// publishes it, for a front-proxy CA, a client CA and allowed names.
pub fn authentication_configmap(
    requestheader_ca: Option<&TestCa>,
    client_ca: Option<&TestCa>,
    allowed_names: &[&str],
) -> BTreeMap<String, String> {
    let mut data = BTreeMap::new();
    if let Some(ca) = client_ca {
        data.insert("client-ca-file".to_owned(), ca.cert_pem().to_owned());
    }
    if let Some(ca) = requestheader_ca {
        data.insert(
            "requestheader-client-ca-file".to_owned(),
            ca.cert_pem().to_owned(),
        );
        data.insert(
            "requestheader-allowed-names".to_owned(),
            serde_json::to_string(allowed_names).expect("json"),
        );
        data.insert(
            "requestheader-username-headers".to_owned(),
            r#"["X-Remote-User"]"#.to_owned(),
        );
        data.insert(
            "requestheader-group-headers".to_owned(),
            r#"["X-Remote-Group"]"#.to_owned(),
        );
        data.insert(
            "requestheader-extra-headers-prefix".to_owned(),
            r#"["X-Remote-Extra-"]"#.to_owned(),
        );
    }
    data
}
