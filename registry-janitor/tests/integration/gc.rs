//! The maintenance window with the `process` switch on a real Distribution 2.8.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use dns01_registry::{Digest, Error as RegistryError, Manifest, Reference, Repository};
use dns01_registry_janitor::switch::CollectorRun;
use dns01_registry_janitor::{ProcessSwitch, Switch, Writes};
use dns01_testkit::registry::{podman_pull, skopeo_pull};
use futures::StreamExt as _;

use crate::support::{Images, Served, faulty_registry_bin, served_with_images};

fn layer_digest(images: &Images, tag: &str, i: usize) -> Digest {
    let m: serde_json::Value = serde_json::from_slice(
        &images
            .layout
            .blob(&images.layout.digest(tag).unwrap())
            .unwrap(),
    )
    .unwrap();
    Digest::parse(m["layers"][i]["digest"].as_str().unwrap()).unwrap()
}

/// Pulls a tag and all its content (children of an index included) through the API.
async fn pull(
    client: &dns01_registry::Client,
    repo: &Repository,
    reference: Reference,
) -> Result<(), RegistryError> {
    let m = client.manifest_get(repo, &reference).await?;
    match m.parse()? {
        Manifest::Index(index) => {
            for child in index.children() {
                Box::pin(pull(client, repo, Reference::Digest(child.clone()))).await?;
            }
        }
        Manifest::Image(image) => {
            for blob in image.blobs() {
                let mut stream = client.blob_get(repo, &blob.digest).await?;
                while let Some(chunk) = stream.next().await {
                    chunk?;
                }
            }
        }
    }
    Ok(())
}

