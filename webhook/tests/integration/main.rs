//! Integration tests of dns01-webhook, as one binary with modules.

// Helpers outside `#[test]` functions panic on purpose: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod cli;
mod cluster;
#[path = "../common/mod.rs"]
mod common;
mod delegation;
mod gandi;
mod local_mode;
mod protocol;
mod rfc2136;
mod solver_config;
mod structure;
mod support;
mod tls;
