//! The `rfc2136` solver: RFC 2136 dynamic updates signed with TSIG, to a nameserver the
//! operator allows (BIND, Knot, PowerDNS, Windows DNS), through [`dns01_rfc2136`].
//!
//! The config keys follow cert-manager's built-in RFC 2136 solver (`nameserver`,
//! `tsigKeyName`, `tsigAlgorithm`, `tsigSecretSecretRef`, `protocol`), plus `ttl` and the
//! `delegation` options of the `gandi` solver. Two differences, both for safety:
//!
//! - **`nameserver` must be on the operator's allow-list** (`--rfc2136-nameserver`). An Issuer
//!   author cannot make the webhook send updates, from the webhook's network position, to an
//!   address of their choosing; a name that is not allowed is refused before anything is read
//!   or sent. With exactly one allowed nameserver, `nameserver` may be left out.
//! - **Updates are always signed.** `tsigKeyName` and `tsigSecretSecretRef` are required (a
//!   server that accepted unsigned updates from the webhook's address would accept them from
//!   every tenant's Issuer); `tsigAlgorithm` defaults to `HMACSHA256` (cert-manager's default,
//!   HMAC-MD5, is broken and refused).
//!
//! The TSIG secret is read from the Secret in the request's `resourceNamespace`, like the Gandi
//! credentials; it never appears in a message, a log line or a `Debug` output.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dns01_core::retry::RetryPolicy;
use dns01_rfc2136::{Rfc2136Config, Rfc2136Provider, TsigAlgorithm, TsigKey, parse_transport};
use serde::Deserialize;

use super::config::{self, DelegationConfig, SecretRef};
use super::{Challenge, Solver, SolverError, apply, resolve_target};
use crate::secrets::SecretSource;

/// The solver name.
pub const NAME: &str = "rfc2136";

/// Default Secret key of `tsigSecretSecretRef`.
pub const DEFAULT_TSIG_SECRET_KEY: &str = "tsig-secret-key";

/// The `rfc2136` solver's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rfc2136SolverConfig {
    /// `host:port` (port 53 by default; `[v6]:port` for IPv6) of the primary server; one of
    /// the operator's allowed nameservers.
    #[serde(default)]
    pub nameserver: Option<String>,
    /// The TSIG key's name, as the server knows it.
    #[serde(default)]
    pub tsig_key_name: Option<String>,
    /// `HMACSHA256` (default), `HMACSHA384`, `HMACSHA512` or `HMACSHA1`; `hmac-sha256` and the
    /// like are accepted too.
    #[serde(default)]
    pub tsig_algorithm: Option<String>,
    /// The Secret holding the base64 TSIG secret (key default `tsig-secret-key`).
    #[serde(default)]
    pub tsig_secret_secret_ref: Option<SecretRef>,
    /// `UDP` (default, TCP when an answer is truncated) or `TCP`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// TTL of the TXT records, seconds (60 by default).
    #[serde(default)]
    pub ttl: Option<u32>,
    /// A delegated validation zone.
    #[serde(default)]
    pub delegation: Option<DelegationConfig>,
}

/// TTL of the TXT records when the config gives none: short, as cert-manager's solver uses.
pub const DEFAULT_TTL: u32 = 60;

/// Operator settings of the `rfc2136` solver.
#[derive(Debug, Clone)]
pub struct Rfc2136Settings {
    /// The nameservers Issuers may name (`--rfc2136-nameserver`), normalised by
    /// [`normalize_nameserver`].
    pub nameservers: Vec<String>,
    /// Time allowed for one exchange with the server.
    pub timeout: Duration,
    /// Retries of timeouts and SERVFAIL.
    pub retry: RetryPolicy,
}

impl Default for Rfc2136Settings {
    fn default() -> Self {
        Self {
            nameservers: Vec::new(),
            timeout: dns01_rfc2136::DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }
}

/// `host`, `host:port`, `ip`, `ip:port` or `[ipv6]:port` as `host:port` with the host in
/// lowercase, an IP in its canonical form and port 53 when none is given, so that the
/// operator's list and an Issuer's value compare equal however they are written.
pub fn normalize_nameserver(text: &str) -> Result<String, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "{t:?} is not a nameserver address; write host:port (port 53 by default), \
             e.g. 192.0.2.53:53, ns1.example.com or [2001:db8::53]:53"
        )
    };
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(ip) = t.parse::<std::net::IpAddr>() {
        return Ok(std::net::SocketAddr::new(ip, 53).to_string());
    }
    if let Ok(addr) = t.parse::<std::net::SocketAddr>() {
        return Ok(addr.to_string());
    }
    let (host, port) = match t.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
        None => (t, 53),
    };
    let valid_host = !host.is_empty()
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if !valid_host || port == 0 {
        return Err(bad());
    }
    Ok(format!("{}:{port}", host.to_ascii_lowercase()))
}

/// The `rfc2136` solver.
pub struct Rfc2136Solver {
    secrets: Arc<dyn SecretSource>,
    settings: Rfc2136Settings,
}

impl fmt::Debug for Rfc2136Solver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rfc2136Solver")
            .field("secrets", &self.secrets)
            .field("settings", &self.settings)
            .finish()
    }
}

