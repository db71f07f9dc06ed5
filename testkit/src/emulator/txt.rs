//! Gandi's TXT presentation form: quoted, escaped, chunked at 255 bytes.
//!
//! Gandi stores and returns TXT values as zone-file presentation text: `"\"value\""` for a
//! short value, `"\"aaa…\" \"bbb…\""` for a value longer than 255 bytes (one quoted
//! character-string per chunk), with `"` and `\` escaped by a backslash.

/// Longest character-string a TXT record can carry on the wire.
pub const MAX_CHARACTER_STRING: usize = 255;

/// Turns a value received through the API into the form Gandi stores and returns.
///
/// Input already in quoted presentation form (one or more quoted strings separated by
/// white space, each at most 255 bytes) is kept as it is; anything else is treated as the raw
/// value, chunked at 255 bytes and quoted.
pub fn to_presentation(input: &str) -> String {
    match parse_quoted(input) {
        Some(chunks) if chunks.iter().all(|c| c.len() <= MAX_CHARACTER_STRING) => input.to_string(),
        Some(chunks) => encode_raw(&chunks.concat()),
        None => encode_raw(input.as_bytes()),
    }
}

/// Encodes a raw value: chunks of at most 255 bytes (cut on UTF-8 character boundaries when
/// the value is UTF-8), each quoted and escaped, joined by one space.
pub fn encode_raw(raw: &[u8]) -> String {
    let chunks = split_chunks(raw);
    if chunks.is_empty() {
        return "\"\"".to_string();
    }
    chunks
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits raw bytes into chunks of at most 255 bytes without cutting a UTF-8 character.
pub fn split_chunks(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let mut end = rest.len().min(MAX_CHARACTER_STRING);
        if end < rest.len() {
            // Back up to a character boundary: never start a chunk on a continuation byte.
            let mut cut = end;
            while cut > 0 && (rest[cut] & 0xC0) == 0x80 {
                cut -= 1;
            }
            if cut > 0 {
                end = cut;
            }
        }
        out.push(rest[..end].to_vec());
        rest = &rest[end..];
    }
    out
}

fn quote(chunk: &[u8]) -> String {
    let mut s = String::with_capacity(chunk.len() + 2);
    s.push('"');
    match std::str::from_utf8(chunk) {
        Ok(text) => {
            for ch in text.chars() {
                match ch {
                    '"' => s.push_str("\\\""),
                    '\\' => s.push_str("\\\\"),
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                        s.push_str(&format!("\\{:03}", c as u32));
                    }
                    c => s.push(c),
                }
            }
        }
        Err(_) => {
            for &b in chunk {
                match b {
                    b'"' => s.push_str("\\\""),
                    b'\\' => s.push_str("\\\\"),
                    0x20..=0x7e => s.push(char::from(b)),
                    other => s.push_str(&format!("\\{other:03}")),
                }
            }
        }
    }
    s.push('"');
    s
}

/// Parses the strict quoted form (`"a" "b"`), returning the unescaped character-strings, or
/// `None` when the input is not entirely made of quoted strings.
pub fn parse_quoted(input: &str) -> Option<Vec<Vec<u8>>> {
    let bytes = input.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == bytes.len() {
            break;
        }
        if bytes[i] != b'"' {
            return None;
        }
        i += 1;
        let mut cur = Vec::new();
        let mut closed = false;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    i += 1;
                    closed = true;
                    break;
                }
                b'\\' => {
                    let (b, used) = unescape(&bytes[i + 1..])?;
                    cur.push(b);
                    i += 1 + used;
                }
                b => {
                    cur.push(b);
                    i += 1;
                }
            }
        }
        if !closed {
            return None;
        }
        // Two quoted strings must be separated by white space.
        if i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            return None;
        }
        out.push(cur);
    }
    if out.is_empty() { None } else { Some(out) }
}

/// Reads one escape after a backslash: `\DDD` (decimal byte) or `\X` (literal X).
fn unescape(rest: &[u8]) -> Option<(u8, usize)> {
    let first = *rest.first()?;
    if first.is_ascii_digit() {
        if rest.len() >= 3 && rest[1].is_ascii_digit() && rest[2].is_ascii_digit() {
            let v = u32::from(rest[0] - b'0') * 100
                + u32::from(rest[1] - b'0') * 10
                + u32::from(rest[2] - b'0');
            return u8::try_from(v).ok().map(|b| (b, 3));
        }
        return None;
    }
    Some((first, 1))
}

/// The character-strings one stored value is served as in DNS: each quoted chunk, split
/// again if longer than 255 bytes. A stored value that is not in quoted form is served as its
/// raw bytes.
pub fn character_strings(stored: &str) -> Vec<Vec<u8>> {
    let chunks = parse_quoted(stored).unwrap_or_else(|| vec![stored.as_bytes().to_vec()]);
    let mut out = Vec::new();
    for chunk in chunks {
        if chunk.len() <= MAX_CHARACTER_STRING {
            out.push(chunk);
        } else {
            out.extend(chunk.chunks(MAX_CHARACTER_STRING).map(<[u8]>::to_vec));
        }
    }
    out
}

/// The logical value of a stored TXT value: its character-strings concatenated.
pub fn decode(stored: &str) -> String {
    String::from_utf8_lossy(&character_strings(stored).concat()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquoted_input_is_stored_quoted() {
        assert_eq!(to_presentation("simple"), "\"simple\"");
    }

    #[test]
    fn quoted_input_is_kept_verbatim() {
        assert_eq!(to_presentation("\"a\"   \"b\""), "\"a\"   \"b\"");
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(to_presentation(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(decode(r#""a\"b\\c""#), r#"a"b\c"#);
    }

    #[test]
    fn long_values_are_split_into_255_byte_chunks() {
        let raw = "a".repeat(300);
        let stored = to_presentation(&raw);
        assert_eq!(
            stored,
            format!("\"{}\" \"{}\"", "a".repeat(255), "a".repeat(45))
        );
        assert_eq!(character_strings(&stored).len(), 2);
        assert_eq!(decode(&stored), raw);
    }

    #[test]
    fn an_unterminated_quote_is_treated_as_raw_text() {
        assert_eq!(to_presentation("\"abc"), r#""\"abc""#);
    }

    #[test]
    fn decimal_escapes_decode_to_bytes() {
        assert_eq!(decode(r#""a\065b""#), "aAb");
    }

    #[test]
    fn an_overlong_quoted_chunk_is_rechunked() {
        let input = format!("\"{}\"", "b".repeat(256));
        let stored = to_presentation(&input);
        assert_eq!(stored, format!("\"{}\" \"b\"", "b".repeat(255)));
    }
}
