//! One conversation between two endpoints, and how it looks as a flow-log record or a firewall
//! session record.
//!
//! Baseline traffic and every chaos kind describe what happened as a [`Session`]; the render
//! functions turn it into records, so a flow and a firewall entry of the same conversation always
//! agree (addresses, ports, protocol, bytes each way, flags, latency). A flow record describes one
//! direction as seen by one ENI, as AWS writes them: the request direction (client → server) or
//! the response direction, logged at whichever end is one of our hosts.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};

use crate::records::{
    AppProto, EventId, Firewall, FirewallAction, FirewallDirection, FirewallTag, FlowAction, FlowDirection, Label, LogStatus,
    SessionEndReason, Timestamp, TrafficType, TransportProtocol, VpcFlow, VpcFlowTag, protocol,
};

use super::topology::{Host, Topology};

/// Aggregation window of the flow logs we imitate (Nitro: 60 s).
pub const WINDOW_SECONDS: i64 = 60;

#[derive(Debug, Clone, Copy)]
pub enum Endpoint<'t> {
    Host(&'t Host),
    External(Ipv4Addr),
}

impl Endpoint<'_> {
    pub fn address(&self) -> Ipv4Addr {
        match self {
            Endpoint::Host(host) => host.address,
            Endpoint::External(address) => *address,
        }
    }
}

/// How the session ended, as the firewall saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    /// Refused by policy (security group / firewall deny).
    Denied,
    /// Silently dropped.
    Dropped,
    /// Torn down with a TCP RST.
    Reset,
}

/// Which direction a flow record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Request,
    Response,
}

#[derive(Debug, Clone)]
pub struct Session<'t> {
    pub client: Endpoint<'t>,
    pub client_port: u16,
    pub server: Endpoint<'t>,
    pub server_port: u16,
    /// IANA number: TCP, UDP or ICMP.
    pub protocol: u8,
    pub app_proto: AppProto,
    pub outcome: Outcome,
    pub packets_up: u64,
    pub bytes_up: u64,
    pub packets_down: u64,
    pub bytes_down: u64,
    /// TCP flags OR-ed over the window, client → server (ignored for non-TCP).
    pub flags_up: u8,
    /// TCP flags OR-ed over the window, server → client.
    pub flags_down: u8,
    pub duration_ms: u64,
    pub latency_ms: u32,
    pub http_status: Option<u16>,
    pub rule: &'static str,
}

/// What every record carries besides the conversation.
#[derive(Debug, Clone)]
pub struct RecordContext<'a> {
    pub event_id: EventId<'a>,
    /// Logical event time (end of the flow window / of the session), Unix milliseconds.
    pub time_ms: i64,
    pub label: Option<Label<'a>>,
}

fn observer_fields<'t>(topology: &'t Topology, host: &'t Host) -> (&'t str, &'t str, &'t str, &'t str, &'t str, &'t str) {
    let vpc = topology.vpc_of(host);
    let subnet = topology.subnet_of(host);
    (&vpc.account_id, &host.interface_id, &vpc.vpc_id, &subnet.subnet_id, vpc.region, &subnet.az_id)
}

