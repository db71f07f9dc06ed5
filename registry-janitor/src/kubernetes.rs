//! [`KubernetesWorkloads`]: the images running and scheduled workloads use, read with kube-rs
//! across namespaces: Pods (each container's image and, once pulled, its `imageID` digest;
//! Pods that finished are skipped), and the pod templates of Deployments, StatefulSets,
//! DaemonSets, Jobs and CronJobs. Tags are resolved to digests by the plan, which protects
//! those digests, their index's children and the indexes that contain them.

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use kube::Resource;
use kube::api::{Api, ListParams};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::workload::{ImageUse, Workload, WorkloadSource};

/// Reads workloads from a Kubernetes API server.
#[derive(Clone)]
pub struct KubernetesWorkloads {
    client: kube::Client,
}

impl std::fmt::Debug for KubernetesWorkloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesWorkloads")
            .finish_non_exhaustive()
    }
}

impl KubernetesWorkloads {
    /// Reads through `client` (it needs `list` on pods, deployments, statefulsets, daemonsets,
    /// jobs and cronjobs in every namespace).
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }

    async fn list_all<K>(&self) -> Result<Vec<K>>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    {
        let api: Api<K> = Api::all(self.client.clone());
        let mut out = Vec::new();
        let mut params = ListParams::default().limit(500);
        loop {
            let page = api
                .list(&params)
                .await
                .map_err(|source| Error::Kubernetes {
                    what: format!("listing {}", K::plural(&())),
                    source,
                })?;
            let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
            out.extend(page.items);
            match next {
                Some(c) => params = params.continue_token(&c),
                None => return Ok(out),
            }
        }
    }
}

impl KubernetesWorkloads {
    /// The images of every `K`'s pod template.
    async fn templates<K>(
        &self,
        spec: fn(&K) -> Option<&PodSpec>,
        out: &mut Vec<ImageUse>,
    ) -> Result<()>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    {
        for obj in self.list_all::<K>().await? {
            if let Some(spec) = spec(&obj) {
                uses_of(&who(&obj), spec_images(spec), out);
            }
        }
        Ok(())
    }
}

fn spec_images(spec: &PodSpec) -> impl Iterator<Item = &str> {
    spec.containers
        .iter()
        .map(|c| c.image.as_deref())
        .chain(
            spec.init_containers
                .iter()
                .flatten()
                .map(|c| c.image.as_deref()),
        )
        .chain(
            spec.ephemeral_containers
                .iter()
                .flatten()
                .map(|c| c.image.as_deref()),
        )
        .flatten()
}

fn who<K: Resource<DynamicType = ()>>(obj: &K) -> Workload {
    Workload {
        namespace: obj.meta().namespace.clone().unwrap_or_default(),
        kind: K::kind(&()).into_owned(),
        name: obj.meta().name.clone().unwrap_or_default(),
    }
}

fn uses_of<'a>(
    workload: &Workload,
    images: impl Iterator<Item = &'a str>,
    out: &mut Vec<ImageUse>,
) {
    for image in images.filter(|i| !i.is_empty()) {
        out.push(ImageUse {
            image: image.to_owned(),
            workload: workload.clone(),
        });
    }
}

#[async_trait]
impl WorkloadSource for KubernetesWorkloads {
    async fn uses(&self) -> Result<Vec<ImageUse>> {
        let mut out = Vec::new();
        for pod in self.list_all::<Pod>().await? {
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            if matches!(phase, Some("Succeeded" | "Failed")) {
                continue;
            }
            let w = who(&pod);
            if let Some(spec) = &pod.spec {
                uses_of(&w, spec_images(spec), &mut out);
            }
            if let Some(status) = &pod.status {
                let statuses = status
                    .container_statuses
                    .iter()
                    .flatten()
                    .chain(status.init_container_statuses.iter().flatten());
                for s in statuses {
                    uses_of(
                        &w,
                        [s.image.as_str(), s.image_id.as_str()].into_iter(),
                        &mut out,
                    );
                }
            }
        }
        self.templates::<Deployment>(|o| o.spec.as_ref()?.template.spec.as_ref(), &mut out)
            .await?;
        self.templates::<StatefulSet>(|o| o.spec.as_ref()?.template.spec.as_ref(), &mut out)
            .await?;
        self.templates::<DaemonSet>(|o| o.spec.as_ref()?.template.spec.as_ref(), &mut out)
            .await?;
        self.templates::<Job>(|o| o.spec.as_ref()?.template.spec.as_ref(), &mut out)
            .await?;
        self.templates::<CronJob>(
            |o| {
                o.spec
                    .as_ref()?
                    .job_template
                    .spec
                    .as_ref()?
                    .template
                    .spec
                    .as_ref()
            },
            &mut out,
        )
        .await?;
        out.sort();
        out.dedup();
        tracing::debug!(uses = out.len(), "workload images");
        Ok(out)
    }
}
