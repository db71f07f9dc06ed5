//! Secrets stay secret: full Present/CleanUp lifecycles through the webhook served over TLS,
//! with the `gandi` solver against the emulator and credentials read from the fake Kubernetes
//! API (over TLS, with a bearer token of its own), through every failure path, while a TRACE
//! subscriber captures every log line of the test's thread (the webhook, reqwest, hyper,
//! hyper-util, h2 and, through `tracing-log`, rustls). No credential may show in the logs, in
//! any answer (`success: false` messages and `Status` bodies) or in the `Debug` output of any
//! configuration, credential, error or state type.
//!
//! Every credential is searched for whole and in the base64 form the Kubernetes API carries;
//! all but the legacy API key also contain the marker [`MARKER`], which finds partial leaks.

use std::io::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use dns01_testkit::emulator::{Emulator, Token};
use dns01_testkit::kubefake::KubeFake;
use dns01_testkit::pki::TestCa;
use dns01_webhook::api::types::ChallengeRequest;
use dns01_webhook::router;
use dns01_webhook::secrets::{KubeSecrets, SecretSource, SecretString, StaticSecrets};
use dns01_webhook::server::ServeOptions;
use dns01_webhook::solver::config::{GandiSolverConfig, parse};
use dns01_webhook::solver::gandi::AmbientCredentials;
use dns01_webhook::solver::{Challenge, Solver as _};
use serde_json::{Value, json};
use tracing_subscriber::fmt::MakeWriter;

use crate::support::*;

/// In every credential of this module, and nowhere else.
const MARKER: &str = "SeCrEt7f3a9c";
const PAT: &str = "pat-SeCrEt7f3a9c-good-51e2b84d06";
/// A legacy API key is 24 lowercase letters and digits (no room for the marker): it is
/// searched for whole.
const API_KEY: &str = "secret7f3a9c0c4d9a5b1e2f";
const EXPIRED: &str = "pat-SeCrEt7f3a9c-expired-e81f2";
const READ_ONLY: &str = "pat-SeCrEt7f3a9c-readonly-77a3b";
const UNKNOWN: &str = "pat-SeCrEt7f3a9c-unknown-90d1c";
const AMBIENT: &str = "pat-SeCrEt7f3a9c-ambient-3f6e2";
const KUBE_TOKEN: &str = "sa-SeCrEt7f3a9c-webhook-b2d4";

const ALL: &[&str] = &[
    PAT, API_KEY, EXPIRED, READ_ONLY, UNKNOWN, AMBIENT, KUBE_TOKEN,
];

/// Panics if `text` shows any credential, whole, in base64 or by its marker.
fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(MARKER), "{what} shows a credential:\n{text}");
    for secret in ALL {
        let encoded = BASE64.encode(secret);
        assert!(
            !text.contains(&encoded),
            "{what} shows a credential in base64:\n{text}"
        );
    }
}

/// Log lines written by the test's subscriber.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs, for the current thread, a subscriber that records everything at TRACE in text
/// form, fields in `Debug` where they are not strings, with targets. `log` records (rustls,
/// reqwest) are forwarded to it.
fn capture_logs() -> (Capture, tracing::subscriber::DefaultGuard) {
    static LOG_BRIDGE: OnceLock<()> = OnceLock::new();
    LOG_BRIDGE.get_or_init(|| {
        // Another logger already installed would also see these records: fine for a test.
        let _ = tracing_log::LogTracer::init();
    });
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .with_target(true)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (capture, guard)
}

/// A kubeconfig for the TLS fake `fake`, signed by `ca`, with the webhook's token
/// [`KUBE_TOKEN`].
fn kubeconfig_yaml(fake: &KubeFake, ca: &TestCa) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
         clusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority-data: {}\n\
         users:\n- name: u\n  user:\n    token: {KUBE_TOKEN}\n\
         contexts:\n- name: c\n  context: {{cluster: c, user: u}}\n",
        fake.url(),
        BASE64.encode(ca.cert_pem()),
    )
}

struct Setup {
    emu: Emulator,
    fake: KubeFake,
    webhook: TlsWebhook,
    solver: Arc<dns01_webhook::solver::gandi::GandiSolver>,
    state_debug: String,
}

