//! The one strict validation function, used by the sink and proven against the generator.
//!
//! [`validate`] takes the raw bytes of one line / message and returns either the typed record
//! (borrowing from the input) or a [`Rejection`] whose [`RejectReason`] names the class of fault.
//! Three layers, cheapest first: framing (size, emptiness, UTF-8, is it an object), typing (serde:
//! unknown, missing, duplicate fields, wrong types, closed enums, integer ranges, address syntax),
//! then the semantic rules of [`validate_record`] (`start <= end`, TCP flags only on TCP, bytes at
//! least packets × minimum header, fields that must be null together, ...). The first fault found
//! wins; valid input is never altered.

use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

use super::{
    AppProto, Firewall, FirewallAction, FlowDirection, Label, LogStatus, Record, TrafficType, TransportProtocol, VpcFlow, protocol,
};

/// Largest record accepted, in bytes. Real records are 600–900 bytes.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

/// Deepest nesting of arrays / objects tolerated when diagnosing a document (records nest 2 deep).
const MAX_NESTING: usize = 16;

/// Longest aggregation window AWS uses (600 s; 60 s on Nitro).
const MAX_WINDOW_SECONDS: i64 = 600;

/// Ceiling for `latency_ms`: ten minutes.
const MAX_LATENCY_MS: u32 = 600_000;

/// Largest IP packet (the 16-bit total-length field).
const MAX_PACKET_BYTES: u64 = 65_535;

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

/// Why a record was rejected. Each class of fault is its own variant; [`RejectReason::as_str`] is
/// the stable code written into dead-letter entries and metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    TooLarge,
    Empty,
    NotUtf8,
    InvalidJson,
    NotAnObject,
    TooDeep,
    UnknownEventType,
    UnknownField,
    MissingField,
    DuplicateField,
    WrongType,
    UnknownEnumValue,
    OutOfRange,
    MalformedAddress,
    MalformedValue,
    MalformedIdentifier,
    UnknownRegion,
    UnknownProtocol,
    StartAfterEnd,
    WindowTooLong,
    InconsistentLogStatus,
    InvalidTcpFlags,
    TcpFlagsOnNonTcp,
    PortsOnPortlessProtocol,
    BytesBelowPacketMinimum,
    BytesAbovePacketMaximum,
    AddressFamilyMismatch,
    TrafficPathMismatch,
    HttpStatusWithoutHttp,
    ResetOnNonTcp,
    RepliesToRefusedSession,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::TooLarge => "too_large",
            RejectReason::Empty => "empty",
            RejectReason::NotUtf8 => "not_utf8",
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::NotAnObject => "not_an_object",
            RejectReason::TooDeep => "too_deep",
            RejectReason::UnknownEventType => "unknown_event_type",
            RejectReason::UnknownField => "unknown_field",
            RejectReason::MissingField => "missing_field",
            RejectReason::DuplicateField => "duplicate_field",
            RejectReason::WrongType => "wrong_type",
            RejectReason::UnknownEnumValue => "unknown_enum_value",
            RejectReason::OutOfRange => "out_of_range",
            RejectReason::MalformedAddress => "malformed_address",
            RejectReason::MalformedValue => "malformed_value",
            RejectReason::MalformedIdentifier => "malformed_identifier",
            RejectReason::UnknownRegion => "unknown_region",
            RejectReason::UnknownProtocol => "unknown_protocol",
            RejectReason::StartAfterEnd => "start_after_end",
            RejectReason::WindowTooLong => "window_too_long",
            RejectReason::InconsistentLogStatus => "inconsistent_log_status",
            RejectReason::InvalidTcpFlags => "invalid_tcp_flags",
            RejectReason::TcpFlagsOnNonTcp => "tcp_flags_on_non_tcp",
            RejectReason::PortsOnPortlessProtocol => "ports_on_portless_protocol",
            RejectReason::BytesBelowPacketMinimum => "bytes_below_packet_minimum",
            RejectReason::BytesAbovePacketMaximum => "bytes_above_packet_maximum",
            RejectReason::AddressFamilyMismatch => "address_family_mismatch",
            RejectReason::TrafficPathMismatch => "traffic_path_mismatch",
            RejectReason::HttpStatusWithoutHttp => "http_status_without_http",
            RejectReason::ResetOnNonTcp => "reset_on_non_tcp",
            RejectReason::RepliesToRefusedSession => "replies_to_refused_session",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected record: the class of fault, the field it concerns (when one does) and a
