//! How the registry is switched between read-only and read-write, and how its collector
//! runs: the [`Switch`] trait, with [`ProcessSwitch`] (the janitor supervises
//! `docker-registry serve` itself), [`CommandSwitch`] (operator-given commands) and
//! [`KubernetesSwitch`] (a registry Deployment's environment, the collector as a Job).

mod command;
mod kubernetes;
mod process;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::io::AsyncReadExt as _;

pub use command::CommandSwitch;
pub use kubernetes::{KubernetesSwitch, READONLY_ENV};
pub use process::ProcessSwitch;

use crate::error::{Error, Result};

/// Switches one registry between read-only and read-write, and runs its collector.
#[async_trait]
pub trait Switch: Send + Sync + std::fmt::Debug {
    /// A short name for logs and the record (`process`, `command`).
    fn name(&self) -> &'static str;
    /// Makes the registry refuse writes (pulls keep working). Returns once the switch is
    /// done; the caller then probes that writes are really refused.
    async fn set_read_only(&self) -> Result<()>;
    /// Makes the registry accept writes again, flushing whatever caches blob descriptors.
    async fn set_read_write(&self) -> Result<()>;
    /// Runs the registry's collector (never with `--delete-untagged`), killed past `deadline`.
    async fn collect(&self, deadline: Duration) -> Result<CollectorRun>;
    /// The longest one switch (to read-only, or back) may take before it fails: with the
    /// probe's timeout and the collector's deadline, it bounds the window the janitor records
    /// (`until`, which the gateway tells clients).
    fn longest_switch(&self) -> Duration;
    /// The storage root on this host when the switch knows it (filesystem storage): used to
    /// prune empty repositories and count bytes freed.
    fn storage_root(&self) -> Option<PathBuf>;
}

/// What a collector run printed and how long it took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectorRun {
    /// How long it ran.
    pub elapsed: Duration,
    /// Blobs it said were eligible for deletion.
    pub blobs_deleted: u64,
    /// Manifests it said were eligible for deletion.
    pub manifests_deleted: u64,
    /// Its output (stdout then stderr), cut to the last 64 KiB.
    pub output: String,
}

/// Options known to be unsafe on a collector version: Distribution before 3.0 deletes an
/// index's per-platform children with `--delete-untagged` (`-m`).
///
/// # Errors
/// [`Error::UnsafeCollector`] naming the option and what to do instead.
pub fn check_collector_args(args: &[String], version: Option<(u64, u64)>) -> Result<()> {
    let unsafe_flag = args
        .iter()
        .find(|a| *a == "-m" || a.starts_with("--delete-untagged"));
    if let Some(flag) = unsafe_flag {
        let shown = version.map_or_else(
            || "an unknown version".to_owned(),
            |(a, b)| format!("{a}.{b}"),
        );
        if version.is_none_or(|(major, _)| major < 3) {
            return Err(Error::UnsafeCollector {
                message: format!(
                    "`{flag}` on CNCF Distribution {shown} deletes the per-platform children of \
                     multi-arch images (fixed in 3.0); drop the option: the janitor deletes \
                     untagged manifests itself, index-aware, before it collects"
                ),
            });
        }
    }
    Ok(())
}

/// Parses `docker-registry --version` (`docker-registry github.com/docker/distribution
/// 2.8.2+ds1`, or `v3.0.0`) into (major, minor).
pub fn parse_version(text: &str) -> Option<(u64, u64)> {
    text.split_whitespace().find_map(|w| {
        let w = w.strip_prefix('v').unwrap_or(w);
        let mut parts = w.split(['.', '+', '-']);
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    })
}

const OUTPUT_KEEP: usize = 64 * 1024;

