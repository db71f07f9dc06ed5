//! The kube-rs client as the webhook configures it (`dns01_webhook::cluster`), against the fake
//! API server: kubeconfig forms (inline and file CAs, tokens, token files, client certificates,
//! `exec` plugins, `tls-server-name`, `proxy-url`, several files merged), a token file that
//! rotates, and the errors users read for Secrets, TokenReview and SubjectAccessReview.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: panics are failures

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use dns01_testkit::kubefake::{FakeUser, KubeFake, SarRule};
use dns01_testkit::pki::TestCa;
use dns01_testkit::proxy::ConnectProxy;
use dns01_webhook::auth::{self, AccessAttributes, AuthConfig, AuthConfigSource, Authenticator};
use dns01_webhook::cluster;
use dns01_webhook::secrets::{KubeSecrets, SecretError, SecretSource};

use crate::common::kube_client;

/// A kubeconfig whose current context (`test`, not the first) uses cluster `c` at `server`
/// with the `cluster` lines, and user `u` with the `user` lines.
fn kubeconfig(server: &str, cluster: &str, user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: test\n\
         contexts:\n- name: other\n  context: {{cluster: nowhere, user: nobody}}\n\
         - name: test\n  context: {{cluster: c, user: u}}\n\
         clusters:\n- name: c\n  cluster:\n    server: {server}\n{cluster}\
         users:\n- name: u\n  user:\n{user}"
    )
}

