//! cert-manager's DNS-01 webhook conformance rules (`test/acme` in cert-manager), in Rust.
//!
//! The suite drives a **running** webhook over HTTPS the way cert-manager does: it trusts the
//! webhook's serving CA, presents a front-proxy client certificate with the identity headers
//! kube-apiserver adds (`X-Remote-User`, `X-Remote-Group`), and posts a `ChallengePayload`
//! without `apiVersion`/`kind` and with `uid: ""` to `/apis/<group>/v1alpha1/<solver>`. The
//! solver config is `<manifest_path>/config.json`; the Secrets beside it (`*.yaml`) are what
//! cert-manager's `SetManifestPath` applies first ([`apply_manifests`] loads them into a
//! [`KubeFake`]). Whether a record is served is checked over the wire, never by peeking into
//! a store:
//!
//! - [`Check::Authoritative`]: the NS of the zone are looked up through `dns_server`, their
//!   addresses too, and every one of them must serve the value (queried on
//!   `nameserver_port`, 53 unless a test server listens elsewhere).
//! - [`Check::Recursive`]: `dns_server` alone is asked, with recursion desired.
//!
//! A value is served when one TXT record's strings, joined, equal it; it is gone when no TXT
//! record equals it (NXDOMAIN included).
//!
//! The tests ([`Suite::basic`], [`Suite::extended`]; [`Suite::run`] does both, in order):
//! - **Basic**: Present → polled until served → CleanUp → polled until gone → CleanUp again
//!   must succeed (CleanUp tolerates "already gone").
//! - **Extended** (run when `strict`): Present key A and key B at the same name → both
//!   served → CleanUp B → B gone and A still served; then A is cleaned up too.
//!
//! Besides the suite, the module offers the pieces an end-to-end harness needs to play
//! cert-manager: [`WebhookClient`] (one `ChallengePayload` call), [`follow_cname`]
//! (`cnameStrategy: Follow`), [`find_zone_by_soa`] (cert-manager's `resolvedZone`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use base64::Engine as _;
use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use serde_json::{Value, json};

use crate::emulator::probe::{tcp_exchange, udp_exchange};
use crate::kubefake::KubeFake;

/// The TXT value cert-manager's suite presents.
pub const DEFAULT_KEY: &str = "123d==";
/// The second value of the extended test.
pub const SECOND_KEY: &str = "123d==-second";
/// The user cert-manager's controller runs as, as kube-apiserver forwards it.
pub const CERT_MANAGER_USER: &str = "system:serviceaccount:cert-manager:cert-manager";
/// The groups forwarded with [`CERT_MANAGER_USER`].
pub const CERT_MANAGER_GROUPS: &[&str] = &[
    "system:serviceaccounts",
    "system:serviceaccounts:cert-manager",
    "system:authenticated",
];

/// How the suite decides that a record is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Every authoritative nameserver of the zone must answer with the value.
    Authoritative,
    /// The one given server (usually a recursive resolver) must answer with the value.
    Recursive,
}

/// The suite's settings; [`Options::new`] fills in cert-manager's defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// The zone under test, e.g. `example.com` (a trailing dot is optional).
    pub zone: String,
    /// Where the record is written; `cert-manager-dns01-tests.<zone>` by default.
    pub resolved_fqdn: String,
    /// The certificate's DNS name sent as `dnsName`; the zone by default.
    pub dns_name: String,
    /// The DNS server used for every lookup (and the only one asked in recursive mode).
    pub dns_server: SocketAddr,
    /// Authoritative (default) or recursive check.
    pub check: Check,
    /// Port the authoritative servers are queried on (53; a test server may listen elsewhere).
    pub nameserver_port: u16,
    /// Time between two DNS checks (cert-manager: 3 s).
    pub poll_interval: Duration,
    /// How long a record may take to appear or disappear (cert-manager: 2 min).
    pub propagation_limit: Duration,
    /// Run the extended test too (always on here).
    pub strict: bool,
    /// Directory with `config.json` and the Secret manifests, e.g. `testdata/gandi`.
    pub manifest_path: PathBuf,
    /// The API group the webhook serves.
    pub group: String,
    /// The solver name (the resource posted to).
    pub solver: String,
    /// `resourceNamespace`: where the Secrets live.
    pub resource_namespace: String,
    /// `allowAmbientCredentials`.
    pub allow_ambient_credentials: bool,
    /// The value of the basic test and the first value of the extended test.
    pub key: String,
    /// The second value of the extended test.
    pub second_key: String,
}

