//! OCSF Network Activity (class 4001, schema 1.1.0) for Amazon Security Lake: one JSON object per
//! record, for VPC flows and firewall sessions alike. docs/ocsf.md has the mapping table and its
//! sources; the integration test validates every record of a generated run against the class's
//! JSON Schema (`tests/it/aws_security.rs`: schema.ocsf.io's 1.1.0 export, as the PyPI package
//! `ocsf-json-schema` bundles it, with the profiles `cloud` and `security_control`).
//!
//! Decisions the schema leaves to us:
//! - Every record maps to exactly one event (`metadata.uid` is the record's event id), so the
//!   sink's counts and `verify` work on OCSF objects as on our own records.
//! - A `NODATA` / `SKIPDATA` flow record (an ENI with no traffic in the window, or whose records
//!   were skipped) is activity 99 Other, named after the log status, with the ENI on both
//!   endpoints (the class requires both, each naming something), action and disposition 0
//!   Unknown, and `status_id` 1 Success (`NODATA`) or 2 Failure (`SKIPDATA`: records were lost).
//! - Firewall sessions: `allow` → 6 Traffic; `deny` → 5 Refuse, disposition 2 Blocked; `drop` → 5
//!   Refuse, disposition 6 Dropped; `reset` → 3 Reset, disposition 21 Reset; the three stopped
//!   ones with action 2 Denied.
//! - `severity_id` is 1 Informational for traffic the controls let through and 2 Low for what
//!   they stopped; it never depends on the ground-truth label, so a detector cannot read the
//!   answer off it. The label is in `metadata.correlation_uid` (episode id) and `metadata.labels`
//!   (the anomaly kind) only.

use std::net::IpAddr;

use crate::records::{Firewall, Record};
use crate::records::{
    FirewallAction, FirewallDirection, FlowAction, FlowDirection, Label, LogStatus, TrafficType, TransportProtocol, VpcFlow, protocol,
};

use super::json_object::JsonObject;
use super::network_firewall;

pub use super::ocsf_parquet::OcsfParquet;

pub const CLASS_UID: u32 = 4001;
pub const VERSION: &str = "1.1.0";
pub const CATEGORY_UID: u32 = 4;
/// The profiles whose attributes the events carry (`cloud`, and `security_control` for
/// `action_id` / `disposition_id`), as `metadata.profiles` lists them.
pub const PROFILES: [&str; 2] = ["cloud", "security_control"];

/// OCSF 1.1.0's `activity_id` of Network Activity (includes/network/network_activities.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Reset = 3,
    Refuse = 5,
    Traffic = 6,
    Other = 99,
}

impl Activity {
    pub fn id(self) -> u32 {
        self as u32
    }

    /// `type_uid` = class_uid × 100 + activity_id.
    pub fn type_uid(self) -> u32 {
        CLASS_UID * 100 + self.id()
    }

    fn caption(self) -> &'static str {
        match self {
            Activity::Reset => "Reset",
            Activity::Refuse => "Refuse",
            Activity::Traffic => "Traffic",
            Activity::Other => "Other",
        }
    }
}

/// What a security control did: `action_id` (1 Allowed, 2 Denied, 0 Unknown) and
/// `disposition_id` (1 Allowed, 2 Blocked, 6 Dropped, 21 Reset, 0 Unknown), with their captions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub action_id: u32,
    pub disposition_id: u32,
}

impl Outcome {
    const UNKNOWN: Outcome = Outcome { action_id: 0, disposition_id: 0 };
    const ALLOWED: Outcome = Outcome { action_id: 1, disposition_id: 1 };
    const BLOCKED: Outcome = Outcome { action_id: 2, disposition_id: 2 };
    const DROPPED: Outcome = Outcome { action_id: 2, disposition_id: 6 };
    const RESET: Outcome = Outcome { action_id: 2, disposition_id: 21 };

    fn action(self) -> &'static str {
        match self.action_id {
            1 => "Allowed",
            2 => "Denied",
            _ => "Unknown",
        }
    }

    fn disposition(self) -> &'static str {
        match self.disposition_id {
            1 => "Allowed",
            2 => "Blocked",
            6 => "Dropped",
            21 => "Reset",
            _ => "Unknown",
        }
    }
}

