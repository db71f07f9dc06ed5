//! The controller's requests against a mocked API server (kube's documented pattern:
//! `tower_test::mock::pair` behind `Client::new`): each test scripts the answers and then
//! asserts the exact requests one reconcile made, method, path, query and body. DNS is a real
//! `named`.

use std::time::Duration;

use dns01_core::{Fqdn, ZoneName};
use dns01_domains::check::{Bootstrap, Checker};
use dns01_domains::controller::{Config, Context, reconcile_domain};
use dns01_domains::crd::{
    CustomDomain, CustomDomainSpec, CustomDomainStatus, Hostname, IssuerRef, ServiceTarget, Target,
};
use dns01_domains::records::Platform;
use dns01_testkit::bind::{Bind, BindZone};
use http::{Request, Response};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::client::Body;
use kube::runtime::reflector;
use kube::runtime::watcher;
use kube::{Client, Resource as _};
use serde_json::{Value, json};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// One request as the mock received it.
#[derive(Debug)]
struct Seen {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    content_type: String,
    body: Value,
}

impl Seen {
    fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Answers every request: `404` for GETs of objects that do not exist (`absent`), the body
/// echoed (as the stored object) for writes; records what it saw.
async fn serve(mut handle: Handle, absent: &'static [&'static str]) -> Vec<Seen> {
    let mut seen = Vec::new();
    while let Some((request, send)) = handle.next_request().await {
        let method = request.method().to_string();
        let path = request.uri().path().to_owned();
        let query = request
            .uri()
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let content_type = request
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let (code, reply) = if method == "GET" && absent.iter().any(|a| path.ends_with(a)) {
            let name = path.rsplit('/').next().unwrap_or_default();
            (
                404,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                       "code": 404, "message": format!("\"{name}\" not found")}),
            )
        } else if method == "GET" && path.ends_with("/challenges") {
            (
                200,
                json!({"apiVersion": "acme.cert-manager.io/v1", "kind": "ChallengeList", "metadata": {}, "items": []}),
            )
        } else {
            let mut reply = body.clone();
            if path.ends_with("/status") {
                // A status apply: answer with the domain carrying that status.
                reply = serde_json::to_value(domain("team-a", 0, true)).unwrap();
                reply["status"] = body["status"].clone();
            } else if reply.is_array() {
                // A JSON patch: answer with the domain carrying the finalizer.
                reply = serde_json::to_value(domain("team-a", 0, true)).unwrap();
            }
            (if method == "POST" { 201 } else { 200 }, reply)
        };
        send.send_response(
            Response::builder()
                .status(code)
                .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                .unwrap(),
        );
        seen.push(Seen {
            method,
            path,
            query,
            content_type,
            body,
        });
    }
    seen
}

fn domain(namespace: &str, created: i64, finalizer: bool) -> CustomDomain {
    let mut d = CustomDomain::new(
        "app",
        CustomDomainSpec {
            hostname: Hostname::parse("app.customer.test").unwrap(),
            target: Target::Service(ServiceTarget {
                name: "web".into(),
                port: 8080,
            }),
            issuer_ref: IssuerRef {
                name: "letsencrypt".into(),
                kind: "Issuer".into(),
                group: None,
            },
            wildcard: false,
        },
    );
    d.metadata.namespace = Some(namespace.to_owned());
    d.metadata.uid = Some(format!("uid-{namespace}"));
    d.metadata.generation = Some(1);
    d.metadata.resource_version = Some("7".into());
    d.metadata.creation_timestamp = Some(Time(
        k8s_openapi::jiff::Timestamp::from_second(1_800_000_000 + created).unwrap(),
    ));
    if finalizer {
        d.metadata.finalizers = Some(vec!["domains.dns01.dev/cleanup".into()]);
    }
    d
}

fn delegation(namespace: &str) -> String {
    dns01_core::delegation::delegated_name(
        &Fqdn::parse("app.customer.test").unwrap(),
        namespace,
        &ZoneName::parse("acme.platform.test").unwrap(),
    )
    .unwrap()
    .to_absolute_string()
}

fn customer_dns(delegated_to: Option<&str>) -> Bind {
    let mut zone = BindZone::new("customer.test").record("app IN CNAME edge.platform.test.");
    if let Some(ns) = delegated_to {
        zone = zone.record(&format!("_acme-challenge.app IN CNAME {}", delegation(ns)));
    }
    Bind::builder().zone(zone).start().unwrap()
}

