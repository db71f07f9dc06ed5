//! Local mode: the webhook with no cluster at all, so a newcomer sees it work in one command
//! (`cargo run -p dns01-webhook -- local`).
//!
//! - the `memory` solver over an in-memory store holding [`DEFAULT_ZONE`] (or `--zone`);
//! - a DNS responder ([`crate::dns`]) answering TXT queries for those zones on a UDP port;
//! - HTTPS with a self-signed certificate generated at start;
//! - loopback addresses only: anything else is refused, because authentication is off.
//!
//! [`LocalServer::instructions`] prints a ready-to-paste `curl` that presents a challenge
//! and a `dig` that shows it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dns01_core::memory::MemoryStore;
use dns01_core::{Fqdn, ZoneName};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::dns::{self, DnsResponder};
use crate::solver::Solvers;
use crate::solver::memory::{self, MemorySolver};
use crate::{AppState, router};

/// The zone held in memory by default. `.test` is reserved (RFC 2606): it never collides with
/// a real domain.
pub const DEFAULT_ZONE: &str = "acme.dns01.test";
/// The API group served by default.
pub const DEFAULT_GROUP: &str = "webhook.dns01.test";
/// The domain of the example challenge.
pub const EXAMPLE_DOMAIN: &str = "app.example.com";
/// The TXT value of the example challenge.
pub const EXAMPLE_KEY: &str = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ";
/// The namespace (tenant) of the example challenge.
pub const EXAMPLE_NAMESPACE: &str = "default";

/// What to run.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// HTTPS address (loopback; port 0 picks one).
    pub listen: SocketAddr,
    /// DNS (UDP) address (loopback; port 0 picks one).
    pub dns_listen: SocketAddr,
    /// Zones held in memory (at least one).
    pub zones: Vec<ZoneName>,
    /// API group served.
    pub group_name: String,
    /// Deadline of one challenge request.
    pub request_timeout: Duration,
}

