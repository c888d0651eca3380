//! A fast JSON writer for records, byte-for-byte identical to serde_json's output.
//!
//! serde_json escapes every key and string byte by byte; a record has ~33 keys and a dozen
//! strings, so that scan dominated generation (a third of the time in a profile). Here keys are
//! static, numbers go through `itoa`, IPv4 addresses are written octet by octet, and strings take
//! a fast path when they need no escaping (the generator's never do), falling back to serde_json
//! otherwise. Enum values go through serde_json so that their names always match the serde
//! renames. The property test in `tests/it/generator_records.rs` checks identity with
//! `serde_json::to_vec` on generated records, and the unit tests here on odd strings.

use std::borrow::Cow;
use std::io::Write;
use std::net::IpAddr;

use serde::Serialize;

use super::{EventId, Firewall, Label, Record, Timestamp, VpcFlow};

/// Appends `record` as one JSON object (no newline).
pub fn write_record(record: &Record<'_>, out: &mut Vec<u8>) {
    match record {
        Record::VpcFlow(flow) => write_flow(flow, out),
        Record::Firewall(session) => write_firewall(session, out),
    }
}

struct Object<'o> {
    out: &'o mut Vec<u8>,
}

impl<'o> Object<'o> {
    fn open(out: &'o mut Vec<u8>, event_type: &str) -> Self {
        out.extend_from_slice(b"{\"event_type\":\"");
        out.extend_from_slice(event_type.as_bytes());
        out.push(b'"');
        Object { out }
    }

