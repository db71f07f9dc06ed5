//! Health endpoints for the controller: `GET /healthz` answers 200 while the process serves,
//! `GET /readyz` answers 200 once the API server lists CustomDomains for the controller (the
//! CRD is installed and RBAC allows it; 503 before).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use tower::ServiceExt as _;
//! let ready = dns01_domains::health::Readiness::default();
//! let app = dns01_domains::health::router(ready.clone());
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
use axum::http::StatusCode;
use axum::routing::get;

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

/// `/healthz` and `/readyz`.
pub fn router(ready: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(ready)
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
