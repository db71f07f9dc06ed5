//! How the gateway authenticates to a route's upstream: nothing, Basic, the upstream's own
//! Bearer token dance (tokens cached until they expire), or registry JWTs it mints itself
//! for a CNCF Distribution in `auth.token` mode.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dns01_core::Secret;
use dns01_registry::auth::{Challenge, Scope, TokenResponse, parse_www_authenticate};
use dns01_registry::jwt::{Access, Claims, SigningKey};
use dns01_registry::{ErrorBody, ErrorCode};

use crate::config::CredentialsConfig;
use crate::error::{Error, Reply, Result, unavailable};
use crate::route::Route;

/// Lifetime of the registry JWTs the gateway mints (Distribution allows ~60 s of leeway).
const MINTED_LIFETIME: Duration = Duration::from_secs(300);
/// A cached upstream token is dropped this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(10);

/// A route's upstream credentials, loaded.
pub enum UpstreamAuth {
    /// No credentials of the gateway's own; when the upstream asks for a Bearer token (public
    /// images on Docker Hub or GHCR), the anonymous token dance.
    Anonymous {
        /// The challenge and tokens, as for [`UpstreamAuth::Bearer`].
        state: Mutex<BearerState>,
    },
    /// Basic on every request.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// The upstream's Bearer token dance.
    Bearer {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
        /// The challenge learnt from the upstream's `/v2/` (`Some(None)`: no auth needed)
        /// and tokens by scope.
        state: Mutex<BearerState>,
    },
    /// Registry JWTs minted by the gateway.
    Distribution {
        /// `iss`.
        issuer: String,
        /// `aud`.
        service: String,
        /// The signing key.
        key: SigningKey,
    },
}

/// What the Bearer dance remembers.
#[derive(Debug, Default)]
pub struct BearerState {
    challenge: Option<Option<Challenge>>,
    tokens: HashMap<String, (Secret, Instant)>,
}

impl std::fmt::Debug for UpstreamAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous { .. } => f.write_str("Anonymous"),
            Self::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Self::Bearer { username, .. } => write!(f, "Bearer({username}, <redacted>)"),
            Self::Distribution {
                issuer,
                service,
                key,
            } => write!(f, "Distribution({issuer}, {service}, {key:?})"),
        }
    }
}

fn read_secret(path: &Path) -> Result<Secret> {
    std::fs::read_to_string(path)
        .map(|s| Secret::new(s.trim_end_matches(['\n', '\r'])))
        .map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })
}

/// A PKCS#8 key from PEM (`-----BEGIN PRIVATE KEY-----`) or DER.
fn read_key(path: &Path) -> Result<SigningKey> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    let der = match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN") => {
            let b64: String = text
                .lines()
                .skip_while(|l| !l.starts_with("-----BEGIN PRIVATE KEY"))
                .skip(1)
                .take_while(|l| !l.starts_with("-----END"))
                .collect();
            STANDARD.decode(b64.trim()).map_err(|_| {
                Error::config(
                    path.display().to_string(),
                    "no `PRIVATE KEY` PEM block: convert the key with \
                     `openssl pkcs8 -topk8 -nocrypt`",
                )
            })?
        }
        _ => bytes,
    };
    SigningKey::from_pkcs8_der(&der)
        .map_err(|e| Error::config(path.display().to_string(), e.to_string()))
}

impl UpstreamAuth {
    /// Reads the files the configuration names.
    ///
    /// # Errors
    /// When a file cannot be read or the key is not a PKCS#8 EC P-256 or RSA key.
    pub fn load(config: &CredentialsConfig) -> Result<Self> {
        Ok(match config {
            CredentialsConfig::None => Self::Anonymous {
                state: Mutex::default(),
            },
            CredentialsConfig::Basic {
                username,
                password_file,
            } => Self::Basic {
                username: username.clone(),
                password: read_secret(password_file)?,
            },
            CredentialsConfig::Bearer {
                username,
                password_file,
            } => Self::Bearer {
                username: username.clone(),
                password: read_secret(password_file)?,
                state: Mutex::default(),
            },
            CredentialsConfig::Distribution {
                issuer,
                service,
                key_file,
            } => Self::Distribution {
                issuer: issuer.clone(),
                service: service.clone(),
                key: read_key(key_file)?,
            },
        })
    }

    /// The `Authorization` value for a request needing `scopes` (upstream names) on behalf
    /// of `subject`, marked sensitive.
    ///
    /// # Errors
    /// A [`Reply`] naming the upstream when its token endpoint refuses or cannot be reached.
    pub async fn authorization(
        &self,
        http: &reqwest::Client,
        route: &Route,
        subject: &str,
        scopes: &[Scope],
    ) -> Result<Option<HeaderValue>, Reply> {
        let value = match self {
            Self::Anonymous { state } => match self.bearer(http, route, None, state, scopes).await?
            {
                Some(token) => format!("Bearer {}", token.expose()),
                None => return Ok(None),
            },
            Self::Basic { username, password } => basic(username, password),
            Self::Distribution {
                issuer,
                service,
                key,
            } => {
                let access = scopes.iter().map(Access::from).collect();
                let claims = Claims::new(issuer, service, subject, access, MINTED_LIFETIME);
                let token = key.sign(&claims).map_err(|e| {
                    Reply::with_status(
                        StatusCode::SERVICE_UNAVAILABLE,
                        unavailable(),
                        format!(
                            "route {}: the gateway cannot sign the upstream's token: {e}",
                            route.name
                        ),
                    )
                })?;
                format!("Bearer {}", token.expose())
            }
            Self::Bearer {
                username,
                password,
                state,
            } => match self
                .bearer(http, route, Some((username, password)), state, scopes)
                .await?
            {
                Some(token) => format!("Bearer {}", token.expose()),
                None => return Ok(None),
            },
        };
        let mut v = HeaderValue::from_str(&value).map_err(|_| {
            Reply::with_status(
                StatusCode::SERVICE_UNAVAILABLE,
                unavailable(),
                format!(
                    "route {}: the upstream credentials are not valid header text",
                    route.name
                ),
            )
        })?;
        v.set_sensitive(true);
        Ok(Some(v))
    }

