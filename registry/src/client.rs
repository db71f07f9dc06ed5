//! An async client for the OCI distribution API, on `reqwest` with rustls.
//!
//! One [`Client`] per registry: it keeps one connection pool, the credentials, and the
//! Bearer tokens it obtained (cached per set of scopes until they expire). Authentication
//! follows the registry's `WWW-Authenticate` challenge: a Bearer challenge sends the client
//! to the token endpoint (anonymously, or with Basic credentials), a Basic challenge gets the
//! credentials directly. Every answer that is not a success becomes an [`Error`] of a kind
//! the caller can act on.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use dns01_core::Secret;
use futures::{Stream, StreamExt as _};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use sha2::Digest as _;
use url::Url;

use crate::auth::{Challenge, Scope, TokenResponse, parse_www_authenticate};
use crate::error::{Error, ErrorBody, Result};
use crate::manifest::Manifest;
use crate::media::MANIFEST_ACCEPT;
use crate::name::{Digest, Reference, Repository, Tag, hex};

/// The largest manifest the client reads (CNCF Distribution refuses bigger ones too).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// The most of an error body the client reads.
const MAX_ERROR_BODY: usize = 64 << 10;
/// Subtracted from a token's lifetime so that it is not used in its last seconds.
const TOKEN_MARGIN: Duration = Duration::from_secs(10);

/// Credentials for a registry: a user name and a password or token.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user name (GCR: `_json_key`; Docker Hub: the account).
    pub username: String,
    /// The password or token; printed as `<redacted>`.
    pub password: Secret,
}

impl Credentials {
    /// Credentials from a user name and a secret.
    pub fn new(username: &str, password: impl Into<Secret>) -> Self {
        Self {
            username: username.to_owned(),
            password: password.into(),
        }
    }
}

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base: String,
    credentials: Option<Credentials>,
    connect_timeout: Duration,
    request_timeout: Duration,
    read_timeout: Duration,
    ca_pems: Vec<Vec<u8>>,
    user_agent: String,
}

impl ClientBuilder {
    /// Sends Basic credentials (directly or to the token endpoint, as the registry asks).
    #[must_use]
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Time to connect (default 10 s).
    #[must_use]
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Time for a whole request that is not a blob transfer (default 60 s).
    #[must_use]
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }

    /// Longest wait for the next bytes of any answer, blob streams included (default 60 s).
    #[must_use]
    pub fn read_timeout(mut self, t: Duration) -> Self {
        self.read_timeout = t;
        self
    }

    /// Trusts this CA (PEM) besides the system's roots.
    #[must_use]
    pub fn ca_certificate_pem(mut self, pem: &[u8]) -> Self {
        self.ca_pems.push(pem.to_vec());
        self
    }

    /// The `User-Agent` (default `dns01-registry/<version>`).
    #[must_use]
    pub fn user_agent(mut self, ua: &str) -> Self {
        ua.clone_into(&mut self.user_agent);
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::Config`] for a base URL that is not `http(s)://…` or a CA that does not parse.
    pub fn build(self) -> Result<Client> {
        let config = |message: String| Error::Config { message };
        let mut base =
            Url::parse(&self.base).map_err(|e| config(format!("base URL `{}`: {e}", self.base)))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(config(format!(
                "base URL `{}` must be http:// or https://",
                self.base
            )));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        base.set_query(None);
        let mut http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .user_agent(self.user_agent);
        for pem in &self.ca_pems {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| config(format!("CA certificate: {e}")))?;
            http = http.add_root_certificate(cert);
        }
        let http = http
            .build()
            .map_err(|e| config(format!("HTTP client: {e}")))?;
        Ok(Client {
            http,
            base,
            credentials: self.credentials,
            request_timeout: self.request_timeout,
            tokens: Mutex::new(HashMap::new()),
            basic: AtomicBool::new(false),
        })
    }
}

#[derive(Debug)]
struct CachedToken {
    token: Secret,
    until: Instant,
}

