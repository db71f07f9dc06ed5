//! [`KubernetesSwitch`]: the registry runs as a Deployment. Read-only is the container's
//! `REGISTRY_STORAGE_MAINTENANCE_READONLY` environment variable (`{"enabled":true}`, which
//! Distribution 2.8 reads as the `storage.maintenance.readonly` map; a
//! `..._READONLY_ENABLED=true` variable instead makes 2.8 fail to start), set on the pod
//! template, then the rollout is awaited. The collector runs as a Job from the registry's
//! own pod template (image, volumes, config), with an active deadline.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::EnvVar;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams, PropagationPolicy};

use super::{CollectorRun, Switch, check_collector_args};
use crate::error::{Error, Result};

/// The environment variable Distribution maps onto `storage.maintenance.readonly`.
pub const READONLY_ENV: &str = "REGISTRY_STORAGE_MAINTENANCE_READONLY";

/// Switches a registry Deployment and runs its collector as a Job.
#[derive(Clone)]
pub struct KubernetesSwitch {
    deployments: Api<Deployment>,
    jobs: Api<Job>,
    /// The registry Deployment's name.
    pub deployment: String,
    /// The registry container (default: the first).
    pub container: Option<String>,
    /// The collector's command in the registry image.
    pub collector_command: Vec<String>,
    /// How long a rollout may take.
    pub rollout_timeout: Duration,
}

impl std::fmt::Debug for KubernetesSwitch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesSwitch")
            .field("deployment", &self.deployment)
            .finish_non_exhaustive()
    }
}

fn kube_err(what: String) -> impl FnOnce(kube::Error) -> Error {
    move |source| Error::Kubernetes { what, source }
}

impl KubernetesSwitch {
    /// Switches Deployment `deployment` in `namespace`; the collector runs
    /// `registry garbage-collect /etc/docker/registry/config.yml` (the official image's
    /// binary and config path) unless `collector_command` is changed.
    pub fn new(client: kube::Client, namespace: &str, deployment: &str) -> Self {
        Self {
            deployments: Api::namespaced(client.clone(), namespace),
            jobs: Api::namespaced(client, namespace),
            deployment: deployment.to_owned(),
            container: None,
            collector_command: [
                "registry",
                "garbage-collect",
                "/etc/docker/registry/config.yml",
            ]
            .map(str::to_owned)
            .to_vec(),
            rollout_timeout: Duration::from_secs(300),
        }
    }

    async fn get(&self) -> Result<Deployment> {
        self.deployments
            .get(&self.deployment)
            .await
            .map_err(kube_err(format!("reading Deployment {}", self.deployment)))
    }

    async fn set_read_only_env(&self, read_only: bool) -> Result<()> {
        let mut d = self.get().await?;
        let value = format!("{{\"enabled\":{read_only}}}");
        let containers = d
            .spec
            .as_mut()
            .and_then(|s| s.template.spec.as_mut())
            .map(|s| &mut s.containers)
            .ok_or_else(|| {
                Error::config(
                    "deployment",
                    format!("Deployment {} has no pod template", self.deployment),
                )
            })?;
        let c = match &self.container {
            Some(name) => containers.iter_mut().find(|c| &c.name == name),
            None => containers.first_mut(),
        }
        .ok_or_else(|| {
            Error::config(
                "container",
                format!("Deployment {} has no such container", self.deployment),
            )
        })?;
        let env = c.env.get_or_insert_with(Vec::new);
        env.retain(|e| e.name != READONLY_ENV);
        env.push(EnvVar {
            name: READONLY_ENV.to_owned(),
            value: Some(value),
            value_from: None,
        });
        self.deployments
            .replace(&self.deployment, &PostParams::default(), &d)
            .await
            .map_err(kube_err(format!("patching Deployment {}", self.deployment)))?;
        self.wait_rollout().await
    }

