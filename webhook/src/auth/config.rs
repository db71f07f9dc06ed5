//! Authentication configuration: the CAs and header names of
//! `kube-system/extension-apiserver-authentication` (or the equivalent flags), compiled into
//! certificate verifiers, and a source that follows changes at runtime.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use sha2::{Digest, Sha256};

use super::AuthError;
use super::requestheader::IdentityHeaders;
use crate::kube::{KubeClient, KubeError};

/// Namespace of the ConfigMap kube-apiserver publishes its authentication settings in.
pub const AUTHENTICATION_CONFIGMAP_NAMESPACE: &str = "kube-system";
/// Name of that ConfigMap.
pub const AUTHENTICATION_CONFIGMAP_NAME: &str = "extension-apiserver-authentication";
/// Default username header (kube-apiserver's usual `--requestheader-username-headers`).
pub const DEFAULT_USERNAME_HEADER: &str = "X-Remote-User";
/// Default group header.
pub const DEFAULT_GROUP_HEADER: &str = "X-Remote-Group";
/// Default extra-header prefix.
pub const DEFAULT_EXTRA_HEADERS_PREFIX: &str = "X-Remote-Extra-";
/// How often the ConfigMap is polled by default.
pub const DEFAULT_CONFIGMAP_POLL: Duration = Duration::from_secs(30);
/// How often files are checked for changes by default.
pub const DEFAULT_FILE_POLL: Duration = Duration::from_secs(10);

/// Authentication settings, as kube-apiserver publishes them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// PEM bundle of CAs whose client certificates authenticate as CN (user) / O (groups).
    pub client_ca: Option<String>,
    /// PEM bundle of CAs that sign the front proxy's (kube-apiserver's) client certificate.
    pub requestheader_client_ca: Option<String>,
    /// CNs allowed for the front-proxy certificate; empty allows any CN signed by the CA.
    pub requestheader_allowed_names: Vec<String>,
    /// Headers carrying the user name (first non-empty wins).
    pub username_headers: Vec<String>,
    /// Headers carrying groups (all values of all of them).
    pub group_headers: Vec<String>,
    /// Prefixes of headers carrying extra attributes.
    pub extra_headers_prefix: Vec<String>,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("client_ca", &self.client_ca.as_ref().map(|_| "<pem>"))
            .field(
                "requestheader_client_ca",
                &self.requestheader_client_ca.as_ref().map(|_| "<pem>"),
            )
            .field(
                "requestheader_allowed_names",
                &self.requestheader_allowed_names,
            )
            .field("username_headers", &self.username_headers)
            .field("group_headers", &self.group_headers)
            .field("extra_headers_prefix", &self.extra_headers_prefix)
            .finish()
    }
}

fn json_list(data: &BTreeMap<String, String>, key: &str) -> Result<Vec<String>, AuthError> {
    match data.get(key).map(|s| s.trim()) {
        None | Some("") => Ok(Vec::new()),
        Some(text) => {
            serde_json::from_str::<Vec<String>>(text).map_err(|e| AuthError::InvalidConfig {
                message: format!("{key} is not a JSON array of strings: {e}"),
            })
        }
    }
}

impl AuthConfig {
    /// Reads the `data` of ConfigMap `kube-system/extension-apiserver-authentication`.
    /// Absent keys leave the corresponding feature off (no CA, no headers).
    pub fn from_configmap_data(data: &BTreeMap<String, String>) -> Result<Self, AuthError> {
        let pem = |key: &str| {
            data.get(key)
                .filter(|v| !v.trim().is_empty())
                .map(ToOwned::to_owned)
        };
        Ok(Self {
            client_ca: pem("client-ca-file"),
            requestheader_client_ca: pem("requestheader-client-ca-file"),
            requestheader_allowed_names: json_list(data, "requestheader-allowed-names")?,
            username_headers: json_list(data, "requestheader-username-headers")?,
            group_headers: json_list(data, "requestheader-group-headers")?,
            extra_headers_prefix: json_list(data, "requestheader-extra-headers-prefix")?,
        })
    }

