//! Client authentication: the token file (sha256-hashed tokens → principal, projects,
//! permissions; reloaded when it changes), the trimming of requested scopes to what a
//! principal may do, and the gateway's own short-lived tokens.
//!
//! ```yaml
//! tokens:
//!   - principal: ci-proj-a
//!     sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  # sha256sum of the token
//!     projects: {proj-a: [pull, push], proj-shared: [pull]}
//! ```
//! A principal's `projects` may name `*`: every project.
//!
//! The gateway's tokens are JWTs (HS256) with the claims of [`dns01_registry::jwt::Claims`]:
//! `aud` is the host the client talks to, `access` the trimmed scopes with client names. The
//! key comes from `auth.signing_key_file`, so that every replica sharing the file accepts the
//! tokens of the others; without it a key is drawn at start (one replica: a restart ends
//! every session and clients simply ask again).
//!
//! [`LoginLimiter`] is the brute-force limit of `/token`: failed logins counted per client
//! address and per user name in a sliding window.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dns01_core::Secret;
use dns01_registry::Scope;
use dns01_registry::jwt::{Access, Claims};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// What a principal may do in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Read manifests, blobs, tags.
    Pull,
    /// Upload blobs and manifests (Distribution asks `pull,push` for it).
    Push,
    /// Delete manifests.
    Delete,
}

impl Permission {
    /// The token action.
    pub fn action(self) -> &'static str {
        match self {
            Self::Pull => "pull",
            Self::Push => "push",
            Self::Delete => "delete",
        }
    }

    fn from_action(a: &str) -> Option<Self> {
        match a {
            "pull" => Some(Self::Pull),
            "push" => Some(Self::Push),
            "delete" => Some(Self::Delete),
            _ => None,
        }
    }

    const ALL: [Self; 3] = [Self::Pull, Self::Push, Self::Delete];
}

/// Someone the token file knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The name (the JWT `sub`, the access log's principal).
    pub name: String,
    projects: BTreeMap<String, BTreeSet<Permission>>,
}

impl Principal {
    /// A principal with `permissions` in each of `projects`.
    pub fn new(name: &str, projects: &[&str], permissions: &[Permission]) -> Self {
        Self {
            name: name.to_owned(),
            projects: projects
                .iter()
                .map(|p| ((*p).to_owned(), permissions.iter().copied().collect()))
                .collect(),
        }
    }

    /// Whether the principal may `permission` in `project`.
    pub fn may(&self, project: &str, permission: Permission) -> bool {
        self.projects
            .get(project)
            .or_else(|| self.projects.get("*"))
            .is_some_and(|p| p.contains(&permission))
    }

