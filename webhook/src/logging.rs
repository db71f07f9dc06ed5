//! Text log lines that a request cannot forge.
//!
//! [`EscapedFields`] is `tracing-subscriber`'s default field formatter with every control
//! character in a message or value (newline, carriage return, escape, ...) written as an
//! escape sequence (`\n`, `\u{1b}`), so a value taken from a request cannot start a forged log
//! line or send terminal sequences. Use it with the stock formatter:
//!
//! ```
//! let subscriber = tracing_subscriber::fmt()
//!     .fmt_fields(dns01_webhook::logging::EscapedFields::default())
//!     .finish();
//! # let _ = subscriber;
//! ```

use std::fmt;

use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};

/// `tracing-subscriber`'s [`DefaultFields`], with control characters escaped (see the
/// [module docs](self)).
#[derive(Debug, Default)]
pub struct EscapedFields(DefaultFields);

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut escaping = Escaping(writer);
        self.0.format_fields(Writer::new(&mut escaping), fields)
    }
}

/// Writes through to the line, escaping control characters.
struct Escaping<'writer>(Writer<'writer>);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some((at, c)) = rest.char_indices().find(|(_, c)| c.is_control()) {
            self.0.write_str(&rest[..at])?;
            write!(self.0, "{}", c.escape_default())?;
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// What `f` logs through the stock text formatter with [`EscapedFields`], without colour.
    fn capture(f: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .fmt_fields(EscapedFields::default())
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buffer.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }

    #[test]
    fn lines_have_the_default_layout() {
        let out = capture(|| {
            tracing::info!(
                solver = %"memory",
                action = "Present",
                duration_ms = 3u64,
                ok = true,
                "challenge answered"
            );
        });
        let (stamp, rest) = out.split_at(27);
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "{out}"
        );
        assert_eq!(
            rest,
            "  INFO dns01_webhook::logging::tests: challenge answered solver=memory \
             action=\"Present\" duration_ms=3 ok=true\n"
        );
    }

    #[test]
    fn control_characters_in_values_cannot_forge_lines_or_escapes() {
        let out = capture(|| {
            tracing::warn!(
                dns_name = %"a.example\n2026-01-01T00:00:00Z  INFO forged",
                namespace = "ns\u{1b}[31m\u{85}",
                error = &io::Error::other("bad\rthing") as &(dyn std::error::Error + 'static),
                "challenge \u{7f}failed"
            );
            let span = tracing::info_span!("request", path = %"/apis\n/x");
            let _span = span.enter();
            tracing::info!("inside");
        });
        assert_eq!(out.matches('\n').count(), 2, "{out}");
        assert!(
            !out.contains('\u{1b}') && !out.contains('\r') && !out.contains('\u{7f}'),
            "{out:?}"
        );
        assert!(out.contains(r"dns_name=a.example\n2026"), "{out}");
        assert!(out.contains(r#"namespace="ns\u{1b}[31m\u{85}""#), "{out}");
        assert!(out.contains(r"error=bad\rthing"), "{out}");
        // (tracing-subscriber writes the message's DEL as `\x7f` itself.)
        assert!(out.contains("failed dns_name="), "{out}");
        assert!(out.contains(r"request{path=/apis\n/x}: "), "{out}");
        assert!(out.contains("  WARN "), "{out}");
    }
}