/// A client for one registry. Cheap to share (`Arc`); build one per registry, not per request.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    credentials: Option<Credentials>,
    request_timeout: Duration,
    tokens: Mutex<HashMap<String, CachedToken>>,
    /// Set once the registry asked for Basic: credentials then go with every request.
    basic: AtomicBool,
}

/// What a manifest HEAD says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    /// `Content-Type`.
    pub media_type: String,
    /// `Docker-Content-Digest`.
    pub digest: Digest,
    /// `Content-Length`, when sent.
    pub size: Option<u64>,
}

/// A manifest as fetched: the exact bytes (its digest is over them), their type and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    /// `Content-Type`.
    pub media_type: String,
    /// The digest (`Docker-Content-Digest`, checked against the bytes).
    pub digest: Digest,
    /// The body.
    pub bytes: Bytes,
}

impl FetchedManifest {
    /// Parses the body.
    ///
    /// # Errors
    /// [`Error::InvalidResponse`] when it is not a manifest or index.
    pub fn parse(&self) -> Result<Manifest> {
        Manifest::from_slice(Some(&self.media_type), &self.bytes)
    }
}

/// One page of a list (`tags/list`, `_catalog`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The next page's URL, from the `Link` header.
    pub next: Option<Url>,
}

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Catalog {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

/// A request the client may send twice (once more after authenticating).
struct Req<'a> {
    method: Method,
    url: Url,
    scopes: &'a [Scope],
    headers: HeaderMap,
    body: Option<Bytes>,
    /// Whether the whole exchange is bounded by the request timeout (not for blob transfers).
    bounded: bool,
}

impl Client {
    /// A builder for the registry at `base_url` (`https://registry.example/`; a path prefix
    /// is kept, `/v2/…` goes after it).
    pub fn builder(base_url: &str) -> ClientBuilder {
        ClientBuilder {
            base: base_url.to_owned(),
            credentials: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(60),
            ca_pems: Vec::new(),
            user_agent: concat!("dns01-registry/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base.join(path).map_err(|e| Error::Config {
            message: format!("URL for `{path}`: {e}"),
        })
    }

    fn cache_key(scopes: &[Scope]) -> String {
        let mut v: Vec<String> = scopes.iter().map(ToString::to_string).collect();
        v.sort();
        v.join(" ")
    }

    fn cached_token(&self, key: &str) -> Option<Secret> {
        let mut tokens = self.tokens.lock().ok()?;
        match tokens.get(key) {
            Some(t) if t.until > Instant::now() => Some(t.token.clone()),
            Some(_) => {
                tokens.remove(key);
                None
            }
            None => None,
        }
    }

