//! # dns01-webhook
//!
//! A cert-manager DNS-01 webhook: an aggregated API server that answers cert-manager's
//! `ChallengePayload`s by writing TXT records through `dns01-core` providers (Gandi LiveDNS;
//! an in-memory store for local mode and tests), with delegated validation zones bound to the
//! requesting namespace.
//!
//! A request travels: TLS ([`server`], [`tls`]) → authentication and authorisation ([`auth`]) →
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
pub mod challenge;
pub mod cluster;
pub mod dns;
pub mod lease;
pub mod local;
pub mod logging;
pub mod metrics;
pub mod secrets;
pub mod solver;

/// The HTTPS server loop (connection limits, timeouts, graceful shutdown), shared with the
/// registry gateway.
pub use dns01_server::serve as server;
/// TLS serving with certificate reload, shared with the registry gateway.
pub use dns01_server::tls;

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
///
/// Every API request goes through the authentication and authorisation layer (when
/// `state.auth` is set) and the body limit; health paths answer without either.
pub fn router(state: AppState) -> Router {
    use api::handler;
    let state = Arc::new(state);
    let api = Router::new()
        .route("/apis", get(handler::apis))
        .route("/apis/{group}", get(handler::group))
        .route("/apis/{group}/{version}", get(handler::resources))
        .route("/apis/{group}/{version}/{solver}", post(handler::challenge))
        .method_not_allowed_fallback(handler::method_not_allowed)
        .fallback(handler::not_found);
    let body_limit = DefaultBodyLimit::max(state.body_limit);
    let api = match &state.auth {
        Some(authenticator) => api
            .layer(body_limit)
            .layer(axum::middleware::from_fn_with_state(
                auth::AuthState {
                    authenticator: authenticator.clone(),
                },
                auth::middleware,
            )),
        None => api.layer(body_limit),
    };
    Router::new()
        .route("/healthz", get(handler::health))
        .route("/livez", get(handler::health))
        .route("/readyz", get(handler::health))
        .merge(api)
        // Behind an `Arc`: the router clones its state for every request.
        .with_state(state)
}
