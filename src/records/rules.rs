//! The semantic rules of a typed record, after serde has checked the shape and the types.
//!
//! Each rule names its class of fault ([`RejectReason`]) and the field concerned; the first fault
//! found wins. Arithmetic on values taken from the input is checked: a product that does not fit
//! in a `u64` is itself a fault (e.g. more packets than any byte count could hold), never a
//! saturated number that lets an impossible record through. Lengths are counted in characters
//! (Unicode scalar values), as the JSON Schema's `minLength` / `maxLength` count them. Times
//! must lie in the one range of [`Timestamp`] (1970 through 9999).

use super::validate::{RejectReason, Rejection};
use super::{
    AppProto, Firewall, FirewallAction, FlowDirection, Label, LogStatus, Record, TcpFlags, Timestamp, TrafficType, TransportProtocol,
    VpcFlow, protocol,
};

/// Longest aggregation window AWS uses (600 s; 60 s on Nitro).
const MAX_WINDOW_SECONDS: i64 = 600;

/// Ceiling for `latency_ms`: ten minutes.
const MAX_LATENCY_MS: u32 = 600_000;

/// Largest IP packet (the 16-bit total-length field).
const MAX_PACKET_BYTES: u64 = 65_535;

/// Longest `firewall_name`, `rule` and `label.episode_id`, in characters (the schema's
/// `maxLength`).
pub(crate) const MAX_NAME_CHARS: usize = 128;

/// Regions a record may name (AWS commercial and GovCloud regions).
pub(crate) const KNOWN_REGIONS: [&str; 30] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "ca-west-1",
    "sa-east-1",
    "mx-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "ap-south-1",
    "ap-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-east-1",
    "me-south-1",
    "me-central-1",
    "af-south-1",
    "us-gov-west-1",
    "us-gov-east-1",
];

/// The semantic rules, on an already typed record.
pub fn validate_record(record: &Record<'_>) -> Result<(), Rejection> {
    match record {
        Record::VpcFlow(flow) => validate_flow(flow),
        Record::Firewall(session) => validate_firewall(session),
    }
}

