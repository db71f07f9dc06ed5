//! Routes: an incoming host and name prefix mapped to an upstream registry and a repository
//! prefix, in both directions. Pure: no I/O.
//!
//! A client name `N` on a route with `path` `P` and `upstream_prefix` `U` is the upstream name
//! `U/(N without P/)`; the way back strips `U/` and puts `P/` in front. The three forms of the
//! issue are three settings of the same two fields:
//! - custom domain: `host: images.customer.com`, `upstream_prefix: proj-a`
//!   (`app` → `proj-a/app`);
//! - mirror path: `path: proxy/app1/ghcr.io` (`proxy/app1/ghcr.io/org/x` → `org/x` at ghcr.io);
//! - host per upstream: `host: ghcr.mirror.example`, neither prefix.

use dns01_registry::Repository;
use serde::Deserialize;
use url::Url;

use crate::allow::AllowList;
use crate::config::CredentialsConfig;

/// What to do with an upstream's redirect of a blob GET.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedirectMode {
    /// Pass the redirect to the client (relative ones made absolute against the upstream):
    /// cheap for public blob stores.
    #[default]
    Pass,
    /// Follow it and stream the blob: for clients behind egress allow-lists.
    Follow,
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// A unique name, for messages, logs and metrics.
    pub name: String,
    /// The incoming host (lowercase, no port); `None`: any host.
    pub host: Option<String>,
    /// The client-side name prefix (`proxy/app1/ghcr.io`); `None`: the whole namespace.
    pub path: Option<Repository>,
    /// The upstream registry's base URL (`https://registry.internal:5000/`).
    pub upstream: Url,
    /// The upstream-side repository prefix (`proj-a`).
    pub upstream_prefix: Option<Repository>,
    /// The project every name of the route belongs to; `None`: the first component of the
    /// upstream name (`proj-a/app` → `proj-a`).
    pub project: Option<String>,
    /// Blob redirects: passed through or followed.
    pub blob_redirects: RedirectMode,
    /// Credentials for the upstream.
    pub credentials: CredentialsConfig,
    /// What clients may pull and push (empty: everything).
    pub allow: AllowList,
    /// Where a browser's `GET /` on the route's host is sent.
    pub browser_page: Option<String>,
    /// Store a single-platform manifest pushed under a tag as an OCI index of one entry
    /// under that tag (every tag an index, Molnett's standard).
    pub wrap_in_index: bool,
    /// Where the registry janitor's read-only record is: a read-only answer then says until
    /// when the window lasts at the latest.
    pub maintenance: Option<crate::maintenance::RecordSource>,
}

impl Route {
    /// Whether the route serves `host` (port stripped, any case).
    pub fn serves_host(&self, host: &str) -> bool {
        self.host
            .as_deref()
            .is_none_or(|h| h.eq_ignore_ascii_case(strip_port(host)))
    }

    /// The upstream name of client name `name`, if the route covers it.
    pub fn to_upstream(&self, name: &Repository) -> Option<Repository> {
        let rest = match &self.path {
            Some(p) => name.strip_prefix(p)?,
            None => name.clone(),
        };
        match &self.upstream_prefix {
            Some(u) => rest.prefixed(u).ok(),
            None => Some(rest),
        }
    }

    /// The client name of upstream name `name`, if the route shows it.
    pub fn to_client(&self, name: &Repository) -> Option<Repository> {
        let rest = match &self.upstream_prefix {
            Some(u) => name.strip_prefix(u)?,
            None => name.clone(),
        };
        match &self.path {
            Some(p) => rest.prefixed(p).ok(),
            None => Some(rest),
        }
    }

    /// The project an upstream name belongs to.
    pub fn project_of(&self, upstream_name: &Repository) -> String {
        self.project.clone().unwrap_or_else(|| {
            upstream_name
                .components()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
    }

    /// `host` of the upstream URL, with port: for messages.
    pub fn upstream_host(&self) -> String {
        match (self.upstream.host_str(), self.upstream.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => self.upstream.to_string(),
        }
    }
}

/// `host[:port]` → `host` (`[::1]:5000` → `[::1]`).
pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':')
        .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
}

/// The routes of a configuration.
#[derive(Debug, Clone, Default)]
pub struct Routes(pub Vec<Route>);

impl Routes {
    /// The route for `name` on `host` and the upstream name: a route naming the host wins
    /// over one for any host, then the longest `path`.
    pub fn resolve(&self, host: &str, name: &Repository) -> Option<(&Route, Repository)> {
        self.0
            .iter()
            .filter(|r| r.serves_host(host))
            .filter_map(|r| r.to_upstream(name).map(|u| (r, u)))
            .max_by_key(|(r, _)| {
                (
                    r.host.is_some(),
                    r.path.as_ref().map_or(0, |p| p.as_str().len()),
                )
            })
    }

