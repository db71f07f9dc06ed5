//! The HTTP API: exact bodies, statuses and headers from the reference.

use dns01_testkit::emulator::{Emulator, Options, Token, routes};
use reqwest::Method;
use serde_json::Value;

use crate::common::{ORG_A, ORG_B, ORG_C, PAT, client, get, send_json, start, status_body, world};

const TXT_PATH: &str = "/domains/example.com/records/_acme-challenge/TXT";

#[tokio::test]
async fn a_request_without_credentials_gets_401_without_a_code_field() {
    let emu = start().await;
    let resp = client()
        .get(format!("{}/domains", emu.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let (status, body) = status_body(resp).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        r#"{"message": "You must provide an access token or an API Key. See https://api.gandi.net/docs/authentication/"}"#
    );
}

#[tokio::test]
async fn an_unknown_or_expired_token_gets_the_shape_a_401_body() {
    let emu = start().await;
    let expected = r#"{"code": 401, "message": "The server could not verify that you authorized to access the document you requested. Either you supplied the wrong credentials (e.g., bad api key), or your access token has expired", "object": "HTTPUnauthorized", "cause": "Unauthorized"}"#;
    for auth in [
        "Bearer nope",
        "Bearer pat-expired",
        "Apikey nope",
        "Apikey ",
    ] {
        let resp = client()
            .get(format!("{}/domains", emu.api_url()))
            .header("Authorization", auth)
            .send()
            .await
            .unwrap();
        let (status, body) = status_body(resp).await;
        assert_eq!(status, 401, "{auth}");
        if auth != "Apikey " {
            assert_eq!(body, expected, "{auth}");
        }
    }
}

#[tokio::test]
async fn a_pat_presented_as_an_api_key_is_not_accepted() {
    let emu = start().await;
    let resp = client()
        .get(format!("{}/domains", emu.api_url()))
        .header("Authorization", format!("Apikey {PAT}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test]
async fn both_auth_schemes_reach_the_same_domains() {
    let emu = start().await;
    for auth in [
        format!("Bearer {PAT}"),
        "Apikey legacykey0123456789abcd".to_string(),
    ] {
        let resp = client()
            .get(format!("{}/domains/example.com", emu.api_url()))
            .header("Authorization", auth.clone())
            .send()
            .await
            .unwrap();
        let (status, body) = status_body(resp).await;
        assert_eq!(status, 200, "{auth}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["fqdn"], "example.com");
        assert_eq!(
            v["domain_records_href"],
            format!("{}/domains/example.com/records", emu.api_url())
        );
    }
}

#[tokio::test]
async fn a_read_only_token_writing_gets_403_shape_a() {
    let emu = start().await;
    let resp = client()
        .put(format!("{}{TXT_PATH}", emu.api_url()))
        .bearer_auth("pat-read")
        .header("Content-Type", "application/json")
        .body(r#"{"rrset_ttl": 300, "rrset_values": ["x"]}"#)
        .send()
        .await
        .unwrap();
    let (status, body) = status_body(resp).await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        r#"{"code": 403, "message": "Access was denied to this resource.", "object": "HTTPForbidden", "cause": "Forbidden"}"#
    );
    assert!(emu.txt_values("example.com", "_acme-challenge").is_empty());
    let read = client()
        .get(format!("{}/domains/example.com/records", emu.api_url()))
        .bearer_auth("pat-read")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status().as_u16(), 200);
}

#[tokio::test]
async fn a_domain_the_token_cannot_see_gets_404_unknown_domain() {
    let emu = start().await;
    let expected = r#"{"code": 404, "message": "Unknown domain", "object": "LocalizedHTTPNotFound", "cause": "Not Found"}"#;
    for path in [
        "/domains/nowhere.test",
        "/domains/private.org",
        "/domains/shared.net",
        "/domains/private.org/records/x/TXT",
    ] {
        let (status, body) = status_body(get(&emu, path).await).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body, expected, "{path}");
    }
}

#[tokio::test]
async fn an_absent_rrset_gets_404_resource_not_found() {
    let emu = start().await;
    let (status, body) = status_body(get(&emu, TXT_PATH).await).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        r#"{"code": 404, "message": "The resource could not be found.", "object": "HTTPNotFound", "cause": "Not Found"}"#
    );
}

#[tokio::test]
async fn a_ttl_out_of_bounds_gets_400_shape_b() {
    let emu = start().await;
    let (status, body) = status_body(
        send_json(
            &emu,
            Method::PUT,
            TXT_PATH,
            r#"{"rrset_ttl": 60, "rrset_values": ["v"]}"#,
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        r#"{"status": "error", "errors": [{"location": "body", "name": "rrset_ttl", "description": "60 is less than minimum value 300"}]}"#
    );
    let (status, body) = status_body(
        send_json(
            &emu,
            Method::POST,
            "/domains/example.com/records",
            r#"{"rrset_name": "x", "rrset_type": "TXT", "rrset_ttl": 2592001, "rrset_values": ["v"]}"#,
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        r#"{"status": "error", "errors": [{"location": "body", "name": "rrset_ttl", "description": "2592001 is greater than maximum value 2592000"}]}"#
    );
    assert!(emu.rrsets("example.com").is_empty(), "nothing written");
}

#[tokio::test]
async fn ttl_bounds_themselves_are_accepted() {
    let emu = start().await;
    for ttl in [300, 2_592_000] {
        let resp = send_json(
            &emu,
            Method::PUT,
            TXT_PATH,
            &format!(r#"{{"rrset_ttl": {ttl}, "rrset_values": ["v"]}}"#),
        )
        .await;
        assert_eq!(resp.status().as_u16(), 201, "ttl {ttl}");
    }
}

#[tokio::test]
async fn post_creates_with_201_and_a_second_post_conflicts_with_409() {
    let emu = start().await;
    let body = r#"{"rrset_name": "_acme-challenge", "rrset_type": "TXT", "rrset_ttl": 300, "rrset_values": ["one"]}"#;
    let resp = send_json(&emu, Method::POST, "/domains/example.com/records", body).await;
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let (status, text) = status_body(resp).await;
    assert_eq!(status, 201);
    assert_eq!(text, r#"{"message": "DNS Record Created"}"#);
    let (status, text) =
        status_body(send_json(&emu, Method::POST, "/domains/example.com/records", body).await)
            .await;
    assert_eq!(status, 409);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["code"], 409);
    assert_eq!(v["object"], "HTTPConflict");
    assert!(text.starts_with(r#"{"code": 409, "message": "#));
    assert_eq!(
        emu.txt_values("example.com", "_acme-challenge"),
        ["\"one\""]
    );
}

#[tokio::test]
async fn put_replaces_the_whole_rrset_with_201_and_delete_answers_204_empty() {
    let emu = start().await;
    emu.seed_rrset("example.com", "_acme-challenge", "TXT", 300, ["old"])
        .unwrap();
    let (status, text) = status_body(
        send_json(
            &emu,
            Method::PUT,
            TXT_PATH,
            r#"{"rrset_ttl": 600, "rrset_values": ["a", "b"]}"#,
        )
        .await,
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(text, r#"{"message": "DNS Record Created"}"#);
    assert_eq!(
        emu.txt_values("example.com", "_acme-challenge"),
        ["\"a\"", "\"b\""]
    );
    assert_eq!(emu.rrsets("example.com")[0].ttl, 600);

    let resp = client()
        .delete(format!("{}{TXT_PATH}", emu.api_url()))
        .bearer_auth(PAT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(resp.bytes().await.unwrap().len(), 0);
    assert!(!emu.has_rrset("example.com", "_acme-challenge", "TXT"));
}

#[tokio::test]
async fn the_put_status_is_configurable() {
    let emu = world()
        .options(Options {
            put_status: 200,
            ..Options::default()
        })
        .start()
        .await
        .unwrap();
    let resp = send_json(
        &emu,
        Method::PUT,
        TXT_PATH,
        r#"{"rrset_ttl": 300, "rrset_values": ["a"]}"#,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn get_rrset_returns_exactly_the_captured_fixture() {
    let emu = start().await;
    emu.seed_rrset("example.com", "@", "TXT", 300, ["simple"])
        .unwrap();
    let resp = get(&emu, "/domains/example.com/records/%40/TXT").await;
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let (status, body) = status_body(resp).await;
    assert_eq!(status, 200);
    let href = format!("{}/domains/example.com/records/%40/TXT", emu.api_url());
    assert_eq!(
        body,
        format!(
            r#"{{"rrset_type":"TXT","rrset_ttl":300,"rrset_name":"@","rrset_href":"{href}","rrset_values":["\"simple\""]}}"#
        )
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["rrset_type"], "TXT");
    assert_eq!(v["rrset_ttl"], 300);
    assert_eq!(v["rrset_name"], "@");
    assert_eq!(v["rrset_href"], href);
    assert_eq!(v["rrset_values"], serde_json::json!(["\"simple\""]));
    assert_eq!(v.as_object().unwrap().len(), 5);
}

#[tokio::test]
async fn wildcard_names_are_percent_encoded_in_hrefs() {
    let emu = start().await;
    emu.seed_rrset("example.com", "*", "TXT", 300, ["w"])
        .unwrap();
    let (status, body) = status_body(get(&emu, "/domains/example.com/records/%2A/TXT").await).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["rrset_href"],
        format!("{}/domains/example.com/records/%2A/TXT", emu.api_url())
    );
}

#[tokio::test]
async fn unquoted_values_are_read_back_quoted_and_quoted_values_are_kept() {
    let emu = start().await;
    send_json(
        &emu,
        Method::PUT,
        TXT_PATH,
        r#"{"rrset_ttl": 300, "rrset_values": ["plain", "\"already\"", "say \"hi\" \\o/"]}"#,
    )
    .await;
    let (_, body) = status_body(get(&emu, TXT_PATH).await).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["rrset_values"],
        serde_json::json!(["\"plain\"", "\"already\"", r#""say \"hi\" \\o/""#])
    );
    assert_eq!(
        emu.decoded_txt("example.com", "_acme-challenge.example.com."),
        ["plain", "already", r#"say "hi" \o/"#]
    );
}

#[tokio::test]
async fn values_over_255_bytes_come_back_as_several_quoted_chunks() {
    let emu = start().await;
    let long = format!("{}{}", "a".repeat(255), "b".repeat(100));
    send_json(
        &emu,
        Method::PUT,
        TXT_PATH,
        &format!(r#"{{"rrset_ttl": 300, "rrset_values": ["{long}"]}}"#),
    )
    .await;
    assert_eq!(
        emu.txt_values("example.com", "_acme-challenge"),
        [format!("\"{}\" \"{}\"", "a".repeat(255), "b".repeat(100))]
    );
    assert_eq!(emu.decoded_txt("example.com", "_acme-challenge"), [long]);
}

#[tokio::test]
async fn names_are_case_insensitive_and_absolute_names_inside_the_zone_are_relative() {
    let emu = start().await;
    let resp = send_json(
        &emu,
        Method::POST,
        "/domains/EXAMPLE.com/records",
        r#"{"rrset_name": "_ACME-Challenge.Sub.Example.COM.", "rrset_type": "txt", "rrset_ttl": 300, "rrset_values": ["v"]}"#,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 201);
    let snap = emu.rrsets("example.com");
    assert_eq!(snap.len(), 1);
    assert_eq!(snap[0].name, "_acme-challenge.sub");
    assert_eq!(snap[0].rtype, "TXT");
    let resp = get(&emu, "/domains/example.com/records/_ACME-challenge.SUB/txt").await;
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn an_absolute_name_outside_the_zone_gets_400() {
    let emu = start().await;
    let (status, body) = status_body(
        send_json(
            &emu,
            Method::POST,
            "/domains/example.com/records",
            r#"{"rrset_name": "x.example.org.", "rrset_type": "TXT", "rrset_ttl": 300, "rrset_values": ["v"]}"#,
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        r#"{"status": "error", "errors": [{"location": "body", "name": "rrset_name", "description": "Absolute rrset_name must end with example.com."}]}"#
    );
}

#[tokio::test]
async fn a_write_without_json_content_type_is_refused() {
    let emu = start().await;
    let resp = client()
        .put(format!("{}{TXT_PATH}", emu.api_url()))
        .bearer_auth(PAT)
        .body(r#"{"rrset_ttl": 300, "rrset_values": ["v"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
    assert!(emu.txt_values("example.com", "_acme-challenge").is_empty());
}

#[tokio::test]
async fn malformed_json_gets_400_shape_b() {
    let emu = start().await;
    let (status, body) =
        status_body(send_json(&emu, Method::PUT, TXT_PATH, "{not json").await).await;
    assert_eq!(status, 400);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "error");
    assert_eq!(v["errors"][0]["location"], "body");
    assert!(body.starts_with(r#"{"status": "error", "errors": [{"location": "body""#));
}

#[tokio::test]
async fn put_with_no_values_leaves_an_empty_rrset_by_default() {
    let emu = start().await;
    emu.seed_rrset("example.com", "_acme-challenge", "TXT", 300, ["v"])
        .unwrap();
    let resp = send_json(
        &emu,
        Method::PUT,
        TXT_PATH,
        r#"{"rrset_ttl": 300, "rrset_values": []}"#,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 201);
    assert!(emu.has_rrset("example.com", "_acme-challenge", "TXT"));
    let (status, body) = status_body(get(&emu, TXT_PATH).await).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["rrset_values"], serde_json::json!([]));
}

#[tokio::test]
async fn put_with_no_values_deletes_when_configured_so() {
    let emu = world()
        .options(Options {
            keep_empty_rrset: false,
            ..Options::default()
        })
        .start()
        .await
        .unwrap();
    emu.seed_rrset("example.com", "_acme-challenge", "TXT", 300, ["v"])
        .unwrap();
    send_json(
        &emu,
        Method::PUT,
        TXT_PATH,
        r#"{"rrset_ttl": 300, "rrset_values": []}"#,
    )
    .await;
    assert!(!emu.has_rrset("example.com", "_acme-challenge", "TXT"));
}

#[tokio::test]
async fn put_on_a_name_replaces_every_type_there() {
    let emu = start().await;
    emu.seed_rrset("example.com", "host", "A", 300, ["192.0.2.1"])
        .unwrap();
    let resp = send_json(
        &emu,
        Method::PUT,
        "/domains/example.com/records/host",
        r#"{"items": [{"rrset_type": "TXT", "rrset_ttl": 300, "rrset_values": ["t"]}]}"#,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 201);
    let snap = emu.rrsets("example.com");
    assert_eq!(snap.len(), 1);
    assert_eq!(snap[0].rtype, "TXT");
    let (status, body) = status_body(get(&emu, "/domains/example.com/records/host").await).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    let resp = client()
        .delete(format!(
            "{}/domains/example.com/records/host",
            emu.api_url()
        ))
        .bearer_auth(PAT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert!(emu.rrsets("example.com").is_empty());
}

#[tokio::test]
async fn cname_rrsets_can_be_created_through_the_api() {
    let emu = start().await;
    let resp = send_json(
        &emu,
        Method::POST,
        "/domains/example.com/records",
        r#"{"rrset_name": "_acme-challenge.app", "rrset_type": "CNAME", "rrset_ttl": 300, "rrset_values": ["x.second.example."]}"#,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(
        emu.values("example.com", "_acme-challenge.app", "CNAME"),
        ["x.second.example."]
    );
}

#[tokio::test]
async fn domain_listing_is_paginated_with_total_count_and_link_headers() {
    let mut builder = world();
    for i in 0..5 {
        builder = builder.zone_in_org(&format!("z{i}.test"), ORG_A);
    }
    let emu = builder.start().await.unwrap();
    // ORG_A sees example.com, second.example and z0..z4: 7 domains.
    let resp = get(&emu, "/domains?page=1&per_page=3").await;
    assert_eq!(resp.headers()["total-count"].to_str().unwrap(), "7");
    assert_eq!(
        resp.headers()["link"].to_str().unwrap(),
        format!(
            "<{}/domains?page=2&per_page=3>; rel=\"next\"",
            emu.api_url()
        )
    );
    let page1: Vec<Value> = resp.json().await.unwrap();
    assert_eq!(page1.len(), 3);
    let resp = get(&emu, "/domains?page=3&per_page=3").await;
    assert!(
        resp.headers().get("link").is_none(),
        "last page has no next link"
    );
    let page3: Vec<Value> = resp.json().await.unwrap();
    assert_eq!(page3.len(), 1);
    let all: Vec<Value> = get(&emu, "/domains").await.json().await.unwrap();
    let names: Vec<&str> = all.iter().map(|d| d["fqdn"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 7);
    assert!(!names.contains(&"shared.net") && !names.contains(&"private.org"));
}

#[tokio::test]
async fn sharing_id_reveals_only_granted_organisations() {
    let emu = start().await;
    let list = |token: &'static str, query: String| {
        let url = format!("{}/domains{query}", emu.api_url());
        async move {
            let v: Vec<Value> = client()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v.iter()
                .map(|d| d["fqdn"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list("pat-shared", String::new()).await,
        ["example.com", "second.example"]
    );
    assert_eq!(
        list("pat-shared", format!("?sharing_id={ORG_B}")).await,
        ["shared.net"]
    );
    assert_eq!(
        list("pat-shared", format!("?sharing_id={ORG_A}")).await,
        ["example.com", "second.example"]
    );
    assert!(
        list("pat-shared", format!("?sharing_id={ORG_C}"))
            .await
            .is_empty()
    );
    assert!(list(PAT, format!("?sharing_id={ORG_B}")).await.is_empty());

    let rrset = |query: &str| {
        client()
            .put(format!(
                "{}/domains/shared.net/records/x/TXT{query}",
                emu.api_url()
            ))
            .bearer_auth("pat-shared")
            .header("Content-Type", "application/json")
            .body(r#"{"rrset_ttl": 300, "rrset_values": ["v"]}"#)
            .send()
    };
    assert_eq!(rrset("").await.unwrap().status().as_u16(), 404);
    assert_eq!(
        rrset(&format!("?sharing_id={ORG_B}"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        201
    );
    assert_eq!(emu.decoded_txt("shared.net", "x"), ["v"]);
}

#[tokio::test]
async fn a_token_restricted_to_one_domain_sees_only_that_domain() {
    let emu = start().await;
    let v: Vec<Value> = client()
        .get(format!("{}/domains", emu.api_url()))
        .bearer_auth("pat-one-domain")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["fqdn"], "second.example");
    let resp = client()
        .get(format!("{}/domains/example.com", emu.api_url()))
        .bearer_auth("pat-one-domain")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}

#[tokio::test]
async fn every_response_carries_a_fresh_trace_id() {
    let emu = start().await;
    let mut ids = Vec::new();
    let responses = vec![
        client()
            .get(format!("{}/domains", emu.api_url()))
            .send()
            .await
            .unwrap(),
        get(&emu, "/domains").await,
        get(&emu, "/domains/unknown.test").await,
        get(&emu, TXT_PATH).await,
        get(&emu, "/nothing/here").await,
        send_json(
            &emu,
            Method::PUT,
            TXT_PATH,
            r#"{"rrset_ttl": 300, "rrset_values": ["v"]}"#,
        )
        .await,
    ];
    for resp in responses {
        let id = resp
            .headers()
            .get("trace-id")
            .expect("Trace-Id present")
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(id.len(), 36, "{id}");
        assert!(
            id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'),
            "{id}"
        );
        ids.push(id);
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "trace ids are fresh");
}

#[tokio::test]
async fn counters_count_by_method_route_template_and_status() {
    let emu = start().await;
    get(&emu, TXT_PATH).await;
    send_json(
        &emu,
        Method::PUT,
        TXT_PATH,
        r#"{"rrset_ttl": 300, "rrset_values": ["v"]}"#,
    )
    .await;
    get(&emu, TXT_PATH).await;
    get(&emu, "/domains").await;
    let c = emu.counters();
    assert_eq!(c.count_status("GET", routes::RRSET, 404), 1);
    assert_eq!(c.count_status("GET", routes::RRSET, 200), 1);
    assert_eq!(c.count_status("PUT", routes::RRSET, 201), 1);
    assert_eq!(emu.count("GET", routes::DOMAINS), 1);
    assert_eq!(emu.total_requests(), 4);
    assert_eq!(c.writes(), 1);
    emu.reset_counters();
    assert_eq!(emu.total_requests(), 0);
}

#[tokio::test]
async fn tokens_can_be_added_while_running() {
    let emu = Emulator::builder().zone("late.test").start().await.unwrap();
    let resp = client()
        .get(format!("{}/domains/late.test", emu.api_url()))
        .bearer_auth("late")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    emu.add_token(Token::pat("late"));
    let resp = client()
        .get(format!("{}/domains/late.test", emu.api_url()))
        .bearer_auth("late")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn the_sharing_id_header_is_honoured_only_when_enabled() {
    for (enabled, expected) in [(false, 404), (true, 200)] {
        let emu = world()
            .options(Options {
                sharing_id_header: enabled,
                ..Options::default()
            })
            .start()
            .await
            .unwrap();
        let resp = client()
            .get(format!("{}/domains/shared.net", emu.api_url()))
            .bearer_auth("pat-shared")
            .header("X-Gandi-Sharing-Id", ORG_B)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            expected,
            "header enabled: {enabled}"
        );
    }
}
