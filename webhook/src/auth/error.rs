//! Errors of authentication and authorisation.

use std::fmt;
use std::path::PathBuf;

/// Errors of authentication and authorisation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The authentication configuration is invalid (bad PEM, bad JSON list).
    #[error("invalid authentication configuration: {message}")]
    InvalidConfig {
        /// What is wrong.
        message: String,
    },
    /// A configured file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A call to the Kubernetes API (the authentication ConfigMap, TokenReview,
    /// SubjectAccessReview) failed.
    #[error("{call} failed{}", remedy_suffix(.remedy))]
    Kube {
        /// The call and its object, e.g. `reading ConfigMap kube-system/extension-apiserver-authentication`.
        call: String,
        /// What to do when the answer says (the RBAC rule to grant for a 403); may be empty.
        remedy: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// A front-proxy certificate verified, but its CN is not an allowed name.
    #[error(
        "front-proxy client certificate CN {common_name:?} is not in requestheader-allowed-names"
    )]
    NameNotAllowed {
        /// The certificate's CN.
        common_name: String,
    },
    /// No Kubernetes client is configured, so the check cannot be made.
    #[error("no kubernetes client configured for {what}")]
    NoKubeClient {
        /// The check (TokenReview, SubjectAccessReview).
        what: &'static str,
    },
    /// A TokenReview or SubjectAccessReview shared by concurrent identical requests failed;
    /// displays as the underlying error.
    #[error(transparent)]
    Shared(std::sync::Arc<Self>),
}

fn remedy_suffix(remedy: &str) -> String {
    if remedy.is_empty() {
        String::new()
    } else {
        format!(" ({remedy})")
    }
}

impl AuthError {
    /// A failed Kubernetes API call, with the remedy [`crate::cluster::remedy`] finds for it.
    pub(crate) fn kube(
        call: impl Into<String>,
        forbidden_remedy: &str,
        source: kube::Error,
    ) -> Self {
        Self::Kube {
            call: call.into(),
            remedy: crate::cluster::remedy(&source, forbidden_remedy),
            source,
        }
    }
}

/// Displays an error followed by its sources, `a: b: c`.
#[derive(Debug)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}