fn validate_flow(flow: &VpcFlow<'_>) -> Result<(), Rejection> {
    use RejectReason as R;
    if flow.version != 5 {
        return Err(Rejection::on(R::OutOfRange, "version", format!("version {} is not 5", flow.version)));
    }
    check_identifier("account_id", &flow.account_id, "", 12, 12, |b| b.is_ascii_digit())?;
    check_identifier("interface_id", &flow.interface_id, "eni-", 17, 17, is_lower_hex)?;
    check_identifier("vpc_id", &flow.vpc_id, "vpc-", 8, 17, is_lower_hex)?;
    check_identifier("subnet_id", &flow.subnet_id, "subnet-", 8, 17, is_lower_hex)?;
    if let Some(instance_id) = &flow.instance_id {
        check_identifier("instance_id", instance_id, "i-", 8, 17, is_lower_hex)?;
    }
    check_region("region", &flow.region)?;
    check_az_id(&flow.az_id)?;
    check_seconds("start", flow.start)?;
    check_seconds("end", flow.end)?;
    if flow.start > flow.end {
        return Err(Rejection::on(R::StartAfterEnd, "start", format!("start {} is after end {}", flow.start, flow.end)));
    }
    if flow.end - flow.start > MAX_WINDOW_SECONDS {
        return Err(Rejection::on(
            R::WindowTooLong,
            "end",
            format!("window of {} s exceeds the {MAX_WINDOW_SECONDS} s aggregation interval", flow.end - flow.start),
        ));
    }
    if flow.sublocation_type.is_some() != flow.sublocation_id.is_some() {
        return Err(Rejection::on(R::InconsistentLogStatus, "sublocation_id", "sublocation_type and sublocation_id must be null together"));
    }
    // AWS's ids (`outpost-…`, `wavelength-…`, `localzone-…`): one token of a flow-log line.
    if let Some(id) = flow.sublocation_id.as_deref()
        && !(has_length_in(id, 1, 64) && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-'))
    {
        return Err(Rejection::on(
            R::MalformedIdentifier,
            "sublocation_id",
            "sublocation_id must be 1-64 letters, digits or `-`, as AWS's ids are",
        ));
    }
    check_label(flow.label.as_ref())?;
    match flow.log_status {
        LogStatus::Ok => validate_flow_traffic(flow),
        LogStatus::Nodata | LogStatus::Skipdata => validate_flow_without_traffic(flow),
    }
}

/// A `NODATA` / `SKIPDATA` record carries no traffic fields at all.
fn validate_flow_without_traffic(flow: &VpcFlow<'_>) -> Result<(), Rejection> {
    let present = [
        ("srcaddr", flow.srcaddr.is_some()),
        ("dstaddr", flow.dstaddr.is_some()),
        ("srcport", flow.srcport.is_some()),
        ("dstport", flow.dstport.is_some()),
        ("protocol", flow.protocol.is_some()),
        ("packets", flow.packets.is_some()),
        ("bytes", flow.bytes.is_some()),
        ("action", flow.action.is_some()),
        ("tcp_flags", flow.tcp_flags.is_some()),
        ("pkt_srcaddr", flow.pkt_srcaddr.is_some()),
        ("pkt_dstaddr", flow.pkt_dstaddr.is_some()),
        ("traffic_path", flow.traffic_path.is_some()),
        ("latency_ms", flow.latency_ms.is_some()),
    ];
    match present.iter().find(|(_, is_set)| *is_set) {
        Some((field, _)) => {
            Err(Rejection::on(RejectReason::InconsistentLogStatus, field, format!("{field} must be null when log_status is not OK")))
        }
        None => Ok(()),
    }
}

fn validate_flow_traffic(flow: &VpcFlow<'_>) -> Result<(), Rejection> {
    use RejectReason as R;
    let missing = |field: &str| Rejection::on(R::InconsistentLogStatus, field, format!("{field} must not be null when log_status is OK"));
    let srcaddr = flow.srcaddr.ok_or_else(|| missing("srcaddr"))?;
    let dstaddr = flow.dstaddr.ok_or_else(|| missing("dstaddr"))?;
    let srcport = flow.srcport.ok_or_else(|| missing("srcport"))?;
    let dstport = flow.dstport.ok_or_else(|| missing("dstport"))?;
    let proto = flow.protocol.ok_or_else(|| missing("protocol"))?;
    let packets = flow.packets.ok_or_else(|| missing("packets"))?;
    let bytes = flow.bytes.ok_or_else(|| missing("bytes"))?;
    flow.action.ok_or_else(|| missing("action"))?;
    let traffic_type = flow.traffic_type.ok_or_else(|| missing("type"))?;
    let pkt_srcaddr = flow.pkt_srcaddr.ok_or_else(|| missing("pkt_srcaddr"))?;
    let pkt_dstaddr = flow.pkt_dstaddr.ok_or_else(|| missing("pkt_dstaddr"))?;
    let direction = flow.flow_direction.ok_or_else(|| missing("flow_direction"))?;
    let latency_ms = flow.latency_ms.ok_or_else(|| missing("latency_ms"))?;

    if !protocol::KNOWN.contains(&proto) {
        return Err(Rejection::on(R::UnknownProtocol, "protocol", format!("protocol number {proto} is not one of {:?}", protocol::KNOWN)));
    }
    let wants_v6 = match traffic_type {
        TrafficType::IPv4 => false,
        TrafficType::IPv6 => true,
        TrafficType::Efa => srcaddr.is_ipv6(),
    };
    for (field, address) in [("srcaddr", srcaddr), ("dstaddr", dstaddr), ("pkt_srcaddr", pkt_srcaddr), ("pkt_dstaddr", pkt_dstaddr)] {
        if address.is_ipv6() != wants_v6 {
            return Err(Rejection::on(R::AddressFamilyMismatch, field, format!("{address} does not match type {traffic_type:?}")));
        }
    }
    check_tcp_flags(proto == protocol::TCP, flow.tcp_flags)?;
    if !carries_ports(proto) && (srcport != 0 || dstport != 0) {
        return Err(Rejection::on(
            R::PortsOnPortlessProtocol,
            "dstport",
            format!("protocol {proto} has no ports, yet srcport {srcport} dstport {dstport}"),
        ));
    }
    check_volume("bytes", packets, bytes, min_packet_bytes(proto, wants_v6), false)?;
    match (direction, flow.traffic_path) {
        (FlowDirection::Egress, Some(1..=8)) | (FlowDirection::Ingress, None) => {}
        (FlowDirection::Egress, path) => {
            return Err(Rejection::on(R::TrafficPathMismatch, "traffic_path", format!("egress traffic_path {path:?} is not one of 1-8")));
        }
        (FlowDirection::Ingress, Some(path)) => {
            return Err(Rejection::on(
                R::TrafficPathMismatch,
                "traffic_path",
                format!("ingress flow has traffic_path {path}; it applies to egress only"),
            ));
        }
    }
    check_latency(latency_ms)
}

fn validate_firewall(session: &Firewall<'_>) -> Result<(), Rejection> {
    use RejectReason as R;
    if !has_length_in(&session.firewall_name, 1, MAX_NAME_CHARS) {
        return Err(Rejection::on(R::MalformedIdentifier, "firewall_name", format!("firewall_name must be 1-{MAX_NAME_CHARS} characters")));
    }
    if !has_length_in(&session.rule, 1, MAX_NAME_CHARS) {
        return Err(Rejection::on(R::MalformedIdentifier, "rule", format!("rule must be 1-{MAX_NAME_CHARS} characters")));
    }
    let az = session.availability_zone.as_ref();
    let az_ok = az.len() > 1 && az.as_bytes()[az.len() - 1].is_ascii_lowercase() && KNOWN_REGIONS.contains(&&az[..az.len() - 1]);
    if !az_ok {
        return Err(Rejection::on(R::UnknownRegion, "availability_zone", format!("`{az}` is not a zone of a known region")));
    }
    if session.src_ip.is_ipv6() != session.dest_ip.is_ipv6() {
        return Err(Rejection::on(
            R::AddressFamilyMismatch,
            "dest_ip",
            format!("{} and {} are of different address families", session.src_ip, session.dest_ip),
        ));
    }
    let is_tcp = session.protocol == TransportProtocol::Tcp;
    check_tcp_flags(is_tcp, session.tcp_flags)?;
    if session.protocol == TransportProtocol::Icmp && (session.src_port != 0 || session.dest_port != 0) {
        return Err(Rejection::on(R::PortsOnPortlessProtocol, "dest_port", "ICMP has no ports"));
    }
    if session.action == FirewallAction::Reset && !is_tcp {
        return Err(Rejection::on(R::ResetOnNonTcp, "action", "a reset action needs TCP"));
    }
    if matches!(session.action, FirewallAction::Deny | FirewallAction::Drop) && (session.bytes_received > 0 || session.packets_received > 0)
    {
        return Err(Rejection::on(R::RepliesToRefusedSession, "bytes_received", "a denied or dropped session cannot have replies"));
    }
    let proto = match session.protocol {
        TransportProtocol::Tcp => protocol::TCP,
        TransportProtocol::Udp => protocol::UDP,
        TransportProtocol::Icmp => protocol::ICMP,
    };
    let minimum = min_packet_bytes(proto, session.src_ip.is_ipv6());
    check_volume("bytes_sent", session.packets_sent, session.bytes_sent, minimum, false)?;
    check_volume("bytes_received", session.packets_received, session.bytes_received, minimum, true)?;
    match (session.http_status, session.app_proto) {
        (None, _) => {}
        (Some(status), AppProto::Http) if (100..=599).contains(&status) => {}
        (Some(status), AppProto::Http) => {
            return Err(Rejection::on(R::OutOfRange, "http_status", format!("http_status {status} is not 100-599")));
        }
        (Some(_), other) => {
            return Err(Rejection::on(R::HttpStatusWithoutHttp, "http_status", format!("http_status set on app_proto {other:?}")));
        }
    }
    if session.duration_ms > 7 * 86_400_000 {
        return Err(Rejection::on(R::OutOfRange, "duration_ms", "sessions last at most 7 days"));
    }
    check_label(session.label.as_ref())?;
    check_latency(session.latency_ms)
}

fn is_lower_hex(byte: u8) -> bool {
    byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)
}

