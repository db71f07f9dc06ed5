//! Cluster mode's lock and record on a Lease, against the fake Kubernetes API.

use std::sync::Arc;
use std::time::Duration;

use dns01_registry_janitor::lease::RECORD_ANNOTATION;
use dns01_registry_janitor::{Error, Journal as _, LeaseJournal, LeaseLock, Lock as _, Record};
use dns01_testkit::kubefake::{KubeFake, ResourceKind};
use serde_json::json;

use crate::support::served_with_images;

async fn client(fake: &KubeFake) -> kube::Client {
    kube::Client::try_from(kube::Config::new(fake.url().as_str().parse().unwrap())).unwrap()
}

fn leases() -> ResourceKind {
    ResourceKind::new("coordination.k8s.io/v1", "leases")
}

#[tokio::test]
async fn one_janitor_holds_the_lease_until_it_releases_or_its_lease_expires() {
    let fake = KubeFake::start().await;
    let c = client(&fake).await;
    let a = LeaseLock::new(c.clone(), "registry", "janitor", Duration::from_secs(60));
    let b = LeaseLock::new(c.clone(), "registry", "janitor", Duration::from_secs(60));
    a.acquire("run-a").await.unwrap();
    let e = b.acquire("run-b").await.unwrap_err();
    assert!(
        matches!(&e, Error::Locked { holder, .. } if holder == "run-a"),
        "{e}"
    );
    a.release("run-a").await.unwrap();
    b.acquire("run-b").await.unwrap();
    assert_eq!(
        fake.object(&leases(), "registry", "janitor").unwrap()["spec"]["holderIdentity"],
        "run-b"
    );

    // A holder that stopped renewing an hour ago has lost the Lease.
    let hour_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    fake.merge(
        &leases(),
        "registry",
        "janitor",
        &json!({"spec": {"holderIdentity": "dead-run", "renewTime": hour_ago.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string(), "leaseDurationSeconds": 60}}),
    )
    .unwrap();
    a.acquire("run-c").await.unwrap();
    assert_eq!(
        fake.object(&leases(), "registry", "janitor").unwrap()["spec"]["holderIdentity"],
        "run-c"
    );
}

#[tokio::test]
async fn a_gc_run_keeps_its_lock_and_record_on_the_lease_and_leaves_both_cleared() {
    let fake = KubeFake::start().await;
    let c = client(&fake).await;
    let journal = LeaseJournal::new(c.clone(), "registry", "janitor");
    let lock = LeaseLock::new(c.clone(), "registry", "janitor", Duration::from_secs(60));
    // The record round-trips through the annotation.
    lock.acquire("probe").await.unwrap();
    let r = Record {
        run_id: "r0".into(),
        since: "2026-12-03T01:00:00Z".into(),
        switch: "process".into(),
        pid: 1,
        until: Some("2026-12-03T01:05:00Z".into()),
    };
    journal.write(&r).await.unwrap();
    assert_eq!(
        LeaseJournal::new(c.clone(), "registry", "janitor")
            .read()
            .await
            .unwrap(),
        Some(r)
    );
    journal.clear().await.unwrap();
    assert_eq!(journal.read().await.unwrap(), None);
    lock.release("probe").await.unwrap();

    let (served, _images) = served_with_images(None).await;
    let mut gc = served.gc(served.switch.clone());
    gc.lock = Arc::new(lock);
    gc.journal = Arc::new(journal);
    let summary = gc.run("run-lease", std::future::pending()).await;
    assert_eq!(summary.error, None, "{summary:?}");
    let lease = fake.object(&leases(), "registry", "janitor").unwrap();
    assert!(lease["spec"]["holderIdentity"].is_null(), "{lease}");
    assert!(
        lease["metadata"]["annotations"][RECORD_ANNOTATION].is_null(),
        "{lease}"
    );
}

// The fake API runs on this runtime while the janitor binary runs: more than one thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_undoes_a_window_recorded_on_the_lease_by_a_janitor_that_died() {
    let fake = KubeFake::start().await;
    let (served, _images) = served_with_images(None).await;
    // A janitor Pod died in its window: registry read-only, record on the Lease.
    dns01_registry_janitor::Switch::set_read_only(served.switch.as_ref())
        .await
        .unwrap();
    let c = client(&fake).await;
    LeaseLock::new(c.clone(), "registry", "janitor", Duration::from_secs(60))
        .acquire("dead")
        .await
        .unwrap();
    LeaseLock::new(c.clone(), "registry", "janitor", Duration::from_secs(60))
        .release("dead")
        .await
        .unwrap();
    let record = Record {
        run_id: "dead-run".into(),
        since: "2026-12-03T01:00:00Z".into(),
        switch: "process".into(),
        pid: 1,
        // A janitor from before `until` existed.
        until: None,
    };
    LeaseJournal::new(c, "registry", "janitor")
        .write(&record)
        .await
        .unwrap();

    let kubeconfig = served.state.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: fake, cluster: {{server: '{}'}}}}]\n\
             users: [{{name: janitor, user: {{token: unused}}}}]\n\
             contexts: [{{name: fake, context: {{cluster: fake, user: janitor}}}}]\ncurrent-context: fake\n",
            fake.url()
        ),
    )
    .unwrap();
    let out = tokio::task::spawn_blocking({
        let (url, state, config) = (
            served.registry.url(),
            served.state.path().to_owned(),
            served.registry.config_path(),
        );
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_dns01-registry-janitor"))
                .env("KUBECONFIG", &kubeconfig)
                .args([
                    "gc",
                    "--lease",
                    "registry/janitor",
                    "--probe-timeout",
                    "10s",
                    "--registry",
                    &url,
                ])
                .arg("--state-dir")
                .arg(state)
                .arg("--registry-config")
                .arg(config)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        summary["restored_leftover"]["run_id"], "dead-run",
        "{summary}"
    );
    assert_eq!(
        served.writes().await,
        dns01_registry_janitor::Writes::Accepted
    );
    let lease = fake.object(&leases(), "registry", "janitor").unwrap();
    assert!(
        lease["metadata"]["annotations"][RECORD_ANNOTATION].is_null(),
        "{lease}"
    );
}

