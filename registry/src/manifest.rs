//! Manifests and indexes: serde types for the OCI image manifest and image index, which the
//! Docker manifest v2 and manifest list share in shape, and the [`Platform`] of an index entry.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, NameKind, Result};
use crate::media::{self, ManifestKind};
use crate::name::Digest;

/// A content descriptor: what a manifest or index points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the content.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Where else it may be fetched from (foreign layers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The platform, in an index entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The artifact type, for artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// A platform: `os/architecture[/variant]`, as in index entries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, Go's names (`amd64`, `arm64`, `s390x`).
    pub architecture: String,
    /// Operating system, Go's names (`linux`, `windows`).
    pub os: String,
    /// OS version (Windows).
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// OS features (Windows).
    #[serde(
        default,
        rename = "os.features",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    /// CPU variant (`v8` for arm64, `v7` for arm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// `os/architecture` with no variant.
    pub fn new(os: &str, architecture: &str) -> Self {
        Self {
            architecture: architecture.to_owned(),
            os: os.to_owned(),
            os_version: None,
            os_features: None,
            variant: None,
        }
    }

    /// Whether an index entry for `self` serves a client on `wanted`: same OS and
    /// architecture, and the same variant when both say one (`linux/arm64` matches
    /// `linux/arm64/v8`).
    pub fn serves(&self, wanted: &Self) -> bool {
        self.os == wanted.os
            && self.architecture == wanted.architecture
            && match (&self.variant, &wanted.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl FromStr for Platform {
    type Err = Error;

    /// Parses `os/architecture[/variant]` (`linux/arm64/v8`).
    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| ok(p)) {
            return Err(Error::invalid(
                NameKind::Platform,
                s,
                "write `os/architecture` or `os/architecture/variant`, e.g. `linux/arm64/v8`",
            ));
        }
        let mut p = Self::new(parts[0], parts[1]);
        p.variant = parts.get(2).map(|v| (*v).to_owned());
        Ok(p)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An image manifest: OCI `application/vnd.oci.image.manifest.v1+json` or Docker
/// `application/vnd.docker.distribution.manifest.v2+json` (the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type (required by Docker, recommended by OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type, for artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The image configuration blob.
    pub config: Descriptor,
    /// The layer blobs, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (referrers API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ImageManifest {
    /// The blobs this manifest references: the config, then the layers.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        std::iter::once(&self.config).chain(&self.layers)
    }
}

/// A Docker manifest v2: the same shape as [`ImageManifest`].
pub type DockerManifestV2 = ImageManifest;

/// An image index: OCI `application/vnd.oci.image.index.v1+json` or Docker
/// `application/vnd.docker.distribution.manifest.list.v2+json` (the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The index's own media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type, for artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The manifests, usually one per platform.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to (referrers API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ImageIndex {
    /// The digests of the manifests this index lists.
    pub fn children(&self) -> impl Iterator<Item = &Digest> {
        self.manifests.iter().map(|d| &d.digest)
    }

    /// The platforms this index has entries for (entries without one are skipped).
    pub fn platforms(&self) -> impl Iterator<Item = &Platform> {
        self.manifests.iter().filter_map(|d| d.platform.as_ref())
    }

    /// The first entry that serves `platform` (see [`Platform::serves`]).
    pub fn find(&self, platform: &Platform) -> Option<&Descriptor> {
        self.manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| p.serves(platform)))
    }
}

/// A Docker manifest list: the same shape as [`ImageIndex`].
pub type DockerManifestList = ImageIndex;

/// A manifest of either kind.
// Unboxed on purpose: a manifest is parsed once per request and matched on by callers; the
// size difference (an image manifest's inline config descriptor) costs nothing measurable.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// An image manifest.
    Image(ImageManifest),
    /// An index.
    Index(ImageIndex),
}

