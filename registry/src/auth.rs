//! Registry authentication on the wire: `WWW-Authenticate` challenges ([`Challenge`]), token
//! scopes ([`Scope`]) and the token endpoint's answer ([`TokenResponse`]).
//!
//! The parsers take untrusted input (any registry's headers, any client's query string):
//! they return errors and never panic, whatever the bytes.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use dns01_core::Secret;
use serde::Deserialize;

use crate::error::{Error, NameKind, Result};

/// One challenge of a `WWW-Authenticate` header: `Bearer realm="…",service="…",scope="…"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme as sent (`Bearer`, `Basic`); compare with [`Challenge::is`].
    pub scheme: String,
    /// The parameters in order, names lowercased. A `token68` form is kept with an empty name.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// A challenge with no parameters.
    pub fn new(scheme: &str) -> Self {
        Self {
            scheme: scheme.to_owned(),
            params: Vec::new(),
        }
    }

    /// Adds a parameter.
    #[must_use]
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.params
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Whether the scheme is `scheme` (case-insensitive).
    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// The first value of parameter `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replaces the first value of `name`, or adds it.
    pub fn set(&mut self, name: &str, value: &str) {
        match self
            .params
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some((_, v)) => value.clone_into(v),
            None => self
                .params
                .push((name.to_ascii_lowercase(), value.to_owned())),
        }
    }

    /// `realm`: where to ask for a token (Bearer) or the protection space (Basic).
    pub fn realm(&self) -> Option<&str> {
        self.get("realm")
    }

    /// `service`: passed back to the token endpoint.
    pub fn service(&self) -> Option<&str> {
        self.get("service")
    }

    /// The scopes the registry asks for (the `scope` parameter holds them separated by
    /// spaces). Scopes that do not parse are skipped.
    pub fn scopes(&self) -> Vec<Scope> {
        self.params
            .iter()
            .filter(|(n, _)| n == "scope")
            .flat_map(|(_, v)| v.split(' ').filter_map(|s| s.parse().ok()))
            .collect()
    }

    /// `error`, e.g. `insufficient_scope` when a token lacks rights.
    pub fn error(&self) -> Option<&str> {
        self.get("error")
    }
}

impl fmt::Display for Challenge {
    /// The header form, values always quoted with `"` and `\` escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        for (i, (name, value)) in self.params.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { "," })?;
            if name.is_empty() {
                f.write_str(value)?;
                continue;
            }
            write!(f, "{name}=\"")?;
            for c in value.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\"")?;
        }
        Ok(())
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