    async fn send(&self, req: &Req<'_>) -> Result<reqwest::Response> {
        let key = Self::cache_key(req.scopes);
        let mut authenticated = false;
        let mut resent = false;
        loop {
            let mut builder = self
                .http
                .request(req.method.clone(), req.url.clone())
                .headers(req.headers.clone());
            if req.bounded {
                builder = builder.timeout(self.request_timeout);
            }
            if let Some(body) = &req.body {
                builder = builder.body(body.clone());
            }
            if self.basic.load(Ordering::Relaxed) {
                if let Some(c) = &self.credentials {
                    builder = builder.basic_auth(&c.username, Some(c.password.expose()));
                }
            } else if let Some(token) = self.cached_token(&key) {
                builder = builder.bearer_auth(token.expose());
            }
            let resp = match builder.send().await {
                Ok(resp) => resp,
                // A pooled connection the server closed (a registry restarted for a
                // read-only window) fails the first request sent on it: send once more on a
                // new connection. Every request of this client is safe to repeat (uploads
                // are started afresh and completed by digest).
                Err(e) if !resent && !e.is_timeout() && (e.is_request() || e.is_connect()) => {
                    tracing::debug!(url = %display_url(&req.url), error = %e, "sending again on a new connection");
                    resent = true;
                    continue;
                }
                Err(source) => {
                    return Err(Error::Unreachable {
                        url: display_url(&req.url),
                        source,
                    });
                }
            };
            tracing::debug!(method = %req.method, url = %display_url(&req.url), status = resp.status().as_u16(), "registry answer");
            if resp.status() != StatusCode::UNAUTHORIZED || authenticated {
                return Ok(resp);
            }
            let challenges: Vec<Challenge> = resp
                .headers()
                .get_all(header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .filter_map(|v| parse_www_authenticate(v).ok())
                .flatten()
                .collect();
            if let Some(bearer) = challenges.iter().find(|c| c.is("bearer")) {
                let mut scopes: Vec<Scope> = req.scopes.to_vec();
                for s in bearer.scopes() {
                    if !scopes.contains(&s) {
                        scopes.push(s);
                    }
                }
                let (token, lifetime) = self.fetch_token(bearer, &scopes).await?;
                if let Ok(mut tokens) = self.tokens.lock() {
                    // Expired tokens go when a new one arrives, so a client that walks
                    // thousands of repositories keeps only live ones.
                    let now = Instant::now();
                    tokens.retain(|_, t| t.until > now);
                    tokens.insert(
                        key.clone(),
                        CachedToken {
                            token,
                            until: Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN),
                        },
                    );
                }
            } else if challenges.iter().any(|c| c.is("basic")) && self.credentials.is_some() {
                self.basic.store(true, Ordering::Relaxed);
            } else {
                return Ok(resp);
            }
            authenticated = true;
        }
    }

    async fn fetch_token(
        &self,
        challenge: &Challenge,
        scopes: &[Scope],
    ) -> Result<(Secret, Duration)> {
        let Some(realm) = challenge.realm() else {
            return Err(Error::InvalidResponse {
                url: display_url(&self.base),
                message: format!("a Bearer challenge without a realm: `{challenge}`"),
            });
        };
        let mut url = self.base.join(realm).map_err(|e| Error::InvalidResponse {
            url: display_url(&self.base),
            message: format!("the token realm `{realm}` is not a URL: {e}"),
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = challenge.service() {
                q.append_pair("service", service);
            }
            for s in scopes {
                q.append_pair("scope", &s.to_string());
            }
            if let Some(c) = &self.credentials {
                q.append_pair("account", &c.username);
            }
        }
        let mut builder = self.http.get(url.clone()).timeout(self.request_timeout);
        if let Some(c) = &self.credentials {
            builder = builder.basic_auth(&c.username, Some(c.password.expose()));
        }
        let resp = builder.send().await.map_err(|source| Error::Unreachable {
            url: display_url(&url),
            source,
        })?;
        let resp = check(resp, &[StatusCode::OK]).await?;
        let body = read_limited(resp, MAX_ERROR_BODY, &url).await?;
        let answer: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| Error::InvalidResponse {
                url: display_url(&url),
                message: format!("the token answer is not the token JSON: {e}"),
            })?;
        let Some(token) = answer.bearer() else {
            return Err(Error::InvalidResponse {
                url: display_url(&url),
                message: "the token answer has neither `token` nor `access_token`".into(),
            });
        };
        Ok((token, answer.lifetime()))
    }

    async fn call(
        &self,
        method: Method,
        url: Url,
        scopes: &[Scope],
        headers: HeaderMap,
        body: Option<Bytes>,
        ok: &[StatusCode],
    ) -> Result<reqwest::Response> {
        let req = Req {
            method,
            url,
            scopes,
            headers,
            body,
            bounded: true,
        };
        check(self.send(&req).await?, ok).await
    }

    /// `GET /v2/`: whether the registry answers and the credentials (if any) are accepted.
    ///
    /// # Errors
    /// [`Error::Unreachable`], [`Error::Unauthorized`], or what else the registry answered.
    pub async fn ping(&self) -> Result<()> {
        self.call(
            Method::GET,
            self.url("v2/")?,
            &[],
            HeaderMap::new(),
            None,
            &[StatusCode::OK],
        )
        .await
        .map(drop)
    }

