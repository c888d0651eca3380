//! The fast path of [`validate`](super::validate): reading a record that is in exactly the form
//! [`write_record`](super::write_record) writes, without serde_json.
//!
//! A netchaos record is compact JSON with its keys in one fixed order, plain strings and plain
//! integers. [`parse`] reads that form and nothing else: each key must be the next one in the
//! order, every string free of escapes and control bytes, every integer plain digits (a `-` only
//! on a signed field, no leading zero, no fraction or exponent), nothing before the `{` or after
//! the `}`. At the first byte outside that form it returns `None`, and the caller parses the text
//! with serde_json as before, which also names the fault.
//!
//! What it accepts, serde_json accepts as the same value:
//! - keys in a fixed order, each once, are the ones `deny_unknown_fields` and the `required`
//!   fields demand, without duplicates;
//! - strings without escapes are what serde_json borrows unchanged (the text is UTF-8 already);
//! - integers are read as serde_json reads them, then narrowed with the same range check;
//! - every value that is a string in JSON (event ids, timestamps, addresses, enums) goes through
//!   its type's own `Deserialize`, from the borrowed string, so names and syntax have one source.
//!
//! `canonical_parse_agrees_with_serde_json` (below) attacks this: generated records of every kind
//! must take this path and give serde_json's value, and thousands of mutations of them (bytes
//! changed, inserted and deleted, keys swapped, whitespace, escapes, other numbers) must either be
//! declined or give serde_json's value.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};

use serde::Deserialize;
use serde::de::value::{BorrowedStrDeserializer, Error as ValueError};

use super::{Firewall, Label, Record, VpcFlow};

/// Consumes `,"name":` from `scan`, as one comparison with a constant; then `scan` reads its value.
macro_rules! key {
    ($scan:expr, $name:literal) => {
        $scan.literal(concat!(",\"", $name, "\":")).then_some(&mut *$scan)
    };
}

/// The record `raw` holds, when it is UTF-8 in exactly netchaos's own form; `None` otherwise (it
/// may still be valid: serde_json decides).
pub fn parse(raw: &[u8]) -> Option<Record<'_>> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut scan = Scan { text, at: 0 };
    let record = if scan.literal(r#"{"event_type":"vpc_flow""#) {
        Record::VpcFlow(flow(&mut scan)?)
    } else if scan.literal(r#"{"event_type":"firewall""#) {
        Record::Firewall(firewall(&mut scan)?)
    } else {
        return None;
    };
    (scan.literal("}") && scan.at == text.len()).then_some(record)
}

fn flow<'a>(scan: &mut Scan<'a>) -> Option<VpcFlow<'a>> {
    Some(VpcFlow {
        event_type: super::VpcFlowTag::VpcFlow,
        event_id: key!(scan, "event_id")?.parsed()?,
        version: key!(scan, "version")?.unsigned()?,
        account_id: key!(scan, "account_id")?.string()?,
        interface_id: key!(scan, "interface_id")?.string()?,
        srcaddr: key!(scan, "srcaddr")?.nullable(Scan::address)?,
        dstaddr: key!(scan, "dstaddr")?.nullable(Scan::address)?,
        srcport: key!(scan, "srcport")?.nullable(Scan::unsigned)?,
        dstport: key!(scan, "dstport")?.nullable(Scan::unsigned)?,
        protocol: key!(scan, "protocol")?.nullable(Scan::unsigned)?,
        packets: key!(scan, "packets")?.nullable(Scan::unsigned)?,
        bytes: key!(scan, "bytes")?.nullable(Scan::unsigned)?,
        start: key!(scan, "start")?.signed()?,
        end: key!(scan, "end")?.signed()?,
        action: key!(scan, "action")?.nullable(Scan::parsed)?,
        log_status: key!(scan, "log_status")?.parsed()?,
        vpc_id: key!(scan, "vpc_id")?.string()?,
        subnet_id: key!(scan, "subnet_id")?.string()?,
        instance_id: key!(scan, "instance_id")?.nullable(Scan::string)?,
        tcp_flags: key!(scan, "tcp_flags")?.nullable(Scan::unsigned)?,
        traffic_type: key!(scan, "type")?.nullable(Scan::parsed)?,
        pkt_srcaddr: key!(scan, "pkt_srcaddr")?.nullable(Scan::address)?,
        pkt_dstaddr: key!(scan, "pkt_dstaddr")?.nullable(Scan::address)?,
        region: key!(scan, "region")?.string()?,
        az_id: key!(scan, "az_id")?.string()?,
        sublocation_type: key!(scan, "sublocation_type")?.nullable(Scan::parsed)?,
        sublocation_id: key!(scan, "sublocation_id")?.nullable(Scan::string)?,
        pkt_src_aws_service: key!(scan, "pkt_src_aws_service")?.nullable(Scan::parsed)?,
        pkt_dst_aws_service: key!(scan, "pkt_dst_aws_service")?.nullable(Scan::parsed)?,
        flow_direction: key!(scan, "flow_direction")?.nullable(Scan::parsed)?,
        traffic_path: key!(scan, "traffic_path")?.nullable(Scan::unsigned)?,
        latency_ms: key!(scan, "latency_ms")?.nullable(Scan::unsigned)?,
        label: key!(scan, "label")?.nullable(Scan::label)?,
    })
}

