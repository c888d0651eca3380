//! The one strict validation function, used by the sink and proven against the generator.
//!
//! [`validate`] takes the raw bytes of one line / message and returns either the typed record
//! (borrowing from the input) or a [`Rejection`] whose [`RejectReason`] names the class of fault.
//! Records in exactly the form netchaos writes take a fast path that reads them without serde_json
//! (`canonical.rs`, which says why it accepts nothing serde_json would not). Three layers, cheapest
//! first: framing (size, emptiness, UTF-8, is it an object), typing (serde:
//! unknown, missing, duplicate fields, wrong types, closed enums, integer ranges, address syntax),
//! then the semantic rules of [`validate_record`] (`start <= end`, TCP flags only on TCP, bytes at
//! least packets × minimum header, fields that must be null together, ...). The first fault found
//! wins; valid input is never altered.

use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

use super::{Firewall, Record, VpcFlow};

pub use super::rules::validate_record;

/// Largest record accepted, in bytes. Real records are 600–900 bytes.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

/// Deepest nesting of arrays / objects tolerated when diagnosing a document (records nest 2 deep).
const MAX_NESTING: usize = 16;

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
    pub(super) fn new(reason: RejectReason, field: Option<&str>, detail: impl Into<String>) -> Self {
        Rejection { reason, field: field.map(str::to_owned), detail: detail.into() }
    }

    pub(super) fn on(reason: RejectReason, field: &str, detail: impl Into<String>) -> Self {
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
    // Fastest path: a record in exactly the form netchaos writes is read without serde_json.
    if let Some(record) = super::canonical::parse(raw) {
        validate_record(&record)?;
        return Ok(record);
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
