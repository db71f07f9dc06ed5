//! The README's permission table ("The controller" section) as RBAC rules, and the check that
//! every request the controller made to the fake API is allowed by it. The Helm chart
//! (deploy/charts/dns01-domains) grants exactly that table: deploy/tests checks it.

use dns01_testkit::kubefake::KubeFake;
use dns01_testkit::rbac::{Rule, allowed, attributes};

/// Which alternative of the table's route row applies.
#[derive(Clone, Copy)]
pub(crate) enum Route {
    Ingress,
    HttpRoute,
}

/// The table, with the route row for `route` and the Lease rule in `lease_namespace`.
pub(crate) fn readme_rules(route: Route, lease_namespace: &str) -> Vec<Rule> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme
        .find("| API group | resource | verbs |")
        .expect("the permission table in the README");
    let table = &readme[start..];
    let table = &table[..table.find("\n\n").unwrap_or(table.len())];
    let ticked = |cell: &str| -> Vec<String> {
        cell.split(" or ")
            .map(|part| part.split('`').nth(1).unwrap_or("").to_owned())
            .collect()
    };
    let mut rules = Vec::new();
    for line in table.lines().skip(2) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let [group, resource, verbs] = cells.as_slice() else {
            panic!("a row of three cells: {line}");
        };
        let (groups, resources) = (ticked(group), ticked(resource));
        let pick = match route {
            Route::Ingress => 0,
            Route::HttpRoute => resources.len() - 1,
        };
        let group = groups.get(pick).unwrap_or(&groups[0]).clone();
        let verbs: Vec<String> = verbs.split(',').map(|v| v.trim().to_owned()).collect();
        rules.push(Rule {
            namespace: resource
                .contains("--lease-namespace")
                .then(|| lease_namespace.to_owned()),
            api_groups: vec![group],
            resources: vec![resources[pick].clone()],
            verbs,
            resource_names: Vec::new(),
        });
    }
    assert!(rules.len() >= 8, "{rules:?}");
    rules
}

/// Every request the fake received is allowed by `rules`, except the CustomDomains the test
/// itself created and deleted (the controller never creates or deletes one) and the requests
/// of the cert-manager stand-in (its own identity, its own RBAC).
pub(crate) fn assert_every_request_allowed(fake: &KubeFake, rules: &[Rule]) {
    let requests = fake.requests();
    assert!(requests.len() > 10, "{requests:?}");
    let mut checked = 0;
    for r in &requests {
        if r.bearer.as_deref() == Some(dns01_testkit::certmanager::BEARER_TOKEN) {
            continue;
        }
        let a = attributes(&r.method, &r.path, r.query.as_deref());
        if a.as_ref().is_some_and(|a| {
            a.resource == "customdomains" && (a.verb == "create" || a.verb == "delete")
        }) {
            continue;
        }
        assert!(
            allowed(rules, &r.method, &r.path, r.query.as_deref()),
            "the README's permission table (and so the chart) does not allow {} {}?{}",
            r.method,
            r.path,
            r.query.as_deref().unwrap_or("")
        );
        checked += 1;
    }
    assert!(checked > 10, "{requests:?}");
}

#[test]
fn the_table_is_read_whole_and_the_check_can_fail() {
    let ingress = readme_rules(Route::Ingress, "dns01");
    let routes = readme_rules(Route::HttpRoute, "dns01");
    let has = |rules: &[Rule], resource: &str| rules.iter().any(|r| r.resources[0] == resource);
    assert!(has(&ingress, "ingresses") && !has(&ingress, "httproutes"));
    assert!(has(&routes, "httproutes") && !has(&routes, "ingresses"));
    let status = "/apis/domains.dns01.dev/v1alpha1/namespaces/a/customdomains/x/status";
    assert!(allowed(&ingress, "PATCH", status, None));
    assert!(!allowed(&ingress, "PUT", status, None));
    let lease = "/apis/coordination.k8s.io/v1/namespaces/dns01/leases/dns01-domains";
    assert!(allowed(&ingress, "PUT", lease, None));
    assert!(!allowed(
        &ingress,
        "PUT",
        &lease.replace("dns01/", "other/"),
        None
    ));
    assert!(!allowed(
        &ingress,
        "DELETE",
        "/api/v1/namespaces/a/configmaps/x",
        None
    ));
}
