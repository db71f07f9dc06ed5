//! Media types of manifests, indexes, configs and layers, and the `Accept` header a client
//! sends for manifests.

/// An OCI image index (`application/vnd.oci.image.index.v1+json`).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// An OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// A Docker manifest list (the Docker form of an index).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// A Docker image manifest, schema 2.
pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// An OCI image configuration.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// An OCI layer, gzip-compressed tar.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// An OCI layer, uncompressed tar.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// An OCI layer, zstd-compressed tar.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// A Docker image configuration.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// A Docker layer, gzip-compressed tar.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The `Accept` value for manifest requests: every manifest and index type. Without it
/// CNCF Distribution answers OCI indexes and manifests with 404 `MANIFEST_UNKNOWN` and turns
/// Docker v2 manifests into schema 1 (with another digest).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// The manifest media types, in [`MANIFEST_ACCEPT`]'s order.
pub const MANIFEST_TYPES: [&str; 4] = [
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V2,
];

/// What a manifest media type holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// An index / manifest list: a list of manifests, usually one per platform.
    Index,
    /// An image manifest: a config and layers.
    Image,
}

/// The kind of a manifest media type (parameters such as `; charset=utf-8` are ignored);
/// `None` for any other type.
pub fn manifest_kind(media_type: &str) -> Option<ManifestKind> {
    let essence = media_type.split(';').next().unwrap_or("").trim();
    match essence {
        OCI_INDEX | DOCKER_MANIFEST_LIST => Some(ManifestKind::Index),
        OCI_MANIFEST | DOCKER_MANIFEST_V2 => Some(ManifestKind::Image),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_value_lists_every_manifest_type_once() {
        let listed: Vec<&str> = MANIFEST_ACCEPT.split(',').map(str::trim).collect();
        assert_eq!(listed, MANIFEST_TYPES);
    }

    #[test]
    fn kinds_ignore_parameters_and_refuse_other_types() {
        assert_eq!(manifest_kind(OCI_INDEX), Some(ManifestKind::Index));
        assert_eq!(
            manifest_kind("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"),
            Some(ManifestKind::Image)
        );
        assert_eq!(manifest_kind(OCI_CONFIG), None);
        assert_eq!(
            manifest_kind("application/vnd.docker.distribution.manifest.v1+prettyjws"),
            None
        );
    }
}
