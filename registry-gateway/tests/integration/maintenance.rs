//! A real CNCF Distribution in read-only mode behind the gateway, and the registry janitor's
//! read-only record (a file, or the annotation on its Lease in the fake Kubernetes API): the
//! 405 `UNSUPPORTED` answer says until when, with `Retry-After`; without a usable record it
//! is the plain maintenance message.

use dns01_registry::maintenance::{RECORD_ANNOTATION, Record};
use dns01_testkit::kubefake::{KubeFake, ResourceKind};
use dns01_testkit::registry::{OciLayout, Registry, RegistryConfig, layer_bytes};
use serde_json::json;

use crate::support::{Files, Gateway, bind, seen};

fn read_only_registry() -> Registry {
    Registry::start(RegistryConfig {
        read_only: true,
        ..RegistryConfig::default()
    })
    .unwrap()
}

/// A record of a window that ends at the latest `left` seconds from now.
fn record(left: i64) -> (Record, jiff::Timestamp) {
    let now = jiff::Timestamp::now();
    let until = (now + jiff::SignedDuration::from_secs(left))
        .round(jiff::Unit::Second)
        .unwrap();
    (
        Record {
            run_id: "gc-test".into(),
            since: now.to_string(),
            switch: "process".into(),
            pid: 1,
            until: Some(until.to_string()),
        },
        until,
    )
}

