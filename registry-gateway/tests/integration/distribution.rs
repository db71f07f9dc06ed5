//! A real CNCF Distribution in `auth.token` mode trusting the gateway's signing certificate,
//! behind the gateway; skopeo and podman as clients.

use dns01_testkit::registry::{
    OciLayout, Registry, RegistryConfig, TokenAuth, layer_bytes, podman_pull,
};

use crate::support::{
    Files, Gateway, bind, claims, jwt_header, seen, sha256_hex, signing_key, skopeo, token,
};

const TOKEN_A: &str = "platform-token-a-5ecret";
const TOKEN_B: &str = "platform-token-b-5ecret";
const CREDS_A: &str = "ci-a:platform-token-a-5ecret";
const CREDS_B: &str = "ci-b:platform-token-b-5ecret";

struct Env {
    registry: Registry,
    gateway: Gateway,
    kid: String,
    key_pem: String,
    _files: Files,
}

/// Distribution (token mode, trusting the gateway's key) and the gateway with two routes on
/// it: `localhost` is customer A's custom domain (`app` → `proj-a/app`), `127.0.0.1` the
/// platform's whole namespace (project = first component).
fn env(read_only: bool) -> Env {
    let (key_pem, cert_pem, kid) = signing_key();
    let listener = bind();
    let gw = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let registry = Registry::start(RegistryConfig {
        read_only,
        token: Some(TokenAuth {
            realm: format!("{gw}/token"),
            service: "registry.internal".into(),
            issuer: "dns01-gateway".into(),
            root_cert_bundle_pem: cert_pem,
        }),
        ..RegistryConfig::default()
    })
    .unwrap();
    let files = Files::new();
    let tokens = files.write(
        "tokens.yaml",
        &format!(
            "tokens:\n  - {{principal: ci-a, sha256: {}, projects: {{proj-a: [pull, push]}}}}\n  - {{principal: ci-b, sha256: {}, projects: {{proj-b: [pull, push, delete]}}}}\n",
            sha256_hex(TOKEN_A),
            sha256_hex(TOKEN_B)
        ),
    );
    let key = files.write("key.pem", &key_pem);
    let creds = format!(
        "{{kind: distribution, issuer: dns01-gateway, service: registry.internal, key_file: '{}'}}",
        key.display()
    );
    let yaml = format!(
        "auth: {{tokens_file: '{}'}}\nroutes:\n  - {{name: customer-a, host: localhost, upstream: '{}', upstream_prefix: proj-a, credentials: {creds}}}\n  - {{name: platform, host: 127.0.0.1, upstream: '{}', credentials: {creds}}}\n  - {{name: allowed, host: 127.0.0.1, path: allowed, upstream: '{}', upstream_prefix: proj-a, credentials: {creds}, allow: {{repositories: [allowed/app], tags: [multi]}}}}\n  - {{name: wrapped, host: 127.0.0.1, path: wrapped, upstream: '{}', upstream_prefix: proj-a, credentials: {creds}, wrap_in_index: true}}\n",
        tokens.display(),
        registry.url(),
        registry.url(),
        registry.url(),
        registry.url(),
    );
    let gateway = Gateway::serve(listener, &yaml);
    Env {
        registry,
        gateway,
        kid,
        key_pem,
        _files: files,
    }
}

/// A layout with `v1` (amd64) and `multi` (an amd64/arm64 index).
fn images(seed: u64) -> OciLayout {
    let layout = OciLayout::new().unwrap();
    layout
        .image("amd64", "linux/amd64", &[layer_bytes(2048, seed)])
        .unwrap();
    layout
        .image("arm64", "linux/arm64", &[layer_bytes(2048, seed + 1)])
        .unwrap();
    layout
        .image("v1", "linux/amd64", &[layer_bytes(4096, seed + 2)])
        .unwrap();
    layout
        .index(
            "multi",
            &[("amd64", "linux/amd64"), ("arm64", "linux/arm64")],
        )
        .unwrap();
    layout
}

