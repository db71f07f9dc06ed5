//! # dns01-registry-janitor
//!
//! Garbage collection for CNCF Distribution in a read-only window that always ends.
//!
//! - [`gc`]: the routine — [`lock`] → [`record`] "made read-only by run X at T, until U at
//!   the latest" (the gateway reads it to tell clients) →
//!   read-only → [`probe`] that writes are refused → collector with a deadline → prune
//!   empty repositories ([`storage`]) → read-write → probe that writes are accepted → clear
//!   the record. Read-write comes back on every path (collector failure, deadline, signal,
//!   panic), and a record left by a killed janitor is acted on first.
//!   In a cluster, [`LeaseLock`] and [`LeaseJournal`] keep the lock and the record on a
//!   Lease, renewed while the run lasts; a lost Lease ends the window at once. The probe
//!   authenticates like every registry call ([`WriteProbe::with_credentials`]).
//! - [`switch`]: how a registry is switched, behind the [`Switch`] trait:
//!   [`ProcessSwitch`] supervises `docker-registry serve` itself, [`CommandSwitch`] runs
//!   operator-given commands, [`KubernetesSwitch`] patches a registry Deployment and runs
//!   the collector as a Job (counts from its Pod's log). Collector options unsafe on
//!   Distribution 2.8 (`--delete-untagged`, which deletes multi-arch images' children) are
//!   refused.
//! - Retention: [`policy`] (YAML, per project or repository), [`inventory`] (what the
//!   registry holds, index children followed), [`plan()`] (what goes and why the rest stays;
//!   a manifest a kept index lists stays, a digest a [`workload`] uses stays, with its
//!   children and the indexes containing it), [`apply`] (deletes by digest).
//!   [`KubernetesWorkloads`] reads Pods and pod templates across namespaces with kube-rs.
//! - [`remove`]: deleting a repository, a tag or a manifest by hand, refused (all or
//!   nothing) when a workload uses any of it.
//! - [`service`]: `serve`: runs on a schedule (interval or cron), `/metrics` and `/healthz`
//!   ([`service::router`]).
//! - [`du`]: storage per project and repository (unique and shared bytes, tags, manifests,
//!   last push).
//!
//! ```no_run
//! # async fn run() -> dns01_registry_janitor::Result<()> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use dns01_registry_janitor::{FileJournal, FileLock, Gc, GcOptions, ProcessSwitch, WriteProbe};
//!
//! let gc = Gc {
//!     switch: Arc::new(ProcessSwitch::new(
//!         "/usr/bin/docker-registry",
//!         "/etc/docker/registry/config.yml",
//!         "/run/registry.pid",
//!         "/var/log/registry.log",
//!         vec![],
//!     )),
//!     lock: Arc::new(FileLock::new("/var/lib/janitor/lock")),
//!     journal: Arc::new(FileJournal::new("/var/lib/janitor/readonly.json")),
//!     probe: WriteProbe::new("http://127.0.0.1:5000/", Duration::from_secs(30))?,
//!     options: GcOptions::default(),
//! };
//! let summary = gc.run("run-1", std::future::pending()).await;
//! assert!(!summary.left_read_only);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod du;
pub mod error;
pub mod gc;
pub mod inventory;
pub mod kubernetes;
pub mod lease;
pub mod lock;
pub mod plan;
pub mod policy;
pub mod probe;
pub mod record;
pub mod remove;
pub mod service;
pub mod storage;
pub mod switch;
pub mod workload;

pub use error::{Error, Result};
pub use gc::{Gc, GcOptions, GcSummary, Retained};
pub use inventory::Inventory;
pub use kubernetes::KubernetesWorkloads;
pub use lease::{LeaseJournal, LeaseLock};
pub use lock::{FileLock, Lock};
pub use plan::{Action, Plan, apply, plan};
pub use policy::Policy;
pub use probe::{WriteProbe, Writes};
pub use record::{FileJournal, Journal, Record};
pub use remove::{Target, removal};
pub use switch::{CommandSwitch, KubernetesSwitch, ProcessSwitch, Switch};
pub use workload::{ImageUse, StaticWorkloads, Workload, WorkloadSource};

/// Parses a duration or age: a number and a unit, `s`, `m`, `h`, `d` or `w` (`90s`, `30d`).
///
/// # Errors
/// [`Error::Config`] naming `key`.
pub fn parse_duration(key: &str, text: &str) -> Result<std::time::Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        Error::config(key, format!("`{text}` is not a duration; write a number and a unit: `90s`, `15m`, `12h`, `30d`, `2w`"))
    })?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        "w" => n * 7.0 * 86400.0,
        _ => {
            return Err(Error::config(
                key,
                format!("`{text}` has no known unit; use ms, s, m, h, d or w (`30d`)"),
            ));
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(Error::config(
            key,
            format!("`{text}` is not a positive duration"),
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}
