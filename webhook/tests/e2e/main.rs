//! End-to-end tests with real peers: the `dns01-webhook` binary driven over HTTPS as
//! cert-manager drives it, cert-manager's conformance rules, and a real ACME CA (Pebble)
//! validating over DNS answered by the Gandi LiveDNS emulator.
//!
//! `cargo test -p dns01-webhook --test e2e` (needs `pebble` on PATH or `$PEBBLE_BIN`; see
//! scripts/install-deps.sh). `... --test e2e conformance` with `DNS01_CONFORMANCE_*` set runs
//! the conformance suite against real Gandi (see conformance.rs).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

mod conformance;
mod hijack;
mod kubectl;
mod pebble;
mod replicas;
mod rfc2136;
mod support;
