//! Health and metrics endpoints for the controller: `GET /metrics` (see [`crate::metrics`]),
//! `GET /healthz` answers 200 while the process serves,
//! `GET /readyz` answers 200 once the API server lists CustomDomains for the controller (the
//! CRD is installed and RBAC allows it; 503 before).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use tower::ServiceExt as _;
//! let ready = dns01_domains::health::Readiness::default();
//! let metrics = std::sync::Arc::new(dns01_domains::metrics::Metrics::default());
//! let app = dns01_domains::health::router(ready.clone(), metrics);
//! let get = |path: &str| axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
//! assert_eq!(app.clone().oneshot(get("/readyz")).await.unwrap().status(), 503);
//! ready.set();
//! assert_eq!(app.oneshot(get("/readyz")).await.unwrap().status(), 200);
//! # }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::routing::get;

use crate::metrics::Metrics;

/// Whether the controller is ready; cheap to clone, shared with the router.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the controller ready.
    pub fn set(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether it is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// `/healthz`, `/readyz` and `/metrics`.
pub fn router(ready: Readiness, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(ready)
        .route(
            "/metrics",
            get(|State(metrics): State<Arc<Metrics>>| async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.encode(),
                )
            })
            .with_state(metrics),
        )
}

async fn readyz(State(ready): State<Readiness>) -> (StatusCode, &'static str) {
    if ready.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "CustomDomains cannot be listed yet",
        )
    }
}
