//! Retention with workloads read from a (fake) Kubernetes API: Pods by digest and by tag,
//! a CronJob template, a Deployment using a multi-platform index.

use std::process::Command;

use dns01_registry::{Client, Digest, Reference, Repository};
use dns01_testkit::kubefake::{KubeFake, ResourceKind};
use dns01_testkit::registry::{OciLayout, Registry, RegistryConfig, layer_bytes};
use serde_json::json;

fn pod(
    ns: &str,
    name: &str,
    image: &str,
    phase: &str,
    image_id: Option<&str>,
) -> serde_json::Value {
    let mut status = json!({"phase": phase});
    if let Some(id) = image_id {
        status["containerStatuses"] = json!([{
            "name": "main", "image": image, "imageID": id, "ready": true, "restartCount": 0,
        }]);
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"namespace": ns, "name": name},
        "spec": {"containers": [{"name": "main", "image": image}]},
        "status": status,
    })
}

fn template(image: &str) -> serde_json::Value {
    json!({"metadata": {}, "spec": {"containers": [{"name": "main", "image": image}]}})
}

// The fake API runs on this runtime while the janitor binary runs: more than one thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_of_running_and_scheduled_workloads_survive_and_plan_names_them() {
    let registry = Registry::start(RegistryConfig::default()).unwrap();
    let host = registry.host();
    let layout = OciLayout::new().unwrap();
    for (i, tag) in [
        "run-digest",
        "run-tag",
        "done",
        "unused",
        "nightly",
        "amd64",
        "arm64",
    ]
    .iter()
    .enumerate()
    {
        layout
            .image(tag, "linux/amd64", &[layer_bytes(256, 200 + i as u64)])
            .unwrap();
    }
    layout
        .index(
            "multi",
            &[("amd64", "linux/amd64"), ("arm64", "linux/arm64")],
        )
        .unwrap();
    for tag in ["run-digest", "run-tag", "done", "unused"] {
        layout
            .push(tag, &format!("{host}/proj-a/app:{tag}"), None)
            .unwrap();
    }
    layout
        .push("nightly", &format!("{host}/proj-a/cron:nightly"), None)
        .unwrap();
    layout
        .push("multi", &format!("{host}/proj-a/multi:v1"), None)
        .unwrap();
    let digest = |t: &str| layout.digest(t).unwrap();

    let fake = KubeFake::start().await;
    let pods = ResourceKind::new("v1", "pods");
    // Running, started by digest: its spec and its imageID name the digest.
    let by_digest = format!("{host}/proj-a/app@{}", digest("run-digest"));
    fake.put(
        &pods,
        pod(
            "shop",
            "api-0",
            &by_digest,
            "Running",
            Some(&format!("docker-pullable://{by_digest}")),
        ),
    );
    // Scheduled, not pulled yet: only the tag.
    fake.put(
        &pods,
        pod(
            "shop",
            "web-5c7d",
            &format!("{host}/proj-a/app:run-tag"),
            "Pending",
            None,
        ),
    );
    // Finished: protects nothing.
    fake.put(
        &pods,
        pod(
            "batch",
            "once-x1",
            &format!("{host}/proj-a/app:done"),
            "Succeeded",
            None,
        ),
    );
    fake.put(
        &ResourceKind::new("batch/v1", "cronjobs"),
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"namespace": "ops", "name": "nightly-report"},
               "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template(&format!("{host}/proj-a/cron:nightly"))}}}}),
    );
    fake.put(
        &ResourceKind::new("apps/v1", "deployments"),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"namespace": "shop", "name": "worker"},
               "spec": {"selector": {"matchLabels": {"app": "worker"}}, "template": template(&format!("{host}/proj-a/multi:v1"))}}),
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.yml"),
        "defaults: {delete_tags_older_than: 0s, delete_untagged_older_than: 0s}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("kubeconfig"),
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: fake, cluster: {{server: '{}'}}}}]\n\
             users: [{{name: janitor, user: {{token: unused}}}}]\n\
             contexts: [{{name: fake, context: {{cluster: fake, user: janitor}}}}]\ncurrent-context: fake\n",
            fake.url()
        ),
    )
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let run = |sub: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_dns01-registry-janitor"))
            .env("KUBECONFIG", dir.path().join("kubeconfig"))
            .args([sub, "--kubernetes", "--registry"])
            .arg(registry.url())
            .arg("--policy")
            .arg(dir.path().join("policy.yml"))
            .arg("--storage")
            .arg(registry.storage_dir())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let plan = run("plan");
    let line = |d: &str| {
        plan.lines()
            .find(|l| l.contains(d))
            .unwrap_or_else(|| panic!("{d} not in the plan:\n{plan}"))
            .to_owned()
    };
    for (tag, who) in [
        ("run-digest", "shop/Pod/api-0"),
        ("run-tag", "shop/Pod/web-5c7d"),
        ("nightly", "ops/CronJob/nightly-report"),
        ("multi", "shop/Deployment/worker"),
        ("amd64", "shop/Deployment/worker"),
        ("arm64", "shop/Deployment/worker"),
    ] {
        let l = line(&digest(tag));
        assert!(l.starts_with("keep") && l.contains(who), "{tag}: {l}");
    }
    for tag in ["done", "unused"] {
        assert!(line(&digest(tag)).starts_with("DELETE"), "{plan}");
    }

    run("apply");
    let client = Client::builder(&registry.url()).build().unwrap();
    let exists = |repo: &'static str, d: String| {
        let client = &client;
        async move {
            client
                .manifest_head(
                    &Repository::parse(repo).unwrap(),
                    &Reference::Digest(Digest::parse(&d).unwrap()),
                )
                .await
                .is_ok()
        }
    };
    for tag in ["run-digest", "run-tag"] {
        assert!(exists("proj-a/app", digest(tag)).await, "{tag} deleted");
    }
    for tag in ["done", "unused"] {
        assert!(!exists("proj-a/app", digest(tag)).await, "{tag} kept");
    }
    assert!(exists("proj-a/cron", digest("nightly")).await);
    for tag in ["multi", "amd64", "arm64"] {
        assert!(exists("proj-a/multi", digest(tag)).await, "{tag} deleted");
    }
}