/// A pull that retries a refused or broken connection for up to 3 s, as podman retries
/// network errors: the `process` switch restarts the registry (~70 ms without a listener).
async fn pull_retrying(
    client: &dns01_registry::Client,
    repo: &Repository,
    tag: &str,
) -> Result<(), RegistryError> {
    let start = Instant::now();
    loop {
        match pull(client, repo, Reference::parse(tag).unwrap()).await {
            Err(RegistryError::Unreachable { .. } | RegistryError::Interrupted { .. })
                if start.elapsed() < Duration::from_secs(3) =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

async fn assert_all_tags_answer(served: &Served) {
    for (repo, tag) in [
        ("proj-a/app", "v1"),
        ("proj-a/app", "v2"),
        ("proj-a/multi", "v1"),
        ("proj-b/old", "v1"),
    ] {
        pull(
            &served.client,
            &Repository::parse(repo).unwrap(),
            Reference::parse(tag).unwrap(),
        )
        .await
        .unwrap_or_else(|e| panic!("{repo}:{tag} no longer pulls: {e}"));
    }
}

async fn assert_read_write_and_no_record(served: &Served) {
    assert_eq!(
        served.writes().await,
        Writes::Accepted,
        "the registry still refuses writes"
    );
    assert!(
        !served.switch.configured_read_only().unwrap(),
        "config still says read-only"
    );
    assert!(
        !served.record_path().exists(),
        "the read-only record was not cleared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_gc_frees_unreferenced_content_keeps_what_is_tagged_and_prunes_empty_repositories() {
    let (served, images) = served_with_images(None).await;
    let host = served.registry.host();
    // Untag what retention would delete: proj-b/old entirely, proj-a/app:v2.
    let old = served.digest_of("proj-b/old", "v1").await;
    let v2 = served.digest_of("proj-a/app", "v2").await;
    let client = &served.client;
    client
        .manifest_delete(
            &Repository::parse("proj-b/old").unwrap(),
            &Reference::Digest(old),
        )
        .await
        .unwrap();
    client
        .manifest_delete(
            &Repository::parse("proj-a/app").unwrap(),
            &Reference::Digest(v2),
        )
        .await
        .unwrap();
    let gone = [
        layer_digest(&images, "old", 0),
        layer_digest(&images, "v2", 1),
    ];
    let kept = [
        layer_digest(&images, "v1", 0),
        layer_digest(&images, "v1", 1),
        layer_digest(&images, "amd64", 0),
        layer_digest(&images, "arm64", 0),
    ];
    for d in gone.iter().chain(&kept) {
        assert!(served.blob_path(d).exists(), "{d} not on disk before gc");
    }

    // Pulls in a loop, and pushes that must meet the read-only answer, during the window.
    let stop = Arc::new(AtomicBool::new(false));
    let pulls = Arc::new(AtomicU64::new(0));
    let puller = {
        let (stop, pulls) = (stop.clone(), pulls.clone());
        let client = dns01_registry::Client::builder(&served.registry.url())
            .build()
            .unwrap();
        tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                for (repo, tag) in [("proj-a/app", "v1"), ("proj-a/multi", "v1")] {
                    if let Err(e) =
                        pull_retrying(&client, &Repository::parse(repo).unwrap(), tag).await
                    {
                        failures.push(format!("{repo}:{tag}: {e}"));
                    }
                    pulls.fetch_add(1, Ordering::Relaxed);
                }
            }
            failures
        })
    };
    let pusher = {
        let stop = stop.clone();
        let client = dns01_registry::Client::builder(&served.registry.url())
            .build()
            .unwrap();
        tokio::spawn(async move {
            let repo = Repository::parse("proj-c/pushed").unwrap();
            while !stop.load(Ordering::Relaxed) {
                if let Err(RegistryError::ReadOnly { .. }) = client
                    .blob_upload(&repo, Bytes::from_static(b"during the window"))
                    .await
                {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            false
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let summary = served
        .gc(served.switch.clone())
        .run("run-full", std::future::pending())
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    let failures = puller.await.unwrap();
    assert!(
        pusher.await.unwrap(),
        "no push met the read-only answer during the window"
    );

    assert_eq!(summary.error, None, "{summary:?}");
    assert!(!summary.left_read_only);
    assert!(summary.blobs_deleted >= 4, "{summary:?}"); // two layers, their configs
    assert!(summary.bytes_freed >= 5000 + 3000, "{summary:?}");
    assert!(
        summary
            .repositories_pruned
            .contains(&"proj-b/old".to_owned()),
        "{summary:?}"
    );
    assert!(
        failures.is_empty(),
        "pulls failed during the window: {failures:?}"
    );
    assert!(
        pulls.load(Ordering::Relaxed) >= 4,
        "too few pulls to show anything"
    );
    for d in &gone {
        assert!(!served.blob_path(d).exists(), "{d} still on disk after gc");
    }
    for d in &kept {
        assert!(served.blob_path(d).exists(), "{d} deleted by gc");
    }
    let catalog = served.catalog().await;
    assert!(!catalog.contains(&"proj-b/old".to_owned()), "{catalog:?}");
    assert!(
        catalog.contains(&"proj-a/app".to_owned()) && catalog.contains(&"proj-a/multi".to_owned()),
        "{catalog:?}"
    );
    assert_read_write_and_no_record(&served).await;

    // Kept images pull with skopeo (the whole index) and podman (both platforms).
    skopeo_pull(&format!("{host}/proj-a/multi:v1"), true).unwrap();
    skopeo_pull(&format!("{host}/proj-a/app:v1"), false).unwrap();
    for arch in ["amd64", "arm64"] {
        let p = podman_pull(&format!("{host}/proj-a/multi:v1"), Some(arch), None).unwrap();
        assert_eq!(
            p.architecture(&format!("{host}/proj-a/multi:v1")).unwrap(),
            arch
        );
    }
    // And pushes are accepted again.
    images
        .layout
        .push("v2", &format!("{host}/proj-a/app:v2-again"), None)
        .unwrap();
}

#[tokio::test]
async fn a_collector_that_fails_ends_the_window_and_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let bin = faulty_registry_bin(dir.path(), "echo collector-exploded >&2; exit 1");
    let (served, _images) = served_with_images(Some(bin)).await;
    let summary = served
        .gc(served.switch.clone())
        .run("run-fail", std::future::pending())
        .await;
    let error = summary.error.clone().unwrap_or_default();
    assert!(error.contains("collector-exploded"), "{summary:?}");
    assert!(!summary.left_read_only);
    assert_read_write_and_no_record(&served).await;
    assert_all_tags_answer(&served).await;
}

#[tokio::test]
async fn a_collector_past_its_deadline_is_killed_and_the_window_ends() {
    let dir = tempfile::tempdir().unwrap();
    let bin = faulty_registry_bin(dir.path(), "exec sleep 30");
    let (served, _images) = served_with_images(Some(bin)).await;
    let mut gc = served.gc(served.switch.clone());
    gc.options.collector_deadline = Duration::from_millis(500);
    let start = Instant::now();
    let summary = gc.run("run-deadline", std::future::pending()).await;
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        summary
            .error
            .clone()
            .unwrap_or_default()
            .contains("deadline"),
        "{summary:?}"
    );
    assert_read_write_and_no_record(&served).await;
    assert_all_tags_answer(&served).await;
}

/// A switch whose collector panics (the rest is the real process switch).
#[derive(Debug)]
struct PanickingCollector(Arc<ProcessSwitch>);

#[async_trait]
impl Switch for PanickingCollector {
    fn name(&self) -> &'static str {
        "process"
    }
    async fn set_read_only(&self) -> dns01_registry_janitor::Result<()> {
        self.0.set_read_only().await
    }
    async fn set_read_write(&self) -> dns01_registry_janitor::Result<()> {
        self.0.set_read_write().await
    }
    async fn collect(&self, _deadline: Duration) -> dns01_registry_janitor::Result<CollectorRun> {
        panic!("collector bug")
    }
    fn longest_switch(&self) -> Duration {
        self.0.longest_switch()
    }
    fn storage_root(&self) -> Option<std::path::PathBuf> {
        self.0.storage_root()
    }
}

#[tokio::test]
async fn a_panic_inside_the_window_still_restores_read_write() {
    let (served, _images) = served_with_images(None).await;
    let gc = served.gc(Arc::new(PanickingCollector(served.switch.clone())));
    let summary = gc.run("run-panic", std::future::pending()).await;
    assert!(
        summary
            .error
            .clone()
            .unwrap_or_default()
            .contains("collector bug"),
        "{summary:?}"
    );
    assert_read_write_and_no_record(&served).await;
    assert_all_tags_answer(&served).await;
}

#[tokio::test]
async fn delete_untagged_is_refused_on_distribution_2_8_and_the_index_stays_whole() {
    let (served, _images) = served_with_images(None).await;
    let switch = Arc::new(ProcessSwitch::new(
        dns01_testkit::registry::binary("docker-registry").unwrap(),
        served.registry.config_path(),
        served.state.path().join("registry.pid"),
        served.state.path().join("registry.log"),
        vec!["--delete-untagged".into()],
    ));
    let summary = served
        .gc(switch)
        .run("run-unsafe", std::future::pending())
        .await;
    let error = summary.error.clone().unwrap_or_default();
    assert!(
        error.contains("--delete-untagged") && error.contains("2.8"),
        "{error}"
    );
    assert_read_write_and_no_record(&served).await;
    assert_all_tags_answer(&served).await;
}

fn janitor(served: &Served, bin: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dns01-registry-janitor"));
    cmd.args([
        "gc",
        "--switch",
        "process",
        "--collector-deadline",
        "60s",
        "--probe-timeout",
        "10s",
        "--registry",
    ])
    .arg(served.registry.url())
    .arg("--state-dir")
    .arg(served.state.path())
    .arg("--registry-config")
    .arg(served.registry.config_path())
    .arg("--registry-bin")
    .arg(bin)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

/// Starts the janitor binary and waits until its window is open (record written, writes
/// refused).
async fn janitor_in_window(served: &Served, bin: &std::path::Path) -> std::process::Child {
    let mut child = janitor(served, bin).spawn().unwrap();
    let start = Instant::now();
    loop {
        if served.record_path().exists()
            && matches!(served.probe().once().await, Ok(Writes::Refused))
        {
            // The janitor's own probe has seen it too by now, and its collector is running.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return child;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the janitor exited before its window"
        );
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the window never opened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn kill(child: &std::process::Child, signal: &str) {
    assert!(
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap()
            .success()
    );
}

#[tokio::test]
async fn a_janitor_sigtermed_mid_window_restores_read_write_before_it_exits() {
    let dir = tempfile::tempdir().unwrap();
    let bin = faulty_registry_bin(dir.path(), "exec sleep 30");
    let (served, _images) = served_with_images(None).await;
    let child = janitor_in_window(&served, &bin).await;
    kill(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        summary["error"].as_str().unwrap().contains("SIGTERM"),
        "{summary}"
    );
    assert_eq!(summary["left_read_only"], false);
    assert_read_write_and_no_record(&served).await;
    assert_all_tags_answer(&served).await;
}

#[tokio::test]
async fn a_janitor_sigkilled_mid_window_is_undone_by_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let hanging = faulty_registry_bin(dir.path(), "exec sleep 30");
    let (served, _images) = served_with_images(None).await;
    let child = janitor_in_window(&served, &hanging).await;
    kill(&child, "KILL");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), None, "not killed");
    // Left read-only, with the record saying by whom.
    assert_eq!(served.writes().await, Writes::Refused);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(served.record_path()).unwrap()).unwrap();
    assert!(
        record["run_id"].as_str().unwrap().starts_with("gc-"),
        "{record}"
    );
    // And until when at the latest (what the gateway tells clients): the process switch
    // (3 × 20 s) and the probe (10 + 5 s) both ways, and the collector's 60 s deadline.
    let since: jiff::Timestamp = record["since"].as_str().unwrap().parse().unwrap();
    let until: jiff::Timestamp = record["until"]
        .as_str()
        .unwrap_or_else(|| panic!("no `until` in {record}"))
        .parse()
        .unwrap();
    let span = until.as_second() - since.as_second();
    assert!((210..=212).contains(&span), "{record}");

    let real = dns01_testkit::registry::binary("docker-registry").unwrap();
    let out = janitor(&served, &real).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        summary["restored_leftover"]["run_id"], record["run_id"],
        "{summary}"
    );
    assert_read_write_and_no_record(&served).await;
    assert_all_tags_answer(&served).await;
}

#[tokio::test]
async fn a_registry_left_read_only_gets_its_own_exit_status_and_an_error_line() {
    // A read-only registry that the operator's read-write command fails to switch back.
    let registry =
        dns01_testkit::registry::Registry::start(dns01_testkit::registry::RegistryConfig {
            read_only: true,
            ..Default::default()
        })
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dns01-registry-janitor"))
        .args([
            "gc",
            "--switch",
            "command",
            "--read-only-cmd",
            "true",
            "--read-write-cmd",
            "true",
        ])
        .args([
            "--collect-cmd",
            "true",
            "--probe-timeout",
            "1s",
            "--registry",
        ])
        .arg(registry.url())
        .arg("--state-dir")
        .arg(state.path())
        .arg("--metrics-file")
        .arg(state.path().join("janitor.prom"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["left_read_only"], true, "{summary}");
    assert!(
        stderr.contains("ERROR") && stderr.contains("REGISTRY LEFT READ-ONLY"),
        "{stderr}"
    );
    let metrics = std::fs::read_to_string(state.path().join("janitor.prom")).unwrap();
    assert!(
        metrics.contains("dns01_registry_janitor_left_read_only 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dns01_registry_janitor_last_run_success 0"),
        "{metrics}"
    );
    // The record stays for the next run.
    assert!(state.path().join("readonly-record.json").exists());
}

#[tokio::test]
async fn gc_with_a_policy_deletes_by_policy_first_then_collects_and_prunes() {
    let (served, images) = served_with_images(None).await;
    let policy = served.state.path().join("policy.yml");
    std::fs::write(
        &policy,
        "repositories: {proj-b/old: {delete_tags_older_than: 0s}}\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let real = dns01_testkit::registry::binary("docker-registry").unwrap();
    let out = janitor(&served, &real)
        .arg("--policy")
        .arg(&policy)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["manifests_deleted"], 1, "{summary}");
    assert_eq!(
        summary["repositories_pruned"],
        serde_json::json!(["proj-b/old"]),
        "{summary}"
    );
    assert!(!served.blob_path(&layer_digest(&images, "old", 0)).exists());
    assert!(served.blob_path(&layer_digest(&images, "v1", 0)).exists());
    assert!(!served.catalog().await.contains(&"proj-b/old".to_owned()));
    assert_read_write_and_no_record(&served).await;
}