/// Runs one reconcile of `domain` against the mock; every request it made, in order.
async fn reconcile_once(
    domain: CustomDomain,
    dns: &Bind,
    rivals: Vec<CustomDomain>,
    absent: &'static [&'static str],
) -> Vec<Seen> {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(serve(handle, absent));
    let client = Client::new(service, "default");
    let (store, mut writer) = reflector::store::<CustomDomain>();
    for rival in rivals {
        writer.apply_watcher_event(&watcher::Event::Apply(rival));
    }
    let checker = Checker::new(Bootstrap::Static {
        zone: ZoneName::parse("customer.test").unwrap(),
        servers: vec![dns.addr()],
    });
    let platform = Platform {
        validation_zone: ZoneName::parse("acme.platform.test").unwrap(),
        traffic_hostname: Fqdn::parse("edge.platform.test").unwrap(),
        addresses: vec![],
        apex_alias_target: None,
    };
    let metrics = std::sync::Arc::new(dns01_domains::metrics::Metrics::default());
    let ctx = Context::new(client, Config::new(platform, checker), store, metrics);
    tokio::time::timeout(
        Duration::from_secs(10),
        reconcile_domain(domain.into(), ctx),
    )
    .await
    .expect("the reconcile ends")
    .expect("the reconcile succeeds");
    // The context (and its client) are gone: the mock's stream ends.
    server.await.unwrap()
}

fn without_events(seen: &[Seen]) -> Vec<(&str, &str)> {
    seen.iter()
        .filter(|s| !s.path.ends_with("/events"))
        .map(|s| (s.method.as_str(), s.path.as_str()))
        .collect()
}

#[tokio::test]
async fn a_new_domain_gets_the_finalizer_first_and_nothing_else() {
    let dns = customer_dns(None);
    let seen = reconcile_once(domain("team-a", 0, false), &dns, vec![], &[]).await;
    assert_eq!(seen.len(), 1, "{seen:#?}");
    let patch = &seen[0];
    assert_eq!(
        (
            patch.method.as_str(),
            patch.path.as_str(),
            patch.content_type.as_str()
        ),
        (
            "PATCH",
            "/apis/domains.dns01.dev/v1alpha1/namespaces/team-a/customdomains/app",
            "application/json-patch+json"
        )
    );
    assert_eq!(
        patch.body,
        json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["domains.dns01.dev/cleanup"]},
        ])
    );
}

#[tokio::test]
async fn missing_records_are_written_to_status_by_server_side_apply_with_events() {
    let dns = customer_dns(None);
    let seen = reconcile_once(
        domain("team-a", 0, true),
        &dns,
        vec![],
        &["/certificates/app", "/ingresses/app"],
    )
    .await;
    assert_eq!(
        without_events(&seen),
        [
            (
                "GET",
                "/apis/cert-manager.io/v1/namespaces/team-a/certificates/app"
            ),
            (
                "GET",
                "/apis/networking.k8s.io/v1/namespaces/team-a/ingresses/app"
            ),
            (
                "PATCH",
                "/apis/domains.dns01.dev/v1alpha1/namespaces/team-a/customdomains/app/status"
            ),
        ]
    );
    let status = seen.iter().find(|s| s.path.ends_with("/status")).unwrap();
    assert_eq!(status.content_type, "application/apply-patch+yaml");
    assert_eq!(status.query("fieldManager"), Some("dns01-domains"));
    assert_eq!(status.query("force"), Some("true"));
    assert_eq!(status.body["apiVersion"], "domains.dns01.dev/v1alpha1");
    assert_eq!(status.body["kind"], "CustomDomain");
    let written: CustomDomainStatus =
        serde_json::from_value(status.body["status"].clone()).unwrap();
    let rows: Vec<(&str, bool)> = written
        .required_records
        .iter()
        .map(|r| (r.value.as_str(), r.found))
        .collect();
    assert_eq!(
        rows,
        [
            ("edge.platform.test.", true),
            (delegation("team-a").as_str(), false)
        ]
    );
    let ready = written
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "RecordNotFound")
    );
    let events: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path.ends_with("/events"))
        .collect();
    assert_eq!(events.len(), 5, "one per new condition");
    assert!(
        events
            .iter()
            .all(|e| e.method == "POST"
                && e.path == "/apis/events.k8s.io/v1/namespaces/team-a/events")
    );
    assert_eq!(events[0].body["regarding"]["name"], "app");
    assert_eq!(events[0].body["reason"], "RecordNotFound");
}

