//! The HTTP side: one `reqwest::Client` per store (rustls, timeouts, user agent, the
//! `Authorization` header marked sensitive), URL building with percent-encoded path segments and
//! `sharing_id`, the client-side rate limiter and retries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dns01_core::retry::{RateLimiter, RetryPolicy};
use dns01_core::{Error, Result};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use reqwest::Method;
use url::Url;

use crate::config::{CallObserver, Credentials, GandiConfig, NoopObserver, Secret};
use crate::error::{self, Route};

/// The `User-Agent` sent with every request.
pub const USER_AGENT: &str = concat!(
    "dns01/",
    env!("CARGO_PKG_VERSION"),
    " (+",
    env!("CARGO_PKG_REPOSITORY"),
    ")"
);

/// One request to make, retried as a whole.
#[derive(Debug)]
pub(crate) struct Call {
    /// How messages and observers name it.
    pub(crate) route: Route,
    /// The HTTP method.
    pub(crate) method: Method,
    /// Path segments after the base URL, percent-encoded here.
    pub(crate) segments: Vec<String>,
    /// Query parameters besides `sharing_id`.
    pub(crate) query: Vec<(&'static str, String)>,
    /// A JSON body, sent with `Content-Type: application/json`.
    pub(crate) body: Option<serde_json::Value>,
    /// Error statuses the caller handles itself (e.g. 404 on a read); returned as `Ok`.
    pub(crate) accept: &'static [u16],
}

/// An HTTP answer with a success status or one of [`Call::accept`].
#[derive(Debug)]
pub(crate) struct Reply {
    /// The status.
    pub(crate) status: StatusCode,
    /// The headers.
    pub(crate) headers: HeaderMap,
    /// The whole body.
    pub(crate) body: Vec<u8>,
}

/// The HTTP client of one store; shared by its clones.
pub(crate) struct Client {
    http: reqwest::Client,
    base: Url,
    sharing_id: Option<String>,
    secret: Secret,
    limiter: RateLimiter,
    retry: RetryPolicy,
    observer: Arc<dyn CallObserver>,
    timeout: Duration,
    credential_kind: &'static str,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base.as_str())
            .field("sharing_id", &self.sharing_id)
            .field("credentials", &self.credential_kind)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("observer", &self.observer)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds the client; fails on a configuration that cannot work.
    pub(crate) fn new(config: &GandiConfig) -> Result<Self> {
        let secret = config.credentials.secret();
        let kind = config.credentials.kind();
        if secret.is_empty() {
            return Err(Error::invalid_input(format!(
                "the Gandi {kind} is empty; put the credential in the Secret"
            )));
        }
        if config.timeout.is_zero() {
            return Err(Error::invalid_input(
                "timeout is zero; give a timeout such as 10s",
            ));
        }
        if config.rate_limit_per_minute == 0 && config.shared_rate_limiter.is_none() {
            return Err(Error::invalid_input(
                "rate_limit_per_minute is 0, which would block every request; Gandi allows 1000",
            ));
        }
        if !matches!(config.base_url.scheme(), "http" | "https")
            || config.base_url.cannot_be_a_base()
        {
            return Err(Error::invalid_input(format!(
                "base_url {} is not an http(s) URL; use {}",
                config.base_url,
                crate::Endpoint::Production.as_str()
            )));
        }
        if let Some(id) = &config.sharing_id {
            if id.trim().is_empty() {
                return Err(Error::invalid_input(
                    "sharing_id is empty; give the organisation id or leave it unset",
                ));
            }
        }

        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, auth_header(&config.credentials)?);
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // LiveDNS never redirects; following one could carry the credential elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                Error::other("could not build the HTTP client for Gandi").with_source(e)
            })?;

        let mut base = config.base_url.clone();
        let trimmed = base.path().trim_end_matches('/').to_owned();
        base.set_path(&trimmed);
        Ok(Self {
            http,
            base,
            sharing_id: config.sharing_id.clone(),
            secret: secret.clone(),
            limiter: match &config.shared_rate_limiter {
                Some(shared) => shared.clone(),
                None => RateLimiter::per_minute(config.rate_limit_per_minute),
            },
            retry: config.retry.clone(),
            observer: config
                .observer
                .clone()
                .unwrap_or_else(|| Arc::new(NoopObserver)),
            timeout: config.timeout,
            credential_kind: kind,
        })
    }

    /// The base URL, without a trailing slash.
    pub(crate) fn base_url(&self) -> &Url {
        &self.base
    }

    /// The organisation id sent as `sharing_id`, if any.
    pub(crate) fn sharing_id(&self) -> Option<&str> {
        self.sharing_id.as_deref()
    }

    /// The secret, for scrubbing bodies.
    pub(crate) fn secret(&self) -> &Secret {
        &self.secret
    }

    /// The full URL of a call.
    pub(crate) fn url(&self, call: &Call) -> Url {
        let mut url = self.base.clone();
        let mut path = url.path().to_owned();
        for segment in &call.segments {
            path.push('/');
            path.push_str(&encode_segment(segment));
        }
        url.set_path(&path);
        if self.sharing_id.is_some() || !call.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            if let Some(id) = &self.sharing_id {
                pairs.append_pair("sharing_id", id);
            }
            for (k, v) in &call.query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    /// Sends a call, retrying retryable failures under the configured policy; every attempt
    /// waits for the rate limiter first.
    pub(crate) async fn send(&self, call: &Call) -> Result<Reply> {
        let url = self.url(call);
        self.retry
            .run(|attempt| self.attempt(call, &url, attempt))
            .await
    }

    async fn attempt(&self, call: &Call, url: &Url, attempt: u32) -> Result<Reply> {
        let operation = call.route.operation;
        if attempt > 1 {
            self.observer.on_retry(operation);
            tracing::debug!(route = %call.route, attempt, "retrying Gandi call");
        }
        let waited = self.limiter.acquire().await;
        if !waited.is_zero() {
            self.observer.on_rate_limit_wait(waited);
            tracing::debug!(route = %call.route, ?waited, "waited for the client-side rate limit");
        }
        let started = Instant::now();
        let mut request = self.http.request(call.method.clone(), url.clone());
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                self.observer.on_call(operation, None, started.elapsed());
                tracing::debug!(route = %call.route, error = %e, "Gandi call failed without an answer");
                return Err(error::from_transport(&call.route, self.timeout, e));
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) => {
                self.observer
                    .on_call(operation, Some(status.as_u16()), started.elapsed());
                return Err(error::from_transport(&call.route, self.timeout, e));
            }
        };
        let elapsed = started.elapsed();
        self.observer
            .on_call(operation, Some(status.as_u16()), elapsed);
        tracing::debug!(
            route = %call.route,
            status = status.as_u16(),
            trace_id = error::trace_id(&headers).as_deref().unwrap_or(""),
            elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            "Gandi call answered"
        );
        if status.is_success() || call.accept.contains(&status.as_u16()) {
            Ok(Reply {
                status,
                headers,
                body,
            })
        } else {
            Err(error::from_status(
                &call.route,
                status,
                &headers,
                &body,
                &self.secret,
            ))
        }
    }
}

