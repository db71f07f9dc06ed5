//! The Kubernetes client: kube-rs's [`Client`], configured the way kubectl is.
//!
//! [`client`] reads a kubeconfig (`--kubeconfig`, which like `KUBECONFIG` may list several
//! files separated by `:`) with everything kube-rs understands in one: `exec` credential
//! plugins (the default EKS, GKE and AKS kubeconfigs), token files re-read as they rotate,
//! client certificates, `tls-server-name`, `proxy-url` (HTTP CONNECT, HTTPS or SOCKS5).
//! Without a kubeconfig it uses the in-cluster service account, whose token and CA kube-rs
//! re-reads as they rotate.
//!
//! Tokens, keys and Secret data never appear in an error, a log line or `Debug` output:
//! kube-rs keeps credentials in `secrecy` types, and this crate never formats a [`Config`], a
//! request body or a Secret object.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{InClusterError, KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};

/// How long one call to the API server (a read, a TokenReview, a SubjectAccessReview) may
/// take; watches are not bounded by it.
pub const API_CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// The Kubernetes client could not be configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// A kubeconfig could not be read or used (its context, cluster, user or exec plugin).
    #[error("cannot use kubeconfig {}", path.display())]
    Kubeconfig {
        /// The kubeconfig (or the `:`-separated list) given.
        path: PathBuf,
        /// The cause.
        #[source]
        source: KubeconfigError,
    },
    /// No kubeconfig was given and the process does not run in a cluster.
    #[error(
        "no in-cluster service account (KUBERNETES_SERVICE_HOST or the token and CA under \
         /var/run/secrets/kubernetes.io/serviceaccount are missing); give --kubeconfig"
    )]
    InCluster(#[source] InClusterError),
    /// The client could not be built from the configuration (unusable CA, unsupported proxy).
    #[error("cannot build the kubernetes client")]
    Client(#[source] kube::Error),
}

/// A client from the kubeconfig at `kubeconfig` (`:`-separated files are merged as kubectl
/// merges them), or from the in-cluster service account when `None`.
pub async fn client(kubeconfig: Option<&Path>) -> Result<Client, ClusterError> {
    let config = match kubeconfig {
        Some(path) => config_from_kubeconfig(path).await?,
        None => Config::incluster().map_err(ClusterError::InCluster)?,
    };
    Client::try_from(config).map_err(ClusterError::Client)
}

/// The configuration of the current context of the kubeconfig at `paths` (one file, or several
/// separated by `:` and merged, the first to set a value winning). Relative file names in a
/// kubeconfig are read relative to its directory.
pub async fn config_from_kubeconfig(paths: &Path) -> Result<Config, ClusterError> {
    let error = |source| ClusterError::Kubeconfig {
        path: paths.to_owned(),
        source,
    };
    let mut merged = Kubeconfig::default();
    for path in std::env::split_paths(paths.as_os_str()).filter(|p| !p.as_os_str().is_empty()) {
        let file = Kubeconfig::read_from(&path).map_err(error)?;
        merged = merged.merge(file).map_err(error)?;
    }
    Config::from_custom_kubeconfig(merged, &KubeConfigOptions::default())
        .await
        .map_err(error)
}

/// The HTTP status of a failed call, when the API server answered one.
pub fn status_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// What to tell the operator about a failed call: `forbidden` (the RBAC rule to grant) for a
/// 403, a check of the webhook's own credentials for a 401, nothing otherwise.
pub fn remedy(err: &kube::Error, forbidden: &str) -> String {
    match status_code(err) {
        Some(401) => "the API server rejected the webhook's own credentials; check --kubeconfig \
                      or the service account token"
            .to_owned(),
        Some(403) => forbidden.to_owned(),
        _ => String::new(),
    }
}

/// No answer within [`API_CALL_TIMEOUT`].
#[derive(Debug, thiserror::Error)]
#[error("no answer from the kubernetes API within {0:?}")]
struct TimedOut(Duration);

/// `call`, failed with a [`kube::Error::Service`] if it takes longer than
/// [`API_CALL_TIMEOUT`] (kube-rs has no per-call timeout that spares watches).
pub(crate) async fn bounded<T>(call: impl Future<Output = kube::Result<T>>) -> kube::Result<T> {
    tokio::time::timeout(API_CALL_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| Err(kube::Error::Service(Box::new(TimedOut(API_CALL_TIMEOUT)))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_kubeconfig_without_the_current_context_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\ncurrent-context: missing\nclusters: []\ncontexts: []\nusers: []\n",
        )
        .unwrap();
        let err = config_from_kubeconfig(&path).await.unwrap_err();
        let text = dns01_core::error::report(&err);
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("missing"), "{text}");
    }

    #[test]
    fn remedies_follow_the_status() {
        let api = |code| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                ..kube::core::Status::default()
            }))
        };
        assert_eq!(remedy(&api(403), "grant it"), "grant it");
        assert!(remedy(&api(401), "grant it").contains("own credentials"));
        assert_eq!(remedy(&api(500), "grant it"), "");
    }
}
