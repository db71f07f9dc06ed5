//! [`GandiStore`]: the whole-rrset TXT operations on Gandi LiveDNS.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use dns01_core::{
    CreateOutcome, Error, Fqdn, RelativeName, Result, RrsetStore, StoreLimits, TxtRrset, TxtValue,
    ZoneName,
};
use http::{HeaderMap, StatusCode};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::client::{Call, Client, Reply};
use crate::codec;
use crate::config::{GandiConfig, MAX_TTL, MIN_TTL};
use crate::error::{self, Route};
use crate::zone::{self, Probe, ZoneCache};

/// Page size asked for when listing domains.
const PER_PAGE: usize = 100;
/// Most pages read when listing domains, as a guard against a server that never stops.
const MAX_PAGES: usize = 1000;

/// A Gandi LiveDNS rrset store. Cheap to clone: clones share one HTTP client, one rate limiter
/// and one zone cache.
///
/// Turn it into a value-level provider with [`crate::provider`] or
/// [`dns01_core::Coordinator::new`].
#[derive(Clone)]
pub struct GandiStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    zones: ZoneCache,
    default_ttl: u32,
    /// Declared to the coordinator in [`RrsetStore::limits`].
    batch_window: Duration,
    /// Foreign values whose wire form is not what [`codec::encode`] would write, per rrset:
    /// decoded value → wire form as read, so rewriting the rrset hands them back unchanged.
    wire_forms: Mutex<HashMap<(ZoneName, RelativeName), HashMap<TxtValue, String>>>,
}

impl fmt::Debug for GandiStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GandiStore")
            .field("client", &self.inner.client)
            .field("default_ttl", &self.inner.default_ttl)
            .field("batch_window", &self.inner.batch_window)
            .finish_non_exhaustive()
    }
}

/// An rrset as Gandi returns it; only the fields used here.
#[derive(Debug, Deserialize)]
struct WireRrset {
    #[serde(default = "default_wire_ttl")]
    rrset_ttl: u32,
    #[serde(default)]
    rrset_values: Vec<String>,
}

fn default_wire_ttl() -> u32 {
    MIN_TTL
}

/// A domain in `GET /domains`; only the field used here.
#[derive(Debug, Deserialize)]
struct WireDomain {
    fqdn: String,
}

/// What a 404 means.
enum NotFound {
    /// "Unknown domain": the zone itself is missing for this token.
    UnknownDomain,
    /// Gandi's generic 404 (or an empty body): the resource asked for is absent.
    Missing,
    /// Not an answer from LiveDNS (a wrong base URL, a proxy page).
    NotGandi,
}

fn classify_404(body: &[u8]) -> NotFound {
    if error::is_unknown_domain(body) {
        NotFound::UnknownDomain
    } else if body.iter().all(u8::is_ascii_whitespace)
        || serde_json::from_slice::<serde_json::Value>(body).is_ok()
    {
        NotFound::Missing
    } else {
        NotFound::NotGandi
    }
}