async fn setup() -> Setup {
    let emu = Emulator::builder()
        .zone("example.com")
        .token(Token::pat(PAT))
        .token(Token::api_key(API_KEY))
        .token(Token::pat(EXPIRED).expired())
        .token(Token::pat(READ_ONLY).read_only())
        .token(Token::pat(AMBIENT))
        .start()
        .await
        .unwrap();
    let kube_ca = TestCa::new("apiserver ca");
    let fake = KubeFake::start_tls(&kube_ca.server_cert(&[]), None).await;
    fake.require_bearer(KUBE_TOKEN);
    let pat_with_newline = format!("{PAT}\n");
    fake.set_secret(
        "team-a",
        "gandi-pat-as-apikey",
        &[("api-key", PAT.as_bytes())],
    );
    fake.set_secret(
        "team-a",
        "gandi-pat",
        &[("api-token", pat_with_newline.as_bytes())],
    );
    fake.set_secret("team-a", "gandi-apikey", &[("api-key", API_KEY.as_bytes())]);
    fake.set_secret(
        "team-a",
        "gandi-expired",
        &[("api-token", EXPIRED.as_bytes())],
    );
    fake.set_secret(
        "team-a",
        "gandi-readonly",
        &[("api-token", READ_ONLY.as_bytes())],
    );
    fake.set_secret(
        "team-a",
        "gandi-unknown",
        &[("api-token", UNKNOWN.as_bytes())],
    );
    fake.set_secret("team-a", "gandi-wrongkey", &[("token", PAT.as_bytes())]);
    fake.set_secret(
        "platform",
        "gandi-elsewhere",
        &[("api-token", PAT.as_bytes())],
    );
    fake.set_secret(
        "team-a",
        "gandi-forbidden",
        &[("api-token", PAT.as_bytes())],
    );
    fake.forbid_secret("team-a", "gandi-forbidden");
    // The webhook's own client, from a kubeconfig as `--kubeconfig` reads it.
    let kubeconfig = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(kubeconfig.path(), kubeconfig_yaml(&fake, &kube_ca)).unwrap();
    let kube = dns01_webhook::cluster::client(Some(kubeconfig.path()))
        .await
        .unwrap();
    let secrets: Arc<dyn SecretSource> = Arc::new(KubeSecrets::new(kube));
    let solver = gandi_solver(
        &emu,
        secrets,
        AmbientCredentials::new(Some(AMBIENT.into()), None),
    );
    let state = gandi_state(solver.clone());
    let state_debug = format!("{state:?}");
    let webhook = TlsWebhook::start(router(state), ServeOptions::default()).await;
    Setup {
        emu,
        fake,
        webhook,
        solver,
        state_debug,
    }
}

/// One lifecycle: its solver config, whether ambient credentials are allowed, and what the
/// Present and CleanUp answers must say (`None`: success; else fragments of the message).
struct Case {
    name: &'static str,
    config: Value,
    allow_ambient: bool,
    present_failure: Option<&'static [&'static str]>,
    cleanup_failure: Option<&'static [&'static str]>,
}