    fn manifest_url(&self, repo: &Repository, reference: &Reference) -> Result<Url> {
        self.url(&format!("v2/{repo}/manifests/{reference}"))
    }

    fn accept_manifests() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
        h
    }

    /// A manifest request with every manifest type in `Accept`, under a pull scope.
    async fn manifest_call(
        &self,
        method: Method,
        repo: &Repository,
        reference: &Reference,
    ) -> Result<(Url, reqwest::Response)> {
        let url = self.manifest_url(repo, reference)?;
        let scopes = [Scope::repository(repo.as_str(), &["pull"])];
        let resp = self
            .call(
                method,
                url.clone(),
                &scopes,
                Self::accept_manifests(),
                None,
                &[StatusCode::OK],
            )
            .await?;
        Ok((url, resp))
    }

    /// `HEAD` a manifest: its media type, digest and size, without the body.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such manifest; other kinds as answered.
    pub async fn manifest_head(
        &self,
        repo: &Repository,
        reference: &Reference,
    ) -> Result<ManifestHead> {
        let (url, resp) = self.manifest_call(Method::HEAD, repo, reference).await?;
        let digest = match (header_digest(&resp, &url)?, reference) {
            (Some(d), _) => d,
            (None, Reference::Digest(d)) => d.clone(),
            (None, Reference::Tag(_)) => {
                return Err(Error::InvalidResponse {
                    url: display_url(&url),
                    message: "a manifest HEAD without Docker-Content-Digest".into(),
                });
            }
        };
        Ok(ManifestHead {
            media_type: content_type(&resp),
            digest,
            size: content_length(&resp),
        })
    }

    /// `GET` a manifest, sending every manifest type in `Accept`. The bytes are checked
    /// against the digest asked for and against `Docker-Content-Digest`.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::DigestMismatch`], other kinds as answered.
    pub async fn manifest_get(
        &self,
        repo: &Repository,
        reference: &Reference,
    ) -> Result<FetchedManifest> {
        let (url, resp) = self.manifest_call(Method::GET, repo, reference).await?;
        let media_type = content_type(&resp);
        let header = header_digest(&resp, &url)?;
        let bytes = read_limited(resp, MAX_MANIFEST_BYTES, &url).await?;
        let computed = Digest::sha256_of(&bytes);
        for expected in [
            header.as_ref(),
            match reference {
                Reference::Digest(d) => Some(d),
                Reference::Tag(_) => None,
            },
        ]
        .into_iter()
        .flatten()
        {
            if expected.verify(&bytes) == Some(false) {
                return Err(Error::DigestMismatch {
                    expected: expected.to_string(),
                    actual: computed.to_string(),
                });
            }
        }
        Ok(FetchedManifest {
            media_type,
            digest: header.unwrap_or(computed),
            bytes,
        })
    }

    /// `PUT` a manifest under a tag or its digest; returns its digest.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] in a maintenance window; other kinds as answered.
    pub async fn manifest_put(
        &self,
        repo: &Repository,
        reference: &Reference,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Digest> {
        let url = self.manifest_url(repo, reference)?;
        let scopes = [Scope::repository(repo.as_str(), &["pull", "push"])];
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(media_type).map_err(|_| Error::InvalidRequest {
                message: format!("media type `{media_type}` is not a valid header value"),
            })?,
        );
        let computed = Digest::sha256_of(&bytes);
        let resp = self
            .call(
                Method::PUT,
                url.clone(),
                &scopes,
                headers,
                Some(bytes),
                &[StatusCode::CREATED],
            )
            .await?;
        Ok(header_digest(&resp, &url)?.unwrap_or(computed))
    }

    /// Deletes a manifest by digest (202). A tag is refused before anything is sent:
    /// registries delete manifests by digest only.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for a tag, [`Error::NotFound`] when already gone,
    /// [`Error::Unsupported`] when deletes are disabled, [`Error::ReadOnly`].
    pub async fn manifest_delete(&self, repo: &Repository, reference: &Reference) -> Result<()> {
        let digest = match reference {
            Reference::Digest(d) => d,
            Reference::Tag(tag) => {
                return Err(Error::InvalidRequest {
                    message: format!(
                        "refusing to delete `{repo}:{tag}` by tag: registries delete manifests \
                         by digest only (a tag gets 400 DIGEST_INVALID); resolve the tag with a \
                         manifest HEAD and delete its digest (every tag of that manifest goes \
                         with it)"
                    ),
                });
            }
        };
        let url = self.url(&format!("v2/{repo}/manifests/{digest}"))?;
        let scopes = [Scope::repository(repo.as_str(), &["delete"])];
        self.call(
            Method::DELETE,
            url,
            &scopes,
            HeaderMap::new(),
            None,
            &[StatusCode::ACCEPTED],
        )
        .await
        .map(drop)
    }

    /// `HEAD` a blob: its size.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the repository has no such blob.
    pub async fn blob_head(&self, repo: &Repository, digest: &Digest) -> Result<Option<u64>> {
        let url = self.url(&format!("v2/{repo}/blobs/{digest}"))?;
        let scopes = [Scope::repository(repo.as_str(), &["pull"])];
        let resp = self
            .call(
                Method::HEAD,
                url,
                &scopes,
                HeaderMap::new(),
                None,
                &[StatusCode::OK],
            )
            .await?;
        Ok(content_length(&resp))
    }

    /// `GET` a blob as a stream of chunks, never held whole. Redirects are followed (the
    /// `Authorization` header is dropped when the redirect leaves the host). The stream ends
    /// with [`Error::DigestMismatch`] when a sha256 blob's content does not match its digest.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the repository has no such blob; other kinds as answered.
    pub async fn blob_get(&self, repo: &Repository, digest: &Digest) -> Result<Blob> {
        let url = self.url(&format!("v2/{repo}/blobs/{digest}"))?;
        let scopes = [Scope::repository(repo.as_str(), &["pull"])];
        let req = Req {
            method: Method::GET,
            url: url.clone(),
            scopes: &scopes,
            headers: HeaderMap::new(),
            body: None,
            bounded: false,
        };
        let resp = check(self.send(&req).await?, &[StatusCode::OK]).await?;
        Ok(Blob {
            size: content_length(&resp),
            hasher: (digest.algorithm() == "sha256").then(sha2::Sha256::new),
            expected: digest.clone(),
            url: display_url(&url),
            inner: Box::pin(resp.bytes_stream()),
            done: false,
        })
    }

    /// Uploads a blob in one piece (`POST` then `PUT ?digest=`); returns its digest.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] in a maintenance window; other kinds as answered.
    pub async fn blob_upload(&self, repo: &Repository, data: Bytes) -> Result<Digest> {
        let digest = Digest::sha256_of(&data);
        let scopes = [Scope::repository(repo.as_str(), &["pull", "push"])];
        let start = self.url(&format!("v2/{repo}/blobs/uploads/"))?;
        let resp = self
            .call(
                Method::POST,
                start.clone(),
                &scopes,
                HeaderMap::new(),
                None,
                &[StatusCode::ACCEPTED],
            )
            .await?;
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::InvalidResponse {
                url: display_url(&start),
                message: "an upload started without a Location".into(),
            })?;
        let mut put = resp
            .url()
            .join(location)
            .map_err(|e| Error::InvalidResponse {
                url: display_url(&start),
                message: format!("the upload Location is not a URL: {e}"),
            })?;
        put.query_pairs_mut().append_pair("digest", digest.as_str());
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let req = Req {
            method: Method::PUT,
            url: put,
            scopes: &scopes,
            headers,
            body: Some(data),
            bounded: false,
        };
        check(self.send(&req).await?, &[StatusCode::CREATED]).await?;
        Ok(digest)
    }

    /// Starts a blob upload to `repo` and cancels it at once: whether the registry accepts
    /// writes (with this client's credentials). Nothing is stored but the cancelled upload's
    /// empty directory, which the registry's upload purging removes (Distribution 2.8). A
    /// registry in maintenance answers [`Error::ReadOnly`].
    ///
    /// # Errors
    /// [`Error::ReadOnly`] when writes are refused; other kinds as answered.
    pub async fn upload_probe(&self, repo: &Repository) -> Result<()> {
        let scopes = [Scope::repository(repo.as_str(), &["pull", "push"])];
        let start = self.url(&format!("v2/{repo}/blobs/uploads/"))?;
        let resp = self
            .call(
                Method::POST,
                start,
                &scopes,
                HeaderMap::new(),
                None,
                &[StatusCode::ACCEPTED],
            )
            .await?;
        let cancel = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|loc| resp.url().join(loc).ok());
        if let Some(cancel) = cancel {
            // An upload left behind is purged by the registry later: a failed cancel is no
            // reason to fail the probe.
            let req = Req {
                method: Method::DELETE,
                url: cancel,
                scopes: &scopes,
                headers: HeaderMap::new(),
                body: None,
                bounded: true,
            };
            if let Err(e) = self.send(&req).await {
                tracing::debug!(error = %e, "cancelling a probe upload");
            }
        }
        Ok(())
    }

    /// One page of `tags/list` (`n` per page, after `last`).
    ///
    /// # Errors
    /// [`Error::NotFound`] (`NAME_UNKNOWN`) for a repository that does not exist.
    pub async fn tags_page(
        &self,
        repo: &Repository,
        n: Option<u32>,
        last: Option<&str>,
    ) -> Result<Page<Tag>> {
        let mut url = self.url(&format!("v2/{repo}/tags/list"))?;
        paginate(&mut url, n, last);
        self.tags_at(repo, url).await
    }

    async fn tags_at(&self, repo: &Repository, url: Url) -> Result<Page<Tag>> {
        let scopes = [Scope::repository(repo.as_str(), &["pull"])];
        self.page_at(url, &scopes, |list: TagList| list.tags, Tag::parse)
            .await
    }

    /// One page of a listing at `url`: the names `field` takes from the JSON body, each
    /// checked by `parse`, and the `Link` to the next page.
    async fn page_at<L, T>(
        &self,
        url: Url,
        scopes: &[Scope],
        field: impl FnOnce(L) -> Option<Vec<String>>,
        parse: impl Fn(&str) -> Result<T>,
    ) -> Result<Page<T>>
    where
        L: serde::de::DeserializeOwned,
    {
        let resp = self
            .call(
                Method::GET,
                url.clone(),
                scopes,
                HeaderMap::new(),
                None,
                &[StatusCode::OK],
            )
            .await?;
        let next = self.next_link(&resp);
        let body = read_limited(resp, MAX_MANIFEST_BYTES, &url).await?;
        let items = field(parse_json(&body, &url)?)
            .unwrap_or_default()
            .iter()
            .map(|name| parse(name))
            .collect::<Result<_>>()?;
        Ok(Page { items, next })
    }

    /// Every tag of a repository, following `Link` pages of `page_size` (the registry's
    /// default when `None`). A repository whose last tag was deleted has none.
    ///
    /// # Errors
    /// [`Error::NotFound`] for a repository that does not exist.
    pub async fn tags(&self, repo: &Repository, page_size: Option<u32>) -> Result<Vec<Tag>> {
        let mut page = self.tags_page(repo, page_size, None).await?;
        let mut all = std::mem::take(&mut page.items);
        while let Some(next) = page.next.take() {
            page = self.tags_at(repo, next).await?;
            all.append(&mut page.items);
        }
        Ok(all)
    }

    /// One page of `_catalog`.
    ///
    /// # Errors
    /// As answered ([`Error::Unauthorized`] without `registry:catalog:*`).
    pub async fn catalog_page(
        &self,
        n: Option<u32>,
        last: Option<&str>,
    ) -> Result<Page<Repository>> {
        let mut url = self.url("v2/_catalog")?;
        paginate(&mut url, n, last);
        self.catalog_at(url).await
    }

    async fn catalog_at(&self, url: Url) -> Result<Page<Repository>> {
        let scopes = [Scope::catalog()];
        self.page_at(
            url,
            &scopes,
            |list: Catalog| list.repositories,
            Repository::parse,
        )
        .await
    }

    /// Every repository of the registry, following `Link` pages of `page_size`.
    ///
    /// # Errors
    /// As answered.
    pub async fn catalog(&self, page_size: Option<u32>) -> Result<Vec<Repository>> {
        let mut page = self.catalog_page(page_size, None).await?;
        let mut all = std::mem::take(&mut page.items);
        while let Some(next) = page.next.take() {
            page = self.catalog_at(next).await?;
            all.append(&mut page.items);
        }
        Ok(all)
    }

    fn next_link(&self, resp: &reqwest::Response) -> Option<Url> {
        resp.headers()
            .get_all(header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_link_target)
            .and_then(|target| resp.url().join(target).ok())
            .filter(|u| u.origin() == self.base.origin())
    }
}

