//! The `kubernetes` switch against the fake API, with a stand-in kubelet: when the registry
//! Deployment's template changes it restarts a real Distribution with the read-only setting
//! the template's environment asks for, then reports the rollout; when a collector Job
//! appears it runs the real collector and reports the Job's result.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dns01_registry::{Reference, Repository};
use dns01_registry_janitor::switch::READONLY_ENV;
use dns01_registry_janitor::{
    KubernetesSwitch, KubernetesWorkloads, LeaseJournal, LeaseLock, ProcessSwitch, Switch,
    WorkloadSource as _, Writes,
};
use dns01_testkit::kubefake::{KubeFake, ResourceKind};
use dns01_testkit::rbac::{Rule, allowed};
use serde_json::json;

use crate::support::served_with_images;

fn deployments() -> ResourceKind {
    ResourceKind::new("apps/v1", "deployments")
}

fn jobs() -> ResourceKind {
    ResourceKind::new("batch/v1", "jobs")
}

fn rolled_out(generation: &serde_json::Value) -> serde_json::Value {
    json!({"status": {"observedGeneration": generation, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}})
}

fn pods() -> ResourceKind {
    ResourceKind::new("v1", "pods")
}

/// What a kubelet and the Deployment and Job controllers would do, on a real registry. The
/// collector Job's Pod runs the real collector and its output becomes the Pod's log; with
/// `unmountable`, the Pod stays Pending as on a node where the volume cannot attach.
async fn kubelet(
    fake: Arc<KubeFake>,
    registry: Arc<ProcessSwitch>,
    stop: Arc<AtomicBool>,
    unmountable: bool,
) {
    while !stop.load(Ordering::Relaxed) {
        let d = fake.object(&deployments(), "registry", "registry").unwrap();
        let generation = d["metadata"]["generation"].clone();
        if d["status"]["observedGeneration"] != generation {
            let env = &d["spec"]["template"]["spec"]["containers"][0]["env"];
            let read_only = env
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["name"] == READONLY_ENV)
                .is_some_and(|e| e["value"] == "{\"enabled\":true}");
            if read_only {
                registry.set_read_only().await.unwrap();
            } else {
                registry.set_read_write().await.unwrap();
            }
            fake.merge(
                &deployments(),
                "registry",
                "registry",
                &rolled_out(&generation),
            )
            .unwrap();
        }
        for job in fake.objects(&jobs(), Some("registry")) {
            let name = job["metadata"]["name"].as_str().unwrap().to_owned();
            let pod = format!("{name}-x7k2p");
            if fake.object(&pods(), "registry", &pod).is_some() {
                continue;
            }
            let mut object = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"namespace": "registry", "name": pod,
                             "labels": {"job-name": name, "batch.kubernetes.io/job-name": name}},
                "spec": job["spec"]["template"]["spec"].clone(),
                "status": {"phase": "Running"},
            });
            if unmountable {
                object["status"] = json!({
                    "phase": "Pending",
                    "conditions": [{"type": "PodScheduled", "status": "True"}],
                    "containerStatuses": [{"name": "registry", "ready": false, "restartCount": 0,
                        "image": "registry:2.8.2", "imageID": "",
                        "state": {"waiting": {"reason": "ContainerCreating",
                            "message": "Multi-Attach error for volume \"pvc-1\": Volume is already used by pod(s) registry-6f9c"}}}],
                });
                fake.put(&pods(), object);
                continue;
            }
            fake.put(&pods(), object);
            let result = registry.collect(Duration::from_secs(20)).await;
            let status = match &result {
                Ok(run) => {
                    fake.set_pod_log("registry", &pod, &run.output);
                    json!({"succeeded": 1})
                }
                Err(e) => {
                    fake.set_pod_log("registry", &pod, &format!("failed: {e}"));
                    json!({"failed": 1})
                }
            };
            fake.merge(&jobs(), "registry", &name, &json!({"status": status}))
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The registry Deployment, rolled out.
fn registry_deployment(fake: &KubeFake) {
    let stored = fake.put(
        &deployments(),
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"namespace": "registry", "name": "registry"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "registry"}},
                "template": {
                    "metadata": {"labels": {"app": "registry"}},
                    "spec": {
                        "containers": [{"name": "registry", "image": "registry:2.8.2",
                                        "ports": [{"containerPort": 5000}],
                                        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/registry"}]}],
                        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "registry-data"}}],
                    },
                },
            },
        }),
    );
    fake.merge(
        &deployments(),
        "registry",
        "registry",
        &rolled_out(&stored["metadata"]["generation"]),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_through_the_deployment_environment_and_a_collector_job() {
    let fake = Arc::new(KubeFake::start().await);
    let (served, images) = served_with_images(None).await;
    registry_deployment(&fake);
    let old = served.digest_of("proj-b/old", "v1").await;
    served
        .client
        .manifest_delete(
            &Repository::parse("proj-b/old").unwrap(),
            &Reference::Digest(old),
        )
        .await
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let kubelet = tokio::spawn(kubelet(
        fake.clone(),
        served.switch.clone(),
        stop.clone(),
        false,
    ));
    let client =
        kube::Client::try_from(kube::Config::new(fake.url().as_str().parse().unwrap())).unwrap();
    let mut switch = KubernetesSwitch::new(client.clone(), "registry", "registry");
    switch.rollout_timeout = Duration::from_secs(20);
    // Cluster mode as deploy/cronjob.yaml runs it: lock and record on the Lease.
    let mut gc = served.gc(Arc::new(switch));
    gc.lock = Arc::new(LeaseLock::new(
        client.clone(),
        "registry",
        "registry-janitor",
        Duration::from_secs(60),
    ));
    gc.journal = Arc::new(LeaseJournal::new(
        client.clone(),
        "registry",
        "registry-janitor",
    ));
    let summary = gc.run("run-kube", std::future::pending()).await;
    KubernetesWorkloads::new(client).uses().await.unwrap();
    stop.store(true, Ordering::Relaxed);
    kubelet.await.unwrap();

    assert_eq!(summary.error, None, "{summary:?}");
    assert_eq!(summary.switch, "kubernetes");
    // The counts come from the collector Pod's log: proj-b/old's layer and config.
    assert!(summary.blobs_deleted >= 2, "{summary:?}");
    assert_eq!(served.writes().await, Writes::Accepted);
    let d = fake.object(&deployments(), "registry", "registry").unwrap();
    let env = &d["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(
        env,
        &json!([{"name": READONLY_ENV, "value": "{\"enabled\":false}"}]),
        "{d}"
    );
    // Two rollouts: read-only, then read-write.
    assert_eq!(d["metadata"]["generation"], 3, "{d}");
    let jobs = fake.objects(&jobs(), Some("registry"));
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let pod = &jobs[0]["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["command"],
        json!([
            "registry",
            "garbage-collect",
            "/etc/docker/registry/config.yml"
        ])
    );
    assert_eq!(pod["containers"][0]["image"], "registry:2.8.2");
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "registry-data"
    );
    assert_eq!(pod["restartPolicy"], "Never");
    // The real collector ran in the window: the deleted image's layer is gone.
    let layer: serde_json::Value = serde_json::from_slice(
        &images
            .layout
            .blob(&images.layout.digest("old").unwrap())
            .unwrap(),
    )
    .unwrap();
    let layer =
        dns01_registry::Digest::parse(layer["layers"][0]["digest"].as_str().unwrap()).unwrap();
    assert!(!served.blob_path(&layer).exists());

    // Every request the janitor made is allowed by the RBAC it ships with.
    let rules = rbac_rules();
    let requests = fake.requests();
    assert!(requests.len() > 10, "{requests:?}");
    for r in &requests {
        assert!(
            allowed(&rules, &r.method, &r.path, r.query.as_deref()),
            "deploy/cronjob.yaml does not allow {} {}",
            r.method,
            r.path
        );
    }
    // And the check can fail: writes to another Deployment are not allowed.
    assert!(!allowed(
        &rules,
        "PUT",
        "/apis/apps/v1/namespaces/registry/deployments/other",
        None
    ));
    assert!(!allowed(
        &rules,
        "GET",
        "/api/v1/namespaces/registry/secrets/x",
        None
    ));
    assert!(!allowed(
        &rules,
        "GET",
        "/api/v1/namespaces/registry/pods/x/exec",
        None
    ));
}

