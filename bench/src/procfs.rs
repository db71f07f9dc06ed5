//! Memory of a process from `/proc/<pid>/status`: `VmRSS` (resident now) and `VmHWM` (peak
//! resident, "high water mark").

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
    fn this_process_has_a_resident_set() {
        let pid = std::process::id();
        let rss = rss(pid).unwrap();
        let peak = peak_rss(pid).unwrap();
        assert!(rss > 0);
        assert!(peak >= rss / 2);
    }
}
