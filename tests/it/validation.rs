//! The validation function names each class of fault: typing faults from serde, semantic faults
//! from the rules. Starts from a real generated record and breaks one thing at a time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use netchaos::records::{self, RejectReason, Timestamp};
use serde_json::{Value, json};

use crate::common::{chaos, run, settings};

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

#[test]
fn packets_and_bytes_whose_product_overflows_are_rejected_not_saturated() {
    let (flow, firewall) = samples();
    // One byte per packet, u64::MAX of each: packets × 40 header bytes does not fit in a u64.
    let overflowing = with(&with(&flow, "packets", json!(u64::MAX)), "bytes", json!(u64::MAX));
    assert_eq!(reason_of(&overflowing), Err((RejectReason::BytesBelowPacketMinimum, Some("bytes".to_owned()))));
    let rejection = records::validate(overflowing.to_string().as_bytes()).expect_err("rejected");
    assert!(rejection.detail.contains("more than any byte count can hold"), "{}", rejection.detail);
    // The largest packet count whose minimum still fits is judged on its numbers.
    let most = u64::MAX / 40;
    assert_eq!(reason_of(&with(&with(&flow, "packets", json!(most)), "bytes", json!(most * 40))), Ok(()));
    assert_eq!(
        reason_of(&with(&with(&flow, "packets", json!(most)), "bytes", json!(most * 40 - 1))).map_err(|(reason, _)| reason),
        Err(RejectReason::BytesBelowPacketMinimum)
    );
    for (packets, bytes) in [("packets_sent", "bytes_sent"), ("packets_received", "bytes_received")] {
        let overflowing = with(&with(&firewall, packets, json!(u64::MAX)), bytes, json!(u64::MAX));
        assert_eq!(reason_of(&overflowing), Err((RejectReason::BytesBelowPacketMinimum, Some(bytes.to_owned()))), "{packets}");
    }
}

#[test]
fn times_outside_1970_to_9999_are_rejected_as_out_of_range() {
    let (flow, firewall) = samples();
    let latest = Timestamp::LATEST_SECONDS;
    let out_of_range = |value: &Value, field: &str| {
        assert_eq!(reason_of(value), Err((RejectReason::OutOfRange, Some(field.to_owned()))), "{value}");
    };
    out_of_range(&with(&with(&flow, "start", json!(i64::MAX)), "end", json!(i64::MAX)), "start");
    out_of_range(&with(&with(&flow, "start", json!(latest)), "end", json!(latest + 1)), "end");
    out_of_range(&with(&with(&flow, "start", json!(-1)), "end", json!(0)), "start");
    assert_eq!(reason_of(&with(&with(&flow, "start", json!(latest - 10)), "end", json!(latest))), Ok(()), "the last second is valid");
    out_of_range(&with(&firewall, "timestamp", json!("1969-12-31T23:59:59.999Z")), "timestamp");
    out_of_range(&with(&firewall, "timestamp", json!("+010000-01-01T00:00:00.000Z")), "timestamp");
    assert_eq!(reason_of(&with(&firewall, "timestamp", json!("9999-12-31T23:59:59.999Z"))), Ok(()));
    assert_eq!(
        reason_of(&with(&firewall, "timestamp", json!("0999-12-31T23:59:59.999Z"))).map_err(|(r, _)| r),
        Err(RejectReason::OutOfRange)
    );

    // The encoder writes a time past 9999 as it is, and the validator rejects what it wrote.
    let text = with(&firewall, "timestamp", json!(Timestamp::LATEST.to_string())).to_string();
    let records::Record::Firewall(mut session) = records::validate(text.as_bytes()).expect("valid") else { panic!("a firewall record") };
    session.timestamp = Timestamp::from_unix_millis(Timestamp::LATEST.unix_millis() + 1);
    let mut encoded = Vec::new();
    records::write_record(&records::Record::Firewall(session.clone()), &mut encoded);
    assert_eq!(encoded, serde_json::to_vec(&records::Record::Firewall(session)).unwrap());
    assert!(String::from_utf8_lossy(&encoded).contains("\"timestamp\":\"+010000-01-01T00:00:00.000Z\""));
    let rejection = records::validate(&encoded).expect_err("out of range");
    assert_eq!((rejection.reason, rejection.field.as_deref()), (RejectReason::OutOfRange, Some("timestamp")));
}

/// The names the schema bounds with `minLength` / `maxLength`, and the value of each in `base`.
fn bounded_names(flow: &Value, firewall: &Value) -> Vec<(Value, &'static str)> {
    let labelled = with(flow, "label", json!({"kind": "port_scan", "episode_id": "e"}));
    vec![(firewall.clone(), "firewall_name"), (firewall.clone(), "rule"), (labelled, "label.episode_id")]
}

#[test]
fn the_schema_and_the_validator_count_characters_alike() {
    let (flow, firewall) = samples();
    let schema = records::json_schema();
    let validator = jsonschema::validator_for(&schema).expect("schema");
    for (base, field) in bounded_names(&flow, &firewall) {
        for (piece, bytes_each) in [("a", 1), ("é", 2), ("€", 3), ("😀", 4)] {
            for (count, should_pass) in [(1, true), (128, true), (129, false)] {
                let text = piece.repeat(count);
                assert_eq!(text.len(), count * bytes_each);
                let value = match field.split_once('.') {
                    Some((outer, inner)) => {
                        let mut value = base.clone();
                        value[outer][inner] = json!(text);
                        value
                    }
                    None => with(&base, field, json!(text)),
                };
                let by_schema = validator.is_valid(&value);
                let by_validator = reason_of(&value).is_ok();
                assert_eq!(by_schema, by_validator, "{field}: {count} × {piece:?}: schema {by_schema}, validator {by_validator}");
                assert_eq!(by_validator, should_pass, "{field}: {count} × {piece:?}");
            }
        }
        let empty = match field.split_once('.') {
            Some((outer, inner)) => {
                let mut value = base.clone();
                value[outer][inner] = json!("");
                value
            }
            None => with(&base, field, json!("")),
        };
        assert!(!validator.is_valid(&empty) && reason_of(&empty).is_err(), "{field}: empty");
    }
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
