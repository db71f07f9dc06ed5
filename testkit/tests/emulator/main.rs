//! Tests pinning the Gandi LiveDNS emulator to `reference/gandi-livedns.md`.

mod api;
mod common;
mod dns;
mod faults;
mod lifecycle;
