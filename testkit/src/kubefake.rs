//! A fake Kubernetes API server for tests, over plain HTTP or TLS, recording every request so
//! tests can count calls and inspect what was asked.
//!
//! - TokenReview and SubjectAccessReview answered from configurable state.
//! - A generic object store for every `/api/v1/…` and `/apis/{group}/{version}/…` resource,
//!   namespaced or cluster-scoped (ConfigMaps, Secrets and Leases included): create (409
//!   `AlreadyExists`), get, list (in a namespace or across all, with equality-based
//!   `labelSelector` and `fieldSelector` on `metadata.name` / `metadata.namespace`), watch the
//!   way kube-rs's watcher asks (`watch=true` from a `resourceVersion`, JSON lines `ADDED` /
//!   `MODIFIED` / `DELETED`, ending after `timeoutSeconds`), replace (a stale
//!   `resourceVersion` is 409 `Conflict`), JSON patch, merge patch (a strategic merge patch is
//!   treated as one), server-side apply (`fieldManager`, `force`; the applied fields are set,
//!   a field another manager applied with another value is a conflict, fields a manager stops
//!   applying are removed), the `/status` subresource (see
//!   [`KubeFake::status_subresource`]), delete with finalizers (`deletionTimestamp`, removal
//!   when the last finalizer goes), a Pod's `log` subresource (the text
//!   [`KubeFake::set_pod_log`] set). Every write bumps `resourceVersion` (one counter, as
//!   etcd's revision); `generation` is bumped when anything outside `metadata` and `status`
//!   changes; `uid` and `creationTimestamp` are set on create; `ownerReferences` are stored
//!   (there is no garbage collector).
//! - Test helpers: [`KubeFake::put`], [`KubeFake::merge`], [`KubeFake::remove`],
//!   [`KubeFake::object`], [`KubeFake::objects`], [`KubeFake::write_count`].
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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
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
    /// The query string, if any (`watch=true&resourceVersion=…`).
    pub query: Option<String>,
    /// The bearer token sent, if any.
    pub bearer: Option<String>,
    /// The DER client certificate presented (TLS mode), if any.
    pub client_cert: Option<Vec<u8>>,
    /// The server name the client asked for in its TLS hello (SNI), if any (TLS mode).
    pub server_name: Option<String>,
}

/// A resource as API paths name it: its group/version (`v1`, `networking.k8s.io/v1`) and its
/// plural (`ingresses`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKind {
    /// `v1` for the core group, otherwise `group/version`.
    pub api_version: String,
    /// The plural in paths, e.g. `customdomains`.
    pub plural: String,
}

impl ResourceKind {
    /// The resource `plural` served at `api_version` (`v1` or `group/version`).
    pub fn new(api_version: &str, plural: &str) -> Self {
        Self {
            api_version: api_version.to_owned(),
            plural: plural.to_owned(),
        }
    }

    /// `plural.group` as the API server names a resource in its messages (`plural` for core).
    pub fn qualified(&self) -> String {
        match self.api_version.rsplit_once('/') {
            Some((group, _)) => format!("{}.{group}", self.plural),
            None => self.plural.clone(),
        }
    }
}

/// (resource, namespace or `""` when cluster-scoped, name).
type ObjectKey = (ResourceKind, String, String);

/// Resources served with a `/status` subresource unless a test registers more.
const STATUS_SUBRESOURCES: &[(&str, &str)] = &[
    ("v1", "pods"),
    ("v1", "services"),
    ("v1", "namespaces"),
    ("apps/v1", "deployments"),
    ("networking.k8s.io/v1", "ingresses"),
    ("gateway.networking.k8s.io/v1", "httproutes"),
    ("cert-manager.io/v1", "certificates"),
    ("acme.cert-manager.io/v1", "challenges"),
    ("acme.cert-manager.io/v1", "orders"),
];

