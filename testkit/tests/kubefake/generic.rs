//! The generic object store: any resource, driven through kube-rs as controllers drive a real
//! API server.

use std::time::Duration;

use dns01_testkit::kubefake::{KubeFake, ResourceKind};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::runtime::watcher;
use serde_json::json;

use crate::{client, status_code};

fn widgets() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.dns01.dev", "v1", "Widget"),
        "widgets",
    )
}

fn widget_kind() -> ResourceKind {
    ResourceKind::new("example.dns01.dev/v1", "widgets")
}

fn widget(name: &str, size: i64) -> DynamicObject {
    DynamicObject::new(name, &widgets()).data(json!({"spec": {"size": size}}))
}

async fn widget_api(fake: &KubeFake, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client(fake).await, ns, &widgets())
}

#[tokio::test]
async fn any_resource_is_created_once_and_listed_across_namespaces_with_selectors() {
    let fake = KubeFake::start().await;
    let a = widget_api(&fake, "team-a").await;
    let b = widget_api(&fake, "team-b").await;
    let pp = PostParams::default();
    let mut labelled = widget("one", 1);
    labelled.metadata.labels = Some([("tier".to_owned(), "gold".to_owned())].into());
    let created = a.create(&pp, &labelled).await.unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.as_deref().is_some_and(|u| !u.is_empty()));
    assert!(meta.creation_timestamp.is_some());
    assert_eq!(meta.generation, Some(1));
    assert_eq!(meta.namespace.as_deref(), Some("team-a"));
    let again = a.create(&pp, &widget("one", 2)).await.unwrap_err();
    assert_eq!(status_code(&again), Some(409), "{again}");
    assert!(again.to_string().contains("already exists"), "{again}");
    b.create(&pp, &widget("one", 3)).await.unwrap();
    b.create(&pp, &widget("two", 4)).await.unwrap();

    let all: Api<DynamicObject> = Api::all_with(client(&fake).await, &widgets());
    let names = |list: kube::core::ObjectList<DynamicObject>| -> Vec<String> {
        list.items
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o.metadata.namespace.clone().unwrap(),
                    o.metadata.name.clone().unwrap()
                )
            })
            .collect()
    };
    let every = all.list(&ListParams::default()).await.unwrap();
    assert_eq!(names(every), ["team-a/one", "team-b/one", "team-b/two"]);
    let gold = all
        .list(&ListParams::default().labels("tier=gold"))
        .await
        .unwrap();
    assert_eq!(names(gold), ["team-a/one"]);
    let not_gold = all
        .list(&ListParams::default().labels("tier!=gold"))
        .await
        .unwrap();
    assert_eq!(names(not_gold), ["team-b/one", "team-b/two"]);
    let by_name = all
        .list(&ListParams::default().fields("metadata.name=one"))
        .await
        .unwrap();
    assert_eq!(names(by_name), ["team-a/one", "team-b/one"]);
    let by_ns = all
        .list(&ListParams::default().fields("metadata.namespace=team-b,metadata.name=two"))
        .await
        .unwrap();
    assert_eq!(names(by_ns), ["team-b/two"]);
    let in_b = b.list(&ListParams::default()).await.unwrap();
    assert_eq!(names(in_b), ["team-b/one", "team-b/two"]);
    // The core group too, across namespaces (`/api/v1/configmaps`).
    fake.set_configmap("x", "c", [("k".to_owned(), "v".to_owned())].into());
    let cms: Api<ConfigMap> = Api::all(client(&fake).await);
    assert_eq!(
        cms.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
    assert_eq!(
        fake.write_count("widgets.example.dns01.dev"),
        4,
        "four creates, one refused"
    );
    assert_eq!(
        fake.write_count("configmaps"),
        0,
        "the test's own writes are not counted"
    );
}

