use std::borrow::Cow;

use serde_json::Value;

use super::*;
use crate::records::{EventId, FirewallTag, Label};

pub(crate) fn session() -> Firewall<'static> {
    Firewall {
        event_type: FirewallTag::Firewall,
        event_id: EventId::new("00ff00ff00ff00ff", 1, 42),
        timestamp: Timestamp::from_unix_millis(1_772_863_199_999),
        firewall_name: Cow::Borrowed("fw-prod"),
        availability_zone: Cow::Borrowed("us-east-1a"),
        session_id: (1 << 48) | 7,
        src_ip: "203.0.113.9".parse().unwrap(),
        src_port: 51_000,
        dest_ip: "10.0.1.5".parse().unwrap(),
        dest_port: 443,
        protocol: TransportProtocol::Tcp,
        app_proto: AppProto::Tls,
        direction: FirewallDirection::Inbound,
        action: FirewallAction::Allow,
        rule: Cow::Borrowed("allow-ingress-https"),
        bytes_sent: 1_200,
        bytes_received: 56_000,
        packets_sent: 12,
        packets_received: 40,
        duration_ms: 2_500,
        tcp_flags: Some(19),
        http_status: None,
        session_end_reason: SessionEndReason::TcpFin,
        latency_ms: 12,
        label: None,
    }
}

fn lines(out: &[u8]) -> Vec<Value> {
    assert_eq!(out.last(), Some(&b'\n'));
    out.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()).map(|line| serde_json::from_slice(line).unwrap()).collect()
}

#[test]
fn regions_of_zones() {
    assert_eq!(region_of("us-east-1a"), "us-east-1");
    assert_eq!(region_of("eu-west-3c"), "eu-west-3");
    assert_eq!(region_of("us-gov-west-1b"), "us-gov-west-1");
    assert_eq!(region_of("us-east-1"), "us-east-1");
    assert_eq!(region_of(""), "");
    assert_eq!(FirewallLogType::Flow.as_str(), "flow");
    assert_eq!(FirewallLogType::Alert.to_string(), "alert");
}

#[test]
fn eve_timestamps_have_microseconds_and_an_offset() {
    assert_eq!(eve_time(Timestamp::from_unix_millis(1_772_863_199_999)), "2026-03-07T05:59:59.999000+0000");
    assert_eq!(eve_time(Timestamp::from_unix_millis(0)), "1970-01-01T00:00:00.000000+0000");
}

#[test]
fn one_netflow_event_per_direction_with_the_session_counts() {
    let mut out = Vec::new();
    write_flow_events(&session(), &mut out);
    let events = lines(&out);
    assert_eq!(events.len(), 2);
    let (up, down) = (&events[0], &events[1]);
    for line in &events {
        assert_eq!(line["firewall_name"], "fw-prod");
        assert_eq!(line["availability_zone"], "us-east-1a");
        assert_eq!(line["event_timestamp"], "1772863199");
        assert_eq!(line["event"]["event_type"], "netflow");
        assert_eq!(line["event"]["proto"], "TCP");
        assert_eq!(line["event"]["app_proto"], "tls");
        assert_eq!(line["event"]["timestamp"], "2026-03-07T05:59:59.999000+0000");
        assert_eq!(line["event"]["netflow"]["start"], "2026-03-07T05:59:57.499000+0000");
        assert_eq!(line["event"]["netflow"]["end"], "2026-03-07T05:59:59.999000+0000");
        assert_eq!(line["event"]["netflow"]["age"], 2);
        assert_eq!(line["event"]["flow_id"], flow_id(&session()));
    }
    assert_eq!(up["event"]["src_ip"], "203.0.113.9");
    assert_eq!(up["event"]["src_port"], 51_000);
    assert_eq!(up["event"]["dest_ip"], "10.0.1.5");
    assert_eq!(up["event"]["dest_port"], 443);
    assert_eq!(up["event"]["netflow"]["pkts"], 12);
    assert_eq!(up["event"]["netflow"]["bytes"], 1_200);
    assert_eq!(up["event"]["netflow"]["min_ttl"], 52);
    assert_eq!(down["event"]["src_ip"], "10.0.1.5");
    assert_eq!(down["event"]["dest_port"], 51_000);
    assert_eq!(down["event"]["netflow"]["pkts"], 40);
    assert_eq!(down["event"]["netflow"]["bytes"], 56_000);
    assert_eq!(down["event"]["netflow"]["max_ttl"], 64);
    // SYN + FIN + ACK up, SYN-ACK + FIN back: 0x13 and 0x13.
    assert_eq!(up["event"]["tcp"], serde_json::json!({"tcp_flags": "13", "syn": true, "fin": true, "ack": true}));
    assert_eq!(down["event"]["tcp"], serde_json::json!({"tcp_flags": "13", "syn": true, "fin": true, "ack": true}));
}

