//! The maintenance window: lock → record → read-only → writes refused → collector (with a
//! deadline) → prune empty repositories → read-write → writes accepted → clear the record.
//! Read-write is restored on every path: the collector failing or running past its
//! deadline, a signal, a panic in a step; and a record left by a janitor that died in its
//! window is acted on first, before anything else.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::lock::Lock;
use crate::probe::{WriteProbe, Writes};
use crate::record::{Journal, Record};
use crate::storage;
use crate::switch::Switch;

/// A probe request's own bound ([`WriteProbe`]), added to the probe's timeout in the latest
/// end of a window.
const PROBE_REQUEST: Duration = Duration::from_secs(5);

/// How a [`Gc`] runs.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// The collector is killed past this (and the window closed).
    pub collector_deadline: Duration,
    /// Prune repositories left empty (needs the switch to know the storage root).
    pub prune: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            collector_deadline: Duration::from_secs(30 * 60),
            prune: true,
        }
    }
}

/// What a run did; printed as JSON at the end of every run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GcSummary {
    /// This run's id.
    pub run_id: String,
    /// The switch (`process`, `command`).
    pub switch: String,
    /// `null` on success, else what went wrong.
    pub error: Option<String>,
    /// A record left by a janitor that died in its window, restored before this run.
    pub restored_leftover: Option<Record>,
    /// Seconds the registry refused writes.
    pub window_seconds: f64,
    /// Seconds the collector ran.
    pub collector_seconds: f64,
    /// Blobs the collector deleted.
    pub blobs_deleted: u64,
    /// Bytes of blobs freed (when the storage root is known).
    pub bytes_freed: u64,
    /// Manifests deleted by retention before the window.
    pub manifests_deleted: u64,
    /// Repositories pruned because they were left empty.
    pub repositories_pruned: Vec<String>,
    /// Items a policy would have deleted but that were kept as in use.
    pub protected: u64,
    /// The registry may still refuse writes: an operator must act. Never true silently: an
    /// error log line goes with it and the CLI exits with its own status.
    pub left_read_only: bool,
}

impl GcSummary {
    /// The summary as Prometheus gauges in the text format (for node_exporter's textfile
    /// collector, or a service's `/metrics`). `dns01_registry_janitor_left_read_only` is 1
    /// while the registry may still refuse writes: alert on it.
    pub fn to_prometheus(&self) -> String {
        let mut registry =
            prometheus_client::registry::Registry::with_prefix("dns01_registry_janitor");
        self.register(&mut registry, jiff::Timestamp::now());
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }

    /// Registers the summary's gauges (unprefixed names: `left_read_only`, `window_seconds`,
    /// …) in `registry`, for a run that ended at `ended`.
    pub fn register(
        &self,
        registry: &mut prometheus_client::registry::Registry,
        ended: jiff::Timestamp,
    ) {
        use prometheus_client::metrics::gauge::Gauge;
        let mut gauge = |name: &str, help: &str, value: f64| {
            let g = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
            g.set(value);
            registry.register(name, help, g);
        };
        gauge(
            "left_read_only",
            "1 when the last run could not switch the registry back to read-write",
            f64::from(u8::from(self.left_read_only)),
        );
        gauge(
            "last_run_success",
            "1 when the last run ended without an error",
            f64::from(u8::from(self.error.is_none())),
        );
        gauge(
            "last_run_timestamp_seconds",
            "when the last run ended",
            ended.as_second() as f64,
        );
        gauge(
            "window_seconds",
            "how long the registry refused writes",
            self.window_seconds,
        );
        gauge(
            "collector_seconds",
            "how long the collector ran",
            self.collector_seconds,
        );
        gauge(
            "blobs_deleted",
            "blobs the collector deleted",
            self.blobs_deleted as f64,
        );
        gauge(
            "bytes_freed",
            "bytes of blobs freed",
            self.bytes_freed as f64,
        );
        gauge(
            "manifests_deleted",
            "manifests retention deleted",
            self.manifests_deleted as f64,
        );
        gauge(
            "repositories_pruned",
            "empty repositories removed",
            self.repositories_pruned.len() as f64,
        );
        gauge(
            "protected",
            "items kept only because a workload uses them",
            self.protected as f64,
        );
    }
}

/// What retention did before the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retained {
    /// Manifests deleted.
    pub manifests_deleted: u64,
    /// Items a policy would have deleted, kept because a workload uses them.
    pub protected: u64,
}

/// One janitor's garbage-collection routine.
#[derive(Debug, Clone)]
pub struct Gc {
    /// Switches the registry.
    pub switch: Arc<dyn Switch>,
    /// One janitor at a time.
    pub lock: Arc<dyn Lock>,
    /// The durable "made read-only by" record.
    pub journal: Arc<dyn Journal>,
    /// Checks writes are refused/accepted.
    pub probe: WriteProbe,
    /// Deadlines and steps.
    pub options: GcOptions,
}

