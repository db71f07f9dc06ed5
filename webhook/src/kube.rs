//! A minimal Kubernetes API client: exactly the calls the webhook makes (ConfigMaps, Secrets,
//! TokenReview, SubjectAccessReview), over one `reqwest` client with rustls.
//!
//! Configuration comes from a kubeconfig file ([`KubeClient::from_kubeconfig`]), from the
//! in-cluster service account ([`KubeClient::in_cluster`]) or is given explicitly
//! ([`KubeClient::new`], which also accepts plain `http://` URLs for test fakes).
//!
//! Bearer tokens are never logged, never part of an error and never printed by `Debug`;
//! token files (the in-cluster service account token rotates) are re-read every minute.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::auth::UserInfo;

/// How often a token file is re-read.
const TOKEN_FILE_REFRESH: Duration = Duration::from_secs(60);
/// Connect timeout for calls to the API server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Total timeout for one call to the API server.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the in-cluster service account credentials live.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Errors of the Kubernetes client. Messages never contain tokens, keys or Secret data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubeError {
    /// The client configuration (kubeconfig, environment) is unusable.
    #[error("invalid kubernetes client configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// A file named by the configuration could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The kubeconfig is not valid YAML of the expected shape.
    #[error("cannot parse kubeconfig")]
    Kubeconfig(#[source] serde_yaml_ng::Error),
    /// The HTTP client could not be built (bad CA or client certificate).
    #[error("cannot build the kubernetes HTTP client")]
    Client(#[source] reqwest::Error),
    /// The request did not complete (connection, TLS, timeout).
    #[error("request to the kubernetes API failed")]
    Http(#[source] reqwest::Error),
    /// The object does not exist.
    #[error("{kind} {namespace}/{name} not found")]
    NotFound {
        /// Object kind (`ConfigMap`, `Secret`).
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// The API server refused our credentials (401).
    #[error("the kubernetes API rejected the client's credentials: {message}")]
    Unauthorized {
        /// The API's message.
        message: String,
    },
    /// The API server denied the call (403); the message names the missing permission.
    #[error("forbidden by the kubernetes API: {message}")]
    Forbidden {
        /// The API's message.
        message: String,
    },
    /// Any other unexpected status.
    #[error("kubernetes API answered {status}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The API's message (from its `Status` body when there is one).
        message: String,
    },
    /// The API's answer could not be decoded.
    #[error("cannot decode the kubernetes API answer: {what}")]
    Decode {
        /// What could not be decoded (never includes Secret data).
        what: String,
    },
}

/// `Result` with [`KubeError`].
pub type Result<T, E = KubeError> = std::result::Result<T, E>;

/// TLS settings for [`KubeClient::new`].
#[derive(Clone, Default)]
pub struct KubeTls {
    /// PEM bundle of CAs that sign the API server's certificate; `None` uses the system's
    /// WebPKI roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Skip server certificate verification (kubeconfig `insecure-skip-tls-verify`).
    pub insecure_skip_verify: bool,
    /// Client certificate chain followed by its private key, PEM encoded.
    pub client_identity_pem: Option<Vec<u8>>,
}

impl fmt::Debug for KubeTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeTls")
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<pem>"))
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .field(
                "client_identity_pem",
                &self.client_identity_pem.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// How the client authenticates to the API server.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum KubeCredentials {
    /// No bearer token (anonymous, or a client certificate in [`KubeTls`]).
    #[default]
    None,
    /// A fixed bearer token.
    Token(String),
    /// A bearer token read from a file and re-read every minute (it rotates).
    TokenFile(PathBuf),
}

impl fmt::Debug for KubeCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Token(_) => f.write_str("Token(<redacted>)"),
            Self::TokenFile(path) => f.debug_tuple("TokenFile").field(path).finish(),
        }
    }
}

enum TokenSource {
    None,
    Static(String),
    File {
        path: PathBuf,
        cached: Mutex<Option<(String, Instant)>>,
    },
}

