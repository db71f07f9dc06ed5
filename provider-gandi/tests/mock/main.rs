//! Gandi LiveDNS routes, headers, bodies and status handling against a wiremock server.
//!
//! Every test runs offline. Stateful behaviour (merging values into rrsets, concurrency) is
//! tested against the emulator in `tests/emulator.rs`; here each upstream answer is scripted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod errors;
mod retries;
mod routes;
mod support;
mod zones;