fn check_identifier(
    field: &str,
    value: &str,
    prefix: &str,
    min_len: usize,
    max_len: usize,
    allowed: fn(u8) -> bool,
) -> Result<(), Rejection> {
    let ok = value.strip_prefix(prefix).is_some_and(|rest| (min_len..=max_len).contains(&rest.len()) && rest.bytes().all(allowed));
    if ok {
        return Ok(());
    }
    Err(Rejection::on(
        RejectReason::MalformedIdentifier,
        field,
        format!("`{value}` is not `{prefix}` followed by {min_len}-{max_len} valid characters"),
    ))
}

fn check_region(field: &str, region: &str) -> Result<(), Rejection> {
    if KNOWN_REGIONS.contains(&region) {
        return Ok(());
    }
    Err(Rejection::on(RejectReason::UnknownRegion, field, format!("`{region}` is not a known region")))
}

/// AZ ids look like `use1-az1`: a region code, a digit, `-az`, a digit.
fn check_az_id(az_id: &str) -> Result<(), Rejection> {
    let ok = az_id.split_once("-az").is_some_and(|(code, number)| {
        (4..=6).contains(&code.len())
            && code.bytes().last().is_some_and(|b| b.is_ascii_digit())
            && code.bytes().take(code.len() - 1).all(|b| b.is_ascii_lowercase())
            && number.len() == 1
            && number.bytes().all(|b| b.is_ascii_digit())
    });
    if ok {
        return Ok(());
    }
    Err(Rejection::on(RejectReason::MalformedIdentifier, "az_id", format!("`{az_id}` is not an AZ id like `use1-az1`")))
}