fn firewall<'a>(scan: &mut Scan<'a>) -> Option<Firewall<'a>> {
    Some(Firewall {
        event_type: super::FirewallTag::Firewall,
        event_id: key!(scan, "event_id")?.parsed()?,
        timestamp: key!(scan, "timestamp")?.parsed()?,
        firewall_name: key!(scan, "firewall_name")?.string()?,
        availability_zone: key!(scan, "availability_zone")?.string()?,
        session_id: key!(scan, "session_id")?.unsigned()?,
        src_ip: key!(scan, "src_ip")?.address()?,
        src_port: key!(scan, "src_port")?.unsigned()?,
        dest_ip: key!(scan, "dest_ip")?.address()?,
        dest_port: key!(scan, "dest_port")?.unsigned()?,
        protocol: key!(scan, "protocol")?.parsed()?,
        app_proto: key!(scan, "app_proto")?.parsed()?,
        direction: key!(scan, "direction")?.parsed()?,
        action: key!(scan, "action")?.parsed()?,
        rule: key!(scan, "rule")?.string()?,
        bytes_sent: key!(scan, "bytes_sent")?.unsigned()?,
        bytes_received: key!(scan, "bytes_received")?.unsigned()?,
        packets_sent: key!(scan, "packets_sent")?.unsigned()?,
        packets_received: key!(scan, "packets_received")?.unsigned()?,
        duration_ms: key!(scan, "duration_ms")?.unsigned()?,
        tcp_flags: key!(scan, "tcp_flags")?.nullable(Scan::unsigned)?,
        http_status: key!(scan, "http_status")?.nullable(Scan::unsigned)?,
        session_end_reason: key!(scan, "session_end_reason")?.parsed()?,
        latency_ms: key!(scan, "latency_ms")?.unsigned()?,
        label: key!(scan, "label")?.nullable(Scan::label)?,
    })
}