impl TokenSource {
    fn current(&self) -> Result<Option<String>> {
        match self {
            Self::None => Ok(None),
            Self::Static(token) => Ok(Some(token.clone())),
            Self::File { path, cached } => {
                let mut guard = cached.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((token, read_at)) = guard.as_ref()
                    && read_at.elapsed() < TOKEN_FILE_REFRESH
                {
                    return Ok(Some(token.clone()));
                }
                match std::fs::read_to_string(path) {
                    Ok(text) => {
                        let token = text.trim().to_owned();
                        *guard = Some((token.clone(), Instant::now()));
                        Ok(Some(token))
                    }
                    // Keep using the last token if the file is momentarily unreadable.
                    Err(err) => match guard.as_ref() {
                        Some((token, _)) => {
                            tracing::warn!(path = %path.display(), error = %err, "cannot re-read token file; keeping the previous token");
                            Ok(Some(token.clone()))
                        }
                        None => Err(KubeError::Io {
                            path: path.clone(),
                            source: err,
                        }),
                    },
                }
            }
        }
    }
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    token: TokenSource,
}

/// A minimal Kubernetes API client. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct KubeClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for KubeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeClient")
            .field("base", &self.inner.base.as_str())
            .finish_non_exhaustive()
    }
}

/// What a SubjectAccessReview asks about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AccessAttributes {
    /// An API resource (`resourceAttributes`).
    Resource {
        /// Verb (`create`, `get`, ...).
        verb: String,
        /// API group.
        group: String,
        /// API version (may be empty).
        version: String,
        /// Resource (the solver name for the webhook).
        resource: String,
    },
    /// A non-resource path (`nonResourceAttributes`).
    NonResource {
        /// Request path.
        path: String,
        /// Lowercase HTTP verb (`get`, `post`, ...).
        verb: String,
    },
}

/// The answer of a SubjectAccessReview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessDecision {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// The authoriser's reason (may be empty).
    pub reason: String,
}

// --- wire types -------------------------------------------------------------------------

#[derive(Deserialize)]
struct StatusBody {
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct ConfigMapBody {
    #[serde(default)]
    data: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct SecretBody {
    #[serde(default)]
    data: Option<BTreeMap<String, String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenReviewRequest<'a> {
    api_version: &'static str,
    kind: &'static str,
    spec: TokenReviewSpec<'a>,
}

#[derive(Serialize)]
struct TokenReviewSpec<'a> {
    token: &'a str,
}

#[derive(Deserialize)]
struct TokenReviewResponse {
    #[serde(default)]
    status: TokenReviewStatus,
}

#[derive(Deserialize, Default)]
struct TokenReviewStatus {
    #[serde(default)]
    authenticated: bool,
    #[serde(default)]
    user: Option<ReviewUser>,
}

#[derive(Deserialize)]
struct ReviewUser {
    #[serde(default)]
    username: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    extra: BTreeMap<String, Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarRequest<'a> {
    api_version: &'static str,
    kind: &'static str,
    spec: SarSpec<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarSpec<'a> {
    user: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    uid: &'a str,
    groups: &'a [String],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extra: &'a BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_attributes: Option<SarResource<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    non_resource_attributes: Option<SarNonResource<'a>>,
}

#[derive(Serialize)]
struct SarResource<'a> {
    verb: &'a str,
    group: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    version: &'a str,
    resource: &'a str,
}

#[derive(Serialize)]
struct SarNonResource<'a> {
    path: &'a str,
    verb: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SarResponse {
    #[serde(default)]
    status: SarStatus,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SarStatus {
    #[serde(default)]
    allowed: bool,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    evaluation_error: String,
}

// --- kubeconfig -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Kubeconfig {
    #[serde(default)]
    current_context: String,
    #[serde(default)]
    clusters: Vec<Named<KubeconfigCluster>>,
    #[serde(default)]
    users: Vec<NamedUser>,
    #[serde(default)]
    contexts: Vec<Named<KubeconfigContext>>,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "context")]
    value: T,
}