/// A byte cursor over a header value.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn skip_ws_and_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> &[u8] {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }
    /// Whether a `name = value` (an auth-param) starts here, rather than a token68 that ends
    /// in `=` padding (`dXNlcg==`).
    fn at_param(&self) -> bool {
        let mut j = self.i;
        while self.s.get(j).copied().is_some_and(is_tchar) {
            j += 1;
        }
        if j == self.i {
            return false;
        }
        while matches!(self.s.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        if self.s.get(j) != Some(&b'=') {
            return false;
        }
        j += 1;
        while matches!(self.s.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        !matches!(self.s.get(j), None | Some(b'=' | b','))
    }
}

/// Parses a `WWW-Authenticate` header value into its challenges (there may be several,
/// `Bearer realm="a", Basic realm="b"`). Parameter values may be quoted strings with `\`
/// escapes or bare tokens (read up to `,` or white space).
///
/// # Errors
/// [`Error::InvalidName`] (kind `Challenge`) when the value is not a list of challenges.
pub fn parse_www_authenticate(header: &str) -> Result<Vec<Challenge>> {
    let bad = |reason: &str| Error::invalid(NameKind::Challenge, header, reason);
    let mut c = Cursor {
        s: header.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    c.skip_ws_and_commas();
    while c.peek().is_some() {
        let scheme = c.token();
        if scheme.is_empty() {
            return Err(bad("expected an auth scheme such as `Bearer`"));
        }
        let mut challenge = Challenge::new(&String::from_utf8_lossy(scheme));
        c.skip_ws();
        // token68 (`Basic dXNlcg==`) when no `name=` follows.
        if c.peek().is_some_and(is_token68_char) && !c.at_param() {
            let start = c.i;
            while c.peek().is_some_and(is_token68_char) {
                c.i += 1;
            }
            while c.peek() == Some(b'=') {
                c.i += 1;
            }
            let t = String::from_utf8_lossy(&c.s[start..c.i]).into_owned();
            challenge.params.push((String::new(), t));
            c.skip_ws();
            if !matches!(c.peek(), None | Some(b',')) {
                return Err(bad("unexpected text after a token68 value"));
            }
        } else {
            loop {
                c.skip_ws_and_commas();
                if !c.at_param() {
                    break;
                }
                let name = String::from_utf8_lossy(c.token()).to_ascii_lowercase();
                c.skip_ws();
                c.i += 1; // '=' (checked by at_param)
                c.skip_ws();
                let value = if c.peek() == Some(b'"') {
                    c.i += 1;
                    let mut v = Vec::new();
                    loop {
                        match c.peek() {
                            None => return Err(bad("a quoted string is not closed")),
                            Some(b'"') => {
                                c.i += 1;
                                break;
                            }
                            Some(b'\\') => {
                                c.i += 1;
                                let Some(e) = c.peek() else {
                                    return Err(bad("a quoted string ends with `\\`"));
                                };
                                v.push(e);
                                c.i += 1;
                            }
                            Some(b) => {
                                v.push(b);
                                c.i += 1;
                            }
                        }
                    }
                    String::from_utf8_lossy(&v).into_owned()
                } else {
                    // A bare value: a token, read leniently up to `,` or white space (some
                    // servers send unquoted URLs).
                    let start = c.i;
                    while c.peek().is_some_and(|b| {
                        !matches!(b, b',' | b' ' | b'\t' | b'"') && !b.is_ascii_control()
                    }) {
                        c.i += 1;
                    }
                    let t = &c.s[start..c.i];
                    if t.is_empty() {
                        return Err(bad("a parameter has no value"));
                    }
                    String::from_utf8_lossy(t).into_owned()
                };
                challenge.params.push((name, value));
                c.skip_ws();
                match c.peek() {
                    None | Some(b',') => {}
                    Some(_) => return Err(bad("expected `,` between parameters")),
                }
            }
        }
        out.push(challenge);
        c.skip_ws_and_commas();
    }
    if out.is_empty() {
        return Err(bad("it is empty"));
    }
    Ok(out)
}

/// A token scope: `type[(class)]:name:action[,action…]`, e.g.
/// `repository:proj-a/app:pull,push`, `registry:catalog:*`, `repository(plugin):x:pull`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    /// `repository`, `registry`, ...
    pub resource_type: String,
    /// The optional class (`plugin` in `repository(plugin)`).
    pub class: Option<String>,
    /// The resource name: a repository name, or `catalog`.
    pub name: String,
    /// The actions: `pull`, `push`, `delete`, `*`.
    pub actions: Vec<String>,
}

impl Scope {
    /// `repository:<name>:<actions>`.
    pub fn repository(name: &str, actions: &[&str]) -> Self {
        Self {
            resource_type: "repository".to_owned(),
            class: None,
            name: name.to_owned(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// `registry:catalog:*`.
    pub fn catalog() -> Self {
        Self {
            resource_type: "registry".to_owned(),
            class: None,
            name: "catalog".to_owned(),
            actions: vec!["*".to_owned()],
        }
    }

    /// Whether the scope grants `action` (directly or through `*`).
    pub fn allows(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a == action || a == "*")
    }
}

impl FromStr for Scope {
    type Err = Error;

    /// Parses one scope. The type is up to the first `:`, the actions after the last one,
    /// the name in between (so a name holding `host:port` still parses).
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::invalid(NameKind::Scope, s, reason);
        let shape = "write `type:name:actions`, e.g. `repository:proj/app:pull,push`";
        let (Some((ty, rest)), Some((_, actions))) = (s.split_once(':'), s.rsplit_once(':')) else {
            return Err(bad(shape));
        };
        let Some((name, _)) = rest.rsplit_once(':') else {
            return Err(bad(shape));
        };
        let word = |w: &str| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        };
        let (resource_type, class) = match ty.split_once('(') {
            Some((t, c)) => match c.strip_suffix(')') {
                Some(c) if word(c) => (t, Some(c.to_owned())),
                _ => return Err(bad("a resource class is written `type(class)`")),
            },
            None => (ty, None),
        };
        if !word(resource_type) {
            return Err(bad(
                "the resource type is letters and digits (`repository`)",
            ));
        }
        if name.is_empty()
            || name
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(bad("the resource name is empty or has spaces"));
        }
        let actions: Vec<String> = if actions.is_empty() {
            Vec::new()
        } else {
            actions.split(',').map(str::to_owned).collect()
        };
        if !actions.iter().all(|a| a == "*" || word(a)) {
            return Err(bad(
                "actions are words separated by `,` (`pull,push`) or `*`",
            ));
        }
        Ok(Self {
            resource_type: resource_type.to_owned(),
            class,
            name: name.to_owned(),
            actions,
        })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.resource_type)?;
        if let Some(c) = &self.class {
            write!(f, "({c})")?;
        }
        write!(f, ":{}:{}", self.name, self.actions.join(","))
    }
}

