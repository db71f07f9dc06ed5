//! Authentication configuration: the CAs and header names of
//! `kube-system/extension-apiserver-authentication` (or the equivalent flags), compiled into
//! certificate verifiers, and a source that follows changes at runtime: the ConfigMap with a
//! kube-rs watch (a change applies within seconds), files by polling their contents.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::{WatchStreamExt as _, watcher};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use sha2::{Digest, Sha256};

use super::error::{AuthError, ErrorChain};
use super::requestheader::IdentityHeaders;
use crate::cluster::bounded;

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
            identity_headers: IdentityHeaders::new(
                &self.username_headers,
                &self.group_headers,
                &self.extra_headers_prefix,
            ),
            config: self,
            requestheader_verifier,
            client_verifier,
        })
    }
}

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
}

impl fmt::Debug for CompiledAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledAuthConfig")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl CompiledAuthConfig {
    /// The settings this was compiled from.
    pub fn config(&self) -> &AuthConfig {
        &self.config
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
        api: Api<ConfigMap>,
        namespace: String,
        name: String,
    },
    Files {
        files: AuthFiles,
        stamp: Mutex<FileStamp>,
    },
}

/// What to grant when the authentication ConfigMap cannot be read.
const CONFIGMAP_READER: &str = "bind the webhook's service account to the Role \
                                extension-apiserver-authentication-reader in kube-system (get, \
                                list and watch on that ConfigMap)";

/// The current authentication configuration, replaced atomically when its origin changes.
pub struct AuthConfigSource {
    current: RwLock<Arc<CompiledAuthConfig>>,
    origin: Origin,
    /// The task [`spawn_watch`](Self::spawn_watch) started, stopped with the source.
    watch: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for AuthConfigSource {
    fn drop(&mut self) {
        let watch = self.watch.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = watch.take() {
            task.abort();
        }
    }
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
        Ok(Self::new(config.compile()?, Origin::Fixed))
    }

    fn new(config: CompiledAuthConfig, origin: Origin) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(Arc::new(config)),
            origin,
            watch: Mutex::new(None),
        })
    }

    /// Reads ConfigMap `kube-system/extension-apiserver-authentication` now (failing if it
    /// cannot), then follows it: [`spawn_watch`](Self::spawn_watch) watches it,
    /// [`refresh`](Self::refresh) re-reads it once.
    pub async fn from_configmap(client: kube::Client) -> Result<Arc<Self>, AuthError> {
        Self::from_named_configmap(
            client,
            AUTHENTICATION_CONFIGMAP_NAMESPACE,
            AUTHENTICATION_CONFIGMAP_NAME,
        )
        .await
    }

    /// Like [`from_configmap`](Self::from_configmap) for any ConfigMap with the same keys.
    pub async fn from_named_configmap(
        client: kube::Client,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Self>, AuthError> {
        let api = Api::namespaced(client, namespace);
        let config = read_configmap(&api, namespace, name).await?.compile()?;
        let origin = Origin::ConfigMap {
            api,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        Ok(Self::new(config, origin))
    }

    /// Reads the CA files now (failing if it cannot) and, on each refresh, reloads them if
    /// their contents changed.
    pub fn from_files(files: AuthFiles) -> Result<Arc<Self>, AuthError> {
        let stamp = files.stamp();
        let config = files.load()?.compile()?;
        let origin = Origin::Files {
            files,
            stamp: Mutex::new(stamp),
        };
        Ok(Self::new(config, origin))
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

    /// Puts `config` in force unless it equals the one in force; returns whether it changed.
    fn update(&self, config: AuthConfig) -> Result<bool, AuthError> {
        if *self.current().config() == config {
            return Ok(false);
        }
        self.replace(config)?;
        Ok(true)
    }

    /// Re-reads the origin once; returns whether the configuration changed. On error the
    /// configuration in force is kept.
    pub async fn refresh(&self) -> Result<bool, AuthError> {
        let config = match &self.origin {
            Origin::Fixed => return Ok(false),
            Origin::ConfigMap {
                api,
                namespace,
                name,
            } => read_configmap(api, namespace, name).await?,
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
        self.update(config)
    }

    /// Follows the origin in a background task that ends when the source is dropped: the
    /// ConfigMap through a watch (list, then watch; re-listed after errors, with backoff), so
    /// a change applies within seconds; files by checking their contents every
    /// [`DEFAULT_FILE_POLL`]. An invalid or deleted configuration is logged and the one in
    /// force kept. Calling it again replaces the previous task.
    pub fn spawn_watch(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(self);
        let task = match &self.origin {
            Origin::Fixed => tokio::spawn(async {}),
            Origin::ConfigMap {
                api,
                namespace,
                name,
            } => {
                let events = watcher::watch_object(api.clone(), name).default_backoff();
                let object = format!("ConfigMap {namespace}/{name}");
                tokio::spawn(follow_configmap(weak, events, object))
            }
            Origin::Files { .. } => tokio::spawn(poll_files(weak, DEFAULT_FILE_POLL)),
        };
        let previous = self
            .watch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(task.abort_handle());
        if let Some(previous) = previous {
            previous.abort();
        }
        task
    }
}

/// The settings in ConfigMap `namespace/name`, read through `api`.
async fn read_configmap(
    api: &Api<ConfigMap>,
    namespace: &str,
    name: &str,
) -> Result<AuthConfig, AuthError> {
    let configmap = bounded(api.get(name)).await.map_err(|e| {
        AuthError::kube(
            format!("reading ConfigMap {namespace}/{name}"),
            CONFIGMAP_READER,
            e,
        )
    })?;
    AuthConfig::from_configmap_data(&configmap.data.unwrap_or_default())
}

/// Applies each state of the watched ConfigMap to the source behind `weak`.
async fn follow_configmap(
    weak: Weak<AuthConfigSource>,
    events: impl futures::Stream<Item = Result<Option<ConfigMap>, watcher::Error>>,
    object: String,
) {
    let mut events = std::pin::pin!(events);
    while let Some(event) = events.next().await {
        let Some(source) = weak.upgrade() else { return };
        match event {
            Ok(Some(configmap)) => {
                let data = configmap.data.unwrap_or_default();
                match AuthConfig::from_configmap_data(&data).and_then(|c| source.update(c)) {
                    Ok(true) => tracing::info!(%object, "authentication configuration reloaded"),
                    Ok(false) => {}
                    Err(err) => tracing::warn!(
                        %object,
                        error = %ErrorChain(&err),
                        "invalid authentication configuration; keeping the last one"
                    ),
                }
            }
            Ok(None) => tracing::warn!(
                %object,
                "the authentication ConfigMap is gone; keeping the last configuration"
            ),
            Err(err) => tracing::warn!(
                %object,
                error = %ErrorChain(&err),
                remedy = CONFIGMAP_READER,
                "watching the authentication ConfigMap failed; retrying"
            ),
        }
    }
}

/// Refreshes the file source behind `weak` every `interval`.
async fn poll_files(weak: Weak<AuthConfigSource>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let Some(source) = weak.upgrade() else { return };
        match source.refresh().await {
            Ok(true) => tracing::info!("authentication configuration reloaded"),
            Ok(false) => {}
            Err(err) => tracing::warn!(
                error = %ErrorChain(&err),
                "cannot reload the authentication configuration; keeping the last one"
            ),
        }
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
