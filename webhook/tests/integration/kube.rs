//! The minimal Kubernetes client against the fake API server: kubeconfig forms, errors,
//! TokenReview and SubjectAccessReview wire format.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: panics are failures

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use dns01_testkit::kubefake::{FakeUser, KubeFake, SarRule};
use dns01_testkit::pki::TestCa;
use dns01_webhook::auth::UserInfo;
use dns01_webhook::kube::{KubeClient, KubeCredentials, KubeError, KubeTls};

fn kubeconfig(server: &str, cluster: &str, user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: test\n\
         contexts:\n- name: other\n  context: {{cluster: nowhere, user: nobody}}\n\
         - name: test\n  context: {{cluster: c, user: u}}\n\
         clusters:\n- name: c\n  cluster:\n    server: {server}\n{cluster}\
         users:\n- name: u\n  user:\n{user}"
    )
}

fn sample_configmap() -> BTreeMap<String, String> {
    BTreeMap::from([("key".to_owned(), "value".to_owned())])
}

#[tokio::test]
async fn a_kubeconfig_with_inline_ca_data_and_a_token_user_reaches_the_api() {
    let ca = TestCa::new("apiserver ca");
    let fake = KubeFake::start_tls(&ca.server_cert(&[]), None).await;
    fake.require_bearer("sekret-token");
    fake.set_configmap("ns", "cm", sample_configmap());
    let yaml = kubeconfig(
        fake.url().as_str(),
        &format!(
            "    certificate-authority-data: {}\n",
            BASE64.encode(ca.cert_pem())
        ),
        "    token: sekret-token\n",
    );
    let client =
        KubeClient::from_kubeconfig_str(&yaml, std::path::Path::new("/nonexistent")).unwrap();
    assert_eq!(
        client.get_configmap("ns", "cm").await.unwrap(),
        sample_configmap()
    );
    assert_eq!(fake.requests()[0].bearer.as_deref(), Some("sekret-token"));
    assert!(!format!("{client:?}").contains("sekret"));
}

#[tokio::test]
async fn a_kubeconfig_file_with_relative_paths_and_a_client_certificate_user_reaches_the_api() {
    let ca = TestCa::new("apiserver ca");
    let clients = TestCa::new("client ca");
    let fake = KubeFake::start_tls(&ca.server_cert(&[]), Some(&clients)).await;
    fake.require_bearer("only-for-others");
    fake.set_secret("ns", "s", &[("api-token", b"t0k".as_slice())]);
    let user = clients.client_cert("system:kube-aggregator", &[]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.crt"), ca.cert_pem()).unwrap();
    std::fs::write(dir.path().join("client.crt"), &user.cert_pem).unwrap();
    std::fs::write(dir.path().join("client.key"), &user.key_pem).unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        kubeconfig(
            fake.url().as_str(),
            "    certificate-authority: ca.crt\n",
            "    client-certificate: client.crt\n    client-key: client.key\n",
        ),
    )
    .unwrap();
    let client = KubeClient::from_kubeconfig(&path).unwrap();
    let secret = client.get_secret("ns", "s").await.unwrap();
    assert_eq!(
        secret.get("api-token").map(Vec::as_slice),
        Some(b"t0k".as_slice())
    );
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
    fake.set_configmap("ns", "cm", sample_configmap());
    let user = clients.client_cert("someone", &[]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "file-token\n").unwrap();
    let yaml = kubeconfig(
        fake.url().as_str(),
        &format!(
            "    certificate-authority-data: {}\n",
            BASE64.encode(ca.cert_pem())
        ),
        &format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n    tokenFile: token\n",
            BASE64.encode(&user.cert_pem),
            BASE64.encode(&user.key_pem)
        ),
    );
    let client = KubeClient::from_kubeconfig_str(&yaml, dir.path()).unwrap();
    client.get_configmap("ns", "cm").await.unwrap();
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
    fake.set_configmap("ns", "cm", sample_configmap());
    let wrong = TestCa::new("wrong ca");
    let yaml = kubeconfig(
        fake.url().as_str(),
        &format!(
            "    certificate-authority-data: {}\n",
            BASE64.encode(wrong.cert_pem())
        ),
        "    {}\n",
    );
    let client = KubeClient::from_kubeconfig_str(&yaml, std::path::Path::new(".")).unwrap();
    assert!(matches!(
        client.get_configmap("ns", "cm").await,
        Err(KubeError::Http(_))
    ));
    let yaml = kubeconfig(
        fake.url().as_str(),
        "    insecure-skip-tls-verify: true\n",
        "    {}\n",
    );
    let client = KubeClient::from_kubeconfig_str(&yaml, std::path::Path::new(".")).unwrap();
    assert_eq!(
        client.get_configmap("ns", "cm").await.unwrap(),
        sample_configmap()
    );
}

