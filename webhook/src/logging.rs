//! Plain-text log lines, cheaply.
//!
//! [`PlainText`] writes the layout of `tracing-subscriber`'s default format without colour:
//!
//! ```text
//! 2026-11-22T18:09:42.123456Z  INFO dns01_webhook::api::handler: challenge answered solver="memory" action="Present"
//! ```
//!
//! It writes straight into the line buffer instead of going through the generic formatter's
//! styling layers, which matters at one line per challenge request. Every control character in
//! a message or value (newline, carriage return, escape, ...) is written as an escape
//! sequence (`\n`, `\u{1b}`), so a request cannot forge log lines or terminal sequences.
//!
//! [`BatchedWriter`] writes lines in batches: under load, the `write` call and the lock around
//! standard output cost more than formatting a line.

use std::fmt::{self, Write as _};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent as _;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// A batch is written at once, without waiting for the interval, when it grows past this.
pub const BATCH_LIMIT: usize = 64 * 1024;

/// Log output written in batches. Each line is added to a buffer; a background thread writes
/// the buffer out every interval, a line that takes the buffer past [`BATCH_LIMIT`] writes it
/// at once, and dropping the [`BatchGuard`] writes what is left. Lines keep their order and
/// are never split. One `write` per batch instead of one per line: under load, the call and
/// the lock around standard output cost more than formatting the line.
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Batch>,
}

impl fmt::Debug for BatchedWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchedWriter").finish_non_exhaustive()
    }
}

struct Batch {
    lines: Mutex<Vec<u8>>,
    out: Mutex<Output>,
    stop: AtomicBool,
    /// No batching (a zero interval): each line is written at once.
    immediate: bool,
}

/// Where batches go, and the buffer that takes turns with [`Batch::lines`].
struct Output {
    sink: Box<dyn io::Write + Send>,
    spare: Vec<u8>,
}

/// Keeps the [`BatchedWriter`]'s thread running; dropping it writes the last lines and stops it.
#[derive(Debug)]
pub struct BatchGuard {
    writer: BatchedWriter,
    thread: Option<JoinHandle<()>>,
}

fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a line was appended or written leaves nothing half-done that matters.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl BatchedWriter {
    /// Lines to `out`, written every `interval` (each at once if `interval` is zero).
    ///
    /// # Errors
    /// When the writing thread cannot be started.
    pub fn new(
        out: impl io::Write + Send + 'static,
        interval: Duration,
    ) -> io::Result<(Self, BatchGuard)> {
        let immediate = interval.is_zero();
        let writer = Self {
            shared: Arc::new(Batch {
                lines: Mutex::new(Vec::with_capacity(if immediate { 0 } else { BATCH_LIMIT })),
                out: Mutex::new(Output {
                    sink: Box::new(out),
                    spare: Vec::new(),
                }),
                stop: AtomicBool::new(false),
                immediate,
            }),
        };
        if immediate {
            return Ok((
                writer.clone(),
                BatchGuard {
                    writer,
                    thread: None,
                },
            ));
        }
        let shared = writer.shared.clone();
        let thread = std::thread::Builder::new()
            .name("log-writer".to_owned())
            .spawn(move || {
                while !shared.stop.load(Ordering::Acquire) {
                    std::thread::park_timeout(interval);
                    // Nowhere to report a failed log write; that batch is lost.
                    let _ = shared.write_out(&[]);
                }
            })?;
        Ok((
            writer.clone(),
            BatchGuard {
                writer,
                thread: Some(thread),
            },
        ))
    }
}

impl Batch {
    /// Writes the buffered lines, then `line`. The output lock is taken first, so batches are
    /// written in the order they were taken; the two buffers take turns, so writing a batch
    /// allocates nothing.
    fn write_out(&self, line: &[u8]) -> io::Result<()> {
        let mut out = lock(&self.out);
        let Output { sink, spare } = &mut *out;
        std::mem::swap(&mut *lock(&self.lines), spare);
        if spare.is_empty() && line.is_empty() {
            return Ok(());
        }
        let result = sink
            .write_all(spare)
            .and_then(|()| sink.write_all(line))
            .and_then(|()| sink.flush());
        spare.clear();
        result
    }
}

impl Drop for BatchGuard {
    fn drop(&mut self) {
        self.writer.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
        let _ = self.writer.shared.write_out(&[]);
    }
}

/// One event's output (a whole line, in one `write` from the formatter).
#[derive(Debug)]
pub struct BatchedLine<'a>(&'a BatchedWriter);

