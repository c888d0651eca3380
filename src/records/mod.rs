//! The records netchaos emits, one JSON object per Kafka message or per line.
//!
//! Two kinds, told apart by `event_type`: [`VpcFlow`] (the AWS VPC Flow Log version-5 field set,
//! `-` in AWS names turned into `_`, plus the extension `latency_ms`) and [`Firewall`] (a
//! firewall session log). Every record also carries an [`EventId`] that is unique across a run and
//! across generator instances, and a [`Label`] with the ground truth (`null` for normal traffic).
//!
//! The types borrow their strings (`Cow<'a, str>`) so that the generator serializes straight from
//! its topology and the sink validates straight from the input line, without copying.
//! [`validate`] is the one strict validation function: the sink uses it, and the generator's tests
//! prove that everything the generator emits passes it.

mod canonical;
mod encode;
mod event_id;
mod firewall;
mod label;
mod rules;
mod schema;
mod tcp_flags;
mod timestamp;
mod validate;
mod vpc_flow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use canonical::parse as parse_canonical;
pub use encode::write_record;
pub use event_id::{EventId, RUN_ID_LEN};
pub use firewall::{AppProto, Firewall, FirewallAction, FirewallDirection, FirewallTag, SessionEndReason, TransportProtocol};
pub use label::{AnomalyKind, Label, PerKind, PerLabel};
pub use schema::json_schema;
pub use tcp_flags::TcpFlags;
pub use timestamp::{Timestamp, TimestampError};
pub use validate::{MAX_RECORD_BYTES, RejectReason, Rejection, validate, validate_record};
pub use vpc_flow::{AwsService, FlowAction, FlowDirection, LogStatus, SublocationType, TrafficType, VpcFlow, VpcFlowTag, protocol};

/// One telemetry record: `{"event_type": "vpc_flow", ...}` or `{"event_type": "firewall", ...}`.
///
/// Each kind carries its own constant `event_type` field, so the enum serializes untagged; reading
/// goes through [`validate`], which looks at `event_type` first and then parses the one kind it
/// names (faster than serde's buffered internally-tagged enums, and it keeps field paths in errors).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Record<'a> {
    /// An AWS VPC Flow Log record (version 5 fields).
    VpcFlow(VpcFlow<'a>),
    /// A firewall session log.
    Firewall(Firewall<'a>),
}

/// The two record kinds, as bounded labels for counters and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    VpcFlow,
    Firewall,
}

impl EventType {
    pub const ALL: [EventType; 2] = [EventType::VpcFlow, EventType::Firewall];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::VpcFlow => "vpc_flow",
            EventType::Firewall => "firewall",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Record<'_> {
    pub fn event_type(&self) -> EventType {
        match self {
            Record::VpcFlow(_) => EventType::VpcFlow,
            Record::Firewall(_) => EventType::Firewall,
        }
    }

    pub fn event_id(&self) -> &EventId<'_> {
        match self {
            Record::VpcFlow(flow) => &flow.event_id,
            Record::Firewall(session) => &session.event_id,
        }
    }

    pub fn label(&self) -> Option<&Label<'_>> {
        match self {
            Record::VpcFlow(flow) => flow.label.as_ref(),
            Record::Firewall(session) => session.label.as_ref(),
        }
    }
}

/// Deserializes a field that must be present even though it may be `null`.
///
/// serde treats a missing `Option` field as `None`; netchaos records always carry every key, so a
/// missing one is a `missing_field` rejection, not an implicit null.
pub(crate) fn required<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

/// Deserializes a string, borrowing it from the input when it has no escapes.
pub(crate) fn borrow_str<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<std::borrow::Cow<'de, str>, D::Error> {
    struct StrVisitor;
    impl<'de> serde::de::Visitor<'de> for StrVisitor {
        type Value = std::borrow::Cow<'de, str>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E: serde::de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
            Ok(std::borrow::Cow::Borrowed(text))
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok(std::borrow::Cow::Owned(text.to_owned()))
        }
        fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Self::Value, E> {
            Ok(std::borrow::Cow::Owned(text))
        }
    }
    deserializer.deserialize_str(StrVisitor)
}