fn paginate(url: &mut Url, n: Option<u32>, last: Option<&str>) {
    if n.is_none() && last.is_none() {
        return;
    }
    let mut q = url.query_pairs_mut();
    if let Some(n) = n {
        q.append_pair("n", &n.to_string());
    }
    if let Some(last) = last {
        q.append_pair("last", last);
    }
}

/// The target of the `rel="next"` entry of a `Link` header value.
pub fn next_link_target(value: &str) -> Option<&str> {
    value.split(',').find_map(|entry| {
        let entry = entry.trim();
        let rest = entry.strip_prefix('<')?;
        let (target, params) = rest.split_once('>')?;
        params
            .split(';')
            .map(str::trim)
            .any(|p| {
                p.strip_prefix("rel=")
                    .is_some_and(|r| r.trim_matches('"').split(' ').any(|r| r == "next"))
            })
            .then_some(target)
    })
}

/// A URL for messages: no query (upload states, tokens), no user info.
fn display_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// `Content-Length` from the header (reqwest's `content_length()` is 0 for HEAD answers).
fn content_length(resp: &reqwest::Response) -> Option<u64> {
    resp.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_owned())
        .unwrap_or_default()
}

fn header_digest(resp: &reqwest::Response, url: &Url) -> Result<Option<Digest>> {
    let Some(v) = resp.headers().get("docker-content-digest") else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("");
    Digest::parse(text)
        .map(Some)
        .map_err(|e| Error::InvalidResponse {
            url: display_url(url),
            message: format!("Docker-Content-Digest: {e}"),
        })
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], url: &Url) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::InvalidResponse {
        url: display_url(url),
        message: format!("the JSON is not what the distribution spec says: {e}"),
    })
}

