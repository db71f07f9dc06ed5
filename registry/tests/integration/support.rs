//! Shared set-up: a registry with a pushed image, a client for it.

use dns01_registry::{Client, Repository};
use dns01_testkit::registry::{OciLayout, Registry, RegistryConfig, layer_bytes};

/// A client for `registry` with short timeouts.
pub(crate) fn client(registry: &Registry) -> Client {
    Client::builder(&registry.url())
        .request_timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

pub(crate) fn repo(name: &str) -> Repository {
    Repository::parse(name).unwrap()
}

/// A layout with `v1`: linux/amd64, layers of the given sizes (seeded by their index).
pub(crate) fn image(sizes: &[usize]) -> OciLayout {
    let layout = OciLayout::new().unwrap();
    let layers: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, n)| layer_bytes(*n, i as u64 + 1))
        .collect();
    layout.image("v1", "linux/amd64", &layers).unwrap();
    layout
}

/// A layout with `amd64`, `arm64` (one small layer each) and `multi`, the index of both.
pub(crate) fn multi_platform() -> OciLayout {
    let layout = OciLayout::new().unwrap();
    layout
        .image("amd64", "linux/amd64", &[layer_bytes(300, 10)])
        .unwrap();
    layout
        .image("arm64", "linux/arm64", &[layer_bytes(300, 11)])
        .unwrap();
    layout
        .index(
            "multi",
            &[("amd64", "linux/amd64"), ("arm64", "linux/arm64/v8")],
        )
        .unwrap();
    layout
}

/// A registry with deletes enabled, `proj-a/app:v1` pushed (two layers), and the layout.
pub(crate) fn registry_with_image() -> (Registry, OciLayout) {
    let registry = Registry::start(RegistryConfig::default()).unwrap();
    let layout = image(&[1000, 2000]);
    layout
        .push("v1", &format!("{}/proj-a/app:v1", registry.host()), None)
        .unwrap();
    (registry, layout)
}
