//! `dns01-registry-janitor delete` against a real Distribution 2.8 and a static workload
//! list: what a workload uses (by tag, as an index's child, the index containing it) is
//! refused with a message naming the workload, and a refused removal deletes nothing.

use std::path::Path;
use std::process::{Command, Output};

use dns01_registry::{Client, Digest, Reference, Repository};
use dns01_testkit::registry::{OciLayout, Registry, RegistryConfig, layer_bytes};

struct Setup {
    registry: Registry,
    layout: OciLayout,
    dir: tempfile::TempDir,
    client: Client,
}

impl Setup {
    fn new() -> Self {
        let registry = Registry::start(RegistryConfig::default()).unwrap();
        let host = registry.host();
        let layout = OciLayout::new().unwrap();
        for (i, tag) in ["used", "free", "twin", "amd64", "arm64", "old1", "old2"]
            .iter()
            .enumerate()
        {
            layout
                .image(tag, "linux/amd64", &[layer_bytes(600, 400 + i as u64)])
                .unwrap();
        }
        layout
            .index(
                "multi",
                &[("amd64", "linux/amd64"), ("arm64", "linux/arm64")],
            )
            .unwrap();
        for (src, dest) in [
            ("used", "proj-a/app:used"),
            ("free", "proj-a/app:free"),
            ("twin", "proj-a/app:twin"),
            ("twin", "proj-a/app:twin-alias"),
            ("multi", "proj-a/multi:v1"),
            ("old1", "proj-b/old:v1"),
            ("old2", "proj-b/old:v2"),
        ] {
            layout.push(src, &format!("{host}/{dest}"), None).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("workloads.yml"),
            format!(
                "- {{image: '{host}/proj-a/app:used', namespace: shop, kind: Pod, name: web-5f7c}}\n\
                 - {{image: '{host}/proj-a/multi@{}', namespace: shop, kind: Deployment, name: arm-worker}}\n",
                layout.digest("arm64").unwrap()
            ),
        )
        .unwrap();
        let client = Client::builder(&registry.url()).build().unwrap();
        Self {
            registry,
            layout,
            dir,
            client,
        }
    }

    fn delete(&self, target: &str, extra: &[&str]) -> Output {
        delete_cmd(&self.registry, self.dir.path(), target, extra)
    }

    fn digest(&self, tag: &str) -> Digest {
        Digest::parse(&self.layout.digest(tag).unwrap()).unwrap()
    }

    async fn exists(&self, repo: &str, image: &str) -> bool {
        match self
            .client
            .manifest_head(
                &Repository::parse(repo).unwrap(),
                &Reference::Digest(self.digest(image)),
            )
            .await
        {
            Ok(_) => true,
            Err(dns01_registry::Error::NotFound { .. }) => false,
            Err(e) => panic!("{e}"),
        }
    }
}

fn delete_cmd(registry: &Registry, dir: &Path, target: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dns01-registry-janitor"))
        .args(["delete", target, "--registry"])
        .arg(registry.url())
        .arg("--workloads")
        .arg(dir.join("workloads.yml"))
        .args(extra)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_refused(out: &Output, because: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", text(out));
    assert!(text(out).contains("refusing to delete"), "{}", text(out));
    assert!(text(out).contains(because), "{because}:\n{}", text(out));
}

#[tokio::test]
async fn delete_refuses_what_workloads_use_and_deletes_the_rest() {
    let s = Setup::new();

    // A tag a Pod runs.
    assert_refused(&s.delete("proj-a/app:used", &[]), "shop/Pod/web-5f7c");
    assert!(s.exists("proj-a/app", "used").await);
    // An index whose arm64 child a Deployment runs by digest.
    assert_refused(
        &s.delete("proj-a/multi:v1", &[]),
        "shop/Deployment/arm-worker",
    );
    // The used child itself.
    let arm64 = format!("proj-a/multi@{}", s.digest("arm64"));
    assert_refused(&s.delete(&arm64, &[]), "shop/Deployment/arm-worker");
    // The unused sibling: the index that stays needs it.
    let amd64 = format!("proj-a/multi@{}", s.digest("amd64"));
    assert_refused(&s.delete(&amd64, &[]), "listed by index");
    for image in ["multi", "amd64", "arm64"] {
        assert!(s.exists("proj-a/multi", image).await, "{image}");
    }
    // A tag whose manifest another tag shares.
    assert_refused(&s.delete("proj-a/app:twin", &[]), "also tagged twin-alias");
    assert!(s.exists("proj-a/app", "twin").await);
    // The whole repository: one used tag refuses all of it.
    assert_refused(&s.delete("proj-a/app", &[]), "shop/Pod/web-5f7c");
    for image in ["used", "free", "twin"] {
        assert!(s.exists("proj-a/app", image).await, "{image}");
    }

    // A dry run lists and deletes nothing.
    let out = s.delete("proj-b/old", &["--dry-run", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["refused"], false, "{report}");
    assert_eq!(report["applied"], serde_json::Value::Null, "{report}");
    let items = report["plan"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{report}");
    assert!(items.iter().all(|i| i["action"] == "delete"), "{report}");
    assert!(s.exists("proj-b/old", "old1").await && s.exists("proj-b/old", "old2").await);

    // Unused content goes: a tag, then a whole repository.
    let out = s.delete("proj-a/app:free", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!s.exists("proj-a/app", "free").await);
    assert!(s.exists("proj-a/app", "used").await && s.exists("proj-a/app", "twin").await);
    let out = s.delete("proj-b/old", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!s.exists("proj-b/old", "old1").await && !s.exists("proj-b/old", "old2").await);
    // Both tags of a shared manifest go when it is deleted by digest.
    let twin = format!("proj-a/app@{}", s.digest("twin"));
    let out = s.delete(&twin, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!s.exists("proj-a/app", "twin").await);

    // Something that is not there is a clear error.
    let out = s.delete("proj-a/app:nope", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("has no tag `nope`"), "{}", text(&out));
}
