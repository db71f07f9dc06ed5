//! Reading solver credentials from Kubernetes Secrets.
//!
//! [`SecretSource`] is the one way solvers read a credential: one key of one Secret in one
//! namespace (always the request's `resourceNamespace`). [`KubeSecrets`] reads through the
//! Kubernetes API; [`StaticSecrets`] holds Secrets in memory, for tests and local mode.
//!
//! Values are held in [`SecretString`] (that is [`dns01_core::Secret`]), whose `Debug` and `Display` print `<redacted>`; errors
//! name the namespace, Secret and key, never the value.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

/// A credential read from a Secret: the workspace's one secret type, [`dns01_core::Secret`]
/// (`Debug` and `Display` print `<redacted>`), under the name this module has always used.
pub use dns01_core::Secret as SecretString;

/// A Secret, or one of its keys, could not be read. Every message names the namespace, the
/// Secret and (where it applies) the key, and says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The Secret does not exist.
    #[error(
        "Secret {namespace}/{name} not found: create it in namespace {namespace} (the Issuer's \
         namespace, or cert-manager's cluster resource namespace for a ClusterIssuer) or fix the \
         name in the solver config"
    )]
    NotFound {
        /// The namespace searched.
        namespace: String,
        /// The Secret's name.
        name: String,
    },
    /// The Secret exists but has no such key.
    #[error(
        "Secret {namespace}/{name} has no key {key:?} (its keys: {available}); add the key to the \
         Secret or set `key` in the solver config's secret reference"
    )]
    KeyMissing {
        /// The namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The key asked for.
        key: String,
        /// The keys the Secret has, comma-separated (names only, never values).
        available: String,
    },
    /// The key holds nothing usable (empty or only whitespace, or not UTF-8 text).
    #[error(
        "Secret {namespace}/{name} key {key:?} {problem}; put the credential there as plain text"
    )]
    Unusable {
        /// The namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The key.
        key: String,
        /// What is wrong: `is empty`, `is not UTF-8 text`.
        problem: &'static str,
    },
    /// The Secret could not be read (permission, API server unreachable, ...).
    #[error("could not read Secret {namespace}/{name}: {reason}")]
    Unavailable {
        /// The namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// Why, and what to do (no secret material).
        reason: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
}

/// Reads one key of one Secret.
#[async_trait]
pub trait SecretSource: Send + Sync + fmt::Debug {
    /// All keys of Secret `namespace/name`, raw bytes as the API returns them (base64-decoded).
    async fn get_secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, SecretError>;

    /// One key of Secret `namespace/name`, as text with surrounding whitespace (a trailing
    /// newline from `echo` or a file) removed. Empty values are refused.
    async fn get_key(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
    ) -> Result<SecretString, SecretError> {
        let data = self.get_secret(namespace, name).await?;
        extract_key(namespace, name, key, data)
    }
}

/// Picks `key` out of a Secret's data, with the errors [`SecretSource::get_key`] documents.
pub fn extract_key(
    namespace: &str,
    name: &str,
    key: &str,
    mut data: BTreeMap<String, Vec<u8>>,
) -> Result<SecretString, SecretError> {
    let Some(bytes) = data.remove(key) else {
        let available = if data.is_empty() {
            "none".to_owned()
        } else {
            data.keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(SecretError::KeyMissing {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key: key.to_owned(),
            available,
        });
    };
    let unusable = |problem| SecretError::Unusable {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        key: key.to_owned(),
        problem,
    };
    let text = String::from_utf8(bytes).map_err(|_| unusable("is not UTF-8 text"))?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(unusable("is empty"));
    }
    Ok(SecretString::new(trimmed))
}

/// Secrets held in memory: for tests and local mode. Counts reads, so tests can prove that a
/// refused request read nothing.
#[derive(Debug, Clone, Default)]
pub struct StaticSecrets {
    inner: Arc<Mutex<StaticInner>>,
}

#[derive(Default)]
struct StaticInner {
    secrets: BTreeMap<(String, String), BTreeMap<String, Vec<u8>>>,
    reads: usize,
}

impl fmt::Debug for StaticInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticInner")
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("reads", &self.reads)
            .finish()
    }
}

