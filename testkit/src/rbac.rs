//! RBAC rules and the verb each API request needs, so that a test can replay the requests a
//! component made against the fake API ([`crate::kubefake::KubeFake::requests`]) and check
//! every one is allowed by the rules its chart, manifest or documentation grants.
//!
//! ```
//! use dns01_testkit::rbac::{Rule, allowed};
//! let rules = [Rule::cluster(&["apps"], &["deployments"], &["get", "list"])];
//! assert!(allowed(&rules, "GET", "/apis/apps/v1/namespaces/a/deployments/web", None));
//! assert!(!allowed(&rules, "PUT", "/apis/apps/v1/namespaces/a/deployments/web", None));
//! ```

/// One rule of a Role (bound in `namespace`) or a ClusterRole (`namespace: None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The Role's namespace; `None` for a ClusterRole.
    pub namespace: Option<String>,
    /// `apiGroups` (`""` is the core group).
    pub api_groups: Vec<String>,
    /// `resources`, subresources as `customdomains/status`.
    pub resources: Vec<String>,
    /// `verbs`.
    pub verbs: Vec<String>,
    /// `resourceNames`; empty: any name.
    pub resource_names: Vec<String>,
}

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl Rule {
    /// A ClusterRole rule.
    pub fn cluster(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Self {
        Self {
            namespace: None,
            api_groups: owned(groups),
            resources: owned(resources),
            verbs: owned(verbs),
            resource_names: Vec::new(),
        }
    }

    /// A Role rule in `namespace`.
    pub fn namespaced(
        namespace: &str,
        groups: &[&str],
        resources: &[&str],
        verbs: &[&str],
    ) -> Self {
        Self {
            namespace: Some(namespace.to_owned()),
            ..Self::cluster(groups, resources, verbs)
        }
    }
}

/// What a request asks for, as the API server's authorizer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributes {
    /// The API group (`""` for the core group).
    pub group: String,
    /// The namespace, for a namespaced request.
    pub namespace: Option<String>,
    /// The resource, with `/subresource` when there is one.
    pub resource: String,
    /// The object's name, for a request on one object.
    pub name: Option<String>,
    /// The verb: get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: String,
}

/// The attributes of `method path?query`; `None` for a path that is not a resource request
/// (discovery, `/version`).
pub fn attributes(method: &str, path: &str, query: Option<&str>) -> Option<Attributes> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_owned()), rest),
        rest => (None, rest),
    };
    let (resource, name) = match rest {
        [resource] => ((*resource).to_owned(), None),
        [resource, name] => ((*resource).to_owned(), Some((*name).to_owned())),
        [resource, name, sub] => (format!("{resource}/{sub}"), Some((*name).to_owned())),
        _ => return None,
    };
    let watch = query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let verb = match (method, name.is_some()) {
        ("GET", _) if watch => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", false) => "create",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return None,
    };
    Some(Attributes {
        group: group.to_owned(),
        namespace,
        resource,
        name,
        verb: verb.to_owned(),
    })
}

/// Whether one of `rules` allows `method path?query`. A request that is not a resource
/// request is not allowed (no rule here grants non-resource URLs).
pub fn allowed(rules: &[Rule], method: &str, path: &str, query: Option<&str>) -> bool {
    let Some(a) = attributes(method, path, query) else {
        return false;
    };
    let has = |list: &[String], x: &str| list.iter().any(|i| i == x || i == "*");
    rules.iter().any(|rule| {
        (rule.namespace.is_none() || rule.namespace == a.namespace)
            && has(&rule.api_groups, &a.group)
            && has(&rule.resources, &a.resource)
            && has(&rule.verbs, &a.verb)
            && (rule.resource_names.is_empty()
                || a.name
                    .as_deref()
                    .is_some_and(|n| has(&rule.resource_names, n)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_follow_method_name_and_watch() {
        fn verb(method: &str, path: &str, query: Option<&str>) -> String {
            attributes(method, path, query).unwrap().verb
        }
        let one = "/apis/domains.dns01.dev/v1alpha1/namespaces/a/customdomains/x";
        let all = "/apis/domains.dns01.dev/v1alpha1/customdomains";
        assert_eq!(verb("GET", one, None), "get");
        assert_eq!(verb("GET", all, None), "list");
        assert_eq!(
            verb("GET", all, Some("watch=true&resourceVersion=1")),
            "watch"
        );
        assert_eq!(verb("PATCH", &format!("{one}/status"), None), "patch");
        assert_eq!(
            attributes("PATCH", &format!("{one}/status"), None)
                .unwrap()
                .resource,
            "customdomains/status"
        );
        assert_eq!(verb("POST", "/api/v1/namespaces/a/secrets", None), "create");
        assert!(attributes("GET", "/version", None).is_none());
    }

    #[test]
    fn namespaces_and_names_limit_a_rule() {
        let mut lease = Rule::namespaced("ops", &["coordination.k8s.io"], &["leases"], &["get"]);
        lease.resource_names = vec!["mine".into()];
        let rules = [lease];
        let path = |ns: &str, name: &str| {
            format!("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}")
        };
        assert!(allowed(&rules, "GET", &path("ops", "mine"), None));
        assert!(!allowed(&rules, "GET", &path("other", "mine"), None));
        assert!(!allowed(&rules, "GET", &path("ops", "theirs"), None));
        assert!(!allowed(&rules, "PUT", &path("ops", "mine"), None));
    }
}
