//! Fuzz targets of dns01: the bodies are in [`targets`]; see `fuzz/README.md`.
//!
//! This crate also installs [`CappedAllocator`] as the global allocator of every fuzz target:
//! libFuzzer's own `-malloc_limit_mb` needs a sanitizer's allocation hooks, which a stable
//! build (`-s none`) does not have, so the cap on a single allocation is enforced here.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write as _;

pub mod targets;

/// Largest single allocation a target may make (256 MiB, as `-malloc_limit_mb=256`).
pub const MAX_ALLOCATION: usize = 256 << 20;

/// The system allocator, aborting the process (a crash libFuzzer reports and saves the input
/// of) on any single allocation larger than [`MAX_ALLOCATION`].
#[derive(Debug)]
pub struct CappedAllocator;

fn too_large() -> ! {
    // No allocation here: a static message on unbuffered stderr, then abort.
    let _ = std::io::stderr().write_all(b"dns01-fuzz: single allocation over MAX_ALLOCATION\n");
    std::process::abort()
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, after a
// size check that only ever aborts.
unsafe impl GlobalAlloc for CappedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            too_large();
        }
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            too_large();
        }
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_ALLOCATION {
            too_large();
        }
        // SAFETY: `ptr` came from `System` through this allocator, with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CappedAllocator = CappedAllocator;
