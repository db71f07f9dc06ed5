//! # dns01-webhook
//!
//! A cert-manager DNS-01 webhook: an aggregated API server that answers cert-manager's
//! `ChallengePayload`s by writing TXT records through `dns01-core` providers (Gandi LiveDNS;
//! an in-memory store for local mode and tests), with delegated validation zones bound to the
//! requesting namespace.
//!
//! A request travels: TLS ([`tls`]) → authentication and authorisation ([`auth`]) →
//! payload ([`api`]) → solver configuration and delegation policy ([`solver`]) →
//! coordinator → store → upstream.
//!
//! ```no_run
//! use std::sync::Arc;
//! use dns01_webhook::{AppState, router, solver::{Solvers, memory::MemorySolver}};
//!
//! let mut solvers = Solvers::new();
//! let zone = dns01_core::ZoneName::parse("acme.example.test")?;
//! solvers.insert("memory".into(), Arc::new(MemorySolver::new(vec![zone])));
//! let app = router(AppState::new("acme.example.com", solvers));
//! # let _ = app;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod dns;
pub mod kube;
pub mod local;
pub mod logging;
pub mod metrics;
mod scan;
pub mod secrets;
pub mod solver;
pub mod tls;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::metrics::Metrics;
use crate::solver::Solvers;

/// Default deadline of one challenge request: shorter than cert-manager's 30 s client timeout,
/// so that cert-manager receives our message rather than its own timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(25);

/// Default limit of a request body (1 MiB); larger bodies get HTTP 413.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// Task polls between two looks at the sockets: twice tokio's default of 61, because a
/// challenge request takes two polls (the coordinator yields once, to let concurrent callers
/// join its batch) where most requests take one.
///
/// With the default, a busy worker would look at its sockets every ~30 challenge requests
/// instead of every ~61. In the benchmark (`dns01-bench`, 64 connections on 2 cores, four
/// alternating runs each) this moved p99 latency at concurrency 64 from 1.8-2.2 to 1.45-1.7
/// times the baseline's, with throughput unchanged within the noise; 255 did no better.
pub const RUNTIME_EVENT_INTERVAL: u32 = 122;

/// The multi-threaded runtime the webhook binary runs on: tokio's defaults (one worker per
/// core, `TOKIO_WORKER_THREADS` to override), with [`RUNTIME_EVENT_INTERVAL`].
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .event_interval(RUNTIME_EVENT_INTERVAL)
        .build()
}

/// Everything the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The API group served (`--group-name`), e.g. `acme.example.com`.
    pub group_name: String,
    /// The solvers, by name.
    pub solvers: Arc<Solvers>,
    /// Deadline of one challenge request; on expiry the answer is `success: false`.
    pub request_timeout: Duration,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Authentication and authorisation of API requests; `None` turns them off (local mode
    /// only: then anyone who can reach the port can write records).
    pub auth: Option<Arc<auth::Authenticator>>,
}

impl AppState {
    /// State with these solvers, the default deadline and body limit, fresh metrics, and no
    /// authentication.
    pub fn new(group_name: impl Into<String>, solvers: Solvers) -> Self {
        Self {
            group_name: group_name.into(),
            solvers: Arc::new(solvers),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            body_limit: DEFAULT_BODY_LIMIT,
            metrics: Arc::new(Metrics::new()),
            auth: None,
        }
    }
}

/// The aggregated API server's router: health, discovery, and one `create` resource per solver.
pub fn router(state: AppState) -> Router {
    build(state).0
}

/// The webhook as [`tls::serve`] serves it: [`router`], with the path of each served solver
/// looked up before the router is asked.
///
/// A challenge request to such a path is answered by that solver's route straight from the
/// connection: authenticated, authorised, limited and answered exactly as the router would
/// answer it, without the router's per-request boxing and without copying the connection's
/// details into the request's extensions. Every other request goes to the router.
///
/// ```
/// use std::sync::Arc;
/// use dns01_webhook::{App, AppState, solver::{Solvers, memory::MemorySolver}};
///
/// let mut solvers = Solvers::new();
/// let zone = dns01_core::ZoneName::parse("acme.example.test")?;
/// solvers.insert("memory".into(), Arc::new(MemorySolver::new(vec![zone])));
/// let app = App::new(AppState::new("acme.example.com", solvers));
/// assert!(app.serves_solver_path("/apis/acme.example.com/v1alpha1/memory"));
/// // Anything else (here an escaped name) is the router's to answer.
/// assert!(!app.serves_solver_path("/apis/acme.example.com/v1alpha1/m%65mory"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct App {
    router: Router,
    solver_routes: Arc<HashMap<String, api::route::SolverRoute, foldhash::fast::RandomState>>,
}

impl App {
    /// [`router`] for `state`, and its solvers' routes.
    pub fn new(state: AppState) -> Self {
        let (router, routes) = build(state);
        Self {
            router,
            solver_routes: Arc::new(routes.into_iter().collect()),
        }
    }

    /// The router, which answers every request that is not for a served solver's path.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Whether requests to `path` are answered by a solver's route rather than the router.
    pub fn serves_solver_path(&self, path: &str) -> bool {
        self.solver_routes.contains_key(path)
    }

    pub(crate) fn solver_route(&self, path: &str) -> Option<&api::route::SolverRoute> {
        self.solver_routes.get(path)
    }
}

/// A router alone: every request goes to it.
impl From<Router> for App {
    fn from(router: Router) -> Self {
        Self {
            router,
            solver_routes: Arc::default(),
        }
    }
}

/// The router, and the route of each served solver whose path is matched literally.
fn build(state: AppState) -> (Router, Vec<(String, api::route::SolverRoute)>) {
    use api::handler;
    let state = Arc::new(state);
    let api = Router::new()
        .route("/apis", get(handler::apis))
        .route("/apis/{group}", get(handler::group))
        .route("/apis/{group}/{version}", get(handler::resources))
        .route("/apis/{group}/{version}/{solver}", post(handler::challenge))
        .method_not_allowed_fallback(handler::method_not_allowed)
        .fallback(handler::not_found);
    // One `layer` call with both layers: each call wraps every route in one more boxed
    // service, which costs every request.
    let body_limit = DefaultBodyLimit::max(state.body_limit);
    let mut api = match &state.auth {
        Some(authenticator) => api.layer(
            tower::ServiceBuilder::new()
                .layer(auth::layer(authenticator.clone()))
                .layer(body_limit),
        ),
        None => api.layer(body_limit),
    };
    // The served paths, also as routes of their own, added after the layers: each checks
    // and limits its requests itself (see `api::route`), and they answer the same, without
    // the cost of path parameters and layers. Any other name (empty, or with characters the
    // router reads as patterns or separators) keeps to the route above, which serves it all
    // the same.
    let plain = |segment: &str| {
        !segment.is_empty()
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    };
    let mut routes = Vec::new();
    for name in state.solvers.keys() {
        if !plain(&state.group_name) || !plain(name) {
            continue;
        }
        let path = format!(
            "/apis/{}/{}/{name}",
            state.group_name,
            api::discovery::VERSION
        );
        let route = api::route::SolverRoute::new(state.clone(), name);
        api = api.route_service(&path, route.clone());
        routes.push((path, route));
    }
    let router = Router::new()
        .route("/healthz", get(handler::health))
        .route("/livez", get(handler::health))
        .route("/readyz", get(handler::health))
        .merge(api)
        // Behind an `Arc`: the router clones its state for every request.
        .with_state(state);
    (router, routes)
}