#[derive(Deserialize)]
struct NamedUser {
    name: String,
    #[serde(default)]
    user: KubeconfigUser,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct KubeconfigCluster {
    server: String,
    #[serde(default)]
    certificate_authority: Option<PathBuf>,
    #[serde(default)]
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize)]
struct KubeconfigContext {
    cluster: String,
    #[serde(default)]
    user: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct KubeconfigUser {
    #[serde(default)]
    client_certificate: Option<PathBuf>,
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_key: Option<PathBuf>,
    #[serde(default)]
    client_key_data: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default, rename = "tokenFile")]
    token_file: Option<PathBuf>,
    #[serde(default)]
    exec: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    auth_provider: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    username: Option<String>,
}

fn config_err(message: impl Into<String>) -> KubeError {
    KubeError::Config {
        message: message.into(),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| KubeError::Io {
        path: path.to_owned(),
        source,
    })
}

fn resolve(base_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        base_dir.join(path)
    }
}

fn decode_data(field: &str, value: &str) -> Result<Vec<u8>> {
    BASE64
        .decode(value.trim())
        .map_err(|_| config_err(format!("{field} is not valid base64")))
}

/// Reads `data` or the file `path` (relative to `base_dir`), preferring `data`.
fn data_or_file(
    field: &str,
    data: Option<&String>,
    path: Option<&PathBuf>,
    base_dir: &Path,
) -> Result<Option<Vec<u8>>> {
    match (data, path) {
        (Some(data), _) => decode_data(field, data).map(Some),
        (None, Some(path)) => read_file(&resolve(base_dir, path)).map(Some),
        (None, None) => Ok(None),
    }
}