async fn read_limited(resp: reqwest::Response, limit: usize, url: &Url) -> Result<Bytes> {
    read_limited_str(resp, limit, &display_url(url)).await
}

async fn read_limited_str(resp: reqwest::Response, limit: usize, url: &str) -> Result<Bytes> {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|source| Error::Interrupted {
            url: url.to_owned(),
            source,
        })?;
        if out.len() + chunk.len() > limit {
            return Err(Error::InvalidResponse {
                url: url.to_owned(),
                message: format!("the answer is larger than {limit} bytes"),
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

/// `Retry-After`: seconds, or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Passes a response whose status is in `ok`; turns any other into an [`Error`].
async fn check(resp: reqwest::Response, ok: &[StatusCode]) -> Result<reqwest::Response> {
    if ok.contains(&resp.status()) {
        return Ok(resp);
    }
    Err(error_from(resp).await)
}

async fn error_from(resp: reqwest::Response) -> Error {
    let status = resp.status();
    let url = display_url(resp.url());
    let retry = retry_after(resp.headers());
    let is_json = content_type(&resp).contains("json");
    let body = read_limited_str(resp, MAX_ERROR_BODY, &url)
        .await
        .unwrap_or_default();
    let oci: Option<ErrorBody> = serde_json::from_slice::<ErrorBody>(&body)
        .ok()
        .filter(|b| !b.errors.is_empty());
    let code = oci.as_ref().map(|b| b.errors[0].code.clone());
    let message = match &oci {
        Some(b) => b.summary(),
        None => {
            let text = String::from_utf8_lossy(&body);
            let text = text.trim();
            if text.is_empty() {
                status.canonical_reason().unwrap_or("no message").to_owned()
            } else {
                text.chars().take(512).collect()
            }
        }
    };
    match status.as_u16() {
        401 => Error::Unauthorized { url, message },
        403 => Error::Denied { url, message },
        404 => Error::NotFound { url, code, message },
        429 => Error::RateLimited {
            url,
            retry_after: retry,
            message,
        },
        405 if oci.is_none() && !is_json => Error::ReadOnly { url },
        405 => Error::Unsupported { url, message },
        status => Error::Upstream {
            url,
            status,
            code,
            message,
        },
    }
}

/// A blob being downloaded: a [`Stream`] of chunks. For sha256 digests the content is
/// hashed on the way and the stream ends with [`Error::DigestMismatch`] if it differs.
pub struct Blob {
    size: Option<u64>,
    inner: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    hasher: Option<sha2::Sha256>,
    expected: Digest,
    url: String,
    done: bool,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blob")
            .field("digest", &self.expected)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Blob {
    /// `Content-Length`, when the registry sent it.
    pub fn size(&self) -> Option<u64> {
        self.size
    }
}

impl Stream for Blob {
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match ready!(this.inner.as_mut().poll_next(cx)) {
            Some(Ok(chunk)) => {
                if let Some(h) = &mut this.hasher {
                    h.update(&chunk);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Some(Err(source)) => {
                this.done = true;
                Poll::Ready(Some(Err(Error::Interrupted {
                    url: this.url.clone(),
                    source,
                })))
            }
            None => {
                this.done = true;
                if let Some(h) = this.hasher.take() {
                    let actual = hex(&h.finalize());
                    if actual != this.expected.encoded() {
                        return Poll::Ready(Some(Err(Error::DigestMismatch {
                            expected: this.expected.to_string(),
                            actual: format!("sha256:{actual}"),
                        })));
                    }
                }
                Poll::Ready(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_give_the_next_page() {
        assert_eq!(
            next_link_target(r#"</v2/_catalog?last=a&n=1>; rel="next""#),
            Some("/v2/_catalog?last=a&n=1")
        );
        assert_eq!(
            next_link_target(r#"<https://x/prev>; rel="prev", <https://x/next>; rel=next"#),
            Some("https://x/next")
        );
        assert_eq!(next_link_target(r#"<https://x/prev>; rel="prev""#), None);
        assert_eq!(next_link_target("garbage"), None);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        h.insert(header::RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        let d = retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn a_base_url_gets_a_trailing_slash_and_refuses_other_schemes() {
        let c = Client::builder("http://127.0.0.1:5000/prefix")
            .build()
            .unwrap();
        assert_eq!(
            c.url("v2/").unwrap().as_str(),
            "http://127.0.0.1:5000/prefix/v2/"
        );
        let e = Client::builder("ftp://x/").build().unwrap_err().to_string();
        assert!(e.contains("must be http:// or https://"), "{e}");
    }

    #[test]
    fn credentials_never_print_the_password() {
        let c = Credentials::new("alice", "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
        let client = Client::builder("http://r/").credentials(c).build().unwrap();
        assert!(!format!("{client:?}").contains("hunter2"));
    }
}
