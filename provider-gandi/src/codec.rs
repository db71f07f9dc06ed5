//! Gandi's presentation form of TXT values.
//!
//! Gandi stores and returns TXT values as zone-file character strings: each value is wrapped in
//! double quotes, `"` and `\` inside it are escaped with a backslash, and a value longer than
//! 255 bytes is split into several quoted chunks separated by a space (`"aaa…" "bbb…"`), all in
//! one JSON string. Gandi also accepts unquoted input and then returns it quoted.
//!
//! [`encode`] writes that form; [`decode`] reads it back, and also accepts unquoted strings,
//! chunked strings with any whitespace between chunks, and `\DDD` decimal escapes, so a value
//! is found again however Gandi returns it.

/// Largest character-string in a TXT record, in bytes (RFC 1035 §3.3).
pub const MAX_CHUNK_LEN: usize = 255;

/// Encodes a raw value into Gandi's quoted presentation form, chunked at 255 bytes.
///
/// Chunks are cut on character boundaries, so a multibyte UTF-8 character is never split
/// between two chunks; each chunk holds at most [`MAX_CHUNK_LEN`] bytes of the raw value.
///
/// ```
/// use dns01_gandi::codec::encode;
/// assert_eq!(encode(r#"say "hi" \o/"#), r#""say \"hi\" \\o/""#);
/// ```
pub fn encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 4);
    for (i, chunk) in chunks(raw).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push('"');
        for c in chunk.chars() {
            if matches!(c, '"' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    if out.is_empty() {
        out.push_str("\"\"");
    }
    out
}

/// Splits `raw` into pieces of at most [`MAX_CHUNK_LEN`] bytes, each ending on a char boundary.
fn chunks(raw: &str) -> impl Iterator<Item = &str> {
    let mut rest = raw;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len().min(MAX_CHUNK_LEN);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (head, tail) = rest.split_at(end);
        rest = tail;
        Some(head)
    })
}

/// A TXT string that looked quoted but could not be read as quoted character-strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed TXT presentation form at byte {position}: {problem}")]
pub struct DecodeError {
    /// Byte offset in the input where reading stopped.
    pub position: usize,
    /// What was wrong there.
    pub problem: &'static str,
}

