//! Reliability tests of dns01-webhook under upstream trouble and bad input, as one binary:
//!
//! - `chaos`: hundreds of challenge lifecycles against a Gandi emulator that fails a fifth of
//!   its answers; nothing is lost, nothing foreign is touched, nothing of ours is left.
//! - `hang`: an upstream that never answers is reported as a timeout before the deadline.
//! - `model`: random interleavings of Present and CleanUp checked against a model.
//! - `bad_input`: a table of malformed payloads, configs and names, each with its message and
//!   no write upstream.

// Helpers outside `#[test]` functions panic on purpose: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod chaos;
#[path = "../common/mod.rs"]
mod common;
mod hang;
mod model;
mod support;