impl KubeClient {
    /// A client for `base_url` (an `https://` API server, or `http://` for test fakes).
    pub fn new(base_url: Url, tls: KubeTls, credentials: KubeCredentials) -> Result<Self> {
        match base_url.scheme() {
            "http" | "https" => {}
            other => return Err(config_err(format!("unsupported URL scheme {other:?}"))),
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("dns01-webhook/", env!("CARGO_PKG_VERSION")));
        if let Some(ca_pem) = &tls.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(ca_pem).map_err(KubeError::Client)?;
            if certs.is_empty() {
                return Err(config_err(
                    "the certificate authority bundle has no certificate",
                ));
            }
            builder = builder.tls_built_in_root_certs(false);
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if tls.insecure_skip_verify {
            tracing::warn!("kubernetes API server certificate verification is disabled");
            builder = builder.danger_accept_invalid_certs(true);
        }
        if let Some(identity) = &tls.client_identity_pem {
            let identity = reqwest::Identity::from_pem(identity).map_err(KubeError::Client)?;
            builder = builder.identity(identity);
        }
        let http = builder.build().map_err(KubeError::Client)?;
        let token = match credentials {
            KubeCredentials::None => TokenSource::None,
            KubeCredentials::Token(token) => TokenSource::Static(token),
            KubeCredentials::TokenFile(path) => {
                let source = TokenSource::File {
                    path,
                    cached: Mutex::new(None),
                };
                // Fail early when the file cannot be read at all.
                source.current()?;
                source
            }
        };
        let mut base = base_url;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self {
            inner: Arc::new(Inner { http, base, token }),
        })
    }

    /// A client configured from the kubeconfig file at `path` (its `current-context`).
    pub fn from_kubeconfig(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| KubeError::Io {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = path.parent().unwrap_or_else(|| Path::new("."));
        Self::from_kubeconfig_str(&text, base_dir)
    }

    /// A client configured from kubeconfig YAML; relative file paths in it are resolved
    /// against `base_dir`.
    pub fn from_kubeconfig_str(yaml: &str, base_dir: &Path) -> Result<Self> {
        let config: Kubeconfig = serde_yaml_ng::from_str(yaml).map_err(KubeError::Kubeconfig)?;
        let context = match config.current_context.as_str() {
            "" if config.contexts.len() == 1 => &config.contexts[0].value,
            "" => return Err(config_err("kubeconfig has no current-context")),
            name => {
                &config
                    .contexts
                    .iter()
                    .find(|c| c.name == name)
                    .ok_or_else(|| config_err(format!("kubeconfig has no context {name:?}")))?
                    .value
            }
        };
        let cluster = &config
            .clusters
            .iter()
            .find(|c| c.name == context.cluster)
            .ok_or_else(|| config_err(format!("kubeconfig has no cluster {:?}", context.cluster)))?
            .value;
        let default_user = KubeconfigUser::default();
        let user = if context.user.is_empty() {
            &default_user
        } else {
            &config
                .users
                .iter()
                .find(|u| u.name == context.user)
                .ok_or_else(|| config_err(format!("kubeconfig has no user {:?}", context.user)))?
                .user
        };
        if user.exec.is_some() || user.auth_provider.is_some() {
            return Err(config_err(
                "kubeconfig users with exec or auth-provider plugins are not supported; \
                 use a token, a token file or a client certificate",
            ));
        }
        if user.username.is_some() {
            return Err(config_err(
                "kubeconfig users with basic authentication are not supported",
            ));
        }
        let base_url = Url::parse(&cluster.server)
            .map_err(|e| config_err(format!("invalid cluster server URL: {e}")))?;
        let tls = KubeTls {
            ca_pem: data_or_file(
                "certificate-authority-data",
                cluster.certificate_authority_data.as_ref(),
                cluster.certificate_authority.as_ref(),
                base_dir,
            )?,
            insecure_skip_verify: cluster.insecure_skip_tls_verify,
            client_identity_pem: {
                let cert = data_or_file(
                    "client-certificate-data",
                    user.client_certificate_data.as_ref(),
                    user.client_certificate.as_ref(),
                    base_dir,
                )?;
                let key = data_or_file(
                    "client-key-data",
                    user.client_key_data.as_ref(),
                    user.client_key.as_ref(),
                    base_dir,
                )?;
                match (cert, key) {
                    (Some(mut cert), Some(key)) => {
                        if !cert.ends_with(b"\n") {
                            cert.push(b'\n');
                        }
                        cert.extend_from_slice(&key);
                        Some(cert)
                    }
                    (None, None) => None,
                    _ => {
                        return Err(config_err(
                            "kubeconfig user has a client certificate without a key or a key \
                             without a certificate",
                        ));
                    }
                }
            },
        };
        let credentials = match (&user.token, &user.token_file) {
            (Some(token), _) if !token.is_empty() => KubeCredentials::Token(token.clone()),
            (_, Some(path)) => KubeCredentials::TokenFile(resolve(base_dir, path)),
            _ => KubeCredentials::None,
        };
        Self::new(base_url, tls, credentials)
    }

    /// A client for the cluster the process runs in: `KUBERNETES_SERVICE_HOST`/`_PORT` and the
    /// service account token and CA under `/var/run/secrets/kubernetes.io/serviceaccount`.
    pub fn in_cluster() -> Result<Self> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST")
            .map_err(|_| config_err("KUBERNETES_SERVICE_HOST is not set (not in a cluster?)"))?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT")
            .map_err(|_| config_err("KUBERNETES_SERVICE_PORT is not set (not in a cluster?)"))?;
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        let base_url = Url::parse(&format!("https://{host}:{port}/"))
            .map_err(|e| config_err(format!("invalid in-cluster API address: {e}")))?;
        let dir = Path::new(SERVICE_ACCOUNT_DIR);
        let tls = KubeTls {
            ca_pem: Some(read_file(&dir.join("ca.crt"))?),
            ..KubeTls::default()
        };
        Self::new(base_url, tls, KubeCredentials::TokenFile(dir.join("token")))
    }

    /// The API server's base URL.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    fn url(&self, segments: &[&str]) -> Result<Url> {
        let mut url = self.inner.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| config_err("the API server URL cannot be a base"))?;
            path.pop_if_empty();
            for segment in segments {
                path.push(segment);
            }
        }
        Ok(url)
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder> {
        match self.inner.token.current()? {
            None => Ok(request),
            Some(token) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| config_err("the bearer token contains invalid characters"))?;
                value.set_sensitive(true);
                Ok(request.header(http::header::AUTHORIZATION, value))
            }
        }
    }

    /// Sends the request; returns the status and body.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(StatusCode, bytes::Bytes)> {
        let response = self
            .authorize(request.header(http::header::ACCEPT, "application/json"))?
            .send()
            .await
            .map_err(KubeError::Http)?;
        let status = response.status();
        let body = response.bytes().await.map_err(KubeError::Http)?;
        Ok((status, body))
    }

    fn status_error(status: StatusCode, body: &[u8]) -> KubeError {
        let message = serde_json::from_slice::<StatusBody>(body)
            .map(|s| s.message)
            .unwrap_or_default();
        let message = if message.is_empty() {
            status.canonical_reason().unwrap_or("").to_owned()
        } else {
            message
        };
        match status {
            StatusCode::UNAUTHORIZED => KubeError::Unauthorized { message },
            StatusCode::FORBIDDEN => KubeError::Forbidden { message },
            _ => KubeError::Api {
                status: status.as_u16(),
                message,
            },
        }
    }

    async fn get_object(
        &self,
        kind: &'static str,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Result<bytes::Bytes> {
        if namespace.is_empty() || name.is_empty() {
            return Err(config_err(format!(
                "{kind} namespace and name must not be empty"
            )));
        }
        let url = self.url(&["api", "v1", "namespaces", namespace, plural, name])?;
        let (status, body) = self.send(self.inner.http.get(url)).await?;
        if status == StatusCode::NOT_FOUND {
            return Err(KubeError::NotFound {
                kind,
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            });
        }
        if !status.is_success() {
            return Err(Self::status_error(status, &body));
        }
        Ok(body)
    }

    /// The `data` of ConfigMap `namespace/name`.
    pub async fn get_configmap(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<BTreeMap<String, String>> {
        let body = self
            .get_object("ConfigMap", "configmaps", namespace, name)
            .await?;
        let cm: ConfigMapBody = serde_json::from_slice(&body).map_err(|e| KubeError::Decode {
            what: format!("ConfigMap {namespace}/{name}: {e}"),
        })?;
        Ok(cm.data.unwrap_or_default())
    }

    /// The `data` of Secret `namespace/name`, base64-decoded.
    pub async fn get_secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>> {
        let body = self
            .get_object("Secret", "secrets", namespace, name)
            .await?;
        // The serde error could quote Secret data: leave it out.
        let secret: SecretBody = serde_json::from_slice(&body).map_err(|_| KubeError::Decode {
            what: format!("Secret {namespace}/{name} is not a valid Secret object"),
        })?;
        secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(key, value)| match BASE64.decode(value.as_bytes()) {
                Ok(bytes) => Ok((key, bytes)),
                Err(_) => Err(KubeError::Decode {
                    what: format!("Secret {namespace}/{name} key {key:?} is not valid base64"),
                }),
            })
            .collect()
    }

    /// Asks the API server who `token` belongs to (a `TokenReview`); `None` when the token is
    /// not authenticated.
    pub async fn token_review(&self, token: &str) -> Result<Option<UserInfo>> {
        let url = self.url(&["apis", "authentication.k8s.io", "v1", "tokenreviews"])?;
        let body = TokenReviewRequest {
            api_version: "authentication.k8s.io/v1",
            kind: "TokenReview",
            spec: TokenReviewSpec { token },
        };
        let (status, body) = self.send(self.inner.http.post(url).json(&body)).await?;
        if !status.is_success() {
            return Err(Self::status_error(status, &body));
        }
        let review: TokenReviewResponse =
            serde_json::from_slice(&body).map_err(|e| KubeError::Decode {
                what: format!("TokenReview: {e}"),
            })?;
        if !review.status.authenticated {
            return Ok(None);
        }
        let Some(user) = review.status.user else {
            return Ok(None);
        };
        if user.username.is_empty() {
            return Ok(None);
        }
        Ok(Some(UserInfo {
            username: user.username,
            uid: user.uid,
            groups: user.groups,
            extra: user.extra,
        }))
    }

    /// Asks whether `user` may `verb` the `resource` in API `group` (a `SubjectAccessReview`).
    pub async fn subject_access_review(
        &self,
        user: &UserInfo,
        verb: &str,
        group: &str,
        resource: &str,
    ) -> Result<AccessDecision> {
        let attributes = AccessAttributes::Resource {
            verb: verb.to_owned(),
            group: group.to_owned(),
            version: String::new(),
            resource: resource.to_owned(),
        };
        self.subject_access_review_for(user, &attributes).await
    }

    /// A `SubjectAccessReview` for arbitrary attributes (resource or non-resource).
    pub async fn subject_access_review_for(
        &self,
        user: &UserInfo,
        attributes: &AccessAttributes,
    ) -> Result<AccessDecision> {
        let url = self.url(&["apis", "authorization.k8s.io", "v1", "subjectaccessreviews"])?;
        let (resource_attributes, non_resource_attributes) = match attributes {
            AccessAttributes::Resource {
                verb,
                group,
                version,
                resource,
            } => (
                Some(SarResource {
                    verb,
                    group,
                    version,
                    resource,
                }),
                None,
            ),
            AccessAttributes::NonResource { path, verb } => {
                (None, Some(SarNonResource { path, verb }))
            }
        };
        let body = SarRequest {
            api_version: "authorization.k8s.io/v1",
            kind: "SubjectAccessReview",
            spec: SarSpec {
                user: &user.username,
                uid: &user.uid,
                groups: &user.groups,
                extra: &user.extra,
                resource_attributes,
                non_resource_attributes,
            },
        };
        let (status, body) = self.send(self.inner.http.post(url).json(&body)).await?;
        if !status.is_success() {
            return Err(Self::status_error(status, &body));
        }
        let review: SarResponse = serde_json::from_slice(&body).map_err(|e| KubeError::Decode {
            what: format!("SubjectAccessReview: {e}"),
        })?;
        let reason = if review.status.reason.is_empty() {
            review.status.evaluation_error
        } else {
            review.status.reason
        };
        Ok(AccessDecision {
            allowed: review.status.allowed,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_without_a_matching_cluster_is_rejected_with_its_name() {
        let yaml = "current-context: c\ncontexts:\n- name: c\n  context: {cluster: missing, user: u}\nclusters: []\nusers: []\n";
        let err = KubeClient::from_kubeconfig_str(yaml, Path::new(".")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn kubeconfig_exec_users_are_refused() {
        let yaml = "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\nclusters:\n- name: k\n  cluster: {server: 'https://127.0.0.1:6443'}\nusers:\n- name: u\n  user:\n    exec: {command: aws}\n";
        let err = KubeClient::from_kubeconfig_str(yaml, Path::new(".")).unwrap_err();
        assert!(err.to_string().contains("exec"), "{err}");
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let client = KubeClient::new(
            Url::parse("http://127.0.0.1:1").unwrap(),
            KubeTls::default(),
            KubeCredentials::Token("s3cr3t-token".into()),
        )
        .unwrap();
        assert!(!format!("{client:?}").contains("s3cr3t"));
        assert!(!format!("{:?}", KubeCredentials::Token("s3cr3t-token".into())).contains("s3cr3t"));
    }
}
