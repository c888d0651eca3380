//! AWS Network Firewall's log body: one JSON object per line,
//! `{"firewall_name":..,"availability_zone":..,"event_timestamp":"<epoch seconds>","event":{..}}`,
//! the `event` in Suricata's EVE form (docs/network-firewall.md has the mapping and its sources).
//!
//! A firewall session record becomes:
//! - two `netflow` events, one per direction, as Suricata's netflow output writes them (AWS:
//!   "the log type netflow logs uni-directional flows"): client → server with the record's
//!   `packets_sent` / `bytes_sent`, server → client with `*_received`. The server → client event
//!   is left out when nothing came back (a refused session), as Suricata logs no empty reply side.
//! - one `alert` event when the firewall stopped the session (`deny`, `drop` or `reset`; an AWS
//!   Network Firewall drop or reject rule logs `"action":"blocked"`), none for `allow`.
//!
//! The events of a session share its `flow_id`, as Suricata's events of one flow do. Every field
//! that describes the conversation (addresses, ports, protocol, times, counts) comes from the
//! session record, so the EVE events agree with the VPC flow records of the same conversation,
//! which the generator renders from the same `Session`.

use std::net::IpAddr;

use crate::records::{AppProto, Firewall, FirewallAction, FirewallDirection, SessionEndReason, TcpFlags, Timestamp, TransportProtocol};

use super::json_object::JsonObject;

/// The two log types AWS Network Firewall writes to S3, each under its own key segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FirewallLogType {
    Flow,
    Alert,
}

impl FirewallLogType {
    pub const ALL: [FirewallLogType; 2] = [FirewallLogType::Flow, FirewallLogType::Alert];

    /// The key segment AWS uses: `.../network-firewall/{flow|alert}/...`.
    pub fn as_str(self) -> &'static str {
        match self {
            FirewallLogType::Flow => "flow",
            FirewallLogType::Alert => "alert",
        }
    }
}