    /// What the principal may do, for messages (`pull,push on proj-a; pull on proj-c`).
    pub fn describe(&self) -> String {
        if self.projects.is_empty() {
            return "nothing".to_owned();
        }
        self.projects
            .iter()
            .map(|(project, perms)| {
                let p: Vec<&str> = perms.iter().map(|p| p.action()).collect();
                format!("{} on {project}", p.join(","))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The part of `scopes` this principal may have: for each repository scope, the
    /// requested actions it may do in the project `project_of` gives for the name (`*` asks
    /// for all of them); the catalog when it may pull somewhere. Never more than asked.
    pub fn trim(
        &self,
        scopes: &[Scope],
        project_of: impl Fn(&str) -> Option<String>,
    ) -> Vec<Access> {
        let mut out: Vec<Access> = Vec::new();
        for s in scopes {
            if s.resource_type == "registry" && s.name == "catalog" {
                let any_pull = self
                    .projects
                    .values()
                    .any(|p| p.contains(&Permission::Pull));
                if any_pull && s.allows("*") && !out.iter().any(|a| a.name == "catalog") {
                    out.push(Access::from(&Scope::catalog()));
                }
                continue;
            }
            if s.resource_type != "repository" || s.class.is_some() {
                continue;
            }
            let Some(project) = project_of(&s.name) else {
                continue;
            };
            let granted: Vec<Permission> = Permission::ALL
                .into_iter()
                .filter(|p| s.allows(p.action()) && self.may(&project, *p))
                .collect();
            if granted.is_empty() {
                continue;
            }
            match out
                .iter_mut()
                .find(|a| a.resource_type == "repository" && a.name == s.name)
            {
                Some(a) => {
                    for p in granted {
                        if !a.actions.iter().any(|x| x == p.action()) {
                            a.actions.push(p.action().to_owned());
                        }
                    }
                }
                None => out.push(Access {
                    resource_type: "repository".to_owned(),
                    name: s.name.clone(),
                    actions: granted.iter().map(|p| p.action().to_owned()).collect(),
                }),
            }
        }
        out
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    tokens: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    principal: String,
    sha256: String,
    #[serde(default)]
    projects: BTreeMap<String, Vec<Permission>>,
}

/// A parsed token file.
#[derive(Debug, Clone, Default)]
pub struct TokenFile {
    entries: Vec<([u8; 32], Principal)>,
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

impl TokenFile {
    /// Parses a token file.
    ///
    /// # Errors
    /// [`Error::Config`] naming the entry (`tokens[2].sha256`) and the fix.
    pub fn from_yaml(text: &str) -> Result<Self> {
        let raw: RawFile = serde_yaml_ng::from_str(text)
            .map_err(|e| Error::config("token file", format!("{e}")))?;
        let mut entries = Vec::new();
        for (i, e) in raw.tokens.into_iter().enumerate() {
            let mut hash = [0u8; 32];
            let hex = e.sha256.trim().to_ascii_lowercase();
            let ok = hex.len() == 64
                && hex
                    .as_bytes()
                    .chunks(2)
                    .zip(hash.iter_mut())
                    .all(|(pair, out)| {
                        std::str::from_utf8(pair)
                            .ok()
                            .and_then(|p| u8::from_str_radix(p, 16).ok())
                            .map(|b| *out = b)
                            .is_some()
                    });
            if !ok {
                return Err(Error::config(
                    format!("tokens[{i}].sha256"),
                    "not 64 hex digits: put the output of `printf %s TOKEN | sha256sum` here, \
                     never the token itself",
                ));
            }
            if e.principal.is_empty() {
                return Err(Error::config(
                    format!("tokens[{i}].principal"),
                    "empty: name who holds the token (`ci-proj-a`)",
                ));
            }
            entries.push((
                hash,
                Principal {
                    name: e.principal,
                    projects: e
                        .projects
                        .into_iter()
                        .map(|(k, v)| (k, v.into_iter().collect()))
                        .collect(),
                },
            ));
        }
        Ok(Self { entries })
    }

    /// The principal whose token is `password` and whose name is `username`.
    pub fn authenticate(&self, username: &str, password: &Secret) -> Option<&Principal> {
        let hash = sha256(password.expose().as_bytes());
        self.entries
            .iter()
            .find(|(h, p)| *h == hash && p.name == username)
            .map(|(_, p)| p)
    }

    /// The principal named `name`.
    pub fn principal(&self, name: &str) -> Option<&Principal> {
        self.entries.iter().map(|(_, p)| p).find(|p| p.name == name)
    }
}

/// The token file, read again when its modification time changes.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    current: Mutex<(Option<SystemTime>, Arc<TokenFile>)>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn read(path: &Path) -> Result<TokenFile> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    TokenFile::from_yaml(&text)
}

impl TokenStore {
    /// Reads the token file.
    ///
    /// # Errors
    /// When it cannot be read or is wrong.
    pub fn load(path: &Path) -> Result<Self> {
        let when = modified(path);
        let file = read(path)?;
        Ok(Self {
            path: path.to_owned(),
            current: Mutex::new((when, Arc::new(file))),
        })
    }

    /// The current token file: read again when it changed; a file that became wrong is
    /// reported in the log and the last good one kept.
    pub fn get(&self) -> Arc<TokenFile> {
        let Ok(mut cur) = self.current.lock() else {
            return Arc::new(TokenFile::default());
        };
        let when = modified(&self.path);
        if when != cur.0 {
            match read(&self.path) {
                Ok(f) => {
                    tracing::info!(path = %self.path.display(), "token file reloaded");
                    *cur = (when, Arc::new(f));
                }
                Err(e) => {
                    tracing::error!(path = %self.path.display(), error = %e, "token file not reloaded, keeping the last good one");
                    cur.0 = when;
                }
            }
        }
        Arc::clone(&cur.1)
    }
}

/// The issuer of the gateway's own tokens.
pub const ISSUER: &str = "dns01-registry-gateway";

/// The shortest signing key accepted, in bytes (HS256's output size).
pub const MIN_KEY_BYTES: usize = 32;

/// Signs and checks the gateway's own tokens.
pub struct GatewayTokens {
    key: ring::hmac::Key,
    /// How long a token lives.
    pub lifetime: Duration,
}

impl std::fmt::Debug for GatewayTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayTokens")
            .field("key", &"<redacted>")
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

/// Why a gateway token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// Not a token of this gateway (or tampered with, or from before a restart).
    Invalid,
    /// Expired.
    Expired,
    /// Issued for another host.
    OtherHost,
}

impl GatewayTokens {
    /// A fresh random key.
    ///
    /// # Errors
    /// When the system has no randomness.
    pub fn random(lifetime: Duration) -> Result<Self> {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
            .map_err(|_| Error::config("auth", "no system randomness for the token key"))?;
        Ok(Self { key, lifetime })
    }

    /// The same key with another token lifetime (a configuration reload).
    pub fn with_lifetime(&self, lifetime: Duration) -> Self {
        Self {
            key: self.key.clone(),
            lifetime,
        }
    }

    /// The key read from `path` (the file's bytes, surrounding whitespace trimmed, at least
    /// 32 of them: `openssl rand -base64 48 > key`), so that replicas sharing the file mint
    /// and accept the same tokens.
    ///
    /// # Errors
    /// [`Error::Read`] when the file cannot be read; [`Error::Config`] naming
    /// `auth.signing_key_file` when the key is too short.
    pub fn from_key_file(path: &Path, lifetime: Duration) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        let key = bytes.trim_ascii();
        if key.len() < MIN_KEY_BYTES {
            return Err(Error::config(
                "auth.signing_key_file",
                format!(
                    "{} holds {} bytes; the key needs at least {MIN_KEY_BYTES}: create it with \
                     `openssl rand -base64 48 > {}`",
                    path.display(),
                    key.len(),
                    path.display()
                ),
            ));
        }
        Ok(Self {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key),
            lifetime,
        })
    }

    /// A token for `principal` on `host` granting `access`.
    pub fn issue(&self, principal: &str, host: &str, access: Vec<Access>) -> Secret {
        let claims = Claims::new(ISSUER, host, principal, access, self.lifetime);
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signed = format!("{header}.{body}");
        let sig = ring::hmac::sign(&self.key, signed.as_bytes());
        Secret::new(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    }

    /// The claims of `token` if this gateway issued it for `host` and it is still valid.
    ///
    /// # Errors
    /// Why it is refused.
    pub fn verify(&self, token: &str, host: &str) -> std::result::Result<Claims, TokenProblem> {
        let (signed, sig) = token.rsplit_once('.').ok_or(TokenProblem::Invalid)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenProblem::Invalid)?;
        ring::hmac::verify(&self.key, signed.as_bytes(), &sig)
            .map_err(|_| TokenProblem::Invalid)?;
        let body = signed.split_once('.').ok_or(TokenProblem::Invalid)?.1;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(body)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenProblem::Invalid)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if claims.exp <= now {
            return Err(TokenProblem::Expired);
        }
        if claims.iss != ISSUER {
            return Err(TokenProblem::Invalid);
        }
        if !claims.aud.eq_ignore_ascii_case(host) {
            return Err(TokenProblem::OtherHost);
        }
        Ok(claims)
    }
}