impl Default for LocalOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            dns_listen: SocketAddr::from(([127, 0, 0, 1], 5353)),
            zones: ZoneName::parse(DEFAULT_ZONE).into_iter().collect(),
            group_name: DEFAULT_GROUP.to_owned(),
            request_timeout: crate::DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// Local mode could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// An address is not a loopback address.
    #[error(
        "local mode listens on loopback addresses only, because it has no authentication; \
         {what} {addr} is not one (use 127.0.0.1 or [::1])"
    )]
    NotLoopback {
        /// Which address.
        what: &'static str,
        /// The address given.
        addr: SocketAddr,
    },
    /// No zone was given.
    #[error("local mode needs at least one zone")]
    NoZone,
    /// The example's delegated name could not be computed (a zone too long).
    #[error("cannot compute the example's delegated name")]
    Example(#[source] dns01_core::Error),
    /// A socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The self-signed certificate could not be made or used.
    #[error("cannot set up the self-signed TLS certificate")]
    Tls(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A running local-mode server.
#[derive(Debug)]
pub struct LocalServer {
    /// Where HTTPS is served.
    pub https_addr: SocketAddr,
    /// Where DNS is answered.
    pub dns_addr: SocketAddr,
    /// The API group.
    pub group_name: String,
    /// The zones.
    pub zones: Vec<ZoneName>,
    /// The in-memory store (inspect it in tests).
    pub store: Arc<MemoryStore>,
    /// The self-signed certificate, PEM (to trust it instead of `curl -k`).
    pub certificate_pem: String,
    /// Where the example challenge lands: the delegated name of [`EXAMPLE_DOMAIN`] for
    /// namespace [`EXAMPLE_NAMESPACE`] in the first zone.
    pub example_name: Fqdn,
    https: JoinHandle<()>,
    dns: JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

/// Starts local mode: checks addresses, binds both sockets, and serves in background tasks.
pub async fn start(options: LocalOptions) -> Result<LocalServer, LocalError> {
    for (what, addr) in [
        ("--listen", options.listen),
        ("--dns-listen", options.dns_listen),
    ] {
        if !addr.ip().is_loopback() {
            return Err(LocalError::NotLoopback { what, addr });
        }
    }
    let Some(first_zone) = options.zones.first() else {
        return Err(LocalError::NoZone);
    };
    let example_name = Fqdn::parse(EXAMPLE_DOMAIN)
        .map_err(dns01_core::Error::from)
        .and_then(|d| dns01_core::delegation::delegated_name(&d, EXAMPLE_NAMESPACE, first_zone))
        .map_err(LocalError::Example)?;
    tracing::warn!(
        "local mode: authentication is OFF and records live in memory; anyone on this machine \
         can present challenges. Never expose it."
    );
    let store = Arc::new(MemoryStore::new(options.zones.clone()));
    let mut solvers = Solvers::new();
    solvers.insert(
        memory::NAME.to_owned(),
        Arc::new(MemorySolver::with_store(store.clone())),
    );
    let mut state = AppState::new(options.group_name.clone(), solvers);
    state.request_timeout = options.request_timeout;
    let app = router(state);

    let (dns_addr, dns) = dns::spawn(DnsResponder::new(store.clone()), options.dns_listen)
        .await
        .map_err(|source| LocalError::Bind {
            addr: options.dns_listen,
            source,
        })?;

    let cert = rcgen::generate_simple_self_signed(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])
    .map_err(|e| LocalError::Tls(Box::new(e)))?;
    let certificate_pem = cert.cert.pem();
    let key = crate::tls::certified_key_from_pem(
        certificate_pem.as_bytes(),
        cert.signing_key.serialize_pem().as_bytes(),
    )
    .map_err(|e| LocalError::Tls(Box::new(e)))?;
    let resolver = Arc::new(rustls::sign::SingleCertAndKey::from(key));
    let server_config =
        crate::tls::server_config(resolver, false).map_err(|e| LocalError::Tls(Box::new(e)))?;

    let listener = match tokio::net::TcpListener::bind(options.listen).await {
        Ok(l) => l,
        Err(source) => {
            dns.abort();
            return Err(LocalError::Bind {
                addr: options.listen,
                source,
            });
        }
    };
    let https_addr = listener.local_addr().map_err(|source| LocalError::Bind {
        addr: options.listen,
        source,
    })?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let https = tokio::spawn(serve_https(listener, server_config, app, stopped));
    tracing::info!(%https_addr, %dns_addr, "local mode ready");
    Ok(LocalServer {
        https_addr,
        dns_addr,
        group_name: options.group_name,
        zones: options.zones,
        store,
        certificate_pem,
        example_name,
        https,
        dns,
        stop,
    })
}

async fn serve_https(
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    app: axum::Router,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let shutdown = async move {
        let _ = stopped.changed().await;
    };
    if let Err(e) = crate::server::serve(listener, config, app, shutdown).await {
        tracing::error!(error = %e, "local HTTPS server failed");
    }
}

impl LocalServer {
    /// The example challenge: a `ChallengePayload` as cert-manager would send it for
    /// [`EXAMPLE_DOMAIN`] from namespace [`EXAMPLE_NAMESPACE`], with a solver config that maps
    /// it into the first zone (delegation `map` mode: no CNAME needed).
    pub fn example_payload(&self, action: &str) -> Value {
        let zone = self
            .zones
            .first()
            .map(ZoneName::as_str)
            .unwrap_or(DEFAULT_ZONE);
        json!({
            "apiVersion": "webhook.acme.cert-manager.io/v1alpha1",
            "kind": "ChallengePayload",
            "request": {
                "uid": "local-example",
                "action": action,
                "type": "dns-01",
                "dnsName": EXAMPLE_DOMAIN,
                "key": EXAMPLE_KEY,
                "resourceNamespace": EXAMPLE_NAMESPACE,
                "resolvedFQDN": format!("_acme-challenge.{EXAMPLE_DOMAIN}."),
                "resolvedZone": "example.com.",
                "allowAmbientCredentials": false,
                "config": {"delegation": {"zone": zone, "mode": "map"}}
            }
        })
    }

    /// The URL the example posts to.
    pub fn challenge_url(&self) -> String {
        format!(
            "https://{}/apis/{}/v1alpha1/{}",
            self.https_addr,
            self.group_name,
            memory::NAME
        )
    }

    /// A ready-to-paste `curl` for `action`.
    pub fn curl(&self, action: &str) -> String {
        format!(
            "curl -sk -X POST -H 'Content-Type: application/json' {} -d '{}'",
            self.challenge_url(),
            self.example_payload(action)
        )
    }

    /// A ready-to-paste `dig` showing the example record.
    pub fn dig(&self) -> String {
        format!(
            "dig @{} -p {} TXT {} +short",
            self.dns_addr.ip(),
            self.dns_addr.port(),
            self.example_name
        )
    }

    /// What to paste, printed at start.
    pub fn instructions(&self) -> String {
        format!(
            "dns01-webhook local mode (no cluster, no authentication, records in memory)\n\
             API   https://{https} (self-signed certificate), group {group}, solver memory\n\
             DNS   udp://{dns}, zones: {zones}\n\n\
             Present a challenge, as cert-manager would:\n  {present}\n\n\
             See the record:\n  {dig}\n\n\
             Clean it up:\n  {cleanup}\n\n\
             Discovery: curl -sk https://{https}/apis/{group}/v1alpha1\n\
             Press Ctrl-C to stop.",
            https = self.https_addr,
            group = self.group_name,
            dns = self.dns_addr,
            zones = self
                .zones
                .iter()
                .map(ZoneName::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            present = self.curl("Present"),
            dig = self.dig(),
            cleanup = self.curl("CleanUp"),
        )
    }

    /// Stops accepting, lets in-flight requests finish, and stops DNS.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.https.await;
        self.dns.abort();
        let _ = self.dns.await;
    }
}