/// Parses every scope of several `scope` values (a query string may repeat `scope`, and one
/// value may hold several scopes separated by spaces).
///
/// # Errors
/// The first scope that does not parse.
pub fn parse_scopes<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Vec<Scope>> {
    values
        .into_iter()
        .flat_map(|v| v.split(' ').filter(|s| !s.is_empty()))
        .map(str::parse)
        .collect()
}

/// The token endpoint's answer: `{"token", "access_token", "expires_in", "issued_at"}`.
#[derive(Clone, Deserialize)]
pub struct TokenResponse {
    /// The bearer token (Docker's name).
    #[serde(default)]
    token: Option<String>,
    /// The bearer token (OAuth2's name); some servers send only this one.
    #[serde(default)]
    access_token: Option<String>,
    /// Lifetime in seconds (60 when absent, as the Docker token spec says).
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// RFC 3339 time of issue.
    #[serde(default)]
    pub issued_at: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

impl TokenResponse {
    /// Builds an answer (for token servers); both `token` and `access_token` carry it.
    pub fn new(token: &Secret, expires_in: u64, issued_at: Option<String>) -> Self {
        Self {
            token: Some(token.expose().to_owned()),
            access_token: Some(token.expose().to_owned()),
            expires_in: Some(expires_in),
            issued_at,
        }
    }

    /// The token: `token`, else `access_token`.
    pub fn bearer(&self) -> Option<Secret> {
        self.token
            .as_deref()
            .or(self.access_token.as_deref())
            .filter(|t| !t.is_empty())
            .map(Secret::from)
    }

    /// How long the token lives: `expires_in`, at least 60 s as the Docker token spec says.
    pub fn lifetime(&self) -> Duration {
        Duration::from_secs(self.expires_in.unwrap_or(60).max(60))
    }

    /// The JSON body a token server sends. The token is in it: never log the result.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "token": self.token,
            "access_token": self.access_token,
            "expires_in": self.expires_in,
            "issued_at": self.issued_at,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn distribution_bearer_challenge_parses_into_realm_service_and_scope() {
        let h = r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:proj-a/app:pull,push""#;
        let c = parse_www_authenticate(h).unwrap();
        assert_eq!(c.len(), 1);
        assert!(c[0].is("bearer"));
        assert_eq!(c[0].realm(), Some("https://auth.example/token"));
        assert_eq!(c[0].service(), Some("registry.example"));
        assert_eq!(
            c[0].scopes(),
            [Scope::repository("proj-a/app", &["pull", "push"])]
        );
        assert_eq!(c[0].error(), None);
        assert_eq!(c[0].to_string(), h);
    }

    #[test]
    fn insufficient_scope_and_several_scopes_are_read() {
        let h = r#"Bearer realm="r",service="s",scope="repository:a:pull repository:b:pull,push",error="insufficient_scope""#;
        let c = &parse_www_authenticate(h).unwrap()[0];
        assert_eq!(c.error(), Some("insufficient_scope"));
        assert_eq!(c.scopes().len(), 2);
        assert_eq!(c.scopes()[1].name, "b");
    }