/// A cursor over the text. A method that returns `None` may have consumed part of what it read:
/// `None` anywhere ends the whole parse.
struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    fn bytes(&self) -> &'a [u8] {
        &self.text.as_bytes()[self.at..]
    }

    /// Consumes `expected` when the text goes on with it. (Inlined, the comparison with a
    /// constant is a few word compares rather than a call to `memcmp`.)
    #[inline(always)]
    fn literal(&mut self, expected: &str) -> bool {
        let found = self.bytes().starts_with(expected.as_bytes());
        if found {
            self.at += expected.len();
        }
        found
    }

    /// `null`, or what `read` reads.
    fn nullable<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.literal("null") { Some(None) } else { read(self).map(Some) }
    }

    /// A string with no escape and no control byte, borrowed.
    fn raw_string(&mut self) -> Option<&'a str> {
        let rest = self.bytes();
        if rest.first() != Some(&b'"') {
            return None;
        }
        let len = plain_len(&rest[1..]);
        if rest.get(1 + len) != Some(&b'"') {
            return None;
        }
        // Both ends are ASCII quotes, so both are character boundaries of the UTF-8 text.
        let value = self.text.get(self.at + 1..self.at + 1 + len)?;
        self.at += len + 2;
        Some(value)
    }

    /// An address: a dotted quad read here when each octet is plain (`0` or no leading zero, at
    /// most 255), which is a form the standard parser reads as the same address; any other string
    /// goes to `IpAddr`'s own `Deserialize`.
    fn address(&mut self) -> Option<IpAddr> {
        let start = self.at;
        if let Some(address) = self.dotted_quad() {
            return Some(IpAddr::V4(address));
        }
        self.at = start;
        self.parsed()
    }

    fn dotted_quad(&mut self) -> Option<Ipv4Addr> {
        if !self.literal("\"") {
            return None;
        }
        let mut octets = [0u8; 4];
        for (index, octet) in octets.iter_mut().enumerate() {
            if index > 0 && !self.literal(".") {
                return None;
            }
            let rest = self.bytes();
            let len = rest.iter().take(4).take_while(|byte| byte.is_ascii_digit()).count();
            if len == 0 || len > 3 || (len > 1 && rest[0] == b'0') {
                return None;
            }
            let value = rest[..len].iter().fold(0u32, |value, digit| value * 10 + u32::from(digit - b'0'));
            *octet = u8::try_from(value).ok()?;
            self.at += len;
        }
        self.literal("\"").then_some(Ipv4Addr::from(octets))
    }

    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.raw_string().map(Cow::Borrowed)
    }

    /// A JSON string read by `T`'s own `Deserialize` (ids, timestamps, addresses, enum names).
    fn parsed<T: Deserialize<'a>>(&mut self) -> Option<T> {
        let text = self.raw_string()?;
        T::deserialize(BorrowedStrDeserializer::<ValueError>::new(text)).ok()
    }

    /// Plain decimal digits, no leading zero, that fit a u64 (as serde_json reads an integer).
    fn digits(&mut self) -> Option<u64> {
        let rest = self.bytes();
        let len = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
        if len == 0 || (len > 1 && rest[0] == b'0') || matches!(rest.get(len), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let mut value = 0u64;
        for &digit in &rest[..len] {
            value = value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
        }
        self.at += len;
        Some(value)
    }

    /// An unsigned integer in `T`'s range.
    fn unsigned<T: TryFrom<u64>>(&mut self) -> Option<T> {
        self.digits().and_then(|value| T::try_from(value).ok())
    }

    /// A signed integer; a negative one in i64's range (not `-0`).
    fn signed(&mut self) -> Option<i64> {
        if !self.literal("-") {
            return self.unsigned();
        }
        match self.digits()? {
            0 => None,
            magnitude => 0i64.checked_sub_unsigned(magnitude),
        }
    }

    /// `{"kind":"...","episode_id":"..."}`.
    fn label(&mut self) -> Option<Label<'a>> {
        if !self.literal(r#"{"kind":"#) {
            return None;
        }
        let kind = self.parsed()?;
        let episode_id = key!(self, "episode_id")?.string()?;
        self.literal("}").then_some(Label { kind, episode_id })
    }
}