impl Options {
    /// cert-manager's defaults for `zone`, asking `dns_server`, with the solver config and
    /// Secrets from `manifest_path`.
    pub fn new(
        zone: &str,
        dns_server: SocketAddr,
        manifest_path: impl Into<PathBuf>,
        group: &str,
        solver: &str,
    ) -> Self {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        Self {
            resolved_fqdn: format!("cert-manager-dns01-tests.{zone}."),
            dns_name: zone.clone(),
            zone,
            dns_server,
            check: Check::Authoritative,
            nameserver_port: 53,
            poll_interval: Duration::from_secs(3),
            propagation_limit: Duration::from_secs(120),
            strict: true,
            manifest_path: manifest_path.into(),
            group: group.to_owned(),
            solver: solver.to_owned(),
            resource_namespace: "cert-manager-dns01-tests".to_owned(),
            allow_ambient_credentials: false,
            key: DEFAULT_KEY.to_owned(),
            second_key: SECOND_KEY.to_owned(),
        }
    }

    /// The solver config: `<manifest_path>/config.json`.
    ///
    /// # Errors
    /// When the file is missing or not JSON.
    pub fn config(&self) -> anyhow::Result<Value> {
        let path = self.manifest_path.join("config.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the solver config {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
    }
}

/// One Secret read from a manifest.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretManifest {
    /// `metadata.namespace`, when the manifest names one.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
    /// `data` (decoded) and `stringData`, merged; `stringData` wins as in Kubernetes.
    pub data: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for SecretManifest {
    // Never the values: they are credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretManifest")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The Secrets in the `*.yaml`/`*.yml` files of `dir` (several documents per file allowed);
/// other kinds are ignored.
///
/// # Errors
/// When a file cannot be read or parsed, or a Secret has no name or bad base64.
pub fn load_manifests(dir: &Path) -> anyhow::Result<Vec<SecretManifest>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the manifest directory {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(doc)
                .with_context(|| format!("parsing {}", file.display()))?;
            if value.is_null() || value["kind"] != "Secret" {
                continue;
            }
            let name = value["metadata"]["name"]
                .as_str()
                .with_context(|| format!("a Secret in {} has no metadata.name", file.display()))?
                .to_owned();
            let namespace = value["metadata"]["namespace"].as_str().map(str::to_owned);
            let mut data = BTreeMap::new();
            if let Some(map) = value["data"].as_object() {
                for (k, v) in map {
                    let b64 = v.as_str().unwrap_or_default();
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(|_| {
                            anyhow!(
                                "Secret {name} in {}: data.{k} is not base64",
                                file.display()
                            )
                        })?;
                    data.insert(k.clone(), bytes);
                }
            }
            if let Some(map) = value["stringData"].as_object() {
                for (k, v) in map {
                    data.insert(
                        k.clone(),
                        v.as_str().unwrap_or_default().as_bytes().to_vec(),
                    );
                }
            }
            out.push(SecretManifest {
                namespace,
                name,
                data,
            });
        }
    }
    Ok(out)
}

/// Loads the Secrets of `dir` into `fake`, in their own namespace or else in `namespace`
/// (what cert-manager's `SetManifestPath` does for the suite's namespace). Returns them.
///
/// # Errors
/// Those of [`load_manifests`].
pub fn apply_manifests(
    fake: &KubeFake,
    dir: &Path,
    namespace: &str,
) -> anyhow::Result<Vec<SecretManifest>> {
    let secrets = load_manifests(dir)?;
    for s in &secrets {
        let ns = s.namespace.as_deref().unwrap_or(namespace);
        let data: Vec<(&str, &[u8])> = s
            .data
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        fake.set_secret(ns, &s.name, &data);
    }
    Ok(secrets)
}

