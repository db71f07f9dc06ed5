//! The hostile upstream of testkit behind an anonymous gateway with Basic upstream
//! credentials: each failure reaches the client as an OCI error a person can act on.

use base64::Engine as _;
use dns01_testkit::hostile::{BLOB, Hostile};

use crate::support::{Files, Gateway, bind, seen, skopeo};

const UPSTREAM_PASSWORD: &str = "upstream-pa55word";

struct Env {
    hostile: Hostile,
    gateway: Gateway,
    _files: Files,
}

fn env() -> Env {
    let hostile = Hostile::start(Some(("vendor", UPSTREAM_PASSWORD)));
    let files = Files::new();
    let pw = files.write("upstream-password", &format!("{UPSTREAM_PASSWORD}\n"));
    let creds = format!(
        "{{kind: basic, username: vendor, password_file: '{}'}}",
        pw.display()
    );
    let yaml = format!(
        "timeouts: {{upstream_read_seconds: 1}}\nroutes:\n  - {{name: vendor, host: localhost, upstream: '{up}', credentials: {creds}, browser_page: 'https://customer.example/images'}}\n  - {{name: vendor-follow, host: localhost, path: follow, upstream: '{up}', blob_redirects: follow, credentials: {creds}}}\n  - {{name: mirror, host: localhost, path: mirror, upstream_prefix: hidden, upstream: '{up}', credentials: {creds}}}\n  - {{name: nowhere, host: localhost, path: nowhere, upstream: 'http://127.0.0.1:1'}}\n  - {{name: anon, host: localhost, path: anon, upstream: '{up}'}}\n",
        up = hostile.url()
    );
    let gateway = Gateway::serve(bind(), &yaml);
    Env {
        hostile,
        gateway,
        _files: files,
    }
}

/// (method, path, status, code, words in the message, `Retry-After`).
type Case = (
    &'static str,
    String,
    u16,
    &'static str,
    &'static [&'static str],
    Option<&'static str>,
);

const DIGEST: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