#[tokio::test]
async fn replace_bumps_resource_version_always_and_generation_only_for_spec() {
    let fake = KubeFake::start().await;
    let api = widget_api(&fake, "ns").await;
    let pp = PostParams::default();
    let created = api.create(&pp, &widget("w", 1)).await.unwrap();
    let rv1 = created.metadata.resource_version.clone().unwrap();

    let mut labelled = created.clone();
    labelled.metadata.labels = Some([("a".to_owned(), "b".to_owned())].into());
    let relabelled = api.replace("w", &pp, &labelled).await.unwrap();
    assert_ne!(
        relabelled.metadata.resource_version.as_deref(),
        Some(rv1.as_str())
    );
    assert_eq!(
        relabelled.metadata.generation,
        Some(1),
        "metadata is not spec"
    );

    let mut bigger = relabelled.clone();
    bigger.data["spec"]["size"] = json!(2);
    let grown = api.replace("w", &pp, &bigger).await.unwrap();
    assert_eq!(grown.metadata.generation, Some(2));
    assert_eq!(grown.metadata.uid, created.metadata.uid, "uid is kept");

    // A write based on the first version is stale.
    let stale = api.replace("w", &pp, &labelled).await.unwrap_err();
    assert_eq!(status_code(&stale), Some(409), "{stale}");
    assert!(stale.to_string().contains("has been modified"), "{stale}");
    let merged = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.data["spec"]["size"], 5);
    assert_eq!(merged.metadata.generation, Some(3));
    assert_eq!(
        merged.metadata.labels.unwrap()["a"],
        "b",
        "a merge keeps the rest"
    );
}

#[tokio::test]
async fn the_status_subresource_alone_writes_status() {
    let fake = KubeFake::start().await;
    fake.status_subresource(&widget_kind());
    let api = widget_api(&fake, "ns").await;
    let pp = PostParams::default();
    let mut with_status = widget("w", 1);
    with_status.data["status"] = json!({"phase": "Made up"});
    let created = api.create(&pp, &with_status).await.unwrap();
    assert!(created.data.get("status").is_none(), "create drops status");

    let patched = api
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Ready"}, "spec": {"size": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["status"]["phase"], "Ready");
    assert_eq!(
        patched.data["spec"]["size"], 1,
        "/status writes only status"
    );
    assert_eq!(patched.metadata.generation, Some(1));

    let mut main = patched.clone();
    main.data["status"] = json!({"phase": "Overwritten"});
    main.data["spec"]["size"] = json!(2);
    let replaced = api.replace("w", &pp, &main).await.unwrap();
    assert_eq!(
        replaced.data["status"]["phase"], "Ready",
        "the main resource ignores status"
    );
    assert_eq!(replaced.data["spec"]["size"], 2);
    assert_eq!(fake.write_count("widgets.example.dns01.dev"), 3);
}

#[tokio::test]
async fn server_side_apply_sets_given_fields_and_reports_conflicts_between_managers() {
    let fake = KubeFake::start().await;
    let api = widget_api(&fake, "ns").await;
    let apply = |manager: &str| PatchParams::apply(manager);
    let mut first = widget("w", 1);
    first.data["spec"]["colour"] = json!("red");
    let created = api
        .patch("w", &apply("ctl"), &Patch::Apply(&first))
        .await
        .unwrap();
    assert_eq!(created.data["spec"], json!({"size": 1, "colour": "red"}));
    assert_eq!(created.metadata.generation, Some(1));

    // Another manager setting a field the first owns, to another value: conflict.
    let other =
        DynamicObject::new("w", &widgets()).data(json!({"spec": {"size": 7, "shape": "round"}}));
    let refused = api
        .patch("w", &apply("other"), &Patch::Apply(&other))
        .await
        .unwrap_err();
    assert_eq!(status_code(&refused), Some(409), "{refused}");
    assert!(
        refused
            .to_string()
            .contains("conflict with \"ctl\": /spec/size"),
        "{refused}"
    );
    // With force it takes the field over.
    let forced = api
        .patch("w", &apply("other").force(), &Patch::Apply(&other))
        .await
        .unwrap();
    assert_eq!(
        forced.data["spec"],
        json!({"size": 7, "colour": "red", "shape": "round"})
    );
    assert_eq!(forced.metadata.generation, Some(2));

    // The first manager no longer gives `colour`: it goes; `size` is now other's and stays.
    let fewer = DynamicObject::new("w", &widgets());
    let pruned = api
        .patch("w", &apply("ctl"), &Patch::Apply(&fewer))
        .await
        .unwrap();
    assert_eq!(pruned.data["spec"], json!({"size": 7, "shape": "round"}));
    assert_eq!(fake.field_managers(&widget_kind(), "ns", "w"), ["other"]);

    // The same apply again changes nothing but the resourceVersion; generation stays.
    let again = api
        .patch("w", &apply("other").force(), &Patch::Apply(&other))
        .await
        .unwrap();
    assert_eq!(again.metadata.generation, pruned.metadata.generation);

    // kube-rs refuses an apply without a field manager itself; the fake refuses it too.
    let url = fake
        .url()
        .join("apis/example.dns01.dev/v1/namespaces/ns/widgets/w")
        .unwrap();
    let answer = reqwest::Client::new()
        .patch(url)
        .header("content-type", "application/apply-patch+yaml")
        .body(r#"{"spec": {"size": 8}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    assert!(
        answer
            .text()
            .await
            .unwrap()
            .contains("fieldManager is required")
    );
}