impl GandiStore {
    /// A store for this configuration. Fails on an unusable configuration (empty credential,
    /// zero timeout or rate limit, a base URL that is not http(s), a default TTL outside
    /// 300..=2592000); makes no request.
    pub fn new(config: GandiConfig) -> Result<Self> {
        if !(MIN_TTL..=MAX_TTL).contains(&config.default_ttl) {
            return Err(Error::invalid_input(format!(
                "default_ttl {} is outside the {MIN_TTL}..={MAX_TTL} seconds Gandi accepts",
                config.default_ttl
            )));
        }
        let client = Client::new(&config)?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                zones: ZoneCache::new(zone::NEGATIVE_TTL),
                default_ttl: config.default_ttl,
                batch_window: config.batch_window,
                wire_forms: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The TTL to use for records whose caller gives none.
    pub fn default_ttl(&self) -> u32 {
        self.inner.default_ttl
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &url::Url {
        self.inner.client.base_url()
    }

    /// The organisation id sent as `sharing_id`, if any.
    pub fn sharing_id(&self) -> Option<&str> {
        self.inner.client.sharing_id()
    }

    /// Checks that `zone` exists and is visible to these credentials, with a message that says
    /// what to do when it is not. Cached after the first success.
    pub async fn verify_zone(&self, zone: &ZoneName) -> Result<()> {
        match self.probe(zone).await? {
            Probe::Found => Ok(()),
            Probe::Absent(err) => Err(err),
        }
    }

    async fn probe(&self, zone: &ZoneName) -> Result<Probe> {
        if self.inner.zones.is_present(zone) {
            return Ok(Probe::Found);
        }
        let call = Call {
            route: Route {
                operation: "probe_zone",
                method: "GET",
                target: zone.as_str().to_owned(),
            },
            method: Method::GET,
            segments: vec!["domains".to_owned(), zone.as_str().to_owned()],
            query: Vec::new(),
            body: None,
            accept: &[404],
        };
        let reply = self.inner.client.send(&call).await?;
        if reply.status == StatusCode::NOT_FOUND {
            if let NotFound::NotGandi = classify_404(&reply.body) {
                return Err(self.status_error(&call.route, &reply));
            }
            return Ok(Probe::Absent(error::from_status(
                &call.route,
                reply.status,
                &reply.headers,
                &reply.body,
                self.inner.client.secret(),
            )));
        }
        self.inner.zones.remember_present(zone);
        Ok(Probe::Found)
    }

    fn status_error(&self, route: &Route, reply: &Reply) -> Error {
        error::from_status(
            route,
            reply.status,
            &reply.headers,
            &reply.body,
            self.inner.client.secret(),
        )
    }

    /// The error for a 404 that is not "absent"; forgets a zone Gandi no longer knows.
    fn not_found_error(&self, zone: &ZoneName, route: &Route, reply: &Reply) -> Error {
        if let NotFound::UnknownDomain = classify_404(&reply.body) {
            self.inner.zones.forget(zone);
        }
        self.status_error(route, reply)
    }

    fn rrset_call(
        operation: &'static str,
        method: Method,
        zone: &ZoneName,
        name: &RelativeName,
        body: Option<serde_json::Value>,
        accept: &'static [u16],
    ) -> Call {
        Call {
            route: Route {
                operation,
                method: method_name(&method),
                target: format!("{}/{}/TXT", zone.as_str(), name.as_str()),
            },
            method,
            segments: vec![
                "domains".to_owned(),
                zone.as_str().to_owned(),
                "records".to_owned(),
                name.as_str().to_owned(),
                "TXT".to_owned(),
            ],
            query: Vec::new(),
            body,
            accept,
        }
    }

    /// `ttl` moved into Gandi's bounds, with a warning if it had to move.
    fn clamp_ttl(route: &Route, ttl: u32) -> u32 {
        let clamped = ttl.clamp(MIN_TTL, MAX_TTL);
        if clamped != ttl {
            tracing::warn!(
                %route,
                requested = ttl,
                sent = clamped,
                "TTL outside Gandi's {MIN_TTL}..={MAX_TTL} seconds; clamped"
            );
        }
        clamped
    }

    /// The wire forms of `values`: as read for foreign values in an unusual form, otherwise
    /// encoded.
    fn wire_values(
        &self,
        zone: &ZoneName,
        name: &RelativeName,
        values: &[TxtValue],
    ) -> Vec<String> {
        let forms = self
            .inner
            .wire_forms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let remembered = forms.get(&(zone.clone(), name.clone()));
        values
            .iter()
            .map(|v| {
                remembered
                    .and_then(|m| m.get(v))
                    .cloned()
                    .unwrap_or_else(|| codec::encode(v.as_str()))
            })
            .collect()
    }

    fn set_wire_forms(&self, zone: &ZoneName, name: &RelativeName, odd: HashMap<TxtValue, String>) {
        let mut forms = self
            .inner
            .wire_forms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (zone.clone(), name.clone());
        if odd.is_empty() {
            forms.remove(&key);
        } else {
            forms.insert(key, odd);
        }
    }

    /// Decodes an rrset as read; values that cannot be decoded are kept in their wire form.
    fn decode_rrset(
        &self,
        route: &Route,
        zone: &ZoneName,
        name: &RelativeName,
        wire: WireRrset,
    ) -> Result<TxtRrset> {
        let mut values: Vec<TxtValue> = Vec::with_capacity(wire.rrset_values.len());
        let mut odd = HashMap::new();
        for raw in wire.rrset_values {
            let decoded = codec::decode(&raw).ok().and_then(|d| TxtValue::new(d).ok());
            let value = match decoded {
                Some(v) => v,
                None => {
                    // Not a value this client writes: keep it exactly as Gandi holds it.
                    let verbatim = TxtValue::new(raw.trim()).map_err(|e| {
                        Error::other(format!(
                            "{route}: the rrset holds a value this client cannot represent ({}); \
                             refusing to rewrite the rrset; fix the value by hand",
                            e.message()
                        ))
                    })?;
                    tracing::debug!(%route, value = ?raw, "kept a TXT value Gandi returned in an unusual form");
                    verbatim
                }
            };
            if values.contains(&value) {
                continue;
            }
            if codec::encode(value.as_str()) != raw {
                odd.insert(value.clone(), raw);
            }
            values.push(value);
        }
        self.set_wire_forms(zone, name, odd);
        Ok(TxtRrset {
            ttl: wire.rrset_ttl,
            values,
        })
    }

    async fn list_page(&self, page: usize) -> Result<(Vec<WireDomain>, HeaderMap)> {
        let call = Call {
            route: Route {
                operation: "list_zones",
                method: "GET",
                target: format!("domains (page {page})"),
            },
            method: Method::GET,
            segments: vec!["domains".to_owned()],
            query: vec![
                ("page", page.to_string()),
                ("per_page", PER_PAGE.to_string()),
            ],
            body: None,
            accept: &[],
        };
        let reply = self.inner.client.send(&call).await?;
        let domains = serde_json::from_slice::<Vec<WireDomain>>(&reply.body)
            .map_err(|e| error::unreadable(&call.route, reply.status, e))?;
        Ok((domains, reply.headers))
    }
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "HTTP",
    }
}

/// Whether a `Link` header has a `rel="next"` entry.
fn has_next_link(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|link| {
            link.split(';').skip(1).any(|param| {
                let param = param.trim().to_ascii_lowercase();
                param == "rel=\"next\"" || param == "rel=next"
            })
        })
}

