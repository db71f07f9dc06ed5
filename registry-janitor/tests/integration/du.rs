//! Storage accounting against the bytes on disk, for images sharing layers across
//! repositories and projects.

use std::path::Path;
use std::process::Command;

use dns01_testkit::registry::{OciLayout, Registry, RegistryConfig, binary, layer_bytes};

fn on_disk(root: &Path, digest: &str) -> u64 {
    let hex = digest.strip_prefix("sha256:").unwrap();
    std::fs::metadata(
        root.join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data"),
    )
    .unwrap_or_else(|e| panic!("{digest}: {e}"))
    .len()
}

/// The manifest, config and layer digests of a layout image.
fn parts(layout: &OciLayout, tag: &str) -> (String, String, Vec<String>) {
    let manifest = layout.digest(tag).unwrap();
    let m: serde_json::Value = serde_json::from_slice(&layout.blob(&manifest).unwrap()).unwrap();
    let layers = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect();
    (
        manifest,
        m["config"]["digest"].as_str().unwrap().to_owned(),
        layers,
    )
}

#[test]
fn du_counts_unique_and_shared_bytes_as_they_are_on_disk() {
    let registry = Registry::start(RegistryConfig::default()).unwrap();
    let host = registry.host();
    let root = registry.storage_dir();
    let layout = OciLayout::new().unwrap();
    layout
        .image("base", "linux/amd64", &[layer_bytes(40_000, 1)])
        .unwrap();
    // derived = base's layer + one more (umoci adds a layer to a copy of the tag).
    let umoci = binary("umoci").unwrap();
    let image = |t: &str| format!("{}:{t}", layout.path().display());
    assert!(
        Command::new(&umoci)
            .args(["tag", "--image", &image("base"), "derived"])
            .status()
            .unwrap()
            .success()
    );
    let extra = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(extra.path(), layer_bytes(20_000, 2)).unwrap();
    assert!(
        Command::new(&umoci)
            .args(["insert", "--rootless", "--image", &image("derived")])
            .arg(extra.path())
            .arg("/extra")
            .status()
            .unwrap()
            .success()
    );
    layout
        .image("solo", "linux/amd64", &[layer_bytes(10_000, 3)])
        .unwrap();
    layout
        .push("base", &format!("{host}/proj-a/base:v1"), None)
        .unwrap();
    layout
        .push("derived", &format!("{host}/proj-a/derived:v1"), None)
        .unwrap();
    layout
        .push("derived", &format!("{host}/proj-b/app:v1"), None)
        .unwrap();
    layout
        .push("derived", &format!("{host}/proj-b/app:v1-again"), None)
        .unwrap();
    layout
        .push("solo", &format!("{host}/proj-b/solo:v1"), None)
        .unwrap();

    let (base_m, base_c, base_l) = parts(&layout, "base");
    let (der_m, der_c, der_l) = parts(&layout, "derived");
    let (solo_m, solo_c, solo_l) = parts(&layout, "solo");
    assert_eq!(der_l[0], base_l[0], "derived does not share base's layer");
    let size = |d: &str| on_disk(&root, d);

    let out = Command::new(env!("CARGO_BIN_EXE_dns01-registry-janitor"))
        .args(["du", "--json", "--registry"])
        .arg(registry.url())
        .arg("--storage")
        .arg(&root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let row = |section: &str, name: &str| {
        report[section]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {report:#}"))
            .clone()
    };
    let check = |section: &str, name: &str, unique: u64, shared: u64| {
        let r = row(section, name);
        assert_eq!(
            (
                r["unique_bytes"].as_u64().unwrap(),
                r["shared_bytes"].as_u64().unwrap()
            ),
            (unique, shared),
            "{name}: {r}"
        );
    };
    check(
        "repositories",
        "proj-a/base",
        size(&base_m) + size(&base_c),
        size(&base_l[0]),
    );
    let derived_shared = size(&der_m) + size(&der_c) + size(&der_l[0]) + size(&der_l[1]);
    check("repositories", "proj-a/derived", 0, derived_shared);
    check("repositories", "proj-b/app", 0, derived_shared);
    check(
        "repositories",
        "proj-b/solo",
        size(&solo_m) + size(&solo_c) + size(&solo_l[0]),
        0,
    );
    // Per project, proj-a's base config and manifest are its own; everything derived is shared with proj-b.
    check(
        "projects",
        "proj-a",
        size(&base_m) + size(&base_c),
        derived_shared,
    );
    check(
        "projects",
        "proj-b",
        size(&solo_m) + size(&solo_c) + size(&solo_l[0]),
        derived_shared,
    );
    // Every byte on disk is accounted once.
    let disk: u64 = walk(&root.join("docker/registry/v2/blobs"));
    assert_eq!(report["total_bytes"].as_u64().unwrap(), disk);
    let app = row("repositories", "proj-b/app");
    assert_eq!(
        (app["tags"].as_u64(), app["manifests"].as_u64()),
        (Some(2), Some(1))
    );
    assert!(
        app["last_push"].as_str().unwrap().starts_with("20"),
        "{app}"
    );
    assert_eq!(row("projects", "proj-a")["tags"], 2);

    // Through the API alone, the same numbers (push times aside: the API has none).
    let api = Command::new(env!("CARGO_BIN_EXE_dns01-registry-janitor"))
        .args(["du", "--json", "--registry"])
        .arg(registry.url())
        .output()
        .unwrap();
    let mut api: serde_json::Value = serde_json::from_slice(&api.stdout).unwrap();
    let mut fs = report.clone();
    for v in [&mut api, &mut fs] {
        for section in ["projects", "repositories"] {
            for row in v[section].as_array_mut().unwrap() {
                row["last_push"] = serde_json::Value::Null;
            }
        }
    }
    assert_eq!(api, fs);

    let table = Command::new(env!("CARGO_BIN_EXE_dns01-registry-janitor"))
        .args(["du", "--registry"])
        .arg(registry.url())
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.lines().any(|l| l.starts_with("  proj-b/solo")),
        "{table}"
    );
}

fn walk(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}
