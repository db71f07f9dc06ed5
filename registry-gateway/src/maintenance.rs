//! Until when a route's registry is read-only: the registry janitor's durable record
//! ([`dns01_registry::maintenance::Record`]), read from a file (single-host installs) or from
//! the annotation on the janitor's Lease (cluster mode), cached for a few seconds. It only
//! adds to the read-only answer: a record that cannot be read, is absent or is stale leaves
//! the answer as it is without one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dns01_registry::maintenance::{RECORD_ANNOTATION, Record};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;

/// How long a read record (or its absence) is reused.
const CACHE_FOR: Duration = Duration::from_secs(3);
/// A read slower than this counts as no record (the answer must not wait for it).
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a route's read-only record is (`maintenance` in a route's configuration).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RecordSource {
    /// The janitor's record file (`<state dir>/readonly-record.json`).
    File(PathBuf),
    /// The janitor's Lease, whose annotation holds the record.
    Lease {
        /// The Lease's namespace.
        namespace: String,
        /// The Lease's name.
        name: String,
    },
}

/// When a read-only window ends at the latest, as read from a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Until(pub jiff::Timestamp);

impl Until {
    /// Whole seconds from `now` until then, at least 1 (`Retry-After`).
    pub fn seconds_left(self, now: jiff::Timestamp) -> i64 {
        let left = self.0.as_second() - now.as_second();
        left.max(1)
    }

    /// `2026-12-03 01:47:10 UTC`.
    pub fn utc(self) -> String {
        self.0.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
    }
}

/// Reads records, with a short cache; the Kubernetes client is the gateway's own.
pub(crate) struct Records {
    kube: Option<kube::Client>,
    cache: moka::future::Cache<RecordSource, Option<Arc<Record>>>,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records").finish_non_exhaustive()
    }
}

impl Records {
    pub(crate) fn new(kube: Option<kube::Client>) -> Self {
        Self {
            kube,
            cache: moka::future::Cache::builder()
                .time_to_live(CACHE_FOR)
                .max_capacity(1_000)
                .build(),
        }
    }

    /// Until when the window recorded at `source` lasts at the latest, if a record is there,
    /// says it, and that time is still ahead of `now`.
    pub(crate) async fn until(&self, source: &RecordSource, now: jiff::Timestamp) -> Option<Until> {
        let record = self
            .cache
            .get_with(source.clone(), async {
                match tokio::time::timeout(READ_TIMEOUT, self.read(source)).await {
                    Ok(Ok(r)) => r.map(Arc::new),
                    Ok(Err(why)) => {
                        tracing::warn!(source = ?source, error = %why, "the janitor's read-only record could not be read");
                        None
                    }
                    Err(_) => {
                        tracing::warn!(source = ?source, "reading the janitor's read-only record timed out");
                        None
                    }
                }
            })
            .await?;
        record.until_timestamp().filter(|t| *t > now).map(Until)
    }

    async fn read(&self, source: &RecordSource) -> Result<Option<Record>, String> {
        let text = match source {
            RecordSource::File(path) => match tokio::fs::read_to_string(path).await {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(format!("{}: {e}", path.display())),
            },
            RecordSource::Lease { namespace, name } => {
                let kube = self
                    .kube
                    .clone()
                    .ok_or_else(|| "the gateway has no Kubernetes client".to_owned())?;
                let lease = Api::<Lease>::namespaced(kube, namespace)
                    .get_opt(name)
                    .await
                    .map_err(|e| format!("Lease {namespace}/{name}: {e}"))?;
                match lease.and_then(|l| l.metadata.annotations?.remove(RECORD_ANNOTATION)) {
                    Some(t) => t,
                    None => return Ok(None),
                }
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("not a read-only record: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_is_shown_in_utc_and_retry_after_is_never_zero() {
        let until = Until("2026-12-03T01:47:10Z".parse().unwrap());
        assert_eq!(until.utc(), "2026-12-03 01:47:10 UTC");
        let now: jiff::Timestamp = "2026-12-03T01:45:00Z".parse().unwrap();
        assert_eq!(until.seconds_left(now), 130);
        let later: jiff::Timestamp = "2026-12-03T01:47:10Z".parse().unwrap();
        assert_eq!(until.seconds_left(later), 1);
    }

    #[tokio::test]
    async fn a_stale_absent_or_broken_record_gives_no_time() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::new(None);
        let now: jiff::Timestamp = "2026-12-03T01:45:00Z".parse().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            RecordSource::File(p)
        };
        let good = write(
            "good.json",
            r#"{"run_id":"r","since":"2026-12-03T01:00:00Z","switch":"process","pid":1,"until":"2026-12-03T01:47:10Z"}"#,
        );
        assert_eq!(
            records.until(&good, now).await,
            Some(Until("2026-12-03T01:47:10Z".parse().unwrap()))
        );
        let stale = write(
            "stale.json",
            r#"{"run_id":"r","since":"2026-12-03T01:00:00Z","switch":"process","pid":1,"until":"2026-12-03T01:10:00Z"}"#,
        );
        assert_eq!(records.until(&stale, now).await, None);
        let old = write(
            "old.json",
            r#"{"run_id":"r","since":"2026-12-03T01:00:00Z","switch":"process","pid":1}"#,
        );
        assert_eq!(records.until(&old, now).await, None);
        let broken = write("broken.json", "{not json");
        assert_eq!(records.until(&broken, now).await, None);
        let absent = RecordSource::File(dir.path().join("absent.json"));
        assert_eq!(records.until(&absent, now).await, None);
        let lease = RecordSource::Lease {
            namespace: "registry".into(),
            name: "janitor".into(),
        };
        assert_eq!(records.until(&lease, now).await, None);
    }
}