#[tokio::test]
async fn a_verified_delegation_applies_the_certificate_with_the_exact_request() {
    let dns = customer_dns(Some("team-a"));
    let seen = reconcile_once(
        domain("team-a", 0, true),
        &dns,
        vec![],
        &["/certificates/app", "/ingresses/app", "/secrets/app-tls"],
    )
    .await;
    assert_eq!(
        without_events(&seen),
        [
            (
                "GET",
                "/apis/cert-manager.io/v1/namespaces/team-a/certificates/app"
            ),
            (
                "GET",
                "/apis/networking.k8s.io/v1/namespaces/team-a/ingresses/app"
            ),
            ("GET", "/api/v1/namespaces/team-a/secrets/app-tls"),
            (
                "PATCH",
                "/apis/cert-manager.io/v1/namespaces/team-a/certificates/app"
            ),
            (
                "PATCH",
                "/apis/domains.dns01.dev/v1alpha1/namespaces/team-a/customdomains/app/status"
            ),
        ]
    );
    let apply = &seen[3];
    assert_eq!(apply.content_type, "application/apply-patch+yaml");
    assert_eq!(apply.query("fieldManager"), Some("dns01-domains"));
    assert_eq!(apply.query("force"), Some("true"));
    assert_eq!(
        apply.body,
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {
                "name": "app",
                "namespace": "team-a",
                "labels": {"domains.dns01.dev/custom-domain": "app"},
                "ownerReferences": [{
                    "apiVersion": "domains.dns01.dev/v1alpha1",
                    "kind": "CustomDomain",
                    "name": "app",
                    "uid": "uid-team-a",
                    "controller": true,
                }],
            },
            "spec": {
                "secretName": "app-tls",
                "dnsNames": ["app.customer.test"],
                "issuerRef": {"name": "letsencrypt", "kind": "Issuer"},
            },
        })
    );
    let status: CustomDomainStatus =
        serde_json::from_value(seen[4].body["status"].clone()).unwrap();
    let cert = status
        .conditions
        .iter()
        .find(|c| c.type_ == "CertificateReady")
        .unwrap();
    assert_eq!(cert.reason, "Requesting");
}

#[tokio::test]
async fn a_hostname_verified_in_another_namespace_is_a_conflict_and_no_certificate() {
    // The customer delegated to team-a; team-b claims the same hostname.
    let dns = customer_dns(Some("team-a"));
    let mut holder = domain("team-a", 0, true);
    holder.status = Some(CustomDomainStatus {
        conditions: vec![Condition {
            type_: "DelegationVerified".into(),
            status: "True".into(),
            reason: "Verified".into(),
            message: String::new(),
            observed_generation: Some(1),
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
        }],
        ..CustomDomainStatus::default()
    });
    let claimant = domain("team-b", 10, true);
    assert_eq!(claimant.meta().namespace.as_deref(), Some("team-b"));
    let seen = reconcile_once(
        claimant,
        &dns,
        vec![holder],
        &["/certificates/app", "/ingresses/app"],
    )
    .await;
    assert_eq!(
        without_events(&seen),
        [
            (
                "GET",
                "/apis/cert-manager.io/v1/namespaces/team-b/certificates/app"
            ),
            (
                "GET",
                "/apis/networking.k8s.io/v1/namespaces/team-b/ingresses/app"
            ),
            (
                "PATCH",
                "/apis/domains.dns01.dev/v1alpha1/namespaces/team-b/customdomains/app/status"
            ),
        ],
        "no Certificate for the claimant"
    );
    let status: CustomDomainStatus =
        serde_json::from_value(seen[2].body["status"].clone()).unwrap();
    let delegation = status
        .conditions
        .iter()
        .find(|c| c.type_ == "DelegationVerified")
        .unwrap();
    assert_eq!(
        (delegation.status.as_str(), delegation.reason.as_str()),
        ("False", "Conflict")
    );
    assert!(
        delegation.message.contains("namespace team-a"),
        "{}",
        delegation.message
    );
    let warning = seen
        .iter()
        .find(|s| s.path.ends_with("/events") && s.body["reason"] == "Conflict")
        .expect("a Conflict event");
    assert_eq!(warning.body["type"], "Warning");
}
