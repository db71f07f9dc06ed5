//! Helpers of the integration tests: the shared ones (`common`), routers over in-memory
//! solvers, requests without sockets, golden samples.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use dns01_core::memory::MemoryStore;
use dns01_webhook::router;
use serde_json::Value;

pub(crate) use crate::common::*;

/// A golden file under the repository's `testdata/`.
pub(crate) fn golden(path: &str) -> Value {
    let full = format!("{}/../testdata/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// A router with a `memory` solver.
pub(crate) fn memory_app(zones: &[&str]) -> (Router, Arc<MemoryStore>) {
    let (state, store) = memory_state(zones);
    (router(state), store)
}

/// POSTs a JSON payload.
pub(crate) async fn post(app: &Router, path: &str, payload: &Value) -> (StatusCode, Value) {
    send(app, "POST", path, serde_json::to_vec(payload).unwrap()).await
}

/// GETs a path.
pub(crate) async fn get(app: &Router, path: &str) -> (StatusCode, Value) {
    send(app, "GET", path, Vec::new()).await
}
