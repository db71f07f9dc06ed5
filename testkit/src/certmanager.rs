//! A cert-manager stand-in that really issues: it watches cert-manager `Certificate` objects
//! in a Kubernetes API (the [`KubeFake`](crate::kubefake::KubeFake) in tests) and obtains
//! each one from a real ACME CA (Pebble) through a DNS-01 webhook, the way cert-manager's ACME
//! issuer does, then writes what cert-manager writes:
//!
//! - for every DNS-01 challenge, an `acme.cert-manager.io/v1` `Challenge` (`spec.dnsName`,
//!   `spec.wildcard`, `spec.key`); the webhook is called with `Present` for
//!   `_acme-challenge.<dnsName>` followed through its CNAMEs (`cnameStrategy: Follow`) and the
//!   zone found by SOA, exactly as cert-manager fills a `ChallengePayload`. When the webhook
//!   answers `success: false`, its message becomes the Challenge's `status.reason` (what
//!   `kubectl describe challenge` shows) and the Certificate is tried again after
//!   [`Settings::retry`]; when the CA finds the challenge invalid, the CA's problem does, and
//!   the Certificate's `Issuing` condition becomes `False`/`Failed`.
//! - once the order is valid, the `kubernetes.io/tls` Secret `spec.secretName` (`tls.crt` the
//!   chain the CA returned, `tls.key` a new PKCS#8 key, cert-manager's
//!   `cert-manager.io/certificate-name` annotation and the others), the Certificate's `Ready`
//!   condition (`True`, reason `Ready`, the generation it describes) and `notBefore`/`notAfter`;
//!   then `CleanUp` for every challenge and the Challenges deleted.
//! - when the Secret already holds a certificate for exactly the Certificate's names, from the
//!   same issuer, with more than a third of its lifetime left (cert-manager's default renewal
//!   point), the Certificate is made `Ready` without an order, as cert-manager does for a
//!   re-created Certificate.
//!
//! Every write goes through the API over HTTP (server-side apply under the field manager
//! `cert-manager-certificates`, status through `/status`), so a controller watching those
//! objects sees them as it would in a cluster. The Issuer is one, given in [`Settings`]: its
//! solver config is sent with every challenge and the Certificate's namespace is the
//! `resourceNamespace` (a namespaced Issuer). Certificates are looked at every
//! [`Settings::poll`] (a list, not a watch: the stand-in is small on purpose), and one whose
//! `Ready` condition describes its generation is left alone.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::acmetest::{self, Action, ChallengeRequest, Outcome, WebhookClient};
use crate::pebble::Pebble;

/// The field manager of every write (cert-manager's certificates controller's).
pub const FIELD_MANAGER: &str = "cert-manager-certificates";
/// The bearer token the stand-in sends to the API, as cert-manager sends its own service
/// account's: tests tell its requests from those of the component under test by it.
pub const BEARER_TOKEN: &str = "cert-manager-stand-in";

/// The webhook and Issuer the stand-in issues with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The Kubernetes API base URL (the fake's [`url`](crate::kubefake::KubeFake::url)).
    pub api: url::Url,
    /// The DNS-01 webhook, called as kube-apiserver calls it for cert-manager.
    pub webhook: WebhookClient,
    /// The webhook's API group (the Issuer's `webhook.groupName`).
    pub group: String,
    /// The solver name (the Issuer's `webhook.solverName`).
    pub solver: String,
    /// The solver config (the Issuer's `webhook.config`).
    pub config: Value,
    /// The DNS server cert-manager follows CNAMEs, finds zones and self-checks through (asked
    /// with recursion desired, as a resolver).
    pub dns: SocketAddr,
    /// How often Certificates are looked at.
    pub poll: Duration,
    /// How long after a failed attempt a Certificate is tried again.
    pub retry: Duration,
}

/// What the stand-in did, for tests to assert on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// `namespace/name` of every Certificate issued, in order.
    pub issued: Vec<String>,
    /// `namespace/name: message` of every failed attempt.
    pub failures: Vec<String>,
    /// `namespace/name` of every Certificate made `Ready` with the certificate already in its
    /// Secret (no order at the CA).
    pub reused: Vec<String>,
}

/// The running stand-in; stops when dropped.
#[derive(Debug)]
pub struct CertManager {
    task: tokio::task::JoinHandle<()>,
    history: Arc<Mutex<History>>,
}