async fn plain_client(fake: &KubeFake) -> KubeClient {
    KubeClient::new(fake.url(), KubeTls::default(), KubeCredentials::None).unwrap()
}

#[tokio::test]
async fn get_secret_not_found_names_the_namespace_and_name() {
    let fake = KubeFake::start().await;
    let err = plain_client(&fake)
        .await
        .get_secret("tenant-a", "gandi-credentials")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, KubeError::NotFound { kind: "Secret", namespace, name } if namespace == "tenant-a" && name == "gandi-credentials")
    );
    assert_eq!(
        err.to_string(),
        "Secret tenant-a/gandi-credentials not found"
    );
}

#[tokio::test]
async fn a_forbidden_secret_read_carries_the_api_message_and_no_secret_data() {
    let fake = KubeFake::start().await;
    fake.set_secret("tenant-a", "s", &[("api-token", b"topsecret".as_slice())]);
    fake.forbid_secret("tenant-a", "s");
    let err = plain_client(&fake)
        .await
        .get_secret("tenant-a", "s")
        .await
        .unwrap_err();
    let KubeError::Forbidden { message } = &err else {
        panic!("expected Forbidden, got {err:?}");
    };
    assert!(
        message.contains("cannot get resource \"secrets\""),
        "{message}"
    );
    assert!(!format!("{err:?}").contains("topsecret"));
}

#[tokio::test]
async fn a_missing_bearer_token_surfaces_as_unauthorized() {
    let fake = KubeFake::start().await;
    fake.require_bearer("right");
    let client = KubeClient::new(
        fake.url(),
        KubeTls::default(),
        KubeCredentials::Token("wrong".into()),
    )
    .unwrap();
    let err = client.get_configmap("a", "b").await.unwrap_err();
    assert!(matches!(err, KubeError::Unauthorized { .. }), "{err:?}");
    assert!(!err.to_string().contains("wrong"));
}

#[tokio::test]
async fn token_review_returns_the_user_or_none() {
    let fake = KubeFake::start().await;
    let mut user = FakeUser::new("carol", &["g1", "g2"]);
    user.extra.insert("scopes".into(), vec!["a".into()]);
    fake.add_token("carol-token", user);
    let client = plain_client(&fake).await;
    let got = client.token_review("carol-token").await.unwrap().unwrap();
    assert_eq!(got.username, "carol");
    assert_eq!(got.uid, "uid-carol");
    assert_eq!(got.groups, vec!["g1", "g2"]);
    assert_eq!(got.extra.get("scopes"), Some(&vec!["a".to_owned()]));
    assert_eq!(client.token_review("nope").await.unwrap(), None);
    assert_eq!(fake.token_review_count(), 2);
}

#[tokio::test]
async fn subject_access_review_sends_the_user_and_attributes_and_reads_the_decision() {
    let fake = KubeFake::start().await;
    fake.allow(SarRule::user("dave", "create", "acme.example.com", "gandi"));
    let client = plain_client(&fake).await;
    let dave = UserInfo {
        username: "dave".into(),
        uid: "u-1".into(),
        groups: vec!["g".into()],
        extra: BTreeMap::from([("k".to_owned(), vec!["v".to_owned()])]),
    };
    let yes = client
        .subject_access_review(&dave, "create", "acme.example.com", "gandi")
        .await
        .unwrap();
    assert!(yes.allowed);
    let no = client
        .subject_access_review(&dave, "create", "acme.example.com", "other")
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
}
