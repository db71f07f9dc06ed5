//! Shared helpers: the webhook served over real TLS, TLS clients, the `gandi` solver against the
//! emulator with Secrets from the fake Kubernetes API, payloads.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use dns01_testkit::emulator::Emulator;
use dns01_testkit::kubefake::KubeFake;
use dns01_testkit::pki::TestCa;
use dns01_webhook::AppState;
use dns01_webhook::secrets::{KubeSecrets, SecretSource};
use dns01_webhook::server::{self, ServeOptions};
use dns01_webhook::solver::Solvers;
use dns01_webhook::solver::gandi::{AmbientCredentials, GandiSettings, GandiSolver};
use dns01_webhook::tls;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::client::TlsStream;

pub(crate) use crate::common::*;

/// A webhook served by `server::serve_with_options` on 127.0.0.1:0 with a certificate of its
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
        let config =
            tls::server_config(Arc::new(rustls::sign::SingleCertAndKey::from(key)), true).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(server::serve_with_options(
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

/// Secrets read through the Kubernetes API of `fake` (plain HTTP, no credentials).
pub(crate) fn kube_secrets(fake: &KubeFake) -> Arc<dyn SecretSource> {
    Arc::new(KubeSecrets::new(crate::common::kube_client(fake)))
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

/// POSTs a JSON payload to `solver` through `app`, without a socket.
pub(crate) async fn post(app: &Router, solver: &str, payload: &Value) -> (StatusCode, Value) {
    let body = serde_json::to_vec(payload).unwrap();
    send(app, "POST", &solver_path(solver), body).await
}
