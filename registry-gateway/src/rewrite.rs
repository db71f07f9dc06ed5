//! Name rewriting at every place a repository name crosses the gateway: `/v2/<name>/…` paths,
//! `Location`, `WWW-Authenticate` (realm and every scope), the `from=` of cross-repository
//! mounts, `_catalog` and `tags/list` bodies and their `Link` pagination, and names in error
//! bodies. Pure functions over a [`Route`]; no I/O.

use dns01_registry::Repository;
use dns01_registry::auth::{Challenge, Scope, parse_www_authenticate};
use dns01_registry::client::next_link_target;
use url::Url;

use crate::route::Route;

/// What an API path under `/v2/<name>/` addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `manifests/<reference>`.
    Manifest(String),
    /// `blobs/<digest>`.
    Blob(String),
    /// `blobs/uploads/` (start an upload, or mount).
    UploadStart,
    /// `blobs/uploads/<id>`.
    Upload(String),
    /// `tags/list`.
    Tags,
    /// `referrers/<digest>`.
    Referrers(String),
}

/// A parsed `/v2/<name>/<endpoint>` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPath {
    /// The repository name.
    pub name: Repository,
    /// What it addresses.
    pub endpoint: Endpoint,
}

impl ApiPath {
    /// Parses the part after `/v2/` (`proj/app/manifests/v1`). The endpoint is read from
    /// the end, so a name holding `manifests` or `blobs` as a component still parses.
    pub fn parse(rest: &str) -> Option<Self> {
        let segs: Vec<&str> = rest.split('/').collect();
        let n = segs.len();
        let name_of = |k: usize| -> Option<Repository> {
            (n > k)
                .then(|| Repository::parse(&segs[..n - k].join("/")).ok())
                .flatten()
        };
        let last = *segs.last()?;
        let prev = |k: usize| n.checked_sub(k).map(|i| segs[i]);
        let (k, endpoint) = match (prev(3), prev(2), last) {
            (Some("blobs"), Some("uploads"), "") => (3, Endpoint::UploadStart),
            (Some("blobs"), Some("uploads"), id) if !id.contains(['?', '#']) => {
                (3, Endpoint::Upload(id.to_owned()))
            }
            (_, Some("blobs"), "uploads") => (2, Endpoint::UploadStart),
            (_, Some("tags"), "list") => (2, Endpoint::Tags),
            (_, Some("manifests"), r) if !r.is_empty() => (2, Endpoint::Manifest(r.to_owned())),
            (_, Some("blobs"), d) if d.contains(':') => (2, Endpoint::Blob(d.to_owned())),
            (_, Some("referrers"), d) if d.contains(':') => (2, Endpoint::Referrers(d.to_owned())),
            _ => return None,
        };
        Some(Self {
            name: name_of(k)?,
            endpoint,
        })
    }

    /// The path for `name` (`/v2/<name>/manifests/v1`).
    pub fn path_for(&self, name: &Repository) -> String {
        let tail = match &self.endpoint {
            Endpoint::Manifest(r) => format!("manifests/{r}"),
            Endpoint::Blob(d) => format!("blobs/{d}"),
            Endpoint::UploadStart => "blobs/uploads/".to_owned(),
            Endpoint::Upload(id) => format!("blobs/uploads/{id}"),
            Endpoint::Tags => "tags/list".to_owned(),
            Endpoint::Referrers(d) => format!("referrers/{d}"),
        };
        format!("/v2/{name}/{tail}")
    }
}

/// Where a `Location` of the upstream points, seen from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Back into the upstream's API: the gateway path (with query) that serves it.
    Gateway(String),
    /// Elsewhere (a blob store): the absolute URL.
    External(Url),
}

