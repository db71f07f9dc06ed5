//! The gateway's configuration: YAML, parsed by [`Config::from_yaml`] (pure: no file is read)
//! and validated with errors that name the key and the fix. Files it names (passwords, signing
//! keys, the token file) are read when the gateway starts ([`crate::State::new`]).
//!
//! ```yaml
//! auth:                                  # leave out for an anonymous gateway
//!   tokens_file: /etc/gateway/tokens.yaml
//!   token_lifetime_seconds: 300
//!   kubernetes: {permissions: [pull]}     # service-account tokens: pull in their namespace's project
//!   signing_key_file: /etc/gateway/token-key  # shared by every replica (else a key per process)
//!   failed_logins: {max_failures: 10, window_seconds: 300, client_address_header: x-forwarded-for}
//! routes:
//!   - name: customer-a                   # custom domain: images.customer.com/app:1
//!     host: images.customer.com          #   -> registry.internal/proj-a/app:1
//!     upstream: http://registry.internal:5000
//!     upstream_prefix: proj-a
//!     credentials: {kind: distribution, issuer: gateway, service: registry.internal,
//!                   key_file: /etc/gateway/signing-key.pem}
//!   - name: mirror-ghcr                  # mirror path: /proxy/app1/ghcr.io/<repo>
//!     path: proxy/app1/ghcr.io
//!     upstream: https://ghcr.io
//!     project: app1
//!     blob_redirects: follow
//!     credentials: {kind: bearer, username: vendor, password_file: /run/secrets/ghcr}
//!     allow: {repositories: ['proxy/app1/ghcr.io/vendor/*'], tags: ['v*']}
//!   - name: platform                     # read-only answers say until when (the janitor's record):
//!     upstream: http://registry.internal:5000
//!     maintenance: {lease: registry/dns01-registry-janitor}
//!     # or, on one host: maintenance: {record_file: /var/lib/dns01-registry-janitor/readonly-record.json}
//! ```

use std::collections::BTreeSet;
use std::path::PathBuf;

use dns01_registry::Repository;
use serde::Deserialize;
use url::Url;

use crate::allow::AllowList;
use crate::error::{Error, Result};
use crate::maintenance::RecordSource;
use crate::route::{RedirectMode, Route};

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Client authentication; `None`: anonymous gateway (upstream credentials still apply).
    pub auth: Option<AuthConfig>,
    /// The routes, in file order.
    pub routes: Vec<Route>,
    /// Timeouts towards upstreams.
    pub timeouts: Timeouts,
}

/// `timeouts`: how long the gateway waits for upstreams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Connecting (default 5 s).
    #[serde(default = "default_connect")]
    pub upstream_connect_seconds: u64,
    /// Each read, the answer's head included (default 60 s): a stalled upstream is cut off
    /// after this, whatever the blob's size.
    #[serde(default = "default_read")]
    pub upstream_read_seconds: u64,
}

fn default_connect() -> u64 {
    5
}

fn default_read() -> u64 {
    60
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            upstream_connect_seconds: default_connect(),
            upstream_read_seconds: default_read(),
        }
    }
}

/// `auth`: the token file and the lifetime of the tokens the gateway issues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// The token file (hashed tokens → principal, projects, permissions).
    pub tokens_file: PathBuf,
    /// Lifetime of the gateway's own tokens.
    pub token_lifetime: std::time::Duration,
    /// Kubernetes service-account tokens (TokenReview) with these permissions in the
    /// project named like the account's namespace; `None`: not accepted.
    pub kubernetes: Option<Vec<crate::tokens::Permission>>,
    /// The file holding the key the gateway's own tokens are signed with (at least 32
    /// bytes): replicas that share it accept each other's tokens. `None`: a random key per
    /// process (one replica; a restart ends every session).
    pub signing_key_file: Option<PathBuf>,
    /// The brute-force limit of `/token`.
    pub failed_logins: FailedLogins,
}

