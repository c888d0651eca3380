//! The validation function names each class of fault: typing faults from serde, semantic faults
//! from the rules. Starts from a real generated record and breaks one thing at a time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use netchaos::records::{self, RejectReason};
use serde_json::{Value, json};

use common::{chaos, run, settings};

/// A valid flow and a valid firewall record of the generator's, as JSON values.
fn samples() -> (Value, Value) {
    let (sink, _) = run(&settings(1, 1, 2_000, chaos(0.0, 0.0, 0.0, 0.0)));
    let mut flow = None;
    let mut firewall = None;
    for line in sink.lines() {
        let value: Value = serde_json::from_slice(line).expect("json");
        let is_tcp_ok = value["protocol"] == json!(6) && value["log_status"] == json!("OK") && value["action"] == json!("ACCEPT");
        if value["event_type"] == json!("vpc_flow") && is_tcp_ok && flow.is_none() {
            flow = Some(value);
        } else if value["event_type"] == json!("firewall") && value["app_proto"] == json!("http") && firewall.is_none() {
            firewall = Some(value);
        }
    }
    (flow.expect("a TCP flow"), firewall.expect("an HTTP firewall record"))
}

fn reason_of(value: &Value) -> Result<(), (RejectReason, Option<String>)> {
    let text = value.to_string();
    records::validate(text.as_bytes()).map(|_| ()).map_err(|rejection| (rejection.reason, rejection.field))
}

fn with(base: &Value, field: &str, new_value: Value) -> Value {
    let mut changed = base.clone();
    changed[field] = new_value;
    changed
}

fn without(base: &Value, field: &str) -> Value {
    let mut changed = base.clone();
    changed.as_object_mut().expect("object").remove(field);
    changed
}

#[test]
fn samples_are_valid() {
    let (flow, firewall) = samples();
    assert_eq!(reason_of(&flow), Ok(()));
    assert_eq!(reason_of(&firewall), Ok(()));
}

#[test]
fn each_flow_fault_has_its_own_reason() {
    let (flow, _) = samples();
    let start = flow["start"].as_i64().expect("start");
    let packets = flow["packets"].as_u64().expect("packets");
    let cases: Vec<(&str, Value, RejectReason)> = vec![
        ("unknown field", with(&flow, "colour", json!("red")), RejectReason::UnknownField),
        ("missing field", without(&flow, "dstport"), RejectReason::MissingField),
        ("missing nullable field", without(&flow, "sublocation_id"), RejectReason::MissingField),
        ("wrong type", with(&flow, "srcport", json!("443")), RejectReason::WrongType),
        ("port out of range", with(&flow, "dstport", json!(70_000)), RejectReason::OutOfRange),
        ("negative port", with(&flow, "srcport", json!(-1)), RejectReason::OutOfRange),
        ("malformed address", with(&flow, "srcaddr", json!("10.0.0.300")), RejectReason::MalformedAddress),
        ("unknown enum value", with(&flow, "action", json!("MAYBE")), RejectReason::UnknownEnumValue),
        ("unknown event type", with(&flow, "event_type", json!("dns_query")), RejectReason::UnknownEventType),
        ("start after end", with(&flow, "start", json!(flow["end"].as_i64().expect("end") + 1)), RejectReason::StartAfterEnd),
        ("window too long", with(&flow, "start", json!(start - 700)), RejectReason::WindowTooLong),
        ("tcp flags on udp", with(&flow, "protocol", json!(17)), RejectReason::TcpFlagsOnNonTcp),
        ("impossible tcp flags", with(&flow, "tcp_flags", json!(16)), RejectReason::InvalidTcpFlags),
        ("unknown protocol", with(&flow, "protocol", json!(99)), RejectReason::UnknownProtocol),
        ("bytes below packets × header", with(&flow, "bytes", json!(packets * 40 - 1)), RejectReason::BytesBelowPacketMinimum),
        ("bytes above packets × max", with(&flow, "bytes", json!(packets * 65_536)), RejectReason::BytesAbovePacketMaximum),
        ("address family", with(&flow, "dstaddr", json!("2001:db8::1")), RejectReason::AddressFamilyMismatch),
        ("malformed eni", with(&flow, "interface_id", json!("eni-XYZ")), RejectReason::MalformedIdentifier),
        ("unknown region", with(&flow, "region", json!("mars-north-1")), RejectReason::UnknownRegion),
        ("malformed event id", with(&flow, "event_id", json!("abc")), RejectReason::MalformedValue),
        ("null on an OK record", with(&flow, "bytes", Value::Null), RejectReason::InconsistentLogStatus),
        ("NODATA with data", with(&flow, "log_status", json!("NODATA")), RejectReason::InconsistentLogStatus),
        (
            "traffic path on ingress",
            with(&with(&flow, "flow_direction", json!("ingress")), "traffic_path", json!(1)),
            RejectReason::TrafficPathMismatch,
        ),
        ("latency out of range", with(&flow, "latency_ms", json!(700_000)), RejectReason::OutOfRange),
        ("unknown label kind", with(&flow, "label", json!({"kind": "meteor", "episode_id": "x"})), RejectReason::UnknownEnumValue),
    ];
    for (name, value, expected) in cases {
        match reason_of(&value) {
            Err((reason, _)) => assert_eq!(reason, expected, "{name}"),
            Ok(()) => panic!("{name}: accepted {value}"),
        }
    }
}