#[derive(Default)]
struct FakeState {
    /// Every stored object, of every resource.
    objects: BTreeMap<ObjectKey, Value>,
    /// Every change, oldest first: (resourceVersion, resource, watch event).
    events: Vec<(u64, ResourceKind, Value)>,
    /// Told the last resourceVersion whenever an object changes (watches wait on it).
    changed: Option<tokio::sync::watch::Sender<u64>>,
    /// API writes (create, replace, patch, delete) per qualified resource name.
    writes: BTreeMap<String, usize>,
    /// Resources registered by tests as having a `/status` subresource.
    status_subresources: HashSet<ResourceKind>,
    /// Server-side apply: the leaf paths each field manager owns, per object.
    owners: HashMap<ObjectKey, BTreeMap<String, BTreeSet<String>>>,
    forbidden: HashSet<ObjectKey>,
    tokens: HashMap<String, FakeUser>,
    rules: Vec<SarRule>,
    required_token: Option<String>,
    requests: Vec<RecordedRequest>,
    token_reviews: usize,
    sar_requests: Vec<Value>,
    /// The last `resourceVersion` handed out (one counter for every kind, as etcd's revision).
    revision: u64,
    /// What `pods/{name}/log` answers, per (namespace, pod); see [`KubeFake::set_pod_log`].
    pod_logs: HashMap<(String, String), String>,
}

impl FakeState {
    fn next_revision(&mut self) -> String {
        self.revision += 1;
        self.revision.to_string()
    }

    fn changes(&mut self) -> tokio::sync::watch::Receiver<u64> {
        self.changed
            .get_or_insert_with(|| tokio::sync::watch::Sender::new(0))
            .subscribe()
    }

    fn has_status_subresource(&self, resource: &ResourceKind) -> bool {
        self.status_subresources.contains(resource)
            || STATUS_SUBRESOURCES
                .iter()
                .any(|(v, p)| resource.api_version == *v && resource.plural == *p)
    }

    fn record_event(&mut self, resource: &ResourceKind, kind: &str, object: &Value) {
        self.events.push((
            self.revision,
            resource.clone(),
            json!({"type": kind, "object": object}),
        ));
        if let Some(tx) = &self.changed {
            tx.send_replace(self.revision);
        }
    }

    /// Stores `object` under `key` as the API server does after any write: a new
    /// `resourceVersion`; `uid`, `creationTimestamp` and `generation` 1 for a new object; the
    /// old object's `uid`, `creationTimestamp` and `deletionTimestamp` kept; `generation` bumped
    /// when anything outside `metadata` and `status` changed; an object being deleted whose
    /// last finalizer went is removed. Returns the stored (or removed) object.
    fn write(&mut self, key: ObjectKey, mut object: Value) -> Value {
        let revision = self.next_revision();
        let (resource, ns, name) = &key;
        if !object.is_object() {
            object = json!({});
        }
        if !object["metadata"].is_object() {
            object["metadata"] = json!({});
        }
        let meta = &mut object["metadata"];
        meta["name"] = json!(name);
        if ns.is_empty() {
            if let Some(m) = meta.as_object_mut() {
                m.remove("namespace");
            }
        } else {
            meta["namespace"] = json!(ns);
        }
        meta["resourceVersion"] = json!(revision);
        let old = self.objects.get(&key);
        match old {
            Some(old) => {
                for field in ["uid", "creationTimestamp", "deletionTimestamp"] {
                    match old["metadata"].get(field) {
                        Some(v) => meta[field] = v.clone(),
                        None => {
                            if let Some(m) = meta.as_object_mut() {
                                m.remove(field);
                            }
                        }
                    }
                }
                let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
                let bumped = if without_meta_and_status(old) == without_meta_and_status(&object) {
                    generation
                } else {
                    generation + 1
                };
                object["metadata"]["generation"] = json!(bumped);
            }
            None => {
                meta["uid"] = json!(format!("00000000-0000-4000-8000-{:012x}", self.revision));
                meta["creationTimestamp"] = json!(now());
                meta["generation"] = json!(1);
            }
        }
        let existed = old.is_some();
        let deleting = !object["metadata"]["deletionTimestamp"].is_null();
        let finalizers_left = object["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if deleting && !finalizers_left {
            self.objects.remove(&key);
            self.owners.remove(&key);
            self.record_event(resource, "DELETED", &object);
        } else {
            self.objects.insert(key.clone(), object.clone());
            let kind = if existed { "MODIFIED" } else { "ADDED" };
            self.record_event(resource, kind, &object);
        }
        object
    }