    async fn bearer(
        &self,
        http: &reqwest::Client,
        route: &Route,
        credentials: Option<(&String, &Secret)>,
        state: &Mutex<BearerState>,
        scopes: &[Scope],
    ) -> Result<Option<Secret>, Reply> {
        let key = {
            let mut v: Vec<String> = scopes.iter().map(ToString::to_string).collect();
            v.sort();
            v.join(" ")
        };
        let known = state.lock().ok().map(|s| {
            let cached = s
                .tokens
                .get(&key)
                .filter(|(_, until)| *until > Instant::now())
                .map(|(t, _)| t.clone());
            (s.challenge.clone(), cached)
        });
        let (challenge, cached) = known.unwrap_or_default();
        if let Some(t) = cached {
            return Ok(Some(t));
        }
        let challenge = match challenge {
            Some(c) => c,
            None => {
                let c = learn_challenge(http, route).await?;
                if let Ok(mut s) = state.lock() {
                    s.challenge = Some(c.clone());
                }
                c
            }
        };
        let Some(challenge) = challenge else {
            return Ok(None);
        };
        let refused = |status: u16, message: String| {
            let (what, fix) = if credentials.is_some() {
                (
                    "the gateway's credentials",
                    "fix the route's upstream credentials",
                )
            } else {
                (
                    "an anonymous token",
                    "give the route upstream `credentials`",
                )
            };
            Reply::new(
                ErrorCode::Denied,
                format!(
                    "the token endpoint of upstream {} refused {what} for route {} ({status}: \
                     {message}); your own credentials were accepted: the platform operator \
                     must {fix}",
                    route.upstream_host(),
                    route.name
                ),
            )
        };
        let realm = challenge.realm().unwrap_or_default();
        let mut url = route
            .upstream
            .join(realm)
            .map_err(|_| refused(0, format!("its realm `{realm}` is not a URL")))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = challenge.service() {
                q.append_pair("service", s);
            }
            for s in scopes {
                q.append_pair("scope", &s.to_string());
            }
        }
        let mut req = http.get(url).timeout(Duration::from_secs(30));
        if let Some((username, password)) = credentials {
            req = req.basic_auth(username, Some(password.expose()));
        }
        let resp = req.send().await.map_err(|e| unreachable(route, &e))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| unreachable(route, &e))?;
        if !status.is_success() {
            let msg = serde_json::from_slice::<ErrorBody>(&body)
                .map(|b| b.summary())
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(200).collect());
            return Err(refused(status.as_u16(), msg));
        }
        let answer: TokenResponse = serde_json::from_slice(&body)
            .map_err(|_| refused(status.as_u16(), "its answer is not token JSON".into()))?;
        let token = answer
            .bearer()
            .ok_or_else(|| refused(status.as_u16(), "its answer holds no token".into()))?;
        if let Ok(mut s) = state.lock() {
            let now = Instant::now();
            s.tokens.retain(|_, (_, until)| *until > now);
            s.tokens.insert(
                key,
                (
                    token.clone(),
                    now + answer.lifetime().saturating_sub(TOKEN_MARGIN),
                ),
            );
        }
        Ok(Some(token))
    }
}

fn basic(username: &str, password: &Secret) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{username}:{}", password.expose()))
    )
}

/// The upstream's Bearer challenge from `GET /v2/` (`None`: it needs no token).
async fn learn_challenge(
    http: &reqwest::Client,
    route: &Route,
) -> Result<Option<Challenge>, Reply> {
    let url = route.upstream.join("v2/").map_err(|e| {
        Reply::with_status(
            StatusCode::SERVICE_UNAVAILABLE,
            unavailable(),
            format!("route {}: {e}", route.name),
        )
    })?;
    let resp = http
        .get(url)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| unreachable(route, &e))?;
    Ok(resp
        .headers()
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| parse_www_authenticate(v).ok())
        .flatten()
        .find(|c| c.is("bearer") && c.realm().is_some()))
}

/// 503 `UNAVAILABLE` naming the upstream, the route and the cause (no URL query, no
/// credentials: reqwest's error without its URL, and its sources).
pub fn unreachable(route: &Route, e: &reqwest::Error) -> Reply {
    let mut cause = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot be reached"
    } else {
        "broke off the exchange"
    };
    let cause = if cause.is_empty() {
        "no further detail".to_owned()
    } else {
        cause
    };
    Reply::with_status(
        StatusCode::SERVICE_UNAVAILABLE,
        unavailable(),
        format!(
            "the upstream registry {} of route {} {kind} ({cause}); check that it runs and \
             that the gateway can reach it",
            route.upstream_host(),
            route.name
        ),
    )
    .header(axum::http::header::RETRY_AFTER, "1")
}
