//! dns01-registry against the real CNCF Distribution (`docker-registry`, Debian package),
//! with images built by umoci and pushed by skopeo (`scripts/install-deps.sh` installs them).
//! Every test starts its own registry on an ephemeral port.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

mod anonymous;
mod pages;
mod support;
mod token;
