//! Integration tests of dns01-core: the coordinator against counting and blocking stores, the
//! in-memory store, and the conformance suite (which needs the `memory` and `conformance`
//! features: `cargo test -p dns01-core --all-features`).
#![cfg(all(feature = "memory", feature = "conformance"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod conformance;
mod coordinator;
mod lock;
mod memory;
mod support;