/// Renders one direction of `session` as seen by one of our ENIs. `prefer_destination` picks the
/// receiving ENI when both ends are our hosts. Refused sessions only have a request direction,
/// logged where it was refused (the destination).
pub fn render_flow<'t, 'a>(
    topology: &'t Topology,
    session: &Session<'t>,
    side: Side,
    prefer_destination: bool,
    context: RecordContext<'a>,
) -> VpcFlow<'a>
where
    't: 'a,
{
    let refused = matches!(session.outcome, Outcome::Denied | Outcome::Dropped);
    let side = if refused { Side::Request } else { side };
    let (source, source_port, destination, destination_port, packets, bytes, flags) = match side {
        Side::Request => (
            session.client,
            session.client_port,
            session.server,
            session.server_port,
            session.packets_up,
            session.bytes_up,
            session.flags_up,
        ),
        Side::Response => (
            session.server,
            session.server_port,
            session.client,
            session.client_port,
            session.packets_down,
            session.bytes_down,
            session.flags_down,
        ),
    };
    let (observer, direction) = match (source, destination) {
        (Endpoint::Host(_), Endpoint::Host(host)) if prefer_destination || refused => (host, FlowDirection::Ingress),
        (Endpoint::Host(host), _) => (host, FlowDirection::Egress),
        (Endpoint::External(_), Endpoint::Host(host)) => (host, FlowDirection::Ingress),
        (Endpoint::External(_), Endpoint::External(_)) => unreachable_external(topology),
    };
    let traffic_path = match (direction, destination) {
        (FlowDirection::Ingress, _) => None,
        (FlowDirection::Egress, Endpoint::Host(_)) => Some(1),
        // A host in a private subnet has no public address: it reaches the internet through a NAT
        // gateway, another resource of the same VPC (path 1); public subnets go through the IGW.
        (FlowDirection::Egress, Endpoint::External(_)) if !topology.subnet_of(observer).public => Some(1),
        (FlowDirection::Egress, Endpoint::External(_)) => Some(2),
    };
    let (account_id, interface_id, vpc_id, subnet_id, region, az_id) = observer_fields(topology, observer);
    let (start, end) = flow_window(context.time_ms, session.duration_ms);
    let is_tcp = session.protocol == protocol::TCP;
    let action = if refused { FlowAction::Reject } else { FlowAction::Accept };
    VpcFlow {
        event_type: VpcFlowTag::VpcFlow,
        event_id: context.event_id,
        version: 5,
        account_id: Cow::Borrowed(account_id),
        interface_id: Cow::Borrowed(interface_id),
        srcaddr: Some(IpAddr::V4(source.address())),
        dstaddr: Some(IpAddr::V4(destination.address())),
        srcport: Some(source_port),
        dstport: Some(destination_port),
        protocol: Some(session.protocol),
        packets: Some(packets),
        bytes: Some(bytes),
        start,
        end,
        action: Some(action),
        log_status: LogStatus::Ok,
        vpc_id: Cow::Borrowed(vpc_id),
        subnet_id: Cow::Borrowed(subnet_id),
        instance_id: observer.instance_id.as_deref().map(Cow::Borrowed),
        tcp_flags: is_tcp.then_some(flags),
        traffic_type: Some(TrafficType::IPv4),
        pkt_srcaddr: Some(IpAddr::V4(source.address())),
        pkt_dstaddr: Some(IpAddr::V4(destination.address())),
        region: Cow::Borrowed(region),
        az_id: Cow::Borrowed(az_id),
        sublocation_type: None,
        sublocation_id: None,
        pkt_src_aws_service: None,
        pkt_dst_aws_service: None,
        flow_direction: Some(direction),
        traffic_path,
        latency_ms: Some(session.latency_ms),
        label: context.label,
    }
}

/// The `(start, end)` Unix seconds of a flow record logged at `time_ms` for a conversation of
/// `duration_ms`: it ends at the event time and spans at most the aggregation window.
pub fn flow_window(time_ms: i64, duration_ms: u64) -> (i64, i64) {
    let end = time_ms.div_euclid(1000);
    let span = i64::try_from(duration_ms / 1000).unwrap_or(i64::MAX).min(WINDOW_SECONDS - 1);
    (end - span, end)
}

/// When a firewall session logged at `time_ms` (its end) began.
pub fn session_start_ms(time_ms: i64, duration_ms: u64) -> i64 {
    time_ms.saturating_sub(i64::try_from(duration_ms).unwrap_or(i64::MAX))
}

/// Sessions always have one of our hosts at one end; the generator never builds one without.
fn unreachable_external(topology: &Topology) -> (&Host, FlowDirection) {
    debug_assert!(false, "a session between two external endpoints");
    (&topology.hosts[0], FlowDirection::Ingress)
}

