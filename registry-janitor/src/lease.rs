//! Cluster mode's lock and record: a `coordination.k8s.io/v1` Lease. [`LeaseLock`] takes
//! the Lease when it is free, released, or expired (`renewTime + leaseDurationSeconds` in the
//! past), with its `resourceVersion`, so two janitors racing get one 409 Conflict.
//! [`LeaseJournal`] keeps the read-only record in an annotation of the same Lease, so a
//! janitor Pod that died in its window is undone by the next one on any node.

use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, Patch, PatchParams, PostParams};

use crate::error::{Error, Result};
use crate::lock::Lock;
use crate::record::{Journal, Record};

/// The annotation holding the read-only record (shared with the gateway, which reads it).
pub use dns01_registry::maintenance::RECORD_ANNOTATION;

fn kube_err(what: &str) -> impl FnOnce(kube::Error) -> Error + '_ {
    move |source| Error::Kubernetes {
        what: what.to_owned(),
        source,
    }
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// A lock on one Lease.
#[derive(Clone)]
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    duration: Duration,
}

impl std::fmt::Debug for LeaseLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseLock")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl LeaseLock {
    /// The Lease `name` in `namespace`, held for `duration` past each renewal.
    pub fn new(client: kube::Client, namespace: &str, name: &str, duration: Duration) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            duration,
        }
    }

    fn free_or_mine(
        &self,
        spec: Option<&LeaseSpec>,
        holder: &str,
        now: jiff::Timestamp,
    ) -> Result<(), String> {
        let Some(spec) = spec else { return Ok(()) };
        let current = spec.holder_identity.as_deref().unwrap_or_default();
        if current.is_empty() || current == holder {
            return Ok(());
        }
        let seconds = i64::from(spec.lease_duration_seconds.unwrap_or(0));
        let expired = spec
            .renew_time
            .as_ref()
            .or(spec.acquire_time.as_ref())
            .is_none_or(|t| t.0.as_second() + seconds < now.as_second());
        if expired {
            Ok(())
        } else {
            Err(current.to_owned())
        }
    }

    fn spec(&self, holder: &str, now: jiff::Timestamp) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.to_owned()),
            lease_duration_seconds: Some(
                i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX),
            ),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            ..LeaseSpec::default()
        }
    }

    fn locked(&self, holder: String) -> Error {
        Error::Locked {
            what: format!("Lease {}", self.name),
            holder,
        }
    }
}

#[async_trait]
impl Lock for LeaseLock {
    async fn acquire(&self, holder: &str) -> Result<()> {
        let now = jiff::Timestamp::now();
        match self
            .api
            .get_opt(&self.name)
            .await
            .map_err(kube_err("reading the janitor Lease"))?
        {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(self.spec(holder, now)),
                };
                match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(()),
                    Err(e) if is_status(&e, 409) => {
                        Err(self.locked("another janitor (it created the Lease first)".into()))
                    }
                    Err(e) => Err(kube_err("creating the janitor Lease")(e)),
                }
            }
            Some(mut lease) => {
                self.free_or_mine(lease.spec.as_ref(), holder, now)
                    .map_err(|h| self.locked(h))?;
                lease.spec = Some(self.spec(holder, now));
                match self
                    .api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(e) if is_status(&e, 409) => {
                        Err(self.locked("another janitor (it took the Lease first)".into()))
                    }
                    Err(e) => Err(kube_err("taking the janitor Lease")(e)),
                }
            }
        }
    }

    async fn renew(&self, holder: &str) -> Result<()> {
        // Conditional on the resourceVersion just read: a takeover between the read and the
        // write is a 409, and the next attempt sees the new holder. The janitor's own record
        // annotation changes the version too: one more attempt covers that.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let Some(mut lease) = self
                .api
                .get_opt(&self.name)
                .await
                .map_err(kube_err("reading the janitor Lease"))?
            else {
                return Err(Error::LockLost {
                    what: format!("Lease {}", self.name),
                    message: "the Lease was deleted".into(),
                });
            };
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            let current = spec.holder_identity.as_deref().unwrap_or_default();
            if current != holder {
                return Err(Error::LockLost {
                    what: format!("Lease {}", self.name),
                    message: if current.is_empty() {
                        "it was released by someone else".into()
                    } else {
                        format!("{current} holds it now")
                    },
                });
            }
            spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
            match self
                .api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if is_status(&e, 409) && attempts < 3 => {}
                Err(e) => return Err(kube_err("renewing the janitor Lease")(e)),
            }
        }
    }

    fn renew_every(&self) -> Option<Duration> {
        Some((self.duration / 3).max(Duration::from_millis(100)))
    }

    async fn release(&self, holder: &str) -> Result<()> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(kube_err("reading the janitor Lease"))?
        else {
            return Ok(());
        };
        if lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            != Some(holder)
        {
            return Ok(());
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
        }
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
            .map(drop)
            .map_err(kube_err("releasing the janitor Lease"))
    }
}

/// The read-only record in an annotation of the janitor's Lease.
#[derive(Clone)]
pub struct LeaseJournal {
    api: Api<Lease>,
    name: String,
}

impl std::fmt::Debug for LeaseJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseJournal")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl LeaseJournal {
    /// The record on Lease `name` in `namespace` (the [`LeaseLock`]'s).
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
        }
    }

    async fn annotate(&self, value: serde_json::Value) -> Result<()> {
        let patch = serde_json::json!({"metadata": {"annotations": {RECORD_ANNOTATION: value}}});
        self.api
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(drop)
            .map_err(kube_err(
                "writing the read-only record on the janitor Lease",
            ))
    }
}

#[async_trait]
impl Journal for LeaseJournal {
    async fn read(&self) -> Result<Option<Record>> {
        let lease = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(kube_err("reading the janitor Lease"))?;
        let Some(text) = lease.and_then(|l| l.metadata.annotations?.remove(RECORD_ANNOTATION))
        else {
            return Ok(None);
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            Error::config(
                format!("Lease {} annotation {RECORD_ANNOTATION}", self.name),
                format!("not a read-only record ({e}); make sure the registry is read-write, then remove the annotation"),
            )
        })
    }

    async fn write(&self, record: &Record) -> Result<()> {
        self.annotate(serde_json::Value::String(
            serde_json::to_string(record).unwrap_or_default(),
        ))
        .await
    }

    async fn clear(&self) -> Result<()> {
        self.annotate(serde_json::Value::Null).await
    }
}
