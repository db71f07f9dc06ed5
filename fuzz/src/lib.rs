//! Fuzz targets of dns01: the bodies are in [`targets`]; see `fuzz/README.md`.
//!
//! This crate also installs a capped global allocator ([`cap::Cap`] over the system's) in every
//! fuzz target: libFuzzer's own `-malloc_limit_mb` needs a sanitizer's allocation hooks, which
//! a stable build (`-s none`) does not have, so the limit on what the Rust code may allocate
//! is enforced here, without `unsafe` code of ours.
#![forbid(unsafe_code)]

use std::alloc::System;

use cap::Cap;

pub mod registry;
pub mod targets;

/// Most memory the Rust code of a target may hold at once (256 MiB, as
/// `-malloc_limit_mb=256`). An allocation past it fails, and Rust aborts the process on a
/// failed allocation: a crash libFuzzer reports and saves the input of.
pub const MAX_ALLOCATED: usize = 256 << 20;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, MAX_ALLOCATED);
