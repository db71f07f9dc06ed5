//! Discovery documents, as kube-aggregator and kubectl expect them from an aggregated API
//! server: `GET /apis` (`APIGroupList`), `GET /apis/<group>` (`APIGroup`) and
//! `GET /apis/<group>/v1alpha1` (`APIResourceList`, one resource per solver).
//!
//! kube-aggregator marks the APIService unavailable unless `GET /apis/<group>/v1alpha1`
//! answers 2xx, so these must work before anything else does.

use serde_json::{Value, json};

/// The version we serve.
pub const VERSION: &str = "v1alpha1";

fn group_version(group: &str) -> Value {
    json!({ "groupVersion": format!("{group}/{VERSION}"), "version": VERSION })
}

fn group_entry(group: &str) -> Value {
    json!({
        "name": group,
        "versions": [group_version(group)],
        "preferredVersion": group_version(group),
    })
}

/// `APIGroupList` with our one group.
pub fn api_group_list(group: &str) -> Value {
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [group_entry(group)],
    })
}

/// `APIGroup` for our group.
pub fn api_group(group: &str) -> Value {
    let mut v = group_entry(group);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("kind".into(), json!("APIGroup"));
        obj.insert("apiVersion".into(), json!("v1"));
    }
    v
}

/// `APIResourceList` with one `create`-only, cluster-scoped resource per solver name.
pub fn api_resource_list<'a>(group: &str, solvers: impl IntoIterator<Item = &'a str>) -> Value {
    let resources: Vec<Value> = solvers
        .into_iter()
        .map(|name| {
            json!({
                "name": name,
                "singularName": "ChallengePayload",
                "namespaced": false,
                "kind": "ChallengePayload",
                "verbs": ["create"],
            })
        })
        .collect();
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": format!("{group}/{VERSION}"),
        "resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_list_names_one_create_only_resource_per_solver() {
        let v = api_resource_list("acme.example.com", ["gandi", "memory"]);
        assert_eq!(v["groupVersion"], "acme.example.com/v1alpha1");
        let names: Vec<&str> = v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["gandi", "memory"]);
        assert_eq!(v["resources"][0]["verbs"], json!(["create"]));
        assert_eq!(v["resources"][0]["namespaced"], false);
    }

    #[test]
    fn the_group_prefers_v1alpha1() {
        let v = api_group("acme.example.com");
        assert_eq!(v["kind"], "APIGroup");
        assert_eq!(
            v["preferredVersion"]["groupVersion"],
            "acme.example.com/v1alpha1"
        );
        let l = api_group_list("acme.example.com");
        assert_eq!(l["groups"][0]["name"], "acme.example.com");
    }
}
