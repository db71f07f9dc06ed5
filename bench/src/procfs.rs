//! Memory of a process from `/proc/<pid>/status`: `VmRSS` (resident now) and `VmHWM` (peak
//! resident, "high water mark"); its CPU time from `/proc/<pid>/stat`.

use std::time::Duration;

use anyhow::Context as _;

/// The value of a `kB` field (`VmRSS`, `VmHWM`, …) of a `/proc/<pid>/status` text, in bytes.
pub fn status_field_bytes(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let (name, rest) = line.split_once(':')?;
        if name.trim() != field {
            return None;
        }
        let mut parts = rest.split_whitespace();
        let number: u64 = parts.next()?.parse().ok()?;
        let multiplier = match parts.next() {
            Some(unit) if unit.eq_ignore_ascii_case("kB") => 1024,
            Some(unit) if unit.eq_ignore_ascii_case("mB") => 1024 * 1024,
            None => 1,
            Some(_) => return None,
        };
        number.checked_mul(multiplier)
    })
}

/// Reads field `field` of `/proc/<pid>/status`, in bytes.
///
/// # Errors
/// When the file cannot be read (the process is gone, not Linux) or lacks the field.
pub fn read_status_field(pid: u32, field: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    status_field_bytes(&text, field).with_context(|| format!("{path} has no {field} field"))
}

/// Resident set size now, in bytes.
///
/// # Errors
/// See [`read_status_field`].
pub fn rss(pid: u32) -> anyhow::Result<u64> {
    read_status_field(pid, "VmRSS")
}

/// Peak resident set size since the process started, in bytes.
///
/// # Errors
/// See [`read_status_field`].
pub fn peak_rss(pid: u32) -> anyhow::Result<u64> {
    read_status_field(pid, "VmHWM")
}

/// Clock ticks per second of `/proc/<pid>/stat` times: Linux's `USER_HZ`, which is 100 on every
/// architecture it exports to user space.
pub const USER_HZ: u64 = 100;

/// User plus system CPU time, in clock ticks, from a `/proc/<pid>/stat` line (fields 14 and 15,
/// counted after the `)` that closes the command name, which may itself hold spaces).
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts at field 3 (state): utime is the 12th field from there, stime the 13th.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

/// CPU time (user plus system, all threads) the process has used so far; 10 ms resolution.
///
/// # Errors
/// When `/proc/<pid>/stat` cannot be read or parsed.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let ticks = stat_cpu_ticks(&text).with_context(|| format!("{path}: no CPU times"))?;
    Ok(Duration::from_millis(ticks.saturating_mul(1000 / USER_HZ)))
}

/// Bytes as MiB, for display.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tdns01-webhook\nUmask:\t0022\nState:\tS (sleeping)\n\
        VmPeak:\t  620148 kB\nVmSize:\t  620148 kB\nVmHWM:\t    9876 kB\nVmRSS:\t    8192 kB\n\
        RssAnon:\t    2048 kB\nThreads:\t3\n";

    #[test]
    fn kilobyte_fields_are_read_in_bytes() {
        assert_eq!(status_field_bytes(STATUS, "VmRSS"), Some(8192 * 1024));
        assert_eq!(status_field_bytes(STATUS, "VmHWM"), Some(9876 * 1024));
        assert!((mib(8192 * 1024) - 8.0).abs() < 1e-9);
    }

    #[test]
    fn prefixes_and_missing_fields_do_not_match() {
        // `RssAnon` must not be taken for `Rss…`, nor `VmRSS` for `VmRS`.
        assert_eq!(status_field_bytes(STATUS, "VmRS"), None);
        assert_eq!(status_field_bytes(STATUS, "VmSwap"), None);
        assert_eq!(status_field_bytes(STATUS, "Threads"), Some(3));
        assert_eq!(status_field_bytes("VmRSS:\tlots kB\n", "VmRSS"), None);
    }

    #[test]
    fn cpu_ticks_are_read_after_the_command_name_even_with_spaces_and_parentheses() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 2500 0 0 0 \
                    731 129 0 0 20 0 3 0 12345 620148000 2048 18446744073709551615";
        assert_eq!(stat_cpu_ticks(stat), Some(731 + 129));
        assert_eq!(stat_cpu_ticks("4242 (x) S 1 2"), None);
        assert_eq!(stat_cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn this_process_has_used_cpu_time() {
        let before = cpu_time(std::process::id()).unwrap();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let after = cpu_time(std::process::id()).unwrap();
        assert!(
            after > before,
            "{before:?} then {after:?} after 60 ms of spinning"
        );
    }

    #[test]
    fn this_process_has_a_resident_set() {
        let pid = std::process::id();
        let rss = rss(pid).unwrap();
        let peak = peak_rss(pid).unwrap();
        assert!(rss > 0);
        assert!(peak >= rss / 2);
    }
}