/// The brute-force limit of `/token`: failed logins are counted per key (`addr:<client>`,
/// `user:<name>`) in a sliding window; a key with `max_failures` in the window is refused
/// until its oldest failure leaves the window, even with the right credentials.
#[derive(Debug)]
pub struct LoginLimiter {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Keys beyond this many make a sweep of the expired ones (bounded memory under a spray of
/// addresses or user names).
const SWEEP_ABOVE: usize = 10_000;

impl LoginLimiter {
    /// `max_failures` failed logins per key within `window`.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures: usize::try_from(max_failures).unwrap_or(usize::MAX).max(1),
            window,
            failures: Mutex::default(),
        }
    }

    /// `Err(retry_after)` when one of `keys` has used up its failures, the time until the
    /// first of them may try again (at least one second).
    ///
    /// # Errors
    /// The time to wait.
    pub fn check(&self, keys: &[String]) -> std::result::Result<(), Duration> {
        let Ok(mut map) = self.failures.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let mut wait = None;
        for key in keys {
            let Some(times) = map.get_mut(key) else {
                continue;
            };
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.window)
            {
                times.pop_front();
            }
            if times.len() >= self.max_failures
                && let Some(oldest) = times.front()
            {
                let left = self.window.saturating_sub(now.duration_since(*oldest));
                wait = Some(wait.map_or(left, |w: Duration| w.max(left)));
            }
        }
        match wait {
            Some(w) => Err(w.max(Duration::from_secs(1))),
            None => Ok(()),
        }
    }

    /// Counts a failed login against each of `keys`.
    pub fn failed(&self, keys: &[String]) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        let now = Instant::now();
        if map.len() > SWEEP_ABOVE {
            let window = self.window;
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < window)
            });
        }
        for key in keys {
            let times = map.entry(key.clone()).or_default();
            times.push_back(now);
            while times.len() > self.max_failures {
                times.pop_front();
            }
        }
    }

    /// Forgets the failures of `key` (a user name after a successful login).
    pub fn succeeded(&self, key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
        }
    }
}