fn pat_ref(secret: &str) -> Value {
    json!({"patSecretRef": {"name": secret}})
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "personal access token",
            config: pat_ref("gandi-pat"),
            allow_ambient: false,
            present_failure: None,
            cleanup_failure: None,
        },
        Case {
            name: "API key",
            config: json!({"apiKeySecretRef": {"name": "gandi-apikey"}}),
            allow_ambient: false,
            present_failure: None,
            cleanup_failure: None,
        },
        Case {
            name: "personal access token under apiKeySecretRef",
            config: json!({"apiKeySecretRef": {"name": "gandi-pat-as-apikey"}}),
            allow_ambient: false,
            present_failure: None,
            cleanup_failure: None,
        },
        Case {
            name: "ambient token (ClusterIssuer)",
            config: json!({}),
            allow_ambient: true,
            present_failure: None,
            cleanup_failure: None,
        },
        Case {
            name: "401 unknown token",
            config: pat_ref("gandi-unknown"),
            allow_ambient: false,
            present_failure: Some(&["authentication"]),
            cleanup_failure: Some(&["authentication"]),
        },
        Case {
            name: "401 expired token",
            config: pat_ref("gandi-expired"),
            allow_ambient: false,
            present_failure: Some(&["authentication"]),
            cleanup_failure: Some(&["authentication"]),
        },
        Case {
            name: "403 read-only token",
            config: pat_ref("gandi-readonly"),
            allow_ambient: false,
            present_failure: Some(&["permission"]),
            cleanup_failure: None,
        },
        Case {
            name: "missing Secret",
            config: pat_ref("gandi-missing"),
            allow_ambient: false,
            present_failure: Some(&["secret team-a/gandi-missing not found"]),
            cleanup_failure: Some(&["secret team-a/gandi-missing not found"]),
        },
        Case {
            name: "missing key in the Secret",
            config: pat_ref("gandi-wrongkey"),
            allow_ambient: false,
            present_failure: Some(&["has no key \"api-token\"", "its keys: token"]),
            cleanup_failure: Some(&["has no key \"api-token\"", "its keys: token"]),
        },
        Case {
            name: "Secret in another namespace",
            config: pat_ref("gandi-elsewhere"),
            allow_ambient: false,
            present_failure: Some(&["secret team-a/gandi-elsewhere not found"]),
            cleanup_failure: Some(&["secret team-a/gandi-elsewhere not found"]),
        },
        Case {
            name: "Secret the webhook may not read",
            config: pat_ref("gandi-forbidden"),
            allow_ambient: false,
            present_failure: Some(&["may not read it"]),
            cleanup_failure: Some(&["may not read it"]),
        },
        Case {
            name: "token pasted where the reference belongs",
            config: json!({"patSecretRef": PAT}),
            allow_ambient: false,
            present_failure: Some(&["invalid type: a string"]),
            cleanup_failure: Some(&["invalid type: a string"]),
        },
        Case {
            name: "API key pasted where the reference belongs",
            config: json!({"apiKeySecretRef": API_KEY, "ttl": 300}),
            allow_ambient: false,
            present_failure: Some(&["invalid type: a string"]),
            cleanup_failure: Some(&["invalid type: a string"]),
        },
    ]
}

fn lifecycle_payload(action: &str, case: &Case) -> Value {
    let mut p = payload(
        action,
        "example.com",
        "_acme-challenge.example.com.",
        "team-a",
        case.config.clone(),
    );
    p["request"]["allowAmbientCredentials"] = json!(case.allow_ambient);
    p
}

/// Bodies that are HTTP errors (`Status`), each carrying a credential somewhere.
fn bad_bodies() -> Vec<(u16, Vec<u8>)> {
    let with = |request: Value| serde_json::to_vec(&json!({ "request": request })).unwrap();
    vec![
        (
            400,
            with(json!({
                "action": "Present", "allowAmbientCredentials": "yes",
                "config": {"patSecretRef": PAT},
            })),
        ),
        (
            400,
            with(json!({"action": "Present", "key": {"value": PAT}, "config": {}})),
        ),
        (
            400,
            with(json!({"action": "Present", "resolvedFQDN": [PAT]})),
        ),
        (
            400,
            format!("{{\"request\": {{\"action\": \"Present\", \"config\": \"{PAT}").into_bytes(),
        ),
        (
            400,
            format!("{{\"request\": {{\"action\": \"Present\", \"key\": \"{PAT}\"}}}} trailing")
                .into_bytes(),
        ),
        (
            422,
            format!("{{\"request\": {{\"config\": {{\"patSecretRef\": \"{PAT}\"}}}}}}")
                .into_bytes(),
        ),
        (
            413,
            format!(
                "{{\"request\": {{\"action\": \"Present\", \"key\": \"{}\"}}}}",
                PAT.repeat(40_000)
            )
            .into_bytes(),
        ),
    ]
}

