//! Client authentication as configured by `auth`: the token file, the key of the gateway's
//! own tokens, Kubernetes service-account tokens and the brute-force limit. Built at start
//! and again on each configuration reload, keeping what a reload must not lose.

use std::sync::Arc;

use crate::config::AuthConfig;
use crate::error::{Error, Result};
use crate::kubernetes::Kubernetes;
use crate::tokens::{GatewayTokens, LoginLimiter, Permission, TokenStore};

/// The Kubernetes client kept for reloads (its `Debug` says only that it is there).
#[derive(Clone)]
pub(crate) struct Cluster(pub(crate) kube::Client);

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cluster(<kube client>)")
    }
}

/// What `/token` and the token checks use.
#[derive(Debug)]
pub(crate) struct Auth {
    pub(crate) store: TokenStore,
    pub(crate) tokens: GatewayTokens,
    pub(crate) kubernetes: Option<Kubernetes>,
    pub(crate) limiter: Arc<LoginLimiter>,
    pub(crate) client_address_header: Option<axum::http::HeaderName>,
    /// What `config` said, to tell on a reload what changed.
    config: AuthConfig,
}

impl Auth {
    /// Builds `config`'s authentication. On a reload `previous` is the running one: a
    /// per-process key is kept (the tokens issued stay valid), and so are the failed-login
    /// counts and the TokenReview cache while their settings are unchanged; a key file and
    /// the token file are read again.
    ///
    /// # Errors
    /// When a file cannot be read or is wrong, or `auth.kubernetes` is configured without
    /// a Kubernetes client.
    pub(crate) fn load(
        config: AuthConfig,
        kube: Option<&Cluster>,
        previous: Option<&Self>,
    ) -> Result<Self> {
        let kubernetes = match (&config.kubernetes, kube) {
            (None, _) => None,
            (Some(perms), _) if same_kubernetes(previous, perms) => {
                previous.and_then(|p| p.kubernetes.clone())
            }
            (Some(perms), Some(Cluster(client))) => {
                Some(Kubernetes::new(client.clone(), perms.clone()))
            }
            (Some(_), None) if previous.is_some() => {
                return Err(Error::config(
                    "auth.kubernetes",
                    "the gateway started without it, so it has no Kubernetes client: restart \
                     it to accept service-account tokens",
                ));
            }
            (Some(_), None) => {
                return Err(Error::config(
                    "auth.kubernetes",
                    "no Kubernetes client: run the gateway in a cluster or with a kubeconfig",
                ));
            }
        };
        let tokens = match (&config.signing_key_file, previous) {
            (Some(path), _) => GatewayTokens::from_key_file(path, config.token_lifetime)?,
            (None, Some(p)) if p.config.signing_key_file.is_none() => {
                p.tokens.with_lifetime(config.token_lifetime)
            }
            (None, _) => GatewayTokens::random(config.token_lifetime)?,
        };
        let limiter = match previous {
            Some(p)
                if p.config.failed_logins.max_failures == config.failed_logins.max_failures
                    && p.config.failed_logins.window == config.failed_logins.window =>
            {
                Arc::clone(&p.limiter)
            }
            _ => Arc::new(LoginLimiter::new(
                config.failed_logins.max_failures,
                config.failed_logins.window,
            )),
        };
        Ok(Self {
            store: TokenStore::load(&config.tokens_file)?,
            tokens,
            kubernetes,
            limiter,
            client_address_header: config.failed_logins.client_address_header.clone(),
            config,
        })
    }
}

fn same_kubernetes(previous: Option<&Auth>, perms: &[Permission]) -> bool {
    previous
        .is_some_and(|p| p.kubernetes.is_some() && p.config.kubernetes.as_deref() == Some(perms))
}
