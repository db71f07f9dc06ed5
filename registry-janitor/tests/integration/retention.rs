//! Retention against a real Distribution 2.8: `plan` says what goes and why the rest stays,
//! `apply` deletes by digest, workloads' images (by tag, by digest, an index child) survive.

use std::process::Command;

use dns01_registry::{Client, Digest, Reference, Repository};
use dns01_testkit::registry::{OciLayout, Registry, RegistryConfig, layer_bytes};

fn janitor(sub: &str, registry: &Registry, dir: &std::path::Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_dns01-registry-janitor"))
        .args([sub, "--json", "--registry"])
        .arg(registry.url())
        .arg("--policy")
        .arg(dir.join("policy.yml"))
        .arg("--workloads")
        .arg(dir.join("workloads.yml"))
        .arg("--storage")
        .arg(registry.storage_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap()
}

async fn exists(client: &Client, repo: &str, digest: &str) -> bool {
    match client
        .manifest_head(
            &Repository::parse(repo).unwrap(),
            &Reference::Digest(Digest::parse(digest).unwrap()),
        )
        .await
    {
        Ok(_) => true,
        Err(dns01_registry::Error::NotFound { .. }) => false,
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn plan_names_the_workloads_and_apply_deletes_only_what_no_one_uses() {
    let registry = Registry::start(RegistryConfig::default()).unwrap();
    let host = registry.host();
    let layout = OciLayout::new().unwrap();
    for (i, tag) in [
        "stable",
        "v2",
        "by-tag",
        "by-digest",
        "nightly",
        "moved-away",
        "moved-here",
        "amd64",
        "arm64",
    ]
    .iter()
    .enumerate()
    {
        layout
            .image(tag, "linux/amd64", &[layer_bytes(512, 100 + i as u64)])
            .unwrap();
    }
    layout
        .index(
            "multi",
            &[("amd64", "linux/amd64"), ("arm64", "linux/arm64")],
        )
        .unwrap();
    for tag in ["stable", "v2", "by-tag", "by-digest"] {
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
    // A tag moved to another image leaves the first one untagged.
    layout
        .push("moved-away", &format!("{host}/proj-a/app:moving"), None)
        .unwrap();
    layout
        .push("moved-here", &format!("{host}/proj-a/app:moving"), None)
        .unwrap();
    let digest = |t: &str| layout.digest(t).unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.yml"),
        "defaults:\n  keep_tags: ['^stable$', '^moving$']\n  delete_tags_older_than: 0s\n  delete_untagged_older_than: 0s\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("workloads.yml"),
        format!(
            "- {{image: '{host}/proj-a/app:by-tag', namespace: shop, kind: Pod, name: web-7d9f}}\n\
             - {{image: 'docker-pullable://{host}/proj-a/app@{}', namespace: shop, kind: Pod, name: api-0}}\n\
             - {{image: '{host}/proj-a/cron:nightly', namespace: ops, kind: CronJob, name: nightly-report}}\n\
             - {{image: '{host}/proj-a/multi@{}', namespace: shop, kind: Deployment, name: arm-worker}}\n",
            digest("by-digest"),
            digest("arm64"),
        ),
    )
    .unwrap();
    // Ages are whole seconds: let every image be older than 0 s.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let plan = janitor("plan", &registry, dir.path());
    let items = plan["items"].as_array().unwrap();
    let item = |repo: &str, d: &str| {
        items
            .iter()
            .find(|i| i["repository"] == repo && i["digest"] == d)
            .unwrap_or_else(|| panic!("{repo}@{d} not in the plan: {plan:#}"))
    };
    let fate = |repo: &str, d: &str| item(repo, d)["action"].as_str().unwrap().to_owned();
    assert_eq!(fate("proj-a/app", &digest("v2")), "delete");
    assert_eq!(
        fate("proj-a/app", &digest("moved-away")),
        "delete",
        "the untagged manifest"
    );
    assert!(
        item("proj-a/app", &digest("moved-away"))["reasons"][0]
            .as_str()
            .unwrap()
            .contains("untagged")
    );
    assert_eq!(fate("proj-a/app", &digest("stable")), "keep");
    for (repo, d, who) in [
        ("proj-a/app", digest("by-tag"), "shop/Pod/web-7d9f"),
        ("proj-a/app", digest("by-digest"), "shop/Pod/api-0"),
        (
            "proj-a/cron",
            digest("nightly"),
            "ops/CronJob/nightly-report",
        ),
        (
            "proj-a/multi",
            digest("arm64"),
            "shop/Deployment/arm-worker",
        ),
        (
            "proj-a/multi",
            digest("multi"),
            "shop/Deployment/arm-worker",
        ),
        // The used child's sibling stays with the index that lists it.
        (
            "proj-a/multi",
            digest("amd64"),
            &format!("child of kept index {}", digest("multi")),
        ),
    ] {
        let i = item(repo, &d);
        assert_eq!(i["action"], "keep", "{i}");
        assert!(i["reasons"].to_string().contains(who), "{i}");
    }
    assert_eq!(
        plan["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["action"] == "delete")
            .count(),
        2,
        "{plan:#}"
    );

    let applied = janitor("apply", &registry, dir.path());
    assert_eq!(
        applied["applied"]["deleted"].as_array().unwrap().len(),
        2,
        "{applied:#}"
    );
    let client = Client::builder(&registry.url()).build().unwrap();
    assert!(!exists(&client, "proj-a/app", &digest("v2")).await);
    assert!(!exists(&client, "proj-a/app", &digest("moved-away")).await);
    for (repo, tag) in [
        ("proj-a/app", "stable"),
        ("proj-a/app", "by-tag"),
        ("proj-a/app", "by-digest"),
        ("proj-a/app", "moved-here"),
        ("proj-a/cron", "nightly"),
        ("proj-a/multi", "multi"),
        ("proj-a/multi", "amd64"),
        ("proj-a/multi", "arm64"),
    ] {
        assert!(
            exists(&client, repo, &digest(tag)).await,
            "{repo} lost {tag}"
        );
    }
    // A second plan has nothing left to delete.
    let again = janitor("plan", &registry, dir.path());
    assert_eq!(
        again["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["action"] == "delete")
            .count(),
        0,
        "{again:#}"
    );
}