/// TCP flags: required on TCP, absent otherwise; only what flow logs record
/// ([`TcpFlags::is_loggable`]: FIN 1, SYN 2, RST 4, and ACK 16 only in SYN-ACK, 18).
fn check_tcp_flags(is_tcp: bool, flags: Option<u8>) -> Result<(), Rejection> {
    match (is_tcp, flags) {
        (false, None) => Ok(()),
        (false, Some(value)) => {
            Err(Rejection::on(RejectReason::TcpFlagsOnNonTcp, "tcp_flags", format!("tcp_flags {value} on a non-TCP flow")))
        }
        (true, None) => {
            Err(Rejection::on(RejectReason::InvalidTcpFlags, "tcp_flags", "a TCP flow needs tcp_flags (0 when none were seen)"))
        }
        (true, Some(value)) if !TcpFlags::from_bits(value).is_loggable() => Err(Rejection::on(
            RejectReason::InvalidTcpFlags,
            "tcp_flags",
            format!("tcp_flags {value} is not an OR of FIN 1, SYN 2, RST 4, SYN-ACK 18"),
        )),
        (true, Some(_)) => Ok(()),
    }
}

fn carries_ports(proto: u8) -> bool {
    proto == protocol::TCP || proto == protocol::UDP
}

/// Smallest packet of a protocol: IP header plus the transport header.
pub(crate) fn min_packet_bytes(proto: u8, is_ipv6: bool) -> u64 {
    let ip_header = if is_ipv6 { 40 } else { 20 };
    let transport_header = match proto {
        protocol::TCP => 20,
        protocol::UDP | protocol::ICMP | protocol::ICMPV6 => 8,
        _ => 0,
    };
    ip_header + transport_header
}

