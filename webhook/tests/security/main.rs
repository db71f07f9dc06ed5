//! Security tests of dns01-webhook (issue 8, "Secrets and access" and the limits and fuzzing of
//! "Bad input"), as one binary with modules:
//!
//! - [`fuzz`]: the libFuzzer targets' bodies (`fuzz/src/targets.rs`) over the checked-in seed
//!   corpus and mutations of it, on the stable toolchain;
//! - [`limits`]: body size, slow and idle connections, the connection cap, over real TLS;
//! - [`secrets`]: full lifecycles with the `gandi` solver, every failure path, TRACE logs
//!   captured: the token never shows;
//! - [`access`]: Secrets only from the request's namespace, no ambient credentials for
//!   namespaced Issuers, refusals before any Secret read or upstream call.

// Helpers outside `#[test]` functions panic on purpose: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
#[path = "../common/mod.rs"]
mod common;
mod fuzz;
mod limits;
mod secrets;
mod support;

/// The fuzz targets' bodies, shared with `fuzz/fuzz_targets/`.
#[allow(unreachable_pub, dead_code)]
#[path = "../../../fuzz/src/targets.rs"]
mod fuzz_targets;
