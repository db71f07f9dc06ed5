//! The real `dns01-webhook` binary, started as cert-manager's cluster would run it: a fake
//! Kubernetes API (authentication ConfigMap, Secrets, SubjectAccessReview), a serving
//! certificate from a test CA, Gandi at the emulator (or at Gandi itself).

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use dns01_testkit::acmetest::{CERT_MANAGER_USER, WebhookClient};
use dns01_testkit::emulator::{Emulator, RrsetSnapshot, Token};
use dns01_testkit::kubefake::{KubeFake, SarRule, authentication_configmap};
use dns01_testkit::pki::{TestCa, TestCert};

/// The API group the webhook serves in these tests.
pub(crate) const GROUP: &str = "acme.dns01.test";
/// The solver name.
pub(crate) const SOLVER: &str = "gandi";
/// The CN of kube-apiserver's front-proxy client certificate.
const FRONT_PROXY_CN: &str = "front-proxy-client";
/// Poll interval of every wait in these tests.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// Environment variables the binary reads through clap (`env = ...`) or for ambient
/// credentials: removed from the child so the caller's shell cannot change the test.
const CLEARED_ENV: &[&str] = &[
    "GROUP_NAME",
    "SECURE_PORT",
    "BIND_ADDRESS",
    "TLS_CERT_FILE",
    "TLS_PRIVATE_KEY_FILE",
    "METRICS_ADDRESS",
    "KUBECONFIG",
    "GANDI_API_URL",
    "GANDI_SANDBOX_API_URL",
    "GANDI_CREDENTIALS_FILE",
    "GANDI_RATE_LIMIT_PER_MINUTE",
    "GANDI_TIMEOUT",
    "REQUEST_TIMEOUT",
    "MEMORY_ZONES",
    "RFC2136_NAMESERVERS",
    "RFC2136_TIMEOUT",
    "RRSET_LOCK",
    "POD_NAMESPACE",
    "POD_NAME",
    "RRSET_LEASE_DURATION",
    "SHUTDOWN_GRACE_PERIOD",
    "CLIENT_CA_FILE",
    "REQUESTHEADER_CLIENT_CA_FILE",
    "REQUESTHEADER_ALLOWED_NAMES",
    "GANDI_PAT",
    "GANDI_API_KEY",
    "LOG_FORMAT",
    "RUST_LOG",
];

/// A running `dns01-webhook serve`, with the fake cluster around it; killed when dropped.
pub(crate) struct Webhook {
    /// The fake Kubernetes API the webhook reads Secrets from and asks SARs of.
    pub(crate) kube: Arc<KubeFake>,
    /// A client that calls it as kube-apiserver does for cert-manager.
    pub(crate) client: WebhookClient,
    /// The front-proxy client certificate (CN `front-proxy-client`) the client presents.
    pub(crate) front_proxy: TestCert,
    /// The CA that signed the webhook's serving certificate, PEM encoded.
    pub(crate) serving_ca_pem: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("base", self.client.base())
            .finish_non_exhaustive()
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding an ephemeral port")?;
    Ok(l.local_addr()?.port())
}

fn kubeconfig(server: &url::Url) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
         clusters:\n- name: fake\n  cluster:\n    server: {server}\n\
         users:\n- name: webhook\n  user:\n    token: webhook-service-account-token\n\
         contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: webhook\n"
    )
}

/// Which CAs the fake cluster's `extension-apiserver-authentication` ConfigMap names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClusterCas {
    /// A front-proxy (requestheader) CA and no client CA, as kubeadm sets up.
    FrontProxyOnly,
    /// One CA as both requestheader CA and client CA, as some distributions set up: a
    /// front-proxy certificate sent without identity headers then authenticates as its CN.
    Shared,
}

impl Webhook {
    /// Starts the binary with Gandi's production endpoint at `gandi_api_url` and waits for
    /// `/readyz`.
    pub(crate) async fn start(gandi_api_url: &str) -> anyhow::Result<Self> {
        Self::start_with(gandi_api_url, ClusterCas::FrontProxyOnly).await
    }