/// `packets` packets carry at least `minimum` and at most [`MAX_PACKET_BYTES`] bytes each. The
/// products are checked: when `packets × minimum` does not fit in a `u64`, no byte count can reach
/// it, so the record is rejected as below the minimum (a saturated product would let
/// `packets = bytes = u64::MAX`, one byte per packet, through); when `packets × maximum` does not
/// fit, no byte count can exceed it.
fn check_volume(field: &str, packets: u64, bytes: u64, minimum: u64, zero_allowed: bool) -> Result<(), Rejection> {
    if packets == 0 && !zero_allowed {
        return Err(Rejection::on(RejectReason::OutOfRange, field, "a flow has at least one packet"));
    }
    let Some(least) = packets.checked_mul(minimum) else {
        return Err(Rejection::on(
            RejectReason::BytesBelowPacketMinimum,
            field,
            format!("{packets} packets × {minimum} header bytes is more than any byte count can hold, so {bytes} bytes is too few"),
        ));
    };
    if bytes < least {
        return Err(Rejection::on(
            RejectReason::BytesBelowPacketMinimum,
            field,
            format!("{bytes} bytes is less than {packets} packets × {minimum} header bytes"),
        ));
    }
    if packets.checked_mul(MAX_PACKET_BYTES).is_some_and(|most| bytes > most) {
        return Err(Rejection::on(
            RejectReason::BytesAbovePacketMaximum,
            field,
            format!("{bytes} bytes is more than {packets} packets × {MAX_PACKET_BYTES}"),
        ));
    }
    Ok(())
}

fn check_latency(latency_ms: u32) -> Result<(), Rejection> {
    if latency_ms > MAX_LATENCY_MS {
        return Err(Rejection::on(RejectReason::OutOfRange, "latency_ms", format!("latency_ms {latency_ms} exceeds {MAX_LATENCY_MS}")));
    }
    Ok(())
}

fn check_label(label: Option<&Label<'_>>) -> Result<(), Rejection> {
    match label {
        Some(label) if !has_length_in(&label.episode_id, 1, MAX_NAME_CHARS) => Err(Rejection::on(
            RejectReason::MalformedValue,
            "label.episode_id",
            format!("episode_id must be 1-{MAX_NAME_CHARS} characters"),
        )),
        _ => Ok(()),
    }
}

/// Whether `text` has `min..=max` characters, counted as the JSON Schema counts them (Unicode
/// scalar values, not bytes): `é` is one character of two bytes.
fn has_length_in(text: &str, min: usize, max: usize) -> bool {
    // Fewer bytes than `max` means fewer characters too: skip the count for the usual short names.
    if text.len() <= max && !text.is_empty() && min <= 1 {
        return true;
    }
    (min..=max).contains(&text.chars().count())
}

/// A flow's `start` / `end`: Unix seconds within the range of [`Timestamp`].
fn check_seconds(field: &str, seconds: i64) -> Result<(), Rejection> {
    if (Timestamp::EARLIEST_SECONDS..=Timestamp::LATEST_SECONDS).contains(&seconds) {
        return Ok(());
    }
    Err(Rejection::on(
        RejectReason::OutOfRange,
        field,
        format!(
            "{field} {seconds} is outside the time range records may carry, {} to {} (Unix seconds {} to {})",
            Timestamp::EARLIEST,
            Timestamp::LATEST,
            Timestamp::EARLIEST_SECONDS,
            Timestamp::LATEST_SECONDS
        ),
    ))
}
