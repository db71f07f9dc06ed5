//! Scans for the bytes that a string must not hold as they are, eight bytes at a time:
//! [`first_special`] for JSON strings (read from every payload and written in every answer),
//! [`may_hold_control`] for log values.
//!
//! Both test a whole 64-bit word with the classic zero-byte test: `(x - ONES) & !x & HIGH`
//! sets the high bit of the first zero byte of `x`, and possibly of bytes after it, never of
//! one before; with `n` times `ONES` in place of `ONES`, it does the same for the first byte
//! below `n` (for `n` up to 0x80). XOR with a repeated byte turns "equal to it" into "zero".

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGH: u64 = u64::from_le_bytes([0x80; 8]);

/// High bits set for the bytes of `word` that are zero (exact for the first such byte).
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGH
}

/// High bits set for the bytes of `word` below `n` (exact for the first such byte; `n <= 0x80`).
fn bytes_below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(ONES * u64::from(n)) & !word & HIGH
}

/// High bits set for the bytes of `word` equal to `byte` (exact for the first such byte).
fn bytes_equal(word: u64, byte: u8) -> u64 {
    zero_bytes(word ^ (ONES * u64::from(byte)))
}

/// The first word of `bytes[offset..]`, padded past the end with a byte neither scan looks for.
#[inline]
fn word_at(bytes: &[u8], offset: usize) -> u64 {
    if let Some(Ok(chunk)) = bytes.get(offset..offset + 8).map(<[u8; 8]>::try_from) {
        return u64::from_le_bytes(chunk);
    }
    let mut chunk = [b'a'; 8];
    let rest = bytes.get(offset..).unwrap_or_default();
    let n = rest.len().min(8);
    chunk[..n].copy_from_slice(&rest[..n]);
    u64::from_le_bytes(chunk)
}

/// The index of the first `"`, `\` or control character (below U+0020) in `bytes`, or its
/// length if none: the end of what a JSON string may hold without escapes.
pub(crate) fn first_special(bytes: &[u8]) -> usize {
    let mut offset = 0;
    while offset < bytes.len() {
        let word = word_at(bytes, offset);
        let found = bytes_equal(word, b'"') | bytes_equal(word, b'\\') | bytes_below(word, 0x20);
        if found != 0 {
            // Little-endian: the lowest bit set is the first byte found.
            return (offset + found.trailing_zeros() as usize / 8).min(bytes.len());
        }
        offset += 8;
    }
    bytes.len()
}

/// Whether `bytes` may hold a control character: an ASCII control (below 0x20, or DEL), or a
/// byte 0xC2, which starts the two-byte encodings of U+0080..U+00BF, among them the C1
/// controls. A cheap filter, to be followed by a check per character.
pub(crate) fn may_hold_control(bytes: &[u8]) -> bool {
    (0..bytes.len()).step_by(8).any(|offset| {
        let word = word_at(bytes, offset);
        bytes_below(word, 0x20) | bytes_equal(word, 0x7f) | bytes_equal(word, 0xc2) != 0
    })
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

    proptest! {
        #[test]
        fn a_control_byte_is_flagged_wherever_it_is(
            bytes in prop::collection::vec(
                prop_oneof![8 => 0x20u8..0x7f, 1 => 0u8..=0xff, 1 => Just(0xc2u8)],
                0..40,
            ),
        ) {
            let expected = bytes.iter().any(|&b| b < 0x20 || b == 0x7f || b == 0xc2);
            prop_assert_eq!(may_hold_control(&bytes), expected);
        }
    }

    #[test]
    fn every_byte_value_is_classified_in_every_lane() {
        for byte in 0..=255u8 {
            for lane in 0..8 {
                let mut bytes = [b'a'; 8];
                bytes[lane] = byte;
                let expected = if is_special(byte) { lane } else { 8 };
                assert_eq!(
                    first_special(&bytes),
                    expected,
                    "byte {byte:#x} in lane {lane}"
                );
                let control = byte < 0x20 || byte == 0x7f || byte == 0xc2;
                assert_eq!(
                    may_hold_control(&bytes),
                    control,
                    "byte {byte:#x} in lane {lane}"
                );
                // And in the padded last word.
                assert_eq!(first_special(&bytes[..=lane]), expected.min(lane + 1));
                assert_eq!(may_hold_control(&bytes[..=lane]), control);
            }
        }
    }
}
