//! The client against a registry without authentication.

use bytes::Bytes;
use dns01_registry::{Client, Digest, Error, ErrorCode, Manifest, Platform, Reference, media};
use dns01_testkit::registry::{Registry, RegistryConfig, layer_bytes, podman_pull};
use futures::StreamExt as _;
use sha2::Digest as _;

use crate::support::{client, image, multi_platform, registry_with_image, repo};

fn digest(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

fn tag(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

#[tokio::test]
async fn ping_succeeds_on_a_running_registry_and_names_a_dead_one_unreachable() {
    let registry = Registry::start(RegistryConfig::default()).unwrap();
    client(&registry).ping().await.unwrap();

    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", dead.local_addr().unwrap());
    drop(dead);
    let e = Client::builder(&url)
        .build()
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn a_manifest_fetched_by_tag_and_by_digest_has_the_oci_type_and_the_pushed_digest() {
    let (registry, layout) = registry_with_image();
    let client = client(&registry);
    let app = repo("proj-a/app");
    let pushed = digest(&layout.digest("v1").unwrap());

    let by_tag = client.manifest_get(&app, &tag("v1")).await.unwrap();
    assert_eq!(by_tag.media_type, media::OCI_MANIFEST);
    assert_eq!(by_tag.digest, pushed);
    assert_eq!(by_tag.bytes, layout.blob(pushed.as_str()).unwrap());

    let by_digest = client
        .manifest_get(&app, &Reference::Digest(pushed.clone()))
        .await
        .unwrap();
    assert_eq!(by_digest, by_tag);

    let head = client.manifest_head(&app, &tag("v1")).await.unwrap();
    assert_eq!(head.digest, pushed);
    assert_eq!(head.media_type, media::OCI_MANIFEST);
    assert_eq!(head.size, Some(by_tag.bytes.len() as u64));

    let Manifest::Image(m) = by_tag.parse().unwrap() else {
        panic!("not an image manifest")
    };
    assert_eq!(m.layers.len(), 2);
}

#[tokio::test]
async fn missing_manifests_and_repositories_are_not_found_with_their_oci_codes() {
    let (registry, _layout) = registry_with_image();
    let client = client(&registry);
    let e = client
        .manifest_get(&repo("proj-a/app"), &tag("nope"))
        .await
        .unwrap_err();
    let Error::NotFound { code, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(code.as_ref(), Some(&ErrorCode::ManifestUnknown));
    let e = client.tags(&repo("proj-b/none"), None).await.unwrap_err();
    assert!(
        matches!(
            &e,
            Error::NotFound {
                code: Some(ErrorCode::NameUnknown),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("repository name not known"), "{e}");
}

#[tokio::test]
async fn an_index_lists_both_platform_manifests_and_each_child_is_fetchable() {
    let registry = Registry::start(RegistryConfig::default()).unwrap();
    let layout = multi_platform();
    layout
        .push(
            "multi",
            &format!("{}/proj-a/multi:v1", registry.host()),
            None,
        )
        .unwrap();
    let client = client(&registry);
    let multi = repo("proj-a/multi");

    let fetched = client.manifest_get(&multi, &tag("v1")).await.unwrap();
    assert_eq!(fetched.media_type, media::OCI_INDEX);
    assert_eq!(fetched.digest.as_str(), layout.digest("multi").unwrap());
    let Manifest::Index(index) = fetched.parse().unwrap() else {
        panic!("not an index")
    };
    let children: Vec<&str> = index.children().map(Digest::as_str).collect();
    let (amd, arm) = (
        layout.digest("amd64").unwrap(),
        layout.digest("arm64").unwrap(),
    );
    assert_eq!(children, [amd.as_str(), arm.as_str()]);
    let arm_entry = index
        .find(&"linux/arm64".parse::<Platform>().unwrap())
        .unwrap();
    assert_eq!(arm_entry.digest.as_str(), arm);

    for child in index.children() {
        let m = client
            .manifest_get(&multi, &Reference::Digest(child.clone()))
            .await
            .unwrap();
        assert_eq!(m.media_type, media::OCI_MANIFEST);
        assert_eq!(&m.digest, child);
    }

    // podman picks the arm64 child out of the index the registry serves.
    let pulled = podman_pull(
        &format!("{}/proj-a/multi:v1", registry.host()),
        Some("arm64"),
        None,
    )
    .unwrap();
    assert_eq!(
        pulled
            .architecture(&format!("{}/proj-a/multi:v1", registry.host()))
            .unwrap(),
        "arm64"
    );
}

#[tokio::test]
async fn a_blob_streams_in_chunks_whose_sha256_is_its_digest() {
    let registry = Registry::start(RegistryConfig::default()).unwrap();
    let layout = image(&[3 << 20]);
    layout
        .push("v1", &format!("{}/proj-a/big:v1", registry.host()), None)
        .unwrap();
    let client = client(&registry);
    let big = repo("proj-a/big");
    let Manifest::Image(m) = client
        .manifest_get(&big, &tag("v1"))
        .await
        .unwrap()
        .parse()
        .unwrap()
    else {
        panic!("not an image")
    };
    let layer = &m.layers[0];
    assert!(layer.size > 3 << 20, "a random 3 MiB layer stays that big");

    assert_eq!(
        client.blob_head(&big, &layer.digest).await.unwrap(),
        Some(layer.size)
    );

    let mut blob = client.blob_get(&big, &layer.digest).await.unwrap();
    assert_eq!(blob.size(), Some(layer.size));
    let mut hasher = sha2::Sha256::new();
    let (mut chunks, mut total, mut largest) = (0, 0, 0);
    while let Some(chunk) = blob.next().await {
        let chunk = chunk.unwrap();
        hasher.update(&chunk);
        chunks += 1;
        total += chunk.len();
        largest = largest.max(chunk.len());
    }
    assert_eq!(total as u64, layer.size);
    assert!(
        chunks > 1 && largest < 1 << 20,
        "{chunks} chunks, largest {largest}"
    );
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(layer.digest.encoded(), hex);

    let absent = Digest::sha256_of(b"not in this repository");
    let e = client.blob_head(&big, &absent).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    let e = client.blob_get(&big, &absent).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotFound {
                code: Some(ErrorCode::BlobUnknown),
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn catalog_follows_link_pages_of_one_item_and_tags_list_whole() {
    let (registry, _layout) = registry_with_image();
    let client = client(&registry);
    let app = repo("proj-a/app");
    // More tags through the client's own manifest PUT, and more repositories by upload.
    let v1 = client.manifest_get(&app, &tag("v1")).await.unwrap();
    for t in ["v2", "v3"] {
        let d = client
            .manifest_put(&app, &tag(t), &v1.media_type, v1.bytes.clone())
            .await
            .unwrap();
        assert_eq!(d, v1.digest);
    }
    for name in ["proj-b/x", "proj-c/y"] {
        client
            .blob_upload(&repo(name), Bytes::from_static(b"{}"))
            .await
            .unwrap();
    }

    // Distribution 2.8 ignores `n` on tags/list (pagination there came with 3.0): one page.
    // The Link-following of tags is shown against a mock in `pages.rs`.
    let first = client.tags_page(&app, Some(1), None).await.unwrap();
    assert_eq!(first.items.len(), 3);
    assert!(first.next.is_none());
    let tags: Vec<String> = client
        .tags(&app, Some(1))
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(tags, ["v1", "v2", "v3"]);

    let first = client.catalog_page(Some(1), None).await.unwrap();
    assert_eq!(first.items.len(), 1);
    assert!(
        first.next.is_some(),
        "n=1 of 3 repositories has a next page"
    );
    let catalog: Vec<String> = client
        .catalog(Some(1))
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(catalog, ["proj-a/app", "proj-b/x", "proj-c/y"]);
    let all = client.catalog_page(None, None).await.unwrap();
    assert_eq!(all.items.len(), 3);
    assert!(all.next.is_none());
}

#[tokio::test]
async fn a_manifest_deleted_by_digest_is_gone_and_a_second_delete_is_not_found() {
    let (registry, layout) = registry_with_image();
    let client = client(&registry);
    let app = repo("proj-a/app");
    let pushed = Reference::Digest(digest(&layout.digest("v1").unwrap()));

    client.manifest_delete(&app, &pushed).await.unwrap();
    let e = client.manifest_get(&app, &pushed).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert!(
        client.tags(&app, None).await.unwrap().is_empty(),
        "tags: null reads as none"
    );
    let e = client.manifest_delete(&app, &pushed).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
}

#[tokio::test]
async fn a_delete_by_tag_is_refused_before_anything_is_sent() {
    // A client for a port nothing listens on: had it sent the request, the error would be
    // Unreachable.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", dead.local_addr().unwrap());
    drop(dead);
    let client = Client::builder(&url).build().unwrap();
    let e = client
        .manifest_delete(&repo("proj-a/app"), &tag("v1"))
        .await
        .unwrap_err();
    let Error::InvalidRequest { message } = &e else {
        panic!("{e:?}")
    };
    assert!(message.contains("`proj-a/app:v1` by tag"), "{message}");
    assert!(message.contains("delete its digest"), "{message}");
}

#[tokio::test]
async fn a_registry_without_deletes_answers_unsupported_not_read_only() {
    let registry = Registry::start(RegistryConfig {
        delete: false,
        ..RegistryConfig::default()
    })
    .unwrap();
    let layout = image(&[100]);
    layout
        .push("v1", &format!("{}/proj-a/app:v1", registry.host()), None)
        .unwrap();
    let e = client(&registry)
        .manifest_delete(
            &repo("proj-a/app"),
            &Reference::Digest(digest(&layout.digest("v1").unwrap())),
        )
        .await
        .unwrap_err();
    let Error::Unsupported { message, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(message.starts_with("UNSUPPORTED"), "{message}");
}

#[tokio::test]
async fn a_read_only_registry_serves_pulls_and_answers_writes_with_the_read_only_kind() {
    let (mut registry, layout) = registry_with_image();
    let app = repo("proj-a/app");
    registry
        .restart(RegistryConfig {
            read_only: true,
            ..RegistryConfig::default()
        })
        .unwrap();
    let client = client(&registry);
    let v1 = client.manifest_get(&app, &tag("v1")).await.unwrap();

    let e = client
        .blob_upload(&app, Bytes::from_static(b"layer"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReadOnly { .. }), "{e:?}");
    assert!(e.to_string().contains("read-only (maintenance)"), "{e}");
    assert!(e.is_retryable());
    let e = client
        .manifest_delete(&app, &Reference::Digest(v1.digest.clone()))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReadOnly { .. }), "{e:?}");
    let e = client
        .manifest_put(&app, &tag("v2"), &v1.media_type, v1.bytes.clone())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReadOnly { .. }), "{e:?}");
    let pushed = layout.push("v1", &format!("{}/proj-a/app:v9", registry.host()), None);
    assert!(format!("{:#}", pushed.unwrap_err()).contains("405"));
    let e = client
        .upload_probe(&repo("probe/writes"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReadOnly { .. }), "{e:?}");

    registry.restart(RegistryConfig::default()).unwrap();
    client
        .blob_upload(&app, Bytes::from_static(b"layer"))
        .await
        .unwrap();
    // The probe's upload is started, then cancelled: its data is gone (Distribution 2.8
    // keeps only the upload's empty hash state until upload purging).
    client.upload_probe(&repo("probe/writes")).await.unwrap();
    let uploads = registry
        .storage_dir()
        .join("docker/registry/v2/repositories/probe/writes/_uploads");
    let started: Vec<_> = std::fs::read_dir(&uploads).unwrap().flatten().collect();
    assert_eq!(started.len(), 1, "one upload was started");
    for upload in started {
        for kept in ["data", "startedat"] {
            assert!(
                !upload.path().join(kept).exists(),
                "{kept} of a cancelled upload in {}",
                upload.path().display()
            );
        }
    }
}

#[tokio::test]
async fn an_image_made_by_the_client_alone_is_served_back_byte_for_byte() {
    let registry = Registry::start(RegistryConfig::default()).unwrap();
    let client = client(&registry);
    let app = repo("proj-z/handmade");
    let config = Bytes::from_static(
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let layer = Bytes::from(layer_bytes(70_000, 42));
    let config_digest = client.blob_upload(&app, config.clone()).await.unwrap();
    let layer_digest = client.blob_upload(&app, layer.clone()).await.unwrap();
    assert_eq!(layer_digest, Digest::sha256_of(&layer));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": media::OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": media::OCI_LAYER_TAR, "digest": layer_digest, "size": layer.len()}],
    });
    let body = Bytes::from(serde_json::to_vec(&manifest).unwrap());
    let d = client
        .manifest_put(&app, &tag("v1"), media::OCI_MANIFEST, body.clone())
        .await
        .unwrap();
    assert_eq!(d, Digest::sha256_of(&body));
    let back = client.manifest_get(&app, &tag("v1")).await.unwrap();
    assert_eq!(back.bytes, body);
    let mut blob = client.blob_get(&app, &layer_digest).await.unwrap();
    let mut got = Vec::new();
    while let Some(chunk) = blob.next().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(got, layer.to_vec());
}

#[tokio::test]
async fn delete_untagged_collection_on_distribution_2_8_breaks_an_index_as_the_reference_says() {
    // The janitor must never run `garbage-collect --delete-untagged` on 2.8: the index keeps
    // answering while its per-platform children are gone. Plain collection keeps them.
    let mut registry = Registry::start(RegistryConfig::default()).unwrap();
    let layout = multi_platform();
    layout
        .push(
            "multi",
            &format!("{}/proj-a/multi:v1", registry.host()),
            None,
        )
        .unwrap();
    let multi = repo("proj-a/multi");
    let arm = Reference::Digest(digest(&layout.digest("arm64").unwrap()));

    registry.stop().unwrap();
    registry
        .garbage_collect(dns01_testkit::registry::GcOptions::default())
        .unwrap();
    registry.restart(RegistryConfig::default()).unwrap();
    let client = client(&registry);
    client.manifest_get(&multi, &arm).await.unwrap();

    registry.stop().unwrap();
    let out = registry
        .garbage_collect(dns01_testkit::registry::GcOptions {
            delete_untagged: true,
            ..Default::default()
        })
        .unwrap();
    assert!(out.contains("manifest eligible for deletion"), "{out}");
    registry.restart(RegistryConfig::default()).unwrap();
    client.manifest_get(&multi, &tag("v1")).await.unwrap();
    let e = client.manifest_get(&multi, &arm).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
}
