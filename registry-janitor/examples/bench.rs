//! The janitor's two benchmark targets, on a local CNCF Distribution 2.8:
//!
//! 1. `plan` over 100 repositories × 100 tags (target: under 2 s): the images are written
//!    through the API (one config and one layer blob per repository, 100 manifests told apart
//!    by an annotation), then the inventory is read and the plan computed, timed together.
//! 2. The read-only window's length against the bare collector's run on the same storage
//!    (target: window at most the collector's time plus 2 s).
//!
//! ```sh
//! cargo run --release -p dns01-registry-janitor --example bench [REPOS] [TAGS]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dns01_registry::{Client, Reference, Repository, Tag};
use dns01_registry_janitor::{
    FileJournal, FileLock, Gc, GcOptions, Policy, ProcessSwitch, WriteProbe, inventory, plan,
};
use dns01_testkit::registry::{Registry, RegistryConfig, binary, layer_bytes};
use futures::{StreamExt as _, TryStreamExt as _};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let repos: usize = args.next().map_or(Ok(100), |a| a.parse())?;
    let tags: usize = args.next().map_or(Ok(100), |a| a.parse())?;
    let mut registry = Registry::start(RegistryConfig::default())?;
    let client = Arc::new(Client::builder(&registry.url()).build()?);

    let start = Instant::now();
    futures::stream::iter(0..repos)
        .map(|r| {
            let client = client.clone();
            async move {
                let repo = Repository::parse(&format!("proj-{}/app-{r}", r % 10))?;
                let config = Bytes::from(format!(
                    r#"{{"architecture":"amd64","os":"linux","created":"2026-01-01T00:00:00Z","rootfs":{{"type":"layers","diff_ids":[]}},"n":{r}}}"#
                ));
                let config_len = config.len();
                let config_digest = client.blob_upload(&repo, config).await?;
                let layer = Bytes::from(layer_bytes(1024, r as u64));
                let layer_digest = client.blob_upload(&repo, layer).await?;
                futures::stream::iter(0..tags)
                    .map(|t| {
                        let (client, repo) = (client.clone(), repo.clone());
                        let body = serde_json::json!({
                            "schemaVersion": 2,
                            "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_len},
                            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": 1024}],
                            "annotations": {"n": t.to_string()},
                        });
                        async move {
                            let tag = Reference::Tag(Tag::parse(&format!("t{t}"))?);
                            client
                                .manifest_put(&repo, &tag, "application/vnd.oci.image.manifest.v1+json", Bytes::from(serde_json::to_vec(&body)?))
                                .await?;
                            anyhow::Ok(())
                        }
                    })
                    .buffer_unordered(8)
                    .try_collect::<()>()
                    .await
            }
        })
        .buffer_unordered(4)
        .try_collect::<()>()
        .await?;
    println!(
        "setup: {repos} repositories x {tags} tags written in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    let policy = Policy::from_yaml("defaults: {keep_newest: 10, delete_untagged_older_than: 7d}")?;
    let start = Instant::now();
    let inv = inventory::read(&client, None, Some(&registry.storage_dir())).await?;
    let read = start.elapsed();
    let p = plan(
        &inv,
        &policy,
        &[],
        &[registry.host()],
        jiff::Timestamp::now(),
    );
    let total = start.elapsed();
    println!(
        "plan: {} items, {} to delete; inventory {:.2} s, plan {:.3} s, total {:.2} s (target < 2 s)",
        p.items.len(),
        p.deletions().count(),
        read.as_secs_f64(),
        (total - read).as_secs_f64(),
        total.as_secs_f64()
    );

    // Bare collector on this storage, the registry stopped.
    registry.stop()?;
    let start = Instant::now();
    let status = std::process::Command::new(binary("docker-registry")?)
        .arg("garbage-collect")
        .arg(registry.config_path())
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "the bare collector failed");
    let bare = start.elapsed();

    let state = tempfile::tempdir()?;
    let switch = Arc::new(ProcessSwitch::new(
        binary("docker-registry")?,
        registry.config_path(),
        state.path().join("registry.pid"),
        state.path().join("registry.log"),
        vec![],
    ));
    switch.start().await?;
    let gc = Gc {
        switch: switch.clone(),
        lock: Arc::new(FileLock::new(state.path().join("lock"))),
        journal: Arc::new(FileJournal::new(state.path().join("record.json"))),
        probe: WriteProbe::new(&registry.url(), Duration::from_secs(30))?,
        options: GcOptions {
            collector_deadline: Duration::from_secs(600),
            prune: true,
        },
    };
    let summary = gc.run("bench", std::future::pending()).await;
    switch.stop().await?;
    anyhow::ensure!(summary.error.is_none(), "gc failed: {summary:?}");
    println!(
        "window: {:.2} s, collector inside it {:.2} s, bare collector {:.2} s; window - bare = {:.2} s (target <= 2 s)",
        summary.window_seconds,
        summary.collector_seconds,
        bare.as_secs_f64(),
        summary.window_seconds - bare.as_secs_f64()
    );
    Ok(())
}