impl Drop for CertManager {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CertManager {
    /// Registers an ACME account at `pebble` (as an ACME Issuer does) and starts watching
    /// Certificates.
    ///
    /// # Errors
    /// When the account cannot be created.
    pub async fn start(pebble: &Pebble, settings: Settings) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (account, _) = instant_acme::Account::builder_with_root(pebble.tls_ca_path())?
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
        let history = Arc::new(Mutex::new(History::default()));
        let worker = Worker {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .default_headers(reqwest::header::HeaderMap::from_iter([(
                    reqwest::header::AUTHORIZATION,
                    reqwest::header::HeaderValue::from_str(&format!("Bearer {BEARER_TOKEN}"))?,
                )]))
                .build()?,
            settings,
            account,
            history: history.clone(),
            not_before: HashMap::new(),
        };
        Ok(Self {
            task: tokio::spawn(worker.run()),
            history,
        })
    }

    /// What was issued and what failed so far.
    pub fn history(&self) -> History {
        self.history.lock().unwrap().clone()
    }
}

struct Worker {
    http: reqwest::Client,
    settings: Settings,
    account: instant_acme::Account,
    history: Arc<Mutex<History>>,
    /// `(namespace, name, generation)` → no attempt before this instant.
    not_before: HashMap<(String, String, i64), Instant>,
}

/// A Certificate's fields the stand-in reads.
struct Wanted {
    namespace: String,
    name: String,
    generation: i64,
    uid: String,
    secret_name: String,
    dns_names: Vec<String>,
    issuer: Value,
}

impl Wanted {
    fn from(object: &Value) -> Option<Self> {
        let meta = &object["metadata"];
        let s = |v: &Value| v.as_str().map(ToOwned::to_owned);
        Some(Self {
            namespace: s(&meta["namespace"])?,
            name: s(&meta["name"])?,
            generation: meta["generation"].as_i64().unwrap_or(1),
            uid: s(&meta["uid"]).unwrap_or_default(),
            secret_name: s(&object["spec"]["secretName"])?,
            dns_names: object["spec"]["dnsNames"]
                .as_array()?
                .iter()
                .filter_map(|n| n.as_str().map(ToOwned::to_owned))
                .collect(),
            issuer: object["spec"]["issuerRef"].clone(),
        })
    }

    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Whether cert-manager would leave `object` alone: `Ready=True` for its generation.
fn is_ready(object: &Value) -> bool {
    let generation = object["metadata"]["generation"].as_i64();
    object["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| {
            c["type"] == "Ready"
                && c["status"] == "True"
                && (c["observedGeneration"].as_i64().is_none()
                    || c["observedGeneration"].as_i64() == generation)
        })
}

/// An attempt that did not issue: why, and whether the CA said the order is invalid.
struct Failed {
    message: String,
    invalid: bool,
}

impl Worker {
    async fn run(mut self) {
        loop {
            if let Err(error) = self.pass().await {
                tracing::warn!(error = %format!("{error:#}"), "cert-manager stand-in: a pass failed");
            }
            tokio::time::sleep(self.settings.poll).await;
        }
    }

    fn url(&self, path: &str) -> anyhow::Result<url::Url> {
        Ok(self.settings.api.join(path.trim_start_matches('/'))?)
    }

    async fn pass(&mut self) -> anyhow::Result<()> {
        let list: Value = self
            .http
            .get(self.url("/apis/cert-manager.io/v1/certificates")?)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let now = Instant::now();
        for object in list["items"].as_array().into_iter().flatten() {
            if is_ready(object) || object["metadata"]["deletionTimestamp"].is_string() {
                continue;
            }
            let Some(wanted) = Wanted::from(object) else {
                continue;
            };
            let key = (
                wanted.namespace.clone(),
                wanted.name.clone(),
                wanted.generation,
            );
            if self.not_before.get(&key).is_some_and(|t| *t > now) {
                continue;
            }
            if self.up_to_date(&wanted).await {
                let (not_before, not_after) = self.secret_validity(&wanted).await;
                self.history.lock().unwrap().reused.push(wanted.key());
                let _ = self.ready(&wanted, &not_before, &not_after).await;
                continue;
            }
            match self.issue(&wanted).await {
                Ok(()) => {
                    self.not_before.remove(&key);
                }
                Err(failed) => {
                    tracing::info!(certificate = %wanted.key(), message = %failed.message, "cert-manager stand-in: not issued");
                    self.not_before
                        .insert(key, Instant::now() + self.settings.retry);
                    self.history.lock().unwrap().failures.push(format!(
                        "{}: {}",
                        wanted.key(),
                        failed.message
                    ));
                    let (reason, status) = if failed.invalid {
                        ("Failed", "False")
                    } else {
                        ("Requested", "True")
                    };
                    let message = if failed.invalid {
                        format!(
                            "The certificate request has failed to complete and will be retried: {}",
                            failed.message
                        )
                    } else {
                        "Issuing certificate as Secret does not exist".to_owned()
                    };
                    let _ = self
                        .set_status(
                            &wanted,
                            json!({"conditions": [
                                {"type": "Ready", "status": "False", "reason": "DoesNotExist",
                                 "message": "Issuing certificate as Secret does not exist",
                                 "observedGeneration": wanted.generation},
                                {"type": "Issuing", "status": status, "reason": reason,
                                 "message": message, "observedGeneration": wanted.generation},
                            ]}),
                        )
                        .await;
                }
            }
        }
        Ok(())
    }