impl Manifest {
    /// Parses a manifest. The kind comes from `media_type` (the `Content-Type` it arrived
    /// with) when that is a manifest type, else from the body's `mediaType`, else from its
    /// shape (`manifests` for an index, `config` for an image).
    ///
    /// # Errors
    /// [`Error::InvalidResponse`] when the body is not a manifest of that kind.
    pub fn from_slice(media_type: Option<&str>, body: &[u8]) -> Result<Self> {
        let invalid = |message: String| Error::InvalidResponse {
            url: String::new(),
            message,
        };
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| invalid(format!("a manifest that is not JSON: {e}")))?;
        let kind = media_type
            .and_then(media::manifest_kind)
            .or_else(|| value["mediaType"].as_str().and_then(media::manifest_kind))
            .or(if value.get("manifests").is_some() {
                Some(ManifestKind::Index)
            } else if value.get("config").is_some() {
                Some(ManifestKind::Image)
            } else {
                None
            });
        match kind {
            Some(ManifestKind::Index) => serde_json::from_value(value)
                .map(Self::Index)
                .map_err(|e| invalid(format!("an invalid index: {e}"))),
            Some(ManifestKind::Image) => serde_json::from_value(value)
                .map(Self::Image)
                .map_err(|e| invalid(format!("an invalid image manifest: {e}"))),
            None => Err(invalid(
                "neither an image manifest nor an index (no known mediaType, no `manifests` or `config`)"
                    .into(),
            )),
        }
    }

    /// The digests this manifest points at: an index's children, or an image's blobs
    /// (config and layers). The subject is not included.
    pub fn references(&self) -> Vec<&Digest> {
        match self {
            Self::Index(i) => i.children().collect(),
            Self::Image(m) => m.blobs().map(|d| &d.digest).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(name: &str) -> Vec<u8> {
        let path = format!("{}/../testdata/registry/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn an_oci_index_lists_its_children_with_platforms() {
        let m = Manifest::from_slice(Some(media::OCI_INDEX), &golden("oci-index.json")).unwrap();
        let Manifest::Index(index) = &m else {
            panic!("not an index: {m:?}")
        };
        assert_eq!(index.manifests.len(), 2);
        let platforms: Vec<String> = index.platforms().map(ToString::to_string).collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);
        let arm = index.find(&"linux/arm64".parse().unwrap()).unwrap();
        assert_eq!(&arm.digest, index.children().nth(1).unwrap());
        assert!(index.find(&"linux/s390x".parse().unwrap()).is_none());
        assert!(index.find(&"linux/arm64/v7".parse().unwrap()).is_none());
        assert_eq!(m.references().len(), 2);
    }

    #[test]
    fn an_oci_manifest_references_its_config_then_its_layers() {
        let body = golden("oci-manifest.json");
        let m = Manifest::from_slice(None, &body).unwrap();
        let Manifest::Image(image) = &m else {
            panic!("not an image: {m:?}")
        };
        assert_eq!(image.config.media_type, media::OCI_CONFIG);
        let blobs: Vec<&str> = image.blobs().map(|d| d.media_type.as_str()).collect();
        assert_eq!(
            blobs,
            [
                media::OCI_CONFIG,
                media::OCI_LAYER_GZIP,
                media::OCI_LAYER_GZIP
            ]
        );
        assert_eq!(m.references()[0], &image.config.digest);
    }

    #[test]
    fn a_docker_manifest_list_reads_as_an_index_and_keeps_its_fields() {
        let body = golden("docker-manifest-list.json");
        let m = Manifest::from_slice(Some(media::DOCKER_MANIFEST_LIST), &body).unwrap();
        let Manifest::Index(index) = m else {
            panic!("not an index")
        };
        assert_eq!(
            index.media_type.as_deref(),
            Some(media::DOCKER_MANIFEST_LIST)
        );
        assert_eq!(index.manifests[0].platform.as_ref().unwrap().os, "linux");
        // Serialising gives back the same JSON value (no field lost or invented).
        let original: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(serde_json::to_value(&index).unwrap(), original);
    }

    #[test]
    fn a_body_that_is_no_manifest_is_refused_with_the_reason() {
        let e = Manifest::from_slice(None, br#"{"schemaVersion":2}"#).unwrap_err();
        assert!(
            e.to_string()
                .contains("neither an image manifest nor an index")
        );
        assert!(Manifest::from_slice(Some(media::OCI_INDEX), b"not json").is_err());
        let e = Manifest::from_slice(
            Some(media::OCI_MANIFEST),
            br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:1","size":1}}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("invalid image manifest"), "{e}");
    }

    #[test]
    fn platforms_parse_with_an_optional_variant() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!((p.os.as_str(), p.architecture.as_str()), ("linux", "arm64"));
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert_eq!(p.to_string(), "linux/arm64/v8");
        for bad in ["linux", "linux/", "a/b/c/d", "linux/amd 64", ""] {
            assert!(bad.parse::<Platform>().is_err(), "{bad:?}");
        }
        let e = "linux".parse::<Platform>().unwrap_err().to_string();
        assert!(e.contains("linux/arm64/v8"), "{e}");
    }
}