/// Whether `claims` grant `action` on repository `name`.
pub fn grants(claims: &Claims, name: &str, action: &str) -> bool {
    claims.access.iter().any(|a| {
        a.resource_type == "repository"
            && a.name == name
            && a.actions.iter().any(|x| x == action || x == "*")
    })
}

/// Whether `claims` grant the catalog.
pub fn grants_catalog(claims: &Claims) -> bool {
    claims
        .access
        .iter()
        .any(|a| a.resource_type == "registry" && a.name == "catalog")
}

/// The permission behind an action name.
pub fn permission(action: &str) -> Option<Permission> {
    Permission::from_action(action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dns01_registry::auth::parse_scopes;

    const FILE: &str = "
tokens:
  - principal: ci-a
    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    projects: {proj-a: [pull, push], proj-c: [pull]}
";

    #[test]
    fn a_token_authenticates_its_principal_only() {
        let f = TokenFile::from_yaml(FILE).unwrap();
        let p = f.authenticate("ci-a", &Secret::from("test")).unwrap();
        assert_eq!(p.describe(), "pull,push on proj-a; pull on proj-c");
        assert!(f.authenticate("ci-a", &Secret::from("test2")).is_none());
        assert!(f.authenticate("other", &Secret::from("test")).is_none());
    }

    #[test]
    fn a_plain_token_in_the_file_is_refused_with_the_fix() {
        let e = TokenFile::from_yaml("tokens: [{principal: a, sha256: my-secret-token}]")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tokens[0].sha256") && e.contains("sha256sum"),
            "{e}"
        );
        assert!(
            !e.contains("my-secret-token"),
            "the value is not repeated: {e}"
        );
    }

    #[test]
    fn requested_scopes_are_trimmed_never_widened() {
        let f = TokenFile::from_yaml(FILE).unwrap();
        let p = f.authenticate("ci-a", &Secret::from("test")).unwrap();
        let scopes = parse_scopes([
            "repository:a/app:pull,push,delete repository:b/app:pull",
            "repository:c/lib:pull,push",
            "repository:a/app:pull",
            "registry:catalog:*",
            "repository:unrouted:pull",
        ])
        .unwrap();
        let project = |n: &str| match n.split('/').next() {
            Some("a") => Some("proj-a".to_owned()),
            Some("b") => Some("proj-b".to_owned()),
            Some("c") => Some("proj-c".to_owned()),
            _ => None,
        };
        let got: Vec<String> = p
            .trim(&scopes, project)
            .iter()
            .map(|a| format!("{}:{}:{}", a.resource_type, a.name, a.actions.join(",")))
            .collect();
        assert_eq!(
            got,
            [
                "repository:a/app:pull,push",
                "repository:c/lib:pull",
                "registry:catalog:*"
            ]
        );
    }

    #[test]
    fn gateway_tokens_are_checked_for_signature_host_and_expiry() {
        let t = GatewayTokens::random(Duration::from_secs(60)).unwrap();
        let token = t.issue(
            "ci-a",
            "images.example",
            vec![Access::from(&Scope::repository("app", &["pull"]))],
        );
        let c = t.verify(token.expose(), "images.example").unwrap();
        assert!(grants(&c, "app", "pull"));
        assert!(!grants(&c, "app", "push"));
        assert_eq!(
            t.verify(token.expose(), "other.example").unwrap_err(),
            TokenProblem::OtherHost
        );
        let other = GatewayTokens::random(Duration::from_secs(60)).unwrap();
        assert_eq!(
            other.verify(token.expose(), "images.example").unwrap_err(),
            TokenProblem::Invalid
        );
        let mut tampered = token.expose().to_owned();
        tampered.insert(40, 'x');
        assert_eq!(
            t.verify(&tampered, "images.example").unwrap_err(),
            TokenProblem::Invalid
        );
        assert!(
            format!("{t:?}").contains("key: \"<redacted>\""),
            "key redacted"
        );
    }

    #[test]
    fn replicas_sharing_a_key_file_accept_each_others_tokens_and_others_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("key");
        std::fs::write(&shared, "0123456789abcdef0123456789abcdef0123456789\n").unwrap();
        let other = dir.path().join("other");
        std::fs::write(&other, "fedcba9876543210fedcba9876543210fedcba9876").unwrap();
        let life = Duration::from_secs(60);
        let a = GatewayTokens::from_key_file(&shared, life).unwrap();
        let b = GatewayTokens::from_key_file(&shared, life).unwrap();
        let c = GatewayTokens::from_key_file(&other, life).unwrap();
        let token = a.issue("ci-a", "images.example", Vec::new());
        assert_eq!(
            b.verify(token.expose(), "images.example").unwrap().sub,
            "ci-a"
        );
        assert_eq!(
            c.verify(token.expose(), "images.example").unwrap_err(),
            TokenProblem::Invalid
        );
    }

    #[test]
    fn a_short_or_missing_key_file_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, "  too-short-key \n").unwrap();
        let e = GatewayTokens::from_key_file(&short, Duration::from_secs(60))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("auth.signing_key_file")
                && e.contains("13 bytes")
                && e.contains("openssl rand"),
            "{e}"
        );
        assert!(!e.contains("too-short-key"), "the key is not repeated: {e}");
        let missing =
            GatewayTokens::from_key_file(&dir.path().join("none"), Duration::from_secs(60));
        assert!(matches!(missing, Err(Error::Read { .. })), "{missing:?}");
    }

    #[test]
    fn the_limiter_refuses_after_the_failures_and_forgets_them_after_the_window() {
        let l = LoginLimiter::new(2, Duration::from_millis(300));
        let keys = ["addr:192.0.2.1".to_owned(), "user:ci-a".to_owned()];
        assert_eq!(l.check(&keys), Ok(()));
        l.failed(&keys);
        assert_eq!(l.check(&keys), Ok(()));
        l.failed(&keys);
        let wait = l.check(&keys).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1), "rounded up to one second");
        // Each key on its own is refused; an unrelated one is not.
        assert!(l.check(&["user:ci-a".to_owned()]).is_err());
        assert!(l.check(&["addr:192.0.2.1".to_owned()]).is_err());
        assert_eq!(l.check(&["addr:192.0.2.2".to_owned()]), Ok(()));
        // A success forgets the user's failures, not the address's.
        l.succeeded("user:ci-a");
        assert_eq!(l.check(&["user:ci-a".to_owned()]), Ok(()));
        assert!(l.check(&["addr:192.0.2.1".to_owned()]).is_err());
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(l.check(&keys), Ok(()));
    }

    #[test]
    fn the_store_reloads_a_changed_file_and_keeps_the_last_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.yaml");
        std::fs::write(&path, "tokens: []").unwrap();
        let store = TokenStore::load(&path).unwrap();
        assert!(store.get().principal("ci-a").is_none());
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&path, FILE).unwrap();
        let when = SystemTime::now() + Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(when)
            .unwrap();
        assert!(store.get().principal("ci-a").is_some());
        std::fs::write(&path, "tokens: [{").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(when + Duration::from_secs(5))
            .unwrap();
        assert!(
            store.get().principal("ci-a").is_some(),
            "last good file kept"
        );
    }
}