/// The `Total-Count` header.
fn total_count(headers: &HeaderMap) -> Option<usize> {
    headers
        .get("total-count")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

#[async_trait]
impl RrsetStore for GandiStore {
    fn limits(&self) -> StoreLimits {
        StoreLimits::new(MIN_TTL, MAX_TTL)
            .with_create(true)
            .with_batch_window(self.inner.batch_window)
    }

    async fn find_zone(&self, name: &Fqdn) -> Result<ZoneName> {
        zone::find(&self.inner.zones, name, |candidate| async move {
            self.probe(&candidate).await
        })
        .await
    }

    async fn probe_zone(&self, zone: &ZoneName) -> Result<bool> {
        Ok(matches!(self.probe(zone).await?, Probe::Found))
    }

    async fn list_zones(&self) -> Result<Vec<ZoneName>> {
        // Pages are requested by number; `Link: rel="next"` and `Total-Count` only decide
        // whether to ask for the next one, so a link to another host is never followed.
        let mut zones: Vec<ZoneName> = Vec::new();
        let mut seen = 0usize;
        for page in 1..=MAX_PAGES {
            let (domains, headers) = self.list_page(page).await?;
            let count = domains.len();
            seen += count;
            for d in domains {
                match ZoneName::parse(&d.fqdn) {
                    Ok(z) => {
                        if !zones.contains(&z) {
                            self.inner.zones.remember_present(&z);
                            zones.push(z);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(fqdn = %d.fqdn, error = %e, "skipped a domain name Gandi listed")
                    }
                }
            }
            let more = if count == 0 {
                false
            } else if has_next_link(&headers) {
                true
            } else if let Some(total) = total_count(&headers) {
                seen < total
            } else {
                count >= PER_PAGE
            };
            if !more {
                return Ok(zones);
            }
        }
        tracing::warn!(
            pages = MAX_PAGES,
            "stopped listing Gandi domains after the page limit"
        );
        Ok(zones)
    }

    async fn read_txt(&self, zone: &ZoneName, name: &RelativeName) -> Result<Option<TxtRrset>> {
        let call = Self::rrset_call("read_txt", Method::GET, zone, name, None, &[404]);
        let reply = self.inner.client.send(&call).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return match classify_404(&reply.body) {
                NotFound::Missing => {
                    self.set_wire_forms(zone, name, HashMap::new());
                    Ok(None)
                }
                NotFound::UnknownDomain | NotFound::NotGandi => {
                    Err(self.not_found_error(zone, &call.route, &reply))
                }
            };
        }
        let wire = serde_json::from_slice::<WireRrset>(&reply.body)
            .map_err(|e| error::unreadable(&call.route, reply.status, e))?;
        self.decode_rrset(&call.route, zone, name, wire).map(Some)
    }

    async fn create_txt(
        &self,
        zone: &ZoneName,
        name: &RelativeName,
        rrset: &TxtRrset,
    ) -> Result<CreateOutcome> {
        let route = Route {
            operation: "create_txt",
            method: "POST",
            target: format!("{}/{}/TXT", zone.as_str(), name.as_str()),
        };
        let body = json!({
            "rrset_name": name.as_str(),
            "rrset_type": "TXT",
            "rrset_ttl": Self::clamp_ttl(&route, rrset.ttl),
            "rrset_values": self.wire_values(zone, name, &rrset.values),
        });
        let call = Call {
            route,
            method: Method::POST,
            segments: vec![
                "domains".to_owned(),
                zone.as_str().to_owned(),
                "records".to_owned(),
            ],
            query: Vec::new(),
            body: Some(body),
            accept: &[404, 409],
        };
        let reply = self.inner.client.send(&call).await?;
        match reply.status {
            StatusCode::CONFLICT => Ok(CreateOutcome::AlreadyExists),
            StatusCode::NOT_FOUND => Err(self.not_found_error(zone, &call.route, &reply)),
            _ => Ok(CreateOutcome::Created),
        }
    }

    async fn replace_txt(
        &self,
        zone: &ZoneName,
        name: &RelativeName,
        rrset: &TxtRrset,
    ) -> Result<()> {
        if rrset.values.is_empty() {
            // Gandi keeps an empty rrset after a PUT of no values: delete instead.
            return self.delete_txt(zone, name).await;
        }
        let mut call = Self::rrset_call("replace_txt", Method::PUT, zone, name, None, &[404]);
        call.body = Some(json!({
            "rrset_ttl": Self::clamp_ttl(&call.route, rrset.ttl),
            "rrset_values": self.wire_values(zone, name, &rrset.values),
        }));
        let reply = self.inner.client.send(&call).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(self.not_found_error(zone, &call.route, &reply));
        }
        Ok(())
    }

    async fn delete_txt(&self, zone: &ZoneName, name: &RelativeName) -> Result<()> {
        let call = Self::rrset_call("delete_txt", Method::DELETE, zone, name, None, &[404]);
        let reply = self.inner.client.send(&call).await?;
        if reply.status == StatusCode::NOT_FOUND {
            if let NotFound::UnknownDomain | NotFound::NotGandi = classify_404(&reply.body) {
                return Err(self.not_found_error(zone, &call.route, &reply));
            }
        }
        self.set_wire_forms(zone, name, HashMap::new());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn next_links_are_found_among_several_links() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::LINK,
            HeaderValue::from_static(
                r#"<https://api.gandi.net/v5/livedns/domains?page=1>; rel="prev", <https://api.gandi.net/v5/livedns/domains?page=3>; rel="next""#,
            ),
        );
        assert!(has_next_link(&h));
        h.insert(
            http::header::LINK,
            HeaderValue::from_static(r#"<https://x/?page=1>; rel="prev""#),
        );
        assert!(!has_next_link(&h));
        assert!(!has_next_link(&HeaderMap::new()));
    }

    #[test]
    fn a_404_is_read_as_unknown_domain_missing_or_not_gandi() {
        assert!(matches!(
            classify_404(br#"{"code": 404, "message": "Unknown domain", "object": "LocalizedHTTPNotFound", "cause": "Not Found"}"#),
            NotFound::UnknownDomain
        ));
        assert!(matches!(
            classify_404(br#"{"code": 404, "message": "The resource could not be found.", "object": "HTTPNotFound", "cause": "Not Found"}"#),
            NotFound::Missing
        ));
        assert!(matches!(classify_404(b""), NotFound::Missing));
        assert!(matches!(
            classify_404(b"<html>nginx</html>"),
            NotFound::NotGandi
        ));
    }

    #[test]
    fn default_ttls_outside_gandis_bounds_are_refused() {
        let cfg = GandiConfig::new(crate::Credentials::personal_access_token("t"));
        let e = GandiStore::new(cfg.clone().with_default_ttl(60)).unwrap_err();
        assert!(e.to_string().contains("default_ttl 60"), "{e}");
        assert!(GandiStore::new(cfg.with_default_ttl(3600)).is_ok());
    }

    #[test]
    fn limits_declare_gandis_ttl_bounds_create_and_the_configured_batch_window() {
        let cfg = GandiConfig::new(crate::Credentials::api_key("k"));
        let store = GandiStore::new(cfg.clone()).unwrap();
        let l = store.limits();
        assert_eq!(
            (l.min_ttl, l.max_ttl, l.supports_create, l.batch_window),
            (300, 2_592_000, true, Duration::from_millis(25))
        );
        let store = GandiStore::new(cfg.with_batch_window(Duration::from_millis(3))).unwrap();
        assert_eq!(store.limits().batch_window, Duration::from_millis(3));
    }
}