/// human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: RejectReason,
    pub field: Option<String>,
    pub detail: String,
}

impl Rejection {
    fn new(reason: RejectReason, field: Option<&str>, detail: impl Into<String>) -> Self {
        Rejection { reason, field: field.map(str::to_owned), detail: detail.into() }
    }

    fn on(reason: RejectReason, field: &str, detail: impl Into<String>) -> Self {
        Rejection::new(reason, Some(field), detail)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{} ({}): {}", self.reason, field, self.detail),
            None => write!(f, "{}: {}", self.reason, self.detail),
        }
    }
}

impl std::error::Error for Rejection {}

/// Validates one raw record (a line without its newline, or a Kafka message payload).
pub fn validate(raw: &[u8]) -> Result<Record<'_>, Rejection> {
    if raw.len() > MAX_RECORD_BYTES {
        return Err(Rejection::new(RejectReason::TooLarge, None, format!("{} bytes, the limit is {MAX_RECORD_BYTES}", raw.len())));
    }
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(Rejection::new(RejectReason::Empty, None, "empty record"));
    }
    let text = std::str::from_utf8(raw)
        .map_err(|error| Rejection::new(RejectReason::NotUtf8, None, format!("invalid UTF-8 at byte {}", error.valid_up_to())))?;
    let record = parse_typed(text)?;
    validate_record(&record)?;
    Ok(record)
}

fn parse_typed(text: &str) -> Result<Record<'_>, Rejection> {
    // Fast path: netchaos writes `event_type` first, so its own records skip the probe.
    let trimmed = text.trim_start();
    let kind = if trimmed.starts_with(r#"{"event_type":"vpc_flow","#) {
        Cow::Borrowed("vpc_flow")
    } else if trimmed.starts_with(r#"{"event_type":"firewall","#) {
        Cow::Borrowed("firewall")
    } else {
        probe_event_type(text)?
    };
    match kind.as_ref() {
        "vpc_flow" => serde_json::from_str::<VpcFlow<'_>>(text).map(Record::VpcFlow).map_err(|_| diagnose::<VpcFlow<'_>>(text)),
        "firewall" => serde_json::from_str::<Firewall<'_>>(text).map(Record::Firewall).map_err(|_| diagnose::<Firewall<'_>>(text)),
        other => Err(Rejection::on(
            RejectReason::UnknownEventType,
            "event_type",
            format!("unknown event_type `{other}`, expected `vpc_flow` or `firewall`"),
        )),
    }
}

/// Reads only `event_type`, skipping everything else; classifies documents that are not objects.
fn probe_event_type(text: &str) -> Result<Cow<'_, str>, Rejection> {
    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        event_type: Option<Cow<'a, str>>,
    }
    let first = text.trim_start().as_bytes().first().copied();
    if first != Some(b'{') {
        if nesting_depth(text) > MAX_NESTING {
            return Err(too_deep());
        }
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => Rejection::new(RejectReason::NotAnObject, None, "a record must be a JSON object"),
            Err(error) => classify_syntax(text, &error),
        });
    }
    match serde_json::from_str::<Probe<'_>>(text) {
        Ok(Probe { event_type: Some(kind) }) => Ok(kind),
        Ok(Probe { event_type: None }) => Err(Rejection::on(RejectReason::MissingField, "event_type", "missing field `event_type`")),
        Err(error) if error.is_data() => Err(Rejection::on(RejectReason::WrongType, "event_type", error.to_string())),
        Err(error) => Err(classify_syntax(text, &error)),
    }
}

fn too_deep() -> Rejection {
    Rejection::new(RejectReason::TooDeep, None, format!("document nests deeper than {MAX_NESTING} levels"))
}

fn classify_syntax(text: &str, error: &serde_json::Error) -> Rejection {
    if nesting_depth(text) > MAX_NESTING || error.to_string().starts_with("recursion limit exceeded") {
        return too_deep();
    }
    Rejection::new(RejectReason::InvalidJson, None, error.to_string())
}

