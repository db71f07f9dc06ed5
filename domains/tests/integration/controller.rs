//! The controller end to end: kube-runtime against the fake Kubernetes API from `testkit`
//! (generic object store: CRUD, watch, `/status`, server-side apply, finalizers) and a real
//! `named` serving the customer's zone. cert-manager is testkit's stand-in
//! (`dns01_testkit::certmanager`): it turns the controller's Certificate into a real ACME order
//! at Pebble, solved through the dns01 webhook (its router in-process, the `rfc2136` solver
//! writing the TXT record into the validation zone on `named` with TSIG), following the
//! customer's `_acme-challenge` CNAME, and writes the Secret and `Ready` as cert-manager does.
//!
//! The BIND harness lets a key update only TXT records, so "the customer creates the records"
//! is a second `named` serving the zone with them, and a small UDP relay in front of both that
//! the checker asks: switching the relay is, for the checker, the zone changing at its
//! authoritative server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;

use dns01_core::{Fqdn, ZoneName};
use dns01_domains::check::{Bootstrap, Checker};
use dns01_domains::controller::{self, Config};
use dns01_domains::crd::{
    CustomDomain, CustomDomainSpec, Hostname, IssuerRef, ServiceTarget, Target,
};
use dns01_domains::reconcile::{
    DELETE_AFTER_ANNOTATION, RECHECK_ANNOTATION, RETAINED_LABEL, RouteMode, Settings,
};
use dns01_domains::records::Platform;
use dns01_testkit::acmetest::WebhookClient;
use dns01_testkit::bind::{Bind, BindZone, TsigKeySpec};
use dns01_testkit::certmanager::{self, CertManager};
use dns01_testkit::kubefake::{KubeFake, ResourceKind};
use dns01_testkit::pebble::Pebble;
use dns01_webhook::AppState;
use dns01_webhook::secrets::KubeSecrets;
use dns01_webhook::solver::Solvers;
use dns01_webhook::solver::rfc2136::{Rfc2136Settings, Rfc2136Solver};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};
use tokio::net::UdpSocket;

const ZONE: &str = "customer.test";
const HOST: &str = "app.customer.test";

/// A UDP DNS relay to one upstream at a time.
struct Relay {
    addr: SocketAddr,
    upstream: Arc<Mutex<SocketAddr>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Self {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = socket.local_addr().unwrap();
        let upstream = Arc::new(Mutex::new(upstream));
        let to = upstream.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let query = buf[..n].to_vec();
                let upstream = *to.lock().unwrap();
                let socket = socket.clone();
                tokio::spawn(async move {
                    let relay = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                    relay.send_to(&query, upstream).await.unwrap();
                    let mut answer = vec![0u8; 4096];
                    if let Ok(Ok(n)) =
                        tokio::time::timeout(Duration::from_secs(2), relay.recv(&mut answer)).await
                    {
                        let _ = socket.send_to(&answer[..n], from).await;
                    }
                });
            }
        });
        Self {
            addr,
            upstream,
            task,
        }
    }

    fn switch(&self, upstream: SocketAddr) {
        *self.upstream.lock().unwrap() = upstream;
    }
}

fn delegation(namespace: &str) -> String {
    dns01_core::delegation::delegated_name(
        &Fqdn::parse(HOST).unwrap(),
        namespace,
        &ZoneName::parse("acme.platform.test").unwrap(),
    )
    .unwrap()
    .to_absolute_string()
}

/// A `named` serving the customer's zone with the traffic CNAME and a delegation made for
/// `namespace`, and the platform's validation zone, where `key` may write TXT records.
fn customer_and_validation_dns(namespace: &str, key: &TsigKeySpec) -> Bind {
    let customer = BindZone::new(ZONE)
        .record("app IN CNAME edge.platform.test.")
        .record(&format!(
            "_acme-challenge.app IN CNAME {}",
            delegation(namespace)
        ));
    // Recursion for Pebble and the stand-in: they ask a resolver, which chases the customer's
    // CNAME into the validation zone; the checker asks without it, as at an authoritative.
    Bind::builder()
        .key(key.clone())
        .zone(customer)
        .zone(BindZone::new("acme.platform.test").grant(&key.name))
        .recursion()
        .start()
        .unwrap()
}