fn utc(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A push's first request through the gateway: (status, everything seen, body, Retry-After).
async fn push_attempt(
    gateway: &Gateway,
    name: &str,
) -> (u16, String, serde_json::Value, Option<i64>) {
    let r = reqwest::Client::new()
        .post(format!(
            "{}/v2/{name}/blobs/uploads/",
            gateway.url("127.0.0.1")
        ))
        .send()
        .await
        .unwrap();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let (status, text, body) = seen(r).await;
    (status, text, body, retry_after)
}

fn message(body: &serde_json::Value) -> String {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_record_file_a_refused_push_says_until_when_and_sets_retry_after() {
    let registry = read_only_registry();
    let files = Files::new();
    let (rec, until) = record(600);
    let path = files.write(
        "readonly-record.json",
        &serde_json::to_string(&rec).unwrap(),
    );
    let gateway = Gateway::serve(
        bind(),
        &format!(
            "routes:\n  - {{name: platform, host: 127.0.0.1, upstream: '{}', maintenance: {{record_file: '{}'}}}}\n  - {{name: plain, host: localhost, upstream: '{}'}}\n",
            registry.url(),
            path.display(),
            registry.url()
        ),
    );
    let (status, text, body, retry_after) = push_attempt(&gateway, "proj-a/app").await;
    assert_eq!(status, 405, "{text}");
    assert_eq!(body["errors"][0]["code"], "UNSUPPORTED", "{text}");
    let m = message(&body);
    assert!(
        m.contains(&format!(
            "in maintenance (read-only) until {} at the latest",
            utc(until)
        )),
        "{m}"
    );
    let retry_after = retry_after.unwrap_or_else(|| panic!("no Retry-After: {text}"));
    assert!((590..=601).contains(&retry_after), "{text}");

    // skopeo prints the gateway's message.
    let layout = OciLayout::new().unwrap();
    layout
        .image("v1", "linux/amd64", &[layer_bytes(1024, 70)])
        .unwrap();
    let err = layout
        .push(
            "v1",
            &format!("127.0.0.1:{}/proj-a/app:v1", gateway.port()),
            None,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains(&utc(until)), "{err}");

    // A route without `maintenance` on the same registry: today's message.
    let r = reqwest::Client::new()
        .post(format!(
            "{}/v2/proj-a/app/blobs/uploads/",
            gateway.url("localhost")
        ))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("retry-after").is_none());
    let (status, text, body) = seen(r).await;
    assert_eq!(status, 405, "{text}");
    assert!(
        message(&body).contains("in maintenance (read-only): pulls work"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_absent_unreadable_or_stale_record_leaves_the_plain_maintenance_message() {
    let registry = read_only_registry();
    let files = Files::new();
    let broken = files.write("broken.json", "{\"run_id\": ");
    let (stale_rec, _) = record(-60);
    let stale = files.write("stale.json", &serde_json::to_string(&stale_rec).unwrap());
    let absent = files.0.path().join("absent.json");
    // A directory where the file should be: reading it fails.
    let unreadable = files.0.path().join("dir.json");
    std::fs::create_dir(&unreadable).unwrap();
    let mut yaml = String::from("routes:\n");
    let cases = [
        ("absent", &absent),
        ("broken", &broken),
        ("stale", &stale),
        ("unreadable", &unreadable),
    ];
    for (name, path) in &cases {
        yaml.push_str(&format!(
            "  - {{name: {name}, host: 127.0.0.1, path: {name}, upstream: '{}', maintenance: {{record_file: '{}'}}}}\n",
            registry.url(),
            path.display()
        ));
    }
    let gateway = Gateway::serve(bind(), &yaml);
    for (name, _) in &cases {
        let (status, text, body, retry_after) =
            push_attempt(&gateway, &format!("{name}/app")).await;
        assert_eq!(status, 405, "{name}: {text}");
        assert_eq!(body["errors"][0]["code"], "UNSUPPORTED", "{name}: {text}");
        assert!(
            message(&body)
                .contains("in maintenance (read-only): pulls work, pushes and deletes are refused"),
            "{name}: {text}"
        );
        assert_eq!(retry_after, None, "{name}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_record_on_the_janitors_lease_a_refused_push_says_until_when() {
    let registry = read_only_registry();
    let fake = KubeFake::start().await;
    let (rec, until) = record(300);
    let leases = ResourceKind::new("coordination.k8s.io/v1", "leases");
    fake.put(
        &leases,
        json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "namespace": "registry",
                "name": "dns01-registry-janitor",
                "annotations": {RECORD_ANNOTATION: serde_json::to_string(&rec).unwrap()},
            },
            "spec": {"holderIdentity": "gc-test"},
        }),
    );
    let kube =
        kube::Client::try_from(kube::Config::new(fake.url().as_str().parse().unwrap())).unwrap();
    let gateway = Gateway::serve_with_kube(
        bind(),
        &format!(
            "routes:\n  - {{name: platform, host: 127.0.0.1, upstream: '{}', maintenance: {{lease: registry/dns01-registry-janitor}}}}\n  - {{name: other, host: 127.0.0.1, path: other, upstream: '{}', maintenance: {{lease: registry/no-such-lease}}}}\n",
            registry.url(),
            registry.url()
        ),
        kube,
    );
    let (status, text, body, retry_after) = push_attempt(&gateway, "proj-a/app").await;
    assert_eq!(status, 405, "{text}");
    assert_eq!(body["errors"][0]["code"], "UNSUPPORTED", "{text}");
    assert!(
        message(&body).contains(&format!("(read-only) until {} at the latest", utc(until))),
        "{text}"
    );
    let retry_after = retry_after.unwrap_or_else(|| panic!("no Retry-After: {text}"));
    assert!((290..=301).contains(&retry_after), "{text}");

    // No such Lease: the plain message.
    let (status, text, body, retry_after) = push_attempt(&gateway, "other/app").await;
    assert_eq!(status, 405, "{text}");
    assert!(
        message(&body).contains("in maintenance (read-only): pulls work"),
        "{text}"
    );
    assert_eq!(retry_after, None, "{text}");
}

#[test]
fn a_lease_record_without_a_kubernetes_client_is_refused_by_key() {
    let config = dns01_registry_gateway::Config::from_yaml(
        "routes: [{name: a, upstream: 'http://127.0.0.1:5000', maintenance: {lease: registry/janitor}}]",
    )
    .unwrap();
    match dns01_registry_gateway::State::new(config) {
        Err(dns01_registry_gateway::Error::Config { key, message }) => {
            assert_eq!(key, "routes[0].maintenance.lease", "{message}");
            assert!(message.contains("record_file"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
