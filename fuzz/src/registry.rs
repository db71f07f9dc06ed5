//! The bodies of the registry fuzz targets: the `WWW-Authenticate` parser and the scope parser
//! of `dns01-registry`, and the gateway's name rewriter, as plain functions of `&[u8]`.
//!
//! Compiled twice, like [`crate::targets`]: into this crate's libFuzzer targets, and through
//! `#[path]` into the gateway's integration tests (`registry-gateway/tests/integration/fuzz.rs`),
//! which replay `fuzz/seeds/<target>/` and proptest-generated inputs in every CI run. Keep it
//! free of dependencies other than `dns01-registry`, `dns01-registry-gateway` and `url`.

use std::sync::OnceLock;

use dns01_registry::Repository;
use dns01_registry::auth::{Scope, parse_scopes, parse_www_authenticate};
use dns01_registry_gateway::Config;
use dns01_registry_gateway::rewrite::{self, ApiPath, Location};
use dns01_registry_gateway::route::Route;

/// A target's body.
pub type Target = fn(&[u8]);

/// The registry targets, by name (`fuzz/fuzz_targets/<name>.rs`, `fuzz/seeds/<name>/`).
pub const REGISTRY_TARGETS: &[(&str, Target)] = &[
    ("www_authenticate", www_authenticate),
    ("scope_parser", scope_parser),
    ("name_rewriter", name_rewriter),
];

/// `WWW-Authenticate` values: parsing never panics; what parses prints back (each challenge,
/// and the whole list joined by `, `) to text that parses to the same challenges; scopes read
/// from a challenge print back to themselves.
pub fn www_authenticate(data: &[u8]) {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(challenges) = parse_www_authenticate(header) else {
        return;
    };
    assert!(
        !challenges.is_empty(),
        "Ok with no challenge for {header:?}"
    );
    for c in &challenges {
        assert!(!c.scheme.is_empty(), "empty scheme from {header:?}");
        let printed = c.to_string();
        let again = parse_www_authenticate(&printed).unwrap_or_else(|e| {
            panic!("{printed:?} (printed from {header:?}) does not parse: {e}")
        });
        assert_eq!(again, vec![c.clone()], "{header:?} → {printed:?}");
        for s in c.scopes() {
            assert_eq!(s.to_string().parse::<Scope>().ok(), Some(s.clone()));
        }
    }
    let joined = challenges
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    assert_eq!(
        parse_www_authenticate(&joined).ok().as_ref(),
        Some(&challenges),
        "{header:?} → {joined:?}"
    );
}

/// Token scopes: parsing never panics; a parsed scope has a word type, a name without white
/// space, and prints back to itself; `parse_scopes` over space-separated values agrees with
/// parsing each piece.
pub fn scope_parser(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines() {
        if let Ok(scope) = line.parse::<Scope>() {
            assert!(!scope.resource_type.is_empty());
            assert!(!scope.name.is_empty() && !scope.name.contains(char::is_whitespace));
            let printed = scope.to_string();
            assert_eq!(
                printed.parse::<Scope>().ok().as_ref(),
                Some(&scope),
                "{line:?} → {printed:?}"
            );
            assert_eq!(
                printed, line,
                "a scope that parses prints as it was written"
            );
        }
    }
    let pieces: Vec<&str> = text.split(' ').filter(|s| !s.is_empty()).collect();
    let each: Result<Vec<Scope>, _> = pieces.iter().map(|p| p.parse::<Scope>()).collect();
    assert_eq!(parse_scopes([text]).ok(), each.ok(), "{text:?}");
}

/// Routes of each form: custom domain (upstream prefix), mirror path (client prefix), host per
/// upstream (neither), and both prefixes at once.
fn routes() -> &'static [Route] {
    static ROUTES: OnceLock<Vec<Route>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        Config::from_yaml(
            "routes:\n\
             - {name: domain, host: images.customer.example, upstream: 'https://registry.internal:5000', upstream_prefix: proj-a}\n\
             - {name: mirror, path: proxy/app1/ghcr.io, upstream: 'https://ghcr.io'}\n\
             - {name: host, host: ghcr.mirror.example, upstream: 'https://ghcr.io/'}\n\
             - {name: both, path: team/x, upstream: 'http://127.0.0.1:5001', upstream_prefix: proj-b/sub}\n",
        )
        .map(|c| c.routes)
        .unwrap_or_else(|e| panic!("the target's routes do not load: {e}"))
    })
}