/// The webhook's API group and solver in these tests.
const GROUP: &str = "acme.dns01.test";

/// cert-manager for the tests: the dns01 webhook's router in-process (the `rfc2136` solver,
/// allowed to update `dns` only, reading TSIG Secrets from the fake API), Pebble validating
/// over `dns`, and testkit's stand-in issuing the Certificates of the fake API.
struct Issuance {
    pebble: Pebble,
    cert_manager: CertManager,
    _webhook: tokio::task::JoinHandle<()>,
}

async fn issuance(env: &Env, dns: &Bind) -> Issuance {
    let settings = Rfc2136Settings {
        nameservers: vec![dns.addr().to_string()],
        timeout: Duration::from_secs(3),
        retry: dns01_core::retry::RetryPolicy::none(),
    };
    let mut solvers = Solvers::new();
    solvers.insert(
        "rfc2136".to_owned(),
        Arc::new(Rfc2136Solver::new(
            Arc::new(KubeSecrets::new(env.client.clone())),
            settings,
        )),
    );
    let app = dns01_webhook::router(AppState::new(GROUP, solvers));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base: url::Url = format!("http://{}/", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    let webhook = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let addr = dns.addr();
    let pebble = tokio::task::spawn_blocking(move || Pebble::start(addr))
        .await
        .unwrap()
        .expect("pebble (apt-get install pebble)");
    let cert_manager = CertManager::start(
        &pebble,
        certmanager::Settings {
            api: env.fake.url(),
            webhook: WebhookClient::plain(base).unwrap(),
            group: GROUP.to_owned(),
            solver: "rfc2136".to_owned(),
            // The platform's Issuer: the tenant's TSIG Secret, the validation zone, tenant
            // binding (the webhook writes only the name bound to the Certificate's namespace).
            config: json!({
                "nameserver": dns.addr().to_string(),
                "tsigKeyName": dns.keys()[0].name,
                "tsigSecretSecretRef": {"name": "tsig"},
                "delegation": {"zone": "acme.platform.test", "mode": "follow", "tenantBinding": true},
            }),
            dns: dns.addr(),
            poll: Duration::from_millis(200),
            retry: Duration::from_millis(500),
        },
    )
    .await
    .unwrap();
    Issuance {
        pebble,
        cert_manager,
        _webhook: webhook,
    }
}

/// The PEM blocks of `chain`, DER.
fn pem_blocks(chain: &[u8]) -> Vec<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(chain)
        .map(|p| p.unwrap().contents)
        .collect()
}

/// A `named` serving the customer's zone with the traffic CNAME and a delegation made for
/// `namespace` (none with `None`).
fn customer_dns(namespace: Option<&str>) -> Bind {
    let mut zone = BindZone::new(ZONE);
    if let Some(ns) = namespace {
        zone = zone
            .record("app IN CNAME edge.platform.test.")
            .record(&format!("_acme-challenge.app IN CNAME {}", delegation(ns)));
    }
    Bind::builder().zone(zone).start().unwrap()
}

fn domains() -> ResourceKind {
    ResourceKind::new("domains.dns01.dev/v1alpha1", "customdomains")
}
fn certificates() -> ResourceKind {
    ResourceKind::new("cert-manager.io/v1", "certificates")
}
fn ingresses() -> ResourceKind {
    ResourceKind::new("networking.k8s.io/v1", "ingresses")
}
fn secrets() -> ResourceKind {
    ResourceKind::new("v1", "secrets")
}