/// Writes `yaml` as `dir/kubeconfig`.
fn write(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn ca_data(ca: &TestCa) -> String {
    format!(
        "    certificate-authority-data: {}\n",
        BASE64.encode(ca.cert_pem())
    )
}

/// Secret `ns/s` with one key, as the fake serves it.
fn seed(fake: &KubeFake) {
    fake.set_secret("ns", "s", &[("api-token", b"t0k".as_slice())]);
}

/// Reads Secret `ns/s` through the client of kubeconfig `path`.
async fn read_through(path: &Path) -> Result<BTreeMap<String, Vec<u8>>, SecretError> {
    let client = cluster::client(Some(path)).await.unwrap();
    KubeSecrets::new(client).get_secret("ns", "s").await
}

fn assert_read(result: Result<BTreeMap<String, Vec<u8>>, SecretError>) {
    let data = result.unwrap();
    assert_eq!(
        data.get("api-token").map(Vec::as_slice),
        Some(b"t0k".as_slice())
    );
}

#[tokio::test]
async fn a_kubeconfig_with_inline_ca_data_and_a_token_user_reaches_the_api() {
    let ca = TestCa::new("apiserver ca");
    let fake = KubeFake::start_tls(&ca.server_cert(&[]), None).await;
    fake.require_bearer("sekret-token");
    seed(&fake);
    let dir = tempfile::tempdir().unwrap();
    let yaml = kubeconfig(
        fake.url().as_str(),
        &ca_data(&ca),
        "    token: sekret-token\n",
    );
    let path = write(dir.path(), &yaml);
    assert_read(read_through(&path).await);
    assert_eq!(fake.requests()[0].bearer.as_deref(), Some("sekret-token"));
    let config = cluster::config_from_kubeconfig(&path).await.unwrap();
    assert!(!format!("{config:?}").contains("sekret"), "{config:?}");
}

#[tokio::test]
async fn a_kubeconfig_file_with_relative_paths_and_a_client_certificate_user_reaches_the_api() {
    let ca = TestCa::new("apiserver ca");
    let clients = TestCa::new("client ca");
    let fake = KubeFake::start_tls(&ca.server_cert(&[]), Some(&clients)).await;
    fake.require_bearer("only-for-others");
    seed(&fake);
    let user = clients.client_cert("system:kube-aggregator", &[]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.crt"), ca.cert_pem()).unwrap();
    std::fs::write(dir.path().join("client.crt"), &user.cert_pem).unwrap();
    std::fs::write(dir.path().join("client.key"), &user.key_pem).unwrap();
    let path = write(
        dir.path(),
        &kubeconfig(
            fake.url().as_str(),
            "    certificate-authority: ca.crt\n",
            "    client-certificate: client.crt\n    client-key: client.key\n",
        ),
    );
    assert_read(read_through(&path).await);
    let seen = fake.requests();
    assert_eq!(
        seen[0].client_cert.as_deref(),
        Some(user.cert_der.as_slice())
    );
    assert_eq!(seen[0].bearer, None);
}

#[tokio::test]
async fn a_kubeconfig_with_inline_client_certificate_data_and_a_token_file_works() {
    let ca = TestCa::new("apiserver ca");
    let clients = TestCa::new("client ca");
    let fake = KubeFake::start_tls(&ca.server_cert(&[]), Some(&clients)).await;
    seed(&fake);
    let user = clients.client_cert("someone", &[]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "file-token").unwrap();
    let yaml = kubeconfig(
        fake.url().as_str(),
        &ca_data(&ca),
        &format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n    tokenFile: token\n",
            BASE64.encode(&user.cert_pem),
            BASE64.encode(&user.key_pem)
        ),
    );
    assert_read(read_through(&write(dir.path(), &yaml)).await);
    let seen = fake.requests();
    assert_eq!(seen[0].bearer.as_deref(), Some("file-token"));
    assert_eq!(
        seen[0].client_cert.as_deref(),
        Some(user.cert_der.as_slice())
    );
}

#[tokio::test]
async fn a_server_signed_by_another_ca_is_refused_unless_verification_is_skipped() {
    let ca = TestCa::new("apiserver ca");
    let fake = KubeFake::start_tls(&ca.server_cert(&[]), None).await;
    seed(&fake);
    let dir = tempfile::tempdir().unwrap();
    let wrong = TestCa::new("wrong ca");
    let yaml = kubeconfig(fake.url().as_str(), &ca_data(&wrong), "    {}\n");
    let err = read_through(&write(dir.path(), &yaml)).await.unwrap_err();
    assert!(matches!(err, SecretError::Unavailable { .. }), "{err:?}");
    assert!(fake.requests().is_empty(), "no request got through");
    let yaml = kubeconfig(
        fake.url().as_str(),
        "    insecure-skip-tls-verify: true\n",
        "    {}\n",
    );
    assert_read(read_through(&write(dir.path(), &yaml)).await);
}

/// The default EKS, GKE and AKS kubeconfigs get their token from an `exec` plugin.
#[tokio::test]
async fn a_kubeconfig_exec_user_gets_its_token_from_the_plugin() {
    use std::os::unix::fs::PermissionsExt as _;
    let ca = TestCa::new("apiserver ca");
    let fake = KubeFake::start_tls(&ca.server_cert(&[]), None).await;
    fake.require_bearer("token-from-exec");
    seed(&fake);
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("credential-plugin");
    std::fs::write(
        &plugin,
        "#!/bin/sh\n\
         echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
         \"status\":{\"token\":\"token-from-exec\"}}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let yaml = kubeconfig(
        fake.url().as_str(),
        &ca_data(&ca),
        &format!(
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      \
             command: {}\n      interactiveMode: Never\n",
            plugin.display()
        ),
    );
    assert_read(read_through(&write(dir.path(), &yaml)).await);
    assert_eq!(
        fake.requests()[0].bearer.as_deref(),
        Some("token-from-exec")
    );
}

/// `tls-server-name`: the API server's certificate does not name the address in `server`; the
/// client verifies it against the configured name and asks for that name in its TLS hello.
#[tokio::test]
async fn tls_server_name_is_the_name_verified_and_sent_in_the_tls_hello() {
    let ca = TestCa::new("apiserver ca");
    let fake = KubeFake::start_tls(&ca.server_cert_for_names(&["kubernetes.internal"]), None).await;
    seed(&fake);
    let dir = tempfile::tempdir().unwrap();
    let server = format!("https://127.0.0.1:{}", fake.addr().port());
    let without = kubeconfig(&server, &ca_data(&ca), "    {}\n");
    assert!(read_through(&write(dir.path(), &without)).await.is_err());
    assert!(fake.requests().is_empty(), "the certificate was refused");
    let with = kubeconfig(
        &server,
        &format!("{}    tls-server-name: kubernetes.internal\n", ca_data(&ca)),
        "    {}\n",
    );
    assert_read(read_through(&write(dir.path(), &with)).await);
    assert_eq!(
        fake.requests()[0].server_name.as_deref(),
        Some("kubernetes.internal")
    );
}

/// `proxy-url`: the API calls go through an HTTP CONNECT proxy.
#[tokio::test]
async fn proxy_url_sends_the_api_calls_through_the_proxy() {
    let ca = TestCa::new("apiserver ca");
    let fake = KubeFake::start_tls(&ca.server_cert(&[]), None).await;
    seed(&fake);
    let proxy = ConnectProxy::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = kubeconfig(
        fake.url().as_str(),
        &format!("{}    proxy-url: {}\n", ca_data(&ca), proxy.url()),
        "    {}\n",
    );
    assert_read(read_through(&write(dir.path(), &yaml)).await);
    assert_eq!(proxy.targets(), vec![fake.addr().to_string()]);
}

/// `--kubeconfig a:b`, like `KUBECONFIG=a:b`: the files are merged, the first to set a value
/// winning.
#[tokio::test]
async fn several_kubeconfigs_separated_by_colons_are_merged() {
    let fake = KubeFake::start().await;
    seed(&fake);
    fake.require_bearer("first-wins");
    let dir = tempfile::tempdir().unwrap();
    let contexts = dir.path().join("contexts");
    std::fs::write(
        &contexts,
        "apiVersion: v1\nkind: Config\ncurrent-context: test\n\
         contexts:\n- name: test\n  context: {cluster: c, user: u}\n\
         users:\n- name: u\n  user: {token: first-wins}\n",
    )
    .unwrap();
    let rest = write(
        dir.path(),
        &kubeconfig(fake.url().as_str(), "", "    token: second-loses\n"),
    );
    let both = std::env::join_paths([&contexts, &rest]).unwrap();
    assert_read(read_through(Path::new(&both)).await);
    assert_eq!(fake.requests()[0].bearer.as_deref(), Some("first-wins"));
}

/// The in-cluster configuration kube-rs builds (`Config::incluster`: the API server's CA and
/// the service account token *file*, whose path it fixes under /var/run/secrets) re-reads the
/// token as the kubelet rotates it, at least once a minute: here the same configuration with
/// the files in a temporary directory. Takes ~50 s, kube-rs's reload period.
#[tokio::test]
async fn an_in_cluster_token_file_that_changes_is_used_without_a_restart() {
    let ca = TestCa::new("apiserver ca");
    let fake = KubeFake::start_tls(&ca.server_cert(&[]), None).await;
    seed(&fake);
    fake.require_bearer("token-1");
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "token-1").unwrap();
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let mut config = kube::Config::new(fake.url().as_str().parse().unwrap());
    config.root_cert = Some(vec![ca.cert_der().to_vec()]);
    config.root_cert_file = Some(ca_file);
    config.auth_info.token_file = Some(token.display().to_string());
    let secrets = KubeSecrets::new(kube::Client::try_from(config).unwrap());
    assert_read(secrets.get_secret("ns", "s").await);

    std::fs::write(&token, "token-2").unwrap();
    fake.require_bearer("token-2");
    let err = secrets.get_secret("ns", "s").await.unwrap_err();
    assert!(err.to_string().contains("own credentials"), "{err}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(70);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if secrets.get_secret("ns", "s").await.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new token was never used"
        );
    }
    assert_eq!(
        fake.requests().last().unwrap().bearer.as_deref(),
        Some("token-2")
    );
}

