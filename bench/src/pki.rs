//! The run's PKI: a serving CA and certificate (shared by the webhook and the baseline), a
//! front-proxy CA and the front-proxy client certificate the load client presents, written to
//! a temporary directory, and the client's TLS configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use dns01_testkit::pki::{TestCa, TestCert};
use rustls::ClientConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Common name of the front-proxy client certificate (the only allowed name).
pub const FRONT_PROXY_CN: &str = "front-proxy-client";

/// Files and certificates of one run.
#[derive(Debug)]
pub struct RunPki {
    /// The directory holding the files (removed on drop).
    pub dir: tempfile::TempDir,
    /// The serving CA.
    pub serving_ca: TestCa,
    /// The front-proxy CA (the webhook's `--requestheader-client-ca-file`).
    pub front_proxy_ca: TestCa,
    /// The serving certificate (`localhost`, `127.0.0.1`).
    pub serving: TestCert,
    /// The front-proxy client certificate.
    pub client: TestCert,
}

impl RunPki {
    /// Generates everything and writes the PEM files.
    ///
    /// # Errors
    /// When the temporary directory cannot be created.
    pub fn generate() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let serving_ca = TestCa::new("dns01-bench serving CA");
        let front_proxy_ca = TestCa::new("dns01-bench front-proxy CA");
        let serving = serving_ca.server_cert(&[]);
        let client = front_proxy_ca.client_cert(FRONT_PROXY_CN, &[]);
        serving.write_pem_files(&dir.path().join("tls.crt"), &dir.path().join("tls.key"));
        std::fs::write(
            dir.path().join("front-proxy-ca.crt"),
            front_proxy_ca.cert_pem(),
        )
        .context("cannot write the front-proxy CA")?;
        Ok(Self {
            dir,
            serving_ca,
            front_proxy_ca,
            serving,
            client,
        })
    }

    /// A path inside the run directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The serving certificate file.
    pub fn cert_file(&self) -> PathBuf {
        self.path("tls.crt")
    }

    /// The serving key file.
    pub fn key_file(&self) -> PathBuf {
        self.path("tls.key")
    }

    /// The front-proxy CA file.
    pub fn front_proxy_ca_file(&self) -> PathBuf {
        self.path("front-proxy-ca.crt")
    }

    /// The load client's TLS configuration: trusts the serving CA, presents the front-proxy
    /// client certificate, offers only `http/1.1` (the client speaks HTTP/1.1), ring, the
    /// default protocol versions (TLS 1.3 negotiated with both servers).
    ///
    /// # Errors
    /// When rustls refuses the certificates.
    pub fn client_config(&self) -> anyhow::Result<Arc<ClientConfig>> {
        client_config(&self.serving_ca, &self.client)
    }
}

/// See [`RunPki::client_config`].
///
/// # Errors
/// When rustls refuses the certificates.
pub fn client_config(roots_ca: &TestCa, client: &TestCert) -> anyhow::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(roots_ca.cert_der().to_vec()))
        .context("cannot trust the serving CA")?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("no TLS versions")?
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![CertificateDer::from(client.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(client.key_der.clone())),
        )
        .context("cannot use the client certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Writes a kubeconfig pointing at `server` (plain HTTP) with a bearer token.
///
/// # Errors
/// When the file cannot be written.
pub fn write_kubeconfig(path: &Path, server: &str) -> anyhow::Result<()> {
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\n\
         contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: bench\n\
         current-context: fake\nusers:\n- name: bench\n  user:\n    token: bench-token\n"
    );
    std::fs::write(path, yaml).with_context(|| format!("cannot write {}", path.display()))
}