fn config_error(message: impl Into<String>) -> SolverError {
    SolverError::Config {
        solver: NAME.to_owned(),
        message: message.into(),
    }
}

impl Rfc2136Solver {
    /// A solver reading TSIG secrets from `secrets`, sending to the allowed nameservers only.
    pub fn new(secrets: Arc<dyn SecretSource>, settings: Rfc2136Settings) -> Self {
        Self { secrets, settings }
    }

    /// The allowed nameserver the config names (or the only one), resolved to an address.
    async fn nameserver(
        &self,
        cfg: &Rfc2136SolverConfig,
        challenge: &Challenge,
    ) -> Result<std::net::SocketAddr, SolverError> {
        let allowed = &self.settings.nameservers;
        if allowed.is_empty() {
            return Err(config_error(
                "this webhook allows no RFC 2136 nameserver: its operator must start it with \
                 --rfc2136-nameserver <host:port> (chart value rfc2136.nameservers)",
            ));
        }
        let chosen = match &cfg.nameserver {
            Some(text) => {
                let normalized = normalize_nameserver(text).map_err(config_error)?;
                if !allowed.contains(&normalized) {
                    return Err(config_error(format!(
                        "nameserver {normalized} is not one this webhook may send updates to; \
                         the operator allows {} (--rfc2136-nameserver)",
                        allowed.join(", ")
                    )));
                }
                normalized
            }
            None => match allowed.as_slice() {
                [only] => only.clone(),
                _ => {
                    return Err(config_error(format!(
                        "`nameserver` is required: name one of {}",
                        allowed.join(", ")
                    )));
                }
            },
        };
        let mut addrs = tokio::net::lookup_host(chosen.as_str())
            .await
            .map_err(|e| SolverError::Provider {
                action: challenge.action,
                name: challenge.resolved_fqdn.clone(),
                source: dns01_core::Error::transient(format!("cannot resolve nameserver {chosen}"))
                    .with_source(e),
            })?;
        addrs
            .next()
            .ok_or_else(|| config_error(format!("nameserver {chosen} has no address")))
    }

    async fn key(
        &self,
        cfg: &Rfc2136SolverConfig,
        challenge: &Challenge,
    ) -> Result<TsigKey, SolverError> {
        let (Some(name), Some(secret_ref)) = (&cfg.tsig_key_name, &cfg.tsig_secret_secret_ref)
        else {
            return Err(config_error(format!(
                "tsigKeyName and tsigSecretSecretRef are required: updates are always signed. \
                 Put the key's base64 secret in a Secret in namespace {:?} and name it in \
                 tsigSecretSecretRef (key {DEFAULT_TSIG_SECRET_KEY:?} by default)",
                challenge.namespace
            )));
        };
        let algorithm: TsigAlgorithm = match &cfg.tsig_algorithm {
            None => TsigAlgorithm::HmacSha256,
            Some(text) => text.parse().map_err(|e: dns01_core::Error| {
                config_error(format!("`tsigAlgorithm`: {}", e.message()))
            })?,
        };
        let secret = self
            .secrets
            .get_key(
                &challenge.namespace,
                &secret_ref.name,
                secret_ref.key_or(DEFAULT_TSIG_SECRET_KEY),
            )
            .await?;
        TsigKey::new(name, algorithm, secret.expose()).map_err(|e| {
            config_error(format!(
                "{} (Secret {}/{})",
                e.message(),
                challenge.namespace,
                secret_ref.name
            ))
        })
    }

    async fn act(&self, challenge: &Challenge) -> Result<(), SolverError> {
        let cfg: Rfc2136SolverConfig = config::parse(NAME, challenge.config.as_ref())?;
        // The policy runs first: a refusal reads no Secret and sends nothing.
        let mut target = resolve_target(challenge, cfg.delegation.as_ref())?;
        let server = self.nameserver(&cfg, challenge).await?;
        let transport = parse_transport(cfg.protocol.as_deref().unwrap_or_default())
            .map_err(|e| config_error(format!("`protocol`: {e}")))?;
        let key = self.key(&cfg, challenge).await?;
        let provider = Rfc2136Provider::new(
            Rfc2136Config::new(server)
                .with_key(key)
                .with_transport(transport)
                .with_timeout(self.settings.timeout)
                .with_retry(self.settings.retry.clone()),
        );
        // The delegation zone, or cert-manager's resolvedZone; else the provider asks the
        // server for the SOA.
        let zone = cfg
            .delegation
            .as_ref()
            .map(|d| d.zone.clone())
            .or_else(|| target.zone_hint.take());
        apply(
            &provider,
            challenge,
            target,
            zone,
            Some(cfg.ttl.unwrap_or(DEFAULT_TTL)),
        )
        .await
    }
}

#[async_trait]
impl Solver for Rfc2136Solver {
    async fn present(&self, challenge: &Challenge) -> Result<(), SolverError> {
        self.act(challenge).await
    }

    async fn cleanup(&self, challenge: &Challenge) -> Result<(), SolverError> {
        self.act(challenge).await
    }
}