/// `Present` or `CleanUp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Make sure the value is served.
    Present,
    /// Remove the value.
    CleanUp,
}

impl std::str::FromStr for Action {
    type Err = anyhow::Error;

    /// `Present` or `CleanUp`, exactly as on the wire.
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "Present" => Ok(Self::Present),
            "CleanUp" => Ok(Self::CleanUp),
            other => bail!("unknown action {other:?}: expected Present or CleanUp"),
        }
    }
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Self::Present => "Present",
            Self::CleanUp => "CleanUp",
        }
    }
}

/// The `request` of a `ChallengePayload`, as cert-manager fills it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChallengeRequest {
    /// `action`.
    pub action: Action,
    /// `dnsName`: the certificate's name (for a wildcard, the name without `*.`).
    pub dns_name: String,
    /// `key`: the TXT value.
    pub key: String,
    /// `resourceNamespace`.
    pub resource_namespace: String,
    /// `resolvedFQDN`, absolute with a trailing dot.
    pub resolved_fqdn: String,
    /// `resolvedZone`, absolute with a trailing dot.
    pub resolved_zone: String,
    /// `allowAmbientCredentials`.
    pub allow_ambient_credentials: bool,
    /// `config`, verbatim.
    pub config: Value,
}

impl ChallengeRequest {
    /// The same request with another action.
    #[must_use]
    pub fn with_action(&self, action: Action) -> Self {
        Self {
            action,
            ..self.clone()
        }
    }

    /// The wire body: `{"request": {...}}`, without `apiVersion`/`kind`, `uid: ""`.
    pub fn payload(&self) -> Value {
        json!({
            "request": {
                "uid": "",
                "action": self.action.as_str(),
                "type": "dns-01",
                "dnsName": self.dns_name,
                "key": self.key,
                "resourceNamespace": self.resource_namespace,
                "resolvedFQDN": absolute(&self.resolved_fqdn),
                "resolvedZone": absolute(&self.resolved_zone),
                "allowAmbientCredentials": self.allow_ambient_credentials,
                "config": self.config,
            }
        })
    }
}

/// The webhook's answer to one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `response.success: true`.
    Success,
    /// `response.success: false` with `response.status.message`: what cert-manager shows
    /// on the Challenge.
    Failure(String),
}

impl Outcome {
    /// Whether the call succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Success)
    }

    /// The failure message, if any.
    pub fn message(&self) -> Option<&str> {
        match self {
            Self::Success => None,
            Self::Failure(m) => Some(m),
        }
    }
}

/// Calls a running webhook as kube-apiserver does on cert-manager's behalf.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    base: url::Url,
    user: String,
    groups: Vec<String>,
}

