//! Each operation sends exactly the method, path, query, headers and body Gandi expects.

use dns01_core::{CreateOutcome, RelativeName, RrsetStore, TxtRrset, TxtValue};
use dns01_gandi::{Credentials, GandiStore, USER_AGENT};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

fn rrset(ttl: u32, values: &[&str]) -> TxtRrset {
    TxtRrset {
        ttl,
        values: values.iter().map(|v| TxtValue::new(*v).unwrap()).collect(),
    }
}

#[tokio::test]
async fn read_sends_a_bearer_token_user_agent_and_sharing_id_and_decodes_quoted_values() {
    let server = MockServer::start().await;
    let long = "x".repeat(300);
    Mock::given(method("GET"))
        .and(path(rrset_path()))
        .and(query_param("sharing_id", "org-uuid-1"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("user-agent", USER_AGENT))
        .and(header("accept", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "rrset_type": "TXT",
            "rrset_ttl": 600,
            "rrset_name": "_acme-challenge.app",
            "rrset_href": "https://api.gandi.net/v5/livedns/domains/example.com/records/_acme-challenge.app/TXT",
            "rrset_values": [
                "\"simple\"",
                "\"say \\\"hi\\\"\"",
                format!("\"{}\" \"{}\"", &long[..255], &long[255..]),
                "unquoted"
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let store = GandiStore::new(config(&server).with_sharing_id("org-uuid-1")).unwrap();
    let got = store.read_txt(&zone(), &name()).await.unwrap().unwrap();
    assert_eq!(got.ttl, 600);
    let values: Vec<&str> = got.values.iter().map(TxtValue::as_str).collect();
    assert_eq!(values, ["simple", "say \"hi\"", long.as_str(), "unquoted"]);
}

#[tokio::test]
async fn a_legacy_api_key_is_sent_with_the_apikey_scheme() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{BASE}/domains/example.com")))
        .and(header(
            "authorization",
            format!("Apikey {API_KEY}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"fqdn": "example.com"})))
        .expect(1)
        .mount(&server)
        .await;
    let store = GandiStore::new(config_with(&server, Credentials::api_key(API_KEY))).unwrap();
    assert!(store.probe_zone(&zone()).await.unwrap());
    assert_store_redacted(&store);
}

#[tokio::test]
async fn create_posts_the_whole_rrset_as_json_and_reports_created_on_201() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{BASE}/domains/example.com/records")))
        .and(header("content-type", "application/json"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_json(json!({
            "rrset_name": "_acme-challenge.app",
            "rrset_type": "TXT",
            "rrset_ttl": 300,
            "rrset_values": ["\"LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ\""]
        })))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"message": "DNS Record Created"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let outcome = store(&server)
        .create_txt(
            &zone(),
            &name(),
            &rrset(300, &["LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ"]),
        )
        .await
        .unwrap();
    assert_eq!(outcome, CreateOutcome::Created);
}

#[tokio::test]
async fn create_of_an_existing_rrset_answers_409_and_reports_already_exists() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{BASE}/domains/example.com/records")))
        .respond_with(gandi(409, BODY_409))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = store(&server)
        .create_txt(&zone(), &name(), &rrset(300, &["k"]))
        .await
        .unwrap();
    assert_eq!(outcome, CreateOutcome::AlreadyExists);
}

#[tokio::test]
async fn replace_puts_ttl_and_every_value_escaped_and_accepts_201() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path(rrset_path()))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "rrset_ttl": 600,
            "rrset_values": ["\"a\"", "\"with \\\"quotes\\\" and \\\\\""]
        })))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"message": "DNS Record Created"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    store(&server)
        .replace_txt(
            &zone(),
            &name(),
            &rrset(600, &["a", "with \"quotes\" and \\"]),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn replace_with_no_values_deletes_the_rrset_instead() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path(rrset_path()))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&server)
        .await;
    store(&server)
        .replace_txt(&zone(), &name(), &rrset(300, &[]))
        .await
        .unwrap();
}

#[tokio::test]
async fn ttls_outside_gandis_bounds_are_clamped_before_sending() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(body_json(
            json!({"rrset_ttl": 300, "rrset_values": ["\"low\""]}),
        ))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(body_json(
            json!({"rrset_ttl": 2_592_000, "rrset_values": ["\"high\""]}),
        ))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let store = store(&server);
    store
        .replace_txt(&zone(), &name(), &rrset(60, &["low"]))
        .await
        .unwrap();
    store
        .replace_txt(&zone(), &name(), &rrset(10_000_000, &["high"]))
        .await
        .unwrap();
}

#[tokio::test]
async fn delete_answers_204_and_the_apex_is_percent_encoded() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path(format!("{BASE}/domains/example.com/records/%40/TXT")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    store(&server)
        .delete_txt(&zone(), &RelativeName::APEX)
        .await
        .unwrap();
}

#[tokio::test]
async fn foreign_values_in_an_unusual_form_are_written_back_exactly_as_read() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(rrset_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "rrset_ttl": 300,
            "rrset_values": ["\"v=spf1\" \"-all\"", "\"ours\""]
        })))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(rrset_path()))
        .and(body_json(json!({
            "rrset_ttl": 300,
            "rrset_values": ["\"v=spf1\" \"-all\"", "\"new\""]
        })))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let store = store(&server);
    let mut got = store.read_txt(&zone(), &name()).await.unwrap().unwrap();
    assert_eq!(
        got.values[0].as_str(),
        "v=spf1-all",
        "chunks are concatenated"
    );
    got.values[1] = TxtValue::new("new").unwrap();
    store.replace_txt(&zone(), &name(), &got).await.unwrap();
}

#[tokio::test]
async fn list_zones_follows_pagination_until_the_total_count() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{BASE}/domains")))
        .and(query_param("page", "1"))
        .and(query_param("per_page", "100"))
        .and(query_param("sharing_id", "org"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Total-Count", "3")
                .insert_header(
                    "Link",
                    format!("<{}{BASE}/domains?page=2>; rel=\"next\"", server.uri()).as_str(),
                )
                .set_body_json(json!([{"fqdn": "example.com"}, {"fqdn": "example.co.uk"}])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{BASE}/domains")))
        .and(query_param("page", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Total-Count", "3")
                .set_body_json(
                    json!([{"fqdn": "xn--bcher-kva.example", "fqdn_unicode": "bücher.example"}]),
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let store = GandiStore::new(config(&server).with_sharing_id("org")).unwrap();
    let zones = store.list_zones().await.unwrap();
    let names: Vec<&str> = zones.iter().map(|z| z.as_str()).collect();
    assert_eq!(
        names,
        ["example.com", "example.co.uk", "xn--bcher-kva.example"]
    );
}

#[tokio::test]
async fn list_zones_stops_after_a_short_page_without_pagination_headers() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{BASE}/domains")))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"fqdn": "example.com"}])))
        .expect(1)
        .mount(&server)
        .await;
    let zones = store(&server).list_zones().await.unwrap();
    assert_eq!(zones, [zone()]);
}