/// `Docker-Content-Digest` of a manifest HEAD through the gateway as ci-a.
async fn manifest_digest(
    base: &str,
    name: &str,
    reference: &str,
    user: &str,
    pw: &str,
) -> (u16, String) {
    let (_, tok) = token(base, user, pw, &[&format!("repository:{name}:pull")]).await;
    let r = reqwest::Client::new()
        .head(format!("{base}/v2/{name}/manifests/{reference}"))
        .bearer_auth(tok)
        .header(
            "accept",
            "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json",
        )
        .send()
        .await
        .unwrap();
    (
        r.status().as_u16(),
        r.headers()
            .get("docker-content-digest")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn skopeo_pushes_an_image_and_an_index_through_a_custom_domain_and_podman_pulls_both_platforms()
 {
    let env = env(false);
    let layout = images(10);
    let custom = format!("localhost:{}", env.gateway.port());
    layout
        .push("v1", &format!("{custom}/app:v1"), Some(CREDS_A))
        .unwrap();
    layout
        .push("multi", &format!("{custom}/app:multi"), Some(CREDS_A))
        .unwrap();

    // Stored under the project's prefix upstream: the platform route shows it as proj-a/app.
    let platform = env.gateway.url("127.0.0.1");
    for (reference, tag) in [("v1", "v1"), ("multi", "multi")] {
        let (status, digest) =
            manifest_digest(&platform, "proj-a/app", reference, "ci-a", TOKEN_A).await;
        assert_eq!(status, 200);
        assert_eq!(digest, layout.digest(tag).unwrap());
    }

    // podman pulls each platform of the index through the custom domain.
    for (arch, child) in [("amd64", "amd64"), ("arm64", "arm64")] {
        let image = format!("{custom}/app:multi");
        let pull = podman_pull(&image, Some(arch), Some(CREDS_A)).unwrap();
        assert_eq!(pull.architecture(&image).unwrap(), arch);
        // podman 4.3 records the index's digest as the image digest, and both the index
        // and the platform's manifest in RepoDigests.
        let digest = pull.inspect(&image, "{{.Digest}}").unwrap();
        assert_eq!(digest, layout.digest("multi").unwrap(), "{arch}");
        let repo_digests = pull.inspect(&image, "{{.RepoDigests}}").unwrap();
        assert!(
            repo_digests.contains(&layout.digest(child).unwrap()),
            "{arch}: {repo_digests}"
        );
    }

    // Tags and the catalog speak client names on the custom domain (Distribution 2.8.2
    // ignores `n` on tags/list; it pages the catalog).
    let base = env.gateway.url("localhost");
    let (_, tok) = token(
        &base,
        "ci-a",
        TOKEN_A,
        &["repository:app:pull", "registry:catalog:*"],
    )
    .await;
    let http = reqwest::Client::new();
    let (status, text, body) = seen(
        http.get(format!("{base}/v2/app/tags/list"))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(body["name"], "app", "{text}");
    let mut tags: Vec<&str> = body["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    tags.sort_unstable();
    assert_eq!(tags, ["multi", "v1"]);
    let (status, text, body) = seen(
        http.get(format!("{base}/v2/_catalog?n=1"))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(body, serde_json::json!({"repositories": ["app"]}));
    assert!(!text.contains("proj-a"), "{text}");

    // A client that states its platform (Docker's User-Agent) and is not served by the
    // index hears so at pull time; one that is served gets the index unchanged.
    let (_, tok) = token(&base, "ci-a", TOKEN_A, &["repository:app:pull"]).await;
    for (arch, status) in [("s390x", 404), ("arm64", 200)] {
        let r = http
            .get(format!("{base}/v2/app/manifests/multi"))
            .bearer_auth(&tok)
            .header("accept", "application/vnd.oci.image.index.v1+json")
            .header(
                "user-agent",
                format!("docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.1.0 os/linux arch/{arch} UpstreamClient(Docker-Client/24.0.7 \\(linux\\))"),
            )
            .send()
            .await
            .unwrap();
        let (got, text, body) = seen(r).await;
        assert_eq!(got, status, "{arch}: {text}");
        if status == 404 {
            assert_eq!(body["errors"][0]["code"], "MANIFEST_UNKNOWN");
            assert_eq!(
                body["errors"][0]["message"],
                "app:multi is built for linux/amd64, linux/arm64 only; this client is linux/s390x"
            );
        } else {
            assert_eq!(body["manifests"].as_array().unwrap().len(), 2, "{text}");
        }
    }

    // And skopeo copies the index back out, unchanged.
    let out = OciLayout::new().unwrap();
    let dest = format!("oci:{}:back", out.path().display());
    let src = format!("docker://{custom}/app:multi");
    let (ok, output) = skopeo(&[
        "--insecure-policy",
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--src-creds",
        CREDS_A,
        &src,
        &dest,
    ]);
    assert!(ok, "{output}");
    assert_eq!(out.digest("back").unwrap(), layout.digest("multi").unwrap());
    assert!(
        env.registry.log().contains("proj-a/app"),
        "the registry saw the prefixed name"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_project_can_pull_and_push_its_own_names_only_and_cannot_mount_from_another() {
    let env = env(false);
    let platform = env.gateway.url("127.0.0.1");
    let host = format!("127.0.0.1:{}", env.gateway.port());
    let a = images(20);
    let b = images(30);
    a.push("v1", &format!("{host}/proj-a/app:v1"), Some(CREDS_A))
        .unwrap();
    b.push("v1", &format!("{host}/proj-b/secret:v1"), Some(CREDS_B))
        .unwrap();

    // ci-a pushing into proj-b: refused. skopeo's first request is a blob HEAD, whose 403
    // has no body to print; the reason shows on requests with a body (below).
    let err = a
        .push("v1", &format!("{host}/proj-b/app:v1"), Some(CREDS_A))
        .unwrap_err()
        .to_string();
    assert!(err.contains("403 (Forbidden)"), "{err}");

    // A multi-scope request is trimmed to what ci-a may do.
    let (status, tok) = token(
        &platform,
        "ci-a",
        TOKEN_A,
        &[
            "repository:proj-a/app:pull,push,delete repository:proj-b/secret:pull",
            "repository:proj-a/other:pull",
            "registry:catalog:*",
        ],
    )
    .await;
    assert_eq!(status, 200);
    let access = claims(&tok)["access"].clone();
    assert_eq!(
        access,
        serde_json::json!([
            {"type": "repository", "name": "proj-a/app", "actions": ["pull", "push"]},
            {"type": "repository", "name": "proj-a/other", "actions": ["pull"]},
            {"type": "registry", "name": "catalog", "actions": ["*"]},
        ])
    );

    let http = reqwest::Client::new();
    let mut everything = String::new();
    // Pulling proj-b as ci-a: 403 DENIED saying who may do what.
    let (status, text, body) = seen(
        http.get(format!("{platform}/v2/proj-b/secret/manifests/v1"))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap(),
    )
    .await;
    everything.push_str(&text);
    assert_eq!(status, 403, "{text}");
    assert_eq!(body["errors"][0]["code"], "DENIED");
    let msg = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("ci-a may not pull")
            && msg.contains("project proj-b")
            && msg.contains("pull,push on proj-a"),
        "{msg}"
    );
    // skopeo shows the same reason.
    let (ok, output) = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        CREDS_A,
        &format!("docker://{host}/proj-b/secret:v1"),
    ]);
    assert!(!ok && output.contains("ci-a may not pull"), "{output}");

    // Mounting a proj-b layer into proj-a: the gateway drops the mount and a plain upload
    // starts (202), the blob does not appear in proj-a.
    let b_manifest: serde_json::Value =
        serde_json::from_slice(&b.blob(&b.digest("v1").unwrap()).unwrap()).unwrap();
    let layer = b_manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, tok) = token(
        &platform,
        "ci-a",
        TOKEN_A,
        &[
            "repository:proj-a/app:pull,push",
            "repository:proj-b/secret:pull",
        ],
    )
    .await;
    let (status, text, _) = seen(
        http.post(format!(
            "{platform}/v2/proj-a/app/blobs/uploads/?mount={layer}&from=proj-b/secret"
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap(),
    )
    .await;
    everything.push_str(&text);
    assert_eq!(status, 202, "{text}");
    assert!(
        text.contains("location: /v2/proj-a/app/blobs/uploads/"),
        "{text}"
    );
    let (status, text, _) = seen(
        http.head(format!("{platform}/v2/proj-a/app/blobs/{layer}"))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap(),
    )
    .await;
    everything.push_str(&text);
    assert_eq!(
        status, 404,
        "the proj-b layer must not be in proj-a: {text}"
    );

    // The same mount inside proj-b, by ci-b, works: the refusal above is the gateway's.
    let (_, tok_b) = token(
        &platform,
        "ci-b",
        TOKEN_B,
        &[
            "repository:proj-b/copy:pull,push",
            "repository:proj-b/secret:pull",
        ],
    )
    .await;
    let (status, text, _) = seen(
        http.post(format!(
            "{platform}/v2/proj-b/copy/blobs/uploads/?mount={layer}&from=proj-b/secret"
        ))
        .bearer_auth(&tok_b)
        .send()
        .await
        .unwrap(),
    )
    .await;
    everything.push_str(&text);
    assert_eq!(status, 201, "{text}");
    assert!(
        text.contains("location: /v2/proj-b/copy/blobs/sha256:"),
        "{text}"
    );

    // No client saw an upstream token (a JWT with the signing key's kid), a platform token
    // or the key; the logs at trace level hold no token at all.
    for word in everything.split(|c: char| c.is_whitespace() || c == '"' || c == ',') {
        if let Some(h) = jwt_header(word) {
            assert_ne!(
                h["kid"],
                env.kid.as_str(),
                "an upstream token reached a client"
            );
        }
    }
    let key_body: String = env
        .key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let logs = env.gateway.logs.text();
    assert!(logs.contains("token issued"), "logs were captured: {logs}");
    for secret in [TOKEN_A, TOKEN_B, &key_body[..40], &tok[..40], &tok_b[..40]] {
        assert!(!everything.contains(secret), "{secret} reached a client");
        assert!(!logs.contains(secret), "{secret} is in the logs");
    }
    // No JWT of any kind (the gateway's or the upstream's) is in the logs.
    assert!(!logs.contains("eyJ"), "a token is in the logs");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_registry_answers_pushes_with_a_maintenance_message() {
    let env = env(true);
    let host = format!("127.0.0.1:{}", env.gateway.port());
    let err = images(40)
        .push("v1", &format!("{host}/proj-a/app:v1"), Some(CREDS_A))
        .unwrap_err()
        .to_string();
    assert!(err.contains("maintenance (read-only)"), "{err}");
    let platform = env.gateway.url("127.0.0.1");
    let (_, tok) = token(
        &platform,
        "ci-a",
        TOKEN_A,
        &["repository:proj-a/app:pull,push"],
    )
    .await;
    let (status, text, body) = seen(
        reqwest::Client::new()
            .post(format!("{platform}/v2/proj-a/app/blobs/uploads/"))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 405, "{text}");
    assert_eq!(body["errors"][0]["code"], "UNSUPPORTED");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allow_list_lets_allowed_tags_and_their_digests_through_only() {
    let env = env(false);
    let layout = images(50);
    let custom = format!("localhost:{}", env.gateway.port());
    layout
        .push("v1", &format!("{custom}/app:v1"), Some(CREDS_A))
        .unwrap();
    layout
        .push("multi", &format!("{custom}/app:multi"), Some(CREDS_A))
        .unwrap();
    let layer_of = |tag: &str| -> String {
        let m: serde_json::Value =
            serde_json::from_slice(&layout.blob(&layout.digest(tag).unwrap()).unwrap()).unwrap();
        m["layers"][0]["digest"].as_str().unwrap().to_owned()
    };

    let base = env.gateway.url("127.0.0.1");
    let (_, tok) = token(
        &base,
        "ci-a",
        TOKEN_A,
        &[
            "repository:allowed/app:pull",
            "repository:allowed/other:pull",
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let get = |path: String| {
        http.get(format!("{base}/v2/allowed/{path}"))
            .bearer_auth(&tok)
            .header(
                "accept",
                "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json",
            )
            .send()
    };
    let amd64 = layout.digest("amd64").unwrap();
    let table = [
        ("app/manifests/multi".to_owned(), 200, ""),
        (format!("app/manifests/{amd64}"), 200, ""),
        (format!("app/blobs/{}", layer_of("amd64")), 200, ""),
        (
            "app/manifests/v1".to_owned(),
            403,
            "tag v1 of allowed/app is not on the allow-list of route allowed (tags: multi)",
        ),
        (
            format!("app/manifests/{}", layout.digest("v1").unwrap()),
            403,
            "is not reachable from a tag on the allow-list of route allowed",
        ),
        (
            format!("app/blobs/{}", layer_of("v1")),
            403,
            "is not reachable from a tag on the allow-list",
        ),
        ("app/tags/list".to_owned(), 200, "multi"),
        (
            "other/tags/list".to_owned(),
            403,
            "allowed/other is not on the allow-list of route allowed (repositories: allowed/app)",
        ),
    ];
    for (path, status, message) in table {
        let (got, text, body) = seen(get(path.clone()).await.unwrap()).await;
        assert_eq!(got, status, "{path}: {text}");
        if path.ends_with("tags/list") && status == 200 {
            assert_eq!(
                body["tags"],
                serde_json::json!([message]),
                "only allowed tags: {text}"
            );
        }
        if status == 403 {
            assert_eq!(body["errors"][0]["code"], "DENIED", "{path}");
            let m = body["errors"][0]["message"].as_str().unwrap();
            assert!(m.contains(message), "{path}: {m}");
        }
    }

    // podman shows the rule that refused it.
    let err = podman_pull(
        &format!("127.0.0.1:{}/allowed/app:v1", env.gateway.port()),
        None,
        Some(CREDS_A),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("is not on the allow-list of route allowed"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_test_subcommand_walks_a_pull_and_names_the_failing_step() {
    let env = env(false);
    let layout = images(60);
    let custom = format!("localhost:{}", env.gateway.port());
    layout
        .push("multi", &format!("{custom}/app:multi"), Some(CREDS_A))
        .unwrap();
    let run = |image: String, creds: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dns01-registry-gateway"))
            .args(["test", "--plain-http", "--platform", "linux/arm64", &image])
            .env("GATEWAY_TEST_CREDS", creds)
            .output()
            .unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (code, out) = run(format!("{custom}/app:multi"), CREDS_A);
    assert_eq!(code, Some(0), "{out}");
    let arm64 = layout.digest("arm64").unwrap();
    for line in [
        "ok    ping".to_owned(),
        format!(
            "ok    manifest HEAD app:multi: {}",
            layout.digest("multi").unwrap()
        ),
        format!("ok    manifest GET app@{arm64} (linux/arm64)"),
        "ok    config HEAD".to_owned(),
        "ok    first layer HEAD".to_owned(),
    ] {
        assert!(out.contains(&line), "`{line}` missing in:\n{out}");
    }
    // ci-b on customer A's domain: the step, the code and the reason.
    let (code, out) = run(format!("{custom}/app:multi"), CREDS_B);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("FAIL  manifest HEAD app:multi: denied")
            && out.contains("ci-b may not pull")
            && out.contains("which rule refused it"),
        "{out}"
    );
    assert!(!out.contains(TOKEN_B), "{out}");
}

/// `len` bytes of a seeded xorshift stream, in 256 KiB chunks.
fn chunks(len: usize, seed: u64) -> impl Iterator<Item = Vec<u8>> {
    let mut x = seed | 1;
    let mut left = len;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let n = left.min(256 << 10);
        left -= n;
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.truncate(n);
        Some(out)
    })
}

/// Peak resident memory of this process since the last reset, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_blob_streams_through_in_chunks_both_ways_with_head_and_range() {
    const LEN: usize = 64 << 20;
    let env = env(false);
    let base = env.gateway.url("127.0.0.1");
    let (_, tok) = token(&base, "ci-a", TOKEN_A, &["repository:proj-a/big:pull,push"]).await;
    let http = reqwest::Client::new();
    let digest = {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        chunks(LEN, 7).for_each(|c| h.update(&c));
        format!(
            "sha256:{}",
            h.finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    };
    // Reset the peak: from here on a buffered body would show as ≥ 64 MiB.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = peak_rss();

    // POST, PATCH (the first half, chunked), PUT (the rest, with the digest).
    let r = http
        .post(format!("{base}/v2/proj-a/big/blobs/uploads/"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/v2/proj-a/big/blobs/uploads/"),
        "{location}"
    );
    let half = LEN / 2;
    let r = http
        .patch(format!("{base}{location}"))
        .bearer_auth(&tok)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(
            chunks(LEN, 7)
                .take(half / (256 << 10))
                .map(Ok::<_, std::io::Error>),
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let sep = if location.contains('?') { '&' } else { '?' };
    let r = http
        .put(format!("{base}{location}{sep}digest={digest}"))
        .bearer_auth(&tok)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(
            chunks(LEN, 7)
                .skip(half / (256 << 10))
                .map(Ok::<_, std::io::Error>),
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);

    // HEAD, a Range, and the whole blob counted as it streams.
    let r = http
        .head(format!("{base}/v2/proj-a/big/blobs/{digest}"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], LEN.to_string().as_str());
    let r = http
        .get(format!("{base}/v2/proj-a/big/blobs/{digest}"))
        .bearer_auth(&tok)
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        &r.bytes().await.unwrap()[..],
        &chunks(LEN, 7).next().unwrap()[10..20]
    );
    let mut r = http
        .get(format!("{base}/v2/proj-a/big/blobs/{digest}"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut got = 0usize;
    while let Some(c) = r.chunk().await.unwrap() {
        got += c.len();
    }
    assert_eq!(got, LEN);
    let growth = peak_rss().saturating_sub(before);
    assert!(
        growth < 32 << 20,
        "peak memory grew by {} MiB moving a {} MiB blob both ways",
        growth >> 20,
        LEN >> 20
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_that_wraps_stores_a_single_platform_push_as_an_index_and_podman_pulls_it() {
    let env = env(false);
    let layout = images(70);
    let host = format!("127.0.0.1:{}", env.gateway.port());
    layout
        .push("v1", &format!("{host}/wrapped/solo:v1"), Some(CREDS_A))
        .unwrap();

    let base = env.gateway.url("127.0.0.1");
    let (_, tok) = token(&base, "ci-a", TOKEN_A, &["repository:proj-a/solo:pull"]).await;
    let (status, text, index) = seen(
        reqwest::Client::new()
            .get(format!("{base}/v2/proj-a/solo/manifests/v1"))
            .bearer_auth(&tok)
            .header(
                "accept",
                "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json",
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{text}"
    );
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["digest"], layout.digest("v1").unwrap().as_str());
    assert_eq!(
        entries[0]["platform"],
        serde_json::json!({"os": "linux", "architecture": "amd64"})
    );

    let image = format!("{host}/wrapped/solo:v1");
    let pull = podman_pull(&image, Some("amd64"), Some(CREDS_A)).unwrap();
    assert_eq!(pull.architecture(&image).unwrap(), "amd64");
    let repo_digests = pull.inspect(&image, "{{.RepoDigests}}").unwrap();
    assert!(
        repo_digests.contains(&layout.digest("v1").unwrap()),
        "{repo_digests}"
    );
}