impl WebhookClient {
    /// A client for `base` (e.g. `https://localhost:8443/`) that trusts `serving_ca_pem` and
    /// presents `front_proxy_identity_pem` (certificate then key), forwarding
    /// [`CERT_MANAGER_USER`] and [`CERT_MANAGER_GROUPS`].
    ///
    /// # Errors
    /// When the PEM is invalid.
    pub fn new(
        base: url::Url,
        serving_ca_pem: &str,
        front_proxy_identity_pem: &str,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(serving_ca_pem.as_bytes())
                    .context("the webhook's serving CA")?,
            )
            .identity(
                reqwest::Identity::from_pem(front_proxy_identity_pem.as_bytes())
                    .context("the front-proxy client identity")?,
            )
            // cert-manager's client gives up after 30 s.
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            base,
            user: CERT_MANAGER_USER.to_owned(),
            groups: CERT_MANAGER_GROUPS
                .iter()
                .map(|g| (*g).to_owned())
                .collect(),
        })
    }

    /// A client for a webhook served over plain HTTP at `base` (its router run in-process,
    /// without the aggregated API's TLS and authentication), forwarding
    /// [`CERT_MANAGER_USER`] and [`CERT_MANAGER_GROUPS`] all the same.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn plain(base: url::Url) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            base,
            user: CERT_MANAGER_USER.to_owned(),
            groups: CERT_MANAGER_GROUPS
                .iter()
                .map(|g| (*g).to_owned())
                .collect(),
        })
    }

    /// Forwards another identity.
    #[must_use]
    pub fn as_user(mut self, user: &str, groups: &[&str]) -> Self {
        self.user = user.to_owned();
        self.groups = groups.iter().map(|g| (*g).to_owned()).collect();
        self
    }

    /// The base URL.
    pub fn base(&self) -> &url::Url {
        &self.base
    }

    /// `GET path` without identity headers (health); returns the status.
    ///
    /// # Errors
    /// On a connection failure.
    pub async fn get_status(&self, path: &str) -> anyhow::Result<u16> {
        let response = self.http.get(self.base.join(path)?).send().await?;
        Ok(response.status().as_u16())
    }

    /// Posts `request` to `/apis/<group>/v1alpha1/<solver>` and reads the answer, checking
    /// the protocol on the way (201 or 200, the request echoed, `response.uid` = `""`).
    ///
    /// # Errors
    /// On a transport failure or an answer that breaks the protocol (an HTTP error status
    /// included: provider failures must be `success: false`).
    pub async fn call(
        &self,
        group: &str,
        solver: &str,
        request: &ChallengeRequest,
    ) -> anyhow::Result<Outcome> {
        let url = self.base.join(&format!("apis/{group}/v1alpha1/{solver}"))?;
        let mut builder = self
            .http
            .post(url.clone())
            .header("content-type", "application/json")
            .header("X-Remote-User", &self.user)
            .json(&request.payload());
        for g in &self.groups {
            builder = builder.header("X-Remote-Group", g);
        }
        let response = builder
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = response.status().as_u16();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("POST {url}: answer is not JSON (HTTP {status})"))?;
        ensure!(
            status == 201 || status == 200,
            "POST {url} answered HTTP {status} (a provider failure must be success:false): {body}"
        );
        ensure!(
            body["request"]["action"] == request.action.as_str(),
            "the answer does not echo the request: {body}"
        );
        ensure!(
            body["response"]["uid"] == "",
            "response.uid must echo the request's empty uid: {body}"
        );
        match body["response"]["success"].as_bool() {
            Some(true) => Ok(Outcome::Success),
            Some(false) => {
                let message = body["response"]["status"]["message"]
                    .as_str()
                    .with_context(|| format!("success:false without status.message: {body}"))?;
                Ok(Outcome::Failure(message.to_owned()))
            }
            None => bail!("response.success missing: {body}"),
        }
    }
}

/// What one run of the suite measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Each step and how long it took.
    pub steps: Vec<(String, Duration)>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (step, took) in &self.steps {
            writeln!(f, "  {step}: {} ms", took.as_millis())?;
        }
        Ok(())
    }
}

/// The conformance suite, bound to a running webhook.
#[derive(Debug, Clone)]
pub struct Suite {
    options: Options,
    client: WebhookClient,
    config: Value,
}

