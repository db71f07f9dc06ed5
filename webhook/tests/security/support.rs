//! Shared helpers: the webhook served over real TLS, TLS clients, the `gandi` solver against the
//! emulator with Secrets from the fake Kubernetes API, payloads.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use dns01_core::ZoneName;
use dns01_testkit::emulator::Emulator;
use dns01_testkit::kubefake::KubeFake;
use dns01_testkit::pki::TestCa;
use dns01_webhook::AppState;
use dns01_webhook::kube::{KubeClient, KubeCredentials, KubeTls};
use dns01_webhook::secrets::{KubeSecrets, SecretSource};
use dns01_webhook::solver::Solvers;
use dns01_webhook::solver::gandi::{AmbientCredentials, GandiSettings, GandiSolver};
use dns01_webhook::solver::memory::MemorySolver;
use dns01_webhook::tls::{self, FixedCert, ServeOptions};
use http_body_util::BodyExt as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::client::TlsStream;
use tower::ServiceExt as _;

pub(crate) const GROUP: &str = "acme.example.com";

/// The path cert-manager posts to for `solver`.
pub(crate) fn solver_path(solver: &str) -> String {
    format!("/apis/{GROUP}/v1alpha1/{solver}")
}

/// A webhook served by `tls::serve_with_options` on 127.0.0.1:0 with a certificate of its
/// own CA; shuts down when dropped.
pub(crate) struct TlsWebhook {
    pub(crate) addr: SocketAddr,
    pub(crate) ca: TestCa,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TlsWebhook {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TlsWebhook {
    pub(crate) async fn start(app: Router, options: ServeOptions) -> Self {
        let ca = TestCa::new("webhook serving ca");
        let cert = ca.server_cert(&["localhost"]);
        let key =
            tls::certified_key_from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
        let config = tls::server_config(Arc::new(FixedCert(Arc::new(key))), true).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(tls::serve_with_options(
            listener,
            config,
            app,
            async move {
                let _ = rx.await;
            },
            options,
        ));
        Self {
            addr,
            ca,
            shutdown: Some(tx),
        }
    }

    /// A raw TLS connection (ALPN http/1.1) to the webhook.
    pub(crate) async fn connect(&self) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        tokio_rustls::TlsConnector::from(rustls_client(&self.ca))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
    }

    /// An HTTPS client trusting the webhook's CA.
    pub(crate) fn https_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.ca.cert_pem().as_bytes()).unwrap(),
            )
            .build()
            .unwrap()
    }

    /// `https://localhost:PORT/apis/<group>/v1alpha1/<solver>`.
    pub(crate) fn url(&self, solver: &str) -> String {
        format!(
            "https://localhost:{}{}",
            self.addr.port(),
            solver_path(solver)
        )
    }
}

fn rustls_client(ca: &TestCa) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca.cert_der().to_vec()))
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// State with a `memory` solver over `zones`.
pub(crate) fn memory_state(zones: &[&str]) -> AppState {
    let zones: Vec<ZoneName> = zones.iter().map(|z| ZoneName::parse(z).unwrap()).collect();
    let mut solvers = Solvers::new();
    solvers.insert("memory".to_owned(), Arc::new(MemorySolver::new(zones)));
    AppState::new(GROUP, solvers)
}

/// Secrets read through the Kubernetes API of `fake` (plain HTTP, no credentials).
pub(crate) fn kube_secrets(fake: &KubeFake) -> Arc<dyn SecretSource> {
    let client = KubeClient::new(fake.url(), KubeTls::default(), KubeCredentials::None).unwrap();
    Arc::new(KubeSecrets::new(client))
}

/// A `gandi` solver against `emu`, reading Secrets from `secrets`.
pub(crate) fn gandi_solver(
    emu: &Emulator,
    secrets: Arc<dyn SecretSource>,
    ambient: AmbientCredentials,
) -> Arc<GandiSolver> {
    let url: url::Url = emu.api_url().parse().unwrap();
    let settings = GandiSettings {
        production_url: url.clone(),
        sandbox_url: url,
        ..GandiSettings::default()
    };
    Arc::new(GandiSolver::new(secrets, ambient, settings))
}

/// The state of a webhook serving `solver` as `gandi`.
pub(crate) fn gandi_state(solver: Arc<GandiSolver>) -> AppState {
    let mut solvers = Solvers::new();
    solvers.insert("gandi".to_owned(), solver);
    AppState::new(GROUP, solvers)
}

/// A request payload as cert-manager sends it.
pub(crate) fn payload(
    action: &str,
    dns_name: &str,
    resolved_fqdn: &str,
    namespace: &str,
    config: Value,
) -> Value {
    dns01_testkit::acmetest::ChallengeRequest {
        action: action.parse().expect("Present or CleanUp"),
        dns_name: dns_name.to_owned(),
        key: "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ".to_owned(),
        resource_namespace: namespace.to_owned(),
        resolved_fqdn: resolved_fqdn.to_owned(),
        resolved_zone: String::new(),
        allow_ambient_credentials: false,
        config,
    }
    .payload()
}

/// POSTs a JSON payload to `app` without a socket; returns the status and the JSON body.
pub(crate) async fn post(app: &Router, solver: &str, payload: &Value) -> (StatusCode, Value) {
    let request = Request::post(solver_path(solver))
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(payload).unwrap()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// `response.success` of a 201 answer.
pub(crate) fn success(status: StatusCode, body: &Value) -> bool {
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["response"]["success"].as_bool().unwrap()
}

/// `response.status.message` of a failed 201 answer.
pub(crate) fn failure_message(status: StatusCode, body: &Value) -> String {
    assert!(!success(status, body), "expected a failure: {body}");
    body["response"]["status"]["message"]
        .as_str()
        .unwrap()
        .to_owned()
}
