//! Integration tests with real parts: CNCF Distribution 2.8 in `auth.token` mode behind the
//! gateway, skopeo and podman as clients, umoci-built images; a hostile upstream from testkit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bearer;
mod distribution;
mod fuzz;
mod hostile;
mod maintenance;
mod router;
mod support;
mod tls;
