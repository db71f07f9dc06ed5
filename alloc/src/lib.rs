//! # dns01-alloc
//!
//! [mimalloc](https://github.com/microsoft/mimalloc) as Rust's global allocator, for the
//! `dns01-webhook` binary.
//!
//! The `mimalloc` crate's allocator passes every allocation through mimalloc's aligned entry
//! point (`mi_malloc_aligned`), whatever its alignment. In mimalloc 3 that entry point is fast
//! only while the page of the right size class has a free block at hand; otherwise a size that
//! is not a power of two is served by over-allocating from a larger size class, about ten times
//! slower, and nothing on that path refills the page it should have come from. Under load in
//! the benchmark, one allocation in seven of the webhook's took that path, and allocating cost
//! about 3,000 instructions per request; through the plain entry points it costs about 1,800.
//!
//! [`MiMalloc`] calls the plain API (`mi_malloc`, `mi_zalloc`, `mi_realloc`) whenever the
//! alignment asked for is at most that of a machine word, which every mimalloc block has (block
//! sizes are whole words, and pages start at least 16-byte aligned), and the aligned API
//! otherwise. Every block is freed with `mi_free`, whichever way it was made.
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: dns01_alloc::MiMalloc = dns01_alloc::MiMalloc;
//!
//! fn main() {
//!     let names: Vec<String> = (0..100).map(|i| format!("w{i:04}.example.com")).collect();
//!     assert_eq!(names[42], "w0042.example.com");
//! }
//! ```
//!
//! mimalloc is built with transparent huge pages off (`no_thp`): on hosts where they are
//! `always`, they double the webhook's idle resident set.

// Calling the allocator's C API is this crate's whole purpose; the calls keep to the contract
// of `GlobalAlloc` as documented on each method.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// The alignment of every block mimalloc hands out: block sizes are whole machine words.
const WORD: usize = std::mem::size_of::<usize>();

/// mimalloc as a global allocator (see the [crate docs](crate)).
#[derive(Debug, Clone, Copy, Default)]
pub struct MiMalloc;

// SAFETY: mimalloc returns blocks that are valid for `layout.size()` bytes and aligned to
// `layout.align()`: the plain functions are used only for alignments of at most a word, which
// every block has, and the aligned functions otherwise. It returns null when out of memory, as
// `GlobalAlloc` requires, and `mi_free` takes blocks from either family.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain C calls; `layout` has a non-zero size (the caller's obligation).
        unsafe {
            if layout.align() <= WORD {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (the caller's obligation), so from mimalloc.
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`, and `new_size` is non-zero (the
        // caller's obligations); the block keeps the alignment it was made with.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}