impl Suite {
    /// Reads `config.json` now; the Secrets must already be loaded ([`apply_manifests`]).
    ///
    /// # Errors
    /// When the config cannot be read.
    pub fn new(options: Options, client: WebhookClient) -> anyhow::Result<Self> {
        let config = options.config()?;
        Ok(Self {
            options,
            client,
            config,
        })
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Basic, then (when strict) extended.
    ///
    /// # Errors
    /// The first rule broken, with what was seen.
    pub async fn run(&self) -> anyhow::Result<Report> {
        let mut report = self.basic().await?;
        if self.options.strict {
            report.steps.extend(self.extended().await?.steps);
        }
        Ok(report)
    }

    fn request(&self, action: Action, key: &str) -> ChallengeRequest {
        ChallengeRequest {
            action,
            dns_name: self.options.dns_name.clone(),
            key: key.to_owned(),
            resource_namespace: self.options.resource_namespace.clone(),
            resolved_fqdn: self.options.resolved_fqdn.clone(),
            resolved_zone: self.options.zone.clone(),
            allow_ambient_credentials: self.options.allow_ambient_credentials,
            config: self.config.clone(),
        }
    }

    async fn expect_success(&self, action: Action, key: &str) -> anyhow::Result<()> {
        let outcome = self
            .client
            .call(
                &self.options.group,
                &self.options.solver,
                &self.request(action, key),
            )
            .await?;
        match outcome {
            Outcome::Success => Ok(()),
            Outcome::Failure(message) => bail!(
                "{} of {key:?} at {} failed: {message}",
                action.as_str(),
                self.options.resolved_fqdn
            ),
        }
    }

    /// Present → served → CleanUp → gone → CleanUp again succeeds.
    ///
    /// # Errors
    /// The first rule broken.
    pub async fn basic(&self) -> anyhow::Result<Report> {
        let key = self.options.key.clone();
        let mut report = Report::default();
        let started = Instant::now();
        self.expect_success(Action::Present, &key).await?;
        report
            .steps
            .push(("basic: Present".into(), started.elapsed()));
        let started = Instant::now();
        self.wait_for(&key, true).await?;
        report
            .steps
            .push(("basic: record served".into(), started.elapsed()));
        let started = Instant::now();
        self.expect_success(Action::CleanUp, &key).await?;
        report
            .steps
            .push(("basic: CleanUp".into(), started.elapsed()));
        let started = Instant::now();
        self.wait_for(&key, false).await?;
        report
            .steps
            .push(("basic: record gone".into(), started.elapsed()));
        let started = Instant::now();
        self.expect_success(Action::CleanUp, &key)
            .await
            .context("a second CleanUp (record already gone) must succeed")?;
        report
            .steps
            .push(("basic: CleanUp again".into(), started.elapsed()));
        Ok(report)
    }

    /// Two values at one name; CleanUp of one keeps the other.
    ///
    /// # Errors
    /// The first rule broken.
    pub async fn extended(&self) -> anyhow::Result<Report> {
        let (a, b) = (self.options.key.clone(), self.options.second_key.clone());
        let mut report = Report::default();
        let started = Instant::now();
        self.expect_success(Action::Present, &a).await?;
        self.expect_success(Action::Present, &b).await?;
        self.wait_for(&a, true).await?;
        self.wait_for(&b, true).await?;
        report
            .steps
            .push(("extended: both records served".into(), started.elapsed()));
        let started = Instant::now();
        self.expect_success(Action::CleanUp, &b).await?;
        self.wait_for(&b, false).await?;
        let still = self.served_everywhere(&a, &self.servers().await?).await?;
        ensure!(
            still,
            "CleanUp of {b:?} at {} also removed {a:?}: CleanUp must remove exactly one value",
            self.options.resolved_fqdn
        );
        report.steps.push((
            "extended: second record gone, first kept".into(),
            started.elapsed(),
        ));
        let started = Instant::now();
        self.expect_success(Action::CleanUp, &a).await?;
        self.wait_for(&a, false).await?;
        report
            .steps
            .push(("extended: first record gone".into(), started.elapsed()));
        Ok(report)
    }

    /// The servers to ask, per the check mode.
    async fn servers(&self) -> anyhow::Result<Vec<(SocketAddr, bool)>> {
        match self.options.check {
            Check::Recursive => Ok(vec![(self.options.dns_server, true)]),
            Check::Authoritative => Ok(authoritative_servers(
                self.options.dns_server,
                &self.options.zone,
                self.options.nameserver_port,
            )
            .await?
            .into_iter()
            .map(|a| (a, false))
            .collect()),
        }
    }

    /// Whether every server to ask serves `key` at the resolved FQDN.
    async fn served_everywhere(
        &self,
        key: &str,
        servers: &[(SocketAddr, bool)],
    ) -> anyhow::Result<bool> {
        for &(server, recursive) in servers {
            let values = txt_values(server, &self.options.resolved_fqdn, recursive).await?;
            if !values.iter().any(|v| v == key) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether no server to ask serves `key` any more.
    async fn gone_everywhere(
        &self,
        key: &str,
        servers: &[(SocketAddr, bool)],
    ) -> anyhow::Result<bool> {
        for &(server, recursive) in servers {
            let values = txt_values(server, &self.options.resolved_fqdn, recursive).await?;
            if values.iter().any(|v| v == key) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Polls until `key` is served (`present`) or gone, within the propagation limit.
    async fn wait_for(&self, key: &str, present: bool) -> anyhow::Result<()> {
        // Which servers to ask is settled once: a zone without reachable nameservers is a
        // setup error, not something to wait out.
        let servers = self.servers().await?;
        let deadline = Instant::now() + self.options.propagation_limit;
        let mut last_error = None;
        loop {
            let done = if present {
                self.served_everywhere(key, &servers).await
            } else {
                self.gone_everywhere(key, &servers).await
            };
            match done {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => last_error = Some(e),
            }
            if Instant::now() >= deadline {
                let what = if present { "served" } else { "gone" };
                let cause =
                    last_error.map_or(String::new(), |e| format!(" (last DNS error: {e:#})"));
                bail!(
                    "TXT {key:?} at {} was not {what} on {:?} within {:?}{cause}",
                    self.options.resolved_fqdn,
                    self.options.check,
                    self.options.propagation_limit
                );
            }
            tokio::time::sleep(self.options.poll_interval).await;
        }
    }
}

/// `name` with a trailing dot (the empty name stays empty).
fn absolute(name: &str) -> String {
    if name.is_empty() || name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

/// Sends one query and returns the reply: UDP first (EDNS 1232), TCP when truncated; 3 s per
/// attempt.
///
/// # Errors
/// On a bad name, a network failure, a timeout or a reply with another id.
pub async fn query(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    recursion_desired: bool,
) -> anyhow::Result<Message> {
    let qname = Name::from_ascii(absolute(name)).with_context(|| format!("invalid name {name}"))?;
    let mut msg = Message::query();
    msg.metadata.recursion_desired = recursion_desired;
    msg.add_query(Query::query(qname, rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    msg.set_edns(edns);
    let wire = msg.to_vec()?;
    let limit = Duration::from_secs(3);
    let reply = tokio::time::timeout(limit, udp_exchange(server, &wire))
        .await
        .with_context(|| format!("DNS query {name} {rtype} to {server} timed out"))??;
    let reply = if reply.metadata.truncation {
        tokio::time::timeout(limit, tcp_exchange(server, &wire))
            .await
            .with_context(|| format!("DNS/TCP query {name} {rtype} to {server} timed out"))??
    } else {
        reply
    };
    ensure!(
        reply.metadata.id == msg.metadata.id,
        "DNS reply from {server} has id {} for query id {}",
        reply.metadata.id,
        msg.metadata.id
    );
    Ok(reply)
}

/// The TXT values (each record's strings joined) served for `name` by `server`; empty for
/// NXDOMAIN and NODATA.
///
/// # Errors
/// On a network failure or a response code other than NOERROR/NXDOMAIN.
pub async fn txt_values(
    server: SocketAddr,
    name: &str,
    recursion_desired: bool,
) -> anyhow::Result<Vec<String>> {
    let reply = query(server, name, RecordType::TXT, recursion_desired).await?;
    match reply.metadata.response_code {
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        other => bail!("{server} answered {other:?} for {name} TXT"),
    }
    Ok(reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect())
}

/// The addresses (`nameserver_port`) of the authoritative servers of `zone`: its NS records
/// and their A records, looked up through `dns_server`.
///
/// # Errors
/// When the zone has no NS record or a server has no address.
pub async fn authoritative_servers(
    dns_server: SocketAddr,
    zone: &str,
    nameserver_port: u16,
) -> anyhow::Result<Vec<SocketAddr>> {
    let reply = query(dns_server, zone, RecordType::NS, true).await?;
    let names: Vec<Name> = reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some(ns.0.clone()),
            _ => None,
        })
        .collect();
    ensure!(
        !names.is_empty(),
        "{dns_server} returned no NS record for zone {zone} ({:?})",
        reply.metadata.response_code
    );
    let mut out = Vec::new();
    for ns in names {
        let ns_text = ns.to_ascii();
        // Glue in the additional section first, then a lookup.
        let mut ips: Vec<IpAddr> = reply
            .additionals
            .iter()
            .filter(|r| r.name == ns)
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                _ => None,
            })
            .collect();
        if ips.is_empty() {
            let a = query(dns_server, &ns_text, RecordType::A, true).await?;
            ips = a
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    _ => None,
                })
                .collect();
        }
        ensure!(
            !ips.is_empty(),
            "nameserver {ns_text} of zone {zone} has no IPv4 address via {dns_server}"
        );
        out.extend(
            ips.into_iter()
                .map(|ip| SocketAddr::new(ip, nameserver_port)),
        );
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Follows the CNAME chain from `name` through `server` (cert-manager's
/// `cnameStrategy: Follow`), returning the last target with a trailing dot, or `name` itself
/// when it has no CNAME.
///
/// # Errors
/// On a DNS failure or a chain longer than 8 links.
pub async fn follow_cname(server: SocketAddr, name: &str) -> anyhow::Result<String> {
    let mut current = absolute(name).to_ascii_lowercase();
    for _ in 0..8 {
        let reply = query(server, &current, RecordType::CNAME, true).await?;
        let target = reply.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if r.name.to_ascii().eq_ignore_ascii_case(&current) => {
                Some(c.0.to_ascii().to_ascii_lowercase())
            }
            _ => None,
        });
        match target {
            Some(t) => current = absolute(&t),
            None => return Ok(current),
        }
    }
    bail!("CNAME chain from {name} is longer than 8 links")
}

/// The zone holding `name`: the closest enclosing name with an SOA record (cert-manager's
/// `resolvedZone`), with a trailing dot.
///
/// # Errors
/// On a DNS failure, or when no SOA is found up to the root.
pub async fn find_zone_by_soa(server: SocketAddr, name: &str) -> anyhow::Result<String> {
    let mut candidate = absolute(name).to_ascii_lowercase();
    loop {
        let reply = query(server, &candidate, RecordType::SOA, true).await?;
        let has_soa = reply.answers.iter().any(|r| {
            matches!(r.data, RData::SOA(_)) && r.name.to_ascii().eq_ignore_ascii_case(&candidate)
        });
        if has_soa {
            return Ok(candidate);
        }
        match candidate.split_once('.') {
            Some((_, parent)) if !parent.is_empty() => candidate = parent.to_owned(),
            _ => bail!("no SOA found for {name} or any parent via {server}"),
        }
    }
}

/// The first `nameserver` of `/etc/resolv.conf`, port 53.
///
/// # Errors
/// When the file cannot be read or names no server.
pub fn system_resolver() -> anyhow::Result<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").context("reading /etc/resolv.conf")?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().split('%').next()?.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .next()
        .ok_or_else(|| anyhow!("/etc/resolv.conf names no nameserver"))
}

/// Parses `ip`, `ip:port` or `[v6]:port` (port 53 when absent).
///
/// # Errors
/// When it is none of these.
pub fn parse_dns_server(text: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    text.trim_matches(['[', ']'])
        .parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| anyhow!("{text:?} is not a DNS server address (ip, ip:port or [v6]:port)"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_payload_has_no_api_version_or_kind_and_an_empty_uid() {
        let r = ChallengeRequest {
            action: Action::Present,
            dns_name: "example.com".into(),
            key: "k".into(),
            resource_namespace: "ns".into(),
            resolved_fqdn: "cert-manager-dns01-tests.example.com".into(),
            resolved_zone: "example.com".into(),
            allow_ambient_credentials: false,
            config: json!({"ttl": 300}),
        };
        let p = r.payload();
        assert!(
            p.get("apiVersion").is_none() && p.get("kind").is_none(),
            "{p}"
        );
        assert_eq!(p["request"]["uid"], "");
        assert_eq!(
            p["request"]["resolvedFQDN"],
            "cert-manager-dns01-tests.example.com."
        );
        assert_eq!(p["request"]["resolvedZone"], "example.com.");
    }

    #[test]
    fn the_sample_gandi_manifest_yields_one_secret_without_showing_its_value() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/gandi");
        let secrets = load_manifests(&dir).unwrap();
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].name, "gandi-credentials");
        assert!(secrets[0].data.contains_key("api-token"));
        assert!(!format!("{:?}", secrets[0]).contains("REPLACE"));
    }