impl io::Write for BatchedLine<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let shared = &self.0.shared;
        // Once the guard is gone (lines logged while the runtime shuts down), nothing would
        // write a batch out any more.
        if shared.immediate || shared.stop.load(Ordering::Acquire) {
            // Lines still buffered go first, to keep the order.
            shared.write_out(buf)?;
            return Ok(buf.len());
        }
        let full = {
            let mut lines = lock(&shared.lines);
            lines.extend_from_slice(buf);
            lines.len() >= BATCH_LIMIT
        };
        if full {
            shared.write_out(&[])?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedWriter {
    type Writer = BatchedLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        BatchedLine(self)
    }
}

/// Event formatter for plain-text lines (see the [module docs](self)).
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainText;

impl<S, N> FormatEvent<S, N> for PlainText
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let mut line = String::with_capacity(256);
        write_timestamp(&mut line, SystemTime::now());
        let level = match *meta.level() {
            tracing::Level::TRACE => " TRACE ",
            tracing::Level::DEBUG => " DEBUG ",
            tracing::Level::INFO => "  INFO ",
            tracing::Level::WARN => "  WARN ",
            tracing::Level::ERROR => " ERROR ",
        };
        line.push_str(level);
        // Enclosing spans as `outer{fields}:inner:`, then a space.
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                seen = true;
                line.push_str(span.name());
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    line.push('{');
                    push_escaped(&mut line, fields.as_str());
                    line.push('}');
                }
                line.push(':');
            }
            if seen {
                line.push(' ');
            }
        }
        line.push_str(meta.target());
        line.push_str(": ");
        let mut visitor = Fields {
            line: &mut line,
            first: true,
        };
        event.record(&mut visitor);
        line.push('\n');
        writer.write_str(&line)
    }
}

/// Writes `message` first, bare, and every other field as ` name=value`.
struct Fields<'a> {
    line: &'a mut String,
    first: bool,
}