/// Maps an upstream `Location` (absolute or relative to the upstream) for the client: API
/// paths of the upstream become gateway paths with client names; anything else becomes an
/// absolute URL. `None` when it is not a URL, or an upstream API path for a name the route
/// does not show.
pub fn location(value: &str, route: &Route) -> Option<Location> {
    let abs = route.upstream.join(value).ok()?;
    if abs.origin() != route.upstream.origin() {
        return Some(Location::External(abs));
    }
    let Some(rest) = abs.path().strip_prefix("/v2/") else {
        return Some(Location::External(abs));
    };
    let api = ApiPath::parse(rest)?;
    let client = route.to_client(&api.name)?;
    let mut path = api.path_for(&client);
    if let Some(q) = abs.query() {
        path.push('?');
        path.push_str(q);
    }
    Some(Location::Gateway(path))
}

/// A scope with its repository name mapped by `map`; `registry:catalog:*` unchanged; `None`
/// when the name has no mapping (the scope is dropped, never widened).
pub fn map_scope(scope: &Scope, map: impl Fn(&Repository) -> Option<Repository>) -> Option<Scope> {
    if scope.resource_type != "repository" {
        return Some(scope.clone());
    }
    let name = Repository::parse(&scope.name).ok()?;
    Some(Scope {
        name: map(&name)?.to_string(),
        ..scope.clone()
    })
}

/// Rewrites an upstream `WWW-Authenticate` for the client: each Bearer challenge's realm
/// becomes `realm`, its service `service`, and **every** scope (repeated `scope`
/// parameters, several scopes in one, several actions) gets its client name; scopes for
/// names the route does not show are dropped. Basic challenges are dropped (the upstream's
/// credentials are the gateway's business). `None` when nothing is left.
pub fn challenge(header: &str, route: &Route, realm: &str, service: &str) -> Option<String> {
    let challenges = parse_www_authenticate(header).ok()?;
    let out: Vec<String> = challenges
        .into_iter()
        .filter(|c| c.is("bearer"))
        .map(|c| {
            let scopes: Vec<String> = c
                .scopes()
                .iter()
                .filter_map(|s| map_scope(s, |n| route.to_client(n)))
                .map(|s| s.to_string())
                .collect();
            let mut out = Challenge::new(&c.scheme)
                .param("realm", realm)
                .param("service", service);
            if !scopes.is_empty() {
                out = out.param("scope", &scopes.join(" "));
            }
            if let Some(e) = c.error() {
                out = out.param("error", e);
            }
            out.to_string()
        })
        .collect();
    (!out.is_empty()).then(|| out.join(", "))
}

/// The query of an upload start for the upstream: `from=` (a client name) mapped to its
/// upstream name through `map_from`; when it has none (another route, or refused), `from`
/// and `mount` are both dropped so the upload starts plainly, as the spec lets a registry
/// answer a mount it cannot do. Other parameters are kept in order.
pub fn mount_query(query: &str, map_from: impl Fn(&Repository) -> Option<Repository>) -> String {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let from = pairs
        .iter()
        .find(|(k, _)| k == "from")
        .and_then(|(_, v)| Repository::parse(v).ok())
        .and_then(|r| map_from(&r));
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        match (k.as_str(), &from) {
            ("from", Some(f)) => {
                out.append_pair(k, f.as_str());
            }
            ("from" | "mount", None) => {}
            _ => {
                out.append_pair(k, v);
            }
        }
    }
    out.finish()
}

/// A `_catalog` page for the client: upstream names the route shows and `keep` accepts,
/// with their client names.
pub fn catalog_body(
    body: &[u8],
    route: &Route,
    keep: impl Fn(&Repository) -> bool,
) -> Option<Vec<u8>> {
    let mut v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let repos = v.get_mut("repositories")?;
    let names: Vec<serde_json::Value> = repos
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| Repository::parse(n.as_str()?).ok())
        .filter_map(|u| {
            let c = route.to_client(&u)?;
            keep(&u).then(|| c.to_string().into())
        })
        .collect();
    *repos = names.into();
    serde_json::to_vec(&v).ok()
}

/// A `tags/list` body with the client name in `name` and only the tags `keep` accepts
/// (an allow-list hides the others).
pub fn tags_body(body: &[u8], client: &Repository, keep: impl Fn(&str) -> bool) -> Option<Vec<u8>> {
    let mut v: serde_json::Value = serde_json::from_slice(body).ok()?;
    *v.get_mut("name")? = client.as_str().into();
    if let Some(tags) = v.get_mut("tags").and_then(|t| t.as_array_mut()) {
        tags.retain(|t| t.as_str().is_some_and(&keep));
    }
    serde_json::to_vec(&v).ok()
}