#[tokio::test]
async fn delete_waits_for_finalizers_and_keeps_owner_references() {
    let fake = KubeFake::start().await;
    let api = widget_api(&fake, "ns").await;
    let mut held = widget("w", 1);
    held.metadata.finalizers = Some(vec!["example.dns01.dev/cleanup".to_owned()]);
    held.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "owner".into(),
            uid: "u-1".into(),
            controller: Some(true),
            ..Default::default()
        },
    ]);
    api.create(&PostParams::default(), &held).await.unwrap();
    let answer = api.delete("w", &DeleteParams::default()).await.unwrap();
    assert!(
        answer.is_left(),
        "the API answers with the object while finalizers hold it"
    );
    let marked = api.get("w").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(marked.metadata.owner_references.unwrap()[0].name, "owner");

    // kube-runtime removes its finalizer with a JSON patch guarded by a test operation.
    let wrong: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers/0", "value": "someone-else"},
        {"op": "remove", "path": "/metadata/finalizers/0"},
    ]))
    .unwrap();
    let refused = api
        .patch("w", &PatchParams::default(), &Patch::Json::<()>(wrong))
        .await
        .unwrap_err();
    assert_eq!(status_code(&refused), Some(422), "{refused}");
    let release: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers/0", "value": "example.dns01.dev/cleanup"},
        {"op": "remove", "path": "/metadata/finalizers/0"},
    ]))
    .unwrap();
    api.patch("w", &PatchParams::default(), &Patch::Json::<()>(release))
        .await
        .unwrap();
    let gone = api.get("w").await.unwrap_err();
    assert_eq!(status_code(&gone), Some(404), "{gone}");
    assert!(fake.object(&widget_kind(), "ns", "w").is_none());
}

async fn next<S>(events: &mut S) -> watcher::Event<DynamicObject>
where
    S: futures::Stream<Item = Result<watcher::Event<DynamicObject>, watcher::Error>> + Unpin,
{
    tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("an event within 5 s")
        .expect("the stream goes on")
        .expect("no watch error")
}

#[tokio::test]
async fn kube_rs_watcher_follows_any_resource_through_create_modify_and_delete() {
    let fake = KubeFake::start().await;
    let api = widget_api(&fake, "ns").await;
    let all: Api<DynamicObject> = Api::all_with(client(&fake).await, &widgets());
    let mut events = Box::pin(watcher(
        all,
        watcher::Config::default().labels("watched=yes"),
    ));
    // The initial list (empty).
    loop {
        if matches!(next(&mut events).await, watcher::Event::InitDone) {
            break;
        }
    }
    let mut w = widget("w", 1);
    w.metadata.labels = Some([("watched".to_owned(), "yes".to_owned())].into());
    api.create(&PostParams::default(), &widget("unwatched", 1))
        .await
        .unwrap();
    api.create(&PostParams::default(), &w).await.unwrap();
    let watcher::Event::Apply(added) = next(&mut events).await else {
        panic!("not an apply")
    };
    assert_eq!(
        added.metadata.name.as_deref(),
        Some("w"),
        "the unlabelled one is filtered"
    );
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"size": 2}})),
    )
    .await
    .unwrap();
    let watcher::Event::Apply(modified) = next(&mut events).await else {
        panic!("not an apply")
    };
    assert_eq!(modified.data["spec"]["size"], 2);
    assert!(fake.remove(&widget_kind(), "ns", "w"));
    let watcher::Event::Delete(deleted) = next(&mut events).await else {
        panic!("not a delete")
    };
    assert_eq!(deleted.metadata.name.as_deref(), Some("w"));
}
