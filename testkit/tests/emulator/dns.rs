//! The authoritative DNS server: answers from the API's state the instant it is written.

use dns01_testkit::emulator::probe;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use reqwest::Method;

use crate::common::{PAT, client, send_json, start, tcp_query, txt_strings, txt_values, udp_query};

const NAME: &str = "_acme-challenge.example.com.";

#[tokio::test]
async fn a_txt_value_posted_through_the_api_is_served_at_once_and_gone_after_delete() {
    let emu = start().await;
    let resp = send_json(
        &emu,
        Method::POST,
        "/domains/example.com/records",
        r#"{"rrset_name": "_acme-challenge", "rrset_type": "TXT", "rrset_ttl": 300, "rrset_values": ["token-1"]}"#,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 201);
    let msg = udp_query(emu.dns_addr(), NAME, RecordType::TXT, None).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    assert!(msg.metadata.authoritative);
    assert_eq!(txt_values(&msg), ["token-1"]);
    assert_eq!(msg.answers[0].ttl, 300);

    let resp = client()
        .delete(format!(
            "{}/domains/example.com/records/_acme-challenge/TXT",
            emu.api_url()
        ))
        .bearer_auth(PAT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let msg = udp_query(emu.dns_addr(), NAME, RecordType::TXT, None).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::NXDomain);
    assert!(msg.answers.is_empty());
    assert!(
        matches!(msg.authorities[0].data, RData::SOA(_)),
        "SOA in authority"
    );
}

#[tokio::test]
async fn an_existing_name_without_the_asked_type_is_nodata() {
    let emu = start().await;
    emu.seed_rrset("example.com", "host", "A", 300, ["192.0.2.7"])
        .unwrap();
    let msg = udp_query(emu.dns_addr(), "host.example.com.", RecordType::TXT, None).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    assert!(msg.answers.is_empty());
    assert!(matches!(msg.authorities[0].data, RData::SOA(_)));
    let msg = udp_query(emu.dns_addr(), "HOST.Example.COM.", RecordType::A, None).await;
    assert_eq!(msg.answers.len(), 1, "names are case-insensitive");
    assert!(matches!(&msg.answers[0].data, RData::A(a) if a.0.octets() == [192, 0, 2, 7]));
}

#[tokio::test]
async fn an_empty_non_terminal_is_nodata_not_nxdomain() {
    let emu = start().await;
    emu.seed_rrset("example.com", "a.b.c", "TXT", 300, ["deep"])
        .unwrap();
    let msg = udp_query(emu.dns_addr(), "b.c.example.com.", RecordType::TXT, None).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    assert!(msg.answers.is_empty());
    let msg = udp_query(emu.dns_addr(), "x.c.example.com.", RecordType::TXT, None).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn an_empty_rrset_left_by_put_serves_no_txt() {
    let emu = start().await;
    emu.seed_rrset("example.com", "_acme-challenge", "TXT", 300, ["v"])
        .unwrap();
    send_json(
        &emu,
        Method::PUT,
        "/domains/example.com/records/_acme-challenge/TXT",
        r#"{"rrset_ttl": 300, "rrset_values": []}"#,
    )
    .await;
    let msg = udp_query(emu.dns_addr(), NAME, RecordType::TXT, None).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    assert!(msg.answers.is_empty());
}

#[tokio::test]
async fn a_cname_into_our_zones_is_chased_and_one_outside_is_not() {
    let emu = start().await;
    emu.set_cname(
        "example.com",
        "_acme-challenge.app",
        "label.second.example.",
    )
    .unwrap();
    emu.seed_rrset("second.example", "label", "TXT", 300, ["delegated"])
        .unwrap();
    let msg = udp_query(
        emu.dns_addr(),
        "_acme-challenge.app.example.com.",
        RecordType::TXT,
        None,
    )
    .await;
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    assert_eq!(msg.answers.len(), 2);
    assert!(
        matches!(&msg.answers[0].data, RData::CNAME(c) if c.0.to_ascii() == "label.second.example.")
    );
    assert_eq!(msg.answers[1].name.to_ascii(), "label.second.example.");
    assert_eq!(txt_values(&msg), ["delegated"]);

    let cname_only = udp_query(
        emu.dns_addr(),
        "_acme-challenge.app.example.com.",
        RecordType::CNAME,
        None,
    )
    .await;
    assert_eq!(cname_only.answers.len(), 1);

    emu.set_cname("example.com", "out", "elsewhere.invalid.")
        .unwrap();
    let msg = udp_query(emu.dns_addr(), "out.example.com.", RecordType::TXT, None).await;
    assert_eq!(msg.answers.len(), 1);
    assert!(matches!(msg.answers[0].data, RData::CNAME(_)));
}

#[tokio::test]
async fn names_outside_our_zones_are_refused() {
    let emu = start().await;
    let msg = udp_query(emu.dns_addr(), "example.org.", RecordType::TXT, None).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::Refused);
    assert!(!msg.metadata.authoritative);
}

#[tokio::test]
async fn a_long_value_is_one_txt_record_of_several_strings() {
    let emu = start().await;
    let long = "x".repeat(300);
    send_json(
        &emu,
        Method::PUT,
        "/domains/example.com/records/_acme-challenge/TXT",
        &format!(r#"{{"rrset_ttl": 300, "rrset_values": ["{long}"]}}"#),
    )
    .await;
    let msg = udp_query(emu.dns_addr(), NAME, RecordType::TXT, None).await;
    let strings = txt_strings(&msg);
    assert_eq!(strings.len(), 1, "one TXT record");
    assert_eq!(strings[0].len(), 2, "two character-strings");
    assert_eq!(strings[0][0].len(), 255);
    assert_eq!(strings[0].concat(), long);
}

#[tokio::test]
async fn tcp_queries_are_answered_like_udp_ones() {
    let emu = start().await;
    emu.seed_rrset("example.com", "_acme-challenge", "TXT", 300, ["over-tcp"])
        .unwrap();
    let msg = tcp_query(emu.dns_addr(), NAME, RecordType::TXT).await;
    assert!(msg.metadata.authoritative);
    assert_eq!(txt_values(&msg), ["over-tcp"]);
}

#[tokio::test]
async fn a_large_udp_answer_is_truncated_without_edns_and_whole_with_it() {
    let emu = start().await;
    let values: Vec<String> = (0..20)
        .map(|i| format!("{i:02}-{}", "v".repeat(60)))
        .collect();
    emu.seed_rrset("example.com", "_acme-challenge", "TXT", 300, &values)
        .unwrap();
    let plain = udp_query(emu.dns_addr(), NAME, RecordType::TXT, None).await;
    assert!(plain.metadata.truncation, "TC set over 512 bytes");
    assert!(plain.answers.is_empty());
    let big = udp_query(emu.dns_addr(), NAME, RecordType::TXT, Some(4096)).await;
    assert!(!big.metadata.truncation);
    assert_eq!(big.answers.len(), 20);
    assert!(big.edns.is_some(), "EDNS answered with EDNS");
    let small_edns = udp_query(emu.dns_addr(), NAME, RecordType::TXT, Some(1232)).await;
    assert!(small_edns.metadata.truncation);
    let tcp = tcp_query(emu.dns_addr(), NAME, RecordType::TXT).await;
    assert_eq!(tcp.answers.len(), 20);
}

#[tokio::test]
async fn the_apex_serves_soa_and_ns() {
    let emu = start().await;
    let soa = udp_query(emu.dns_addr(), "example.com.", RecordType::SOA, None).await;
    assert_eq!(soa.answers.len(), 1);
    assert!(matches!(soa.answers[0].data, RData::SOA(_)));
    let ns = udp_query(emu.dns_addr(), "example.com.", RecordType::NS, None).await;
    assert_eq!(ns.answers.len(), 1);
    assert!(matches!(ns.answers[0].data, RData::NS(_)));
}

#[tokio::test]
async fn a_wildcard_rrset_answers_for_names_that_do_not_exist() {
    let emu = start().await;
    emu.seed_rrset("example.com", "*.wild", "TXT", 300, ["w"])
        .unwrap();
    let msg = udp_query(
        emu.dns_addr(),
        "any.wild.example.com.",
        RecordType::TXT,
        None,
    )
    .await;
    assert_eq!(txt_values(&msg), ["w"]);
    assert_eq!(msg.answers[0].name.to_ascii(), "any.wild.example.com.");
}

#[tokio::test]
async fn dig_sees_what_the_api_wrote() {
    let emu = start().await;
    emu.seed_rrset("example.com", "_acme-challenge", "TXT", 300, ["dig-value"])
        .unwrap();
    let Some(out) = probe::dig(emu.dns_addr(), &["+short", "TXT", NAME])
        .await
        .unwrap()
    else {
        return;
    };
    assert_eq!(out.trim(), "\"dig-value\"");
    let out = probe::dig(emu.dns_addr(), &["+tcp", "TXT", "nothing.example.com."])
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(out.contains("NXDOMAIN"), "{out}");
}

#[tokio::test]
async fn the_probe_client_reports_rcode_flags_and_strings() {
    let emu = start().await;
    emu.seed_rrset(
        "example.com",
        "_acme-challenge",
        "TXT",
        300,
        ["x".repeat(256)],
    )
    .unwrap();
    for transport in [probe::Transport::Udp, probe::Transport::Tcp] {
        let a = probe::query(emu.dns_addr(), NAME, "TXT", transport)
            .await
            .unwrap();
        assert_eq!(a.rcode, "NOERROR");
        assert!(a.authoritative);
        assert_eq!(a.answers[0].strings.len(), 2);
        assert_eq!(a.txt_values(), ["x".repeat(256)]);
        let missing = probe::query(emu.dns_addr(), "nope.example.com", "TXT", transport)
            .await
            .unwrap();
        assert!(missing.is_nxdomain());
        assert_eq!(missing.authority_types, ["SOA"]);
    }
}

#[tokio::test]
async fn garbage_datagrams_do_not_stop_the_server() {
    let emu = start().await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for junk in [&b""[..], b"\x01", &[0xffu8; 12][..], &[0x12u8; 300][..]] {
        sock.send_to(junk, emu.dns_addr()).await.unwrap();
    }
    let mut tcp = tokio::net::TcpStream::connect(emu.dns_addr())
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut tcp, &[0, 3, 1, 2, 3])
        .await
        .unwrap();
    emu.seed_rrset("example.com", "_acme-challenge", "TXT", 300, ["alive"])
        .unwrap();
    let msg = udp_query(emu.dns_addr(), NAME, RecordType::TXT, None).await;
    assert_eq!(txt_values(&msg), ["alive"]);
}
