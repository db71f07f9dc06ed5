//! Test support for dns01 (not published).
//!
//! The main piece is [`emulator`]: a Gandi LiveDNS v5 emulator (HTTP API with Gandi's exact
//! bodies, fault and rate-limit knobs, request counters) together with an authoritative DNS
//! server answering from the same state, so that what a client writes through the API is
//! visible to resolvers the instant it is written.

pub mod acmetest;
pub mod bind;
pub mod certmanager;
pub mod emulator;
pub mod hostile;
pub mod kubefake;
pub mod pebble;
pub mod pki;
pub mod proxy;
pub mod rbac;
pub mod registry;

pub use emulator::{Emulator, Token};