#[tokio::test]
async fn a_missing_secret_names_the_namespace_and_name() {
    let fake = KubeFake::start().await;
    let err = KubeSecrets::new(kube_client(&fake))
        .get_secret("tenant-a", "gandi-credentials")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SecretError::NotFound { namespace, name } if namespace == "tenant-a" && name == "gandi-credentials"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("Secret tenant-a/gandi-credentials not found: create it"),
        "{err}"
    );
}

#[tokio::test]
async fn a_forbidden_secret_read_names_the_rbac_fix_and_carries_no_secret_data() {
    let fake = KubeFake::start().await;
    fake.set_secret("tenant-a", "s", &[("api-token", b"topsecret".as_slice())]);
    fake.forbid_secret("tenant-a", "s");
    let err = KubeSecrets::new(kube_client(&fake))
        .get_secret("tenant-a", "s")
        .await
        .unwrap_err();
    let chain = auth::ErrorChain(&err).to_string();
    assert!(
        chain.starts_with("could not read Secret tenant-a/s"),
        "{chain}"
    );
    assert!(
        chain.contains("grant it `get` on secrets in namespace tenant-a"),
        "{chain}"
    );
    assert!(
        chain.contains("cannot get resource \"secrets\""),
        "the API's own message is kept: {chain}"
    );
    assert!(!format!("{chain} {err:?}").contains("topsecret"));
}