#[test]
fn direction_flags_together_carry_the_sessions_fin_syn_rst() {
    for bits in [0u8, 1, 2, 3, 4, 5, 6, 7, 18, 19, 22, 23] {
        for reason in [SessionEndReason::TcpFin, SessionEndReason::TcpRstFromClient, SessionEndReason::TcpRstFromServer] {
            for received in [0, 3] {
                let session = Firewall { tcp_flags: Some(bits), session_end_reason: reason, packets_received: received, ..session() };
                let up = direction_flags(&session, Side::ToServer).unwrap();
                let down = direction_flags(&session, Side::ToClient).unwrap();
                let reply = if received > 0 { down.bits() } else { 0 };
                assert_eq!((up.bits() | reply) & 7, bits & 7, "{bits} {reason:?} {received}");
            }
        }
    }
    let udp = Firewall { protocol: TransportProtocol::Udp, tcp_flags: None, ..session() };
    assert_eq!(direction_flags(&udp, Side::ToServer), None);
}

#[test]
fn a_refused_session_has_no_reply_event_and_one_blocked_alert() {
    let refused = Firewall {
        action: FirewallAction::Drop,
        packets_received: 0,
        bytes_received: 0,
        tcp_flags: Some(2),
        session_end_reason: SessionEndReason::PolicyDeny,
        rule: Cow::Borrowed("deny-ingress-ssh"),
        label: Some(Label { kind: crate::records::AnomalyKind::PortScan, episode_id: Cow::Borrowed("ep-1") }),
        ..session()
    };
    let mut out = Vec::new();
    write_flow_events(&refused, &mut out);
    let events = lines(&out);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event"]["tcp"], serde_json::json!({"tcp_flags": "02", "syn": true}));
    let mut alert = Vec::new();
    assert!(write_alert_event(&refused, &mut alert));
    let alert = lines(&alert);
    assert_eq!(alert.len(), 1);
    let event = &alert[0]["event"];
    assert_eq!(event["event_type"], "alert");
    assert_eq!(event["flow_id"], flow_id(&refused));
    assert_eq!(event["src_ip"], "203.0.113.9");
    assert_eq!(event["alert"]["action"], "blocked");
    assert_eq!(event["alert"]["signature"], "deny-ingress-ssh");
    assert_eq!(event["alert"]["signature_id"], signature_id("deny-ingress-ssh"));
    assert_eq!(event["alert"]["severity"], 2);
    assert!(event["alert"]["category"].as_str().is_some_and(|text| !text.is_empty()));
}

#[test]
fn alerts_for_deny_drop_and_reset_only() {
    for (action, expected) in
        [(FirewallAction::Allow, false), (FirewallAction::Deny, true), (FirewallAction::Drop, true), (FirewallAction::Reset, true)]
    {
        let mut out = Vec::new();
        assert_eq!(write_alert_event(&Firewall { action, ..session() }, &mut out), expected);
        assert_eq!(out.is_empty(), !expected);
    }
}

#[test]
fn signature_ids_are_stable_local_sids() {
    assert_eq!(signature_id("deny-ingress-ssh"), signature_id("deny-ingress-ssh"));
    assert_ne!(signature_id("deny-ingress-ssh"), signature_id("deny-ingress-rdp"));
    for rule in ["a", "allow-egress-https", "deny-all"] {
        assert!((1_000_000..2_000_000).contains(&signature_id(rule)));
    }
    // Pinned: a change of the derivation changes every published id.
    assert_eq!(signature_id("deny-all"), 1_000_000 + (twox_hash::XxHash64::oneshot(0, b"deny-all") % 1_000_000) as u32);
}

#[test]
fn flow_ids_are_53_bits_and_differ_by_run_and_session() {
    let base = session();
    let other_session = Firewall { session_id: base.session_id + 1, ..session() };
    let other_run = Firewall { event_id: EventId::new("0123456789abcdef", 1, 42), ..session() };
    assert!(flow_id(&base) < 1 << 53);
    assert_ne!(flow_id(&base), flow_id(&other_session));
    assert_ne!(flow_id(&base), flow_id(&other_run));
}

#[test]
fn icmp_events_carry_type_and_code_instead_of_ports() {
    let ping = Firewall {
        protocol: TransportProtocol::Icmp,
        app_proto: AppProto::Unknown,
        src_port: 0,
        dest_port: 0,
        tcp_flags: None,
        direction: FirewallDirection::Internal,
        ..session()
    };
    let mut out = Vec::new();
    write_flow_events(&ping, &mut out);
    let events = lines(&out);
    assert_eq!(events[0]["event"]["proto"], "ICMP");
    assert_eq!(events[0]["event"]["icmp_type"], 8);
    assert_eq!(events[1]["event"]["icmp_type"], 0);
    for event in &events {
        assert!(event["event"].get("src_port").is_none() && event["event"].get("tcp").is_none());
        assert!(event["event"].get("app_proto").is_none());
    }
}

#[test]
fn app_protos_use_suricata_names() {
    assert_eq!(app_proto(AppProto::Postgresql), Some("pgsql"));
    assert_eq!(app_proto(AppProto::Http), Some("http"));
    assert_eq!(app_proto(AppProto::Redis), None);
}

#[test]
fn odd_names_are_escaped() {
    let odd = Firewall { firewall_name: Cow::Borrowed("fw \"quoted\""), ..session() };
    let mut out = Vec::new();
    write_flow_events(&odd, &mut out);
    assert_eq!(lines(&out)[0]["firewall_name"], "fw \"quoted\"");
}
