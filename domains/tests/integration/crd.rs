//! The CRD the chart ships is the one the Rust types generate.

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/crds/customdomains.domains.dns01.dev.yaml")
}

#[test]
fn the_committed_crd_equals_the_generated_one() {
    let generated = dns01_domains::crd::crd_yaml().unwrap();
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "deploy/crds/customdomains.domains.dns01.dev.yaml is stale; regenerate it with\n  \
         cargo run -q -p dns01-domains -- crd > deploy/crds/customdomains.domains.dns01.dev.yaml"
    );
}

#[test]
fn the_crd_has_the_printer_columns_short_name_and_status_subresource() {
    let crd: serde_json::Value =
        serde_yaml_ng::from_str(&dns01_domains::crd::crd_yaml().unwrap()).unwrap();
    assert_eq!(crd["metadata"]["name"], "customdomains.domains.dns01.dev");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["names"]["shortNames"][0], "cdom");
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert!(version["subresources"]["status"].is_object());
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(columns, ["Hostname", "Ready", "Requirement", "Age"]);
    let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let required: Vec<&str> = spec["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(required, ["hostname", "issuerRef", "target"]);
    let target = &spec["properties"]["target"]["properties"];
    for key in ["service", "hostname", "addresses"] {
        assert!(target[key].is_object(), "target.{key} missing: {target}");
    }
}
