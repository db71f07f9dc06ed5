//! Several replicas, no lost value: a `coordination.k8s.io/v1` Lease per rrset, the lock every
//! Kubernetes controller uses.
//!
//! The Gandi solver's coordinator serialises the read-merge-writes on one rrset inside one
//! process; replicas behind one Service would interleave theirs and drop each other's values.
//! [`LeaseLock`] is a [`dns01_core::RrsetLock`] that holds a Lease named after the rrset for one
//! batch:
//!
//! - **Acquire** (optimistic concurrency on `resourceVersion`): read the Lease; if there is
//!   none, create it (a 409 means another replica was first: read again); if another replica
//!   holds it and it has not expired, wait and read again; if it has expired, replace it with
//!   the `resourceVersion` that was read (a 409 means another replica took it first). Two or
//!   three calls when nobody else holds it.
//! - **Hold**: renewed every third of its duration while the batch runs (a slow Gandi call).
//! - **Release**: deleted at once, with the last `resourceVersion` as precondition, so a Lease
//!   another replica has taken over (after this one stalled past expiry) is never deleted.
//! - **Expiry** is judged by this replica's own clock, as client-go's leader election does:
//!   a Lease whose `resourceVersion` has not changed for its duration since this replica first
//!   saw it is expired, whatever the clocks of other nodes say. A replica that dies holding a
//!   Lease is overtaken that long after.
//!
//! A Lease call that fails (the API unreachable, RBAC missing) fails the batch: the webhook
//! answers `success: false` with the reason, and never writes without the lock.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ::kube::api::{Api, DeleteParams, PostParams, Preconditions};
use async_trait::async_trait;
use dns01_core::{Error, RelativeName, RrsetLease, RrsetLock, ZoneName};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use sha2::{Digest, Sha256};

use crate::cluster::{bounded, status_code};
use tokio::sync::oneshot;

/// Lease duration when none is configured: how long a dead replica can block an rrset.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);

/// How long [`LeaseLock::acquire`] waits for a Lease held by another replica before failing.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(20);

/// Label on every Lease this webhook makes, for `kubectl get leases -l ...`.
const MANAGED_BY: &str = "dns01-webhook";

/// A [`RrsetLock`] over Kubernetes Leases in one namespace.
#[derive(Clone)]
pub struct LeaseLock {
    api: Api<Lease>,
    namespace: String,
    identity: String,
    duration: Duration,
    /// Per Lease name, the `resourceVersion` last seen held by another replica and when this
    /// replica first saw it (expiry by the local clock).
    seen: Arc<Mutex<HashMap<String, (String, Instant)>>>,
}

impl fmt::Debug for LeaseLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseLock")
            .field("namespace", &self.namespace)
            .field("identity", &self.identity)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

impl LeaseLock {
    /// Leases in `namespace`, held as `identity` (unique per replica: the pod name and a
    /// random suffix), each for `duration`.
    pub fn new(
        client: ::kube::Client,
        namespace: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            identity: identity.to_owned(),
            duration,
            seen: Arc::default(),
        }
    }

    fn lease(&self, name: &str, resource_version: Option<String>, transitions: i32) -> Lease {
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        Lease {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                resource_version,
                labels: Some(
                    [(
                        "app.kubernetes.io/managed-by".to_owned(),
                        MANAGED_BY.to_owned(),
                    )]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(
                    i32::try_from(self.duration.as_secs().max(1)).unwrap_or(i32::MAX),
                ),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(transitions),
                ..LeaseSpec::default()
            }),
        }
    }

    /// Whether `lease`, held by another replica, has gone unrenewed for its duration as this
    /// replica's clock counts.
    fn expired(&self, name: &str, lease: &Lease) -> bool {
        let rv = lease.metadata.resource_version.clone().unwrap_or_default();
        let duration = lease
            .spec
            .as_ref()
            .and_then(|s| s.lease_duration_seconds)
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.duration, Duration::from_secs);
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = seen
            .entry(name.to_owned())
            .or_insert_with(|| (rv.clone(), Instant::now()));
        if entry.0 != rv {
            *entry = (rv, Instant::now());
        }
        entry.1.elapsed() >= duration
    }

    fn forget(&self, name: &str) {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }

    fn error(&self, action: &str, name: &str, e: &::kube::Error) -> Error {
        let what = format!(
            "cannot {action} Lease {}/{name} (the lock that keeps replicas from overwriting each \
             other's TXT values)",
            self.namespace
        );
        match status_code(e) {
            Some(401) | Some(403) => Error::permission(format!(
                "{what}: the API server refused it ({e}); grant the webhook's ServiceAccount get, \
                 create, update and delete on leases.coordination.k8s.io in namespace {} (the \
                 Helm chart's Role does), or run one replica without --rrset-lock=lease",
                self.namespace
            )),
            _ => Error::transient(format!("{what}: {e}; nothing was written")),
        }
    }
}

/// The Lease name of an rrset: a DNS label made from a digest of zone and name (record names
/// can be longer than a Lease name may be, and carry `_` and `*`).
pub fn lease_name(zone: &ZoneName, name: &RelativeName) -> String {
    let mut h = Sha256::new();
    h.update(zone.as_str().as_bytes());
    h.update([0]);
    h.update(name.to_string().as_bytes());
    let digest = h.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("dns01-rrset-{hex}")
}