impl Fields<'_> {
    fn separator(&mut self) {
        if !self.first {
            self.line.push(' ');
        }
        self.first = false;
    }

    fn key(&mut self, field: &Field) -> bool {
        let name = field.name();
        // tracing-log's metadata fields, already shown as the target.
        if name.starts_with("log.") {
            return false;
        }
        self.separator();
        if name != "message" {
            self.line.push_str(name.strip_prefix("r#").unwrap_or(name));
            self.line.push('=');
        }
        true
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.key(field) {
            return;
        }
        if field.name() == "message" {
            push_escaped(self.line, value);
        } else {
            // Quoted, as tracing-subscriber's default format shows strings.
            self.line.push('"');
            push_escaped(self.line, value);
            self.line.push('"');
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.key(field) {
            let _ = write!(self.line, "{value}");
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.key(field) {
            let _ = write!(self.line, "{value}");
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.key(field) {
            self.line.push_str(if value { "true" } else { "false" });
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if !self.key(field) {
            return;
        }
        // As tracing-subscriber shows errors: `error=outer error.sources=[cause, root]`.
        let start = self.line.len();
        let _ = write!(self.line, "{value}");
        if let Some(first) = value.source() {
            let name = field.name();
            let _ = write!(
                self.line,
                " {}.sources=[{first}",
                name.strip_prefix("r#").unwrap_or(name)
            );
            let mut source = first.source();
            while let Some(cause) = source {
                let _ = write!(self.line, ", {cause}");
                source = cause.source();
            }
            self.line.push(']');
        }
        escape_from(self.line, start);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.key(field) {
            return;
        }
        let start = self.line.len();
        let _ = write!(self.line, "{value:?}");
        escape_from(self.line, start);
    }
}

/// Whether `text` may hold a control character (a cheap filter; [`push_escaped`] decides per
/// character).
fn may_hold_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// Appends `text` with control characters escaped.
fn push_escaped(line: &mut String, text: &str) {
    if may_hold_control(text) {
        for c in text.chars() {
            if c.is_control() {
                line.extend(c.escape_default());
            } else {
                line.push(c);
            }
        }
    } else {
        line.push_str(text);
    }
}

/// Escapes control characters in `line[start..]`, which was just written.
fn escape_from(line: &mut String, start: usize) {
    let Some(tail) = line.get(start..) else {
        return;
    };
    if may_hold_control(tail) {
        let tail = tail.to_owned();
        line.truncate(start);
        push_escaped(line, &tail);
    }
}

/// Appends `value` in decimal, zero-padded to `width` digits.
fn push_padded(line: &mut String, value: u64, width: u32) {
    let mut divisor = 10u64.pow(width.saturating_sub(1));
    if value >= divisor * 10 {
        // Wider than asked (a year past 9999): all digits.
        let _ = write!(line, "{value}");
        return;
    }
    while divisor > 0 {
        let digit = (value / divisor % 10) as u8;
        line.push(char::from(b'0' + digit));
        divisor /= 10;
    }
}

/// Appends `time` as RFC 3339 in UTC with microseconds: `2026-11-22T18:09:42.123456Z`.
fn write_timestamp(line: &mut String, time: SystemTime) {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let of_day = secs % 86_400;
    let fields = [
        (year, 4, '-'),
        (month, 2, '-'),
        (day, 2, 'T'),
        (of_day / 3600, 2, ':'),
        (of_day / 60 % 60, 2, ':'),
        (of_day % 60, 2, '.'),
        (u64::from(since_epoch.subsec_micros()), 6, 'Z'),
    ];
    if year > 9999 {
        // Wider than the template below; the general path.
        for (value, width, after) in fields {
            push_padded(line, value, width);
            line.push(after);
        }
        return;
    }
    // Digits filled into a template, right to left: no division by a variable.
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    let mut end = 0;
    for (value, width, _) in fields {
        let start = end;
        end += width as usize;
        let mut value = value;
        for slot in text[start..end].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
        end += 1;
    }
    // The template and the digits are ASCII.
    line.push_str(std::str::from_utf8(&text).unwrap_or_default());
}

/// Year, month (1-12) and day (1-31) of the `days`th day after 1970-01-01, in the proleptic
/// Gregorian calendar (the usual era-based conversion: 400-year eras of 146097 days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so that leap days fall at the end of a year.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    #[test]
    fn dates_match_known_days() {
        // (days since 1970-01-01, date), including leap days and century rules.
        for (days, date) in [
            (0, (1970, 1, 1)),
            (59, (1970, 3, 1)),
            (11_016, (2000, 2, 29)),
            (11_017, (2000, 3, 1)),
            (19_782, (2024, 2, 29)),
            (20_414, (2025, 11, 22)),
            (47_541, (2100, 3, 1)),
            (47_540, (2100, 2, 28)),
        ] {
            assert_eq!(civil_from_days(days), date, "day {days}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_with_microseconds() {
        let mut line = String::new();
        let t = UNIX_EPOCH + Duration::new(1_763_834_982, 123_456_789);
        write_timestamp(&mut line, t);
        assert_eq!(line, "2025-11-22T18:09:42.123456Z");
        line.clear();
        write_timestamp(&mut line, UNIX_EPOCH + Duration::from_micros(7));
        assert_eq!(line, "1970-01-01T00:00:00.000007Z");
        line.clear();
        // Day 2_932_897 is 10000-01-01: a five-digit year is written whole.
        write_timestamp(
            &mut line,
            UNIX_EPOCH + Duration::from_secs(2_932_897 * 86_400 + 61),
        );
        assert_eq!(line, "10000-01-01T00:01:01.000000Z");
    }

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

    fn capture(f: impl FnOnce()) -> String {
        capture_with(true, f)
    }

    /// A sink that keeps each `write` call apart.
    #[derive(Clone, Default)]
    struct Writes(Arc<Mutex<Vec<Vec<u8>>>>);

    impl io::Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?
                .push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Writes {
        fn calls(&self) -> Vec<Vec<u8>> {
            self.0.lock().unwrap().clone()
        }
    }

    fn line(writer: &BatchedWriter, text: &str) {
        use std::io::Write as _;
        use tracing_subscriber::fmt::MakeWriter as _;
        writer.make_writer().write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn batched_lines_are_written_together_in_order_and_all_at_exit() {
        let sink = Writes::default();
        let (writer, guard) = BatchedWriter::new(sink.clone(), Duration::from_secs(3600)).unwrap();
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        line(&writer, &format!("thread {t} line {i}\n"));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        // Within the hour's interval and under the size limit, nothing is written yet.
        assert!(sink.calls().is_empty());
        drop(guard);
        let calls = sink.calls();
        assert_eq!(calls.len(), 1, "one write for the whole batch");
        let text = String::from_utf8(calls.concat()).unwrap();
        for t in 0..2 {
            let mine: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .collect();
            let expected: Vec<String> = (0..500).map(|i| format!("thread {t} line {i}")).collect();
            assert_eq!(mine, expected);
        }
    }

    #[test]
    fn batches_are_written_every_interval_and_when_they_grow_large() {
        let sink = Writes::default();
        let (writer, _guard) = BatchedWriter::new(sink.clone(), Duration::from_millis(20)).unwrap();
        line(&writer, "soon\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sink.calls().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(sink.calls(), vec![b"soon\n".to_vec()]);

        let sink = Writes::default();
        let (writer, _guard) = BatchedWriter::new(sink.clone(), Duration::from_secs(3600)).unwrap();
        let long = format!("{}\n", "x".repeat(1023));
        for _ in 0..BATCH_LIMIT / long.len() {
            line(&writer, &long);
        }
        // The line that takes the batch to the limit writes it, without waiting for the hour.
        assert_eq!(sink.calls().concat().len(), BATCH_LIMIT);
    }

    #[test]
    fn lines_after_the_guard_is_dropped_are_written_at_once() {
        let sink = Writes::default();
        let (writer, guard) = BatchedWriter::new(sink.clone(), Duration::from_secs(3600)).unwrap();
        line(&writer, "before\n");
        drop(guard);
        line(&writer, "after\n");
        assert_eq!(
            sink.calls(),
            vec![b"before\n".to_vec(), b"after\n".to_vec()]
        );
    }

    #[test]
    fn a_zero_interval_writes_each_line_at_once() {
        let sink = Writes::default();
        let (writer, guard) = BatchedWriter::new(sink.clone(), Duration::ZERO).unwrap();
        line(&writer, "one\n");
        line(&writer, "two\n");
        assert_eq!(sink.calls(), vec![b"one\n".to_vec(), b"two\n".to_vec()]);
        drop(guard);
        assert_eq!(sink.calls().len(), 2);
    }

    /// What `f` logs through [`PlainText`], or else through tracing-subscriber's own default
    /// format (without colour).
    fn capture_with(plain: bool, f: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || sink.clone());
        if plain {
            tracing::subscriber::with_default(builder.event_format(PlainText).finish(), f);
        } else {
            tracing::subscriber::with_default(builder.finish(), f);
        }
        let bytes = buffer.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }

    /// An error with a cause, as library errors come.
    #[derive(Debug)]
    struct Outer(io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("cannot reach the API server")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_layout_is_tracing_subscribers_default_one() {
        let event = || {
            let err = Outer(io::Error::other("connection refused"));
            tracing::warn!(
                error = &err as &(dyn std::error::Error + 'static),
                "authorisation check failed"
            );
            tracing::info!(
                solver = %"memory",
                action = "Present",
                resolved_fqdn = %"_acme-challenge.example.com.",
                duration_ms = 3u64,
                retried = false,
                "challenge answered"
            );
            tracing::warn!(message = %"challenge failed", outcome = "timeout");
            let outer = tracing::info_span!("connection", remote = %"10.0.0.1:443");
            let _outer = outer.enter();
            let inner = tracing::info_span!("request");
            let _inner = inner.enter();
            tracing::info!(path = "/apis", "inside spans");
        };
        let ours = capture_with(true, event);
        let theirs = capture_with(false, event);
        // Everything after the timestamps (which differ by microseconds) is identical.
        let strip = |out: &str| -> Vec<String> {
            out.lines()
                .map(|l| l.get(27..).unwrap_or(l).to_owned())
                .collect()
        };
        assert_eq!(strip(&ours), strip(&theirs), "{ours}\n{theirs}");
        assert_eq!(strip(&ours).len(), 4);
        assert!(
            ours.contains("error=cannot reach the API server error.sources=[connection refused]"),
            "{ours}"
        );
        assert!(
            ours.contains("connection{remote=10.0.0.1:443}:request: "),
            "{ours}"
        );
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
                "challenge failed"
            );
        });
        assert_eq!(out.matches('\n').count(), 1, "{out}");
        assert!(!out.contains('\u{1b}') && !out.contains('\r'), "{out:?}");
        assert!(out.contains(r"dns_name=a.example\n2026"), "{out}");
        assert!(out.contains(r#"namespace="ns\u{1b}[31m\u{85}""#), "{out}");
        assert!(out.contains(r"error=bad\rthing"), "{out}");
        assert!(out.contains("  WARN "), "{out}");
    }
}