/// The activity and outcome of a flow record: ACCEPT → Traffic / Allowed, REJECT → Refuse /
/// Denied, Blocked; NODATA and SKIPDATA → Other / Unknown.
pub fn flow_activity(flow: &VpcFlow<'_>) -> (Activity, Outcome) {
    match (flow.log_status, flow.action) {
        (LogStatus::Ok, Some(FlowAction::Reject)) => (Activity::Refuse, Outcome::BLOCKED),
        (LogStatus::Ok, _) => (Activity::Traffic, Outcome::ALLOWED),
        (LogStatus::Nodata | LogStatus::Skipdata, _) => (Activity::Other, Outcome::UNKNOWN),
    }
}

/// The activity and outcome of a firewall session (see the module doc).
pub fn firewall_activity(session: &Firewall<'_>) -> (Activity, Outcome) {
    match session.action {
        FirewallAction::Allow => (Activity::Traffic, Outcome::ALLOWED),
        FirewallAction::Deny => (Activity::Refuse, Outcome::BLOCKED),
        FirewallAction::Drop => (Activity::Refuse, Outcome::DROPPED),
        FirewallAction::Reset => (Activity::Reset, Outcome::RESET),
    }
}

/// OCSF 1.1.0's `boundary_id` of a VPC flow's traffic-path: 1 same VPC → 4 "Same VPC", 2 → 5
/// "Internet/VPC Gateway", 3 → 6 "Virtual Private Gateway", 4 → 7 "Intra-region VPC", 5 → 8
/// "Inter-region VPC", 6 → 9 "Local Gateway", 7 → 10 "Gateway VPC", 8 → 11 "Internet Gateway".
pub fn boundary(traffic_path: u8) -> Option<(u32, &'static str)> {
    const CAPTIONS: [&str; 8] = [
        "Same VPC",
        "Internet/VPC Gateway",
        "Virtual Private Gateway",
        "Intra-region VPC",
        "Inter-region VPC",
        "Local Gateway",
        "Gateway VPC",
        "Internet Gateway",
    ];
    let index = usize::from(traffic_path).checked_sub(1)?;
    CAPTIONS.get(index).map(|caption| (u32::from(traffic_path) + 3, *caption))
}

/// `connection_info.direction_id` / `direction`: 1 Inbound, 2 Outbound, 3 Lateral, 0 Unknown.
fn direction(direction_id: u64) -> &'static str {
    match direction_id {
        1 => "Inbound",
        2 => "Outbound",
        3 => "Lateral",
        _ => "Unknown",
    }
}

fn protocol_name(number: u8) -> Option<&'static str> {
    match number {
        protocol::ICMP => Some("icmp"),
        protocol::TCP => Some("tcp"),
        protocol::UDP => Some("udp"),
        protocol::GRE => Some("gre"),
        protocol::ESP => Some("esp"),
        protocol::ICMPV6 => Some("ipv6-icmp"),
        _ => None,
    }
}

/// The fields every event starts with: classification, time, severity, outcome.
fn classification(event: &mut JsonObject<'_>, activity: (Activity, &str), outcome: Outcome, time_ms: i64) {
    let (activity, activity_name) = activity;
    event.unsigned("activity_id", u64::from(activity.id()));
    event.string("activity_name", activity_name);
    event.unsigned("category_uid", u64::from(CATEGORY_UID));
    event.string("category_name", "Network Activity");
    event.unsigned("class_uid", u64::from(CLASS_UID));
    event.string("class_name", "Network Activity");
    event.unsigned("type_uid", u64::from(activity.type_uid()));
    event.string("type_name", &format!("Network Activity: {}", activity.caption()));
    event.signed("time", time_ms);
    let stopped = outcome.action_id == 2;
    event.unsigned("severity_id", if stopped { 2 } else { 1 });
    event.string("severity", if stopped { "Low" } else { "Informational" });
    event.unsigned("action_id", u64::from(outcome.action_id));
    event.string("action", outcome.action());
    event.unsigned("disposition_id", u64::from(outcome.disposition_id));
    event.string("disposition", outcome.disposition());
}

fn metadata(event: &mut JsonObject<'_>, uid: &str, label: Option<&Label<'_>>, log_name: &str, feature: &str) {
    event.object("metadata", |metadata| {
        metadata.string("version", VERSION);
        metadata.object("product", |product| {
            product.string("name", "netchaos");
            product.string("vendor_name", "netchaos");
            product.string("version", env!("CARGO_PKG_VERSION"));
            product.object("feature", |object| object.string("name", feature));
        });
        metadata.strings("profiles", PROFILES);
        metadata.string("uid", uid);
        metadata.string("log_name", log_name);
        if let Some(label) = label {
            metadata.string("correlation_uid", &label.episode_id);
            metadata.strings("labels", [label.kind.as_str()]);
        }
    });
}