#[tokio::test]
async fn no_credential_shows_in_trace_logs_answers_or_errors_across_every_lifecycle_and_failure_path()
 {
    let (logs, _guard) = capture_logs();
    let s = setup().await;
    let client = s.webhook.https_client();
    let mut answers = Vec::new();

    for case in cases() {
        for action in ["Present", "CleanUp"] {
            let response = client
                .post(s.webhook.url("gandi"))
                .json(&lifecycle_payload(action, &case))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 201, "{}", case.name);
            let body = response.text().await.unwrap();
            let value: Value = serde_json::from_str(&body).unwrap();
            let ok = value["response"]["success"].as_bool().unwrap();
            let expected = if action == "Present" {
                case.present_failure
            } else {
                case.cleanup_failure
            };
            match expected {
                None => assert!(ok, "{} {action}: {body}", case.name),
                Some(fragments) => {
                    assert!(!ok, "{} {action}: {body}", case.name);
                    let message = value["response"]["status"]["message"]
                        .as_str()
                        .unwrap()
                        .to_lowercase();
                    for fragment in fragments {
                        assert!(
                            message.contains(&fragment.to_lowercase()),
                            "{} {action}: {fragment:?} not in {message}",
                            case.name
                        );
                    }
                }
            }
            let written = s.emu.decoded_txt("example.com", "_acme-challenge").len();
            let expect_written = usize::from(action == "Present" && case.present_failure.is_none());
            assert_eq!(written, expect_written, "{} {action}", case.name);
            // The answer echoes the request as cert-manager sent it (the protocol's
            // `config` echo, back to its sender); everything the webhook adds must be clean.
            let mut added = value.clone();
            added["request"].take();
            answers.push(added.to_string());
        }
    }
    assert!(
        s.emu
            .decoded_txt("example.com", "_acme-challenge")
            .is_empty(),
        "a lifecycle left a record"
    );

    for (code, body) in bad_bodies() {
        let response = client
            .post(s.webhook.url("gandi"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(status, code, "{text}");
        assert!(text.contains("\"kind\":\"Status\""), "{text}");
        answers.push(text);
    }

    // The same failures straight from the solver: the Rust errors, in every form.
    let mut errors = Vec::new();
    for case in cases().into_iter().filter(|c| c.present_failure.is_some()) {
        let request: ChallengeRequest =
            serde_json::from_value(lifecycle_payload("Present", &case)["request"].clone()).unwrap();
        let challenge = Challenge::from_request(&request).unwrap();
        let error = s.solver.run(&challenge).await.unwrap_err();
        errors.push(format!("{error}\n{error:?}\n{}", error.report()));
    }

    for (i, answer) in answers.iter().enumerate() {
        assert_clean(&format!("answer {i}"), answer);
    }
    for (i, error) in errors.iter().enumerate() {
        assert_clean(&format!("error {i}"), error);
    }
    assert_clean("AppState Debug", &s.state_debug);
    assert_clean("GandiSolver Debug after use", &format!("{:?}", s.solver));

    // The credentials did travel: the fake saw the webhook's token and the emulator the Gandi
    // ones (else "nothing leaked" would prove nothing).
    assert!(
        s.fake
            .requests()
            .iter()
            .any(|r| r.bearer.as_deref() == Some(KUBE_TOKEN))
    );
    assert!(s.emu.counters().total() > 0);

    let logs = logs.text();
    for target in [
        "dns01_webhook",
        "dns01_gandi",
        "rustls",
        "reqwest",
        "hyper_util",
        "h2",
    ] {
        assert!(
            logs.lines().any(|l| l.contains(&format!(" {target}"))),
            "no log line from {target}: the capture is not at TRACE"
        );
    }
    assert!(logs.contains("TRACE"), "no TRACE line captured");
    assert!(
        logs.contains("challenge failed"),
        "the failures were not logged"
    );
    assert_clean("the TRACE logs", &logs);
    // For the record, so a reviewer can see what was searched.
    let _ = writeln!(
        std::io::stderr(),
        "captured {} log lines, {} answers, {} errors",
        logs.lines().count(),
        answers.len(),
        errors.len()
    );
}

#[test]
fn debug_output_of_every_configuration_credential_and_error_type_hides_the_credentials() {
    let mut shown = Vec::new();
    let secret = SecretString::new(PAT);
    shown.push(format!("{secret:?} {secret}"));
    shown.push(format!(
        "{:?}",
        AmbientCredentials::new(Some(AMBIENT.into()), Some(API_KEY.into()))
    ));
    let pat = dns01_gandi::Credentials::personal_access_token(PAT);
    let key = dns01_gandi::Credentials::api_key(API_KEY);
    shown.push(format!("{pat:?} {key:?} {} {}", pat.secret(), key.secret()));
    let config = dns01_gandi::GandiConfig::new(pat.clone()).with_sharing_id("org");
    shown.push(format!("{config:?}"));
    shown.push(format!(
        "{:?}",
        dns01_gandi::GandiStore::new(config.clone()).unwrap()
    ));
    shown.push(format!("{:?}", dns01_gandi::provider(config).unwrap()));
    // The webhook's Kubernetes configuration and client, with a token and a client key.
    let kubeconfig = tempfile::NamedTempFile::new().unwrap();
    let key = BASE64.encode(format!("-----BEGIN PRIVATE KEY-----\n{KUBE_TOKEN}\n"));
    std::fs::write(
        kubeconfig.path(),
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
             clusters:\n- name: c\n  cluster: {{server: 'https://127.0.0.1:1/'}}\n\
             users:\n- name: u\n  user:\n    token: {KUBE_TOKEN}\n    client-key-data: {key}\n\
             contexts:\n- name: c\n  context: {{cluster: c, user: u}}\n"
        ),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = runtime
        .block_on(dns01_webhook::cluster::config_from_kubeconfig(
            kubeconfig.path(),
        ))
        .unwrap();
    shown.push(format!("{config:?}"));
    let mut client_config = kube::Config::new("https://127.0.0.1:1/".parse().unwrap());
    client_config.auth_info.token = Some(KUBE_TOKEN.to_owned().into());
    let kube = runtime.block_on(async { kube::Client::try_from(client_config).unwrap() });
    shown.push(format!("{:?}", KubeSecrets::new(kube)));
    let statics = StaticSecrets::new();
    statics.insert("team-a", "gandi-pat", "api-token", PAT);
    shown.push(format!("{statics:?}"));
    let data = std::collections::BTreeMap::from([("token".to_owned(), PAT.as_bytes().to_vec())]);
    let missing =
        dns01_webhook::secrets::extract_key("team-a", "gandi", "api-token", data).unwrap_err();
    shown.push(format!("{missing} {missing:?}"));
    let cfg: GandiSolverConfig = parse(
        "gandi",
        Some(&json!({"patSecretRef": {"name": "gandi-pat"}})),
    )
    .unwrap();
    shown.push(format!("{cfg:?}"));
    let pasted =
        parse::<GandiSolverConfig>("gandi", Some(&json!({"patSecretRef": PAT}))).unwrap_err();
    shown.push(format!("{pasted} {pasted:?} {}", pasted.report()));
    for (i, text) in shown.iter().enumerate() {
        assert_clean(&format!("Debug output {i}"), text);
    }
    // Positive control: the marker search would find an exposed value.
    assert!(secret.expose().contains(MARKER));
}

/// Every request is one log line that says what was asked and how it ended, so an operator can
/// follow a challenge without a debugger: action, dnsName, resolvedFQDN, solver, outcome and
/// duration, at INFO for answers and WARN for failures.
#[tokio::test]
async fn each_request_is_logged_in_one_line_with_its_action_names_solver_outcome_and_duration() {
    let (logs, _guard) = capture_logs();
    let zone = dns01_core::ZoneName::parse("example.com").unwrap();
    let mut solvers = dns01_webhook::solver::Solvers::new();
    solvers.insert(
        "memory".to_owned(),
        Arc::new(dns01_webhook::solver::memory::MemorySolver::new(vec![zone])),
    );
    let app = router(dns01_webhook::AppState::new("acme.dns01.test", solvers));
    let request = |action: &str, fqdn: &str| {
        json!({"request": {
            "uid": "", "action": action, "type": "dns-01", "dnsName": "app.example.com",
            "key": "k-123", "resourceNamespace": "team-a", "resolvedFQDN": fqdn,
            "resolvedZone": "example.com.", "allowAmbientCredentials": false, "config": {}
        }})
    };
    let uri = "/apis/acme.dns01.test/v1alpha1/memory";
    for body in [
        request("Present", "_acme-challenge.app.example.com."),
        request("CleanUp", "_acme-challenge.app.example.org."),
    ] {
        let req = http::Request::post(uri)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        tower::ServiceExt::oneshot(app.clone(), req).await.unwrap();
    }
    let text = logs.text();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("challenge answered") || l.contains("challenge failed"))
        .collect();
    assert_eq!(lines.len(), 2, "one line per request:\n{text}");
    for (line, (level, action, fqdn, outcome)) in lines.iter().zip([
        (
            "INFO",
            "Present",
            "_acme-challenge.app.example.com",
            "success",
        ),
        (
            "WARN",
            "CleanUp",
            "_acme-challenge.app.example.org",
            "provider_error",
        ),
    ]) {
        for needle in [
            level,
            &format!("action=\"{action}\""),
            "dns_name=\"app.example.com\"",
            &format!("resolved_fqdn=\"{fqdn}.\""),
            "namespace=\"team-a\"",
            "solver=\"memory\"",
            &format!("outcome=\"{outcome}\""),
            "duration_ms=",
        ] {
            assert!(line.contains(needle), "{needle:?} missing from {line}");
        }
        // A failure says why, under a key of its own.
        assert_eq!(
            line.contains(" reason=\""),
            level == "WARN",
            "reason in {line}"
        );
    }
}
