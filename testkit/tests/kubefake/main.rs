//! The fake Kubernetes API driven by kube-rs, as the webhook and the controllers drive a real
//! one: Leases with resourceVersion optimistic concurrency.

#![allow(clippy::unwrap_used, clippy::expect_used)]

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