/// `auth.failed_logins`: after `max_failures` failed logins within `window`, from one client
/// address or for one user name, `/token` answers 429 `TOOMANYREQUESTS` with `Retry-After`
/// until the oldest of them leaves the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedLogins {
    /// Failures allowed in the window (default 10).
    pub max_failures: u32,
    /// The window (default 300 s).
    pub window: std::time::Duration,
    /// The header whose last value is the client's address (`x-forwarded-for` behind an
    /// ingress that appends it); `None`: the connection's peer address.
    pub client_address_header: Option<axum::http::HeaderName>,
}

impl Default for FailedLogins {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window: std::time::Duration::from_secs(300),
            client_address_header: None,
        }
    }
}

/// How the gateway authenticates to a route's upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsConfig {
    /// No credentials.
    None,
    /// `Authorization: Basic` on every request (GCR `_json_key`, GHCR tokens, Docker Hub).
    Basic {
        /// The user name.
        username: String,
        /// The file holding the password.
        password_file: PathBuf,
    },
    /// The upstream's Bearer token dance with these Basic credentials; tokens are cached
    /// until they expire.
    Bearer {
        /// The user name.
        username: String,
        /// The file holding the password.
        password_file: PathBuf,
    },
    /// The upstream is a CNCF Distribution in `auth.token` mode trusting the gateway's key:
    /// the gateway mints its JWTs itself.
    Distribution {
        /// `auth.token.issuer` of the registry.
        issuer: String,
        /// `auth.token.service` of the registry (the token's audience).
        service: String,
        /// PKCS#8 private key (PEM or DER) whose certificate is in the registry's
        /// `rootcertbundle`.
        key_file: PathBuf,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    auth: Option<RawAuth>,
    #[serde(default)]
    routes: Vec<RawRoute>,
    #[serde(default)]
    timeouts: Timeouts,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    tokens_file: PathBuf,
    #[serde(default = "default_token_lifetime")]
    token_lifetime_seconds: u64,
    kubernetes: Option<RawKubernetes>,
    signing_key_file: Option<PathBuf>,
    #[serde(default)]
    failed_logins: RawFailedLogins,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFailedLogins {
    #[serde(default = "default_max_failures")]
    max_failures: u32,
    #[serde(default = "default_failure_window")]
    window_seconds: u64,
    client_address_header: Option<String>,
}

impl Default for RawFailedLogins {
    fn default() -> Self {
        Self {
            max_failures: default_max_failures(),
            window_seconds: default_failure_window(),
            client_address_header: None,
        }
    }
}

fn default_max_failures() -> u32 {
    10
}

fn default_failure_window() -> u64 {
    300
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKubernetes {
    permissions: Vec<crate::tokens::Permission>,
}

fn default_token_lifetime() -> u64 {
    300
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    name: String,
    host: Option<String>,
    path: Option<String>,
    upstream: String,
    upstream_prefix: Option<String>,
    project: Option<String>,
    #[serde(default)]
    blob_redirects: RedirectMode,
    #[serde(default)]
    credentials: RawCredentials,
    #[serde(default)]
    allow: RawAllow,
    browser_page: Option<String>,
    #[serde(default)]
    wrap_in_index: bool,
    maintenance: Option<RawMaintenance>,
}

/// `routes[].maintenance`: where the registry janitor keeps its read-only record.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaintenance {
    record_file: Option<PathBuf>,
    lease: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAllow {
    #[serde(default)]
    repositories: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RawCredentials {
    #[default]
    None,
    Basic {
        username: String,
        password_file: PathBuf,
    },
    Bearer {
        username: String,
        password_file: PathBuf,
    },
    Distribution {
        issuer: String,
        service: String,
        key_file: PathBuf,
    },
}

impl Config {
    /// Parses and validates YAML.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key (`routes[1].upstream`) and the fix; unknown keys are
    /// refused by name.
    pub fn from_yaml(text: &str) -> Result<Self> {
        let raw: RawConfig = serde_yaml_ng::from_str(text).map_err(|e| {
            let key = e
                .location()
                .map_or_else(|| "(file)".to_owned(), |l| format!("line {}", l.line()));
            Error::config(
                key,
                format!("{e}; the keys are described in the README's gateway section"),
            )
        })?;
        let auth = raw
            .auth
            .map(|a| {
                if a.token_lifetime_seconds < 60 || a.token_lifetime_seconds > 86_400 {
                    return Err(Error::config(
                        "auth.token_lifetime_seconds",
                        format!(
                            "{} is outside 60..=86400; clients renew tokens, 300 is a good value",
                            a.token_lifetime_seconds
                        ),
                    ));
                }
                let f = a.failed_logins;
                if f.max_failures == 0 || f.max_failures > 100_000 {
                    return Err(Error::config(
                        "auth.failed_logins.max_failures",
                        format!(
                            "{} is outside 1..=100000; 10 failures in 300 s is a good value",
                            f.max_failures
                        ),
                    ));
                }
                if f.window_seconds == 0 || f.window_seconds > 86_400 {
                    return Err(Error::config(
                        "auth.failed_logins.window_seconds",
                        format!("{} is outside 1..=86400 seconds", f.window_seconds),
                    ));
                }
                let client_address_header = f
                    .client_address_header
                    .map(|h| {
                        axum::http::HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                            Error::config(
                                "auth.failed_logins.client_address_header",
                                format!("`{h}` is not a header name; write e.g. `x-forwarded-for`"),
                            )
                        })
                    })
                    .transpose()?;
                Ok(AuthConfig {
                    tokens_file: a.tokens_file,
                    token_lifetime: std::time::Duration::from_secs(a.token_lifetime_seconds),
                    kubernetes: a.kubernetes.map(|k| k.permissions),
                    signing_key_file: a.signing_key_file,
                    failed_logins: FailedLogins {
                        max_failures: f.max_failures,
                        window: std::time::Duration::from_secs(f.window_seconds),
                        client_address_header,
                    },
                })
            })
            .transpose()?;
        if raw.routes.is_empty() {
            return Err(Error::config(
                "routes",
                "no route: add at least one `{name, upstream}` entry",
            ));
        }
        let mut names = BTreeSet::new();
        let mut matches = BTreeSet::new();
        let mut routes = Vec::new();
        for (i, r) in raw.routes.into_iter().enumerate() {
            let key = |k: &str| format!("routes[{i}].{k}");
            if r.name.is_empty()
                || !r
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(Error::config(
                    key("name"),
                    format!(
                        "`{}` is not a route name: use letters, digits, `-` and `_`",
                        r.name
                    ),
                ));
            }
            if !names.insert(r.name.clone()) {
                return Err(Error::config(
                    key("name"),
                    format!("`{}` names two routes; give each a unique name", r.name),
                ));
            }
            let host = r.host.map(|h| h.to_ascii_lowercase());
            if let Some(h) = &host
                && (h.is_empty() || h.contains(['/', ':', ' ']))
            {
                return Err(Error::config(
                    key("host"),
                    format!("`{h}` is not a host name: write it without scheme, port or path"),
                ));
            }
            let repo = |k: &str, v: Option<String>| {
                v.map(|p| {
                    Repository::parse(p.trim_matches('/')).map_err(|e| {
                        Error::config(key(k), format!("{e}; write it like `proxy/app1/ghcr.io`"))
                    })
                })
                .transpose()
            };
            let path = repo("path", r.path)?;
            let upstream_prefix = repo("upstream_prefix", r.upstream_prefix)?;
            let mut upstream = Url::parse(&r.upstream)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .filter(|u| u.username().is_empty() && u.password().is_none())
                .ok_or_else(|| {
                    Error::config(
                        key("upstream"),
                        format!(
                            "`{}` is not an http(s) URL without credentials; write e.g. \
                             `https://registry.internal:5000` and put credentials under \
                             `credentials`",
                            r.upstream
                        ),
                    )
                })?;
            upstream.set_path("/");
            upstream.set_query(None);
            if !matches.insert((host.clone(), path.clone())) {
                return Err(Error::config(
                    key("host"),
                    "another route has the same host and path: a request could not tell them \
                     apart; change `host` or `path`",
                ));
            }
            if let Some(p) = &r.project
                && Repository::parse(p).is_err()
            {
                return Err(Error::config(
                    key("project"),
                    format!("`{p}` is not a project name: lowercase letters, digits and `-`"),
                ));
            }
            let credentials = match r.credentials {
                RawCredentials::None => CredentialsConfig::None,
                RawCredentials::Basic {
                    username,
                    password_file,
                } => CredentialsConfig::Basic {
                    username,
                    password_file,
                },
                RawCredentials::Bearer {
                    username,
                    password_file,
                } => CredentialsConfig::Bearer {
                    username,
                    password_file,
                },
                RawCredentials::Distribution {
                    issuer,
                    service,
                    key_file,
                } => CredentialsConfig::Distribution {
                    issuer,
                    service,
                    key_file,
                },
            };
            for (k, list, extra) in [
                ("allow.repositories", &r.allow.repositories, "/"),
                ("allow.tags", &r.allow.tags, "_"),
            ] {
                if let Some(bad) = list.iter().find(|g| {
                    g.is_empty()
                        || !g.chars().all(|c| {
                            c.is_ascii_alphanumeric() || "*?.-_".contains(c) || extra.contains(c)
                        })
                }) {
                    return Err(Error::config(
                        key(k),
                        format!(
                            "`{bad}` is not a glob of names: use name characters with `*` (any \
                             run) and `?` (one character), e.g. `team/*` or `v*`"
                        ),
                    ));
                }
            }
            if let Some(p) = &r.browser_page
                && Url::parse(p)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .is_none()
            {
                return Err(Error::config(
                    key("browser_page"),
                    format!(
                        "`{p}` is not an http(s) URL; write e.g. `https://customer.com/images`"
                    ),
                ));
            }
            let maintenance = r
                .maintenance
                .map(|m| maintenance_source(m, &key))
                .transpose()?;
            routes.push(Route {
                name: r.name,
                host,
                path,
                upstream,
                upstream_prefix,
                project: r.project,
                blob_redirects: r.blob_redirects,
                credentials,
                allow: AllowList {
                    repositories: r.allow.repositories,
                    tags: r.allow.tags,
                },
                browser_page: r.browser_page,
                wrap_in_index: r.wrap_in_index,
                maintenance,
            });
        }
        for (k, v) in [
            (
                "timeouts.upstream_connect_seconds",
                raw.timeouts.upstream_connect_seconds,
            ),
            (
                "timeouts.upstream_read_seconds",
                raw.timeouts.upstream_read_seconds,
            ),
        ] {
            if v == 0 || v > 3600 {
                return Err(Error::config(k, format!("{v} is outside 1..=3600 seconds")));
            }
        }
        Ok(Self {
            auth,
            routes,
            timeouts: raw.timeouts,
        })
    }
}