/// Appends one OCSF object for a VPC flow record, one line + '\n'.
pub fn write_flow(flow: &VpcFlow<'_>, out: &mut Vec<u8>) {
    let (activity, outcome) = flow_activity(flow);
    let end_ms = flow.end.saturating_mul(1000);
    // Activity 99 Other is named after the log status (`NODATA`, `SKIPDATA`).
    let activity_name = if activity == Activity::Other { log_status(flow.log_status) } else { activity.caption() };
    let mut event = JsonObject::open(out);
    classification(&mut event, (activity, activity_name), outcome, end_ms);
    event.signed("start_time", flow.start.saturating_mul(1000));
    event.signed("end_time", end_ms);
    let (status_id, status) = match flow.log_status {
        LogStatus::Ok | LogStatus::Nodata => (1, "Success"),
        LogStatus::Skipdata => (2, "Failure"),
    };
    event.unsigned("status_id", status_id);
    event.string("status", status);
    event.string("status_code", log_status(flow.log_status));
    metadata(&mut event, &flow.event_id.to_string(), flow.label.as_ref(), "vpc_flow", "VPC Flow Logs");
    event.object("cloud", |cloud| {
        cloud.string("provider", "AWS");
        cloud.object("account", |account| account.string("uid", &flow.account_id));
        cloud.string("region", &flow.region);
        cloud.string("zone", &flow.az_id);
    });
    // The ENI that logged the record is the destination's on ingress, the source's on egress.
    let eni_at_destination = flow.flow_direction == Some(FlowDirection::Ingress);
    event.object("src_endpoint", |endpoint| {
        flow_endpoint(endpoint, flow, flow.srcaddr, flow.pkt_srcaddr, flow.srcport, !eni_at_destination || activity == Activity::Other);
    });
    event.object("dst_endpoint", |endpoint| {
        flow_endpoint(endpoint, flow, flow.dstaddr, flow.pkt_dstaddr, flow.dstport, eni_at_destination || activity == Activity::Other);
    });
    event.object("connection_info", |connection| {
        if let Some(number) = flow.protocol {
            connection.unsigned("protocol_num", u64::from(number));
            if let Some(name) = protocol_name(number) {
                connection.string("protocol_name", name);
            }
        }
        if let Some(traffic_type) = flow.traffic_type {
            let (id, caption) = match traffic_type {
                TrafficType::IPv4 => (4, "IPv4"),
                TrafficType::IPv6 => (6, "IPv6"),
                TrafficType::Efa => (99, "EFA"),
            };
            connection.unsigned("protocol_ver_id", id);
            connection.string("protocol_ver", caption);
        }
        if let Some(flags) = flow.tcp_flags {
            connection.unsigned("tcp_flags", u64::from(flags));
        }
        let direction_id = match flow.flow_direction {
            Some(FlowDirection::Ingress) => 1,
            Some(FlowDirection::Egress) => 2,
            None => 0,
        };
        connection.unsigned("direction_id", direction_id);
        connection.string("direction", direction(direction_id));
        if let Some((boundary_id, caption)) = flow.traffic_path.and_then(boundary) {
            connection.unsigned("boundary_id", u64::from(boundary_id));
            connection.string("boundary", caption);
        }
    });
    if let (Some(bytes), Some(packets)) = (flow.bytes, flow.packets) {
        event.object("traffic", |traffic| {
            traffic.long("bytes", bytes);
            traffic.long("packets", packets);
        });
    }
    if let Some(latency_ms) = flow.latency_ms {
        event.object("unmapped", |unmapped| unmapped.unsigned("netchaos_latency_ms", u64::from(latency_ms)));
    }
    event.close();
    out.push(b'\n');
}

fn flow_endpoint(
    endpoint: &mut JsonObject<'_>,
    flow: &VpcFlow<'_>,
    address: Option<IpAddr>,
    packet_address: Option<IpAddr>,
    port: Option<u16>,
    is_eni_side: bool,
) {
    if let Some(address) = address {
        endpoint.address("ip", address);
    }
    if let Some(port) = port {
        endpoint.unsigned("port", u64::from(port));
    }
    if let Some(behind) = packet_address.filter(|behind| Some(*behind) != address) {
        endpoint.strings("intermediate_ips", [behind.to_string().as_str()]);
    }
    if is_eni_side {
        endpoint.string("interface_uid", &flow.interface_id);
        endpoint.string("vpc_uid", &flow.vpc_id);
        endpoint.string("subnet_uid", &flow.subnet_id);
        if let Some(instance) = &flow.instance_id {
            endpoint.string("instance_uid", instance);
        }
    }
}