    /// Deletes the object at `key`: marks it with a `deletionTimestamp` while finalizers
    /// remain, removes it otherwise. `None` when there is no such object.
    fn delete(&mut self, key: &ObjectKey) -> Option<Value> {
        let stored = self.objects.get_mut(key)?;
        if stored["metadata"]["deletionTimestamp"].is_null() {
            stored["metadata"]["deletionTimestamp"] = json!(now());
        }
        let object = stored.clone();
        Some(self.write(key.clone(), object))
    }
}

/// The current time as Kubernetes writes timestamps (RFC 3339, seconds, UTC).
fn now() -> String {
    format!("{:.0}", jiff::Timestamp::now())
}

/// The object without `metadata` and `status`: what a change of bumps `generation`.
fn without_meta_and_status(object: &Value) -> Value {
    let mut rest = object.clone();
    if let Some(m) = rest.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    rest
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
            query: request.uri().query().map(str::to_owned),
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

/// What a resource path names: `/api/v1/…` or `/apis/{group}/{version}/…`, then optionally
/// `namespaces/{ns}/`, the plural, a name and a subresource.
#[derive(Debug)]
struct Target {
    resource: ResourceKind,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_target(path: &str) -> Option<Target> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (api_version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ((*version).to_owned(), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_owned()), rest),
        _ => (None, rest),
    };
    let (plural, name, subresource) = match rest {
        [plural] => (plural, None, None),
        [plural, name] => (plural, Some(*name), None),
        [plural, name, sub] => (plural, Some(*name), Some(*sub)),
        _ => return None,
    };
    Some(Target {
        resource: ResourceKind::new(&api_version, plural),
        namespace,
        name: name.map(ToOwned::to_owned),
        subresource: subresource.map(ToOwned::to_owned),
    })
}

impl Target {
    fn key(&self, name: &str) -> ObjectKey {
        (
            self.resource.clone(),
            self.namespace.clone().unwrap_or_default(),
            name.to_owned(),
        )
    }
}

fn not_found(resource: &ResourceKind, name: &str) -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("{} \"{name}\" not found", resource.qualified()),
    )
}

fn conflict(resource: &ResourceKind, name: &str) -> Response {
    status(
        StatusCode::CONFLICT,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again",
            resource.qualified()
        ),
    )
}

fn invalid(message: String) -> Response {
    status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message)
}

fn bad_request(message: String) -> Response {
    status(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// A label selector in the equality-based syntax (`a=b`, `a==b`, `a!=b`, `a`, `!a`, joined
/// by commas) matches `object`.
fn labels_match(selector: &str, object: &Value) -> bool {
    let labels = &object["metadata"]["labels"];
    selector.split(',').filter(|t| !t.is_empty()).all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            labels[k.trim()].as_str() != Some(v.trim())
        } else if let Some((k, v)) = term.split_once('=') {
            labels[k.trim()].as_str() == Some(v.trim_start_matches('=').trim())
        } else if let Some(k) = term.strip_prefix('!') {
            labels[k.trim()].is_null()
        } else {
            !labels[term.trim()].is_null()
        }
    })
}

/// A field selector on `metadata.name` and `metadata.namespace` (`=`, `==`, `!=`) matches.
fn fields_match(selector: &str, object: &Value) -> bool {
    selector.split(',').filter(|t| !t.is_empty()).all(|term| {
        let (field, value, equal) = match term.split_once("!=") {
            Some((f, v)) => (f, v, false),
            None => match term.split_once('=') {
                Some((f, v)) => (f, v.trim_start_matches('='), true),
                None => return false,
            },
        };
        let actual = match field {
            "metadata.name" => object["metadata"]["name"].as_str(),
            "metadata.namespace" => object["metadata"]["namespace"].as_str(),
            _ => return false,
        };
        (actual.unwrap_or_default() == value) == equal
    })
}

