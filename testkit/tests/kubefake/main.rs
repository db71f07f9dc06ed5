//! The fake Kubernetes API driven by kube-rs, as the webhook and the controllers drive a real
//! one: Leases with resourceVersion optimistic concurrency, ConfigMap watches, and the generic
//! object store (`generic`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod generic;

use dns01_testkit::kubefake::KubeFake;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::{Client, Config};

async fn client(fake: &KubeFake) -> Client {
    let config = Config::new(fake.url().as_str().parse().unwrap());
    Client::try_from(config).unwrap()
}

fn lease(name: &str, holder: &str) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.to_owned()),
            lease_duration_seconds: Some(15),
            ..LeaseSpec::default()
        }),
    }
}

fn status_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

#[tokio::test]
async fn leases_are_created_once_and_a_stale_replace_or_delete_is_a_conflict() {
    let fake = KubeFake::start().await;
    let api: Api<Lease> = Api::namespaced(client(&fake).await, "dns01");
    let pp = PostParams::default();

    let created = api
        .create(&pp, &lease("rrset-a", "replica-1"))
        .await
        .unwrap();
    let rv1 = created.metadata.resource_version.clone().unwrap();
    let again = api
        .create(&pp, &lease("rrset-a", "replica-2"))
        .await
        .unwrap_err();
    assert_eq!(status_code(&again), Some(409), "{again}");
    assert!(again.to_string().contains("already exists"), "{again}");

    // replica-2 takes it over with the version it read; replica-1's write, based on the same
    // version, is now stale.
    let mut take = api.get("rrset-a").await.unwrap();
    take.spec.as_mut().unwrap().holder_identity = Some("replica-2".to_owned());
    let taken = api.replace("rrset-a", &pp, &take).await.unwrap();
    let rv2 = taken.metadata.resource_version.clone().unwrap();
    assert_ne!(rv1, rv2);
    let mut stale = created.clone();
    stale.spec.as_mut().unwrap().holder_identity = Some("replica-1".to_owned());
    let err = api.replace("rrset-a", &pp, &stale).await.unwrap_err();
    assert_eq!(status_code(&err), Some(409), "{err}");
    assert!(
        err.to_string().contains("the object has been modified"),
        "{err}"
    );
    let stored = fake.lease("dns01", "rrset-a").unwrap();
    assert_eq!(stored["spec"]["holderIdentity"], "replica-2");

    // Delete with a stale precondition is refused; with the current one it goes.
    let stale_delete = DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: Some(rv1),
            uid: None,
        }),
        ..DeleteParams::default()
    };
    let err = api.delete("rrset-a", &stale_delete).await.unwrap_err();
    assert_eq!(status_code(&err), Some(409), "{err}");
    let current_delete = DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: Some(rv2),
            uid: None,
        }),
        ..DeleteParams::default()
    };
    api.delete("rrset-a", &current_delete).await.unwrap();
    assert_eq!(fake.lease_count(), 0);
    let err = api.get("rrset-a").await.unwrap_err();
    assert_eq!(status_code(&err), Some(404), "{err}");
}

async fn next_event<S>(stream: &mut S) -> Option<k8s_openapi::api::core::v1::ConfigMap>
where
    S: futures::Stream<
            Item = Result<
                Option<k8s_openapi::api::core::v1::ConfigMap>,
                kube::runtime::watcher::Error,
            >,
        > + Unpin,
{
    use futures::StreamExt as _;
    tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
        .await
        .expect("an event within 5 s")
        .expect("the stream goes on")
        .expect("no watch error")
}

#[tokio::test]
async fn kube_rs_watch_object_sees_a_configmap_change_and_its_deletion() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::watcher;

    let fake = KubeFake::start().await;
    let data = |v: &str| std::collections::BTreeMap::from([("k".to_owned(), v.to_owned())]);
    fake.set_configmap("kube-system", "auth", data("one"));
    fake.set_configmap("kube-system", "unrelated", data("x"));
    let api: Api<ConfigMap> = Api::namespaced(client(&fake).await, "kube-system");
    let mut stream = Box::pin(watcher::watch_object(api, "auth"));
    let first: Option<ConfigMap> = next_event(&mut stream).await;
    assert_eq!(first.unwrap().data.unwrap()["k"], "one");

    fake.set_configmap("kube-system", "unrelated", data("y"));
    fake.set_configmap("kube-system", "auth", data("two"));
    let second: Option<ConfigMap> = next_event(&mut stream).await;
    assert_eq!(
        second.unwrap().data.unwrap()["k"],
        "two",
        "the unrelated change is filtered"
    );

    fake.delete_configmap("kube-system", "auth");
    let third: Option<ConfigMap> = next_event(&mut stream).await;
    assert!(third.is_none(), "deleted");
    // kube asked the way the reference says: a list, then a watch from its resourceVersion.
    let paths: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| r.path.clone())
        .filter(|p| p.contains("configmaps"))
        .collect();
    assert!(
        paths
            .iter()
            .all(|p| p == "/api/v1/namespaces/kube-system/configmaps"),
        "{paths:?}"
    );
    assert!(paths.len() >= 2, "{paths:?}");
}