/// Runs a collector command to completion or kills it at `deadline`; non-zero exit is an
/// error carrying the end of its output.
pub(crate) async fn run_collector(
    mut cmd: tokio::process::Command,
    what: &str,
    deadline: Duration,
) -> Result<CollectorRun> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::Command {
            what: what.to_owned(),
            message: format!("cannot start: {e}"),
        })?;
    // The collector may be a script with children: past the deadline, or when the janitor
    // stops, the whole process group goes.
    let _group = child.id().map(KillGroup);
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let read_all = async {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (a, b) = tokio::join!(
            async {
                if let Some(s) = stdout.as_mut() {
                    let _ = s.read_to_end(&mut out).await;
                }
            },
            async {
                if let Some(s) = stderr.as_mut() {
                    let _ = s.read_to_end(&mut err).await;
                }
            }
        );
        let ((), ()) = (a, b);
        let status = child.wait().await;
        (status, out, err)
    };
    let Ok((status, out, err)) = tokio::time::timeout(deadline, read_all).await else {
        // Dropping the future dropped the child: kill_on_drop killed it.
        return Err(Error::Deadline { deadline });
    };
    let mut output = String::from_utf8_lossy(&out).into_owned();
    output.push_str(&String::from_utf8_lossy(&err));
    if output.len() > OUTPUT_KEEP {
        let mut cut = output.len() - OUTPUT_KEEP;
        while !output.is_char_boundary(cut) {
            cut += 1;
        }
        output = output.split_off(cut);
    }
    let status = status.map_err(|e| Error::Command {
        what: what.to_owned(),
        message: format!("waiting for it: {e}"),
    })?;
    if !status.success() {
        return Err(Error::Command {
            what: what.to_owned(),
            message: format!("exited with {status}:\n{output}"),
        });
    }
    let (blobs_deleted, manifests_deleted) = parse_collector_counts(&output);
    Ok(CollectorRun {
        elapsed: start.elapsed(),
        blobs_deleted,
        manifests_deleted,
        output,
    })
}

/// Kills a process group when dropped (a finished group is gone already: nothing happens).
struct KillGroup(u32);

impl Drop for KillGroup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg("-KILL")
            .arg("--")
            .arg(format!("-{}", self.0))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Distribution's summary line: `N blobs marked, M blobs and K manifests eligible for deletion`.
pub(crate) fn parse_collector_counts(output: &str) -> (u64, u64) {
    output
        .lines()
        .rev()
        .find_map(|l| {
            let (_, rest) = l.split_once("blobs marked, ")?;
            let mut words = rest.split_whitespace();
            let blobs = words.next()?.parse().ok()?;
            let manifests = words.nth(2)?.parse().ok()?;
            Some((blobs, manifests))
        })
        .unwrap_or_default()
}

/// Runs `sh -c script` to success.
pub(crate) async fn run_shell(what: &str, script: &str, timeout: Duration) -> Result<()> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg(script);
    run_collector(cmd, what, timeout).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_untagged_is_refused_before_distribution_3() {
        let args = vec!["--delete-untagged".to_owned()];
        let e = check_collector_args(&args, Some((2, 8)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("2.8") && e.contains("children"), "{e}");
        assert!(check_collector_args(&["-m".to_owned()], None).is_err());
        assert!(check_collector_args(&args, Some((3, 0))).is_ok());
        assert!(check_collector_args(&["--dry-run".to_owned()], Some((2, 8))).is_ok());
    }

    #[test]
    fn versions_and_counts_parse_from_distribution_output() {
        assert_eq!(
            parse_version("docker-registry github.com/docker/distribution 2.8.2+ds1"),
            Some((2, 8))
        );
        assert_eq!(
            parse_version("registry github.com/distribution/distribution/v3 v3.0.0"),
            Some((3, 0))
        );
        assert_eq!(
            parse_collector_counts(
                "x\n3 blobs marked, 2 blobs and 1 manifests eligible for deletion\n"
            ),
            (2, 1)
        );
    }

    #[tokio::test]
    async fn a_collector_past_its_deadline_is_killed() {
        let mut cmd = tokio::process::Command::new("sleep");
        cmd.arg("30");
        let start = Instant::now();
        let e = run_collector(cmd, "sleep", Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Deadline { .. }), "{e}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