/// How many bytes of `bytes` come before the first `"`, `\\` or control byte (all of them when
/// there is none), eight bytes at a time.
///
/// In each 8-byte word, `(x - 0x01…01 * n) & !x & 0x80…80` marks bytes below `n` (for `n` ≤ 0x80).
/// A borrow can mark a byte above the first marked one, never below it, so the lowest mark is
/// exact; `plain_len_agrees_with_a_byte_loop` checks this against the obvious loop.
fn plain_len(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS;
    let mut at = 0;
    while let Some(chunk) = bytes[at..].first_chunk::<8>() {
        let word = u64::from_le_bytes(*chunk);
        let marks = below(word ^ (ONES * u64::from(b'"')), 1) | below(word ^ (ONES * u64::from(b'\\')), 1) | below(word, 0x20);
        if marks != 0 {
            return at + (marks.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + bytes[at..].iter().position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20).unwrap_or(bytes.len() - at)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOW: &str = r#"{"event_type":"vpc_flow","event_id":"1a4c35a9e6b18e2a-0-0","version":5,"account_id":"393862938211","interface_id":"eni-c26e63dd83535ac0e","srcaddr":"151.68.248.139","dstaddr":"10.16.32.12","srcport":39716,"dstport":443,"protocol":6,"packets":14,"bytes":1871,"start":1796574938,"end":1796574977,"action":"ACCEPT","log_status":"OK","vpc_id":"vpc-dec9d5fa5c22ba026","subnet_id":"subnet-8f36591872f390e0a","instance_id":"i-362bd1e28b35e10b0","tcp_flags":2,"type":"IPv4","pkt_srcaddr":"151.68.248.139","pkt_dstaddr":"10.16.32.12","region":"us-east-1","az_id":"use1-az2","sublocation_type":null,"sublocation_id":null,"pkt_src_aws_service":null,"pkt_dst_aws_service":null,"flow_direction":"ingress","traffic_path":null,"latency_ms":25,"label":{"kind":"port_scan","episode_id":"ep-1"}}"#;

    proptest::proptest! {
        #[test]
        fn plain_len_agrees_with_a_byte_loop(
            bytes in proptest::collection::vec(proptest::prop_oneof![
                proptest::prelude::any::<u8>(),
                proptest::prelude::Just(b'"'),
                proptest::prelude::Just(b'\\'),
                0x1fu8..=0x21,
                0x7fu8..=0x81,
            ], 0..40),
            plain in 0usize..40,
        ) {
            // A plain run first, so that the first mark falls in every position of a word.
            let mut text = vec![b'a'; plain];
            text.extend(bytes);
            let expected = text.iter().position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20).unwrap_or(text.len());
            proptest::prop_assert_eq!(plain_len(&text), expected);
        }
    }

    #[test]
    fn reads_its_own_form_as_serde_json_does() {
        let fast = parse(FLOW.as_bytes()).expect("canonical");
        let slow: VpcFlow<'_> = serde_json::from_str(FLOW).expect("serde");
        assert_eq!(fast, Record::VpcFlow(slow));
    }

    #[test]
    fn declines_anything_else() {
        let cases = [
            FLOW.replacen(r#""version":5"#, r#""version": 5"#, 1),
            FLOW.replacen(r#""version":5"#, r#""version":05"#, 1),
            FLOW.replacen(r#""version":5"#, r#""version":5.0"#, 1),
            FLOW.replacen(r#""version":5"#, r#""version":256"#, 1),
            FLOW.replacen(r#""start":1796574938"#, r#""start":-0"#, 1),
            FLOW.replacen(r#""region":"us-east-1""#, r#""region":"us-east\u002d1""#, 1),
            FLOW.replacen(r#""action":"ACCEPT""#, r#""action":"accept""#, 1),
            FLOW.replacen(r#""srcport":39716,"dstport":443"#, r#""dstport":443,"srcport":39716"#, 1),
            format!(" {FLOW}"),
            format!("{FLOW} "),
            FLOW.replacen(r#","label""#, r#","colour":"red","label""#, 1),
            FLOW.replacen(r#""srcaddr":"151.68.248.139""#, r#""srcaddr":"151.068.248.139""#, 1),
            FLOW.replacen(r#""srcaddr":"151.68.248.139""#, r#""srcaddr":"151.68.248.256""#, 1),
        ];
        for case in &cases {
            assert!(parse(case.as_bytes()).is_none(), "{case}");
        }
    }
}
