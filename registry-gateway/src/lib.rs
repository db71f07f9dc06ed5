//! # dns01-registry-gateway
//!
//! A front door for any OCI registry: images on customers' own domains
//! (`images.customer.com/app:1` → `registry.internal/proj-a/app:1`), mirror paths
//! (`/proxy/<app>/<upstream-host>/<repo>`) and hosts per upstream; clients authenticate with
//! the platform's tokens (a hashed token file, the Docker token flow answered by the gateway,
//! scopes trimmed to what a principal may do); the gateway authenticates upstream with its
//! own credentials (Basic, the upstream's Bearer dance, or registry JWTs it mints for a CNCF
//! Distribution in `auth.token` mode); blobs and uploads stream both ways; every answer the
//! gateway produces is an OCI error body a person can act on.
//!
//! - [`config`]: the YAML configuration, validated with errors naming the key and the fix.
//! - [`route`]: routes and name mapping in both directions.
//! - [`rewrite`]: names in paths, `Location`, `WWW-Authenticate`, mounts, pages, errors.
//! - [`tokens`]: the token file, scope trimming, the gateway's own tokens.
//! - [`upstream`]: upstream credentials.
//! - [`allow`]: allow-lists of repositories and tags; digests reachable from allowed tags.
//! - [`check`]: the `test <image>` subcommand's steps, as a client pulls.
//! - [`maintenance`]: the registry janitor's read-only record, so a read-only answer says
//!   until when.
//! - [`error`]: [`Error`] and [`Reply`], the one way the gateway answers an error.
//!
//! [`router`] serves the registry API; [`metrics_router`] serves `/metrics` on a listener of its
//! own. The binary serves both through `dns01-server` (TLS with certificate reload, header
//! size and slow-client limits, graceful shutdown); any axum server will do for embedding:
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use dns01_registry_gateway::{Config, State, router};
//! let config = Config::from_yaml(
//!     "routes: [{name: local, upstream: 'http://127.0.0.1:5000', upstream_prefix: proj-a}]",
//! )?;
//! let app = router(State::new(config)?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod allow;
mod auth;
pub mod check;
pub mod config;
pub mod error;
pub mod kubernetes;
pub mod maintenance;
pub mod metrics;
mod proxy;
pub mod rewrite;
pub mod route;
pub mod tokens;
pub mod upstream;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get};

use auth::{Auth, Cluster};
pub use config::Config;
pub use error::{Error, Reply, Result};
use route::{Route, Routes};
use upstream::UpstreamAuth;

/// What the handlers share.
#[derive(Debug)]
pub struct State {
    routing: std::sync::RwLock<Arc<Routing>>,
    /// Client authentication, swapped by a reload like the routes.
    auth: std::sync::RwLock<Option<Arc<Auth>>>,
    /// The client that reviews service-account tokens, kept for reloads.
    kube: Option<Cluster>,
    http: reqwest::Client,
    /// Digests reachable from allowed tags, by route and upstream name.
    reachable: std::sync::Mutex<HashMap<String, (std::time::Instant, Arc<allow::Reachable>)>>,
    metrics: metrics::Metrics,
    /// The registry janitor's read-only records, for routes that name one.
    maintenance: maintenance::Records,
}

impl State {
    /// Reads the files the configuration names (token file, passwords, keys) and builds the
    /// one HTTP client for every upstream.
    ///
    /// # Errors
    /// When a file cannot be read or is wrong.
    pub fn new(config: Config) -> Result<Arc<Self>> {
        Self::with_kubernetes(config, None)
    }

    /// As [`State::new`], with the Kubernetes client that reviews service-account tokens
    /// when `auth.kubernetes` is configured.
    ///
    /// # Errors
    /// As [`State::new`]; also when `auth.kubernetes` is configured and `kube` is `None`.
    pub fn with_kubernetes(config: Config, kube: Option<kube::Client>) -> Result<Arc<Self>> {
        let kube = kube.map(Cluster);
        let auth = config
            .auth
            .map(|a| Auth::load(a, kube.as_ref(), None).map(Arc::new))
            .transpose()?;
        let routing = Routing::load(config.routes, kube.is_some())?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(
                config.timeouts.upstream_connect_seconds,
            ))
            .read_timeout(Duration::from_secs(config.timeouts.upstream_read_seconds))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!(
                "dns01-registry-gateway/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| Error::config("(http client)", e.to_string()))?;
        Ok(Arc::new(Self {
            routing: std::sync::RwLock::new(Arc::new(routing)),
            auth: std::sync::RwLock::new(auth),
            http,
            reachable: std::sync::Mutex::default(),
            metrics: metrics::Metrics::default(),
            maintenance: maintenance::Records::new(kube.as_ref().map(|c| c.0.clone())),
            kube,
        }))
    }

