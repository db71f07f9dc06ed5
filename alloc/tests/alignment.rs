//! The allocator, installed as this test binary's global allocator and also called directly:
//! every block has the alignment asked for, holds what is written into it, keeps it across
//! `realloc`, and comes zeroed from `alloc_zeroed`, for alignments below, at and above a word.

// Calling `GlobalAlloc` directly is what is under test.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};

use dns01_alloc::MiMalloc;
use proptest::prelude::*;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

/// Sizes around mimalloc's size classes (small, medium and large pages), and alignments from a
/// byte to a page, in any combination `Layout` accepts (the size need not be a multiple of it).
fn layouts() -> impl Strategy<Value = Layout> {
    let size = prop_oneof![
        4 => 1usize..=256,
        2 => 257usize..=16 * 1024,
        1 => 16 * 1024 + 1usize..=600 * 1024,
    ];
    (size, 0u32..=12).prop_map(|(size, shift)| {
        Layout::from_size_align(size, 1 << shift).unwrap_or_else(|e| panic!("{size}: {e}"))
    })
}

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(31) % 251) as u8
}

/// Allocates with `layout`, checks the block, and returns it filled with the pattern.
fn filled(layout: Layout, zeroed: bool) -> *mut u8 {
    // SAFETY: `layout` has a non-zero size (`layouts` starts at 1).
    let block = unsafe {
        if zeroed {
            MiMalloc.alloc_zeroed(layout)
        } else {
            MiMalloc.alloc(layout)
        }
    };
    assert!(!block.is_null(), "{layout:?}: out of memory");
    assert_eq!(block as usize % layout.align(), 0, "{layout:?}: misaligned");
    // SAFETY: the block is valid for `layout.size()` bytes.
    let bytes = unsafe { std::slice::from_raw_parts_mut(block, layout.size()) };
    if zeroed {
        assert!(bytes.iter().all(|&b| b == 0), "{layout:?}: not zeroed");
    }
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = pattern(i);
    }
    block
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn blocks_are_aligned_hold_their_bytes_and_keep_them_when_resized(
        layout in layouts(),
        zeroed in any::<bool>(),
        new_size in 1usize..=40_000,
    ) {
        let block = filled(layout, zeroed);
        // SAFETY: `block` came from `MiMalloc` with `layout`; `new_size` is non-zero.
        let moved = unsafe { MiMalloc.realloc(block, layout, new_size) };
        prop_assert!(!moved.is_null());
        prop_assert_eq!(moved as usize % layout.align(), 0, "{:?} -> {}", layout, new_size);
        let kept = layout.size().min(new_size);
        // SAFETY: the block is valid for `new_size >= kept` bytes.
        let bytes = unsafe { std::slice::from_raw_parts(moved, kept) };
        prop_assert!(bytes.iter().enumerate().all(|(i, &b)| b == pattern(i)));
        let resized = Layout::from_size_align(new_size, layout.align())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        // SAFETY: `moved` came from `MiMalloc` and now has the layout `resized`.
        unsafe { MiMalloc.dealloc(moved, resized) };
    }
}

/// Many live blocks of one size, freed in a different order than made and made again: the
/// pattern under which a size class runs out of free blocks and takes the allocator's slow
/// paths, where a wrong alignment would show.
#[test]
fn churn_in_one_size_class_keeps_every_block_aligned_and_intact() {
    for (size, align) in [(24, 8), (24, 16), (40, 8), (48, 16), (200, 64), (384, 128)] {
        let layout = Layout::from_size_align(size, align).unwrap();
        let mut live: Vec<*mut u8> = Vec::new();
        for round in 0..4 {
            for _ in 0..5000 {
                live.push(filled(layout, round % 2 == 1));
            }
            // Free every other block, then the rest of the first half.
            let mut kept = Vec::new();
            for (i, block) in live.drain(..).enumerate() {
                if i % 2 == 0 || i > 2500 {
                    // SAFETY: the block holds `size` bytes.
                    let bytes = unsafe { std::slice::from_raw_parts(block, size) };
                    assert!(
                        bytes.iter().enumerate().all(|(j, &b)| b == pattern(j)),
                        "{layout:?}: block changed while live"
                    );
                    // SAFETY: `block` came from `MiMalloc` with `layout`.
                    unsafe { MiMalloc.dealloc(block, layout) };
                } else {
                    kept.push(block);
                }
            }
            live = kept;
        }
        for block in live {
            // SAFETY: as above.
            unsafe { MiMalloc.dealloc(block, layout) };
        }
    }
}

/// The global allocator itself: ordinary collections of every alignment work through it.
#[test]
fn the_standard_collections_run_on_it() {
    #[repr(align(64))]
    #[derive(Clone, Copy, PartialEq, Debug)]
    struct Line([u8; 64]);

    let strings: Vec<String> = (0..10_000)
        .map(|i| format!("_acme-challenge.w{i}"))
        .collect();
    assert_eq!(strings[9_999], "_acme-challenge.w9999");
    let lines = vec![Line([7; 64]); 1000];
    assert_eq!(lines.as_ptr() as usize % 64, 0);
    assert!(lines.iter().all(|l| *l == Line([7; 64])));
    let mut map = std::collections::HashMap::new();
    for (i, s) in strings.iter().enumerate() {
        map.insert(s.clone(), i);
    }
    assert_eq!(map["_acme-challenge.w1234"], 1234);
}