impl StaticSecrets {
    /// No Secrets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) Secret `namespace/name` with one key.
    pub fn insert(&self, namespace: &str, name: &str, key: &str, value: impl Into<Vec<u8>>) {
        let mut inner = self.lock();
        inner
            .secrets
            .entry((namespace.to_owned(), name.to_owned()))
            .or_default()
            .insert(key.to_owned(), value.into());
    }

    /// How many times a Secret was read.
    pub fn reads(&self) -> usize {
        self.lock().reads
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StaticInner> {
        // A poisoned lock only means a panic elsewhere; the map itself is still consistent.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl SecretSource for StaticSecrets {
    async fn get_secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, SecretError> {
        let mut inner = self.lock();
        inner.reads += 1;
        inner
            .secrets
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
            .ok_or_else(|| SecretError::NotFound {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })
    }
}

/// Secrets read through the Kubernetes API (kube-rs's `Api<Secret>`) with the webhook's own
/// service account.
///
/// The service account needs `get` on `secrets` in every namespace whose Issuers reference a
/// Secret (a Role per namespace, or a ClusterRole for all).
#[derive(Clone)]
pub struct KubeSecrets {
    client: kube::Client,
}

impl fmt::Debug for KubeSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeSecrets").finish_non_exhaustive()
    }
}

impl KubeSecrets {
    /// Reads Secrets with `client`.
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl SecretSource for KubeSecrets {
    async fn get_secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, SecretError> {
        let unavailable = |reason: String, source: Option<kube::Error>| SecretError::Unavailable {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            reason,
            source: source.map(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
        };
        if namespace.is_empty() || name.is_empty() {
            return Err(unavailable(
                "the namespace and the name must not be empty".to_owned(),
                None,
            ));
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        // The Secret object is never formatted: its Debug would print the data.
        match crate::cluster::bounded(api.get(name)).await {
            Ok(secret) => Ok(secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(key, value)| (key, value.0))
                .collect()),
            Err(err) => Err(match crate::cluster::status_code(&err) {
                Some(404) => SecretError::NotFound {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                },
                Some(401 | 403) => {
                    let grant = format!(
                        "the webhook's service account may not read it; grant it `get` on \
                         secrets in namespace {namespace} (a Role and RoleBinding)"
                    );
                    unavailable(crate::cluster::remedy(&err, &grant), Some(err))
                }
                // A decoding error may quote the Secret's data: leave it out.
                _ if matches!(err, kube::Error::SerdeError(_)) => unavailable(
                    "the Kubernetes API's answer is not a valid Secret object".to_owned(),
                    None,
                ),
                _ => unavailable(
                    "the Kubernetes API did not answer as expected; cert-manager will retry"
                        .to_owned(),
                    Some(err),
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_key_is_named_with_the_keys_the_secret_has() {
        let s = StaticSecrets::new();
        s.insert("team-a", "gandi", "api-token", "tok");
        let e = s.get_key("team-a", "gandi", "token").await.unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("team-a/gandi"), "{msg}");
        assert!(msg.contains("\"token\""), "{msg}");
        assert!(msg.contains("api-token"), "{msg}");
        assert!(!msg.contains("tok\""), "{msg}");
    }

    #[tokio::test]
    async fn values_are_trimmed_and_never_printed() {
        let s = StaticSecrets::new();
        s.insert("ns", "sec", "k", "s3cr3t\n");
        let v = s.get_key("ns", "sec", "k").await.unwrap();
        assert_eq!(v.expose(), "s3cr3t");
        assert_eq!(format!("{v:?} {v}"), "<redacted> <redacted>");
        assert_eq!(s.reads(), 1);
    }

    #[tokio::test]
    async fn a_missing_secret_names_namespace_and_secret() {
        let e = StaticSecrets::new()
            .get_key("ns", "nope", "k")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("Secret ns/nope not found"), "{e}");
    }

    #[tokio::test]
    async fn blank_values_are_refused() {
        let s = StaticSecrets::new();
        s.insert("ns", "sec", "k", " \n");
        let e = s.get_key("ns", "sec", "k").await.unwrap_err();
        assert!(e.to_string().contains("is empty"), "{e}");
    }
}
