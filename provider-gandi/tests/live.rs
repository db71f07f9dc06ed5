//! The dns01-core conformance suite against the real Gandi LiveDNS API.
//!
//! Ignored by default: it needs credentials and a domain you control, and it writes (then
//! removes) TXT records under random names in that domain. Run it with
//!
//! ```text
//! GANDI_TOKEN=... GANDI_ZONE=example.com cargo test -p dns01-gandi --test live -- --ignored
//! ```
//!
//! Environment:
//! - `GANDI_TOKEN`: a personal access token with the "Manage domain name technical
//!   configurations" permission on the domain; or
//! - `GANDI_API_KEY`: a legacy API key (used when `GANDI_TOKEN` is unset);
//! - `GANDI_ZONE`: the domain (on LiveDNS) to write test records under;
//! - `GANDI_SHARING_ID` (optional): the organisation id, for a domain owned by another
//!   organisation;
//! - `GANDI_API_URL` (optional): the base URL, default `https://api.gandi.net/v5/livedns`
//!   (`https://api.sandbox.gandi.net/v5/livedns` for the sandbox).
//!
//! The harness observes and seeds records through Gandi's API directly, not through the store,
//! so a bug in the store cannot hide itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dns01_core::conformance::{self, Harness};
use dns01_core::{Error, Fqdn, Provider, Result, TxtValue, ZoneName};
use dns01_gandi::codec;
use dns01_gandi::{Credentials, Endpoint, GandiConfig, USER_AGENT};
use serde_json::json;
use url::Url;

struct Live {
    provider: Arc<dyn Provider>,
    zone: ZoneName,
    http: reqwest::Client,
    base: Url,
    authorization: String,
    sharing_id: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Live {
    fn from_env() -> Self {
        let credentials = match (env("GANDI_TOKEN"), env("GANDI_API_KEY")) {
            (Some(token), _) => Credentials::personal_access_token(token),
            (None, Some(key)) => Credentials::api_key(key),
            (None, None) => panic!("set GANDI_TOKEN (or GANDI_API_KEY) to run the live test"),
        };
        let zone = ZoneName::parse(&env("GANDI_ZONE").expect("set GANDI_ZONE")).unwrap();
        let base = env("GANDI_API_URL")
            .map(|u| Url::parse(&u).expect("GANDI_API_URL is a URL"))
            .unwrap_or_else(|| Endpoint::Production.url());
        let sharing_id = env("GANDI_SHARING_ID");
        let authorization = format!(
            "{} {}",
            credentials.scheme(),
            credentials.secret().expose().trim()
        );
        let mut config = GandiConfig::new(credentials).with_base_url(base.clone());
        if let Some(id) = &sharing_id {
            config = config.with_sharing_id(id.clone());
        }
        Self {
            provider: Arc::new(dns01_gandi::provider(config).unwrap()),
            zone,
            http: reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            base,
            authorization,
            sharing_id,
        }
    }

    fn rrset_url(&self, name: &Fqdn) -> Result<Url> {
        let rel = name.relative_to(&self.zone)?;
        let mut url = self.base.clone();
        let path = format!(
            "{}/domains/{}/records/{}/TXT",
            url.path().trim_end_matches('/'),
            self.zone.as_str(),
            rel.as_str().replace('@', "%40").replace('*', "%2A")
        );
        url.set_path(&path);
        if let Some(id) = &self.sharing_id {
            url.query_pairs_mut().append_pair("sharing_id", id);
        }
        Ok(url)
    }

    /// The raw values and TTL at `name` (empty when absent).
    async fn raw(&self, name: &Fqdn) -> Result<(Vec<String>, u32)> {
        let response = self
            .http
            .get(self.rrset_url(name)?)
            .header("Authorization", &self.authorization)
            .send()
            .await
            .map_err(|e| Error::transient("raw GET").with_source(e))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok((Vec::new(), 300));
        }
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| Error::other(format!("raw GET answered {status}")).with_source(e))?;
        let values = body["rrset_values"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let ttl = body["rrset_ttl"]
            .as_u64()
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or(300);
        Ok((values, ttl))
    }
}

#[async_trait]
impl Harness for Live {
    fn provider(&self) -> Arc<dyn Provider> {
        self.provider.clone()
    }

    fn zone(&self) -> ZoneName {
        self.zone.clone()
    }

    async fn observe(&self, name: &Fqdn) -> Result<Vec<TxtValue>> {
        let (values, _) = self.raw(name).await?;
        values
            .iter()
            .map(|wire| {
                let raw = codec::decode(wire)
                    .map_err(|e| Error::other(format!("undecodable value {wire:?}: {e}")))?;
                TxtValue::new(raw)
            })
            .collect()
    }

    async fn seed_foreign(&self, name: &Fqdn, value: &TxtValue) -> Result<()> {
        let (mut values, ttl) = self.raw(name).await?;
        // Another tool may write simple values unquoted; Gandi then returns them quoted.
        let simple = value
            .as_str()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_+/=.".contains(c));
        values.push(if simple {
            value.as_str().to_owned()
        } else {
            codec::encode(value.as_str())
        });
        let status = self
            .http
            .put(self.rrset_url(name)?)
            .header("Authorization", &self.authorization)
            .json(&json!({"rrset_ttl": ttl, "rrset_values": values}))
            .send()
            .await
            .map_err(|e| Error::transient("raw PUT").with_source(e))?
            .status();
        if status.is_success() {
            Ok(())
        } else {
            Err(Error::other(format!("raw PUT answered {status}")))
        }
    }
}

#[tokio::test]
#[ignore = "needs GANDI_TOKEN or GANDI_API_KEY and GANDI_ZONE; writes to a real domain"]
async fn the_gandi_provider_passes_the_conformance_suite_against_the_real_api() {
    let live = Live::from_env();
    match conformance::run_all(&live).await {
        Ok(report) => assert_eq!(report.passed.len(), conformance::CASES.len()),
        Err(failure) => panic!("{failure}"),
    }
}