    #[test]
    fn defaults_follow_cert_manager() {
        let o = Options::new(
            "Example.COM.",
            "127.0.0.1:53".parse().unwrap(),
            "testdata/gandi",
            "acme.example.com",
            "gandi",
        );
        assert_eq!(o.resolved_fqdn, "cert-manager-dns01-tests.example.com.");
        assert_eq!(o.poll_interval, Duration::from_secs(3));
        assert_eq!(o.propagation_limit, Duration::from_secs(120));
        assert!(o.strict);
        assert_eq!(o.check, Check::Authoritative);
    }

    #[test]
    fn dns_server_addresses_default_to_port_53() {
        assert_eq!(
            parse_dns_server("192.0.2.1").unwrap(),
            "192.0.2.1:53".parse().unwrap()
        );
        assert_eq!(
            parse_dns_server("[2001:db8::1]:5353").unwrap(),
            "[2001:db8::1]:5353".parse().unwrap()
        );
        assert!(parse_dns_server("ns1.example.com").is_err());
    }

    async fn emulator() -> crate::Emulator {
        let options = crate::emulator::Options {
            nameserver: "ns1.platform.test.".into(),
            ..crate::emulator::Options::default()
        };
        crate::Emulator::builder()
            .zone("customer.test")
            .zone("platform.test")
            .options(options)
            .rrset("platform.test", "ns1", "A", 300, &["127.0.0.1"])
            .rrset(
                "customer.test",
                "_acme-challenge.app",
                "CNAME",
                300,
                &["app-x.acme.platform.test."],
            )
            .rrset("platform.test", "app-x.acme", "TXT", 300, &["one", "two"])
            .start()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_cname_is_followed_to_its_target_and_the_zone_found_by_soa() {
        let emu = emulator().await;
        let dns = emu.dns_addr();
        let target = follow_cname(dns, "_acme-challenge.app.customer.test")
            .await
            .unwrap();
        assert_eq!(target, "app-x.acme.platform.test.");
        assert_eq!(
            follow_cname(dns, "app-x.acme.platform.test.")
                .await
                .unwrap(),
            "app-x.acme.platform.test."
        );
        assert_eq!(
            find_zone_by_soa(dns, &target).await.unwrap(),
            "platform.test."
        );
    }

    #[tokio::test]
    async fn txt_values_are_read_over_the_wire_and_an_absent_name_has_none() {
        let emu = emulator().await;
        let dns = emu.dns_addr();
        let mut values = txt_values(dns, "app-x.acme.platform.test", false)
            .await
            .unwrap();
        values.sort();
        assert_eq!(values, ["one", "two"]);
        assert!(
            txt_values(dns, "nothing.platform.test", false)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn authoritative_servers_are_discovered_through_ns_and_a_records() {
        let emu = emulator().await;
        let dns = emu.dns_addr();
        let servers = authoritative_servers(dns, "platform.test", dns.port())
            .await
            .unwrap();
        assert_eq!(servers, [dns]);
        // customer.test's nameserver (ns1.platform.test) is resolvable too.
        assert_eq!(
            authoritative_servers(dns, "customer.test", 5353)
                .await
                .unwrap(),
            ["127.0.0.1:5353".parse::<SocketAddr>().unwrap()]
        );
    }
}