    /// Builds the certificate verifiers; fails on a PEM bundle without certificates.
    pub fn compile(self) -> Result<CompiledAuthConfig, AuthError> {
        let requestheader_verifier = self
            .requestheader_client_ca
            .as_deref()
            .map(|pem| verifier("requestheader client CA", pem))
            .transpose()?;
        let client_verifier = self
            .client_ca
            .as_deref()
            .map(|pem| verifier("client CA", pem))
            .transpose()?;
        Ok(CompiledAuthConfig {
            identity_headers: IdentityHeaders::new(&self),
            config: self,
            requestheader_verifier,
            client_verifier,
            generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
        })
    }
}

/// Source of [`CompiledAuthConfig::generation`]: every compilation takes a new number, so
/// two compiled configurations never share one (unlike pointers, which may be reused).
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

fn verifier(what: &'static str, pem: &str) -> Result<Arc<dyn ClientCertVerifier>, AuthError> {
    let mut roots = rustls::RootCertStore::empty();
    let mut count = 0usize;
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| AuthError::InvalidConfig {
            message: format!("{what}: invalid PEM: {e}"),
        })?;
        roots.add(cert).map_err(|e| AuthError::InvalidConfig {
            message: format!("{what}: unusable CA certificate: {e}"),
        })?;
        count += 1;
    }
    if count == 0 {
        return Err(AuthError::InvalidConfig {
            message: format!("{what}: no certificate in the PEM bundle"),
        });
    }
    WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .map_err(|e| AuthError::InvalidConfig {
        message: format!("{what}: {e}"),
    })
}

/// An [`AuthConfig`] with its CAs turned into verifiers. The two verifiers are separate
/// objects: a certificate is a front-proxy certificate only if it verifies against the
/// requestheader CA, whatever the client CA says.
pub struct CompiledAuthConfig {
    config: AuthConfig,
    pub(crate) identity_headers: IdentityHeaders,
    pub(crate) requestheader_verifier: Option<Arc<dyn ClientCertVerifier>>,
    pub(crate) client_verifier: Option<Arc<dyn ClientCertVerifier>>,
    generation: u64,
}

impl fmt::Debug for CompiledAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledAuthConfig")
            .field("config", &self.config)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl CompiledAuthConfig {
    /// The settings this was compiled from.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// A number unique to this compilation within the process (each [`AuthConfig::compile`]
    /// takes a new one, even for equal settings). Results derived from one compiled
    /// configuration, such as cached certificate-chain verifications, are keyed by it, so a
    /// replaced configuration never sees them.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// Files and values given by flags instead of the ConfigMap. Empty header lists default to
/// kube-apiserver's usual `X-Remote-User`, `X-Remote-Group` and `X-Remote-Extra-`.
#[derive(Clone, Debug, Default)]
pub struct AuthFiles {
    /// `--client-ca-file`.
    pub client_ca_file: Option<PathBuf>,
    /// `--requestheader-client-ca-file`.
    pub requestheader_client_ca_file: Option<PathBuf>,
    /// `--requestheader-allowed-names`.
    pub requestheader_allowed_names: Vec<String>,
    /// `--requestheader-username-headers`.
    pub username_headers: Vec<String>,
    /// `--requestheader-group-headers`.
    pub group_headers: Vec<String>,
    /// `--requestheader-extra-headers-prefix`.
    pub extra_headers_prefix: Vec<String>,
}

/// SHA-256 of each CA file's contents (timestamps are too coarse to detect every write).
type FileStamp = Vec<Option<[u8; 32]>>;

impl AuthFiles {
    fn stamp(&self) -> FileStamp {
        [&self.client_ca_file, &self.requestheader_client_ca_file]
            .into_iter()
            .map(|p| {
                p.as_ref()
                    .and_then(|p| std::fs::read(p).ok())
                    .map(|b| Sha256::digest(&b).into())
            })
            .collect()
    }

    fn load(&self) -> Result<AuthConfig, AuthError> {
        let read = |p: &Option<PathBuf>| -> Result<Option<String>, AuthError> {
            p.as_ref()
                .map(|p| {
                    std::fs::read_to_string(p).map_err(|source| AuthError::Io {
                        path: p.clone(),
                        source,
                    })
                })
                .transpose()
        };
        let or_default = |given: &Vec<String>, default: &str| {
            if given.is_empty() {
                vec![default.to_owned()]
            } else {
                given.clone()
            }
        };
        Ok(AuthConfig {
            client_ca: read(&self.client_ca_file)?,
            requestheader_client_ca: read(&self.requestheader_client_ca_file)?,
            requestheader_allowed_names: self.requestheader_allowed_names.clone(),
            username_headers: or_default(&self.username_headers, DEFAULT_USERNAME_HEADER),
            group_headers: or_default(&self.group_headers, DEFAULT_GROUP_HEADER),
            extra_headers_prefix: or_default(
                &self.extra_headers_prefix,
                DEFAULT_EXTRA_HEADERS_PREFIX,
            ),
        })
    }
}

enum Origin {
    Fixed,
    ConfigMap {
        client: KubeClient,
        namespace: String,
        name: String,
    },
    Files {
        files: AuthFiles,
        stamp: Mutex<FileStamp>,
    },
}

/// The current authentication configuration, replaced atomically when its origin changes.
pub struct AuthConfigSource {
    current: RwLock<Arc<CompiledAuthConfig>>,
    origin: Origin,
}

impl fmt::Debug for AuthConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = match &self.origin {
            Origin::Fixed => "fixed".to_owned(),
            Origin::ConfigMap {
                namespace, name, ..
            } => format!("configmap {namespace}/{name}"),
            Origin::Files { files, .. } => format!("{files:?}"),
        };
        f.debug_struct("AuthConfigSource")
            .field("origin", &origin)
            .field("current", &self.current())
            .finish()
    }
}

