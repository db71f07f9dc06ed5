//! Fault and rate-limit knobs.

use std::time::{Duration, Instant};

use dns01_testkit::emulator::{Fault, FaultConfig, Latency, RateLimit, routes};
use reqwest::Method;
use serde_json::Value;

use crate::common::{PAT, client, get, send_json, start, world};

const TXT_PATH: &str = "/domains/example.com/records/_acme-challenge/TXT";

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after_when_asked() {
    let emu = start().await;
    emu.faults().set_rate_limit(Some(RateLimit {
        requests: 2,
        window: Duration::from_secs(30),
        retry_after: true,
    }));
    assert_eq!(get(&emu, "/domains").await.status().as_u16(), 200);
    assert_eq!(get(&emu, "/domains").await.status().as_u16(), 200);
    let resp = get(&emu, "/domains").await;
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().contains_key("trace-id"));
    let secs: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&secs));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], 429);
}

#[tokio::test]
async fn the_rate_limit_can_answer_429_without_retry_after() {
    let emu = start().await;
    emu.faults().set_rate_limit(Some(RateLimit {
        requests: 1,
        window: Duration::from_secs(30),
        retry_after: false,
    }));
    get(&emu, "/domains").await;
    let resp = get(&emu, "/domains").await;
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().get("retry-after").is_none());
    emu.faults().set_rate_limit(None);
    assert_eq!(get(&emu, "/domains").await.status().as_u16(), 200);
}

async fn statuses_with_seed(seed: u64) -> Vec<u16> {
    let emu = world()
        .seed(seed)
        .faults(FaultConfig {
            error_500: 0.2,
            error_502: 0.2,
            error_503: 0.2,
            ..FaultConfig::default()
        })
        .start()
        .await;
    let Ok(emu) = emu else {
        panic!("emulator starts")
    };
    let mut out = Vec::new();
    for _ in 0..30 {
        out.push(get(&emu, "/domains").await.status().as_u16());
    }
    out
}

#[tokio::test]
async fn seeded_faults_are_reproducible() {
    let first = statuses_with_seed(42).await;
    let second = statuses_with_seed(42).await;
    assert_eq!(first, second);
    for status in [200, 500, 502, 503] {
        assert!(first.contains(&status), "{status} appears in {first:?}");
    }
}

#[tokio::test]
async fn a_500_fault_carries_gandis_body_and_a_trace_id() {
    let emu = start().await;
    emu.faults().fail_next(1, Fault::Status(500));
    let resp = get(&emu, "/domains").await;
    assert_eq!(resp.status().as_u16(), 500);
    assert!(resp.headers().contains_key("trace-id"));
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"code": 500, "message": "The server has either erred or is incapable of performing the requested operation.", "object": "HTTPInternalServerError", "cause": "Internal Server Error"}"#
    );
    assert_eq!(get(&emu, "/domains").await.status().as_u16(), 200);
}

#[tokio::test]
async fn writes_only_faults_spare_reads() {
    let emu = start().await;
    emu.faults().set(FaultConfig {
        error_503: 1.0,
        writes_only: true,
        ..FaultConfig::default()
    });
    assert_eq!(get(&emu, TXT_PATH).await.status().as_u16(), 404);
    let resp = send_json(
        &emu,
        Method::PUT,
        TXT_PATH,
        r#"{"rrset_ttl": 300, "rrset_values": ["v"]}"#,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 503);
    assert!(
        emu.txt_values("example.com", "_acme-challenge").is_empty(),
        "not applied"
    );
}

#[tokio::test]
async fn an_after_apply_fault_loses_the_answer_but_keeps_the_write() {
    let emu = start().await;
    emu.faults().update(|f| f.after_apply = true);
    emu.faults().fail_next(1, Fault::Status(502));
    let resp = send_json(
        &emu,
        Method::PUT,
        TXT_PATH,
        r#"{"rrset_ttl": 300, "rrset_values": ["v"]}"#,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 502);
    assert_eq!(emu.decoded_txt("example.com", "_acme-challenge"), ["v"]);
}

#[tokio::test]
async fn a_dropped_connection_gives_the_client_an_error_not_a_response() {
    let emu = start().await;
    emu.faults().fail_next(1, Fault::Drop);
    let result = client()
        .get(format!("{}/domains", emu.api_url()))
        .bearer_auth(PAT)
        .send()
        .await;
    let err = result.expect_err("no response");
    assert!(!err.is_timeout(), "closed, not timed out: {err}");
    assert_eq!(get(&emu, "/domains").await.status().as_u16(), 200);
    assert_eq!(emu.counters().count_status("GET", routes::DOMAINS, 0), 1);
}

#[tokio::test]
async fn a_hang_lasts_until_the_client_times_out() {
    let emu = start().await;
    emu.faults().fail_next(1, Fault::Hang);
    let result = client()
        .get(format!("{}/domains", emu.api_url()))
        .bearer_auth(PAT)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(result.expect_err("no response").is_timeout());
}

#[tokio::test]
async fn fixed_latency_delays_every_answer() {
    let emu = start().await;
    emu.faults()
        .update(|f| f.latency = Latency::Fixed(Duration::from_millis(150)));
    let started = Instant::now();
    assert_eq!(get(&emu, "/domains").await.status().as_u16(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    emu.faults().clear();
    let started = Instant::now();
    get(&emu, "/domains").await;
    assert!(started.elapsed() < Duration::from_millis(150));
}