/// Whether `object` of `resource` is one a list or watch of `target` with `query` returns.
fn selected(
    target: &Target,
    query: &HashMap<String, String>,
    resource: &ResourceKind,
    object: &Value,
) -> bool {
    *resource == target.resource
        && target
            .namespace
            .as_deref()
            .is_none_or(|ns| object["metadata"]["namespace"].as_str().unwrap_or_default() == ns)
        && query
            .get("labelSelector")
            .is_none_or(|s| labels_match(s, object))
        && query
            .get("fieldSelector")
            .is_none_or(|s| fields_match(s, object))
}

fn query_map(uri: &axum::http::Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// Every `/api/…` and `/apis/…` resource: create, get, list, watch, replace, patch (JSON
/// patch, merge patch, server-side apply), the `/status` subresource, delete with finalizers.
async fn resource_request(State(state): State<Shared>, request: Request) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Some(target) = parse_target(uri.path()) else {
        return fallback().await;
    };
    if target.subresource.as_deref() == Some("log") && request.method() == axum::http::Method::GET {
        return pod_log(&state, &target);
    }
    if target.subresource.as_deref().is_some_and(|s| s != "status") {
        return fallback().await;
    }
    let query = query_map(&uri);
    let Ok(body) = axum::body::to_bytes(request.into_body(), 16 << 20).await else {
        return bad_request("request body too large".into());
    };
    let writes = |state: &Shared| {
        *state
            .lock()
            .unwrap()
            .writes
            .entry(target.resource.qualified())
            .or_default() += 1;
    };
    match (method.as_str(), target.name.as_deref()) {
        ("GET", None) if query.get("watch").map(String::as_str) == Some("true") => {
            watch(state, target, query)
        }
        ("GET", None) => list(&state, &target, &query),
        ("GET", Some(name)) => get_object(&state, &target, name),
        ("POST", None) => {
            writes(&state);
            create(&state, &target, &body)
        }
        ("PUT", Some(name)) => {
            writes(&state);
            replace(&state, &target, name, &body)
        }
        ("PATCH", Some(name)) => {
            writes(&state);
            patch(&state, &target, name, &content_type, &query, &body)
        }
        ("DELETE", Some(name)) => {
            writes(&state);
            delete(&state, &target, name, &body)
        }
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("the server does not allow this method on {}", uri.path()),
        ),
    }
}

/// `GET …/pods/{name}/log`: the text a test set with [`KubeFake::set_pod_log`] (empty when
/// none), 404 when there is no such Pod.
fn pod_log(state: &Shared, target: &Target) -> Response {
    let s = state.lock().unwrap();
    let name = target.name.clone().unwrap_or_default();
    let ns = target.namespace.clone().unwrap_or_default();
    if target.resource != ResourceKind::new("v1", "pods") {
        return not_found(&target.resource, &name);
    }
    if !s.objects.contains_key(&target.key(&name)) {
        return not_found(&target.resource, &name);
    }
    let text = s.pod_logs.get(&(ns, name)).cloned().unwrap_or_default();
    ([("content-type", "text/plain")], text).into_response()
}

fn get_object(state: &Shared, target: &Target, name: &str) -> Response {
    let s = state.lock().unwrap();
    let key = target.key(name);
    if s.forbidden.contains(&key) {
        let ns = target.namespace.as_deref().unwrap_or_default();
        return status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "{} \"{name}\" is forbidden: User \"system:serviceaccount:x:y\" cannot get \
                 resource \"{}\" in API group \"\" in the namespace \"{ns}\"",
                target.resource.plural, target.resource.plural
            ),
        );
    }
    match s.objects.get(&key) {
        Some(object) => axum::Json(object.clone()).into_response(),
        None => not_found(&target.resource, name),
    }
}

fn list(state: &Shared, target: &Target, query: &HashMap<String, String>) -> Response {
    let s = state.lock().unwrap();
    let items: Vec<Value> = s
        .objects
        .iter()
        .filter(|((resource, _, _), object)| selected(target, query, resource, object))
        .map(|(_, object)| object.clone())
        .collect();
    let kind = items
        .first()
        .and_then(|o| o["kind"].as_str())
        .map_or_else(|| "List".to_owned(), |k| format!("{k}List"));
    axum::Json(json!({
        "apiVersion": target.resource.api_version, "kind": kind,
        "metadata": {"resourceVersion": s.revision.to_string()},
        "items": items,
    }))
    .into_response()
}

