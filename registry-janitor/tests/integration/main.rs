//! Integration tests with real parts: CNCF Distribution 2.8 processes supervised by the
//! janitor, images built with umoci, pushed with skopeo, pulled with podman.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod delete;
mod du;
mod gc;
mod kube_switch;
mod kubernetes;
mod lease;
mod retention;
mod serve;
mod support;