/// Deepest nesting of `[` / `{` outside strings.
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Runs the failed parse again with path tracking to name the field and the class of fault.
/// Only rejected records pay for this.
fn diagnose<'de, T: Deserialize<'de>>(text: &'de str) -> Rejection {
    // A record nests two levels deep; anything far deeper is rejected as such, whatever else
    // is wrong with it.
    if nesting_depth(text) > MAX_NESTING {
        return too_deep();
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let error = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Ok(_) => match deserializer.end() {
            Ok(()) => return Rejection::new(RejectReason::InvalidJson, None, "record did not parse"),
            Err(error) => return classify_syntax(text, &error),
        },
        Err(error) => error,
    };
    let path = error.path().to_string();
    let inner = error.into_inner();
    let message = inner.to_string();
    if !inner.is_data() {
        return classify_syntax(text, &inner);
    }
    let backticked = message.split('`').nth(1).map(str::to_owned);
    let (reason, field) = if message.starts_with("unknown field") {
        (RejectReason::UnknownField, backticked)
    } else if message.starts_with("missing field") {
        (RejectReason::MissingField, backticked)
    } else if message.starts_with("duplicate field") {
        (RejectReason::DuplicateField, backticked)
    } else if message.starts_with("unknown variant") {
        let reason = if path == "event_type" { RejectReason::UnknownEventType } else { RejectReason::UnknownEnumValue };
        (reason, Some(path))
    } else if message.starts_with("invalid type") {
        (RejectReason::WrongType, Some(path))
    } else if message.starts_with("invalid IP address syntax") || is_address_field(&path) {
        (RejectReason::MalformedAddress, Some(path))
    } else if message.starts_with("invalid value") && matches!(path.as_str(), "event_id" | "timestamp") {
        (RejectReason::MalformedValue, Some(path))
    } else {
        (RejectReason::OutOfRange, Some(path))
    };
    let field = field.filter(|name| !name.is_empty() && name != ".");
    Rejection { reason, field, detail: message }
}

fn is_address_field(path: &str) -> bool {
    matches!(path, "srcaddr" | "dstaddr" | "pkt_srcaddr" | "pkt_dstaddr" | "src_ip" | "dest_ip")
}

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
    if flow.start < 0 {
        return Err(Rejection::on(R::OutOfRange, "start", format!("start {} is before 1970", flow.start)));
    }
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
    if session.firewall_name.is_empty() || session.firewall_name.len() > 128 {
        return Err(Rejection::on(R::MalformedIdentifier, "firewall_name", "firewall_name must be 1-128 characters"));
    }
    if session.rule.is_empty() || session.rule.len() > 128 {
        return Err(Rejection::on(R::MalformedIdentifier, "rule", "rule must be 1-128 characters"));
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

/// TCP flags: required on TCP, absent otherwise; only FIN 1, SYN 2, RST 4 and ACK 16 (which
/// appears only in SYN-ACK, 18) can be set.
fn check_tcp_flags(is_tcp: bool, flags: Option<u8>) -> Result<(), Rejection> {
    match (is_tcp, flags) {
        (false, None) => Ok(()),
        (false, Some(value)) => {
            Err(Rejection::on(RejectReason::TcpFlagsOnNonTcp, "tcp_flags", format!("tcp_flags {value} on a non-TCP flow")))
        }
        (true, None) => {
            Err(Rejection::on(RejectReason::InvalidTcpFlags, "tcp_flags", "a TCP flow needs tcp_flags (0 when none were seen)"))
        }
        (true, Some(value)) if value & !0b1_0111 != 0 || (value & 16 != 0 && value & 2 == 0) => Err(Rejection::on(
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

fn check_volume(field: &str, packets: u64, bytes: u64, minimum: u64, zero_allowed: bool) -> Result<(), Rejection> {
    if packets == 0 && !zero_allowed {
        return Err(Rejection::on(RejectReason::OutOfRange, field, "a flow has at least one packet"));
    }
    if bytes < packets.saturating_mul(minimum) {
        return Err(Rejection::on(
            RejectReason::BytesBelowPacketMinimum,
            field,
            format!("{bytes} bytes is less than {packets} packets × {minimum} header bytes"),
        ));
    }
    if bytes > packets.saturating_mul(MAX_PACKET_BYTES) {
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
        Some(label) if label.episode_id.is_empty() || label.episode_id.len() > 128 => {
            Err(Rejection::on(RejectReason::MalformedValue, "label.episode_id", "episode_id must be 1-128 characters"))
        }
        _ => Ok(()),
    }
}
