//! # dns01-bench
//!
//! The benchmark program of the dns01 workspace (`dns01-bench`, not published): what users of
//! the DNS-01 webhook pay for, each machine-dependent figure beside a baseline measured in the
//! same run.
//!
//! 1. Webhook throughput and latency over HTTPS with front-proxy client certificates
//!    ([`load`]) against a minimal axum + rustls server (`bench-baseline`).
//! 2. Memory ([`procfs`]): resident set idle and peak, beside the baseline's peak.
//! 3. Start-up: process start to `/readyz` answering 200.
//! 4. Gandi calls ([`gandi`]), read from the emulator's counters; RFC 2136 UPDATEs
//!    ([`rfc2136`]), read from BIND's statistics channel.
//! 5. Per-request overhead of `dns01-gandi` over a bare HTTP call.
//! 6. The registry gateway ([`gateway`]): blob pulls over TLS against nginx and the registry,
//!    its memory during them, manifest GET latency at 64 connections against nginx.
//!
//! And the custom-domain controller at scale ([`domains`]).
//!
//! Results are rows of a [`table::Table`], printed as markdown and written to a file.
#![warn(missing_docs)]

pub mod domains;
pub mod gandi;
pub mod gateway;
pub mod load;
pub mod pki;
pub mod procfs;
pub mod replicas;
pub mod rfc2136;
pub mod stats;
pub mod table;

use std::time::Duration;

/// A duration for the table: microseconds below 1 ms, else milliseconds with two decimals.
pub fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    }
}