struct Env {
    fake: KubeFake,
    client: kube::Client,
    relay: Relay,
    cap: Option<Duration>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// The controller against `dns`, its schedule capped at 1 s.
async fn start(dns: &Bind) -> Env {
    start_with(dns, Some(Duration::from_secs(1))).await
}

async fn start_with(dns: &Bind, cap: Option<Duration>) -> Env {
    let fake = KubeFake::start().await;
    fake.status_subresource(&domains());
    let client =
        kube::Client::try_from(kube::Config::new(fake.url().as_str().parse().unwrap())).unwrap();
    let relay = Relay::start(dns.addr()).await;
    let stop = run_controller(&client, relay.addr, cap);
    Env {
        fake,
        client,
        relay,
        cap,
        stop: Some(stop),
    }
}

/// A controller (checks through `relay`) until the returned sender is dropped.
fn run_controller(
    client: &kube::Client,
    relay: SocketAddr,
    cap: Option<Duration>,
) -> tokio::sync::oneshot::Sender<()> {
    let checker = Checker::new(Bootstrap::Static {
        zone: ZoneName::parse(ZONE).unwrap(),
        servers: vec![relay],
    })
    .timeout(Duration::from_millis(500));
    let platform = Platform {
        validation_zone: ZoneName::parse("acme.platform.test").unwrap(),
        traffic_hostname: Fqdn::parse("edge.platform.test").unwrap(),
        addresses: vec![],
        apex_alias_target: None,
    };
    let mut config = Config::new(platform, checker);
    config.settings = Settings {
        route: RouteMode::Ingress { class: None },
        issuing_poll: Duration::from_millis(500),
        check_delay_cap: cap,
    };
    config.error_requeue = Duration::from_millis(500);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let ready = dns01_domains::health::Readiness::default();
    let metrics = std::sync::Arc::new(dns01_domains::metrics::Metrics::default());
    tokio::spawn(controller::run(
        client.clone(),
        config,
        ready,
        metrics,
        async move {
            let _ = stopped.await;
        },
    ));
    stop
}

impl Env {
    /// Stops the controller (its memory goes with it).
    async fn stop(&mut self) {
        self.stop.take();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    /// Starts a new controller, as after a restart of the pod.
    fn restart(&mut self) {
        self.stop = Some(run_controller(&self.client, self.relay.addr, self.cap));
    }
}

fn custom_domain(name: &str) -> CustomDomain {
    CustomDomain::new(
        name,
        CustomDomainSpec {
            hostname: Hostname::parse(HOST).unwrap(),
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
    )
}

async fn create(env: &Env, namespace: &str) {
    let api: Api<CustomDomain> = Api::namespaced(env.client.clone(), namespace);
    api.create(&PostParams::default(), &custom_domain("app"))
        .await
        .unwrap();
}

/// Polls `f` until it gives a value, for up to 20 s.
async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn condition(domain: &Value, type_: &str) -> Option<(String, String, String)> {
    domain["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (s("status"), s("reason"), s("message"))
        })
}

/// Waits until the CustomDomain `ns/app` has condition `type_` with `reason`.
async fn domain_condition(
    env: &Env,
    ns: &str,
    type_: &str,
    reason: &str,
) -> (String, String, String) {
    domain_condition_of(&env.fake, ns, "app", type_, reason).await
}

/// Waits until the CustomDomain `ns/name` has condition `type_` with `reason`.
async fn domain_condition_of(
    fake: &KubeFake,
    ns: &str,
    name: &str,
    type_: &str,
    reason: &str,
) -> (String, String, String) {
    for _ in 0..200 {
        let found = fake
            .object(&domains(), ns, name)
            .and_then(|d| condition(&d, type_))
            .filter(|c| c.1 == reason);
        if let Some(found) = found {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let requests: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let stored = fake.object(&domains(), ns, name);
    panic!("timed out waiting for {ns} {type_} {reason}: {stored:#?}\nrequests: {requests:#?}");
}

#[tokio::test]
async fn a_domain_goes_from_missing_records_to_a_certificate_pebble_issued_route_and_ready_and_its_deletion_keeps_the_secret()
 {
    let key = TsigKeySpec::new("acme-update", "hmac-sha256");
    let before = customer_dns(None);
    let after = customer_and_validation_dns("team-a", &key);
    let env = start(&before).await;
    let issuance = issuance(&env, &after).await;
    create(&env, "team-a").await;

    // The records to create are listed, missing.
    let missing = domain_condition(&env, "team-a", "Ready", "RecordNotFound").await;
    assert_eq!(missing.0, "False");
    let stored = env.fake.object(&domains(), "team-a", "app").unwrap();
    assert_eq!(
        stored["metadata"]["finalizers"],
        json!(["domains.dns01.dev/cleanup"])
    );
    let records = stored["status"]["requiredRecords"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(records.iter().all(|r| r["found"] == false), "{records:?}");
    assert!(
        records.iter().any(|r| r["value"] == delegation("team-a")),
        "{records:?}"
    );
    assert!(env.fake.object(&certificates(), "team-a", "app").is_none());

    // The customer creates the records: the controller verifies them and asks for a certificate.
    env.relay.switch(after.addr());
    let certificate = eventually("the Certificate", || {
        env.fake.object(&certificates(), "team-a", "app")
    })
    .await;
    assert_eq!(certificate["spec"]["dnsNames"], json!([HOST]));
    assert_eq!(certificate["spec"]["secretName"], "app-tls");
    assert_eq!(
        certificate["metadata"]["ownerReferences"][0]["uid"],
        stored["metadata"]["uid"]
    );
    assert_eq!(
        env.fake.field_managers(&certificates(), "team-a", "app"),
        ["dns01-domains"]
    );

    // The tenant's TSIG Secret is not there yet: the webhook refuses the challenge, and its
    // words reach the CustomDomain's status through the Challenge.
    let (status, _, message) =
        domain_condition(&env, "team-a", "CertificateReady", "Issuing").await;
    assert_eq!(status, "False");
    let mut stuck = None;
    for _ in 0..200 {
        let d = env.fake.object(&domains(), "team-a", "app").unwrap();
        let (_, _, message) = condition(&d, "CertificateReady").unwrap();
        if message.starts_with("error presenting challenge: ") {
            stuck = Some(message);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stuck = stuck.unwrap_or_else(|| {
        panic!(
            "the webhook's reason never reached the status: {:?}\n{:#?}",
            issuance.cert_manager.history(),
            env.fake.object(&domains(), "team-a", "app")
        )
    });
    assert!(
        stuck.contains("tsig"),
        "names the Secret: {stuck} (was {message})"
    );
    assert!(
        env.fake.object(&ingresses(), "team-a", "app").is_none(),
        "no traffic before the certificate"
    );

    // The platform gives the tenant its TSIG Secret: the stand-in's next attempt issues through
    // Pebble, which validates `_acme-challenge.app.customer.test` through the customer's CNAME.
    env.fake.set_secret(
        "team-a",
        "tsig",
        &[("tsig-secret-key", key.secret.as_bytes())],
    );
    let mut ingress = None;
    for _ in 0..300 {
        ingress = env.fake.object(&ingresses(), "team-a", "app");
        if ingress.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ingress = ingress.unwrap_or_else(|| {
        panic!(
            "no Ingress: {:?}\n{:#?}\npebble:\n{}",
            issuance.cert_manager.history(),
            env.fake.object(&certificates(), "team-a", "app"),
            issuance.pebble.log()
        )
    });
    assert_eq!(ingress["spec"]["tls"][0]["secretName"], "app-tls");
    assert_eq!(
        ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
        "web"
    );
    let ready = domain_condition(&env, "team-a", "Ready", "Ready").await;
    assert_eq!(ready.0, "True");
    assert_eq!(issuance.cert_manager.history().issued, ["team-a/app"]);

    // The Secret holds a chain Pebble signed for the hostname, and the key that goes with it.
    let secret = env.fake.object(&secrets(), "team-a", "app-tls").unwrap();
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let b64 = base64::engine::general_purpose::STANDARD;
    let chain = b64
        .decode(secret["data"]["tls.crt"].as_str().unwrap())
        .unwrap();
    let blocks = pem_blocks(&chain);
    assert!(blocks.len() >= 2, "leaf and intermediate");
    let (_, leaf) = x509_parser::parse_x509_certificate(&blocks[0]).unwrap();
    let (_, intermediate) = x509_parser::parse_x509_certificate(&blocks[1]).unwrap();
    let sans: Vec<String> = leaf
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(sans, [format!("DNSName({HOST})")]);
    leaf.verify_signature(Some(intermediate.public_key()))
        .expect("the leaf is signed by the chain's intermediate");
    let pebble_intermediate = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(issuance.pebble.tls_ca_pem().as_bytes()).unwrap(),
        )
        .build()
        .unwrap()
        .get(format!(
            "{}/intermediates/0",
            issuance.pebble.management_url()
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        blocks[1],
        pem_blocks(&pebble_intermediate)[0],
        "the intermediate is Pebble's"
    );
    let key_pem = b64
        .decode(secret["data"]["tls.key"].as_str().unwrap())
        .unwrap();
    let key = String::from_utf8(key_pem).unwrap();
    let key = rcgen::KeyPair::from_pem(&key).unwrap();
    assert_eq!(
        key.public_key_raw(),
        leaf.public_key().subject_public_key.data.as_ref(),
        "tls.key is the certificate's key"
    );
    let events = env.fake.objects(
        &ResourceKind::new("events.k8s.io/v1", "events"),
        Some("team-a"),
    );
    let reasons: Vec<&str> = events.iter().filter_map(|e| e["reason"].as_str()).collect();
    assert!(
        reasons.contains(&"RecordNotFound")
            && reasons.contains(&"Issuing")
            && reasons.contains(&"Ready"),
        "{reasons:?}"
    );
    // The Challenge is gone once the order is valid, and the TXT record cleaned up.
    assert!(
        env.fake
            .objects(
                &ResourceKind::new("acme.cert-manager.io/v1", "challenges"),
                None
            )
            .is_empty()
    );
    assert_eq!(
        dns01_testkit::acmetest::txt_values(
            after.addr(),
            &format!("_acme-challenge.{HOST}"),
            false
        )
        .await
        .unwrap(),
        Vec::<String>::new()
    );

    // Steady state: more reconciles (the capped schedule checks every second), no writes.
    let writes = env.fake.write_count("customdomains.domains.dns01.dev");
    let cert_writes = env.fake.write_count("certificates.cert-manager.io");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        env.fake.write_count("customdomains.domains.dns01.dev"),
        writes,
        "no status write without a change"
    );
    assert_eq!(
        env.fake.write_count("certificates.cert-manager.io"),
        cert_writes
    );

    // Deletion: route and Certificate go, the Secret stays with its delete-after time.
    let api: Api<CustomDomain> = Api::namespaced(env.client.clone(), "team-a");
    api.delete("app", &DeleteParams::default()).await.unwrap();
    eventually("the CustomDomain gone", || {
        env.fake
            .object(&domains(), "team-a", "app")
            .is_none()
            .then_some(())
    })
    .await;
    assert!(env.fake.object(&certificates(), "team-a", "app").is_none());
    assert!(env.fake.object(&ingresses(), "team-a", "app").is_none());
    let secret = env
        .fake
        .object(&secrets(), "team-a", "app-tls")
        .expect("the Secret is kept");
    assert_eq!(secret["metadata"]["labels"][RETAINED_LABEL], "true");
    let delete_after = secret["metadata"]["annotations"][DELETE_AFTER_ANNOTATION]
        .as_str()
        .unwrap();
    let delete_after: k8s_openapi::jiff::Timestamp = delete_after.parse().unwrap();
    let left = delete_after.as_second() - k8s_openapi::jiff::Timestamp::now().as_second();
    let week = 7 * 86_400;
    assert!(
        (week - 60..=week).contains(&left),
        "seven days from the deletion: {delete_after}"
    );

    // Re-created within the grace period: cert-manager finds the kept certificate up to date
    // (no second order at the CA) and the domain is ready again with it.
    create(&env, "team-a").await;
    domain_condition(&env, "team-a", "Ready", "Ready").await;
    let secret = env.fake.object(&secrets(), "team-a", "app-tls").unwrap();
    assert!(
        secret["metadata"]["annotations"]
            .get(DELETE_AFTER_ANNOTATION)
            .is_none(),
        "{secret}"
    );
    assert_eq!(
        b64.decode(secret["data"]["tls.crt"].as_str().unwrap())
            .unwrap(),
        chain,
        "the same certificate"
    );
    let history = issuance.cert_manager.history();
    assert_eq!(history.issued, ["team-a/app"], "issued once");
    assert_eq!(history.reused, ["team-a/app"], "{history:?}");

    // Every call the controller made (watches, status, Certificate, Ingress, Secret, Events)
    // is one the documented RBAC, and so the chart, allows.
    crate::rbac::assert_every_request_allowed(
        &env.fake,
        &crate::rbac::readme_rules(crate::rbac::Route::Ingress, "unused"),
    );
}

#[tokio::test]
async fn a_delegation_made_for_another_namespace_gets_no_certificate_and_names_the_right_record() {
    let dns = customer_dns(Some("team-b"));
    let env = start(&dns).await;
    create(&env, "team-a").await;
    let (status, _, message) =
        domain_condition(&env, "team-a", "DelegationVerified", "RecordMismatch").await;
    assert_eq!(status, "False");
    assert!(message.contains(&delegation("team-a")), "{message}");
    assert!(
        message.contains(&delegation("team-b")),
        "says what it found: {message}"
    );
    // A few more checks change nothing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(env.fake.object(&certificates(), "team-a", "app").is_none());
    assert!(env.fake.object(&ingresses(), "team-a", "app").is_none());
    assert_eq!(env.fake.write_count("certificates.cert-manager.io"), 0);
}

#[tokio::test]
async fn the_same_hostname_in_two_namespaces_gives_one_conflict() {
    let dns = customer_dns(Some("team-a"));
    let env = start(&dns).await;
    create(&env, "team-a").await;
    domain_condition(&env, "team-a", "DelegationVerified", "Verified").await;
    create(&env, "team-b").await;
    let (_, _, message) = domain_condition(&env, "team-b", "DelegationVerified", "Conflict").await;
    assert!(message.contains("namespace team-a"), "{message}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let a = env.fake.object(&domains(), "team-a", "app").unwrap();
    assert_eq!(condition(&a, "DelegationVerified").unwrap().1, "Verified");
    let certs = env.fake.objects(&certificates(), None);
    let owners: Vec<&str> = certs
        .iter()
        .filter_map(|c| c["metadata"]["namespace"].as_str())
        .collect();
    assert_eq!(owners, ["team-a"]);
}

/// Polls `url` until it answers `want`.
async fn answers(url: &str, want: u16) -> bool {
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(url).await
            && r.status().as_u16() == want
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// A kubeconfig for `fake` in `dir`.
fn kubeconfig(fake: &KubeFake, dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters: [{{name: fake, cluster: {{server: \"{}\"}}}}]\n\
             users: [{{name: fake, user: {{token: t0ken}}}}]\n\
             contexts: [{{name: fake, context: {{cluster: fake, user: fake}}}}]\n",
            fake.url().as_str().trim_end_matches('/')
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn the_controller_command_asks_nameservers_on_the_given_port_and_points_apexes_at_the_alias_target()
 {
    let dns = customer_dns(Some("team-a"));
    let fake = KubeFake::start().await;
    fake.status_subresource(&domains());
    let dir = tempfile::tempdir().unwrap();
    let addr = dns.addr();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dns01-domains"))
        .args([
            "controller",
            "--validation-zone",
            "acme.platform.test",
            "--traffic-hostname",
            "edge.platform.test",
            "--apex-alias-target",
            "apex.platform.test",
            // The zone's NS (ns1.customer.test → 127.0.0.1) is found through the resolver and
            // asked on the port `named` listens on.
            "--resolver",
            &addr.to_string(),
            "--nameserver-port",
            &addr.port().to_string(),
            "--dns-timeout-ms",
            "1000",
            "--health-addr",
            "127.0.0.1:0",
        ])
        .env("KUBECONFIG", kubeconfig(&fake, dir.path()))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client =
        kube::Client::try_from(kube::Config::new(fake.url().as_str().parse().unwrap())).unwrap();
    let api: Api<CustomDomain> = Api::namespaced(client, "team-a");
    api.create(&PostParams::default(), &custom_domain("app"))
        .await
        .unwrap();
    let mut apex = custom_domain("apex");
    apex.spec.hostname = Hostname::parse(ZONE).unwrap();
    api.create(&PostParams::default(), &apex).await.unwrap();
    let (status, _, message) =
        domain_condition_of(&fake, "team-a", "app", "DelegationVerified", "Verified").await;
    assert_eq!(status, "True", "{message}");
    let records = eventually("the apex's records", || {
        let d = fake.object(&domains(), "team-a", "apex")?;
        d["status"]["requiredRecords"].as_array().cloned()
    })
    .await;
    assert_eq!(
        (&records[0]["type"], &records[0]["value"]),
        (&json!("ALIAS"), &json!("apex.platform.test.")),
        "{records:?}"
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn the_controller_command_leads_serves_health_reconciles_and_releases_its_lease_on_sigterm() {
    let fake = KubeFake::start().await;
    fake.status_subresource(&domains());
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig(&fake, dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dns01-domains"))
        .args([
            "controller",
            "--validation-zone",
            "acme.platform.test",
            "--traffic-hostname",
            "edge.platform.test",
            "--route",
            "httproute",
            "--gateway",
            "platform/edge",
            "--gateway-listener",
            "https",
            "--health-addr",
            &format!("127.0.0.1:{port}"),
            "--leader-election",
            "--lease-namespace",
            "dns01",
            "--identity",
            "replica-1",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    assert!(answers(&format!("http://127.0.0.1:{port}/healthz"), 200).await);
    assert!(
        answers(&format!("http://127.0.0.1:{port}/readyz"), 200).await,
        "ready once CustomDomains can be listed"
    );

    let client =
        kube::Client::try_from(kube::Config::new(fake.url().as_str().parse().unwrap())).unwrap();
    let api: Api<CustomDomain> = Api::namespaced(client, "team-a");
    api.create(&PostParams::default(), &custom_domain("app"))
        .await
        .unwrap();
    eventually("the finalizer and a status", || {
        let d = fake.object(&domains(), "team-a", "app")?;
        (d["metadata"]["finalizers"] == json!(["domains.dns01.dev/cleanup"]))
            .then(|| condition(&d, "Ready"))
            .flatten()
    })
    .await;

    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = |prefix: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(prefix))
            .map(str::to_owned)
    };
    let ready = line("dns01_domains_domains{condition=\"Ready\"").expect("domains by condition");
    assert!(ready.ends_with(" 1"), "one domain: {ready}");
    assert!(
        line("dns01_domains_checks_total{outcome=").is_some(),
        "{metrics}"
    );
    assert!(
        line("dns01_domains_check_duration_seconds_count").is_some_and(|l| !l.ends_with(" 0")),
        "{metrics}"
    );

    let lease = fake
        .lease("dns01", "dns01-domains")
        .expect("the leader Lease");
    assert_eq!(lease["spec"]["holderIdentity"], "replica-1");

    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("it stops within 10 s")
        .unwrap();
    assert!(status.success(), "{status}");
    let lease = fake.lease("dns01", "dns01-domains").unwrap();
    assert!(
        lease["spec"]["holderIdentity"].is_null(),
        "released on SIGTERM: {lease}"
    );
    // The binary's calls, HTTPRoutes and the Lease included, are allowed by the documented
    // RBAC (the chart's).
    crate::rbac::assert_every_request_allowed(
        &fake,
        &crate::rbac::readme_rules(crate::rbac::Route::HttpRoute, "dns01"),
    );
}

#[tokio::test]
async fn the_sweep_deletes_only_kept_secrets_past_their_delete_after_time() {
    let fake = KubeFake::start().await;
    let secret = |ns: &str, name: &str, label: bool, after: &str| {
        let mut s = json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"namespace": ns, "name": name,
                         "annotations": {DELETE_AFTER_ANNOTATION: after}},
        });
        if label {
            s["metadata"]["labels"] = json!({RETAINED_LABEL: "true"});
        }
        fake.put(&secrets(), s);
    };
    secret("team-a", "past", true, "2026-01-01T00:00:00Z");
    secret("team-b", "past-too", true, "2026-06-01T00:00:00Z");
    secret("team-a", "future", true, "2099-01-01T00:00:00Z");
    secret("team-a", "not-ours", false, "2026-01-01T00:00:00Z");
    let client =
        kube::Client::try_from(kube::Config::new(fake.url().as_str().parse().unwrap())).unwrap();
    let now: k8s_openapi::jiff::Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
    let deleted = controller::sweep_retained_secrets(&client, now)
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    let left: Vec<String> = fake
        .objects(&secrets(), None)
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(left, ["future", "not-ours"]);
}

#[tokio::test]
async fn the_recheck_annotation_checks_at_once_and_nothing_is_checked_before_it_is_due() {
    let before = customer_dns(None);
    let after = customer_dns(Some("team-a"));
    // Cloudflare's schedule as in production: the next check is 60 s away.
    let env = start_with(&before, None).await;
    create(&env, "team-a").await;
    domain_condition(&env, "team-a", "DelegationVerified", "RecordNotFound").await;
    env.relay.switch(after.addr());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let d = env.fake.object(&domains(), "team-a", "app").unwrap();
    assert_eq!(
        condition(&d, "DelegationVerified").unwrap().1,
        "RecordNotFound",
        "no check before nextCheck"
    );
    let api: Api<CustomDomain> = Api::namespaced(env.client.clone(), "team-a");
    let annotate = json!({"metadata": {"annotations": {"domains.dns01.dev/recheck": "1"}}});
    api.patch(
        "app",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&annotate),
    )
    .await
    .unwrap();
    domain_condition(&env, "team-a", "DelegationVerified", "Verified").await;
}

#[tokio::test]
async fn a_recheck_request_is_acted_on_once_across_controller_restarts() {
    let dns = customer_dns(None);
    let mut env = start_with(&dns, None).await;
    env.stop().await;
    // A domain whose records have been missing for 8 days, whose last re-check request
    // ("1") was acted on before the controller restarted.
    let created = env.fake.put(
        &domains(),
        json!({
            "apiVersion": "domains.dns01.dev/v1alpha1", "kind": "CustomDomain",
            "metadata": {"namespace": "team-a", "name": "app",
                         "annotations": {RECHECK_ANNOTATION: "1"}},
            "spec": serde_json::to_value(&custom_domain("app").spec).unwrap(),
        }),
    );
    let eight_days_ago = k8s_openapi::jiff::Timestamp::now().as_second() - 8 * 86_400;
    let eight_days_ago = k8s_openapi::jiff::Timestamp::from_second(eight_days_ago).unwrap();
    env.fake.merge(
        &domains(),
        "team-a",
        "app",
        &json!({"status": {
            "observedGeneration": created["metadata"]["generation"],
            "firstChecked": format!("{eight_days_ago:.0}"),
            "lastRecheck": "1",
        }}),
    );
    env.restart();
    // Checked at first sight, but "1" was already acted on: the schedule is not restarted.
    let (_, _, message) = domain_condition(&env, "team-a", "DelegationVerified", "Expired").await;
    assert!(message.starts_with("still unmet after 7 days"), "{message}");
    let d = env.fake.object(&domains(), "team-a", "app").unwrap();
    assert_eq!(d["status"]["nextCheck"], Value::Null, "no more checks");

    // The customer asks again while the controller is down: the new controller acts on it.
    env.stop().await;
    env.fake.merge(
        &domains(),
        "team-a",
        "app",
        &json!({"metadata": {"annotations": {RECHECK_ANNOTATION: "2"}}}),
    );
    env.restart();
    domain_condition(&env, "team-a", "DelegationVerified", "RecordNotFound").await;
    let d = env.fake.object(&domains(), "team-a", "app").unwrap();
    assert_eq!(d["status"]["lastRecheck"], "2");
    assert!(d["status"]["nextCheck"].is_string(), "a new schedule: {d}");
    let first: k8s_openapi::jiff::Timestamp = d["status"]["firstChecked"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(first > eight_days_ago, "{first}");

    // Another restart (a second later) does not act on "2" again: the schedule goes on from
    // the same start.
    env.stop().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.restart();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let again = env.fake.object(&domains(), "team-a", "app").unwrap();
    assert_eq!(again["status"]["firstChecked"], d["status"]["firstChecked"]);
}