impl std::fmt::Display for FirewallLogType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The region of an availability zone name: `us-east-1a` → `us-east-1` (the zone letter is the
/// last character). A name without a trailing letter is returned whole.
pub fn region_of(availability_zone: &str) -> &str {
    match availability_zone.as_bytes().last() {
        Some(last) if last.is_ascii_lowercase() => &availability_zone[..availability_zone.len() - 1],
        _ => availability_zone,
    }
}

/// Suricata's `flow_id` for a session: 53 bits of a hash of the run id and the session id, the
/// same for every event of the session, different across runs and generator instances (the
/// session id counts from 1 in each lane). 53 bits keep it exact in readers that parse JSON
/// numbers as doubles; Suricata's own ids are of that size too (AWS's example: 1770453319291727).
pub fn flow_id(session: &Firewall<'_>) -> u64 {
    let mut key = Vec::with_capacity(session.event_id.run_id.len() + 8);
    key.extend_from_slice(session.event_id.run_id.as_bytes());
    key.extend_from_slice(&session.session_id.to_le_bytes());
    twox_hash::XxHash64::oneshot(0, &key) & ((1 << 53) - 1)
}

/// The Suricata `signature_id` of a rule: `1_000_000 + xxHash64(rule name, seed 0) % 1_000_000`,
/// a stable number in the range Suricata and Snort leave to local rules (1000000–1999999), so one
/// rule name always gets the same id, across runs and versions.
pub fn signature_id(rule: &str) -> u32 {
    1_000_000 + (twox_hash::XxHash64::oneshot(0, rule.as_bytes()) % 1_000_000) as u32
}

/// Appends the session's `netflow` events, one JSON line each: client → server, then server →
/// client unless nothing came back.
pub fn write_flow_events(session: &Firewall<'_>, out: &mut Vec<u8>) {
    write_netflow(session, Side::ToServer, out);
    if session.packets_received > 0 {
        write_netflow(session, Side::ToClient, out);
    }
}

/// Appends the session's `alert` event (one line) when the firewall stopped it: `deny`, `drop` or
/// `reset` (AWS Network Firewall's drop and reject actions both log `"action":"blocked"`). Returns
/// whether it wrote one; an allowed session has no alert.
pub fn write_alert_event(session: &Firewall<'_>, out: &mut Vec<u8>) -> bool {
    let Some((category, severity)) = alert_class(session.action) else {
        return false;
    };
    let time = session.timestamp;
    envelope(session, time, out, |event| {
        event.string("event_type", "alert");
        tuple(session, Side::ToServer, event);
        event.object("alert", |alert| {
            alert.string("action", "blocked");
            alert.unsigned("signature_id", u64::from(signature_id(&session.rule)));
            alert.unsigned("rev", 1);
            alert.string("signature", &session.rule);
            alert.string("category", category);
            alert.unsigned("severity", severity);
        });
    });
    true
}

/// The Suricata classification of a blocked session: its `category` text and `severity` (1 the
/// highest). Deny, drop and reset (the firewall's reject) are one policy outcome, so one class:
/// "Potentially Bad Traffic", priority 2 in Suricata's classification.config.
fn alert_class(action: FirewallAction) -> Option<(&'static str, u64)> {
    match action {
        FirewallAction::Allow => None,
        FirewallAction::Deny | FirewallAction::Drop | FirewallAction::Reset => Some(("Potentially Bad Traffic", 2)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    ToServer,
    ToClient,
}

/// The AWS wrapper around one EVE event, and the EVE fields every event starts with.
fn envelope(session: &Firewall<'_>, time: Timestamp, out: &mut Vec<u8>, fill: impl FnOnce(&mut JsonObject<'_>)) {
    let mut line = JsonObject::open(out);
    line.string("firewall_name", &session.firewall_name);
    line.string("availability_zone", &session.availability_zone);
    line.string("event_timestamp", itoa::Buffer::new().format(time.unix_seconds()));
    line.object("event", |event| {
        event.string("timestamp", &eve_time(time));
        event.unsigned("flow_id", flow_id(session));
        fill(event);
    });
    line.close();
    out.push(b'\n');
}

/// Addresses, ports (ICMP: type and code instead, as Suricata writes them), protocol and the
/// application protocol, from the point of view of `side`'s sender.
fn tuple(session: &Firewall<'_>, side: Side, event: &mut JsonObject<'_>) {
    let (source, source_port, destination, destination_port): (IpAddr, u16, IpAddr, u16) = match side {
        Side::ToServer => (session.src_ip, session.src_port, session.dest_ip, session.dest_port),
        Side::ToClient => (session.dest_ip, session.dest_port, session.src_ip, session.src_port),
    };
    let is_icmp = session.protocol == TransportProtocol::Icmp;
    event.address("src_ip", source);
    if !is_icmp {
        event.unsigned("src_port", u64::from(source_port));
    }
    event.address("dest_ip", destination);
    if !is_icmp {
        event.unsigned("dest_port", u64::from(destination_port));
    }
    event.string("proto", proto(session.protocol));
    if is_icmp {
        // Echo request one way, echo reply the other: the ICMP netchaos generates is ping.
        event.unsigned("icmp_type", if side == Side::ToServer { 8 } else { 0 });
        event.unsigned("icmp_code", 0);
    }
    if let Some(name) = app_proto(session.app_proto) {
        event.string("app_proto", name);
    }
}

fn write_netflow(session: &Firewall<'_>, side: Side, out: &mut Vec<u8>) {
    let end = session.timestamp;
    let duration_ms = i64::try_from(session.duration_ms).unwrap_or(i64::MAX);
    let start = Timestamp::from_unix_millis(end.unix_millis().saturating_sub(duration_ms));
    let (packets, bytes) = match side {
        Side::ToServer => (session.packets_sent, session.bytes_sent),
        Side::ToClient => (session.packets_received, session.bytes_received),
    };
    let ttl = sender_ttl(session, side);
    envelope(session, end, out, |event| {
        event.string("event_type", "netflow");
        tuple(session, side, event);
        event.object("netflow", |netflow| {
            netflow.unsigned("pkts", packets);
            netflow.unsigned("bytes", bytes);
            netflow.string("start", &eve_time(start));
            netflow.string("end", &eve_time(end));
            netflow.signed("age", end.unix_seconds() - start.unix_seconds());
            netflow.unsigned("min_ttl", ttl);
            netflow.unsigned("max_ttl", ttl);
        });
        if let Some(flags) = direction_flags(session, side) {
            event.object("tcp", |tcp| {
                tcp.string("tcp_flags", &format!("{:02x}", flags.bits()));
                for (name, flag) in [("syn", TcpFlags::SYN), ("fin", TcpFlags::FIN), ("rst", TcpFlags::RST), ("ack", TcpFlags::ACK)] {
                    if flags.contains(flag) {
                        tcp.boolean(name, true);
                    }
                }
            });
        }
    });
}

/// The TTL the firewall saw on a direction's packets (the record carries none): 64, Linux's
/// initial TTL, for a sender inside the VPC (the firewall endpoint is one hop away); 52 for a
/// sender on the internet (64 less a dozen hops).
fn sender_ttl(session: &Firewall<'_>, side: Side) -> u64 {
    let sender_outside = match (session.direction, side) {
        (FirewallDirection::Inbound, Side::ToServer) | (FirewallDirection::Outbound, Side::ToClient) => true,
        (FirewallDirection::Inbound | FirewallDirection::Outbound | FirewallDirection::Internal, _) => false,
    };
    if sender_outside { 52 } else { 64 }
}

/// The TCP flags of one direction, split from the session's OR of both: SYN goes client → server,
/// SYN-ACK back when the session has it; FIN both ways on a FIN close; RST on the side the
/// session end reason names (the client's when nothing came back); ACK on every direction after the opening SYN (the client's once the
/// server has answered). The FIN, SYN and RST bits of both directions together are exactly the
/// session's. `None` for UDP and ICMP.
fn direction_flags(session: &Firewall<'_>, side: Side) -> Option<TcpFlags> {
    let session_flags = TcpFlags::from_bits(session.tcp_flags?);
    let mut flags = TcpFlags::NONE;
    // The RST is the server's (or the firewall's, toward the client) unless the client sent it,
    // or nothing came back at all.
    let rst_from_client = session.session_end_reason == SessionEndReason::TcpRstFromClient || session.packets_received == 0;
    match side {
        Side::ToServer => {
            if session_flags.contains(TcpFlags::SYN) {
                flags |= TcpFlags::SYN;
            }
            if session.packets_received > 0 && session.packets_sent > 1 {
                flags |= TcpFlags::ACK;
            }
            if session_flags.contains(TcpFlags::RST) && rst_from_client {
                flags |= TcpFlags::RST;
            }
        }
        Side::ToClient => {
            if session_flags.contains(TcpFlags::SYN_ACK) {
                flags |= TcpFlags::SYN_ACK;
            }
            flags |= TcpFlags::ACK;
            if session_flags.contains(TcpFlags::RST) && !rst_from_client {
                flags |= TcpFlags::RST;
            }
        }
    }
    if session_flags.contains(TcpFlags::FIN) {
        flags |= TcpFlags::FIN;
    }
    Some(flags)
}

fn proto(protocol: TransportProtocol) -> &'static str {
    match protocol {
        TransportProtocol::Tcp => "TCP",
        TransportProtocol::Udp => "UDP",
        TransportProtocol::Icmp => "ICMP",
    }
}

/// Suricata's `app_proto` names for the protocols it parses (PostgreSQL is `pgsql`). MySQL, Redis
/// and Kafka have no parser in Suricata 7, Network Firewall's engine, so like `unknown` they get
/// no `app_proto`.
fn app_proto(app_proto: AppProto) -> Option<&'static str> {
    match app_proto {
        AppProto::Http => Some("http"),
        AppProto::Tls => Some("tls"),
        AppProto::Dns => Some("dns"),
        AppProto::Ssh => Some("ssh"),
        AppProto::Postgresql => Some("pgsql"),
        AppProto::Ntp => Some("ntp"),
        AppProto::Smtp => Some("smtp"),
        AppProto::Mysql | AppProto::Redis | AppProto::Kafka | AppProto::Unknown => None,
    }
}

/// Suricata's timestamp form, `2026-03-07T05:59:59.999000+0000`: microseconds (ours are whole
/// milliseconds, so the last three digits are 0) and a `+0000` offset.
pub fn eve_time(time: Timestamp) -> String {
    let text = time.to_string();
    let without_zone = text.strip_suffix('Z').unwrap_or(&text);
    format!("{without_zone}000+0000")
}

#[cfg(test)]
#[path = "network_firewall_tests.rs"]
pub(crate) mod tests;