    /// [`Webhook::start`] with the cluster's authentication CAs set up as `cas` says.
    pub(crate) async fn start_with(gandi_api_url: &str, cas: ClusterCas) -> anyhow::Result<Self> {
        Self::start_with_args(gandi_api_url, cas, &[]).await
    }

    /// [`Webhook::start_with`], passing `extra` flags to `dns01-webhook serve`.
    pub(crate) async fn start_with_args(
        gandi_api_url: &str,
        cas: ClusterCas,
        extra: &[String],
    ) -> anyhow::Result<Self> {
        Self::start_in(&Cluster::start(cas).await, gandi_api_url, extra).await
    }

    /// Another replica in the same fake cluster as `self` (same API server and front proxy),
    /// with `extra` flags.
    pub(crate) async fn start_replica(
        &self,
        gandi_api_url: &str,
        extra: &[String],
    ) -> anyhow::Result<Self> {
        let cluster = Cluster {
            kube: self.kube.clone(),
            front_proxy: self.front_proxy.clone(),
        };
        Self::start_in(&cluster, gandi_api_url, extra).await
    }

    async fn start_in(
        cluster: &Cluster,
        gandi_api_url: &str,
        extra: &[String],
    ) -> anyhow::Result<Self> {
        let kube = cluster.kube.clone();
        let front_proxy = cluster.front_proxy.clone();
        let serving_ca = TestCa::new("webhook serving ca");
        let dir = tempfile::tempdir()?;
        let serving = serving_ca.server_cert(&[]);
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        serving.write_pem_files(&cert, &key);
        let kubeconfig_path = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig_path, kubeconfig(&kube.url()))?;