#[async_trait]
impl RrsetLock for LeaseLock {
    async fn acquire(
        &self,
        zone: &ZoneName,
        name: &RelativeName,
    ) -> dns01_core::Result<Box<dyn RrsetLease>> {
        let lease_name = lease_name(zone, name);
        let deadline = Instant::now() + DEFAULT_ACQUIRE_TIMEOUT;
        let pp = PostParams::default();
        let mut wait = Duration::from_millis(50);
        let held = loop {
            let current = bounded(self.api.get_opt(&lease_name)).await;
            let current = current.map_err(|e| self.error("read", &lease_name, &e))?;
            let attempt = match &current {
                None => {
                    let r = bounded(self.api.create(&pp, &self.lease(&lease_name, None, 0))).await;
                    Some(r)
                }
                Some(lease) => {
                    let spec = lease.spec.clone().unwrap_or_default();
                    let free = spec.holder_identity.as_deref().is_none_or(str::is_empty)
                        || spec.holder_identity.as_deref() == Some(&self.identity)
                        || self.expired(&lease_name, lease);
                    if free {
                        let transitions = spec.lease_transitions.unwrap_or(0).saturating_add(1);
                        let next = self.lease(
                            &lease_name,
                            lease.metadata.resource_version.clone(),
                            transitions,
                        );
                        let r = bounded(self.api.replace(&lease_name, &pp, &next)).await;
                        Some(r)
                    } else {
                        // Held by another replica and not expired.
                        None
                    }
                }
            };
            match attempt {
                Some(Ok(lease)) => break lease,
                // Busy, or another replica won the race (409): read again after a while.
                None => {}
                Some(Err(e)) if status_code(&e) == Some(409) => {}
                Some(Err(e)) => return Err(self.error("take", &lease_name, &e)),
            }
            if Instant::now() + wait > deadline {
                return Err(Error::transient(format!(
                    "cannot take Lease {}/{lease_name} for {name} in zone {zone}: another \
                     replica held it for all of {:?}; retry later",
                    self.namespace, DEFAULT_ACQUIRE_TIMEOUT
                )));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(500));
        };
        self.forget(&lease_name);
        tracing::debug!(lease = %lease_name, %zone, %name, "took the rrset Lease");
        let version = Arc::new(Mutex::new(
            held.metadata.resource_version.clone().unwrap_or_default(),
        ));
        let (stop, stopped) = oneshot::channel();
        let renewer = tokio::spawn(renew(
            self.clone(),
            lease_name.clone(),
            held,
            version.clone(),
            stopped,
        ));
        Ok(Box::new(HeldLease {
            lock: self.clone(),
            name: lease_name,
            version,
            stop: Some(stop),
            renewer: Some(renewer),
        }))
    }
}

/// Renews `lease` every third of its duration until told to stop.
async fn renew(
    lock: LeaseLock,
    name: String,
    mut lease: Lease,
    version: Arc<Mutex<String>>,
    mut stop: oneshot::Receiver<()>,
) {
    let period = lock.duration / 3;
    loop {
        tokio::select! {
            _ = &mut stop => return,
            () = tokio::time::sleep(period) => {}
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
        }
        let r = bounded(lock.api.replace(&name, &PostParams::default(), &lease)).await;
        match r {
            Ok(renewed) => {
                *version.lock().unwrap_or_else(PoisonError::into_inner) = renewed
                    .metadata
                    .resource_version
                    .clone()
                    .unwrap_or_default();
                lease = renewed;
            }
            Err(e) => {
                tracing::warn!(
                    lease = %name,
                    error = %e,
                    "could not renew the rrset Lease; another replica may take it when it expires"
                );
            }
        }
    }
}

/// A Lease this replica holds; released by deleting it.
struct HeldLease {
    lock: LeaseLock,
    name: String,
    version: Arc<Mutex<String>>,
    stop: Option<oneshot::Sender<()>>,
    renewer: Option<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for HeldLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeldLease")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        // Dropped without release (the request was cancelled): stop renewing; the Lease
        // expires by itself.
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
    }
}

#[async_trait]
impl RrsetLease for HeldLease {
    async fn release(mut self: Box<Self>) -> dns01_core::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.await;
        }
        let version = self
            .version
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: Some(version),
                uid: None,
            }),
            ..DeleteParams::default()
        };
        let r = bounded(self.lock.api.delete(&self.name, &dp)).await;
        tracing::debug!(lease = %self.name, ok = r.is_ok(), "released the rrset Lease");
        match r {
            Ok(_) => Ok(()),
            // Gone or taken over already: nothing of ours to give up.
            Err(e) if matches!(status_code(&e), Some(404 | 409)) => Ok(()),
            Err(e) => Err(self.lock.error("release", &self.name, &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_names_are_dns_labels_that_differ_per_rrset() {
        let zone = ZoneName::parse("acme.platform.example").unwrap();
        let a = lease_name(&zone, &RelativeName::parse("_acme-challenge.app").unwrap());
        let b = lease_name(&zone, &RelativeName::parse("_acme-challenge.www").unwrap());
        assert_ne!(a, b);
        assert!(a.len() <= 63, "{a}");
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-'),
            "{a}"
        );
        let other_zone = ZoneName::parse("platform.example").unwrap();
        assert_ne!(
            a,
            lease_name(
                &other_zone,
                &RelativeName::parse("_acme-challenge.app.acme").unwrap()
            ),
            "zone and name are kept apart"
        );
    }
}
