//! The firewall session log: one record per session the firewall closed (or refused).
//!
//! Modelled on AWS Network Firewall's netflow events and Palo Alto TRAFFIC logs: time, 5-tuple,
//! application protocol, action (allow / deny / drop / reset), the rule that decided, bytes and
//! packets each way, TCP flags (TCP only), `http_status` (HTTP only), why the session ended, and
//! netchaos's `latency_ms` extension.

use std::borrow::Cow;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::vpc_flow::required_label;
use super::{EventId, Label, Timestamp, required};

/// The constant `event_type` of a firewall record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum FirewallTag {
    #[default]
    #[serde(rename = "firewall")]
    Firewall,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum TransportProtocol {
    Tcp,
    Udp,
    Icmp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AppProto {
    Http,
    Tls,
    Dns,
    Ssh,
    Postgresql,
    Mysql,
    Redis,
    Kafka,
    Ntp,
    Smtp,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FirewallAction {
    Allow,
    Deny,
    Drop,
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FirewallDirection {
    Inbound,
    Outbound,
    Internal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SessionEndReason {
    TcpFin,
    TcpRstFromClient,
    TcpRstFromServer,
    AgedOut,
    PolicyDeny,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Firewall<'a> {
    pub event_type: FirewallTag,
    #[serde(borrow)]
    pub event_id: EventId<'a>,
    /// When the session ended (or was refused).
    pub timestamp: Timestamp,
    #[serde(borrow)]
    #[schemars(length(min = 1, max = super::rules::MAX_NAME_CHARS))]
    pub firewall_name: Cow<'a, str>,
    #[serde(borrow)]
    #[schemars(regex(pattern = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]$"))]
    pub availability_zone: Cow<'a, str>,
    pub session_id: u64,
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dest_ip: IpAddr,
    pub dest_port: u16,
    pub protocol: TransportProtocol,
    pub app_proto: AppProto,
    pub direction: FirewallDirection,
    pub action: FirewallAction,
    #[serde(borrow)]
    #[schemars(length(min = 1, max = super::rules::MAX_NAME_CHARS))]
    pub rule: Cow<'a, str>,
    /// Client to server.
    pub bytes_sent: u64,
    /// Server to client.
    pub bytes_received: u64,
    pub packets_sent: u64,
    pub packets_received: u64,
    pub duration_ms: u64,
    /// Bitmask OR-ed over the session (FIN 1, SYN 2, RST 4, SYN-ACK 18); TCP only.
    #[serde(deserialize_with = "required")]
    pub tcp_flags: Option<u8>,
    /// HTTP only.
    #[serde(deserialize_with = "required")]
    pub http_status: Option<u16>,
    pub session_end_reason: SessionEndReason,
    /// Round-trip latency of the session, in milliseconds.
    pub latency_ms: u32,
    #[serde(borrow, deserialize_with = "required_label")]
    pub label: Option<Label<'a>>,
}
