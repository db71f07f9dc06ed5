//! The gateway on an ephemeral port in its own thread, with every log line at trace level
//! captured; files it reads; tokens; a shell for skopeo.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use dns01_registry_gateway::{Config, State, metrics_router, router};
use sha2::Digest as _;

/// Captured log output.
#[derive(Clone, Default)]
pub(crate) struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A running gateway.
pub(crate) struct Gateway {
    pub(crate) addr: SocketAddr,
    /// The metrics listener (`metrics_router`), apart from the public one.
    pub(crate) metrics_addr: SocketAddr,
    pub(crate) logs: Logs,
}

/// A listener bound before the gateway's configuration exists (its port goes into the
/// registry's `realm`).
pub(crate) fn bind() -> std::net::TcpListener {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    l
}

impl Gateway {
    pub(crate) fn serve(listener: std::net::TcpListener, yaml: &str) -> Self {
        Self::serve_watching(listener, yaml, None)
    }

    /// Serves, and with `watch`, reloads the routes when that file changes.
    pub(crate) fn serve_watching(
        listener: std::net::TcpListener,
        yaml: &str,
        watch: Option<PathBuf>,
    ) -> Self {
        let state = State::new(Config::from_yaml(yaml).unwrap()).unwrap();
        Self::serve_state(listener, state, watch)
    }

    /// Serves with a Kubernetes client (a fake API's), as `serve` does in a cluster.
    pub(crate) fn serve_with_kube(
        listener: std::net::TcpListener,
        yaml: &str,
        kube: kube::Client,
    ) -> Self {
        let state = State::with_kubernetes(Config::from_yaml(yaml).unwrap(), Some(kube)).unwrap();
        Self::serve_state(listener, state, None)
    }

    fn serve_state(
        listener: std::net::TcpListener,
        state: Arc<State>,
        watch: Option<PathBuf>,
    ) -> Self {
        let addr = listener.local_addr().unwrap();
        let metrics_listener = bind();
        let metrics_addr = metrics_listener.local_addr().unwrap();
        let watched = watch.map(|p| (Arc::clone(&state), p));
        let logs = Logs::default();
        let writer = logs.clone();
        std::thread::spawn(move || {
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            let _guard = tracing::subscriber::set_default(subscriber);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Some((state, path)) = watched {
                    tokio::spawn(dns01_registry_gateway::watch_config(
                        state,
                        path,
                        std::time::Duration::from_millis(100),
                    ));
                }
                let metrics_listener = tokio::net::TcpListener::from_std(metrics_listener).unwrap();
                let metrics_app = metrics_router(Arc::clone(&state));
                tokio::spawn(async move { axum::serve(metrics_listener, metrics_app).await });
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, router(state)).await.unwrap();
            });
        });
        Self {
            addr,
            metrics_addr,
            logs,
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://<host>:<port>` for a host name that resolves to 127.0.0.1.
    pub(crate) fn url(&self, host: &str) -> String {
        format!("http://{host}:{}", self.port())
    }
}

/// A temporary directory for the files the configuration names.
pub(crate) struct Files(pub(crate) tempfile::TempDir);

impl Files {
    pub(crate) fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    pub(crate) fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
}

pub(crate) fn sha256_hex(s: &str) -> String {
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An ECDSA key (PKCS#8 PEM), its self-signed certificate (PEM) and its libtrust key id.
pub(crate) fn signing_key() -> (String, String, String) {
    let pair = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["dns01-gateway-signer".to_owned()])
        .unwrap()
        .self_signed(&pair)
        .unwrap();
    let kid = dns01_registry::jwt::SigningKey::from_pkcs8_der(&pair.serialize_der())
        .unwrap()
        .key_id()
        .to_owned();
    (pair.serialize_pem(), cert.pem(), kid)
}

/// A gateway token for `scopes` (each a `scope` parameter) with Basic `user:password`.
pub(crate) async fn token(
    base: &str,
    user: &str,
    password: &str,
    scopes: &[&str],
) -> (u16, String) {
    let mut url = url::Url::parse(&format!("{base}/token")).unwrap();
    for s in scopes {
        url.query_pairs_mut().append_pair("scope", s);
    }
    let r = reqwest::Client::new()
        .get(url)
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap();
    (
        status,
        body["token"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The claims of a JWT (not checked).
pub(crate) fn claims(jwt: &str) -> serde_json::Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// The header of a JWT-looking string, if it is one.
pub(crate) fn jwt_header(s: &str) -> Option<serde_json::Value> {
    let first = s.split('.').next()?;
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(first)
            .ok()?,
    )
    .ok()
}

/// `skopeo <args>` with a private `--tmpdir` where it copies; returns (success, output).
pub(crate) fn skopeo(args: &[&str]) -> (bool, String) {
    let bin = dns01_testkit::registry::binary("skopeo").unwrap();
    let out = Command::new(bin).args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Everything a client saw of a response: status line, headers, body.
pub(crate) async fn seen(r: reqwest::Response) -> (u16, String, serde_json::Value) {
    let status = r.status().as_u16();
    let mut text = format!("{status}\n");
    for (k, v) in r.headers() {
        text.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or_default()));
    }
    let body = r.text().await.unwrap_or_default();
    text.push_str(&body);
    (
        status,
        text,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}