#[tokio::test]
async fn rejected_credentials_say_so_without_showing_the_token() {
    let fake = KubeFake::start().await;
    seed(&fake);
    fake.require_bearer("right");
    let dir = tempfile::tempdir().unwrap();
    let yaml = kubeconfig(fake.url().as_str(), "", "    token: wrong-token\n");
    let err = read_through(&write(dir.path(), &yaml)).await.unwrap_err();
    let chain = auth::ErrorChain(&err).to_string();
    assert!(
        chain.contains("rejected the webhook's own credentials"),
        "{chain}"
    );
    assert!(!format!("{chain} {err:?}").contains("wrong-token"));
}

fn authenticator(fake: &KubeFake) -> Authenticator {
    let source = AuthConfigSource::fixed(AuthConfig::default()).unwrap();
    Authenticator::new(source, Some(kube_client(fake)))
}

#[tokio::test]
async fn token_review_returns_the_user_or_none() {
    let fake = KubeFake::start().await;
    let mut user = FakeUser::new("carol", &["g1", "g2"]);
    user.extra.insert("scopes".into(), vec!["a".into()]);
    fake.add_token("carol-token", user);
    let authenticator = authenticator(&fake);
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", "Bearer carol-token".parse().unwrap());
    let got = authenticator
        .authenticate(None, &headers)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.username, "carol");
    assert_eq!(got.uid, "uid-carol");
    assert_eq!(got.groups, vec!["g1", "g2"]);
    assert_eq!(got.extra.get("scopes"), Some(&vec!["a".to_owned()]));
    headers.insert("authorization", "Bearer nope".parse().unwrap());
    assert_eq!(
        authenticator.authenticate(None, &headers).await.unwrap(),
        None
    );
    assert_eq!(fake.token_review_count(), 2);
}

#[tokio::test]
async fn a_failing_token_review_names_the_call_and_hides_the_token() {
    let fake = KubeFake::start().await;
    fake.require_bearer("webhook's own");
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "authorization",
        "Bearer callers-secret-token".parse().unwrap(),
    );
    let err = authenticator(&fake)
        .authenticate(None, &headers)
        .await
        .unwrap_err();
    let chain = auth::ErrorChain(&err).to_string();
    assert!(chain.starts_with("TokenReview failed"), "{chain}");
    assert!(chain.contains("own credentials"), "{chain}");
    assert!(!format!("{chain} {err:?}").contains("callers-secret"));
}

#[tokio::test]
async fn subject_access_review_sends_the_user_and_attributes_and_reads_the_decision() {
    let fake = KubeFake::start().await;
    fake.allow(SarRule::user("dave", "create", "acme.example.com", "gandi"));
    let authenticator = authenticator(&fake);
    let dave = auth::UserInfo {
        username: "dave".into(),
        uid: "u-1".into(),
        groups: vec!["g".into()],
        extra: BTreeMap::from([("k".to_owned(), vec!["v".to_owned()])]),
    };
    let create = |resource: &str| AccessAttributes::Resource {
        verb: "create".into(),
        group: "acme.example.com".into(),
        version: String::new(),
        resource: resource.into(),
    };
    let yes = authenticator
        .authorize(&dave, &create("gandi"))
        .await
        .unwrap();
    assert!(yes.allowed);
    let no = authenticator
        .authorize(&dave, &create("other"))
        .await
        .unwrap();
    assert!(!no.allowed);
    assert_eq!(no.reason, "no fake rule allows it");
    let spec = &fake.sar_requests()[0];
    assert_eq!(spec["user"], "dave");
    assert_eq!(spec["uid"], "u-1");
    assert_eq!(spec["groups"], serde_json::json!(["g"]));
    assert_eq!(spec["extra"]["k"], serde_json::json!(["v"]));
    assert_eq!(
        spec["resourceAttributes"],
        serde_json::json!({"verb": "create", "group": "acme.example.com", "resource": "gandi"})
    );
    let path = AccessAttributes::NonResource {
        path: "/metrics".into(),
        verb: "get".into(),
    };
    assert!(!authenticator.authorize(&dave, &path).await.unwrap().allowed);
    assert_eq!(
        fake.sar_requests()[2]["nonResourceAttributes"],
        serde_json::json!({"path": "/metrics", "verb": "get"})
    );
}
