//! Leader election through a `coordination.k8s.io/v1` Lease, as client-go's leaderelection
//! does it: several replicas run, one holds the Lease and runs the controller, the others wait
//! and take over once the holder has not renewed for the lease duration.
//!
//! Expiry is judged by the waiting replica's own clock, from the moment it last saw the
//! Lease change (holder or renew time), never by comparing its clock with the holder's
//! `renewTime`. Every write carries the `resourceVersion` read, so two replicas racing for an
//! expired Lease cannot both win (the API server answers 409 to the second).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::time::Instant;

use crate::error::{Error, Result};

/// The timings of an election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// How long a Lease not renewed stays the holder's (15 s).
    pub lease_duration: Duration,
    /// How often the holder renews (5 s).
    pub renew_every: Duration,
    /// How often a waiting replica looks again (2 s).
    pub retry_every: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
            retry_every: Duration::from_secs(2),
        }
    }
}

/// One replica's side of the election.
#[derive(Debug, Clone)]
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timings: Timings,
}

impl Elector {
    /// An elector for Lease `namespace/name` under `identity` (unique per replica: the pod name).
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        timings: Timings,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            timings,
        }
    }

    fn lease(&self, previous: Option<&Lease>) -> Lease {
        let now = MicroTime(Timestamp::now());
        let spec = previous.and_then(|l| l.spec.clone()).unwrap_or_default();
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        let seconds = i32::try_from(self.timings.lease_duration.as_secs()).unwrap_or(i32::MAX);
        Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                resource_version: previous.and_then(|l| l.metadata.resource_version.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(seconds),
                acquire_time: if ours {
                    spec.acquire_time
                } else {
                    Some(now.clone())
                },
                renew_time: Some(now),
                lease_transitions: Some(
                    spec.lease_transitions.unwrap_or(0) + i32::from(previous.is_some() && !ours),
                ),
                ..LeaseSpec::default()
            }),
        }
    }

    /// One attempt: `Ok(true)` when this replica holds the Lease afterwards. `seen` is the
    /// last (holder, renew time) observed and when, for the expiry judged locally.
    async fn try_acquire(
        &self,
        seen: &mut Option<(Option<String>, Option<MicroTime>, Instant)>,
    ) -> Result<bool> {
        let pp = PostParams::default();
        let current = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|source| Error::Kube {
                action: "get Lease",
                source,
            })?;
        let Some(current) = current else {
            return match self.api.create(&pp, &self.lease(None)).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(source) => Err(Error::Kube {
                    action: "create Lease",
                    source,
                }),
            };
        };
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let observed = (holder.clone(), spec.renew_time.clone());
        let now = Instant::now();
        let since = match seen {
            Some((h, r, at)) if (h.clone(), r.clone()) == observed => *at,
            _ => {
                *seen = Some((observed.0, observed.1, now));
                now
            }
        };
        let free = holder.is_none() || holder.as_deref() == Some(self.identity.as_str());
        let expired = now.duration_since(since) >= self.timings.lease_duration;
        if !free && !expired {
            return Ok(false);
        }
        match self
            .api
            .replace(&self.name, &pp, &self.lease(Some(&current)))
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(source) => Err(Error::Kube {
                action: "take Lease",
                source,
            }),
        }
    }

    /// Waits until this replica holds the Lease.
    ///
    /// # Errors
    /// Never gives up on a 409 or an unavailable API; only a refused call ([`Error::Kube`])
    /// other than those ends it.
    pub async fn acquire(&self) -> Result<()> {
        let mut seen = None;
        loop {
            match self.try_acquire(&mut seen).await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(Error::Kube {
                    source: kube::Error::Api(s),
                    ..
                }) if s.code == 403 || s.code == 404 => {
                    return Err(Error::Kube {
                        action: "acquire Lease",
                        source: kube::Error::Api(s),
                    });
                }
                Err(error) => {
                    tracing::warn!(error = %crate::conditions::error_chain(&error), "leader election")
                }
            }
            tokio::time::sleep(self.timings.retry_every).await;
        }
    }

    /// Renews the Lease while this replica holds it; returns when it is lost (another holder,
    /// or no successful renewal for a lease duration).
    pub async fn hold(&self) {
        let mut last_renewed = Instant::now();
        loop {
            tokio::time::sleep(self.timings.renew_every).await;
            let renewed = match self.api.get_opt(&self.name).await {
                Ok(Some(current)) => {
                    let holder = current
                        .spec
                        .as_ref()
                        .and_then(|s| s.holder_identity.as_deref());
                    if holder != Some(self.identity.as_str()) {
                        return;
                    }
                    self.api
                        .replace(
                            &self.name,
                            &PostParams::default(),
                            &self.lease(Some(&current)),
                        )
                        .await
                        .is_ok()
                }
                _ => false,
            };
            if renewed {
                last_renewed = Instant::now();
            } else if last_renewed.elapsed() >= self.timings.lease_duration {
                return;
            }
        }
    }

    /// Gives the Lease up (on a clean shutdown), so another replica takes over at once.
    ///
    /// # Errors
    /// [`Error::Kube`] when the Lease cannot be read or written.
    pub async fn release(&self) -> Result<()> {
        let Some(current) = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|source| Error::Kube {
                action: "get Lease",
                source,
            })?
        else {
            return Ok(());
        };
        let mut lease = current.clone();
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
            .map_err(|source| Error::Kube {
                action: "release Lease",
                source,
            })?;
        Ok(())
    }
}