#[derive(Debug, Default)]
struct WindowOutcome {
    collector_seconds: f64,
    blobs_deleted: u64,
    bytes_freed: u64,
    pruned: Vec<String>,
}

impl Gc {
    /// Restores read-write if a record says a janitor left the registry read-only. Returns
    /// the record that was acted on.
    ///
    /// # Errors
    /// When the registry cannot be made read-write again (the record stays).
    pub async fn recover(&self) -> Result<Option<Record>> {
        let Some(record) = self.journal.read().await? else {
            return Ok(None);
        };
        tracing::warn!(
            run_id = %record.run_id, since = %record.since,
            "a janitor left the registry read-only; restoring read-write before anything else"
        );
        self.restore().await?;
        Ok(Some(record))
    }

    async fn restore(&self) -> Result<()> {
        self.switch.set_read_write().await?;
        self.probe.wait_for(Writes::Accepted).await?;
        self.journal.clear().await
    }

    /// Runs the whole routine; `shutdown` resolves (with the signal's name) when the janitor
    /// is asked to stop, which closes the window early. Never returns with the window open
    /// unless read-write could not be restored, and then says so in
    /// [`GcSummary::left_read_only`].
    pub async fn run<F>(&self, run_id: &str, shutdown: F) -> GcSummary
    where
        F: Future<Output = &'static str> + Send,
    {
        self.run_with(run_id, async { Ok(Retained::default()) }, shutdown)
            .await
    }

    /// [`Gc::run`], with `retention` (deletions by policy, which are writes) run under the
    /// lock, after a leftover window is closed and before this one opens. When it fails, the
    /// window is not opened.
    pub async fn run_with<F, R>(&self, run_id: &str, retention: R, shutdown: F) -> GcSummary
    where
        F: Future<Output = &'static str> + Send,
        R: Future<Output = Result<Retained>> + Send,
    {
        let mut summary = GcSummary {
            run_id: run_id.to_owned(),
            switch: self.switch.name().to_owned(),
            ..GcSummary::default()
        };
        if let Err(e) = self.lock.acquire(run_id).await {
            summary.error = Some(chain(&e));
            return summary;
        }
        let (lost_tx, lost) = watch::channel(None);
        let renewer = self.lock.renew_every().map(|every| {
            tokio::spawn(keep_renewed(
                self.lock.clone(),
                run_id.to_owned(),
                every,
                lost_tx,
            ))
        });
        self.run_locked(run_id, retention, shutdown, lost, &mut summary)
            .await;
        if let Some(renewer) = renewer {
            renewer.abort();
        }
        if let Err(e) = self.lock.release(run_id).await {
            tracing::warn!(error = %chain(&e), "releasing the janitor lock");
        }
        if summary.left_read_only {
            tracing::error!(
                run_id,
                error = summary.error.as_deref().unwrap_or_default(),
                "REGISTRY LEFT READ-ONLY: switching back to read-write failed; pushes are refused \
                 until an operator restores it (or the next janitor run does)"
            );
        }
        summary
    }

    async fn run_locked<F, R>(
        &self,
        run_id: &str,
        retention: R,
        shutdown: F,
        mut lost: watch::Receiver<Option<Error>>,
        summary: &mut GcSummary,
    ) where
        F: Future<Output = &'static str> + Send,
        R: Future<Output = Result<Retained>> + Send,
    {
        match self.recover().await {
            Ok(leftover) => summary.restored_leftover = leftover,
            Err(e) => {
                summary.error = Some(format!(
                    "restoring a registry left read-only: {}",
                    chain(&e)
                ));
                summary.left_read_only = true;
                return;
            }
        }
        // A probe that cannot tell refused from accepted writes (wrong or missing
        // credentials, an unreachable registry) would leave the window unverifiable: find
        // out before the registry is switched.
        if let Err(e) = self.probe.once().await {
            summary.error = Some(format!(
                "probing the registry's write path before the window (nothing was switched): {}",
                chain(&e)
            ));
            return;
        }
        match retention.await {
            Ok(r) => {
                summary.manifests_deleted = r.manifests_deleted;
                summary.protected = r.protected;
            }
            Err(e) => {
                summary.error = Some(format!("retention: {}", chain(&e)));
                return;
            }
        }
        if let Some(e) = lost.borrow().as_ref() {
            summary.error = Some(format!(
                "{} (before the window; nothing was switched)",
                chain(e)
            ));
            return;
        }
        let now = jiff::Timestamp::now();
        let record = Record {
            run_id: run_id.to_owned(),
            since: now.to_string(),
            switch: self.switch.name().to_owned(),
            pid: std::process::id(),
            until: Some(self.latest_end(now).to_string()),
        };
        if let Err(e) = self.journal.write(&record).await {
            summary.error = Some(chain(&e));
            return;
        }
        let opened = Instant::now();
        tracing::info!(
            run_id,
            switch = self.switch.name(),
            "opening the read-only window"
        );
        let this = self.clone();
        let mut window = tokio::spawn(async move { this.window().await });
        let result = tokio::select! {
            joined = &mut window => match joined {
                Ok(r) => r,
                Err(e) if e.is_panic() => Err(Error::Panicked { message: panic_message(e.into_panic()) }),
                Err(e) => Err(Error::Panicked { message: e.to_string() }),
            },
            signal = shutdown => {
                tracing::warn!(signal, "stopping: closing the read-only window first");
                window.abort();
                let _ = (&mut window).await;
                Err(Error::Interrupted { signal })
            }
            error = lost_lock(&mut lost) => {
                tracing::error!(error = %chain(&error), "closing the read-only window at once");
                window.abort();
                let _ = (&mut window).await;
                Err(error)
            }
        };
        match result {
            Ok(outcome) => {
                summary.collector_seconds = outcome.collector_seconds;
                summary.blobs_deleted = outcome.blobs_deleted;
                summary.bytes_freed = outcome.bytes_freed;
                summary.repositories_pruned = outcome.pruned;
            }
            Err(e) => {
                tracing::error!(error = %chain(&e), "maintenance step failed; restoring read-write");
                summary.error = Some(chain(&e));
            }
        }
        if let Err(e) = self.restore().await {
            let msg = format!("restoring read-write: {}", chain(&e));
            summary.error = Some(match summary.error.take() {
                Some(first) => format!("{first}; {msg}"),
                None => msg,
            });
            summary.left_read_only = true;
        }
        summary.window_seconds = opened.elapsed().as_secs_f64();
        tracing::info!(
            run_id,
            window_seconds = summary.window_seconds,
            "read-only window closed"
        );
    }

