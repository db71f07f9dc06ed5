//! Finding the bytes that end the plain part of a JSON string: `"`, `\` and the control
//! characters (below U+0020), which JSON requires to be escaped. Eight bytes are tested at a
//! time; both the payload reader and the answer writer scan every string they handle.

/// The index of the first `"`, `\` or control character in `bytes`, or its length if none.
pub(crate) fn first_special(bytes: &[u8]) -> usize {
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        if let Some(i) = <[u8; 8]>::try_from(chunk).ok().and_then(special_in) {
            return offset + i;
        }
        offset += 8;
    }
    // The last bytes, padded with a plain byte.
    let rest = chunks.remainder();
    let mut last = [b'a'; 8];
    last[..rest.len()].copy_from_slice(rest);
    offset + special_in(last).map_or(rest.len(), |i| i.min(rest.len()))
}

/// The index of the first special byte of `chunk`.
fn special_in(chunk: [u8; 8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    // `(x - ONES) & !x & HIGH` sets the high bit of the first zero byte of `x` and may set
    // some of the bytes after it, never one before; with `0x20` in place of the ones, it
    // does the same for the first byte below 0x20. Little-endian, so the lowest bit set
    // is the first byte found.
    let word = u64::from_le_bytes(chunk);
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let found = (quote.wrapping_sub(ONES) & !quote
        | backslash.wrapping_sub(ONES) & !backslash
        | word.wrapping_sub(ONES * 0x20) & !word)
        & HIGH;
    (found != 0).then(|| found.trailing_zeros() as usize / 8)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn is_special(byte: u8) -> bool {
        byte == b'"' || byte == b'\\' || byte < 0x20
    }

    proptest! {
        #[test]
        fn the_first_special_byte_is_found_wherever_it_is(
            bytes in prop::collection::vec(
                prop_oneof![4 => 0x20u8..=0xff, 1 => Just(b'"'), 1 => Just(b'\\'), 1 => 0u8..0x20],
                0..40,
            ),
        ) {
            let expected = bytes.iter().position(|&b| is_special(b)).unwrap_or(bytes.len());
            prop_assert_eq!(first_special(&bytes), expected);
        }
    }

    #[test]
    fn every_byte_value_is_classified_in_every_lane() {
        for byte in 0..=255u8 {
            for lane in 0..8 {
                let mut bytes = [b'a'; 8];
                bytes[lane] = byte;
                let expected = if is_special(byte) { lane } else { 8 };
                assert_eq!(first_special(&bytes), expected, "byte {byte:#x} in lane {lane}");
            }
        }
    }
}
