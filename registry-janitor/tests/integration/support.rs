//! A registry handed over to the janitor's [`ProcessSwitch`], and images in it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dns01_registry::{Client, Digest, Reference, Repository};
use dns01_registry_janitor::{
    FileJournal, FileLock, Gc, GcOptions, ProcessSwitch, Switch, WriteProbe, Writes,
};
use dns01_testkit::registry::{OciLayout, Registry, RegistryConfig, binary, layer_bytes};

/// A registry whose process the janitor supervises: testkit wrote its configuration and
/// storage, then stopped; [`ProcessSwitch`] runs it from there. Killed on drop.
pub(crate) struct Served {
    pub(crate) registry: Registry,
    pub(crate) state: tempfile::TempDir,
    pub(crate) switch: Arc<ProcessSwitch>,
    pub(crate) client: Client,
}

impl Served {
    /// Hands `registry` (stopped here) to a ProcessSwitch running `bin` (default: the real
    /// docker-registry).
    pub(crate) async fn new(mut registry: Registry, bin: Option<PathBuf>) -> Self {
        registry.stop().unwrap();
        let state = tempfile::tempdir().unwrap();
        let switch = Arc::new(Self::switch_for(&registry, state.path(), bin));
        switch.start().await.unwrap();
        let client = Client::builder(&registry.url()).build().unwrap();
        Self {
            registry,
            state,
            switch,
            client,
        }
    }

    pub(crate) fn switch_for(
        registry: &Registry,
        state: &Path,
        bin: Option<PathBuf>,
    ) -> ProcessSwitch {
        ProcessSwitch::new(
            bin.unwrap_or_else(|| binary("docker-registry").unwrap()),
            registry.config_path(),
            state.join("registry.pid"),
            state.join("registry.log"),
            vec![],
        )
    }

    pub(crate) fn gc(&self, switch: Arc<dyn Switch>) -> Gc {
        Gc {
            switch,
            lock: Arc::new(FileLock::new(self.state.path().join("janitor.lock"))),
            journal: Arc::new(FileJournal::new(self.record_path())),
            probe: self.probe(),
            options: GcOptions {
                collector_deadline: Duration::from_secs(20),
                prune: true,
            },
        }
    }

    pub(crate) fn record_path(&self) -> PathBuf {
        self.state.path().join("readonly-record.json")
    }

    pub(crate) fn probe(&self) -> WriteProbe {
        WriteProbe::new(&self.registry.url(), Duration::from_secs(10)).unwrap()
    }

    pub(crate) async fn writes(&self) -> Writes {
        self.probe().once().await.unwrap()
    }

    pub(crate) fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.encoded();
        self.registry
            .storage_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    pub(crate) async fn catalog(&self) -> Vec<String> {
        self.client
            .catalog(None)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.to_string())
            .collect()
    }

    pub(crate) async fn digest_of(&self, repo: &str, tag: &str) -> Digest {
        self.client
            .manifest_head(
                &Repository::parse(repo).unwrap(),
                &Reference::parse(tag).unwrap(),
            )
            .await
            .unwrap()
            .digest
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.state.path().join("registry.pid")) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", pid.trim()])
                .status();
        }
    }
}

/// The images every gc test starts with, by name.
pub(crate) struct Images {
    pub(crate) layout: OciLayout,
}

impl Images {
    /// proj-a/app:v1 (one layer shared with v2), proj-a/app:v2, proj-a/multi:v1 (index of
    /// amd64 + arm64), proj-b/old:v1.
    pub(crate) fn build() -> Self {
        let layout = OciLayout::new().unwrap();
        let shared = layer_bytes(4096, 1);
        layout
            .image("v1", "linux/amd64", &[shared.clone(), layer_bytes(2048, 2)])
            .unwrap();
        layout
            .image("v2", "linux/amd64", &[shared, layer_bytes(3000, 3)])
            .unwrap();
        layout
            .image("amd64", "linux/amd64", &[layer_bytes(1500, 4)])
            .unwrap();
        layout
            .image("arm64", "linux/arm64", &[layer_bytes(1600, 5)])
            .unwrap();
        layout
            .index(
                "multi",
                &[("amd64", "linux/amd64"), ("arm64", "linux/arm64/v8")],
            )
            .unwrap();
        layout
            .image("old", "linux/amd64", &[layer_bytes(5000, 6)])
            .unwrap();
        Self { layout }
    }

    pub(crate) fn push_all(&self, host: &str) {
        self.layout
            .push("v1", &format!("{host}/proj-a/app:v1"), None)
            .unwrap();
        self.layout
            .push("v2", &format!("{host}/proj-a/app:v2"), None)
            .unwrap();
        self.layout
            .push("multi", &format!("{host}/proj-a/multi:v1"), None)
            .unwrap();
        self.layout
            .push("old", &format!("{host}/proj-b/old:v1"), None)
            .unwrap();
    }
}

/// A started registry with [`Images`] pushed, handed to the janitor.
pub(crate) async fn served_with_images(bin: Option<PathBuf>) -> (Served, Images) {
    let registry = Registry::start(RegistryConfig::default()).unwrap();
    let images = Images::build();
    images.push_all(&registry.host());
    (Served::new(registry, bin).await, images)
}

/// A `docker-registry` wrapper whose `garbage-collect` runs `collector` (shell) instead;
/// `serve` is the real one (exec'd, so the pid is the registry's).
pub(crate) fn faulty_registry_bin(dir: &Path, collector: &str) -> PathBuf {
    let real = binary("docker-registry").unwrap();
    let path = dir.join("docker-registry-faulty");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nif [ \"$1\" = garbage-collect ]; then {collector}; fi\nexec {} \"$@\"\n",
            real.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&path)
        .status()
        .unwrap();
    path
}
