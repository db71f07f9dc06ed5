//! Issuance end to end: Pebble orders validated over the emulator's DNS, the challenge
//! records written by the real webhook binary into the delegated validation zone.

use dns01_testkit::acmetest::Outcome;
use instant_acme::OrderStatus;

use crate::support::{
    APP, CUSTOMER_ZONE, Issuer, PLATFORM_DOMAIN, Platform, READ_ONLY_SECRET, delegated,
    in_platform, sans, snapshot,
};

const WILDCARD: &str = "*.app.customer.test";

#[tokio::test]
async fn a_name_and_its_wildcard_are_issued_through_the_followed_cname_and_the_zones_end_as_they_began()
 {
    let platform = Platform::start().await.expect("platform");
    platform.delegate_to("team-a");
    let before = snapshot(&platform.emu, &[CUSTOMER_ZONE, PLATFORM_DOMAIN]);

    let run = platform
        .order(&Issuer::follow("team-a"), &[APP, WILDCARD])
        .await
        .expect("order");

    assert_eq!(run.presents.len(), 2, "{run:?}");
    for (request, outcome) in &run.presents {
        assert_eq!(outcome, &Outcome::Success, "{request:?}");
        // Followed like cnameStrategy: Follow, zone found by SOA walk like cert-manager.
        assert_eq!(request.resolved_fqdn, format!("{}.", delegated("team-a")));
        assert_eq!(request.resolved_zone, "platform.test.");
        assert_eq!(request.dns_name, APP);
    }
    // Two values on one name, at the same time.
    assert_ne!(run.presents[0].0.key, run.presents[1].0.key);
    let own_name = vec![in_platform(&delegated("team-a"))];
    assert_eq!(run.written_at, [own_name.clone(), own_name], "{run:?}");
    assert_eq!(run.self_checks, [true, true], "{run:?}");
    assert_eq!(
        run.status,
        OrderStatus::Valid,
        "{run:?}\npebble log:\n{}",
        platform.pebble_log()
    );
    let chain = run.certificate.as_deref().expect("certificate");
    assert_eq!(sans(chain), [WILDCARD, APP]);
    assert!(run.cleanups.iter().all(Outcome::is_success), "{run:?}");
    assert_eq!(
        snapshot(&platform.emu, &[CUSTOMER_ZONE, PLATFORM_DOMAIN]),
        before,
        "CleanUp must leave both zones exactly as they were"
    );
}

#[tokio::test]
async fn in_map_mode_the_webhook_finds_the_tenants_name_without_cname_following_and_the_order_is_issued()
 {
    let platform = Platform::start().await.expect("platform");
    platform.delegate_to("team-a");
    let before = snapshot(&platform.emu, &[CUSTOMER_ZONE, PLATFORM_DOMAIN]);

    let run = platform
        .order(&Issuer::map("team-a"), &[APP, WILDCARD])
        .await
        .expect("order");

    for (request, outcome) in &run.presents {
        assert_eq!(outcome, &Outcome::Success, "{request:?}");
        // Nothing followed: cert-manager sends the customer's own name and zone.
        assert_eq!(request.resolved_fqdn, "_acme-challenge.app.customer.test.");
        assert_eq!(request.resolved_zone, "customer.test.");
    }
    let own_name = vec![in_platform(&delegated("team-a"))];
    assert_eq!(run.written_at, [own_name.clone(), own_name], "{run:?}");
    assert_eq!(run.self_checks, [true, true], "{run:?}");
    assert_eq!(
        run.status,
        OrderStatus::Valid,
        "{run:?}\npebble log:\n{}",
        platform.pebble_log()
    );
    assert_eq!(
        sans(run.certificate.as_deref().expect("certificate")),
        [WILDCARD, APP]
    );
    assert!(run.cleanups.iter().all(Outcome::is_success), "{run:?}");
    assert_eq!(
        snapshot(&platform.emu, &[CUSTOMER_ZONE, PLATFORM_DOMAIN]),
        before
    );
}

#[tokio::test]
async fn a_token_without_write_access_fails_the_order_with_the_webhooks_message_and_leaves_nothing_behind()
 {
    let platform = Platform::start().await.expect("platform");
    platform.delegate_to("team-a");
    let before = snapshot(&platform.emu, &[CUSTOMER_ZONE, PLATFORM_DOMAIN]);

    let issuer = Issuer::with("team-a", READ_ONLY_SECRET, "follow", true);
    let run = platform.order(&issuer, &[APP]).await.expect("order");

    // What cert-manager would show on the Challenge: the webhook's message.
    let (_, outcome) = &run.presents[0];
    let message = outcome.message().expect("Present must fail");
    println!("Present failed as cert-manager would show it: {message}");
    let lower = message.to_lowercase();
    // It names the refusal, the permission, and what to fix.
    assert!(message.contains("403"), "{message}");
    assert!(lower.contains("permission"), "{message}");
    assert!(lower.contains("the token lacks"), "{message}");
    assert!(message.contains(&delegated("team-a")), "{message}");
    assert!(
        !message.contains("platform-pat"),
        "the token leaked: {message}"
    );
    assert_eq!(run.self_checks, [false]);
    assert_eq!(run.written_at, [Vec::<String>::new()], "{run:?}");
    // Answered anyway, the CA finds no value and the order fails.
    assert_eq!(run.status, OrderStatus::Invalid, "{run:?}");
    assert!(
        run.problems.iter().any(|p| p.contains("unauthorized")),
        "the CA must reject the challenge: {run:?}"
    );
    assert!(run.certificate.is_none());
    assert!(run.cleanups.iter().all(Outcome::is_success), "{run:?}");
    assert_eq!(
        snapshot(&platform.emu, &[CUSTOMER_ZONE, PLATFORM_DOMAIN]),
        before
    );
}
