//! [`KubernetesSwitch`]: the registry runs as a Deployment. Read-only is the container's
//! `REGISTRY_STORAGE_MAINTENANCE_READONLY` environment variable (`{"enabled":true}`, which
//! Distribution 2.8 reads as the `storage.maintenance.readonly` map; a
//! `..._READONLY_ENABLED=true` variable instead makes 2.8 fail to start), set on the pod
//! template, then the rollout is awaited. The collector runs as a Job from the registry's
//! own pod template (image, volumes, config), with an active deadline; its Pod's log gives the
//! counts (blobs and manifests deleted) and, on failure, the error. The Job mounts the
//! registry's volume a second time: it needs `ReadWriteMany`, or `ReadWriteOnce` with the
//! Job on the registry's node. A collector Pod that cannot start (still Pending after the
//! rollout timeout: typically a volume another node holds) fails the collection at once,
//! which closes the window.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{EnvVar, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams, PropagationPolicy};

use super::{CollectorRun, Switch, check_collector_args, parse_collector_counts};
use crate::error::{Error, Result};

/// The environment variable Distribution maps onto `storage.maintenance.readonly`.
pub const READONLY_ENV: &str = "REGISTRY_STORAGE_MAINTENANCE_READONLY";

/// Switches a registry Deployment and runs its collector as a Job.
#[derive(Clone)]
pub struct KubernetesSwitch {
    deployments: Api<Deployment>,
    jobs: Api<Job>,
    pods: Api<Pod>,
    /// The registry Deployment's name.
    pub deployment: String,
    /// The registry container (default: the first).
    pub container: Option<String>,
    /// The collector's command in the registry image.
    pub collector_command: Vec<String>,
    /// How long a rollout may take, and how long the collector's Pod may take to start.
    pub rollout_timeout: Duration,
    /// The registry's storage root as mounted in the janitor's own Pod, when it mounts the
    /// volume too: empty repositories are then pruned and bytes freed counted.
    pub storage: Option<PathBuf>,
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
            jobs: Api::namespaced(client.clone(), namespace),
            pods: Api::namespaced(client, namespace),
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
            storage: None,
        }
    }

    /// The Pods of Job `job` (the label the Job controller sets), newest first.
    async fn job_pods(&self, job: &str) -> Result<Vec<Pod>> {
        let mut pods = self
            .pods
            .list(&ListParams::default().labels(&format!("job-name={job}")))
            .await
            .map_err(kube_err(format!("listing the Pods of Job {job}")))?
            .items;
        pods.sort_by(|a, b| {
            b.metadata
                .creation_timestamp
                .cmp(&a.metadata.creation_timestamp)
        });
        Ok(pods)
    }

    /// The log of Job `job`'s newest Pod, when it can be read.
    async fn job_log(&self, job: &str) -> Result<String> {
        let pods = self.job_pods(job).await?;
        let name = pods
            .first()
            .and_then(|p| p.metadata.name.clone())
            .ok_or_else(|| Error::Command {
                what: format!("collector Job {job}"),
                message: "it has no Pod to read the log of".into(),
            })?;
        self.pods
            .logs(&name, &LogParams::default())
            .await
            .map_err(kube_err(format!("reading the log of Pod {name}")))
    }

    /// Why Job `job`'s Pod has not started, if it is still Pending (or absent).
    async fn not_started(&self, job: &str) -> Result<Option<String>> {
        let pods = self.job_pods(job).await?;
        let Some(pod) = pods.first() else {
            return Ok(Some("no Pod was created".into()));
        };
        let status = pod.status.clone().unwrap_or_default();
        if status.phase.as_deref().unwrap_or("Pending") != "Pending" {
            return Ok(None);
        }
        let mut why: Vec<String> = status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.status == "False")
            .map(|c| {
                format!(
                    "{}: {}",
                    c.reason.unwrap_or(c.type_),
                    c.message.unwrap_or_default()
                )
            })
            .collect();
        why.extend(
            status
                .container_statuses
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| c.state?.waiting)
                .map(|w| {
                    format!(
                        "{}: {}",
                        w.reason.unwrap_or_default(),
                        w.message.unwrap_or_default()
                    )
                }),
        );
        Ok(Some(if why.is_empty() {
            "Pending".to_owned()
        } else {
            format!("Pending ({})", why.join("; "))
        }))
    }

    async fn delete_job(&self, name: &str) {
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        if let Err(e) = self.jobs.delete(name, &dp).await {
            tracing::warn!(error = %e, "deleting collector Job {name}");
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
        let mut started = false;
        loop {
            let j = self
                .jobs
                .get(&name)
                .await
                .map_err(kube_err(format!("reading Job {name}")))?;
            let status = j.status.unwrap_or_default();
            if status.succeeded.unwrap_or(0) > 0 {
                let output = match self.job_log(&name).await {
                    Ok(log) => log,
                    Err(e) => {
                        tracing::warn!(error = %crate::gc::chain(&e), "the collector's counts are unknown");
                        String::new()
                    }
                };
                let (blobs_deleted, manifests_deleted) = parse_collector_counts(&output);
                return Ok(CollectorRun {
                    elapsed: start.elapsed(),
                    blobs_deleted,
                    manifests_deleted,
                    output: tail(output),
                });
            }
            if status.failed.unwrap_or(0) > 0 {
                let log = self
                    .job_log(&name)
                    .await
                    .unwrap_or_else(|e| format!("(no log: {})", crate::gc::chain(&e)));
                return Err(Error::Command {
                    what: format!("collector Job {name}"),
                    message: format!("failed:\n{}", tail(log)),
                });
            }
            if start.elapsed() > deadline {
                self.delete_job(&name).await;
                return Err(Error::Deadline { deadline });
            }
            if !started && start.elapsed() > self.rollout_timeout {
                match self.not_started(&name).await? {
                    None => started = true,
                    Some(why) => {
                        self.delete_job(&name).await;
                        return Err(Error::Command {
                            what: format!("collector Job {name}"),
                            message: format!(
                                "its Pod did not start within {} s: {why}. The Job mounts the \
                                 registry's volume a second time: it needs ReadWriteMany, or \
                                 ReadWriteOnce with the Job on the registry's node",
                                self.rollout_timeout.as_secs()
                            ),
                        });
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn longest_switch(&self) -> Duration {
        // The rollout, plus the API calls around it.
        self.rollout_timeout + Duration::from_secs(30)
    }

    fn storage_root(&self) -> Option<PathBuf> {
        self.storage.clone()
    }
}

/// The last 64 KiB of a log.
fn tail(mut text: String) -> String {
    const KEEP: usize = 64 * 1024;
    if text.len() > KEEP {
        let mut cut = text.len() - KEEP;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text = text.split_off(cut);
    }
    text
}