impl AuthConfigSource {
    /// A configuration that never changes (unless [`replace`](Self::replace)d).
    pub fn fixed(config: AuthConfig) -> Result<Arc<Self>, AuthError> {
        Ok(Arc::new(Self {
            current: RwLock::new(Arc::new(config.compile()?)),
            origin: Origin::Fixed,
        }))
    }

    /// Reads ConfigMap `kube-system/extension-apiserver-authentication` now (failing if it
    /// cannot), and re-reads it on [`refresh`](Self::refresh) / [`spawn_watch`](Self::spawn_watch).
    pub async fn from_configmap(client: KubeClient) -> Result<Arc<Self>, AuthError> {
        Self::from_named_configmap(
            client,
            AUTHENTICATION_CONFIGMAP_NAMESPACE,
            AUTHENTICATION_CONFIGMAP_NAME,
        )
        .await
    }

    /// Like [`from_configmap`](Self::from_configmap) for any ConfigMap with the same keys.
    pub async fn from_named_configmap(
        client: KubeClient,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Self>, AuthError> {
        let data = client
            .get_configmap(namespace, name)
            .await
            .map_err(AuthError::Kube)?;
        let config = AuthConfig::from_configmap_data(&data)?.compile()?;
        Ok(Arc::new(Self {
            current: RwLock::new(Arc::new(config)),
            origin: Origin::ConfigMap {
                client,
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            },
        }))
    }

    /// Reads the CA files now (failing if it cannot) and, on each refresh, reloads them if
    /// their contents changed.
    pub fn from_files(files: AuthFiles) -> Result<Arc<Self>, AuthError> {
        let stamp = files.stamp();
        let config = files.load()?.compile()?;
        Ok(Arc::new(Self {
            current: RwLock::new(Arc::new(config)),
            origin: Origin::Files {
                files,
                stamp: Mutex::new(stamp),
            },
        }))
    }

    /// The configuration in force.
    pub fn current(&self) -> Arc<CompiledAuthConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the configuration (invalid configurations are refused, the old one stays).
    pub fn replace(&self, config: AuthConfig) -> Result<(), AuthError> {
        let compiled = Arc::new(config.compile()?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = compiled;
        Ok(())
    }

    /// Re-reads the origin; returns whether the configuration changed. On error the
    /// configuration in force is kept.
    pub async fn refresh(&self) -> Result<bool, AuthError> {
        let config = match &self.origin {
            Origin::Fixed => return Ok(false),
            Origin::ConfigMap {
                client,
                namespace,
                name,
            } => {
                let data = client
                    .get_configmap(namespace, name)
                    .await
                    .map_err(AuthError::Kube)?;
                AuthConfig::from_configmap_data(&data)?
            }
            Origin::Files { files, stamp } => {
                let now = files.stamp();
                {
                    let mut last = stamp.lock().unwrap_or_else(|e| e.into_inner());
                    if *last == now {
                        return Ok(false);
                    }
                    *last = now;
                }
                files.load()?
            }
        };
        if *self.current().config() == config {
            return Ok(false);
        }
        self.replace(config)?;
        Ok(true)
    }

    /// Refreshes every `interval` in a background task that ends when the source is dropped.
    /// Use [`DEFAULT_CONFIGMAP_POLL`] or [`DEFAULT_FILE_POLL`].
    pub fn spawn_watch(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(source) = weak.upgrade() else { return };
                match source.refresh().await {
                    Ok(true) => tracing::info!("authentication configuration reloaded"),
                    Ok(false) => {}
                    Err(AuthError::Kube(KubeError::NotFound { .. })) => tracing::warn!(
                        "authentication ConfigMap disappeared; keeping the last configuration"
                    ),
                    Err(err) => tracing::warn!(
                        error = %crate::auth::ErrorChain(&err),
                        "cannot reload the authentication configuration; keeping the last one"
                    ),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dns01_testkit::pki::TestCa;

    #[test]
    fn configmap_lists_are_parsed_and_bad_json_is_refused_with_the_key() {
        let mut data = BTreeMap::from([
            (
                "requestheader-allowed-names".to_owned(),
                r#"["front-proxy-client"]"#.to_owned(),
            ),
            (
                "requestheader-username-headers".to_owned(),
                r#"["X-Remote-User"]"#.to_owned(),
            ),
        ]);
        let config = AuthConfig::from_configmap_data(&data).unwrap();
        assert_eq!(
            config.requestheader_allowed_names,
            vec!["front-proxy-client"]
        );
        assert_eq!(config.username_headers, vec!["X-Remote-User"]);
        assert!(config.client_ca.is_none());
        data.insert(
            "requestheader-group-headers".to_owned(),
            "X-Remote-Group".to_owned(),
        );
        let err = AuthConfig::from_configmap_data(&data).unwrap_err();
        assert!(
            err.to_string().contains("requestheader-group-headers"),
            "{err}"
        );
    }

    #[test]
    fn a_pem_bundle_without_certificates_is_refused() {
        let config = AuthConfig {
            client_ca: Some("not a certificate".to_owned()),
            ..AuthConfig::default()
        };
        assert!(config.compile().is_err());
    }

    #[tokio::test]
    async fn file_sources_default_the_headers_and_reload_changed_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("front-proxy-ca.crt");
        std::fs::write(&path, TestCa::new("one").cert_pem()).unwrap();
        let source = AuthConfigSource::from_files(AuthFiles {
            requestheader_client_ca_file: Some(path.clone()),
            ..AuthFiles::default()
        })
        .unwrap();
        let first = source.current();
        assert_eq!(
            first.config().username_headers,
            vec![DEFAULT_USERNAME_HEADER]
        );
        assert!(!source.refresh().await.unwrap());
        let second_ca = TestCa::new("two");
        std::fs::write(&path, second_ca.cert_pem()).unwrap();
        assert!(source.refresh().await.unwrap());
        assert_eq!(
            source.current().config().requestheader_client_ca.as_deref(),
            Some(second_ca.cert_pem())
        );
        std::fs::write(&path, "garbage").unwrap();
        assert!(source.refresh().await.is_err());
        assert_eq!(
            source.current().config().requestheader_client_ca.as_deref(),
            Some(second_ca.cert_pem()),
            "an invalid file keeps the previous configuration"
        );
    }
}