impl Config {
    /// Whether the gateway needs a Kubernetes client: TokenReview (`auth.kubernetes`), or a
    /// route's `maintenance.lease`.
    pub fn needs_kubernetes(&self) -> bool {
        self.auth.as_ref().is_some_and(|a| a.kubernetes.is_some())
            || self
                .routes
                .iter()
                .any(|r| matches!(r.maintenance, Some(RecordSource::Lease { .. })))
    }

    /// The configuration without what contacts a cluster (`auth.kubernetes`, Lease records),
    /// for `check`, which reads every file but calls no API.
    #[must_use]
    pub fn without_cluster(mut self) -> Self {
        if let Some(a) = self.auth.as_mut() {
            a.kubernetes = None;
        }
        for r in &mut self.routes {
            if matches!(r.maintenance, Some(RecordSource::Lease { .. })) {
                r.maintenance = None;
            }
        }
        self
    }
}

/// A DNS-1123 label (namespaces) or subdomain (Lease names).
fn is_dns1123(s: &str, dots: bool) -> bool {
    !s.is_empty()
        && s.len() <= if dots { 253 } else { 63 }
        && (dots || !s.contains('.'))
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn maintenance_source(m: RawMaintenance, key: &impl Fn(&str) -> String) -> Result<RecordSource> {
    match (m.record_file, m.lease) {
        (Some(path), None) if path.is_absolute() => Ok(RecordSource::File(path)),
        (Some(path), None) => Err(Error::config(
            key("maintenance.record_file"),
            format!(
                "`{}` is not an absolute path; write the janitor's record file, e.g. \
                 `/var/lib/dns01-registry-janitor/readonly-record.json`",
                path.display()
            ),
        )),
        (None, Some(lease)) => match lease.split_once('/') {
            Some((namespace, name)) if is_dns1123(namespace, false) && is_dns1123(name, true) => {
                Ok(RecordSource::Lease {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                })
            }
            _ => Err(Error::config(
                key("maintenance.lease"),
                format!(
                    "`{lease}` is not `namespace/name` of a Lease; write the janitor's `--lease`, \
                     e.g. `registry/dns01-registry-janitor`"
                ),
            )),
        },
        (Some(_), Some(_)) => Err(Error::config(
            key("maintenance"),
            "give either `record_file` or `lease`, not both",
        )),
        (None, None) => Err(Error::config(
            key("maintenance"),
            "give `record_file` (the janitor's state dir) or `lease` (`namespace/name`)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r"
auth: {tokens_file: /tmp/tokens.yaml}
routes:
  - name: customer-a
    host: Images.Customer.com
    upstream: http://registry.internal:5000/ignored
    upstream_prefix: proj-a
  - name: mirror
    path: /proxy/app1/ghcr.io/
    upstream: https://ghcr.io
    project: app1
    blob_redirects: follow
    credentials: {kind: bearer, username: vendor, password_file: /run/ghcr}
";

    #[test]
    fn a_good_file_gives_routes_with_normalised_hosts_paths_and_upstreams() {
        let c = Config::from_yaml(GOOD).unwrap();
        assert_eq!(c.auth.unwrap().token_lifetime.as_secs(), 300);
        assert_eq!(c.routes[0].host.as_deref(), Some("images.customer.com"));
        assert_eq!(
            c.routes[0].upstream.as_str(),
            "http://registry.internal:5000/"
        );
        assert_eq!(
            c.routes[1].path.as_ref().unwrap().as_str(),
            "proxy/app1/ghcr.io"
        );
        assert_eq!(c.routes[1].blob_redirects, RedirectMode::Follow);
        assert!(matches!(
            c.routes[1].credentials,
            CredentialsConfig::Bearer { .. }
        ));
    }

    #[test]
    fn each_mistake_is_reported_with_its_key_and_a_fix() {
        let cases = [
            (
                "routes: [{name: a, upstream: ftp://x}]",
                "routes[0].upstream",
                "http(s) URL",
            ),
            (
                "routes: [{name: a, upstream: 'https://u:p@x'}]",
                "routes[0].upstream",
                "credentials",
            ),
            (
                "routes: [{name: a, upstream: http://x, upstream_prefix: Proj}]",
                "routes[0].upstream_prefix",
                "proxy/app1",
            ),
            (
                "routes: [{name: a, upstream: http://x}, {name: a, upstream: http://y, host: h}]",
                "routes[1].name",
                "unique",
            ),
            (
                "routes: [{name: a, upstream: http://x}, {name: b, upstream: http://y}]",
                "routes[1].host",
                "same host and path",
            ),
            (
                "routes: [{name: a, upstream: http://x, host: 'h:443'}]",
                "routes[0].host",
                "without scheme, port",
            ),
            ("routes: []", "routes", "at least one"),
            (
                "routes: [{name: a, upstream: http://x, maintenance: {lease: registry}}]",
                "routes[0].maintenance.lease",
                "namespace/name",
            ),
            (
                "routes: [{name: a, upstream: http://x, maintenance: {lease: Registry/j}}]",
                "routes[0].maintenance.lease",
                "namespace/name",
            ),
            (
                "routes: [{name: a, upstream: http://x, maintenance: {record_file: state/r.json}}]",
                "routes[0].maintenance.record_file",
                "absolute path",
            ),
            (
                "routes: [{name: a, upstream: http://x, maintenance: {record_file: /r.json, lease: a/b}}]",
                "routes[0].maintenance",
                "not both",
            ),
            (
                "routes: [{name: a, upstream: http://x, maintenance: {}}]",
                "routes[0].maintenance",
                "record_file",
            ),
            (
                "routes: [{name: a, upstream: http://x, allow: {tags: ['v 1']}}]",
                "routes[0].allow.tags",
                "glob",
            ),
            (
                "auth: {tokens_file: t, token_lifetime_seconds: 5}\nroutes: [{name: a, upstream: http://x}]",
                "auth.token_lifetime_seconds",
                "60..=86400",
            ),
            (
                "auth: {tokens_file: t, failed_logins: {max_failures: 0}}\nroutes: [{name: a, upstream: http://x}]",
                "auth.failed_logins.max_failures",
                "1..=100000",
            ),
            (
                "auth: {tokens_file: t, failed_logins: {window_seconds: 0}}\nroutes: [{name: a, upstream: http://x}]",
                "auth.failed_logins.window_seconds",
                "1..=86400",
            ),
            (
                "auth: {tokens_file: t, failed_logins: {client_address_header: 'x forwarded'}}\nroutes: [{name: a, upstream: http://x}]",
                "auth.failed_logins.client_address_header",
                "x-forwarded-for",
            ),
        ];
        for (yaml, key, fix) in cases {
            match Config::from_yaml(yaml) {
                Err(Error::Config { key: k, message }) => {
                    assert_eq!(k, key, "{yaml}: {message}");
                    assert!(message.contains(fix), "{yaml}: {message}");
                }
                other => panic!("{yaml}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_maintenance_record_is_a_file_or_a_lease_and_a_lease_needs_kubernetes() {
        let c = Config::from_yaml(
            "routes:\n  - {name: a, upstream: http://x, maintenance: {record_file: /s/readonly-record.json}}\n  - {name: b, host: b, upstream: http://x, maintenance: {lease: registry/janitor.x}}",
        )
        .unwrap();
        assert_eq!(
            c.routes[0].maintenance,
            Some(RecordSource::File("/s/readonly-record.json".into()))
        );
        assert_eq!(
            c.routes[1].maintenance,
            Some(RecordSource::Lease {
                namespace: "registry".into(),
                name: "janitor.x".into()
            })
        );
        assert!(c.needs_kubernetes());
        let offline = c.without_cluster();
        assert!(!offline.needs_kubernetes());
        assert!(offline.routes[0].maintenance.is_some());
        let e = Config::from_yaml(
            "routes: [{name: a, upstream: http://x, maintenance: {lease: a/b, recordfile: /x}}]",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("recordfile"), "{e}");
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let e = Config::from_yaml("routes: [{name: a, upstream: http://x, upstram_prefix: p}]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("upstram_prefix"), "{e}");
        let e = Config::from_yaml(
            "routes: [{name: a, upstream: http://x, credentials: {kind: basic, username: u, pasword_file: f}}]",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("pasword_file"), "{e}");
    }
}
