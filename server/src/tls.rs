//! TLS: a rustls `ServerConfig` (ring, TLS 1.2 and 1.3 only) whose certificate reloads from
//! disk without a restart, and an optional client-certificate policy that leaves trust
//! decisions to the application. The connection loop that serves it is [`crate::serve`].
//!
//! # Client certificates
//! With `request_client_certs`, the server *requests* a client certificate but does not
//! require one, and at the TLS layer it verifies only the handshake signature, i.e. that the
//! client holds the private key of the certificate it presented. Whether the chain is trusted,
//! and by which CA (CAs that may change at runtime), is for the application to decide per
//! request from the [`PeerCertificates`] extension (the webhook's authenticator does). This
//! mirrors the Go framework (`tls.RequestClientCert` + per-request x509 verification).
//! **Never request client certificates without a layer that verifies them.**

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use sha2::{Digest, Sha256};

/// The TLS client certificate chain of the connection a request arrived on (end entity
/// first). Inserted by [`crate::serve()`] into every request of a connection that
/// presented one.
#[derive(Clone, Debug)]
pub struct PeerCertificates(Arc<[CertificateDer<'static>]>);

impl PeerCertificates {
    /// A chain, end entity first.
    pub fn new(chain: Vec<CertificateDer<'static>>) -> Self {
        Self(chain.into())
    }

    /// The certificates, end entity first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.0
    }
}

/// Errors of TLS setup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The certificate file holds no usable PEM certificate.
    #[error("{} contains no PEM certificate", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no usable PEM private key.
    #[error("{} contains no usable PEM private key", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the key or configuration (for example, the key does not match the
    /// certificate).
    #[error("invalid TLS certificate, key or configuration")]
    Rustls(#[source] rustls::Error),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads a certificate chain and its key from PEM files and checks that they match.
pub fn load_certified_key(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, TlsError> {
    let cert_pem = std::fs::read(cert_path).map_err(|source| TlsError::Io {
        path: cert_path.to_owned(),
        source,
    })?;
    let key_pem = std::fs::read(key_path).map_err(|source| TlsError::Io {
        path: key_path.to_owned(),
        source,
    })?;
    certified_key_from_pem(&cert_pem, &key_pem).map_err(|err| match err {
        TlsError::NoCertificate { .. } => TlsError::NoCertificate {
            path: cert_path.to_owned(),
        },
        TlsError::NoKey { .. } => TlsError::NoKey {
            path: key_path.to_owned(),
        },
        other => other,
    })
}

/// Builds a [`CertifiedKey`] from PEM bytes (chain, then key) and checks that they match.
pub fn certified_key_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::NoCertificate {
            path: PathBuf::new(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: PathBuf::new(),
        });
    }
    // The PEM error could quote the key file: leave it out.
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| TlsError::NoKey {
        path: PathBuf::new(),
    })?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(TlsError::Rustls)
}

/// SHA-256 of the two files' contents (`None` for an unreadable file). Contents, not mtimes:
/// file timestamps are too coarse to tell two writes in the same tick apart.
type Stamp = [Option<[u8; 32]>; 2];

fn stamp(cert: &Path, key: &Path) -> Stamp {
    [cert, key].map(|p| std::fs::read(p).ok().map(|b| Sha256::digest(&b).into()))
}

struct ReloadState {
    last_check: Instant,
    stamp: Stamp,
}

/// Serves the certificate from a pair of PEM files (chain, key) and reloads it when
/// the files change: at most once per check interval, during a handshake, it reads both
/// (small) files and, if their contents changed, loads the pair. A pair that does
/// not load (half-written, mismatched) keeps the previous certificate and logs a warning.
/// Open connections are never affected.
pub struct ReloadingCertResolver {
    cert_path: PathBuf,
    key_path: PathBuf,
    check_interval: Duration,
    current: RwLock<Arc<CertifiedKey>>,
    state: Mutex<ReloadState>,
}

impl fmt::Debug for ReloadingCertResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingCertResolver")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("check_interval", &self.check_interval)
            .finish_non_exhaustive()
    }
}

impl ReloadingCertResolver {
    /// Loads the pair now (failing if it cannot) and checks for changes at most once a second.
    pub fn new(
        cert_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
    ) -> Result<Arc<Self>, TlsError> {
        Self::with_check_interval(cert_path, key_path, Duration::from_secs(1))
    }

    /// Like [`new`](Self::new) with another minimum interval between checks.
    pub fn with_check_interval(
        cert_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
        check_interval: Duration,
    ) -> Result<Arc<Self>, TlsError> {
        let cert_path = cert_path.into();
        let key_path = key_path.into();
        let stamp = stamp(&cert_path, &key_path);
        let key = load_certified_key(&cert_path, &key_path)?;
        Ok(Arc::new(Self {
            current: RwLock::new(Arc::new(key)),
            state: Mutex::new(ReloadState {
                last_check: Instant::now(),
                stamp,
            }),
            cert_path,
            key_path,
            check_interval,
        }))
    }

    /// The certificate currently served.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reloads the pair if the files changed since the last check (ignoring the interval).
    /// `Ok(true)`: a new certificate is in force; `Err`: the files changed but do not load, the
    /// previous certificate stays.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.last_check = Instant::now();
        let now = stamp(&self.cert_path, &self.key_path);
        if now == state.stamp {
            return Ok(false);
        }
        // Remember the stamp even if loading fails: the next write changes it again.
        state.stamp = now;
        let key = load_certified_key(&self.cert_path, &self.key_path)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
        Ok(true)
    }

    fn maybe_reload(&self) {
        {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.last_check.elapsed() < self.check_interval {
                return;
            }
        }
        match self.reload_if_changed() {
            Ok(true) => {
                tracing::info!(cert = %self.cert_path.display(), "serving certificate reloaded")
            }
            Ok(false) => {}
            Err(err) => tracing::warn!(
                cert = %self.cert_path.display(),
                error = %dns01_core::error::report(&err),
                "serving certificate files changed but do not load; keeping the previous certificate"
            ),
        }
    }
}

impl ResolvesServerCert for ReloadingCertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.maybe_reload();
        Some(self.current())
    }
}

/// A client-certificate policy that requests a certificate, does not require one, and checks
/// only proof of possession of its key; the chain is for the application to verify per
/// request. See the [module docs](self).
#[derive(Debug)]
pub struct RequestClientCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl Default for RequestClientCert {
    fn default() -> Self {
        Self {
            algorithms: provider().signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: clients (Go's among them) then send their certificate whatever its issuer.
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Trust is decided per request by the authenticator, against the CAs in force then.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A `ServerConfig` (ring, TLS 1.3 and 1.2, ALPN h2 + http/1.1) serving `certs`; with
/// `request_client_certs` it asks clients for a certificate ([`RequestClientCert`]).
pub fn server_config(
    certs: Arc<dyn ResolvesServerCert>,
    request_client_certs: bool,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Rustls)?;
    let builder = if request_client_certs {
        builder.with_client_cert_verifier(Arc::new(RequestClientCert::default()))
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_cert_resolver(certs);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