    /// The latest a window opened at `opened` can end, from the deadlines the run honours:
    /// switch to read-only, probe until writes are refused, the collector's deadline, switch
    /// back, probe until writes are accepted (each probe request bounded too), rounded up to
    /// the second. The gateway tells clients this time.
    pub fn latest_end(&self, opened: jiff::Timestamp) -> jiff::Timestamp {
        let probing = self.probe.timeout + PROBE_REQUEST;
        let longest =
            self.switch.longest_switch() * 2 + probing * 2 + self.options.collector_deadline;
        let secs = i64::try_from(longest.as_secs()).unwrap_or(i64::MAX / 2) + 1;
        opened
            .checked_add(jiff::SignedDuration::from_secs(secs))
            .unwrap_or(jiff::Timestamp::MAX)
            .round(jiff::Unit::Second)
            .unwrap_or(jiff::Timestamp::MAX)
    }

    async fn window(&self) -> Result<WindowOutcome> {
        self.switch.set_read_only().await?;
        self.probe.wait_for(Writes::Refused).await?;
        let root = self.switch.storage_root();
        let before = root.as_deref().map(storage::blob_bytes);
        let run = self.switch.collect(self.options.collector_deadline).await?;
        let after = root.as_deref().map(storage::blob_bytes);
        let pruned = match (&root, self.options.prune) {
            (Some(root), true) => storage::prune_empty_repositories(root)?,
            (None, true) => {
                tracing::warn!(
                    "the switch does not know the storage root: empty repositories are not pruned"
                );
                Vec::new()
            }
            (_, false) => Vec::new(),
        };
        Ok(WindowOutcome {
            collector_seconds: run.elapsed.as_secs_f64(),
            blobs_deleted: run.blobs_deleted,
            bytes_freed: before.zip(after).map_or(0, |(b, a)| b.saturating_sub(a)),
            pruned,
        })
    }
}

/// Renews `lock` every `every` until aborted; sends the error when the lock is lost (taken
/// over, or not renewed for three periods).
async fn keep_renewed(
    lock: Arc<dyn Lock>,
    holder: String,
    every: Duration,
    lost: watch::Sender<Option<Error>>,
) {
    let mut renewed = Instant::now();
    loop {
        tokio::time::sleep(every).await;
        match lock.renew(&holder).await {
            Ok(()) => renewed = Instant::now(),
            Err(e @ Error::LockLost { .. }) => {
                lost.send_replace(Some(e));
                return;
            }
            Err(e) if renewed.elapsed() >= every * 3 => {
                lost.send_replace(Some(Error::LockLost {
                    what: "the janitor lock".into(),
                    message: format!(
                        "not renewed for {} s: {}",
                        renewed.elapsed().as_secs(),
                        chain(&e)
                    ),
                }));
                return;
            }
            Err(e) => tracing::warn!(error = %chain(&e), "renewing the janitor lock; trying again"),
        }
    }
}

/// Resolves with the error once the lock is lost (never if the renewer ends otherwise).
async fn lost_lock(lost: &mut watch::Receiver<Option<Error>>) -> Error {
    loop {
        if let Some(e) = lost.borrow_and_update().as_ref() {
            return Error::LockLost {
                what: match e {
                    Error::LockLost { what, .. } => what.clone(),
                    _ => "the janitor lock".into(),
                },
                message: match e {
                    Error::LockLost { message, .. } => message.clone(),
                    other => chain(other),
                },
            };
        }
        if lost.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// An error and its causes, `: `-joined.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}