fn lease_gc(
    served: &crate::support::Served,
    bin: std::path::PathBuf,
    client: &kube::Client,
    duration: Duration,
) -> dns01_registry_janitor::Gc {
    let switch = Arc::new(crate::support::Served::switch_for(
        &served.registry,
        served.state.path(),
        Some(bin),
    ));
    let mut gc = served.gc(switch);
    gc.options.collector_deadline = Duration::from_secs(40);
    gc.lock = Arc::new(LeaseLock::new(
        client.clone(),
        "registry",
        "janitor",
        duration,
    ));
    gc.journal = Arc::new(LeaseJournal::new(client.clone(), "registry", "janitor"));
    gc
}

async fn wait_for_window(served: &crate::support::Served) {
    let start = std::time::Instant::now();
    while !matches!(
        served.probe().once().await,
        Ok(dns01_registry_janitor::Writes::Refused)
    ) {
        assert!(start.elapsed() < Duration::from_secs(20), "no window");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_longer_than_the_lease_keeps_it_renewed() {
    let fake = KubeFake::start().await;
    let c = client(&fake).await;
    let (served, _images) = served_with_images(None).await;
    let dir = tempfile::tempdir().unwrap();
    // The collector runs 5 s, the Lease lasts 2 s.
    let slow = crate::support::faulty_registry_bin(dir.path(), "sleep 5");
    let gc = lease_gc(&served, slow, &c, Duration::from_secs(2));
    let run = tokio::spawn(async move { gc.run("run-long", std::future::pending()).await });
    wait_for_window(&served).await;
    // The record on the Lease says until when the window can last at the latest: switch
    // (3 × 20 s) and probe (10 + 5 s) both ways, and the collector's 40 s deadline.
    let lease = fake.object(&leases(), "registry", "janitor").unwrap();
    let text = lease["metadata"]["annotations"][RECORD_ANNOTATION]
        .as_str()
        .unwrap_or_else(|| panic!("no record on the Lease during the window: {lease}"));
    let record: Record = serde_json::from_str(text).unwrap();
    assert_eq!(record.run_id, "run-long");
    let since: jiff::Timestamp = record.since.parse().unwrap();
    let until = record.until_timestamp().expect("the record has no `until`");
    let span = until.as_second() - since.as_second();
    assert!((190..=192).contains(&span), "{record:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Past the Lease's duration since it was taken: still ours, renewed.
    let e = LeaseLock::new(c.clone(), "registry", "janitor", Duration::from_secs(2))
        .acquire("run-other")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Locked { holder, .. } if holder == "run-long"),
        "{e}"
    );
    let lease = fake.object(&leases(), "registry", "janitor").unwrap();
    assert_ne!(
        lease["spec"]["renewTime"], lease["spec"]["acquireTime"],
        "{lease}"
    );
    let summary = run.await.unwrap();
    assert_eq!(summary.error, None, "{summary:?}");
    assert!(summary.window_seconds > 5.0, "{summary:?}");
    let lease = fake.object(&leases(), "registry", "janitor").unwrap();
    assert!(lease["spec"]["holderIdentity"].is_null(), "{lease}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_ends_the_window_at_once_and_restores_read_write() {
    let fake = KubeFake::start().await;
    let c = client(&fake).await;
    let (served, _images) = served_with_images(None).await;
    let dir = tempfile::tempdir().unwrap();
    let hanging = crate::support::faulty_registry_bin(dir.path(), "exec sleep 30");
    let gc = lease_gc(&served, hanging, &c, Duration::from_secs(3));
    let run = tokio::spawn(async move { gc.run("run-lost", std::future::pending()).await });
    wait_for_window(&served).await;
    // Someone takes the Lease over (an operator, or a janitor that judged it expired).
    fake.merge(
        &leases(),
        "registry",
        "janitor",
        &json!({"spec": {"holderIdentity": "intruder"}}),
    )
    .unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(15), run)
        .await
        .expect("the window did not end when the Lease was lost")
        .unwrap();
    let error = summary.error.clone().unwrap_or_default();
    assert!(
        error.contains("lost the janitor lock") && error.contains("intruder"),
        "{summary:?}"
    );
    assert!(!summary.left_read_only, "{summary:?}");
    assert!(summary.window_seconds < 10.0, "{summary:?}");
    assert_eq!(
        served.writes().await,
        dns01_registry_janitor::Writes::Accepted
    );
    // The new holder keeps it: the janitor neither renews nor releases a Lease it lost.
    let lease = fake.object(&leases(), "registry", "janitor").unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "intruder", "{lease}");
    assert!(
        lease["metadata"]["annotations"][RECORD_ANNOTATION].is_null(),
        "{lease}"
    );
}