/// The `Authorization` header value, marked sensitive so it is never logged by the HTTP stack.
fn auth_header(credentials: &Credentials) -> Result<HeaderValue> {
    // Secrets mounted from files often end in a newline; no token contains whitespace.
    let secret = credentials.secret().expose().trim();
    let mut value =
        HeaderValue::from_str(&format!("{} {secret}", credentials.scheme())).map_err(|_| {
            Error::invalid_input(format!(
                "the Gandi {} contains characters that cannot be sent in an HTTP header; \
                 check the Secret for stray characters",
                credentials.kind()
            ))
        })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Percent-encodes one path segment: everything but RFC 3986 unreserved characters, so `@`
/// becomes `%40` and `*` becomes `%2A`, as Gandi's own hrefs write them.
pub(crate) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Credentials;

    fn client(config: GandiConfig) -> Client {
        Client::new(&config).unwrap()
    }

    fn call(segments: &[&str]) -> Call {
        Call {
            route: Route {
                operation: "read_txt",
                method: "GET",
                target: String::new(),
            },
            method: Method::GET,
            segments: segments.iter().map(|s| (*s).to_owned()).collect(),
            query: Vec::new(),
            body: None,
            accept: &[],
        }
    }

    #[test]
    fn path_segments_are_percent_encoded_including_at_and_star() {
        assert_eq!(encode_segment("@"), "%40");
        assert_eq!(encode_segment("*.acme"), "%2A.acme");
        assert_eq!(encode_segment("_acme-challenge.app"), "_acme-challenge.app");
        assert_eq!(encode_segment("a/b?c"), "a%2Fb%3Fc");
    }

    #[test]
    fn urls_append_routes_to_the_base_path_and_carry_the_sharing_id() {
        let cfg = GandiConfig::new(Credentials::api_key("k"))
            .with_base_url(Url::parse("http://127.0.0.1:9/v5/livedns/").unwrap())
            .with_sharing_id("org-1");
        let c = client(cfg);
        let url = c.url(&call(&["domains", "example.com", "records", "@", "TXT"]));
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/v5/livedns/domains/example.com/records/%40/TXT?sharing_id=org-1"
        );
        let c = client(GandiConfig::new(Credentials::api_key("k")));
        let url = c.url(&call(&["domains"]));
        assert_eq!(url.as_str(), "https://api.gandi.net/v5/livedns/domains");
    }

    #[test]
    fn the_authorization_header_is_sensitive_and_trimmed() {
        let v = auth_header(&Credentials::personal_access_token("abc\n")).unwrap();
        assert!(v.is_sensitive());
        assert_eq!(v.to_str().unwrap(), "Bearer abc");
        let v = auth_header(&Credentials::api_key("key")).unwrap();
        assert_eq!(v.to_str().unwrap(), "Apikey key");
    }

    #[test]
    fn a_credential_that_cannot_be_a_header_is_refused_without_echoing_it() {
        let e = auth_header(&Credentials::personal_access_token("ab\u{1}cd-secret")).unwrap_err();
        assert_eq!(e.kind(), dns01_core::ErrorKind::InvalidInput);
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn unusable_configurations_are_refused_with_the_field_name() {
        let base = || GandiConfig::new(Credentials::personal_access_token("t"));
        let msg = |cfg: GandiConfig| Client::new(&cfg).unwrap_err().to_string();
        assert!(msg(GandiConfig::new(Credentials::personal_access_token(" "))).contains("empty"));
        assert!(msg(base().with_timeout(Duration::ZERO)).contains("timeout"));
        assert!(msg(base().with_rate_limit_per_minute(0)).contains("rate_limit_per_minute"));
        assert!(msg(base().with_sharing_id("")).contains("sharing_id"));
        let ftp = Url::parse("ftp://example.com/").unwrap();
        assert!(msg(base().with_base_url(ftp)).contains("base_url"));
    }

    #[test]
    fn the_user_agent_names_the_project_and_version() {
        assert!(USER_AGENT.starts_with("dns01/0."), "{USER_AGENT}");
        assert!(USER_AGENT.ends_with("(+https://github.com/dns01/dns01)"));
    }
}