    fn key(&mut self, name: &str) {
        self.out.extend_from_slice(b",\"");
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn null(&mut self, name: &str) {
        self.key(name);
        self.out.extend_from_slice(b"null");
    }

    fn string(&mut self, name: &str, value: &str) {
        self.key(name);
        write_str(self.out, value);
    }

    fn opt_string(&mut self, name: &str, value: Option<&Cow<'_, str>>) {
        match value {
            Some(text) => self.string(name, text),
            None => self.null(name),
        }
    }

    fn unsigned(&mut self, name: &str, value: u64) {
        self.key(name);
        self.out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    fn signed(&mut self, name: &str, value: i64) {
        self.key(name);
        self.out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    fn opt_unsigned(&mut self, name: &str, value: Option<u64>) {
        match value {
            Some(number) => self.unsigned(name, number),
            None => self.null(name),
        }
    }

    fn address(&mut self, name: &str, value: IpAddr) {
        self.key(name);
        write_address(self.out, value);
    }

    fn opt_address(&mut self, name: &str, value: Option<IpAddr>) {
        match value {
            Some(address) => self.address(name, address),
            None => self.null(name),
        }
    }

    /// Enum values and other serde types: serde_json writes them, so names follow the renames.
    fn serde<T: Serialize>(&mut self, name: &str, value: &T) {
        self.key(name);
        // Writing into a Vec cannot fail, and these types serialize without error.
        let _ = serde_json::to_writer(&mut *self.out, value);
    }

    fn event_id(&mut self, value: &EventId<'_>) {
        self.key("event_id");
        self.out.push(b'"');
        write_escaped_or_plain(self.out, &value.run_id);
        self.out.push(b'-');
        self.out.extend_from_slice(itoa::Buffer::new().format(value.worker).as_bytes());
        self.out.push(b'-');
        self.out.extend_from_slice(itoa::Buffer::new().format(value.seq).as_bytes());
        self.out.push(b'"');
    }

    fn timestamp(&mut self, name: &str, value: Timestamp) {
        self.serde(name, &value);
    }

    fn label(&mut self, value: Option<&Label<'_>>) {
        self.key("label");
        match value {
            None => self.out.extend_from_slice(b"null"),
            Some(label) => {
                self.out.extend_from_slice(b"{\"kind\":\"");
                self.out.extend_from_slice(label.kind.as_str().as_bytes());
                self.out.extend_from_slice(b"\",\"episode_id\":");
                write_str(self.out, &label.episode_id);
                self.out.push(b'}');
            }
        }
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

fn needs_escape(text: &str) -> bool {
    text.bytes().any(|byte| byte < 0x20 || byte == b'"' || byte == b'\\')
}

fn write_str(out: &mut Vec<u8>, text: &str) {
    if needs_escape(text) {
        let _ = serde_json::to_writer(&mut *out, text);
        return;
    }
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

/// Inside an already opened string: the raw text, or its escaped form without the quotes.
fn write_escaped_or_plain(out: &mut Vec<u8>, text: &str) {
    if !needs_escape(text) {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    let quoted = serde_json::to_string(text).unwrap_or_default();
    out.extend_from_slice(quoted.trim_start_matches('"').trim_end_matches('"').as_bytes());
}

fn write_address(out: &mut Vec<u8>, address: IpAddr) {
    match address {
        IpAddr::V4(v4) => {
            out.push(b'"');
            for (index, octet) in v4.octets().iter().enumerate() {
                if index > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(itoa::Buffer::new().format(*octet).as_bytes());
            }
            out.push(b'"');
        }
        IpAddr::V6(v6) => {
            // Display is what serde uses for addresses; a Vec write cannot fail.
            let _ = write!(out, "\"{v6}\"");
        }
    }
}

fn write_flow(flow: &VpcFlow<'_>, out: &mut Vec<u8>) {
    let mut object = Object::open(out, "vpc_flow");
    object.event_id(&flow.event_id);
    object.unsigned("version", u64::from(flow.version));
    object.string("account_id", &flow.account_id);
    object.string("interface_id", &flow.interface_id);
    object.opt_address("srcaddr", flow.srcaddr);
    object.opt_address("dstaddr", flow.dstaddr);
    object.opt_unsigned("srcport", flow.srcport.map(u64::from));
    object.opt_unsigned("dstport", flow.dstport.map(u64::from));
    object.opt_unsigned("protocol", flow.protocol.map(u64::from));
    object.opt_unsigned("packets", flow.packets);
    object.opt_unsigned("bytes", flow.bytes);
    object.signed("start", flow.start);
    object.signed("end", flow.end);
    object.serde("action", &flow.action);
    object.serde("log_status", &flow.log_status);
    object.string("vpc_id", &flow.vpc_id);
    object.string("subnet_id", &flow.subnet_id);
    object.opt_string("instance_id", flow.instance_id.as_ref());
    object.opt_unsigned("tcp_flags", flow.tcp_flags.map(u64::from));
    object.serde("type", &flow.traffic_type);
    object.opt_address("pkt_srcaddr", flow.pkt_srcaddr);
    object.opt_address("pkt_dstaddr", flow.pkt_dstaddr);
    object.string("region", &flow.region);
    object.string("az_id", &flow.az_id);
    object.serde("sublocation_type", &flow.sublocation_type);
    object.opt_string("sublocation_id", flow.sublocation_id.as_ref());
    object.serde("pkt_src_aws_service", &flow.pkt_src_aws_service);
    object.serde("pkt_dst_aws_service", &flow.pkt_dst_aws_service);
    object.serde("flow_direction", &flow.flow_direction);
    object.opt_unsigned("traffic_path", flow.traffic_path.map(u64::from));
    object.opt_unsigned("latency_ms", flow.latency_ms.map(u64::from));
    object.label(flow.label.as_ref());
    object.close();
}

fn write_firewall(session: &Firewall<'_>, out: &mut Vec<u8>) {
    let mut object = Object::open(out, "firewall");
    object.event_id(&session.event_id);
    object.timestamp("timestamp", session.timestamp);
    object.string("firewall_name", &session.firewall_name);
    object.string("availability_zone", &session.availability_zone);
    object.unsigned("session_id", session.session_id);
    object.address("src_ip", session.src_ip);
    object.unsigned("src_port", u64::from(session.src_port));
    object.address("dest_ip", session.dest_ip);
    object.unsigned("dest_port", u64::from(session.dest_port));
    object.serde("protocol", &session.protocol);
    object.serde("app_proto", &session.app_proto);
    object.serde("direction", &session.direction);
    object.serde("action", &session.action);
    object.string("rule", &session.rule);
    object.unsigned("bytes_sent", session.bytes_sent);
    object.unsigned("bytes_received", session.bytes_received);
    object.unsigned("packets_sent", session.packets_sent);
    object.unsigned("packets_received", session.packets_received);
    object.unsigned("duration_ms", session.duration_ms);
    object.opt_unsigned("tcp_flags", session.tcp_flags.map(u64::from));
    object.opt_unsigned("http_status", session.http_status.map(u64::from));
    object.serde("session_end_reason", &session.session_end_reason);
    object.unsigned("latency_ms", u64::from(session.latency_ms));
    object.label(session.label.as_ref());
    object.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_strings_are_escaped_like_serde_json() {
        for text in ["plain", "quo\"te", "back\\slash", "new\nline", "tab\t", "\u{1}", "ünïcödé"] {
            let mut out = Vec::new();
            write_str(&mut out, text);
            assert_eq!(out, serde_json::to_vec(text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn addresses_match_serde() {
        for address in ["10.0.0.1", "255.255.255.255", "0.0.0.0", "2001:db8::1", "::1"] {
            let parsed: IpAddr = address.parse().unwrap();
            let mut out = Vec::new();
            write_address(&mut out, parsed);
            assert_eq!(out, serde_json::to_vec(&parsed).unwrap());
        }
    }
}
