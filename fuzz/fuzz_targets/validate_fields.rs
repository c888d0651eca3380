//! Structure-aware: a valid flow or firewall record with some of its fields replaced by values the
//! fuzzer chooses (numbers at the edges of their types, strings, nulls, nested values), so that
//! the semantic rules, not only the JSON parser, are explored.
//!
//! Checks what `validate_bytes` checks, plus: a record that passes carries only fields that
//! re-encode to the same JSON value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netchaos_fuzz::records;
use serde_json::{Value, json};

const FLOW: &str = r#"{"event_type":"vpc_flow","event_id":"00ff00ff00ff00ff-0-1","version":5,"account_id":"123456789012","interface_id":"eni-0123456789abcdef0","srcaddr":"10.0.0.1","dstaddr":"10.0.0.2","srcport":40000,"dstport":443,"protocol":6,"packets":3,"bytes":400,"start":1700000000,"end":1700000010,"action":"ACCEPT","log_status":"OK","vpc_id":"vpc-0123456789abcdef0","subnet_id":"subnet-0123456789abcdef0","instance_id":"i-0123456789abcdef0","tcp_flags":3,"type":"IPv4","pkt_srcaddr":"10.0.0.1","pkt_dstaddr":"10.0.0.2","region":"us-east-1","az_id":"use1-az1","sublocation_type":null,"sublocation_id":null,"pkt_src_aws_service":null,"pkt_dst_aws_service":null,"flow_direction":"egress","traffic_path":1,"latency_ms":20,"label":null}"#;
const FIREWALL: &str = r#"{"event_type":"firewall","event_id":"00ff00ff00ff00ff-1-7","timestamp":"2026-11-27T20:37:11.123Z","firewall_name":"edge-fw-1","availability_zone":"us-east-1a","session_id":42,"src_ip":"10.0.0.1","src_port":40000,"dest_ip":"10.0.0.2","dest_port":80,"protocol":"TCP","app_proto":"http","direction":"outbound","action":"allow","rule":"allow-web","bytes_sent":600,"bytes_received":4000,"packets_sent":5,"packets_received":6,"duration_ms":120,"tcp_flags":19,"http_status":200,"session_end_reason":"tcp-fin","latency_ms":15,"label":{"kind":"latency_spike","episode_id":"ep-1"}}"#;

/// A value from a few bytes: the kinds of value that sit at the edges of the field types.
fn value_from(bytes: &mut std::slice::Iter<'_, u8>) -> Value {
    let mut next = || bytes.next().copied().unwrap_or(0);
    let wide = |b: [u8; 8]| u64::from_le_bytes(b);
    match next() % 12 {
        0 => Value::Null,
        1 => json!(next() % 2 == 0),
        2 => json!(u64::MAX - u64::from(next())),
        3 => json!(i64::MIN + i64::from(next())),
        4 => json!(i64::MAX - i64::from(next())),
        5 => json!(wide([next(), next(), next(), next(), next(), next(), next(), next()])),
        6 => json!(i64::from(next()) - 128),
        7 => json!(f64::from(next()) / 3.0),
        8 => {
            let length = usize::from(next() % 40);
            let text: String = (0..length).map(|_| char::from_u32(u32::from(next()) * 37 % 0x11_0000).unwrap_or('é')).collect();
            json!(text)
        }
        9 => json!(["x", next()]),
        10 => json!({ "kind": "port_scan", "episode_id": "é".repeat(usize::from(next())) }),
        _ => json!(u64::from(next()) * u64::from(next()) * 257),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else { return };
    let mut record: Value = serde_json::from_str(if choice % 2 == 0 { FLOW } else { FIREWALL }).expect("template");
    let names: Vec<String> = record.as_object().expect("object").keys().cloned().collect();
    let mut bytes = rest.iter();
    while let Some(&which) = bytes.next() {
        let name = &names[usize::from(which) % names.len()];
        if which >= 250 {
            record.as_object_mut().expect("object").remove(name);
        } else {
            record[name] = value_from(&mut bytes);
        }
    }
    let text = record.to_string();
    let Ok(accepted) = records::validate(text.as_bytes()) else { return };
    let mut encoded = Vec::new();
    records::write_record(&accepted, &mut encoded);
    assert_eq!(encoded, serde_json::to_vec(&accepted).expect("serializes"), "the fast writer and serde_json disagree");
    let reparsed: Value = serde_json::from_slice(&encoded).expect("json");
    assert_eq!(reparsed, record, "an accepted record does not re-encode to its input");
    assert_eq!(records::validate(&encoded).expect("accepted again"), accepted);
});