/// A `Link: <…>; rel="next"` of a tags or catalog page, for the client: the path gets the
/// client name, a catalog's `last` its client name.
pub fn link(value: &str, route: &Route) -> Option<String> {
    let target = next_link_target(value)?;
    let abs = route.upstream.join(target).ok()?;
    let path = if abs.path() == "/v2/_catalog" {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in abs.query_pairs() {
            if k == "last" {
                let last = Repository::parse(&v).ok()?;
                q.append_pair("last", route.to_client(&last)?.as_str());
            } else {
                q.append_pair(&k, &v);
            }
        }
        format!("/v2/_catalog?{}", q.finish())
    } else {
        match location(target, route)? {
            Location::Gateway(p) => p,
            Location::External(_) => return None,
        }
    };
    Some(format!("<{path}>; rel=\"next\""))
}

/// A client's catalog `last` for the upstream.
pub fn catalog_query(query: &str, route: &Route) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k == "last" {
            if let Some(u) = Repository::parse(&v)
                .ok()
                .and_then(|r| route.to_upstream(&r))
            {
                out.append_pair("last", u.as_str());
            }
        } else {
            out.append_pair(&k, &v);
        }
    }
    out.finish()
}

/// An upstream error body with every mention of the upstream name replaced by the client
/// name (messages, `detail` objects and the `detail` access lists of a 401), so a client
/// never sees the upstream's namespace.
pub fn error_body(body: &[u8], upstream: &Repository, client: &Repository) -> Option<Vec<u8>> {
    fn walk(v: &mut serde_json::Value, from: &str, to: &str) {
        match v {
            serde_json::Value::String(s) if s.contains(from) => *s = replace_name(s, from, to),
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(x, from, to)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|x| walk(x, from, to)),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("errors")?;
    walk(&mut v, upstream.as_str(), client.as_str());
    serde_json::to_vec(&v).ok()
}

/// Replaces `from` by `to` where it stands as a whole name (not inside a longer one).
fn replace_name(s: &str, from: &str, to: &str) -> String {
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-');
    if from.is_empty() {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(from) {
        let before = if i > 0 {
            rest[..i].chars().last()
        } else {
            out.chars().last()
        };
        let after = rest[i + from.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_some_and(name_char) || after.is_some_and(name_char) {
            out.push_str(from);
        } else {
            out.push_str(to);
        }
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CredentialsConfig;
    use crate::route::RedirectMode;
    use proptest::prelude::*;

    fn route() -> Route {
        Route {
            name: "customer-a".into(),
            host: Some("images.customer.com".into()),
            path: None,
            upstream: Url::parse("http://registry.internal:5000/").unwrap(),
            upstream_prefix: Some(Repository::parse("proj-a").unwrap()),
            project: None,
            blob_redirects: RedirectMode::Pass,
            credentials: CredentialsConfig::None,
            allow: crate::allow::AllowList::default(),
            browser_page: None,
            wrap_in_index: false,
            maintenance: None,
        }
    }

    fn repo(s: &str) -> Repository {
        Repository::parse(s).unwrap()
    }

    #[test]
    fn api_paths_parse_from_the_end() {
        let table = [
            (
                "proj/app/manifests/v1",
                "proj/app",
                Endpoint::Manifest("v1".into()),
            ),
            (
                "a/manifests/b/manifests/sha256:ab",
                "a/manifests/b",
                Endpoint::Manifest("sha256:ab".into()),
            ),
            (
                "app/blobs/sha256:00",
                "app",
                Endpoint::Blob("sha256:00".into()),
            ),
            ("app/blobs/uploads/", "app", Endpoint::UploadStart),
            ("app/blobs/uploads", "app", Endpoint::UploadStart),
            (
                "x/blobs/uploads/abc-1",
                "x",
                Endpoint::Upload("abc-1".into()),
            ),
            ("x/tags/list", "x", Endpoint::Tags),
            (
                "x/referrers/sha256:1",
                "x",
                Endpoint::Referrers("sha256:1".into()),
            ),
        ];
        for (path, name, endpoint) in table {
            let p = ApiPath::parse(path).unwrap_or_else(|| panic!("{path}"));
            assert_eq!((p.name.as_str(), &p.endpoint), (name, &endpoint), "{path}");
            let again = p.path_for(&p.name);
            assert_eq!(
                ApiPath::parse(again.strip_prefix("/v2/").unwrap()),
                Some(p),
                "{path}"
            );
        }
        for bad in [
            "",
            "manifests/v1",
            "App/manifests/v1",
            "x/blobs/nodigest",
            "x/other/y",
            "x/manifests/",
        ] {
            assert_eq!(ApiPath::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn locations_are_resolved_against_the_upstream_and_mapped_back() {
        let r = route();
        let table = [
            (
                "/v2/proj-a/app/blobs/uploads/u1?_state=s%2F1",
                Some(Location::Gateway(
                    "/v2/app/blobs/uploads/u1?_state=s%2F1".into(),
                )),
            ),
            (
                "http://registry.internal:5000/v2/proj-a/app/blobs/sha256:ab",
                Some(Location::Gateway("/v2/app/blobs/sha256:ab".into())),
            ),
            (
                "/artifacts-downloads/x?sig=1",
                Some(Location::External(
                    Url::parse("http://registry.internal:5000/artifacts-downloads/x?sig=1")
                        .unwrap(),
                )),
            ),
            (
                "https://blobs.example/b?sig=2",
                Some(Location::External(
                    Url::parse("https://blobs.example/b?sig=2").unwrap(),
                )),
            ),
            // an upstream name the route does not show
            ("/v2/proj-b/app/blobs/uploads/u1", None),
        ];
        for (value, want) in table {
            assert_eq!(location(value, &r), want, "{value}");
        }
    }

    #[test]
    fn every_scope_of_a_challenge_is_rewritten_and_the_realm_is_the_gateway() {
        let r = route();
        let header = r#"Bearer realm="https://auth.internal/token",service="registry.internal",scope="repository:proj-a/app:pull,push repository:proj-a/lib:pull",scope="registry:catalog:*",scope="repository:proj-b/x:pull",error="insufficient_scope", Basic realm="x""#;
        let got = challenge(
            header,
            &r,
            "https://images.customer.com/token",
            "images.customer.com",
        )
        .unwrap();
        let c = &parse_www_authenticate(&got).unwrap()[0];
        assert_eq!(c.realm(), Some("https://images.customer.com/token"));
        assert_eq!(c.service(), Some("images.customer.com"));
        assert_eq!(c.error(), Some("insufficient_scope"));
        let scopes: Vec<String> = c.scopes().iter().map(ToString::to_string).collect();
        assert_eq!(
            scopes,
            [
                "repository:app:pull,push",
                "repository:lib:pull",
                "registry:catalog:*"
            ]
        );
        assert!(!got.contains("proj-"), "{got}");
        assert_eq!(challenge(r#"Basic realm="x""#, &r, "r", "s"), None);
    }

    #[test]
    fn a_mount_from_is_mapped_or_dropped_with_its_mount() {
        let q = "mount=sha256%3Aab&from=lib";
        assert_eq!(
            mount_query(q, |f| Some(repo(&format!("proj-a/{f}")))),
            "mount=sha256%3Aab&from=proj-a%2Flib"
        );
        assert_eq!(mount_query(q, |_| None), "");
        assert_eq!(
            mount_query("digest=sha256%3A1", |_| None),
            "digest=sha256%3A1"
        );
    }

    #[test]
    fn catalog_and_tags_pages_show_client_names_only() {
        let r = route();
        let body = br#"{"repositories":["proj-a/app","proj-b/secret","proj-a/lib/x"]}"#;
        let got = catalog_body(body, &r, |_| true).unwrap();
        assert_eq!(got, br#"{"repositories":["app","lib/x"]}"#);
        let got = catalog_body(body, &r, |u| u.as_str() != "proj-a/app").unwrap();
        assert_eq!(got, br#"{"repositories":["lib/x"]}"#);
        let got = tags_body(
            br#"{"name":"proj-a/app","tags":["v1"]}"#,
            &repo("app"),
            |_| true,
        )
        .unwrap();
        assert_eq!(got, br#"{"name":"app","tags":["v1"]}"#);
        let got = tags_body(
            br#"{"name":"proj-a/app","tags":["v1","dev"]}"#,
            &repo("app"),
            |t| t != "dev",
        )
        .unwrap();
        assert_eq!(got, br#"{"name":"app","tags":["v1"]}"#);
        let got = tags_body(
            br#"{"name":"proj-a/app","tags":null}"#,
            &repo("app"),
            |_| true,
        )
        .unwrap();
        assert_eq!(got, br#"{"name":"app","tags":null}"#);
    }

    #[test]
    fn link_headers_get_client_names() {
        let r = route();
        assert_eq!(
            link(r#"</v2/proj-a/app/tags/list?last=v1&n=1>; rel="next""#, &r).as_deref(),
            Some(r#"</v2/app/tags/list?last=v1&n=1>; rel="next""#)
        );
        assert_eq!(
            link(r#"</v2/_catalog?last=proj-a%2Fapp&n=1>; rel="next""#, &r).as_deref(),
            Some(r#"</v2/_catalog?last=app&n=1>; rel="next""#)
        );
        assert_eq!(catalog_query("n=1&last=app", &r), "n=1&last=proj-a%2Fapp");
    }

    #[test]
    fn error_bodies_name_the_client_name_only() {
        let body = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"proj-a/app"}},{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Name":"proj-a/app","Action":"pull"},{"Name":"proj-a/apps"}]}]}"#;
        let got = String::from_utf8(error_body(body, &repo("proj-a/app"), &repo("app")).unwrap())
            .unwrap();
        assert!(!got.contains("\"proj-a/app\""), "{got}");
        assert!(got.contains(r#""Name":"app""#), "{got}");
        assert!(
            got.contains(r#""Name":"proj-a/apps""#),
            "a longer name is left alone: {got}"
        );
        assert_eq!(
            replace_name("no proj-a/app here", "proj-a/app", "app"),
            "no app here"
        );
        assert_eq!(
            error_body(b"Method not allowed", &repo("a"), &repo("b")),
            None
        );
    }

    proptest! {
        #[test]
        fn the_rewriters_never_panic_whatever_the_upstream_sends(s in ".{0,200}") {
            let r = route();
            let _ = challenge(&s, &r, "r", "s");
            let _ = location(&s, &r);
            let _ = link(&s, &r);
            let _ = mount_query(&s, |f| r.to_upstream(f));
            let _ = catalog_query(&s, &r);
            let _ = ApiPath::parse(&s);
            let _ = error_body(s.as_bytes(), &repo("proj-a/app"), &repo("app"));
            let _ = replace_name(&s, "a", "b");
            prop_assert_eq!(replace_name(&s, "", "b"), s.clone());
        }

        #[test]
        fn a_mapped_location_never_leaves_the_route_or_shows_the_prefix(
            name in "[a-z0-9]{1,6}(/[a-z0-9]{1,6}){0,2}",
            query in "[a-z0-9=&%]{0,20}",
        ) {
            let value = format!("/v2/proj-a/{name}/blobs/uploads/x1?{query}");
            match location(&value, &route()) {
                Some(Location::Gateway(p)) => {
                    prop_assert!(p.starts_with(&format!("/v2/{name}/blobs/uploads/x1")), "{}", p);
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }

        #[test]
        fn api_paths_round_trip(name in "[a-z0-9]{1,6}(/[a-z0-9]{1,6}){0,3}", tag in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}") {
            let p = ApiPath::parse(&format!("{name}/manifests/{tag}")).unwrap();
            prop_assert_eq!(p.path_for(&p.name), format!("/v2/{name}/manifests/{tag}"));
        }
    }
}