        let log_path = dir.path().join("webhook.log");
        let mut attempt = 1;
        loop {
            // A port picked free may be taken before the child binds it: then pick another.
            let port = free_port()?;
            let child = spawn(
                &cert,
                &key,
                &kubeconfig_path,
                port,
                gandi_api_url,
                &log_path,
                extra,
            )?;
            let base: url::Url = format!("https://127.0.0.1:{port}/").parse()?;
            let client =
                WebhookClient::new(base, serving_ca.cert_pem(), &front_proxy.identity_pem())?;
            let mut child = Some(child);
            match wait_ready(&mut child, &client, &log_path).await {
                Ok(()) => {
                    return Ok(Self {
                        kube,
                        client,
                        front_proxy,
                        serving_ca_pem: serving_ca.cert_pem().to_owned(),
                        child: child.take().context("child")?,
                        dir,
                    });
                }
                Err(e) if attempt < 3 && format!("{e:#}").contains("cannot listen") => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The webhook's log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("webhook.log")).unwrap_or_default()
    }
}

/// The fake cluster around one or more webhook replicas: its API server (authentication
/// ConfigMap, SubjectAccessReview rule for cert-manager) and kube-apiserver's front-proxy
/// client certificate.
struct Cluster {
    kube: Arc<KubeFake>,
    front_proxy: TestCert,
}

impl Cluster {
    async fn start(cas: ClusterCas) -> Self {
        let kube = KubeFake::start().await;
        let front_ca = TestCa::new("front-proxy-ca");
        let client_ca = (cas == ClusterCas::Shared).then_some(&front_ca);
        kube.set_configmap(
            "kube-system",
            "extension-apiserver-authentication",
            authentication_configmap(Some(&front_ca), client_ca, &[FRONT_PROXY_CN]),
        );
        kube.allow(SarRule::user(CERT_MANAGER_USER, "create", GROUP, SOLVER));
        Self {
            kube: Arc::new(kube),
            front_proxy: front_ca.client_cert(FRONT_PROXY_CN, &[]),
        }
    }
}

/// Waits for `/readyz`; kills the child on failure.
async fn wait_ready(
    child: &mut Option<Child>,
    client: &WebhookClient,
    log_path: &Path,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let result = loop {
        let Some(c) = child.as_mut() else {
            bail!("no child process");
        };
        if let Some(status) = c.try_wait()? {
            break Err(anyhow::anyhow!(
                "dns01-webhook exited with {status} before it was ready; its log:\n{}",
                std::fs::read_to_string(log_path).unwrap_or_default()
            ));
        }
        if let Ok(200) = client.get_status("readyz").await {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(20) {
            break Err(anyhow::anyhow!(
                "dns01-webhook was not ready after 20 s; its log:\n{}",
                std::fs::read_to_string(log_path).unwrap_or_default()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
    result
}

fn spawn(
    cert: &Path,
    key: &Path,
    kubeconfig: &Path,
    port: u16,
    gandi_api_url: &str,
    log_path: &Path,
    extra: &[String],
) -> anyhow::Result<Child> {
    let log = std::fs::File::create(log_path)?;
    let mut command = Command::new(env!("CARGO_BIN_EXE_dns01-webhook"));
    for var in CLEARED_ENV {
        command.env_remove(var);
    }
    command
        .arg("serve")
        .args(["--group-name", GROUP])
        .args(["--bind-address", "127.0.0.1"])
        .args(["--secure-port", &port.to_string()])
        .arg("--tls-cert-file")
        .arg(cert)
        .arg("--tls-private-key-file")
        .arg(key)
        .args(["--metrics-address", "127.0.0.1:0"])
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--gandi-api-url", gandi_api_url])
        .args(["--gandi-timeout", "5s"])
        .args(["--request-timeout", "20s"])
        .args(["--shutdown-grace-period", "1s"])
        .args([
            "--log-level",
            "dns01_webhook=debug,dns01_gandi=debug,dns01_rfc2136=debug,info",
        ])
        .args(extra)
        // The log is a file: plain text whatever the environment says about colours.
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting dns01-webhook")
}

impl Webhook {
    /// Kills the process at once (SIGKILL), as a node loss would: nothing is cleaned up.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every rrset of the listed zones, for before/after comparisons.
pub(crate) fn snapshot(emu: &Emulator, zones: &[&str]) -> Vec<(String, Vec<RrsetSnapshot>)> {
    zones
        .iter()
        .map(|z| ((*z).to_owned(), emu.rrsets(z)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The platform of DESIGN.md, with a real ACME CA: a customer zone the platform cannot write,
// a validation zone inside the platform's Gandi domain, Pebble validating over the
// emulator's DNS, and a harness that plays cert-manager's ACME controller.
// ---------------------------------------------------------------------------------------

/// The customer's domain (another Gandi organisation: the platform's tokens cannot see it).
pub(crate) const CUSTOMER_ZONE: &str = "customer.test";
/// The certificate's name.
pub(crate) const APP: &str = "app.customer.test";
/// The platform's Gandi domain.
pub(crate) const PLATFORM_DOMAIN: &str = "platform.test";
/// The delegated validation zone, inside [`PLATFORM_DOMAIN`].
pub(crate) const VALIDATION_ZONE: &str = "acme.platform.test";
/// The platform's token: writes [`PLATFORM_DOMAIN`], nothing else.
pub(crate) const PLATFORM_TOKEN: &str = "platform-pat-write";
/// A token that may only read [`PLATFORM_DOMAIN`].
pub(crate) const READ_ONLY_TOKEN: &str = "platform-pat-read-only";
/// The Secret every tenant's Issuer references.
pub(crate) const SECRET: &str = "gandi-credentials";
/// The Secret holding [`READ_ONLY_TOKEN`].
pub(crate) const READ_ONLY_SECRET: &str = "gandi-read-only";
const CUSTOMER_ORG: &str = "22222222-2222-4222-8222-222222222222";

/// The name tenant `namespace` writes at for [`APP`] (what `dns01-webhook cname` prints).
pub(crate) fn delegated(namespace: &str) -> String {
    let name = dns01_core::delegation::delegated_name(
        &dns01_core::Fqdn::parse(APP).expect("fqdn"),
        namespace,
        &dns01_core::ZoneName::parse(VALIDATION_ZONE).expect("zone"),
    )
    .expect("delegated name");
    name.as_str().to_owned()
}

/// `name` relative to [`PLATFORM_DOMAIN`], as the emulator stores it.
pub(crate) fn in_platform(name: &str) -> String {
    name.trim_end_matches('.')
        .strip_suffix(&format!(".{PLATFORM_DOMAIN}"))
        .expect("a name inside the platform domain")
        .to_owned()
}

/// An Issuer: its namespace, its solver config, and whether it follows CNAMEs.
#[derive(Debug, Clone)]
pub(crate) struct Issuer {
    pub(crate) namespace: String,
    pub(crate) config: serde_json::Value,
    pub(crate) cname_follow: bool,
}

impl Issuer {
    /// `cnameStrategy: Follow` with `delegation.mode: follow` and tenant binding.
    pub(crate) fn follow(namespace: &str) -> Self {
        Self::with(namespace, SECRET, "follow", true)
    }

    /// No CNAME following; the webhook maps `dnsName` to the tenant's name itself.
    pub(crate) fn map(namespace: &str) -> Self {
        Self::with(namespace, SECRET, "map", false)
    }

    pub(crate) fn with(namespace: &str, secret: &str, mode: &str, cname_follow: bool) -> Self {
        Self {
            namespace: namespace.to_owned(),
            config: serde_json::json!({
                "patSecretRef": {"name": secret, "key": "api-token"},
                "ttl": 300,
                "delegation": {"zone": VALIDATION_ZONE, "mode": mode, "tenantBinding": true},
            }),
            cname_follow,
        }
    }
}

/// The emulator, Pebble, the webhook and an ACME account.
pub(crate) struct Platform {
    pub(crate) emu: Emulator,
    pub(crate) webhook: Webhook,
    pebble: dns01_testkit::pebble::Pebble,
    account: instant_acme::Account,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform").finish_non_exhaustive()
    }
}

/// What one order went through.
#[derive(Debug)]
pub(crate) struct OrderRun {
    /// Final status of the order.
    pub(crate) status: instant_acme::OrderStatus,
    /// Each challenge's Present request and the webhook's answer.
    pub(crate) presents: Vec<(
        dns01_testkit::acmetest::ChallengeRequest,
        dns01_testkit::acmetest::Outcome,
    )>,
    /// Whether each presented value became visible at `_acme-challenge.<name>` over DNS
    /// (cert-manager's self-check), in the order of `presents`.
    pub(crate) self_checks: Vec<bool>,
    /// For each Present, the names of the platform domain (relative) that held its value
    /// right after the call.
    pub(crate) written_at: Vec<Vec<String>>,
    /// The webhook's answers to CleanUp.
    pub(crate) cleanups: Vec<dns01_testkit::acmetest::Outcome>,
    /// The issued chain (PEM) when the order became valid.
    pub(crate) certificate: Option<String>,
    /// The CA's problem reports (challenge errors) when it did not.
    pub(crate) problems: Vec<String>,
}

impl Platform {
    /// Starts everything. Pebble missing is an error: these tests never skip.
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let emu = Emulator::builder()
            .zone_in_org(CUSTOMER_ZONE, CUSTOMER_ORG)
            .zone(PLATFORM_DOMAIN)
            .token(Token::pat(PLATFORM_TOKEN))
            .token(Token::pat(READ_ONLY_TOKEN).read_only())
            // The customer's traffic record, and the platform's service behind it.
            .rrset(CUSTOMER_ZONE, "app", "CNAME", 300, &["web.platform.test."])
            .rrset(PLATFORM_DOMAIN, "web", "A", 300, &["127.0.0.1"])
            .start()
            .await?;
        let dns = emu.dns_addr();
        let pebble = tokio::task::spawn_blocking(move || dns01_testkit::pebble::Pebble::start(dns))
            .await??;
        let webhook = Webhook::start(&emu.api_url()).await?;
        for ns in ["team-a", "team-b"] {
            webhook
                .kube
                .set_secret(ns, SECRET, &[("api-token", PLATFORM_TOKEN.as_bytes())]);
            webhook.kube.set_secret(
                ns,
                READ_ONLY_SECRET,
                &[("api-token", READ_ONLY_TOKEN.as_bytes())],
            );
        }
        let account = acme_account(&pebble).await?;
        Ok(Self {
            emu,
            webhook,
            pebble,
            account,
        })
    }

    /// The customer's permanent record: `_acme-challenge.app CNAME <tenant's name>.`
    pub(crate) fn delegate_to(&self, namespace: &str) {
        self.emu
            .set_cname(
                CUSTOMER_ZONE,
                "_acme-challenge.app",
                &format!("{}.", delegated(namespace)),
            )
            .expect("customer CNAME");
    }

    /// The names of the platform domain (relative) whose TXT values include `value`.
    pub(crate) fn names_holding(&self, value: &str) -> Vec<String> {
        self.emu
            .rrsets(PLATFORM_DOMAIN)
            .into_iter()
            .filter(|r| r.rtype == "TXT")
            .filter(|r| {
                self.emu
                    .decoded_txt(PLATFORM_DOMAIN, &r.name)
                    .iter()
                    .any(|v| v == value)
            })
            .map(|r| r.name)
            .collect()
    }

    /// Pebble's log (for failure messages).
    pub(crate) fn pebble_log(&self) -> String {
        self.pebble.log()
    }

    /// Orders a certificate for `names` the way cert-manager's ACME controller does with
    /// `issuer` (see [`order`]).
    pub(crate) async fn order(&self, issuer: &Issuer, names: &[&str]) -> anyhow::Result<OrderRun> {
        let acme = Acme {
            account: &self.account,
            client: &self.webhook.client,
            dns: self.emu.dns_addr(),
            solver: SOLVER,
        };
        order(&acme, issuer, names, |value| self.names_holding(value)).await
    }
}

/// An ACME account at Pebble (terms agreed), as cert-manager's Issuer registers one.
pub(crate) async fn acme_account(
    pebble: &dns01_testkit::pebble::Pebble,
) -> anyhow::Result<instant_acme::Account> {
    let (account, _credentials) = instant_acme::Account::builder_with_root(pebble.tls_ca_path())?
        .create(
            &instant_acme::NewAccount {
                contact: &[],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            pebble.directory_url(),
            None,
        )
        .await
        .context("creating an ACME account at Pebble")?;
    Ok(account)
}

/// What [`order`] plays cert-manager with: the ACME account, the webhook, the DNS server that
/// the CA and cert-manager's self-check ask, and the solver name.
pub(crate) struct Acme<'a> {
    pub(crate) account: &'a instant_acme::Account,
    pub(crate) client: &'a WebhookClient,
    pub(crate) dns: SocketAddr,
    pub(crate) solver: &'a str,
}

/// Orders a certificate for `names` the way cert-manager's ACME controller does with
/// `issuer`, calling the webhook for every challenge; sets every challenge ready (even one
/// whose Present failed, so the CA's verdict is seen too), then finalises when the order is
/// ready and cleans up every challenge. `holding(value)` says where a presented value was
/// written (for [`OrderRun::written_at`]).
pub(crate) async fn order(
    acme: &Acme<'_>,
    issuer: &Issuer,
    names: &[&str],
    holding: impl Fn(&str) -> Vec<String>,
) -> anyhow::Result<OrderRun> {
    let Acme {
        account,
        client,
        dns,
        solver,
    } = *acme;
    use dns01_testkit::acmetest::{self, Action, ChallengeRequest};
    use instant_acme::{ChallengeType, Identifier, NewOrder, OrderStatus, RetryPolicy};

    let identifiers: Vec<Identifier> = names
        .iter()
        .map(|n| Identifier::Dns((*n).to_owned()))
        .collect();
    let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;

    let mut presents = Vec::new();
    let mut self_checks = Vec::new();
    let mut written_at = Vec::new();
    let mut requests = Vec::new();
    {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz?;
            let mut challenge = authz
                .challenge(ChallengeType::Dns01)
                .context("Pebble offered no dns-01 challenge")?;
            let identifier = challenge.identifier().to_string();
            // cert-manager's dnsName is the name without `*.`.
            let dns_name = identifier.trim_start_matches("*.").to_owned();
            let challenge_name = format!("_acme-challenge.{dns_name}.");
            let resolved_fqdn = if issuer.cname_follow {
                acmetest::follow_cname(dns, &challenge_name).await?
            } else {
                challenge_name.clone()
            };
            let resolved_zone = acmetest::find_zone_by_soa(dns, &resolved_fqdn).await?;
            let request = ChallengeRequest {
                action: Action::Present,
                dns_name,
                key: challenge.key_authorization().dns_value(),
                resource_namespace: issuer.namespace.clone(),
                resolved_fqdn,
                resolved_zone,
                allow_ambient_credentials: false,
                config: issuer.config.clone(),
            };
            let outcome = client.call(GROUP, solver, &request).await?;
            // cert-manager's self-check: the value must be visible where the CA looks.
            let visible = outcome.is_success()
                && visible_within(dns, &challenge_name, &request.key, Duration::from_secs(1)).await;
            self_checks.push(visible);
            written_at.push(holding(&request.key));
            presents.push((request.clone(), outcome));
            requests.push(request);
            challenge.set_ready().await?;
        }
    }

    let polling = RetryPolicy::new()
        .initial_delay(POLL)
        .backoff(1.5)
        .timeout(Duration::from_secs(20));
    let status = match order.poll_ready(&polling).await {
        Ok(status) => status,
        Err(instant_acme::Error::Api(_)) => OrderStatus::Invalid,
        Err(e) => return Err(e.into()),
    };
    let mut certificate = None;
    let mut problems = Vec::new();
    let final_status = if status == OrderStatus::Ready {
        let key = rcgen::KeyPair::generate()?;
        let params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )?;
        let csr = params.serialize_request(&key)?;
        order.finalize_csr(csr.der()).await?;
        certificate = Some(order.poll_certificate(&polling).await?);
        OrderStatus::Valid
    } else {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz?;
            let state = authz.refresh().await?;
            for c in &state.challenges {
                if let Some(p) = &c.error {
                    problems.push(p.to_string());
                }
            }
        }
        status
    };

    let mut cleanups = Vec::new();
    for request in &requests {
        let cleanup = request.with_action(Action::CleanUp);
        cleanups.push(client.call(GROUP, solver, &cleanup).await?);
    }
    Ok(OrderRun {
        status: final_status,
        presents,
        self_checks,
        written_at,
        cleanups,
        certificate,
        problems,
    })
}

/// Whether `value` is served at `name` (CNAMEs chased by the emulator) within `limit`.
async fn visible_within(dns: SocketAddr, name: &str, value: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(values) = dns01_testkit::acmetest::txt_values(dns, name, false).await
            && values.iter().any(|v| v == value)
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The DNS names (SANs) of a PEM chain's first certificate, sorted.
pub(crate) fn sans(chain_pem: &str) -> Vec<String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(chain_pem.as_bytes()).expect("PEM");
    let cert = pem.parse_x509().expect("X.509");
    assert!(
        cert.subject_alternative_name().is_ok_and(|e| e.is_some()),
        "no SAN extension"
    );
    dns01_testkit::pki::dns_names(&cert)
}