    /// Swaps in the routes and the `auth` section of `config` (upstream credentials, the
    /// token file and a signing key file read again, caches of the old routes dropped).
    /// Requests in flight finish on what they started with; no connection is dropped. A
    /// per-process token key is kept, so tokens already issued stay valid.
    ///
    /// # Errors
    /// When a file the new configuration names cannot be read, or `auth.kubernetes` is
    /// new and the gateway has no Kubernetes client; nothing is swapped then.
    pub fn reload(&self, config: Config) -> Result<()> {
        let previous = self.auth();
        let auth = config
            .auth
            .map(|a| Auth::load(a, self.kube.as_ref(), previous.as_deref()).map(Arc::new))
            .transpose()?;
        let routing = Arc::new(Routing::load(config.routes, self.kube.is_some())?);
        if let Ok(mut a) = self.auth.write() {
            *a = auth;
        }
        if let Ok(mut r) = self.routing.write() {
            *r = routing;
        }
        if let Ok(mut c) = self.reachable.lock() {
            c.clear();
        }
        Ok(())
    }

    /// The current client authentication; `None`: an anonymous gateway.
    fn auth(&self) -> Option<Arc<Auth>> {
        self.auth
            .read()
            .map_or_else(|e| e.into_inner().clone(), |a| a.clone())
    }

    /// The principal a gateway token's subject names: from the token file, else a
    /// Kubernetes service account.
    fn principal_named(&self, name: &str) -> Option<tokens::Principal> {
        let auth = self.auth()?;
        auth.store
            .get()
            .principal(name)
            .cloned()
            .or_else(|| auth.kubernetes.as_ref()?.principal(name))
    }

    /// The current routes.
    fn routes(&self) -> Arc<Routing> {
        self.routing
            .read()
            .map_or_else(|e| Arc::clone(&e.into_inner()), |r| Arc::clone(&r))
    }

    fn upstream(&self, route: &Route) -> Arc<UpstreamAuth> {
        self.routes()
            .upstreams
            .get(&route.name)
            .cloned()
            .unwrap_or_else(|| {
                Arc::new(UpstreamAuth::Anonymous {
                    state: std::sync::Mutex::default(),
                })
            })
    }
}

/// Routes with their loaded upstream credentials: what a configuration reload swaps.
#[derive(Debug)]
struct Routing {
    routes: Routes,
    upstreams: HashMap<String, Arc<UpstreamAuth>>,
}

impl Routing {
    fn load(routes: Vec<Route>, kube: bool) -> Result<Self> {
        let mut upstreams = HashMap::new();
        for (i, r) in routes.iter().enumerate() {
            if !kube && matches!(r.maintenance, Some(maintenance::RecordSource::Lease { .. })) {
                return Err(Error::config(
                    format!("routes[{i}].maintenance.lease"),
                    "the gateway has no Kubernetes client to read the Lease with; run it in the \
                     cluster (or with a kubeconfig), or use `record_file`",
                ));
            }
            let u = UpstreamAuth::load(&r.credentials)
                .map_err(|e| Error::config(format!("routes[{i}].credentials"), e.to_string()))?;
            upstreams.insert(r.name.clone(), Arc::new(u));
        }
        Ok(Self {
            routes: Routes(routes),
            upstreams,
        })
    }
}

impl std::ops::Deref for Routing {
    type Target = Routes;
    fn deref(&self) -> &Routes {
        &self.routes
    }
}

/// Reads `path` again whenever its modification time changes (checked every `every`) and
/// swaps in its routes; a file that does not load is logged and the running routes stay.
pub async fn watch_config(state: Arc<State>, path: std::path::PathBuf, every: Duration) {
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut seen = modified(&path);
    loop {
        tokio::time::sleep(every).await;
        let now = modified(&path);
        if now == seen {
            continue;
        }
        seen = now;
        let loaded = std::fs::read_to_string(&path)
            .map_err(|source| Error::Read {
                path: path.display().to_string(),
                source,
            })
            .and_then(|text| Config::from_yaml(&text))
            .and_then(|c| state.reload(c));
        match loaded {
            Ok(()) => tracing::info!(path = %path.display(), "configuration reloaded"),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "configuration not reloaded; the running routes stay");
            }
        }
    }
}

/// The gateway's HTTP API: `/v2/…`, `/token`, `/healthz`, and OCI errors for anything else.
/// Metrics are not here but on [`metrics_router`], served on a listener of its own so the
/// public address never exposes them.
pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/v2/", get(proxy::ping))
        .route("/v2", get(proxy::ping))
        .route("/token", get(proxy::token))
        .route("/v2/_catalog", get(proxy::catalog))
        .route("/v2/{*rest}", any(proxy::api))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(proxy::fallback)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            access_log,
        ))
        .with_state(state)
}

/// Prometheus metrics (`/metrics`, OpenMetrics text) and `/healthz`, for the metrics listener
/// (`--metrics-addr`).
pub fn metrics_router(state: Arc<State>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

async fn metrics_text(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// One log line per request (method, host, path without the query, status, principal,
/// route, name, reference, response length, time) and the request metrics. Never a header
/// or a query (upload states, tokens).
async fn access_log(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let host = req
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let start = std::time::Instant::now();
    let resp = next.run(req).await;
    let served = resp
        .extensions()
        .get::<metrics::Served>()
        .cloned()
        .unwrap_or_default();
    let status = resp.status().as_u16();
    let length = resp
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    if path != "/healthz" {
        state.metrics.request(&served, method.as_str(), status);
    }
    tracing::info!(
        %method, %host, %path, status,
        principal = %served.principal, route = %served.route, name = %served.name,
        reference = %served.reference, length = %length,
        ms = start.elapsed().as_millis() as u64,
        "request"
    );
    resp
}