/// A `NODATA` record: the ENI saw no traffic in the window.
pub fn render_no_data<'t, 'a>(topology: &'t Topology, host: &'t Host, context: RecordContext<'a>) -> VpcFlow<'a>
where
    't: 'a,
{
    let (account_id, interface_id, vpc_id, subnet_id, region, az_id) = observer_fields(topology, host);
    let (start, end) = flow_window(context.time_ms, u64::MAX);
    VpcFlow {
        event_type: VpcFlowTag::VpcFlow,
        event_id: context.event_id,
        version: 5,
        account_id: Cow::Borrowed(account_id),
        interface_id: Cow::Borrowed(interface_id),
        srcaddr: None,
        dstaddr: None,
        srcport: None,
        dstport: None,
        protocol: None,
        packets: None,
        bytes: None,
        start,
        end,
        action: None,
        log_status: LogStatus::Nodata,
        vpc_id: Cow::Borrowed(vpc_id),
        subnet_id: Cow::Borrowed(subnet_id),
        instance_id: host.instance_id.as_deref().map(Cow::Borrowed),
        tcp_flags: None,
        traffic_type: None,
        pkt_srcaddr: None,
        pkt_dstaddr: None,
        region: Cow::Borrowed(region),
        az_id: Cow::Borrowed(az_id),
        sublocation_type: None,
        sublocation_id: None,
        pkt_src_aws_service: None,
        pkt_dst_aws_service: None,
        flow_direction: None,
        traffic_path: None,
        latency_ms: None,
        label: context.label,
    }
}

/// Renders `session` as the firewall's session log.
pub fn render_firewall<'t, 'a>(topology: &'t Topology, session: &Session<'t>, session_id: u64, context: RecordContext<'a>) -> Firewall<'a>
where
    't: 'a,
{
    let (direction, guarded) = match (session.client, session.server) {
        (Endpoint::External(_), Endpoint::Host(host)) => (FirewallDirection::Inbound, host),
        (Endpoint::Host(host), Endpoint::External(_)) => (FirewallDirection::Outbound, host),
        (Endpoint::Host(_), Endpoint::Host(host)) => (FirewallDirection::Internal, host),
        (Endpoint::External(_), Endpoint::External(_)) => (FirewallDirection::Inbound, unreachable_external(topology).0),
    };
    let transport = match session.protocol {
        protocol::TCP => TransportProtocol::Tcp,
        protocol::UDP => TransportProtocol::Udp,
        _ => TransportProtocol::Icmp,
    };
    let is_tcp = transport == TransportProtocol::Tcp;
    let (action, end_reason) = match session.outcome {
        Outcome::Allowed if is_tcp && session.flags_down & 4 != 0 => (FirewallAction::Allow, SessionEndReason::TcpRstFromServer),
        Outcome::Allowed if is_tcp && session.flags_up & 4 != 0 => (FirewallAction::Allow, SessionEndReason::TcpRstFromClient),
        Outcome::Allowed if is_tcp => (FirewallAction::Allow, SessionEndReason::TcpFin),
        Outcome::Allowed => (FirewallAction::Allow, SessionEndReason::AgedOut),
        Outcome::Denied => (FirewallAction::Deny, SessionEndReason::PolicyDeny),
        Outcome::Dropped => (FirewallAction::Drop, SessionEndReason::PolicyDeny),
        Outcome::Reset => (FirewallAction::Reset, SessionEndReason::TcpRstFromServer),
    };
    let refused = matches!(action, FirewallAction::Deny | FirewallAction::Drop);
    Firewall {
        event_type: FirewallTag::Firewall,
        event_id: context.event_id,
        timestamp: Timestamp::from_unix_millis(context.time_ms),
        firewall_name: Cow::Borrowed(&topology.vpc_of(guarded).firewall_name),
        availability_zone: Cow::Borrowed(&topology.subnet_of(guarded).availability_zone),
        session_id,
        src_ip: IpAddr::V4(session.client.address()),
        src_port: session.client_port,
        dest_ip: IpAddr::V4(session.server.address()),
        dest_port: session.server_port,
        protocol: transport,
        app_proto: session.app_proto,
        direction,
        action,
        rule: Cow::Borrowed(session.rule),
        bytes_sent: session.bytes_up,
        bytes_received: if refused { 0 } else { session.bytes_down },
        packets_sent: session.packets_up,
        packets_received: if refused { 0 } else { session.packets_down },
        duration_ms: session.duration_ms,
        tcp_flags: is_tcp.then_some(session.flags_up | session.flags_down),
        http_status: if session.app_proto == AppProto::Http { session.http_status } else { None },
        session_end_reason: end_reason,
        latency_ms: session.latency_ms,
        label: context.label,
    }
}