fn log_status(status: LogStatus) -> &'static str {
    match status {
        LogStatus::Ok => "OK",
        LogStatus::Nodata => "NODATA",
        LogStatus::Skipdata => "SKIPDATA",
    }
}

/// Appends one OCSF object for a firewall session record, one line + '\n'.
pub fn write_firewall(session: &Firewall<'_>, out: &mut Vec<u8>) {
    let (activity, outcome) = firewall_activity(session);
    let end_ms = session.timestamp.unix_millis();
    let duration_ms = i64::try_from(session.duration_ms).unwrap_or(i64::MAX);
    let mut event = JsonObject::open(out);
    classification(&mut event, (activity, activity.caption()), outcome, end_ms);
    event.signed("start_time", end_ms.saturating_sub(duration_ms));
    event.signed("end_time", end_ms);
    event.signed("duration", duration_ms);
    event.string("app_name", &session.firewall_name);
    metadata(&mut event, &session.event_id.to_string(), session.label.as_ref(), "firewall", "Firewall");
    event.object("cloud", |cloud| {
        cloud.string("provider", "AWS");
        cloud.string("region", network_firewall::region_of(&session.availability_zone));
        cloud.string("zone", &session.availability_zone);
    });
    event.object("src_endpoint", |endpoint| {
        endpoint.address("ip", session.src_ip);
        endpoint.unsigned("port", u64::from(session.src_port));
    });
    event.object("dst_endpoint", |endpoint| {
        endpoint.address("ip", session.dest_ip);
        endpoint.unsigned("port", u64::from(session.dest_port));
    });
    event.object("connection_info", |connection| {
        connection.string("uid", itoa::Buffer::new().format(network_firewall::flow_id(session)));
        let (number, name) = match session.protocol {
            TransportProtocol::Tcp => (protocol::TCP, "tcp"),
            TransportProtocol::Udp => (protocol::UDP, "udp"),
            TransportProtocol::Icmp => (protocol::ICMP, "icmp"),
        };
        connection.unsigned("protocol_num", u64::from(number));
        connection.string("protocol_name", name);
        if let Some(flags) = session.tcp_flags {
            connection.unsigned("tcp_flags", u64::from(flags));
        }
        let direction_id = match session.direction {
            FirewallDirection::Inbound => 1,
            FirewallDirection::Outbound => 2,
            FirewallDirection::Internal => 3,
        };
        connection.unsigned("direction_id", direction_id);
        connection.string("direction", direction(direction_id));
    });
    event.object("traffic", |traffic| {
        traffic.long("bytes", session.bytes_sent.saturating_add(session.bytes_received));
        traffic.long("packets", session.packets_sent.saturating_add(session.packets_received));
        traffic.long("bytes_out", session.bytes_sent);
        traffic.long("bytes_in", session.bytes_received);
        traffic.long("packets_out", session.packets_sent);
        traffic.long("packets_in", session.packets_received);
    });
    event.object("firewall_rule", |rule| {
        rule.string("name", &session.rule);
        rule.string("uid", itoa::Buffer::new().format(network_firewall::signature_id(&session.rule)));
    });
    event.object("unmapped", |unmapped| {
        unmapped.string("session_end_reason", serde_name(&session.session_end_reason).as_str());
        unmapped.string("app_proto", serde_name(&session.app_proto).as_str());
        if let Some(status) = session.http_status {
            unmapped.unsigned("http_status", u64::from(status));
        }
        unmapped.unsigned("netchaos_latency_ms", u64::from(session.latency_ms));
        unmapped.long("session_id", session.session_id);
    });
    event.close();
    out.push(b'\n');
}

/// The serde name of an enum value (`tcp-fin`, `postgresql`): what netchaos's own records say.
fn serde_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// A record's OCSF `time`, epoch milliseconds: a flow's `end`, a session's `timestamp` (for
/// Security Lake's `eventDay` partition).
pub fn time_ms(record: &Record<'_>) -> i64 {
    match record {
        Record::VpcFlow(flow) => flow.end.saturating_mul(1000),
        Record::Firewall(session) => session.timestamp.unix_millis(),
    }
}

/// Appends one OCSF object for either kind of record.
pub fn write_record(record: &Record<'_>, out: &mut Vec<u8>) {
    match record {
        Record::VpcFlow(flow) => write_flow(flow, out),
        Record::Firewall(session) => write_firewall(session, out),
    }
}

#[cfg(test)]
#[path = "ocsf_tests.rs"]
mod tests;
