//! A tenant tries to obtain a certificate for a domain whose `_acme-challenge` is delegated
//! to another tenant's name (issue 8): the order fails and the other tenant's records stay
//! exactly as they were.

use dns01_testkit::acmetest::Outcome;
use instant_acme::OrderStatus;

use crate::support::{
    APP, CUSTOMER_ZONE, Issuer, PLATFORM_DOMAIN, Platform, delegated, in_platform, snapshot,
};

/// A challenge value tenant A has in flight at its own name.
const TENANT_A_VALUE: &str = "tenant-a-challenge-in-flight";

fn platform_with_tenant_a_delegated(platform: &Platform) {
    platform.delegate_to("team-a");
    platform
        .emu
        .seed_rrset(
            PLATFORM_DOMAIN,
            &in_platform(&delegated("team-a")),
            "TXT",
            300,
            [TENANT_A_VALUE],
        )
        .expect("seed tenant A's value");
}

#[tokio::test]
async fn a_tenant_following_another_tenants_cname_is_refused_with_its_own_cname_and_the_order_fails()
 {
    let platform = Platform::start().await.expect("platform");
    platform_with_tenant_a_delegated(&platform);
    let before = snapshot(&platform.emu, &[CUSTOMER_ZONE, PLATFORM_DOMAIN]);

    let run = platform
        .order(&Issuer::follow("team-b"), &[APP])
        .await
        .expect("order");

    let (request, outcome) = &run.presents[0];
    // cnameStrategy: Follow led tenant B to tenant A's name; the webhook refuses it.
    assert_eq!(request.resolved_fqdn, format!("{}.", delegated("team-a")));
    let message = outcome.message().expect("Present must be refused");
    assert!(message.contains("tenant binding"), "{message}");
    assert_eq!(run.written_at, [Vec::<String>::new()], "{run:?}");
    assert!(
        message.contains(&format!(
            "_acme-challenge.{APP}. CNAME {}.",
            delegated("team-b")
        )),
        "the refusal must give the CNAME tenant B would need: {message}"
    );
    assert_eq!(run.status, OrderStatus::Invalid, "{run:?}");
    assert!(
        run.problems.iter().any(|p| p.contains("unauthorized")),
        "the CA must reject the challenge: {run:?}"
    );
    assert!(run.certificate.is_none());
    assert_eq!(
        platform
            .emu
            .decoded_txt(PLATFORM_DOMAIN, &in_platform(&delegated("team-a"))),
        [TENANT_A_VALUE]
    );
    assert_eq!(
        snapshot(&platform.emu, &[CUSTOMER_ZONE, PLATFORM_DOMAIN]),
        before
    );
}

#[tokio::test]
async fn a_tenant_in_map_mode_writes_only_at_its_own_name_which_the_ca_never_reaches() {
    let platform = Platform::start().await.expect("platform");
    platform_with_tenant_a_delegated(&platform);
    let before = snapshot(&platform.emu, &[CUSTOMER_ZONE, PLATFORM_DOMAIN]);

    let run = platform
        .order(&Issuer::map("team-b"), &[APP])
        .await
        .expect("order");

    let (_, outcome) = &run.presents[0];
    assert_eq!(outcome, &Outcome::Success, "{run:?}");
    // The value went to tenant B's own name: the customer's CNAME never leads there.
    assert_eq!(
        run.written_at,
        [vec![in_platform(&delegated("team-b"))]],
        "{run:?}"
    );
    assert_eq!(run.self_checks, [false], "{run:?}");
    assert_eq!(run.status, OrderStatus::Invalid, "{run:?}");
    assert!(run.certificate.is_none());
    assert!(
        run.problems.iter().any(|p| p.contains("unauthorized")),
        "the CA must reject the challenge: {run:?}"
    );
    assert!(run.cleanups.iter().all(Outcome::is_success), "{run:?}");
    assert_eq!(
        platform
            .emu
            .decoded_txt(PLATFORM_DOMAIN, &in_platform(&delegated("team-a"))),
        [TENANT_A_VALUE]
    );
    assert_eq!(
        snapshot(&platform.emu, &[CUSTOMER_ZONE, PLATFORM_DOMAIN]),
        before
    );
}