    /// The route that serves `host` without a `path` (the one `_catalog` goes to).
    pub fn for_host(&self, host: &str) -> Option<&Route> {
        self.0
            .iter()
            .filter(|r| r.serves_host(host) && r.path.is_none())
            .max_by_key(|r| r.host.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn route(
        host: Option<&str>,
        path: Option<&str>,
        prefix: Option<&str>,
        upstream: &str,
    ) -> Route {
        Route {
            name: "r".into(),
            host: host.map(str::to_owned),
            path: path.map(|p| Repository::parse(p).unwrap()),
            upstream: Url::parse(upstream).unwrap(),
            upstream_prefix: prefix.map(|p| Repository::parse(p).unwrap()),
            project: None,
            blob_redirects: RedirectMode::Pass,
            credentials: CredentialsConfig::None,
            allow: AllowList::default(),
            browser_page: None,
            wrap_in_index: false,
            maintenance: None,
        }
    }

    fn repo(s: &str) -> Repository {
        Repository::parse(s).unwrap()
    }

    #[test]
    fn the_three_forms_map_names_both_ways() {
        let table = [
            // custom domain
            (
                route(
                    Some("images.customer.com"),
                    None,
                    Some("proj-a"),
                    "http://reg/",
                ),
                "images.customer.com:443",
                "app",
                Some("proj-a/app"),
            ),
            // mirror path
            (
                route(None, Some("proxy/app1/ghcr.io"), None, "https://ghcr.io/"),
                "gw",
                "proxy/app1/ghcr.io/org/tool",
                Some("org/tool"),
            ),
            // host per upstream
            (
                route(Some("ghcr.gw"), None, None, "https://ghcr.io/"),
                "GHCR.GW",
                "org/tool",
                Some("org/tool"),
            ),
            // both prefixes
            (
                route(None, Some("p"), Some("u/v"), "http://reg/"),
                "x",
                "p/a",
                Some("u/v/a"),
            ),
            // not under the path
            (
                route(None, Some("proxy/app1"), None, "http://reg/"),
                "x",
                "proxy/app2/a",
                None,
            ),
            // the prefix alone is no name
            (
                route(None, Some("proxy"), None, "http://reg/"),
                "x",
                "proxy",
                None,
            ),
            // another host
            (
                route(Some("a.example"), None, None, "http://reg/"),
                "b.example",
                "x",
                None,
            ),
        ];
        for (r, host, client, upstream) in table {
            let routes = Routes(vec![r.clone()]);
            let got = routes
                .resolve(host, &repo(client))
                .map(|(_, u)| u.to_string());
            assert_eq!(got.as_deref(), upstream, "{client} on {host}");
            if let Some(u) = upstream {
                assert_eq!(r.to_client(&repo(u)).unwrap().as_str(), client);
            }
        }
    }

    #[test]
    fn a_host_route_wins_over_an_any_host_route_and_the_longest_path_wins() {
        let routes = Routes(vec![
            route(None, None, None, "http://any/"),
            route(Some("a.example"), None, Some("pa"), "http://a/"),
            route(Some("a.example"), Some("m"), None, "http://m/"),
        ]);
        let (r, u) = routes.resolve("a.example", &repo("x/y")).unwrap();
        assert_eq!((r.upstream.as_str(), u.as_str()), ("http://a/", "pa/x/y"));
        let (r, u) = routes.resolve("a.example", &repo("m/y")).unwrap();
        assert_eq!((r.upstream.as_str(), u.as_str()), ("http://m/", "y"));
        let (r, _) = routes.resolve("b.example", &repo("m/y")).unwrap();
        assert_eq!(r.upstream.as_str(), "http://any/");
        assert_eq!(
            routes.for_host("a.example").unwrap().upstream.as_str(),
            "http://a/"
        );
    }

    #[test]
    fn names_outside_the_upstream_prefix_have_no_client_name() {
        let r = route(None, None, Some("proj-a"), "http://reg/");
        assert_eq!(r.to_client(&repo("proj-b/app")), None);
        assert_eq!(r.to_client(&repo("proj-ab/app")), None);
        assert_eq!(r.project_of(&repo("proj-a/app")), "proj-a");
    }

    #[test]
    fn ports_are_stripped_for_matching() {
        assert_eq!(strip_port("a.example:5000"), "a.example");
        assert_eq!(strip_port("a.example"), "a.example");
        assert_eq!(strip_port("[::1]:5000"), "[::1]");
    }

    proptest! {
        #[test]
        fn mapping_there_and_back_is_the_identity(
            name in "[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,3}",
            path in proptest::option::of("[a-z]{1,5}(/[a-z]{1,5}(\\.[a-z]{1,3})?){0,2}"),
            prefix in proptest::option::of("[a-z]{1,5}(/[a-z]{1,5}){0,1}"),
        ) {
            let r = route(None, path.as_deref(), prefix.as_deref(), "http://reg/");
            let client = match &path { Some(p) => repo(&format!("{p}/{name}")), None => repo(&name) };
            let up = r.to_upstream(&client).unwrap();
            prop_assert_eq!(r.to_client(&up).unwrap(), client);
        }
    }
}