    #[test]
    fn several_challenges_escapes_bare_tokens_and_token68_are_read() {
        let h = r#"Basic realm="a \"quoted\" \\ realm" , Bearer realm=https://x/t, error=invalid_token,  Negotiate abc+/def==, Basic realm="z""#;
        let c = parse_www_authenticate(h).unwrap();
        assert_eq!(c.len(), 4);
        assert_eq!(c[0].realm(), Some(r#"a "quoted" \ realm"#));
        assert!(c[1].is("Bearer"));
        assert_eq!(c[1].realm(), Some("https://x/t"));
        assert_eq!(c[1].error(), Some("invalid_token"));
        assert_eq!(c[2].params, [(String::new(), "abc+/def==".to_owned())]);
        assert_eq!(c[3].realm(), Some("z"));
        let c = parse_www_authenticate("Basic dXNlcg==").unwrap();
        assert_eq!(c[0].params, [(String::new(), "dXNlcg==".to_owned())]);
        // Printing quotes and escapes again; parsing the print gives the same challenge.
        assert_eq!(parse_www_authenticate(&c[0].to_string()).unwrap()[0], c[0]);
    }

    #[test]
    fn broken_challenges_are_errors_not_panics() {
        for bad in [
            "",
            "  , ",
            "Bearer realm=\"open",
            "Bearer realm=\"ends\\",
            "Bearer realm=\"a\" junk",
            "=x",
            "Basic abc def",
        ] {
            assert!(parse_www_authenticate(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn scopes_parse_types_classes_names_with_colons_and_actions() {
        let s: Scope = "repository(plugin):proj/app:pull".parse().unwrap();
        assert_eq!(s.class.as_deref(), Some("plugin"));
        assert_eq!(s.to_string(), "repository(plugin):proj/app:pull");
        let s: Scope = "registry:catalog:*".parse().unwrap();
        assert_eq!(s, Scope::catalog());
        assert!(s.allows("anything"));
        let s: Scope = "repository:localhost:5000/app:pull".parse().unwrap();
        assert_eq!(s.name, "localhost:5000/app");
        assert!(s.allows("pull") && !s.allows("push"));
        let s: Scope = "repository:app:".parse().unwrap();
        assert!(s.actions.is_empty());
        for bad in [
            "repository",
            "repository:app",
            ":app:pull",
            "repo(:app:pull",
            "repository::pull",
            "repository:a b:pull",
            "repository:app:pull,,push",
        ] {
            assert!(bad.parse::<Scope>().is_err(), "{bad:?} accepted");
        }
        let scopes =
            parse_scopes(["repository:a:pull", "repository:b:push registry:catalog:*"]).unwrap();
        assert_eq!(scopes.len(), 3);
    }

    #[test]
    fn token_answers_read_either_field_and_never_print_the_token() {
        let t: TokenResponse =
            serde_json::from_str(r#"{"access_token":"s3cr3t","expires_in":300}"#).unwrap();
        assert_eq!(t.bearer().unwrap().expose(), "s3cr3t");
        assert_eq!(t.lifetime(), Duration::from_secs(300));
        assert!(!format!("{t:?}").contains("s3cr3t"));
        let t: TokenResponse =
            serde_json::from_str(r#"{"token":"a","issued_at":"2026-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(t.bearer().unwrap().expose(), "a");
        assert_eq!(t.lifetime(), Duration::from_secs(60));
        let t: TokenResponse = serde_json::from_str("{}").unwrap();
        assert!(t.bearer().is_none());
        let built = TokenResponse::new(&Secret::from("x"), 120, None);
        let json: serde_json::Value = serde_json::from_str(&built.to_json()).unwrap();
        assert_eq!(
            (json["token"].as_str(), json["access_token"].as_str()),
            (Some("x"), Some("x"))
        );
    }

    fn challenge_strategy() -> impl Strategy<Value = Challenge> {
        (
            "[A-Za-z][A-Za-z0-9]{0,8}",
            proptest::collection::vec(("[a-z][a-z_]{0,8}", "[ -~]{0,20}"), 1..5),
        )
            .prop_map(|(scheme, params)| Challenge {
                scheme,
                params: params.into_iter().collect(),
            })
    }

    fn scope_strategy() -> impl Strategy<Value = Scope> {
        (
            "[a-z]{1,10}",
            proptest::option::of("[a-z]{1,6}"),
            "[a-z0-9]{1,5}([/:._-][a-z0-9]{1,5}){0,4}",
            proptest::collection::vec(prop_oneof![Just("*".to_owned()), "[a-z]{1,6}"], 0..4),
        )
            .prop_map(|(resource_type, class, name, actions)| Scope {
                resource_type,
                class,
                name,
                actions,
            })
    }

    proptest! {
        #[test]
        fn challenge_parser_never_panics(s in "\\PC{0,200}") {
            let _ = parse_www_authenticate(&s);
        }

        #[test]
        fn challenge_parser_never_panics_on_header_like_bytes(s in "[A-Za-z =,\"\\\\a-z:/.]{0,120}") {
            let _ = parse_www_authenticate(&s);
        }

        #[test]
        fn printed_challenges_parse_back_unchanged(cs in proptest::collection::vec(challenge_strategy(), 1..4)) {
            let header = cs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            prop_assert_eq!(parse_www_authenticate(&header).unwrap(), cs);
        }

        #[test]
        fn scope_parser_never_panics(s in "\\PC{0,120}") {
            let _ = s.parse::<Scope>();
            let _ = parse_scopes([s.as_str()]);
        }

        #[test]
        fn printed_scopes_parse_back_unchanged(s in scope_strategy()) {
            prop_assert_eq!(s.to_string().parse::<Scope>().unwrap(), s);
        }
    }
}