/// The rules of the Roles and ClusterRoles in deploy/cronjob.yaml.
fn rbac_rules() -> Vec<Rule> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/cronjob.yaml"))
        .unwrap();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    let mut rules = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let v: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
        let namespace = match v["kind"].as_str() {
            Some("Role") => Some(v["metadata"]["namespace"].as_str().unwrap().to_owned()),
            Some("ClusterRole") => None,
            _ => continue,
        };
        for rule in v["rules"].as_array().unwrap() {
            rules.push(Rule {
                namespace: namespace.clone(),
                api_groups: strings(&rule["apiGroups"]),
                resources: strings(&rule["resources"]),
                verbs: strings(&rule["verbs"]),
                resource_names: strings(&rule["resourceNames"]),
            });
        }
    }
    rules
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_pod_that_cannot_mount_the_volume_ends_the_window_with_the_reason() {
    let fake = Arc::new(KubeFake::start().await);
    let (served, _images) = served_with_images(None).await;
    registry_deployment(&fake);
    let stop = Arc::new(AtomicBool::new(false));
    let kubelet = tokio::spawn(kubelet(
        fake.clone(),
        served.switch.clone(),
        stop.clone(),
        true,
    ));
    let client =
        kube::Client::try_from(kube::Config::new(fake.url().as_str().parse().unwrap())).unwrap();
    let mut switch = KubernetesSwitch::new(client, "registry", "registry");
    switch.rollout_timeout = Duration::from_secs(2);
    let gc = served.gc(Arc::new(switch));
    let summary = gc.run("run-pending", std::future::pending()).await;
    stop.store(true, Ordering::Relaxed);
    kubelet.await.unwrap();

    let error = summary.error.clone().unwrap_or_default();
    assert!(
        error.contains("did not start within 2 s")
            && error.contains("Multi-Attach error")
            && error.contains("ReadWriteMany"),
        "{summary:?}"
    );
    // Well before the collector's deadline (20 s), and read-write again.
    assert!(summary.window_seconds < 10.0, "{summary:?}");
    assert!(!summary.left_read_only);
    assert_eq!(served.writes().await, Writes::Accepted);
    assert!(
        fake.objects(&jobs(), Some("registry")).is_empty(),
        "the stuck Job is deleted"
    );
}