    /// Server-side apply of `object` at `path` (a collection path + `/name`).
    async fn apply(&self, path: &str, object: &Value) -> anyhow::Result<()> {
        let mut url = self.url(path)?;
        url.query_pairs_mut()
            .append_pair("fieldManager", FIELD_MANAGER)
            .append_pair("force", "true");
        let response = self
            .http
            .patch(url)
            .header("content-type", "application/apply-patch+yaml")
            .body(serde_json::to_vec(object)?)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            bail!("apply {path}: HTTP {status}: {}", response.text().await?);
        }
        Ok(())
    }

    async fn set_status(&self, wanted: &Wanted, status: Value) -> anyhow::Result<()> {
        self.apply(
            &format!(
                "/apis/cert-manager.io/v1/namespaces/{}/certificates/{}/status",
                wanted.namespace, wanted.name
            ),
            &json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                    "metadata": {"name": wanted.name, "namespace": wanted.namespace},
                    "status": status}),
        )
        .await
    }

    fn challenge_path(namespace: &str, name: &str) -> String {
        format!("/apis/acme.cert-manager.io/v1/namespaces/{namespace}/challenges/{name}")
    }

    /// Writes the Challenge `name` (spec and status).
    async fn challenge(
        &self,
        wanted: &Wanted,
        name: &str,
        request: &ChallengeRequest,
        wildcard: bool,
        state: &str,
        reason: &str,
    ) -> anyhow::Result<()> {
        let path = Self::challenge_path(&wanted.namespace, name);
        let meta = json!({"name": name, "namespace": wanted.namespace,
            "labels": {"cert-manager.io/certificate-name": wanted.name}});
        self.apply(
            &path,
            &json!({"apiVersion": "acme.cert-manager.io/v1", "kind": "Challenge",
                "metadata": meta,
                "spec": {"dnsName": request.dns_name, "wildcard": wildcard, "key": request.key,
                         "type": "DNS-01", "issuerRef": wanted.issuer,
                         "solver": {"dns01": {"webhook": {"groupName": self.settings.group,
                             "solverName": self.settings.solver}}}}}),
        )
        .await?;
        self.apply(
            &format!("{path}/status"),
            &json!({"apiVersion": "acme.cert-manager.io/v1", "kind": "Challenge",
                "metadata": {"name": name, "namespace": wanted.namespace},
                "status": {"state": state, "reason": reason, "processing": state == "pending",
                           "presented": reason.is_empty()}}),
        )
        .await
    }

    async fn delete(&self, path: &str) -> anyhow::Result<()> {
        let response = self.http.delete(self.url(path)?).send().await?;
        if !response.status().is_success() && response.status().as_u16() != 404 {
            bail!("delete {path}: HTTP {}", response.status());
        }
        Ok(())
    }

    /// One ACME order for `wanted`, as cert-manager's ACME issuer runs it.
    async fn issue(&self, wanted: &Wanted) -> Result<(), Failed> {
        let mut presented = Vec::new();
        let result = self.order(wanted, &mut presented).await;
        // CleanUp whatever was presented, whatever happened, as cert-manager does.
        for (name, request) in &presented {
            let _ = self
                .settings
                .webhook
                .call(
                    &self.settings.group,
                    &self.settings.solver,
                    &request.with_action(Action::CleanUp),
                )
                .await;
            if result.is_ok() {
                let _ = self
                    .delete(&Self::challenge_path(&wanted.namespace, name))
                    .await;
            }
        }
        result
    }

    async fn order(
        &self,
        wanted: &Wanted,
        presented: &mut Vec<(String, ChallengeRequest)>,
    ) -> Result<(), Failed> {
        use instant_acme::{ChallengeType, Identifier, NewOrder, OrderStatus, RetryPolicy};
        let plain = |e: &dyn std::fmt::Display| Failed {
            message: e.to_string(),
            invalid: false,
        };
        let identifiers: Vec<Identifier> = wanted
            .dns_names
            .iter()
            .map(|n| Identifier::Dns(n.clone()))
            .collect();
        let mut order = self
            .account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .map_err(|e| plain(&e))?;
        let mut authorizations = order.authorizations();
        let mut index = 0;
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(|e| plain(&e))?;
            let mut challenge = authz
                .challenge(ChallengeType::Dns01)
                .ok_or_else(|| plain(&"the CA offered no DNS-01 challenge"))?;
            let identifier = challenge.identifier().to_string();
            let wildcard = identifier.starts_with("*.");
            let dns_name = identifier.trim_start_matches("*.").to_owned();
            let challenge_fqdn = format!("_acme-challenge.{dns_name}.");
            let resolved_fqdn = acmetest::follow_cname(self.settings.dns, &challenge_fqdn)
                .await
                .map_err(|e| plain(&format!("{e:#}")))?;
            let resolved_zone = acmetest::find_zone_by_soa(self.settings.dns, &resolved_fqdn)
                .await
                .map_err(|e| plain(&format!("{e:#}")))?;
            let request = ChallengeRequest {
                action: Action::Present,
                dns_name,
                key: challenge.key_authorization().dns_value(),
                resource_namespace: wanted.namespace.clone(),
                resolved_fqdn,
                resolved_zone,
                allow_ambient_credentials: false,
                config: self.settings.config.clone(),
            };
            let name = format!("{}-{}-{index}", wanted.name, wanted.generation);
            index += 1;
            let outcome = self
                .settings
                .webhook
                .call(&self.settings.group, &self.settings.solver, &request)
                .await
                .map_err(|e| plain(&format!("{e:#}")))?;
            if let Outcome::Failure(message) = outcome {
                // cert-manager's words around the webhook's message on the Challenge.
                let reason = format!("error presenting challenge: {message}");
                let _ = self
                    .challenge(wanted, &name, &request, wildcard, "pending", &reason)
                    .await;
                return Err(plain(&reason));
            }
            self.challenge(wanted, &name, &request, wildcard, "pending", "")
                .await
                .map_err(|e| plain(&format!("{e:#}")))?;
            presented.push((name, request.clone()));
            // cert-manager's self-check before telling the CA.
            if !visible_within(
                self.settings.dns,
                &challenge_fqdn,
                &request.key,
                Duration::from_secs(10),
            )
            .await
            {
                return Err(plain(&format!(
                    "DNS record for {:?} not yet propagated",
                    request.dns_name
                )));
            }
            challenge.set_ready().await.map_err(|e| plain(&e))?;
        }
        let polling = RetryPolicy::new()
            .initial_delay(Duration::from_millis(100))
            .backoff(1.5)
            .timeout(Duration::from_secs(20));
        let status = order.poll_ready(&polling).await;
        if !matches!(status, Ok(OrderStatus::Ready)) {
            let mut problems = Vec::new();
            let mut authorizations = order.authorizations();
            while let Some(Ok(mut authz)) = authorizations.next().await {
                if let Ok(state) = authz.refresh().await {
                    problems.extend(
                        state
                            .challenges
                            .iter()
                            .filter_map(|c| c.error.as_ref().map(ToString::to_string)),
                    );
                }
            }
            let message = if problems.is_empty() {
                format!("the order did not become ready: {status:?}")
            } else {
                problems.join("; ")
            };
            for (name, request) in presented.iter() {
                let _ = self
                    .challenge(wanted, name, request, false, "invalid", &message)
                    .await;
            }
            return Err(Failed {
                message,
                invalid: true,
            });
        }
        let key = rcgen::KeyPair::generate().map_err(|e| plain(&e))?;
        let csr = rcgen::CertificateParams::new(wanted.dns_names.clone())
            .and_then(|p| p.serialize_request(&key))
            .map_err(|e| plain(&e))?;
        order.finalize_csr(csr.der()).await.map_err(|e| plain(&e))?;
        let chain = order
            .poll_certificate(&polling)
            .await
            .map_err(|e| plain(&e))?;
        self.store(wanted, &chain, &key.serialize_pem())
            .await
            .map_err(|e| plain(&format!("{e:#}")))
    }

    async fn secret(&self, wanted: &Wanted) -> Option<Value> {
        let url = self
            .url(&format!(
                "/api/v1/namespaces/{}/secrets/{}",
                wanted.namespace, wanted.secret_name
            ))
            .ok()?;
        let response = self.http.get(url).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }

    fn chain_of(secret: &Value) -> Option<String> {
        let data = secret["data"]["tls.crt"].as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .ok()?;
        String::from_utf8(bytes).ok()
    }

    async fn secret_validity(&self, wanted: &Wanted) -> (String, String) {
        let chain = self.secret(wanted).await.as_ref().and_then(Self::chain_of);
        chain.and_then(|c| validity(&c).ok()).unwrap_or_default()
    }

    /// Whether the Secret holds a certificate for exactly `wanted`'s names from its issuer,
    /// with more than a third of its lifetime left.
    async fn up_to_date(&self, wanted: &Wanted) -> bool {
        let Some(secret) = self.secret(wanted).await else {
            return false;
        };
        let issuer = secret["metadata"]["annotations"]["cert-manager.io/issuer-name"].as_str();
        if issuer != wanted.issuer["name"].as_str() {
            return false;
        }
        let Some(chain) = Self::chain_of(&secret) else {
            return false;
        };
        let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(chain.as_bytes()) else {
            return false;
        };
        let Ok(cert) = pem.parse_x509() else {
            return false;
        };
        let names = crate::pki::dns_names(&cert);
        let mut want = wanted.dns_names.clone();
        want.sort();
        let validity = cert.validity();
        let (from, to) = (
            validity.not_before.timestamp(),
            validity.not_after.timestamp(),
        );
        let renew_at = to - (to - from) / 3;
        names == want && jiff::Timestamp::now().as_second() < renew_at
    }

    async fn ready(
        &self,
        wanted: &Wanted,
        not_before: &str,
        not_after: &str,
    ) -> anyhow::Result<()> {
        self.set_status(
            wanted,
            json!({"conditions": [
                {"type": "Ready", "status": "True", "reason": "Ready",
                 "message": "Certificate is up to date and has not expired",
                 "observedGeneration": wanted.generation},
            ], "notBefore": not_before, "notAfter": not_after}),
        )
        .await
    }

    /// The Secret and `Ready=True`, as cert-manager writes them for an issued certificate.
    async fn store(&self, wanted: &Wanted, chain: &str, key_pem: &str) -> anyhow::Result<()> {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let (not_before, not_after) = validity(chain)?;
        let issuer = |k: &str| wanted.issuer[k].as_str().unwrap_or_default().to_owned();
        self.apply(
            &format!(
                "/api/v1/namespaces/{}/secrets/{}",
                wanted.namespace, wanted.secret_name
            ),
            &json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "metadata": {"name": wanted.secret_name, "namespace": wanted.namespace,
                    "annotations": {
                        "cert-manager.io/certificate-name": wanted.name,
                        "cert-manager.io/issuer-name": issuer("name"),
                        "cert-manager.io/issuer-kind": issuer("kind"),
                        "cert-manager.io/issuer-group": "cert-manager.io",
                        "cert-manager.io/alt-names": wanted.dns_names.join(","),
                        "cert-manager.io/certificate-uid": wanted.uid,
                    }},
                "data": {"tls.crt": b64(chain), "tls.key": b64(key_pem), "ca.crt": ""}}),
        )
        .await?;
        // Recorded before Ready is written: whoever sees Ready sees the issuance recorded.
        self.history.lock().unwrap().issued.push(wanted.key());
        self.ready(wanted, &not_before, &not_after).await
    }
}

/// `notBefore` and `notAfter` of a PEM chain's first certificate (RFC 3339).
fn validity(chain: &str) -> anyhow::Result<(String, String)> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(chain.as_bytes())
        .map_err(|e| anyhow::anyhow!("the CA's chain is not PEM: {e}"))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| anyhow::anyhow!("the CA's certificate is not X.509: {e}"))?;
    let time = |t: x509_parser::time::ASN1Time| {
        jiff::Timestamp::from_second(t.timestamp())
            .map(|t| format!("{t:.0}"))
            .unwrap_or_default()
    };
    Ok((
        time(cert.validity().not_before),
        time(cert.validity().not_after),
    ))
}

/// Whether `value` is served at `name` (CNAMEs chased by the server, asked with recursion
/// desired) within `limit`.
async fn visible_within(dns: SocketAddr, name: &str, value: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(values) = acmetest::txt_values(dns, name, true).await
            && values.iter().any(|v| v == value)
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