/// A stream of events after the given `resourceVersion`, as JSON lines, ending after
/// `timeoutSeconds` as the API server's watches do.
fn watch(state: Shared, target: Target, query: HashMap<String, String>) -> Response {
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
    let changes = state.lock().unwrap().changes();
    let wanted = Arc::new(move |resource: &ResourceKind, object: &Value| {
        selected(&target, &query, resource, object)
    });
    let events = futures::stream::unfold(
        (since, changes, state),
        move |(mut last, mut changes, state)| {
            let wanted = wanted.clone();
            async move {
                loop {
                    let lines: String = {
                        let s = state.lock().unwrap();
                        // Oldest first: the new ones are a suffix (no scan of the history,
                        // which made every write cost O(all events) per watch).
                        let start = s.events.partition_point(|(rv, _, _)| *rv <= last);
                        let fresh: Vec<&(u64, ResourceKind, Value)> =
                            s.events.iter().skip(start).collect();
                        if let Some((rv, _, _)) = fresh.last() {
                            last = *rv;
                        }
                        fresh
                            .iter()
                            .filter(|(_, resource, event)| wanted(resource, &event["object"]))
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

fn parse_json(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))
}

fn create(state: &Shared, target: &Target, body: &[u8]) -> Response {
    let mut object = match parse_json(body) {
        Ok(object) => object,
        Err(e) => return bad_request(e),
    };
    let meta = &object["metadata"];
    let name = match (meta["name"].as_str(), meta["generateName"].as_str()) {
        (Some(name), _) if !name.is_empty() => name.to_owned(),
        (_, Some(prefix)) => format!("{prefix}{:05x}", fastrand::u32(..0x10_0000)),
        _ => {
            return invalid(format!(
                "{} \"\" is invalid: metadata.name: Required value",
                target.resource.qualified()
            ));
        }
    };
    let mut s = state.lock().unwrap();
    let key = target.key(&name);
    if s.objects.contains_key(&key) {
        return status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", target.resource.qualified()),
        );
    }
    if s.has_status_subresource(&target.resource)
        && let Some(m) = object.as_object_mut()
    {
        m.remove("status");
    }
    let stored = s.write(key, object);
    (StatusCode::CREATED, axum::Json(stored)).into_response()
}

/// The object a write to the main resource or to `/status` stores, from the current object
/// and the written one: `/status` takes only `status`; the main resource of a resource with a
/// status subresource keeps the current `status`.
fn scoped(s: &FakeState, target: &Target, current: &Value, mut written: Value) -> Value {
    if target.subresource.as_deref() == Some("status") {
        let mut next = current.clone();
        next["status"] = written["status"].take();
        if next["status"].is_null()
            && let Some(m) = next.as_object_mut()
        {
            m.remove("status");
        }
        next
    } else {
        if s.has_status_subresource(&target.resource) {
            match current.get("status") {
                Some(st) => written["status"] = st.clone(),
                None => {
                    if let Some(m) = written.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        written
    }
}

fn replace(state: &Shared, target: &Target, name: &str, body: &[u8]) -> Response {
    let written = match parse_json(body) {
        Ok(object) => object,
        Err(e) => return bad_request(e),
    };
    let mut s = state.lock().unwrap();
    let key = target.key(name);
    let Some(current) = s.objects.get(&key).cloned() else {
        return not_found(&target.resource, name);
    };
    // As for most built-in resources, an update without a resourceVersion is unconditional.
    let given = written["metadata"]["resourceVersion"].as_str();
    if given.is_some_and(|rv| Some(rv) != current["metadata"]["resourceVersion"].as_str()) {
        return conflict(&target.resource, name);
    }
    let next = scoped(&s, target, &current, written);
    axum::Json(s.write(key, next)).into_response()
}

fn patch(
    state: &Shared,
    target: &Target,
    name: &str,
    content_type: &str,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Response {
    let mut s = state.lock().unwrap();
    let key = target.key(name);
    let current = s.objects.get(&key).cloned();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if media == "application/apply-patch+yaml" {
        let applied: Value = match serde_yaml_ng::from_slice(body) {
            Ok(v) => v,
            Err(e) => return bad_request(format!("invalid apply patch: {e}")),
        };
        let Some(manager) = query.get("fieldManager").filter(|m| !m.is_empty()) else {
            return bad_request(
                "PATCH, application/apply-patch+yaml: fieldManager is required".into(),
            );
        };
        let force = query.get("force").map(String::as_str) == Some("true");
        return apply(&mut s, target, key, current, applied, manager, force);
    }
    let Some(current) = current else {
        return not_found(&target.resource, name);
    };
    let mut next = current.clone();
    match media {
        "application/json-patch+json" => {
            let ops: json_patch::Patch = match serde_json::from_slice(body) {
                Ok(ops) => ops,
                Err(e) => return bad_request(format!("invalid JSON patch: {e}")),
            };
            for op in ops.0 {
                // As the API server's JSON patch does, a `test` for null passes on a missing
                // path (kube-runtime's finalizer helper relies on it).
                if let json_patch::PatchOperation::Test(test) = &op
                    && test.value.is_null()
                    && next.pointer(test.path.as_str()).is_none()
                {
                    continue;
                }
                if let Err(e) = json_patch::patch(&mut next, &[op]) {
                    return invalid(format!("the server rejected our request: {e}"));
                }
            }
        }
        // A strategic merge patch is treated as a merge patch (lists are replaced whole).
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            let merge = match parse_json(body) {
                Ok(merge) => merge,
                Err(e) => return bad_request(e),
            };
            json_patch::merge(&mut next, &merge);
        }
        other => {
            return status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                format!("the body of the request was in an unknown format: {other}"),
            );
        }
    }
    if next["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"] {
        return conflict(&target.resource, name);
    }
    let next = scoped(&s, target, &current, next);
    axum::Json(s.write(key, next)).into_response()
}

/// The leaf paths of an applied object (objects are walked, anything else is a leaf), without
/// the fields that identify it.
fn leaf_paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value.as_object() {
        Some(map) if !map.is_empty() => {
            for (k, v) in map {
                let path = format!("{prefix}/{}", k.replace('~', "~0").replace('/', "~1"));
                if matches!(
                    path.as_str(),
                    "/apiVersion"
                        | "/kind"
                        | "/metadata/name"
                        | "/metadata/namespace"
                        | "/metadata/resourceVersion"
                ) {
                    continue;
                }
                leaf_paths(v, &path, out);
            }
        }
        _ => {
            if !prefix.is_empty() {
                out.insert(prefix.to_owned());
            }
        }
    }
}

/// Merges `patch` into `target`: objects key by key, anything else replaced.
fn deep_merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                deep_merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        _ => *target = patch.clone(),
    }
}

/// Removes the field at JSON pointer `path` and the objects it leaves empty.
fn remove_path(object: &mut Value, path: &str) {
    let Some((parent, leaf)) = path.rsplit_once('/') else {
        return;
    };
    let leaf = leaf.replace("~1", "/").replace("~0", "~");
    if let Some(map) = object.pointer_mut(parent).and_then(Value::as_object_mut) {
        map.remove(&leaf);
        if map.is_empty() && !parent.is_empty() {
            remove_path(object, parent);
        }
    }
}

/// Server-side apply, faithful enough for controllers: the applied fields are set; a field
/// another manager applied with a different value is a conflict unless `force` (which takes
/// it over); fields this manager applied before and no longer gives are removed unless
/// another manager applied them too. Writes other than apply take no field ownership.
fn apply(
    s: &mut FakeState,
    target: &Target,
    key: ObjectKey,
    current: Option<Value>,
    mut applied: Value,
    manager: &str,
    force: bool,
) -> Response {
    let status_only = target.subresource.as_deref() == Some("status");
    if status_only {
        applied = json!({"status": applied["status"].take()});
    } else if s.has_status_subresource(&target.resource)
        && let Some(m) = applied.as_object_mut()
    {
        m.remove("status");
    }
    let mut paths = BTreeSet::new();
    leaf_paths(&applied, "", &mut paths);
    let Some(current) = current else {
        if status_only {
            return not_found(&target.resource, &key.2);
        }
        s.owners
            .entry(key.clone())
            .or_default()
            .insert(manager.to_owned(), paths);
        let stored = s.write(key, applied);
        return (StatusCode::CREATED, axum::Json(stored)).into_response();
    };
    let owners = s.owners.entry(key.clone()).or_default();
    let conflicts: Vec<String> = owners
        .iter()
        .filter(|(m, _)| m.as_str() != manager)
        .flat_map(|(m, owned)| {
            owned
                .intersection(&paths)
                .filter(|p| current.pointer(p) != applied.pointer(p))
                .map(move |p| format!("conflict with \"{m}\": {p}"))
        })
        .collect();
    if !conflicts.is_empty() && !force {
        return status(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Apply failed with {} conflict(s): {}",
                conflicts.len(),
                conflicts.join("; ")
            ),
        );
    }
    if force {
        for (m, owned) in owners.iter_mut() {
            if m != manager {
                owned.retain(|p| !paths.contains(p));
            }
        }
    }
    let dropped: Vec<String> = owners
        .get(manager)
        .map(|before| {
            before
                .difference(&paths)
                .filter(|p| {
                    !owners
                        .iter()
                        .any(|(m, owned)| m != manager && owned.contains(*p))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    owners.insert(manager.to_owned(), paths);
    let mut next = current.clone();
    for path in &dropped {
        remove_path(&mut next, path);
    }
    deep_merge(&mut next, &applied);
    let next = scoped(s, target, &current, next);
    axum::Json(s.write(key, next)).into_response()
}

fn delete(state: &Shared, target: &Target, name: &str, body: &[u8]) -> Response {
    let options: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut s = state.lock().unwrap();
    let key = target.key(name);
    let Some(current) = s.objects.get(&key) else {
        return not_found(&target.resource, name);
    };
    let preconditions = &options["preconditions"];
    let stale = ["resourceVersion", "uid"].iter().any(|field| {
        preconditions[field]
            .as_str()
            .is_some_and(|want| Some(want) != current["metadata"][field].as_str())
    });
    if stale {
        return conflict(&target.resource, name);
    }
    match s.delete(&key) {
        // Still there: finalizers hold it; the API server answers with the object.
        Some(object) if s.objects.contains_key(&key) => axum::Json(object).into_response(),
        _ => axum::Json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {
                "name": name,
                "group": target.resource.api_version.rsplit_once('/').map_or("", |(g, _)| g),
                "kind": target.resource.plural,
            },
        }))
        .into_response(),
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
            "/apis/authentication.k8s.io/v1/tokenreviews",
            post(token_review),
        )
        .route(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            post(subject_access_review),
        )
        .fallback(resource_request)
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
        self.put(
            &ResourceKind::new("v1", "configmaps"),
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"namespace": ns, "name": name},
                "data": data,
            }),
        );
    }

    /// Deletes ConfigMap `ns/name`; watches see it as DELETED.
    pub fn delete_configmap(&self, ns: &str, name: &str) {
        self.remove(&ResourceKind::new("v1", "configmaps"), ns, name);
    }

    /// Stores Secret `ns/name` with `data` (raw bytes; the fake base64-encodes them).
    pub fn set_secret(&self, ns: &str, name: &str, data: &[(&str, &[u8])]) {
        let data: BTreeMap<&str, String> = data
            .iter()
            .map(|(k, v)| (*k, base64::engine::general_purpose::STANDARD.encode(v)))
            .collect();
        self.put(
            &ResourceKind::new("v1", "secrets"),
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"namespace": ns, "name": name},
                "type": "Opaque",
                "data": data,
            }),
        );
    }

    /// Makes reads of Secret `ns/name` answer 403.
    pub fn forbid_secret(&self, ns: &str, name: &str) {
        self.state.lock().unwrap().forbidden.insert((
            ResourceKind::new("v1", "secrets"),
            ns.to_owned(),
            name.to_owned(),
        ));
    }

    /// Stores `object` (its `metadata.namespace`, empty for a cluster-scoped resource, and
    /// `metadata.name` say where) as a test writes behind the API's back: created or
    /// replaced whole, with the API server's bookkeeping (`resourceVersion`, `uid`,
    /// `generation`, watch events), not counted as an API write. Returns the stored object.
    pub fn put(&self, resource: &ResourceKind, object: Value) -> Value {
        let ns = object["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = object["metadata"]["name"].as_str().expect("metadata.name");
        let key = (resource.clone(), ns.to_owned(), name.to_owned());
        self.state.lock().unwrap().write(key, object)
    }

    /// Sets what `GET /api/v1/namespaces/{ns}/pods/{name}/log` answers (the Pod itself must
    /// be stored too, e.g. with [`KubeFake::put`]).
    pub fn set_pod_log(&self, ns: &str, name: &str, text: &str) {
        self.state
            .lock()
            .unwrap()
            .pod_logs
            .insert((ns.to_owned(), name.to_owned()), text.to_owned());
    }

    /// Merges `patch` (RFC 7386) into the stored object `ns/name`, status included (as a
    /// controller writing `/status` would); `None` when there is no such object.
    pub fn merge(
        &self,
        resource: &ResourceKind,
        ns: &str,
        name: &str,
        patch: &Value,
    ) -> Option<Value> {
        let key = (resource.clone(), ns.to_owned(), name.to_owned());
        let mut s = self.state.lock().unwrap();
        let mut object = s.objects.get(&key)?.clone();
        json_patch::merge(&mut object, patch);
        Some(s.write(key, object))
    }

    /// Deletes `ns/name` as the API does (a `deletionTimestamp` while finalizers remain);
    /// whether there was such an object.
    pub fn remove(&self, resource: &ResourceKind, ns: &str, name: &str) -> bool {
        let key = (resource.clone(), ns.to_owned(), name.to_owned());
        self.state.lock().unwrap().delete(&key).is_some()
    }

    /// The stored object `ns/name` (`ns` empty for cluster-scoped), if any.
    pub fn object(&self, resource: &ResourceKind, ns: &str, name: &str) -> Option<Value> {
        let key = (resource.clone(), ns.to_owned(), name.to_owned());
        self.state.lock().unwrap().objects.get(&key).cloned()
    }

    /// Every stored object of `resource`, in namespace `ns` or (with `None`) in all of them,
    /// ordered by namespace and name.
    pub fn objects(&self, resource: &ResourceKind, ns: Option<&str>) -> Vec<Value> {
        let s = self.state.lock().unwrap();
        s.objects
            .iter()
            .filter(|((r, n, _), _)| r == resource && ns.is_none_or(|ns| n == ns))
            .map(|(_, o)| o.clone())
            .collect()
    }

    /// Serves `resource` with a `/status` subresource: writes to the object itself keep the
    /// stored status, writes to `/status` change only the status. Pods, Services, Namespaces,
    /// Deployments, Ingresses, HTTPRoutes and cert-manager's Certificates, Orders and
    /// Challenges have one from the start.
    pub fn status_subresource(&self, resource: &ResourceKind) {
        self.state
            .lock()
            .unwrap()
            .status_subresources
            .insert(resource.clone());
    }

    /// API writes (create, replace, patch, delete, including `/status`) received for
    /// `qualified` (`plural.group`, or `plural` for the core group, e.g.
    /// `certificates.cert-manager.io`, `secrets`).
    pub fn write_count(&self, qualified: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .writes
            .get(qualified)
            .copied()
            .unwrap_or(0)
    }

    /// The field managers that own fields of `ns/name` through server-side apply.
    pub fn field_managers(&self, resource: &ResourceKind, ns: &str, name: &str) -> Vec<String> {
        let key = (resource.clone(), ns.to_owned(), name.to_owned());
        self.state
            .lock()
            .unwrap()
            .owners
            .get(&key)
            .map(|o| {
                o.iter()
                    .filter(|(_, p)| !p.is_empty())
                    .map(|(m, _)| m.clone())
                    .collect()
            })
            .unwrap_or_default()
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
        self.object(
            &ResourceKind::new("coordination.k8s.io/v1", "leases"),
            ns,
            name,
        )
    }

    /// Number of Leases stored.
    pub fn lease_count(&self) -> usize {
        self.objects(&ResourceKind::new("coordination.k8s.io/v1", "leases"), None)
            .len()
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
