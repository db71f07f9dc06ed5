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