/// Decodes a TXT value as Gandi returns it back to the raw value.
///
/// - A string that starts with `"` (after leading whitespace) is read as one or more quoted
///   character-strings separated by whitespace; their contents are concatenated. Inside quotes,
///   `\DDD` is the byte with decimal value DDD and `\X` is X.
/// - Any other string is unquoted input that Gandi handed back as given: it is returned
///   verbatim (without surrounding whitespace).
///
/// ```
/// use dns01_gandi::codec::decode;
/// assert_eq!(decode(r#""simple""#).unwrap(), "simple");
/// assert_eq!(decode(r#""ab" "cd""#).unwrap(), "abcd");
/// assert_eq!(decode(r#""say \"hi\" \\o/""#).unwrap(), r#"say "hi" \o/"#);
/// assert_eq!(decode("unquoted").unwrap(), "unquoted");
/// ```
pub fn decode(wire: &str) -> Result<String, DecodeError> {
    let trimmed = wire.trim_matches(|c: char| c.is_ascii_whitespace());
    if !trimmed.starts_with('"') {
        return Ok(trimmed.to_owned());
    }
    let offset = wire.len()
        - wire
            .trim_start_matches(|c: char| c.is_ascii_whitespace())
            .len();
    let bytes = trimmed.as_bytes();
    let err = |i: usize, problem| DecodeError {
        position: offset + i,
        problem,
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // Between strings: skip whitespace, then expect an opening quote.
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if bytes[i] != b'"' {
            return Err(err(i, "expected '\"' to open a character-string"));
        }
        i += 1;
        loop {
            let Some(&b) = bytes.get(i) else {
                return Err(err(i, "unterminated quoted string"));
            };
            match b {
                b'"' => {
                    i += 1;
                    break;
                }
                b'\\' => {
                    let Some(&next) = bytes.get(i + 1) else {
                        return Err(err(i, "backslash at the end of the input"));
                    };
                    if next.is_ascii_digit() {
                        let digits = bytes
                            .get(i + 1..i + 4)
                            .filter(|d| d.iter().all(u8::is_ascii_digit))
                            .ok_or_else(|| err(i, "\\DDD escape needs three decimal digits"))?;
                        let value = digits
                            .iter()
                            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
                        let byte =
                            u8::try_from(value).map_err(|_| err(i, "\\DDD escape above 255"))?;
                        out.push(byte);
                        i += 4;
                    } else {
                        out.push(next);
                        i += 2;
                    }
                }
                _ => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        if let Some(&b) = bytes.get(i) {
            if !b.is_ascii_whitespace() {
                return Err(err(i, "expected whitespace between character-strings"));
            }
        }
    }
    String::from_utf8(out).map_err(|_| err(0, "the decoded value is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dns01_key_is_written_as_one_quoted_string() {
        let key = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ";
        assert_eq!(encode(key), format!("\"{key}\""));
        assert_eq!(decode(&encode(key)).unwrap(), key);
    }

    #[test]
    fn quotes_and_backslashes_are_escaped_and_nothing_else_is() {
        assert_eq!(encode(r#"a"b\c d'é"#), r#""a\"b\\c d'é""#);
    }

    #[test]
    fn values_longer_than_255_bytes_are_split_into_quoted_chunks() {
        let raw = format!("{}{}", "a".repeat(255), "b".repeat(10));
        let wire = encode(&raw);
        assert_eq!(
            wire,
            format!("\"{}\" \"{}\"", "a".repeat(255), "b".repeat(10))
        );
        assert_eq!(decode(&wire).unwrap(), raw);
        let exactly = "c".repeat(255);
        assert_eq!(encode(&exactly), format!("\"{exactly}\""));
        let three = "d".repeat(600);
        assert_eq!(encode(&three).matches("\" \"").count(), 2);
    }

    #[test]
    fn chunks_never_split_a_multibyte_character() {
        // 254 ASCII bytes, then a 2-byte 'é': the 'é' cannot fit in the first chunk.
        let raw = format!("{}é{}", "a".repeat(254), "z");
        let wire = encode(&raw);
        assert_eq!(wire, format!("\"{}\" \"éz\"", "a".repeat(254)));
        assert_eq!(decode(&wire).unwrap(), raw);
        // Four-byte characters only: 63 fit in 252 bytes.
        let emoji = "😀".repeat(100);
        let parts: Vec<&str> = chunks(&emoji).collect();
        assert_eq!(parts[0].len(), 252);
        assert!(parts.iter().all(|p| p.len() <= MAX_CHUNK_LEN));
        assert_eq!(parts.concat(), emoji);
    }

    #[test]
    fn escaping_never_pushes_a_chunk_past_255_raw_bytes() {
        let raw = "\"".repeat(300);
        let wire = encode(&raw);
        // 255 escaped quotes in the first chunk, 45 in the second.
        assert_eq!(wire.len(), 2 + 255 * 2 + 1 + 2 + 45 * 2);
        assert_eq!(decode(&wire).unwrap(), raw);
    }

    #[test]
    fn unquoted_values_are_returned_verbatim() {
        assert_eq!(decode("simple").unwrap(), "simple");
        assert_eq!(decode("  padded \t").unwrap(), "padded");
        assert_eq!(decode("v=spf1 -all").unwrap(), "v=spf1 -all");
    }

    #[test]
    fn decimal_escapes_and_any_whitespace_between_chunks_are_understood() {
        assert_eq!(decode(r#""a\032b""#).unwrap(), "a b");
        assert_eq!(decode("\"ab\"\t \"cd\"").unwrap(), "abcd");
        assert_eq!(decode(r#""\195\169""#).unwrap(), "é");
        assert_eq!(decode(r#""\q""#).unwrap(), "q");
        assert_eq!(decode(r#""""#).unwrap(), "");
    }

    #[test]
    fn malformed_quoted_strings_are_reported_with_a_position() {
        let e = decode(r#""open"#).unwrap_err();
        assert_eq!(e.problem, "unterminated quoted string");
        let e = decode(r#""a"b"#).unwrap_err();
        assert_eq!(e.position, 3);
        assert!(decode(r#""\25""#).is_err());
        assert!(decode(r#""\256""#).is_err());
        assert!(
            decode(r#""\255""#).is_err(),
            "a lone 0xFF byte is not UTF-8"
        );
        assert!(decode("\"a\\").is_err());
    }

    /// A small deterministic generator, so the round trip covers many shapes without a
    /// property-testing dependency.
    fn generated_values() -> impl Iterator<Item = String> {
        const ALPHABET: &[&str] = &[
            "a", "Z", "0", "-", "_", "+", "/", "=", " ", "\"", "\\", "'", ";", "é", "ß", "€", "😀",
            "\u{7f}x", "\\\"", "\" \"",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..2000).map(move |i| {
            let target = match i % 4 {
                0 => (next() % 64) as usize,
                1 => 250 + (next() % 12) as usize,
                2 => 500 + (next() % 30) as usize,
                _ => (next() % 1200) as usize,
            };
            let mut s = String::new();
            while s.len() < target.max(1) {
                s.push_str(ALPHABET[(next() % ALPHABET.len() as u64) as usize]);
            }
            s
        })
    }

    #[test]
    fn every_generated_value_survives_an_encode_decode_round_trip() {
        let mut checked = 0;
        for raw in generated_values() {
            let wire = encode(&raw);
            assert_eq!(decode(&wire).unwrap(), raw, "wire form {wire:?}");
            // Every chunk holds at most 255 raw bytes.
            let mut rest = wire.as_str();
            while let Some(start) = rest.find('"') {
                let mut end = start + 1;
                let b = rest.as_bytes();
                while b[end] != b'"' {
                    end += if b[end] == b'\\' { 2 } else { 1 };
                }
                let chunk = decode(&rest[start..=end]).unwrap();
                assert!(chunk.len() <= MAX_CHUNK_LEN, "{} bytes", chunk.len());
                rest = &rest[end + 1..];
            }
            checked += 1;
        }
        assert_eq!(checked, 2000);
    }
}
