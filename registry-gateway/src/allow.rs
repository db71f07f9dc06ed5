//! Allow-lists per route: repositories and tags by glob (`*` any run of characters, `?` one
//! character), on client names. A digest is allowed only when it is reachable from an
//! allowed tag (the tag's manifest, an index's children, their config and layers), so a tag
//! that is not allowed cannot be fetched by its digest either.
//!
//! The glob matcher is these few lines rather than a crate: two wildcards over names that
//! hold no path magic (`/` is an ordinary character here).

use std::collections::HashSet;

/// A route's allow-list; an empty list allows everything of its kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    /// Repository globs (client names: `app`, `team/*`).
    pub repositories: Vec<String>,
    /// Tag globs (`v*`, `latest`).
    pub tags: Vec<String>,
}

/// Whether `s` matches `pattern` (`*`: any run, `?`: one character).
pub fn glob(pattern: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl AllowList {
    /// Whether the repository (client name) is allowed.
    pub fn repository(&self, name: &str) -> bool {
        self.repositories.is_empty() || self.repositories.iter().any(|p| glob(p, name))
    }

    /// Whether the tag is allowed.
    pub fn tag(&self, tag: &str) -> bool {
        self.tags.is_empty() || self.tags.iter().any(|p| glob(p, tag))
    }

    /// Whether digests need the reachability check (only when tags are restricted).
    pub fn restricts_tags(&self) -> bool {
        !self.tags.is_empty()
    }
}

/// The digests reachable from a repository's allowed tags.
#[derive(Debug, Clone, Default)]
pub struct Reachable {
    /// Manifests (tagged ones and an index's children).
    pub manifests: HashSet<String>,
    /// Config and layer blobs of those manifests.
    pub blobs: HashSet<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        let table = [
            ("v*", "v1.2", true),
            ("v*", "xv1", false),
            ("latest", "latest", true),
            ("latest", "latest2", false),
            ("team/*", "team/app/x", true),
            ("team/*", "team", false),
            ("a?c", "abc", true),
            ("a?c", "abbc", false),
            ("*-prod", "app-prod", true),
            ("*a*b*", "xxaxxbxx", true),
            ("*a*b", "xxaxxbx", false),
            ("*", "", true),
        ];
        for (p, s, want) in table {
            assert_eq!(glob(p, s), want, "{p} vs {s}");
        }
    }

    #[test]
    fn empty_lists_allow_everything() {
        let a = AllowList::default();
        assert!(a.repository("x") && a.tag("y") && !a.restricts_tags());
        let a = AllowList {
            repositories: vec!["app".into()],
            tags: vec!["v*".into()],
        };
        assert!(a.repository("app") && !a.repository("other"));
        assert!(a.tag("v2") && !a.tag("latest") && a.restricts_tags());
    }
}
