//! Kubernetes service-account tokens as client credentials: a TokenReview per token (cached
//! for a minute, concurrent misses sharing one review), and the service account's namespace
//! as its project.
//!
//! A client sends the token as the Basic password at `/token` (`podman login -u any
//! -p "$(cat /var/run/secrets/kubernetes.io/serviceaccount/token)"`); the principal is
//! `system:serviceaccount:<namespace>:<name>` with the configured permissions in the project
//! named like its namespace.

use std::sync::Arc;
use std::time::Duration;

use dns01_core::Secret;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::api::{Api, PostParams};
use sha2::{Digest as _, Sha256};

use crate::tokens::{Permission, Principal};

const SERVICE_ACCOUNT: &str = "system:serviceaccount:";

/// TokenReview against the cluster.
#[derive(Clone)]
pub struct Kubernetes {
    client: kube::Client,
    permissions: Vec<Permission>,
    cache: moka::future::Cache<[u8; 32], Option<Arc<Principal>>>,
}

impl std::fmt::Debug for Kubernetes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubernetes")
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

impl Kubernetes {
    /// Reviews tokens with `client`; a service account gets `permissions` in its namespace.
    pub fn new(client: kube::Client, permissions: Vec<Permission>) -> Self {
        Self {
            client,
            permissions,
            cache: moka::future::Cache::builder()
                .time_to_live(Duration::from_secs(60))
                .max_capacity(10_000)
                .build(),
        }
    }

    /// Whether `password` looks like a service-account token (a JWT).
    pub fn looks_like_token(password: &Secret) -> bool {
        let p = password.expose();
        p.starts_with("eyJ") && p.split('.').count() == 3
    }

    /// The service account behind `token`, if the cluster authenticates it. A review that
    /// fails (the API server unreachable) counts as not authenticated and is not cached.
    pub async fn review(&self, token: &Secret) -> Option<Arc<Principal>> {
        let key: [u8; 32] = Sha256::digest(token.expose().as_bytes()).into();
        let api: Api<TokenReview> = Api::all(self.client.clone());
        let permissions = self.permissions.clone();
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.expose().to_owned()),
                ..TokenReviewSpec::default()
            },
            ..TokenReview::default()
        };
        self.cache
            .try_get_with(key, async move {
                let answer = api.create(&PostParams::default(), &review).await?;
                let status = answer.status.unwrap_or_default();
                let user = status
                    .user
                    .and_then(|u| u.username)
                    .filter(|_| status.authenticated == Some(true));
                Ok::<_, kube::Error>(user.and_then(|name| {
                    let namespace = name
                        .strip_prefix(SERVICE_ACCOUNT)?
                        .split(':')
                        .next()?
                        .to_owned();
                    Some(Arc::new(Principal::new(&name, &[&namespace], &permissions)))
                }))
            })
            .await
            .map_err(|e| tracing::warn!(error = %e, "TokenReview failed"))
            .ok()
            .flatten()
    }

    /// The principal a service-account name stands for (for decisions after the token).
    pub fn principal(&self, name: &str) -> Option<Principal> {
        let namespace = name.strip_prefix(SERVICE_ACCOUNT)?.split(':').next()?;
        Some(Principal::new(name, &[namespace], &self.permissions))
    }
}