    /// Waits until the Deployment's controller has seen the change and every replica runs it.
    async fn wait_rollout(&self) -> Result<()> {
        let start = Instant::now();
        loop {
            let d = self.get().await?;
            let generation = d.metadata.generation.unwrap_or(0);
            let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let done = d.status.as_ref().is_some_and(|s| {
                s.observed_generation.unwrap_or(0) >= generation
                    && s.updated_replicas.unwrap_or(0) >= wanted
                    && s.available_replicas.unwrap_or(0) >= wanted
                    && s.replicas.unwrap_or(0) <= s.updated_replicas.unwrap_or(0)
            });
            if done {
                return Ok(());
            }
            if start.elapsed() > self.rollout_timeout {
                return Err(Error::State {
                    expected: "rolled out",
                    message: format!(
                        "Deployment {} did not finish its rollout within {} s",
                        self.deployment,
                        self.rollout_timeout.as_secs()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[async_trait]
impl Switch for KubernetesSwitch {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    async fn set_read_only(&self) -> Result<()> {
        self.set_read_only_env(true).await
    }

    async fn set_read_write(&self) -> Result<()> {
        self.set_read_only_env(false).await
    }

    async fn collect(&self, deadline: Duration) -> Result<CollectorRun> {
        check_collector_args(&self.collector_command, None)?;
        let d = self.get().await?;
        let mut template = d.spec.map(|s| s.template).ok_or_else(|| {
            Error::config(
                "deployment",
                format!("Deployment {} has no pod template", self.deployment),
            )
        })?;
        let spec = template
            .spec
            .as_mut()
            .ok_or_else(|| Error::config("deployment", "a pod template without a spec"))?;
        let index = match &self.container {
            Some(name) => spec
                .containers
                .iter()
                .position(|c| &c.name == name)
                .unwrap_or(0),
            None => 0,
        };
        let mut container = spec
            .containers
            .get(index)
            .cloned()
            .ok_or_else(|| Error::config("container", "the pod template has no container"))?;
        container.command = Some(self.collector_command.clone());
        container.args = None;
        container.ports = None;
        container.liveness_probe = None;
        container.readiness_probe = None;
        container.startup_probe = None;
        spec.containers = vec![container];
        spec.restart_policy = Some("Never".into());
        let name = format!(
            "{}-gc-{}",
            self.deployment,
            jiff::Timestamp::now().as_second()
        );
        let job = Job {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(
                    [(
                        "app.kubernetes.io/managed-by".to_owned(),
                        "dns01-registry-janitor".to_owned(),
                    )]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            spec: Some(JobSpec {
                template,
                backoff_limit: Some(0),
                active_deadline_seconds: Some(
                    i64::try_from(deadline.as_secs()).unwrap_or(i64::MAX).max(1),
                ),
                ttl_seconds_after_finished: Some(3600),
                ..JobSpec::default()
            }),
            status: None,
        };
        let start = Instant::now();
        self.jobs
            .create(&PostParams::default(), &job)
            .await
            .map_err(kube_err(format!("creating collector Job {name}")))?;
        loop {
            let j = self
                .jobs
                .get(&name)
                .await
                .map_err(kube_err(format!("reading Job {name}")))?;
            let status = j.status.unwrap_or_default();
            if status.succeeded.unwrap_or(0) > 0 {
                return Ok(CollectorRun {
                    elapsed: start.elapsed(),
                    ..CollectorRun::default()
                });
            }
            if status.failed.unwrap_or(0) > 0 {
                return Err(Error::Command {
                    what: format!("collector Job {name}"),
                    message: "failed; see its Pod's log".into(),
                });
            }
            if start.elapsed() > deadline {
                let dp = DeleteParams {
                    propagation_policy: Some(PropagationPolicy::Background),
                    ..DeleteParams::default()
                };
                let _ = self.jobs.delete(&name, &dp).await;
                return Err(Error::Deadline { deadline });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn storage_root(&self) -> Option<PathBuf> {
        None
    }
}