#[test]
fn each_firewall_fault_has_its_own_reason() {
    let (_, firewall) = samples();
    let cases: Vec<(&str, Value, RejectReason)> = vec![
        ("http status on tls", with(&firewall, "app_proto", json!("tls")), RejectReason::HttpStatusWithoutHttp),
        ("http status out of range", with(&firewall, "http_status", json!(99)), RejectReason::OutOfRange),
        (
            "reset on udp",
            with(&with(&with(&firewall, "protocol", json!("UDP")), "tcp_flags", Value::Null), "action", json!("reset")),
            RejectReason::ResetOnNonTcp,
        ),
        ("denied with replies", with(&firewall, "action", json!("deny")), RejectReason::RepliesToRefusedSession),
        ("bad timestamp", with(&firewall, "timestamp", json!("yesterday")), RejectReason::MalformedValue),
        ("unknown zone", with(&firewall, "availability_zone", json!("moon-1a")), RejectReason::UnknownRegion),
        ("tcp flags missing on tcp", with(&firewall, "tcp_flags", Value::Null), RejectReason::InvalidTcpFlags),
    ];
    for (name, value, expected) in cases {
        match reason_of(&value) {
            Err((reason, _)) => assert_eq!(reason, expected, "{name}"),
            Ok(()) => panic!("{name}: accepted {value}"),
        }
    }
}

#[test]
fn framing_faults_have_their_own_reasons() {
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let cases: Vec<(&[u8], RejectReason)> = vec![
        (b"", RejectReason::Empty),
        (b"   ", RejectReason::Empty),
        (b"{\"event_type\": ", RejectReason::InvalidJson),
        (b"not json", RejectReason::InvalidJson),
        (b"\xff\xfe{}", RejectReason::NotUtf8),
        (b"[1,2,3]", RejectReason::NotAnObject),
        (b"42", RejectReason::NotAnObject),
        (b"{}", RejectReason::MissingField),
        (deep.as_bytes(), RejectReason::TooDeep),
    ];
    for (input, expected) in cases {
        let rejection = records::validate(input).expect_err("must be rejected");
        assert_eq!(rejection.reason, expected, "{:?}", String::from_utf8_lossy(input));
    }
    let big = vec![b' '; records::MAX_RECORD_BYTES + 1];
    assert_eq!(records::validate(&big).expect_err("too large").reason, RejectReason::TooLarge);
    let nested_object = format!("{{\"event_type\":\"vpc_flow\",\"x\":{}1{}}}", "{\"a\":".repeat(100), "}".repeat(100));
    assert_eq!(records::validate(nested_object.as_bytes()).expect_err("deep").reason, RejectReason::TooDeep);
}

#[test]
fn field_is_named_in_typing_errors() {
    let (flow, _) = samples();
    let rejection = records::validate(with(&flow, "dstport", json!(70_000)).to_string().as_bytes()).expect_err("rejected");
    assert_eq!(rejection.field.as_deref(), Some("dstport"));
    let rejection = records::validate(with(&flow, "colour", json!(1)).to_string().as_bytes()).expect_err("rejected");
    assert_eq!(rejection.field.as_deref(), Some("colour"));
}

#[test]
fn the_schema_rejects_what_validation_rejects_structurally() {
    let (flow, _) = samples();
    let validator = jsonschema::validator_for(&records::json_schema()).expect("schema");
    assert!(validator.is_valid(&flow));
    assert!(!validator.is_valid(&with(&flow, "colour", json!("red"))), "unknown field");
    assert!(!validator.is_valid(&without(&flow, "sublocation_id")), "missing nullable field");
    assert!(!validator.is_valid(&with(&flow, "dstport", json!(70_000))), "port range");
    assert!(!validator.is_valid(&with(&flow, "action", json!("MAYBE"))), "closed enum");
}

mod never_panics {
    use netchaos::records;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

        #[test]
        fn on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2_000)) {
            let _ = records::validate(&bytes);
        }

        #[test]
        fn on_corrupted_records(position in 0usize..700, replacement in any::<u8>(), cut in 0usize..800) {
            let line = br#"{"event_type":"vpc_flow","event_id":"00ff00ff00ff00ff-0-1","version":5,"account_id":"123456789012","interface_id":"eni-0123456789abcdef0","srcaddr":"10.0.0.1","dstaddr":"10.0.0.2","srcport":40000,"dstport":443,"protocol":6,"packets":3,"bytes":400,"start":1700000000,"end":1700000010,"action":"ACCEPT","log_status":"OK","vpc_id":"vpc-0123456789abcdef0","subnet_id":"subnet-0123456789abcdef0","instance_id":"i-0123456789abcdef0","tcp_flags":3,"type":"IPv4","pkt_srcaddr":"10.0.0.1","pkt_dstaddr":"10.0.0.2","region":"us-east-1","az_id":"use1-az1","sublocation_type":null,"sublocation_id":null,"pkt_src_aws_service":null,"pkt_dst_aws_service":null,"flow_direction":"egress","traffic_path":1,"latency_ms":20,"label":null}"#;
            prop_assert!(records::validate(line).is_ok(), "{:?}", records::validate(line).err());
            let mut corrupted = line.to_vec();
            if position < corrupted.len() {
                corrupted[position] = replacement;
            }
            corrupted.truncate(cut.max(1));
            let _ = records::validate(&corrupted);
        }
    }
}