#[tokio::test(flavor = "multi_thread")]
async fn each_upstream_failure_reaches_the_client_as_an_oci_error_naming_the_upstream() {
    let env = env();
    let base = env.gateway.url("localhost");
    let up = env.hostile.host();
    let http = reqwest::Client::new();
    let mut everything = String::new();
    // (method, path, status, code, words in the message, Retry-After)
    let table: [Case; 9] = [
        (
            "GET",
            "ratelimit/app/manifests/v1".into(),
            429,
            "TOOMANYREQUESTS",
            &["rate limiting", "slow down", "retry after 0 s"],
            Some("0"),
        ),
        (
            "GET",
            "broken/app/manifests/v1".into(),
            503,
            "UNAVAILABLE",
            &["failed (500", "database is on fire", "route vendor"],
            Some("1"),
        ),
        (
            "GET",
            "unavailable/app/manifests/v1".into(),
            503,
            "UNAVAILABLE",
            &["upstream maintenance"],
            Some("1"),
        ),
        (
            "PUT",
            "readonly/app/manifests/v1".into(),
            405,
            "UNSUPPORTED",
            &["maintenance (read-only)"],
            None,
        ),
        (
            "GET",
            "mirror/other/app/manifests/v1".to_owned(),
            404,
            "MANIFEST_UNKNOWN",
            &["manifest unknown in mirror/other/app"],
            None,
        ),
        (
            "GET",
            format!("nowhere/app/blobs/{DIGEST}"),
            503,
            "UNAVAILABLE",
            &["127.0.0.1:1", "route nowhere", "cannot be reached"],
            Some("1"),
        ),
        (
            "GET",
            "slow/app/manifests/v1".to_owned(),
            503,
            "UNAVAILABLE",
            &["route vendor timed out"],
            Some("1"),
        ),
        (
            "GET",
            "anon/x/manifests/v1".to_owned(),
            403,
            "DENIED",
            &["asks for credentials", "route anon"],
            None,
        ),
        (
            "GET",
            "unrouted/x/manifests/v1".to_owned(),
            404,
            "MANIFEST_UNKNOWN",
            &["manifest unknown in unrouted/x"],
            None,
        ),
    ];
    for (method, path, status, code, words, retry) in table {
        let r = http
            .request(method.parse().unwrap(), format!("{base}/v2/{path}"))
            .send()
            .await
            .unwrap();
        let retry_after = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let (got, text, body) = seen(r).await;
        everything.push_str(&text);
        assert_eq!(got, status, "{path}: {text}");
        assert_eq!(body["errors"][0]["code"], code, "{path}: {text}");
        let msg = body["errors"][0]["message"].as_str().unwrap();
        for w in words {
            assert!(msg.contains(w), "{path}: `{w}` not in `{msg}`");
        }
        assert_eq!(retry_after.as_deref(), retry, "{path}");
        if status >= 500 {
            assert!(
                text.contains("warning: 299 -"),
                "{path}: a 5xx carries its message in Warning: {text}"
            );
            assert!(
                msg.contains(&up) || msg.contains("127.0.0.1:1"),
                "{path}: names the upstream: {msg}"
            );
        }
        assert!(
            !msg.contains("hidden/"),
            "the upstream prefix stays hidden: {msg}"
        );
    }

    // A relative blob redirect: passed on absolute (route vendor) or followed (vendor-follow).
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (status, text, _) = seen(
        no_redirects
            .get(format!("{base}/v2/redirect/app/blobs/{DIGEST}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    everything.push_str(&text);
    assert_eq!(status, 307, "{text}");
    assert!(
        text.contains(&format!("location: http://{up}/artifacts-downloads/2222")),
        "{text}"
    );
    let r = no_redirects
        .get(format!("{base}/v2/follow/redirect/app/blobs/{DIGEST}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(&r.bytes().await.unwrap()[..], BLOB);

    // A connection the upstream drops mid-blob is not turned into a complete answer.
    let r = http
        .get(format!("{base}/v2/drop/app/blobs/{DIGEST}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.bytes().await.is_err(),
        "a truncated blob must fail at the client"
    );

    // A browser on the domain goes to the configured page.
    let r = no_redirects.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "https://customer.example/images");

    // A manifest over 4 MiB is refused before the upstream sees it (and the connection
    // closes, the rest of the body unread: a client of its own).
    let sent_before = env.hostile.authorizations().len();
    let (status, text, body) = seen(
        reqwest::Client::new()
            .put(format!("{base}/v2/team/app/manifests/v1"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(vec![b' '; 5 << 20])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413, "{text}");
    assert_eq!(body["errors"][0]["code"], "MANIFEST_INVALID");
    assert_eq!(env.hostile.authorizations().len(), sent_before);

    // Metrics are not on the public listener.
    let (status, text, _) = seen(http.get(format!("{base}/metrics")).send().await.unwrap()).await;
    assert_eq!(status, 404, "{text}");
    // Metrics count requests by route, project, method and status, and streamed bytes.
    let metrics = http
        .get(format!("http://{}/metrics", env.gateway.metrics_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "gateway_requests_total{route=\"vendor\",project=\"ratelimit\",method=\"GET\",status=\"429\"} 1",
        "gateway_requests_total{route=\"mirror\",project=\"hidden\",method=\"GET\",status=\"404\"} 1",
        "gateway_denials_total{route=\"anon\",project=\"x\"} 1",
        &format!(
            "gateway_bytes_streamed_total{{route=\"vendor-follow\"}} {}",
            BLOB.len()
        ),
        "gateway_upstream_seconds_count{route=\"vendor\"}",
    ] {
        assert!(metrics.contains(line), "`{line}` not in:\n{metrics}");
    }
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );

    // skopeo prints the gateway's message.
    let (ok, output) = skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://localhost:{}/ratelimit/app:v1", env.gateway.port()),
    ]);
    assert!(
        !ok && output.contains("rate limiting the gateway"),
        "{output}"
    );

    // The gateway sent its upstream credentials; no client and no log line saw them.
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("vendor:{UPSTREAM_PASSWORD}"))
    );
    let seen_upstream = env.hostile.authorizations();
    assert!(!seen_upstream.is_empty() && seen_upstream.iter().all(|a| *a == basic));
    let logs = env.gateway.logs.text();
    assert!(logs.contains("upstream answer"), "trace logs captured");
    for secret in [UPSTREAM_PASSWORD, &basic[6..]] {
        assert!(!everything.contains(secret), "{secret} reached a client");
        assert!(!output.contains(secret), "{secret} reached skopeo");
        assert!(!logs.contains(secret), "{secret} is in the logs");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_configuration_file_swaps_the_routes_and_a_broken_one_is_ignored() {
    let hostile = Hostile::start(None);
    let files = Files::new();
    let first = format!(
        "routes: [{{name: first, path: first, upstream: '{}'}}]\n",
        hostile.url()
    );
    let path = files.write("gateway.yaml", &first);
    let gateway = Gateway::serve_watching(bind(), &first, Some(path.clone()));
    let base = gateway.url("localhost");
    let code = |body: serde_json::Value| {
        body["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let get = |p: &'static str| {
        let url = format!("{base}/v2/{p}/ratelimit/manifests/v1");
        async move { seen(reqwest::get(url).await.unwrap()).await }
    };
    assert_eq!(code(get("first").await.2), "TOOMANYREQUESTS");
    assert_eq!(code(get("second").await.2), "NAME_UNKNOWN");

    let second = format!(
        "routes: [{{name: second, path: second, upstream: '{}'}}]\n",
        hostile.url()
    );
    std::fs::write(&path, &second).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while code(get("second").await.2) != "TOOMANYREQUESTS" {
        assert!(
            std::time::Instant::now() < deadline,
            "the new route never came"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(code(get("first").await.2), "NAME_UNKNOWN");

    // A broken file is reported and the running routes stay.
    std::fs::write(&path, "routes: [{name: x, upstream: ftp://nowhere}]\n").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !gateway.logs.text().contains("configuration not reloaded") {
        assert!(std::time::Instant::now() < deadline, "no error logged");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(gateway.logs.text().contains("routes[0].upstream"));
    assert_eq!(code(get("second").await.2), "TOOMANYREQUESTS");
}
