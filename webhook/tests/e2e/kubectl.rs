//! kubectl as a real client of the running webhook: discovery as kube-aggregator and kubectl
//! read it, and a Present/CleanUp sent with `kubectl create --raw` whose record the
//! emulator's DNS then serves (and stops serving), seen with `dig`.

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dns01_testkit::emulator::{Emulator, Token};
use dns01_testkit::kubefake::SarRule;
use serde_json::{Value, json};

use crate::support::{
    APP, ClusterCas, GROUP, Issuer, PLATFORM_DOMAIN, PLATFORM_TOKEN, SECRET, SOLVER, Webhook,
    delegated,
};

const FRONT_PROXY_CN: &str = "front-proxy-client";
const KEY: &str = "kubectl-presented-key-0123456789abcdefghijk";

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("kubectl runs (it is on every machine of this project)")
}

/// A kubeconfig whose user is the front-proxy client certificate, trusting the webhook's CA.
fn write_kubeconfig(webhook: &Webhook, dir: &Path) -> std::path::PathBuf {
    let b64 = |s: &str| STANDARD.encode(s.as_bytes());
    let server = webhook.client.base().as_str().trim_end_matches('/');
    let config = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: webhook\n\
         clusters:\n- name: webhook\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\n\
         users:\n- name: front-proxy\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n\
         contexts:\n- name: webhook\n  context:\n    cluster: webhook\n    user: front-proxy\n",
        b64(&webhook.serving_ca_pem),
        b64(&webhook.front_proxy.cert_pem),
        b64(&webhook.front_proxy.key_pem),
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, config).unwrap();
    path
}

async fn emulator() -> Emulator {
    Emulator::builder()
        .zone(PLATFORM_DOMAIN)
        .token(Token::pat(PLATFORM_TOKEN))
        .start()
        .await
        .unwrap()
}

/// `dig +short` of the TXT values at `name`, from the emulator's DNS. (It blocks: the tests
/// run on a multi-threaded runtime so the emulator keeps answering meanwhile.)
fn dig_txt(emu: &Emulator, name: &str) -> String {
    let out = Command::new("dig")
        .arg(format!("@{}", emu.dns_addr().ip()))
        .args(["-p", &emu.dns_addr().port().to_string()])
        .args(["TXT", name, "+short"])
        .output()
        .expect("dig runs (scripts/install-deps.sh installs it)");
    assert!(out.status.success(), "dig failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A ChallengePayload as cert-manager sends it: no apiVersion/kind, an empty uid.
fn payload(action: &str) -> Value {
    let issuer = Issuer::follow("team-a");
    json!({
        "request": {
            "uid": "",
            "action": action,
            "type": "dns-01",
            "dnsName": APP,
            "key": KEY,
            "resourceNamespace": "team-a",
            "resolvedFQDN": format!("{}.", delegated("team-a")),
            "resolvedZone": format!("{PLATFORM_DOMAIN}."),
            "allowAmbientCredentials": false,
            "config": issuer.config,
        }
    })
}

fn create_raw(kubeconfig: &Path, dir: &Path, action: &str) -> Value {
    let file = dir.join(format!("{action}.json"));
    std::fs::write(&file, serde_json::to_vec(&payload(action)).unwrap()).unwrap();
    let path = format!("/apis/{GROUP}/v1alpha1/{SOLVER}");
    let out = kubectl(
        kubeconfig,
        &["create", "--raw", &path, "-f", file.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "kubectl create --raw failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("kubectl printed the webhook's JSON answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_discovers_the_api_and_presents_a_record_that_dns_then_serves() {
    let emu = emulator().await;
    // One CA as both front-proxy and client CA: kubectl cannot send identity headers, so its
    // front-proxy certificate authenticates as its CN, which the SAR then has to allow.
    let webhook = Webhook::start_with(&emu.api_url(), ClusterCas::Shared)
        .await
        .unwrap();
    webhook
        .kube
        .allow(SarRule::user(FRONT_PROXY_CN, "create", GROUP, SOLVER));
    webhook.kube.set_secret(
        "team-a",
        SECRET,
        &[("api-token", PLATFORM_TOKEN.as_bytes())],
    );
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(&webhook, dir.path());

    let out = kubectl(
        &kubeconfig,
        &["get", "--raw", &format!("/apis/{GROUP}/v1alpha1")],
    );
    assert!(
        out.status.success(),
        "kubectl get --raw failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["kind"], "APIResourceList");
    assert_eq!(list["groupVersion"], format!("{GROUP}/v1alpha1"));
    let resource = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == SOLVER)
        .unwrap_or_else(|| panic!("no {SOLVER} resource in {list}"));
    assert_eq!(resource["kind"], "ChallengePayload");
    assert_eq!(resource["namespaced"], false);
    assert_eq!(resource["verbs"], json!(["create"]));

    let name = delegated("team-a");
    assert_eq!(dig_txt(&emu, &name), "", "nothing is served before Present");
    let answer = create_raw(&kubeconfig, dir.path(), "Present");
    assert_eq!(answer["response"]["success"], true, "{answer}");
    assert_eq!(dig_txt(&emu, &name), format!("\"{KEY}\""));

    let answer = create_raw(&kubeconfig, dir.path(), "CleanUp");
    assert_eq!(answer["response"]["success"], true, "{answer}");
    assert_eq!(dig_txt(&emu, &name), "", "CleanUp removed the record");

    // The identity kubectl's certificate carried is what the webhook asked the SAR about.
    let sars = webhook.kube.sar_requests();
    assert!(
        sars.iter().any(|s| s["user"] == FRONT_PROXY_CN
            && s["resourceAttributes"]["verb"] == "create"
            && s["resourceAttributes"]["resource"] == SOLVER),
        "no SubjectAccessReview for {FRONT_PROXY_CN}: {sars:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_with_only_a_front_proxy_certificate_is_unauthorized_without_identity_headers() {
    let emu = emulator().await;
    // kubeadm's layout: the front-proxy CA is not a client CA, so its certificate proves
    // only that identity headers may be trusted, and kubectl sends none.
    let webhook = Webhook::start(&emu.api_url()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(&webhook, dir.path());
    let out = kubectl(
        &kubeconfig,
        &["get", "--raw", &format!("/apis/{GROUP}/v1alpha1")],
    );
    assert!(!out.status.success(), "an anonymous kubectl was served");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Unauthorized"), "{stderr}");
    assert_eq!(emu.total_requests(), 0);
}
