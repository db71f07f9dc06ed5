//! Who runs which image: the [`WorkloadSource`] trait, and [`StaticWorkloads`] (a list, from
//! a file or a test). Retention never deletes a digest a workload uses, its index's
//! children, or the indexes that contain it.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// A workload: namespace, kind and name (`default/Deployment/web`; a bare Pod is kind `Pod`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Workload {
    /// The namespace.
    pub namespace: String,
    /// `Pod`, `Deployment`, `StatefulSet`, `DaemonSet`, `Job`, `CronJob`.
    pub kind: String,
    /// The object's name.
    pub name: String,
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.kind, self.name)
    }
}

/// One image a workload uses, as written there: `host/repo:tag`, `host/repo@sha256:…`, or a
/// container runtime's `imageID` (`docker-pullable://host/repo@sha256:…`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ImageUse {
    /// The image reference.
    pub image: String,
    /// Who uses it.
    #[serde(flatten)]
    pub workload: Workload,
}

/// Lists the images that running or scheduled workloads use.
#[async_trait]
pub trait WorkloadSource: Send + Sync + fmt::Debug {
    /// Every image use, across namespaces.
    async fn uses(&self) -> Result<Vec<ImageUse>>;
}

/// A fixed list (a YAML file of `{image, namespace, kind, name}`, or tests).
#[derive(Debug, Clone, Default)]
pub struct StaticWorkloads(pub Vec<ImageUse>);

#[async_trait]
impl WorkloadSource for StaticWorkloads {
    async fn uses(&self) -> Result<Vec<ImageUse>> {
        Ok(self.0.clone())
    }
}