/// The gateway's name rewriting, on the first line as a repository name (client side, then
/// upstream side) and the rest as an upstream `WWW-Authenticate` and `Location`: mapping a
/// name to the upstream and back gives the original, on every route and for both directions;
/// an API path rewritten for the upstream parses back to the upstream name; an upstream
/// `Location` into its API comes back as the gateway path with the client name and the same
/// query; a rewritten challenge names only client names that map back to scopes the upstream
/// asked for, with the same actions, and the gateway's realm. No input panics.
pub fn name_rewriter(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    for route in routes() {
        // Whatever the text, the parsers of upstream values must not panic.
        let _ = rewrite::location(rest, route);
        let _ = rewrite::link(rest, route);
        let _ = rewrite::mount_query(rest, |n| route.to_upstream(n));
        check_challenge(rest, route);
        let Ok(name) = Repository::parse(first) else {
            continue;
        };
        if let Some(up) = route.to_upstream(&name) {
            assert_eq!(
                route.to_client(&up).as_ref(),
                Some(&name),
                "{} via {}",
                name,
                route.name
            );
            if let Some(prefix) = &route.upstream_prefix {
                assert!(up.strip_prefix(prefix).is_some(), "{up} outside {prefix}");
            }
            check_paths(&name, &up, route);
        }
        if let Some(client) = route.to_client(&name) {
            assert_eq!(
                route.to_upstream(&client).as_ref(),
                Some(&name),
                "{} back via {}",
                name,
                route.name
            );
        }
    }
}

fn check_paths(client: &Repository, up: &Repository, route: &Route) {
    for tail in [
        "manifests/v1",
        "blobs/uploads/",
        "blobs/uploads/abc-1",
        "tags/list",
    ] {
        let path = format!("{client}/{tail}");
        let api = ApiPath::parse(&path).unwrap_or_else(|| panic!("{path:?} does not parse"));
        assert_eq!(&api.name, client, "{path:?}");
        let upstream_path = api.path_for(up);
        let back = ApiPath::parse(&upstream_path["/v2/".len()..])
            .unwrap_or_else(|| panic!("{upstream_path:?} does not parse"));
        assert_eq!(&back.name, up);
        assert_eq!(back.endpoint, api.endpoint);
        // The upstream answers with a Location into its API: the client sees its own name.
        let location = format!("/v2/{up}/{tail}?_state=a%2Fb&x=1");
        match rewrite::location(&location, route) {
            Some(Location::Gateway(p)) => {
                assert_eq!(p, format!("/v2/{client}/{tail}?_state=a%2Fb&x=1"));
            }
            other => panic!("{location:?} via {} gave {other:?}", route.name),
        }
    }
}

fn check_challenge(header: &str, route: &Route) {
    const REALM: &str = "https://gateway.example/token";
    let Some(out) = rewrite::challenge(header, route, REALM, "gateway") else {
        return;
    };
    let asked: Vec<Scope> = parse_www_authenticate(header)
        .map(|cs| cs.iter().flat_map(|c| c.scopes()).collect())
        .unwrap_or_default();
    let given = parse_www_authenticate(&out)
        .unwrap_or_else(|e| panic!("rewritten {out:?} does not parse: {e}"));
    for c in &given {
        assert!(c.is("bearer"), "{out:?}");
        assert_eq!(c.realm(), Some(REALM));
        for s in c.scopes() {
            if s.resource_type != "repository" {
                assert!(asked.contains(&s), "{s} was never asked for in {header:?}");
                continue;
            }
            let client = Repository::parse(&s.name)
                .unwrap_or_else(|e| panic!("rewritten scope {s} has a bad name: {e}"));
            let up = route
                .to_upstream(&client)
                .unwrap_or_else(|| panic!("{client} in {out:?} is not a name of {}", route.name));
            let original = Scope {
                name: up.to_string(),
                ..s.clone()
            };
            assert!(
                asked.contains(&original),
                "{s} ({original}) not asked for in {header:?}"
            );
        }
    }
}
