//! Integration tests of dns01-domains: one binary, one module per area.
//!
//! - `check`: the DNS checker against two real `named` processes (BIND 9; see
//!   scripts/install-deps.sh) serving the customer's zone.
//! - `cli`: the `dns01-domains check` command against `named`, both exit codes.
//! - `crd`: the committed CRD manifest equals the generated one.
//! - `controller`: the controller on kube-runtime against the fake Kubernetes API and `named`.
//! - `leader`: Lease leader election against the fake API.
//! - `mockapi`: one reconcile's exact requests against a `tower-test` mock API server.
//! - `rbac`: the README's permission table, which the controller tests replay their requests
//!   against.

// Helpers outside `#[test]` functions panic on purpose: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod check;
mod cli;
mod controller;
mod crd;
mod leader;
mod mockapi;
mod rbac;
